//! The FreeBSD text: rc.conf lines, the ifconfig command, and parsing ifconfig output.

use super::*;

fn howto() -> site::Site {
    site::Site::parse(include_str!("../../../site/examples/howto.json"), "howto").unwrap()
}

#[test]
fn rc_lines_are_the_howtos_with_the_password_read_from_its_file() {
    let alias = Alias::from_site(&howto(), "redis2", None).unwrap();
    let lines = alias.rc_lines(0, None);
    assert_eq!(
        lines,
        vec![
            ConfigLine {
                file: "/boot/loader.conf",
                line: "carp_load=\"YES\"".into()
            },
            ConfigLine {
                file: "/etc/sysctl.conf",
                line: "net.inet.carp.preempt=1".into()
            },
            ConfigLine {
                file: "/etc/rc.conf.d/network",
                line: "ifconfig_em1_alias0=\"inet vhid 10 advskew 100 pass $(head -n 1 /usr/local/etc/carp/vhid10.pass) alias 10.0.10.100/32\"".into()
            },
        ]
    );
    assert_eq!(
        render_rc_text(&lines),
        "# /boot/loader.conf\ncarp_load=\"YES\"\n\n# /etc/sysctl.conf\nnet.inet.carp.preempt=1\n\n\
         # /etc/rc.conf.d/network\nifconfig_em1_alias0=\"inet vhid 10 advskew 100 pass \
         $(head -n 1 /usr/local/etc/carp/vhid10.pass) alias 10.0.10.100/32\"\n"
    );
}

#[test]
fn a_literal_password_is_written_as_the_howto_does() {
    let alias = Alias::from_site(&howto(), "redis1", None).unwrap();
    let lines = alias.rc_lines(0, Some("FMxjubyqfNYTVAdS6aZ"));
    assert_eq!(
        lines[2].line,
        "ifconfig_em1_alias0=\"inet vhid 10 advskew 0 pass FMxjubyqfNYTVAdS6aZ alias 10.0.10.100/32\""
    );
}

#[test]
fn advbase_other_than_one_and_odd_paths_are_written_out() {
    let mut alias = Alias::from_site(&howto(), "redis1", None).unwrap();
    alias.protocol = Protocol::Carp {
        advbase: 3,
        advskew: 0,
        peer: None,
    };
    alias.preempt = false;
    alias.pass_file = "/etc/carp pass's".into();
    alias.interface = "vlan.10".into();
    let lines = alias.rc_lines(2, None);
    assert_eq!(lines.len(), 2, "no preempt line: {lines:?}");
    assert_eq!(
        lines[1].line,
        "ifconfig_vlan_10_alias2=\"inet vhid 10 advbase 3 advskew 0 pass $(head -n 1 '/etc/carp pass'\\''s') alias 10.0.10.100/32\""
    );
}

#[test]
fn alias_command_reads_the_password_file_and_args_carry_it() {
    let alias = Alias::from_site(&howto(), "redis3", None).unwrap();
    assert_eq!(
        alias.ifconfig_command(),
        "ifconfig em1 vhid 10 advskew 200 pass \"$(head -n 1 /usr/local/etc/carp/vhid10.pass)\" alias 10.0.10.100/32"
    );
    assert_eq!(
        alias.ifconfig_args("s3cret"),
        [
            "em1",
            "vhid",
            "10",
            "advskew",
            "200",
            "pass",
            "s3cret",
            "alias",
            "10.0.10.100/32"
        ]
    );
}

#[test]
fn missing_host_or_carp_section_is_named() {
    let e = Alias::from_site(&howto(), "nope", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown host 'nope'"), "{e}");
    let mut site = howto();
    site.carp = None;
    let e = Alias::from_site(&site, "redis1", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no \"carp\" section"), "{e}");
}

/// `ifconfig` of a FreeBSD 14 host holding the VIP, plus a second vhid in BACKUP.
const IFCONFIG: &str = "\
em0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\toptions=4e507bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM>
\tether 08:00:27:aa:bb:01
\tinet 192.168.1.11 netmask 0xffffff00 broadcast 192.168.1.255
em1: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\tether 08:00:27:aa:bb:02
\tinet 10.0.10.11 netmask 0xffffff00 broadcast 10.0.10.255
\tinet 10.0.10.100 netmask 0xffffffff broadcast 10.0.10.100 vhid 10
\tinet 10.0.10.101 netmask 0xffffffff broadcast 10.0.10.101 vhid 11
\tinet6 fe80::1%em1 prefixlen 64 scopeid 0x2 vhid 11
\tcarp: MASTER vhid 10 advbase 1 advskew 0
\tcarp: BACKUP vhid 11 advbase 2 advskew 100
\t      peer 224.0.0.18 peer6 ff02::12
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
lo0: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
";

#[test]
fn ifconfig_output_gives_state_timers_and_addresses_per_vhid() {
    assert_eq!(
        parse_ifconfig(IFCONFIG).unwrap(),
        vec![
            KernelCarp {
                interface: "em1".into(),
                vhid: 10,
                state: State::Master,
                carpver: 2,
                advbase: 1,
                advskew: 0,
                vrrpprio: 0,
                vrrpinterval: 0,
                vips: vec!["10.0.10.100".into()],
                demotion: 0,
                effective_skew: 0,
            },
            KernelCarp {
                interface: "em1".into(),
                vhid: 11,
                state: State::Backup,
                carpver: 2,
                advbase: 2,
                advskew: 100,
                vrrpprio: 0,
                vrrpinterval: 0,
                vips: vec!["10.0.10.101".into(), "fe80::1".into()],
                demotion: 0,
                effective_skew: 100,
            },
        ]
    );
}

#[test]
fn ifconfig_without_carp_and_broken_carp_lines() {
    assert!(parse_ifconfig("lo0: flags=1\n\tinet 127.0.0.1\n")
        .unwrap()
        .is_empty());
    let e = parse_ifconfig("em1: flags=1\n\tcarp: WEIRD vhid 1 advbase 1 advskew 0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown CARP state 'WEIRD'"), "{e}");
    let e = parse_ifconfig("em1: flags=1\n\tcarp: MASTER vhid x advbase 1 advskew 0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no vhid"), "{e}");
}

/// `ifconfig` of a FreeBSD 15 host with a CARP vhid and a VRRPv3 one (`carpver 3 vrrpprio 150
/// vrrpinterval 50`) on one interface, written from sbin/ifconfig/carp.c's `carp_status`: a
/// VRRPv3 vhid gets a `vrrp:` line naming it vrid, and its addresses still end in `vhid N`.
const IFCONFIG_VRRP: &str = "\
em1: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\tether 08:00:27:aa:bb:02
\tinet 10.0.10.12 netmask 0xffffff00 broadcast 10.0.10.255
\tinet 10.0.10.100 netmask 0xffffffff broadcast 10.0.10.100 vhid 10
\tinet 10.0.10.110 netmask 0xffffffff broadcast 10.0.10.110 vhid 12
\tinet6 fd00::110 prefixlen 128 vhid 12
\tcarp: BACKUP vhid 10 advbase 1 advskew 100
\tvrrp: MASTER vrid 12 prio 150 interval 50
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
";

#[test]
fn ifconfig_output_gives_carp_and_vrrp_vhids_alike() {
    let found = parse_ifconfig(IFCONFIG_VRRP).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        (
            found[0].vhid,
            found[0].state,
            found[0].carpver,
            found[0].advskew
        ),
        (10, State::Backup, 2, 100)
    );
    assert_eq!(
        found[1],
        KernelCarp {
            interface: "em1".into(),
            vhid: 12,
            state: State::Master,
            carpver: 3,
            advbase: 0,
            advskew: 0,
            vrrpprio: 150,
            vrrpinterval: 50,
            vips: vec!["10.0.10.110".into(), "fd00::110".into()],
            demotion: 0,
            effective_skew: 0,
        }
    );
}

/// A damaged `vrrp:` line is an error naming it, as a damaged `carp:` line is; a bare `vrrp:`
/// is not a vhid line and is passed over.
#[test]
fn broken_vrrp_lines_are_errors_not_panics() {
    for (line, expected) in [
        (
            "vrrp: WEIRD vrid 1 prio 100 interval 100",
            "unknown CARP state 'WEIRD'",
        ),
        ("vrrp: MASTER vrid 300 prio 100 interval 100", "no vrid"),
        ("vrrp: MASTER vrid 1 prio 100 interval", "no interval"),
        ("vrrp: MASTER prio 100 interval 100", "no vrid"),
        ("vrrp: MASTER vrid 1 prio -1 interval 100", "no prio"),
        ("vrrp: BACKUP", "no vrid"),
    ] {
        let e = parse_ifconfig(&format!("em1: flags=1\n\t{line}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected) && e.contains(line), "{line}: {e}");
    }
    assert!(parse_ifconfig("em1: flags=1\n\tvrrp:\n")
        .unwrap()
        .is_empty());
}

/// The kernel's demotion moves a CARP vhid's skew; a VRRPv3 vhid has no skew to show.
#[test]
fn demotion_gives_an_effective_skew_to_carp_vhids_only() {
    let found: Vec<KernelCarp> = parse_ifconfig(IFCONFIG_VRRP)
        .unwrap()
        .into_iter()
        .map(|k| k.with_demotion(200))
        .collect();
    assert_eq!(
        (found[0].demotion, found[0].effective_skew),
        (200, MAX_SKEW)
    );
    assert_eq!((found[1].demotion, found[1].effective_skew), (200, 0));
}

/// A FreeBSD host whose CARP interface lost its carrier: the kernel says INIT.
#[test]
fn ifconfig_of_a_host_without_carrier_says_init() {
    let text = "em1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\
                \tinet 10.0.10.100 netmask 0xffffffff broadcast 10.0.10.100 vhid 10\n\
                \tcarp: INIT vhid 10 advbase 1 advskew 100\n\
                \tstatus: no carrier\n";
    let found = parse_ifconfig(text).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, State::Init);
    assert_eq!(found[0].vips, ["10.0.10.100"]);
}

#[test]
fn demotion_adds_at_most_240_and_promote_takes_back_only_its_own() {
    assert_eq!(demotion_step(0, Request::Demote(240)), (240, 240));
    // cluster-health demotes every minute while broken: the kernel counter stays put.
    assert_eq!(demotion_step(240, Request::Demote(240)), (240, 0));
    assert_eq!(demotion_step(100, Request::Demote(200)), (240, 140));
    assert_eq!(demotion_step(240, Request::Promote), (0, -240));
    assert_eq!(demotion_step(0, Request::Promote), (0, 0));
    assert_eq!(demotion_step(50, Request::Status), (50, 0));
    assert_eq!(sysctl_step_args(-240), ["net.inet.carp.demotion=-240"]);
    assert_eq!(sysctl_step_args(10), ["net.inet.carp.demotion=10"]);
}

#[test]
fn sysctl_values_and_the_effective_skew() {
    assert_eq!(parse_sysctl_int("240\n").unwrap(), 240);
    assert_eq!(parse_sysctl_int("-5").unwrap(), -5);
    let e = parse_sysctl_int("sysctl: unknown oid")
        .unwrap_err()
        .to_string();
    assert!(e.contains("'sysctl: unknown oid'"), "{e}");
    assert_eq!(effective_skew(100, 0), 100);
    assert_eq!(effective_skew(100, 240), 240, "clamped high");
    assert_eq!(effective_skew(10, -50), 0, "clamped low");
}

#[test]
fn devd_rules_run_the_hooks_on_master_and_backup() {
    let alias = Alias::from_site(&howto(), "redis2", None).unwrap();
    let src = Some("10.0.10.12".parse().unwrap());
    let lines = alias
        .devd_lines(
            src,
            Some("/usr/local/libexec/carp-up --site /etc/s.json"),
            Some("logger carp down"),
        )
        .unwrap();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .all(|l| l.file == "/usr/local/etc/devd/carpctl.conf"));
    assert_eq!(
        lines[0].line,
        "notify 100 {\n\
         \tmatch \"system\" \"CARP\";\n\
         \tmatch \"subsystem\" \"10@em1\";\n\
         \tmatch \"type\" \"MASTER\";\n\
         \taction \"CARP_STATE=MASTER CARP_INTERFACE=em1 CARP_VHID=10 CARP_VIPS=10.0.10.100/32 CARP_SRC=10.0.10.12; \
         export CARP_STATE CARP_INTERFACE CARP_VHID CARP_VIPS CARP_SRC; /usr/local/libexec/carp-up --site /etc/s.json\";\n\
         };"
    );
    assert!(lines[1].line.contains("match \"type\" \"BACKUP\";"));
    assert!(lines[1].line.contains("CARP_STATE=BACKUP "));
    assert!(lines[1].line.contains("; logger carp down\";"));
    assert!(alias.devd_lines(None, None, None).unwrap().is_empty());
    let only_up = alias.devd_lines(None, Some("true"), None).unwrap();
    assert_eq!(only_up.len(), 1);
    assert!(!only_up[0].line.contains("CARP_SRC"));
    for bad in ["echo \"x\"", "echo $HOME", "a\nb", "  ", "x\\y"] {
        let e = alias
            .devd_lines(None, Some(bad), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid up-hook"), "{bad:?}: {e}");
    }
}

#[test]
fn an_active_active_host_gets_one_alias_per_group() {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../site/examples/howto.json")).unwrap();
    doc["carp"]["groups"] =
        serde_json::json!([{"vhid": 11, "vip": "10.0.10.101/24", "master": "redis2"}]);
    let site = site::Site::parse(&doc.to_string(), "howto").unwrap();
    let alias = Alias::from_site(&site, "redis1", Some(11)).unwrap();
    let lines = alias.rc_lines(1, None);
    assert_eq!(
        lines[2].line,
        "ifconfig_em1_alias1=\"inet vhid 11 advskew 50 pass $(head -n 1 /usr/local/etc/carp/vhid10.pass) alias 10.0.10.101/32\""
    );
}

/// The how-to's site with `edit` applied to its JSON.
fn howto_with(edit: impl FnOnce(&mut serde_json::Value)) -> site::Site {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../site/examples/howto.json")).unwrap();
    edit(&mut doc);
    site::Site::parse(&doc.to_string(), "howto").unwrap()
}

fn vrrp_site() -> site::Site {
    howto_with(|doc| {
        doc["carp"]["carpver"] = 3.into();
        doc["carp"]["vrrpinterval"] = 25.into();
        doc["hosts"][0]["vrrpprio"] = 200.into();
        doc["carp"]["groups"] =
            serde_json::json!([{"vhid": 11, "vip": "10.0.10.101/24", "master": "redis2"}]);
    })
}

/// The Linux engine's VRRP values for `host` in group `vhid` of `site`.
fn engine_vrrp(site: &site::Site, host: &str, vhid: u8) -> Protocol {
    let (args, _) = settings::RunArgs::from_site(site, host, Some(vhid)).unwrap();
    Protocol::Vrrp {
        priority: args.vrrpprio,
        interval_cs: args.vrrpinterval,
    }
}

#[test]
fn a_vrrp3_alias_has_the_engines_priority_and_interval_and_no_password() {
    let site = vrrp_site();
    // The site's priority, the default, and a derived group's (redis3 is rank 1 after the
    // master redis2: 254 - 25).
    for (host, vhid, priority) in [
        ("redis1", 10, 200),
        ("redis2", 10, 100),
        ("redis3", 11, 229),
    ] {
        let alias = Alias::from_site(&site, host, Some(vhid)).unwrap();
        assert_eq!(
            alias.protocol,
            Protocol::Vrrp {
                priority,
                interval_cs: 25
            },
            "{host} vhid {vhid}"
        );
        assert_eq!(
            alias.protocol,
            engine_vrrp(&site, host, vhid),
            "FreeBSD and the Linux engine agree"
        );
        assert!(!alias.needs_password());
    }
    let alias = Alias::from_site(&site, "redis2", None).unwrap();
    assert_eq!(
        alias.rc_lines(0, None)[2].line,
        "ifconfig_em1_alias0=\"inet vhid 10 carpver 3 vrrpprio 100 vrrpinterval 25 alias 10.0.10.100/32\""
    );
    assert_eq!(
        alias.ifconfig_args("unused").join(" "),
        "em1 vhid 10 carpver 3 vrrpprio 100 vrrpinterval 25 alias 10.0.10.100/32"
    );
}

#[test]
fn vrrp_values_out_of_freebsds_range_are_named() {
    let mut site = vrrp_site();
    site.carp.as_mut().unwrap().vrrpinterval = Some(4096);
    let e = Alias::from_site(&site, "redis1", None)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid vrrpinterval '4096'"), "{e}");
    let mut site = vrrp_site();
    site.hosts[0].vrrpprio = Some(255);
    let e = Alias::from_site(&site, "redis1", None)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid vrrpprio '255'"), "{e}");
}

#[test]
fn unicast_carp_names_the_other_node_as_the_engine_does() {
    let site = howto_with(|doc| {
        doc["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.12"]);
    });
    for (host, peer) in [("redis1", "10.0.10.12"), ("redis2", "10.0.10.11")] {
        let alias = Alias::from_site(&site, host, None).unwrap();
        let (args, _) = settings::RunArgs::from_site(&site, host, None).unwrap();
        assert_eq!(args.peers, [peer.parse::<IpAddr>().unwrap()]);
        let Protocol::Carp {
            peer: Some(ours), ..
        } = alias.protocol
        else {
            panic!("{:?}", alias.protocol)
        };
        assert_eq!(ours.to_string(), peer);
    }
    // A host the list leaves out sends to both: more than ifconfig can say.
    let e = Alias::from_site(&site, "redis3", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid carp.peers '10.0.10.11, 10.0.10.12': FreeBSD's carp(4) sends to one unicast peer"),
        "{e}"
    );
    let alias = Alias::from_site(&site, "redis1", None).unwrap();
    assert_eq!(
        alias.rc_lines(0, Some("pw"))[2].line,
        "ifconfig_em1_alias0=\"inet vhid 10 advskew 0 peer 10.0.10.12 pass pw alias 10.0.10.100/32\""
    );
}

#[test]
fn an_ipv6_peer_is_peer6() {
    let protocol = Protocol::Carp {
        advbase: 1,
        advskew: 7,
        peer: Some("fd00::2".parse().unwrap()),
    };
    assert_eq!(
        protocol.words("pw"),
        ["advskew", "7", "peer6", "fd00::2", "pass", "pw"]
    );
}

#[test]
fn unicast_vrrp3_is_refused_naming_the_peers() {
    let site = howto_with(|doc| {
        doc["carp"]["carpver"] = 3.into();
        doc["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.12"]);
    });
    let e = Alias::from_site(&site, "redis1", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid carp.peers '10.0.10.12': FreeBSD's kernel sends VRRPv3 adverts to the multicast group only"),
        "{e}"
    );
}
