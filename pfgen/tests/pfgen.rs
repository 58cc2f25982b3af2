//! The pfgen binary driven as users run it: golden outputs for the how-to's site, stdin,
//! `--check`, and refusals of bad input (exit 2, the field named, nothing on stdout).

mod common;

use assert_cmd::Command;
use common::{assert_nft, howto_path};

const GOLDEN_PF: &str = include_str!("golden/howto-redis1.pf.conf");
const GOLDEN_NFT: &str = include_str!("golden/howto-redis1.nft");
const GOLDEN_ALLOW: &str = include_str!("golden/howto.allow");

fn pfgen() -> Command {
    Command::cargo_bin("pfgen").unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = pfgen()
        .args(args)
        .arg("--site")
        .arg(howto_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pfgen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs pfgen on an edited how-to site (on stdin) and returns its stderr, checking that it
/// failed with status 2 (bad input) and printed nothing on stdout.
fn refusal(edit: impl FnOnce(&mut serde_json::Value), args: &[&str]) -> String {
    let mut site: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(howto_path()).unwrap()).unwrap();
    edit(&mut site);
    let out = pfgen()
        .args(args)
        .args(["--site", "-"])
        .write_stdin(site.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn howto_site_renders_the_reviewed_pf_conf() {
    assert_eq!(
        stdout_of(&["--host", "redis1", "--format", "pf"]),
        GOLDEN_PF
    );
}

#[test]
fn howto_site_renders_the_reviewed_nft_ruleset() {
    assert_eq!(
        stdout_of(&["--host", "redis1", "--format", "nft"]),
        GOLDEN_NFT
    );
}

#[test]
fn allowlist_prints_the_reviewed_allow_file() {
    assert_eq!(stdout_of(&["allowlist"]), GOLDEN_ALLOW);
}

#[test]
fn stdin_gives_the_same_bytes_as_the_file() {
    let site = std::fs::read_to_string(howto_path()).unwrap();
    for format in ["pf", "nft"] {
        let out = pfgen()
            .args(["--host", "redis1", "--format", format, "--site", "-"])
            .write_stdin(site.clone())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            stdout_of(&["--host", "redis1", "--format", format])
        );
    }
}

#[test]
fn missing_host_lists_the_hosts() {
    let err = refusal(|_| {}, &[]);
    assert!(err.contains("--host"), "{err}");
    assert!(err.contains("redis1, redis2, redis3"), "{err}");
}

#[test]
fn unknown_host_is_refused() {
    let err = refusal(|_| {}, &["--host", "redis7"]);
    assert!(err.starts_with("pfgen: unknown host 'redis7'"), "{err}");
}

/// A change a test makes to the how-to's site document.
type Edit = fn(&mut serde_json::Value);

#[test]
fn bad_fields_are_named() {
    let cases: [(&str, Edit); 5] = [
        (
            "hosts[0].addresses.em1: invalid CIDR '10.0.10.300/24'",
            |v| v["hosts"][0]["addresses"]["em1"] = "10.0.10.300/24".into(),
        ),
        (
            "firewall.allow[1]: invalid address or network 'admin-pc'",
            |v| v["firewall"]["allow"][1] = "admin-pc".into(),
        ),
        (
            "firewall.client_ports: range [7100, 7000] is reversed",
            |v| v["firewall"]["client_ports"] = serde_json::json!([7100, 7000]),
        ),
        (
            "firewall.client_ports[1]: port 55600 has cluster bus port 65600, above 65535",
            |v| v["firewall"]["client_ports"] = serde_json::json!([7000, 55600]),
        ),
        (
            "hosts[1].addresses: host 'redis2' has no address on interface 'em0' (named by firewall.internal_interface)",
            |v| {
                v["hosts"][1]["addresses"]
                    .as_object_mut()
                    .unwrap()
                    .remove("em0");
            },
        ),
    ];
    for (expected, edit) in cases {
        let err = refusal(edit, &["--host", "redis1"]);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
}

#[test]
fn internal_interface_equal_to_the_carp_interface_is_refused() {
    let err = refusal(
        |v| v["firewall"]["internal_interface"] = "em1".into(),
        &["--host", "redis1"],
    );
    assert!(
        err.contains("firewall.internal_interface: 'em1' is also carp.interface"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = pfgen().args(["--format", "iptables"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn check_passes_the_howto_ruleset_and_prints_it() {
    assert_nft();
    assert_eq!(
        stdout_of(&["--host", "redis1", "--format", "nft", "--check"]),
        GOLDEN_NFT
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn nft_loads_the_golden_ruleset_in_check_mode() {
    assert_nft();
    let out = std::process::Command::new("nft")
        .args(["-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(GOLDEN_NFT.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "nft -c rejected the golden ruleset: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn check_reports_the_checkers_message_when_it_rejects() {
    assert_nft();
    let broken = GOLDEN_NFT.replace("dnat ip to", "dnat ipx to");
    let err = pfgen::check::check(&broken, pfgen::Format::Nft).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("'nft -c -f -' rejected the ruleset:"),
        "{message}"
    );
    assert!(
        message.contains("ipx"),
        "nft's own message is passed on: {message}"
    );
}

#[test]
#[cfg_attr(
    target_os = "freebsd",
    ignore = "needs a machine without pfctl, which FreeBSD always has"
)]
fn check_without_the_checker_says_which_tool_is_missing() {
    assert!(
        !which("pfctl"),
        "pfctl is installed here, so the missing-checker path cannot be tested"
    );
    let out = pfgen()
        .args(["--host", "redis1", "--format", "pf", "--check", "--site"])
        .arg(howto_path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("pfgen: cannot run 'pfctl'"), "{err}");
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// The README's way to keep the rules across reboots on Debian: pfgen's file in
/// /etc/nftables.d/, included by the end of /etc/nftables.conf, which nftables.service loads
/// at boot and on reload. Here a fresh namespace stands for the booted machine (an empty
/// ruleset) and the files live in a scratch directory: Debian's stock nftables.conf with the
/// include line, loaded twice (boot, then `systemctl reload nftables`), keeps both tables.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn debian_nftables_conf_loads_the_rules_at_boot_and_reload() {
    assert_nft();
    let dir = tempfile::tempdir().unwrap();
    let drop_in = dir.path().join("nftables.d");
    std::fs::create_dir(&drop_in).unwrap();
    let rules = stdout_of(&["--host", "redis1", "--format", "nft"]);
    std::fs::write(drop_in.join("redis-cluster.nft"), rules).unwrap();
    // Debian 12's /etc/nftables.conf as the nftables package installs it, plus the line the
    // README adds at its end.
    let conf = dir.path().join("nftables.conf");
    std::fs::write(
        &conf,
        format!(
            "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {{\n\tchain input {{\n\t\ttype filter hook input priority filter;\n\t}}\n\tchain forward {{\n\t\ttype filter hook forward priority filter;\n\t}}\n\tchain output {{\n\t\ttype filter hook output priority filter;\n\t}}\n}}\n\ninclude \"{}/*.nft\"\n",
            drop_in.display()
        ),
    )
    .unwrap();
    let host = testkit::Netns::new("pfgen-boot");
    for _ in ["boot", "reload"] {
        host.exec(&["nft", "-f", conf.to_str().unwrap()]);
        let tables = host.exec(&["nft", "list", "tables"]);
        assert_eq!(
            String::from_utf8_lossy(&tables.stdout),
            "table inet filter\ntable inet redis_cluster\n"
        );
    }
    let chains = host.exec(&["nft", "list", "table", "inet", "redis_cluster"]);
    assert!(String::from_utf8_lossy(&chains.stdout).contains("set redis_allow"));
}

#[test]
fn rcconf_prints_the_hosts_boot_lines_as_json_and_as_text() {
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&[
        "rcconf", "--host", "redis3", "--format", "json",
    ]))
    .unwrap();
    let lines = json["lines"].as_array().unwrap();
    let of = |file: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l["file"] == file)
            .map(|l| l["line"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        of("/boot/loader.conf"),
        ["pf_load=\"YES\"", "pfsync_load=\"YES\""]
    );
    assert!(of("/etc/rc.conf.d/network").contains(&"ifconfig_em1=\"inet 10.0.10.13/24\""));
    let text = stdout_of(&["rcconf", "--host", "redis3"]);
    assert!(
        text.starts_with("# /boot/loader.conf\npf_load=\"YES\"\n"),
        "{text}"
    );
    assert!(
        text.contains("\n# /etc/rc.conf.d/pf\npf_enable=\"YES\"\n"),
        "{text}"
    );
    let unknown = pfgen()
        .args(["rcconf", "--host", "redis9", "--site"])
        .arg(howto_path())
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(unknown.stdout.is_empty());
}
