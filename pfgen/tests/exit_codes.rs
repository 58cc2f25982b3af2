//! The exit-code table: a missing file, an invalid site and a bad argument are bad input (2).

use std::path::Path;

use testkit::exit_codes::{assert_exit, BadInputs};

const BAD_INPUT: i32 = 2;

fn tool() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pfgen"))
}

#[test]
fn bad_input_exits_2() {
    let bad = BadInputs::new();
    let missing = bad.missing.to_str().unwrap();
    assert_exit(
        tool(),
        &["--host", "redis1", "--site", missing],
        BAD_INPUT,
        missing,
    );
    assert_exit(
        tool(),
        &["allowlist", "--site", missing],
        BAD_INPUT,
        missing,
    );
    let invalid = bad.invalid_site.to_str().unwrap();
    assert_exit(
        tool(),
        &["--host", "redis1", "--site", invalid],
        BAD_INPUT,
        "carp.vhid",
    );
    assert_exit(
        tool(),
        &["--format", "iptables", "--site", "-"],
        BAD_INPUT,
        "iptables",
    );
    assert_exit(tool(), &["--host", "redis1"], BAD_INPUT, "--site");
}
