//! The exit-code table: a missing file, an invalid site and a bad argument are bad input (2).

use testkit::exit_codes::BadInputs;

#[test]
fn bad_input_exits_2() {
    let t = BadInputs::for_program(env!("CARGO_BIN_EXE_redis-cluster-create"));
    t.expect(&["plan", "--site", &t.missing], 2, &t.missing);
    t.expect(&["apply", "--yes", &t.missing], 2, &t.missing);
    t.expect(&["plan", "--site", &t.invalid_site], 2, "carp.vhid");
    t.expect(&["apply", "--yes", "--timeout", "0", "-"], 2, "'0'");
    t.expect(&["plan", "redis1:7000"], 2, "redis1:7000");
}
