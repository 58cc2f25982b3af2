use super::*;
use crate::failover::Member;

fn member(addr: &str, host: &str) -> Member {
    Member {
        addr: addr.parse().unwrap(),
        host: host.into(),
        answered: true,
        offset: 100,
        linked: true,
    }
}

fn shard(master: Member, slots: usize, replicas: Vec<Member>) -> Shard {
    Shard {
        master,
        slots,
        replicas,
    }
}

fn addr(text: &str) -> NodeAddr {
    text.parse().unwrap()
}

/// Three hosts, one master and one replica each, every replica on the next host.
fn ring() -> Vec<Shard> {
    vec![
        shard(
            member("10.0.0.1:7000", "a"),
            5461,
            vec![member("10.0.0.2:7001", "b")],
        ),
        shard(
            member("10.0.0.2:7000", "b"),
            5462,
            vec![member("10.0.0.3:7001", "c")],
        ),
        shard(
            member("10.0.0.3:7000", "c"),
            5461,
            vec![member("10.0.0.1:7001", "a")],
        ),
    ]
}

#[test]
fn each_master_of_the_host_goes_to_its_replica_elsewhere() {
    let chosen = handovers(&ring(), "a").unwrap();
    assert_eq!(
        chosen,
        [Handover {
            master: addr("10.0.0.1:7000"),
            replica: addr("10.0.0.2:7001"),
            to_host: "b".into(),
        }]
    );
    // Host c's master has its only replica on a: it runs without a copy meanwhile.
    assert_eq!(unprotected(&ring(), "a"), [addr("10.0.0.3:7000")]);
}

#[test]
fn the_host_with_fewest_masters_then_the_freshest_replica_wins() {
    let mut lagging = member("10.0.0.3:7002", "c");
    lagging.offset = 50;
    let shards = vec![
        shard(
            member("10.0.0.1:7000", "a"),
            8192,
            vec![
                member("10.0.0.2:7001", "b"),
                lagging,
                member("10.0.0.4:7001", "d"),
            ],
        ),
        shard(member("10.0.0.2:7000", "b"), 8192, vec![]),
        shard(member("10.0.0.3:7000", "c"), 0, vec![]),
    ];
    // b already has a master; c's master serves nothing, so c and d count 0; d's replica is
    // ahead of c's.
    let chosen = handovers(&shards, "a").unwrap();
    assert_eq!(chosen[0].replica, addr("10.0.0.4:7001"));
}

#[test]
fn two_masters_of_the_host_are_spread_over_two_hosts() {
    let shards = vec![
        shard(
            member("10.0.0.1:7000", "a"),
            8192,
            vec![member("10.0.0.2:7001", "b"), member("10.0.0.3:7001", "c")],
        ),
        shard(
            member("10.0.0.1:7001", "a"),
            8192,
            vec![member("10.0.0.2:7002", "b"), member("10.0.0.3:7002", "c")],
        ),
    ];
    let hosts: Vec<String> = handovers(&shards, "a")
        .unwrap()
        .into_iter()
        .map(|h| h.to_host)
        .collect();
    assert_eq!(hosts, ["b", "c"]);
}

#[test]
fn a_master_without_a_linked_replica_elsewhere_is_refused_by_name() {
    let mut unlinked = member("10.0.0.2:7001", "b");
    unlinked.linked = false;
    let shards = vec![
        shard(
            member("10.0.0.1:7000", "a"),
            5461,
            vec![unlinked, member("10.0.0.1:7002", "a")],
        ),
        shard(
            member("10.0.0.2:7000", "b"),
            10923,
            vec![member("10.0.0.1:7001", "a")],
        ),
    ];
    let problems = handovers(&shards, "a").unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("10.0.0.1:7000 (master of 5461 slots on a)"),
        "{problems:?}"
    );
}

#[test]
fn a_host_without_masters_needs_nothing() {
    let shards = ring();
    let emptied: Vec<Shard> = shards
        .into_iter()
        .filter(|s| s.master.host != "a")
        .collect();
    assert_eq!(handovers(&emptied, "a").unwrap(), []);
}

#[test]
fn the_host_is_back_once_every_instance_answers_and_its_replicas_are_in_sync() {
    let own = [addr("10.0.0.1:7000"), addr("10.0.0.1:7001")];
    // After start: a's old master is b's replica; a's replica follows c.
    let mut shards = vec![
        shard(
            member("10.0.0.2:7001", "b"),
            5461,
            vec![member("10.0.0.1:7000", "a")],
        ),
        shard(
            member("10.0.0.3:7000", "c"),
            5461,
            vec![member("10.0.0.1:7001", "a")],
        ),
    ];
    assert_eq!(not_back(&shards, "a", &own), Vec::<String>::new());
    shards[0].replicas[0].linked = false;
    shards[1].replicas[0].answered = false;
    assert_eq!(
        not_back(&shards, "a", &own),
        [
            "10.0.0.1:7000 on a is not in sync with its master 10.0.0.2:7001 yet",
            "10.0.0.1:7001 on a does not answer",
        ]
    );
    assert_eq!(
        not_back(&shards, "a", &[addr("10.0.0.1:7005")]),
        ["10.0.0.1:7005 on a is not part of the cluster as its nodes describe it"]
    );
}
