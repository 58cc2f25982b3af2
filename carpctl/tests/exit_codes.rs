//! The exit-code table: a missing file, an invalid site and a bad argument are bad input (2),
//! whether clap or carpctl's own checks refuse the value (`--vhid 0` and `--vhid 300` alike).

use testkit::exit_codes::BadInputs;

#[test]
fn bad_input_exits_2() {
    let t = BadInputs::for_program(env!("CARGO_BIN_EXE_carpctl"));
    t.expect(
        &["rcconf", "--site", &t.missing, "--host", "redis1"],
        2,
        &t.missing,
    );
    t.expect(
        &["rcconf", "--site", &t.invalid_site, "--host", "redis1"],
        2,
        "carp.vhid",
    );
    for vhid in ["0", "300"] {
        let run = [
            "run",
            "--interface",
            "lo",
            "--vhid",
            vhid,
            "--vip",
            "10.9.9.9/24",
        ];
        t.expect(&[&run[..], &["--pass-file", &t.missing]].concat(), 2, vhid);
    }
}
