//! The pfgen binary handed hostile or mistaken sites, as an attacker who can edit the site
//! file, or a tired operator, would: names that a shell or pfctl would run or misread, a
//! firewall opened by a typo, documents that are not sites at all. Every one must be refused
//! with the field named, a non-zero exit and nothing on stdout, for both formats and for the
//! allow file, since a deploy pipes stdout straight into pf.conf.

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::{json, Value};

/// The exit status of a refused site: bad input.
const REFUSED: i32 = 2;

fn howto() -> Value {
    serde_json::from_str(&std::fs::read_to_string(common::howto_path()).unwrap()).unwrap()
}

/// pfgen `args` reading the site from `site` (a path, or `-` with `stdin`).
fn pfgen(args: &[&str], site: &Path, stdin: Option<&[u8]>) -> Output {
    let mut command = Command::cargo_bin("pfgen").unwrap();
    command.args(args).arg("--site").arg(site);
    if let Some(stdin) = stdin {
        command.write_stdin(stdin.to_vec());
    }
    command.output().unwrap()
}

/// Checks that `out` is a refusal: the exit status, nothing on stdout, every one of `needles`
/// on stderr. Returns stderr.
fn assert_refused(out: &Output, needles: &[&str], scenario: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(REFUSED),
        "{scenario}: exit status, stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{scenario}: stdout must stay empty, got {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{scenario}: expected {needle:?} in {stderr}"
        );
    }
    stderr
}

/// Runs every pfgen command that reads a site (pf rules, nft rules, the allow file) on
/// `site` given on stdin and checks each refuses it naming `needles`.
fn refused_everywhere(site: &[u8], needles: &[&str], scenario: &str) {
    for args in [
        &["--host", "redis1", "--format", "pf"][..],
        &["--host", "redis1", "--format", "nft"],
        &["allowlist"],
    ] {
        let out = pfgen(args, Path::new("-"), Some(site));
        assert_refused(&out, needles, &format!("{scenario} ({args:?})"));
    }
}

/// The how-to's site with `edit` applied, refused everywhere naming `needles`.
fn edited_is_refused(edit: impl FnOnce(&mut Value), needles: &[&str], scenario: &str) {
    let mut site = howto();
    edit(&mut site);
    refused_everywhere(site.to_string().as_bytes(), needles, scenario);
}

/// Renames interface `old` to `new` in every host's addresses.
fn rename_interface(site: &mut Value, old: &str, new: &str) {
    for host in site["hosts"].as_array_mut().unwrap() {
        let addresses = host["addresses"].as_object_mut().unwrap();
        let address = addresses.remove(old).unwrap();
        addresses.insert(new.to_string(), address);
    }
}

const EVIL: &str = "lo9;touch${IFS}pwned;x";

// Issue "hardened" item 1: an interface name that runs a command where it is written raw.
#[test]
fn injection_in_interface_names_is_refused_with_the_field() {
    edited_is_refused(
        |v| v["hosts"][0]["addresses"][EVIL] = "10.9.9.9/24".into(),
        &[&format!(
            "hosts[0].addresses[\"{EVIL}\"]: invalid interface name '{EVIL}'"
        )],
        "extra address key",
    );
    for (section, key, old) in [
        ("carp", "interface", "em1"),
        ("pfsync", "interface", "em2"),
        ("firewall", "internal_interface", "em0"),
    ] {
        edited_is_refused(
            |v| {
                v[section][key] = EVIL.into();
                rename_interface(v, old, EVIL);
            },
            &[&format!("{section}.{key}: invalid interface name '{EVIL}'")],
            section,
        );
    }
    edited_is_refused(
        |v| {
            v["cluster"]["bind_interface"] = "em3 up; reboot".into();
        },
        &["cluster.bind_interface: invalid interface name 'em3 up; reboot'"],
        "bind interface",
    );
}

// Issue "hardened" item 1 and 9: host names and paths that a shell or DESTDIR would misread.
#[test]
fn injection_in_host_names_and_paths_is_refused_with_the_field() {
    edited_is_refused(
        |v| v["hosts"][2]["name"] = "redis3$(reboot)".into(),
        &["hosts[2].name: invalid host name 'redis3$(reboot)'"],
        "host name",
    );
    edited_is_refused(
        |v| v["firewall"]["allow_file"] = "/etc/../../tmp/redis_allow".into(),
        &["firewall.allow_file: invalid file path '/etc/../../tmp/redis_allow': '.' and '..' components are not allowed"],
        "allow_file with ..",
    );
    edited_is_refused(
        |v| v["carp"]["pass_file"] = "/etc/carp.pass\"; reboot; \"".into(),
        &["carp.pass_file: invalid file path"],
        "pass_file with quotes",
    );
}

// Issue "hardened" item 2: client_ports [7000, 20000] let allowed admins reach bus ports.
#[test]
fn client_ports_overlapping_the_bus_ports_are_refused() {
    edited_is_refused(
        |v| v["firewall"]["client_ports"] = json!([7000, 20000]),
        &["firewall.client_ports: range [7000, 20000] reaches its own cluster bus ports 17000-30000"],
        "client_ports [7000, 20000]",
    );
}

// Issue "hardened" item 2: `allow: ["0.0.0.0/0"]` was accepted silently.
#[test]
fn allow_entries_open_to_everyone_are_refused() {
    for entry in ["0.0.0.0/0", "::/0"] {
        edited_is_refused(
            |v| v["firewall"]["allow"] = json!(["192.168.1.50", entry]),
            &[&format!(
                "firewall.allow[1]: '{entry}' allows every address"
            )],
            entry,
        );
    }
}

// Issue "hardened" item 2: pfsync on the CARP link accepted state from the client network.
#[test]
fn pfsync_on_the_carp_interface_is_refused() {
    edited_is_refused(
        |v| v["pfsync"]["interface"] = "em1".into(),
        &["pfsync.interface: 'em1' is also carp.interface"],
        "pfsync on em1",
    );
}

// Issue "hardened" item 9: a site written as a JSON array was accepted.
#[test]
fn documents_that_are_not_sites_are_refused() {
    let array = format!("[{}]", howto());
    for (text, needle) in [
        (
            array.as_str(),
            "expected the site description as an object {…}, got an array of 1 item",
        ),
        (
            "\"redis\"",
            "expected the site description as an object {…}, got \"redis\"",
        ),
        (
            "{\"schema\": 1,",
            "<stdin>: not valid JSON at line 1, column 13",
        ),
    ] {
        refused_everywhere(text.as_bytes(), &[needle], text);
    }
    refused_everywhere(
        b"\xff\xfe{}",
        &["'standard input' is not UTF-8 text"],
        "UTF-16 bytes",
    );
}

// Issue "One house" item 5: an empty file gave "EOF while parsing a value at line 1 column 0".
#[test]
fn an_empty_site_file_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.json");
    std::fs::write(&path, "").unwrap();
    let out = pfgen(&["--host", "redis1"], &path, None);
    let stderr = assert_refused(&out, &["site.json: empty file"], "empty file");
    assert!(!stderr.contains("EOF"), "{stderr}");
    refused_everywhere(b"", &["standard input: empty file"], "empty stdin");
}

// Issue "hardened" item 9: /dev/zero as a site grew memory without bound.
#[test]
fn an_endless_site_file_fails_fast() {
    let started = std::time::Instant::now();
    let out = pfgen(&["--host", "redis1"], Path::new("/dev/zero"), None);
    assert_refused(
        &out,
        &["'/dev/zero' is larger than 1 MiB; that is not a document these tools write"],
        "/dev/zero",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

// Every problem at once: one run names all three mistakes, a type error included.
#[test]
fn every_problem_is_listed_in_one_run() {
    edited_is_refused(
        |v| {
            v["carp"]["vhid"] = "10".into();
            v["hosts"][1]["addresses"]["em1"] = "10.0.10.300/24".into();
            v["cluster"]["node_timeout_ms"] = json!(18_446_744_073_709_551_615_u64);
        },
        &[
            "<stdin>: invalid site description:\n",
            "\n  cluster.node_timeout_ms: expected a number from 1 to 3600000 (milliseconds), got 18446744073709551615",
            "\n  carp.vhid: expected a number from 1 to 255, got \"10\"",
            "\n  hosts[1].addresses.em1: invalid CIDR '10.0.10.300/24'",
        ],
        "three mistakes",
    );
}

// A hostile --host value is quoted, not echoed raw to the terminal.
#[test]
fn a_hostile_host_argument_is_quoted() {
    let out = pfgen(&["--host", "redis1\u{1b}[2J"], &common::howto_path(), None);
    let stderr = assert_refused(&out, &[r"unknown host 'redis1\u{1b}[2J'"], "--host");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}
