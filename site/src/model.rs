//! The serde model of the site document. Single values (addresses, port ranges) are checked
//! while deserializing so the error carries the field's path; relations between fields are
//! checked in `validate`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validate::BUS_PORT_OFFSET;

/// The whole deployment: one Redis Cluster on a set of hosts behind one CARP virtual IP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Version of this document format; only 1 exists.
    pub schema: u32,
    pub cluster: Cluster,
    /// Absent when the site has no virtual IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carp: Option<Carp>,
    /// Absent when firewall state is not synchronised between hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pfsync: Option<Pfsync>,
    /// Absent when no firewall is generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    pub hosts: Vec<Host>,
}

/// How the Redis instances of every host are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
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
    /// 2 for CARP (the default), 3 for VRRPv3 (RFC 5798, as keepalived speaks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carpver: Option<u8>,
    /// VRRPv3 advertisement interval in centiseconds, 1–4095 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrpinterval: Option<u16>,
    /// Unicast: the own addresses of the group's nodes on `interface`, each node sending to
    /// all but itself; absent or empty for multicast.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<IpAddr>,
}

/// The link that carries pfsync state updates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pfsync {
    pub interface: String,
}

/// Who may reach the Redis ports from the internal network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// The interface facing the internal (administrative) network.
    pub internal_interface: String,
    /// Where the allow table is kept on each host.
    pub allow_file: PathBuf,
    /// Addresses or networks allowed to reach the client ports from the internal network.
    pub allow: Vec<AllowEntry>,
    /// The client port range the firewall guards, `[first, last]`.
    pub client_ports: PortRange,
}

/// One machine of the site.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique name; replica placement keys on it.
    pub name: String,
    /// CARP skew, 0–254: lower wins the VIP.
    pub advskew: u8,
    /// VRRPv3 priority, 1–254: higher wins the VIP (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
                "invalid CIDR '{s}' (expected an address with a prefix length, like 10.0.10.11/24)"
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
                "'{s}' has host bits set; write the network as '{}'",
                net.trunc()
            )),
            Err(_) => Err(format!("invalid address or network '{s}'")),
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

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [first, last] = <[u16; 2]>::deserialize(d)?;
        Ok(PortRange { first, last })
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.first, self.last].serialize(s)
    }
}

/// Values that are written as strings in JSON and parsed with `FromStr`, so the error quotes
/// the offending text.
macro_rules! string_serde {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
string_serde!(Cidr, AllowEntry);
