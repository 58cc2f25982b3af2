//! The exit-code table: a missing file, an invalid site and a bad argument are bad input (2).

use testkit::exit_codes::BadInputs;

#[test]
fn bad_input_exits_2() {
    let t = BadInputs::for_program(env!("CARGO_BIN_EXE_pfgen"));
    t.expect(&["--host", "redis1", "--site", &t.missing], 2, &t.missing);
    t.expect(&["allowlist", "--site", &t.missing], 2, &t.missing);
    t.expect(
        &["--host", "redis1", "--site", &t.invalid_site],
        2,
        "carp.vhid",
    );
    t.expect(&["--format", "iptables", "--site", "-"], 2, "iptables");
    t.expect(&["--host", "redis1"], 2, "--site");
}
