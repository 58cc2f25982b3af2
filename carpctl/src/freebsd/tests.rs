use super::*;

fn howto() -> site::Site {
    site::Site::parse(include_str!("../../../site/examples/howto.json"), "howto").unwrap()
}

#[test]
fn rc_lines_are_the_howtos_with_the_password_read_from_its_file() {
    let alias = Alias::from_site(&howto(), "redis2").unwrap();
    let lines = alias.rc_lines(0);
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
fn advbase_other_than_one_and_odd_paths_are_written_out() {
    let mut alias = Alias::from_site(&howto(), "redis1").unwrap();
    alias.advbase = 3;
    alias.preempt = false;
    alias.pass_file = "/etc/carp pass's".into();
    alias.interface = "vlan.10".into();
    let lines = alias.rc_lines(2);
    assert_eq!(lines.len(), 2, "no preempt line: {lines:?}");
    assert_eq!(
        lines[1].line,
        "ifconfig_vlan_10_alias2=\"inet vhid 10 advbase 3 advskew 0 pass $(head -n 1 '/etc/carp pass'\\''s') alias 10.0.10.100/32\""
    );
}

#[test]
fn alias_command_reads_the_password_file_and_args_carry_it() {
    let alias = Alias::from_site(&howto(), "redis3").unwrap();
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
    let e = Alias::from_site(&howto(), "nope").unwrap_err().to_string();
    assert!(e.contains("unknown host 'nope'"), "{e}");
    let mut site = howto();
    site.carp = None;
    let e = Alias::from_site(&site, "redis1").unwrap_err().to_string();
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
                advbase: 1,
                advskew: 0,
                vips: vec!["10.0.10.100".into()],
            },
            KernelCarp {
                interface: "em1".into(),
                vhid: 11,
                state: State::Backup,
                advbase: 2,
                advskew: 100,
                vips: vec!["10.0.10.101".into(), "fe80::1".into()],
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
