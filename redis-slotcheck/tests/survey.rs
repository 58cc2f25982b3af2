//! The survey against real redis-server instances: discovery from one seed, and what an
//! unreachable node looks like.

use std::time::Duration;

use redis_slotcheck::{survey, ConnectOptions, NodeAddr};
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
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = survey(&[seed], &options, true);
        if found.reached.len() == 3 {
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
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "discovery never reached 3 nodes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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

// Regression: Redis 7 in protected mode accepts a connection from another host and closes it
// without a word; that must be named, not reported as a bare "connection reset".
#[test]
fn protected_mode_is_named_when_the_server_drops_the_connection() {
    if !testkit::require_root("protected_mode_is_named_when_the_server_drops_the_connection") {
        return;
    }
    let server = testkit::Netns::new("scpm-s");
    let client = testkit::Netns::new("scpm-c");
    testkit::run(
        "ip",
        &[
            "link",
            "add",
            "pm0",
            "netns",
            &server.name,
            "type",
            "veth",
            "peer",
            "name",
            "pm1",
            "netns",
            &client.name,
        ],
    );
    server.exec(&["ip", "addr", "add", "10.77.9.1/24", "dev", "pm0"]);
    server.exec(&["ip", "link", "set", "pm0", "up"]);
    client.exec(&["ip", "addr", "add", "10.77.9.2/24", "dev", "pm1"]);
    client.exec(&["ip", "link", "set", "pm1", "up"]);
    let dir = tempfile::tempdir().unwrap();
    let mut redis = server
        .command("redis-server")
        .args([
            "--port",
            "7000",
            "--bind",
            "10.77.9.1",
            "--save",
            "",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let output = loop {
        let output = client
            .command(env!("CARGO_BIN_EXE_redis-slotcheck"))
            .args(["--format", "text", "10.77.9.1:7000"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if !stderr.contains("refused") || std::time::Instant::now() > deadline {
            break output;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = redis.kill();
    let _ = redis.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("protected mode"), "{stderr}");
}
