//! Cross-checks between fields of a site document that serde cannot express. Every problem
//! is collected, so one run tells the operator everything to fix.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::{Problem, Site};

/// Redis Cluster needs at least this many masters to hold a majority after losing one.
const MIN_MASTERS: usize = 3;
/// The cluster bus of an instance listens on its port plus this offset.
pub const BUS_PORT_OFFSET: u32 = 10_000;

/// Returns every problem in `site`; an empty list means it is usable.
pub fn validate(site: &Site) -> Vec<Problem> {
    let mut problems = Vec::new();
    if site.schema != 1 {
        problems.push(Problem::new(
            "schema",
            format!(
                "unsupported schema {}; this version reads schema 1",
                site.schema
            ),
        ));
    }
    check_cluster(site, &mut problems);
    check_hosts(site, &mut problems);
    check_carp(site, &mut problems);
    check_firewall(site, &mut problems);
    problems
}

fn check_port(path: String, port: u16, problems: &mut Vec<Problem>) {
    let bus = u32::from(port) + BUS_PORT_OFFSET;
    if port == 0 {
        problems.push(Problem::new(path, "port 0 is not a usable port"));
    } else if bus > 65_535 {
        problems.push(Problem::new(
            path,
            format!("port {port} has cluster bus port {bus}, above 65535; use ports up to 55535"),
        ));
    }
}

fn check_cluster(site: &Site, problems: &mut Vec<Problem>) {
    let cluster = &site.cluster;
    if cluster.ports.is_empty() {
        problems.push(Problem::new(
            "cluster.ports",
            "no ports: list one port per instance",
        ));
    }
    for (i, &port) in cluster.ports.iter().enumerate() {
        check_port(format!("cluster.ports[{i}]"), port, problems);
        if cluster.ports[..i].contains(&port) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!("port {port} is listed twice"),
            ));
        }
    }
    if cluster.node_timeout_ms == 0 {
        problems.push(Problem::new(
            "cluster.node_timeout_ms",
            "must be above 0 (the how-to uses 5000)",
        ));
    }
    let nodes = site.hosts.len() * cluster.ports.len();
    let per_master = cluster.replicas as usize + 1;
    if nodes > 0 && nodes / per_master < MIN_MASTERS {
        problems.push(Problem::new(
            "cluster.replicas",
            format!(
                "{nodes} instances with {} replicas per master give {} masters; Redis Cluster needs at least {MIN_MASTERS}",
                cluster.replicas,
                nodes / per_master
            ),
        ));
    }
}

/// Interfaces that every host must have an address on, with the field that names each.
fn required_interfaces(site: &Site) -> Vec<(&'static str, &str)> {
    let mut required = vec![(
        "cluster.bind_interface",
        site.cluster.bind_interface.as_str(),
    )];
    if let Some(carp) = &site.carp {
        required.push(("carp.interface", carp.interface.as_str()));
    }
    if let Some(pfsync) = &site.pfsync {
        required.push(("pfsync.interface", pfsync.interface.as_str()));
    }
    if let Some(firewall) = &site.firewall {
        required.push((
            "firewall.internal_interface",
            firewall.internal_interface.as_str(),
        ));
    }
    required
}

fn check_hosts(site: &Site, problems: &mut Vec<Problem>) {
    if site.hosts.is_empty() {
        problems.push(Problem::new("hosts", "no hosts: list at least one"));
    }
    let required = required_interfaces(site);
    let mut seen_addresses: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (i, host) in site.hosts.iter().enumerate() {
        let valid_name = !host.name.is_empty()
            && host
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            problems.push(Problem::new(
                format!("hosts[{i}].name"),
                format!(
                    "invalid host name '{}': use letters, digits, '-', '_' and '.'",
                    host.name
                ),
            ));
        }
        if let Some(first) = site.hosts[..i].iter().position(|h| h.name == host.name) {
            problems.push(Problem::new(
                format!("hosts[{i}].name"),
                format!(
                    "host name '{}' is already used by hosts[{first}]",
                    host.name
                ),
            ));
        }
        if host.advskew > 254 {
            problems.push(Problem::new(
                format!("hosts[{i}].advskew"),
                format!("advskew {} is out of range 0-254", host.advskew),
            ));
        }
        for (field, interface) in &required {
            if host.address(interface).is_none() {
                problems.push(Problem::new(
                    format!("hosts[{i}].addresses"),
                    format!(
                        "host '{}' has no address on interface '{interface}' (named by {field})",
                        host.name
                    ),
                ));
            }
        }
        for (interface, cidr) in &host.addresses {
            let path = format!("hosts[{i}].addresses.{interface}");
            if cidr.addr() == cidr.network().addr() && cidr.prefix_len() < 31 {
                problems.push(Problem::new(
                    &path,
                    format!("{cidr} is a network address, not a host address"),
                ));
            }
            if let Some(other) = seen_addresses.insert(cidr.addr(), path.clone()) {
                problems.push(Problem::new(
                    path,
                    format!("address {} is also used at {other}", cidr.addr()),
                ));
            }
        }
    }
}

fn check_carp(site: &Site, problems: &mut Vec<Problem>) {
    let Some(carp) = &site.carp else { return };
    if carp.vhid == 0 {
        problems.push(Problem::new("carp.vhid", "vhid 0 is invalid; use 1-255"));
    }
    if carp.advbase == 0 {
        problems.push(Problem::new(
            "carp.advbase",
            "advbase 0 is invalid; use 1-255 seconds",
        ));
    }
    if carp.carpver.is_some_and(|v| v != 2 && v != 3) {
        problems.push(Problem::new(
            "carp.carpver",
            format!(
                "{} is not a protocol version; use 2 (CARP) or 3 (VRRPv3)",
                carp.carpver.unwrap_or(0)
            ),
        ));
    }
    if let Some(cs) = carp.vrrpinterval.filter(|cs| !(1..=4095).contains(cs)) {
        problems.push(Problem::new(
            "carp.vrrpinterval",
            format!("{cs} is out of range; use 1-4095 centiseconds"),
        ));
    }
    for (i, host) in site.hosts.iter().enumerate() {
        if let Some(p) = host.vrrpprio.filter(|p| !(1..=254).contains(p)) {
            problems.push(Problem::new(
                format!("hosts[{i}].vrrpprio"),
                format!("{p} is out of range; use 1-254"),
            ));
        }
    }
    for (i, peer) in carp.peers.iter().enumerate() {
        let known = site.hosts.iter().any(|h| {
            h.address(&carp.interface)
                .is_some_and(|a| a.addr() == *peer)
        });
        if !known {
            problems.push(Problem::new(
                format!("carp.peers[{i}]"),
                format!(
                    "{peer} is no host's address on {}; list the nodes' own addresses there",
                    carp.interface
                ),
            ));
        }
    }
    if carp.pass_file.as_os_str().is_empty() {
        problems.push(Problem::new(
            "carp.pass_file",
            "empty path: name the file that holds the password",
        ));
    }
    for (i, host) in site.hosts.iter().enumerate() {
        let Some(own) = host.address(&carp.interface) else {
            continue;
        };
        if !own.network().contains(&carp.vip.addr()) {
            problems.push(Problem::new(
                "carp.vip",
                format!(
                    "{} is not in the subnet {} of hosts[{i}] ('{}') on {}",
                    carp.vip.addr(),
                    own.network(),
                    host.name,
                    carp.interface
                ),
            ));
        }
        if own.addr() == carp.vip.addr() {
            problems.push(Problem::new(
                "carp.vip",
                format!(
                    "{} is also the own address of hosts[{i}] ('{}'); the VIP must be an unused address",
                    carp.vip.addr(),
                    host.name
                ),
            ));
        }
    }
}

fn check_firewall(site: &Site, problems: &mut Vec<Problem>) {
    let Some(firewall) = &site.firewall else {
        return;
    };
    let range = firewall.client_ports;
    if range.first > range.last {
        problems.push(Problem::new(
            "firewall.client_ports",
            format!(
                "range [{}, {}] is reversed; write [{}, {}]",
                range.first, range.last, range.last, range.first
            ),
        ));
        return;
    }
    check_port("firewall.client_ports".into(), range.first, problems);
    check_port("firewall.client_ports".into(), range.last, problems);
    for (i, &port) in site.cluster.ports.iter().enumerate() {
        if !range.contains(port) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!("port {port} lies outside firewall.client_ports {range}, so the firewall would not guard it"),
            ));
        }
    }
    if firewall.allow_file.as_os_str().is_empty() {
        problems.push(Problem::new(
            "firewall.allow_file",
            "empty path: name the allow table file",
        ));
    }
}
