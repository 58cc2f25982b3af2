//! redis-cluster: what the Redis tools know of a cluster, in one place.
//!
//! `redis-cluster-create` produces plans and changes clusters, `redis-slotcheck` judges them;
//! both speak of the same things, defined here once: node addresses, slot ranges, the
//! `CLUSTER NODES` and `INFO` formats, the plan document, the survey that asks every node at
//! once, the node table merged from every node's view, long-lived sessions to each node, and
//! the configuration file of each instance.

pub mod addr;
pub mod args;
pub mod config;
pub mod info;
pub mod nodes;
pub mod plan;
pub mod session;
pub mod slots;
pub mod survey;
pub mod table;

pub use addr::NodeAddr;
pub use info::Info;
pub use nodes::{parse_cluster_nodes, NodeLine, Role};
pub use plan::{Plan, PlannedMaster, PlannedReplica, MIN_MASTERS};
pub use session::Sessions;
pub use slots::{SlotRange, SLOT_COUNT};
pub use survey::{survey, ConnectOptions, NodeState, ProbeError, Survey};
pub use table::{KnownNode, NodeTable};
