//! Validation of `run` settings, the site mapping and the password file checks.

use super::*;
use std::io::Write;

fn args() -> RunArgs {
    RunArgs {
        interface: "eth0".into(),
        vhid: 10,
        vips: vec!["10.0.10.100/24".parse().unwrap()],
        advbase: 1,
        advskew: 0,
        preempt: true,
        src: None,
        track: vec!["eth1".into()],
    }
}

fn check(a: RunArgs) -> Result<RunSettings, Error> {
    a.validate(
        Password::new(b"p"),
        "/etc/carp.pass".into(),
        None,
        None,
        DEFAULT_STATE_DIR.into(),
    )
}

#[test]
fn valid_arguments_pass() {
    let s = check(args()).unwrap();
    assert_eq!(s.vips, vec!["10.0.10.100/24".parse::<IpNet>().unwrap()]);
    assert_eq!(
        s.hashed_addresses(),
        vec!["10.0.10.100".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn ipv6_addresses_ride_along_with_an_ipv4_one() {
    let s = check(RunArgs {
        vips: vec![
            "10.0.10.100/24".parse().unwrap(),
            "fd00::100/64".parse().unwrap(),
        ],
        ..args()
    })
    .unwrap();
    assert_eq!(
        s.hashed_addresses(),
        [
            "10.0.10.100".parse::<IpAddr>().unwrap(),
            "fd00::100".parse().unwrap()
        ]
    );
}

#[test]
fn each_bad_value_is_named() {
    let cases: Vec<(RunArgs, &str)> = vec![
        (RunArgs { vhid: 0, ..args() }, "invalid vhid '0'"),
        (
            RunArgs {
                advbase: 0,
                ..args()
            },
            "invalid advbase '0'",
        ),
        (
            RunArgs {
                advskew: 255,
                ..args()
            },
            "invalid advskew '255'",
        ),
        (
            RunArgs {
                vips: vec![],
                ..args()
            },
            "invalid vip ''",
        ),
        (
            RunArgs {
                vips: vec!["fd00::1/64".parse().unwrap(), "fd00::2/64".parse().unwrap()],
                ..args()
            },
            "invalid vip 'fd00::1/64 fd00::2/64': give at least one IPv4",
        ),
        (
            RunArgs {
                src: Some("10.0.10.100".parse().unwrap()),
                ..args()
            },
            "invalid src '10.0.10.100'",
        ),
        (
            RunArgs {
                interface: "a-very-long-interface".into(),
                ..args()
            },
            "invalid interface 'a-very-long-interface'",
        ),
        (
            RunArgs {
                track: vec!["eth1".into(), "lo;x y".into()],
                ..args()
            },
            "invalid track 'lo;x y'",
        ),
        (
            RunArgs {
                track: vec![String::new()],
                ..args()
            },
            "invalid track ''",
        ),
        (
            RunArgs {
                interface: "eth0;reboot".into(),
                ..args()
            },
            "invalid interface 'eth0;reboot': use only letters, digits",
        ),
    ];
    for (a, expected) in cases {
        let message = check(a).unwrap_err().to_string();
        assert!(message.starts_with(expected), "{message}");
    }
}

#[test]
fn site_gives_interface_vip_skew_and_source() {
    let site =
        site::Site::parse(include_str!("../../../site/examples/howto.json"), "howto").unwrap();
    let (a, pass_file) = RunArgs::from_site(&site, "redis2").unwrap();
    assert_eq!(a.interface, "em1");
    assert_eq!(a.vhid, 10);
    assert_eq!(a.advskew, 100);
    assert_eq!(a.src, Some("10.0.10.12".parse().unwrap()));
    assert_eq!(a.vips, vec!["10.0.10.100/24".parse::<IpNet>().unwrap()]);
    assert!(a.preempt);
    assert_eq!(pass_file, PathBuf::from("/usr/local/etc/carp/vhid10.pass"));
    let e = RunArgs::from_site(&site, "redis9").unwrap_err().to_string();
    assert!(e.contains("unknown host 'redis9'"), "{e}");
}

#[test]
fn password_is_the_first_line_and_loose_modes_warn() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "FMxjubyqfNYTVAdS6aZ-and-more\nsecond line").unwrap();
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = read_password(f.path()).unwrap();
    assert_eq!(p.password, Password::new(b"FMxjubyqfNYTVAdS6aZ"));
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("mode 644"));
    assert!(p.warnings[1].contains("only the first 19"));
    assert!(
        p.warnings.iter().all(|w| !w.contains("FMxjuby")),
        "never echo the password"
    );

    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(f.path(), "short\n").unwrap();
    assert!(read_password(f.path()).unwrap().warnings.is_empty());

    std::fs::write(f.path(), "\n").unwrap();
    let e = read_password(f.path()).err().unwrap().to_string();
    assert!(e.contains("is empty"), "{e}");
    let e = read_password(Path::new("/nonexistent/pass"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot read password file '/nonexistent/pass'"),
        "{e}"
    );
}
