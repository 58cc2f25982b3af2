//! The exit-code table: redis-slotcheck answers in monitoring-plugin codes, so a missing file,
//! an invalid site and a bad argument all leave the health UNKNOWN (3).

use std::path::Path;

use testkit::exit_codes::{assert_exit, BadInputs};

const UNKNOWN: i32 = 3;

fn tool() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_redis-slotcheck"))
}

#[test]
fn bad_input_is_unknown() {
    let bad = BadInputs::new();
    let missing = bad.missing.to_str().unwrap();
    assert_exit(tool(), &["--site", missing], UNKNOWN, missing);
    let invalid = bad.invalid_site.to_str().unwrap();
    assert_exit(tool(), &["--site", invalid], UNKNOWN, "carp.vhid");
    assert_exit(tool(), &["--timeout", "0", "127.0.0.1:1"], UNKNOWN, "'0'");
    assert_exit(tool(), &["--format", "xml", "127.0.0.1:1"], UNKNOWN, "xml");
}
