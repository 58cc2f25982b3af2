//! From a survey of the listed nodes (and every node they know) to the planner's [`Layout`],
//! and what keeps a plan from being made yet: nodes that do not answer but that no peer has
//! flagged `fail` (Redis has not decided they are dead), listed nodes that do not answer, and
//! new nodes that cannot join.

use std::collections::BTreeMap;

use redis_cluster::survey::survey;
use redis_cluster::{ConnectOptions, NodeAddr, NodeTable, Role, Survey};

use super::layout::{Layout, LayoutNode};
use crate::preflight::node_problems;

/// A layout and what stands in the way of planning on it.
#[derive(Debug)]
pub struct Observation {
    pub layout: Layout,
    /// Nodes that do not answer and that no peer flags `fail` yet: Redis decides within the
    /// node timeout whether they are dead.
    pub suspects: Vec<String>,
    /// Listed nodes that did not answer, with the reason.
    pub unreachable: Vec<(NodeAddr, String)>,
    /// Why listed new nodes cannot join (keys, no cluster support, old version).
    pub problems: Vec<String>,
}

/// Surveys `listed` and every node they know.
pub fn observe(listed: &[NodeAddr], options: &ConnectOptions) -> Observation {
    let survey = survey(listed, options, true);
    layout_of(&survey, listed)
}

/// The layout of a survey (pure).
pub fn layout_of(survey: &Survey, listed: &[NodeAddr]) -> Observation {
    let table = NodeTable::build(survey, &BTreeMap::new());
    let mut nodes = Vec::new();
    let mut suspects = Vec::new();
    let mut unreachable = Vec::new();
    let mut problems = Vec::new();
    for node in &table.nodes {
        let Some(id) = node.id else {
            if let (Some(addr), Some(error)) = (node.addr, node.error) {
                if listed.contains(&addr) {
                    unreachable.push((addr, error.to_string()));
                }
            }
            continue;
        };
        let line = node.line.expect("nodes with an id have a line");
        if line.flags.handshake {
            continue;
        }
        let answered = node.own_line;
        let joined = match node.state.and_then(|s| s.cluster.as_ref()) {
            Some(view) => view.info.known_nodes().unwrap_or(1) > 1,
            None => true,
        };
        if !answered && !node.failed() {
            suspects.push(node.label.clone());
        }
        if answered && !joined {
            if let Some(state) = node.state {
                problems.extend(node_problems(state));
            }
        }
        let open = |direction| {
            if !answered {
                return Vec::new();
            }
            line.open_slots
                .iter()
                .filter(|o| o.direction == direction)
                .map(|o| (o.slot, o.peer.clone()))
                .collect()
        };
        nodes.push(LayoutNode {
            id: id.to_string(),
            addr: node.addr,
            alive: answered,
            joined,
            master: match node.role() {
                Role::Replica => node.master_id().map(str::to_string),
                _ => None,
            },
            slots: node.slots().to_vec(),
            migrating: open(redis_cluster::nodes::Direction::Migrating),
            importing: open(redis_cluster::nodes::Direction::Importing),
        });
    }
    nodes.sort_by(|a, b| (a.addr, &a.id).cmp(&(b.addr, &b.id)));
    Observation {
        layout: Layout { nodes },
        suspects,
        unreachable,
        problems,
    }
}
