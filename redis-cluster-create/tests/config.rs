//! `redis-cluster-create config`: the rendered files as the binary prints them, and written
//! with `--local DIR --write` for a real redis-server that must start from them as a cluster
//! node announcing its host's address.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use testkit::PortLease;

fn tool() -> Command {
    let mut cmd = Command::cargo_bin("redis-cluster-create").unwrap();
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// A three-host site on loopback addresses (as the demo's) with one instance each on `port`.
fn site(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("site.json");
    let site = serde_json::json!({
        "schema": 1,
        "cluster": { "replicas": 0, "node_timeout_ms": 4000, "ports": [port],
                     "bind_interface": "lo" },
        "hosts": [
            { "name": "redis1", "advskew": 0, "addresses": { "lo": "127.0.0.2/8" } },
            { "name": "redis2", "advskew": 100, "addresses": { "lo": "127.0.0.3/8" } },
            { "name": "redis3", "advskew": 200, "addresses": { "lo": "127.0.0.4/8" } }
        ]
    });
    std::fs::write(&path, site.to_string()).unwrap();
    path
}

/// A daemonized redis-server, stopped through its pid file on drop (also when the test fails).
struct Daemon {
    pidfile: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let pid = pid.trim().to_string();
            let _ = std::process::Command::new("kill").arg(&pid).status();
            testkit::wait_until(
                "redis-server to exit",
                Duration::from_secs(10),
                Duration::from_millis(50),
                || !Path::new(&format!("/proc/{pid}")).exists(),
            );
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn written_files_start_a_cluster_node_that_announces_its_host_address() {
    let lease = PortLease::take("127.0.0.2");
    let port = lease.port.to_string();
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), lease.port);
    let root = dir.path().join("state");
    tool()
        .args(["config", "--site"])
        .arg(&site)
        .args(["--host", "redis1", "--write", "--local"])
        .arg(&root)
        .assert()
        .success()
        .stdout("");
    let conf = root.join(format!("redis1/redis-{port}.conf"));
    let data = root.join(format!("redis1/{port}"));
    assert_eq!(mode(&conf), 0o644);
    assert_eq!(mode(&data), 0o750);
    assert!(
        !root.join("redis2").exists(),
        "only the named host is written"
    );

    let started = std::process::Command::new("redis-server")
        .arg(&conf)
        .status()
        .expect("cannot run redis-server; install the redis-server package");
    assert!(started.success(), "redis-server refused {}", conf.display());
    let _daemon = Daemon {
        pidfile: data.join("redis.pid"),
    };
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.2", "-p", &port])
            .args(args)
            .output()
            .expect("cannot run redis-cli; install the redis-tools package");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    testkit::wait_until(
        "the instance to answer on 127.0.0.2",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || cli(&["ping"]) == "PONG",
    );
    assert_eq!(
        cli(&["config", "get", "cluster-announce-ip"]),
        "cluster-announce-ip\n127.0.0.2"
    );
    assert_eq!(
        cli(&["config", "get", "cluster-node-timeout"]),
        "cluster-node-timeout\n4000"
    );
    assert_eq!(
        cli(&["config", "get", "dir"]),
        format!("dir\n{}", data.canonicalize().unwrap().display())
    );
    assert!(cli(&["info", "cluster"]).contains("cluster_enabled:1"));
    assert!(
        data.join("redis.log").is_file(),
        "the log goes beside the data"
    );
}

#[test]
fn the_freebsd_files_are_printed_as_json_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), 7000);
    let output = tool()
        .args(["config", "--site"])
        .arg(&site)
        .args(["--host", "redis2"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["host"], "redis2");
    let paths: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/usr/local/etc/redis-7000.conf", "/etc/rc.conf.d/redis"]
    );
    assert!(json["files"][0]["content"]
        .as_str()
        .unwrap()
        .contains("\nbind 127.0.0.3\n"));
    assert_eq!(json["directories"][0]["owner"], "redis");
    let text = tool()
        .args(["config", "--format", "text", "--site"])
        .arg(&site)
        .args(["--host", "redis2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout)
        .starts_with("==> /usr/local/etc/redis-7000.conf (mode 0644)\nport 7000\n"));
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), 7000);
    let root = dir.path().join("state");
    let unknown = tool()
        .args(["config", "--site"])
        .arg(&site)
        .args(["--host", "redis9", "--write", "--local"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("unknown host 'redis9'; the site defines: redis1, redis2, redis3"),
        "{stderr}"
    );
    assert!(!root.exists());
    // --write only with --local: a FreeBSD root is the staging script's, with its backups.
    let freebsd = tool()
        .args(["config", "--write", "--host", "redis1", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert_eq!(freebsd.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&freebsd.stderr).contains("--local"));
}

// Regression: a dangling link where a file is written made the tool create the file it named
// (as root, anywhere); the refusal is bad input (exit 2) and nothing is created.
#[test]
fn a_dangling_link_in_place_of_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path(), 7000);
    let root = dir.path().join("state");
    let conf = root.join("redis1/redis-7000.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    let named = dir.path().join("named-by-the-link");
    std::os::unix::fs::symlink(&named, &conf).unwrap();
    let output = tool()
        .args(["config", "--site"])
        .arg(&site)
        .args(["--host", "redis1", "--write", "--local"])
        .arg(&root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write '{}'", conf.display()))
            && stderr.contains("does not exist; refusing to create a file through a link"),
        "{stderr}"
    );
    assert!(!named.exists());
}
