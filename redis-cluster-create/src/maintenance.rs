//! `maintenance start|end --host NAME`: take a host out of service for a planned stop (a
//! reboot, an upgrade) without a client seeing an error, and put it back.
//!
//! `start` hands every master of the host that serves slots to a replica on another host with
//! a coordinated `CLUSTER FAILOVER` (the master stops taking writes until the replica has every
//! one of them, then the replica takes over: no acknowledged write is lost, and clients follow
//! the MOVED replies), one shard at a time, waits until every node agrees, then demotes the
//! host's CARP engines (`carpctl demote`, a hold that stays until `end`). The host then serves
//! no slot and holds no VIP: it is safe to stop.
//!
//! `end` waits until the host's instances answer again, are known to every node and their
//! replicas have finished their first sync, then lays the masters out as the site wants them
//! (the converge executor, which here only hands roles back by coordinated failover) and lifts
//! the CARP hold.
//!
//! [`handovers`] and [`not_back`] are the pure decisions; the rest talks to the nodes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use redis_cluster::{ConnectOptions, Deadline, NodeAddr, Plan, PlannedMaster, PlannedReplica};

use crate::converge::execute::{self, ConvergeOptions, DoneStep, Handed};
use crate::converge::observe::{observe, Observation};
use crate::converge::{Layout, Migration, Step};
use crate::error::CreateError;
use crate::failover::{survey_shards, Shard};
use crate::planner::Candidate;

/// One master role handed from the host in maintenance to a replica elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handover {
    pub master: NodeAddr,
    pub replica: NodeAddr,
    /// The replica's host.
    pub to_host: String,
}

/// For every master on `host` that serves slots, the replica that takes its role: one on
/// another host whose link to the master is up, on the host with the fewest masters (counting
/// the hand-overs chosen before it), then with the highest replication offset, then the lowest
/// address. Err names each master that has no such replica: stopping the host would take its
/// slots offline until Redis failed it over, and lose the writes its replicas had not seen.
pub fn handovers(shards: &[Shard], host: &str) -> Result<Vec<Handover>, Vec<String>> {
    let mut masters_on: BTreeMap<&str, usize> = BTreeMap::new();
    for shard in shards.iter().filter(|s| s.slots > 0) {
        *masters_on.entry(shard.master.host.as_str()).or_default() += 1;
    }
    let mut chosen = Vec::new();
    let mut problems = Vec::new();
    for shard in shards
        .iter()
        .filter(|s| s.master.host == host && s.slots > 0)
    {
        let best = shard
            .replicas
            .iter()
            .filter(|r| r.host != host && r.answered && r.linked)
            .min_by_key(|r| {
                (
                    masters_on.get(r.host.as_str()).copied().unwrap_or(0),
                    std::cmp::Reverse(r.offset),
                    r.addr,
                )
            });
        match best {
            Some(replica) => {
                *masters_on.entry(replica.host.as_str()).or_default() += 1;
                chosen.push(Handover {
                    master: shard.master.addr,
                    replica: replica.addr,
                    to_host: replica.host.clone(),
                });
            }
            None => problems.push(format!(
                "{} (master of {} slots on {host}) has no replica on another host that answers \
                 with its link to it up; give it one (converge with more replicas) before \
                 stopping the host",
                shard.master.addr, shard.slots
            )),
        }
    }
    if problems.is_empty() {
        Ok(chosen)
    } else {
        Err(problems)
    }
}

/// Masters on other hosts whose every replica is on `host`: they run without a copy while it
/// is stopped. Told, not refused (a cluster of one replica per master has them by design).
pub fn unprotected(shards: &[Shard], host: &str) -> Vec<NodeAddr> {
    shards
        .iter()
        .filter(|s| s.master.host != host && s.slots > 0 && !s.replicas.is_empty())
        .filter(|s| s.replicas.iter().all(|r| r.host == host))
        .map(|s| s.master.addr)
        .collect()
}

/// Why the instances of `host` (`nodes`, from the site) are not back yet, one line each; empty
/// when every one answers and every replica among them has its link to its master up.
pub fn not_back(shards: &[Shard], host: &str, nodes: &[NodeAddr]) -> Vec<String> {
    let mut reasons = Vec::new();
    for &addr in nodes {
        let as_master = shards.iter().find(|s| s.master.addr == addr);
        let as_replica = shards
            .iter()
            .flat_map(|s| s.replicas.iter().map(move |r| (s, r)))
            .find(|(_, r)| r.addr == addr);
        match (as_master, as_replica) {
            (Some(shard), _) if !shard.master.answered => {
                reasons.push(format!("{addr} on {host} does not answer"));
            }
            (Some(_), _) => {}
            (None, Some((_, r))) if !r.answered => {
                reasons.push(format!("{addr} on {host} does not answer"));
            }
            (None, Some((shard, r))) if !r.linked => reasons.push(format!(
                "{addr} on {host} is not in sync with its master {} yet",
                shard.master.addr
            )),
            (None, Some(_)) => {}
            (None, None) => reasons.push(format!(
                "{addr} on {host} is not part of the cluster as its nodes describe it"
            )),
        }
    }
    reasons
}

/// What both commands are given.
#[derive(Debug, Clone)]
pub struct Options {
    pub host: String,
    /// The site's nodes with their hosts.
    pub candidates: Vec<Candidate>,
    /// Replicas per master, as the site says.
    pub replicas: u32,
    pub timeout: Duration,
    pub connect: ConnectOptions,
    /// The state directory of the host's CARP engines, or `None` to leave CARP alone.
    pub carp: Option<PathBuf>,
}

impl Options {
    fn host_names(&self) -> BTreeMap<NodeAddr, String> {
        self.candidates
            .iter()
            .map(|c| (c.addr, c.host.clone()))
            .collect()
    }

    fn seeds(&self) -> Vec<NodeAddr> {
        self.candidates.iter().map(|c| c.addr).collect()
    }

    fn own_nodes(&self) -> Vec<NodeAddr> {
        self.candidates
            .iter()
            .filter(|c| c.host == self.host)
            .map(|c| c.addr)
            .collect()
    }

    fn shards(&self) -> Vec<Shard> {
        survey_shards(&self.seeds(), &self.host_names(), &self.connect)
    }
}

/// What `maintenance start` prints.
#[derive(Debug, Serialize)]
pub struct StartReport {
    pub host: String,
    /// Every master role handed over, with the seconds it took.
    pub handed_over: Vec<HandedOver>,
    /// Masters elsewhere whose every replica is on the host: without a copy while it is down.
    pub unprotected: Vec<NodeAddr>,
    /// The CARP engines' state directory demoted (held until `maintenance end`), if any.
    pub carp_demoted: Option<PathBuf>,
    /// True: every node agrees that the host serves no slot, and (with CARP) it holds no VIP.
    pub safe_to_stop: bool,
    pub total_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct HandedOver {
    #[serde(flatten)]
    pub handover: Handover,
    pub seconds: f64,
}

/// What `maintenance end` prints.
#[derive(Debug, Serialize)]
pub struct EndReport {
    pub host: String,
    /// Seconds until the host's instances were back and in sync.
    pub back_after_seconds: f64,
    /// The steps that laid the masters out again (coordinated failovers).
    pub steps: Vec<DoneStep>,
    /// The CARP engines' state directory promoted (hold lifted), if any.
    pub carp_promoted: Option<PathBuf>,
    pub total_seconds: f64,
}

/// Rounds of surveying and handing over at most: each catches up with a failover the cluster
/// undid or a replica that moved; more means something keeps undoing them.
const MAX_ROUNDS: usize = 5;
/// How often the host's instances are asked whether they are back.
const POLL: Duration = Duration::from_millis(200);

/// Checks that the host can be emptied, then `confirm`s; hands its masters over, waits until
/// every node agrees, demotes its CARP engines.
pub fn start(
    options: &Options,
    started: Instant,
    confirm: &dyn Fn(&str) -> Result<(), CreateError>,
    progress: &dyn Fn(&str),
) -> Result<StartReport, CreateError> {
    let deadline = Deadline::after(options.timeout.saturating_sub(started.elapsed()));
    refuse_unsettled(&observe(&options.seeds(), &options.connect))?;
    let shards = options.shards();
    let planned =
        handovers(&shards, &options.host).map_err(|problems| CreateError::Refused { problems })?;
    let unprotected = unprotected(&shards, &options.host);
    let mut what: Vec<String> = planned
        .iter()
        .map(|h| {
            format!(
                "hand master {} over to its replica {} on {}",
                h.master, h.replica, h.to_host
            )
        })
        .collect();
    if let Some(dir) = &options.carp {
        what.push(format!(
            "demote the CARP engines of {} ({}) until 'maintenance end'",
            options.host,
            dir.display()
        ));
    }
    confirm(&what.join("\n"))?;
    // CARP first: when no engine runs there, nothing has been changed yet.
    if let Some(dir) = &options.carp {
        carpctl("demote", dir)?;
        progress(&format!("CARP engines of {} demoted", options.host));
    }
    let mut handed_over = Vec::new();
    let mut round = 0;
    loop {
        let shards = options.shards();
        let pending = handovers(&shards, &options.host)
            .map_err(|problems| CreateError::Refused { problems })?;
        let Some(next) = pending.first() else { break };
        round += 1;
        if round > MAX_ROUNDS * planned.len().max(1) {
            return Err(CreateError::NotSettled {
                reason: format!(
                    "the cluster keeps undoing the hand-over of {} to {}",
                    next.master, next.replica
                ),
            });
        }
        let began = Instant::now();
        match execute::hand_over(next.replica, next.master, &options.connect, deadline)? {
            Handed::Done => {
                progress(&format!(
                    "{} took over from {} ({})",
                    next.replica, next.master, next.to_host
                ));
                handed_over.push(HandedOver {
                    handover: next.clone(),
                    seconds: began.elapsed().as_secs_f64(),
                });
            }
            Handed::Moved(why) => progress(&format!("{why}; surveying again")),
        }
    }
    let observation = observe(&options.seeds(), &options.connect);
    refuse_unsettled(&observation)?;
    let convergence = ConvergeOptions {
        timeout: options.timeout,
        force: false,
        migration: Migration::Auto,
        connect: options.connect.clone(),
    };
    let layout = current_plan(&observation.layout, &options.host_names());
    execute::wait_usable(&layout, &convergence, deadline, progress)?;
    Ok(StartReport {
        host: options.host.clone(),
        handed_over,
        unprotected,
        carp_demoted: options.carp.clone(),
        safe_to_stop: true,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Waits until the host's instances are back and in sync, then `confirm`s and lays the masters
/// out as the site wants (coordinated failovers only) and lifts the CARP hold.
pub fn end(
    options: &Options,
    started: Instant,
    confirm: &dyn Fn(&str) -> Result<(), CreateError>,
    progress: &dyn Fn(&str),
) -> Result<EndReport, CreateError> {
    let deadline = Deadline::after(options.timeout.saturating_sub(started.elapsed()));
    let own = options.own_nodes();
    let mut said = String::new();
    loop {
        let reasons = not_back(&options.shards(), &options.host, &own);
        if reasons.is_empty() {
            break;
        }
        let now = reasons.join("; ");
        if deadline.passed() {
            return Err(CreateError::NotSettled {
                reason: format!("{} is not back: {now}", options.host),
            });
        }
        if now != said {
            progress(&format!("waiting: {now}"));
            said = now;
        }
        deadline
            .sleep_until(Instant::now() + POLL)
            .map_err(|signal| CreateError::Interrupted {
                signal,
                doing: "waiting for the host's instances",
                next: "no node was changed by this run; run it again".to_string(),
            })?;
    }
    let back_after_seconds = started.elapsed().as_secs_f64();
    progress(&format!(
        "{}'s instances are back and in sync",
        options.host
    ));
    let convergence = ConvergeOptions {
        timeout: options.timeout,
        force: false,
        migration: Migration::Auto,
        connect: options.connect.clone(),
    };
    let (_, planned) = execute::prepare(
        &options.candidates,
        options.replicas,
        &convergence,
        deadline,
        progress,
    )?;
    let beyond_roles: Vec<String> = planned
        .steps
        .iter()
        .filter(|s| !matches!(s, Step::Failover { .. } | Step::Replicate { .. }))
        .map(Step::describe)
        .collect();
    if !beyond_roles.is_empty() {
        let mut problems = beyond_roles;
        problems.push(
            "the cluster differs from the site by more than the roles maintenance moved: \
             review 'redis-cluster-create plan --site FILE' and run converge, then \
             'maintenance end' again"
                .to_string(),
        );
        return Err(CreateError::Refused { problems });
    }
    let mut what = execute::describe(&planned.steps);
    if let Some(dir) = &options.carp {
        what.push(format!(
            "lift the CARP hold of {} ({})",
            options.host,
            dir.display()
        ));
    }
    confirm(&what.join("\n"))?;
    let report = execute::run(
        &options.candidates,
        options.replicas,
        planned,
        &convergence,
        started,
        progress,
    )?;
    if let Some(dir) = &options.carp {
        carpctl("promote", dir)?;
        progress(&format!("CARP engines of {} promoted", options.host));
    }
    Ok(EndReport {
        host: options.host.clone(),
        back_after_seconds,
        steps: report.steps,
        carp_promoted: options.carp.clone(),
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Refuses a cluster in which emptying a host could lose something: a node down or not yet
/// judged, a slot open or being moved.
fn refuse_unsettled(observation: &Observation) -> Result<(), CreateError> {
    let mut problems: Vec<String> = observation
        .unreachable
        .iter()
        .map(|(a, e)| format!("{a}: unreachable ({e})"))
        .collect();
    problems.extend(
        observation
            .suspects
            .iter()
            .map(|s| format!("{s}: not answering")),
    );
    problems.extend(
        observation
            .layout
            .nodes
            .iter()
            .filter(|n| !n.alive)
            .map(|n| format!("{}: flagged failed; converge forgets it", n.label())),
    );
    problems.extend(
        observation
            .layout
            .nodes
            .iter()
            .filter(|n| !n.migrating.is_empty() || !n.importing.is_empty())
            .map(|n| format!("{}: has open slots; converge finishes them", n.label())),
    );
    problems.extend(observation.migrations.iter().cloned());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CreateError::Refused { problems })
    }
}

/// The cluster as it stands, as a plan the usability wait can hold every node's view against.
fn current_plan(layout: &Layout, host_names: &BTreeMap<NodeAddr, String>) -> Plan {
    let host = |addr: NodeAddr| {
        host_names
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| addr.ip_string())
    };
    let masters = layout
        .nodes
        .iter()
        .filter(|n| n.alive && n.is_master() && !n.slots.is_empty())
        .filter_map(|m| {
            let addr = m.addr?;
            Some(PlannedMaster {
                addr,
                host: host(addr),
                slots: m.slots.clone(),
                replicas: layout
                    .nodes
                    .iter()
                    .filter(|r| r.alive && r.master.as_deref() == Some(m.id.as_str()))
                    .filter_map(|r| r.addr)
                    .map(|addr| PlannedReplica {
                        addr,
                        host: host(addr),
                    })
                    .collect(),
            })
        })
        .collect();
    Plan {
        schema: 1,
        replicas: 0,
        masters,
        compromises: Vec::new(),
    }
}

/// Runs `carpctl demote` or `carpctl promote` on the engines of `state_dir`: the carpctl
/// installed beside this program, else the one on PATH.
fn carpctl(action: &'static str, state_dir: &Path) -> Result<(), CreateError> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("carpctl")))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from("carpctl"));
    let output = std::process::Command::new(&program)
        .arg(action)
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| CreateError::Carp {
            action,
            message: format!("cannot run {}: {e}", program.display()),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(CreateError::Carp {
        action,
        message: stderr.trim().trim_start_matches("carpctl: ").to_string(),
    })
}

#[cfg(test)]
mod tests;
