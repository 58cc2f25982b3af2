//! Hostile inputs for `redis-cluster-create`: nodes that answer a byte a second, never answer,
//! or go silent once the tool starts to change them (testkit's hostile peers) beside real
//! redis-server instances; 160 silent hosts; SIGINT and SIGTERM in the middle of a run; closed
//! and full standard error; plans that contradict themselves or never end; a site of 166 000
//! nodes; a node left with a config epoch by an earlier run. Each case asserts the exit code,
//! that the message names the node or value, that the run ends within its bound (margins are
//! generous: the machine is shared), and that the real nodes were left as they were or, where
//! the run changed them, that what `--fast` lowered was put back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::hostile::{Behaviour, Blackhole, FakePeer, Run};
use testkit::{start_instances, RedisConfig, RedisInstance};

fn tool() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_redis-cluster-create"));
    command.env_remove("REDISCLI_AUTH");
    command
}

fn run(args: &[&str]) -> Run {
    Run::of(tool().args(args))
}

fn addrs(instances: &[RedisInstance]) -> Vec<String> {
    instances.iter().map(RedisInstance::addr).collect()
}

fn fingerprints(instances: &[RedisInstance]) -> Vec<String> {
    instances.iter().map(RedisInstance::fingerprint).collect()
}

/// Every real node has the settings `--fast` lowers at their configured values again.
fn assert_restored(instances: &[RedisInstance]) {
    for node in instances {
        assert_eq!(
            node.config("cluster-node-timeout"),
            "5000",
            "{}",
            node.addr()
        );
        assert_eq!(
            node.config("repl-diskless-sync-delay"),
            "5",
            "{}",
            node.addr()
        );
    }
}

/// A run in the background whose standard error is read line by line as it comes.
struct Running {
    child: Option<Child>,
    started: Instant,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = tool()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        Running {
            child: Some(child),
            started: Instant::now(),
            lines,
            reader: Some(reader),
        }
    }

    fn wait_for_line(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no line '{text}' in {:?}", self.lines.lock().unwrap());
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([
                &format!("-{name}"),
                &self.child.as_ref().unwrap().id().to_string(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn finish(mut self) -> Run {
        let output = self.child.take().unwrap().wait_with_output().unwrap();
        let took = self.started.elapsed();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: self.lines.lock().unwrap().join("\n"),
            took,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// Regression: a node answering a byte a second hung `redis-cluster-create --timeout 5` for
// ever. The checks give up at the deadline and no real node is changed.
#[test]
fn a_node_answering_a_byte_a_second_is_refused_within_the_timeout() {
    let real = start_instances(3, &RedisConfig::default());
    let trickle = FakePeer::start("127.0.0.2", Behaviour::Trickle);
    let before = fingerprints(&real);
    let mut nodes = addrs(&real);
    nodes.push(trickle.addr());
    let mut args = vec!["--yes", "--replicas", "0", "--timeout", "3"];
    args.extend(nodes.iter().map(String::as_str));
    let run = run(&args);
    run.assert_within(3);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}: unreachable (INFO failed: no reply within 3 s)",
            trickle.addr()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("no node was changed"), "{}", run.stderr);
    assert_eq!(fingerprints(&real), before);
}

// Regression: a silent node cost 6 s with --timeout 1.
#[test]
fn a_silent_node_costs_the_timeout_once() {
    let real = start_instances(3, &RedisConfig::default());
    let silent = FakePeer::start("127.0.0.3", Behaviour::Silent);
    let mut nodes = addrs(&real);
    nodes.push(silent.addr());
    let mut args = vec!["--yes", "--replicas", "0", "--timeout", "1"];
    args.extend(nodes.iter().map(String::as_str));
    let run = run(&args);
    run.assert_within(1);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(&format!(
            "{}: unreachable (INFO failed: no reply within 1 s)",
            silent.addr()
        )),
        "{}",
        run.stderr
    );
}

// Regression: 160 blackholed peers took 20 s at --timeout 2 (16 probes at a time).
#[test]
fn a_hundred_and_sixty_silent_hosts_are_refused_in_one_timeout() {
    let real = start_instances(3, &RedisConfig::default());
    let blackhole = Blackhole::start();
    let before = fingerprints(&real);
    let mut nodes = addrs(&real);
    nodes.extend(blackhole.addrs(160));
    let mut args = vec!["--yes", "--replicas", "0", "--timeout", "2"];
    args.extend(nodes.iter().map(String::as_str));
    let run = run(&args);
    run.assert_within(2);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(&format!(
            "{}: unreachable (cannot connect: no reply within 2 s)",
            nodes[162]
        )),
        "{}",
        &run.stderr[..run.stderr.len().min(2000)]
    );
    assert_eq!(fingerprints(&real), before);
}

/// Five real nodes and one that stalls at the first change: a plan of three masters with a
/// replica each.
fn five_and_a_staller() -> (Vec<RedisInstance>, FakePeer, Vec<String>) {
    let real = start_instances(5, &RedisConfig::default());
    let staller = FakePeer::start("127.0.0.3", Behaviour::StallOnChange);
    let mut nodes = addrs(&real);
    nodes.push(staller.addr());
    (real, staller, nodes)
}

// Regression: apply --timeout 8 with a node that stopped answering took 17 s, and a failed
// restore on one node was not reported. The run ends at the deadline, the real nodes get their
// settings back, and the node that could not be restored is named with the command to run.
#[test]
fn a_node_that_stalls_mid_run_ends_it_at_the_deadline_with_every_restore_reported() {
    let (real, staller, nodes) = five_and_a_staller();
    let mut args = vec!["--yes", "--fast", "--timeout", "4"];
    args.extend(nodes.iter().map(String::as_str));
    let run = run(&args);
    run.assert_within(4 + 3);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let fake = staller.addr();
    assert!(
        run.stderr.contains(&format!(
            "{fake}: assigning slots and config epoch failed: no reply within 4 s"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{fake}: cluster-node-timeout may still be lowered (no reply within 3 s); run 'redis-cli -h 127.0.0.3 -p {} CONFIG SET cluster-node-timeout 5000'",
            staller.port
        )),
        "{}",
        run.stderr
    );
    assert_restored(&real);
}

// Regression: SIGINT and SIGTERM were not handled: --fast settings stayed lowered for good.
// Interrupted while a node keeps it waiting, the run stops at once, restores, says where it
// stopped and what finishes the job, and exits 143.
#[test]
fn sigterm_while_changing_nodes_restores_and_says_how_to_finish() {
    let (real, staller, nodes) = five_and_a_staller();
    let mut args = vec!["--yes", "--fast", "--timeout", "60"];
    args.extend(nodes.iter().map(String::as_str));
    let running = Running::start(&args);
    running.wait_for_line("assigning slots and config epochs");
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    running.signal("TERM");
    let run = running.finish();
    assert!(
        signalled.elapsed() < Duration::from_secs(3 + 4),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(run.code, Some(143), "{}", run.stderr);
    let stopped = "interrupted by SIGTERM while assigning slots and config epochs; the nodes are partly configured; return them to empty with 'redis-cluster-create reset --yes ";
    let Some(at) = run.stderr.find(stopped) else {
        panic!("{}", run.stderr);
    };
    let finish = run.stderr[at + stopped.len()..].lines().next().unwrap();
    assert!(
        finish.ends_with("', then run the same command again"),
        "{finish}"
    );
    for node in &nodes {
        assert!(finish.contains(node.as_str()), "{node} missing in {finish}");
    }
    assert!(run.stderr.contains(&format!(
        "{}: cluster-node-timeout may still be lowered",
        staller.addr()
    )));
    assert_restored(&real);
}

// The same for SIGINT while waiting for the cluster (which never becomes usable here: nodes
// bound to 127.0.0.2/3 without cluster-announce-ip are known under the wrong address): exit
// 130, every node configured, settings restored.
#[test]
fn sigint_while_waiting_restores_and_exits_130() {
    let real = start_instances(
        6,
        &RedisConfig {
            announce_ip: false,
            ..RedisConfig::default()
        },
    );
    let nodes = addrs(&real);
    let mut args = vec!["--yes", "--fast", "--timeout", "60"];
    args.extend(nodes.iter().map(String::as_str));
    let running = Running::start(&args);
    running.wait_for_line("waiting for the cluster:");
    let signalled = Instant::now();
    running.signal("INT");
    let run = running.finish();
    assert!(signalled.elapsed() < Duration::from_secs(3 + 4));
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "interrupted by SIGINT while waiting for the cluster to become usable; every node is configured and the cluster becomes usable on its own; check it with 'redis-slotcheck {}'",
            nodes[0]
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_restored(&real);
}

fn create_with_stderr(instances: &[RedisInstance], stderr: Stdio) -> (Option<i32>, Value) {
    let mut child = tool()
        .args(["--yes", "--fast", "--timeout", "60"])
        .args(addrs(instances))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // A reader that goes away at once, as `2>&1 | head -3` does after three lines.
    drop(child.stderr.take());
    let output = child.wait_with_output().unwrap();
    let result = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), result)
}

// Regression: a closed stderr pipe panicked apply (exit 101) with nodes half-built and the
// --fast values left at 500/0; 2>/dev/full made every tool exit 101. The run goes on without
// its progress lines and finishes the job.
#[test]
fn a_closed_or_full_stderr_never_stops_the_work() {
    let instances = start_instances(6, &RedisConfig::default());
    let (code, result) = create_with_stderr(&instances, Stdio::piped());
    assert_eq!(code, Some(0));
    assert_eq!(result["usable"], true);
    assert_restored(&instances);

    let instances = start_instances(6, &RedisConfig::default());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (code, result) = create_with_stderr(&instances, full.into());
    assert_eq!(code, Some(0));
    assert_eq!(result["usable"], true);
    assert_restored(&instances);
}

fn plan_text(nodes: &[String], first_slots: &str, second_replica: &str) -> String {
    format!(
        r#"{{"schema":1,"replicas":1,"masters":[
        {{"addr":"{}","host":"a","slots":{first_slots},"replicas":[{{"addr":"{}","host":"b"}}]}},
        {{"addr":"{}","host":"b","slots":[[5461,10922]],"replicas":[{{"addr":"{second_replica}","host":"c"}}]}},
        {{"addr":"{}","host":"c","slots":[[10923,16383]],"replicas":[{{"addr":"{}","host":"a"}}]}}]}}"#,
        nodes[0], nodes[3], nodes[1], nodes[2], nodes[5]
    )
}

// Regression: a hand-edited plan with the same range twice passed validation; apply changed 5
// of 6 nodes, then failed. A node listed twice is refused the same way.
#[test]
fn contradicting_plans_are_refused_before_any_change() {
    let instances = start_instances(6, &RedisConfig::default());
    let nodes = addrs(&instances);
    let before = fingerprints(&instances);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");

    std::fs::write(&plan, plan_text(&nodes, "[[0,5460],[0,5460]]", &nodes[4])).unwrap();
    let run = run(&["apply", "--yes", plan.to_str().unwrap()]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("masters[0].slots[1]: range 0-5460 shares slot 0 with range 0-5460 (masters[0].slots[0]) of the same master"),
        "{}",
        run.stderr
    );

    std::fs::write(&plan, plan_text(&nodes, "[[0,5460]]", &nodes[0])).unwrap();
    let run = run_apply(&plan);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&format!(
            "masters[1].replicas[0].addr: node {} is also listed at masters[0].addr",
            nodes[0]
        )),
        "{}",
        run.stderr
    );

    let run = run_apply(std::path::Path::new("/dev/zero"));
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("'/dev/zero' is larger than"),
        "{}",
        run.stderr
    );
    run.assert_within(2);
    assert_eq!(fingerprints(&instances), before);
}

fn run_apply(plan: &std::path::Path) -> Run {
    run(&["apply", "--yes", plan.to_str().unwrap()])
}

// Regression: preflight did not look at config epochs, so a rerun after an interrupted run
// (or a partial reset) failed mid-way at SET-CONFIG-EPOCH.
#[test]
fn a_node_left_with_a_config_epoch_is_refused_before_any_change() {
    let instances = start_instances(6, &RedisConfig::default());
    instances[4].cli(&["cluster", "set-config-epoch", "5"]);
    let before = fingerprints(&instances);
    let mut args = vec!["--yes", "--fast"];
    let nodes = addrs(&instances);
    args.extend(nodes.iter().map(String::as_str));
    let refused = run(&args);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains(&format!(
            "{}: has config epoch 5 already (an earlier run set it); return it to empty with 'redis-cluster-create reset'",
            nodes[4]
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(fingerprints(&instances), before);
    // And reset makes it usable again.
    assert_eq!(run(&["reset", "--yes", &nodes[4]]).code, Some(0));
    assert!(instances[4]
        .cli(&["cluster", "info"])
        .contains("cluster_my_epoch:0"));
}

// Regression: `plan --site` with 166 000 nodes was still running at 120 s.
#[test]
fn a_site_of_166000_nodes_is_refused_at_once() {
    let howto = concat!(env!("CARGO_MANIFEST_DIR"), "/../site/examples/howto.json");
    let mut site: Value = serde_json::from_str(&std::fs::read_to_string(howto).unwrap()).unwrap();
    site["cluster"]["ports"] = (7000..8660).collect::<Vec<u32>>().into();
    site["firewall"]["client_ports"] = serde_json::json!([7000, 8660]);
    site["carp"]["vip"] = "10.0.250.100/16".into();
    site["hosts"] = (0..100)
        .map(|i| {
            serde_json::json!({"name": format!("redis{i}"), "advskew": i, "addresses": {
                "em0": format!("192.168.0.{}/16", 10 + i),
                "em1": format!("10.0.0.{}/16", 10 + i),
                "em2": format!("10.1.0.{}/16", 10 + i)}})
        })
        .collect::<Vec<_>>()
        .into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.json");
    std::fs::write(&path, site.to_string()).unwrap();
    let site_run = run(&["plan", "--site", path.to_str().unwrap()]);
    site_run.assert_within(1);
    assert_eq!(site_run.code, Some(2), "{}", site_run.stderr);
    // The site's own validation may say it first; either way at once, naming the count.
    assert!(site_run.stderr.contains("166000"), "{}", site_run.stderr);
    assert!(site_run.stdout.is_empty());

    // Named on the command line, the planner refuses as many beyond its bound the same way.
    let nodes: Vec<String> = (0..1001)
        .map(|i| format!("127.0.{}.{}:7000", i / 200, 1 + i % 200))
        .collect();
    let mut args = vec!["plan"];
    args.extend(nodes.iter().map(String::as_str));
    let run = run(&args);
    run.assert_within(1);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("1001 nodes given; a plan holds at most 1000"),
        "{}",
        run.stderr
    );
}

// A 10 MB CLUSTER NODES line from a would-be node: refused by name, in a message of bounded
// size.
#[test]
fn a_ten_megabyte_line_is_refused_in_a_short_message() {
    let real = start_instances(3, &RedisConfig::default());
    let huge = FakePeer::start("127.0.0.2", Behaviour::HugeLine { bytes: 10_000_000 });
    let mut nodes = addrs(&real);
    nodes.push(huge.addr());
    let mut args = vec!["--yes", "--replicas", "0", "--timeout", "10"];
    args.extend(nodes.iter().map(String::as_str));
    let run = run(&args);
    run.assert_within(10);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.len() < 4096,
        "{} bytes of stderr",
        run.stderr.len()
    );
    assert!(
        run.stderr.contains(&format!(
            "{}: unreachable (cannot parse CLUSTER NODES line 1 (host name 'hhhh",
            huge.addr()
        )),
        "{}",
        run.stderr
    );
}

// Regression: a node with AUTH renamed away quoted the user name and password in its error,
// and redis-cluster-create printed them on stderr.
#[test]
fn a_password_a_node_echoes_is_never_printed() {
    let (user, password) = ("opsuser7", "hunter2-Zx9-long-enough-to-be-cut");
    let echoes: Vec<FakePeer> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| FakePeer::start(ip, Behaviour::EchoAuth))
        .collect();
    let nodes: Vec<String> = echoes.iter().map(FakePeer::addr).collect();
    let mut args = vec!["--yes", "--replicas", "0", "--timeout", "2", "--user", user];
    args.extend(nodes.iter().map(String::as_str));
    let run = Run::of(tool().args(&args).env("REDISCLI_AUTH", password));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(password) && !text.contains(user) && !text.contains("hunter2"),
            "a credential is quoted: {text}"
        );
    }
    assert!(
        run.stderr
            .contains("with args beginning with: '<redacted>' '<redacted>'"),
        "{}",
        run.stderr
    );
}

// Reset is bounded as a whole too.
#[test]
fn reset_of_a_node_answering_a_byte_a_second_ends_at_the_deadline() {
    let trickle = FakePeer::start("127.0.0.1", Behaviour::Trickle);
    let run = run(&["reset", "--yes", "--timeout", "2", &trickle.addr()]);
    run.assert_within(2);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(&format!(
            "{}: unreachable (INFO failed: no reply within 2 s)",
            trickle.addr()
        )),
        "{}",
        run.stderr
    );
}

// A signal during a reset stops it between rounds and prints the reset that finishes it; the
// nodes reset so far stay reset.
#[test]
fn sigterm_during_a_reset_says_how_to_finish_it() {
    let real = start_instances(2, &RedisConfig::default());
    let staller = FakePeer::start("127.0.0.3", Behaviour::StallOnChange);
    let mut nodes = addrs(&real);
    nodes.push(staller.addr());
    let mut args = vec!["reset", "--yes", "--timeout", "60"];
    args.extend(nodes.iter().map(String::as_str));
    let old_ids: Vec<String> = real.iter().map(|n| n.cli(&["cluster", "myid"])).collect();
    let running = Running::start(&args);
    // The real nodes are reset at once; the fake keeps the round open.
    testkit::wait_until(
        "the real nodes are reset",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            real.iter()
                .zip(&old_ids)
                .all(|(n, old)| &n.cli(&["cluster", "myid"]) != old)
        },
    );
    let signalled = Instant::now();
    running.signal("TERM");
    let run = running.finish();
    assert!(signalled.elapsed() < Duration::from_secs(4));
    assert_eq!(run.code, Some(143), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "interrupted by SIGTERM while resetting the nodes; some nodes may be reset already; run 'redis-cluster-create reset --yes {}' to finish",
            nodes.join(" ")
        )),
        "{}",
        run.stderr
    );
}
