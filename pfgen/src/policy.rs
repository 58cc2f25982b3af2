//! The firewall policy of one host, taken from the site description. Both renderers (pf and
//! nftables) read this model and nothing else, so the two outputs enforce the same rules and a
//! decision such as "which addresses count as cluster hosts" is made once, here.

use std::net::IpAddr;
use std::path::PathBuf;

use site::{AllowEntry, Inbound, PortRange, Site};

use crate::Error;

/// Everything the ruleset of one host needs, already checked and in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Name of the host the ruleset is for.
    pub host: String,
    /// Interface facing the internal (administrative) network.
    pub internal_interface: String,
    /// The CARP side, absent when the site has no virtual IP.
    pub carp: Option<CarpPolicy>,
    /// Interface carrying pfsync state updates, absent when the site has none.
    pub sync_interface: Option<String>,
    /// The Redis client ports the firewall guards.
    pub client_ports: PortRange,
    /// The cluster bus ports: every client port plus 10000.
    pub bus_ports: PortRange,
    /// Where the allow table file lives on the host.
    pub allow_file: PathBuf,
    /// Sources allowed to reach the client ports from the internal network, sorted, unique.
    pub allow: Vec<AllowEntry>,
    /// Every address of every host of the site, sorted, unique: the only sources allowed on
    /// the cluster bus.
    pub cluster_addresses: Vec<IpAddr>,
    /// What comes in that no rule names.
    pub inbound: Inbound,
    /// With [`Inbound::DefaultDeny`]: the ports the allow table may reach besides the client
    /// ports, sorted, unique.
    pub admin_ports: Vec<u16>,
}

/// The virtual IP and where connections to it are redirected on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarpPolicy {
    /// Interface that holds the virtual IP and receives the clients' connections.
    pub interface: String,
    /// The virtual IPs the clients connect to: the main group's first, then those of
    /// `carp.groups` (an active/active site), in order.
    pub vips: Vec<IpAddr>,
    /// This host's own address on `cluster.bind_interface`: where its instances listen.
    pub redis_address: IpAddr,
    /// The interface `redis_address` belongs to (named in comments).
    pub bind_interface: String,
}

impl Policy {
    /// Builds the policy of host `host_name`, or of the only host when `None`.
    ///
    /// Fails when the host is ambiguous or unknown, when the site has no `firewall` section,
    /// or when the VIP cannot be redirected to the host's address. The site itself has
    /// already been validated by the `site` crate, names included: every interface name and
    /// path it hands over is safe to write into a ruleset unquoted.
    pub fn from_site(site: &Site, host_name: Option<&str>) -> Result<Policy, Error> {
        let host = match host_name {
            Some(name) => site.host(name)?,
            None => match site.hosts.as_slice() {
                [only] => only,
                hosts => {
                    return Err(Error::HostRequired {
                        known: hosts.iter().map(|h| h.name.clone()).collect(),
                    })
                }
            },
        };
        let firewall = site.firewall.as_ref().ok_or(Error::NoFirewall)?;
        let mut problems = Vec::new();

        if let Some(carp) = &site.carp {
            let bind = &site.cluster.bind_interface;
            let target = host.addresses[bind].addr();
            if carp.vip.addr().is_ipv4() != target.is_ipv4() {
                problems.push(format!(
                    "carp.vip: '{}' and the address '{target}' of host '{}' on {bind} \
                     (cluster.bind_interface) are of different IP versions; the redirect from \
                     the VIP cannot change the version, give the host an address of the VIP's",
                    carp.vip.addr(),
                    host.name
                ));
            }
        }
        let bus_ports = firewall.client_ports.bus_range();
        if bus_ports.is_none() {
            problems.push(format!(
                "firewall.client_ports: bus ports of {} pass 65535; use ports up to 55535",
                firewall.client_ports
            ));
        }
        let (Some(bus_ports), true) = (bus_ports, problems.is_empty()) else {
            return Err(Error::Unusable { problems });
        };

        let carp = site.carp.as_ref().map(|carp| CarpPolicy {
            interface: carp.interface.clone(),
            vips: site.carp_groups().iter().map(|g| g.vip.addr()).collect(),
            redis_address: host.addresses[&site.cluster.bind_interface].addr(),
            bind_interface: site.cluster.bind_interface.clone(),
        });
        let mut cluster_addresses: Vec<IpAddr> = site
            .hosts
            .iter()
            .flat_map(|h| h.addresses.values().map(site::Cidr::addr))
            .collect();
        cluster_addresses.sort();
        cluster_addresses.dedup();

        Ok(Policy {
            host: host.name.clone(),
            internal_interface: firewall.internal_interface.clone(),
            carp,
            sync_interface: site.pfsync.as_ref().map(|p| p.interface.clone()),
            client_ports: firewall.client_ports,
            bus_ports,
            allow_file: firewall.allow_file.clone(),
            allow: allow_entries(firewall),
            cluster_addresses,
            inbound: firewall.inbound,
            admin_ports: firewall.admin_ports.clone(),
        })
    }
}

/// The allow list as both outputs write it: sorted, each entry once, so the same set of
/// machines always gives the same bytes whatever order the site lists them in.
pub(crate) fn allow_entries(firewall: &site::Firewall) -> Vec<AllowEntry> {
    let mut allow = firewall.allow.clone();
    allow.sort();
    allow.dedup();
    allow
}
