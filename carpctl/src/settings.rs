//! The typed settings of `carpctl run`, built from the command line or from the site JSON,
//! validated before anything touches the network, and the password file reader.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use redis_cluster::{ConnectOptions, NodeAddr};

use crate::error::Error;
use crate::health;
use crate::machine::Offer;
use crate::wire::{vrrp, Password, MAX_PASSWORD_LEN};

/// The protocol version of `--carpver` that speaks CARP (FreeBSD's, ucarp's).
pub const CARP: u8 = 2;
/// The protocol version of `--carpver` that speaks VRRPv3 (RFC 5798, keepalived's).
pub const VRRP3: u8 = 3;
/// Default VRRP priority (RFC 5798's default for a backup).
pub const DEFAULT_VRRP_PRIORITY: u8 = 100;
/// Default VRRP advertisement interval in centiseconds (1 s).
pub const DEFAULT_VRRP_INTERVAL_CS: u16 = 100;

/// Default directory of state files and control sockets (FreeBSD: where `demote` keeps what it
/// added to the kernel's demotion).
pub const DEFAULT_STATE_DIR: &str = if cfg!(target_os = "freebsd") {
    "/var/run/carpctl"
} else {
    "/run/carpctl"
};

/// Everything `carpctl run` needs for one vhid.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub interface: String,
    pub vhid: u8,
    /// The virtual addresses with the prefix length they get on the interface; in VRRP all
    /// of the family the adverts travel in.
    pub vips: Vec<IpNet>,
    /// 2 (CARP) or 3 (VRRPv3).
    pub carpver: u8,
    pub advbase: u8,
    pub advskew: u8,
    /// VRRP priority, 1 to 254.
    pub vrrpprio: u8,
    /// VRRP interval in centiseconds, 1 to 4095.
    pub vrrpinterval: u16,
    pub preempt: bool,
    /// Seconds after start-up before this node preempts (keepalived's `preempt_delay`).
    pub preempt_delay: u16,
    /// Seconds between repeated announcements while MASTER, 0 for none (keepalived's
    /// `vrrp_garp_master_refresh`).
    pub garp_refresh: u16,
    /// Unicast peers the adverts go to instead of the group; empty for multicast.
    pub peers: Vec<IpAddr>,
    /// Our source address; found on the interface when absent.
    pub src: Option<IpAddr>,
    /// Unused by VRRP (version 3 has no authentication).
    pub password: Password,
    /// Where the password came from: SIGHUP reads it again.
    pub pass_file: PathBuf,
    /// Interfaces whose loss demotes this node (the CARP interface always counts).
    pub track: Vec<String>,
    pub up_hook: Option<String>,
    pub down_hook: Option<String>,
    pub state_dir: PathBuf,
    /// Redis health tracking, when asked for.
    pub redis: Option<RedisTracking>,
}

/// What `--track-redis` probes, how often, and what the probes add up to.
#[derive(Debug, Clone)]
pub struct RedisTracking {
    pub instances: Vec<NodeAddr>,
    pub interval: Duration,
    pub rules: health::Rules,
    /// Who the probes authenticate as.
    pub options: ConnectOptions,
    /// Run when the host enters a fault and when it ends.
    pub fault_hook: Option<String>,
}

/// The default of `--track-stall` without a site: the how-to's cluster-node-timeout.
pub const DEFAULT_TRACK_STALL: Duration = Duration::from_secs(5);

/// The Redis instances of `host` in `site`: its address on `cluster.bind_interface`, on every
/// port of `cluster.ports`.
pub fn site_instances(site: &site::Site, host: &str) -> Result<Vec<NodeAddr>, Error> {
    let found = site.host(host)?;
    let bind = &site.cluster.bind_interface;
    let Some(addr) = found.address(bind).map(site::Cidr::addr) else {
        return Err(Error::Invalid {
            field: "hosts[].addresses",
            value: String::new(),
            fix: format!("host '{host}' needs an address on cluster.bind_interface '{bind}'"),
        });
    };
    Ok(site
        .cluster
        .ports
        .iter()
        .map(|&port| NodeAddr(std::net::SocketAddr::new(addr, port)))
        .collect())
}

/// The values given on the command line, before validation.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub interface: String,
    pub vhid: u8,
    pub vips: Vec<IpNet>,
    pub carpver: u8,
    pub advbase: u8,
    pub advskew: u8,
    pub vrrpprio: u8,
    pub vrrpinterval: u16,
    pub preempt: bool,
    pub preempt_delay: u16,
    pub garp_refresh: u16,
    pub peers: Vec<IpAddr>,
    pub src: Option<IpAddr>,
    pub track: Vec<String>,
}

/// A password and what the operator should hear about the file it came from.
pub struct PasswordFile {
    pub password: Password,
    pub warnings: Vec<String>,
}

/// Reads the first line of `path` as the password. Warns when others may read the file
/// and when it is longer than the 19 bytes FreeBSD keeps.
pub fn read_password(path: &Path) -> Result<PasswordFile, Error> {
    let file = toolkit::secret::read_password_file(path).map_err(Error::PassFile)?;
    let mut warnings = file.warnings;
    let line = file.password.as_bytes();
    if line.len() > MAX_PASSWORD_LEN {
        warnings.push(format!(
            "the password in '{}' is {} bytes long; only the first {MAX_PASSWORD_LEN} count, as on FreeBSD (ucarp refuses longer ones)",
            path.display(),
            line.len()
        ));
    }
    Ok(PasswordFile {
        password: Password::new(line),
        warnings,
    })
}

impl RunArgs {
    /// Checks ranges and address families; the error names the field and the value.
    pub fn validate(
        self,
        password: Password,
        pass_file: PathBuf,
        up_hook: Option<String>,
        down_hook: Option<String>,
        state_dir: PathBuf,
    ) -> Result<RunSettings, Error> {
        let invalid = |field, value: String, fix: &str| Error::Invalid {
            field,
            value,
            fix: fix.to_string(),
        };
        if self.vhid == 0 {
            return Err(invalid("vhid", "0".into(), "use a vhid from 1 to 255"));
        }
        if self.advbase == 0 {
            return Err(invalid(
                "advbase",
                "0".into(),
                "use an interval from 1 to 255 seconds",
            ));
        }
        if self.advskew == 255 {
            return Err(invalid(
                "advskew",
                "255".into(),
                "use a skew from 0 to 254 (255 marks a bow-out)",
            ));
        }
        if self.vips.is_empty() {
            return Err(invalid(
                "vip",
                String::new(),
                "give at least one --vip ADDR/PREFIX",
            ));
        }
        if self.carpver != CARP && self.carpver != VRRP3 {
            return Err(invalid(
                "carpver",
                self.carpver.to_string(),
                "use 2 (CARP) or 3 (VRRPv3)",
            ));
        }
        check_vrrp(self.vrrpprio, self.vrrpinterval)?;
        let list = |addrs: &mut dyn Iterator<Item = String>| addrs.collect::<Vec<_>>().join(" ");
        for peer in &self.peers {
            if peer.is_multicast() || peer.is_unspecified() || peer.is_loopback() {
                return Err(invalid(
                    "peer",
                    peer.to_string(),
                    "give the unicast address of another node (leave --peer out for multicast)",
                ));
            }
            if self.vips.iter().any(|v| v.addr() == *peer) {
                return Err(invalid(
                    "peer",
                    peer.to_string(),
                    "a peer is another node's own address, not a virtual one",
                ));
            }
        }
        if self.peers.iter().any(IpAddr::is_ipv4) && self.peers.iter().any(IpAddr::is_ipv6) {
            return Err(invalid(
                "peer",
                list(&mut self.peers.iter().map(ToString::to_string)),
                "give peers of one family: the adverts travel in one",
            ));
        }
        let v4 = advertises_v4(&self.peers, &self.vips);
        if self.carpver == VRRP3 && self.vips.iter().any(|v| v.addr().is_ipv4() != v4) {
            return Err(invalid(
                "vip",
                list(&mut self.vips.iter().map(ToString::to_string)),
                "VRRP carries the addresses of one family, the family of its adverts and \
                 peers; run one engine per family",
            ));
        }
        let vips = self.vips.clone();
        if let Some(src) = self.src {
            if vips.iter().any(|v| v.addr() == src) {
                return Err(invalid(
                    "src",
                    src.to_string(),
                    "the source must be the host's own address, not a virtual one",
                ));
            }
            if src.is_ipv4() != v4 {
                return Err(invalid(
                    "src",
                    src.to_string(),
                    &format!(
                        "the adverts travel over {}; give a source of that family",
                        if v4 { "IPv4" } else { "IPv6" }
                    ),
                ));
            }
        }
        // The site crate's rule, so --interface, --track and carp.interface accept the
        // same names.
        for (field, name) in std::iter::once(("interface", &self.interface))
            .chain(self.track.iter().map(|t| ("track", t)))
        {
            if let Err(why) = site::check_interface_name(name) {
                return Err(invalid(
                    field,
                    name.escape_debug().to_string(),
                    &format!("{why}; give the name of the interface, like eth0"),
                ));
            }
        }
        Ok(RunSettings {
            interface: self.interface,
            vhid: self.vhid,
            vips,
            carpver: self.carpver,
            advbase: self.advbase,
            advskew: self.advskew,
            vrrpprio: self.vrrpprio,
            vrrpinterval: self.vrrpinterval,
            preempt: self.preempt,
            preempt_delay: self.preempt_delay,
            garp_refresh: self.garp_refresh,
            peers: self.peers,
            src: self.src,
            password,
            pass_file,
            track: self.track,
            up_hook,
            down_hook,
            state_dir,
            redis: None,
        })
    }

    /// The settings of `host` in `site`: the carp section, the host's skew, and its address
    /// on the CARP interface as source. Returns the password file path with them.
    pub fn from_site(
        site: &site::Site,
        host: &str,
        vhid: Option<u8>,
    ) -> Result<(RunArgs, PathBuf), Error> {
        let host = site.host(host)?;
        let carp = site.carp.as_ref().ok_or_else(|| Error::Invalid {
            field: "carp",
            value: String::new(),
            fix: "the site has no \"carp\" section; add one to run a virtual IP".into(),
        })?;
        let Some(own) = host.address(&carp.interface).map(site::Cidr::addr) else {
            return Err(Error::Invalid {
                field: "hosts[].addresses",
                value: String::new(),
                fix: format!(
                    "host '{}' needs an address on the CARP interface '{}'",
                    host.name, carp.interface
                ),
            });
        };
        let group = site_group(site, vhid)?;
        let standing = site
            .standing(&group, &host.name)
            .expect("the host was found in the site above");
        let peers = site_peers(carp, Some(own));
        // Over IPv6 multicast the source is the interface's link-local address, which the
        // engine finds; the site lists global ones.
        let src = (own.is_ipv4() || !peers.is_empty()).then_some(own);
        let (vrrpprio, vrrpinterval) = site_vrrp(carp, standing);
        Ok((
            RunArgs {
                interface: carp.interface.clone(),
                vhid: group.vhid,
                vips: vec![group.vip.0],
                carpver: carp.carpver.unwrap_or(CARP),
                advbase: carp.advbase,
                advskew: standing.advskew,
                vrrpprio,
                vrrpinterval,
                preempt: carp.preempt,
                preempt_delay: carp.preempt_delay.unwrap_or(0),
                garp_refresh: carp.garp_refresh.unwrap_or(0),
                peers,
                src,
                track: Vec::new(),
            },
            carp.pass_file.clone(),
        ))
    }
}

/// The site's group `vhid` (default: the main group, `carp.vhid`), or an error listing the
/// site's vhids.
pub fn site_group(site: &site::Site, vhid: Option<u8>) -> Result<site::Group<'_>, Error> {
    let groups = site.carp_groups();
    let wanted = vhid.or_else(|| groups.first().map(|g| g.vhid));
    groups
        .iter()
        .find(|g| Some(g.vhid) == wanted)
        .cloned()
        .ok_or_else(|| Error::Invalid {
            field: "vhid",
            value: vhid.map(|v| v.to_string()).unwrap_or_default(),
            fix: format!(
                "the site's CARP groups have vhids {}; pick one of them",
                groups
                    .iter()
                    .map(|g| g.vhid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// This host's VRRPv3 priority and advertisement interval (centiseconds) in the group it holds
/// `standing` in, RFC 5798's defaults where the site gives none: what the Linux engine
/// advertises and what FreeBSD's kernel is told, so that both sides of a site agree.
pub fn site_vrrp(carp: &site::Carp, standing: site::Standing) -> (u8, u16) {
    (
        standing.vrrpprio.unwrap_or(DEFAULT_VRRP_PRIORITY),
        carp.vrrpinterval.unwrap_or(DEFAULT_VRRP_INTERVAL_CS),
    )
}

/// The unicast peers of the node whose own address on the CARP interface is `own`: every node
/// of `carp.peers` but itself; empty for multicast.
pub fn site_peers(carp: &site::Carp, own: Option<IpAddr>) -> Vec<IpAddr> {
    carp.peers
        .iter()
        .copied()
        .filter(|p| Some(*p) != own)
        .collect()
}

/// A VRRPv3 priority and interval a backup may advertise (RFC 5798 keeps priority 0 for a
/// master that stops and 255 for the address owner; the interval is 12 bits of centiseconds).
/// FreeBSD's `ifconfig … vrrpinterval` takes the same 1–4095 centiseconds; its `vrrpprio` is
/// checked by neither ifconfig nor the kernel, so this is where a bad one is caught.
pub fn check_vrrp(priority: u8, interval_cs: u16) -> Result<(), Error> {
    if !(1..=254).contains(&priority) {
        return Err(Error::Invalid {
            field: "vrrpprio",
            value: priority.to_string(),
            fix: "use a priority from 1 to 254 (255 is the address owner, 0 a master that stops)"
                .into(),
        });
    }
    if !(1..=vrrp::MAX_INTERVAL_CS).contains(&interval_cs) {
        return Err(Error::Invalid {
            field: "vrrpinterval",
            value: interval_cs.to_string(),
            fix: "use an interval from 1 to 4095 centiseconds".into(),
        });
    }
    Ok(())
}

/// Whether adverts travel over IPv4: to IPv4 peers, or to the IPv4 group when there is an
/// IPv4 virtual address (CARP signs IPv6 ones along with it).
fn advertises_v4(peers: &[IpAddr], vips: &[IpNet]) -> bool {
    match peers.first() {
        Some(peer) => peer.is_ipv4(),
        None => vips.iter().any(|v| v.addr().is_ipv4()),
    }
}

impl RunSettings {
    /// The addresses the HMAC covers (CARP) or the advert lists (VRRP): the virtual
    /// addresses without prefix.
    pub fn hashed_addresses(&self) -> Vec<IpAddr> {
        self.vips.iter().map(IpNet::addr).collect()
    }

    /// The protocol and this node's values in it.
    pub fn offer(&self) -> Offer {
        if self.carpver == VRRP3 {
            Offer::Vrrp {
                priority: self.vrrpprio,
                interval_cs: self.vrrpinterval,
            }
        } else {
            Offer::Carp {
                advbase: self.advbase,
                advskew: self.advskew,
            }
        }
    }

    /// Whether the adverts travel over IPv4 (else IPv6).
    pub fn advertises_v4(&self) -> bool {
        advertises_v4(&self.peers, &self.vips)
    }

    /// Where the adverts go: the peers, or the group of their family.
    pub fn destinations(&self) -> Vec<IpAddr> {
        if !self.peers.is_empty() {
            self.peers.clone()
        } else if self.advertises_v4() {
            vec![IpAddr::V4(crate::wire::GROUP)]
        } else {
            vec![IpAddr::V6(vrrp::GROUP_V6)]
        }
    }
}

#[cfg(test)]
mod tests;
