//! The checks before any change: every node must be reachable, cluster-enabled, empty, alone
//! and slot-less, and no server may be listed twice under different addresses. All nodes are
//! asked at once and every problem is reported together, so one run shows everything to fix.

use std::collections::BTreeMap;

use redis_slotcheck::survey::{in_parallel, probe};
use redis_slotcheck::{ConnectOptions, NodeAddr, NodeState, ProbeError};

use crate::error::CreateError;

/// What is wrong with one node for joining a new cluster, from what it reported; empty when it
/// can join.
pub fn node_problems(state: &NodeState) -> Vec<String> {
    let addr = state.addr;
    let mut problems = Vec::new();
    if addr.bus().is_none() {
        problems.push(format!(
            "{addr}: port {} leaves no room for the cluster bus port (port + 10000 must be below 65536); use a lower port",
            addr.0.port()
        ));
    }
    let Some(cluster) = &state.cluster else {
        problems.push(format!(
            "{addr}: is not cluster-enabled; start it with 'cluster-enabled yes'"
        ));
        return problems;
    };
    let keys = state.info.key_count();
    if keys > 0 {
        problems.push(format!(
            "{addr}: holds {keys} keys; a new cluster starts from empty nodes: move the data away, or empty it with 'redis-cluster-create reset --flush'"
        ));
    }
    let known = cluster.info.known_nodes().unwrap_or(1);
    if known > 1 {
        problems.push(format!(
            "{addr}: already knows {} other nodes (it is part of a cluster); return it to empty with 'redis-cluster-create reset'",
            known - 1
        ));
    }
    let slots: usize = cluster
        .myself()
        .map_or(0, |m| m.slots.iter().map(|r| r.count()).sum());
    if slots > 0 {
        problems.push(format!(
            "{addr}: already serves {slots} slots; return it to empty with 'redis-cluster-create reset'"
        ));
    }
    problems
}

/// A node that passed the checks, with the id it has in the cluster.
#[derive(Debug, Clone)]
pub struct Ready {
    pub addr: NodeAddr,
    pub id: String,
}

/// Asks every node at once and returns their ids, or every problem found.
pub fn check(nodes: &[NodeAddr], options: &ConnectOptions) -> Result<Vec<Ready>, CreateError> {
    let outcomes = in_parallel(nodes, |&addr| probe(addr, options));
    let problems = problems_of(nodes, &outcomes);
    if !problems.is_empty() {
        return Err(CreateError::Refused { problems });
    }
    Ok(outcomes
        .into_iter()
        .flatten()
        .map(|state| Ready {
            addr: state.addr,
            id: state
                .cluster
                .as_ref()
                .and_then(|c| c.myself())
                .map(|m| m.id.clone())
                .unwrap_or_default(),
        })
        .collect())
}

/// Every problem of every node, plus one server reached under two addresses.
pub fn problems_of(nodes: &[NodeAddr], outcomes: &[Result<NodeState, ProbeError>]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut by_id: BTreeMap<String, NodeAddr> = BTreeMap::new();
    for (addr, outcome) in nodes.iter().zip(outcomes) {
        match outcome {
            Err(error) => problems.push(format!(
                "{addr}: unreachable ({error}); check that it runs and that this address is right"
            )),
            Ok(state) => {
                problems.extend(node_problems(state));
                let id = state.cluster.as_ref().and_then(|c| c.myself());
                if let Some(id) = id.map(|m| m.id.clone()) {
                    if let Some(first) = by_id.insert(id.clone(), *addr) {
                        problems.push(format!(
                            "{addr}: is the same server as {first} (node id {id}); give each server once"
                        ));
                    }
                }
            }
        }
    }
    problems
}
