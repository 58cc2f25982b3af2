//! redis-cluster: what the Redis tools know of a cluster, in one place.
//!
//! `redis-cluster-create` produces plans and changes clusters, `redis-slotcheck` judges them;
//! both speak of the same things, defined here once: node addresses, slot ranges, the
//! `CLUSTER NODES` and `INFO` formats, the plan document, the survey that asks every node at
//! once, the node table merged from every node's view, long-lived sessions to each node, and
//! the configuration file of each instance, all on connections whose every wait is bounded by
//! one deadline per operation.
//!
//! How a tool that changes nodes uses them (as `redis-cluster-create apply` does): call
//! `toolkit::interrupt::install()` once; make one [`Deadline`] for the operation
//! (`Deadline::after(timeout)`) and open [`Sessions`] with it, so every connect, command and
//! reply gets only what is left; wait with [`Deadline::sleep_until`], never `thread::sleep`;
//! after each step call `toolkit::interrupt::check()` (a deadline also ends early on a signal:
//! a command then fails with "interrupted by SIGINT"); to undo what was lowered after a
//! failure, a timeout or a signal, give the sessions a short deadline of its own that signals do
//! not cut (`Deadline::after(bound).ignoring_signals()`), and name every node the undo missed.

pub mod addr;
pub mod admin;
pub mod args;
pub mod config;
pub mod connection;
pub mod deadline;
pub mod errors;
pub mod info;
pub mod migration;
pub mod nodes;
pub mod plan;
pub mod redact;
pub mod resp;
pub mod server;
pub mod session;
pub mod slots;
pub mod survey;
pub mod table;
pub mod tls;

pub use addr::NodeAddr;
pub use connection::{Connection, Failure, MAX_REPLY_BYTES};
pub use deadline::Deadline;
pub use errors::{ErrorKind, ServerError};
pub use info::Info;
pub use nodes::{parse_cluster_nodes, NodeLine, Role};
pub use plan::{Plan, PlannedMaster, PlannedReplica, MIN_MASTERS};
pub use server::Server;
pub use session::Sessions;
pub use slots::{SlotRange, SLOT_COUNT};
pub use survey::{survey, ConnectOptions, NodeState, ProbeError, Survey};
pub use table::{KnownNode, NodeTable};
pub use tls::{Tls, TlsError, TlsFiles};

/// The most nodes a survey follows or a CLUSTER NODES reply may list: ten times the size Redis
/// documents as the upper end of a cluster. It keeps a peer that keeps naming new nodes from
/// making a survey endless.
pub const MAX_NODES: usize = 10_000;

/// The most nodes a plan may hold: the size Redis documents as the upper end of a cluster. The
/// planner's optimal placement costs more than linear time, and a site description of 166 000
/// nodes is a mistake to refuse at once, not a plan to compute for hours.
pub const MAX_CLUSTER_NODES: usize = 1000;
