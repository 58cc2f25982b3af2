//! `maintenance start|end` against real redis-server instances: three stand-in hosts
//! (127.0.0.2–4) of a site, two instances each, a cluster-aware client writing throughout. The
//! host's masters are handed away, its instances are stopped and started again, and `end`
//! hands the masters back: the client sees no error and every acknowledged write reads back.
//! (CARP is left out here with --no-carp; the lab test runs the whole cycle with it.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use testkit::{PortLease, RedisConfig, RedisInstance, Writer};

const HOSTS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

fn tool() -> Command {
    let mut cmd = Command::cargo_bin("redis-cluster-create").unwrap();
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// Two instances on each host, on two ports leased on all of them (as a site lists them).
fn start_hosts() -> (Vec<RedisInstance>, [u16; 2]) {
    let config = RedisConfig {
        node_timeout_ms: 2000,
        extra: vec![("repl-diskless-sync-delay".into(), "0".into())],
        ..RedisConfig::default()
    };
    let leases = [
        Arc::new(PortLease::take_on(&HOSTS)),
        Arc::new(PortLease::take_on(&HOSTS)),
    ];
    let ports = [leases[0].port, leases[1].port];
    let instances = std::thread::scope(|scope| {
        let handles: Vec<_> = leases
            .iter()
            .flat_map(|lease| HOSTS.iter().map(move |ip| (ip, lease.clone())))
            .map(|(ip, lease)| {
                let config = &config;
                scope.spawn(move || RedisInstance::start_on(ip, lease, config))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    (instances, ports)
}

fn site(dir: &Path, ports: [u16; 2]) -> PathBuf {
    let path = dir.join("site.json");
    let hosts: Vec<Value> = HOSTS
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            serde_json::json!({
                "name": format!("redis{}", i + 1), "advskew": i * 100,
                "addresses": { "lo": format!("{ip}/8") }
            })
        })
        .collect();
    let site = serde_json::json!({
        "schema": 1,
        "cluster": { "replicas": 1, "node_timeout_ms": 2000, "ports": ports,
                     "bind_interface": "lo" },
        "hosts": hosts
    });
    std::fs::write(&path, site.to_string()).unwrap();
    path
}

fn run(args: &[&str]) -> std::process::Output {
    tool().args(args).output().unwrap()
}

fn json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn is_master_with_slots(node: &RedisInstance) -> bool {
    node.cli(&["cluster", "nodes"])
        .lines()
        .find(|l| l.contains("myself"))
        .is_some_and(|l| l.contains("master") && l.split(' ').count() > 8)
}

#[test]
fn a_host_is_emptied_stopped_started_and_given_its_masters_back_without_a_client_error() {
    let (mut instances, ports) = start_hosts();
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), ports);
    let site = site.to_str().unwrap();
    json(&run(&[
        "--site",
        site,
        "--yes",
        "--fast",
        "--timeout",
        "30",
    ]));
    // Instances 0 and 3 are redis1's (127.0.0.2).
    let own = [0, 3];
    assert!(
        own.iter().any(|&i| is_master_with_slots(&instances[i])),
        "creation gives every host a master"
    );
    let seeds: Vec<String> = instances[1..3].iter().map(RedisInstance::addr).collect();
    let writer = Writer::start(&seeds, 3000);

    let common = ["--site", site, "--host", "redis1", "--no-carp", "--yes"];
    let start = json(&run(&[&["maintenance", "start"][..], &common].concat()));
    eprintln!("maintenance start: {start}");
    assert_eq!(start["safe_to_stop"], true, "{start}");
    assert_eq!(start["handed_over"].as_array().unwrap().len(), 1, "{start}");
    for &i in &own {
        assert!(!is_master_with_slots(&instances[i]), "{start}");
    }
    // Run again on an emptied host: nothing left to hand over.
    let again = json(&run(&[&["maintenance", "start"][..], &common].concat()));
    assert_eq!(again["handed_over"], serde_json::json!([]), "{again}");

    // The host goes down; `end` before it is back waits and gives up within its timeout.
    for &i in &own {
        instances[i].kill();
    }
    std::thread::sleep(Duration::from_secs(3));
    let early = run(&[&["maintenance", "end", "--timeout", "2"][..], &common].concat());
    assert_eq!(early.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("redis1 is not back"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );
    for &i in &own {
        instances[i].restart().unwrap();
    }
    let end = json(&run(&[&["maintenance", "end"][..], &common].concat()));
    eprintln!("maintenance end: {end}");
    let steps: Vec<&str> = end["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["failover"], "{end}");
    assert!(own.iter().any(|&i| is_master_with_slots(&instances[i])));

    let counts = writer.finish();
    assert_eq!(counts["errors"], 0, "the client saw errors: {counts}");
}

#[test]
fn a_master_without_a_replica_elsewhere_is_refused_and_nothing_changes() {
    let (instances, ports) = start_hosts();
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), ports);
    let site = site.to_str().unwrap();
    json(&run(&[
        "--site",
        site,
        "--yes",
        "--fast",
        "--timeout",
        "30",
    ]));
    let start = |host: &str| {
        run(&[
            "maintenance",
            "start",
            "--site",
            site,
            "--host",
            host,
            "--no-carp",
            "--yes",
        ])
    };
    let unknown = start("redis9");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("redis9"));

    // The replica of redis1's master follows another master instead, which leaves that master
    // without a copy: stopping redis1 would take its slots offline. (Redis would give it a
    // replica back by replica migration; the barrier keeps it from doing so here.)
    for node in &instances {
        node.cli(&["config", "set", "cluster-migration-barrier", "99"]);
    }
    let master = [0, 3]
        .into_iter()
        .find(|&i| is_master_with_slots(&instances[i]))
        .unwrap();
    let master_id = instances[master].cli(&["cluster", "myid"]);
    let follows = |node: &RedisInstance, id: &str| {
        node.cli(&["cluster", "nodes"])
            .lines()
            .any(|l| l.contains("myself") && l.contains(&format!("slave {id}")))
    };
    let replica = instances.iter().find(|r| follows(r, &master_id)).unwrap();
    let other = instances
        .iter()
        .find(|m| is_master_with_slots(m) && m.addr() != instances[master].addr())
        .unwrap();
    let other_id = other.cli(&["cluster", "myid"]);
    assert_eq!(replica.cli(&["cluster", "replicate", &other_id]), "OK");
    testkit::wait_until(
        "the replica to follow the other master",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || follows(replica, &other_id),
    );
    let roles = || -> Vec<String> {
        instances
            .iter()
            .map(|i| i.cli(&["role"]).lines().next().unwrap_or("").to_string())
            .collect()
    };
    let before = roles();
    let refused = start("redis1");
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("no node was changed") && message.contains(&instances[master].addr()),
        "{message}"
    );
    assert_eq!(roles(), before);
}
