//! Executing a plan: the stages that turn checked, empty nodes into a usable cluster.
//!
//! What Redis waits for decides the order. A master stays in `fail` for the rejoin delay
//! (cluster-node-timeout, clamped to 0.5–5 s) after it last counted itself in a minority, and
//! a master that serves no slot counts as one: so every master gets its slots first, all at
//! once, to start that clock as early as possible. Config epochs are set before any node meets
//! another (Redis refuses them afterwards). Every pair of nodes then meets directly, half the
//! pairs from each side, so no node waits for gossip to learn of the others; each replica is
//! attached the moment it knows its master. With `--fast` the node timeout drops to 500 ms (more
//! on big clusters) and the diskless sync delay to 0 for the creation, and both are restored
//! afterwards.
//!
//! One deadline (`--timeout`, from the moment the change was confirmed) bounds every stage and
//! every wait. SIGINT and SIGTERM are looked at between stages and inside every wait: the run
//! stops there, restores what `--fast` lowered, and says how far it got and what finishes the
//! job. The restore, after a failure, a timeout or a signal, gets [`RESTORE_BOUND`] of its own,
//! and every node it could not restore is named with the command that does it by hand.

use std::time::{Duration, Instant};

use serde::Serialize;

use redis_cluster::admin;
use redis_cluster::{ConnectOptions, Connection, Deadline, NodeAddr, Plan, SlotRange};
use toolkit::interrupt;

use crate::error::CreateError;
use crate::preflight;
use crate::wait::{self, Expected};
use redis_cluster::session::{command, Sessions};

/// How long the restore of the `--fast` settings may take once the run is over (after its
/// deadline, a failure or a signal): a few round trips to every node.
pub const RESTORE_BOUND: Duration = Duration::from_secs(3);

/// How long the last look at the nodes for a diagnosis may take once the deadline has passed.
pub const DIAGNOSIS_BOUND: Duration = Duration::from_secs(1);

/// How to apply a plan.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Bound on the whole run, from the moment the change was confirmed.
    pub timeout: Duration,
    /// Wait until the cluster is usable (false: return once everything is sent).
    pub wait: bool,
    /// Lower cluster-node-timeout and repl-diskless-sync-delay during the creation.
    pub fast: bool,
    /// Set cluster-announce-ip on each node to the address it was given.
    pub announce: bool,
    pub connect: ConnectOptions,
}

/// The settings `--fast` lowers.
pub const FAST_SETTINGS: [&str; 2] = ["cluster-node-timeout", "repl-diskless-sync-delay"];

/// The node timeout `--fast` uses: 500 ms, plus 25 ms per node beyond 20. Every node pings
/// every other, so a big cluster on a small machine answers slower; at 120 nodes on two cores a
/// flat 500 ms had every node suspecting the others and the cluster never settled.
pub fn fast_node_timeout_ms(nodes: usize) -> u64 {
    500 + 25 * u64::try_from(nodes.saturating_sub(20)).unwrap_or(u64::MAX / 50)
}

/// The values `--fast` sets meanwhile, in the order of [`FAST_SETTINGS`].
fn fast_values(nodes: usize) -> [String; 2] {
    [fast_node_timeout_ms(nodes).to_string(), "0".to_string()]
}

/// What `apply` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// True when every node was seen usable; false with `--no-wait`.
    pub usable: bool,
    /// Every node of the plan, masters first.
    pub nodes: Vec<NodeReport>,
    /// Each stage in the order run, with its duration.
    pub stages: Vec<StageTime>,
    /// Seconds from the start of the command to the end.
    pub total_seconds: f64,
}

/// One node of the new cluster.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub addr: NodeAddr,
    pub host: String,
    /// The node id Redis gave it.
    pub id: String,
    /// `master` or `replica`.
    pub role: &'static str,
    /// Slot ranges served (masters only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<SlotRange>,
    /// Address of its master (replicas only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<NodeAddr>,
    /// Id of its master (replicas only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_id: Option<String>,
}

/// How long one stage took.
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    /// In the order run: `check`, `assign` (settings, slots, epochs), `attach` (replicas to
    /// their masters), `meet`, `wait` (with `--no-wait`, not run) and `restore` (with `--fast`).
    pub stage: &'static str,
    pub seconds: f64,
}

/// Progress lines on stderr.
pub type Progress<'a> = &'a dyn Fn(&str);

/// The stage a run is in, for the message when it stops there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Check,
    Assign,
    Attach,
    Meet,
    Wait,
}

impl Stage {
    fn doing(self) -> &'static str {
        match self {
            Stage::Check => "checking the nodes",
            Stage::Assign => "assigning slots and config epochs",
            Stage::Attach => "attaching replicas to their masters",
            Stage::Meet => "introducing the nodes to each other",
            Stage::Wait => "waiting for the cluster to become usable",
        }
    }
}

/// Checks every node, then applies `plan`; `started` is when the command began (for the
/// report's times), the deadline starts now.
pub fn apply(
    plan: &Plan,
    options: &ApplyOptions,
    started: Instant,
    progress: Progress,
) -> Result<ApplyReport, CreateError> {
    let deadline = Deadline::after(options.timeout);
    let addrs: Vec<NodeAddr> = plan.nodes().map(|(a, _)| a).collect();
    let mut stages = Vec::new();
    let mut stage_start = Instant::now();
    let mut lap = |stages: &mut Vec<StageTime>, stage| {
        stages.push(StageTime {
            stage,
            seconds: stage_start.elapsed().as_secs_f64(),
        });
        stage_start = Instant::now();
    };

    progress(&format!("checking {} nodes", addrs.len()));
    let checked = preflight::check(&addrs, &options.connect, deadline);
    stopped_by_signal(Stage::Check, &addrs)?;
    let ids: Vec<String> = checked?.into_iter().map(|c| c.id).collect();
    let expected = wait::expectations(plan, &ids);
    lap(&mut stages, "check");

    let mut sessions = Sessions::new(addrs.clone(), &options.connect, deadline);
    let saved = if options.fast {
        let saved = save_settings(&sessions);
        stopped_by_signal(Stage::Check, &addrs)?;
        let saved = saved?;
        for warning in leftover_fast_values(&addrs, &saved) {
            progress(&format!("warning: {warning}"));
        }
        saved
    } else {
        Vec::new()
    };
    let outcome = configure(
        &sessions,
        &expected,
        options,
        &mut stages,
        &mut lap,
        progress,
    );
    let unrestored = if options.fast {
        progress("restoring cluster-node-timeout and repl-diskless-sync-delay");
        sessions.set_deadline(Deadline::after(RESTORE_BOUND).ignoring_signals());
        let unrestored = restore_settings(&sessions, &saved);
        lap(&mut stages, "restore");
        unrestored
    } else {
        Vec::new()
    };
    match (outcome, unrestored.is_empty()) {
        (Ok(()), true) => {}
        (Ok(()), false) => return Err(CreateError::Unrestored { nodes: unrestored }),
        (Err(cause), true) => return Err(cause),
        (Err(cause), false) => {
            return Err(CreateError::AlsoUnrestored {
                cause: Box::new(cause),
                nodes: unrestored,
            })
        }
    }
    let nodes = report_nodes(plan, &expected);
    Ok(ApplyReport {
        usable: options.wait,
        nodes,
        stages,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// `Err` when SIGINT or SIGTERM has arrived: the run stops after `stage` of `addrs`' creation,
/// and the error says what the nodes look like now and what finishes the job.
fn stopped_by_signal(stage: Stage, addrs: &[NodeAddr]) -> Result<(), CreateError> {
    let Err(signal) = interrupt::check() else {
        return Ok(());
    };
    let nodes: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let next = match stage {
        Stage::Check => "no node was changed; run the same command again".to_string(),
        Stage::Wait => format!(
            "every node is configured and the cluster becomes usable on its own; check it with 'redis-slotcheck {}'",
            nodes[0]
        ),
        _ => format!(
            "the nodes are partly configured; return them to empty with 'redis-cluster-create reset --yes {}', then run the same command again",
            nodes.join(" ")
        ),
    };
    Err(CreateError::Interrupted {
        signal,
        doing: stage.doing(),
        next,
    })
}

/// The stages that change nodes, up to usable (or up to sent, with `--no-wait`).
fn configure(
    sessions: &Sessions,
    expected: &[Expected],
    options: &ApplyOptions,
    stages: &mut Vec<StageTime>,
    lap: &mut dyn FnMut(&mut Vec<StageTime>, &'static str),
    progress: Progress,
) -> Result<(), CreateError> {
    let deadline = sessions.deadline();
    let addrs = &sessions.addrs;
    let mut stage = Stage::Assign;
    progress("assigning slots and config epochs");
    let assigned_at = Instant::now();
    let results = sessions.each(|i, c| assign(c, &expected[i], i, expected.len(), options));
    stopped_by_signal(stage, addrs)?;
    let node_timeouts = all_ok(sessions, "assigning slots and config epoch", results)?;
    lap(stages, "assign");

    // Replicas first: each meets only its master and is attached once the handshake is done,
    // which starts the replica sync delay early and on quiet nodes; the full mesh follows.
    stage = Stage::Attach;
    progress("attaching replicas to their masters");
    let targets = meet_targets(expected);
    let results = sessions.each(|i, c| match expected[i].master {
        Some(m) => {
            meet(c, &sessions.addrs, &targets[i][..1])?;
            admin::replicate_when_known(c, &expected[m].id, deadline)
                .map_err(|f| format!("CLUSTER REPLICATE: {f}"))
        }
        None => Ok(true),
    });
    stopped_by_signal(stage, addrs)?;
    let attached = all_ok(sessions, "attaching", results)?;
    if attached.contains(&false) {
        return Err(not_ready(sessions, expected, options.timeout));
    }
    lap(stages, "attach");

    stage = Stage::Meet;
    progress("introducing every node to every other");
    let results = sessions.each(|i, c| {
        let skip = usize::from(expected[i].master.is_some());
        meet(c, &sessions.addrs, &targets[i][skip..])
    });
    stopped_by_signal(stage, addrs)?;
    all_ok(sessions, "introducing", results)?;
    lap(stages, "meet");

    if options.wait {
        stage = Stage::Wait;
        // No master turns ok before the rejoin delay has passed since it got its slots, so
        // polling earlier would only load the nodes while they shake hands.
        let shortest = node_timeouts.into_iter().min().unwrap_or(0);
        let rejoin_delay = Duration::from_millis(shortest.clamp(500, 5000));
        progress(&format!(
            "waiting for the rejoin delay ({:.1} s after slot assignment)",
            rejoin_delay.as_secs_f64()
        ));
        // A signal ends the sleep early; it is looked at right after.
        let _ = deadline.sleep_until(assigned_at + rejoin_delay);
        stopped_by_signal(stage, addrs)?;
        // Each poll asks every node for its whole view; on big clusters that load would slow
        // the very convergence it watches, so polls thin out with the node count.
        let per_node = u64::try_from(expected.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(2);
        let base = if options.fast { 25 } else { 100 };
        let interval = Duration::from_millis(base + per_node);
        let report = |ready: usize, total: usize| {
            progress(&format!(
                "waiting for the cluster: {ready}/{total} nodes ready"
            ));
        };
        let (snapshots, ready) = wait::until_ready(sessions, expected, interval, &report);
        stopped_by_signal(stage, addrs)?;
        if !ready {
            return Err(CreateError::NotReady {
                waited: options.timeout,
                diagnosis: wait::diagnose(expected, &snapshots, &wait::reach),
            });
        }
        lap(stages, "wait");
    }
    Ok(())
}

/// Why the cluster is not ready, from a last look at the nodes (which gets
/// [`DIAGNOSIS_BOUND`], as the run's deadline has passed).
fn not_ready(sessions: &Sessions, expected: &[Expected], waited: Duration) -> CreateError {
    let late = Sessions::new(
        sessions.addrs.clone(),
        sessions.options(),
        Deadline::after(DIAGNOSIS_BOUND),
    );
    let snapshots = wait::poll(&late);
    CreateError::NotReady {
        waited,
        diagnosis: wait::diagnose(expected, &snapshots, &wait::reach),
    }
}

fn all_ok<R>(
    sessions: &Sessions,
    step: &'static str,
    results: Vec<Result<R, String>>,
) -> Result<Vec<R>, CreateError> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|message| CreateError::Step {
                node: sessions.addrs[i].to_string(),
                step,
                message,
            })
        })
        .collect()
}

/// Settings, slots and config epoch of one node; returns the cluster-node-timeout in effect.
/// Slots come right after the settings: they start the clock of the rejoin delay.
fn assign(
    c: &mut Connection,
    e: &Expected,
    index: usize,
    node_count: usize,
    options: &ApplyOptions,
) -> Result<u64, String> {
    if options.fast {
        for (name, value) in FAST_SETTINGS.iter().zip(fast_values(node_count)) {
            command::<()>(c, &["CONFIG", "SET", name, &value])?;
        }
    }
    if options.announce {
        command::<()>(
            c,
            &["CONFIG", "SET", "cluster-announce-ip", &e.addr.ip_string()],
        )?;
    }
    if !e.slots.is_empty() {
        admin::assign_slots(c, &e.slots).map_err(|f| f.to_string())?;
    }
    command::<()>(
        c,
        &["CLUSTER", "SET-CONFIG-EPOCH", &(index + 1).to_string()],
    )?;
    let pair: Vec<String> = command(c, &["CONFIG", "GET", "cluster-node-timeout"])?;
    pair.get(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("unexpected cluster-node-timeout reply {pair:?}"))
}

/// The peers each node introduces itself to, so that every pair meets exactly once and the
/// work is shared evenly: each node takes the next half of the ring. A replica meets its own
/// master first, so it can be attached before the other handshakes are done.
pub fn meet_targets(expected: &[Expected]) -> Vec<Vec<usize>> {
    let count = expected.len();
    let half = (count - 1) / 2;
    let mut targets: Vec<Vec<usize>> = (0..count)
        .map(|i| {
            let mut t: Vec<usize> = (1..=half).map(|d| (i + d) % count).collect();
            if count & 1 == 0 && i < count / 2 {
                t.push(i + count / 2);
            }
            t
        })
        .collect();
    for (r, e) in expected.iter().enumerate() {
        if let Some(m) = e.master {
            targets[m].retain(|&t| t != r);
            targets[r].retain(|&t| t != m);
            targets[r].insert(0, m);
        }
    }
    targets
}

fn meet(c: &mut Connection, addrs: &[NodeAddr], targets: &[usize]) -> Result<(), String> {
    let peers: Vec<NodeAddr> = targets.iter().map(|&j| addrs[j]).collect();
    admin::meet(c, &peers).map_err(|f| format!("CLUSTER MEET: {f}"))
}

/// The current values of the settings `--fast` changes, per node.
fn save_settings(sessions: &Sessions) -> Result<Vec<Vec<(String, String)>>, CreateError> {
    all_ok(
        sessions,
        "CONFIG GET",
        sessions.each(|_, c| {
            FAST_SETTINGS
                .iter()
                .map(|name| {
                    let pair: Vec<String> = command(c, &["CONFIG", "GET", name])?;
                    match pair.as_slice() {
                        [_, value] => Ok(((*name).to_string(), value.clone())),
                        _ => Err(format!("no value for {name}")),
                    }
                })
                .collect()
        }),
    )
}

/// Nodes whose settings already are what `--fast` sets meanwhile: left so by an earlier run
/// that was killed before it could restore them. This run restores them to the same values,
/// so the operator must hear of it.
fn leftover_fast_values(addrs: &[NodeAddr], saved: &[Vec<(String, String)>]) -> Vec<String> {
    let fast = fast_values(addrs.len());
    addrs
        .iter()
        .zip(saved)
        .filter(|(_, values)| {
            values.len() == FAST_SETTINGS.len()
                && values.iter().zip(&fast).all(|((_, now), lowered)| now == lowered)
        })
        .map(|(addr, _)| {
            format!(
                "{addr}: cluster-node-timeout {} and repl-diskless-sync-delay 0 are what --fast sets while it runs (an earlier run killed before it restored them?); they stay so afterwards: set the values of the node's configuration file with CONFIG SET",
                fast[0]
            )
        })
        .collect()
}

/// Puts the saved settings back on every node; returns what may not be restored, one line per
/// setting and node with the command that does it by hand. After a failure on a node its
/// connection is not trusted with more (a late reply would answer the next command), so its
/// remaining settings count as not restored.
fn restore_settings(sessions: &Sessions, saved: &[Vec<(String, String)>]) -> Vec<String> {
    let results = sessions.each(|i, c| -> Result<(), String> {
        for (name, value) in &saved[i] {
            command::<()>(c, &["CONFIG", "SET", name, value])?;
        }
        Ok(())
    });
    let mut lines = Vec::new();
    for ((addr, result), saved) in sessions.addrs.iter().zip(results).zip(saved) {
        let Err(error) = result else { continue };
        for (name, value) in saved {
            lines.push(format!(
                "{addr}: {name} may still be lowered ({error}); run 'redis-cli -h {} -p {} CONFIG SET {name} {value}'",
                addr.ip_string(),
                addr.0.port()
            ));
        }
    }
    lines
}

fn report_nodes(plan: &Plan, expected: &[Expected]) -> Vec<NodeReport> {
    let hosts: Vec<&str> = plan.nodes().map(|(_, h)| h).collect();
    expected
        .iter()
        .zip(hosts)
        .map(|(e, host)| {
            let master = e.master.map(|m| &expected[m]);
            NodeReport {
                addr: e.addr,
                host: host.to_string(),
                id: e.id.clone(),
                role: if master.is_some() {
                    "replica"
                } else {
                    "master"
                },
                slots: e.slots.clone(),
                master: master.map(|m| m.addr),
                master_id: master.map(|m| m.id.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: --fast on 120 nodes with a flat 500 ms node timeout never settled on a
    // two-core machine; small clusters keep the full speed-up.
    #[test]
    fn fast_node_timeout_grows_with_the_cluster() {
        assert_eq!(fast_node_timeout_ms(6), 500);
        assert_eq!(fast_node_timeout_ms(20), 500);
        assert_eq!(fast_node_timeout_ms(60), 1500);
        assert_eq!(fast_node_timeout_ms(120), 3000);
    }

    fn nodes(count: usize, replica_of: &[(usize, usize)]) -> Vec<Expected> {
        (0..count)
            .map(|i| Expected {
                addr: format!("127.0.0.1:{}", 7000 + i).parse().unwrap(),
                id: String::new(),
                master: replica_of.iter().find(|(r, _)| *r == i).map(|(_, m)| *m),
                slots: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn every_pair_meets_exactly_once_and_replicas_meet_their_master_first() {
        for count in 3..40 {
            let links: Vec<(usize, usize)> =
                (count / 2..count).map(|r| (r, r - count / 2)).collect();
            let targets = meet_targets(&nodes(count, &links));
            let mut pairs = std::collections::BTreeSet::new();
            for (i, list) in targets.iter().enumerate() {
                for &j in list {
                    assert!(pairs.insert((i.min(j), i.max(j))), "{count}: {i}-{j} twice");
                }
            }
            assert_eq!(pairs.len(), count * (count - 1) / 2, "{count}");
            for (r, m) in links {
                assert_eq!(targets[r][0], m);
            }
            let most = targets.iter().map(Vec::len).max().unwrap();
            assert!(most <= count / 2 + 1, "{count}: one node meets {most}");
        }
    }

    // Regression: after a run killed with --fast settings lowered, a later reset and apply
    // --fast took 500/0 as the values to restore, and the cluster kept them for good, unsaid.
    #[test]
    fn values_left_lowered_by_an_earlier_run_are_named() {
        let addrs: Vec<NodeAddr> = ["127.0.0.1:7000", "127.0.0.1:7001"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let pair = |timeout: &str, delay: &str| {
            vec![
                ("cluster-node-timeout".to_string(), timeout.to_string()),
                ("repl-diskless-sync-delay".to_string(), delay.to_string()),
            ]
        };
        let warnings = leftover_fast_values(&addrs, &[pair("5000", "5"), pair("500", "0")]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with(
            "127.0.0.1:7001: cluster-node-timeout 500 and repl-diskless-sync-delay 0"
        ));
    }
}
