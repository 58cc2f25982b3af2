//! The promotion policy on hand-made surveys.

use super::*;

fn member(addr: &str, host: &str, answered: bool, offset: u64) -> Member {
    Member {
        addr: addr.parse().unwrap(),
        host: host.into(),
        answered,
        offset,
        linked: answered,
    }
}

/// The lab's layout after creation: each host one master and the replica of another host's.
fn lab(lost: &str) -> Vec<Shard> {
    let hosts = ["redis1", "redis2", "redis3"];
    (0..3)
        .map(|i| {
            let (host, replica_host) = (hosts[i], hosts[(i + 1) % 3]);
            Shard {
                master: member(&format!("10.0.10.1{}:7000", i + 1), host, host != lost, 0),
                slots: 5461,
                replicas: vec![member(
                    &format!("10.0.10.1{}:7001", (i + 1) % 3 + 1),
                    replica_host,
                    replica_host != lost,
                    100,
                )],
            }
        })
        .collect()
}

fn promotions(decisions: &[Decision]) -> Vec<(String, String)> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Promote { master, replica } => {
                Some((master.to_string(), replica.to_string()))
            }
            Decision::Keep { .. } => None,
        })
        .collect()
}

#[test]
fn a_silent_master_of_the_lost_host_gets_its_replica_promoted() {
    let decisions = decide(&lab("redis3"), "redis3");
    assert_eq!(
        promotions(&decisions),
        [("10.0.10.13:7000".into(), "10.0.10.11:7001".into())]
    );
    assert_eq!(
        decisions.len(),
        1,
        "only the lost host's masters are decided on"
    );
}

#[test]
fn a_master_that_answers_is_never_replaced() {
    // CARP went silent (its link cut) but Redis answers: the host keeps its master.
    let decisions = decide(&lab("nobody"), "redis2");
    assert!(promotions(&decisions).is_empty());
    assert!(matches!(&decisions[..], [Decision::Keep { why, .. }] if why.contains("it answers")));
}

#[test]
fn masters_of_other_hosts_are_left_alone_even_when_silent() {
    // redis1's master does not answer either, but only redis3 was reported lost.
    let mut shards = lab("redis3");
    shards[0].master.answered = false;
    assert_eq!(promotions(&decide(&shards, "redis3")).len(), 1);
}

#[test]
fn a_replica_on_another_host_wins_then_the_most_data() {
    let mut shards = lab("redis3");
    shards[2].replicas = vec![
        member("10.0.10.13:7001", "redis3", true, 900),
        member("10.0.10.12:7001", "redis2", true, 50),
        member("10.0.10.11:7002", "redis1", true, 70),
        member("10.0.10.11:7003", "redis1", false, 99),
    ];
    assert_eq!(
        promotions(&decide(&shards, "redis3")),
        [("10.0.10.13:7000".into(), "10.0.10.11:7002".into())]
    );
}

#[test]
fn at_most_one_replica_per_master_and_a_tie_goes_to_the_lowest_address() {
    let mut shards = lab("redis3");
    shards[2].replicas = vec![
        member("10.0.10.12:7001", "redis2", true, 70),
        member("10.0.10.11:7001", "redis1", true, 70),
    ];
    assert_eq!(
        promotions(&decide(&shards, "redis3")),
        [("10.0.10.13:7000".into(), "10.0.10.11:7001".into())]
    );
}

#[test]
fn nothing_without_slots_or_without_an_answering_replica() {
    let mut shards = lab("redis3");
    shards[2].slots = 0;
    let decisions = decide(&shards, "redis3");
    assert!(matches!(&decisions[..], [Decision::Keep { why, .. }] if why.contains("no slots")));
    let mut shards = lab("redis3");
    shards[2].replicas[0].answered = false;
    let decisions = decide(&shards, "redis3");
    assert!(
        matches!(&decisions[..], [Decision::Keep { why, .. }] if why.contains("none of its replicas"))
    );
}
