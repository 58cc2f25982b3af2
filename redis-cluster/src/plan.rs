//! The plan: which node becomes a master with which slots, and which nodes replicate it.
//! `redis-cluster-create plan` prints it, `redis-cluster-create apply` executes it and
//! `redis-slotcheck --expect` compares a running cluster with it, so its format lives here,
//! beside the cluster model both tools share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::slots::{SlotRange, SLOT_COUNT};
use crate::NodeAddr;

/// Redis Cluster refuses to work with fewer masters than this (a majority must survive one
/// loss); defined once, in the site crate, which checks a site's layout against it too.
pub use site::MIN_MASTERS;

/// A cluster layout, `"schema": 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Format version; only 1 exists.
    pub schema: u32,
    /// Replicas requested per master.
    pub replicas: u32,
    /// Masters in slot order, each with its replicas.
    pub masters: Vec<PlannedMaster>,
    /// Placement rules that could not be kept with the nodes given, in words.
    #[serde(default)]
    pub compromises: Vec<String>,
}

/// A master of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedMaster {
    pub addr: NodeAddr,
    /// Host the node runs on: the site host name, or the node's IP.
    pub host: String,
    /// Slot ranges it serves.
    pub slots: Vec<SlotRange>,
    pub replicas: Vec<PlannedReplica>,
}

/// A replica of the plan; its master is the entry it is listed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedReplica {
    pub addr: NodeAddr,
    pub host: String,
}

/// Why a plan document cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the plan: {0}")]
    Read(toolkit::input::InputError),
    #[error("{source_name}: invalid plan:\n{}", toolkit::words::indented(.problems))]
    Invalid {
        source_name: String,
        problems: Vec<String>,
    },
}

impl Plan {
    /// Reads and checks a plan from a file, or from stdin when `path` is `-`; at most
    /// `toolkit::input::DOCUMENT_LIMIT` bytes (`/dev/zero` is refused, not read forever).
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let text = toolkit::input::read_text(path, toolkit::input::DOCUMENT_LIMIT)
            .map_err(PlanError::Read)?;
        let source_name = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        Plan::parse(&text, &source_name)
    }

    /// Parses and checks a plan; `source_name` only labels error messages.
    pub fn parse(text: &str, source_name: &str) -> Result<Plan, PlanError> {
        let invalid = |problems| PlanError::Invalid {
            source_name: source_name.to_string(),
            problems,
        };
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let plan: Plan = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = toolkit::words::clip(&e.path().to_string(), toolkit::words::CLIP);
            let message =
                toolkit::words::clip(&e.into_inner().to_string(), 2 * toolkit::words::CLIP);
            invalid(vec![format!("{path}: {message}")])
        })?;
        let problems = plan.problems();
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(invalid(problems))
        }
    }

    /// Every node of the plan, masters first in slot order, then replicas.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeAddr, &str)> {
        let masters = self.masters.iter().map(|m| (m.addr, m.host.as_str()));
        let replicas = self
            .masters
            .iter()
            .flat_map(|m| m.replicas.iter().map(|r| (r.addr, r.host.as_str())));
        masters.chain(replicas)
    }

    /// Everything that makes the plan unusable, each prefixed by the JSON path it concerns.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.schema != 1 {
            problems.push(format!(
                "schema: unsupported schema {}; this version reads schema 1",
                self.schema
            ));
        }
        if self.masters.len() < MIN_MASTERS {
            problems.push(format!(
                "masters: {} masters; Redis Cluster needs at least {MIN_MASTERS}",
                self.masters.len()
            ));
        }
        let node_count = self.nodes().count();
        if node_count > crate::MAX_CLUSTER_NODES {
            problems.push(format!(
                "masters: {node_count} nodes; a plan holds at most {} (the largest cluster Redis documents)",
                crate::MAX_CLUSTER_NODES
            ));
            return problems;
        }
        let mut seen: BTreeMap<NodeAddr, String> = BTreeMap::new();
        // For each slot, the master and the range (by index) that gave it first.
        let mut owner: Vec<Option<(usize, usize)>> = vec![None; usize::from(SLOT_COUNT)];
        for (i, master) in self.masters.iter().enumerate() {
            let paths = std::iter::once((format!("masters[{i}].addr"), master.addr)).chain(
                master
                    .replicas
                    .iter()
                    .enumerate()
                    .map(|(j, r)| (format!("masters[{i}].replicas[{j}].addr"), r.addr)),
            );
            for (path, addr) in paths {
                if let Some(first) = seen.insert(addr, path.clone()) {
                    problems.push(format!("{path}: node {addr} is also listed at {first}"));
                }
            }
            if master.slots.is_empty() {
                problems.push(format!(
                    "masters[{i}].slots: master {} has no slots",
                    master.addr
                ));
            }
            // One message per pair of ranges that share slots, naming both; every slot still
            // counts for coverage. A range given twice to the same master counts too: Redis
            // refuses it in ADDSLOTSRANGE, after other nodes have been changed.
            let mut reported: BTreeSet<(usize, usize, usize)> = BTreeSet::new();
            for (k, range) in master.slots.iter().enumerate() {
                for slot in range.slots() {
                    match owner[usize::from(slot)] {
                        Some((other, other_k)) => {
                            if reported.insert((k, other, other_k)) {
                                let first = self.masters[other].slots[other_k];
                                let whose = if other == i {
                                    "the same master".to_string()
                                } else {
                                    format!("masters[{other}] ({})", self.masters[other].addr)
                                };
                                problems.push(format!(
                                    "masters[{i}].slots[{k}]: range {range} shares slot {slot} with range {first} (masters[{other}].slots[{other_k}]) of {whose}; give each slot once"
                                ));
                            }
                        }
                        None => owner[usize::from(slot)] = Some((i, k)),
                    }
                }
            }
        }
        let unassigned =
            crate::slots::ranges_of((0..SLOT_COUNT).filter(|&s| owner[usize::from(s)].is_none()));
        if !unassigned.is_empty() {
            problems.push(format!(
                "masters: slots {} are given to no master; all 16384 must be covered",
                crate::slots::format_ranges(&unassigned)
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_masters() -> serde_json::Value {
        serde_json::json!({
            "schema": 1,
            "replicas": 1,
            "masters": [
                {"addr": "127.0.0.1:7000", "host": "127.0.0.1", "slots": [[0, 5460]],
                 "replicas": [{"addr": "127.0.0.2:7003", "host": "127.0.0.2"}]},
                {"addr": "127.0.0.2:7001", "host": "127.0.0.2", "slots": [[5461, 10922]],
                 "replicas": [{"addr": "127.0.0.3:7004", "host": "127.0.0.3"}]},
                {"addr": "127.0.0.3:7002", "host": "127.0.0.3", "slots": [[10923, 16383]],
                 "replicas": [{"addr": "127.0.0.1:7005", "host": "127.0.0.1"}]}
            ]
        })
    }

    fn problems(v: &serde_json::Value) -> String {
        Plan::parse(&v.to_string(), "p.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_complete_plan_parses_and_lists_its_nodes() {
        let plan = Plan::parse(&three_masters().to_string(), "p.json").unwrap();
        let nodes: Vec<String> = plan.nodes().map(|(a, _)| a.to_string()).collect();
        assert_eq!(nodes[0], "127.0.0.1:7000");
        assert_eq!(nodes[3], "127.0.0.2:7003");
        assert_eq!(nodes.len(), 6);
        let round_trip = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            round_trip["masters"][1]["slots"],
            serde_json::json!([[5461, 10922]])
        );
    }

    #[test]
    fn unknown_fields_and_bad_addresses_name_their_path() {
        let mut v = three_masters();
        v["masters"][1]["replicas"][0]["adr"] = "x".into();
        assert!(
            problems(&v).contains("masters[1].replicas[0].adr: unknown field `adr`"),
            "{}",
            problems(&v)
        );
        let mut v = three_masters();
        v["masters"][2]["addr"] = "127.0.0.3".into();
        assert!(
            problems(&v).contains("masters[2].addr: invalid node '127.0.0.3'"),
            "{}",
            problems(&v)
        );
    }

    #[test]
    fn gaps_overlaps_duplicates_and_too_few_masters_are_all_reported() {
        let mut v = three_masters();
        v["masters"][0]["slots"] = serde_json::json!([[0, 100], [5000, 5461]]);
        v["masters"][2]["replicas"][0]["addr"] = "127.0.0.1:7000".into();
        let text = problems(&v);
        assert!(
            text.contains("masters: slots 101-4999 are given to no master"),
            "{text}"
        );
        assert!(
            text.contains(
                "masters[1].slots[0]: range 5461-10922 shares slot 5461 with range 5000-5461 (masters[0].slots[1]) of masters[0] (127.0.0.1:7000)"
            ),
            "{text}"
        );
        assert!(text.contains("masters[2].replicas[0].addr: node 127.0.0.1:7000 is also listed at masters[0].addr"), "{text}");
        let mut v = three_masters();
        v["masters"].as_array_mut().unwrap().pop();
        assert!(problems(&v).contains("masters: 2 masters; Redis Cluster needs at least 3"));
    }

    // Regression: a hand-edited plan with the same range twice passed validation; apply then
    // changed 5 of 6 nodes before Redis refused the ADDSLOTSRANGE.
    #[test]
    fn a_range_given_twice_to_one_master_is_refused_naming_both() {
        let mut v = three_masters();
        v["masters"][0]["slots"] = serde_json::json!([[0, 5460], [0, 5460]]);
        assert!(
            problems(&v).contains("masters[0].slots[1]: range 0-5460 shares slot 0 with range 0-5460 (masters[0].slots[0]) of the same master"),
            "{}",
            problems(&v)
        );
        let mut v = three_masters();
        v["masters"][0]["slots"] = serde_json::json!([[0, 5000], [4000, 5460]]);
        assert!(problems(&v).contains("range 4000-5460 shares slot 4000 with range 0-5000"));
    }

    // Regression: /dev/zero as a plan grew memory without bound.
    #[test]
    fn an_endless_plan_file_is_refused() {
        let error = Plan::load(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            error.contains("/dev/zero") && error.contains("larger than"),
            "{error}"
        );
    }
}
