use super::*;

const RULES: Rules = Rules {
    fall: 2,
    rise: 3,
    stall: Duration::from_secs(5),
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn two() -> Vec<String> {
    vec!["10.0.0.1:7000".to_string(), "10.0.0.1:7001".to_string()]
}

/// A tracker whose host became ready at `t` ms (both instances ready `rise` times).
fn ready_at(t: u64) -> Tracker {
    let mut tracker = Tracker::new(&two(), RULES, ms(0));
    let mut last = None;
    for round in 0..RULES.rise {
        let at = ms(t - u64::from(RULES.rise - 1 - round) * 500);
        for index in 0..2 {
            last = tracker.record(index, Probe::Ready, at).or(last);
        }
    }
    assert_eq!(last.map(|c| c.to), Some(Health::Ready));
    tracker
}

#[test]
fn a_host_starts_in_fault_and_is_ready_after_rise_ready_probes_of_every_instance() {
    let mut tracker = Tracker::new(&two(), RULES, ms(0));
    assert_eq!(tracker.health(), Health::Fault);
    assert!(tracker.status().reason.starts_with("starting"));
    for round in 1..=3 {
        assert_eq!(tracker.record(0, Probe::Ready, ms(round * 500)), None);
    }
    // The first instance alone is not enough.
    assert_eq!(tracker.health(), Health::Fault);
    assert_eq!(tracker.record(1, Probe::Ready, ms(1600)), None);
    assert_eq!(tracker.record(1, Probe::Ready, ms(2100)), None);
    let change = tracker.record(1, Probe::Ready, ms(2600)).unwrap();
    assert_eq!(change.to, Health::Ready);
    assert!(
        change.reason.contains("3 probes in a row"),
        "{}",
        change.reason
    );
}

#[test]
fn fall_failed_probes_in_a_row_put_the_host_in_fault_naming_the_instance() {
    let mut tracker = ready_at(3000);
    assert_eq!(
        tracker.record(1, Probe::Down("cannot connect: refused".into()), ms(3500)),
        None
    );
    let change = tracker
        .record(1, Probe::Down("cannot connect: refused".into()), ms(4000))
        .unwrap();
    assert_eq!(change.to, Health::Fault);
    assert_eq!(
        change.reason,
        "10.0.0.1:7001: down: cannot connect: refused (2 failed probes in a row)"
    );
}

#[test]
fn a_ready_probe_between_failures_starts_the_count_again() {
    let mut tracker = ready_at(3000);
    let down = || Probe::Down("closed".into());
    assert_eq!(tracker.record(0, down(), ms(3500)), None);
    assert_eq!(tracker.record(0, Probe::Ready, ms(4000)), None);
    assert_eq!(tracker.record(0, down(), ms(4500)), None);
    assert_eq!(tracker.health(), Health::Ready);
}

#[test]
fn an_instance_that_does_not_answer_fails_only_after_the_stall_time() {
    let mut tracker = ready_at(3000);
    // Paused from 3000 ms on: probes time out, but for 5 s nothing counts.
    for t in (3500..8000).step_by(500) {
        assert_eq!(tracker.record(0, Probe::NoAnswer, ms(t)), None, "at {t} ms");
    }
    assert_eq!(tracker.record(0, Probe::NoAnswer, ms(8000)), None);
    let change = tracker.record(0, Probe::NoAnswer, ms(8500)).unwrap();
    assert_eq!(change.to, Health::Fault);
    assert!(
        change
            .reason
            .starts_with("10.0.0.1:7000: no answer for 5.5 s"),
        "{}",
        change.reason
    );
}

#[test]
fn a_pause_shorter_than_the_stall_time_changes_nothing() {
    let mut tracker = ready_at(3000);
    for t in (3500..=6000).step_by(500) {
        assert_eq!(tracker.record(0, Probe::NoAnswer, ms(t)), None);
    }
    assert_eq!(tracker.record(0, Probe::Ready, ms(6500)), None);
    for t in (7000..9000).step_by(500) {
        assert_eq!(tracker.record(0, Probe::NoAnswer, ms(t)), None);
    }
    assert_eq!(tracker.health(), Health::Ready);
}

#[test]
fn a_syncing_replica_never_faults_a_ready_host_but_holds_a_faulty_one_back() {
    let syncing = || Probe::Syncing("replica, link to its master down".into());
    let mut tracker = ready_at(3000);
    for t in (3500..20_000).step_by(500) {
        assert_eq!(tracker.record(1, syncing(), ms(t)), None);
    }
    assert_eq!(tracker.health(), Health::Ready);

    let mut tracker = Tracker::new(&two(), RULES, ms(0));
    for t in (500..10_000).step_by(500) {
        assert_eq!(tracker.record(0, Probe::Ready, ms(t)), None);
        assert_eq!(tracker.record(1, syncing(), ms(t)), None);
    }
    assert_eq!(tracker.health(), Health::Fault);
    assert!(tracker.status().instances[1].last.starts_with("syncing"));
    // Linked: it rises after `rise` ready probes, not before.
    assert_eq!(tracker.record(1, Probe::Ready, ms(10_000)), None);
    assert_eq!(tracker.record(1, Probe::Ready, ms(10_500)), None);
    assert_eq!(
        tracker.record(1, Probe::Ready, ms(11_000)).map(|c| c.to),
        Some(Health::Ready)
    );
}

#[test]
fn a_fault_ends_only_when_every_instance_rose_again() {
    let mut tracker = ready_at(3000);
    let down = || Probe::Down("closed".into());
    tracker.record(0, down(), ms(3500));
    tracker.record(1, down(), ms(3500));
    tracker.record(0, down(), ms(4000));
    assert_eq!(tracker.health(), Health::Fault);
    for t in [4500, 5000, 5500] {
        tracker.record(0, Probe::Ready, ms(t));
    }
    assert_eq!(tracker.health(), Health::Fault);
    assert_eq!(tracker.record(1, Probe::Ready, ms(6000)), None);
    assert_eq!(tracker.record(1, Probe::Ready, ms(6500)), None);
    // The first instance fails again meanwhile: its count starts over.
    assert_eq!(tracker.record(0, down(), ms(6700)), None);
    assert_eq!(tracker.record(1, Probe::Ready, ms(7000)), None);
    assert_eq!(tracker.health(), Health::Fault);
}

#[test]
fn status_shows_every_instance_with_its_last_probe() {
    let mut tracker = Tracker::new(&two(), RULES, ms(0));
    tracker.record(0, Probe::Down("cannot connect: refused".into()), ms(500));
    let status = tracker.status();
    assert_eq!(status.health, Health::Fault);
    assert_eq!(
        status.instances,
        vec![
            InstanceHealth {
                addr: "10.0.0.1:7000".into(),
                last: "down: cannot connect: refused".into(),
                failed: 1,
                ready: 0,
            },
            InstanceHealth {
                addr: "10.0.0.1:7001".into(),
                last: "not probed yet".into(),
                failed: 0,
                ready: 0,
            },
        ]
    );
}
