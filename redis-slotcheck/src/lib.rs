//! redis-slotcheck: the health of a running Redis Cluster.
//!
//! The library also holds the cluster model the other cluster tool builds on: node addresses,
//! slot ranges, the `CLUSTER NODES` and `INFO` formats, the plan document, and the survey that
//! queries every node in parallel.

pub mod addr;
pub mod check;
pub mod cli;
pub mod info;
pub mod model;
pub mod nodes;
pub mod output;
pub mod plan;
pub mod render;
pub mod report;
pub mod slots;
pub mod survey;

pub use addr::NodeAddr;
pub use check::{check, CheckOptions};
pub use info::Info;
pub use nodes::{parse_cluster_nodes, NodeLine};
pub use plan::{Plan, PlannedMaster, PlannedReplica};
pub use report::{Check, CheckName, Detail, NodeReport, Report, Role, Status, Totals};
pub use slots::{SlotRange, SLOT_COUNT};
pub use survey::{survey, ConnectOptions, NodeState, ProbeError, Survey};
