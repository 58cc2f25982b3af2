//! The report: what `redis-slotcheck` prints. Its JSON is the tool's interface to scripts and
//! monitoring, so its types are documented field by field and read back in the tests.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use redis_cluster::Role;
use redis_cluster::SlotRange;

/// Health of one check, one node or the whole cluster, ordered from good to bad; the values
/// are the monitoring-plugin exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    /// Nothing could be judged: no node answered.
    Unknown,
}

impl Status {
    /// The exit code monitoring systems expect: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The checks, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// Every known node answers (WARNING; UNKNOWN when none does).
    Reachable,
    /// No two addresses answer as one node id with different views: one of them lies about
    /// who it is (CRITICAL).
    IdConflicts,
    /// Every reachable node runs with `cluster-enabled yes` (CRITICAL).
    ClusterEnabled,
    /// Every reachable node reports `cluster_state:ok` (CRITICAL).
    ClusterState,
    /// Every slot is served by a reachable master that is not flagged `fail` (CRITICAL).
    SlotCoverage,
    /// All nodes see the same owner for every slot (CRITICAL).
    SlotAgreement,
    /// No slot is claimed by two masters (CRITICAL).
    SlotOwners,
    /// No master that holds slots is flagged `fail` (CRITICAL).
    FailedMasters,
    /// No slot is migrating or importing (WARNING).
    OpenSlots,
    /// No atomic slot migration runs (WARNING) and none failed without a later one of its
    /// slots succeeding (CRITICAL): Valkey 9 and Redis 8.4 only.
    AtomicMigrations,
    /// No node is flagged `fail?`, `handshake` or `noaddr`, no replica or slotless master
    /// `fail`, and no node with a flag this tool does not know (WARNING).
    NodeFlags,
    /// Every node's peers see it in the role it reports for itself (WARNING).
    RoleAgreement,
    /// Every master serving slots has at least `--replicas` online replicas (WARNING).
    Replicas,
    /// Every replica's link to its master is up and its master is known (WARNING).
    ReplicaLinks,
    /// No replica runs on the host of its master (WARNING).
    ReplicaPlacement,
    /// No host runs more masters serving slots than its fair share, masters / hosts rounded
    /// up, so losing one host costs as few masters as the layout allows (WARNING).
    MasterPlacement,
    /// No two masters serving slots share a config epoch (WARNING).
    ConfigEpochs,
    /// Every master serves slots (WARNING).
    EmptyMasters,
    /// The cluster matches the `--expect` plan (WARNING); only present with `--expect`.
    Plan,
}

impl CheckName {
    /// Every check in report order. Metrics name each of them in every state, so a series
    /// never vanishes when the cluster cannot be judged.
    pub const ALL: [CheckName; 19] = [
        CheckName::Reachable,
        CheckName::IdConflicts,
        CheckName::ClusterEnabled,
        CheckName::ClusterState,
        CheckName::SlotCoverage,
        CheckName::SlotAgreement,
        CheckName::SlotOwners,
        CheckName::FailedMasters,
        CheckName::OpenSlots,
        CheckName::AtomicMigrations,
        CheckName::NodeFlags,
        CheckName::RoleAgreement,
        CheckName::Replicas,
        CheckName::ReplicaLinks,
        CheckName::ReplicaPlacement,
        CheckName::MasterPlacement,
        CheckName::ConfigEpochs,
        CheckName::EmptyMasters,
        CheckName::Plan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Reachable => "reachable",
            CheckName::IdConflicts => "id_conflicts",
            CheckName::ClusterEnabled => "cluster_enabled",
            CheckName::ClusterState => "cluster_state",
            CheckName::SlotCoverage => "slot_coverage",
            CheckName::SlotAgreement => "slot_agreement",
            CheckName::SlotOwners => "slot_owners",
            CheckName::FailedMasters => "failed_masters",
            CheckName::OpenSlots => "open_slots",
            CheckName::AtomicMigrations => "atomic_migrations",
            CheckName::NodeFlags => "node_flags",
            CheckName::RoleAgreement => "role_agreement",
            CheckName::Replicas => "replicas",
            CheckName::ReplicaLinks => "replica_links",
            CheckName::ReplicaPlacement => "replica_placement",
            CheckName::MasterPlacement => "master_placement",
            CheckName::ConfigEpochs => "config_epochs",
            CheckName::EmptyMasters => "empty_masters",
            CheckName::Plan => "plan",
        }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Which check this is (`slot_coverage`, `replicas`, …).
    pub name: CheckName,
    /// OK, or the severity this check carries when it finds something.
    pub status: Status,
    /// One sentence: what was found.
    pub summary: String,
    /// One entry per problem found; empty when the check passed.
    pub details: Vec<Detail>,
}

/// One problem, with the slots and nodes it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// What is wrong, in words, naming nodes by address.
    pub message: String,
    /// The slot ranges involved, `[start, end]` inclusive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<SlotRange>,
    /// The nodes involved, as in `nodes[].node`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

/// What is known about one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// How the report names the node: `ip:port`, or the node id when its address is unknown.
    pub node: String,
    /// Cluster node id, when known.
    pub id: Option<String>,
    /// The site host name (with `--site`), otherwise the announced IP.
    pub host: String,
    pub role: Role,
    /// For a replica: its master, named as in `node`.
    pub master: Option<String>,
    /// Whether the node answered.
    pub reachable: bool,
    /// Why it did not answer.
    pub error: Option<String>,
    /// `cluster_state` the node reports (`ok`/`fail`), when reachable and cluster-enabled.
    pub cluster_state: Option<String>,
    /// Slots the node serves: its own claim when reachable, its peers' view otherwise.
    pub slots: Vec<SlotRange>,
    /// Number of slots in `slots`.
    pub slot_count: usize,
    pub config_epoch: Option<u64>,
    /// Keys over all databases (INFO keyspace), when reachable.
    pub keys: Option<u64>,
    /// Keys per database, where a database other than 0 holds any (Valkey's
    /// `cluster-databases`): converge moves database 0 only and refuses to move slots then.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys_per_database: BTreeMap<u32, u64>,
    /// For a reachable replica: `master_link_status:up`.
    pub master_link_up: Option<bool>,
    /// Flags other nodes set on it: `fail`, `fail?`, `handshake`, `noaddr`, `nofailover`.
    pub flags: Vec<String>,
    /// The worst status of the checks that name this node.
    pub status: Status,
}

/// Counts over the whole cluster, for summaries and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Nodes known: given, discovered, or named by a peer.
    pub nodes: usize,
    /// Nodes that answered.
    pub reachable: usize,
    /// Masters that serve at least one slot.
    pub masters: usize,
    pub replicas: usize,
    /// Slots served by a reachable master not flagged `fail` (16384 when healthy).
    pub slots_served: usize,
    /// Slots migrating or importing somewhere.
    pub open_slots: usize,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The worst status of all checks.
    pub status: Status,
    /// One line: what is wrong, or that all is well.
    pub summary: String,
    pub totals: Totals,
    /// Every check, passed or not, in a fixed order.
    pub checks: Vec<Check>,
    /// Every node, in address order.
    pub nodes: Vec<NodeReport>,
    /// When the check ran and how long it took; absent in a report built without a clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// When a check ran, for monitoring that must tell a fresh answer from a stale one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Start of the run, in seconds since the Unix epoch.
    pub started_unix: f64,
    /// How long the survey and the checks took, in seconds.
    pub duration_seconds: f64,
}

impl Report {
    /// The report of a run that could not judge the cluster at all (bad input, an internal
    /// error): UNKNOWN with `message` as its summary, no checks and no nodes.
    pub fn failure(message: &str, timing: Timing) -> Report {
        Report {
            status: Status::Unknown,
            summary: message.to_string(),
            totals: Totals::default(),
            checks: Vec::new(),
            nodes: Vec::new(),
            timing: Some(timing),
        }
    }

    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}
