//! End-to-end tests of `carpctl run` on a real bridged link of network namespaces, against
//! itself and against ucarp. They need root; without it each test says so and passes.

mod lab;

use std::time::Duration;

use carpctl::wire;
use lab::{advert, holds_for, reasons, require_lab, wait_until, Lab, PASSWORD};
use nix::sys::signal::Signal;

const SETTLE: Duration = Duration::from_secs(10);

/// Two carpctl nodes: the lower skew holds the VIP, it answers pings, status says so.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn carpctl_pair_elects_the_lower_skew() {
    require_lab();
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--advskew", "0", "--preempt"]);
    lab.carpctl(2, &["--advskew", "100", "--preempt"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    assert_eq!(lab.vip_holders(), vec![1]);
    assert!(lab.ping_from(3), "the VIP answers from the master");
    let event = &lab.procs[a].events()[1];
    assert_eq!(event["event"], "state");
    assert_eq!(event["interface"], "eth0");
    assert_eq!(event["vhid"], 7);
    assert_eq!(event["to"], "MASTER");
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    // The backup hears the master: it stays BACKUP far past its master-down interval.
    holds_for(Duration::from_secs(4), "host 2 stays BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    let status = lab.status(2).unwrap();
    assert_eq!(status["last_peer"], "10.77.0.1");
    assert!(status["bad_adverts"].as_object().unwrap().is_empty());
}

/// Unplugging the master moves the VIP. Regression (blind to its link): the unplugged master
/// used to go on saying MASTER (and `status --expect master` said 0) while the peer held the
/// VIP; it now drops to INIT without the VIP, and plugged back in it preempts as BACKUP.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn a_master_losing_its_carrier_steps_down_and_returns() {
    require_lab();
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--advskew", "0", "--preempt"]);
    let b = lab.carpctl(2, &["--advskew", "100", "--preempt"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    lab.set_link(1, false);
    wait_until(Duration::from_secs(2), "host 1 INIT", || {
        lab.state(1).as_deref() == Some("INIT")
    });
    assert!(!lab.has_vip(1), "no VIP without a link");
    let out = lab.control(1, &["status", "--expect", "master"]);
    assert_eq!(out.status.code(), Some(1), "not MASTER");
    assert_eq!(lab.status(1).unwrap()["links"]["eth0"], "down");
    wait_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert_eq!(lab.vip_holders(), vec![2]);
    assert!(lab.ping_from(3), "the VIP answers from the new master");
    lab.set_link(1, true);
    wait_until(SETTLE, "host 1 preempts back", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 yields", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    wait_until(SETTLE, "one VIP holder", || lab.vip_holders() == vec![1]);
    assert!(lab.ping_from(3));
    assert_eq!(
        reasons(&lab, a),
        [
            "INIT->BACKUP startup",
            "BACKUP->MASTER master_down",
            "MASTER->INIT link_down",
            "INIT->BACKUP link_up",
            "BACKUP->MASTER preempt"
        ]
    );
    assert_eq!(
        reasons(&lab, b),
        [
            "INIT->BACKUP startup",
            "BACKUP->MASTER master_down",
            "MASTER->BACKUP better_master"
        ]
    );
}

/// A crashed master comes back and, with preempt, takes the VIP back from the worse node.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn a_better_node_returning_preempts() {
    require_lab();
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--advskew", "0", "--preempt"]);
    lab.carpctl(2, &["--advskew", "100"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    lab.procs[a].signal(Signal::SIGKILL);
    lab.procs[a].wait_exit(Duration::from_secs(5));
    wait_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert_eq!(
        lab.vip_holders(),
        vec![1, 2],
        "a crash leaves the address behind"
    );
    // Back without preempt, it stays BACKUP and clears what the crash left.
    let quiet = lab.carpctl(1, &["--advskew", "0"]);
    wait_until(SETTLE, "host 1 BACKUP", || {
        lab.state(1).as_deref() == Some("BACKUP")
    });
    assert_eq!(lab.vip_holders(), vec![2]);
    lab.procs[quiet].signal(Signal::SIGTERM);
    lab.procs[quiet].wait_exit(Duration::from_secs(5));
    let a = lab.carpctl(1, &["--advskew", "0", "--preempt"]);
    wait_until(SETTLE, "host 1 preempts", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 yields", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    assert_eq!(lab.vip_holders(), vec![1]);
    assert_eq!(
        reasons(&lab, a),
        ["INIT->BACKUP startup", "BACKUP->MASTER preempt"]
    );
}

/// SIGTERM on the master: bow-out advert, VIP removed, and a backup without preempt takes
/// over at once by the "master will time out" rule.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn sigterm_hands_over_gracefully() {
    require_lab();
    let mut lab = Lab::new(3);
    let up = lab.dir.path().join("up.env");
    let down = lab.dir.path().join("down.env");
    // Written aside and renamed: the test reads the file as soon as it exists, and a plain
    // redirect creates it before sort has written a line.
    let hook = |file: &std::path::Path| {
        format!(
            "env | grep ^CARP_ | sort > {0}.tmp && mv {0}.tmp {0}",
            file.display()
        )
    };
    let (up_hook, down_hook) = (hook(&up), hook(&down));
    let a = lab.carpctl(
        1,
        &[
            "--advskew",
            "0",
            "--up-hook",
            &up_hook,
            "--down-hook",
            &down_hook,
        ],
    );
    let b = lab.carpctl(2, &["--advskew", "100"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    wait_until(SETTLE, "the up hook ran", || up.exists());
    assert_eq!(
        std::fs::read_to_string(&up).unwrap(),
        "CARP_FROM=BACKUP\nCARP_INTERFACE=eth0\nCARP_REASON=master_down\nCARP_SRC=10.77.0.1\n\
         CARP_STATE=MASTER\nCARP_VHID=7\nCARP_VIPS=10.77.0.100/24\n"
    );
    assert!(!down.exists());
    lab.procs[a].signal(Signal::SIGTERM);
    let status = lab.procs[a].wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}");
    assert!(!lab.has_vip(1), "the old master removed the VIP");
    assert!(lab.status(1).is_none(), "its state file is gone");
    let down_env = std::fs::read_to_string(&down).unwrap();
    assert!(
        down_env.contains("CARP_STATE=INIT\n") && down_env.contains("CARP_REASON=shutdown\n"),
        "{down_env}"
    );
    wait_until(Duration::from_secs(2), "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert!(lab.ping_from(3));
    assert_eq!(
        reasons(&lab, a).last().map(String::as_str),
        Some("MASTER->INIT shutdown")
    );
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_will_time_out")
    );
}

/// `carpctl demote` moves the VIP to a backup with preempt within one interval; promote
/// brings it back. A demote by hand holds: `promote --unless-held` (what a health check runs)
/// leaves it in place, only `promote` clears it; `demote --no-hold` sets no hold.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn demote_and_promote_move_the_vip() {
    require_lab();
    let mut lab = Lab::new(2);
    lab.carpctl(1, &["--advskew", "0", "--preempt"]);
    lab.carpctl(2, &["--advskew", "100", "--preempt"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    let out = lab.control(1, &["demote", "50"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["demotion"], 50);
    assert_eq!(reply["effective_skew"], 50);
    holds_for(Duration::from_secs(2), "skew 50 still beats 100", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    let out = lab.control(1, &["demote"]);
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["effective_skew"], 240, "capped at 240");
    wait_until(SETTLE, "host 2 preempts", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 1 yields", || {
        lab.state(1).as_deref() == Some("BACKUP")
    });
    let hold = |lab: &Lab| {
        let out = lab.control(1, &["status"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["holds"][0].clone()
    };
    assert_eq!(hold(&lab)["demotion"], 240, "a demote by hand holds");
    let out = lab.control(1, &["promote", "--unless-held"]);
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(
        lab.status(1).unwrap()["demotion"],
        240,
        "the hold is respected"
    );
    let out = lab.control(1, &["promote"]);
    assert!(out.status.success());
    assert!(hold(&lab).is_null(), "promote clears the hold");
    let out = lab.control(1, &["demote", "--no-hold", "10"]);
    assert!(out.status.success() && hold(&lab).is_null());
    let out = lab.control(1, &["promote", "--unless-held"]);
    assert!(out.status.success());
    assert_eq!(lab.status(1).unwrap()["demotion"], 0, "no hold: promoted");
    wait_until(SETTLE, "host 1 preempts back", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    // Host 2 yields when host 1's first advert as master reaches it, a moment later.
    wait_until(SETTLE, "host 2 gives the VIP back", || {
        lab.vip_holders() == vec![1]
    });
}

/// A hold outlives the engine that took it: an engine started beside one starts demoted, so a
/// host taken out by hand stays out across a restart, until `carpctl promote`.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn an_engine_starts_with_the_demotion_of_a_hold() {
    require_lab();
    let mut lab = Lab::new(2);
    std::fs::create_dir_all(lab.state_dir(1)).unwrap();
    let mut holds = carpctl::hold::Holds::default();
    holds.set(carpctl::hold::Hold {
        demotion: 240,
        vhid: None,
        since: "2026-01-01T00:00:00.000Z".into(),
    });
    carpctl::hold::write(&lab.state_dir(1), &holds).unwrap();
    lab.carpctl(1, &["--advskew", "0", "--preempt"]);
    lab.carpctl(2, &["--advskew", "100", "--preempt"]);
    wait_until(SETTLE, "host 2 MASTER despite its higher skew", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    let status = lab.status(1).unwrap();
    assert_eq!(
        (status["state"].as_str(), &status["demotion"]),
        (Some("BACKUP"), &serde_json::json!(240))
    );
    let out = lab.control(1, &["promote"]);
    assert!(out.status.success());
    wait_until(SETTLE, "host 1 preempts once promoted", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
}

/// A peer with another password is named on stderr, counted, and never obeyed.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn wrong_password_is_reported_and_ignored() {
    require_lab();
    let mut lab = Lab::new(2);
    lab.carpctl(1, &["--advskew", "0"]);
    let other = lab.write_pass("other", "not-the-same");
    let b = lab.carpctl_with_pass(2, &other, &["--advskew", "100"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    // Host 2 cannot verify host 1, so it takes the VIP as well: the report says why.
    wait_until(SETTLE, "host 2 MASTER", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "the report", || {
        lab.procs[b]
            .stderr_text()
            .contains("from 10.77.0.1 with a wrong password")
    });
    wait_until(SETTLE, "the counter in status", || {
        lab.status(2)
            .is_some_and(|s| s["bad_adverts"]["hmac"].as_u64() >= Some(2))
    });
    assert!(
        !lab.procs[b].stderr_text().contains(PASSWORD)
            && !lab.procs[b].stderr_text().contains("not-the-same"),
        "the password never appears in output"
    );
}

/// Forged advertisements (bad HMAC, or bad TTL) from a third host do not move a master;
/// the same advert signed correctly does, so the test would notice a check gone missing.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn forged_adverts_are_ignored() {
    require_lab();
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--advskew", "100"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    let forged: Vec<_> = (0..5)
        .map(|c| advert(1, 0, c, "guessed-password"))
        .collect();
    lab.send_adverts(3, &forged);
    holds_for(
        Duration::from_secs(1),
        "a forged advert moved the master",
        || lab.state(1).as_deref() == Some("MASTER"),
    );
    wait_until(SETTLE, "the forgery is counted", || {
        lab.status(1).is_some_and(|s| s["bad_adverts"]["hmac"] == 5)
    });
    assert!(lab.procs[a]
        .stderr_text()
        .contains("from 10.77.0.3 with a wrong password"));
    // Signed right but routed (TTL 64): counted, not obeyed.
    let mut routed = wire::encode_ipv4(Lab::addr(3), &advert(1, 0, 50, PASSWORD));
    routed[8] = 64;
    lab.send_packets(3, vec![routed; 3]);
    holds_for(
        Duration::from_secs(1),
        "a routed advert moved the master",
        || lab.state(1).as_deref() == Some("MASTER"),
    );
    wait_until(SETTLE, "the routed adverts are counted", || {
        lab.status(1).is_some_and(|s| s["bad_adverts"]["ttl"] == 3)
    });
    assert!(lab.procs[a]
        .stderr_text()
        .contains("from 10.77.0.3 with a TTL other than 255"));
    lab.send_adverts(3, &[advert(1, 0, 99, PASSWORD)]);
    wait_until(SETTLE, "a genuine better advert is obeyed", || {
        lab.state(1).as_deref() == Some("BACKUP")
    });
}

/// carpctl as master, ucarp as backup: each accepts the other's adverts; unplugging
/// carpctl's host hands the VIP to ucarp, which then answers pings.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn carpctl_master_with_ucarp_backup() {
    require_lab();
    testkit::assert_tool("ucarp", "ucarp");
    let mut lab = Lab::new(3);
    lab.carpctl(1, &["--advskew", "0"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    lab.ucarp(2, 100, false);
    holds_for(
        Duration::from_secs(5),
        "ucarp accepts carpctl's adverts and stays backup",
        || lab.vip_holders() == vec![1],
    );
    assert!(lab.ping_from(3));
    lab.set_link(1, false);
    wait_until(SETTLE, "ucarp takes the VIP", || lab.has_vip(2));
    assert!(lab.ping_from(3), "the VIP answers from ucarp's host");
}

/// ucarp as master, carpctl as backup, then carpctl (better, preempt) takes over from ucarp
/// when ucarp's host drops off the link, and holds the VIP when it returns.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn ucarp_master_with_carpctl_backup() {
    require_lab();
    testkit::assert_tool("ucarp", "ucarp");
    let mut lab = Lab::new(3);
    lab.ucarp(1, 0, false);
    wait_until(SETTLE, "ucarp holds the VIP", || lab.has_vip(1));
    lab.carpctl(2, &["--advskew", "100"]);
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    holds_for(
        Duration::from_secs(5),
        "carpctl accepts ucarp's adverts and stays backup",
        || lab.state(2).as_deref() == Some("BACKUP") && lab.vip_holders() == vec![1],
    );
    assert!(lab.status(2).unwrap()["bad_adverts"]
        .as_object()
        .unwrap()
        .is_empty());
    lab.set_link(1, false);
    wait_until(SETTLE, "carpctl takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert!(lab.has_vip(2));
    assert!(lab.ping_from(3), "the VIP answers from carpctl's host");
}

/// carpctl with preempt and a better skew takes the VIP from a running ucarp master, and
/// ucarp steps down on carpctl's adverts.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn carpctl_preempts_ucarp() {
    require_lab();
    testkit::assert_tool("ucarp", "ucarp");
    let mut lab = Lab::new(3);
    lab.ucarp(1, 100, false);
    wait_until(SETTLE, "ucarp holds the VIP", || lab.has_vip(1));
    lab.carpctl(2, &["--advskew", "0", "--preempt"]);
    wait_until(SETTLE, "carpctl preempts", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "ucarp drops the VIP", || {
        lab.vip_holders() == vec![2]
    });
    assert!(lab.ping_from(3));
}

/// An IPv6 address rides along with the IPv4 one: it moves on failover, and the neighbour
/// advertisement makes a client that cached the old master's MAC follow at once.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn ipv6_vip_moves_with_the_ipv4_one() {
    require_lab();
    let mut lab = Lab::new(3);
    for host in 1..=3 {
        lab.add_addr(host, &format!("fd77::{host}/64"));
    }
    lab.carpctl(1, &["--advskew", "0", "--vip", "fd77::100/64"]);
    lab.carpctl(2, &["--advskew", "100", "--vip", "fd77::100/64"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    assert!(lab.has_addr(1, "fd77::100") && !lab.has_addr(2, "fd77::100"));
    wait_until(SETTLE, "fd77::100 answers from host 1", || {
        lab.ping(3, "fd77::100")
    });
    lab.set_link(1, false);
    wait_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert!(lab.has_addr(2, "fd77::100"));
    assert!(
        lab.ping(3, "fd77::100"),
        "the client follows the neighbour advertisement"
    );
    assert!(lab.ping_from(3));
}

/// A ucarp peer configured with another password is named in the report, not obeyed.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn ucarp_with_another_password_is_named() {
    require_lab();
    testkit::assert_tool("ucarp", "ucarp");
    let mut lab = Lab::new(2);
    lab.ucarp_with_pass(1, 0, false, "ucarp-other-pass");
    wait_until(SETTLE, "ucarp holds the VIP", || lab.has_vip(1));
    let b = lab.carpctl(2, &["--advskew", "100"]);
    wait_until(SETTLE, "the report names ucarp's host", || {
        lab.procs[b]
            .stderr_text()
            .contains("from 10.77.0.1 with a wrong password")
    });
    wait_until(SETTLE, "carpctl, deaf to ucarp, becomes MASTER", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
}

/// Two masters with equal skews after a partition (carriers up, CARP dropped on the bridge)
/// heal to one: carpctl breaks the tie in ucarp's order, so the two never both keep the VIP.
/// The addresses are chosen so that byte orders disagree: 10.77.1.1 (ucarp) against
/// 10.77.0.2 (carpctl); the link carries both subnets, since carpctl believes adverts only
/// from the subnets of its interface.
#[cfg(target_endian = "little")]
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn equal_masters_after_a_partition_agree_with_ucarp_on_the_tie() {
    require_lab();
    testkit::assert_tool("ucarp", "ucarp");
    testkit::assert_tool("nft", "nftables");
    let mut lab = Lab::new(3);
    lab.add_addr(1, "10.77.1.1/24");
    lab.add_addr(2, "10.77.1.2/24");
    lab.partition(true);
    lab.ucarp_from(1, "10.77.1.1", 0, false, PASSWORD);
    let b = lab.carpctl(2, &["--advskew", "0", "--src", "10.77.0.2"]);
    wait_until(SETTLE, "two masters", || lab.vip_holders() == vec![1, 2]);
    lab.partition(false);
    wait_until(SETTLE, "one master", || lab.vip_holders() == vec![1]);
    holds_for(Duration::from_secs(3), "the tie stays broken", || {
        lab.vip_holders() == vec![1] && lab.state(2).as_deref() == Some("BACKUP")
    });
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("MASTER->BACKUP tie_break")
    );
}

/// The bow-out works on ucarp too: a ucarp backup takes over at once when carpctl's master
/// gets SIGTERM, well before its master-down interval (3.4 s) would pass.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn sigterm_hands_over_to_a_ucarp_backup_at_once() {
    require_lab();
    testkit::assert_tool("ucarp", "ucarp");
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--advskew", "0"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    lab.ucarp(2, 100, false);
    holds_for(Duration::from_secs(4), "ucarp stays backup", || {
        lab.vip_holders() == vec![1]
    });
    lab.procs[a].signal(Signal::SIGTERM);
    wait_until(
        Duration::from_secs(2),
        "ucarp takes over on the bow-out",
        || lab.vip_holders() == vec![2],
    );
    assert!(lab.ping_from(3));
}
