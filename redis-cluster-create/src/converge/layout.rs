//! The cluster as the converge planner sees it: every node with its role, slots, open slots and
//! whether it is alive. Plain data, serialized into a saved converge plan so `apply` can tell
//! whether the cluster has changed since the plan was made.

use serde::{Deserialize, Serialize};

use redis_cluster::slots::ranges_of;
use redis_cluster::{NodeAddr, SlotRange};

/// Every node known, live or dead, in a stable order (address, then id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub nodes: Vec<LayoutNode>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutNode {
    /// The node id Redis gave it.
    pub id: String,
    /// Client address; `None` for a dead node nobody knows an address of.
    pub addr: Option<NodeAddr>,
    /// Answers, and nobody flags it `fail`.
    pub alive: bool,
    /// Part of the cluster; false for a node that knows no other (a new one).
    pub joined: bool,
    /// For a replica, the id of its master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// Slots it serves (masters only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<SlotRange>,
    /// Slots it is moving away: `(slot, id of the receiving node)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrating: Vec<(u16, String)>,
    /// Slots it is receiving: `(slot, id of the sending node)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub importing: Vec<(u16, String)>,
    /// Slots it holds keys of where no client finds them, `(slot, keys)`: it neither serves
    /// the slot nor imports it from an owner that sends clients there (left by a failover or
    /// restart in the middle of a move). Masters only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stray: Vec<(u16, u64)>,
}

impl LayoutNode {
    pub fn is_master(&self) -> bool {
        self.master.is_none()
    }

    pub fn slot_count(&self) -> usize {
        self.slots.iter().map(SlotRange::count).sum()
    }

    /// How messages name it: the address, or the id when no address is known.
    pub fn label(&self) -> String {
        self.addr.map_or_else(|| self.id.clone(), |a| a.to_string())
    }

    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|r| r.start <= slot && slot <= r.end)
    }

    /// Adds and removes slots, keeping the ranges sorted and maximal.
    pub fn set_slots(&mut self, slots: impl IntoIterator<Item = u16>) {
        self.slots = ranges_of(slots);
    }

    pub fn slot_list(&self) -> Vec<u16> {
        self.slots.iter().flat_map(SlotRange::slots).collect()
    }
}

impl Layout {
    pub fn by_id(&self, id: &str) -> Option<&LayoutNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn by_addr(&self, addr: NodeAddr) -> Option<&LayoutNode> {
        self.nodes.iter().find(|n| n.addr == Some(addr))
    }
}

/// What differs between two layouts, node by node, in words.
pub fn differences(before: &Layout, now: &Layout) -> Vec<String> {
    let mut found = Vec::new();
    for b in &before.nodes {
        match now.by_id(&b.id) {
            None => found.push(format!("{} is gone", b.label())),
            Some(n) if n != b => found.push(format!(
                "{} changed (role, slots, open slots or health)",
                b.label()
            )),
            Some(_) => {}
        }
    }
    for n in now.nodes.iter().filter(|n| before.by_id(&n.id).is_none()) {
        found.push(format!("{} is new", n.label()));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, slots: &[(u16, u16)]) -> LayoutNode {
        LayoutNode {
            id: id.to_string(),
            addr: Some(format!("127.0.0.1:{}", 7000 + id.len()).parse().unwrap()),
            alive: true,
            joined: true,
            master: None,
            slots: slots.iter().map(|&(a, b)| SlotRange::new(a, b)).collect(),
            migrating: Vec::new(),
            importing: Vec::new(),
            stray: Vec::new(),
        }
    }

    #[test]
    fn differences_name_every_changed_gone_and_new_node() {
        let before = Layout {
            nodes: vec![node("a", &[(0, 9)]), node("bb", &[(10, 16383)])],
        };
        let mut now = before.clone();
        now.nodes[0].slots = vec![SlotRange::new(0, 8)];
        now.nodes.remove(1);
        now.nodes.push(node("ccc", &[]));
        assert_eq!(
            differences(&before, &now),
            [
                "127.0.0.1:7001 changed (role, slots, open slots or health)",
                "127.0.0.1:7002 is gone",
                "127.0.0.1:7003 is new"
            ]
        );
        assert!(differences(&before, &before).is_empty());
    }
}
