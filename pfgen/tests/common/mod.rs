//! Helpers shared by pfgen's integration tests: the how-to's site and the question whether
//! this process may use nftables (root, nft installed).

// Each test file uses a different part of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

/// The how-to's site description, as the workspace ships it.
pub fn howto_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../site/examples/howto.json")
}

/// Fails the test loudly unless nftables can be used here (root, nft installed). The tests
/// that call it are ignored in a plain run, as needing root.
pub fn assert_nft() {
    testkit::assert_root();
    testkit::assert_tool("nft", "nftables");
}
