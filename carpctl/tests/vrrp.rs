//! End-to-end tests of `carpctl run --carpver 3` (VRRPv3) against Debian's keepalived, and of
//! unicast adverts (`--peer`) with multicast dropped on the hosts, in network namespaces on a
//! bridged link. They need root, keepalived and nft: they are `#[ignore]`d, so a plain
//! `cargo test` reports them as ignored, and `make test` runs them as root; forced without
//! root or the tools, each fails at once naming what is missing.

mod lab;

use std::time::Duration;

use lab::{holds_for, reasons, require_lab, time_until, wait_until, Keepalived, Lab};
use nix::sys::signal::Signal;

const SETTLE: Duration = Duration::from_secs(10);
/// RFC 5798's Skew_Time of a priority-100 backup at a 1 s interval: 156/256 s.
const SKEW_100: Duration = Duration::from_millis(609);
/// What polling, process start-up and a busy machine add to a protocol time.
const SLACK: Duration = Duration::from_millis(400);

fn require_lab_with_keepalived() {
    require_lab();
    testkit::assert_tool("keepalived", "keepalived");
}

/// What keepalived logs when it refuses an advert; none of it may appear.
fn assert_keepalived_accepts(lab: &Lab, proc: usize) {
    let log = lab.procs[proc].stderr_text() + &lab.procs[proc].stdout_lines().join("\n");
    for refusal in [
        "Invalid VRRPv3 checksum",
        "wrong VRRP version",
        "invalid TTL",
        "expected 1 VIPs",
        "not present in advert",
        "Expected unicast packet",
        "Expected multicast packet",
        "too short",
        "too long",
    ] {
        assert!(
            !log.contains(refusal),
            "keepalived refused an advert: {log}"
        );
    }
}

fn status_u64(lab: &Lab, host: usize, field: &str) -> Option<u64> {
    lab.status(host).and_then(|s| s[field].as_u64())
}

/// carpctl as master (priority 200), keepalived as backup (100): one holder; carpctl's
/// priority-0 bow-out is taken by keepalived within its skew time; carpctl back with a
/// higher priority preempts; the master's cable pulled, keepalived takes over.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn carpctl_master_keepalived_backup() {
    require_lab_with_keepalived();
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--carpver", "3", "--vrrpprio", "200", "--preempt"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    let k = lab.keepalived(2, &Keepalived::new(100));
    holds_for(
        Duration::from_secs(5),
        "keepalived accepts carpctl's adverts and stays backup",
        || lab.vip_holders() == vec![1],
    );
    assert!(lab.ping_from(3));
    assert_keepalived_accepts(&lab, k);
    lab.procs[a].signal(Signal::SIGTERM);
    let took = time_until(SETTLE, "keepalived takes the bow-out", || {
        lab.vip_holders() == vec![2]
    });
    assert!(
        took < SKEW_100 + SLACK,
        "keepalived took {took:?}, its skew time is {SKEW_100:?}"
    );
    assert!(lab.ping_from(3), "the VIP answers from keepalived's host");
    assert_eq!(
        reasons(&lab, a).last().map(String::as_str),
        Some("MASTER->INIT shutdown")
    );
    // Back with the higher priority and preempt: carpctl takes the VIP back.
    lab.carpctl(1, &["--carpver", "3", "--vrrpprio", "200", "--preempt"]);
    wait_until(SETTLE, "carpctl preempts keepalived", || {
        lab.vip_holders() == vec![1] && lab.state(1).as_deref() == Some("MASTER")
    });
    lab.set_link(1, false);
    wait_until(SETTLE, "keepalived takes over on loss", || lab.has_vip(2));
    assert!(lab.ping_from(3));
    assert_keepalived_accepts(&lab, k);
}

/// keepalived as master (priority 200, advert_int 0.5), carpctl as backup (100): carpctl
/// learns the master's interval, takes keepalived's priority 0 within its skew time, yields
/// when keepalived returns, and takes over when keepalived's cable is pulled.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn keepalived_master_carpctl_backup() {
    require_lab_with_keepalived();
    let mut lab = Lab::new(3);
    let master = Keepalived {
        interval_cs: 50,
        ..Keepalived::new(200)
    };
    let k = lab.keepalived(1, &master);
    wait_until(SETTLE, "keepalived holds the VIP", || lab.has_vip(1));
    let b = lab.carpctl(2, &["--carpver", "3", "--vrrpprio", "100"]);
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    holds_for(
        Duration::from_secs(4),
        "carpctl accepts keepalived's adverts and stays backup",
        || lab.state(2).as_deref() == Some("BACKUP") && lab.vip_holders() == vec![1],
    );
    let status = lab.status(2).unwrap();
    assert_eq!(status["last_peer"], "10.77.0.1");
    assert!(
        status["bad_adverts"].as_object().unwrap().is_empty(),
        "{status}"
    );
    assert_eq!(status["master_interval_cs"], 50, "learned from keepalived");
    lab.procs[k].signal(Signal::SIGTERM);
    // The time counts keepalived's own way from SIGTERM to its priority-0 advert (its
    // parent stops the VRRP child), so it is bounded by the master-down interval at the
    // learned 0.5 s (1.5 s + skew), and the reason shows it was the priority 0 that counted.
    let took = time_until(SETTLE, "carpctl takes keepalived's priority 0", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_stopped")
    );
    assert!(
        took < Duration::from_millis(1500),
        "carpctl took {took:?}; the master-down interval is 1.8 s"
    );
    lab.procs[k].wait_exit(Duration::from_secs(5));
    wait_until(SETTLE, "only carpctl holds the VIP", || {
        lab.vip_holders() == vec![2]
    });
    assert!(lab.ping_from(3));
    // keepalived preempts by default: back with priority 200 it takes the VIP again.
    let k = lab.keepalived(1, &master);
    wait_until(SETTLE, "carpctl yields to keepalived", || {
        lab.state(2).as_deref() == Some("BACKUP") && lab.vip_holders() == vec![1]
    });
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("MASTER->BACKUP better_master")
    );
    assert_keepalived_accepts(&lab, k);
    lab.set_link(1, false);
    wait_until(SETTLE, "carpctl takes over on loss", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_down")
    );
    assert!(lab.ping_from(3));
}

/// Unicast VRRPv3 with keepalived's `unicast_peer` while both hosts drop multicast: the
/// adverts still meet, in both roles. keepalived's unicast TTL of 64 is accepted, as
/// carp(4) disables the TTL check for unicast peers.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn unicast_vrrp_with_keepalived_and_multicast_dropped() {
    require_lab_with_keepalived();
    testkit::assert_tool("nft", "nftables");
    let mut lab = Lab::new(3);
    lab.drop_multicast(1, true);
    lab.drop_multicast(2, true);
    let unicast = |priority| Keepalived {
        peers: vec!["10.77.0.2".into()],
        unicast_ttl: Some(64),
        ..Keepalived::new(priority)
    };
    let k = lab.keepalived(1, &unicast(200));
    wait_until(SETTLE, "keepalived holds the VIP", || lab.has_vip(1));
    let b = lab.carpctl(2, &["--carpver", "3", "--peer", "10.77.0.1"]);
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    holds_for(
        Duration::from_secs(5),
        "carpctl hears keepalived over unicast and stays backup",
        || lab.state(2).as_deref() == Some("BACKUP") && lab.vip_holders() == vec![1],
    );
    let status = lab.status(2).unwrap();
    assert!(
        status["bad_adverts"].as_object().unwrap().is_empty(),
        "{status}"
    );
    assert_eq!(status["peers"], serde_json::json!(["10.77.0.1"]));
    lab.procs[k].signal(Signal::SIGTERM);
    wait_until(
        Duration::from_secs(2),
        "carpctl takes the priority 0",
        || lab.state(2).as_deref() == Some("MASTER"),
    );
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_stopped")
    );
    lab.procs[k].wait_exit(Duration::from_secs(5));
    // keepalived back as the worse node: it hears carpctl's unicast adverts and stays backup.
    let k = lab.keepalived(1, &unicast(50));
    holds_for(
        Duration::from_secs(5),
        "keepalived hears carpctl over unicast and stays backup",
        || lab.vip_holders() == vec![2],
    );
    assert_keepalived_accepts(&lab, k);
    lab.procs[b].signal(Signal::SIGTERM);
    wait_until(
        Duration::from_secs(2),
        "keepalived takes the bow-out",
        || lab.vip_holders() == vec![1],
    );
    assert!(lab.ping_from(3));
}

/// Two carpctl CARP nodes on hosts that drop multicast: with multicast adverts both become
/// MASTER (so the drop is real); with `--peer` they elect one, the backup takes over when
/// the master's cable is pulled, and a third host that is not a peer is not heard.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn carp_pair_with_peers_and_multicast_dropped() {
    require_lab();
    testkit::assert_tool("nft", "nftables");
    let mut lab = Lab::new(3);
    lab.drop_multicast(1, true);
    lab.drop_multicast(2, true);
    let a = lab.carpctl(1, &["--advskew", "0"]);
    let b = lab.carpctl(2, &["--advskew", "100"]);
    wait_until(SETTLE, "two masters: multicast is dropped", || {
        lab.vip_holders() == vec![1, 2]
    });
    for p in [a, b] {
        lab.procs[p].signal(Signal::SIGTERM);
        lab.procs[p].wait_exit(Duration::from_secs(5));
    }
    lab.carpctl(1, &["--advskew", "0", "--peer", "10.77.0.2"]);
    let b = lab.carpctl(2, &["--advskew", "100", "--peer", "10.77.0.1"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    holds_for(Duration::from_secs(4), "one holder over unicast", || {
        lab.vip_holders() == vec![1] && lab.state(2).as_deref() == Some("BACKUP")
    });
    assert_eq!(lab.status(2).unwrap()["last_peer"], "10.77.0.1");
    // A better advert from host 3, which is no peer, is counted and not obeyed.
    let forged = lab::advert(1, 0, 1, lab::PASSWORD);
    lab.send_unicast(3, "10.77.0.2".parse().unwrap(), &forged);
    wait_until(SETTLE, "the stranger is counted", || {
        lab.status(2)
            .is_some_and(|s| s["bad_adverts"]["not_peer"].as_u64() == Some(1))
    });
    assert_eq!(lab.state(2).as_deref(), Some("BACKUP"));
    lab.set_link(1, false);
    wait_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert!(lab.ping_from(3));
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_down")
    );
}

/// A carpctl VRRPv3 pair at 0.2 s: the backup takes over within its master-down interval
/// (3 x 0.2 s + skew) of the cable being pulled, and a status read shows the learned interval.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn subsecond_vrrp_pair_takes_over_quickly() {
    require_lab();
    let mut lab = Lab::new(3);
    let fast = ["--carpver", "3", "--vrrpinterval", "20"];
    lab.carpctl(1, &[&fast[..], &["--vrrpprio", "200"]].concat());
    lab.carpctl(2, &fast);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    assert_eq!(status_u64(&lab, 2, "master_interval_cs"), Some(20));
    lab.set_link(1, false);
    let took = time_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    let down = Duration::from_millis(600) + Duration::from_micros(200_000 * 156 / 256);
    assert!(
        took < down + SLACK,
        "took {took:?}, master-down is {down:?}"
    );
}

/// VRRPv3 over IPv6 (ff02::12, link-local sources) with keepalived in both roles: carpctl
/// takes keepalived's priority 0 and its neighbour advertisement moves a client that had
/// cached keepalived's MAC; keepalived accepts carpctl's IPv6 adverts and takes its bow-out.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn ipv6_vrrp_with_keepalived() {
    require_lab_with_keepalived();
    let mut lab = Lab::new(3);
    for host in 1..=3 {
        lab.add_ipv6(host);
    }
    let v6 = |priority| Keepalived {
        vip: "fd77::100/64".into(),
        ..Keepalived::new(priority)
    };
    let k = lab.keepalived(1, &v6(200));
    wait_until(SETTLE, "keepalived holds the IPv6 VIP", || {
        lab.has_addr(1, "fd77::100")
    });
    let b = lab.carpctl_bare(2, &["--carpver", "3", "--vip", "fd77::100/64"]);
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    holds_for(
        Duration::from_secs(4),
        "carpctl hears keepalived over IPv6 and stays backup",
        || lab.state(2).as_deref() == Some("BACKUP") && !lab.has_addr(2, "fd77::100"),
    );
    let status = lab.status(2).unwrap();
    assert!(
        status["bad_adverts"].as_object().unwrap().is_empty(),
        "{status}"
    );
    assert!(
        status["src"].as_str().unwrap().starts_with("fe80::"),
        "sent from the link-local address: {status}"
    );
    assert!(
        lab.ping(3, "fd77::100"),
        "the client caches keepalived's MAC"
    );
    lab.procs[k].signal(Signal::SIGTERM);
    wait_until(
        Duration::from_secs(2),
        "carpctl takes the priority 0",
        || lab.state(2).as_deref() == Some("MASTER"),
    );
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_stopped")
    );
    lab.procs[k].wait_exit(Duration::from_secs(5));
    assert!(lab.has_addr(2, "fd77::100"));
    assert!(
        lab.ping(3, "fd77::100"),
        "the client follows the neighbour advertisement"
    );
    let k = lab.keepalived(1, &v6(50));
    holds_for(
        Duration::from_secs(4),
        "keepalived hears carpctl over IPv6 and stays backup",
        || !lab.has_addr(1, "fd77::100") && lab.state(2).as_deref() == Some("MASTER"),
    );
    assert_keepalived_accepts(&lab, k);
    lab.procs[b].signal(Signal::SIGTERM);
    wait_until(
        Duration::from_secs(2),
        "keepalived takes the bow-out",
        || lab.has_addr(1, "fd77::100"),
    );
}

/// CARP over IPv6 to unicast peers with multicast dropped: an IPv6-only VIP, adverts to the
/// other node's global address; one holder, takeover when the master's cable is pulled.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn ipv6_carp_pair_with_peers() {
    require_lab();
    testkit::assert_tool("nft", "nftables");
    let mut lab = Lab::new(3);
    for host in 1..=3 {
        lab.add_ipv6(host);
    }
    lab.drop_multicast(1, true);
    lab.drop_multicast(2, true);
    let pass = lab.dir.path().join("pass").to_str().unwrap().to_string();
    let vip = ["--vip", "fd77::100/64", "--pass-file", &pass];
    lab.carpctl_bare(
        1,
        &[&vip[..], &["--peer", "fd77::2", "--advskew", "0"]].concat(),
    );
    let b = lab.carpctl_bare(
        2,
        &[&vip[..], &["--peer", "fd77::1", "--advskew", "100"]].concat(),
    );
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    holds_for(
        Duration::from_secs(4),
        "one holder over IPv6 unicast",
        || {
            lab.has_addr(1, "fd77::100")
                && !lab.has_addr(2, "fd77::100")
                && lab.state(2).as_deref() == Some("BACKUP")
        },
    );
    let status = lab.status(2).unwrap();
    assert_eq!(status["src"], "fd77::2");
    assert_eq!(status["last_peer"], "fd77::1");
    assert!(lab.ping(3, "fd77::100"));
    lab.set_link(1, false);
    wait_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    assert!(
        lab.ping(3, "fd77::100"),
        "the client follows the neighbour advertisement"
    );
    assert_eq!(
        reasons(&lab, b).last().map(String::as_str),
        Some("BACKUP->MASTER master_down")
    );
}

/// Regression: a better VRRP master whose cable comes back preempts within its own
/// master-down interval (3 s + 56/256 s at priority 200), not within that of the priority the
/// carrier loss had demoted it to (3 s + 255/256 s).
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn a_returning_better_vrrp_master_preempts_within_its_own_master_down_interval() {
    require_lab();
    let mut lab = Lab::new(3);
    let a = lab.carpctl(1, &["--carpver", "3", "--vrrpprio", "200", "--preempt"]);
    lab.carpctl(2, &["--carpver", "3", "--vrrpprio", "100"]);
    wait_until(SETTLE, "host 1 MASTER", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    wait_until(SETTLE, "host 2 BACKUP", || {
        lab.state(2).as_deref() == Some("BACKUP")
    });
    lab.set_link(1, false);
    wait_until(SETTLE, "host 2 takes over", || {
        lab.state(2).as_deref() == Some("MASTER")
    });
    lab.set_link(1, true);
    let took = time_until(SETTLE, "host 1 preempts", || {
        lab.state(1).as_deref() == Some("MASTER")
    });
    let down = Duration::from_secs(3) + Duration::from_micros(1_000_000 * 56 / 256);
    assert!(
        took < down + SLACK,
        "took {took:?}, its master-down interval is {down:?}"
    );
    assert_eq!(
        reasons(&lab, a).last().map(String::as_str),
        Some("BACKUP->MASTER preempt")
    );
    wait_until(SETTLE, "host 2 yields", || lab.vip_holders() == vec![1]);
}
