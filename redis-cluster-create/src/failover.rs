//! `failover --lost-host NAME`: promote, at once, a replica of every master of a host that
//! CARP has just found silent, instead of waiting for Redis's own detection (the node
//! timeout, then gossip, then an election).
//!
//! The hooks call it when this host took over another host's CARP group because its holder
//! stopped advertising. CARP's silence alone proves nothing about Redis (the CARP link may be
//! cut while the cluster bus is not), so the decision is made on what the nodes answer now:
//! [`decide`] is the pure policy, [`survey_shards`] and [`execute`] the I/O around it.
//!
//! The promotion is `CLUSTER FAILOVER FORCE`: the replica does not wait for its master
//! (which does not answer) but still needs the votes of a majority of masters, so a host on
//! the minority side of a partition cannot promote anything. `TAKEOVER` would skip the vote
//! and is not used: on the wrong side of a partition it makes two masters for the same slots.
//! The plain coordinated `CLUSTER FAILOVER` needs the master's cooperation and is what
//! `converge` uses to hand roles back once the host has returned.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use redis_cluster::session::command;
use redis_cluster::survey::{connect, in_parallel, survey};
use redis_cluster::{ConnectOptions, Deadline, NodeAddr, NodeTable, Role};

/// One node as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub addr: NodeAddr,
    pub host: String,
    /// It answered the survey just now.
    pub answered: bool,
    /// Replication offset it reported (replicas); more means fewer writes lost on promotion.
    pub offset: u64,
    /// A replica whose link to its master is up (`master_link_status:up`): its first sync is
    /// done and it follows the master's writes.
    pub linked: bool,
}

/// A master with its replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub master: Member,
    pub slots: usize,
    pub replicas: Vec<Member>,
}

/// What the policy decided for one master of the lost host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Promote `replica` in place of `master`.
    Promote { master: NodeAddr, replica: NodeAddr },
    /// Leave `master` as it is, for the reason given.
    Keep { master: NodeAddr, why: String },
}

/// For each master on `lost_host` (and no other): promote its best replica when it serves
/// slots, does not answer, and a replica does. Best: a replica on another host than the lost
/// one, then the highest replication offset, then the lowest address (so that two hooks
/// deciding on the same survey pick the same one). At most one per master.
pub fn decide(shards: &[Shard], lost_host: &str) -> Vec<Decision> {
    shards
        .iter()
        .filter(|s| s.master.host == lost_host)
        .map(|shard| {
            let master = shard.master.addr;
            let keep = |why: &str| Decision::Keep {
                master,
                why: why.to_string(),
            };
            if shard.master.answered {
                return keep("it answers: CARP went silent but Redis did not; nothing is promoted");
            }
            if shard.slots == 0 {
                return keep("it serves no slots (already replaced, or never had any)");
            }
            let best = shard
                .replicas
                .iter()
                .filter(|r| r.answered)
                .min_by_key(|r| (r.host == lost_host, std::cmp::Reverse(r.offset), r.addr));
            match best {
                Some(replica) => Decision::Promote {
                    master,
                    replica: replica.addr,
                },
                None => {
                    keep("none of its replicas answers; Redis's own failover is all that is left")
                }
            }
        })
        .collect()
}

/// The shards of the cluster as `seeds` (and every node they know) describe it now; each
/// node is asked with `options.timeout`, all at once.
pub fn survey_shards(
    seeds: &[NodeAddr],
    host_names: &BTreeMap<NodeAddr, String>,
    options: &ConnectOptions,
) -> Vec<Shard> {
    // Only the seeds and the site's nodes get the password, and so only their replicas can be
    // promoted: a node some node names is not asked.
    let survey = survey(seeds, &options.vouching(host_names.keys().copied()), true);
    let table = NodeTable::build(&survey, host_names);
    let member = |node: &redis_cluster::table::KnownNode<'_>| {
        let addr = node.addr?;
        let offset = node
            .state
            .and_then(|s| s.info.get("slave_repl_offset"))
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let linked = node.state.and_then(|s| s.info.get("master_link_status")) == Some("up");
        Some(Member {
            addr,
            host: node.host.clone(),
            answered: node.own_line,
            offset,
            linked,
        })
    };
    table
        .nodes
        .iter()
        .filter(|n| n.role() == Role::Master)
        .filter_map(|master| {
            let id = master.id?;
            Some(Shard {
                master: member(master)?,
                slots: master.slots().iter().map(|r| r.count()).sum(),
                replicas: table
                    .nodes
                    .iter()
                    .filter(|n| n.master_id() == Some(id))
                    .filter_map(member)
                    .collect(),
            })
        })
        .collect()
}

/// How one promotion went.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    pub master: NodeAddr,
    pub replica: NodeAddr,
    /// Whether the replica reported itself master within the timeout.
    pub promoted: bool,
    /// From the command to the replica's `role:master`, or to giving up.
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends `CLUSTER FAILOVER FORCE` to every chosen replica at once and waits, until
/// `deadline`, for each to report itself master.
pub fn execute(
    decisions: &[Decision],
    options: &ConnectOptions,
    deadline: Deadline,
) -> Vec<Promotion> {
    let chosen: Vec<(NodeAddr, NodeAddr)> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Promote { master, replica } => Some((*master, *replica)),
            Decision::Keep { .. } => None,
        })
        .collect();
    in_parallel(&chosen, |&(master, replica)| {
        let started = Instant::now();
        let outcome = promote(replica, options, deadline);
        Promotion {
            master,
            replica,
            promoted: outcome.is_ok(),
            seconds: started.elapsed().as_secs_f64(),
            error: outcome.err(),
        }
    })
}

fn promote(replica: NodeAddr, options: &ConnectOptions, deadline: Deadline) -> Result<(), String> {
    let mut connection = connect(replica, options, deadline).map_err(|e| e.to_string())?;
    command::<()>(&mut connection, &["CLUSTER", "FAILOVER", "FORCE"])?;
    loop {
        let info: String = command(&mut connection, &["INFO", "replication"])?;
        if redis_cluster::Info::parse(&info).get("role") == Some("master") {
            return Ok(());
        }
        if deadline.passed() {
            return Err(format!(
                "{replica} is not master within {} (CLUSTER FAILOVER FORCE needs the votes of a \
                 majority of masters, and none is given twice for one shard within twice the \
                 node timeout)",
                redis_cluster::deadline::seconds(deadline.bound())
            ));
        }
        deadline
            .sleep_until(Instant::now() + Duration::from_millis(10))
            .map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests;
