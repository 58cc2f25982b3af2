//! Carrying out converge steps against the nodes, then the bounded usability wait of creation.
//!
//! Nothing here decides what to do: [`prepare`] observes the cluster (waiting, within the
//! deadline, while Redis still decides whether an unreachable node is dead or fails a dead
//! master over) and asks the planner; [`run`] executes the steps stage by stage, consecutive
//! steps of one stage at once, then observes and plans again, so that whatever moved meanwhile
//! (a replica migrated by `cluster-allow-replica-migration`, a failover still settling) is
//! caught up with before the wait. A run killed at any moment is finished by running it again:
//! every step is planned from what the nodes say, never from a record of past runs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use redis_cluster::session::{command, meet, Sessions};
use redis_cluster::survey::in_parallel;
use redis_cluster::{ConnectOptions, Connection, Deadline, NodeAddr, Plan};

use super::layout::Layout;
use super::migrate::{self, Counters, End};
use super::observe::{observe, Observation};
use super::steps::{self, Converge, ConvergeError, LostSlots, Step};
use crate::apply::{Progress, StageTime};
use crate::error::CreateError;
use crate::planner::Candidate;
use crate::wait;

/// How to converge.
#[derive(Debug, Clone)]
pub struct ConvergeOptions {
    /// Bound on the whole run, from the start of the command.
    pub timeout: Duration,
    /// Serve lost slots again, empty.
    pub force: bool,
    pub connect: ConnectOptions,
}

/// A saved converge plan: what `plan` prints for a live cluster and `apply` runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    /// Format version; only 1 exists.
    pub schema: u32,
    /// Always `converge`: tells this document from a creation plan.
    pub kind: String,
    /// Whether lost slots may be served again, empty.
    pub force: bool,
    /// The cluster the steps were planned from; `apply` refuses when it differs.
    pub observed: Layout,
    /// The layout the steps lead to.
    pub target: Plan,
    pub steps: Vec<Step>,
    /// Slots that are served again empty (with `force` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<LostSlots>,
}

/// The `kind` of a saved converge plan.
pub const KIND: &str = "converge";

/// What converge prints.
#[derive(Debug, Clone, Serialize)]
pub struct ConvergeReport {
    /// False when the cluster already was as asked and nothing was done.
    pub changed: bool,
    /// True when every node was seen usable at the end.
    pub usable: bool,
    /// Every step carried out, in order, with the seconds it took.
    pub steps: Vec<DoneStep>,
    /// Slots moved with their keys.
    pub slots_moved: usize,
    /// Keys moved.
    pub keys_moved: u64,
    /// Keys moved per second of the `move` stage.
    pub keys_per_second: f64,
    /// Each stage in the order run, with its duration.
    pub stages: Vec<StageTime>,
    /// The layout reached.
    pub target: Plan,
    /// Seconds from the start of the command to the end.
    pub total_seconds: f64,
}

/// One step done.
#[derive(Debug, Clone, Serialize)]
pub struct DoneStep {
    #[serde(flatten)]
    pub step: Step,
    pub seconds: f64,
}

/// Rounds of observing and planning again after the planned steps, at most: each catches up
/// with what moved behind the tool's back; more means something keeps undoing the steps.
const MAX_ROUNDS: usize = 4;
/// The node timeout of new nodes while they join: it is their rejoin delay (see the meet stage).
const NEW_NODE_TIMEOUT_MS: &str = "500";
/// How often observations are repeated while waiting for Redis.
const POLL: Duration = Duration::from_millis(100);

/// Observes the cluster and plans, waiting within `deadline` while Redis decides whether
/// unreachable nodes are dead and fails dead masters over.
pub fn prepare(
    listed: &[Candidate],
    replicas: u32,
    options: &ConvergeOptions,
    deadline: Instant,
    progress: Progress,
) -> Result<(Observation, Converge), CreateError> {
    // Bad input is refused before any waiting.
    crate::planner::master_count(listed, replicas).map_err(ConvergeError::Planning)?;
    let addrs: Vec<NodeAddr> = listed.iter().map(|c| c.addr).collect();
    let mut last_said = String::new();
    loop {
        let observation = observe(&addrs, &options.connect);
        if !observation.unreachable.is_empty() {
            return Err(CreateError::Refused {
                problems: observation
                    .unreachable
                    .iter()
                    .map(|(a, e)| format!("{a}: unreachable ({e}); check that it runs, or leave it out of the list"))
                    .collect(),
            });
        }
        if !observation.problems.is_empty() {
            return Err(CreateError::Refused {
                problems: observation.problems,
            });
        }
        let waiting = if observation.suspects.is_empty() {
            match steps::plan(&observation.layout, listed, replicas, options.force) {
                Ok(converge) => return Ok((observation, converge)),
                Err(e @ (ConvergeError::AwaitingFailover(_) | ConvergeError::Disputed { .. })) => {
                    e.to_string()
                }
                Err(e) => return Err(CreateError::Converge(e)),
            }
        } else {
            format!(
                "{} not answering; waiting for the cluster to flag {} failed",
                observation.suspects.join(", "),
                if observation.suspects.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            )
        };
        if Instant::now() >= deadline {
            return Err(CreateError::NotSettled { reason: waiting });
        }
        if waiting != last_said {
            progress(&waiting);
            last_said = waiting;
        }
        std::thread::sleep(POLL);
    }
}

/// Runs `first` (the steps of a plan made moments ago, or of a saved one), then plans and runs
/// again until nothing is left, then waits until the cluster is usable.
pub fn run(
    listed: &[Candidate],
    replicas: u32,
    first: Converge,
    options: &ConvergeOptions,
    started: Instant,
    progress: Progress,
) -> Result<ConvergeReport, CreateError> {
    let deadline = started + options.timeout;
    let counters = Counters::default();
    let mut done = Vec::new();
    let mut stages: Vec<StageTime> = Vec::new();
    let changed = !first.steps.is_empty();
    let mut converge = first;
    let mut move_seconds = 0.0;
    for round in 0.. {
        if converge.steps.is_empty() {
            break;
        }
        if round == MAX_ROUNDS {
            return Err(CreateError::NotSettled {
                reason: format!(
                    "the cluster keeps changing under the steps; still to do: {}",
                    describe(&converge.steps).join("; ")
                ),
            });
        }
        if round > 0 {
            progress(&format!(
                "the cluster changed meanwhile; {} more",
                toolkit::words::counted(converge.steps.len(), "step")
            ));
        }
        let mut at = 0;
        while at < converge.steps.len() {
            let stage = converge.steps[at].stage();
            let end = converge.steps[at..]
                .iter()
                .position(|s| s.stage() != stage)
                .map_or(converge.steps.len(), |n| at + n);
            let group = &converge.steps[at..end];
            let began = Instant::now();
            progress(&format!(
                "{stage}: {}",
                toolkit::words::name_list(&describe(group), 4)
            ));
            run_stage(
                group,
                &converge.target,
                options,
                deadline,
                &counters,
                progress,
            )?;
            let seconds = began.elapsed().as_secs_f64();
            if stage == "move" {
                move_seconds += seconds;
            }
            done.extend(group.iter().map(|s| DoneStep {
                step: s.clone(),
                seconds,
            }));
            match stages.last_mut() {
                Some(last) if last.stage == stage => last.seconds += seconds,
                _ => stages.push(StageTime { stage, seconds }),
            }
            at = end;
        }
        let (_, next) = prepare(listed, replicas, options, deadline, progress)?;
        converge = next;
    }
    let began = Instant::now();
    let usable = wait_usable(&converge.target, options, deadline, progress)?;
    stages.push(StageTime {
        stage: "wait",
        seconds: began.elapsed().as_secs_f64(),
    });
    let keys_moved = counters.keys.load(Ordering::Relaxed);
    Ok(ConvergeReport {
        changed,
        usable,
        steps: done,
        slots_moved: counters.slots.load(Ordering::Relaxed),
        keys_moved,
        keys_per_second: if move_seconds > 0.0 {
            keys_moved as f64 / move_seconds
        } else {
            0.0
        },
        stages,
        target: converge.target,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The steps in words.
pub fn describe(steps: &[Step]) -> Vec<String> {
    steps.iter().map(Step::describe).collect()
}

/// Connections to every node the steps touch and every live node the target or the cluster
/// has, looked up by address.
struct Nodes {
    sessions: Sessions,
}

impl Nodes {
    fn new(addrs: BTreeSet<NodeAddr>, options: &ConnectOptions, deadline: Instant) -> Nodes {
        Nodes {
            sessions: Sessions::new(addrs.into_iter().collect(), options, bound(deadline)),
        }
    }

    fn index(&self, addr: NodeAddr) -> usize {
        self.sessions
            .addrs
            .iter()
            .position(|&a| a == addr)
            .expect("every node a step names has a session")
    }

    fn on<R>(
        &self,
        addr: NodeAddr,
        work: impl FnOnce(&mut Connection) -> Result<R, String>,
    ) -> Result<R, CreateError> {
        self.sessions
            .with(self.index(addr), work)
            .map_err(|message| CreateError::ConvergeStep {
                node: addr.to_string(),
                message,
            })
    }

    fn id(&self, addr: NodeAddr) -> Result<String, CreateError> {
        self.on(addr, |c| command(c, &["CLUSTER", "MYID"]))
    }

    /// Runs `work` on every node but `except`, at once.
    fn others(
        &self,
        except: &[NodeAddr],
        work: impl Fn(&mut Connection) -> Result<(), String> + Sync,
    ) -> Result<(), CreateError> {
        let targets: Vec<NodeAddr> = self
            .sessions
            .addrs
            .iter()
            .copied()
            .filter(|a| !except.contains(a))
            .collect();
        let results = in_parallel(&targets, |&a| self.on(a, &work));
        results.into_iter().collect()
    }
}

/// What is left until `deadline`, as the bound of every connection and reply.
fn bound(deadline: Instant) -> Deadline {
    Deadline::after(deadline.saturating_duration_since(Instant::now()))
}

/// The live nodes of the cluster now, masters first.
fn live_nodes(target: &Plan, options: &ConnectOptions) -> (BTreeSet<NodeAddr>, Vec<NodeAddr>) {
    let seeds: Vec<NodeAddr> = target.nodes().map(|(a, _)| a).collect();
    let observation = observe(&seeds, options);
    let live = observation
        .layout
        .nodes
        .iter()
        .filter(|n| n.alive && n.joined)
        .filter_map(|n| n.addr);
    let masters = observation
        .layout
        .nodes
        .iter()
        .filter(|n| n.alive && n.joined && n.is_master())
        .filter_map(|n| n.addr)
        .collect();
    (live.chain(seeds).collect(), masters)
}

fn run_stage(
    group: &[Step],
    target: &Plan,
    options: &ConvergeOptions,
    deadline: Instant,
    counters: &Counters,
    progress: Progress,
) -> Result<(), CreateError> {
    let (live, masters) = live_nodes(target, &options.connect);
    let mut addrs = live.clone();
    for step in group {
        match step {
            Step::Remove { node } | Step::Detach { node } => {
                addrs.insert(*node);
            }
            _ => {}
        }
    }
    let nodes = Nodes::new(addrs, &options.connect, deadline);
    let forget_everywhere = |id: &str, except: &[NodeAddr]| {
        nodes.others(except, |c| {
            match command::<()>(c, &["CLUSTER", "FORGET", id]) {
                Err(e) if e.contains("Unknown node") => Ok(()),
                other => other,
            }
        })
    };
    match &group[0] {
        Step::Forget { .. } => {
            // All at once, so every node has forgotten them well within Redis' 60 s ban.
            for step in group {
                if let Step::Forget { id, .. } = step {
                    forget_everywhere(id, &[])?;
                }
            }
        }
        Step::CloseSlot { .. } => {
            for step in group {
                if let Step::CloseSlot {
                    slot,
                    owner,
                    sources,
                } = step
                {
                    for &source in sources {
                        let link = migrate::Link {
                            options: &options.connect,
                            deadline: bound(deadline),
                            counters,
                        };
                        migrate::move_back(source, *owner, *slot, &link).map_err(|message| {
                            CreateError::ConvergeStep {
                                node: source.to_string(),
                                message,
                            }
                        })?;
                    }
                    for &node in sources.iter().chain([owner]) {
                        nodes.on(node, |c| {
                            command::<()>(c, &["CLUSTER", "SETSLOT", &slot.to_string(), "STABLE"])
                        })?;
                    }
                }
            }
        }
        Step::Detach { .. } | Step::Remove { .. } => {
            for step in group {
                let (Step::Detach { node } | Step::Remove { node }) = step else {
                    continue;
                };
                let id = nodes.id(*node)?;
                let (keys, role): (u64, String) = nodes.on(*node, |c| {
                    let keys = command(c, &["DBSIZE"])?;
                    let info: String = command(c, &["INFO", "replication"])?;
                    let role = redis_cluster::Info::parse(&info)
                        .get("role")
                        .unwrap_or_default()
                        .to_string();
                    Ok((keys, role))
                })?;
                if role == "master" && keys > 0 {
                    return Err(CreateError::ConvergeStep {
                        node: node.to_string(),
                        message: format!(
                            "holds {} although it serves no slot; not reset: move or delete them and run again",
                            toolkit::words::counted(keys, "key")
                        ),
                    });
                }
                forget_everywhere(&id, &[*node])?;
                nodes.on(*node, |c| command::<()>(c, &["CLUSTER", "RESET", "HARD"]))?;
            }
        }
        Step::Meet { .. } => {
            let new: Vec<NodeAddr> = group
                .iter()
                .filter_map(|s| match s {
                    Step::Meet { node } => Some(*node),
                    _ => None,
                })
                .collect();
            let old: Vec<NodeAddr> = live.iter().copied().filter(|a| !new.contains(a)).collect();
            // A new master refuses everything (CLUSTERDOWN) for its rejoin delay, its own
            // cluster-node-timeout, after it learns the cluster; MIGRATE to it would fail.
            // It holds nothing yet, so its timeout is lowered meanwhile and then restored.
            let saved = in_parallel(&new, |&a| {
                nodes.on(a, |c| {
                    let pair: Vec<String> = command(c, &["CONFIG", "GET", "cluster-node-timeout"])?;
                    let value = pair.get(1).cloned().ok_or("no cluster-node-timeout")?;
                    command::<()>(
                        c,
                        &["CONFIG", "SET", "cluster-node-timeout", NEW_NODE_TIMEOUT_MS],
                    )?;
                    Ok(value)
                })
            })
            .into_iter()
            .collect::<Result<Vec<String>, _>>()?;
            let met = in_parallel(&old, |&a| nodes.on(a, |c| meet(c, new.iter().copied())))
                .into_iter()
                .collect::<Result<Vec<()>, _>>()
                .and_then(|_| wait_met(&nodes, &old, &new, deadline, progress));
            let restored = in_parallel(
                &new.iter().zip(&saved).collect::<Vec<_>>(),
                |(&a, value)| {
                    nodes.on(a, |c| {
                        command::<()>(c, &["CONFIG", "SET", "cluster-node-timeout", value])
                    })
                },
            )
            .into_iter()
            .collect::<Result<Vec<()>, _>>();
            met?;
            restored?;
        }
        Step::Failover { .. } => {
            let pairs: Vec<(NodeAddr, NodeAddr)> = group
                .iter()
                .filter_map(|s| match s {
                    Step::Failover { node, master } => Some((*node, *master)),
                    _ => None,
                })
                .collect();
            in_parallel(&pairs, |&(node, _)| failover(&nodes, node, deadline))
                .into_iter()
                .collect::<Result<Vec<()>, _>>()?;
        }
        Step::Adopt { .. } => {
            for step in group {
                if let Step::Adopt { node, slots } = step {
                    let bounds: Vec<String> = slots
                        .iter()
                        .flat_map(|r| [r.start.to_string(), r.end.to_string()])
                        .collect();
                    let mut words = vec!["CLUSTER", "ADDSLOTSRANGE"];
                    words.extend(bounds.iter().map(String::as_str));
                    nodes.on(*node, |c| {
                        command::<()>(c, &words)?;
                        command::<String>(c, &["CLUSTER", "BUMPEPOCH"]).map(drop)
                    })?;
                }
            }
        }
        Step::Replicate { .. } => {
            let pairs: Vec<(NodeAddr, NodeAddr)> = group
                .iter()
                .filter_map(|s| match s {
                    Step::Replicate { node, master } => Some((*node, *master)),
                    _ => None,
                })
                .collect();
            in_parallel(&pairs, |&(node, master)| {
                let id = nodes.id(master)?;
                replicate(&nodes, node, &id, deadline)
            })
            .into_iter()
            .collect::<Result<Vec<()>, _>>()?;
        }
        Step::Move { .. } => {
            let total: usize = group
                .iter()
                .map(|s| match s {
                    Step::Move { slots, .. } => slots.iter().map(|r| r.count()).sum(),
                    _ => 0,
                })
                .sum();
            let mut jobs = Vec::new();
            for step in group {
                if let Step::Move { from, to, slots } = step {
                    let from = End {
                        addr: *from,
                        id: nodes.id(*from)?,
                    };
                    let to = End {
                        addr: *to,
                        id: nodes.id(*to)?,
                    };
                    let others: Vec<NodeAddr> = masters
                        .iter()
                        .copied()
                        .filter(|&a| a != from.addr && a != to.addr)
                        .collect();
                    let slots: Vec<u16> = slots.iter().flat_map(|r| r.slots()).collect();
                    jobs.push((from, to, others, slots));
                }
            }
            let finished = AtomicBool::new(false);
            let before = (
                counters.slots.load(Ordering::Relaxed),
                counters.keys.load(Ordering::Relaxed),
            );
            // The movers run in threads of their own; this one reports their progress.
            let outcome = std::thread::scope(|scope| {
                let movers = scope.spawn(|| {
                    let link = migrate::Link {
                        options: &options.connect,
                        deadline: bound(deadline),
                        counters,
                    };
                    let results = in_parallel(&jobs, |(from, to, others, slots)| {
                        migrate::move_slots(from, to, others, slots, &link).map_err(|message| {
                            CreateError::ConvergeStep {
                                node: from.addr.to_string(),
                                message,
                            }
                        })
                    });
                    finished.store(true, Ordering::Relaxed);
                    results.into_iter().collect::<Result<Vec<()>, _>>()
                });
                ticker(&finished, counters, before, total, progress);
                movers.join().expect("a mover panicked")
            });
            outcome?;
        }
    }
    Ok(())
}

/// Progress of the moves once a second, whether or not a count changed.
fn ticker(
    finished: &AtomicBool,
    counters: &Counters,
    before: (usize, u64),
    total: usize,
    progress: Progress,
) {
    let began = Instant::now();
    let mut next = began + Duration::from_secs(1);
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if Instant::now() < next {
            continue;
        }
        next += Duration::from_secs(1);
        let slots = counters.slots.load(Ordering::Relaxed) - before.0;
        let keys = counters.keys.load(Ordering::Relaxed) - before.1;
        progress(&format!(
            "move: {slots}/{total} slots, {keys} keys moved, {:.0} keys/s",
            keys as f64 / began.elapsed().as_secs_f64()
        ));
    }
}

/// Waits until every old node knows every new one and each new one knows every old node and
/// who serves which slot, and reports `cluster_state:ok`: only then may slots move to them or
/// replicas follow them. A node
/// with a stale view of a peer gets a fresh introduction from that peer (as in creation's
/// wait), at most twice a second per pair.
fn wait_met(
    nodes: &Nodes,
    old: &[NodeAddr],
    new: &[NodeAddr],
    deadline: Instant,
    progress: Progress,
) -> Result<(), CreateError> {
    let everyone: Vec<NodeAddr> = old.iter().chain(new).copied().collect();
    let mut introduced: std::collections::BTreeMap<(usize, usize), Instant> =
        std::collections::BTreeMap::new();
    let mut last = usize::MAX;
    loop {
        let views = in_parallel(&everyone, |&a| {
            nodes.on(a, |c| {
                let text: String = command(c, &["CLUSTER", "NODES"])?;
                redis_cluster::parse_cluster_nodes(&text).map_err(|e| e.to_string())
            })
        });
        // What each node says of itself: the truth every view must reach.
        let own: Vec<Option<redis_cluster::NodeLine>> = views
            .iter()
            .map(|v| {
                v.as_ref()
                    .ok()
                    .and_then(|lines| lines.iter().find(|l| l.flags.myself).cloned())
            })
            .collect();
        let mut stale: Vec<(usize, usize)> = Vec::new();
        for (viewer, view) in views.iter().enumerate() {
            let Ok(view) = view else { continue };
            for (subject, truth) in own.iter().enumerate() {
                let Some(truth) = truth.as_ref().filter(|_| subject != viewer) else {
                    continue;
                };
                let current = view.iter().any(|l| {
                    l.id == truth.id
                        && !l.flags.handshake
                        && l.slots == truth.slots
                        && l.flags.master == truth.flags.master
                });
                if !current {
                    stale.push((viewer, subject));
                }
            }
        }
        let mut pending: BTreeSet<usize> = stale.iter().map(|&(v, _)| v).collect();
        let states = in_parallel(new, |&a| {
            nodes.on(a, |c| {
                let info: String = command(c, &["CLUSTER", "INFO"])?;
                Ok(redis_cluster::Info::parse(&info).cluster_state_ok())
            })
        });
        for (k, ok) in states.into_iter().enumerate() {
            if !matches!(ok, Ok(true)) {
                pending.insert(old.len() + k);
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if pending.len() != last {
            progress(&format!(
                "meet: {}/{} nodes know every node and the slot map",
                everyone.len() - pending.len(),
                everyone.len()
            ));
            last = pending.len();
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = pending.iter().map(|&i| everyone[i].to_string()).collect();
            return Err(CreateError::NotSettled {
                reason: format!(
                    "{} did not learn every node and the slot map in time; check that the cluster bus ports (port + 10000) are reachable",
                    names.join(", ")
                ),
            });
        }
        let now = Instant::now();
        let due: Vec<(usize, usize)> = stale
            .into_iter()
            .filter(|pair| {
                introduced
                    .get(pair)
                    .is_none_or(|at| now.duration_since(*at) >= Duration::from_millis(500))
            })
            .collect();
        for pair in &due {
            introduced.insert(*pair, now);
        }
        // Best effort: a failed introduction only leaves the slower path of gossip.
        in_parallel(&due, |&(viewer, subject)| {
            nodes.on(everyone[subject], |c| {
                meet(c, std::iter::once(everyone[viewer]))
            })
        });
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Coordinated `CLUSTER FAILOVER` on `node`, waited for; asked again if Redis gave it up.
fn failover(nodes: &Nodes, node: NodeAddr, deadline: Instant) -> Result<(), CreateError> {
    let is_master = |c: &mut Connection| {
        let info: String = command(c, &["INFO", "replication"])?;
        Ok(redis_cluster::Info::parse(&info).get("role") == Some("master"))
    };
    loop {
        if nodes.on(node, is_master)? {
            return Ok(());
        }
        nodes.on(node, |c| command::<()>(c, &["CLUSTER", "FAILOVER"]))?;
        // Redis gives a manual failover up after 5 s (CLUSTER_MF_TIMEOUT).
        let retry_at = Instant::now() + Duration::from_secs(6);
        while Instant::now() < retry_at.min(deadline) {
            std::thread::sleep(Duration::from_millis(20));
            if nodes.on(node, is_master)? {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(CreateError::NotSettled {
                reason: format!(
                    "{node} did not take over from its master in time (CLUSTER FAILOVER)"
                ),
            });
        }
    }
}

/// `CLUSTER REPLICATE` as soon as `node` knows its new master as a master.
fn replicate(
    nodes: &Nodes,
    node: NodeAddr,
    master_id: &str,
    deadline: Instant,
) -> Result<(), CreateError> {
    loop {
        let outcome = nodes.on(node, |c| {
            match command::<()>(c, &["CLUSTER", "REPLICATE", master_id]) {
                // It has not learned the master yet, or not yet that a failover made it one.
                Err(e) if e.contains("Unknown node") || e.contains("only replicate a master") => {
                    Ok(false)
                }
                other => other.map(|()| true),
            }
        })?;
        if outcome {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CreateError::NotSettled {
                reason: format!("{node} does not know its new master {master_id} yet"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The usability wait of creation against the target layout.
fn wait_usable(
    target: &Plan,
    options: &ConvergeOptions,
    deadline: Instant,
    progress: Progress,
) -> Result<bool, CreateError> {
    let addrs: Vec<NodeAddr> = target.nodes().map(|(a, _)| a).collect();
    let sessions = Sessions::new(addrs.clone(), &options.connect, bound(deadline));
    let ids: Vec<String> = sessions
        .each(|_, c| command(c, &["CLUSTER", "MYID"]))
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|message| CreateError::ConvergeStep {
                node: addrs[i].to_string(),
                message,
            })
        })
        .collect::<Result<_, _>>()?;
    let expected = wait::expectations(target, &ids);
    let report = |ready: usize, total: usize| {
        progress(&format!(
            "waiting for the cluster: {ready}/{total} nodes ready"
        ));
    };
    let (snapshots, ready) =
        wait::until_ready(&sessions, &expected, Duration::from_millis(50), &report);
    if !ready {
        return Err(CreateError::NotReady {
            waited: options.timeout,
            diagnosis: wait::diagnose(&expected, &snapshots, &wait::reach),
        });
    }
    Ok(true)
}
