//! `scripts/site-check` is what an operator runs before deploying a site: it must call a
//! hostile or mistaken site unusable, with the tool's message naming the field, and the
//! how-to's site usable.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The tools the script calls, built once for all tests of this file.
fn tools() -> &'static Path {
    static TOOLS: OnceLock<PathBuf> = OnceLock::new();
    TOOLS.get_or_init(|| testkit::build_tools(&["redis-cluster-create", "pfgen", "carpctl"]))
}

fn howto() -> Value {
    let path = testkit::workspace_root().join("site/examples/howto.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A change a test makes to the how-to's site document.
type Edit = fn(&mut Value);

fn site_check(site: &Path) -> Output {
    std::process::Command::new(testkit::workspace_root().join("scripts/site-check"))
        .arg(site)
        .env("BIN", tools())
        .output()
        .unwrap()
}

/// Writes `text` as a site file and runs site-check on it.
fn site_check_text(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.json");
    std::fs::write(&path, text).unwrap();
    site_check(&path)
}

#[test]
fn the_howto_site_is_usable() {
    let out = site_check_text(&howto().to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("is usable"), "{stderr}");
}

// Issue "hardened" items 1, 2 and 9: site-check called each of these sites usable.
#[test]
fn hostile_sites_are_called_unusable_with_the_field_named() {
    let edits: [(&str, Edit); 6] = [
        (
            "hosts[0].addresses[\"lo9;touch${IFS}pwned;x\"]: invalid interface name",
            |v| v["hosts"][0]["addresses"]["lo9;touch${IFS}pwned;x"] = "10.9.9.9/24".into(),
        ),
        (
            "firewall.client_ports: range [7000, 20000] reaches its own cluster bus ports",
            |v| v["firewall"]["client_ports"] = json!([7000, 20000]),
        ),
        ("pfsync.interface: 'em1' is also carp.interface", |v| {
            v["pfsync"]["interface"] = "em1".into();
        }),
        ("firewall.allow[0]: '0.0.0.0/0' allows every address", |v| {
            v["firewall"]["allow"] = json!(["0.0.0.0/0"]);
        }),
        (
            "firewall.allow_file: invalid file path '/etc/../../tmp/x'",
            |v| v["firewall"]["allow_file"] = "/etc/../../tmp/x".into(),
        ),
        (
            "cluster.node_timeout_ms: expected a number from 1 to 3600000",
            |v| v["cluster"]["node_timeout_ms"] = json!(u64::MAX),
        ),
    ];
    for (expected, edit) in edits {
        let mut site = howto();
        edit(&mut site);
        let out = site_check_text(&site.to_string());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}: accepted: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("is usable"), "{stderr}");
    }
}

// Issue "hardened" item 9: a site written as a JSON array was called usable.
#[test]
fn documents_that_are_not_sites_are_called_unusable() {
    let array = format!("[{}]", howto());
    for (text, expected) in [
        (array.as_str(), "expected the site description as an object"),
        ("", "site.json: empty file"),
    ] {
        let out = site_check_text(text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}: accepted: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr}"
        );
    }
}
