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
    if !testkit::is_root() {
        return Some("not root; nft needs CAP_NET_ADMIN".into());
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
