//! Test worlds for the end-to-end tests of every tool: real `redis-server` processes on
//! loopback addresses that stand for separate hosts, and network namespaces for tests that
//! need real links ([`Lab`]: hosts cabled to bridges). Everything a test starts is stopped and
//! removed when its guard drops, also when the test fails; ports and names are chosen so
//! concurrent test runs never collide. [`wait_until`] is the one bounded poll of every test;
//! [`assert_root`] and [`assert_tool`] make a test that cannot run here fail loudly (root-only
//! tests carry `#[ignore = "needs root: run with --include-ignored as root"]`, so a plain run
//! reports them as ignored, never as passed).

pub mod exit_codes;
pub mod history;
pub mod hostile;
mod lab;
mod netns;
mod ports;
mod redis;
mod tls;
mod wait;
mod writer;

pub use lab::Lab;
pub use netns::{assert_root, assert_tool, is_root, namespaces_with_prefix, run, Netns};
pub use ports::PortLease;
pub use redis::{info_field, server_binary as redis_server_binary, RedisConfig, RedisInstance};
pub use tls::{Certificates, TlsServer};
pub use wait::{wait_until, Poll};
pub use writer::Writer;

/// Starts `count` cluster-enabled instances, spread round-robin over 127.0.0.1, .2 and .3
/// (three "hosts"), all with `config`. The instances start in parallel.
pub fn start_instances(count: usize, config: &RedisConfig) -> Vec<RedisInstance> {
    let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let ip = hosts[i % hosts.len()];
                scope.spawn(move || RedisInstance::start(ip, config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Starts one instance on each of `ips`, all on the same leased port: the layout of a site
/// description, where every host runs an instance on each listed port.
pub fn start_on_shared_port(ips: &[&str], config: &RedisConfig) -> Vec<RedisInstance> {
    let lease = std::sync::Arc::new(PortLease::take_on(ips));
    std::thread::scope(|scope| {
        let handles: Vec<_> = ips
            .iter()
            .map(|ip| {
                let lease = lease.clone();
                scope.spawn(move || RedisInstance::start_on(ip, lease, config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The workspace's top directory, where `scripts/` lives.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// Builds the debug binaries of `packages` (every tool of the workspace when empty) and returns
/// their directory. Tests of the scripts need this: `cargo test` builds only the binaries of
/// the package under test.
pub fn build_tools(packages: &[&str]) -> std::path::PathBuf {
    let mut command = std::process::Command::new(env!("CARGO"));
    command.args(["build", "--quiet", "--bins"]);
    if packages.is_empty() {
        command.arg("--workspace");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command
        .current_dir(workspace_root())
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "cargo build of {packages:?} failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), std::path::PathBuf::from)
        .join("debug")
}

/// Every file under `root`, as paths relative to it, sorted (for comparing staged or installed
/// trees with what they should hold).
pub fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("cannot list a directory of the tree") {
            let path = entry.expect("cannot read a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    found.sort();
    found
}
