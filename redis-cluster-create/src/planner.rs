//! The placement: which nodes become masters, which slots each serves and which master each
//! replica follows. Pure and deterministic, so the same nodes always give the same plan and the
//! rules can be property-tested against brute force.
//!
//! Rules, in order of importance: masters are spread so no host has two more than another
//! (unless that host has no node left); no replica shares its master's host when any placement
//! avoids it; replicas of one master sit on distinct hosts when possible. The first rule fixes
//! how many masters each host gets; within it every choice of hosts for the leftover masters is
//! tried, and the replicas are given to masters by a minimum-cost flow, which is optimal.

use std::collections::BTreeMap;

use redis_cluster::plan::MIN_MASTERS;
use redis_cluster::{
    NodeAddr, Plan, PlannedMaster, PlannedReplica, SlotRange, MAX_CLUSTER_NODES, SLOT_COUNT,
};

use crate::flow::Network;

/// A node offered to the planner and the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub addr: NodeAddr,
    pub host: String,
}

/// Why no plan can be made from the nodes given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanningError {
    #[error("node {} is given more than once", .0.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", "))]
    Duplicates(Vec<NodeAddr>),
    #[error("{nodes} nodes given; a plan holds at most {MAX_CLUSTER_NODES}, the largest cluster Redis documents: plan a smaller cluster")]
    TooMany { nodes: usize },
    #[error("{nodes} nodes with --replicas {replicas} give {masters} masters; Redis Cluster needs at least {MIN_MASTERS}: give at least {needed} nodes or ask for fewer replicas")]
    TooFewMasters {
        nodes: usize,
        replicas: u32,
        masters: usize,
        needed: usize,
    },
}

/// Cost of one replica on its master's host; larger than any possible sum of sibling costs, so
/// the flow never trades a replica-beside-master for fewer siblings side by side.
const SAME_HOST_COST: i64 = 1 << 32;
/// Makes the flow fill every master's guaranteed share of replicas before any extra.
const REQUIRED_SHARE_BONUS: i64 = -(1 << 52);
/// Choices of hosts for the leftover masters tried at most; beyond it, the first ones in host
/// order (only sites with dozens of hosts and few nodes each get there).
const MAX_MASTER_LAYOUTS: usize = 512;

/// A host and its nodes, in the order given; the first `layout[h]` of them become masters.
#[derive(Debug, Clone)]
pub(crate) struct Host<'a> {
    pub name: &'a str,
    pub nodes: Vec<NodeAddr>,
}

/// Makes the plan for `candidates` with `replicas` replicas per master. Every node is used:
/// nodes beyond masters × (1 + replicas) become extra replicas, spread one per master.
pub fn plan(candidates: &[Candidate], replicas: u32) -> Result<Plan, PlanningError> {
    let master_count = master_count(candidates, replicas)?;
    let hosts = hosts_of(candidates);
    let best = master_layouts(&hosts, master_count)
        .into_iter()
        .map(|layout| {
            let assignment = assign_replicas(
                &hosts,
                &layout,
                candidates.len() - master_count,
                &BTreeMap::new(),
            );
            (assignment.cost, layout, assignment)
        })
        .min_by_key(|(cost, _, _)| *cost)
        .map(|(_, layout, assignment)| (layout, assignment))
        .expect("at least one master layout exists");
    Ok(build_plan(&hosts, &best.0, &best.1, replicas))
}

/// How many masters `candidates` give with `replicas` replicas each, after refusing duplicate
/// nodes and layouts with fewer masters than Redis Cluster needs.
pub(crate) fn master_count(
    candidates: &[Candidate],
    replicas: u32,
) -> Result<usize, PlanningError> {
    if candidates.len() > MAX_CLUSTER_NODES {
        return Err(PlanningError::TooMany {
            nodes: candidates.len(),
        });
    }
    let mut seen = BTreeMap::new();
    let mut duplicates: Vec<NodeAddr> = Vec::new();
    for c in candidates {
        if seen.insert(c.addr, ()).is_some() && !duplicates.contains(&c.addr) {
            duplicates.push(c.addr);
        }
    }
    if !duplicates.is_empty() {
        return Err(PlanningError::Duplicates(duplicates));
    }
    let group = replicas as usize + 1;
    let master_count = candidates.len() / group;
    if master_count < MIN_MASTERS {
        return Err(PlanningError::TooFewMasters {
            nodes: candidates.len(),
            replicas,
            masters: master_count,
            needed: MIN_MASTERS * group,
        });
    }
    Ok(master_count)
}

/// The hosts of `candidates` in order of first appearance, each with its nodes in order.
pub(crate) fn hosts_of(candidates: &[Candidate]) -> Vec<Host<'_>> {
    let mut hosts: Vec<Host> = Vec::new();
    for c in candidates {
        match hosts.iter_mut().find(|h| h.name == c.host) {
            Some(host) => host.nodes.push(c.addr),
            None => hosts.push(Host {
                name: &c.host,
                nodes: vec![c.addr],
            }),
        }
    }
    hosts
}

/// Every way to give `master_count` masters to hosts so counts differ by at most one among
/// hosts that still have nodes to spare: fill every host to a common level, then choose which
/// hosts take one more.
pub(crate) fn master_layouts(hosts: &[Host], master_count: usize) -> Vec<Vec<usize>> {
    let capacity = |h: &Host, level: usize| h.nodes.len().min(level);
    let mut level = 0;
    while hosts.iter().map(|h| capacity(h, level + 1)).sum::<usize>() <= master_count {
        level += 1;
        if hosts.iter().all(|h| h.nodes.len() <= level) {
            break;
        }
    }
    let base: Vec<usize> = hosts.iter().map(|h| capacity(h, level)).collect();
    let leftover = master_count - base.iter().sum::<usize>();
    let open: Vec<usize> = (0..hosts.len())
        .filter(|&i| hosts[i].nodes.len() > level)
        .collect();
    let mut layouts = Vec::new();
    for chosen in combinations(open.len(), leftover, MAX_MASTER_LAYOUTS) {
        let mut layout = base.clone();
        for i in chosen {
            layout[open[i]] += 1;
        }
        layouts.push(layout);
    }
    layouts
}

/// The first `limit` `k`-subsets of `0..n` in lexicographic order.
fn combinations(n: usize, k: usize, limit: usize) -> Vec<Vec<usize>> {
    let mut result = Vec::new();
    let mut current: Vec<usize> = (0..k).collect();
    if k > n {
        return result;
    }
    loop {
        result.push(current.clone());
        if result.len() == limit {
            return result;
        }
        let Some(i) = (0..k).rev().find(|&i| current[i] < n - k + i) else {
            return result;
        };
        current[i] += 1;
        for j in i + 1..k {
            current[j] = current[j - 1] + 1;
        }
    }
}

/// How many replica nodes of each host go to each master, and what that costs.
pub(crate) struct Assignment {
    /// `(host index, master index) -> count`; masters are indexed in slot order.
    pub counts: BTreeMap<(usize, usize), usize>,
    pub cost: i64,
}

/// The masters of a layout in slot order: round-robin over hosts, like redis-cli, so
/// neighbouring slot ranges sit on different hosts. Each entry is `(host index, node)`.
pub(crate) fn masters_in_order(hosts: &[Host], layout: &[usize]) -> Vec<(usize, NodeAddr)> {
    let rounds = layout.iter().copied().max().unwrap_or(0);
    (0..rounds)
        .flat_map(|round| {
            (0..hosts.len())
                .filter(move |&h| round < layout[h])
                .map(move |h| (h, hosts[h].nodes[round]))
        })
        .collect()
}

/// Gives the replica nodes to masters at least cost: every master gets its share (replica
/// nodes / masters, one more for the first few), each replica beside its master costs
/// `SAME_HOST_COST`, and the k-th replica of a master on one host costs k − 1 more.
///
/// `keep[(h, m)]` counts the replica nodes of host `h` that already follow master `m` (when
/// converging a live cluster): among assignments of equal cost, the one that keeps most of
/// them wins. Costs are scaled so that no number of kept followers outweighs one unit.
pub(crate) fn assign_replicas(
    hosts: &[Host],
    layout: &[usize],
    replica_nodes: usize,
    keep: &BTreeMap<(usize, usize), usize>,
) -> Assignment {
    let scale = to_i64(replica_nodes + 1);
    let masters = masters_in_order(hosts, layout);
    let share = replica_nodes / masters.len();
    let (source, sink) = (0, 1);
    let host_vertex = |h: usize| 2 + h;
    let master_vertex = |m: usize| 2 + hosts.len() + m;
    let mut net = Network::new(2 + hosts.len() + masters.len());
    for (h, host) in hosts.iter().enumerate() {
        let spare = host.nodes.len() - layout[h];
        net.add_arc(source, host_vertex(h), to_i64(spare), 0);
    }
    let mut arcs = Vec::new();
    for (m, &(master_host, _)) in masters.iter().enumerate() {
        for (h, host) in hosts.iter().enumerate() {
            let spare = host.nodes.len() - layout[h];
            let beside_master = if h == master_host { SAME_HOST_COST } else { 0 };
            for k in 0..spare.min(share + 1) {
                let kept = i64::from(k < keep.get(&(h, m)).copied().unwrap_or(0));
                let arc = net.add_arc(
                    host_vertex(h),
                    master_vertex(m),
                    1,
                    (beside_master + to_i64(k)) * scale - kept,
                );
                arcs.push((h, m, arc));
            }
        }
        net.add_arc(master_vertex(m), sink, to_i64(share), REQUIRED_SHARE_BONUS);
        net.add_arc(master_vertex(m), sink, 1, 0);
    }
    let sent = net.min_cost_max_flow(source, sink);
    debug_assert_eq!(sent, to_i64(replica_nodes));
    let mut counts = BTreeMap::new();
    let mut cost = 0;
    for (h, m, arc) in arcs {
        if net.flow(arc) > 0 {
            let count = counts.entry((h, m)).or_insert(0);
            let beside_master = if h == masters[m].0 { SAME_HOST_COST } else { 0 };
            cost += beside_master + to_i64(*count);
            *count += 1;
        }
    }
    Assignment { counts, cost }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).expect("node counts fit in i64")
}

/// Slot ranges for `masters` masters: contiguous, in order, sizes differing by at most one.
pub fn slot_ranges(masters: usize) -> Vec<SlotRange> {
    let total = usize::from(SLOT_COUNT);
    let mut start = 0;
    (0..masters)
        .map(|i| {
            let size = total / masters + usize::from(i < total % masters);
            let range = SlotRange::new(
                u16::try_from(start).expect("slot"),
                u16::try_from(start + size - 1).expect("slot"),
            );
            start += size;
            range
        })
        .collect()
}

fn build_plan(hosts: &[Host], layout: &[usize], assignment: &Assignment, replicas: u32) -> Plan {
    let masters = masters_in_order(hosts, layout);
    let mut next_spare: Vec<usize> = layout.to_vec();
    let mut planned: Vec<PlannedMaster> = masters
        .iter()
        .zip(slot_ranges(masters.len()))
        .map(|(&(h, addr), range)| PlannedMaster {
            addr,
            host: hosts[h].name.to_string(),
            slots: vec![range],
            replicas: Vec::new(),
        })
        .collect();
    for (&(h, m), &count) in &assignment.counts {
        for _ in 0..count {
            planned[m].replicas.push(PlannedReplica {
                addr: hosts[h].nodes[next_spare[h]],
                host: hosts[h].name.to_string(),
            });
            next_spare[h] += 1;
        }
    }
    for master in &mut planned {
        master.replicas.sort_by_key(|r| r.addr);
    }
    let compromises = compromises(&planned, hosts.len());
    Plan {
        schema: 1,
        replicas,
        masters: planned,
        compromises,
    }
}

/// The placement rules the plan could not keep, in words; the planner only breaks them when no
/// placement keeps them.
pub(crate) fn compromises(masters: &[PlannedMaster], host_count: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
    for m in masters {
        *per_host.entry(m.host.as_str()).or_default() += 1;
    }
    for (host, &count) in &per_host {
        if host_count > 1 && count * 2 >= masters.len() {
            found.push(format!(
                "host '{host}' runs {count} of {} masters: losing it leaves the cluster without a majority; more hosts avoid this",
                masters.len()
            ));
        }
    }
    for m in masters {
        for r in m.replicas.iter().filter(|r| r.host == m.host) {
            found.push(format!(
                "replica {} shares host '{}' with its master {}: the other hosts have no node to spare for it",
                r.addr, r.host, m.addr
            ));
        }
        let mut by_host: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for r in &m.replicas {
            by_host
                .entry(r.host.as_str())
                .or_default()
                .push(r.addr.to_string());
        }
        for (host, addrs) in by_host.into_iter().filter(|(_, a)| a.len() > 1) {
            found.push(format!(
                "replicas {} of master {} share host '{host}': too few hosts have a node to spare to separate them",
                addrs.join(", "),
                m.addr
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests;
