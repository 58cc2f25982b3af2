//! The exit-code table: redis-slotcheck answers in monitoring-plugin codes, so a missing file,
//! an invalid site and a bad argument all leave the health UNKNOWN (3).

use testkit::exit_codes::BadInputs;

#[test]
fn bad_input_is_unknown() {
    const UNKNOWN: i32 = 3;
    let t = BadInputs::for_program(env!("CARGO_BIN_EXE_redis-slotcheck"));
    t.expect(&["--site", &t.missing], UNKNOWN, &t.missing);
    t.expect(&["--site", &t.invalid_site], UNKNOWN, "carp.vhid");
    t.expect(&["--timeout", "0", "127.0.0.1:1"], UNKNOWN, "'0'");
    t.expect(&["--format", "xml", "127.0.0.1:1"], UNKNOWN, "xml");
}
