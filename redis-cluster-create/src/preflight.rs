//! The checks before any change: every node must be reachable, cluster-enabled, empty, alone
//! and slot-less, and no server may be listed twice under different addresses. All nodes are
//! asked at once and every problem is reported together, so one run shows everything to fix.

use std::collections::BTreeMap;

use redis_cluster::survey::{in_parallel, probe};
use redis_cluster::{ConnectOptions, Deadline, NodeAddr, NodeState, ProbeError};

use crate::error::CreateError;
use toolkit::words::counted;

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
    match redis_cluster::Server::from_info(&state.info) {
        Some(server) if server.supported() => {}
        Some(server) => problems.push(format!(
            "{addr}: runs {server}; this tool needs Redis 6.2 or newer, or Valkey"
        )),
        None => problems.push(format!(
            "{addr}: INFO names no server version; this tool needs Redis 6.2 or newer, or Valkey"
        )),
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
            "{addr}: holds {}; a new cluster starts from empty nodes: move the data away, or empty it with 'redis-cluster-create reset --flush'",
            counted(keys, "key")
        ));
    }
    let known = cluster.info.known_nodes().unwrap_or(1);
    if known > 1 {
        problems.push(format!(
            "{addr}: already knows {} (it is part of a cluster); return it to empty with 'redis-cluster-create reset'",
            counted(known - 1, "other node")
        ));
    }
    // SET-CONFIG-EPOCH refuses a node whose epoch is set: an earlier run that stopped after
    // assigning epochs leaves nodes that know nobody and hold no slots, but would fail there.
    let epoch = cluster.myself().map_or(0, |m| m.config_epoch);
    if epoch > 0 {
        problems.push(format!(
            "{addr}: has config epoch {epoch} already (an earlier run set it); return it to empty with 'redis-cluster-create reset'"
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
pub fn check(
    nodes: &[NodeAddr],
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<Vec<Ready>, CreateError> {
    let outcomes = in_parallel(nodes, |&addr| probe(addr, options, deadline));
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
            // It answered, in TLS or not: the cause says it all.
            Err(error @ ProbeError::Tls(_)) => problems.push(format!("{addr}: {error}")),
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

#[cfg(test)]
mod tests {
    use redis_cluster::survey::ClusterView;
    use redis_cluster::{parse_cluster_nodes, Info};

    use super::*;

    fn state(addr: &str, info: &str, cluster: Option<(&str, &str)>) -> NodeState {
        NodeState {
            addr: addr.parse().unwrap(),
            info: Info::parse(info),
            cluster: cluster.map(|(info, nodes)| ClusterView {
                info: Info::parse(info),
                nodes: parse_cluster_nodes(nodes).unwrap(),
            }),
            migrations: Ok(Vec::new()),
        }
    }

    const ALONE: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 127.0.0.1:7000@17000 myself,master - 0 0 0 connected\n";

    #[test]
    fn an_empty_lonely_node_passes() {
        let ok = state(
            "127.0.0.1:7000",
            "redis_version:7.0.15\r\n",
            Some(("cluster_known_nodes:1\r\n", ALONE)),
        );
        assert!(node_problems(&ok).is_empty());
    }

    #[test]
    fn every_problem_of_a_node_is_named() {
        let busy = state(
            "127.0.0.1:7000",
            "redis_version:6.0.9\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n",
            Some((
                "cluster_known_nodes:3\r\n",
                "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-99\n",
            )),
        );
        let text = node_problems(&busy).join("\n");
        for expected in [
            "127.0.0.1:7000: runs Redis 6.0.9; this tool needs Redis 6.2 or newer, or Valkey",
            "127.0.0.1:7000: holds 2 keys",
            "127.0.0.1:7000: already knows 2 other nodes",
            "127.0.0.1:7000: already serves 100 slots",
        ] {
            assert!(text.contains(expected), "missing '{expected}' in {text}");
        }
        let plain = state("127.0.0.1:60000", "redis_version:7.2.0\r\n", None);
        let text = node_problems(&plain).join("\n");
        assert!(text.contains("port 60000 leaves no room for the cluster bus port"));
        assert!(text.contains("is not cluster-enabled"));
    }

    #[test]
    fn one_server_under_two_addresses_is_refused() {
        let a = state(
            "127.0.0.1:7000",
            "redis_version:7.0.15\r\n",
            Some(("cluster_known_nodes:1\r\n", ALONE)),
        );
        let mut b = a.clone();
        b.addr = "127.0.0.2:7000".parse().unwrap();
        let nodes = [a.addr, b.addr];
        let problems = problems_of(&nodes, &[Ok(a), Ok(b)]);
        assert_eq!(
            problems,
            ["127.0.0.2:7000: is the same server as 127.0.0.1:7000 (node id a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1); give each server once"]
        );
    }

    // Regression: a rerun after an interrupted apply passed the checks, then failed at
    // SET-CONFIG-EPOCH on the nodes an earlier run had given an epoch.
    #[test]
    fn a_node_with_a_config_epoch_is_refused() {
        let stale = state(
            "127.0.0.1:7000",
            "redis_version:7.0.15\r\n",
            Some((
                "cluster_known_nodes:1\r\n",
                "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 127.0.0.1:7000@17000 myself,master - 0 0 4 connected\n",
            )),
        );
        assert_eq!(
            node_problems(&stale),
            ["127.0.0.1:7000: has config epoch 4 already (an earlier run set it); return it to empty with 'redis-cluster-create reset'"]
        );
    }
}
