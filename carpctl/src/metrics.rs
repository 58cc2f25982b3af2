//! The vhids as Prometheus text exposition, for node_exporter's textfile collector
//! (`carpctl status --format prom`): a pure rendering of what `status` read, so its text is
//! tested without an engine or a kernel.
//!
//! A running engine (Linux) publishes its state, demotion, skew or priority and counters; the
//! FreeBSD kernel shows its state, demotion, and skew or priority through `ifconfig`, and no
//! more is made up for it. Every series of a vhid is labelled by `vhid` and `interface` only;
//! what changes (the state, a reason) is a value or a label with every possible value present,
//! so a change never starts a new series that alerts and graphs would miss.

use std::collections::{BTreeMap, BTreeSet};

use toolkit::prom::{family, labels, Kind};

use crate::control::{self, Counters, EngineStatus};
use crate::freebsd::KernelCarp;
use crate::machine::State;
use crate::settings::VRRP3;

/// The states in the order the exposition lists them.
const STATES: [State; 3] = [State::Init, State::Backup, State::Master];

/// What the exposition shows of one vhid: the values its source has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhidValues<'a> {
    pub vhid: u8,
    pub interface: &'a str,
    pub state: State,
    /// The demotion by where it comes from (the `source` label), each part as it adds up.
    pub demotion: Vec<(&'static str, i64)>,
    pub protocol: Protocol,
    /// An engine's counters: none for the kernel's vhids, nor for an engine older than them.
    pub counters: Option<&'a Counters>,
    /// An engine's ignored advertisements by reason (none for the kernel's vhids).
    pub rejected: Option<&'a BTreeMap<String, u64>>,
}

/// The election values of a vhid: configured, and after the demotion where the source says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Carp {
        advskew: u8,
        effective_skew: Option<u8>,
    },
    Vrrp {
        priority: u8,
        effective_priority: Option<u8>,
    },
}

impl<'a> From<&'a EngineStatus> for VhidValues<'a> {
    fn from(e: &'a EngineStatus) -> Self {
        VhidValues {
            vhid: e.vhid,
            interface: &e.interface,
            state: e.state,
            demotion: vec![
                ("demote", e.demotion.into()),
                ("interfaces", e.link_demotion.into()),
                ("redis", e.health_demotion.into()),
            ],
            protocol: if e.carpver == VRRP3 {
                Protocol::Vrrp {
                    priority: e.vrrpprio,
                    effective_priority: Some(e.effective_priority),
                }
            } else {
                Protocol::Carp {
                    advskew: e.advskew,
                    effective_skew: Some(e.effective_skew),
                }
            },
            counters: e.counters.as_ref(),
            rejected: Some(&e.bad_adverts),
        }
    }
}

/// The kernel shows the configured values and its system-wide demotion, not what the adverts
/// carry.
impl<'a> From<&'a KernelCarp> for VhidValues<'a> {
    fn from(k: &'a KernelCarp) -> Self {
        VhidValues {
            vhid: k.vhid,
            interface: &k.interface,
            state: k.state,
            demotion: vec![("kernel", k.demotion)],
            protocol: if k.carpver == VRRP3 {
                Protocol::Vrrp {
                    priority: k.vrrpprio,
                    effective_priority: None,
                }
            } else {
                Protocol::Carp {
                    advskew: k.advskew,
                    effective_skew: None,
                }
            },
            counters: None,
            rejected: None,
        }
    }
}

/// The exposition of `vhids`, read at `now_unix` (seconds since the Unix epoch). The read time
/// is always there, also without a vhid, so monitoring tells a host where no vhid runs from a
/// file nobody writes any more.
pub fn prom(vhids: &[VhidValues<'_>], now_unix: u64) -> String {
    let mut out = String::new();
    let mut put = |name: &str, help: &str, kind: Kind, samples: Vec<(String, String)>| {
        // A family no vhid has a value for is left out, not declared empty.
        if !samples.is_empty() {
            family(&mut out, name, help, kind, &samples);
        }
    };
    put(
        "carpctl_status_timestamp_seconds",
        "When carpctl status read these values, in seconds since the Unix epoch.",
        Kind::Gauge,
        vec![(String::new(), now_unix.to_string())],
    );
    let each = |value: &dyn Fn(&VhidValues) -> Option<String>| -> Vec<(String, String)> {
        vhids
            .iter()
            .filter_map(|v| Some((vhid_labels(v, &[]), value(v)?)))
            .collect()
    };
    put(
        "carpctl_state",
        "1 for the state the vhid is in on this host, 0 for the others.",
        Kind::Gauge,
        vhids
            .iter()
            .flat_map(|v| {
                STATES.map(|state| {
                    let name = state.to_string().to_lowercase();
                    (
                        vhid_labels(v, &[("state", &name)]),
                        u8::from(v.state == state).to_string(),
                    )
                })
            })
            .collect(),
    );
    put(
        "carpctl_demotion",
        "Demotion added to the skew or taken from the priority, by source: carpctl demote, \
         interfaces down, Redis health (Linux engine), or the kernel's net.inet.carp.demotion \
         (FreeBSD).",
        Kind::Gauge,
        vhids
            .iter()
            .flat_map(|v| {
                v.demotion.iter().map(|(source, value)| {
                    (vhid_labels(v, &[("source", source)]), value.to_string())
                })
            })
            .collect(),
    );
    put(
        "carpctl_advskew",
        "CARP: the configured skew.",
        Kind::Gauge,
        each(&|v| match v.protocol {
            Protocol::Carp { advskew, .. } => Some(advskew.to_string()),
            Protocol::Vrrp { .. } => None,
        }),
    );
    put(
        "carpctl_effective_skew",
        "CARP: the skew the advertisements carry, demotion included (at most 240).",
        Kind::Gauge,
        each(&|v| match v.protocol {
            Protocol::Carp { effective_skew, .. } => effective_skew.map(|s| s.to_string()),
            Protocol::Vrrp { .. } => None,
        }),
    );
    put(
        "carpctl_vrrp_priority",
        "VRRPv3: the configured priority.",
        Kind::Gauge,
        each(&|v| match v.protocol {
            Protocol::Vrrp { priority, .. } => Some(priority.to_string()),
            Protocol::Carp { .. } => None,
        }),
    );
    put(
        "carpctl_effective_priority",
        "VRRPv3: the priority the advertisements carry, demotion taken off (at least 1).",
        Kind::Gauge,
        each(&|v| match v.protocol {
            Protocol::Vrrp {
                effective_priority, ..
            } => effective_priority.map(|p| p.to_string()),
            Protocol::Carp { .. } => None,
        }),
    );
    put(
        "carpctl_engine_start_time_seconds",
        "When the engine started, in seconds since the Unix epoch; its counters count from then.",
        Kind::Gauge,
        each(&|v| v.counters.map(|c| c.started_unix.to_string())),
    );
    put(
        "carpctl_transitions_total",
        "State changes of the vhid, by the state entered.",
        Kind::Counter,
        vhids
            .iter()
            .filter_map(|v| Some((v, v.counters?)))
            .flat_map(|(v, c)| {
                STATES.map(|state| {
                    let name = state.to_string().to_lowercase();
                    let count = c.transitions.get(&state).copied().unwrap_or(0);
                    (vhid_labels(v, &[("to", &name)]), count.to_string())
                })
            })
            .collect(),
    );
    put(
        "carpctl_advertisements_sent_total",
        "Advertisements sent, one per destination (the multicast group, or each peer).",
        Kind::Counter,
        each(&|v| v.counters.map(|c| c.adverts_sent.to_string())),
    );
    put(
        "carpctl_advertisements_received_total",
        "Valid advertisements received from the other nodes of the vhid.",
        Kind::Counter,
        each(&|v| v.counters.map(|c| c.adverts_received.to_string())),
    );
    put(
        "carpctl_garp_refreshes_total",
        "Announcements repeated while MASTER (--garp-refresh): a gratuitous ARP or neighbour \
         advertisement per virtual address each.",
        Kind::Counter,
        each(&|v| v.counters.map(|c| c.garp_refreshes.to_string())),
    );
    put(
        "carpctl_advertisements_rejected_total",
        "Advertisements ignored, by reason: hmac (wrong password or forged), replayed, \
         off_link and ttl (sent from elsewhere), not_peer, version, checksum, malformed.",
        Kind::Counter,
        vhids
            .iter()
            .filter_map(|v| Some((v, v.rejected?)))
            .flat_map(|(v, rejected)| {
                // Every reason, at 0 until it happens: increase() sees the first one too.
                let mut reasons: BTreeSet<&str> = rejected.keys().map(String::as_str).collect();
                for reason in control::rejection_reasons() {
                    reasons.insert(reason);
                }
                reasons
                    .into_iter()
                    .map(|reason| {
                        let count = rejected.get(reason).copied().unwrap_or(0);
                        (vhid_labels(v, &[("reason", reason)]), count.to_string())
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    out
}

/// The labels of a vhid's series, and `more`.
fn vhid_labels(v: &VhidValues<'_>, more: &[(&str, &str)]) -> String {
    let vhid = v.vhid.to_string();
    let mut pairs = vec![("vhid", vhid.as_str()), ("interface", v.interface)];
    pairs.extend_from_slice(more);
    labels(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freebsd;

    /// A CARP engine's state file, as `run` writes it (counters included) or, without
    /// `counters`, as an engine older than them wrote it.
    fn engine(counters: bool) -> EngineStatus {
        let mut status = serde_json::json!({
            "vhid": 10, "interface": "eth1", "state": "MASTER", "pid": 4242,
            "src": "10.0.10.11", "vips": ["10.0.10.100/24"], "advbase": 1, "advskew": 100,
            "demotion": 20, "link_demotion": 0, "effective_skew": 120, "preempt": true,
            "since": "2026-01-01T00:00:00.000Z", "bad_adverts": {"hmac": 3},
            "last_peer": "10.0.10.12", "links": {"eth1": "up"}, "carpver": 2,
            "vrrpprio": 100, "effective_priority": 0, "vrrpinterval": 100,
            "master_interval_cs": 139, "peers": []
        });
        if counters {
            status["counters"] = serde_json::json!({
                "started_unix": 1_767_225_000u64,
                "transitions": {"BACKUP": 1, "MASTER": 2, "INIT": 0},
                "adverts_sent": 7200, "adverts_received": 35
            });
        }
        serde_json::from_value(status).unwrap()
    }

    fn series<'t>(text: &'t str, name: &str) -> Vec<&'t str> {
        text.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
            .collect()
    }

    #[test]
    fn an_engine_with_counters_renders_as_its_golden_text() {
        let status = engine(true);
        let text = prom(&[VhidValues::from(&status)], 1_767_225_600);
        let labels = "vhid=\"10\",interface=\"eth1\"";
        let golden = format!(
            "# HELP carpctl_status_timestamp_seconds When carpctl status read these values, in seconds since the Unix epoch.
# TYPE carpctl_status_timestamp_seconds gauge
carpctl_status_timestamp_seconds 1767225600
# HELP carpctl_state 1 for the state the vhid is in on this host, 0 for the others.
# TYPE carpctl_state gauge
carpctl_state{{{labels},state=\"init\"}} 0
carpctl_state{{{labels},state=\"backup\"}} 0
carpctl_state{{{labels},state=\"master\"}} 1
# HELP carpctl_demotion Demotion added to the skew or taken from the priority, by source: carpctl demote, interfaces down, Redis health (Linux engine), or the kernel's net.inet.carp.demotion (FreeBSD).
# TYPE carpctl_demotion gauge
carpctl_demotion{{{labels},source=\"demote\"}} 20
carpctl_demotion{{{labels},source=\"interfaces\"}} 0
carpctl_demotion{{{labels},source=\"redis\"}} 0
# HELP carpctl_advskew CARP: the configured skew.
# TYPE carpctl_advskew gauge
carpctl_advskew{{{labels}}} 100
# HELP carpctl_effective_skew CARP: the skew the advertisements carry, demotion included (at most 240).
# TYPE carpctl_effective_skew gauge
carpctl_effective_skew{{{labels}}} 120
# HELP carpctl_engine_start_time_seconds When the engine started, in seconds since the Unix epoch; its counters count from then.
# TYPE carpctl_engine_start_time_seconds gauge
carpctl_engine_start_time_seconds{{{labels}}} 1767225000
# HELP carpctl_transitions_total State changes of the vhid, by the state entered.
# TYPE carpctl_transitions_total counter
carpctl_transitions_total{{{labels},to=\"init\"}} 0
carpctl_transitions_total{{{labels},to=\"backup\"}} 1
carpctl_transitions_total{{{labels},to=\"master\"}} 2
# HELP carpctl_advertisements_sent_total Advertisements sent, one per destination (the multicast group, or each peer).
# TYPE carpctl_advertisements_sent_total counter
carpctl_advertisements_sent_total{{{labels}}} 7200
# HELP carpctl_advertisements_received_total Valid advertisements received from the other nodes of the vhid.
# TYPE carpctl_advertisements_received_total counter
carpctl_advertisements_received_total{{{labels}}} 35
# HELP carpctl_garp_refreshes_total Announcements repeated while MASTER (--garp-refresh): a gratuitous ARP or neighbour advertisement per virtual address each.
# TYPE carpctl_garp_refreshes_total counter
carpctl_garp_refreshes_total{{{labels}}} 0
# HELP carpctl_advertisements_rejected_total Advertisements ignored, by reason: hmac (wrong password or forged), replayed, off_link and ttl (sent from elsewhere), not_peer, version, checksum, malformed.
# TYPE carpctl_advertisements_rejected_total counter
carpctl_advertisements_rejected_total{{{labels},reason=\"checksum\"}} 0
carpctl_advertisements_rejected_total{{{labels},reason=\"hmac\"}} 3
carpctl_advertisements_rejected_total{{{labels},reason=\"malformed\"}} 0
carpctl_advertisements_rejected_total{{{labels},reason=\"not_peer\"}} 0
carpctl_advertisements_rejected_total{{{labels},reason=\"off_link\"}} 0
carpctl_advertisements_rejected_total{{{labels},reason=\"replayed\"}} 0
carpctl_advertisements_rejected_total{{{labels},reason=\"ttl\"}} 0
carpctl_advertisements_rejected_total{{{labels},reason=\"version\"}} 0
"
        );
        assert_eq!(text, golden);
    }

    /// An engine started before the counters existed keeps running across an upgrade: its
    /// state and rejections show, no counter is made up for it.
    #[test]
    fn an_older_engine_shows_no_counters() {
        let status = engine(false);
        let text = prom(&[VhidValues::from(&status)], 1);
        assert_eq!(series(&text, "carpctl_state").len(), 3);
        assert_eq!(
            series(&text, "carpctl_advertisements_rejected_total").len(),
            8
        );
        for name in [
            "carpctl_engine_start_time_seconds",
            "carpctl_transitions_total",
            "carpctl_advertisements_sent_total",
            "carpctl_advertisements_received_total",
            "carpctl_garp_refreshes_total",
        ] {
            assert!(!text.contains(name), "{name}: {text}");
        }
    }

    /// A reason a newer engine counts and this list does not know still shows.
    #[test]
    fn an_unknown_rejection_reason_is_kept() {
        let mut status = engine(true);
        status.bad_adverts.insert("future".into(), 4);
        let text = prom(&[VhidValues::from(&status)], 1);
        assert!(text.contains(
            "carpctl_advertisements_rejected_total{vhid=\"10\",interface=\"eth1\",reason=\"future\"} 4\n"
        ));
    }

    #[test]
    fn a_vrrp_engine_shows_priorities_not_skews() {
        let mut status = engine(true);
        status.carpver = VRRP3;
        status.vrrpprio = 150;
        status.effective_priority = 130;
        let text = prom(&[VhidValues::from(&status)], 1);
        assert!(text.contains("\ncarpctl_vrrp_priority{vhid=\"10\",interface=\"eth1\"} 150\n"));
        assert!(text.contains("\ncarpctl_effective_priority{vhid=\"10\",interface=\"eth1\"} 130\n"));
        for absent in ["carpctl_advskew", "carpctl_effective_skew"] {
            assert!(!text.contains(absent), "{absent}: {text}");
        }
    }

    /// FreeBSD: the state, the kernel's demotion and the configured skew or priority, as
    /// ifconfig and sysctl show them; no counter, no effective value.
    #[test]
    fn the_kernels_vhids_show_what_the_kernel_has() {
        let ifconfig = "em1: flags=1\n\tinet 10.0.10.100 netmask 0xffffff00 vhid 10\n\
                        \tcarp: BACKUP vhid 10 advbase 1 advskew 100\n\
                        \tinet 10.0.10.110 netmask 0xffffffff vhid 12\n\
                        \tvrrp: MASTER vrid 12 prio 150 interval 50\n";
        let kernel: Vec<KernelCarp> = freebsd::parse_ifconfig(ifconfig)
            .unwrap()
            .into_iter()
            .map(|k| k.with_demotion(240))
            .collect();
        let values: Vec<VhidValues> = kernel.iter().map(VhidValues::from).collect();
        let text = prom(&values, 1_767_225_600);
        let at = |vhid: &str, more: &str| format!("{{vhid=\"{vhid}\",interface=\"em1\"{more}}}");
        for line in [
            format!("carpctl_state{} 1", at("10", ",state=\"backup\"")),
            format!("carpctl_state{} 1", at("12", ",state=\"master\"")),
            format!("carpctl_demotion{} 240", at("10", ",source=\"kernel\"")),
            format!("carpctl_advskew{} 100", at("10", "")),
            format!("carpctl_vrrp_priority{} 150", at("12", "")),
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line}:\n{text}");
        }
        for absent in ["effective", "_total", "start_time"] {
            assert!(!text.contains(absent), "{absent}:\n{text}");
        }
        assert_eq!(series(&text, "carpctl_demotion").len(), 2);
    }

    /// Nothing runs: the read time alone, so the file is fresh and holds no old vhid.
    #[test]
    fn no_vhid_leaves_the_timestamp_alone() {
        assert_eq!(
            prom(&[], 5),
            "# HELP carpctl_status_timestamp_seconds When carpctl status read these values, in \
             seconds since the Unix epoch.\n# TYPE carpctl_status_timestamp_seconds gauge\n\
             carpctl_status_timestamp_seconds 5\n"
        );
    }

    /// An interface name is the kernel's, but the labels are escaped whatever it holds.
    #[test]
    fn an_odd_interface_name_is_escaped() {
        let mut status = engine(false);
        status.interface = "e\"th\u{1b}".into();
        let text = prom(&[VhidValues::from(&status)], 1);
        assert!(text.contains("interface=\"e\\\"th\\\\u{1b}\""), "{text}");
    }
}
