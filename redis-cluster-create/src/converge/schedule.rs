//! Which steps may run together, and whether a step still fits the cluster it is about to act
//! on. Both are pure, and the one place these rules live:
//!
//! - [`batches`] cuts the ordered steps into batches that run at once: steps of one stage that
//!   do not [`conflict`]. The rule that matters most: a node that is the source or target of a
//!   move is never failed over, made a replica, reset or forgotten while the move runs, and no
//!   node gives slots away in one move while it receives slots in another (a master that gives
//!   its last slot away turns itself into a replica and drops what it was importing).
//! - [`stale`] checks, right before a batch runs, the facts each step was planned on (roles,
//!   owners, open slots, who follows whom) against a fresh observation; when one no longer
//!   holds, the executor plans again instead of acting on a cluster that has moved on.

use std::ops::Range;

use redis_cluster::NodeAddr;

use super::layout::{Layout, LayoutNode};
use super::steps::Step;

/// The kinds of steps, in the order a plan lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Forget,
    CloseSlots,
    Detach,
    Meet,
    Failover,
    Adopt,
    Replicate,
    Move,
    Remove,
    /// Not a step: the wait until the cluster is usable.
    Wait,
}

impl Stage {
    /// How progress and the report name it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Forget => "forget",
            Stage::CloseSlots => "close_slots",
            Stage::Detach => "detach",
            Stage::Meet => "meet",
            Stage::Failover => "failover",
            Stage::Adopt => "adopt",
            Stage::Replicate => "replicate",
            Stage::Move => "move",
            Stage::Remove => "remove",
            Stage::Wait => "wait",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The nodes whose role or membership a step changes (as opposed to the slots it moves).
fn reconfigured(step: &Step) -> Vec<NodeAddr> {
    match step {
        Step::Failover { node, master } | Step::Replicate { node, master } => {
            vec![*node, *master]
        }
        Step::Detach { node } | Step::Remove { node } => vec![*node],
        Step::Forget { addr, .. } => addr.iter().copied().collect(),
        _ => Vec::new(),
    }
}

/// The nodes a step moves keys between: (giving, receiving).
fn movers(step: &Step) -> Option<(Vec<NodeAddr>, NodeAddr)> {
    match step {
        Step::Move { from, to, .. } => Some((vec![*from], *to)),
        Step::CloseSlot { owner, sources, .. } => Some((sources.clone(), *owner)),
        _ => None,
    }
}

/// Whether `a` and `b` must not run at the same time.
pub fn conflict(a: &Step, b: &Step) -> bool {
    let moving = |s: &Step| {
        movers(s).map_or_else(Vec::new, |(mut giving, receiving)| {
            giving.push(receiving);
            giving
        })
    };
    // No failover, replicate, reset or forget of a node while it moves slots.
    let touches = |changes: &Step, moves: &Step| {
        reconfigured(changes)
            .iter()
            .any(|n| moving(moves).contains(n))
    };
    if touches(a, b) || touches(b, a) {
        return true;
    }
    // Two changes of one node's role.
    if reconfigured(a).iter().any(|n| reconfigured(b).contains(n)) {
        return true;
    }
    if let (Some((giving_a, to_a)), Some((giving_b, to_b))) = (movers(a), movers(b)) {
        // A chain: one gives slots to a node while that node gives slots away.
        if giving_a.contains(&to_b) || giving_b.contains(&to_a) {
            return true;
        }
        if shared_slot(a, b) {
            return true;
        }
    }
    false
}

fn slots_of(step: &Step) -> Vec<u16> {
    match step {
        Step::Move { slots, .. } | Step::Adopt { slots, .. } => {
            slots.iter().flat_map(|r| r.slots()).collect()
        }
        Step::CloseSlot { slot, .. } => vec![*slot],
        _ => Vec::new(),
    }
}

fn shared_slot(a: &Step, b: &Step) -> bool {
    let theirs = slots_of(b);
    slots_of(a).iter().any(|s| theirs.contains(s))
}

/// The steps cut into batches that run at once, in order: consecutive steps of one stage,
/// none conflicting with another of its batch.
pub fn batches(steps: &[Step]) -> Vec<Range<usize>> {
    let mut result: Vec<Range<usize>> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match result.last_mut() {
            Some(batch)
                if steps[batch.start].stage() == step.stage()
                    && steps[batch.clone()].iter().all(|s| !conflict(s, step)) =>
            {
                batch.end = i + 1;
            }
            _ => result.push(i..i + 1),
        }
    }
    result
}

/// Why `step` no longer fits `layout`, the cluster as just observed; `None` when it does.
pub fn stale(step: &Step, layout: &Layout) -> Option<String> {
    let live = |addr: &NodeAddr| layout.by_addr(*addr).filter(|n| n.alive);
    let live_master = |addr: &NodeAddr| -> Result<&LayoutNode, String> {
        match live(addr) {
            None => Err(format!("{addr} is not answering")),
            Some(n) if !n.is_master() => Err(format!("{addr} is a replica now")),
            Some(n) => Ok(n),
        }
    };
    let is_open = |n: &LayoutNode| !n.migrating.is_empty() || !n.importing.is_empty();
    let check = || -> Result<(), String> {
        match step {
            Step::Forget { id, .. } => {
                if layout.by_id(id).is_some_and(|n| n.alive) {
                    return Err(format!("node {id} answers again"));
                }
            }
            Step::CloseSlot {
                slot,
                owner,
                sources,
            } => {
                if !live_master(owner)?.owns(*slot) {
                    return Err(format!("slot {slot} is no longer served by {owner}"));
                }
                for source in sources {
                    live(source).ok_or_else(|| format!("{source} is not answering"))?;
                }
            }
            Step::Detach { node } | Step::Remove { node } => {
                let n = live(node).ok_or_else(|| format!("{node} is not answering"))?;
                if !n.slots.is_empty() {
                    return Err(format!("{node} serves slots"));
                }
                if is_open(n) {
                    return Err(format!("{node} has open slots"));
                }
                let follower = layout
                    .nodes
                    .iter()
                    .find(|r| r.alive && r.master.as_deref() == Some(n.id.as_str()));
                if let Some(r) = follower {
                    return Err(format!("{} follows {node}", r.label()));
                }
            }
            Step::Meet { node } => {
                live(node).ok_or_else(|| format!("{node} is not answering"))?;
            }
            Step::Adopt { node, slots } => {
                live_master(node)?;
                let served = layout
                    .nodes
                    .iter()
                    .filter(|n| n.alive && n.is_master())
                    .find(|n| slots.iter().flat_map(|r| r.slots()).any(|s| n.owns(s)));
                if let Some(n) = served {
                    return Err(format!("{} serves some of the lost slots now", n.label()));
                }
            }
            Step::Failover { node, master } => {
                let m = live_master(master)?;
                let n = live(node).ok_or_else(|| format!("{node} is not answering"))?;
                if n.master.as_deref() != Some(m.id.as_str()) {
                    return Err(format!("{node} no longer follows {master}"));
                }
                if is_open(m) {
                    return Err(format!("{master} is moving slots"));
                }
            }
            Step::Replicate { node, master } => {
                live_master(master)?;
                let n = live(node).ok_or_else(|| format!("{node} is not answering"))?;
                if !n.slots.is_empty() {
                    return Err(format!("{node} serves slots"));
                }
                if is_open(n) {
                    return Err(format!("{node} has open slots"));
                }
            }
            Step::Move { from, to, slots } => {
                let source = live_master(from)?;
                live_master(to)?;
                let moved = slots
                    .iter()
                    .flat_map(|r| r.slots())
                    .find(|&s| !source.owns(s));
                if let Some(slot) = moved {
                    return Err(format!("slot {slot} is no longer served by {from}"));
                }
            }
        }
        Ok(())
    };
    check().err()
}

#[cfg(test)]
mod tests {
    use redis_cluster::SlotRange;

    use super::*;

    fn addr(n: u8) -> NodeAddr {
        format!("127.0.0.{n}:7000").parse().unwrap()
    }

    fn moving(from: u8, to: u8, slots: (u16, u16)) -> Step {
        Step::Move {
            from: addr(from),
            to: addr(to),
            slots: vec![SlotRange::new(slots.0, slots.1)],
        }
    }

    #[test]
    fn moves_between_different_pairs_run_together() {
        let steps = [
            moving(1, 2, (0, 9)),
            moving(3, 4, (10, 19)),
            moving(1, 4, (20, 29)),
        ];
        assert_eq!(batches(&steps), vec![(0..3)]);
    }

    // A node that receives slots while it gives its last ones away turns replica and drops
    // what it imported: such moves run one after the other.
    #[test]
    fn a_chain_of_moves_is_cut() {
        let steps = [moving(1, 2, (5, 5)), moving(2, 3, (0, 99))];
        assert_eq!(batches(&steps), [0..1, 1..2]);
    }

    #[test]
    fn one_slot_is_never_in_two_moves_at_once() {
        let steps = [moving(1, 2, (5, 5)), moving(3, 4, (0, 9))];
        assert_eq!(batches(&steps), [0..1, 1..2]);
    }

    #[test]
    fn no_failover_replicate_reset_or_forget_of_a_moving_node() {
        let moving_step = moving(1, 2, (0, 9));
        for changes in [
            Step::Failover {
                node: addr(5),
                master: addr(1),
            },
            Step::Replicate {
                node: addr(2),
                master: addr(6),
            },
            Step::Remove { node: addr(1) },
            Step::Detach { node: addr(2) },
            Step::Forget {
                id: "x".into(),
                addr: Some(addr(2)),
            },
        ] {
            assert!(conflict(&moving_step, &changes), "{changes:?}");
            assert!(conflict(&changes, &moving_step), "{changes:?}");
        }
        let elsewhere = Step::Failover {
            node: addr(5),
            master: addr(6),
        };
        assert!(!conflict(&moving_step, &elsewhere));
    }

    #[test]
    fn two_failovers_of_one_shard_do_not_run_together() {
        let steps = [
            Step::Failover {
                node: addr(2),
                master: addr(1),
            },
            Step::Failover {
                node: addr(3),
                master: addr(1),
            },
            Step::Failover {
                node: addr(5),
                master: addr(4),
            },
        ];
        assert_eq!(batches(&steps), [0..1, 1..3]);
    }

    #[test]
    fn stages_never_share_a_batch() {
        let steps = [
            Step::Meet { node: addr(7) },
            moving(1, 2, (0, 9)),
            moving(3, 4, (10, 19)),
        ];
        assert_eq!(batches(&steps), [0..1, 1..3]);
    }

    fn node(n: u8, master: Option<&str>, slots: &[(u16, u16)]) -> LayoutNode {
        LayoutNode {
            id: format!("id{n}"),
            addr: Some(addr(n)),
            alive: true,
            joined: true,
            master: master.map(str::to_string),
            slots: slots.iter().map(|&(a, b)| SlotRange::new(a, b)).collect(),
            migrating: Vec::new(),
            importing: Vec::new(),
            stray: Vec::new(),
        }
    }

    #[test]
    fn a_step_whose_facts_changed_is_stale() {
        let mut layout = Layout {
            nodes: vec![
                node(1, None, &[(0, 99)]),
                node(2, Some("id1"), &[]),
                node(3, None, &[(100, 16383)]),
            ],
        };
        let failover = Step::Failover {
            node: addr(2),
            master: addr(1),
        };
        let step = moving(1, 3, (0, 9));
        assert_eq!(stale(&failover, &layout), None);
        assert_eq!(stale(&step, &layout), None);
        // A manual failover happened behind the plan's back.
        layout.nodes[0].master = Some("id2".into());
        layout.nodes[1].master = None;
        assert_eq!(
            stale(&step, &layout).as_deref(),
            Some("127.0.0.1:7000 is a replica now")
        );
        assert!(stale(&failover, &layout).is_some());
        // A master mid-move is not failed over.
        layout.nodes[0].master = None;
        layout.nodes[1].master = Some("id1".into());
        layout.nodes[0].migrating = vec![(5, "id3".into())];
        assert_eq!(
            stale(&failover, &layout).as_deref(),
            Some("127.0.0.1:7000 is moving slots")
        );
        // The slots went elsewhere.
        layout.nodes[0].slots = vec![SlotRange::new(50, 99)];
        assert_eq!(
            stale(&step, &layout).as_deref(),
            Some("slot 0 is no longer served by 127.0.0.1:7000")
        );
    }
}
