//! The converge planner: from the cluster as observed and the nodes it shall consist of, the
//! target layout and the ordered steps that reach it. Pure, so every rule is tested without
//! servers and a simulation can check that the steps reach the target without ever leaving a
//! slot unserved.
//!
//! The target keeps the rules of creation (the host quotas of masters and the replica
//! placement of [`crate::planner`]) and, within them, changes as little as possible: a shard
//! (a master with its slots and replicas) keeps its slots under the node that serves them, or
//! under one of its replicas by a coordinated failover when the rules want the master role on
//! another host; only shards that do not fit are drained. Slots then move only as far as every
//! master must be within 1% of an even share.
//!
//! Order of the steps, each safe given the ones before: forget dead nodes; finish open slots;
//! detach replicas that must become empty masters; meet new nodes; fail over; serve lost slots
//! (`--force` only); re-home replicas; move slots; remove replicas that are not listed; attach
//! drained masters as replicas; remove masters that are not listed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use redis_cluster::slots::{format_ranges, ranges_of};
use redis_cluster::{NodeAddr, Plan, PlannedMaster, PlannedReplica, SlotRange, SLOT_COUNT};

use super::layout::{Layout, LayoutNode};
use super::schedule::Stage;
use crate::flow::Network;
use crate::planner::{self, Candidate, Host, PlanningError};

/// One change to the cluster. Live nodes are named by address (ids change on reset), dead ones
/// by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// `CLUSTER FORGET` a dead node on every live node, all within Redis' 60 s ban window.
    Forget {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        addr: Option<NodeAddr>,
    },
    /// Finish an open slot whose owner stays: the keys `sources` hold in it move to `owner`,
    /// then the slot is closed everywhere.
    CloseSlot {
        slot: u16,
        owner: NodeAddr,
        sources: Vec<NodeAddr>,
    },
    /// Turn a replica into an empty node (forgotten by the others, then `CLUSTER RESET HARD`,
    /// which drops its copy of the data) so it can become a master.
    Detach { node: NodeAddr },
    /// Introduce a node to every node of the cluster.
    Meet { node: NodeAddr },
    /// Serve slots that no node serves any more: slots whose keys `node` holds, slots no
    /// node holds keys of while every node answers, or (only with `--force`) slots whose keys
    /// were on a dead node and are lost.
    Adopt {
        node: NodeAddr,
        slots: Vec<SlotRange>,
    },
    /// Coordinated `CLUSTER FAILOVER` on `node`, which takes over from its master.
    Failover { node: NodeAddr, master: NodeAddr },
    /// `CLUSTER REPLICATE`: `node` follows `master`.
    Replicate { node: NodeAddr, master: NodeAddr },
    /// Slots moved online with their keys.
    Move {
        from: NodeAddr,
        to: NodeAddr,
        slots: Vec<SlotRange>,
    },
    /// Forgotten by every other node, then `CLUSTER RESET HARD` (it holds no slot by then).
    Remove { node: NodeAddr },
}

impl Step {
    /// The stage the step belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            Step::Forget { .. } => Stage::Forget,
            Step::CloseSlot { .. } => Stage::CloseSlots,
            Step::Detach { .. } => Stage::Detach,
            Step::Meet { .. } => Stage::Meet,
            Step::Adopt { .. } => Stage::Adopt,
            Step::Failover { .. } => Stage::Failover,
            Step::Replicate { .. } => Stage::Replicate,
            Step::Move { .. } => Stage::Move,
            Step::Remove { .. } => Stage::Remove,
        }
    }

    /// The step in words, for the confirmation.
    pub fn describe(&self) -> String {
        match self {
            Step::Forget { id, addr } => match addr {
                Some(a) => format!("forget dead node {a} ({id}) everywhere"),
                None => format!("forget dead node {id} everywhere"),
            },
            Step::CloseSlot {
                slot,
                owner,
                sources,
            } if sources.is_empty() => format!("close open slot {slot} on {owner}"),
            Step::CloseSlot {
                slot,
                owner,
                sources,
            } => format!(
                "close open slot {slot}: keys from {} back to its owner {owner}",
                join(sources)
            ),
            Step::Detach { node } => format!("detach replica {node} (reset, to become a master)"),
            Step::Meet { node } => format!("introduce {node} to the cluster"),
            Step::Adopt { node, slots } => format!(
                "serve slots {} (served by no node) from {node}",
                format_ranges(slots)
            ),
            Step::Failover { node, master } => {
                format!("fail over {master} to its replica {node}")
            }
            Step::Replicate { node, master } => format!("make {node} a replica of {master}"),
            Step::Move { from, to, slots } => format!(
                "move {} slots ({}) from {from} to {to}",
                slots.iter().map(SlotRange::count).sum::<usize>(),
                format_ranges(slots)
            ),
            Step::Remove { node } => format!("remove {node} from the cluster and reset it"),
        }
    }
}

fn join(addrs: &[NodeAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Slots that only a dead node served, by that node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LostSlots {
    /// The dead node's address, or its id; `none` for slots nobody ever served.
    pub node: String,
    pub slots: Vec<SlotRange>,
}

impl std::fmt::Display for LostSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.node == "none" {
            write!(
                f,
                "slots {} are served by no node",
                format_ranges(&self.slots)
            )
        } else {
            write!(
                f,
                "slots {} were served by {}, which is down and has no replica to take over",
                format_ranges(&self.slots),
                self.node
            )
        }
    }
}

/// What converge will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Converge {
    /// The layout the steps lead to, in the plan format of creation.
    pub target: Plan,
    pub steps: Vec<Step>,
    /// Slots served again empty (only with `--force`).
    pub lost: Vec<LostSlots>,
}

/// Why the cluster cannot be converged (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvergeError {
    #[error(transparent)]
    Planning(#[from] PlanningError),
    #[error("{} not part of the cluster as observed; check that {} and reachable", join(.0), if .0.len() == 1 { "it runs" } else { "they run" })]
    Missing(Vec<NodeAddr>),
    #[error("listed {} down: bring {} back or leave {} out of the list", .0.join(", "), if .0.len() == 1 { "it" } else { "them" }, if .0.len() == 1 { "it" } else { "them" })]
    ListedDown(Vec<String>),
    #[error("{}: not served yet; waiting for Redis to promote a replica", .0.iter().map(|l| format!("slots {} of dead master {}", format_ranges(&l.slots), l.node)).collect::<Vec<_>>().join("; "))]
    AwaitingFailover(Vec<LostSlots>),
    #[error("refusing a plan that loses data: {}; bring the node back, or pass --force to serve these slots again, empty (their keys are lost)", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Lost(Vec<LostSlots>),
    #[error("slot {slot} is claimed by {}; waiting for Redis to settle the conflict", .owners.join(" and "))]
    Disputed { slot: u16, owners: Vec<String> },
    #[error("{} serve slots but are not part of this cluster: leave them out, or empty them with 'redis-cluster-create reset'", .0.join(", "))]
    Foreign(Vec<String>),
    #[error("slot {slot} is open on {node} but no live node serves it; serve it first (--force)")]
    OpenUnserved { slot: u16, node: String },
}

/// Cost of draining a shard, above any sum of the other costs: shards are kept whenever the
/// host quotas allow. Shards with more slots are kept first.
const KEEP: i64 = 1 << 40;
/// A failover moves no data but briefly pauses writes to one shard.
const FAILOVER: i64 = 1;
/// A replica reset to become an empty master: its copy of the data is dropped and it syncs
/// nothing it had.
const DETACH: i64 = 1000;

/// A shard of the observed cluster: a live master serving slots, and its live replicas.
#[derive(Debug)]
struct Shard {
    master: NodeAddr,
    id: String,
    slots: usize,
    replicas: Vec<NodeAddr>,
}

/// Which nodes become masters, for one choice of host quotas.
struct Masters {
    /// Nodes chosen as masters.
    nodes: BTreeSet<NodeAddr>,
    /// Shard index → the node that serves it in the target.
    kept: BTreeMap<usize, NodeAddr>,
    cost: i64,
}

/// Plans the steps from `observed` to a cluster of exactly `listed` with `replicas` replicas per
/// master. `force` allows serving lost slots again, empty.
pub fn plan(
    observed: &Layout,
    listed: &[Candidate],
    replicas: u32,
    force: bool,
) -> Result<Converge, ConvergeError> {
    let master_count = planner::master_count(listed, replicas)?;
    let listed_addrs: BTreeSet<NodeAddr> = listed.iter().map(|c| c.addr).collect();
    let missing: Vec<NodeAddr> = listed
        .iter()
        .map(|c| c.addr)
        .filter(|&a| observed.by_addr(a).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ConvergeError::Missing(missing));
    }
    let down: Vec<String> = observed
        .nodes
        .iter()
        .filter(|n| !n.alive && n.addr.is_some_and(|a| listed_addrs.contains(&a)))
        .map(LayoutNode::label)
        .collect();
    if !down.is_empty() {
        return Err(ConvergeError::ListedDown(down));
    }
    let foreign: Vec<String> = observed
        .nodes
        .iter()
        .filter(|n| !n.joined && !n.slots.is_empty())
        .map(LayoutNode::label)
        .collect();
    if !foreign.is_empty() {
        return Err(ConvergeError::Foreign(foreign));
    }
    check_disputes(observed)?;
    let lost = lost_slots(observed)?;
    if !lost.is_empty() && !force {
        return Err(ConvergeError::Lost(lost));
    }

    let mut work = observed.clone();
    let mut steps = Vec::new();
    for dead in observed.nodes.iter().filter(|n| !n.alive) {
        steps.push(Step::Forget {
            id: dead.id.clone(),
            addr: dead.addr,
        });
        forget(&mut work, &dead.id);
    }
    adopt_unserved_slots(&mut work, &mut steps);
    close_open_slots(&mut work, &mut steps)?;

    let shards = shards(&work, &listed_addrs);
    let hosts = planner::hosts_of(listed);
    let replica_nodes = listed.len() - master_count;
    let (quotas, masters) = planner::master_layouts(&hosts, master_count)
        .into_iter()
        .map(|q| {
            let placement =
                planner::assign_replicas(&hosts, &q, replica_nodes, &BTreeMap::new()).cost;
            let masters = choose_masters(&work, &hosts, &q, &shards);
            (placement, q, masters)
        })
        .min_by_key(|(placement, _, masters)| (*placement, masters.cost))
        .map(|(_, q, masters)| (q, masters))
        .expect("at least one master layout exists");

    // Hosts with their chosen masters first: the replica assignment takes a host's first
    // `quota` nodes as its masters.
    let ordered: Vec<Host> = hosts
        .iter()
        .map(|h| {
            let (mut first, rest): (Vec<NodeAddr>, Vec<NodeAddr>) =
                h.nodes.iter().partition(|a| masters.nodes.contains(a));
            first.extend(rest);
            Host {
                name: h.name,
                nodes: first,
            }
        })
        .collect();
    let target_masters: Vec<(usize, NodeAddr)> = planner::masters_in_order(&ordered, &quotas);

    // Whom each node follows once the failovers are done: a promoted replica's siblings and
    // its old master follow it. `None` for masters.
    let after_failover = |node: NodeAddr| -> Option<NodeAddr> {
        let n = work.by_addr(node)?;
        let shard_of = |id: &str| shards.iter().position(|s| s.id == id);
        match &n.master {
            Some(master_id) => match shard_of(master_id).map(|s| masters.kept.get(&s)) {
                Some(Some(&serving)) => Some(serving).filter(|&s| s != node),
                _ => work.by_id(master_id)?.addr,
            },
            None => shard_of(&n.id)
                .and_then(|s| masters.kept.get(&s))
                .copied()
                .filter(|&s| s != node),
        }
    };
    let mut keep: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (h, host) in ordered.iter().enumerate() {
        for &node in &host.nodes[quotas[h]..] {
            if let Some(m) = target_masters
                .iter()
                .position(|&(_, m)| after_failover(node) == Some(m))
            {
                *keep.entry((h, m)).or_default() += 1;
            }
        }
    }
    let assignment = planner::assign_replicas(&ordered, &quotas, replica_nodes, &keep);
    let replica_of = choose_replicas(
        &ordered,
        &quotas,
        &assignment,
        &target_masters,
        |node, m| after_failover(node) == Some(target_masters[m].1),
    );

    let slots = assign_slots(&work, &shards, &masters, &target_masters);

    // Detach and meet.
    for (_, node) in &target_masters {
        let n = work.by_addr(*node).expect("listed nodes are observed");
        if !n.is_master() && !masters.kept.values().any(|m| m == node) {
            steps.push(Step::Detach { node: *node });
        }
    }
    let detached: BTreeSet<NodeAddr> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Detach { node } => Some(*node),
            _ => None,
        })
        .collect();
    for c in listed {
        let n = work.by_addr(c.addr).expect("listed nodes are observed");
        if !n.joined || detached.contains(&c.addr) {
            steps.push(Step::Meet { node: c.addr });
        }
    }
    let mut adopt: BTreeMap<NodeAddr, Vec<u16>> = BTreeMap::new();
    let mut moves: BTreeMap<(NodeAddr, NodeAddr), Vec<u16>> = BTreeMap::new();
    for (slot, (from, to)) in &slots {
        match from {
            None => adopt.entry(*to).or_default().push(*slot),
            Some(from) if from != to => moves.entry((*from, *to)).or_default().push(*slot),
            Some(_) => {}
        }
    }
    for (&s, &node) in &masters.kept {
        if node != shards[s].master {
            steps.push(Step::Failover {
                node,
                master: shards[s].master,
            });
        }
    }
    for (node, slots) in adopt {
        steps.push(Step::Adopt {
            node,
            slots: ranges_of(slots),
        });
    }
    let drained: BTreeSet<NodeAddr> = shards
        .iter()
        .enumerate()
        .filter(|(s, _)| !masters.kept.contains_key(s))
        .map(|(_, s)| s.master)
        .collect();
    let mut late = Vec::new();
    for (&node, &m) in &replica_of {
        let master = target_masters[m].1;
        if after_failover(node) == Some(master) {
            continue;
        }
        let step = Step::Replicate { node, master };
        // A master followed by replicas turns replica only once they are re-homed or removed.
        let followed = work.by_addr(node).is_some_and(|n| {
            work.nodes
                .iter()
                .any(|r| r.master.as_deref() == Some(n.id.as_str()))
        });
        if drained.contains(&node) || followed {
            late.push(step);
        } else {
            steps.push(step);
        }
    }
    for ((from, to), slots) in moves {
        steps.push(Step::Move {
            from,
            to,
            slots: ranges_of(slots),
        });
    }
    let failed_over: BTreeSet<NodeAddr> = masters
        .kept
        .iter()
        .filter(|(&sh, &node)| shards[sh].master != node)
        .map(|(&sh, _)| shards[sh].master)
        .collect();
    let (unlisted_masters, unlisted_replicas): (Vec<&LayoutNode>, Vec<&LayoutNode>) = work
        .nodes
        .iter()
        .filter(|n| n.joined && n.addr.is_some_and(|a| !listed_addrs.contains(&a)))
        .partition(|n| n.is_master() && !n.addr.is_some_and(|a| failed_over.contains(&a)));
    // Replicas that are not listed go before the drained masters turn into replicas, so no
    // replica is left following a replica.
    let remove = |n: &LayoutNode| Step::Remove {
        node: n.addr.expect("filtered on the address"),
    };
    steps.extend(unlisted_replicas.into_iter().map(remove));
    steps.extend(late);
    steps.extend(unlisted_masters.into_iter().map(remove));

    let steps = coalesce(steps);
    let target = target_plan(
        listed,
        &ordered,
        &target_masters,
        &replica_of,
        &slots,
        replicas,
    );
    Ok(Converge {
        target,
        steps,
        lost,
    })
}

/// Adjacent moves between the same two nodes as one (open slots are planned one by one).
fn coalesce(steps: Vec<Step>) -> Vec<Step> {
    let mut result: Vec<Step> = Vec::new();
    for step in steps {
        if let (
            Some(Step::Move { from, to, slots }),
            Step::Move {
                from: f,
                to: t,
                slots: more,
            },
        ) = (result.last_mut(), &step)
        {
            if from == f && to == t {
                let all: Vec<u16> = slots
                    .iter()
                    .chain(more)
                    .flat_map(SlotRange::slots)
                    .collect();
                *slots = ranges_of(all);
                continue;
            }
        }
        result.push(step);
    }
    result
}

/// Two live masters claiming one slot: Redis settles it by config epoch within moments.
fn check_disputes(layout: &Layout) -> Result<(), ConvergeError> {
    let mut owner: Vec<Option<&LayoutNode>> = vec![None; usize::from(SLOT_COUNT)];
    for n in layout.nodes.iter().filter(|n| n.alive && n.is_master()) {
        for slot in n.slot_list() {
            if let Some(other) = owner[usize::from(slot)] {
                return Err(ConvergeError::Disputed {
                    slot,
                    owners: vec![other.label(), n.label()],
                });
            }
            owner[usize::from(slot)] = Some(n);
        }
    }
    Ok(())
}

/// Slots served by dead masters with no live replica, and slots served by nobody. A dead master
/// with a live replica is Redis' to fail over, so it is waited for.
fn lost_slots(layout: &Layout) -> Result<Vec<LostSlots>, ConvergeError> {
    let mut awaiting = Vec::new();
    let mut lost = Vec::new();
    // What live masters serve; a dead master's claim on these is a stale view of a failover
    // that has happened.
    let mut served = vec![false; usize::from(SLOT_COUNT)];
    for n in layout.nodes.iter().filter(|n| n.alive && n.is_master()) {
        for slot in n.slot_list() {
            served[usize::from(slot)] = true;
        }
    }
    let mut claimed = served.clone();
    for n in layout.nodes.iter().filter(|n| !n.alive && n.is_master()) {
        let slots = ranges_of(
            n.slot_list()
                .into_iter()
                .filter(|&s| !served[usize::from(s)]),
        );
        for slot in slots.iter().flat_map(SlotRange::slots) {
            claimed[usize::from(slot)] = true;
        }
        if slots.is_empty() {
            continue;
        }
        let entry = LostSlots {
            node: n.label(),
            slots,
        };
        let has_live_replica = layout
            .nodes
            .iter()
            .any(|r| r.alive && r.master.as_deref() == Some(&n.id));
        if has_live_replica {
            awaiting.push(entry);
        } else {
            lost.push(entry);
        }
    }
    if !awaiting.is_empty() {
        return Err(ConvergeError::AwaitingFailover(awaiting));
    }
    // A slot no node serves but whose keys a live master holds is served by that master
    // again, and one whose keys no node holds while every node answers is served empty
    // (`adopt_unserved_slots`): nothing is lost either way.
    for n in layout.nodes.iter().filter(|n| n.alive) {
        for (slot, _) in &n.stray {
            claimed[usize::from(*slot)] = true;
        }
    }
    let unserved = ranges_of((0..SLOT_COUNT).filter(|&s| !claimed[usize::from(s)]));
    if !unserved.is_empty() && !every_key_counted(layout) {
        lost.push(LostSlots {
            node: "none".to_string(),
            slots: unserved,
        });
    }
    Ok(lost)
}

/// Every node answers, so every master's keys were counted (see [`LayoutNode::stray`]): a slot
/// no master serves and none holds keys of is empty everywhere.
fn every_key_counted(layout: &Layout) -> bool {
    layout.nodes.iter().all(|n| n.alive)
}

/// Slots no live master serves (a promoted replica that never learned one slot of its old
/// master's, seen after a restart). One whose keys a live master holds is served again by the
/// master that holds the most of them, so the keys are in clients' sight again; other holders'
/// keys go back to it as for any stray key (`close_open_slots`). One whose keys no node holds,
/// when every node answers, is served by the master of the slot before it (the ranges stay
/// whole; the layout's moves place it like any other slot).
fn adopt_unserved_slots(work: &mut Layout, steps: &mut Vec<Step>) {
    let served: BTreeSet<u16> = work
        .nodes
        .iter()
        .filter(|n| n.alive && n.is_master())
        .flat_map(LayoutNode::slot_list)
        .collect();
    let mut adopted: BTreeMap<NodeAddr, Vec<u16>> = BTreeMap::new();
    let held: BTreeSet<u16> = work
        .nodes
        .iter()
        .filter(|n| n.alive)
        .flat_map(|n| n.stray.iter().map(|(s, _)| *s))
        .filter(|s| !served.contains(s))
        .collect();
    for slot in held {
        let holder = work
            .nodes
            .iter()
            .filter(|n| n.alive && n.is_master() && n.addr.is_some())
            .filter_map(|n| {
                let keys = n.stray.iter().find(|(s, _)| *s == slot)?.1;
                Some((keys, n.addr?))
            })
            .max_by_key(|&(keys, addr)| (keys, std::cmp::Reverse(addr)))
            .map(|(_, addr)| addr);
        let Some(holder) = holder else { continue };
        adopted.entry(holder).or_default().push(slot);
        for n in work.nodes.iter_mut().filter(|n| n.addr == Some(holder)) {
            n.stray.retain(|(s, _)| *s != slot);
            let mut slots = n.slot_list();
            slots.push(slot);
            n.set_slots(slots);
        }
    }
    if every_key_counted(work) {
        adopt_empty_slots(work, &mut adopted);
    }
    for (node, mut slots) in adopted {
        slots.sort_unstable();
        steps.push(Step::Adopt {
            node,
            slots: ranges_of(slots),
        });
    }
}

/// Gives each slot no live master serves to the master serving the nearest slot below it
/// (wrapping round); nothing when no master serves any slot.
fn adopt_empty_slots(work: &mut Layout, adopted: &mut BTreeMap<NodeAddr, Vec<u16>>) {
    let mut owner: Vec<Option<NodeAddr>> = vec![None; usize::from(SLOT_COUNT)];
    for n in work.nodes.iter().filter(|n| n.alive && n.is_master()) {
        for slot in n.slot_list() {
            owner[usize::from(slot)] = n.addr;
        }
    }
    if owner.iter().all(Option::is_none) {
        return;
    }
    let mut given: BTreeMap<NodeAddr, Vec<u16>> = BTreeMap::new();
    for slot in 0..SLOT_COUNT {
        if owner[usize::from(slot)].is_some() {
            continue;
        }
        let before = (1..SLOT_COUNT)
            .map(|back| (slot + SLOT_COUNT - back) % SLOT_COUNT)
            .find_map(|s| owner[usize::from(s)])
            .expect("some slot is served");
        given.entry(before).or_default().push(slot);
    }
    for (holder, slots) in given {
        for n in work.nodes.iter_mut().filter(|n| n.addr == Some(holder)) {
            let mut all = n.slot_list();
            all.extend(&slots);
            n.set_slots(all);
        }
        adopted.entry(holder).or_default().extend(slots);
    }
}

/// What forgetting a node does on every node: it is gone, its slots are unassigned and slots
/// open towards it are closed.
fn forget(layout: &mut Layout, id: &str) {
    layout.nodes.retain(|n| n.id != id);
    for n in &mut layout.nodes {
        n.migrating.retain(|(_, peer)| peer != id);
        n.importing.retain(|(_, peer)| peer != id);
    }
}

/// Open slots are finished in the direction that keeps every key: a move towards a live master
/// goes on; keys a node imported without the owner migrating, and keys a master holds of a slot
/// it neither serves nor imports (see [`LayoutNode::stray`]), go back to the owner. The moves
/// come first, all of them, then the slots are closed.
fn close_open_slots(work: &mut Layout, steps: &mut Vec<Step>) -> Result<(), ConvergeError> {
    let open: BTreeSet<u16> = work
        .nodes
        .iter()
        .filter(|n| n.alive)
        .flat_map(|n| {
            n.migrating
                .iter()
                .chain(&n.importing)
                .map(|(s, _)| *s)
                .chain(n.stray.iter().map(|(s, _)| *s))
        })
        .collect();
    let mut closes = Vec::new();
    for slot in open {
        let Some(owner) = work.nodes.iter().find(|n| n.alive && n.owns(slot)) else {
            let node = work
                .nodes
                .iter()
                .find(|n| {
                    n.migrating
                        .iter()
                        .chain(&n.importing)
                        .any(|(s, _)| *s == slot)
                        || n.stray.iter().any(|(s, _)| *s == slot)
                })
                .map_or_else(String::new, LayoutNode::label);
            return Err(ConvergeError::OpenUnserved { slot, node });
        };
        let owner_addr = owner.addr.expect("live nodes have an address");
        let onward = owner
            .migrating
            .iter()
            .find(|(s, _)| *s == slot)
            .and_then(|(_, peer)| work.by_id(peer))
            // Onwards to any live master: away from the serving node is always safe, and a
            // target that is not listed is drained afterwards like any other.
            .filter(|t| t.alive && t.joined && t.is_master())
            .and_then(|t| t.addr);
        let final_owner = onward.unwrap_or(owner_addr);
        if let Some(to) = onward {
            steps.push(Step::Move {
                from: owner_addr,
                to,
                slots: vec![SlotRange::new(slot, slot)],
            });
        }
        let sources: Vec<NodeAddr> = work
            .nodes
            .iter()
            .filter(|n| {
                // A node still marked migrating a slot it no longer serves (a run stopped
                // between the target's SETSLOT NODE and the source's) keeps the marker until
                // told: Redis clears it only on SETSLOT, not when gossip hands the slot over.
                let stale_migrating = !n.owns(slot) && n.migrating.iter().any(|(s, _)| *s == slot);
                n.alive
                    && (n.importing.iter().any(|(s, _)| *s == slot)
                        || n.stray.iter().any(|(s, _)| *s == slot)
                        || stale_migrating)
            })
            .filter_map(|n| n.addr)
            .filter(|&a| a != final_owner)
            .collect();
        let owner_still_open = onward.is_none() && owner.migrating.iter().any(|(s, _)| *s == slot);
        if !sources.is_empty() || owner_still_open {
            closes.push(Step::CloseSlot {
                slot,
                owner: final_owner,
                sources,
            });
        }
        for n in &mut work.nodes {
            n.migrating.retain(|(s, _)| *s != slot);
            n.importing.retain(|(s, _)| *s != slot);
            n.stray.retain(|(s, _)| *s != slot);
            if n.addr == Some(final_owner) {
                let mut slots = n.slot_list();
                slots.push(slot);
                n.set_slots(slots);
            } else if n.owns(slot) {
                n.set_slots(n.slot_list().into_iter().filter(|&s| s != slot));
            }
        }
    }
    steps.extend(closes);
    Ok(())
}

/// The live masters that serve slots, with their listed live replicas.
fn shards(work: &Layout, listed: &BTreeSet<NodeAddr>) -> Vec<Shard> {
    work.nodes
        .iter()
        .filter(|n| n.alive && n.joined && n.is_master() && !n.slots.is_empty())
        .map(|n| Shard {
            master: n.addr.expect("live nodes have an address"),
            id: n.id.clone(),
            slots: n.slot_count(),
            replicas: work
                .nodes
                .iter()
                .filter(|r| r.alive && r.master.as_deref() == Some(&n.id))
                .filter_map(|r| r.addr)
                .filter(|a| listed.contains(a))
                .collect(),
        })
        .collect()
}

/// Chooses the masters for host quotas `quotas` by a minimum-cost flow: each shard keeps a
/// master (its own, or a replica by failover) where the quotas allow, the rest of the quotas is
/// filled with empty nodes, then with detached replicas.
fn choose_masters(work: &Layout, hosts: &[Host], quotas: &[usize], shards: &[Shard]) -> Masters {
    let nodes: Vec<(usize, NodeAddr)> = hosts
        .iter()
        .enumerate()
        .flat_map(|(h, host)| host.nodes.iter().map(move |&a| (h, a)))
        .collect();
    let (source, sink) = (0, 1);
    let shard_vertex = |s: usize| 2 + s;
    let node_vertex = |i: usize| 2 + shards.len() + i;
    let host_vertex = |h: usize| 2 + shards.len() + nodes.len() + h;
    let mut net = Network::new(2 + shards.len() + nodes.len() + hosts.len());
    let index_of = |addr: NodeAddr| nodes.iter().position(|&(_, a)| a == addr);
    let mut keep_arcs = Vec::new();
    let mut costs = Vec::new();
    for (s, shard) in shards.iter().enumerate() {
        let keep = -(KEEP + i64::try_from(shard.slots).expect("slot counts fit"));
        costs.push((net.add_arc(source, shard_vertex(s), 1, keep), keep));
        let candidates =
            std::iter::once((shard.master, 0)).chain(shard.replicas.iter().map(|&r| (r, FAILOVER)));
        for (addr, cost) in candidates {
            if let Some(i) = index_of(addr) {
                let arc = net.add_arc(shard_vertex(s), node_vertex(i), 1, cost);
                keep_arcs.push((s, addr, arc));
                costs.push((arc, cost));
            }
        }
    }
    let mut direct = Vec::new();
    for (i, &(h, addr)) in nodes.iter().enumerate() {
        let n = work.by_addr(addr).expect("listed nodes are observed");
        // A shard's master is a master through its shard or not at all: were it an empty
        // master beside its shard failing over elsewhere, it would be a replica and a master.
        if n.is_master() && !n.slots.is_empty() {
            net.add_arc(node_vertex(i), host_vertex(h), 1, 0);
            continue;
        }
        let cost = if n.is_master() { 0 } else { DETACH };
        let arc = net.add_arc(source, node_vertex(i), 1, cost);
        costs.push((arc, cost));
        direct.push((addr, arc));
        net.add_arc(node_vertex(i), host_vertex(h), 1, 0);
    }
    for (h, &quota) in quotas.iter().enumerate() {
        net.add_arc(
            host_vertex(h),
            sink,
            i64::try_from(quota).expect("quota fits"),
            0,
        );
    }
    net.min_cost_max_flow(source, sink);
    let kept: BTreeMap<usize, NodeAddr> = keep_arcs
        .iter()
        .filter(|(_, _, arc)| net.flow(*arc) > 0)
        .map(|&(s, addr, _)| (s, addr))
        .collect();
    let chosen = direct
        .iter()
        .filter(|(_, arc)| net.flow(*arc) > 0)
        .map(|&(addr, _)| addr)
        .chain(kept.values().copied())
        .collect();
    let cost = costs
        .iter()
        .filter(|(arc, _)| net.flow(*arc) > 0)
        .map(|(_, c)| c)
        .sum();
    Masters {
        nodes: chosen,
        kept,
        cost,
    }
}

/// Which replica node follows which target master (index into `target_masters`): the counts of
/// the replica assignment, filled first with nodes that already follow that master's shard.
fn choose_replicas(
    hosts: &[Host],
    quotas: &[usize],
    assignment: &planner::Assignment,
    target_masters: &[(usize, NodeAddr)],
    already: impl Fn(NodeAddr, usize) -> bool,
) -> BTreeMap<NodeAddr, usize> {
    let mut result = BTreeMap::new();
    let mut left = assignment.counts.clone();
    for (h, host) in hosts.iter().enumerate() {
        let spare = &host.nodes[quotas[h]..];
        for &node in spare {
            let m = (0..target_masters.len())
                .find(|&m| left.get(&(h, m)).is_some_and(|&c| c > 0) && already(node, m));
            if let Some(m) = m {
                *left.get_mut(&(h, m)).expect("found above") -= 1;
                result.insert(node, m);
            }
        }
        let rest: Vec<NodeAddr> = spare
            .iter()
            .copied()
            .filter(|n| !result.contains_key(n))
            .collect();
        for node in rest {
            let m = (0..target_masters.len())
                .find(|&m| left.get(&(h, m)).is_some_and(|&c| c > 0))
                .expect("the assignment covers every spare node");
            *left.get_mut(&(h, m)).expect("found above") -= 1;
            result.insert(node, m);
        }
    }
    result
}

/// Slot → (node serving it at move time, target master). Every target master gets an even
/// share within 1%; kept shards give away only what is above their share.
fn assign_slots(
    work: &Layout,
    shards: &[Shard],
    masters: &Masters,
    target_masters: &[(usize, NodeAddr)],
) -> BTreeMap<u16, (Option<NodeAddr>, NodeAddr)> {
    let count = target_masters.len();
    let total = usize::from(SLOT_COUNT);
    let base = total / count;
    let tolerance = base / 100;
    let shard_at: BTreeMap<NodeAddr, usize> = masters.kept.iter().map(|(&s, &m)| (m, s)).collect();
    let current: Vec<Vec<u16>> = target_masters
        .iter()
        .map(|(_, m)| {
            shard_at.get(m).map_or_else(Vec::new, |&s| {
                work.by_addr(shards[s].master)
                    .expect("shard masters are observed")
                    .slot_list()
            })
        })
        .collect();
    // The larger shares go to the masters that hold the most already.
    let mut by_size: Vec<usize> = (0..count).collect();
    by_size.sort_by_key(|&m| std::cmp::Reverse(current[m].len()));
    let mut even = vec![base; count];
    for &m in by_size.iter().take(total % count) {
        even[m] += 1;
    }
    let mut quota: Vec<usize> = (0..count)
        .map(|m| {
            current[m]
                .len()
                .clamp(even[m] - tolerance, even[m] + tolerance)
        })
        .collect();
    loop {
        let sum: usize = quota.iter().sum();
        if sum == total {
            break;
        }
        if sum < total {
            let m = (0..count)
                .max_by_key(|&m| (even[m] as i64 - quota[m] as i64, std::cmp::Reverse(m)))
                .expect("masters exist");
            quota[m] += 1;
        } else {
            let m = (0..count)
                .max_by_key(|&m| (quota[m] as i64 - even[m] as i64, std::cmp::Reverse(m)))
                .expect("masters exist");
            quota[m] -= 1;
        }
    }
    let mut result = BTreeMap::new();
    let mut pool: Vec<(u16, Option<NodeAddr>)> = Vec::new();
    for (m, slots) in current.iter().enumerate() {
        let node = target_masters[m].1;
        for (k, &slot) in slots.iter().enumerate() {
            if k < quota[m] {
                result.insert(slot, (Some(node), node));
            } else {
                pool.push((slot, Some(node)));
            }
        }
    }
    let mut owned = vec![false; total];
    for n in work.nodes.iter().filter(|n| n.alive && n.is_master()) {
        for slot in n.slot_list() {
            owned[usize::from(slot)] = true;
        }
    }
    for (s, shard) in shards.iter().enumerate() {
        if !masters.kept.contains_key(&s) {
            let slots = work.by_addr(shard.master).expect("observed").slot_list();
            pool.extend(slots.into_iter().map(|slot| (slot, Some(shard.master))));
        }
    }
    pool.extend(
        (0..SLOT_COUNT)
            .filter(|&s| !owned[usize::from(s)])
            .map(|s| (s, None)),
    );
    pool.sort_unstable();
    let mut pool = pool.into_iter();
    for (m, slots) in current.iter().enumerate() {
        let node = target_masters[m].1;
        for _ in slots.len().min(quota[m])..quota[m] {
            let (slot, from) = pool.next().expect("quotas add up to every slot");
            result.insert(slot, (from, node));
        }
    }
    result
}

fn target_plan(
    listed: &[Candidate],
    hosts: &[Host],
    target_masters: &[(usize, NodeAddr)],
    replica_of: &BTreeMap<NodeAddr, usize>,
    slots: &BTreeMap<u16, (Option<NodeAddr>, NodeAddr)>,
    replicas: u32,
) -> Plan {
    let host_of = |addr: NodeAddr| {
        listed
            .iter()
            .find(|c| c.addr == addr)
            .map(|c| c.host.clone())
            .expect("listed")
    };
    let mut masters: Vec<PlannedMaster> = target_masters
        .iter()
        .enumerate()
        .map(|(m, &(_, addr))| PlannedMaster {
            addr,
            host: host_of(addr),
            slots: ranges_of(
                slots
                    .iter()
                    .filter(|(_, (_, to))| *to == addr)
                    .map(|(&s, _)| s),
            ),
            replicas: replica_of
                .iter()
                .filter(|(_, &r)| r == m)
                .map(|(&a, _)| PlannedReplica {
                    addr: a,
                    host: host_of(a),
                })
                .collect(),
        })
        .collect();
    masters.sort_by_key(|m| m.slots.first().map(|r| r.start));
    let compromises = planner::compromises(&masters, hosts.len());
    Plan {
        schema: 1,
        replicas,
        masters,
        compromises,
    }
}

#[cfg(test)]
mod tests;
