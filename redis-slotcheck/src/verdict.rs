//! The CARP verdict of one host: from a report and `carpctl status`, whether the host's own
//! instances are broken and what to do with its CARP groups (demote, promote or nothing), and
//! why. This is the policy `scripts/cluster-health` runs every minute; it is pure so that it is
//! tested on recorded reports, and the script only executes the carpctl command it names.
//!
//! The verdict moves only the demotion without a hold (`carpctl demote --no-hold`), which it
//! takes back by itself once the host is healthy (`carpctl promote --unless-held`). A
//! demotion an operator typed (`carpctl demote`) comes with a hold and stays until
//! `carpctl promote`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::report::{CheckName, Report};
use toolkit::words::name_list;

/// The checks that find an instance itself at fault when they name it, each with what that
/// says of it. The other CRITICAL checks (`slot_agreement`, `slot_owners`, `id_conflicts`)
/// name every node of a disagreement, the healthy side too: one reset instance would make
/// every host look broken and demote them all.
const AT_FAULT: [(CheckName, &str); 5] = [
    (CheckName::Reachable, "unreachable"),
    (CheckName::ClusterEnabled, "not cluster-enabled"),
    (CheckName::ClusterState, "cluster_state fail"),
    (CheckName::SlotCoverage, "its slots unserved"),
    (CheckName::FailedMasters, "flagged fail with slots"),
];

/// Names shown in a reason before "and N others".
const NAMES_SHOWN: usize = 4;

/// What the verdict reads of `carpctl status --format json`. carpctl's status says much more
/// and grows with carpctl; only these fields are read, so a newer carpctl still fits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CarpStatus {
    /// One entry per vhid; none when no CARP engine runs here.
    pub vhids: Vec<CarpVhid>,
    /// The demotions set by hand.
    pub holds: Vec<CarpHold>,
}

/// One vhid of `carpctl status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CarpVhid {
    pub vhid: u8,
    /// What `carpctl demote` added to this engine (Linux), or the kernel's system-wide
    /// demotion (FreeBSD, where an interface down adds to it as well).
    pub demotion: i64,
}

/// One hold of `carpctl status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CarpHold {
    /// The vhid it holds; none for every engine.
    pub vhid: Option<u8>,
    /// When it was set (RFC 3339, UTC).
    pub since: String,
}

impl CarpHold {
    fn covers(&self, vhid: u8) -> bool {
        self.vhid.is_none_or(|v| v == vhid)
    }
}

/// What to do with this host's CARP groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Run `carpctl demote --no-hold`: the virtual IP moves to a healthy host.
    Demote,
    /// Run `carpctl promote --unless-held`: the host takes back what it demoted itself.
    Promote,
    /// Leave CARP as it is.
    None,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Demote => "demote",
            Action::Promote => "promote",
            Action::None => "none",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why the action, as a word scripts and alerts can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Broken, and a vhid is not demoted yet: demote.
    Broken,
    /// Healthy, and a vhid is demoted without a hold: promote.
    Recovered,
    /// Healthy and nothing demoted: none.
    Healthy,
    /// Broken, and every vhid is demoted already: none.
    AlreadyDemoted,
    /// Healthy, and every demoted vhid is held by an operator: none, until `carpctl promote`.
    Held,
    /// `carpctl status` shows no vhid: nothing to move.
    NoEngine,
}

/// One of the host's instances that makes it broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenInstance {
    /// The instance, as the report's `nodes[].node` names it.
    pub node: String,
    /// The checks that find it at fault.
    pub checks: Vec<CheckName>,
    /// What those checks say of it, as in their details.
    pub problems: Vec<String>,
}

/// What `redis-slotcheck carp-verdict` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The host judged, as the report names it.
    pub host: String,
    /// Whether one of its own instances is unreachable, not cluster-enabled, reports
    /// cluster_state fail, or holds slots nobody serves.
    pub broken: bool,
    /// Those instances; empty when the host is not broken.
    pub instances: Vec<BrokenInstance>,
    /// Every vhid `carpctl status` shows; empty when no CARP engine runs here.
    pub vhids: Vec<u8>,
    /// The vhids with a demotion.
    pub demoted: Vec<u8>,
    /// The vhids a hold set by hand covers.
    pub held: Vec<u8>,
    /// What to do: demote, promote or none.
    pub action: Action,
    /// Why, as a word: broken, recovered, healthy, already_demoted, held or no_engine.
    pub cause: Cause,
    /// Why, in words, naming the instances and vhids.
    pub reason: String,
}

/// Why there is no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    #[error("the report has no instance of host '{host}' (its hosts: {known}); pass --host as the report names hosts: the site's names with --site, otherwise the instances' IP addresses")]
    UnknownHost { host: String, known: String },
}

/// The verdict for `host` from `report` and `carp`: whether its own instances are broken, and
/// what to do with its CARP groups. Broken demotes while a vhid is not demoted yet; healthy
/// promotes while a vhid is demoted and no hold covers it; a hold is never touched.
pub fn verdict(report: &Report, host: &str, carp: &CarpStatus) -> Result<Verdict, VerdictError> {
    if !report.nodes.iter().any(|n| n.host == host) {
        let mut hosts: Vec<&str> = report.nodes.iter().map(|n| n.host.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        return Err(VerdictError::UnknownHost {
            host: host.to_string(),
            known: if hosts.is_empty() {
                "none: the report lists no node".to_string()
            } else {
                name_list(&hosts, hosts.len())
            },
        });
    }
    let instances: Vec<BrokenInstance> = report
        .nodes
        .iter()
        .filter(|n| n.host == host)
        .filter_map(|n| broken_instance(report, &n.node))
        .collect();
    let vhids: Vec<u8> = carp.vhids.iter().map(|v| v.vhid).collect();
    let demoted: Vec<u8> = carp
        .vhids
        .iter()
        .filter(|v| v.demotion > 0)
        .map(|v| v.vhid)
        .collect();
    let held: Vec<u8> = vhids
        .iter()
        .copied()
        .filter(|&v| carp.holds.iter().any(|h| h.covers(v)))
        .collect();
    let not_demoted: Vec<u8> = vhids
        .iter()
        .copied()
        .filter(|v| !demoted.contains(v))
        .collect();
    let unheld: Vec<u8> = demoted
        .iter()
        .copied()
        .filter(|v| !held.contains(v))
        .collect();

    let health = health_words(host, &instances);
    let held_text = || held_words(&held, &carp.holds);
    let (action, cause, carp_words) = if vhids.is_empty() {
        (
            Action::None,
            Cause::NoEngine,
            "no CARP engine runs here (carpctl status shows no vhid)".to_string(),
        )
    } else if !instances.is_empty() {
        if not_demoted.is_empty() {
            let mut words = format!("{} demoted already", every_vhid(&vhids));
            if !held.is_empty() {
                words += &format!(" ({})", held_text());
            }
            (Action::None, Cause::AlreadyDemoted, words)
        } else {
            let words = format!("{} not demoted yet", vhid_list(&not_demoted));
            (Action::Demote, Cause::Broken, words)
        }
    } else if !unheld.is_empty() {
        let mut words = format!("{} demoted without a hold", vhid_list(&unheld));
        if !held.is_empty() {
            words += &format!("; {}, and stays so", held_text());
        }
        (Action::Promote, Cause::Recovered, words)
    } else if !demoted.is_empty() {
        let words = format!("{}; `carpctl promote` clears the hold", held_text());
        (Action::None, Cause::Held, words)
    } else {
        let words = format!("{} not demoted", every_vhid(&vhids));
        (Action::None, Cause::Healthy, words)
    };
    Ok(Verdict {
        host: host.to_string(),
        broken: !instances.is_empty(),
        instances,
        vhids,
        demoted,
        held,
        action,
        cause,
        reason: format!("{health}; {carp_words}"),
    })
}

/// The instance `node` with what the at-fault checks say of it; none when they say nothing.
fn broken_instance(report: &Report, node: &str) -> Option<BrokenInstance> {
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    for (name, _) in AT_FAULT {
        let Some(check) = report.check(name) else {
            continue;
        };
        let found: Vec<&str> = check
            .details
            .iter()
            .filter(|d| d.nodes.iter().any(|n| n == node))
            .map(|d| d.message.as_str())
            .collect();
        if !found.is_empty() {
            checks.push(name);
            problems.extend(found.into_iter().map(str::to_string));
        }
    }
    (!checks.is_empty()).then(|| BrokenInstance {
        node: node.to_string(),
        checks,
        problems,
    })
}

/// "redis1's instances are healthy", "redis1's instance 10.0.10.11:7000 is broken
/// (unreachable)".
fn health_words(host: &str, instances: &[BrokenInstance]) -> String {
    if instances.is_empty() {
        return format!("{host}'s instances are healthy");
    }
    let named: Vec<String> = instances
        .iter()
        .map(|i| {
            let faults: Vec<&str> = i
                .checks
                .iter()
                .filter_map(|c| AT_FAULT.iter().find(|(n, _)| n == c).map(|(_, w)| *w))
                .collect();
            format!("{} ({})", i.node, faults.join(", "))
        })
        .collect();
    let (noun, verb) = if named.len() == 1 {
        ("instance", "is")
    } else {
        ("instances", "are")
    };
    format!(
        "{host}'s {noun} {} {verb} broken",
        name_list(&named, NAMES_SHOWN)
    )
}

/// "vhid 10 is", "vhids 10 and 11 are".
fn vhid_list(vhids: &[u8]) -> String {
    if vhids.len() == 1 {
        format!("vhid {} is", vhids[0])
    } else {
        format!("vhids {} are", name_list(vhids, vhids.len()))
    }
}

/// "vhid 10 is", "every vhid (10 and 11) is".
fn every_vhid(vhids: &[u8]) -> String {
    if vhids.len() == 1 {
        vhid_list(vhids)
    } else {
        format!("every vhid ({}) is", name_list(vhids, vhids.len()))
    }
}

/// "vhid 10 is held demoted by hand since T", naming the earliest hold that covers them.
fn held_words(held: &[u8], holds: &[CarpHold]) -> String {
    let since = holds
        .iter()
        .filter(|h| held.iter().any(|&v| h.covers(v)))
        .map(|h| h.since.as_str())
        .min()
        .unwrap_or("?");
    format!("{} held demoted by hand since {since}", vhid_list(held))
}

impl Verdict {
    /// One line for people and scripts: the action, a colon and the reason.
    pub fn text(&self) -> String {
        format!("{}: {}\n", self.action, self.reason)
    }
}

#[cfg(test)]
mod tests;
