//! The exit-code table: a missing file, an invalid site and a bad argument are bad input (2).

use std::path::Path;

use testkit::exit_codes::{assert_exit, BadInputs};

const BAD_INPUT: i32 = 2;

fn tool() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_redis-cluster-create"))
}

#[test]
fn bad_input_exits_2() {
    let bad = BadInputs::new();
    let missing = bad.missing.to_str().unwrap();
    assert_exit(tool(), &["plan", "--site", missing], BAD_INPUT, missing);
    assert_exit(tool(), &["apply", "--yes", missing], BAD_INPUT, missing);
    let invalid = bad.invalid_site.to_str().unwrap();
    assert_exit(tool(), &["plan", "--site", invalid], BAD_INPUT, "carp.vhid");
    assert_exit(
        tool(),
        &["apply", "--yes", "--timeout", "0", "-"],
        BAD_INPUT,
        "'0'",
    );
    assert_exit(tool(), &["plan", "redis1:7000"], BAD_INPUT, "redis1:7000");
}
