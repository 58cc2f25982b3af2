//! Helpers shared by pfgen's integration tests: the how-to's site and the question whether
//! this process may use nftables (root, nft installed).

// Each test file uses a different part of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The how-to's site description, as the workspace ships it.
pub fn howto_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../site/examples/howto.json")
}

/// `None` when tests needing nftables can run here, otherwise why not.
pub fn nft_unavailable() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Some(format!("not root (euid {euid}); nft needs CAP_NET_ADMIN"));
    }
    match Command::new("nft").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("nft is not installed (Debian package nftables)".into()),
    }
}

/// Prints why a test is skipped and returns true when it must be.
pub fn skip_without_nft(test: &str) -> bool {
    match nft_unavailable() {
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            true
        }
        None => false,
    }
}
