//! Unit tests of the policy and the renderers, on the how-to's site and variations of it.

use super::*;

const HOWTO: &str = include_str!("../../site/examples/howto.json");

fn howto() -> site::Site {
    site::Site::parse(HOWTO, "howto.json").unwrap()
}

fn howto_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<site::Site, site::SiteError> {
    let mut value: serde_json::Value = serde_json::from_str(HOWTO).unwrap();
    edit(&mut value);
    site::Site::parse(&value.to_string(), "edited.json")
}

fn redis1() -> Policy {
    Policy::from_site(&howto(), Some("redis1")).unwrap()
}

fn unusable(result: Result<impl std::fmt::Debug, Error>) -> Vec<String> {
    match result {
        Err(Error::Unusable { problems }) => problems,
        other => panic!("expected Error::Unusable, got {other:?}"),
    }
}

/// Lines that are neither comments nor blank nor block punctuation.
fn statements(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim();
            !(l.is_empty() || l.starts_with('#') || l == "}")
        })
        .collect()
}

#[test]
fn policy_of_redis1_follows_the_site() {
    let policy = redis1();
    assert_eq!(policy.host, "redis1");
    assert_eq!(policy.internal_interface, "em0");
    let carp = policy.carp.as_ref().unwrap();
    assert_eq!(carp.interface, "em1");
    assert_eq!(
        carp.vips,
        ["10.0.10.100".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(carp.redis_address.to_string(), "10.0.10.11");
    assert_eq!(policy.sync_interface.as_deref(), Some("em2"));
    assert_eq!(
        (policy.bus_ports.first, policy.bus_ports.last),
        (17000, 17100)
    );
    let allow: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
    assert_eq!(allow, ["192.168.1.50", "192.168.1.51"]);
    assert_eq!(policy.cluster_addresses.len(), 9, "3 hosts x 3 interfaces");
}

#[test]
fn each_host_redirects_to_its_own_address() {
    let site = howto();
    for (name, address) in [("redis2", "10.0.10.12"), ("redis3", "10.0.10.13")] {
        let policy = Policy::from_site(&site, Some(name)).unwrap();
        let text = pf::render(&policy);
        assert!(
            text.contains(&format!("redis_addr = \"{address}\"")),
            "{name}: {text}"
        );
        let text = nft::render(&policy).unwrap();
        assert!(text.contains(&format!("dnat ip to {address}\n")), "{name}");
    }
}

#[test]
fn several_hosts_need_a_host_name_and_the_error_lists_them() {
    let err = Policy::from_site(&howto(), None).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::HostRequired { .. }));
    assert!(message.contains("--host"), "{message}");
    assert!(message.contains("redis1, redis2, redis3"), "{message}");
}

#[test]
fn a_single_host_is_used_without_a_name() {
    let site = howto_with(|v| {
        let first = v["hosts"][0].clone();
        v["hosts"] = serde_json::json!([first]);
        v["cluster"]["replicas"] = 0.into();
        v["cluster"]["ports"] = serde_json::json!([7000, 7001, 7002]);
    })
    .unwrap();
    assert_eq!(Policy::from_site(&site, None).unwrap().host, "redis1");
}

#[test]
fn unknown_host_is_named_with_the_known_ones() {
    let message = Policy::from_site(&howto(), Some("redis9"))
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("unknown host 'redis9'"), "{message}");
    assert!(message.contains("redis1, redis2, redis3"), "{message}");
}

#[test]
fn a_site_without_firewall_section_is_refused() {
    let site = howto_with(|v| {
        v.as_object_mut().unwrap().remove("firewall");
    })
    .unwrap();
    let err = Policy::from_site(&site, Some("redis1")).unwrap_err();
    assert!(matches!(err, Error::NoFirewall));
    assert!(allowlist(&site).is_err());
}

#[test]
fn pf_sections_come_in_the_order_pfctl_requires() {
    let text = pf::render(&redis1());
    let positions: Vec<usize> = [
        "### Macros and tables",
        "### Options",
        "### Normalization",
        "### Translation",
        "### Filtering",
    ]
    .iter()
    .map(|heading| {
        text.find(heading)
            .unwrap_or_else(|| panic!("{heading} missing"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // Each statement kind sits in its own section.
    let section_of = |needle: &str| {
        let at = text.find(needle).unwrap();
        positions.iter().filter(|&&p| p < at).count()
    };
    assert_eq!(section_of("table <redis_allow>"), 1);
    assert_eq!(section_of("set skip on lo0"), 2);
    assert_eq!(section_of("scrub in all"), 3);
    assert_eq!(section_of("rdr on $carp_if"), 4);
    assert_eq!(section_of("pass out keep state"), 5);
}

#[test]
fn every_statement_follows_a_comment() {
    let policy = redis1();
    for text in [pf::render(&policy), nft::render(&policy).unwrap()] {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in statements(&text) {
            // The header lines inside a set or chain block belong to the comment above the
            // block's opening line.
            let block_header = ["type ", "flags ", "auto-merge", "elements "]
                .iter()
                .any(|p| line.trim_start().starts_with(p));
            if block_header {
                continue;
            }
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "no comment before line {}: {line}\n{text}",
                i + 1
            );
        }
    }
}

#[test]
fn pf_keeps_the_howtos_rules_and_closes_the_bus() {
    let text = pf::render(&redis1());
    for rule in [
        "table <redis_allow> persist file \"/etc/redis_allow\"\n",
        "rdr on $carp_if proto tcp from any to $vip port $client_ports -> $redis_addr\n",
        "block in on $int_if proto tcp from any to any port $client_ports\n",
        "pass in on $int_if proto tcp from <redis_allow> to any port $client_ports keep state\n",
        "block in proto tcp from any to any port $bus_ports\n",
        "pass in proto tcp from <redis_cluster> to any port $bus_ports keep state\n",
        "pass on $carp_if proto carp keep state (no-sync)\n",
        "pass quick on $sync_if proto pfsync keep state (no-sync)\n",
        "pass out keep state\n",
        "client_ports = \"7000:7100\"\n",
        "bus_ports = \"17000:17100\"\n",
    ] {
        assert!(text.contains(rule), "missing {rule:?}");
    }
    // The pass for the allow table must come after its block: the last match wins.
    let block = text.find("block in on $int_if").unwrap();
    let pass = text.find("pass in on $int_if").unwrap();
    assert!(block < pass);
    let bus_block = text.find("block in proto tcp").unwrap();
    let bus_pass = text
        .find("pass in proto tcp from <redis_cluster> to any port $bus")
        .unwrap();
    assert!(bus_block < bus_pass);
    // The cluster's hosts reach the client ports on every interface, after the internal block.
    assert!(
        block
            < text
                .find("pass in proto tcp from <redis_cluster> to any port $client")
                .unwrap()
    );
    assert!(
        !text.contains("block in all"),
        "guard-redis must not close other ports"
    );
}

/// The how-to's site with `firewall.inbound` "default-deny" and SSH as the admin port.
fn redis1_default_deny() -> Policy {
    let site = howto_with(|v| {
        v["firewall"]["inbound"] = "default-deny".into();
        v["firewall"]["admin_ports"] = serde_json::json!([22]);
    })
    .unwrap();
    Policy::from_site(&site, Some("redis1")).unwrap()
}

// Issue "hardened, round two" item 11: default-deny leaves the CARP network and the allow
// table as the only ways in, in both formats.
#[test]
fn default_deny_closes_everything_the_rules_do_not_name() {
    let pf = pf::render(&redis1_default_deny());
    let block_all = pf.find("block in all\n").expect("pf: no block in all");
    assert!(pf.contains("admin_ports = \"{ 22 }\"\n"));
    for rule in [
        "pass in on $int_if proto tcp from <redis_allow> to any port $admin_ports keep state\n",
        "pass in on $int_if proto tcp from <redis_allow> to any port $client_ports keep state\n",
        "pass in on $carp_if proto tcp from any to $redis_addr port $client_ports keep state\n",
        "pass quick on $sync_if proto pfsync keep state (no-sync)\n",
    ] {
        let at = pf
            .find(rule)
            .unwrap_or_else(|| panic!("pf: missing {rule:?}"));
        assert!(
            block_all < at,
            "pf: {rule:?} before the block that it excepts"
        );
    }
    // Nothing passes to the client ports on the sync link or on unnamed interfaces: every pass
    // to them names the internal or the CARP interface, or the cluster's hosts.
    for line in pf
        .lines()
        .filter(|l| l.starts_with("pass") && l.contains("$client_ports"))
    {
        assert!(
            line.contains("on $int_if")
                || line.contains("on $carp_if")
                || line.contains("<redis_cluster>"),
            "pf: {line}"
        );
    }

    let nft = nft::render(&redis1_default_deny()).unwrap();
    assert!(nft.contains("type filter hook input priority filter; policy drop;"));
    assert!(
        nft.contains("iifname \"em0\" tcp dport 22 ip saddr @redis_allow accept"),
        "{nft}"
    );
    for line in nft
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("dport 7000-7100") && l.ends_with("accept"))
    {
        assert!(
            line.starts_with("iifname \"em1\"")
                || line.starts_with("iifname \"em0\"")
                || line.contains("@redis_cluster"),
            "nft: {line}"
        );
    }
    // Guard-redis (the default) keeps the accepting chain.
    let open = nft::render(&redis1()).unwrap();
    assert!(open.contains("type filter hook input priority filter; policy accept;"));
    assert!(!open.contains("dport 22"));
}

#[test]
fn single_port_ranges_are_written_as_one_port() {
    let site = howto_with(|v| {
        v["firewall"]["client_ports"] = serde_json::json!([7000, 7000]);
        v["cluster"]["ports"] = serde_json::json!([7000]);
        v["cluster"]["replicas"] = 0.into();
    })
    .unwrap();
    let policy = Policy::from_site(&site, Some("redis1")).unwrap();
    let pf = pf::render(&policy);
    assert!(pf.contains("client_ports = \"7000\"\n") && pf.contains("bus_ports = \"17000\"\n"));
    let nft = nft::render(&policy).unwrap();
    assert!(nft.contains("tcp dport 17000 drop\n"), "{nft}");
}

#[test]
fn without_carp_and_pfsync_their_rules_are_left_out() {
    let site = howto_with(|v| {
        let object = v.as_object_mut().unwrap();
        object.remove("carp");
        object.remove("pfsync");
    })
    .unwrap();
    let policy = Policy::from_site(&site, Some("redis1")).unwrap();
    let pf = pf::render(&policy);
    for absent in ["carp_if", "sync_if", "rdr ", "$vip"] {
        assert!(!pf.contains(absent), "{absent} in\n{pf}");
    }
    assert!(pf.contains("### Translation\n# The site has no CARP virtual IP"));
    let nft = nft::render(&policy).unwrap();
    for absent in ["dnat", "prerouting", "vrrp", "protocol 240"] {
        assert!(!nft.contains(absent), "{absent} in\n{nft}");
    }
}

#[test]
fn output_is_the_same_bytes_whatever_the_order_of_the_allow_list() {
    let reordered = howto_with(|v| {
        v["firewall"]["allow"] =
            serde_json::json!(["192.168.1.51", "192.168.1.50", "192.168.1.51"]);
    })
    .unwrap();
    let reordered = Policy::from_site(&reordered, Some("redis1")).unwrap();
    let policy = redis1();
    assert_eq!(pf::render(&policy), pf::render(&reordered));
    assert_eq!(
        nft::render(&policy).unwrap(),
        nft::render(&reordered).unwrap()
    );
    assert_eq!(pf::render(&policy), pf::render(&redis1()));
}

#[test]
fn nft_replaces_only_its_own_table() {
    let text = nft::render(&redis1()).unwrap();
    assert!(!text.contains("flush ruleset"));
    let declare = text.find("\ntable inet redis_cluster\n").unwrap();
    let delete = text.find("\ndelete table inet redis_cluster\n").unwrap();
    let define = text.find("\ntable inet redis_cluster {\n").unwrap();
    assert!(declare < delete && delete < define);
    assert_eq!(text.matches("\ntable ").count(), 2, "one table only");
}

#[test]
fn nft_orders_each_exception_before_its_drop() {
    let text = nft::render(&redis1()).unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    assert!(
        at("iifname \"em0\" tcp dport 7000-7100 ip saddr @redis_allow accept")
            < at("iifname \"em0\" tcp dport 7000-7100 drop")
    );
    assert!(
        at("tcp dport 17000-17100 ip saddr @redis_cluster accept")
            < at("tcp dport 17000-17100 drop")
    );
    assert!(
        at("iifname \"em1\" ip daddr 10.0.10.100 tcp dport 7000-7100 dnat ip to 10.0.10.11")
            < at("chain input")
    );
}

#[test]
fn nft_declares_an_empty_allow_set_without_elements() {
    let site = howto_with(|v| v["firewall"]["allow"] = serde_json::json!([])).unwrap();
    let text = nft::render(&Policy::from_site(&site, Some("redis1")).unwrap()).unwrap();
    let set = &text[text.find("set redis_allow {").unwrap()..];
    let set = &set[..set.find('}').unwrap()];
    assert!(!set.contains("elements"), "{set}");
}

#[test]
fn nft_refuses_ipv6_and_names_the_field() {
    let site = howto_with(|v| v["firewall"]["allow"] = serde_json::json!(["2001:db8::5"])).unwrap();
    let policy = Policy::from_site(&site, Some("redis1")).unwrap();
    let problems = unusable(nft::render(&policy));
    assert_eq!(
        problems,
        ["firewall.allow: IPv6 '2001:db8::5' is not supported by the nft output yet; use --format pf, or IPv4 addresses"]
    );
    assert!(pf::render(&policy).contains("table <redis_allow>"));
}

#[test]
fn allowlist_has_a_header_then_one_entry_per_line() {
    let site = howto_with(|v| {
        v["firewall"]["allow"] = serde_json::json!([
            "192.168.1.51",
            "10.1.0.0/16",
            "192.168.1.50",
            "192.168.1.51"
        ]);
    })
    .unwrap();
    let text = allowlist(&site).unwrap();
    let (header, entries): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('#'));
    assert!(!header.is_empty() && text.starts_with('#'));
    assert_eq!(entries, ["10.1.0.0/16", "192.168.1.50", "192.168.1.51"]);
    assert!(text.ends_with('\n'));
}

#[test]
fn vip_and_redirect_target_must_be_of_one_ip_version() {
    let site = howto_with(|v| {
        v["cluster"]["bind_interface"] = "em3".into();
        for (i, host) in v["hosts"].as_array_mut().unwrap().iter_mut().enumerate() {
            host["addresses"]["em3"] = format!("2001:db8::1{i}/64").into();
        }
    })
    .unwrap();
    let problems = unusable(Policy::from_site(&site, Some("redis1")));
    assert!(
        problems[0].starts_with(
            "carp.vip: '10.0.10.100' and the address '2001:db8::10' of host 'redis1' on em3"
        ),
        "{problems:?}"
    );
}

#[test]
fn redirect_goes_to_the_address_the_instances_bind_to() {
    // When the instances bind to another interface than the CARP one, the redirect must
    // follow them, not take the CARP interface's own address.
    let site = howto_with(|v| v["cluster"]["bind_interface"] = "em2".into()).unwrap();
    let policy = Policy::from_site(&site, Some("redis1")).unwrap();
    assert!(pf::render(&policy).contains(
        "# This host's own address on em2, where its Redis instances listen.\nredis_addr = \"10.0.20.11\"\n"
    ));
    assert!(nft::render(&policy).unwrap().contains(
        "iifname \"em1\" ip daddr 10.0.10.100 tcp dport 7000-7100 dnat ip to 10.0.20.11\n"
    ));
}

mod rcconf {
    use super::*;
    use crate::rcconf::rc_lines;

    fn lines_of(site: &site::Site, file: &str) -> Vec<String> {
        rc_lines(site, "redis2")
            .unwrap()
            .into_iter()
            .filter(|l| l.file == file)
            .map(|l| l.line)
            .collect()
    }

    #[test]
    fn the_howto_host_loads_and_enables_pf_and_pfsync_on_the_sync_link() {
        let site = howto();
        assert_eq!(
            lines_of(&site, "/boot/loader.conf"),
            ["pf_load=\"YES\"", "pfsync_load=\"YES\""]
        );
        assert_eq!(
            lines_of(&site, "/etc/rc.conf.d/pf"),
            [
                "pf_enable=\"YES\"",
                "pf_rules=\"/etc/pf.conf\"",
                "pfsync_enable=\"YES\"",
                "pfsync_syncdev=\"em2\""
            ]
        );
        assert_eq!(
            lines_of(&site, "/etc/rc.conf.d/network"),
            [
                "# Interfaces of redis2, from the site description.",
                "ifconfig_em0=\"inet 192.168.1.12/24\"",
                "ifconfig_em1=\"inet 10.0.10.12/24\"",
                "ifconfig_em2=\"inet 10.0.20.12/24\""
            ]
        );
    }

    #[test]
    fn without_pfsync_nothing_of_pfsync_is_written() {
        let site = howto_with(|v| {
            v.as_object_mut().unwrap().remove("pfsync");
        })
        .unwrap();
        let all = rc_lines(&site, "redis2").unwrap();
        assert!(all.iter().all(|l| !l.line.contains("pfsync")), "{all:?}");
        assert_eq!(lines_of(&site, "/boot/loader.conf"), ["pf_load=\"YES\""]);
    }

    #[test]
    fn a_site_without_firewall_or_host_is_refused() {
        let site = howto_with(|v| {
            v.as_object_mut().unwrap().remove("firewall");
        })
        .unwrap();
        assert!(matches!(rc_lines(&site, "redis2"), Err(Error::NoFirewall)));
        let error = rc_lines(&howto(), "redis9").unwrap_err();
        assert!(
            error.to_string().contains("unknown host 'redis9'"),
            "{error}"
        );
    }
}

#[test]
fn every_carp_groups_vip_is_redirected_to_the_hosts_instances() {
    let site = howto_with(|v| {
        v["carp"]["groups"] = serde_json::json!([
            {"vhid": 11, "vip": "10.0.10.101/24", "master": "redis2"},
            {"vhid": 12, "vip": "10.0.10.102/24", "master": "redis3"}
        ]);
    })
    .unwrap();
    let policy = Policy::from_site(&site, Some("redis2")).unwrap();
    let text = nft::render(&policy).unwrap();
    assert!(
        text.contains("ip daddr { 10.0.10.100, 10.0.10.101, 10.0.10.102 } tcp dport 7000-7100 dnat ip to 10.0.10.12"),
        "{text}"
    );
    let text = pf::render(&policy);
    assert!(
        text.contains("vip = \"{ 10.0.10.100, 10.0.10.101, 10.0.10.102 }\""),
        "{text}"
    );
}
