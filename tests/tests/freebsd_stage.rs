//! `scripts/freebsd/stage` writes the how-to's FreeBSD files for one host from the site: into a
//! staging root here, compared with reviewed golden files under tests/golden.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The tools the script calls, built once for all tests of this file.
fn tools() -> &'static Path {
    static TOOLS: OnceLock<PathBuf> = OnceLock::new();
    TOOLS.get_or_init(|| testkit::build_tools(&["carpctl", "pfgen", "redis-cluster-create"]))
}

fn stage(destdir: &Path, site: &Path, host: &str, extra: &[&str]) -> Output {
    Command::new(testkit::workspace_root().join("scripts/freebsd/stage"))
        .args(["--site", &site.display().to_string(), "--host", host])
        .args(extra)
        .env("DESTDIR", destdir)
        .env("BIN", tools())
        .output()
        .unwrap()
}

fn howto_site() -> PathBuf {
    testkit::workspace_root().join("site/examples/howto.json")
}

#[test]
fn the_howto_site_stages_to_the_reviewed_files() {
    let root = tempfile::tempdir().unwrap();
    let run = stage(root.path(), &howto_site(), "redis2", &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let golden = testkit::workspace_root().join("tests/golden/freebsd-redis2");
    assert_eq!(
        testkit::files_under(root.path()),
        testkit::files_under(&golden)
    );
    for file in testkit::files_under(&golden) {
        let staged = std::fs::read_to_string(root.path().join(&file)).unwrap();
        let expected = std::fs::read_to_string(golden.join(&file)).unwrap();
        assert_eq!(
            staged,
            expected,
            "{} differs from its golden file",
            file.display()
        );
    }
    for dir in ["var/db/redis/7000", "var/db/redis/7001", "var/run/redis"] {
        assert!(root.path().join(dir).is_dir(), "{dir} was not made");
    }
}

#[test]
fn a_second_run_keeps_what_it_replaces_and_leaves_unchanged_files_alone() {
    let root = tempfile::tempdir().unwrap();
    assert!(stage(root.path(), &howto_site(), "redis1", &[])
        .status
        .success());
    // A line of the operator's own in a shared file survives, and nothing is duplicated.
    let loader = root.path().join("boot/loader.conf");
    let mut text = std::fs::read_to_string(&loader).unwrap();
    text.insert_str(0, "kern.maxfiles=\"65536\"\n");
    std::fs::write(&loader, &text).unwrap();
    let mut site: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(howto_site()).unwrap()).unwrap();
    site["cluster"]["node_timeout_ms"] = 3000.into();
    let changed = root.path().join("changed-site.json");
    std::fs::write(&changed, site.to_string()).unwrap();
    let run = stage(root.path(), &changed, "redis1", &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let conf_dir = root.path().join("usr/local/etc");
    let names: Vec<String> = std::fs::read_dir(&conf_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let backups: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("redis-7000.conf.bak-"))
        .collect();
    assert_eq!(backups.len(), 1, "{names:?}");
    assert!(std::fs::read_to_string(conf_dir.join(backups[0]))
        .unwrap()
        .contains("cluster-node-timeout 5000"));
    assert!(std::fs::read_to_string(conf_dir.join("redis-7000.conf"))
        .unwrap()
        .contains("cluster-node-timeout 3000"));
    let loader_text = std::fs::read_to_string(&loader).unwrap();
    assert!(loader_text.starts_with("kern.maxfiles=\"65536\"\n"));
    assert_eq!(loader_text.matches("carp_load").count(), 1, "{loader_text}");
    // pf.conf did not change, so it has no backup.
    assert!(!testkit::files_under(root.path())
        .iter()
        .any(|f| f.to_string_lossy().starts_with("etc/pf.conf.bak")));
}

#[test]
fn dry_run_and_bad_input_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dry = stage(root.path(), &howto_site(), "redis1", &["--dry-run"]);
    assert!(dry.status.success());
    let shown = String::from_utf8_lossy(&dry.stdout);
    assert!(
        shown.contains("==> /usr/local/etc/redis-7001.conf"),
        "{shown}"
    );
    assert!(shown.contains("==> /var/db/redis/7000/"), "{shown}");
    assert!(testkit::files_under(root.path()).is_empty());
    let unknown = stage(root.path(), &howto_site(), "redis9", &[]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown host 'redis9'"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    assert!(
        testkit::files_under(root.path()).is_empty(),
        "bad input left {:?}",
        testkit::files_under(root.path())
    );
    assert!(std::fs::read_dir(root.path()).unwrap().next().is_none());
}
