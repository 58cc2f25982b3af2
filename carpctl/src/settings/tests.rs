//! Validation of `run` settings, the site mapping and the password file checks.

use super::*;
use crate::wire;
use std::io::Write;

fn args() -> RunArgs {
    RunArgs {
        interface: "eth0".into(),
        vhid: 10,
        vips: vec!["10.0.10.100/24".parse().unwrap()],
        carpver: CARP,
        advbase: 1,
        advskew: 0,
        vrrpprio: DEFAULT_VRRP_PRIORITY,
        vrrpinterval: DEFAULT_VRRP_INTERVAL_CS,
        preempt: true,
        preempt_delay: 0,
        garp_refresh: 0,
        peers: Vec::new(),
        src: None,
        track: vec!["eth1".into()],
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
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
                carpver: VRRP3,
                vips: vec![
                    "10.0.10.100/24".parse().unwrap(),
                    "fd00::2/64".parse().unwrap(),
                ],
                ..args()
            },
            "invalid vip '10.0.10.100/24 fd00::2/64': VRRP carries the addresses of one family",
        ),
        (
            RunArgs {
                carpver: 4,
                ..args()
            },
            "invalid carpver '4': use 2 (CARP) or 3 (VRRPv3)",
        ),
        (
            RunArgs {
                vrrpprio: 0,
                ..args()
            },
            "invalid vrrpprio '0': use a priority from 1 to 254",
        ),
        (
            RunArgs {
                vrrpprio: 255,
                ..args()
            },
            "invalid vrrpprio '255'",
        ),
        (
            RunArgs {
                vrrpinterval: 0,
                ..args()
            },
            "invalid vrrpinterval '0': use an interval from 1 to 4095 centiseconds",
        ),
        (
            RunArgs {
                vrrpinterval: 4096,
                ..args()
            },
            "invalid vrrpinterval '4096'",
        ),
        (
            RunArgs {
                peers: vec![ip("224.0.0.18")],
                ..args()
            },
            "invalid peer '224.0.0.18': give the unicast address of another node",
        ),
        (
            RunArgs {
                peers: vec![ip("10.0.10.100")],
                ..args()
            },
            "invalid peer '10.0.10.100': a peer is another node's own address",
        ),
        (
            RunArgs {
                peers: vec![ip("10.0.10.12"), ip("fd00::12")],
                ..args()
            },
            "invalid peer '10.0.10.12 fd00::12': give peers of one family",
        ),
        (
            RunArgs {
                src: Some(ip("fd00::11")),
                ..args()
            },
            "invalid src 'fd00::11': the adverts travel over IPv4",
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
fn adverts_go_to_the_peers_or_the_group_of_their_family() {
    assert_eq!(
        check(args()).unwrap().destinations(),
        [IpAddr::V4(wire::GROUP)]
    );
    let v6 = check(RunArgs {
        vips: vec!["fd00::100/64".parse().unwrap()],
        carpver: VRRP3,
        ..args()
    })
    .unwrap();
    assert!(!v6.advertises_v4());
    assert_eq!(v6.destinations(), [IpAddr::V6(vrrp::GROUP_V6)]);
    let peers = check(RunArgs {
        peers: vec![ip("10.0.10.12"), ip("10.0.10.13")],
        ..args()
    })
    .unwrap();
    assert_eq!(peers.destinations(), [ip("10.0.10.12"), ip("10.0.10.13")]);
    let v6_peer = check(RunArgs {
        vips: vec!["fd00::100/64".parse().unwrap()],
        peers: vec![ip("fd00::12")],
        ..args()
    })
    .unwrap();
    assert_eq!(v6_peer.destinations(), [ip("fd00::12")]);
    assert_eq!(
        v6_peer.offer(),
        Offer::Carp {
            advbase: 1,
            advskew: 0
        }
    );
}

#[test]
fn site_gives_vrrp_values_and_the_other_hosts_as_peers() {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../site/examples/howto.json")).unwrap();
    doc["carp"]["carpver"] = 3.into();
    doc["carp"]["vrrpinterval"] = 20.into();
    doc["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.12", "10.0.10.13"]);
    doc["hosts"][1]["vrrpprio"] = 150.into();
    let site = site::Site::parse(&doc.to_string(), "howto").unwrap();
    let (a, _) = RunArgs::from_site(&site, "redis2", None).unwrap();
    assert_eq!((a.carpver, a.vrrpprio, a.vrrpinterval), (3, 150, 20));
    assert_eq!(
        a.peers,
        [ip("10.0.10.11"), ip("10.0.10.13")],
        "all but itself"
    );
    let (a, _) = RunArgs::from_site(&site, "redis1", None).unwrap();
    assert_eq!(a.vrrpprio, DEFAULT_VRRP_PRIORITY);
    let s = check(a).unwrap();
    assert_eq!(
        s.offer(),
        Offer::Vrrp {
            priority: 100,
            interval_cs: 20
        }
    );
}

#[test]
fn site_gives_the_preempt_delay() {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../site/examples/howto.json")).unwrap();
    doc["carp"]["preempt_delay"] = 120.into();
    let site = site::Site::parse(&doc.to_string(), "howto").unwrap();
    let (a, _) = RunArgs::from_site(&site, "redis1", None).unwrap();
    assert_eq!(check(a).unwrap().preempt_delay, 120);
}

#[test]
fn site_gives_the_garp_refresh() {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../site/examples/howto.json")).unwrap();
    let site = site::Site::parse(&doc.to_string(), "howto").unwrap();
    let (a, _) = RunArgs::from_site(&site, "redis1", None).unwrap();
    assert_eq!(
        a.garp_refresh, 0,
        "no refresh unless the site says otherwise"
    );
    doc["carp"]["garp_refresh"] = 60.into();
    let site = site::Site::parse(&doc.to_string(), "howto").unwrap();
    let (a, _) = RunArgs::from_site(&site, "redis1", None).unwrap();
    assert_eq!(check(a).unwrap().garp_refresh, 60);
}

#[test]
fn site_gives_interface_vip_skew_and_source() {
    let site =
        site::Site::parse(include_str!("../../../site/examples/howto.json"), "howto").unwrap();
    let (a, pass_file) = RunArgs::from_site(&site, "redis2", None).unwrap();
    assert_eq!(a.interface, "em1");
    assert_eq!(a.vhid, 10);
    assert_eq!(a.advskew, 100);
    assert_eq!(a.src, Some("10.0.10.12".parse().unwrap()));
    assert_eq!(a.vips, vec!["10.0.10.100/24".parse::<IpNet>().unwrap()]);
    assert!(a.preempt);
    assert_eq!(
        a.preempt_delay, 0,
        "preempt at once unless the site says otherwise"
    );
    assert_eq!(a.carpver, CARP, "CARP unless the site says otherwise");
    assert!(a.peers.is_empty(), "multicast unless the site lists peers");
    assert_eq!(pass_file, PathBuf::from("/usr/local/etc/carp/vhid10.pass"));
    let e = RunArgs::from_site(&site, "redis9", None)
        .unwrap_err()
        .to_string();
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

#[test]
fn site_group_picks_a_groups_vhid_vip_and_rank_skew() {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../site/examples/howto.json")).unwrap();
    doc["carp"]["groups"] = serde_json::json!([
        {"vhid": 11, "vip": "10.0.10.101/24", "master": "redis2"},
        {"vhid": 12, "vip": "10.0.10.102/24", "master": "redis3"}
    ]);
    let site = site::Site::parse(&doc.to_string(), "howto").unwrap();
    let (a, _) = RunArgs::from_site(&site, "redis3", Some(11)).unwrap();
    assert_eq!((a.vhid, a.advskew, a.vrrpprio), (11, 25, 229));
    assert_eq!(a.vips, vec!["10.0.10.101/24".parse::<IpNet>().unwrap()]);
    let (a, _) = RunArgs::from_site(&site, "redis2", Some(11)).unwrap();
    assert_eq!(a.advskew, 0, "the group's master");
    let (a, _) = RunArgs::from_site(&site, "redis2", None).unwrap();
    assert_eq!(
        (a.vhid, a.advskew),
        (10, 100),
        "the main group keeps the host's skew"
    );
    let e = RunArgs::from_site(&site, "redis2", Some(13))
        .unwrap_err()
        .to_string();
    assert!(e.contains("13") && e.contains("10, 11, 12"), "{e}");
}
