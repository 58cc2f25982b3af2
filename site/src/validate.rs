//! Cross-checks between fields of a site document: what no single value can say wrong on its
//! own. They run on every value that could be read ([`Known`]), so a type error in
//! `carp.vhid` hides neither a host without an address on `carp.interface` nor pfsync on the
//! CARP link; every problem is collected, so one run tells the operator everything to fix.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::display::join;
use crate::read::{Known, KnownHost};
use crate::Problem;

/// Redis Cluster needs at least this many masters to hold a majority after losing one.
pub const MIN_MASTERS: usize = 3;
/// Most instances a site may have: the Redis Cluster specification designs for up to 1000
/// nodes, and the tools that plan and survey a site grow with its node count.
pub const MAX_INSTANCES: usize = 1000;
/// The cluster bus of an instance listens on its port plus this offset.
pub const BUS_PORT_OFFSET: u32 = 10_000;

/// Adds every cross-field problem of what is `known` to `problems`.
pub(crate) fn validate(known: &Known, problems: &mut Vec<Problem>) {
    check_ports(known, problems);
    check_instance_count(known, problems);
    check_hosts(known, problems);
    check_interfaces_apart(known, problems);
    check_vip(known, problems);
    check_client_ports(known, problems);
}

/// `cluster.ports`: each once, and none on another instance's bus port.
fn check_ports(known: &Known, problems: &mut Vec<Problem>) {
    let mut first_at: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, port) in known.ports.iter().enumerate() {
        let Some(port) = *port else { continue };
        if let Some(&first) = first_at.get(&port) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!("port {port} is listed twice (also cluster.ports[{first}])"),
            ));
        } else {
            first_at.insert(port, i);
        }
    }
    for (i, port) in known.ports.iter().enumerate() {
        let Some(client) = port
            .and_then(|port| u32::from(port).checked_sub(BUS_PORT_OFFSET))
            .and_then(|client| u16::try_from(client).ok())
        else {
            continue;
        };
        if let Some(&j) = first_at.get(&client) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!(
                    "port {} is the cluster bus port of cluster.ports[{j}] ({client} + \
                     {BUS_PORT_OFFSET}); choose ports less than {BUS_PORT_OFFSET} apart",
                    u32::from(client) + BUS_PORT_OFFSET
                ),
            ));
        }
    }
}

/// The instance count (hosts × ports): at most [`MAX_INSTANCES`], and enough for
/// [`MIN_MASTERS`] masters with the replicas asked for.
fn check_instance_count(known: &Known, problems: &mut Vec<Problem>) {
    let nodes = known.hosts.len() * known.ports.len();
    if nodes > MAX_INSTANCES {
        problems.push(Problem::new(
            "cluster.ports",
            format!(
                "{} hosts × {} ports give {nodes} instances; Redis Cluster is designed for at \
                 most {MAX_INSTANCES} nodes: use fewer hosts or ports",
                known.hosts.len(),
                known.ports.len()
            ),
        ));
    }
    let Some(replicas) = known.replicas else {
        return;
    };
    let per_master = replicas as usize + 1;
    if nodes > 0 && nodes / per_master < MIN_MASTERS {
        problems.push(Problem::new(
            "cluster.replicas",
            format!(
                "{nodes} instances with {replicas} replicas per master give {} masters; Redis Cluster needs at least {MIN_MASTERS}",
                nodes / per_master
            ),
        ));
    }
}

/// Interfaces that every host must have an address on, with the field that names each.
fn required_interfaces(known: &Known) -> Vec<(&'static str, &str)> {
    [
        ("cluster.bind_interface", &known.bind_interface),
        ("carp.interface", &known.carp_interface),
        ("pfsync.interface", &known.pfsync_interface),
        ("firewall.internal_interface", &known.internal_interface),
    ]
    .into_iter()
    .filter_map(|(field, name)| Some((field, name.as_deref()?)))
    .collect()
}

fn check_hosts(known: &Known, problems: &mut Vec<Problem>) {
    let required = required_interfaces(known);
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut addresses: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (i, host) in known.hosts.iter().enumerate() {
        if let Some(name) = &host.name {
            if let Some(&first) = names.get(name.as_str()) {
                problems.push(Problem::new(
                    format!("hosts[{i}].name"),
                    format!("host name '{name}' is already used by hosts[{first}]"),
                ));
            } else {
                names.insert(name, i);
            }
        }
        let Some(listed) = &host.addresses else {
            continue;
        };
        for (field, interface) in &required {
            if !listed.contains_key(*interface) {
                problems.push(Problem::new(
                    format!("hosts[{i}].addresses"),
                    format!(
                        "{} has no address on interface '{interface}' (named by {field})",
                        host_label(host)
                    ),
                ));
            }
        }
        for (interface, cidr) in listed {
            let Some(cidr) = cidr else { continue };
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

/// "host 'redis3'", or "the host" when its name is unreadable.
fn host_label(host: &KnownHost) -> String {
    host.name
        .as_ref()
        .map_or_else(|| "the host".to_string(), |name| format!("host '{name}'"))
}

/// The links that must stay apart: the firewall can only tell networks apart by interface,
/// and pfsync has no authentication, so whoever can send on its link can write firewall state.
fn check_interfaces_apart(known: &Known, problems: &mut Vec<Problem>) {
    let carp = known.carp_interface.as_deref();
    let internal = known.internal_interface.as_deref();
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
    let Some(pfsync) = known.pfsync_interface.as_deref() else {
        return;
    };
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

/// `carp.vip`: in every host's subnet on the CARP interface, and nobody's own address.
fn check_vip(known: &Known, problems: &mut Vec<Problem>) {
    let (Some(interface), Some(vip)) = (&known.carp_interface, &known.vip) else {
        return;
    };
    for (i, host) in known.hosts.iter().enumerate() {
        let Some(Some(own)) = host.addresses.as_ref().and_then(|a| a.get(interface)) else {
            continue;
        };
        let name = host.name.as_deref().unwrap_or("");
        if !own.network().contains(&vip.addr()) {
            problems.push(Problem::new(
                "carp.vip",
                format!(
                    "{} is not in the subnet {} of hosts[{i}] ('{name}') on {interface}",
                    vip.addr(),
                    own.network(),
                ),
            ));
        }
        if own.addr() == vip.addr() {
            problems.push(Problem::new(
                "carp.vip",
                format!(
                    "{} is also the own address of hosts[{i}] ('{name}'); the VIP must be an unused address",
                    vip.addr(),
                ),
            ));
        }
    }
}

/// Every instance port inside `firewall.client_ports`, or the firewall would not guard it.
fn check_client_ports(known: &Known, problems: &mut Vec<Problem>) {
    let Some(range) = known.client_ports else {
        return;
    };
    for (i, port) in known.ports.iter().enumerate() {
        let Some(port) = *port else { continue };
        if !range.contains(port) {
            problems.push(Problem::new(
                format!("cluster.ports[{i}]"),
                format!("port {port} lies outside firewall.client_ports {range}, so the firewall would not guard it"),
            ));
        }
    }
}
