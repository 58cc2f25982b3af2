//! The installed suite: `make install` into a DESTDIR, then the installed binaries and operator
//! scripts run from there (on PATH, without the build tree); the systemd units checked by
//! `systemd-analyze verify`; the Prometheus rules by promtool; the Debian package built and
//! inspected, and (as root) installed and purged. Every install is of the debug build
//! (`PROFILE=dev`), which `cargo test` has already made, so no release build is paid for here.
//! The programs these tests call come from scripts/install-deps; a missing one fails the test
//! with the package to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::{start_on_shared_port, RedisConfig};

/// Every file `make install` puts under the prefix, but for the man pages and completions:
/// those are whatever docgen wrote (its own tests hold it to every tool and subcommand).
const INSTALLED: &[&str] = &[
    "bin/redis-slotcheck",
    "bin/redis-cluster-create",
    "bin/pfgen",
    "bin/carpctl",
    "libexec/redis-carp-tools/cluster-health",
    "libexec/redis-carp-tools/carp-promote-replicas",
    "libexec/redis-carp-tools/site-check",
    "libexec/redis-carp-tools/freebsd/stage",
    "lib/systemd/system/carpctl@.service",
    "lib/systemd/system/redis-cluster-health.service",
    "lib/systemd/system/redis-cluster-health.timer",
    "share/redis-carp-tools/prometheus/redis-cluster-rules.yml",
    "share/redis-carp-tools/prometheus/carpctl-rules.yml",
];

const TOOLS: [&str; 4] = [
    "redis-slotcheck",
    "redis-cluster-create",
    "pfgen",
    "carpctl",
];

/// The pages and completions docgen wrote under `docs` (as `share/...` paths), sorted.
fn generated(docs: &Path) -> Vec<String> {
    testkit::files_under(docs)
        .iter()
        .map(|f| f.display().to_string())
        .collect()
}

/// Runs `make ARGS` in the workspace with the debug build and this test's own docgen
/// directory (tests run in parallel; each regenerates the pages).
fn make(scratch: &Path, args: &[&str]) -> Output {
    let output = Command::new("make")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(testkit::workspace_root())
        .arg("PROFILE=dev")
        .arg(format!("DOCS={}", scratch.join("docgen").display()))
        .args(args)
        .env_remove("BIN")
        .output()
        .expect("cannot run make");
    assert!(
        output.status.success(),
        "make {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A command that sees only the installed tools: PATH is the install's bin directory and the
/// system's, BIN (the build tree's directory) is unset.
fn installed(prefix: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env(
            "PATH",
            format!(
                "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                prefix.join("bin").display()
            ),
        )
        .env_remove("BIN");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn installs_into_a_destdir_and_runs_from_there() {
    let scratch = tempfile::tempdir().unwrap();
    let destdir = scratch.path().join("root");
    make(
        scratch.path(),
        &["install", &format!("DESTDIR={}", destdir.display())],
    );
    let prefix = destdir.join("usr/local");
    let docs = generated(&scratch.path().join("docgen"));
    assert!(docs.contains(&"share/man/man8/carpctl-demote.8".to_string()));
    assert_eq!(
        docs.iter().filter(|f| !f.starts_with("share/man/")).count(),
        3 * TOOLS.len()
    );
    for file in INSTALLED.iter().map(|f| f.to_string()).chain(docs.clone()) {
        assert!(prefix.join(&file).is_file(), "{file} was not installed");
    }
    assert_eq!(
        testkit::files_under(&destdir).len(),
        INSTALLED.len() + docs.len() + 1,
        "one more: the settings file the units read, as an example"
    );

    // The binaries run from the install, the man pages render, the completions load.
    let version = installed(&prefix, prefix.join("bin/carpctl"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        text(&version.stdout).trim(),
        format!("carpctl {}", env!("CARGO_PKG_VERSION"))
    );
    testkit::assert_tool("man", "man-db");
    let page = Command::new("man")
        .arg("-l")
        .arg(prefix.join("share/man/man8/carpctl-demote.8"))
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        text(&page.stdout).contains("--no-hold"),
        "{}",
        text(&page.stdout)
    );
    let completion = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p redis-slotcheck",
            prefix
                .join("share/bash-completion/completions/redis-slotcheck")
                .display()
        ))
        .output()
        .unwrap();
    assert!(
        text(&completion.stdout).contains("redis-slotcheck"),
        "{}",
        text(&completion.stderr)
    );

    // The scripts find the installed tools on PATH.
    let site = testkit::workspace_root().join("site/examples/howto.json");
    let check = installed(&prefix, prefix.join("libexec/redis-carp-tools/site-check"))
        .arg(&site)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stderr).contains("is usable"));
    let stage = scratch.path().join("freebsd-root");
    let staged = installed(
        &prefix,
        prefix.join("libexec/redis-carp-tools/freebsd/stage"),
    )
    .args(["--site", &site.display().to_string(), "--host", "redis1"])
    .env("DESTDIR", &stage)
    .output()
    .unwrap();
    assert!(staged.status.success(), "{}", text(&staged.stderr));
    assert!(stage.join("etc/pf.conf").is_file());

    cluster_health_runs_installed(&prefix, scratch.path());

    make(
        scratch.path(),
        &["uninstall", &format!("DESTDIR={}", destdir.display())],
    );
    assert_eq!(testkit::files_under(&destdir), Vec::<PathBuf>::new());
}

/// The installed cluster-health on a healthy cluster without a CARP engine: exit 0, nothing
/// on stdout or stderr (cron mails nothing), the metrics file written; on a bad site: exit 3
/// and the file rewritten as UNKNOWN.
fn cluster_health_runs_installed(prefix: &Path, scratch: &Path) {
    let config = RedisConfig {
        node_timeout_ms: 3000,
        ..RedisConfig::default()
    };
    let nodes = start_on_shared_port(&["127.0.0.1", "127.0.0.2", "127.0.0.3"], &config);
    let site = serde_json::json!({
        "schema": 1,
        "cluster": {"replicas": 0, "node_timeout_ms": 3000, "ports": [nodes[0].port],
                    "bind_interface": "lo"},
        "hosts": [
            {"name": "redis1", "advskew": 0, "addresses": {"lo": "127.0.0.1/8"}},
            {"name": "redis2", "advskew": 100, "addresses": {"lo": "127.0.0.2/8"}},
            {"name": "redis3", "advskew": 200, "addresses": {"lo": "127.0.0.3/8"}}
        ]
    });
    let site_file = scratch.join("site.json");
    std::fs::write(&site_file, site.to_string()).unwrap();
    let create = installed(prefix, prefix.join("bin/redis-cluster-create"))
        .args([
            "--site",
            &site_file.display().to_string(),
            "--yes",
            "--fast",
        ])
        .output()
        .unwrap();
    assert!(create.status.success(), "{}", text(&create.stderr));

    let metrics = scratch.join("redis_cluster.prom");
    let health = |site: &Path| {
        installed(
            prefix,
            prefix.join("libexec/redis-carp-tools/cluster-health"),
        )
        .args(["--site", &site.display().to_string(), "--host", "redis1"])
        .args([
            "--format",
            "prom",
            "--output",
            &metrics.display().to_string(),
        ])
        .arg("--carp-state-dir")
        .arg(scratch.join("no-carp-here"))
        .output()
        .unwrap()
    };
    let healthy = health(&site_file);
    assert_eq!(
        (
            healthy.status.code(),
            text(&healthy.stdout),
            text(&healthy.stderr)
        ),
        (Some(0), String::new(), String::new())
    );
    let written = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        written.contains("\nredis_slotcheck_status 0\n"),
        "{written}"
    );
    assert!(written.contains(&format!(
        "redis_slotcheck_node_role{{node=\"127.0.0.2:{}\",host=\"redis2\",role=\"master\"}} 1\n",
        nodes[0].port
    )));

    let bad_site = scratch.join("bad-site.json");
    std::fs::write(&bad_site, r#"{"schema": 1}"#).unwrap();
    let failed = health(&bad_site);
    assert_eq!(failed.status.code(), Some(3));
    assert!(
        text(&failed.stderr).contains("bad-site.json"),
        "{}",
        text(&failed.stderr)
    );
    let written = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        written.contains("\nredis_slotcheck_status 3\n"),
        "{written}"
    );
}

#[test]
fn systemd_units_verify_clean() {
    testkit::assert_tool("systemd-analyze", "systemd");
    testkit::assert_tool("man", "man-db");
    // Installed under a prefix of its own (no DESTDIR), so the paths in the units exist and
    // verify checks them; MANPATH lets it find the Documentation= pages there too.
    let scratch = tempfile::tempdir().unwrap();
    let prefix = scratch.path().join("prefix");
    make(
        scratch.path(),
        &["install", &format!("PREFIX={}", prefix.display())],
    );
    let units = prefix.join("lib/systemd/system");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args([
            "carpctl@.service",
            "redis-cluster-health.service",
            "redis-cluster-health.timer",
        ])
        .current_dir(&units)
        .env("MANPATH", prefix.join("share/man"))
        .output()
        .unwrap();
    // verify exits 0 on unknown directives too, so its warnings count as failures here.
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        text(&verify.stderr)
    );
    let unit = std::fs::read_to_string(units.join("carpctl@.service")).unwrap();
    assert!(unit.contains(&format!(
        "ExecStart={}/bin/carpctl run --site ${{SITE}} --host %i",
        prefix.display()
    )));
}

#[test]
fn prometheus_rules_check_and_pass_their_tests() {
    testkit::assert_tool("promtool", "prometheus");
    let dir = testkit::workspace_root().join("packaging/prometheus");
    for args in [
        ["check", "rules", "redis-cluster-rules.yml"],
        ["test", "rules", "redis-cluster-rules-test.yml"],
        ["check", "rules", "carpctl-rules.yml"],
        ["test", "rules", "carpctl-rules-test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// `make deb` of the debug build into `scratch`; the path of the package.
fn build_deb(scratch: &Path) -> PathBuf {
    testkit::assert_tool("dpkg-deb", "dpkg");
    testkit::assert_tool("dpkg-shlibdeps", "dpkg-dev");
    let built = make(
        scratch,
        &[
            "deb",
            &format!("DEB_STAGE={}", scratch.join("stage").display()),
            &format!("DEB_OUT={}", scratch.display()),
        ],
    );
    let deb = PathBuf::from(text(&built.stdout).lines().last().unwrap().trim());
    assert!(deb.is_file(), "{}", text(&built.stdout));
    deb
}

/// The regular files in the package, as absolute paths.
fn packaged_files(deb: &Path) -> Vec<String> {
    let listing = testkit::run("dpkg-deb", &["-c", deb.to_str().unwrap()]);
    let mut files: Vec<String> = text(&listing.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .unwrap()
                .trim_start_matches('.')
                .to_string()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn debian_package_holds_the_install_under_usr() {
    let scratch = tempfile::tempdir().unwrap();
    let deb = build_deb(scratch.path());
    let mut expected: Vec<String> = INSTALLED
        .iter()
        .map(|f| f.to_string())
        .chain(generated(&scratch.path().join("docgen")))
        .map(|f| {
            if f.starts_with("share/man/") {
                format!("/usr/{f}.gz")
            } else {
                format!("/usr/{f}")
            }
        })
        .chain([
            "/etc/default/redis-carp-tools".to_string(),
            "/usr/share/doc/redis-carp-tools/copyright".to_string(),
        ])
        .collect();
    expected.sort();
    assert_eq!(packaged_files(&deb), expected);
    let depends = testkit::run("dpkg-deb", &["-f", deb.to_str().unwrap(), "Depends"]);
    let depends = text(&depends.stdout);
    assert!(
        depends.starts_with("libc6 (>= ") && depends.trim_end().ends_with(", bash, jq"),
        "{depends}"
    );
    let conffiles = testkit::run("dpkg-deb", &["-I", deb.to_str().unwrap(), "conffiles"]);
    assert_eq!(text(&conffiles.stdout), "/etc/default/redis-carp-tools\n");
}

/// Purges the package when the test ends, also when it fails half-way.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "redis-carp-tools"])
            .output();
    }
}

fn package_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "redis-carp-tools"])
        .output()
        .is_ok_and(|o| text(&o.stdout).contains("install ok installed"))
}

#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn debian_package_installs_and_purges_cleanly() {
    testkit::assert_root();
    assert!(
        !package_installed(),
        "redis-carp-tools is installed on this machine already and this test would remove it; remove it first"
    );
    let scratch = tempfile::tempdir().unwrap();
    let deb = build_deb(scratch.path());
    let files = packaged_files(&deb);
    let _purge = Installed;
    testkit::run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(package_installed());
    // On PATH, as any command; man finds the pages; the units verify in place.
    let version = Command::new("sh")
        .args(["-c", "redis-slotcheck --version"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(
        text(&version.stdout).trim(),
        format!("redis-slotcheck {}", env!("CARGO_PKG_VERSION"))
    );
    testkit::assert_tool("man", "man-db");
    let found = testkit::run("man", &["-w", "carpctl-run"]);
    assert_eq!(
        text(&found.stdout).trim(),
        "/usr/share/man/man8/carpctl-run.8.gz"
    );
    testkit::assert_tool("systemd-analyze", "systemd");
    let verify = Command::new("systemd-analyze")
        .args(["verify", "/usr/lib/systemd/system/carpctl@.service"])
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        text(&verify.stderr)
    );
    testkit::run("dpkg", &["--purge", "redis-carp-tools"]);
    assert!(!package_installed());
    let left: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The port's lists follow the workspace: Makefile.crates is what Cargo.lock pins, pkg-plist
/// names every page and completion docgen writes (with FreeBSD's compressed pages and zsh
/// directory), DISTVERSION is the crates' version.
#[test]
fn freebsd_port_matches_the_workspace() {
    let port = testkit::workspace_root().join("packaging/freebsd");
    let crates = testkit::run(port.join("crates").to_str().unwrap(), &[]);
    assert_eq!(
        text(&crates.stdout),
        std::fs::read_to_string(port.join("Makefile.crates")).unwrap(),
        "Cargo.lock changed: run packaging/freebsd/crates > packaging/freebsd/Makefile.crates"
    );
    let makefile = std::fs::read_to_string(port.join("Makefile")).unwrap();
    assert!(
        makefile.contains(&format!("DISTVERSION=\t{}\n", env!("CARGO_PKG_VERSION"))),
        "DISTVERSION differs from the workspace version"
    );

    let docs = tempfile::tempdir().unwrap();
    let docgen = testkit::build_tools(&["docgen"]).join("docgen");
    testkit::run(docgen.to_str().unwrap(), &[docs.path().to_str().unwrap()]);
    let mut pages: Vec<String> = generated(docs.path())
        .into_iter()
        .map(|f| {
            if f.starts_with("share/man/") {
                format!("{f}.gz")
            } else {
                f.replace("zsh/vendor-completions", "zsh/site-functions")
            }
        })
        .collect();
    pages.sort();
    let plist = std::fs::read_to_string(port.join("pkg-plist")).unwrap();
    let mut listed: Vec<&str> = plist
        .lines()
        .filter(|l| l.starts_with("share/man/") || l.contains("completion") || l.contains("zsh"))
        .collect();
    listed.sort_unstable();
    assert_eq!(
        listed, pages,
        "pkg-plist lists other pages and completions than docgen writes"
    );
    for tool in TOOLS {
        assert!(plist.contains(&format!("bin/{tool}\n")), "{tool}");
    }
}
