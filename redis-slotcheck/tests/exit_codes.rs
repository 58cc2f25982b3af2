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

/// carp-verdict answers 0 with a verdict, and 3 when its input is unusable: a host the report
/// does not know, a document that is not what the option asks for, both inputs on stdin.
#[test]
fn carp_verdict_is_unknown_on_bad_input() {
    const UNKNOWN: i32 = 3;
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_redis-slotcheck"));
    let fixture = |name: &str| {
        format!(
            "{}/tests/fixtures/carp-verdict/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let (report, carp) = (fixture("own-unreachable"), fixture("carp-up"));
    let args = |host: &'static str, report: &str, carp: &str| {
        [
            "carp-verdict",
            "--host",
            host,
            "--report",
            report,
            "--carp",
            carp,
        ]
        .map(String::from)
    };
    let output = std::process::Command::new(program)
        .args(args("redis1", &report, &carp))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (&json["action"], &json["cause"]),
        (&"demote".into(), &"broken".into())
    );

    for (args, named) in [
        (args("redis9", &report, &carp), "host 'redis9'"),
        (args("redis1", &carp, &carp), "missing field `status`"),
        (args("redis1", &report, &report), "missing field `vhids`"),
        (args("redis1", "-", "-"), "both read standard input"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        testkit::exit_codes::assert_exit(program, &args, UNKNOWN, named);
    }
}
