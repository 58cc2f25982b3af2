//! Returning nodes to empty after a failed or unwanted attempt, instead of the how-to's "stop
//! everything, delete the data directories, start again": `CLUSTER RESET HARD` on every node
//! (new id, no peers, no slots, epochs zero). Nodes that hold keys are refused by name unless
//! `--flush` is given.

use serde::Serialize;

use redis_cluster::survey::{in_parallel, probe};
use redis_cluster::{ConnectOptions, Deadline, NodeAddr, NodeState};

use crate::error::CreateError;
use redis_cluster::session::{command, Sessions};

/// What `reset` prints: one entry per node.
#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    pub nodes: Vec<ResetNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResetNode {
    pub addr: NodeAddr,
    /// Node id before the reset.
    pub old_id: String,
    /// Node id after the reset (a hard reset picks a new one).
    pub new_id: String,
    /// Keys deleted (only with `--flush`).
    pub flushed_keys: u64,
}

/// Asks every node at once; refuses, naming every problem, when a node is unreachable, not
/// cluster-enabled, or holds keys without `flush`.
pub fn inspect(
    nodes: &[NodeAddr],
    flush: bool,
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<Vec<NodeState>, CreateError> {
    let outcomes = in_parallel(nodes, |&addr| probe(addr, options, deadline));
    stopped(
        &deadline,
        "checking the nodes",
        "no node was changed".to_string(),
    )?;
    let mut problems = Vec::new();
    for (addr, outcome) in nodes.iter().zip(&outcomes) {
        match outcome {
            Err(e) => problems.push(format!("{addr}: unreachable ({e})")),
            Ok(state) if state.cluster.is_none() => problems.push(format!(
                "{addr}: is not cluster-enabled; there is nothing to reset"
            )),
            Ok(state) if state.info.key_count() > 0 && !flush => problems.push(format!(
                "{addr}: holds {}; pass --flush to delete them with the reset",
                toolkit::words::counted(state.info.key_count(), "key")
            )),
            Ok(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(outcomes.into_iter().flatten().collect())
    } else {
        Err(CreateError::Refused { problems })
    }
}

/// Resets the inspected nodes: replicas first (a reset replica drops its copy), then masters,
/// flushed first when they hold keys. A node that still knows peers afterwards (gossip from a
/// node reset a moment later) is reset once more.
/// `deadline` bounds all of it; SIGINT or SIGTERM stops it between rounds (a node's reset is
/// one command: it happens or not).
pub fn reset(
    states: &[NodeState],
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<ResetReport, CreateError> {
    let addrs: Vec<NodeAddr> = states.iter().map(|s| s.addr).collect();
    let again_text = format!(
        "some nodes may be reset already; run 'redis-cluster-create reset --yes{} {}' to finish",
        if states.iter().any(|s| s.info.key_count() > 0) {
            " --flush"
        } else {
            ""
        },
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let sessions = Sessions::new(addrs.clone(), options, deadline);
    let is_replica: Vec<bool> = states.iter().map(|s| s.info.is_replica()).collect();
    for replicas_turn in [true, false] {
        let results = sessions.each(|i, c| {
            if is_replica[i] != replicas_turn {
                return Ok(());
            }
            if states[i].info.key_count() > 0 && !is_replica[i] {
                command::<()>(c, &["FLUSHALL"])?;
            }
            command::<()>(c, &["CLUSTER", "RESET", "HARD"])
        });
        stopped(&deadline, "resetting the nodes", again_text.clone())?;
        check(&addrs, results)?;
    }
    for _ in 0..3 {
        let alone = sessions.each(|_, c| -> Result<bool, String> {
            let info: String = command(c, &["CLUSTER", "INFO"])?;
            Ok(redis_cluster::Info::parse(&info).known_nodes() == Some(1))
        });
        let again = sessions.each(|i, c| match &alone[i] {
            Ok(false) => command::<()>(c, &["CLUSTER", "RESET", "HARD"]),
            _ => Ok(()),
        });
        stopped(&deadline, "resetting the nodes", again_text.clone())?;
        check(&addrs, again)?;
        if alone.iter().all(|a| matches!(a, Ok(true))) {
            break;
        }
    }
    let new_ids = sessions.each(|_, c| command::<String>(c, &["CLUSTER", "MYID"]));
    let new_ids = check(&addrs, new_ids)?;
    Ok(ResetReport {
        nodes: states
            .iter()
            .zip(new_ids)
            .map(|(s, new_id)| ResetNode {
                addr: s.addr,
                old_id: s
                    .cluster
                    .as_ref()
                    .and_then(|c| c.myself())
                    .map(|m| m.id.clone())
                    .unwrap_or_default(),
                new_id,
                flushed_keys: s.info.key_count(),
            })
            .collect(),
    })
}

/// `Err` when a signal has asked to stop; `next` says how the nodes were left.
fn stopped(deadline: &Deadline, doing: &'static str, next: String) -> Result<(), CreateError> {
    deadline.check().map_err(|signal| CreateError::Interrupted {
        signal,
        doing,
        next,
    })
}

fn check<R>(addrs: &[NodeAddr], results: Vec<Result<R, String>>) -> Result<Vec<R>, CreateError> {
    results
        .into_iter()
        .zip(addrs)
        .map(|(r, addr)| {
            r.map_err(|message| CreateError::ResetFailed {
                node: addr.to_string(),
                message,
            })
        })
        .collect()
}
