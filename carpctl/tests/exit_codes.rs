//! The exit-code table: a missing file, an invalid site and a bad argument are bad input (2),
//! whether clap or carpctl's own checks refuse the value (`--vhid 0` and `--vhid 300` alike).

use std::path::Path;

use testkit::exit_codes::{assert_exit, BadInputs};

const BAD_INPUT: i32 = 2;

fn tool() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_carpctl"))
}

#[test]
fn bad_input_exits_2() {
    let bad = BadInputs::new();
    let missing = bad.missing.to_str().unwrap();
    assert_exit(
        tool(),
        &["rcconf", "--site", missing, "--host", "redis1"],
        BAD_INPUT,
        missing,
    );
    let invalid = bad.invalid_site.to_str().unwrap();
    assert_exit(
        tool(),
        &["rcconf", "--site", invalid, "--host", "redis1"],
        BAD_INPUT,
        "carp.vhid",
    );
    let run = |vhid: &str| {
        [
            "run",
            "--interface",
            "lo",
            "--vhid",
            vhid,
            "--vip",
            "10.9.9.9/24",
            "--pass-file",
            missing,
        ]
        .map(str::to_string)
    };
    for vhid in ["0", "300"] {
        let args = run(vhid);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_exit(tool(), &args, BAD_INPUT, vhid);
    }
}
