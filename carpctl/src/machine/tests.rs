//! Every transition rule of the state machine, with time passed in by hand.

use super::*;

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LOWER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HIGHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn machine(advskew: u8, preempt: bool) -> Machine {
    Machine::new(Config {
        advbase: 1,
        advskew,
        preempt,
        src: ME,
    })
}

fn transition(actions: &[Action]) -> Option<(State, State, Reason)> {
    actions.iter().find_map(|a| match *a {
        Action::Transition { from, to, reason } => Some((from, to, reason)),
        _ => None,
    })
}

fn master(advskew: u8, preempt: bool) -> Machine {
    let mut m = machine(advskew, preempt);
    m.start(secs(0.0));
    let down = m.deadline().unwrap();
    let actions = m.tick(down);
    assert_eq!(m.state(), State::Master, "{actions:?}");
    m
}

#[test]
fn interval_is_advbase_plus_skew_over_256() {
    assert_eq!(interval(1, 0), secs(1.0));
    assert_eq!(interval(1, 128), secs(1.5));
    assert_eq!(interval(2, 100), Duration::from_micros(2_390_625));
}

#[test]
fn starts_as_backup_and_takes_over_after_three_intervals_plus_skew() {
    let mut m = machine(100, false);
    assert_eq!(m.state(), State::Init);
    assert_eq!(m.deadline(), None);
    let a = m.start(secs(10.0));
    assert_eq!(
        a,
        vec![
            Action::RemoveAddresses,
            Action::Transition {
                from: State::Init,
                to: State::Backup,
                reason: Reason::Startup
            }
        ]
    );
    assert!(m.start(secs(11.0)).is_empty(), "starts once");
    assert_eq!(m.deadline(), Some(secs(10.0) + interval(3, 100)));
    assert!(m.tick(secs(12.0)).is_empty(), "too early");
    let a = m.tick(secs(13.4));
    assert_eq!(
        a,
        vec![
            Action::AddAddresses,
            Action::Announce,
            Action::Advertise {
                advbase: 1,
                advskew: 100
            },
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown
            },
        ]
    );
    assert_eq!(m.deadline(), Some(secs(13.4) + interval(1, 100)));
}

#[test]
fn backup_restarts_its_timer_on_each_advert_of_a_better_master() {
    let mut m = machine(100, true);
    m.start(secs(0.0));
    assert!(m.advert(secs(2.0), LOWER, 1, 0).is_empty());
    assert_eq!(m.deadline(), Some(secs(2.0) + interval(3, 100)));
    assert!(m.tick(secs(4.0)).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn backup_with_preempt_takes_over_from_a_worse_master() {
    let mut m = machine(0, true);
    m.start(secs(0.0));
    let a = m.advert(secs(1.0), HIGHER, 1, 100);
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::Preempt))
    );
    assert!(a.contains(&Action::AddAddresses));
}

#[test]
fn backup_without_preempt_stays_behind_a_worse_master() {
    let mut m = machine(0, false);
    m.start(secs(0.0));
    assert!(m.advert(secs(1.0), HIGHER, 1, 100).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn equal_intervals_do_not_preempt() {
    let mut m = machine(50, true);
    m.start(secs(0.0));
    assert!(m.advert(secs(1.0), HIGHER, 1, 50).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn a_bow_out_makes_a_backup_take_over_at_once() {
    // The "master will time out" rule: an interval above 3 x our advbase.
    let mut m = machine(100, false);
    m.start(secs(0.0));
    let a = m.advert(secs(1.0), LOWER, 255, 255);
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::MasterWillTimeOut))
    );
}

#[test]
fn an_interval_of_exactly_three_advbases_is_not_a_timeout() {
    let mut m = machine(100, false);
    m.start(secs(0.0));
    assert!(m.advert(secs(1.0), LOWER, 3, 0).is_empty());
    assert_eq!(m.state(), State::Backup);
    let a = m.advert(secs(1.0), LOWER, 3, 1);
    assert_eq!(m.state(), State::Master, "{a:?}");
}

#[test]
fn master_yields_to_a_better_master_and_drops_the_addresses() {
    let mut m = master(100, false);
    let a = m.advert(secs(9.0), HIGHER, 1, 0);
    assert_eq!(
        a,
        vec![
            Action::RemoveAddresses,
            Action::Transition {
                from: State::Master,
                to: State::Backup,
                reason: Reason::BetterMaster
            }
        ]
    );
    assert_eq!(m.deadline(), Some(secs(9.0) + interval(3, 100)));
}

#[test]
fn master_keeps_the_addresses_against_a_worse_master() {
    // Two masters after a partition: the better one stays, the worse one yields on its advert.
    // It announces the addresses again: neighbours may have moved to the other master.
    let mut m = master(0, false);
    assert_eq!(m.advert(secs(9.0), LOWER, 1, 100), vec![Action::Announce]);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn equal_masters_break_the_tie_by_lower_source_address() {
    let mut m = master(0, false);
    assert_eq!(m.advert(secs(9.0), HIGHER, 1, 0), vec![Action::Announce]);
    assert_eq!(m.state(), State::Master);
    let a = m.advert(secs(9.0), LOWER, 1, 0);
    assert_eq!(
        transition(&a),
        Some((State::Master, State::Backup, Reason::TieBreak))
    );
}

#[test]
fn own_adverts_are_ignored() {
    let mut m = master(100, false);
    assert!(m.advert(secs(9.0), ME, 1, 0).is_empty());
    assert_eq!(m.state(), State::Master);
}

#[test]
fn master_advertises_every_interval_and_repeats_the_announce_once() {
    let mut m = master(0, false);
    let first = m.deadline().unwrap();
    let adverts: Vec<Vec<Action>> = (0..4).map(|i| m.tick(first + secs(f64::from(i)))).collect();
    let advert = Action::Advertise {
        advbase: 1,
        advskew: 0,
    };
    assert_eq!(adverts[0], vec![advert]);
    assert_eq!(adverts[1], vec![advert, Action::Announce]);
    assert_eq!(adverts[2], vec![advert]);
    assert_eq!(adverts[3], vec![advert]);
}

#[test]
fn demotion_is_capped_and_advertised_at_once_by_a_master() {
    let mut m = master(100, false);
    let a = m.set_demotion(secs(5.0), 200);
    assert_eq!(m.effective_skew(), 240);
    assert_eq!(
        a,
        vec![Action::Advertise {
            advbase: 1,
            advskew: 240
        }]
    );
    assert_eq!(m.deadline(), Some(secs(5.0) + interval(1, 240)));
    m.set_demotion(secs(6.0), 0);
    assert_eq!(m.effective_skew(), 100);
}

#[test]
fn a_demoted_backup_no_longer_preempts() {
    let mut m = machine(0, true);
    m.start(secs(0.0));
    assert!(m.set_demotion(secs(0.5), 240).is_empty());
    assert!(m.advert(secs(1.0), HIGHER, 1, 100).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn a_demoted_master_is_preempted_by_a_backup_that_hears_it() {
    // The health-check path: demote on one node, the other (preempt on) takes over on the
    // immediate advert.
    let mut a = master(0, true);
    let mut b = Machine::new(Config {
        advbase: 1,
        advskew: 100,
        preempt: true,
        src: HIGHER,
    });
    b.start(secs(0.0));
    let sent = a.set_demotion(secs(5.0), 240);
    let Some(Action::Advertise { advbase, advskew }) = sent.first().copied() else {
        panic!("no advert: {sent:?}");
    };
    let taken = b.advert(secs(5.0), ME, advbase, advskew);
    assert_eq!(
        transition(&taken),
        Some((State::Backup, State::Master, Reason::Preempt))
    );
}

#[test]
fn shutdown_as_master_bows_out_and_removes_the_addresses() {
    let mut m = master(0, false);
    assert_eq!(
        m.shutdown(),
        vec![
            Action::Advertise {
                advbase: 255,
                advskew: 255
            },
            Action::RemoveAddresses,
            Action::Transition {
                from: State::Master,
                to: State::Init,
                reason: Reason::Shutdown
            }
        ]
    );
    assert_eq!(m.deadline(), None);
}

#[test]
fn shutdown_as_backup_sends_nothing() {
    let mut m = machine(0, false);
    m.start(secs(0.0));
    assert_eq!(
        m.shutdown(),
        vec![Action::Transition {
            from: State::Backup,
            to: State::Init,
            reason: Reason::Shutdown
        }]
    );
}

#[test]
fn link_up_makes_a_master_claim_its_addresses_again() {
    let mut m = master(0, false);
    assert_eq!(
        m.link_up(secs(20.0)),
        vec![
            Action::AddAddresses,
            Action::Announce,
            Action::Advertise {
                advbase: 1,
                advskew: 0
            }
        ]
    );
    assert_eq!(m.deadline(), Some(secs(21.0)));
    let mut b = machine(0, false);
    b.start(secs(0.0));
    assert!(b.link_up(secs(1.0)).is_empty());
}

/// Regression (link blindness): a master whose link went down kept saying MASTER while the
/// peer held the VIP. It now drops to INIT without its addresses, and comes back as BACKUP.
#[test]
fn link_down_leaves_init_and_link_up_waits_as_backup() {
    let mut m = master(0, true);
    let a = m.link_down();
    assert_eq!(
        a,
        vec![
            Action::RemoveAddresses,
            Action::Transition {
                from: State::Master,
                to: State::Init,
                reason: Reason::LinkDown
            }
        ]
    );
    assert_eq!(m.state(), State::Init);
    assert_eq!(m.deadline(), None, "no adverts while the link is down");
    assert!(m.tick(secs(100.0)).is_empty());
    assert!(m.link_down().is_empty(), "already down");
    // Adverts heard in INIT (a late packet) change nothing.
    assert!(m.advert(secs(100.0), LOWER, 1, 200).is_empty());
    let a = m.link_up(secs(100.0));
    assert_eq!(a[0], Action::RemoveAddresses);
    assert_eq!(
        transition(&a),
        Some((State::Init, State::Backup, Reason::LinkUp))
    );
    assert_eq!(m.deadline(), Some(secs(103.0)));
    // With preempt and a better skew it takes the VIP back from a worse master.
    let a = m.advert(secs(100.5), LOWER, 1, 100);
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::Preempt))
    );

    let mut b = machine(100, false);
    b.start(secs(0.0));
    assert_eq!(
        transition(&b.link_down()),
        Some((State::Backup, State::Init, Reason::LinkDown))
    );
}

#[cfg(target_endian = "little")]
#[test]
fn ties_are_broken_in_ucarps_order_on_little_endian_hosts() {
    // ucarp compares raw s_addr values: on x86 the last octet weighs most, so 10.77.1.1
    // beats 10.77.0.2 although it is the larger address.
    let mut m = Machine::new(Config {
        advbase: 1,
        advskew: 0,
        preempt: false,
        src: Ipv4Addr::new(10, 77, 0, 2),
    });
    m.start(secs(0.0));
    m.tick(m.deadline().unwrap());
    let a = m.advert(secs(9.0), Ipv4Addr::new(10, 77, 1, 1), 1, 0);
    assert_eq!(
        transition(&a),
        Some((State::Master, State::Backup, Reason::TieBreak))
    );
}
