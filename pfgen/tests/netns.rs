//! End to end: the nftables ruleset pfgen writes, loaded into a test host in a network
//! namespace and probed with real TCP connections from other namespaces.
//!
//! Topology (every name carries this process's id; one "switch" namespace holds the bridges,
//! so nothing is created in the machine's own namespace):
//!
//! ```text
//!   internal network 192.168.77.0/24        CARP network 10.0.77.0/24
//!   admin-ok  .50  --+                  +-- .200 load balancer client (not a cluster host)
//!   admin-no  .60  --+-- int0 [host] carp0 --+-- .12  peer (h2's address)
//!                        .11       .11 + VIP .100
//! ```
//!
//! A real redis-server in cluster mode listens on the host's CARP-network address only
//! (client port and bus port); the VIP answers only through the DNAT. Before loading the
//! ruleset every probe that the firewall must block is shown to succeed, so a later failure
//! is the firewall's doing and not a broken lab.
//!
//! Needs root, nft, ip (iproute2), redis-server and redis-cli (redis-tools): ignored in a plain
//! run, and failing with the missing piece named when forced to run without them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use testkit::Lab;

/// The host's address on the CARP network: where redis-server binds.
const HOST_CARP: &str = "10.0.77.11";
const VIP: &str = "10.0.77.100";
/// The namespaces are private, so these ports cannot collide with anything else on the
/// machine; they are fixed because the bus port must be exactly client port + 10000.
const CLIENT_PORT: u16 = 7000;
const BUS_PORT: u16 = 17000;

/// The site of the lab: three hosts (h1 is the one under test, h2 is the peer), interfaces
/// named as inside the host namespace.
fn lab_site() -> String {
    let host = |n: u8, skew: u8| {
        serde_json::json!({
            "name": format!("h{n}"), "advskew": skew,
            "addresses": {
                "int0": format!("192.168.77.1{n}/24"),
                "carp0": format!("10.0.77.1{n}/24"),
                "sync0": format!("10.0.78.1{n}/24")
            }
        })
    };
    serde_json::json!({
        "schema": 1,
        "cluster": { "replicas": 1, "node_timeout_ms": 5000,
                     "ports": [CLIENT_PORT, CLIENT_PORT + 1], "bind_interface": "carp0" },
        "carp": { "interface": "carp0", "vhid": 77, "advbase": 1, "vip": format!("{VIP}/24"),
                  "pass_file": "/nonexistent/vhid77.pass", "preempt": true },
        "pfsync": { "interface": "sync0" },
        "firewall": { "internal_interface": "int0", "allow_file": "/etc/redis_allow",
                      "allow": ["192.168.77.50"], "client_ports": [CLIENT_PORT, CLIENT_PORT + 1] },
        "hosts": [host(1, 0), host(2, 100), host(3, 200)]
    })
    .to_string()
}

/// The lab of the picture above, with its temporary directory (site, ruleset, redis data).
struct NftLab {
    lab: Lab,
    dir: tempfile::TempDir,
}

impl NftLab {
    fn build() -> NftLab {
        let mut lab = Lab::new("pfgen");
        lab.bridge("bint").bridge("bcarp");
        for host in ["h", "aok", "ano", "lb", "peer"] {
            lab.host(host);
        }
        lab.cable("h", "int0", "bint", &["192.168.77.11/24"])
            .cable(
                "h",
                "carp0",
                "bcarp",
                &["10.0.77.11/24", &format!("{VIP}/24")],
            )
            .cable("aok", "eth0", "bint", &["192.168.77.50/24"])
            .cable("ano", "eth0", "bint", &["192.168.77.60/24"])
            .cable("lb", "eth0", "bcarp", &["10.0.77.200/24"])
            .cable("peer", "eth0", "bcarp", &["10.0.77.12/24"]);
        // Admin machines reach the instances' address through the host's internal address.
        for admin in ["aok", "ano"] {
            lab.exec(
                admin,
                &["ip", "route", "add", "10.0.77.0/24", "via", "192.168.77.11"],
            );
        }
        NftLab {
            lab,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A redis-server in cluster mode on the host, bound to its CARP-network address only,
    /// so it listens on the client port and the bus port there and nowhere else.
    fn start_redis(&mut self) {
        let child = self
            .lab
            .command("h", "redis-server")
            .args(["--bind", HOST_CARP, "--port", &CLIENT_PORT.to_string()])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-announce-ip", HOST_CARP])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        self.lab.keep(child);
        testkit::wait_until(
            &format!("redis-server to answer on {HOST_CARP}:{CLIENT_PORT}"),
            Duration::from_secs(10),
            Duration::from_millis(50),
            || self.ping("h", HOST_CARP).as_deref() == Some("PONG"),
        );
    }

    /// Whether a TCP connection from `role` to `address:port` is accepted within 2 s.
    fn connects(&self, role: &str, address: &str, port: u16) -> bool {
        self.lab
            .command(role, "timeout")
            .args(["2", "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{address}/{port}"))
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Redis's answer to PING from `role` at `address`, or None when it does not answer.
    fn ping(&self, role: &str, address: &str) -> Option<String> {
        let out = self
            .lab
            .command(role, "timeout")
            .args(["3", "redis-cli"])
            .args(["-h", address, "-p", &CLIENT_PORT.to_string(), "ping"])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !answer.is_empty()).then_some(answer)
    }
}

/// pfgen with `--check`, so the lab also exercises the validation path.
fn render_checked(site: &Path) -> String {
    let out = Command::cargo_bin("pfgen")
        .unwrap()
        .args(["--host", "h1", "--format", "nft", "--check", "--site"])
        .arg(site)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pfgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn ruleset_guards_the_redis_ports_in_a_namespace_lab() {
    testkit::assert_root();
    for (tool, package) in [
        ("nft", "nftables"),
        ("ip", "iproute2"),
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
        ("timeout", "coreutils"),
        ("bash", "bash"),
    ] {
        testkit::assert_tool(tool, package);
    }
    let mut lab = NftLab::build();
    lab.start_redis();

    // Without the ruleset: the lab works, and the VIP has no listener of its own.
    assert!(
        lab.connects("ano", HOST_CARP, CLIENT_PORT),
        "lab: admin cannot reach host"
    );
    assert!(
        lab.connects("lb", HOST_CARP, BUS_PORT),
        "lab: lb cannot reach the bus"
    );
    assert_eq!(
        lab.ping("lb", VIP),
        None,
        "something answers on the VIP without the DNAT"
    );

    let site = lab.dir.path().join("site.json");
    std::fs::write(&site, lab_site()).unwrap();
    let ruleset = lab.dir.path().join("redis.nft");
    std::fs::write(&ruleset, render_checked(&site)).unwrap();
    // An unrelated table that a reload must leave alone.
    lab.lab
        .exec("h", &["nft", "add", "table", "ip", "unrelated"]);
    let ruleset = ruleset.to_str().unwrap();
    // Loaded twice: the first load creates the table, the second replaces it.
    for _ in 0..2 {
        lab.lab.exec("h", &["nft", "-f", ruleset]);
    }
    let tables = lab.lab.exec("h", &["nft", "list", "tables"]);
    assert_eq!(
        String::from_utf8_lossy(&tables.stdout),
        "table ip unrelated\ntable inet redis_cluster\n"
    );

    // Client ports from the internal network: the allow table only.
    assert_eq!(lab.ping("aok", HOST_CARP).as_deref(), Some("PONG"));
    assert!(
        !lab.connects("ano", HOST_CARP, CLIENT_PORT),
        "denied admin got through"
    );
    // The load balancer's client reaches redis through the VIP (DNAT) and directly.
    assert_eq!(
        lab.ping("lb", VIP).as_deref(),
        Some("PONG"),
        "DNAT to the host"
    );
    assert_eq!(lab.ping("lb", HOST_CARP).as_deref(), Some("PONG"));
    // The bus: the cluster's own hosts only, on every interface.
    assert!(
        lab.connects("peer", HOST_CARP, BUS_PORT),
        "peer kept off the bus"
    );
    assert!(
        !lab.connects("lb", HOST_CARP, BUS_PORT),
        "non-peer reached the bus"
    );
    assert!(
        !lab.connects("aok", HOST_CARP, BUS_PORT),
        "admin reached the bus"
    );
}
