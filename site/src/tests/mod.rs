//! Unit tests of reading a site: the how-to's document and single mistakes in it. Hostile
//! input (injection, oversized, malformed) has its own file, `hostile.rs`.

mod hostile;

use super::*;

const HOWTO: &str = include_str!("../../examples/howto.json");

fn howto_value() -> serde_json::Value {
    serde_json::from_str(HOWTO).unwrap()
}

/// Parses `value` and returns its problems as `path: message` lines.
fn problems_of(value: &serde_json::Value) -> Vec<String> {
    match Site::parse(&value.to_string(), "test.json") {
        Ok(_) => Vec::new(),
        Err(SiteError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn assert_problem(value: &serde_json::Value, expected: &str) {
    let problems = problems_of(value);
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got {problems:?}"
    );
}

#[test]
fn howto_site_is_valid() {
    let site = Site::parse(HOWTO, "howto.json").unwrap();
    assert_eq!(site.hosts.len(), 3);
    assert_eq!(site.carp.as_ref().unwrap().vhid, 10);
    assert_eq!(site.host("redis2").unwrap().advskew, 100);
}

#[test]
fn nodes_are_bind_address_times_ports_in_host_order() {
    let site = Site::parse(HOWTO, "howto.json").unwrap();
    let nodes: Vec<String> = site
        .nodes()
        .iter()
        .map(|n| format!("{} {}", n.host, n.addr))
        .collect();
    assert_eq!(
        nodes,
        [
            "redis1 10.0.10.11:7000",
            "redis1 10.0.10.11:7001",
            "redis2 10.0.10.12:7000",
            "redis2 10.0.10.12:7001",
            "redis3 10.0.10.13:7000",
            "redis3 10.0.10.13:7001"
        ]
    );
}

#[test]
fn unknown_host_lists_the_known_ones() {
    let site = Site::parse(HOWTO, "howto.json").unwrap();
    let err = site.host("redis9").unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown host 'redis9'; the site defines: redis1, redis2, redis3"
    );
}

#[test]
fn invalid_cidr_names_its_path_and_value() {
    let mut v = howto_value();
    v["hosts"][1]["addresses"]["em1"] = "10.0.10.300/24".into();
    let problems = problems_of(&v);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("hosts[1].addresses.em1: invalid CIDR '10.0.10.300/24'"),
        "{problems:?}"
    );
}

#[test]
fn unknown_field_is_rejected_with_its_path() {
    let mut v = howto_value();
    v["carp"]["advksew"] = 5.into();
    assert_problem(
        &v,
        "carp.advksew: unknown field; carp has: interface, vhid, advbase, vip, pass_file, preempt",
    );
}

#[test]
fn unknown_field_near_a_known_one_is_named_with_it() {
    let mut v = howto_value();
    v["hosts"][0]["advksew"] = 5.into();
    assert_problem(
        &v,
        "hosts[0].advksew: unknown field; did you mean 'advskew'? a host has: name, advskew, addresses, vrrpprio",
    );
}

#[test]
fn missing_interface_address_names_host_and_field() {
    let mut v = howto_value();
    v["hosts"][2]["addresses"]
        .as_object_mut()
        .unwrap()
        .remove("em2");
    assert_problem(
        &v,
        "hosts[2].addresses: host 'redis3' has no address on interface 'em2' (named by pfsync.interface)",
    );
}

#[test]
fn vip_outside_the_carp_subnet_is_refused() {
    let mut v = howto_value();
    v["carp"]["vip"] = "10.0.20.100/24".into();
    assert_problem(
        &v,
        "carp.vip: 10.0.20.100 is not in the subnet 10.0.10.0/24 of hosts[0] ('redis1') on em1",
    );
}

#[test]
fn preempt_delay_is_read_range_checked_and_needs_preempt() {
    let mut v = howto_value();
    assert_eq!(problems_of(&v), Vec::<String>::new());
    let site = Site::parse(&v.to_string(), "howto.json").unwrap();
    assert_eq!(site.carp.unwrap().preempt_delay, None, "absent: no delay");
    v["carp"]["preempt_delay"] = 30.into();
    let site = Site::parse(&v.to_string(), "delay.json").unwrap();
    assert_eq!(site.carp.unwrap().preempt_delay, Some(30));
    v["carp"]["preempt_delay"] = 3601.into();
    assert_problem(
        &v,
        "carp.preempt_delay: expected a number from 0 to 3600 (seconds), got 3601",
    );
    v["carp"]["preempt_delay"] = "30s".into();
    assert_problem(
        &v,
        "carp.preempt_delay: expected a number from 0 to 3600 (seconds), got \"30s\"",
    );
    v["carp"]["preempt_delay"] = 30.into();
    v["carp"]["preempt"] = false.into();
    assert_problem(
        &v,
        "carp.preempt_delay: a preempt delay without \"preempt\": true delays nothing",
    );
    v["carp"]["preempt_delay"] = 0.into();
    assert_eq!(problems_of(&v), Vec::<String>::new(), "0 is no delay");
}

#[test]
fn garp_refresh_is_read_and_range_checked() {
    let mut v = howto_value();
    let site = Site::parse(&v.to_string(), "howto.json").unwrap();
    assert_eq!(site.carp.unwrap().garp_refresh, None, "absent: no refresh");
    v["carp"]["garp_refresh"] = 60.into();
    let site = Site::parse(&v.to_string(), "refresh.json").unwrap();
    assert_eq!(site.carp.unwrap().garp_refresh, Some(60));
    v["carp"]["garp_refresh"] = 3601.into();
    assert_problem(
        &v,
        "carp.garp_refresh: expected a number from 0 to 3600 (seconds), got 3601",
    );
    v["carp"]["garp_refresh"] = 0.into();
    assert_eq!(problems_of(&v), Vec::<String>::new(), "0 is no refresh");
}

#[test]
fn vrrp_fields_are_read_and_range_checked() {
    let mut v = howto_value();
    v["carp"]["carpver"] = 3.into();
    v["carp"]["vrrpinterval"] = 20.into();
    v["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.12"]);
    v["hosts"][0]["vrrpprio"] = 200.into();
    let site = Site::parse(&v.to_string(), "vrrp.json").unwrap();
    let carp = site.carp.as_ref().unwrap();
    assert_eq!((carp.carpver, carp.vrrpinterval), (Some(3), Some(20)));
    assert_eq!(carp.peers.len(), 2);
    assert_eq!(site.hosts[0].vrrpprio, Some(200));
    assert_eq!(site.hosts[1].vrrpprio, None);

    v["carp"]["carpver"] = 4.into();
    v["carp"]["vrrpinterval"] = 0.into();
    v["carp"]["peers"] = serde_json::json!(["10.0.10.11", "10.0.10.99"]);
    v["hosts"][1]["vrrpprio"] = 255.into();
    let problems = problems_of(&v);
    for expected in [
        "carp.carpver: expected a number from 2 to 3 (2 CARP, 3 VRRPv3), got 4",
        "carp.vrrpinterval: expected a number from 1 to 4095 (centiseconds), got 0",
        "hosts[1].vrrpprio: expected a number from 1 to 254 (VRRPv3 priority), got 255",
        "carp.peers[1]: 10.0.10.99 is no host's address on em1",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected {expected:?} in {problems:?}"
        );
    }
    v["carp"]["vrrpinterval"] = 4096.into();
    assert_problem(
        &v,
        "carp.vrrpinterval: expected a number from 1 to 4095 (centiseconds), got 4096",
    );
    v["carp"]["peers"] = serde_json::json!(["10.0.10.11", "not-an-address"]);
    assert_problem(&v, "carp.peers[1]: invalid address 'not-an-address'");
}

#[test]
fn duplicate_names_and_addresses_are_refused() {
    let mut v = howto_value();
    v["hosts"][1]["name"] = "redis1".into();
    v["hosts"][2]["addresses"]["em0"] = "192.168.1.11/24".into();
    assert_problem(
        &v,
        "hosts[1].name: host name 'redis1' is already used by hosts[0]",
    );
    assert_problem(
        &v,
        "hosts[2].addresses.em0: address 192.168.1.11 is also used at hosts[0].addresses.em0",
    );
}

#[test]
fn bus_port_past_65535_is_refused() {
    let mut v = howto_value();
    v["cluster"]["ports"] = serde_json::json!([7000, 60000]);
    assert_problem(
        &v,
        "cluster.ports[1]: port 60000 has cluster bus port 70000, above 65535",
    );
}

#[test]
fn reversed_client_ports_are_refused() {
    let mut v = howto_value();
    v["firewall"]["client_ports"] = serde_json::json!([7100, 7000]);
    assert_problem(&v, "firewall.client_ports: range [7100, 7000] is reversed");
}

#[test]
fn instance_port_outside_the_firewall_range_is_refused() {
    let mut v = howto_value();
    v["cluster"]["ports"] = serde_json::json!([7000, 7200]);
    assert_problem(
        &v,
        "cluster.ports[1]: port 7200 lies outside firewall.client_ports 7000-7100",
    );
}

#[test]
fn too_few_masters_is_refused() {
    let mut v = howto_value();
    v["cluster"]["replicas"] = 2.into();
    assert_problem(
        &v,
        "cluster.replicas: 6 instances with 2 replicas per master give 2 masters",
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let mut v = howto_value();
    v["schema"] = 2.into();
    v["carp"]["vhid"] = 0.into();
    v["hosts"][0]["advskew"] = 255.into();
    assert_eq!(problems_of(&v).len(), 3, "{:?}", problems_of(&v));
}

#[test]
fn allow_entries_accept_addresses_and_networks() {
    let mut v = howto_value();
    v["firewall"]["allow"] = serde_json::json!(["192.168.1.50", "192.168.2.0/24"]);
    let site = Site::parse(&v.to_string(), "t").unwrap();
    let shown: Vec<String> = site
        .firewall
        .unwrap()
        .allow
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["192.168.1.50", "192.168.2.0/24"]);
    v["firewall"]["allow"] = serde_json::json!(["192.168.2.7/24"]);
    assert_problem(&v, "firewall.allow[0]: '192.168.2.7/24' has host bits set; write the network as '192.168.2.0/24'");
}

#[test]
fn malformed_json_is_reported_with_a_position() {
    let err = Site::parse("{\"schema\": 1,", "broken.json")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "broken.json: not valid JSON at line 1, column 13: the text ends before the document \
         does (an object, array or string is not closed)"
    );
    let err = Site::parse("{\"schema\": 1 \"cluster\": {}}", "broken.json")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "broken.json: not valid JSON at line 1, column 14: expected `,` or `}`"
    );
}

#[test]
fn bus_range_shifts_both_ends_by_the_bus_offset() {
    let range = PortRange {
        first: 7000,
        last: 7100,
    };
    assert_eq!(
        range.bus_range(),
        Some(PortRange {
            first: 17000,
            last: 17100
        })
    );
    let too_high = PortRange {
        first: 55_000,
        last: 55_536,
    };
    assert_eq!(too_high.bus_range(), None);
}

/// The how-to's site made active/active: redis2 and redis3 each the master of a group.
fn active_active() -> serde_json::Value {
    let mut value = howto_value();
    value["carp"]["groups"] = serde_json::json!([
        {"vhid": 11, "vip": "10.0.10.101/24", "master": "redis2"},
        {"vhid": 12, "vip": "10.0.10.102/24", "master": "redis3"}
    ]);
    value
}

#[test]
fn groups_give_every_host_a_rank_in_every_group() {
    let site = Site::parse(&active_active().to_string(), "t.json").unwrap();
    let groups = site.carp_groups();
    let summary: Vec<(u8, &str, bool)> = groups
        .iter()
        .map(|g| (g.vhid, g.master, g.derived))
        .collect();
    assert_eq!(
        summary,
        [
            (10, "redis1", false),
            (11, "redis2", true),
            (12, "redis3", true)
        ]
    );
    let skews = |vhid| -> Vec<(u8, Option<u8>)> {
        let group = site.carp_group(vhid).unwrap();
        ["redis1", "redis2", "redis3"]
            .iter()
            .map(|h| {
                let s = site.standing(&group, h).unwrap();
                (s.advskew, s.vrrpprio)
            })
            .collect()
    };
    // The main group keeps the hosts' own values; a derived one ranks from its master on.
    assert_eq!(skews(10), [(0, None), (100, None), (200, None)]);
    assert_eq!(
        skews(11),
        [(50, Some(204)), (0, Some(254)), (25, Some(229))]
    );
    assert_eq!(
        skews(12),
        [(25, Some(229)), (50, Some(204)), (0, Some(254))]
    );
    assert!(site
        .standing(&site.carp_group(11).unwrap(), "redis9")
        .is_none());
}

#[test]
fn single_vip_site_has_one_group() {
    let site = Site::parse(HOWTO, "howto.json").unwrap();
    assert_eq!(site.carp_groups().len(), 1);
    assert!(site.carp_group(11).is_none());
}

#[test]
fn groups_refuse_a_reused_vhid_or_vip_and_unknown_or_twice_named_masters() {
    let mut value = active_active();
    value["carp"]["groups"][0]["vhid"] = 10.into();
    assert_problem(&value, "carp.groups[0].vhid: vhid 10 is also carp.vhid");
    let mut value = active_active();
    value["carp"]["groups"][1]["vip"] = "10.0.10.101/24".into();
    assert_problem(
        &value,
        "carp.groups[1].vip: 10.0.10.101 is also carp.groups[0].vip",
    );
    let mut value = active_active();
    value["carp"]["groups"][1]["vip"] = "10.0.99.1/24".into();
    assert_problem(&value, "carp.groups[1].vip: 10.0.99.1 is not in the subnet");
    let mut value = active_active();
    value["carp"]["groups"][1]["master"] = "redis9".into();
    assert_problem(&value, "carp.groups[1].master: 'redis9' is no host of the site; name one of: redis1, redis2, redis3");
    let mut value = active_active();
    value["carp"]["groups"][1]["master"] = "redis2".into();
    assert_problem(&value, "'redis2' is already the master of carp.groups[0]");
    let mut value = active_active();
    value["carp"]["groups"][0]["vhd"] = 3.into();
    assert_problem(
        &value,
        "carp.groups[0].vhd: unknown field; did you mean 'vhid'?",
    );
    let mut value = active_active();
    value["carp"]["groups"] = "all".into();
    assert_problem(&value, "carp.groups: expected a list of groups");
}
