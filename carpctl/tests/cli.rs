//! The commands that need no network: FreeBSD configuration, dry runs, status and control
//! without engines, and how bad input is refused (message naming the value, exit code).

use std::os::unix::fs::PermissionsExt;

use assert_cmd::Command;

const HOWTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site/examples/howto.json");

fn carpctl() -> Command {
    Command::cargo_bin("carpctl").unwrap()
}

fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn rcconf_prints_each_line_with_its_file() {
    let out = carpctl()
        .args(["rcconf", "--site", HOWTO, "--host", "redis2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("# /boot/loader.conf\ncarp_load=\"YES\"\n"),
        "{text}"
    );
    assert!(
        text.contains("# /etc/sysctl.conf\nnet.inet.carp.preempt=1\n"),
        "{text}"
    );
    assert!(text.contains(
        "ifconfig_em1_alias0=\"inet vhid 10 advskew 100 pass $(head -n 1 /usr/local/etc/carp/vhid10.pass) alias 10.0.10.100/32\""
    ));

    let out = carpctl()
        .args([
            "rcconf",
            "--site",
            HOWTO,
            "--host",
            "redis1",
            "--format",
            "json",
            "--alias-index",
            "3",
        ])
        .output()
        .unwrap();
    let doc = stdout_json(&out);
    let lines = doc["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["file"], "/etc/rc.conf.d/network");
    assert!(lines[2]["line"]
        .as_str()
        .unwrap()
        .starts_with("ifconfig_em1_alias3=\"inet vhid 10 advskew 0 "));
}

#[test]
fn rcconf_can_inline_the_password_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "FMxjubyqfNYTVAdS6aZ\n").unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = carpctl()
        .args([
            "rcconf",
            "--site",
            HOWTO,
            "--host",
            "redis1",
            "--inline-pass",
        ])
        .arg(&pass)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "ifconfig_em1_alias0=\"inet vhid 10 advskew 0 pass FMxjubyqfNYTVAdS6aZ alias 10.0.10.100/32\""
    ));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the output contains the password"));
}

#[test]
fn site_from_stdin_and_an_unknown_host_is_named() {
    let out = carpctl()
        .args(["rcconf", "--site", "-", "--host", "redis9"])
        .write_stdin(std::fs::read(HOWTO).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("carpctl: unknown host 'redis9'"), "{err}");
    assert!(err.contains("redis1, redis2, redis3"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn alias_dry_run_prints_the_command_without_the_password() {
    let out = carpctl()
        .args(["alias", "--site", HOWTO, "--host", "redis3", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ifconfig em1 vhid 10 advskew 200 pass \"$(head -n 1 /usr/local/etc/carp/vhid10.pass)\" alias 10.0.10.100/32\n"
    );
}

#[cfg(not(target_os = "freebsd"))]
#[test]
fn alias_for_real_needs_freebsd() {
    let out = carpctl()
        .args(["alias", "--site", HOWTO, "--host", "redis3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use --dry-run"), "{err}");
}

/// LSB: `status` exits 3 when the engine asked for is not running, in every format; a text
/// summary says so on stdout.
#[test]
fn status_without_engines_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let status = |args: &[&str]| {
        carpctl()
            .arg("status")
            .args(args)
            .arg("--state-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = status(&[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stdout_json(&out),
        serde_json::json!({ "vhids": [], "holds": [] })
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running engine"));

    let out = status(&["--expect", "master"]);
    assert_eq!(out.status.code(), Some(3));

    let out = status(&["--format", "text", "--vhid", "9"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("no running engine found in '") && text.contains("for vhid 9"),
        "{text}"
    );
    assert!(out.stderr.is_empty(), "said once, on stdout");
}

#[test]
fn status_expect_compares_the_state_of_live_engines() {
    // A state file written as a running engine would, owned by this (live) process.
    let dir = tempfile::tempdir().unwrap();
    let status = serde_json::json!({
        "vhid": 12, "interface": "eth0", "state": "BACKUP", "pid": std::process::id(),
        "src": "10.0.0.2", "vips": ["10.0.0.100/24"], "advbase": 1, "advskew": 100,
        "demotion": 0, "link_demotion": 240, "effective_skew": 240, "preempt": false,
        "since": "2026-01-01T00:00:00.000Z", "bad_adverts": {"hmac": 3, "replayed": 2},
        "last_peer": "10.0.0.1", "links": {"eth0": "up", "eth1": "down"},
        "carpver": 2, "vrrpprio": 100, "effective_priority": 0, "vrrpinterval": 100,
        "master_interval_cs": 139, "peers": [], "health_demotion": 0
    });
    std::fs::write(dir.path().join("vhid12.json"), status.to_string()).unwrap();
    let run = |args: &[&str]| {
        carpctl()
            .arg("status")
            .args(args)
            .arg("--state-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    assert_eq!(run(&["--expect", "backup"]).status.code(), Some(0));
    let out = run(&["--expect", "master"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vhid 12 is BACKUP"));
    let out = run(&["--format", "text"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "vhid 12 on eth0: BACKUP since 2026-01-01T00:00:00.000Z (pid {})\n\
             \x20 virtual 10.0.0.100/24 from 10.0.0.2, last peer 10.0.0.1\n\
             \x20 advbase 1 advskew 100, demotion 0 + interfaces 240: effective skew 240\n\
             \x20 interfaces: eth0 up, eth1 down\n\
             \x20 ignored adverts: hmac 3, replayed 2\n",
            std::process::id()
        )
    );
    assert_eq!(stdout_json(&run(&[]))["vhids"][0], status);
    // Another vhid asked for: not running.
    assert_eq!(run(&["--vhid", "13"]).status.code(), Some(3));
}

#[test]
fn demote_without_engines_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = carpctl()
        .args(["demote", "10", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no running engine found"), "{err}");
}

#[test]
fn run_refuses_bad_input_before_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "s3cret-value\n").unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let state = dir.path().join("state");
    let run = |extra: &[&str]| {
        carpctl()
            .args(["run", "--vhid", "9", "--pass-file"])
            .arg(&pass)
            .arg("--state-dir")
            .arg(&state)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--interface", "nosuchif0", "--vip", "10.1.2.3/24"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interface 'nosuchif0' not found"), "{err}");
    assert!(err.contains("read by group or others (mode 644)"), "{err}");
    assert!(!err.contains("s3cret"), "never the password: {err}");
    assert!(!state.exists(), "nothing created");

    let out = run(&[
        "--interface",
        "lo",
        "--carpver",
        "3",
        "--vip",
        "10.1.2.3/24",
        "--vip",
        "fd00::1/64",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "invalid vip '10.1.2.3/24 fd00::1/64': VRRP carries the addresses of one family"
        ),
        "{err}"
    );
    // --preempt-delay: range-checked, and only meaningful with --preempt.
    for (extra, expected) in [
        (
            &["--preempt", "--preempt-delay", "3601"][..],
            "3601 is not in 0..=3600",
        ),
        (&["--preempt-delay", "30"][..], "--preempt"),
    ] {
        let out = run(&[&["--interface", "lo", "--vip", "10.1.2.3/24"][..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
    // --garp-refresh: whole seconds, at most an hour; the site's value cannot be overridden.
    for (value, expected) in [
        (
            "3601",
            "invalid value '3601' for '--garp-refresh <SECS>': 3601 is not in 0..=3600",
        ),
        ("1.5", "invalid value '1.5' for '--garp-refresh <SECS>'"),
    ] {
        let out = run(&[
            "--interface",
            "lo",
            "--vip",
            "10.1.2.3/24",
            "--garp-refresh",
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{value}: {err}");
    }
    let out = carpctl()
        .args([
            "run",
            "--site",
            "-",
            "--host",
            "redis1",
            "--garp-refresh",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("'--site <FILE>' cannot be used with '--garp-refresh <SECS>'"));
    for (flag, value, expected) in [
        ("--vrrpprio", "255", "invalid vrrpprio '255'"),
        ("--vrrpinterval", "5000", "invalid vrrpinterval '5000'"),
        ("--carpver", "1", "invalid carpver '1'"),
        ("--peer", "ff02::12", "invalid peer 'ff02::12'"),
    ] {
        let out = run(&["--interface", "lo", "--vip", "10.1.2.3/24", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
    }
    // VRRPv3 needs no password; CARP does.
    let bare = |extra: &[&str]| {
        carpctl()
            .args(["run", "--vhid", "9", "--interface", "nosuchif0"])
            .args(["--vip", "10.1.2.3/24", "--state-dir"])
            .arg(&state)
            .args(extra)
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&bare(&["--carpver", "3"]).stderr).into_owned();
    assert!(err.contains("interface 'nosuchif0' not found"), "{err}");
    let err = String::from_utf8_lossy(&bare(&[]).stderr).into_owned();
    assert!(err.contains("invalid pass-file ''"), "{err}");

    let out = run(&["--interface", "lo", "--vip", "10.1.2.3"]);
    assert_eq!(out.status.code(), Some(2), "usage error from clap");

    let out = run(&[
        "--interface",
        "lo",
        "--vip",
        "10.1.2.3/24",
        "--syslog=/nonexistent/log",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot reach syslog at '/nonexistent/log' (drop --syslog to log on stderr)"));
    assert!(!state.exists(), "nothing created");

    let out = run(&[
        "--interface",
        "lo",
        "--vip",
        "10.1.2.3/24",
        "--track",
        "a/b",
    ]);
    assert_eq!(out.status.code(), Some(2), "bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid track 'a/b'"));

    let out = run(&[
        "--interface",
        "lo",
        "--vip",
        "10.1.2.3/24",
        "--advbase",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid advbase '0'"));

    let out = carpctl()
        .args(["run", "--site", HOWTO, "--host", "redis1", "--vhid", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--site excludes --vhid");

    let out = carpctl()
        .args(["run", "--site", HOWTO, "--host", "redis1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unreadable password file is bad input"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read password file '/usr/local/etc/carp/vhid10.pass'"),
        "{err}"
    );
}

#[test]
fn help_names_defaults() {
    let out = carpctl().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("default: 1"), "{help}");
    assert!(help.contains("/run/carpctl"), "{help}");
}

/// Regression: one corrupt `vhidNN.json` made `status` fail for every engine.
#[test]
fn a_corrupt_state_file_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let live = serde_json::json!({
        "vhid": 12, "interface": "eth0", "state": "MASTER", "pid": std::process::id(),
        "src": "10.0.0.2", "vips": ["10.0.0.100/24"], "advbase": 1, "advskew": 0,
        "demotion": 0, "effective_skew": 0, "preempt": false,
        "since": "2026-01-01T00:00:00.000Z", "bad_adverts": {}, "last_peer": null
    });
    std::fs::write(dir.path().join("vhid12.json"), live.to_string()).unwrap();
    std::fs::write(dir.path().join("vhid13.json"), "{\"vhid\": 13, \"sta").unwrap();
    let status = |args: &[&str]| {
        carpctl()
            .arg("status")
            .args(args)
            .arg("--state-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = status(&["--expect", "master"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out)["vhids"][0]["vhid"], 12);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: ignoring state file") && err.contains("vhid13.json"),
        "{err}"
    );
    let out = status(&["--vhid", "12"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "another vhid's file is not looked at"
    );
}

#[test]
fn rcconf_prints_devd_rules_for_the_hooks_and_refuses_unquotable_ones() {
    let out = carpctl()
        .args([
            "rcconf", "--site", HOWTO, "--host", "redis1", "--format", "json",
        ])
        .args([
            "--up-hook",
            "/usr/local/libexec/carp-up",
            "--down-hook",
            "logger down",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = stdout_json(&out);
    let devd: Vec<&str> = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["file"] == "/usr/local/etc/devd/carpctl.conf")
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(devd.len(), 2);
    assert!(
        devd[0].contains("match \"subsystem\" \"10@em1\";"),
        "{}",
        devd[0]
    );
    assert!(devd[0].contains("CARP_SRC=10.0.10.11;"), "{}", devd[0]);
    assert!(
        devd[0].ends_with("/usr/local/libexec/carp-up\";\n};"),
        "{}",
        devd[0]
    );
    assert!(
        devd[1].contains("match \"type\" \"BACKUP\";"),
        "{}",
        devd[1]
    );

    let out = carpctl()
        .args(["rcconf", "--site", HOWTO, "--host", "redis1"])
        .args(["--up-hook", "echo \"$HOME\""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "bad input");
    assert!(out.stdout.is_empty(), "nothing half-printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid up-hook 'echo \"$HOME\"'"));
}

/// A fixture of this crate's tests/fixtures.
fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `rcconf` of `host` in the fixture site `site` equals the reviewed golden file `golden`.
fn assert_rcconf_golden(site: &str, host: &str, golden: &str) {
    let out = carpctl()
        .args(["rcconf", "--site", &fixture(site), "--host", host])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(fixture(golden)).unwrap(),
        "rcconf of {host} in {site} differs from {golden}"
    );
}

/// A VRRPv3 site (carpver 3) gets `carpver 3 vrrpprio N vrrpinterval CS` after the vhid, with
/// no password, for its main group and its derived one; `alias` prints the same words.
#[test]
fn rcconf_of_a_vrrp3_site_matches_its_golden_file() {
    assert_rcconf_golden("vrrp3-site.json", "redis2", "rcconf-vrrp3-redis2.txt");
    let out = carpctl()
        .args(["alias", "--dry-run", "--host", "redis2", "--site"])
        .arg(fixture("vrrp3-site.json"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ifconfig em1 vhid 10 carpver 3 vrrpprio 150 vrrpinterval 50 alias 10.0.10.100/32\n"
    );
}

/// A unicast CARP site (carp.peers) gets `peer ADDR`, the other node, after the skew.
#[test]
fn rcconf_of_a_unicast_site_matches_its_golden_file() {
    assert_rcconf_golden("unicast-site.json", "redis1", "rcconf-unicast-redis1.txt");
}

/// What FreeBSD cannot run is refused with the field named, exit 2, nothing printed: unicast
/// VRRPv3, unicast CARP to more than one peer, and an interval over ifconfig's 4095
/// centiseconds.
#[test]
fn rcconf_refuses_peers_freebsd_cannot_express() {
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
    };
    let mut vrrp_unicast = read("vrrp3-site.json");
    vrrp_unicast["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.12"]);
    let mut three_peers = read("vrrp3-site.json");
    three_peers["carp"]["carpver"] = 2.into();
    three_peers["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.12", "10.0.10.13"]);
    let mut long_interval = read("vrrp3-site.json");
    long_interval["carp"]["vrrpinterval"] = 5000.into();
    for (site, expected) in [
        (
            vrrp_unicast,
            "invalid carp.peers '10.0.10.12': FreeBSD's kernel sends VRRPv3",
        ),
        (
            three_peers,
            "invalid carp.peers '10.0.10.12, 10.0.10.13': FreeBSD's carp(4)",
        ),
        (
            long_interval,
            "carp.vrrpinterval: expected a number from 1 to 4095 (centiseconds)",
        ),
    ] {
        let out = carpctl()
            .args(["rcconf", "--site", "-", "--host", "redis1"])
            .write_stdin(site.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty(), "nothing half-printed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("carpctl: ") && err.contains(expected),
            "{err}"
        );
    }
}

/// `status --format prom --output FILE`, as the health timer runs it for node_exporter: the
/// file is replaced whole, world-readable, and promtool finds nothing wrong in it; when the
/// engine has stopped, the file loses its vhid (no stale MASTER stays behind) and status
/// exits 3.
#[test]
fn status_writes_prometheus_metrics_promtool_accepts() {
    testkit::assert_tool("promtool", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let status = serde_json::json!({
        "vhid": 12, "interface": "eth0", "state": "MASTER", "pid": std::process::id(),
        "src": "10.0.0.2", "vips": ["10.0.0.100/24"], "advbase": 1, "advskew": 0,
        "demotion": 0, "effective_skew": 0, "preempt": true,
        "since": "2026-01-01T00:00:00.000Z", "bad_adverts": {"hmac": 3}, "last_peer": null,
        "counters": {"started_unix": 1_767_225_000u64, "transitions": {"BACKUP": 1, "MASTER": 1},
                     "adverts_sent": 600, "adverts_received": 2}
    });
    let state_file = dir.path().join("vhid12.json");
    std::fs::write(&state_file, status.to_string()).unwrap();
    let metrics = dir.path().join("carpctl.prom");
    let status = || {
        carpctl()
            .args(["status", "--format", "prom", "--output"])
            .arg(&metrics)
            .arg("--state-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = status();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "the metrics go to the file only");
    let text = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "carpctl_state{vhid=\"12\",interface=\"eth0\",state=\"master\"} 1",
        "carpctl_transitions_total{vhid=\"12\",interface=\"eth0\",to=\"master\"} 1",
        "carpctl_advertisements_sent_total{vhid=\"12\",interface=\"eth0\"} 600",
        "carpctl_advertisements_rejected_total{vhid=\"12\",interface=\"eth0\",reason=\"hmac\"} 3",
    ] {
        assert!(text.contains(&format!("\n{line}\n")), "{line}:\n{text}");
    }
    let mode = std::fs::metadata(&metrics).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    std::fs::remove_file(&state_file).unwrap();
    let out = status();
    assert_eq!(out.status.code(), Some(3));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("\ncarpctl_status_timestamp_seconds "),
        "{text}"
    );
    assert!(!text.contains("vhid="), "{text}");
}
