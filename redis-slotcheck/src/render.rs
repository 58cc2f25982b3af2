//! The report in each output format, as strings: JSON for scripts, text for people, Nagios
//! plugin output and Prometheus text exposition for monitoring. Pure functions, so every format
//! is tested without touching a socket or a file.

use std::fmt::Write as _;

use crate::report::{Report, Role, Status};
use crate::slots::SLOT_COUNT;

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
    let _ = writeln!(out, "{}: {}", report.status, report.summary);
    let _ = writeln!(out);
    for check in &report.checks {
        let _ = writeln!(
            out,
            "[{:<8}] {}: {}",
            check.status, check.name, check.summary
        );
        for detail in &check.details {
            let _ = writeln!(out, "           - {}", detail.message);
        }
    }
    let _ = writeln!(out);
    let width = report
        .nodes
        .iter()
        .map(|n| n.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let host_width = report
        .nodes
        .iter()
        .map(|n| n.host.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<host_width$}  {:<7}  {:>6}  {:<8}  DETAIL",
        "NODE", "HOST", "ROLE", "SLOTS", "STATUS"
    );
    for node in &report.nodes {
        let role = match node.role {
            Role::Master => "master",
            Role::Replica => "replica",
            Role::Unknown => "-",
        };
        let detail = if let Some(error) = &node.error {
            error.clone()
        } else if let Some(master) = &node.master {
            format!("replica of {master}")
        } else {
            crate::slots::format_ranges(&node.slots)
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<host_width$}  {role:<7}  {:>6}  {:<8}  {detail}",
            node.node, node.host, node.slot_count, node.status
        );
    }
    out
}

/// Nagios plugin output: `REDIS CLUSTER <STATUS> - <summary> | perfdata`, then one line per
/// problem found.
pub fn nagios(report: &Report) -> String {
    let t = &report.totals;
    let mut out = format!(
        "REDIS CLUSTER {} - {} | 'slots_served'={};{max}:;{max}:;0;{max} 'nodes'={};;;0 'nodes_reachable'={};;;0;{} 'masters'={};;;0 'replicas'={};;;0 'open_slots'={};;;0\n",
        report.status,
        one_line(&report.summary),
        t.slots_served,
        t.nodes,
        t.reachable,
        t.nodes,
        t.masters,
        t.replicas,
        t.open_slots,
        max = SLOT_COUNT,
    );
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

/// Nagios reserves `|` for perfdata; the summary must not contain it or a newline.
fn one_line(text: &str) -> String {
    text.replace('|', "/").replace('\n', " ")
}

/// Prometheus text exposition, for node_exporter's textfile collector.
pub fn prom(report: &Report) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let code = |s: Status| s.exit_code().to_string();
    let t = &report.totals;
    family(
        "redis_slotcheck_status",
        "Overall cluster health: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        vec![(String::new(), code(report.status))],
    );
    family(
        "redis_slotcheck_check_status",
        "Result of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        report
            .checks
            .iter()
            .map(|c| (labels(&[("check", c.name.as_str())]), code(c.status)))
            .collect(),
    );
    family(
        "redis_slotcheck_check_problems",
        "Number of problems each check found.",
        report
            .checks
            .iter()
            .map(|c| {
                (
                    labels(&[("check", c.name.as_str())]),
                    c.details.len().to_string(),
                )
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
    let node_labels = |n: &crate::report::NodeReport| {
        let role = match n.role {
            Role::Master => "master",
            Role::Replica => "replica",
            Role::Unknown => "unknown",
        };
        labels(&[("node", &n.node), ("host", &n.host), ("role", role)])
    };
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

/// `{a="x",b="y"}` with values escaped as the exposition format requires.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}
