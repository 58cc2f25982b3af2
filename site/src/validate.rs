//! Cross-checks between fields of a site document: what no single value can say wrong on its
//! own. They run on whatever part of the document could be read (a [`Draft`]), so a type
//! error in `carp` does not hide a host without an address; every problem is collected, so
//! one run tells the operator everything to fix.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::display::join;
use crate::model::{Carp, Cluster, Firewall, Host};
use crate::read::Draft;
use crate::Problem;

/// Redis Cluster needs at least this many masters to hold a majority after losing one.
pub const MIN_MASTERS: usize = 3;
/// The cluster bus of an instance listens on its port plus this offset.
pub const BUS_PORT_OFFSET: u32 = 10_000;

/// Adds every cross-field problem of `draft` to `problems`.
pub(crate) fn validate(draft: &Draft, problems: &mut Vec<Problem>) {
    let hosts = draft.hosts.as_deref();
    if let Some(cluster) = &draft.cluster {
        check_cluster(cluster, hosts.map_or(0, <[_]>::len), problems);
    }
    if let Some(hosts) = hosts {
        check_hosts(draft, hosts, problems);
    }
    check_interfaces_apart(draft, problems);
    if let (Some(carp), Some(hosts)) = (draft.carp.get(), hosts) {
        check_carp(carp, hosts, problems);
    }
    if let (Some(firewall), Some(cluster)) = (draft.firewall.get(), &draft.cluster) {
        check_firewall(firewall, cluster, problems);
    }
}

fn check_cluster(cluster: &Cluster, host_count: usize, problems: &mut Vec<Problem>) {
    if cluster.ports.is_empty() {
        problems.push(Problem::new(
            "cluster.ports",
            "no ports: list one port per instance",
        ));
    }
    let mut first_at: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, &port) in cluster.ports.iter().enumerate() {
        if let Some(first) = first_at.insert(port, i) {
            first_at.insert(port, first);
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!("port {port} is listed twice (also cluster.ports[{first}])"),
            ));
        }
    }
    for (i, &port) in cluster.ports.iter().enumerate() {
        let Some(client) = u32::from(port)
            .checked_sub(BUS_PORT_OFFSET)
            .and_then(|client| u16::try_from(client).ok())
        else {
            continue;
        };
        if let Some(&j) = first_at.get(&client) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!(
                    "port {port} is the cluster bus port of cluster.ports[{j}] ({client} + \
                     {BUS_PORT_OFFSET}); choose ports less than {BUS_PORT_OFFSET} apart"
                ),
            ));
        }
    }
    let nodes = host_count * cluster.ports.len();
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

/// Interfaces that every host must have an address on, with the field that names each; a
/// section that could not be read names none.
fn required_interfaces(draft: &Draft) -> Vec<(&'static str, &str)> {
    let mut required = Vec::new();
    if let Some(cluster) = &draft.cluster {
        required.push(("cluster.bind_interface", cluster.bind_interface.as_str()));
    }
    if let Some(carp) = draft.carp.get() {
        required.push(("carp.interface", carp.interface.as_str()));
    }
    if let Some(pfsync) = draft.pfsync.get() {
        required.push(("pfsync.interface", pfsync.interface.as_str()));
    }
    if let Some(firewall) = draft.firewall.get() {
        required.push((
            "firewall.internal_interface",
            firewall.internal_interface.as_str(),
        ));
    }
    required
}

fn check_hosts(draft: &Draft, hosts: &[Option<Host>], problems: &mut Vec<Problem>) {
    if hosts.is_empty() {
        problems.push(Problem::new("hosts", "no hosts: list at least one"));
    }
    let required = required_interfaces(draft);
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut addresses: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (i, host) in hosts.iter().enumerate() {
        let Some(host) = host else { continue };
        if let Some(&first) = names.get(host.name.as_str()) {
            problems.push(Problem::new(
                format!("hosts[{i}].name"),
                format!(
                    "host name '{}' is already used by hosts[{first}]",
                    host.name
                ),
            ));
        } else {
            names.insert(&host.name, i);
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
            let path = join(&format!("hosts[{i}].addresses"), interface);
            if let Some(other) = addresses.get(&cidr.addr()) {
                problems.push(Problem::new(
                    &path,
                    format!("address {} is also used at {other}", cidr.addr()),
                ));
            } else {
                addresses.insert(cidr.addr(), path);
            }
        }
    }
}

/// The links that must stay apart: the firewall can only tell networks apart by interface,
/// and pfsync has no authentication, so whoever can send on its link can write firewall state.
fn check_interfaces_apart(draft: &Draft, problems: &mut Vec<Problem>) {
    let carp = draft.carp.get().map(|c| c.interface.as_str());
    let internal = draft.firewall.get().map(|f| f.internal_interface.as_str());
    let pfsync = draft.pfsync.get().map(|p| p.interface.as_str());
    if let (Some(carp), Some(internal)) = (carp, internal) {
        if carp == internal {
            problems.push(Problem::new(
                "firewall.internal_interface",
                format!(
                    "'{internal}' is also carp.interface; the client ports cannot be open to \
                     clients and limited to the allow table on one interface, name the internal \
                     network's interface"
                ),
            ));
        }
    }
    let Some(pfsync) = pfsync else { return };
    for (other, field, network) in [
        (carp, "carp.interface", "the client network"),
        (
            internal,
            "firewall.internal_interface",
            "the internal network",
        ),
    ] {
        if other == Some(pfsync) {
            problems.push(Problem::new(
                "pfsync.interface",
                format!(
                    "'{pfsync}' is also {field}; pfsync has no authentication, so anyone on \
                     {network} could write this host's firewall state: give pfsync a link of its \
                     own between the hosts"
                ),
            ));
        }
    }
}

fn check_carp(carp: &Carp, hosts: &[Option<Host>], problems: &mut Vec<Problem>) {
    for (i, host) in hosts.iter().enumerate() {
        let Some(host) = host else { continue };
        let Some(own) = host.address(&carp.interface) else {
            continue;
        };
        let name = &host.name;
        if !own.network().contains(&carp.vip.addr()) {
            problems.push(Problem::new(
                "carp.vip",
                format!(
                    "{} is not in the subnet {} of hosts[{i}] ('{name}') on {}",
                    carp.vip.addr(),
                    own.network(),
                    carp.interface
                ),
            ));
        }
        if own.addr() == carp.vip.addr() {
            problems.push(Problem::new(
                "carp.vip",
                format!(
                    "{} is also the own address of hosts[{i}] ('{name}'); the VIP must be an unused address",
                    carp.vip.addr(),
                ),
            ));
        }
    }
}

fn check_firewall(firewall: &Firewall, cluster: &Cluster, problems: &mut Vec<Problem>) {
    let range = firewall.client_ports;
    for (i, &port) in cluster.ports.iter().enumerate() {
        if !range.contains(port) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!("port {port} lies outside firewall.client_ports {range}, so the firewall would not guard it"),
            ));
        }
    }
}
