//! A dead master whose replica Redis does not elect: converge promotes the replica itself.
//!
//! Redis elects a replica of a failed master with the votes of a majority of masters. Two
//! states seen in fault histories keep that election from ever succeeding:
//! - a master refuses its vote when it knows a newer config epoch for the failed master than
//!   the replica does (the master bumped its epoch importing slots and died before every node
//!   learned it): the replica retries forever with the same refused request;
//! - after `cluster-replica-validity-factor` node timeouts the replica stops trying at all.
//!
//! Then the slots stay unserved until someone acts. Converge acts as an operator would, with
//! `CLUSTER FAILOVER TAKEOVER` (no votes), and only when it is safe: the master is flagged failed
//! by the cluster (so a majority of masters lost it), the replica kept replicating until its
//! master fell silent (its data is as fresh as any failover gets), and it has the largest
//! offset among the master's replicas. [`judge`] is that policy, pure; [`examine`] and
//! [`rescue`] the I/O around it.

use std::time::Duration;

use redis_cluster::admin::{self, FailoverMode};
use redis_cluster::survey::in_parallel;
use redis_cluster::{ConnectOptions, Connection, Deadline, Failure, Info, NodeAddr};

use super::layout::Layout;

/// A replica's replication link to its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Up,
    /// Down for this many seconds.
    Down(u64),
    /// It never finished a sync: it has none of its master's data.
    NeverSynced,
}

/// A live replica of a dead master, as it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heir {
    pub addr: NodeAddr,
    pub offset: u64,
    pub link: Link,
    /// Milliseconds since it last had a pong from its master on the bus (its own clock).
    pub master_silent_ms: Option<u64>,
    /// Its master's config epoch as it knows it: what its vote requests carry.
    pub known_epoch: u64,
}

/// A dead master whose slots no live node serves, with its live replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphaned {
    pub master: String,
    pub heirs: Vec<Heir>,
    /// The newest config epoch of the master that any live master knows.
    pub newest_epoch: u64,
    pub node_timeout_ms: u64,
}

/// What to do about one orphaned master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Redis may still elect a replica.
    Wait,
    /// Promote this replica, for this reason.
    Promote { heir: NodeAddr, why: String },
    /// No replica can take over without losing writes: why.
    Stuck(String),
}

/// How long Redis gets to elect a replica before converge steps in: failure detection, then two
/// elections (Redis retries one after twice its vote timeout of max(2 node timeouts, 2 s)), and
/// a second of slack.
pub fn election_bound(node_timeout_ms: u64) -> Duration {
    let vote_timeout = (2 * node_timeout_ms).max(2000);
    Duration::from_millis(node_timeout_ms + 2 * 2 * vote_timeout + 1000)
}

/// The policy (pure): which replica to promote now, if any.
pub fn judge(orphan: &Orphaned) -> Verdict {
    // A link that went down no earlier than the master fell silent (with a node timeout and a
    // second of slack, as both are noticed at different moments) means nothing was missed.
    let fresh = |h: &Heir| match (h.link, h.master_silent_ms) {
        (Link::Up, _) => true,
        (Link::Down(secs), Some(silent)) => secs * 1000 <= silent + orphan.node_timeout_ms + 1000,
        _ => false,
    };
    let Some(best) = orphan
        .heirs
        .iter()
        .filter(|h| fresh(h))
        .max_by_key(|h| (h.offset, std::cmp::Reverse(h.addr)))
    else {
        // Said only once Redis has had its elections: until then it may promote on its own.
        let silent = orphan
            .heirs
            .iter()
            .filter_map(|h| h.master_silent_ms)
            .max()
            .unwrap_or(0);
        if Duration::from_millis(silent) < election_bound(orphan.node_timeout_ms) {
            return Verdict::Wait;
        }
        return Verdict::Stuck(format!(
            "no replica of {} has its data up to its failure (each lost its replication link \
             before the master fell silent, or never synced); bring {} back",
            orphan.master, orphan.master
        ));
    };
    let silent = Duration::from_millis(best.master_silent_ms.unwrap_or(0));
    if orphan.newest_epoch > best.known_epoch && silent.as_millis() >= orphan.node_timeout_ms.into()
    {
        return Verdict::Promote {
            heir: best.addr,
            why: format!(
                "its replica {} asks for votes with config epoch {} of {}, and a master that knows \
                 epoch {} refuses every such vote",
                best.addr, best.known_epoch, orphan.master, orphan.newest_epoch
            ),
        };
    }
    let bound = election_bound(orphan.node_timeout_ms);
    if silent >= bound {
        return Verdict::Promote {
            heir: best.addr,
            why: format!(
                "Redis has not elected a replica of {} in {:.0} s",
                orphan.master,
                silent.as_secs_f64()
            ),
        };
    }
    Verdict::Wait
}

/// Every dead master whose slots no live master serves and that has live replicas, as its
/// replicas and the live masters answer now.
pub fn examine(layout: &Layout, options: &ConnectOptions, deadline: Deadline) -> Vec<Orphaned> {
    let served: Vec<u16> = layout
        .nodes
        .iter()
        .filter(|n| n.alive && n.is_master())
        .flat_map(|n| n.slot_list())
        .collect();
    let live_masters: Vec<NodeAddr> = layout
        .nodes
        .iter()
        .filter(|n| n.alive && n.is_master())
        .filter_map(|n| n.addr)
        .collect();
    let mut orphans = Vec::new();
    for dead in layout.nodes.iter().filter(|n| !n.alive && n.is_master()) {
        if dead.slot_list().iter().all(|s| served.contains(s)) {
            continue;
        }
        let replicas: Vec<NodeAddr> = layout
            .nodes
            .iter()
            .filter(|r| r.alive && r.master.as_deref() == Some(dead.id.as_str()))
            .filter_map(|r| r.addr)
            .collect();
        if replicas.is_empty() {
            continue;
        }
        let heirs: Vec<(Heir, u64)> =
            in_parallel(&replicas, |&addr| heir(addr, &dead.id, options, deadline))
                .into_iter()
                .flatten()
                .collect();
        let Some(node_timeout_ms) = heirs.iter().map(|(_, t)| *t).max() else {
            continue;
        };
        let newest_epoch = in_parallel(&live_masters, |&addr| {
            let mut c = Connection::open(addr, options, deadline)?;
            let lines = admin::cluster_nodes(&mut c)?;
            Ok::<_, Failure>(
                lines
                    .iter()
                    .find(|l| l.id == dead.id)
                    .map_or(0, |l| l.config_epoch),
            )
        })
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        orphans.push(Orphaned {
            master: dead.label(),
            heirs: heirs.into_iter().map(|(h, _)| h).collect(),
            newest_epoch,
            node_timeout_ms,
        });
    }
    orphans
}

/// One replica's replication state and its view of its master; with its node timeout.
fn heir(
    addr: NodeAddr,
    master_id: &str,
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<(Heir, u64), Failure> {
    let mut c = Connection::open(addr, options, deadline)?;
    let replication = Info::parse(&c.query_as::<String>(&["INFO", "replication"])?);
    let server = Info::parse(&c.query_as::<String>(&["INFO", "server"])?);
    let lines = admin::cluster_nodes(&mut c)?;
    let node_timeout_ms = admin::config_get(&mut c, "cluster-node-timeout")?
        .parse()
        .unwrap_or(0);
    let master = lines.iter().find(|l| l.id == master_id);
    let link = if replication.master_link_up() {
        Link::Up
    } else {
        replication
            .master_link_down_seconds()
            .map_or(Link::NeverSynced, Link::Down)
    };
    let master_silent_ms = match (server.server_time_ms(), master) {
        (Some(now), Some(m)) if m.pong_recv_ms > 0 => Some(now.saturating_sub(m.pong_recv_ms)),
        _ => None,
    };
    Ok((
        Heir {
            addr,
            offset: replication.replica_offset().unwrap_or(0),
            link,
            master_silent_ms,
            known_epoch: master.map_or(0, |m| m.config_epoch),
        },
        node_timeout_ms,
    ))
}

/// What [`rescue`] did.
pub enum Rescue {
    /// Replicas promoted, in words.
    Promoted(Vec<String>),
    /// Nothing to do yet; why Redis cannot elect, when known.
    Waiting(Option<String>),
}

/// Promotes the replica [`judge`] picks for each orphaned master.
pub fn rescue(layout: &Layout, options: &ConnectOptions, deadline: Deadline) -> Rescue {
    let mut promoted = Vec::new();
    let mut stuck = Vec::new();
    for orphan in examine(layout, options, deadline) {
        match judge(&orphan) {
            Verdict::Wait => {}
            Verdict::Stuck(why) => stuck.push(why),
            Verdict::Promote { heir, why } => {
                let done = Connection::open(heir, options, deadline)
                    .and_then(|mut c| admin::failover(&mut c, FailoverMode::Takeover));
                match done {
                    Ok(()) => promoted.push(format!(
                        "{why}: promoted {heir} with CLUSTER FAILOVER TAKEOVER"
                    )),
                    Err(f) => stuck.push(format!("{why}; promoting {heir} failed: {f}")),
                }
            }
        }
    }
    if promoted.is_empty() {
        Rescue::Waiting((!stuck.is_empty()).then(|| stuck.join("; ")))
    } else {
        Rescue::Promoted(promoted)
    }
}

#[cfg(test)]
mod tests;
