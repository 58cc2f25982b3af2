//! The CARP groups of a site as every tool sees them, and each host's standing in each.
//!
//! The single-VIP form has one group: `carp.vhid` and `carp.vip`, held by the host of lowest
//! `advskew` (highest `vrrpprio` with VRRPv3), with the skews the hosts list. An active/active
//! site adds `carp.groups`: each its own vhid and VIP, preferred by its `master` host. Their
//! skews are not written per host but derived from a rank: the master is rank 0, the other
//! hosts follow in host order after it (wrapping around), so that when two hosts are lost the
//! takeover order is still defined, and every host backs up every other host's group.

use crate::model::{Cidr, Host, Site};

/// CARP skew per rank in a derived group. Small, because a backup's takeover waits
/// 3 × advbase + advskew/256 s: rank 1 of a group takes over 25/256 s (about 0.1 s) after the
/// three silent intervals, rank 2 another 0.1 s later.
pub const RANK_SKEW: u8 = 25;

/// One CARP group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'s> {
    pub vhid: u8,
    pub vip: Cidr,
    /// The host that holds it while alive.
    pub master: &'s str,
    /// Whether the skews are derived by rank (a `carp.groups` entry) rather than the hosts'
    /// own `advskew`/`vrrpprio` (the main group).
    pub derived: bool,
}

/// A host's values in one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// CARP skew: lower wins.
    pub advskew: u8,
    /// VRRPv3 priority: higher wins; `None` where the host lists none (the engine's default).
    pub vrrpprio: Option<u8>,
}

impl Site {
    /// Every CARP group: the main one first, then `carp.groups` in order; empty without a
    /// `carp` section.
    pub fn carp_groups(&self) -> Vec<Group<'_>> {
        let Some(carp) = &self.carp else {
            return Vec::new();
        };
        let main = Group {
            vhid: carp.vhid,
            vip: carp.vip,
            master: self.main_master().map_or("", |h| h.name.as_str()),
            derived: false,
        };
        std::iter::once(main)
            .chain(carp.groups.iter().map(|g| Group {
                vhid: g.vhid,
                vip: g.vip,
                master: &g.master,
                derived: true,
            }))
            .collect()
    }

    /// The group with `vhid`.
    pub fn carp_group(&self, vhid: u8) -> Option<Group<'_>> {
        self.carp_groups().into_iter().find(|g| g.vhid == vhid)
    }

    /// What `host` advertises in `group`: its own values in the main group, the values of
    /// its rank in a derived one. `None` for a host the site does not list.
    pub fn standing(&self, group: &Group<'_>, host: &str) -> Option<Standing> {
        let at = self.hosts.iter().position(|h| h.name == host)?;
        if !group.derived {
            let host = &self.hosts[at];
            return Some(Standing {
                advskew: host.advskew,
                vrrpprio: host.vrrpprio,
            });
        }
        let count = self.hosts.len();
        let master = self.hosts.iter().position(|h| h.name == group.master)?;
        let rank = (at + count - master) % count;
        let step = usize::from(RANK_SKEW).min(253 / count.saturating_sub(1).max(1));
        let advskew = u8::try_from(rank * step).expect("rank × step stays under 254");
        Some(Standing {
            advskew,
            vrrpprio: Some(254 - advskew),
        })
    }

    /// The main group's master: lowest advskew, or with VRRPv3 highest vrrpprio (default
    /// 100), the first listed on a tie.
    fn main_master(&self) -> Option<&Host> {
        let vrrp = self.carp.as_ref().and_then(|c| c.carpver) == Some(3);
        self.hosts.iter().min_by_key(|h| {
            if vrrp {
                255 - u16::from(h.vrrpprio.unwrap_or(100))
            } else {
                u16::from(h.advskew)
            }
        })
    }
}
