//! Tells the end-to-end tests at build time what this machine can run, so that a test that
//! cannot run here is reported as ignored (with the reason) instead of passing without having
//! run: `carp_lab` when the build runs as root (network namespaces, raw sockets), and
//! `carp_lab_keepalived` when keepalived is installed as well. The tests still check at run
//! time and say why they stop, for a binary built as root and run as another user.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(carp_lab)");
    println!("cargo::rustc-check-cfg=cfg(carp_lab_keepalived)");
    println!("cargo::rerun-if-changed=build.rs");
    // sudo and su change these; `scripts/install-deps` changes what PATH finds.
    for var in ["PATH", "USER", "SUDO_USER"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if !is_root() {
        return;
    }
    println!("cargo::rustc-cfg=carp_lab");
    if installed("keepalived") {
        println!("cargo::rustc-cfg=carp_lab_keepalived");
    }
}

/// Whether the effective user is root, from /proc (Linux; elsewhere the lab cannot run).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Whether `tool` is on PATH or in the sbin directories Debian installs daemons to.
fn installed(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| Path::new(&dir).join(tool).is_file())
}
