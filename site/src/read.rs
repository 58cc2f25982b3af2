//! The second step of reading a site: the JSON value tree to the typed model, field by field.
//!
//! Every field is read on its own and every problem is noted with its path, so a type error
//! (`"vhid": "10"`) does not hide a bad address next to it, and two typos give two problems.
//! What fields say about each other is left to `validate`, which runs on every value that
//! could be read ([`Known`]), also in a section that as a whole could not.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::display::{index, join, quote, value as shown};
use crate::model::{
    AllowEntry, Carp, CarpGroup, Cidr, Cluster, Firewall, Host, Inbound, Pfsync, PortRange, Site,
};
use crate::names;
use crate::validate::BUS_PORT_OFFSET;
use crate::Problem;

/// Longest `cluster.node_timeout_ms` accepted: one hour. redis-server takes any value that
/// fits a signed 64-bit number, but it doubles and adds to it in its own arithmetic, and a
/// cluster that needs more than an hour to notice a dead master has no use for failover.
pub const MAX_NODE_TIMEOUT_MS: u64 = 3_600_000;
/// Longest `carp.preempt_delay` accepted, in seconds: an hour is room for a large Redis
/// replica to resync; a longer wait is a node that should not preempt at all.
pub const MAX_PREEMPT_DELAY_S: u16 = 3600;
/// Longest `carp.garp_refresh` accepted, in seconds: routers keep ARP entries for minutes to
/// a few hours, so an hour refreshes every one of them; a longer period is a wrong unit.
pub const MAX_GARP_REFRESH_S: u16 = 3600;
/// Highest instance port: its cluster bus port (port + 10000) must stay within 65535.
pub const MAX_PORT: u16 = 55_535;
/// Most replicas per master accepted; far above any real layout, low enough to be a number
/// an operator would write.
pub const MAX_REPLICAS: u32 = 255;
/// Shortest allow network accepted per IP version (IPv4, IPv6): no internal network is wider
/// than 10.0.0.0/8, and wider entries (`0.0.0.0/0` above all) open the client ports to
/// everyone who reaches the internal interface.
pub const MIN_ALLOW_PREFIX: (u8, u8) = (8, 16);

/// A section that the document may leave out.
#[derive(Debug)]
enum Section<T> {
    /// Not in the document (or `null`).
    Absent,
    /// In the document but not readable; its problems are noted.
    Unreadable,
    Read(T),
}

impl<T> Section<T> {
    /// `Some(None)` when absent, `None` when unreadable.
    fn complete(self) -> Option<Option<T>> {
        match self {
            Section::Absent => Some(None),
            Section::Unreadable => None,
            Section::Read(value) => Some(Some(value)),
        }
    }
}

/// What could be read of a site document: `None` (or [`Section::Unreadable`]) where a part
/// has problems, and what the cross-checks need, as far as it could be read.
#[derive(Debug)]
pub(crate) struct Draft {
    schema: Option<u32>,
    cluster: Option<Cluster>,
    carp: Section<Carp>,
    pfsync: Section<Pfsync>,
    firewall: Section<Firewall>,
    /// One entry per element of `hosts`, `None` where that host is unreadable; `None` as a
    /// whole when `hosts` itself is.
    hosts: Option<Vec<Option<Host>>>,
    pub(crate) known: Known,
}

/// The values the cross-checks read: each one that could be read, wherever it stands (a type
/// error in `carp.vhid` leaves `carp.interface` and `carp.vip` known). `None` where a value is
/// missing or unreadable, or its section absent.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) replicas: Option<u32>,
    /// `cluster.ports` element by element; empty when the list is unreadable.
    pub(crate) ports: Vec<Option<u16>>,
    pub(crate) bind_interface: Option<String>,
    pub(crate) carp_interface: Option<String>,
    pub(crate) vip: Option<Cidr>,
    /// `carp.peers` element by element; empty when absent or unreadable.
    pub(crate) peers: Vec<Option<IpAddr>>,
    pub(crate) vhid: Option<u8>,
    /// `carp.groups` element by element; empty when absent or unreadable.
    pub(crate) groups: Vec<KnownGroup>,
    pub(crate) pfsync_interface: Option<String>,
    pub(crate) internal_interface: Option<String>,
    pub(crate) client_ports: Option<PortRange>,
    /// One per element of `hosts`; empty when `hosts` is unreadable.
    pub(crate) hosts: Vec<KnownHost>,
}

/// What could be read of one `carp.groups` entry.
#[derive(Debug, Default)]
pub(crate) struct KnownGroup {
    pub(crate) vhid: Option<u8>,
    pub(crate) vip: Option<Cidr>,
    pub(crate) master: Option<String>,
}

/// What could be read of one host.
#[derive(Debug, Default)]
pub(crate) struct KnownHost {
    pub(crate) name: Option<String>,
    /// The interfaces the host lists, each with its address where name and address are
    /// usable; `None` when `addresses` itself is unreadable.
    pub(crate) addresses: Option<BTreeMap<String, Option<Cidr>>>,
}

impl Draft {
    /// The site, when every part of it could be read.
    pub(crate) fn into_site(self) -> Option<Site> {
        Some(Site {
            schema: self.schema?,
            cluster: self.cluster?,
            carp: self.carp.complete()?,
            pfsync: self.pfsync.complete()?,
            firewall: self.firewall.complete()?,
            hosts: self.hosts?.into_iter().collect::<Option<_>>()?,
        })
    }
}

/// Reads `doc`, noting every problem in `problems`.
pub(crate) fn read(doc: &Value, problems: &mut Vec<Problem>) -> Draft {
    let mut reader = Reader {
        problems,
        known: Known::default(),
    };
    let mut draft = Draft {
        schema: None,
        cluster: None,
        carp: Section::Unreadable,
        pfsync: Section::Unreadable,
        firewall: Section::Unreadable,
        hosts: None,
        known: Known::default(),
    };
    if let Some(site) = reader.object(String::new(), doc, &SITE) {
        draft.schema = reader.field(&site, "schema", schema);
        draft.cluster = reader
            .member(&site, "cluster", &CLUSTER)
            .and_then(|cluster| reader.cluster(&cluster));
        draft.carp = reader.section(&site, "carp", &CARP, Reader::carp);
        draft.pfsync = reader.section(&site, "pfsync", &PFSYNC, Reader::pfsync);
        draft.firewall = reader.section(&site, "firewall", &FIREWALL, Reader::firewall);
        draft.hosts = reader.hosts(&site);
    }
    draft.known = reader.known;
    draft
}

/// An object of the document: what it is called in messages and the fields it has.
struct Shape {
    /// As in "expected {noun} as an object {…}" and "{noun} has: …".
    noun: &'static str,
    fields: &'static [&'static str],
}

const SITE: Shape = Shape {
    noun: "the site description",
    fields: &["schema", "cluster", "carp", "pfsync", "firewall", "hosts"],
};
const CLUSTER: Shape = Shape {
    noun: "cluster",
    fields: &["replicas", "node_timeout_ms", "ports", "bind_interface"],
};
const CARP: Shape = Shape {
    noun: "carp",
    fields: &[
        "interface",
        "vhid",
        "advbase",
        "vip",
        "pass_file",
        "preempt",
        "preempt_delay",
        "garp_refresh",
        "carpver",
        "vrrpinterval",
        "peers",
        "groups",
    ],
};
const GROUP: Shape = Shape {
    noun: "a CARP group",
    fields: &["vhid", "vip", "master"],
};
const PFSYNC: Shape = Shape {
    noun: "pfsync",
    fields: &["interface"],
};
const FIREWALL: Shape = Shape {
    noun: "firewall",
    fields: &[
        "internal_interface",
        "allow_file",
        "allow",
        "client_ports",
        "inbound",
        "admin_ports",
    ],
};
const HOST: Shape = Shape {
    noun: "a host",
    fields: &["name", "advskew", "addresses", "vrrpprio"],
};

/// Why a value cannot be used.
enum Why {
    /// The value is not of the kind the field takes: "expected {0}, got {value}".
    Expected(String),
    /// The value is of the right kind but wrong; the message quotes it.
    Invalid(String),
}

impl Why {
    fn expected(what: impl Into<String>) -> Why {
        Why::Expected(what.into())
    }

    fn message(self, value: &Value) -> String {
        match self {
            Why::Expected(what) => format!("expected {what}, got {}", shown(value)),
            Why::Invalid(message) => message,
        }
    }
}

type Read<T> = Result<T, Why>;

/// An object of the document with its path.
struct Object<'v> {
    path: String,
    map: &'v Map<String, Value>,
}

struct Reader<'p> {
    problems: &'p mut Vec<Problem>,
    /// Filled in as values are read.
    known: Known,
}

impl Reader<'_> {
    fn note(&mut self, path: String, message: String) {
        self.problems.push(Problem::new(path, message));
    }

    /// `value` as an object of `shape`; each field `shape` does not have is a problem, but
    /// the others are still read.
    fn object<'v>(&mut self, path: String, value: &'v Value, shape: &Shape) -> Option<Object<'v>> {
        let Some(map) = value.as_object() else {
            self.note(
                path,
                format!(
                    "expected {} as an object {{…}}, got {}",
                    shape.noun,
                    shown(value)
                ),
            );
            return None;
        };
        for key in map.keys() {
            if !shape.fields.contains(&key.as_str()) {
                self.note(join(&path, key), unknown_field(key, shape));
            }
        }
        Some(Object { path, map })
    }

    /// The value of required field `name`, or a problem saying it is missing.
    fn get<'v>(
        &mut self,
        object: &Object<'v>,
        name: &str,
        what: &str,
    ) -> Option<(String, &'v Value)> {
        let path = join(&object.path, name);
        match object.map.get(name) {
            Some(value) => Some((path, value)),
            None => {
                self.note(path, format!("missing: expected {what}"));
                None
            }
        }
    }

    fn leaf<T>(
        &mut self,
        path: String,
        value: &Value,
        read: impl FnOnce(&Value) -> Read<T>,
    ) -> Option<T> {
        match read(value) {
            Ok(read) => Some(read),
            Err(why) => {
                self.note(path, why.message(value));
                None
            }
        }
    }

    /// Required field `name`, read by `read`.
    fn field<T>(
        &mut self,
        object: &Object<'_>,
        name: &str,
        read: impl Fn(&Value) -> Read<T>,
    ) -> Option<T> {
        let what = match read(&Value::Null) {
            // Every reader refuses null with what it expects: what a missing field lacks.
            Err(Why::Expected(what)) => what,
            _ => "a value".into(),
        };
        let (path, value) = self.get(object, name, &what)?;
        self.leaf(path, value, read)
    }

    /// Optional field `name`, read by `read`: `Some(None)` when it is absent or null, `None`
    /// when it is unreadable (a problem is noted).
    fn optional<T>(
        &mut self,
        object: &Object<'_>,
        name: &str,
        read: impl Fn(&Value) -> Read<T>,
    ) -> Option<Option<T>> {
        match object.map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => self.leaf(join(&object.path, name), value, read).map(Some),
        }
    }

    /// Required array field `name`, each element read by `read`: `None` when the field is
    /// not a list, otherwise each element or `None` where it is unreadable.
    fn list<T>(
        &mut self,
        object: &Object<'_>,
        name: &str,
        what: &str,
        read: impl Fn(&Value) -> Read<T>,
    ) -> Option<Vec<Option<T>>> {
        let (path, value) = self.get(object, name, what)?;
        let Some(items) = value.as_array() else {
            self.note(path, format!("expected {what}, got {}", shown(value)));
            return None;
        };
        let read = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.leaf(index(&path, i), item, &read))
            .collect();
        Some(read)
    }

    /// Required object field `name` of `shape`.
    fn member<'v>(&mut self, object: &Object<'v>, name: &str, shape: &Shape) -> Option<Object<'v>> {
        let what = format!("{} as an object {{…}}", shape.noun);
        let (path, value) = self.get(object, name, &what)?;
        self.object(path, value, shape)
    }

    /// Optional object field `name` of `shape`, read by `read`.
    fn section<T>(
        &mut self,
        object: &Object<'_>,
        name: &str,
        shape: &Shape,
        read: fn(&mut Self, &Object<'_>) -> Option<T>,
    ) -> Section<T> {
        let value = match object.map.get(name) {
            None | Some(Value::Null) => return Section::Absent,
            Some(value) => value,
        };
        match self
            .object(join(&object.path, name), value, shape)
            .and_then(|section| read(self, &section))
        {
            Some(section) => Section::Read(section),
            None => Section::Unreadable,
        }
    }

    fn cluster(&mut self, cluster: &Object<'_>) -> Option<Cluster> {
        let replicas = self.field(cluster, "replicas", number(0, MAX_REPLICAS, ""));
        let node_timeout_ms = self.field(
            cluster,
            "node_timeout_ms",
            number(1, MAX_NODE_TIMEOUT_MS, " (milliseconds)"),
        );
        let ports = self.list(cluster, "ports", "a list of ports, like [7000, 7001]", port);
        if ports.as_ref().is_some_and(Vec::is_empty) {
            self.note(
                join(&cluster.path, "ports"),
                "no ports: list one port per instance".into(),
            );
        }
        let bind_interface = self.field(cluster, "bind_interface", interface);
        self.known.replicas = replicas;
        self.known.ports = ports.clone().unwrap_or_default();
        self.known.bind_interface = bind_interface.clone();
        Some(Cluster {
            replicas: replicas?,
            node_timeout_ms: node_timeout_ms?,
            ports: ports?.into_iter().collect::<Option<_>>()?,
            bind_interface: bind_interface?,
        })
    }

    fn carp(&mut self, carp: &Object<'_>) -> Option<Carp> {
        let interface = self.field(carp, "interface", interface);
        let vhid = self.field(carp, "vhid", number(1, 255, ""));
        let advbase = self.field(carp, "advbase", number(1, 255, " (seconds)"));
        let vip = self.field(carp, "vip", host_address);
        let pass_file = self.field(carp, "pass_file", file_path);
        let preempt = self.field(carp, "preempt", boolean);
        let preempt_delay = self.preempt_delay(carp, preempt);
        let garp_refresh = self.optional(
            carp,
            "garp_refresh",
            number(0, MAX_GARP_REFRESH_S, " (seconds)"),
        );
        let carpver = self.optional(carp, "carpver", number(2, 3, " (2 CARP, 3 VRRPv3)"));
        let vrrpinterval = self.optional(carp, "vrrpinterval", number(1, 4095, " (centiseconds)"));
        let peers = match carp.map.get("peers") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(_) => self.list(carp, "peers", "a list of addresses", ip_address),
        };
        let groups = self.groups(carp);
        self.known.carp_interface = interface.clone();
        self.known.vip = vip;
        self.known.vhid = vhid;
        self.known.peers = peers.clone().unwrap_or_default();
        Some(Carp {
            interface: interface?,
            vhid: vhid?,
            advbase: advbase?,
            vip: vip?,
            pass_file: pass_file?,
            preempt: preempt?,
            preempt_delay: preempt_delay?,
            garp_refresh: garp_refresh?,
            carpver: carpver?,
            vrrpinterval: vrrpinterval?,
            peers: peers?.into_iter().collect::<Option<_>>()?,
            groups: groups?,
        })
    }

    /// `carp.preempt_delay`: optional seconds, meaningful only where the site preempts.
    fn preempt_delay(&mut self, carp: &Object<'_>, preempt: Option<bool>) -> Option<Option<u16>> {
        let delay = self.optional(
            carp,
            "preempt_delay",
            number(0, MAX_PREEMPT_DELAY_S, " (seconds)"),
        );
        if preempt == Some(false) && delay.flatten().is_some_and(|d| d > 0) {
            self.note(
                join(&carp.path, "preempt_delay"),
                "a preempt delay without \"preempt\": true delays nothing; set preempt or drop \
                 preempt_delay"
                    .into(),
            );
        }
        delay
    }

    /// `carp.groups`: absent for the single-VIP form; each entry `{vhid, vip, master}`.
    fn groups(&mut self, carp: &Object<'_>) -> Option<Vec<CarpGroup>> {
        let what = "a list of groups, like [{\"vhid\": 11, \"vip\": \"10.0.10.101/24\", \"master\": \"redis2\"}]";
        let path = join(&carp.path, "groups");
        let items = match carp.map.get("groups") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.note(path, format!("expected {what}, got {}", shown(other)));
                return None;
            }
        };
        let mut groups = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(group) = self.object(index(&path, i), item, &GROUP) else {
                groups.push(None);
                self.known.groups.push(KnownGroup::default());
                continue;
            };
            let vhid = self.field(&group, "vhid", number(1, 255, ""));
            let vip = self.field(&group, "vip", host_address);
            let master = self.field(&group, "master", host_name);
            self.known.groups.push(KnownGroup {
                vhid,
                vip,
                master: master.clone(),
            });
            groups.push((|| {
                Some(CarpGroup {
                    vhid: vhid?,
                    vip: vip?,
                    master: master?,
                })
            })());
        }
        groups.into_iter().collect()
    }

    fn pfsync(&mut self, pfsync: &Object<'_>) -> Option<Pfsync> {
        let interface = self.field(pfsync, "interface", interface);
        self.known.pfsync_interface = interface.clone();
        Some(Pfsync {
            interface: interface?,
        })
    }

    fn firewall(&mut self, firewall: &Object<'_>) -> Option<Firewall> {
        let internal_interface = self.field(firewall, "internal_interface", interface);
        let allow_file = self.field(firewall, "allow_file", file_path);
        let allow = self.list(
            firewall,
            "allow",
            "a list of addresses or networks, like [\"192.168.1.50\"]",
            allow_entry,
        );
        let client_ports = self.client_ports(firewall);
        let inbound = self.optional(firewall, "inbound", inbound);
        let admin_ports = self.optional(firewall, "admin_ports", admin_ports);
        self.known.internal_interface = internal_interface.clone();
        self.known.client_ports = client_ports;
        let (inbound, admin_ports) =
            self.admin_ports(firewall, inbound?, admin_ports?, client_ports?)?;
        Some(Firewall {
            internal_interface: internal_interface?,
            allow_file: allow_file?,
            allow: allow?.into_iter().collect::<Option<_>>()?,
            client_ports: client_ports?,
            inbound,
            admin_ports,
        })
    }

    /// `firewall.admin_ports` goes with `inbound: "default-deny"` and only with it: a default-
    /// deny firewall without it would lock out SSH unnoticed, and with the default policy every
    /// other port is open anyway. Bus ports are refused, as the allow list must never reach the
    /// bus.
    fn admin_ports(
        &mut self,
        firewall: &Object<'_>,
        inbound: Option<Inbound>,
        admin_ports: Option<Vec<u16>>,
        client_ports: PortRange,
    ) -> Option<(Inbound, Vec<u16>)> {
        let path = join(&firewall.path, "admin_ports");
        match (inbound.unwrap_or(Inbound::GuardRedis), admin_ports) {
            (Inbound::GuardRedis, None) => Some((Inbound::GuardRedis, Vec::new())),
            (Inbound::GuardRedis, Some(_)) => {
                self.note(
                    path,
                    "only with \"inbound\": \"default-deny\", where it names the ports the allow \
                     list may reach besides the client ports; without it every other port is \
                     open already"
                        .into(),
                );
                None
            }
            (Inbound::DefaultDeny, None) => {
                self.note(
                    path,
                    "missing: \"inbound\": \"default-deny\" closes every port no rule names, \
                     SSH too; list the ports the allow list may reach besides the client ports, \
                     like [22], or [] to close them all"
                        .into(),
                );
                None
            }
            (Inbound::DefaultDeny, Some(mut ports)) => {
                let bus = client_ports.bus_range()?;
                if let Some(port) = ports.iter().find(|&&p| bus.first <= p && p <= bus.last) {
                    self.note(
                        path,
                        format!(
                            "port {port} is a cluster bus port ({bus}); the allow list must never \
                             reach the bus: leave it out"
                        ),
                    );
                    return None;
                }
                ports.sort_unstable();
                ports.dedup();
                Some((Inbound::DefaultDeny, ports))
            }
        }
    }

    /// `firewall.client_ports`: `[first, last]`, in order, and apart from its own bus ports
    /// (a range of 10000 ports or more would reach them, and the firewall's openings for
    /// client ports would open bus ports with them).
    fn client_ports(&mut self, firewall: &Object<'_>) -> Option<PortRange> {
        let what = "a port range [first, last], like [7000, 7100]";
        let (path, value) = self.get(firewall, "client_ports", what)?;
        let Some([first, last]) = value.as_array().map(Vec::as_slice) else {
            self.note(path, format!("expected {what}, got {}", shown(value)));
            return None;
        };
        let first = self.leaf(index(&path, 0), first, port);
        let last = self.leaf(index(&path, 1), last, port);
        let range = PortRange {
            first: first?,
            last: last?,
        };
        if range.first > range.last {
            self.note(
                path,
                format!(
                    "range [{}, {}] is reversed; write [{}, {}]",
                    range.first, range.last, range.last, range.first
                ),
            );
            return None;
        }
        if u32::from(range.last) >= u32::from(range.first) + BUS_PORT_OFFSET {
            self.note(
                path,
                format!(
                    "range [{}, {}] reaches its own cluster bus ports {} (each port + \
                     {BUS_PORT_OFFSET}), which the firewall would then open as client ports; \
                     keep it under {BUS_PORT_OFFSET} ports, covering cluster.ports, like [{}, {}]",
                    range.first,
                    range.last,
                    range
                        .bus_range()
                        .map_or_else(String::new, |bus| bus.to_string()),
                    range.first,
                    u32::from(range.first) + 100,
                ),
            );
            return None;
        }
        Some(range)
    }

    fn hosts(&mut self, site: &Object<'_>) -> Option<Vec<Option<Host>>> {
        let (path, value) = self.get(site, "hosts", "a list of hosts [{…}, …]")?;
        let Some(items) = value.as_array() else {
            self.note(
                path,
                format!("expected a list of hosts [{{…}}, …], got {}", shown(value)),
            );
            return None;
        };
        if items.is_empty() {
            self.note(path.clone(), "no hosts: list at least one".into());
        }
        let mut hosts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let (host, known) = match self.object(index(&path, i), item, &HOST) {
                Some(host) => self.host(&host),
                None => (None, KnownHost::default()),
            };
            hosts.push(host);
            self.known.hosts.push(known);
        }
        Some(hosts)
    }

    fn host(&mut self, host: &Object<'_>) -> (Option<Host>, KnownHost) {
        let name = self.field(host, "name", host_name);
        let advskew = self.field(host, "advskew", number(0, 254, ""));
        let vrrpprio = self.optional(host, "vrrpprio", number(1, 254, " (VRRPv3 priority)"));
        let addresses = self.addresses(host);
        let complete = (|| {
            Some(Host {
                name: name.clone()?,
                advskew: advskew?,
                vrrpprio: vrrpprio?,
                addresses: addresses
                    .as_ref()?
                    .iter()
                    .map(|(name, address)| Some((name.clone(), (*address)?)))
                    .collect::<Option<_>>()?,
            })
        })();
        (complete, KnownHost { name, addresses })
    }

    /// `hosts[i].addresses`: interface name → address with prefix length, `None` for an
    /// entry whose name or address is unusable.
    fn addresses(&mut self, host: &Object<'_>) -> Option<BTreeMap<String, Option<Cidr>>> {
        let what =
            "an object of interface name: address/prefix, like {\"em0\": \"192.168.1.11/24\"}";
        let (path, value) = self.get(host, "addresses", what)?;
        let Some(map) = value.as_object() else {
            self.note(path, format!("expected {what}, got {}", shown(value)));
            return None;
        };
        let mut addresses = BTreeMap::new();
        for (name, address) in map {
            let path = join(&path, name);
            let named = names::check_interface_name(name)
                .map_err(|why| {
                    let message = format!("invalid interface name {}: {why}", quote(name));
                    self.note(path.clone(), message);
                })
                .is_ok();
            let address = self.leaf(path, address, host_address);
            addresses.insert(name.clone(), address.filter(|_| named));
        }
        Some(addresses)
    }
}

/// The problem text of an unknown field `key` of an object of `shape`.
fn unknown_field(key: &str, shape: &Shape) -> String {
    let near = shape
        .fields
        .iter()
        .find(|field| edit_distance(&key.to_ascii_lowercase(), field) <= 2);
    let hint = near.map_or_else(String::new, |field| format!("did you mean '{field}'? "));
    format!(
        "unknown field; {hint}{} has: {}",
        shape.noun,
        shape.fields.join(", ")
    )
}

/// Levenshtein distance, for suggesting the field a typo meant. Only ever compares a key
/// (cut to 64 characters) with a short field name.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// A whole number from `low` to `high`; `unit` follows the range in messages.
fn number<T>(low: T, high: T, unit: &'static str) -> impl Fn(&Value) -> Read<T>
where
    T: TryFrom<u64> + PartialOrd + Display + Copy,
{
    move |value| {
        value
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .filter(|n| *n >= low && *n <= high)
            .ok_or_else(|| Why::expected(format!("a number from {low} to {high}{unit}")))
    }
}

fn schema(value: &Value) -> Read<u32> {
    match value.as_u64() {
        Some(1) => Ok(1),
        Some(other) => Err(Why::Invalid(format!(
            "unsupported schema {other}; this version reads schema 1"
        ))),
        None => Err(Why::expected("the number 1")),
    }
}

fn port(value: &Value) -> Read<u16> {
    match value.as_u64().and_then(|n| u16::try_from(n).ok()) {
        Some(port @ 1..=MAX_PORT) => Ok(port),
        Some(port @ 1..) => Err(Why::Invalid(format!(
            "port {port} has cluster bus port {}, above 65535; use ports up to {MAX_PORT}",
            u32::from(port) + BUS_PORT_OFFSET
        ))),
        _ => Err(Why::expected(format!("a port number from 1 to {MAX_PORT}"))),
    }
}

fn inbound(value: &Value) -> Read<Inbound> {
    match value.as_str() {
        Some("guard-redis") => Ok(Inbound::GuardRedis),
        Some("default-deny") => Ok(Inbound::DefaultDeny),
        _ => Err(Why::expected("\"guard-redis\" or \"default-deny\"")),
    }
}

/// A list of TCP ports, any from 1 to 65535 (they have no bus ports).
fn admin_ports(value: &Value) -> Read<Vec<u16>> {
    let what = "a list of port numbers from 1 to 65535, like [22]";
    value
        .as_array()
        .ok_or_else(|| Why::expected(what))?
        .iter()
        .map(|p| {
            p.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| Why::expected(what))
        })
        .collect()
}

fn boolean(value: &Value) -> Read<bool> {
    value
        .as_bool()
        .ok_or_else(|| Why::expected("true or false"))
}

fn text<'v>(value: &'v Value, what: &str) -> Read<&'v str> {
    value.as_str().ok_or_else(|| Why::expected(what))
}

/// A name checked by `rule`: `kind` names it in "invalid {kind} 'x': why", `expected` in
/// "expected {expected}, got …".
fn checked_name(
    value: &Value,
    kind: &str,
    expected: &str,
    rule: fn(&str) -> Result<(), String>,
) -> Read<String> {
    let name = text(value, expected)?;
    rule(name).map_err(|why| Why::Invalid(format!("invalid {kind} {}: {why}", quote(name))))?;
    Ok(name.to_string())
}

fn interface(value: &Value) -> Read<String> {
    checked_name(
        value,
        "interface name",
        "an interface name, like \"em1\"",
        names::check_interface_name,
    )
}

fn host_name(value: &Value) -> Read<String> {
    checked_name(
        value,
        "host name",
        "a host name, like \"redis1\"",
        names::check_host_name,
    )
}

fn file_path(value: &Value) -> Read<PathBuf> {
    checked_name(
        value,
        "file path",
        "an absolute file path, like \"/etc/redis_allow\"",
        names::check_file_path,
    )
    .map(PathBuf::from)
}

fn cidr(value: &Value) -> Read<Cidr> {
    text(
        value,
        "an address with a prefix length, like \"10.0.10.11/24\"",
    )?
    .parse()
    .map_err(Why::Invalid)
}

/// A bare IPv4 or IPv6 address, like a unicast peer.
fn ip_address(value: &Value) -> Read<IpAddr> {
    let text = text(value, "an address, like \"10.0.10.12\"")?;
    text.parse()
        .map_err(|_| Why::Invalid(format!("invalid address {}", quote(text))))
}

/// An address with prefix length that names a host, not the network it lies in.
fn host_address(value: &Value) -> Read<Cidr> {
    let address = cidr(value)?;
    if address.addr() == address.network().addr() && address.prefix_len() < 31 {
        return Err(Why::Invalid(format!(
            "{address} is a network address, not a host address"
        )));
    }
    Ok(address)
}

/// Whether `net` holds IPv4-mapped addresses (it overlaps ::ffff:0.0.0.0/96).
fn maps_ipv4(net: ipnet::Ipv6Net) -> bool {
    let mapped = ipnet::Ipv6Net::new(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        .expect("96 is a valid IPv6 prefix length");
    net.contains(&mapped) || mapped.contains(&net)
}

fn allow_entry(value: &Value) -> Read<AllowEntry> {
    let entry: AllowEntry = text(
        value,
        "an address or network, like \"192.168.1.50\" or \"192.168.1.0/24\"",
    )?
    .parse()
    .map_err(Why::Invalid)?;
    let shortest = match entry.0 {
        ipnet::IpNet::V4(_) => MIN_ALLOW_PREFIX.0,
        // An IPv6 network over IPv4-mapped addresses (::ffff:0.0.0.0/96) lets IPv4 clients in
        // on a dual-stack socket: it is judged by the IPv4 width it covers.
        ipnet::IpNet::V6(net) if maps_ipv4(net) => 96 + MIN_ALLOW_PREFIX.0,
        ipnet::IpNet::V6(_) => MIN_ALLOW_PREFIX.1,
    };
    if entry.0.prefix_len() < shortest {
        let everyone = if entry.0.prefix_len() == 0 {
            "allows every address"
        } else {
            "is wider than any internal network"
        };
        return Err(Why::Invalid(format!(
            "'{entry}' {everyone} and would open the client ports to anyone who reaches the \
             internal interface; list the admin machines or their network (/{shortest} or \
             longer), like 192.168.1.0/24"
        )));
    }
    Ok(entry)
}
