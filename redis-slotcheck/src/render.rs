//! The report in each output format, as strings: JSON for scripts, text for people, Nagios
//! plugin output and Prometheus text exposition for monitoring. Pure functions, so every format
//! is tested without touching a socket or a file.
//!
//! Reports quote what nodes said (host names, flags, errors), and a node can say anything:
//! text, Nagios and Prometheus output escape every control character in it (JSON escapes its
//! own), so an ESC in a host name cannot rewrite the terminal or the monitoring page that shows
//! it.

use std::fmt::Write as _;

use crate::report::{Check, CheckName, NodeReport, Report, Role, Status};
use redis_cluster::slots::SLOT_COUNT;
use toolkit::prom::labels;

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Nagios,
    Prom,
}

/// Renders `report`; `pretty` asks for indented JSON (the other formats ignore it).
pub fn render(report: &Report, format: Format, pretty: bool) -> String {
    match format {
        Format::Json => json(report, pretty),
        Format::Text => text(report),
        Format::Nagios => nagios(report),
        Format::Prom => prom(report),
    }
}

/// The report as one JSON document and a newline.
pub fn json(report: &Report, pretty: bool) -> String {
    let mut out = if pretty {
        serde_json::to_string_pretty(report)
    } else {
        serde_json::to_string(report)
    }
    .expect("a report always serializes");
    out.push('\n');
    out
}

/// A summary for a terminal: the verdict, each check, then a table of nodes.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", report.status, shown(&report.summary));
    let _ = writeln!(out);
    for check in &report.checks {
        let _ = writeln!(
            out,
            "[{:<8}] {}: {}",
            check.status,
            check.name,
            shown(&check.summary)
        );
        for detail in &check.details {
            let _ = writeln!(out, "           - {}", shown(&detail.message));
        }
    }
    let _ = writeln!(out);
    let rows: Vec<(String, String)> = report
        .nodes
        .iter()
        .map(|n| (shown(&n.node), shown(&n.host)))
        .collect();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
    let host_width = rows.iter().map(|(_, h)| h.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<host_width$}  {:<7}  {:>6}  {:<8}  DETAIL",
        "NODE", "HOST", "ROLE", "SLOTS", "STATUS"
    );
    for (node, (name, host)) in report.nodes.iter().zip(&rows) {
        let role = match node.role {
            Role::Master => "master",
            Role::Replica => "replica",
            Role::Unknown => "-",
        };
        let detail = if let Some(error) = &node.error {
            shown(error)
        } else if let Some(master) = &node.master {
            format!("replica of {}", shown(master))
        } else {
            redis_cluster::slots::format_ranges(&node.slots)
        };
        let _ = writeln!(
            out,
            "{name:<width$}  {host:<host_width$}  {role:<7}  {:>6}  {:<8}  {detail}",
            node.slot_count, node.status
        );
    }
    out
}

/// Nagios plugin output: `REDIS CLUSTER <STATUS> - <summary> | perfdata`, then one line per
/// problem found. A report that knows no node (the run failed before any survey) has no
/// perfdata: zeros would be graphed as an outage that was never measured.
pub fn nagios(report: &Report) -> String {
    let t = &report.totals;
    let mut out = format!(
        "REDIS CLUSTER {} - {}",
        report.status,
        one_line(&report.summary)
    );
    if t.nodes > 0 {
        let _ = write!(
            out,
            " | 'slots_served'={};{max}:;{max}:;0;{max} 'nodes'={};;;0 'nodes_reachable'={};;;0;{} 'masters'={};;;0 'replicas'={};;;0 'open_slots'={};;;0",
            t.slots_served,
            t.nodes,
            t.reachable,
            t.nodes,
            t.masters,
            t.replicas,
            t.open_slots,
            max = SLOT_COUNT,
        );
    }
    out.push('\n');
    for check in report.checks.iter().filter(|c| c.status != Status::Ok) {
        for detail in &check.details {
            let _ = writeln!(
                out,
                "{} {}: {}",
                check.status,
                check.name,
                one_line(&detail.message)
            );
        }
    }
    out
}

/// Nagios reserves `|` for perfdata; the summary must not contain it or a newline (nor any
/// other control character).
fn one_line(text: &str) -> String {
    shown(&text.replace('|', "/").replace('\n', " "))
}

/// `text` with control and other unprintable characters escaped (`\u{1b}`).
fn shown(text: &str) -> String {
    toolkit::words::printable(text)
}

/// Prometheus text exposition, for node_exporter's textfile collector.
///
/// The series are the same in every state, so alerts and graphs never lose one: every check
/// has its status (UNKNOWN when it could not run) and problem count, and a node's labels name
/// only what identifies it (`node`, `host`); its role, which changes on failover, is a value
/// of `redis_slotcheck_node_role`, one series per possible role.
pub fn prom(report: &Report) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| {
        toolkit::prom::family(&mut out, name, help, toolkit::prom::Kind::Gauge, &samples);
    };
    let code = |s: Status| s.exit_code().to_string();
    let t = &report.totals;
    family(
        "redis_slotcheck_status",
        "Overall cluster health: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        vec![(String::new(), code(report.status))],
    );
    if let Some(timing) = &report.timing {
        family(
            "redis_slotcheck_last_run_timestamp_seconds",
            "When this check ran, in seconds since the Unix epoch.",
            vec![(String::new(), timing.started_unix.to_string())],
        );
        family(
            "redis_slotcheck_last_run_duration_seconds",
            "How long the survey and the checks took.",
            vec![(String::new(), timing.duration_seconds.to_string())],
        );
    }
    // The plan check exists only with --expect: a choice of configuration, not a state.
    let checks: Vec<(CheckName, Option<&Check>)> = CheckName::ALL
        .iter()
        .map(|&name| (name, report.check(name)))
        .filter(|(name, found)| *name != CheckName::Plan || found.is_some())
        .collect();
    family(
        "redis_slotcheck_check_status",
        "Result of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (not judged).",
        checks
            .iter()
            .map(|(name, found)| {
                let status = found.map_or(Status::Unknown, |c| c.status);
                (labels(&[("check", name.as_str())]), code(status))
            })
            .collect(),
    );
    family(
        "redis_slotcheck_check_problems",
        "Number of problems each check found (0 when it could not run).",
        checks
            .iter()
            .map(|(name, found)| {
                let problems = found.map_or(0, |c| c.details.len());
                (labels(&[("check", name.as_str())]), problems.to_string())
            })
            .collect(),
    );
    for (name, help, value) in [
        (
            "redis_slotcheck_slots_served",
            "Slots served by a reachable master not flagged fail.",
            t.slots_served,
        ),
        (
            "redis_slotcheck_nodes",
            "Nodes known: given, discovered or named by a peer.",
            t.nodes,
        ),
        (
            "redis_slotcheck_nodes_reachable",
            "Nodes that answered.",
            t.reachable,
        ),
        (
            "redis_slotcheck_masters",
            "Masters serving at least one slot.",
            t.masters,
        ),
        ("redis_slotcheck_replicas", "Replicas known.", t.replicas),
        (
            "redis_slotcheck_open_slots",
            "Slots migrating or importing.",
            t.open_slots,
        ),
    ] {
        family(name, help, vec![(String::new(), value.to_string())]);
    }
    let node_labels = |n: &NodeReport| labels(&[("node", &n.node), ("host", &n.host)]);
    family(
        "redis_slotcheck_node_up",
        "1 if the node answered.",
        report
            .nodes
            .iter()
            .map(|n| (node_labels(n), u8::from(n.reachable).to_string()))
            .collect(),
    );
    family(
        "redis_slotcheck_node_role",
        "1 for the role the node has now, 0 for the others (unknown: not judged).",
        report
            .nodes
            .iter()
            .flat_map(|n| {
                [Role::Master, Role::Replica, Role::Unknown].map(|role| {
                    let name = role_name(role);
                    (
                        labels(&[("node", &n.node), ("host", &n.host), ("role", name)]),
                        u8::from(n.role == role).to_string(),
                    )
                })
            })
            .collect(),
    );
    family(
        "redis_slotcheck_node_status",
        "Worst result of the checks naming the node: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        report
            .nodes
            .iter()
            .map(|n| (node_labels(n), code(n.status)))
            .collect(),
    );
    family(
        "redis_slotcheck_node_slots",
        "Slots the node serves.",
        report
            .nodes
            .iter()
            .map(|n| (node_labels(n), n.slot_count.to_string()))
            .collect(),
    );
    out
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Master => "master",
        Role::Replica => "replica",
        Role::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Detail, Timing, Totals};
    use redis_cluster::slots::SlotRange;

    fn node(name: &str, role: Role, status: Status) -> NodeReport {
        NodeReport {
            node: name.to_string(),
            id: Some("2a934d01fa2a33830675dc26ea88de17e4b12bfe".into()),
            host: "redis\"1".into(),
            role,
            master: None,
            reachable: status != Status::Warning,
            error: (status == Status::Warning).then(|| "cannot connect: refused".to_string()),
            cluster_state: Some("ok".into()),
            slots: vec![SlotRange::new(0, 5460)],
            slot_count: 5461,
            config_epoch: Some(1),
            keys: Some(0),
            keys_per_database: Default::default(),
            master_link_up: None,
            flags: Vec::new(),
            status,
        }
    }

    fn report() -> Report {
        Report {
            status: Status::Critical,
            summary: "5461 slots not served: 0-5460 | really".into(),
            totals: Totals {
                nodes: 2,
                reachable: 1,
                masters: 1,
                replicas: 1,
                slots_served: 10923,
                open_slots: 0,
            },
            checks: vec![
                Check {
                    name: CheckName::Reachable,
                    status: Status::Ok,
                    summary: "all 2 nodes answer".into(),
                    details: Vec::new(),
                },
                Check {
                    name: CheckName::SlotCoverage,
                    status: Status::Critical,
                    summary: "5461 slots not served: 0-5460".into(),
                    details: vec![Detail {
                        message: "slots 0-5460 belong to 127.0.0.1:7000 which does not answer"
                            .into(),
                        slots: vec![SlotRange::new(0, 5460)],
                        nodes: vec!["127.0.0.1:7000".into()],
                    }],
                },
            ],
            nodes: vec![
                node("127.0.0.1:7000", Role::Master, Status::Critical),
                node("127.0.0.2:7001", Role::Replica, Status::Warning),
            ],
            timing: Some(Timing {
                started_unix: 1_764_000_000.5,
                duration_seconds: 0.25,
            }),
        }
    }

    /// The sample lines of `out` for the metric `name`, labels included.
    fn samples<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
        out.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .collect()
    }

    #[test]
    fn json_round_trips_and_ends_with_a_newline() {
        for pretty in [false, true] {
            let text = json(&report(), pretty);
            assert!(text.ends_with('\n'));
            assert_eq!(text.trim_end().contains('\n'), pretty);
            let back: Report = serde_json::from_str(&text).unwrap();
            assert_eq!(back, report());
        }
        let value: serde_json::Value = serde_json::from_str(&json(&report(), false)).unwrap();
        assert_eq!(value["status"], "CRITICAL");
        assert_eq!(value["checks"][1]["name"], "slot_coverage");
        assert_eq!(
            value["checks"][1]["details"][0]["slots"][0],
            serde_json::json!([0, 5460])
        );
        assert_eq!(value["nodes"][1]["role"], "replica");
    }

    #[test]
    fn nagios_first_line_carries_status_summary_and_perfdata() {
        let out = nagios(&report());
        let mut lines = out.lines();
        let first = lines.next().unwrap();
        let (text, perf) = first.split_once(" | ").unwrap();
        assert_eq!(
            text,
            "REDIS CLUSTER CRITICAL - 5461 slots not served: 0-5460 / really"
        );
        assert!(
            perf.starts_with("'slots_served'=10923;16384:;16384:;0;16384 "),
            "{perf}"
        );
        assert!(perf.contains("'nodes_reachable'=1;;;0;2"), "{perf}");
        assert_eq!(
            lines.collect::<Vec<_>>(),
            ["CRITICAL slot_coverage: slots 0-5460 belong to 127.0.0.1:7000 which does not answer"]
        );
    }

    #[test]
    fn prom_has_help_type_and_escaped_labels() {
        let out = prom(&report());
        assert!(out.ends_with('\n'));
        assert!(out.contains("# TYPE redis_slotcheck_status gauge\nredis_slotcheck_status 2\n"));
        assert!(out.contains("redis_slotcheck_check_status{check=\"slot_coverage\"} 2\n"));
        assert!(out
            .contains("redis_slotcheck_node_up{node=\"127.0.0.2:7001\",host=\"redis\\\"1\"} 0\n"));
        assert!(out.contains("redis_slotcheck_last_run_timestamp_seconds 1764000000.5\n"));
        assert!(out.contains("redis_slotcheck_last_run_duration_seconds 0.25\n"));
        assert!(out.contains("redis_slotcheck_slots_served 10923\n"));
        // Every sample line is `name{labels} value` or `name value` with a numeric value.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    // Regression: a failover changed the `role` label of node_up, which started a new series
    // and broke graphs and alerts keyed on it. The role is now a value of a series per role.
    #[test]
    fn prom_roles_are_values_not_identity_labels() {
        let out = prom(&report());
        for name in [
            "redis_slotcheck_node_up",
            "redis_slotcheck_node_status",
            "redis_slotcheck_node_slots",
        ] {
            let lines = samples(&out, name);
            assert_eq!(lines.len(), 2, "{name}: {lines:?}");
            assert!(lines.iter().all(|l| !l.contains("role=")), "{lines:?}");
        }
        let roles = samples(&out, "redis_slotcheck_node_role");
        assert_eq!(roles.len(), 6, "{roles:?}");
        assert!(roles.contains(
            &"redis_slotcheck_node_role{node=\"127.0.0.1:7000\",host=\"redis\\\"1\",role=\"master\"} 1"
        ));
        assert!(roles.contains(
            &"redis_slotcheck_node_role{node=\"127.0.0.1:7000\",host=\"redis\\\"1\",role=\"replica\"} 0"
        ));
    }

    // Regression: with no node reachable only the `reachable` check was reported, so the
    // series of every other check vanished exactly when the cluster was down.
    #[test]
    fn prom_names_every_check_in_every_state() {
        let mut unknown = report();
        unknown.status = Status::Unknown;
        unknown.checks.truncate(1);
        unknown.checks[0].status = Status::Unknown;
        for report in [
            report(),
            unknown,
            Report::failure("x", report().timing.unwrap()),
        ] {
            let out = prom(&report);
            let statuses = samples(&out, "redis_slotcheck_check_status");
            let problems = samples(&out, "redis_slotcheck_check_problems");
            // Every check but `plan`, which exists only with --expect.
            assert_eq!(statuses.len(), CheckName::ALL.len() - 1, "{statuses:?}");
            assert_eq!(problems.len(), statuses.len());
            assert!(!out.contains("check=\"plan\""));
            for name in [CheckName::Reachable, CheckName::SlotAgreement] {
                let expected = report.check(name).map_or(3, |c| c.status.exit_code());
                assert!(
                    statuses.contains(
                        &format!("redis_slotcheck_check_status{{check=\"{name}\"}} {expected}")
                            .as_str()
                    ),
                    "{statuses:?}"
                );
            }
        }
    }

    #[test]
    fn a_failure_is_unknown_in_every_format_without_made_up_perfdata() {
        let timing = Timing {
            started_unix: 1_764_000_000.0,
            duration_seconds: 0.001,
        };
        let failure = Report::failure("site.json: hosts[1].name: duplicate | bad", timing);
        assert_eq!(
            nagios(&failure),
            "REDIS CLUSTER UNKNOWN - site.json: hosts[1].name: duplicate / bad\n"
        );
        let out = prom(&failure);
        assert!(out.contains("\nredis_slotcheck_status 3\n"), "{out}");
        assert!(out.contains("redis_slotcheck_last_run_timestamp_seconds 1764000000\n"));
        assert!(out.contains("redis_slotcheck_check_status{check=\"slot_coverage\"} 3\n"));
        let back: Report = serde_json::from_str(&json(&failure, false)).unwrap();
        assert_eq!(back, failure);
    }

    #[test]
    fn text_lists_checks_details_and_nodes() {
        let out = text(&report());
        assert!(out.starts_with("CRITICAL: 5461 slots not served"));
        assert!(out.contains("[CRITICAL] slot_coverage: 5461 slots not served: 0-5460\n"));
        assert!(out.contains("           - slots 0-5460 belong to 127.0.0.1:7000"));
        assert!(
            out.contains(
                "127.0.0.2:7001  redis\"1  replica    5461  WARNING   cannot connect: refused"
            ),
            "{out}"
        );
    }

    // Regression: ESC and BEL in what a node said reached the text table, the Nagios output
    // and the Prometheus labels raw (terminal escape injection).
    #[test]
    fn control_characters_are_escaped_in_every_format_for_people() {
        let mut hostile = report();
        hostile.nodes[0].host = "h\u{1b}[2J".into();
        hostile.nodes[1].error = Some("no\u{7}\r\n\u{1b}]0;pwned".into());
        hostile.checks[1].details[0].message = "slot\u{1b}[31m 0".into();
        for format in [Format::Text, Format::Nagios, Format::Prom] {
            let out = render(&hostile, format, false);
            assert!(
                !out.chars().any(|c| c.is_control() && c != '\n'),
                "{format:?}: {out:?}"
            );
        }
        assert!(text(&hostile).contains("h\\u{1b}[2J"));
        assert!(prom(&hostile).contains("host=\"h\\\\u{1b}[2J\""));
        assert!(text(&hostile).contains("no\\u{7}\\r\\n\\u{1b}]0;pwned"));
        assert!(nagios(&hostile).contains("slot\\u{1b}[31m 0"));
    }
}
