use super::*;

fn addr(text: &str) -> NodeAddr {
    text.parse().unwrap()
}

fn heir(at: &str, offset: u64, link: Link, silent_ms: u64, known_epoch: u64) -> Heir {
    Heir {
        addr: addr(at),
        offset,
        link,
        master_silent_ms: Some(silent_ms),
        known_epoch,
    }
}

fn orphan(heirs: Vec<Heir>, newest_epoch: u64) -> Orphaned {
    Orphaned {
        master: "127.0.0.5:7000".to_string(),
        heirs,
        newest_epoch,
        node_timeout_ms: 2000,
    }
}

// Seen in a fault history: a master knew epoch 28 of the dead master, its replica 25; that
// master refused every vote. The replica is promoted once the master has been silent a node
// timeout, without waiting for elections that cannot succeed.
#[test]
fn a_replica_that_a_newer_epoch_keeps_from_election_is_promoted_at_once() {
    let o = orphan(
        vec![heir("127.0.0.4:7001", 500, Link::Down(3), 3000, 25)],
        28,
    );
    match judge(&o) {
        Verdict::Promote { heir, why } => {
            assert_eq!(heir, addr("127.0.0.4:7001"));
            assert!(
                why.contains("epoch 25") && why.contains("epoch 28"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    let early = orphan(
        vec![heir("127.0.0.4:7001", 500, Link::Down(1), 1000, 25)],
        28,
    );
    assert_eq!(judge(&early), Verdict::Wait);
}

#[test]
fn redis_gets_two_elections_before_converge_steps_in() {
    assert_eq!(election_bound(2000), Duration::from_millis(19_000));
    let waiting = orphan(
        vec![heir("127.0.0.4:7001", 500, Link::Down(10), 10_000, 25)],
        25,
    );
    assert_eq!(judge(&waiting), Verdict::Wait);
    let stalled = orphan(
        vec![heir("127.0.0.4:7001", 500, Link::Down(20), 20_000, 25)],
        25,
    );
    assert!(matches!(judge(&stalled), Verdict::Promote { .. }));
    // A link still up (the host vanished; the replication link lasts until repl-timeout).
    let up = orphan(vec![heir("127.0.0.4:7001", 500, Link::Up, 20_000, 25)], 25);
    assert!(matches!(judge(&up), Verdict::Promote { .. }));
}

#[test]
fn the_freshest_replica_is_promoted_and_a_stale_one_never() {
    let o = orphan(
        vec![
            // The most data by offset, but its link dropped long before its master died.
            heir("127.0.0.2:7001", 900, Link::Down(300), 20_000, 25),
            heir("127.0.0.3:7001", 400, Link::Down(20), 20_000, 25),
            heir("127.0.0.4:7001", 500, Link::Down(21), 20_000, 25),
        ],
        25,
    );
    assert!(matches!(
        judge(&o),
        Verdict::Promote { heir, .. } if heir == addr("127.0.0.4:7001")
    ));
    let stale = orphan(
        vec![
            heir("127.0.0.2:7001", 900, Link::Down(300), 20_000, 25),
            heir("127.0.0.3:7001", 0, Link::NeverSynced, 20_000, 25),
        ],
        28,
    );
    assert!(
        matches!(judge(&stale), Verdict::Stuck(why) if why.contains("bring 127.0.0.5:7000 back"))
    );
}
