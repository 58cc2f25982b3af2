//! The typed model of the site document, as the tools use it. It is built by `read` (field by
//! field from the JSON values, every value checked on the way) and cross-checked by
//! `validate`; a `Site` value therefore always describes a usable site. It serializes back to
//! the document format.
//!
//! Adding a field: add it here, read it in `read.rs` (its object's field list and its
//! reader), document it in the README's site table; the struct literals in `read.rs` do not
//! compile until the field is read.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

use crate::display::quote;
use crate::validate::BUS_PORT_OFFSET;

/// The whole deployment: one Redis Cluster on a set of hosts behind one CARP virtual IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// Version of this document format; only 1 exists.
    pub schema: u32,
    pub cluster: Cluster,
    /// Absent when the site has no virtual IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carp: Option<Carp>,
    /// Absent when firewall state is not synchronised between hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pfsync: Option<Pfsync>,
    /// Absent when no firewall is generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    pub hosts: Vec<Host>,
}

/// How the Redis instances of every host are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    /// Replicas per master.
    pub replicas: u32,
    /// `cluster-node-timeout` of every instance, in milliseconds.
    pub node_timeout_ms: u64,
    /// One instance per port on every host; the cluster bus is port + 10000.
    pub ports: Vec<u16>,
    /// The interface whose address the instances bind to.
    pub bind_interface: String,
}

/// The CARP virtual IP shared by the hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Carp {
    pub interface: String,
    /// Virtual host id, 1–255, unique on the link.
    pub vhid: u8,
    /// Advertisement base interval in seconds, 1–255.
    pub advbase: u8,
    /// The virtual address with the prefix length of its subnet.
    pub vip: Cidr,
    /// File holding the shared password (first line); never the password itself.
    pub pass_file: PathBuf,
    /// Whether a better-placed backup takes the VIP back from a worse master.
    pub preempt: bool,
    /// Seconds after a Linux engine starts before it preempts, 0–3600 (default 0): time for
    /// the host's Redis replicas to resync before its VIP comes back to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preempt_delay: Option<u16>,
    /// Seconds between the gratuitous ARPs (IPv6: neighbour advertisements) a Linux engine
    /// repeats while MASTER, 0–3600 (default 0, none): for routers and switches whose ARP
    /// cache missed the announcement of a takeover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub garp_refresh: Option<u16>,
    /// 2 for CARP (the default), 3 for VRRPv3 (RFC 5798, as keepalived speaks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carpver: Option<u8>,
    /// VRRPv3 advertisement interval in centiseconds, 1–4095 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrpinterval: Option<u16>,
    /// Unicast: the own addresses of the group's nodes on `interface`, each node sending to
    /// all but itself; absent or empty for multicast.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<IpAddr>,
    /// Active/active: one more group per entry, each with its own vhid and VIP and preferred
    /// by its `master` host; empty for the single-VIP form. See `groups.rs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<CarpGroup>,
}

/// One more CARP group of an active/active site (`carp.groups[]`): same interface, advbase,
/// password, protocol and peers as the main group, its own vhid and VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarpGroup {
    pub vhid: u8,
    pub vip: Cidr,
    /// The host that holds it while alive; every other host backs it up, in host order after
    /// it (skews derived by that rank).
    pub master: String,
}

/// The link that carries pfsync state updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pfsync {
    pub interface: String,
}

/// Who may reach the Redis ports from the internal network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firewall {
    /// The interface facing the internal (administrative) network.
    pub internal_interface: String,
    /// Where the allow table is kept on each host.
    pub allow_file: PathBuf,
    /// Addresses or networks allowed to reach the client ports from the internal network.
    pub allow: Vec<AllowEntry>,
    /// The client port range the firewall guards, `[first, last]`.
    pub client_ports: PortRange,
    /// What comes in that no rule names.
    pub inbound: Inbound,
    /// With [`Inbound::DefaultDeny`]: the ports the allow list may reach besides the client
    /// ports (22 for SSH), sorted, unique. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub admin_ports: Vec<u16>,
}

/// What the firewall does with inbound traffic no rule of it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inbound {
    /// Only the Redis ports are guarded; everything else is left to other rules (the default).
    GuardRedis,
    /// Nothing comes in but what the rules name: clients on the CARP network, the allow list
    /// on the internal network (client and admin ports), the cluster's hosts, CARP and pfsync
    /// on their links.
    DefaultDeny,
}

/// One machine of the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    /// Unique name; replica placement keys on it.
    pub name: String,
    /// CARP skew, 0–254: lower wins the VIP.
    pub advskew: u8,
    /// VRRPv3 priority, 1–254: higher wins the VIP (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrpprio: Option<u8>,
    /// Address with prefix length, per interface name.
    pub addresses: BTreeMap<String, Cidr>,
}

impl Host {
    /// This host's address on `interface`, if it has one.
    pub fn address(&self, interface: &str) -> Option<&Cidr> {
        self.addresses.get(interface)
    }
}

/// One Redis instance of the site and the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub host: String,
    pub addr: SocketAddr,
}

/// An interface address with its prefix length, written `10.0.10.11/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(pub IpNet);

impl Cidr {
    pub fn addr(&self) -> IpAddr {
        self.0.addr()
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// The network this address lies in (`10.0.10.0/24` for `10.0.10.11/24`).
    pub fn network(&self) -> IpNet {
        self.0.trunc()
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<IpNet>().map(Cidr).map_err(|_| {
            format!(
                "invalid CIDR {} (expected an address with a prefix length, like 10.0.10.11/24)",
                quote(s)
            )
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An allowed source: a single address (`192.168.1.50`) or a network (`192.168.1.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AllowEntry(pub IpNet);

impl FromStr for AllowEntry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(addr) = s.parse::<IpAddr>() {
            return Ok(AllowEntry(IpNet::from(addr)));
        }
        match s.parse::<IpNet>() {
            Ok(net) if net == net.trunc() => Ok(AllowEntry(net)),
            Ok(net) => Err(format!(
                "{} has host bits set; write the network as '{}'",
                quote(s),
                net.trunc()
            )),
            Err(_) => Err(format!("invalid address or network {}", quote(s))),
        }
    }
}

impl fmt::Display for AllowEntry {
    /// Single addresses print without a prefix length, as admins write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

/// An inclusive port range, written `[first, last]` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// The cluster bus ports of this range (every port plus [`BUS_PORT_OFFSET`]), or `None`
    /// when they would pass 65535. A validated site's `firewall.client_ports` always has one.
    pub fn bus_range(&self) -> Option<PortRange> {
        let shift = |port: u16| u16::try_from(u32::from(port) + BUS_PORT_OFFSET).ok();
        Some(PortRange {
            first: shift(self.first)?,
            last: shift(self.last)?,
        })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.first, self.last].serialize(s)
    }
}

/// Values written as strings in JSON (and read with `FromStr` in `read.rs`).
macro_rules! string_serialize {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
string_serialize!(Cidr, AllowEntry);
