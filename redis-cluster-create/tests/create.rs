//! End-to-end tests of the binary against real redis-server instances on 127.0.0.1/2/3 (three
//! stand-in hosts). Clusters are created with --fast and short timeouts to keep the suite quick;
//! the default path is the same code with other settings, and the bench runs it.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use testkit::{start_instances, PortLease, RedisConfig, RedisInstance};

fn tool() -> Command {
    let mut cmd = Command::cargo_bin("redis-cluster-create").unwrap();
    // Every test must end on its own; this only turns a hang into a failure.
    cmd.timeout(Duration::from_secs(120));
    cmd
}

fn addrs(instances: &[RedisInstance]) -> Vec<String> {
    instances.iter().map(RedisInstance::addr).collect()
}

fn run(args: &[&str], nodes: &[String]) -> Output {
    tool().args(args).args(nodes).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "failed: {}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The stage names of an apply result, in the order they ran.
fn stage_names(result: &serde_json::Value) -> Vec<&str> {
    result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect()
}

/// What the cluster looks like from each node: (node id, role, master id, slots) per line.
fn views(instances: &[RedisInstance]) -> Vec<BTreeMap<String, (String, String, String)>> {
    instances
        .iter()
        .map(|i| {
            i.cluster_layout()
                .into_iter()
                .map(|(id, role, master, slots)| (id, (role, master, slots)))
                .collect()
        })
        .collect()
}

/// Checks, on the servers themselves, that the result JSON describes a usable cluster.
fn assert_usable(instances: &[RedisInstance], result: &Value, masters: usize, replicas: usize) {
    assert_eq!(result["usable"], true);
    let nodes = result["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), instances.len());
    let roles: Vec<&str> = nodes.iter().map(|n| n["role"].as_str().unwrap()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "master").count(), masters);
    let views = views(instances);
    for (instance, view) in instances.iter().zip(&views) {
        let info = instance.cli(&["cluster", "info"]);
        assert_eq!(
            testkit::info_field(&info, "cluster_state"),
            "ok",
            "{}",
            instance.addr()
        );
        assert_eq!(view, &views[0], "nodes disagree");
    }
    let by_addr: BTreeMap<&str, &Value> = nodes
        .iter()
        .map(|n| (n["addr"].as_str().unwrap(), n))
        .collect();
    for master in nodes.iter().filter(|n| n["role"] == "master") {
        let id = master["id"].as_str().unwrap();
        let followers: Vec<&Value> = nodes.iter().filter(|n| n["master_id"] == id).collect();
        assert_eq!(followers.len(), replicas, "{master}");
        // Real roles agree with the report.
        assert_eq!(views[0][id].0, "master");
        for f in &followers {
            assert_eq!(views[0][f["id"].as_str().unwrap()].1, id);
            assert_ne!(f["host"], master["host"], "replica beside its master");
        }
        let hosts: std::collections::BTreeSet<&str> = followers
            .iter()
            .map(|f| f["host"].as_str().unwrap())
            .collect();
        assert_eq!(
            hosts.len(),
            followers.len(),
            "replicas of one master share a host"
        );
    }
    for instance in instances {
        let replication = instance.cli(&["info", "replication"]);
        if testkit::info_field(&replication, "role") == "slave" {
            assert_eq!(
                testkit::info_field(&replication, "master_link_status"),
                "up"
            );
        }
        let node = by_addr[instance.addr().as_str()];
        assert_eq!(
            instance.cli(&["cluster", "myid"]),
            node["id"].as_str().unwrap()
        );
    }
}

#[test]
fn six_nodes_one_replica_and_settings_restored() {
    let instances = start_instances(6, &RedisConfig::default());
    let output = run(&["--yes", "--fast", "--timeout", "30"], &addrs(&instances));
    let result = json(&output);
    assert_usable(&instances, &result, 3, 1);
    let stages = stage_names(&result);
    assert_eq!(
        stages,
        ["check", "assign", "attach", "meet", "wait", "restore"]
    );
    assert!(stderr(&output).contains("6/6 nodes ready"));
    for instance in &instances {
        assert_eq!(
            instance.cli(&["config", "get", "cluster-node-timeout"]),
            "cluster-node-timeout\n5000"
        );
        assert_eq!(
            instance.cli(&["config", "get", "repl-diskless-sync-delay"]),
            "repl-diskless-sync-delay\n5"
        );
    }
}

#[test]
fn six_nodes_without_replicas() {
    let instances = start_instances(6, &RedisConfig::default());
    let output = run(
        &["--yes", "--fast", "--replicas", "0", "--timeout", "30"],
        &addrs(&instances),
    );
    assert_usable(&instances, &json(&output), 6, 0);
}

// Regression: redis-cli left 9 nodes on 3 hosts with 2 replicas as 9 masters and exited 0.
#[test]
fn nine_nodes_two_replicas_through_plan_and_apply() {
    let instances = start_instances(9, &RedisConfig::default());
    let plan = run(&["plan", "--replicas", "2"], &addrs(&instances));
    assert!(plan.status.success(), "{}", stderr(&plan));
    let parsed = json(&plan);
    assert_eq!(parsed["compromises"], serde_json::json!([]));
    // Planning touched nothing.
    assert_eq!(
        testkit::info_field(
            &instances[0].cli(&["cluster", "info"]),
            "cluster_known_nodes"
        ),
        "1"
    );
    let output = tool()
        .args(["apply", "--yes", "--fast", "--timeout", "30", "-"])
        .write_stdin(plan.stdout)
        .output()
        .unwrap();
    assert_usable(&instances, &json(&output), 3, 2);
}

/// Waits (10 s at most) for `check`, asking every 25 ms.
fn wait_until(what: &str, check: impl Fn() -> bool) {
    testkit::wait_until(
        what,
        Duration::from_secs(10),
        Duration::from_millis(25),
        check,
    );
}

#[test]
fn refusals_name_every_bad_node_and_change_nothing() {
    let instances = start_instances(6, &RedisConfig::default());
    let not_cluster = RedisInstance::start(
        "127.0.0.3",
        &RedisConfig {
            cluster_enabled: false,
            ..RedisConfig::default()
        },
    );
    let nobody = PortLease::take("127.0.0.2");
    // A cluster node only takes writes to its own slots while its cluster is up: serve the
    // slot alone for a moment, write, give the slot back.
    let keeper = &instances[1];
    let slot = keeper.cli(&["cluster", "keyslot", "k"]);
    keeper.cli(&["config", "set", "cluster-require-full-coverage", "no"]);
    keeper.cli(&["config", "set", "cluster-node-timeout", "500"]);
    keeper.cli(&["cluster", "addslots", &slot]);
    wait_until("the write", || keeper.cli(&["set", "k", "v"]) == "OK");
    keeper.cli(&["cluster", "delslots", &slot]);
    keeper.cli(&["config", "set", "cluster-require-full-coverage", "yes"]);
    keeper.cli(&["config", "set", "cluster-node-timeout", "5000"]);
    instances[2].cli(&[
        "cluster",
        "meet",
        &instances[3].ip,
        &instances[3].port.to_string(),
    ]);
    // Settled means both know each other and Redis has resolved their config epoch collision
    // (both start at 0), which moves the current epoch to 1.
    wait_until("the meeting", || {
        [&instances[2], &instances[3]].iter().all(|i| {
            let info = i.cli(&["cluster", "info"]);
            testkit::info_field(&info, "cluster_known_nodes") == "2"
                && testkit::info_field(&info, "cluster_current_epoch") == "1"
        })
    });
    let mut nodes = addrs(&instances);
    nodes.push(not_cluster.addr());
    nodes.push(format!("127.0.0.2:{}", nobody.port));
    let before: Vec<String> = instances
        .iter()
        .chain([&not_cluster])
        .map(RedisInstance::fingerprint)
        .collect();
    let output = run(&["--yes", "--replicas", "1", "--timeout", "10"], &nodes);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    for expected in [
        format!("{}: holds 1 key", instances[1].addr()),
        format!("{}: already knows 1 other node", instances[2].addr()),
        format!("{}: already knows 1 other node", instances[3].addr()),
        format!("{}: is not cluster-enabled", not_cluster.addr()),
        format!("127.0.0.2:{}: unreachable", nobody.port),
    ] {
        assert!(text.contains(&expected), "missing '{expected}' in:\n{text}");
    }
    assert!(text.contains("no node was changed"), "{text}");
    let after: Vec<String> = instances
        .iter()
        .chain([&not_cluster])
        .map(RedisInstance::fingerprint)
        .collect();
    assert_eq!(before, after);
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_input_is_refused_by_name() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--yes",
                "127.0.0.1:7000",
                "127.0.0.1:7001",
                "127.0.0.1:7000",
                "127.0.0.1:7002",
            ],
            "node '127.0.0.1:7000' is given more than once",
        ),
        (
            &[
                "--yes",
                "--replicas",
                "1",
                "127.0.0.1:7000",
                "127.0.0.1:7001",
                "127.0.0.1:7002",
            ],
            "3 nodes with --replicas 1 give 1 masters; Redis Cluster needs at least 3",
        ),
        (
            &["--yes", "127.0.0.1:7000", "localhost:7001"],
            "invalid node 'localhost:7001'",
        ),
        (&["plan"], "no nodes given"),
        (&["reset", "--yes", "10.0.0.1"], "invalid node '10.0.0.1'"),
    ];
    for (args, expected) in cases {
        let output = tool().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"schema":1,"replicas":0,"masters":[{"addr":"127.0.0.1:7000","host":"a","slots":[[0,16383]],"replicas":[],"colour":1}]}"#,
    )
    .unwrap();
    let output = tool().args(["apply", "--yes"]).arg(&plan).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("masters[0].colour: unknown field `colour`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn without_a_terminal_it_asks_for_yes_and_changes_nothing() {
    let instances = start_instances(3, &RedisConfig::default());
    let before: Vec<String> = instances.iter().map(RedisInstance::fingerprint).collect();
    let output = run(&["--replicas", "0"], &addrs(&instances));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("pass --yes"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        before,
        instances
            .iter()
            .map(RedisInstance::fingerprint)
            .collect::<Vec<_>>()
    );
}

// The how-to's "kill the script, stop everything, delete the data dirs" becomes one command.
#[test]
fn reset_then_create_again() {
    let instances = start_instances(6, &RedisConfig::default());
    let nodes = addrs(&instances);
    let first = json(&run(&["--yes", "--fast", "--timeout", "30"], &nodes));
    let master = first["nodes"][0]["addr"].as_str().unwrap().to_string();
    let last_slot = first["nodes"][0]["slots"][0][1].as_u64().unwrap();
    let owner = instances.iter().find(|i| i.addr() == master).unwrap();
    let key = (0..)
        .map(|n| format!("k{n}"))
        .find(|k| {
            owner
                .cli(&["cluster", "keyslot", k])
                .parse::<u64>()
                .unwrap()
                <= last_slot
        })
        .unwrap();
    owner.cli(&["set", &key, "1"]);
    let refused = run(&["reset", "--yes"], &nodes);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(&format!("{master}: holds 1 key; pass --flush")),
        "{}",
        stderr(&refused)
    );
    let reset = json(&run(&["reset", "--yes", "--flush"], &nodes));
    assert_eq!(reset["nodes"].as_array().unwrap().len(), 6);
    for instance in &instances {
        let info = instance.cli(&["cluster", "info"]);
        assert_eq!(testkit::info_field(&info, "cluster_known_nodes"), "1");
        assert_eq!(testkit::info_field(&info, "cluster_slots_assigned"), "0");
        assert_eq!(instance.cli(&["dbsize"]), "0");
    }
    let second = json(&run(&["--yes", "--fast", "--timeout", "30"], &nodes));
    assert_usable(&instances, &second, 3, 1);
    assert_ne!(first["nodes"][0]["id"], second["nodes"][0]["id"]);
}

// A firewall that blocks a node's cluster bus: the node listens for the bus on another port
// (cluster-port) than the one it announces and that peers dial, where nothing answers.
#[test]
fn an_unreachable_bus_port_is_diagnosed_within_the_timeout() {
    let mut instances = start_instances(5, &RedisConfig::default());
    let real_bus = PortLease::take("127.0.0.3");
    let blocked = {
        let config = RedisConfig {
            extra: vec![("cluster-port".into(), real_bus.port.to_string())],
            ..RedisConfig::default()
        };
        // Announce port + 10000, the port peers dial by default; the lease keeps it free.
        let probe = RedisInstance::start("127.0.0.3", &config);
        let announced = probe.port + 10_000;
        probe.cli(&[
            "config",
            "set",
            "cluster-announce-bus-port",
            &announced.to_string(),
        ]);
        probe
    };
    instances.push(blocked);
    let output = run(&["--yes", "--fast", "--timeout", "6"], &addrs(&instances));
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    let bad = instances[5].addr();
    assert!(
        text.contains("the cluster is not usable after 6.0 s"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{bad}: cluster bus 127.0.0.3:{} unreachable from",
            instances[5].port + 10_000
        )),
        "{text}"
    );
    assert!(text.contains("not reachable from here either"), "{text}");
    // What was half-done is undone by reset.
    json(&run(&["reset", "--yes"], &addrs(&instances)));
}

// The how-to's VIP story: instances bound to one address whose connections leave from
// another (here 127.0.0.2/3, whose connections leave from 127.0.0.1) are learned by their
// peers under the wrong address. The tool says so and --announce fixes it.
#[test]
fn bound_address_without_announce_is_detected_and_announce_fixes_it() {
    let instances = start_instances(
        6,
        &RedisConfig {
            announce_ip: false,
            ..RedisConfig::default()
        },
    );
    let nodes = addrs(&instances);
    let output = run(&["--yes", "--fast", "--timeout", "5"], &nodes);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    let moved = &instances[1];
    assert!(
        text.contains(&format!(
            "{} is known to its peers as 127.0.0.1:{}",
            moved.addr(),
            moved.port
        )),
        "{text}"
    );
    assert!(
        text.contains("start it with cluster-announce-ip 127.0.0.2 or pass --announce"),
        "{text}"
    );
    json(&run(&["reset", "--yes"], &nodes));
    let result = json(&run(
        &["--yes", "--fast", "--announce", "--timeout", "30"],
        &nodes,
    ));
    assert_usable(&instances, &result, 3, 1);
}

#[test]
fn plan_from_the_howto_site_uses_its_hosts_and_replicas() {
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../site/examples/howto.json");
    let plan = json(&tool().args(["plan", "--site", site]).output().unwrap());
    assert_eq!(plan["replicas"], 1);
    assert_eq!(plan["compromises"], serde_json::json!([]));
    let masters = plan["masters"].as_array().unwrap();
    let hosts: Vec<&str> = masters
        .iter()
        .map(|m| m["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["redis1", "redis2", "redis3"]);
    assert_eq!(masters[0]["addr"], "10.0.10.11:7000");
    for m in masters {
        assert_ne!(m["replicas"][0]["host"], m["host"]);
    }
}

#[test]
fn no_wait_returns_once_everything_is_sent() {
    let instances = start_instances(3, &RedisConfig::default());
    let result = json(&run(
        &["--yes", "--no-wait", "--replicas", "0"],
        &addrs(&instances),
    ));
    assert_eq!(result["usable"], false);
    let stages = stage_names(&result);
    assert_eq!(stages, ["check", "assign", "attach", "meet"]);
    // What was sent is enough: the cluster gets there on its own.
    wait_until("cluster_state:ok everywhere", || {
        instances
            .iter()
            .all(|i| testkit::info_field(&i.cli(&["cluster", "info"]), "cluster_state") == "ok")
    });
}
