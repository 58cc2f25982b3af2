//! The survey against real redis-server instances: discovery from one seed, and what an
//! unreachable node looks like.

use std::time::Duration;

use redis_cluster::{survey, ConnectOptions, NodeAddr};
use testkit::{start_instances, RedisConfig};

#[test]
fn one_seed_discovers_every_node_of_a_cluster() {
    let nodes = start_instances(3, &RedisConfig::default());
    // Join the three by hand so this test depends on nothing but redis-server.
    for other in &nodes[1..] {
        nodes[0].cli(&["cluster", "meet", &other.ip, &other.port.to_string()]);
    }
    let seed: NodeAddr = nodes[0].addr().parse().unwrap();
    let options = ConnectOptions::default();
    let found = testkit::wait_until(
        "discovery of all 3 nodes from one seed",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let found = survey(&[seed], &options, true);
            if found.reached.len() == 3 {
                Ok(found)
            } else {
                Err(format!("{} reached", found.reached.len()))
            }
        },
    );
    assert!(found.unreachable.is_empty());
    let addrs: Vec<String> = found.reached.iter().map(|s| s.addr.to_string()).collect();
    for node in &nodes {
        assert!(
            addrs.contains(&node.addr()),
            "{} not discovered: {addrs:?}",
            node.addr()
        );
    }
    assert!(found.reached.iter().all(|s| s.cluster.is_some()));
}

#[test]
fn a_stopped_node_is_reported_unreachable_within_the_timeout() {
    let mut nodes = start_instances(1, &RedisConfig::default());
    let addr: NodeAddr = nodes[0].addr().parse().unwrap();
    nodes[0].kill();
    let options = ConnectOptions {
        timeout: Duration::from_millis(500),
        ..ConnectOptions::default()
    };
    let started = std::time::Instant::now();
    let found = survey(&[addr], &options, true);
    assert!(found.reached.is_empty());
    assert_eq!(found.unreachable.len(), 1);
    assert!(
        found.unreachable[0]
            .1
            .to_string()
            .starts_with("cannot connect"),
        "{}",
        found.unreachable[0].1
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_node_without_cluster_support_has_no_cluster_view() {
    let config = RedisConfig {
        cluster_enabled: false,
        ..RedisConfig::default()
    };
    let nodes = start_instances(1, &config);
    let found = survey(
        &[nodes[0].addr().parse().unwrap()],
        &ConnectOptions::default(),
        true,
    );
    assert_eq!(found.reached.len(), 1);
    assert!(found.reached[0].cluster.is_none());
    assert!(!found.reached[0].info.cluster_enabled());
}

// Regression: timeouts applied per read, so a node answering a byte a second held a survey for
// ever, and silent hosts were waited for one batch after another. One deadline covers it all.
#[test]
fn one_deadline_covers_trickling_and_silent_nodes() {
    use testkit::hostile::{Behaviour, Blackhole, FakePeer};
    let trickle = FakePeer::start("127.0.0.1", Behaviour::Trickle);
    let blackhole = Blackhole::start();
    let mut seeds: Vec<NodeAddr> = vec![trickle.addr().parse().unwrap()];
    seeds.extend(
        blackhole
            .addrs(40)
            .iter()
            .map(|a| a.parse::<NodeAddr>().unwrap()),
    );
    let options = ConnectOptions {
        timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    let started = std::time::Instant::now();
    let found = survey(&seeds, &options, true);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(found.unreachable.len(), 41);
    let said: Vec<String> = found
        .unreachable
        .iter()
        .map(|(_, e)| e.to_string())
        .collect();
    assert!(
        said.contains(&"INFO failed: no reply within 1 s".to_string()),
        "{said:?}"
    );
    assert!(
        said.contains(&"cannot connect: no reply within 1 s".to_string()),
        "{said:?}"
    );
}
