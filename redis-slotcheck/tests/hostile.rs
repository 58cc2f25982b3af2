//! Hostile inputs for `redis-slotcheck`: peers that answer a byte a second, never answer, name
//! new nodes without end, send a 10 MB line or an endless reply (testkit's hostile peers), 160
//! silent hosts, closed and full output streams, devices and links as `--output`, endless and
//! self-contradicting plans. Each case asserts the exit code, that the message names the node
//! or value, and that the run ends within its bound (margins are generous: the machine is
//! shared).

use std::process::{Command, Stdio};

use redis_slotcheck::{CheckName, Report, Status};
use testkit::hostile::{Behaviour, Blackhole, FakePeer, Run};
use testkit::{start_instances, RedisConfig};

trait Reported {
    fn report(&self) -> Report;
}

impl Reported for Run {
    fn report(&self) -> Report {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("no report ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

fn slotcheck_with(args: &[&str], stderr: Stdio, stdout: Stdio) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_redis-slotcheck"))
            .args(args)
            .env_remove("REDISCLI_AUTH")
            .stdout(stdout)
            .stderr(stderr),
    )
}

fn slotcheck(args: &[&str]) -> Run {
    slotcheck_with(args, Stdio::piped(), Stdio::piped())
}

// Regression: a node answering a byte a second hung `redis-slotcheck --timeout 2` for ever
// (the timeout applied to each read).
#[test]
fn a_node_answering_a_byte_a_second_is_given_up_at_the_deadline() {
    let trickle = FakePeer::start("127.0.0.1", Behaviour::Trickle);
    let run = slotcheck(&["--timeout", "2", &trickle.addr()]);
    run.assert_within(2);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}: INFO failed: no reply within 2 s",
            trickle.addr()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("os error 11"), "{}", run.stderr);
}

// Regression: a silent node cost 6 s with --timeout 1 (a fixed 2 s connect timeout, then a
// timeout per pipelined reply). Beside it a real node is checked as usual.
#[test]
fn a_silent_node_costs_the_timeout_once_and_the_real_node_is_still_checked() {
    let real = start_instances(1, &RedisConfig::default());
    let silent = FakePeer::start("127.0.0.2", Behaviour::Silent);
    let run = slotcheck(&[
        "--timeout",
        "1",
        "--replicas",
        "0",
        &silent.addr(),
        &real[0].addr(),
    ]);
    run.assert_within(1);
    let report = run.report();
    let reachable = report
        .checks
        .iter()
        .find(|c| c.name == CheckName::Reachable)
        .unwrap();
    assert_eq!(reachable.status, Status::Warning);
    assert!(
        reachable.details[0].message.contains(&format!(
            "{} does not answer: INFO failed: no reply within 1 s",
            silent.addr()
        )),
        "{:?}",
        reachable.details
    );
    assert_eq!(report.totals.reachable, 1);
}

// Regression: 160 blackholed peers took 20 s at --timeout 2: probes queued 16 at a time.
#[test]
fn a_hundred_and_sixty_silent_hosts_take_the_timeout_once() {
    let blackhole = Blackhole::start();
    let addrs = blackhole.addrs(160);
    let mut args = vec!["--timeout", "2"];
    args.extend(addrs.iter().map(String::as_str));
    let run = slotcheck(&args);
    run.assert_within(2);
    assert_eq!(run.code, Some(3));
    for addr in [&addrs[0], &addrs[159]] {
        assert!(
            run.stderr
                .contains(&format!("{addr}: cannot connect: no reply within 2 s")),
            "{}",
            run.stderr
        );
    }
}

// Regression: a node whose CLUSTER NODES kept naming new answering peers made discovery
// endless (killed at 60 s with 2.1 GB). The deadline ends it.
#[test]
fn endless_discovery_ends_at_the_deadline() {
    let expanding = FakePeer::start_everywhere(Behaviour::Expanding { fan_out: 20 });
    let run = slotcheck(&["--timeout", "2", &expanding.addr()]);
    run.assert_within(2);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stdout.len() < 64 << 20,
        "{} bytes of report",
        run.stdout.len()
    );
}

// And with time to spare, discovery stops at MAX_NODES and says so.
#[test]
fn endless_discovery_stops_at_the_node_limit_and_says_so() {
    let expanding = FakePeer::start_everywhere(Behaviour::Expanding { fan_out: 3 });
    let run = slotcheck(&["--timeout", "90", &expanding.addr()]);
    run.assert_within(90);
    let report = run.report();
    let reachable = report
        .checks
        .iter()
        .find(|c| c.name == CheckName::Reachable)
        .unwrap();
    assert!(
        reachable
            .summary
            .contains("more than 10000 nodes named, the rest not checked"),
        "{}",
        reachable.summary
    );
    assert!(report.status >= Status::Warning);
    assert!(report.nodes.len() <= redis_cluster::MAX_NODES + 1);
}

// Regression: a 10 MB CLUSTER NODES line became 20 MB of stderr and a 40 MB report.
#[test]
fn a_ten_megabyte_line_is_refused_and_quoted_clipped() {
    let huge = FakePeer::start("127.0.0.1", Behaviour::HugeLine { bytes: 10_000_000 });
    let run = slotcheck(&["--timeout", "10", &huge.addr()]);
    run.assert_within(10);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr.len() < 4096,
        "{} bytes of stderr",
        run.stderr.len()
    );
    assert!(
        run.stdout.len() < 16384,
        "{} bytes of report",
        run.stdout.len()
    );
    assert!(
        run.stderr.contains(&huge.addr()) && run.stderr.contains("host name 'hhhh"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("is longer than 255 characters"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_endless_reply_is_cut_at_the_size_limit() {
    let flood = FakePeer::start("127.0.0.1", Behaviour::Flood);
    let run = slotcheck(&["--timeout", "20", &flood.addr()]);
    run.assert_within(20);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr.contains(&format!(
            "{}: INFO failed: a reply is larger than 16 MiB; refused",
            flood.addr()
        )),
        "{}",
        run.stderr
    );
}

// Regression: every tool exited 101 (a panic) with 2>/dev/full, and a closed stderr pipe.
#[test]
fn a_full_or_closed_stderr_never_panics() {
    let silent = FakePeer::start("127.0.0.1", Behaviour::Silent);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let run = slotcheck_with(
        &["--timeout", "1", &silent.addr()],
        full.into(),
        Stdio::piped(),
    );
    assert_eq!(run.code, Some(3));
    assert_eq!(run.report().status, Status::Unknown);

    let mut child = Command::new(env!("CARGO_BIN_EXE_redis-slotcheck"))
        .args(["--timeout", "1", &silent.addr()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn a_full_stdout_is_an_unknown_with_a_reason() {
    let silent = FakePeer::start("127.0.0.1", Behaviour::Silent);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let run = slotcheck_with(
        &["--timeout", "1", &silent.addr()],
        Stdio::piped(),
        full.into(),
    );
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr
            .contains("cannot write the report to standard output"),
        "{}",
        run.stderr
    );
}

// Regression: --output /dev/full, run as root, replaced the device with a regular file; a
// symbolic link was replaced by a file too.
#[test]
fn output_refuses_a_device_and_follows_a_link() {
    use std::os::unix::fs::FileTypeExt;
    let silent = FakePeer::start("127.0.0.1", Behaviour::Silent);
    let run = slotcheck(&["--timeout", "1", "--output", "/dev/full", &silent.addr()]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr.contains("'/dev/full' is not a regular file"),
        "{}",
        run.stderr
    );
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());

    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.prom");
    let link = dir.path().join("cluster.prom");
    std::fs::write(&real, "old\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let run = slotcheck(&[
        "--timeout",
        "1",
        "--format",
        "prom",
        "--output",
        link.to_str().unwrap(),
        &silent.addr(),
    ]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&real)
        .unwrap()
        .contains("redis_slotcheck_status 3"));
}

// Regression: node_exporter's textfile directory belongs to its user, who could plant a link
// there: root then replaced the file it named (a root 0600 file became the report, mode 0644),
// and a dangling link made root create the file it named.
#[test]
fn output_refuses_links_another_user_could_plant() {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    if !testkit::is_root() {
        eprintln!("skipped: planting another user's link needs root");
        return;
    }
    let silent = FakePeer::start("127.0.0.1", Behaviour::Silent);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "root's own\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let textfile = dir.path().join("textfile");
    std::fs::create_dir(&textfile).unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(&textfile, Some(nobody), Some(nobody)).unwrap();
    let planted = textfile.join("cluster.prom");
    let dangling = textfile.join("other.prom");
    let named = dir.path().join("created-by-root");
    symlink(&secret, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(nobody), Some(nobody)).unwrap();
    symlink(&named, &dangling).unwrap();
    // Root's own dangling link, in root's own directory: still not a way to create a file.
    let own_dangling = dir.path().join("report.prom");
    symlink(&named, &own_dangling).unwrap();
    for (output, why) in [
        (&planted, "owned by user id 65534"),
        (&dangling, "which other users can write"),
        (&own_dangling, "which does not exist"),
    ] {
        let run = slotcheck(&[
            "--timeout",
            "1",
            "--format",
            "prom",
            "--output",
            output.to_str().unwrap(),
            &silent.addr(),
        ]);
        assert_eq!(run.code, Some(3), "{}", run.stderr);
        let refusals: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("cannot write"))
            .collect();
        assert_eq!(refusals.len(), 1, "{}", run.stderr);
        assert!(
            refusals[0].starts_with(&format!(
                "redis-slotcheck: cannot write '{}': ",
                output.display()
            )) && refusals[0].contains(why),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's own\n");
    assert_eq!(std::fs::metadata(&secret).unwrap().mode() & 0o777, 0o600);
    assert!(
        !named.exists(),
        "a file was created through the dangling link"
    );
}

// Regression: a node with AUTH renamed away quoted the user name and password in its error,
// and redis-slotcheck printed them in the JSON report, the Nagios output and on stderr.
#[test]
fn a_password_a_node_echoes_is_never_printed() {
    let (user, password) = ("opsuser7", "hunter2-Zx9-long-enough-to-be-cut");
    let echo = FakePeer::start("127.0.0.1", Behaviour::EchoAuth);
    for format in ["json", "nagios", "text", "prom"] {
        let run = Run::of(
            Command::new(env!("CARGO_BIN_EXE_redis-slotcheck"))
                .args(["--timeout", "2", "--user", user, "--format", format])
                .arg(echo.addr())
                .env("REDISCLI_AUTH", password),
        );
        assert_eq!(run.code, Some(3), "{}", run.stderr);
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(password) && !text.contains(user) && !text.contains("hunter2"),
                "--format {format}: {stream} quotes a credential: {text}"
            );
        }
        // The error itself still reaches the operator, the credentials cut out.
        assert!(
            run.stderr
                .contains("with args beginning with: '<redacted>' '<redacted>'"),
            "{}",
            run.stderr
        );
        if format == "json" {
            let report = run.report();
            let node = &report.nodes[0];
            assert!(
                node.error
                    .as_deref()
                    .is_some_and(|e| e.contains("<redacted>")),
                "{node:?}"
            );
        }
    }
}

// Regression: ESC and BEL in what a node says of itself (its id, a flag) reached the text
// table and the Nagios and Prometheus output raw, where they can clear an operator's screen or
// rewrite a terminal's title. An id that is not 40 hex digits is refused; other text is
// escaped.
#[test]
fn control_characters_a_node_sends_are_never_printed_raw() {
    let flagged = FakePeer::start("127.0.0.1", Behaviour::ControlCharacters { in_id: false });
    let bad_id = FakePeer::start("127.0.0.2", Behaviour::ControlCharacters { in_id: true });
    for format in ["text", "nagios", "prom", "json"] {
        let run = slotcheck(&[
            "--timeout",
            "2",
            "--replicas",
            "0",
            "--format",
            format,
            &flagged.addr(),
            &bad_id.addr(),
        ]);
        assert!(run.code.is_some_and(|c| c > 0), "{}", run.stderr);
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(['\u{1b}', '\u{7}']),
                "--format {format}: {stream} carries a raw control character: {text:?}"
            );
        }
        if format == "text" || format == "nagios" {
            // Quoted escaped, not dropped: the operator sees what the node sent.
            assert!(
                run.stdout.contains("x\\u{1b}]0;pwned\\u{7}")
                    && run.stdout.contains("is not 40 hex digits"),
                "{}",
                run.stdout
            );
        }
    }
}

#[test]
fn endless_and_contradicting_plans_are_refused_by_name() {
    let run = slotcheck(&["--expect", "/dev/zero", "127.0.0.1:1"]);
    assert_eq!(run.code, Some(3));
    assert!(run.stderr.contains("/dev/zero") && run.stderr.contains("larger than"));
    run.assert_within(1);

    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"schema":1,"replicas":0,"masters":[
        {"addr":"127.0.0.1:7000","host":"a","slots":[[0,8000],[0,8000]],"replicas":[]},
        {"addr":"127.0.0.1:7001","host":"b","slots":[[8001,12000]],"replicas":[]},
        {"addr":"127.0.0.1:7002","host":"c","slots":[[12001,16383]],"replicas":[]}]}"#,
    )
    .unwrap();
    let run = slotcheck(&["--expect", plan.to_str().unwrap(), "127.0.0.1:1"]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr
            .contains("masters[0].slots[1]: range 0-8000 shares slot 0 with range 0-8000"),
        "{}",
        run.stderr
    );
}

// Something that is not Redis on a node's port (here a web server's answer) is named as such.
#[test]
fn a_server_that_is_not_redis_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            use std::io::Write;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let run = slotcheck(&["--timeout", "2", &addr]);
    run.assert_within(2);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr.contains(&format!(
            "{addr}: INFO failed: not a Redis reply: a reply starts with byte 0x48; is this a Redis server?"
        )),
        "{}",
        run.stderr
    );
    server.join().unwrap();
}
