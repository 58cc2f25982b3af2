//! Every transition rule of the state machine, with time passed in by hand.

use super::*;
use std::net::Ipv4Addr;

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LOWER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HIGHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn carp(advbase: u8, advskew: u8) -> Offer {
    Offer::Carp { advbase, advskew }
}

fn machine(advskew: u8, preempt: bool) -> Machine {
    Machine::new(Config {
        offer: carp(1, advskew),
        preempt,
        preempt_delay: Duration::ZERO,
        garp_refresh: None,
        src: ME.into(),
    })
}

/// A preempting node of `offer` that holds preemption for `delay` seconds after start-up.
fn delayed(offer: Offer, delay: f64) -> Machine {
    Machine::new(Config {
        offer,
        preempt: true,
        preempt_delay: secs(delay),
        garp_refresh: None,
        src: ME.into(),
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

/// A CARP master (advbase 1) with `--garp-refresh` of `period` seconds, just taken over at its
/// master-down time.
fn refreshing(advskew: u8, period: f64) -> Machine {
    let mut m = Machine::new(Config {
        offer: carp(1, advskew),
        preempt: false,
        preempt_delay: Duration::ZERO,
        garp_refresh: Some(secs(period)),
        src: ME.into(),
    });
    m.start(secs(0.0));
    assert_eq!(m.deadline(), Some(interval(3, advskew)));
    assert!(m.tick(interval(3, advskew)).contains(&Action::Announce));
    assert_eq!(m.state(), State::Master);
    m
}

/// keepalived's `vrrp_garp_master_refresh`: a master repeats its announcement every period
/// from its takeover (3.5 s here), waking between its adverts (every 1.5 s) for it; when the
/// repeat two adverts after the takeover falls due with a refresh, one announcement goes out.
#[test]
fn a_master_refreshes_its_announcement_every_period() {
    let mut m = refreshing(128, 1.0);
    let mut seen = Vec::new();
    while let Some(at) = m.deadline().filter(|&at| at <= secs(9.5)) {
        seen.push((at, m.tick(at)));
    }
    let advert = Action::Advertise(carp(1, 128));
    let refresh = Action::RefreshAnnouncement;
    assert_eq!(
        seen,
        vec![
            (secs(4.5), vec![refresh]),
            (secs(5.0), vec![advert]),
            (secs(5.5), vec![refresh]),
            (secs(6.5), vec![advert, Action::Announce]),
            (secs(7.5), vec![refresh]),
            (secs(8.0), vec![advert]),
            (secs(8.5), vec![refresh]),
            (secs(9.5), vec![advert, refresh]),
        ]
    );
}

/// Only a master refreshes: not once it steps down or loses its link, and not by default.
#[test]
fn the_refresh_stops_with_mastership_and_is_off_by_default() {
    let mut m = refreshing(100, 0.5);
    let took_over = interval(3, 100);
    assert_eq!(
        m.deadline(),
        Some(took_over + secs(0.5)),
        "the refresh first"
    );
    let a = m.advert(took_over + secs(0.1), LOWER.into(), carp(1, 0));
    assert_eq!(
        transition(&a),
        Some((State::Master, State::Backup, Reason::BetterMaster))
    );
    assert!(m.tick(took_over + secs(0.5)).is_empty());
    assert_eq!(
        m.deadline(),
        Some(took_over + secs(0.1) + interval(3, 100)),
        "the master-down timer alone"
    );
    let mut m = refreshing(0, 1.0);
    m.link_down();
    assert_eq!(m.deadline(), None, "INIT waits for nothing");
    let mut m = master(0, false);
    for t in 4..20 {
        let a = m.tick(secs(f64::from(t)));
        assert!(!a.contains(&Action::RefreshAnnouncement), "at {t} s: {a:?}");
    }
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
            Action::Advertise(carp(1, 100)),
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
    assert!(m.advert(secs(2.0), LOWER.into(), carp(1, 0)).is_empty());
    assert_eq!(m.deadline(), Some(secs(2.0) + interval(3, 100)));
    assert!(m.tick(secs(4.0)).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn backup_with_preempt_takes_over_from_a_worse_master() {
    let mut m = machine(0, true);
    m.start(secs(0.0));
    let a = m.advert(secs(1.0), HIGHER.into(), carp(1, 100));
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::Preempt))
    );
    assert!(a.contains(&Action::AddAddresses));
}

#[test]
fn the_preempt_delay_holds_preemption_from_start_up_then_preempts() {
    // A host that just booted lets the worse master keep the VIP while its Redis replicas
    // resync; meanwhile the worse master's adverts hold its timer as without preempt.
    let mut m = delayed(carp(1, 0), 3.0);
    m.start(secs(10.0));
    for at in [10.5, 11.5, 12.999] {
        assert!(m.advert(secs(at), HIGHER.into(), carp(1, 100)).is_empty());
        assert_eq!(m.state(), State::Backup);
        assert_eq!(m.deadline(), Some(secs(at) + interval(3, 0)), "timer reset");
    }
    let a = m.advert(secs(13.0), HIGHER.into(), carp(1, 100));
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::Preempt))
    );
}

#[test]
fn the_preempt_delay_never_holds_a_takeover_from_a_silent_or_leaving_master() {
    let mut m = delayed(carp(1, 0), 300.0);
    m.start(secs(0.0));
    assert_eq!(
        transition(&m.tick(secs(3.0))),
        Some((State::Backup, State::Master, Reason::MasterDown)),
        "no master at all: master-down interval, as without a delay"
    );
    let mut m = delayed(carp(1, 0), 300.0);
    m.start(secs(0.0));
    m.advert(secs(1.0), HIGHER.into(), carp(1, 100));
    assert_eq!(
        transition(&m.tick(secs(4.0))),
        Some((State::Backup, State::Master, Reason::MasterDown)),
        "a worse master that falls silent is replaced on time"
    );
    let mut m = delayed(carp(1, 0), 300.0);
    m.start(secs(0.0));
    assert_eq!(
        transition(&m.advert(secs(1.0), HIGHER.into(), carp(255, 255))),
        Some((State::Backup, State::Master, Reason::MasterWillTimeOut)),
        "a bow-out is taken at once"
    );
}

#[test]
fn the_preempt_delay_counts_from_start_up_not_from_a_link_coming_back() {
    // The delay covers the engine's boot; a link flap later does not start it again.
    let mut m = delayed(carp(1, 0), 3.0);
    m.start(secs(0.0));
    m.link_down();
    m.link_up(secs(5.0));
    let a = m.advert(secs(5.5), HIGHER.into(), carp(1, 100));
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::Preempt))
    );
    // Nor does a flap within the delay end it early.
    let mut m = delayed(carp(1, 0), 3.0);
    m.start(secs(0.0));
    m.link_down();
    m.link_up(secs(1.0));
    assert!(m.advert(secs(2.0), HIGHER.into(), carp(1, 100)).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn a_demoted_node_does_not_preempt_after_its_delay_either() {
    // A hold (carpctl demote) outlasts the delay: the node stays behind the worse master.
    let mut m = delayed(carp(1, 0), 3.0);
    m.start(secs(0.0));
    m.set_demotion(secs(0.0), 240);
    assert!(m.advert(secs(4.0), HIGHER.into(), carp(1, 100)).is_empty());
    assert_eq!(m.state(), State::Backup);
    m.set_demotion(secs(5.0), 0);
    assert_eq!(
        transition(&m.advert(secs(6.0), HIGHER.into(), carp(1, 100))),
        Some((State::Backup, State::Master, Reason::Preempt))
    );
}

#[test]
fn backup_without_preempt_stays_behind_a_worse_master() {
    let mut m = machine(0, false);
    m.start(secs(0.0));
    assert!(m.advert(secs(1.0), HIGHER.into(), carp(1, 100)).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn equal_intervals_do_not_preempt() {
    let mut m = machine(50, true);
    m.start(secs(0.0));
    assert!(m.advert(secs(1.0), HIGHER.into(), carp(1, 50)).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn a_bow_out_makes_a_backup_take_over_at_once() {
    // The "master will time out" rule: an interval above 3 x our advbase.
    let mut m = machine(100, false);
    m.start(secs(0.0));
    let a = m.advert(secs(1.0), LOWER.into(), carp(255, 255));
    assert_eq!(
        transition(&a),
        Some((State::Backup, State::Master, Reason::MasterWillTimeOut))
    );
}

#[test]
fn an_interval_of_exactly_three_advbases_is_not_a_timeout() {
    let mut m = machine(100, false);
    m.start(secs(0.0));
    assert!(m.advert(secs(1.0), LOWER.into(), carp(3, 0)).is_empty());
    assert_eq!(m.state(), State::Backup);
    let a = m.advert(secs(1.0), LOWER.into(), carp(3, 1));
    assert_eq!(m.state(), State::Master, "{a:?}");
}

#[test]
fn master_yields_to_a_better_master_and_drops_the_addresses() {
    let mut m = master(100, false);
    let a = m.advert(secs(9.0), HIGHER.into(), carp(1, 0));
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
    assert_eq!(
        m.advert(secs(9.0), LOWER.into(), carp(1, 100)),
        vec![Action::Announce]
    );
    assert_eq!(m.state(), State::Master);
}

#[test]
fn equal_masters_break_the_tie_by_lower_source_address() {
    let mut m = master(0, false);
    assert_eq!(
        m.advert(secs(9.0), HIGHER.into(), carp(1, 0)),
        vec![Action::Announce]
    );
    assert_eq!(m.state(), State::Master);
    let a = m.advert(secs(9.0), LOWER.into(), carp(1, 0));
    assert_eq!(
        transition(&a),
        Some((State::Master, State::Backup, Reason::TieBreak))
    );
}

#[test]
fn own_adverts_are_ignored() {
    let mut m = master(100, false);
    assert!(m.advert(secs(9.0), ME.into(), carp(1, 0)).is_empty());
    assert_eq!(m.state(), State::Master);
}

#[test]
fn master_advertises_every_interval_and_repeats_the_announce_once() {
    let mut m = master(0, false);
    let first = m.deadline().unwrap();
    let adverts: Vec<Vec<Action>> = (0..4).map(|i| m.tick(first + secs(f64::from(i)))).collect();
    let advert = Action::Advertise(carp(1, 0));
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
    assert_eq!(a, vec![Action::Advertise(carp(1, 240))]);
    assert_eq!(m.deadline(), Some(secs(5.0) + interval(1, 240)));
    m.set_demotion(secs(6.0), 0);
    assert_eq!(m.effective_skew(), 100);
}

#[test]
fn a_demoted_backup_no_longer_preempts() {
    let mut m = machine(0, true);
    m.start(secs(0.0));
    assert!(m.set_demotion(secs(0.5), 240).is_empty());
    assert!(m.advert(secs(1.0), HIGHER.into(), carp(1, 100)).is_empty());
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn a_demoted_master_is_preempted_by_a_backup_that_hears_it() {
    // The health-check path: demote on one node, the other (preempt on) takes over on the
    // immediate advert.
    let mut a = master(0, true);
    let mut b = Machine::new(Config {
        offer: carp(1, 100),
        preempt: true,
        preempt_delay: Duration::ZERO,
        garp_refresh: None,
        src: HIGHER.into(),
    });
    b.start(secs(0.0));
    let sent = a.set_demotion(secs(5.0), 240);
    let Some(Action::Advertise(offer)) = sent.first().copied() else {
        panic!("no advert: {sent:?}");
    };
    let taken = b.advert(secs(5.0), ME.into(), offer);
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
            Action::Advertise(carp(255, 255)),
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
            Action::Advertise(carp(1, 0))
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
    assert!(m.advert(secs(100.0), LOWER.into(), carp(1, 200)).is_empty());
    let a = m.link_up(secs(100.0));
    assert_eq!(a[0], Action::RemoveAddresses);
    assert_eq!(
        transition(&a),
        Some((State::Init, State::Backup, Reason::LinkUp))
    );
    assert_eq!(m.deadline(), Some(secs(103.0)));
    // With preempt and a better skew it takes the VIP back from a worse master.
    let a = m.advert(secs(100.5), LOWER.into(), carp(1, 100));
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
        offer: carp(1, 0),
        preempt: false,
        preempt_delay: Duration::ZERO,
        garp_refresh: None,
        src: Ipv4Addr::new(10, 77, 0, 2).into(),
    });
    m.start(secs(0.0));
    m.tick(m.deadline().unwrap());
    let a = m.advert(secs(9.0), Ipv4Addr::new(10, 77, 1, 1).into(), carp(1, 0));
    assert_eq!(
        transition(&a),
        Some((State::Master, State::Backup, Reason::TieBreak))
    );
}

mod vrrp3 {
    //! RFC 5798 section 6.4, with time passed in by hand.

    use super::*;

    fn vrrp(priority: u8, interval_cs: u16) -> Offer {
        Offer::Vrrp {
            priority,
            interval_cs,
        }
    }

    fn machine(priority: u8, interval_cs: u16, preempt: bool) -> Machine {
        Machine::new(Config {
            offer: vrrp(priority, interval_cs),
            preempt,
            preempt_delay: Duration::ZERO,
            garp_refresh: None,
            src: ME.into(),
        })
    }

    fn master(priority: u8, preempt: bool) -> Machine {
        let mut m = machine(priority, 100, preempt);
        m.start(secs(0.0));
        let down = m.deadline().unwrap();
        m.tick(down);
        assert_eq!(m.state(), State::Master);
        m
    }

    #[test]
    fn timers_are_the_rfcs() {
        // Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256
        assert_eq!(skew_time(100, secs(1.0)), Duration::from_micros(609_375));
        assert_eq!(
            skew_time(254, centiseconds(20)),
            Duration::from_nanos(1_562_500)
        );
        assert_eq!(skew_time(1, secs(1.0)), Duration::from_nanos(996_093_750));
        // Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time, from start-up.
        let mut m = machine(100, 100, false);
        m.start(secs(10.0));
        assert_eq!(m.deadline(), Some(secs(13.0) + skew_time(100, secs(1.0))));
        let a = m.tick(secs(13.609_375));
        assert_eq!(
            transition(&a),
            Some((State::Backup, State::Master, Reason::MasterDown))
        );
        assert!(a.contains(&Action::Advertise(vrrp(100, 100))));
        assert_eq!(
            m.deadline(),
            Some(secs(14.609_375)),
            "advertises every interval"
        );
    }

    #[test]
    fn a_backup_learns_the_masters_interval() {
        let mut m = machine(100, 100, false);
        m.start(secs(0.0));
        assert!(m.advert(secs(1.0), LOWER.into(), vrrp(150, 20)).is_empty());
        assert_eq!(m.master_interval(), centiseconds(20));
        let down = secs(1.0) + 3 * centiseconds(20) + skew_time(100, centiseconds(20));
        assert_eq!(m.deadline(), Some(down));
        assert!(m.tick(down - secs(0.001)).is_empty());
        assert_eq!(
            transition(&m.tick(down)),
            Some((State::Backup, State::Master, Reason::MasterDown))
        );
        assert_eq!(
            m.deadline(),
            Some(down + secs(1.0)),
            "as master it sends at its own interval"
        );
    }

    #[test]
    fn priority_zero_makes_the_backup_take_over_after_its_skew_time() {
        let mut m = machine(100, 100, false);
        m.start(secs(0.0));
        m.advert(secs(1.0), LOWER.into(), vrrp(200, 100));
        assert!(m.advert(secs(1.5), LOWER.into(), vrrp(0, 100)).is_empty());
        let at = secs(1.5) + skew_time(100, secs(1.0));
        assert_eq!(m.deadline(), Some(at));
        assert_eq!(
            transition(&m.tick(at)),
            Some((State::Backup, State::Master, Reason::MasterStopped))
        );
    }

    #[test]
    fn higher_priority_backups_take_over_sooner() {
        // The skew orders the backups: of two that hear the same priority 0, the better
        // one's timer fires first, and its advert then holds the other one back.
        let at = |priority| {
            let mut m = machine(priority, 100, false);
            m.start(secs(0.0));
            m.advert(secs(1.0), LOWER.into(), vrrp(0, 100));
            m.deadline().unwrap()
        };
        assert!(at(200) < at(100));
    }

    #[test]
    fn preemption_discards_a_worse_masters_adverts_and_waits_the_master_down_interval() {
        let mut m = machine(200, 100, true);
        m.start(secs(0.0));
        let first = m.deadline().unwrap();
        assert!(m.advert(secs(1.0), LOWER.into(), vrrp(100, 100)).is_empty());
        assert_eq!(
            m.deadline(),
            Some(first),
            "the worse advert does not reset the timer"
        );
        assert_eq!(m.state(), State::Backup);
        assert_eq!(
            transition(&m.tick(first)),
            Some((State::Backup, State::Master, Reason::Preempt))
        );
    }

    #[test]
    fn the_preempt_delay_keeps_the_worse_master_until_it_passes() {
        // During the delay the worse master's adverts are accepted (its interval learned,
        // the timer reset); from the delay on they are discarded and the timer runs out.
        let mut m = delayed(vrrp(200, 100), 5.0);
        m.start(secs(0.0));
        let down = |at: f64| secs(at) + 3 * centiseconds(50) + skew_time(200, centiseconds(50));
        for at in [1.0, 2.0, 3.0, 4.0, 4.5] {
            assert!(m.advert(secs(at), LOWER.into(), vrrp(100, 50)).is_empty());
            assert_eq!(m.deadline(), Some(down(at)), "accepted at {at}");
        }
        assert!(m.advert(secs(5.0), LOWER.into(), vrrp(100, 50)).is_empty());
        assert_eq!(m.deadline(), Some(down(4.5)), "discarded from the delay on");
        assert!(m.tick(down(4.5) - secs(0.001)).is_empty());
        assert_eq!(
            transition(&m.tick(down(4.5))),
            Some((State::Backup, State::Master, Reason::Preempt))
        );
        // A master that goes silent within the delay is replaced on time.
        let mut m = delayed(vrrp(200, 100), 300.0);
        m.start(secs(0.0));
        m.advert(secs(1.0), LOWER.into(), vrrp(100, 50));
        assert_eq!(
            transition(&m.tick(down(1.0))),
            Some((State::Backup, State::Master, Reason::MasterDown))
        );
    }

    #[test]
    fn without_preemption_a_worse_master_is_kept() {
        let mut m = machine(200, 100, false);
        m.start(secs(0.0));
        m.advert(secs(2.0), LOWER.into(), vrrp(100, 100));
        assert_eq!(m.deadline(), Some(secs(5.0) + skew_time(200, secs(1.0))));
    }

    #[test]
    fn master_yields_to_higher_priority_and_to_a_higher_address_on_a_tie() {
        let mut m = master(100, false);
        let a = m.advert(secs(9.0), LOWER.into(), vrrp(101, 50));
        assert_eq!(
            transition(&a),
            Some((State::Master, State::Backup, Reason::BetterMaster))
        );
        assert!(a.contains(&Action::RemoveAddresses));
        assert_eq!(m.master_interval(), centiseconds(50));
        let mut m = master(100, false);
        let a = m.advert(secs(9.0), HIGHER.into(), vrrp(100, 100));
        assert_eq!(
            transition(&a),
            Some((State::Master, State::Backup, Reason::TieBreak))
        );
        let mut m = master(100, false);
        assert_eq!(
            m.advert(secs(9.0), LOWER.into(), vrrp(100, 100)),
            vec![Action::Announce, Action::Advertise(vrrp(100, 100))],
            "a lower address on a tie loses; the master answers at once"
        );
        assert_eq!(m.state(), State::Master);
    }

    #[test]
    fn master_answers_a_priority_zero_at_once() {
        let mut m = master(100, false);
        assert_eq!(
            m.advert(secs(9.3), LOWER.into(), vrrp(0, 100)),
            vec![Action::Advertise(vrrp(100, 100))]
        );
        assert_eq!(m.deadline(), Some(secs(10.3)));
    }

    #[test]
    fn shutdown_sends_priority_zero() {
        let mut m = master(100, false);
        assert_eq!(
            m.shutdown(),
            vec![
                Action::Advertise(vrrp(0, 100)),
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Init,
                    reason: Reason::Shutdown
                }
            ]
        );
    }

    #[test]
    fn demotion_lowers_the_priority_to_at_least_one() {
        let mut m = master(100, false);
        assert_eq!(
            m.set_demotion(secs(5.0), 30),
            vec![Action::Advertise(vrrp(70, 100))]
        );
        assert_eq!(m.effective_priority(), 70);
        m.set_demotion(secs(6.0), 240);
        assert_eq!(m.effective_priority(), 1);
        m.set_demotion(secs(7.0), 0);
        assert_eq!(m.effective_priority(), 100);
    }

    #[test]
    fn carp_adverts_do_not_move_a_vrrp_machine() {
        let mut m = master(100, false);
        assert!(m.advert(secs(9.0), LOWER.into(), carp(1, 0)).is_empty());
        assert_eq!(m.state(), State::Master);
    }
}

#[test]
fn after_a_healed_partition_the_master_claims_the_addresses_again_after_two_adverts() {
    // Past the neighbours' ARP locktime (Linux ignores an update within 1 s of the last one,
    // and the other master announced too): one announce at once is not enough.
    let mut m = master(0, false);
    let first = m.deadline().unwrap();
    for i in 0..4 {
        m.tick(first + secs(f64::from(i)));
    }
    assert_eq!(
        m.advert(first + secs(3.5), LOWER.into(), carp(1, 100)),
        vec![Action::Announce]
    );
    let advert = Action::Advertise(carp(1, 0));
    let next = m.deadline().unwrap();
    let adverts: Vec<Vec<Action>> = (0..4).map(|i| m.tick(next + secs(f64::from(i)))).collect();
    assert_eq!(
        adverts,
        [
            vec![advert],
            vec![advert],
            vec![advert, Action::Announce],
            vec![advert]
        ]
    );
}
