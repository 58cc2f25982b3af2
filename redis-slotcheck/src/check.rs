//! The check engine: a survey (what the nodes said) in, a report out, no I/O. Each check is a
//! function of the merged node table that lists its problems as details naming slots and
//! nodes; the report's status is the worst of them.

use std::collections::{BTreeMap, HashMap};

use crate::report::{Check, CheckName, Detail, NodeReport, Report, Role, Status, Totals};
use redis_cluster::migration::{Job, JobState};
use redis_cluster::nodes::{Direction, NodeLine};
use redis_cluster::plan::Plan;
use redis_cluster::slots::{format_ranges, ranges_of, SlotRange, SLOT_COUNT};
use redis_cluster::survey::Survey;
use redis_cluster::table::{role_key, KnownNode, NodeTable, NO_OWNER};
use redis_cluster::NodeAddr;
use toolkit::words::{counted, name_list};

/// Names listed in a message before the rest are counted ("a, b, c, d, e and 3 others").
const NAMES_SHOWN: usize = 5;

/// What to check beyond the built-in rules.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Minimum online replicas per master serving slots; 0 disables the check.
    pub min_replicas: u32,
    /// Site host names by node address; nodes not listed are placed by their announced IP.
    pub host_names: BTreeMap<NodeAddr, String>,
    /// A plan the cluster should match.
    pub expect: Option<Plan>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            min_replicas: 1,
            host_names: BTreeMap::new(),
            expect: None,
        }
    }
}

/// Judges a survey.
pub fn check(survey: &Survey, options: &CheckOptions) -> Report {
    let known = NodeTable::build(survey, &options.host_names);
    let served = served_slots(&known);
    let mut checks = vec![reachable(&known, survey.beyond_limit)];
    if known.nodes.iter().any(|n| n.state.is_some()) {
        checks.extend([
            id_conflicts(&known),
            cluster_enabled(&known),
            cluster_state(&known),
            slot_coverage(&known, &served),
            slot_agreement(&known),
            slot_owners(&known),
            failed_masters(&known),
            open_slots(&known),
            atomic_migrations(&known),
            node_flags(&known),
            role_agreement(&known),
            replicas(&known, options.min_replicas),
            replica_links(&known),
            replica_placement(&known),
            master_placement(&known),
            config_epochs(&known),
            empty_masters(&known),
        ]);
        if let Some(plan) = &options.expect {
            checks.push(plan_check(&known, plan));
        }
    }
    let totals = Totals {
        nodes: known.nodes.len(),
        reachable: known.nodes.iter().filter(|n| n.state.is_some()).count(),
        masters: known
            .nodes
            .iter()
            .filter(|n| n.role() == Role::Master && !n.slots().is_empty())
            .count(),
        replicas: known
            .nodes
            .iter()
            .filter(|n| n.role() == Role::Replica)
            .count(),
        slots_served: served.iter().filter(|&&s| s).count(),
        open_slots: ranges_of(
            known
                .nodes
                .iter()
                .filter(|n| n.own_line)
                .flat_map(|n| n.line.into_iter().flat_map(|l| l.own_open_slots()))
                .map(|o| o.slot),
        )
        .iter()
        .map(SlotRange::count)
        .sum(),
    };
    let status = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    let summary = if status == Status::Ok {
        format!(
            "{} slots served by {} masters; {} of {} nodes reachable",
            totals.slots_served, totals.masters, totals.reachable, totals.nodes
        )
    } else {
        let mut failing: Vec<&Check> = checks.iter().filter(|c| c.status != Status::Ok).collect();
        failing.sort_by_key(|c| std::cmp::Reverse(c.status));
        failing
            .iter()
            .map(|c| c.summary.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut node_status: HashMap<&str, Status> = HashMap::new();
    for check in &checks {
        for name in check.details.iter().flat_map(|d| &d.nodes) {
            let worst = node_status.entry(name).or_insert(Status::Ok);
            *worst = (*worst).max(check.status);
        }
    }
    let nodes = known
        .nodes
        .iter()
        .map(|node| {
            let status = node_status
                .get(node.label.as_str())
                .copied()
                .unwrap_or(Status::Ok);
            node_report(&known, node, status)
        })
        .collect();
    Report {
        status,
        summary,
        totals,
        checks,
        nodes,
        timing: None,
    }
}

fn node_report(known: &NodeTable, node: &KnownNode, status: Status) -> NodeReport {
    let state = node.state;
    let mut flags: Vec<String> = Vec::new();
    for (_, line) in &node.seen_by {
        let f = line.flags;
        for (set, name) in [
            (f.fail, "fail"),
            (f.pfail, "fail?"),
            (f.handshake, "handshake"),
            (f.noaddr, "noaddr"),
            (f.nofailover, "nofailover"),
        ] {
            if set && !flags.iter().any(|x| x == name) {
                flags.push(name.to_string());
            }
        }
    }
    NodeReport {
        node: node.label.clone(),
        id: node.id.map(str::to_string),
        host: node.host.clone(),
        role: node.role(),
        master: node.master_id().map(|id| known.label_of_id(id)),
        reachable: state.is_some(),
        error: node.error.map(ToString::to_string),
        cluster_state: state
            .and_then(|s| s.cluster.as_ref())
            .and_then(|c| c.info.get("cluster_state"))
            .map(str::to_string),
        slots: node.slots().to_vec(),
        slot_count: node.slots().iter().map(SlotRange::count).sum(),
        config_epoch: node.line.map(|l| l.config_epoch),
        keys: state.map(|s| s.info.key_count()),
        keys_per_database: state
            .map(|s| s.info.keys_by_database())
            .filter(|dbs| dbs.iter().any(|&(db, _)| db != 0))
            .unwrap_or_default()
            .into_iter()
            .collect(),
        master_link_up: state
            .filter(|_| node.own_line && node.role() == Role::Replica)
            .map(|s| s.info.master_link_up()),
        flags,
        status,
    }
}

/// Builds a check from its problems: OK with `ok` when there are none.
fn outcome(
    name: CheckName,
    severity: Status,
    details: Vec<Detail>,
    ok: impl Into<String>,
    bad: impl FnOnce(&[Detail]) -> String,
) -> Check {
    let (status, summary) = if details.is_empty() {
        (Status::Ok, ok.into())
    } else {
        (severity, bad(&details))
    };
    Check {
        name,
        status,
        summary,
        details,
    }
}

fn detail(message: String, slots: Vec<SlotRange>, nodes: Vec<String>) -> Detail {
    Detail {
        message,
        slots,
        nodes,
    }
}

fn served_slots(known: &NodeTable) -> Vec<bool> {
    let mut served = vec![false; usize::from(SLOT_COUNT)];
    for node in known.nodes.iter().filter(|n| n.serves()) {
        for slot in node.slots().iter().flat_map(SlotRange::slots) {
            served[usize::from(slot)] = true;
        }
    }
    served
}

/// `beyond_limit`: the survey stopped following new addresses at `MAX_NODES`.
fn reachable(known: &NodeTable, beyond_limit: bool) -> Check {
    let mut details: Vec<Detail> = known
        .nodes
        .iter()
        .filter_map(|n| {
            let error = n.error?;
            Some(detail(
                format!("{} does not answer: {error}", n.label),
                Vec::new(),
                vec![n.label.clone()],
            ))
        })
        .collect();
    let unreachable = details.len();
    if beyond_limit {
        details.push(detail(
            format!(
                "the nodes name more than {} nodes; only that many were asked, the others are not checked",
                redis_cluster::MAX_NODES
            ),
            Vec::new(),
            Vec::new(),
        ));
    }
    let none_reached = known.nodes.iter().all(|n| n.state.is_none());
    let severity = if none_reached {
        Status::Unknown
    } else {
        Status::Warning
    };
    let ok = format!("all {} nodes answer", known.nodes.len());
    let mut check = outcome(CheckName::Reachable, severity, details, ok, |_| {
        let mut summary = format!(
            "{unreachable} of {} not reachable",
            counted(known.nodes.len(), "node")
        );
        if beyond_limit {
            summary.push_str(&format!(
                "; more than {} nodes named, the rest not checked",
                redis_cluster::MAX_NODES
            ));
        }
        summary
    });
    if none_reached {
        check.status = Status::Unknown;
        check.summary =
            "no node answered; check the addresses, the timeout and the credentials".to_string();
    }
    check
}

fn cluster_enabled(known: &NodeTable) -> Check {
    let details = known
        .nodes
        .iter()
        .filter(|n| n.state.is_some_and(|s| s.cluster.is_none()))
        .map(|n| {
            detail(
                format!(
                    "{} runs without cluster support (cluster_enabled:0); start it with cluster-enabled yes",
                    n.label
                ),
                Vec::new(),
                vec![n.label.clone()],
            )
        })
        .collect();
    outcome(
        CheckName::ClusterEnabled,
        Status::Critical,
        details,
        "every reachable node is cluster-enabled",
        |d| format!("{} not cluster-enabled", counted(d.len(), "node")),
    )
}

fn cluster_state(known: &NodeTable) -> Check {
    let details = known
        .observers()
        .filter_map(|n| {
            let info = &n.state?.cluster.as_ref()?.info;
            if info.cluster_state_ok() {
                return None;
            }
            let field = |k: &str| info.get(k).unwrap_or("?").to_string();
            Some(detail(
                format!(
                    "{} reports cluster_state:{} (slots assigned {}, ok {}, pfail {}, fail {}; {} masters with slots, {} known nodes)",
                    n.label,
                    field("cluster_state"),
                    field("cluster_slots_assigned"),
                    field("cluster_slots_ok"),
                    field("cluster_slots_pfail"),
                    field("cluster_slots_fail"),
                    field("cluster_size"),
                    field("cluster_known_nodes"),
                ),
                Vec::new(),
                vec![n.label.clone()],
            ))
        })
        .collect();
    outcome(
        CheckName::ClusterState,
        Status::Critical,
        details,
        "every reachable node reports cluster_state:ok",
        |d| {
            format!(
                "{} {} cluster_state:fail",
                counted(d.len(), "node"),
                if d.len() == 1 { "reports" } else { "report" }
            )
        },
    )
}

/// Slot → owner as the first observer that knows an owner says.
fn believed_owners(known: &NodeTable) -> Vec<u16> {
    let mut owners = vec![NO_OWNER; usize::from(SLOT_COUNT)];
    for observer in known.observers() {
        let Some(view) = observer.state.and_then(|s| s.cluster.as_ref()) else {
            continue;
        };
        for (slot, owner) in known.owner_table(&view.nodes).into_iter().enumerate() {
            if owners[slot] == NO_OWNER {
                owners[slot] = owner;
            }
        }
    }
    owners
}

fn slot_coverage(known: &NodeTable, served: &[bool]) -> Check {
    // Only needed to explain unserved slots; building it costs a table per observer.
    let owners = if served.iter().all(|&s| s) {
        Vec::new()
    } else {
        believed_owners(known)
    };
    // Unserved slots grouped by the reason: (owner index or NO_OWNER) → slots.
    let mut by_owner: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
    for slot in 0..SLOT_COUNT {
        if !served[usize::from(slot)] {
            by_owner
                .entry(owners[usize::from(slot)])
                .or_default()
                .push(slot);
        }
    }
    let details = by_owner
        .into_iter()
        .map(|(owner, slots)| {
            let ranges = ranges_of(slots);
            let text = format_ranges(&ranges);
            if owner == NO_OWNER {
                return detail(
                    format!("slots {text} are assigned to no node"),
                    ranges,
                    Vec::new(),
                );
            }
            let node = &known.nodes[usize::from(owner)];
            let why = if node.state.is_none() {
                "which does not answer".to_string()
            } else if node.failed() {
                format!(
                    "which is flagged fail by {}",
                    name_list(&node.flagged_by(|f| f.fail), NAMES_SHOWN)
                )
            } else {
                "which does not claim them itself".to_string()
            };
            detail(
                format!("slots {text} belong to {} {why}", node.label),
                ranges,
                vec![node.label.clone()],
            )
        })
        .collect();
    let unserved = served.iter().filter(|s| !**s).count();
    outcome(
        CheckName::SlotCoverage,
        Status::Critical,
        details,
        "all 16384 slots are served",
        |d| {
            let all: Vec<SlotRange> = d.iter().flat_map(|d| d.slots.clone()).collect();
            let ranges = ranges_of(all.iter().flat_map(SlotRange::slots));
            format!("{unserved} slots not served: {}", format_ranges(&ranges))
        },
    )
}

/// A node's view of slot ownership, in the spirit of redis-cli's config signature:
/// (owner index, its ranges), sorted.
type Signature = Vec<(usize, Vec<SlotRange>)>;

fn signature(known: &NodeTable, lines: &[NodeLine]) -> Signature {
    let mut sig: Signature = lines
        .iter()
        .filter(|l| !l.slots.is_empty())
        // Redis prints each node's slots as sorted, maximal ranges, so equal views compare
        // equal without normalizing them.
        .filter_map(|l| Some((known.index_of_id(&l.id)?, l.slots.clone())))
        .collect();
    sig.sort();
    sig
}

fn slot_agreement(known: &NodeTable) -> Check {
    // Observers grouped by identical views, the largest group first.
    let mut groups: Vec<(Signature, Vec<&KnownNode>)> = Vec::new();
    for observer in known.observers() {
        let Some(view) = observer.state.and_then(|s| s.cluster.as_ref()) else {
            continue;
        };
        let sig = signature(known, &view.nodes);
        match groups.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, members)) => members.push(observer),
            None => groups.push((sig, vec![observer])),
        }
    }
    groups.sort_by_key(|(_, members)| std::cmp::Reverse(members.len()));
    let owners_seen_by = |node: &KnownNode| {
        let view = node.state.and_then(|s| s.cluster.as_ref());
        known.owner_table(view.map_or(&[][..], |v| &v.nodes))
    };
    let owner_name = |owner: u16| {
        if owner == NO_OWNER {
            "no owner".to_string()
        } else {
            known.nodes[usize::from(owner)].label.clone()
        }
    };
    let mut details = Vec::new();
    if let Some(((_, reference), others)) = groups.split_first() {
        let reference_owners = owners_seen_by(reference[0]);
        let reference_names: Vec<String> = reference.iter().map(|n| n.label.clone()).collect();
        for (_, members) in others {
            let owners = owners_seen_by(members[0]);
            let member_names: Vec<String> = members.iter().map(|n| n.label.clone()).collect();
            let mut differences: BTreeMap<(u16, u16), Vec<u16>> = BTreeMap::new();
            for slot in 0..SLOT_COUNT {
                let (a, b) = (
                    reference_owners[usize::from(slot)],
                    owners[usize::from(slot)],
                );
                if a != b {
                    differences.entry((a, b)).or_default().push(slot);
                }
            }
            for ((a, b), slots) in differences {
                let ranges = ranges_of(slots);
                let mut involved: Vec<String> = reference_names
                    .iter()
                    .chain(&member_names)
                    .cloned()
                    .collect();
                for owner in [a, b].into_iter().filter(|&o| o != NO_OWNER) {
                    involved.push(owner_name(owner));
                }
                involved.sort();
                involved.dedup();
                details.push(detail(
                    format!(
                        "slots {}: {} {} {}, but {} {} {}",
                        format_ranges(&ranges),
                        name_list(&reference_names, NAMES_SHOWN),
                        if reference_names.len() == 1 {
                            "sees"
                        } else {
                            "see"
                        },
                        owner_name(a),
                        name_list(&member_names, NAMES_SHOWN),
                        if member_names.len() == 1 {
                            "sees"
                        } else {
                            "see"
                        },
                        owner_name(b),
                    ),
                    ranges,
                    involved,
                ));
            }
        }
    }
    outcome(
        CheckName::SlotAgreement,
        Status::Critical,
        details,
        "all nodes agree about the slot owners",
        |_| {
            format!(
                "nodes disagree about slot owners ({} different views)",
                groups.len()
            )
        },
    )
}

fn slot_owners(known: &NodeTable) -> Check {
    let mut first_claim = vec![NO_OWNER; usize::from(SLOT_COUNT)];
    let mut claimants: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (index, node) in known.nodes.iter().enumerate() {
        if !(node.own_line && node.role() == Role::Master) {
            continue;
        }
        for slot in node.slots().iter().flat_map(SlotRange::slots) {
            let first = &mut first_claim[usize::from(slot)];
            if *first == NO_OWNER {
                *first = u16::try_from(index).unwrap_or(NO_OWNER);
            } else {
                claimants
                    .entry(slot)
                    .or_insert_with(|| vec![usize::from(*first)])
                    .push(index);
            }
        }
    }
    let mut by_set: BTreeMap<Vec<usize>, Vec<u16>> = BTreeMap::new();
    for (slot, set) in claimants {
        by_set.entry(set).or_default().push(slot);
    }
    let details = by_set
        .into_iter()
        .map(|(set, slots)| {
            let ranges = ranges_of(slots);
            let labels: Vec<String> = set.iter().map(|&i| known.nodes[i].label.clone()).collect();
            detail(
                format!(
                    "slots {} are claimed by {} masters: {}",
                    format_ranges(&ranges),
                    labels.len(),
                    name_list(&labels, NAMES_SHOWN)
                ),
                ranges,
                labels,
            )
        })
        .collect();
    outcome(
        CheckName::SlotOwners,
        Status::Critical,
        details,
        "no slot is claimed by two masters",
        |d| {
            let count: usize = d.iter().flat_map(|d| &d.slots).map(SlotRange::count).sum();
            format!("{count} slots claimed by more than one master")
        },
    )
}

/// A failed master that still holds slots leaves them unserved (CRITICAL, `failed_masters`).
/// One whose slots a replica took over is a lost node like any other (WARNING, `node_flags`):
/// it stays flagged until it returns, as a replica, or is forgotten.
fn holds_slots_as_master(node: &KnownNode) -> bool {
    node.role() == Role::Master && !node.slots().is_empty()
}

fn failed_masters(known: &NodeTable) -> Check {
    let details = known
        .nodes
        .iter()
        .filter(|n| n.failed() && holds_slots_as_master(n))
        .map(|n| {
            detail(
                format!(
                    "master {} is flagged fail by {}",
                    n.label,
                    name_list(&n.flagged_by(|f| f.fail), NAMES_SHOWN)
                ),
                n.slots().to_vec(),
                vec![n.label.clone()],
            )
        })
        .collect();
    outcome(
        CheckName::FailedMasters,
        Status::Critical,
        details,
        "no master that holds slots is flagged fail",
        |d| format!("{} flagged fail", counted(d.len(), "master")),
    )
}

fn open_slots(known: &NodeTable) -> Check {
    let mut details = Vec::new();
    for node in known.nodes.iter().filter(|n| n.own_line) {
        for open in node.line.iter().flat_map(|l| l.own_open_slots()) {
            let peer = known.label_of_id(&open.peer);
            let (from, to, verb) = match open.direction {
                Direction::Migrating => (&node.label, &peer, "migrating"),
                Direction::Importing => (&peer, &node.label, "importing"),
            };
            details.push(detail(
                format!(
                    "slot {} is open: {} marks it {verb} (from {from} to {to})",
                    open.slot, node.label
                ),
                vec![SlotRange::new(open.slot, open.slot)],
                vec![node.label.clone(), peer.clone()],
            ));
        }
    }
    outcome(
        CheckName::OpenSlots,
        Status::Warning,
        details,
        "no slot is migrating or importing",
        |d| {
            let ranges = ranges_of(d.iter().flat_map(|d| &d.slots).map(|r| r.start));
            format!("open slots: {}", format_ranges(&ranges))
        },
    )
}

/// Atomic slot migration jobs, as the masters list them (each job once, by its id): running
/// ones are a WARNING, like open slots; a failed one is CRITICAL until a later job moving any
/// of its slots succeeds (the failed move left them with the source, but the layout it was
/// for was not reached). A master that would not list its jobs is a WARNING.
fn atomic_migrations(known: &NodeTable) -> Check {
    let mut jobs: BTreeMap<&str, (&Job, &str)> = BTreeMap::new();
    let mut unlisted = Vec::new();
    for node in &known.nodes {
        match node.state.map(|s| &s.migrations) {
            Some(Ok(listed)) => {
                for job in listed {
                    jobs.entry(job.id.as_str())
                        .or_insert((job, node.label.as_str()));
                }
            }
            Some(Err(why)) => unlisted.push(detail(
                format!(
                    "{} did not list its atomic slot migrations: {why}",
                    node.label
                ),
                Vec::new(),
                vec![node.label.clone()],
            )),
            None => {}
        }
    }
    let name = |id: &str| {
        known
            .nodes
            .iter()
            .find(|n| n.id == Some(id))
            .map_or_else(|| id.chars().take(8).collect(), |n| n.label.clone())
    };
    let about = |job: &Job| {
        format!(
            "slots {} from {} to {}",
            format_ranges(&job.ranges),
            name(&job.source),
            name(&job.target)
        )
    };
    let mut failed = Vec::new();
    let mut running = unlisted;
    for (job, seen_on) in jobs.values() {
        let nodes = vec![name(&job.source), name(&job.target)];
        match &job.state {
            JobState::Running(stage) => running.push(detail(
                format!("atomic migration of {} runs ({stage})", about(job)),
                job.ranges.clone(),
                nodes,
            )),
            JobState::Failed => {
                let retried = jobs.values().any(|(later, _)| {
                    later.state == JobState::Succeeded
                        && later.created_ms > job.created_ms
                        && later.covers_any(&job.ranges)
                });
                if !retried {
                    failed.push(detail(
                        format!(
                            "atomic migration of {} failed ({seen_on} says: {}); the slots stayed \
                             with the source: converge again to move them",
                            about(job),
                            if job.message.is_empty() {
                                "no reason given"
                            } else {
                                &job.message
                            }
                        ),
                        job.ranges.clone(),
                        nodes,
                    ));
                }
            }
            JobState::Succeeded | JobState::Cancelled => {}
        }
    }
    let (status, summary) = match (failed.len(), running.len()) {
        (0, 0) => (
            Status::Ok,
            "no atomic slot migration runs or has failed".to_string(),
        ),
        (0, n) => (
            Status::Warning,
            format!(
                "{} running or unlisted",
                counted(n, "atomic slot migration")
            ),
        ),
        (n, _) => (
            Status::Critical,
            format!("{} failed", counted(n, "atomic slot migration")),
        ),
    };
    failed.extend(running);
    Check {
        name: CheckName::AtomicMigrations,
        status,
        summary,
        details: failed,
    }
}

fn node_flags(known: &NodeTable) -> Check {
    let mut details = Vec::new();
    for node in &known.nodes {
        let flags: [(&str, Vec<String>); 4] = [
            ("fail?", node.flagged_by(|f| f.pfail)),
            ("handshake", node.flagged_by(|f| f.handshake)),
            ("noaddr", node.flagged_by(|f| f.noaddr)),
            (
                "fail",
                if holds_slots_as_master(node) {
                    Vec::new()
                } else {
                    node.flagged_by(|f| f.fail)
                },
            ),
        ];
        let mut unknown: Vec<&str> = node
            .seen_by
            .iter()
            .flat_map(|(_, line)| line.unknown_flags.iter().map(String::as_str))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        for flag in unknown {
            details.push(detail(
                format!(
                    "{} is flagged '{flag}', a flag this tool does not know (a newer server?), by {}",
                    node.label,
                    name_list(
                        &node.flagged_by_name(flag),
                        NAMES_SHOWN
                    )
                ),
                Vec::new(),
                vec![node.label.clone()],
            ));
        }
        for (flag, by) in flags {
            if !by.is_empty() {
                details.push(detail(
                    format!(
                        "{} is flagged {flag} by {}",
                        node.label,
                        name_list(&by, NAMES_SHOWN)
                    ),
                    Vec::new(),
                    vec![node.label.clone()],
                ));
            }
        }
    }
    outcome(
        CheckName::NodeFlags,
        Status::Warning,
        details,
        "no node is flagged fail?, handshake or noaddr",
        |d| format!("{} on nodes", counted(d.len(), "flag")),
    )
}

/// A converging cluster shows a fresh replica as a master to the peers it has not yet pinged;
/// until they agree, a failover may be decided on a wrong picture.
fn role_agreement(known: &NodeTable) -> Check {
    let describe = |line: &NodeLine| match (line.flags.master, &line.master_id) {
        (true, _) => "a master".to_string(),
        (false, Some(id)) if line.flags.replica => {
            format!("a replica of {}", known.label_of_id(id))
        }
        _ => "of no known role".to_string(),
    };
    let mut details = Vec::new();
    for node in known.nodes.iter().filter(|n| n.own_line) {
        let Some(own) = node.line else { continue };
        let mut differing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (peer, line) in &node.seen_by {
            if role_key(line) != role_key(own) {
                differing
                    .entry(describe(line))
                    .or_default()
                    .push(peer.to_string());
            }
        }
        for (seen_as, peers) in differing {
            let message = format!(
                "{} is {} by its own account, but {} {} it as {seen_as}",
                node.label,
                describe(own),
                name_list(&peers, NAMES_SHOWN),
                if peers.len() == 1 { "sees" } else { "see" },
            );
            let mut involved = vec![node.label.clone()];
            involved.extend(peers);
            details.push(detail(message, Vec::new(), involved));
        }
    }
    outcome(
        CheckName::RoleAgreement,
        Status::Warning,
        details,
        "all nodes agree about every node's role",
        |d| {
            format!(
                "nodes disagree about roles ({} {})",
                d.len(),
                if d.len() == 1 {
                    "difference"
                } else {
                    "differences"
                }
            )
        },
    )
}

fn replicas(known: &NodeTable, min_replicas: u32) -> Check {
    if min_replicas == 0 {
        return outcome(
            CheckName::Replicas,
            Status::Warning,
            Vec::new(),
            "not checked (--replicas 0)",
            |_| String::new(),
        );
    }
    let wanted = usize::try_from(min_replicas).unwrap_or(usize::MAX);
    let mut replicas_of: HashMap<&str, Vec<&KnownNode>> = HashMap::new();
    for replica in &known.nodes {
        if let Some(master_id) = replica.master_id() {
            replicas_of.entry(master_id).or_default().push(replica);
        }
    }
    let mut details = Vec::new();
    for master in known
        .nodes
        .iter()
        .filter(|n| n.role() == Role::Master && !n.slots().is_empty() && !n.failed())
    {
        let Some(id) = master.id else { continue };
        let all: &[&KnownNode] = replicas_of.get(id).map_or(&[], Vec::as_slice);
        let online = all
            .iter()
            .filter(|r| r.state.is_some() && !r.failed() && r.flagged_by(|f| f.pfail).is_empty())
            .count();
        if online >= wanted {
            continue;
        }
        let offline: Vec<String> = all
            .iter()
            .filter(|r| r.state.is_none() || r.failed() || !r.flagged_by(|f| f.pfail).is_empty())
            .map(|r| r.label.clone())
            .collect();
        let mut message = format!(
            "master {} has {online} online {} ({wanted} wanted)",
            master.label,
            if online == 1 { "replica" } else { "replicas" }
        );
        if !offline.is_empty() {
            message.push_str(&format!(
                "; not online: {}",
                name_list(&offline, NAMES_SHOWN)
            ));
        }
        let mut involved = vec![master.label.clone()];
        involved.extend(all.iter().map(|r| r.label.clone()));
        details.push(detail(message, master.slots().to_vec(), involved));
    }
    outcome(
        CheckName::Replicas,
        Status::Warning,
        details,
        format!("every master has at least {min_replicas} online replica(s)"),
        |d| {
            format!(
                "{} with fewer than {min_replicas} online replica(s)",
                counted(d.len(), "master")
            )
        },
    )
}

fn replica_links(known: &NodeTable) -> Check {
    let mut details = Vec::new();
    for node in known
        .nodes
        .iter()
        .filter(|n| n.own_line && n.role() == Role::Replica)
    {
        let Some(master_id) = node.master_id() else {
            continue;
        };
        let master = known.label_of_id(master_id);
        if known.by_id(master_id).is_none() {
            details.push(detail(
                format!(
                    "replica {} replicates node id {master_id}, which no node knows",
                    node.label
                ),
                Vec::new(),
                vec![node.label.clone()],
            ));
            continue;
        }
        let info = &node.state.expect("own line implies an answer").info;
        if !info.master_link_up() {
            let status = info.get("master_link_status").unwrap_or("unknown");
            let since = match info.get("master_link_down_since_seconds") {
                Some("-1") => ", never synced since it started".to_string(),
                Some(secs) => format!(", down for {secs} s"),
                None => String::new(),
            };
            details.push(detail(
                format!(
                    "replica {}: link to its master {master} is not up (master_link_status:{status}{since})",
                    node.label
                ),
                Vec::new(),
                vec![node.label.clone(), master],
            ));
        }
    }
    outcome(
        CheckName::ReplicaLinks,
        Status::Warning,
        details,
        "every replica's link to its master is up",
        |d| {
            format!(
                "{} without a working link to the master",
                counted(d.len(), "replica")
            )
        },
    )
}

fn replica_placement(known: &NodeTable) -> Check {
    let details = known
        .nodes
        .iter()
        .filter_map(|replica| {
            let master = known.by_id(replica.master_id()?)?;
            (master.host == replica.host).then(|| {
                detail(
                    format!(
                        "replica {} runs on host {} with its master {}",
                        replica.label, replica.host, master.label
                    ),
                    Vec::new(),
                    vec![replica.label.clone(), master.label.clone()],
                )
            })
        })
        .collect();
    outcome(
        CheckName::ReplicaPlacement,
        Status::Warning,
        details,
        "no replica shares a host with its master",
        |d| format!("{} on the host of its master", counted(d.len(), "replica")),
    )
}

/// Masters that serve slots and are not flagged fail: the ones placement and epochs concern.
fn live_masters<'m, 'a>(known: &'m NodeTable<'a>) -> impl Iterator<Item = &'m KnownNode<'a>> {
    known
        .nodes
        .iter()
        .filter(|n| n.role() == Role::Master && !n.slots().is_empty() && !n.failed())
}

/// Two masters on one host lose two shards' worth of masters when it fails. With more masters
/// than hosts some sharing is unavoidable, so a host is flagged when it runs more masters than
/// an even spread over the cluster's hosts needs (with as many hosts as masters: more than one).
fn master_placement(known: &NodeTable) -> Check {
    let mut by_host: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for master in live_masters(known) {
        by_host
            .entry(&master.host)
            .or_default()
            .push(master.label.clone());
    }
    let master_count: usize = by_host.values().map(Vec::len).sum();
    let mut hosts: Vec<&str> = known.nodes.iter().map(|n| n.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let fair_share = master_count.div_ceil(hosts.len().max(1)).max(1);
    let details = by_host
        .into_iter()
        .filter(|(_, masters)| masters.len() > fair_share)
        .map(|(host, masters)| {
            detail(
                format!(
                    "host {host} runs {} masters: {} (an even spread of {master_count} masters over {} hosts needs at most {fair_share})",
                    masters.len(),
                    name_list(&masters, NAMES_SHOWN),
                    hosts.len()
                ),
                Vec::new(),
                masters,
            )
        })
        .collect();
    outcome(
        CheckName::MasterPlacement,
        Status::Warning,
        details,
        format!("masters are spread over the hosts (at most {fair_share} per host)"),
        |d| {
            format!(
                "{} with more masters than an even spread needs",
                counted(d.len(), "host")
            )
        },
    )
}

/// A node answering under another node's id (moving `myself` in a copied view) would otherwise
/// stand in for it: only one reply per id is judged.
fn id_conflicts(known: &NodeTable) -> Check {
    let details = known
        .id_conflicts
        .iter()
        .map(|c| {
            detail(
                format!(
                    "{} and {} both answer as node {} with different views; only {} is judged \
                     (it is at the address the node announces, or was asked first): find out \
                     which is not that node",
                    c.kept, c.other, c.id, c.kept
                ),
                Vec::new(),
                vec![c.kept.to_string(), c.other.to_string()],
            )
        })
        .collect();
    outcome(
        CheckName::IdConflicts,
        Status::Critical,
        details,
        "every node id answers from one place",
        |d| format!("{} answered from two places", counted(d.len(), "node id")),
    )
}

fn config_epochs(known: &NodeTable) -> Check {
    let mut by_epoch: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for master in live_masters(known) {
        if let Some(line) = master.line {
            by_epoch
                .entry(line.config_epoch)
                .or_default()
                .push(master.label.clone());
        }
    }
    let details = by_epoch
        .into_iter()
        .filter(|(_, masters)| masters.len() > 1)
        .map(|(epoch, masters)| {
            detail(
                format!(
                    "config epoch {epoch} is shared by masters {}",
                    name_list(&masters, NAMES_SHOWN)
                ),
                Vec::new(),
                masters,
            )
        })
        .collect();
    outcome(
        CheckName::ConfigEpochs,
        Status::Warning,
        details,
        "every master has its own config epoch",
        |d| format!("{} shared by masters", counted(d.len(), "config epoch")),
    )
}

fn empty_masters(known: &NodeTable) -> Check {
    let details = known
        .nodes
        .iter()
        .filter(|n| n.role() == Role::Master && n.slots().is_empty() && !n.failed())
        .map(|n| {
            detail(
                format!("master {} serves no slots", n.label),
                Vec::new(),
                vec![n.label.clone()],
            )
        })
        .collect();
    outcome(
        CheckName::EmptyMasters,
        Status::Warning,
        details,
        "every master serves slots",
        |d| format!("{} without slots", counted(d.len(), "master")),
    )
}

fn plan_check(known: &NodeTable, plan: &Plan) -> Check {
    let find = |addr: NodeAddr| known.nodes.iter().find(|n| n.addr == Some(addr));
    let describe = |node: &KnownNode| match node.role() {
        Role::Master => "a master".to_string(),
        Role::Replica => format!(
            "a replica of {}",
            node.master_id()
                .map_or_else(|| "an unknown node".to_string(), |id| known.label_of_id(id))
        ),
        Role::Unknown => "of unknown role".to_string(),
    };
    let mut details = Vec::new();
    for master in &plan.masters {
        let label = master.addr.to_string();
        let planned = ranges_of(master.slots.iter().flat_map(SlotRange::slots));
        let Some(node) = find(master.addr) else {
            details.push(detail(
                format!("planned master {label} is not in the cluster"),
                planned,
                vec![label],
            ));
            continue;
        };
        if node.role() != Role::Master {
            details.push(detail(
                format!("{label} should be a master but is {}", describe(node)),
                planned,
                vec![label.clone()],
            ));
        } else if ranges_of(node.slots().iter().flat_map(SlotRange::slots)) != planned {
            details.push(detail(
                format!(
                    "master {label} serves slots {} instead of {}",
                    format_ranges(node.slots()),
                    format_ranges(&planned)
                ),
                planned,
                vec![label.clone()],
            ));
        }
        for replica in &master.replicas {
            let replica_label = replica.addr.to_string();
            let Some(replica_node) = find(replica.addr) else {
                details.push(detail(
                    format!("planned replica {replica_label} of {label} is not in the cluster"),
                    Vec::new(),
                    vec![replica_label],
                ));
                continue;
            };
            let replicates_master =
                replica_node.master_id().is_some() && replica_node.master_id() == node.id;
            if !replicates_master {
                details.push(detail(
                    format!(
                        "{replica_label} should be a replica of {label} but is {}",
                        describe(replica_node)
                    ),
                    Vec::new(),
                    vec![replica_label, label.clone()],
                ));
            }
        }
    }
    let planned: Vec<NodeAddr> = plan.nodes().map(|(addr, _)| addr).collect();
    for node in &known.nodes {
        let listed = node.addr.is_some_and(|a| planned.contains(&a));
        if !listed && node.role() != Role::Unknown {
            details.push(detail(
                format!("{} is {} but not in the plan", node.label, describe(node)),
                Vec::new(),
                vec![node.label.clone()],
            ));
        }
    }
    outcome(
        CheckName::Plan,
        Status::Warning,
        details,
        "the cluster matches the plan",
        |d| format!("{} from the plan", counted(d.len(), "difference")),
    )
}

#[cfg(test)]
mod tests;
