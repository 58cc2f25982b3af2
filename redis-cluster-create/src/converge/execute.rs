//! Carrying out converge steps against the nodes, then the bounded usability wait of creation.
//!
//! Nothing here decides what to do: [`prepare`] observes the cluster (waiting, within the
//! deadline, while Redis still decides whether an unreachable node is dead or fails a dead
//! master over) and asks the planner; [`run`] executes the steps in the batches `schedule` cuts,
//! one function per stage, each batch checked against a fresh observation right before it acts.
//! When a step's facts no longer hold, or a node stops answering, it plans again from what the
//! nodes say instead of stopping, so whatever moved meanwhile (a replica migrated by
//! `cluster-allow-replica-migration`, a manual failover, a failover still settling) is caught up
//! with. A run killed at any moment is finished by running it again: every step is planned from
//! what the nodes say, never from a record of past runs. A run that stops says what the audit of
//! the keys found (see `audit`), never a promise it did not check.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use redis_cluster::admin::{self, FailoverMode, SlotState};
use redis_cluster::session::Sessions;
use redis_cluster::survey::in_parallel;
use redis_cluster::{
    ConnectOptions, Connection, Deadline, ErrorKind, Failure, NodeAddr, Plan, ProbeError,
};

use super::atomic;
use super::audit;
use super::layout::Layout;
use super::migrate::{self, Counters, End, MoveError};
use super::observe::{observe, observe_roles, Observation};
use super::rescue::{self, Rescue};
use super::schedule::{self, Stage};
use super::steps::{self, Converge, ConvergeError, LostSlots, Step};
use super::Migration;
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
    /// How slots move with their keys.
    pub migration: Migration,
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
const MAX_ROUNDS: usize = 8;
/// The first pause before planning again when a step was undone the same way twice in a row,
/// and the longest: the pauses double in between.
const REPEAT_BACKOFF: Duration = Duration::from_millis(250);
const MAX_REPEAT_BACKOFF: Duration = Duration::from_secs(4);
/// The node timeout of new nodes while they join: it is their rejoin delay (see the meet stage).
const NEW_NODE_TIMEOUT_MS: &str = "500";
/// Set to 0 on a master while converge gives it a replica, and back to the cluster's value
/// once the replica is in sync: its new replica's first sync would otherwise wait for it (5 s
/// by default, most of a converge's time), for no other replica to share the sync with.
const SYNC_DELAY: &str = "repl-diskless-sync-delay";
/// How long the cluster is waited for before it is observed and planned again.
const USABLE_WINDOW: Duration = Duration::from_secs(10);
/// How often observations are repeated while waiting for Redis.
const POLL: Duration = Duration::from_millis(100);
/// How often a node is asked again while a step waits for it.
const POLL_FAST: Duration = Duration::from_millis(20);
/// How long a replica may take to hear of its master's slots before a failover is planned
/// again; gossip carries them within a second or two.
const REPLICA_HEARS_SLOTS: Duration = Duration::from_secs(5);
/// How long a won failover may take to be acknowledged by the old master before the executor
/// plans again; on one machine it takes milliseconds.
const PROMOTION_HOLDS: Duration = Duration::from_secs(5);

/// Observes the cluster and plans, waiting within `deadline` while Redis decides whether
/// unreachable nodes are dead and fails dead masters over.
pub fn prepare(
    listed: &[Candidate],
    replicas: u32,
    options: &ConvergeOptions,
    deadline: Deadline,
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
                    .map(|(a, e)| match e {
                        ProbeError::Tls(_) => format!("{a}: {e}"),
                        _ => format!("{a}: unreachable ({e}); check that it runs, or leave it out of the list"),
                    })
                    .collect(),
            });
        }
        if !observation.problems.is_empty() {
            return Err(CreateError::Refused {
                problems: observation.problems,
            });
        }
        let waiting = if !observation.migrations.is_empty() {
            format!(
                "waiting for atomic slot migrations still running: {}",
                toolkit::words::name_list(&observation.migrations, 4)
            )
        } else if observation.suspects.is_empty() {
            match steps::plan(&observation.layout, listed, replicas, options.force) {
                Ok(converge) => {
                    refuse_other_databases(&observation, &converge, options.migration)?;
                    refuse_without_atomic(&observation, &converge, options.migration)?;
                    return Ok((observation, converge));
                }
                Err(e @ ConvergeError::AwaitingFailover(_)) => {
                    match rescue::rescue(&observation.layout, &options.connect, deadline) {
                        Rescue::Promoted(said) => {
                            for line in said {
                                progress(&line);
                            }
                            continue;
                        }
                        Rescue::Waiting(Some(why)) => format!("{e} ({why})"),
                        Rescue::Waiting(None) => e.to_string(),
                    }
                }
                Err(e @ ConvergeError::Disputed { .. }) => e.to_string(),
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
        if deadline.passed() {
            return Err(CreateError::NotSettled { reason: waiting });
        }
        if waiting != last_said {
            progress(&waiting);
            last_said = waiting;
        }
        deadline
            .sleep_until(Instant::now() + POLL)
            .map_err(|signal| CreateError::Interrupted {
                signal,
                doing: "waiting for the cluster to settle",
                next: "no node was changed by this run".to_string(),
            })?;
    }
}

/// `--migration atomic` where an end of a move lacks atomic slot migration: refused before any
/// change, naming the node and its server.
fn refuse_without_atomic(
    observation: &Observation,
    converge: &Converge,
    migration: Migration,
) -> Result<(), CreateError> {
    if migration != Migration::Atomic {
        return Ok(());
    }
    let mut ends: Vec<NodeAddr> = converge
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Move { from, to, .. } => Some([*from, *to]),
            _ => None,
        })
        .flatten()
        .collect();
    ends.sort();
    ends.dedup();
    let lacking: Vec<String> = ends
        .into_iter()
        .filter_map(|addr| {
            let server = observation.servers.get(&addr).copied();
            match server.and_then(|s| s.atomic_migration()) {
                Some(_) => None,
                None => Some(format!(
                    "{addr}: {} has no atomic slot migration (Valkey 9.0 and Redis 8.4 have it)",
                    server.map_or_else(|| "its server".to_string(), |s| s.to_string())
                )),
            }
        })
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    Err(CreateError::NoAtomicMigration { problems: lacking })
}

/// Keys that move key by key (GETKEYSINSLOT and MIGRATE) move in database 0 only; an atomic
/// migration carries every database. A plan that may move keys key by key (a pair without
/// atomic migration in common, `--migration keys`, or slots a key-by-key move left open) while
/// a node holds keys in another database would leave those behind, out of clients' reach, so
/// it is refused before any change.
fn refuse_other_databases(
    observation: &Observation,
    converge: &Converge,
    migration: Migration,
) -> Result<(), CreateError> {
    if observation.other_databases.is_empty() {
        return Ok(());
    }
    let server = |addr: &NodeAddr| observation.servers.get(addr).copied();
    let atomic = |from: &NodeAddr, to: &NodeAddr| {
        migration != Migration::Keys && atomic::common(server(from), server(to)).is_some()
    };
    let open = observation
        .layout
        .nodes
        .iter()
        .any(|n| !n.migrating.is_empty() || !n.importing.is_empty());
    let key_by_key = converge.steps.iter().any(|s| match s {
        Step::Move { from, to, .. } => open || !atomic(from, to),
        Step::CloseSlot { .. } => true,
        _ => false,
    });
    if !key_by_key {
        return Ok(());
    }
    let mut problems = observation.other_databases.clone();
    problems.push(
        "this plan moves keys one by one, which moves database 0 only (atomic slot migration \
         moves them all, where both ends have it: Valkey 9, Redis 8.4): move those keys to \
         database 0 or delete them first (SELECT n, then MOVE key 0), then converge again"
            .to_string(),
    );
    Err(CreateError::Refused { problems })
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
    fn new(addrs: BTreeSet<NodeAddr>, options: &ConnectOptions, deadline: Deadline) -> Nodes {
        Nodes {
            sessions: Sessions::new(addrs.into_iter().collect(), options, deadline),
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
        work: impl FnOnce(&mut Connection) -> Result<R, Failure>,
    ) -> Result<R, Halt> {
        self.sessions
            .with(self.index(addr), work)
            .map_err(|failure| halt(addr, failure))
    }

    fn id(&self, addr: NodeAddr) -> Result<String, Halt> {
        self.on(addr, admin::myid)
    }

    /// Runs `work` on every node but `except`, at once.
    fn others(
        &self,
        except: &[NodeAddr],
        work: impl Fn(&mut Connection) -> Result<(), Failure> + Sync,
    ) -> Result<(), Halt> {
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

/// Runs `first` (the steps of a plan made moments ago, or of a saved one) batch by batch, each
/// batch checked against a fresh observation right before it acts; when the cluster moved on
/// under the plan (a failover, a replica migrated by Redis, a view that lagged), plans again
/// from what the nodes say, until nothing is left; then waits until the cluster is usable.
pub fn run(
    listed: &[Candidate],
    replicas: u32,
    first: Converge,
    options: &ConvergeOptions,
    started: Instant,
    progress: Progress,
) -> Result<ConvergeReport, CreateError> {
    // The one bound of the whole run: every connection, reply and wait gets what is left.
    let deadline = Deadline::after(options.timeout.saturating_sub(started.elapsed()));
    let counters = Counters::default();
    let mut log = Log::default();
    let changed = !first.steps.is_empty();
    let mut converge = first;
    let seeds: Vec<NodeAddr> = listed.iter().map(|c| c.addr).collect();
    let mut round = 0;
    let mut last_replan = String::new();
    let mut backoff = Duration::ZERO;
    let usable = loop {
        if converge.steps.is_empty() {
            let all: Vec<NodeAddr> = converge.target.nodes().map(|(a, _)| a).collect();
            let masters: Vec<NodeAddr> = converge.target.masters.iter().map(|m| m.addr).collect();
            align_setting("cluster-node-timeout", &masters, &all, &options.connect)
                .map_err(|why| CreateError::NotSettled { reason: why })?;
            let began = Instant::now();
            // Waited for in windows: a cluster that is not usable after one may have moved
            // under the plan (a promoted replica that did not take a slot, a master turned
            // replica whose slots a peer dropped), and a fresh plan finds what to do.
            let window = deadline.remaining().unwrap_or_default().min(USABLE_WINDOW);
            let waited = wait_usable(&converge.target, options, Deadline::after(window), progress);
            log.lap(Stage::Wait, began.elapsed().as_secs_f64());
            match waited {
                Err(CreateError::NotReady { .. }) if !deadline.passed() => {
                    deadline
                        .check()
                        .map_err(|signal| CreateError::Interrupted {
                            signal,
                            doing: "waiting for the cluster to be usable",
                            next: "every step is done; run the same converge again to wait for it"
                                .to_string(),
                        })?;
                    let (_, next) = prepare(listed, replicas, options, deadline, progress)
                        .map_err(|e| audited(e, &seeds, options))?;
                    if !next.steps.is_empty() {
                        progress(&format!(
                            "not usable yet, and the cluster moved under the plan; {} more",
                            toolkit::words::counted(next.steps.len(), "step")
                        ));
                    }
                    converge = next;
                    continue;
                }
                Err(CreateError::NotReady { diagnosis, .. }) => {
                    return Err(CreateError::NotReady {
                        waited: options.timeout,
                        diagnosis,
                    })
                }
                other => break other?,
            }
        }
        round += 1;
        if round > MAX_ROUNDS {
            return Err(CreateError::NotSettled {
                reason: format!(
                    "the cluster keeps changing under the steps (last: {last_replan}); still to do: {}",
                    describe(&converge.steps).join("; ")
                ),
            });
        }
        let outcome = run_steps(
            &converge, &seeds, options, deadline, &counters, &mut log, progress,
        );
        match outcome {
            Ok(()) => {}
            Err(Halt::Replan(why)) => {
                // The same step undone the same way again: Redis is still settling (soak seed
                // 15150: a promoted replica made its old master's replica again eight times in
                // 1.7 s, right after another failover of the shard). The rounds are not spent
                // at once; each repeat waits twice as long as the last.
                backoff = if why == last_replan {
                    (backoff * 2).clamp(REPEAT_BACKOFF, MAX_REPEAT_BACKOFF)
                } else {
                    Duration::ZERO
                };
                progress(&format!("{why}; planning again"));
                last_replan = why;
                deadline
                    .sleep_until(Instant::now() + backoff)
                    .map_err(|signal| {
                        let stop = CreateError::Interrupted {
                            signal,
                            doing: "waiting for the cluster to settle",
                            next: "run the same converge again to finish".to_string(),
                        };
                        audited(stop, &seeds, options)
                    })?;
            }
            Err(Halt::Fail(error)) => return Err(audited(error, &seeds, options)),
        }
        let (_, next) = prepare(listed, replicas, options, deadline, progress)
            .map_err(|e| audited(e, &seeds, options))?;
        if !next.steps.is_empty() {
            progress(&format!(
                "the cluster changed meanwhile; {} more",
                toolkit::words::counted(next.steps.len(), "step")
            ));
        }
        converge = next;
    };
    // Only once every replica link is up: a master's new replica has started its sync.
    let all: Vec<NodeAddr> = converge.target.nodes().map(|(a, _)| a).collect();
    align_setting(SYNC_DELAY, &all, &all, &options.connect)
        .map_err(|why| CreateError::NotSettled { reason: why })?;
    let keys_moved = counters.keys.load(Ordering::Relaxed);
    Ok(ConvergeReport {
        changed,
        usable,
        steps: log.done,
        slots_moved: counters.slots.load(Ordering::Relaxed),
        keys_moved,
        keys_per_second: if log.move_seconds > 0.0 {
            keys_moved as f64 / log.move_seconds
        } else {
            0.0
        },
        stages: log.stages,
        target: converge.target,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// What was done, for the report.
#[derive(Default)]
struct Log {
    done: Vec<DoneStep>,
    stages: Vec<StageTime>,
    move_seconds: f64,
}

impl Log {
    fn lap(&mut self, stage: Stage, seconds: f64) {
        if stage == Stage::Move {
            self.move_seconds += seconds;
        }
        match self.stages.last_mut() {
            Some(last) if last.stage == stage.name() => last.seconds += seconds,
            _ => self.stages.push(StageTime {
                stage: stage.name(),
                seconds,
            }),
        }
    }
}

/// Why a batch stopped.
enum Halt {
    /// The facts it was planned on no longer hold, or a node stopped answering: observe and
    /// plan again.
    Replan(String),
    /// Nothing a new plan would change: stop.
    Fail(CreateError),
}

impl From<CreateError> for Halt {
    fn from(error: CreateError) -> Halt {
        Halt::Fail(error)
    }
}

/// A node's failure while a step runs: passing ones (it died, it timed out, its view of a peer
/// lags, its master went down, a replica still follows it) are for a new plan, made from what
/// the nodes say then; a signal stops the run.
fn halt(node: NodeAddr, failure: Failure) -> Halt {
    let lagging = matches!(
        failure.kind(),
        Some(
            ErrorKind::UnknownNode
                | ErrorKind::NotAMaster
                | ErrorKind::MasterDown
                | ErrorKind::ForgetsOwnMaster
                | ErrorKind::ClusterDown
                | ErrorKind::SlotBusy { .. }
        )
    );
    match failure {
        Failure::Interrupted(signal) => stopped(signal),
        f if f.is_transient() || lagging => Halt::Replan(format!("{node}: {f}")),
        f => Halt::Fail(CreateError::ConvergeStep {
            node: node.to_string(),
            message: f.to_string(),
            audit: String::new(),
        }),
    }
}

/// A run stopped by SIGINT or SIGTERM at a safe point.
fn stopped(signal: toolkit::interrupt::Interrupted) -> Halt {
    Halt::Fail(CreateError::Interrupted {
        signal,
        doing: "converging",
        next: "run the same converge again to finish".to_string(),
    })
}

impl From<MoveError> for Halt {
    fn from(error: MoveError) -> Halt {
        match error {
            MoveError::Stale(why) => Halt::Replan(why),
            MoveError::NotAtomic => Halt::Replan(error.to_string()),
            MoveError::Refused(why) => Halt::Fail(CreateError::ConvergeStep {
                node: String::new(),
                message: why,
                audit: String::new(),
            }),
            MoveError::Failed { node, failure } => halt(node, failure),
        }
    }
}

/// The error of a stopped run, with what the audit of the keys found.
fn audited(error: CreateError, seeds: &[NodeAddr], options: &ConvergeOptions) -> CreateError {
    let statement = audit::statement(seeds, &options.connect);
    match error {
        CreateError::ConvergeStep { node, message, .. } => CreateError::ConvergeStep {
            node,
            message,
            audit: statement,
        },
        CreateError::Interrupted {
            signal,
            doing,
            next,
        } => CreateError::Interrupted {
            signal,
            doing,
            next: format!("{statement}; {next}"),
        },
        CreateError::NotSettled { reason } => CreateError::NotSettled {
            reason: format!("{reason}\n{statement}"),
        },
        other => other,
    }
}

/// Runs the steps of one plan, batch by batch.
fn run_steps(
    converge: &Converge,
    seeds: &[NodeAddr],
    options: &ConvergeOptions,
    deadline: Deadline,
    counters: &Counters,
    log: &mut Log,
    progress: Progress,
) -> Result<(), Halt> {
    for range in schedule::batches(&converge.steps) {
        let batch = &converge.steps[range];
        let stage = batch[0].stage();
        let mut seen: Vec<NodeAddr> = seeds.to_vec();
        seen.extend(converge.target.nodes().map(|(a, _)| a));
        let observation = observe_roles(&seen, &options.connect);
        for step in batch {
            if let Some(why) = schedule::stale(step, &observation.layout) {
                return Err(Halt::Replan(format!("{}: {why}", step.describe())));
            }
        }
        let began = Instant::now();
        progress(&format!(
            "{stage}: {}",
            toolkit::words::name_list(&describe(batch), 4)
        ));
        let live: BTreeSet<NodeAddr> = observation
            .layout
            .nodes
            .iter()
            .filter(|n| n.alive && n.joined)
            .filter_map(|n| n.addr)
            .chain(seen)
            .collect();
        let masters: Vec<NodeAddr> = observation
            .layout
            .nodes
            .iter()
            .filter(|n| n.alive && n.joined && n.is_master())
            .filter_map(|n| n.addr)
            .collect();
        let mut addrs = live.clone();
        addrs.extend(batch.iter().filter_map(|s| match s {
            Step::Remove { node } | Step::Detach { node } => Some(*node),
            _ => None,
        }));
        let nodes = Nodes::new(addrs, &options.connect, deadline);
        let world = World {
            nodes: &nodes,
            live: &live,
            masters: &masters,
            options,
            deadline,
            counters,
            progress,
        };
        match stage {
            Stage::Forget => forget_stage(&world, batch),
            Stage::CloseSlots => close_slots_stage(&world, batch),
            Stage::Detach | Stage::Remove => reset_stage(&world, batch),
            Stage::Meet => meet_stage(&world, batch),
            Stage::Failover => failover_stage(&world, batch),
            Stage::Adopt => adopt_stage(&world, batch),
            Stage::Replicate => replicate_stage(&world, batch),
            Stage::Move => move_stage(&world, batch),
            Stage::Wait => unreachable!("no step is of the wait stage"),
        }?;
        let seconds = began.elapsed().as_secs_f64();
        log.done.extend(batch.iter().map(|s| DoneStep {
            step: s.clone(),
            seconds,
        }));
        log.lap(stage, seconds);
    }
    Ok(())
}

/// What every stage works with: connections, the cluster as observed before the batch, the
/// bound and the counters.
struct World<'a> {
    nodes: &'a Nodes,
    /// Every live node of the cluster and every node of the target.
    live: &'a BTreeSet<NodeAddr>,
    /// The live masters.
    masters: &'a [NodeAddr],
    options: &'a ConvergeOptions,
    deadline: Deadline,
    counters: &'a Counters,
    progress: Progress<'a>,
}

impl World<'_> {
    fn link(&self) -> migrate::Link<'_> {
        migrate::Link {
            options: &self.options.connect,
            deadline: self.deadline,
            counters: self.counters,
        }
    }

    /// `CLUSTER FORGET id` on every node but `except`, at once; a node that does not know it
    /// has nothing to forget.
    fn forget_everywhere(&self, id: &str, except: &[NodeAddr]) -> Result<(), Halt> {
        self.nodes.others(except, |c| match admin::forget(c, id) {
            Err(f) if f.kind() == Some(&ErrorKind::UnknownNode) => Ok(()),
            other => other,
        })
    }
}

/// Every dead node forgotten on every live node, all at once, so every node has forgotten them
/// well within Redis' 60 s ban.
fn forget_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    for step in batch {
        if let Step::Forget { id, .. } = step {
            world.forget_everywhere(id, &[])?;
        }
    }
    Ok(())
}

/// Keys of an open slot back to its owner from every node that holds some, then the slot
/// closed on each. A holder that lost its importing state (a failover, a restart) is told to
/// import again first: it serves the keys to MIGRATE only then.
fn close_slots_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    for step in batch {
        let Step::CloseSlot {
            slot,
            owner,
            sources,
        } = step
        else {
            continue;
        };
        let owner_id = world.nodes.id(*owner)?;
        for &source in sources {
            let replies = world.nodes.on(source, |c| {
                admin::setslot(c, &[*slot], SlotState::Importing(&owner_id))
            })?;
            for reply in replies {
                match reply {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind, ErrorKind::AlreadyOwner { .. }) => {
                        return Err(Halt::Replan(format!("{source} serves slot {slot} now")));
                    }
                    Err(e) => return Err(halt(source, Failure::Server(e))),
                }
            }
            migrate::move_back(source, *owner, *slot, &world.link())?;
        }
        for &node in sources.iter().chain([owner]) {
            world
                .nodes
                .on(node, |c| admin::setslot(c, &[*slot], SlotState::Stable))?;
        }
    }
    Ok(())
}

/// Detach (a replica to become an empty master) and remove (a node left out): forgotten by
/// every other node, then reset. A master still holding keys is refused by name.
fn reset_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    for step in batch {
        let (Step::Detach { node } | Step::Remove { node }) = step else {
            continue;
        };
        let id = world.nodes.id(*node)?;
        let (keys, master) = world
            .nodes
            .on(*node, |c| Ok((admin::dbsize(c)?, admin::is_master(c)?)))?;
        if master && keys > 0 {
            return Err(Halt::Fail(CreateError::ConvergeStep {
                node: node.to_string(),
                message: format!(
                    "holds {} although it serves no slot; not reset: move or delete them and run again",
                    toolkit::words::counted(keys, "key")
                ),
                audit: String::new(),
            }));
        }
        world.forget_everywhere(&id, &[*node])?;
        world.nodes.on(*node, admin::reset_hard)?;
    }
    Ok(())
}

/// New nodes introduced to every node, and waited for until every view is current.
fn meet_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    let nodes = world.nodes;
    let new: Vec<NodeAddr> = batch
        .iter()
        .filter_map(|s| match s {
            Step::Meet { node } => Some(*node),
            _ => None,
        })
        .collect();
    let old: Vec<NodeAddr> = world
        .live
        .iter()
        .copied()
        .filter(|a| !new.contains(a))
        .collect();
    // A new master refuses everything (CLUSTERDOWN) for its rejoin delay, its own
    // cluster-node-timeout, after it learns the cluster; MIGRATE to it would fail.
    // It holds nothing yet, so its timeout is lowered meanwhile and then set to the cluster's
    // (by this run, or by the next if this one is killed: see `align_setting`).
    in_parallel(&new, |&a| {
        nodes.on(a, |c| {
            admin::config_set(c, "cluster-node-timeout", NEW_NODE_TIMEOUT_MS)
        })
    })
    .into_iter()
    .collect::<Result<Vec<()>, Halt>>()?;
    let met = in_parallel(&old, |&a| nodes.on(a, |c| admin::meet(c, &new)))
        .into_iter()
        .collect::<Result<Vec<()>, Halt>>()
        .and_then(|_| wait_met(nodes, &old, &new, world.deadline, world.progress));
    let aligned = align_setting(
        "cluster-node-timeout",
        world.masters,
        &new,
        &world.options.connect,
    );
    met?;
    aligned.map_err(|why| {
        Halt::Fail(CreateError::ConvergeStep {
            node: String::new(),
            message: why,
            audit: String::new(),
        })
    })?;
    Ok(())
}

/// Gives every node of `nodes` whose setting `name` differs from the one most nodes of
/// `reference` have that value: what a run lowered for a while (a new node's node timeout
/// during its meet, a master's diskless sync delay while its new replica syncs), and what a run
/// killed meanwhile left lowered. Works after a signal too, within a bound of its own.
fn align_setting(
    name: &str,
    reference: &[NodeAddr],
    nodes: &[NodeAddr],
    options: &ConnectOptions,
) -> Result<(), String> {
    let deadline = Deadline::after(crate::apply::RESTORE_BOUND).ignoring_signals();
    let asked: Vec<NodeAddr> = reference
        .iter()
        .chain(nodes)
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let values: Vec<Result<String, String>> = in_parallel(&asked, |&a| {
        Connection::open(a, options, deadline)
            .and_then(|mut c| admin::config_get(&mut c, name))
            .map_err(|f| format!("{a}: CONFIG GET {name}: {f}"))
    });
    let value_of = |addr: &NodeAddr| &values[asked.iter().position(|a| a == addr).expect("asked")];
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for value in reference.iter().filter_map(|m| value_of(m).as_ref().ok()) {
        *counts.entry(value).or_default() += 1;
    }
    let Some(wanted) = counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v) else {
        return Ok(());
    };
    in_parallel(nodes, |a| {
        let current = value_of(a).clone()?;
        if current == wanted {
            return Ok(());
        }
        Connection::open(*a, options, deadline)
            .and_then(|mut c| admin::config_set(&mut c, name, wanted))
            .map_err(|f| format!("{a}: {name} is {current}, not the cluster's {wanted}, and setting it failed: {f}"))
    })
    .into_iter()
    .collect()
}

fn failover_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    let pairs: Vec<(NodeAddr, NodeAddr)> = batch
        .iter()
        .filter_map(|s| match s {
            Step::Failover { node, master } => Some((*node, *master)),
            _ => None,
        })
        .collect();
    let (connections, deadline) = (world.nodes, world.deadline);
    in_parallel(&pairs, |&(node, master)| {
        failover(connections, node, master, deadline)
    })
    .into_iter()
    .collect::<Result<Vec<()>, Halt>>()?;
    Ok(())
}

fn adopt_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    for step in batch {
        if let Step::Adopt { node, slots } = step {
            world.nodes.on(*node, |c| admin::add_slots(c, slots))?;
        }
    }
    Ok(())
}

fn replicate_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    let pairs: Vec<(NodeAddr, NodeAddr)> = batch
        .iter()
        .filter_map(|s| match s {
            Step::Replicate { node, master } => Some((*node, *master)),
            _ => None,
        })
        .collect();
    let (nodes, deadline) = (world.nodes, world.deadline);
    let masters: BTreeSet<NodeAddr> = pairs.iter().map(|&(_, m)| m).collect();
    for &master in &masters {
        // Best effort: without it the sync only starts later.
        let _ = nodes.on(master, |c| admin::config_set(c, SYNC_DELAY, "0"));
    }
    in_parallel(&pairs, |&(node, master)| {
        let id = nodes.id(master)?;
        replicate(nodes, node, &id, deadline)
    })
    .into_iter()
    .collect::<Result<Vec<()>, Halt>>()?;
    Ok(())
}

/// Every move of the batch at once, each pair in a thread of its own; this thread reports
/// their progress.
fn move_stage(world: &World, batch: &[Step]) -> Result<(), Halt> {
    let counters = world.counters;
    let total: usize = batch
        .iter()
        .map(|s| match s {
            Step::Move { slots, .. } => slots.iter().map(|r| r.count()).sum(),
            _ => 0,
        })
        .sum();
    let mut jobs = Vec::new();
    for step in batch {
        if let Step::Move { from, to, slots } = step {
            let from = End {
                addr: *from,
                id: world.nodes.id(*from)?,
            };
            let to = End {
                addr: *to,
                id: world.nodes.id(*to)?,
            };
            let others: Vec<NodeAddr> = world
                .masters
                .iter()
                .copied()
                .filter(|&a| a != from.addr && a != to.addr)
                .collect();
            let slots: Vec<u16> = slots.iter().flat_map(|r| r.slots()).collect();
            let atomic = match world.options.migration {
                Migration::Keys => None,
                // A node that does not say what it runs is for a new plan, not a guess.
                Migration::Auto | Migration::Atomic => atomic::common(
                    Some(world.nodes.on(from.addr, admin::server)?),
                    Some(world.nodes.on(to.addr, admin::server)?),
                ),
            };
            if atomic.is_none() && world.options.migration == Migration::Atomic {
                return Err(Halt::Fail(CreateError::NoAtomicMigration {
                    problems: vec![format!(
                        "{} to {}: the two ends have no atomic slot migration in common",
                        from.addr, to.addr
                    )],
                }));
            }
            jobs.push((from, to, others, slots, atomic));
        }
    }
    let finished = AtomicBool::new(false);
    let before = (
        counters.slots.load(Ordering::Relaxed),
        counters.keys.load(Ordering::Relaxed),
    );
    let link = world.link();
    let outcome = std::thread::scope(|scope| {
        let movers = scope.spawn(|| {
            let results = in_parallel(&jobs, |(from, to, others, slots, atomic)| match atomic {
                // Slots an interrupted key-by-key move left open go on key by key.
                Some(kind) => match atomic::move_slots(*kind, from, to, slots, &link) {
                    Err(MoveError::NotAtomic) => {
                        migrate::move_slots(from, to, others, slots, &link)
                    }
                    other => other,
                },
                None => migrate::move_slots(from, to, others, slots, &link),
            });
            finished.store(true, Ordering::Relaxed);
            results
        });
        ticker(
            &finished,
            counters,
            before,
            total,
            world.deadline,
            world.progress,
        );
        movers.join().expect("a mover panicked")
    });
    // A refusal or failure outweighs a stale plan: it is what the operator must see.
    let mut replan = None;
    for result in outcome {
        match result {
            Ok(()) => {}
            Err(MoveError::Stale(why)) => replan = Some(why),
            Err(other) => return Err(other.into()),
        }
    }
    replan.map_or(Ok(()), |why| Err(Halt::Replan(why)))
}

/// Progress of the moves once a second, whether or not a count changed.
fn ticker(
    finished: &AtomicBool,
    counters: &Counters,
    before: (usize, u64),
    total: usize,
    deadline: Deadline,
    progress: Progress,
) {
    let began = Instant::now();
    let mut next = began + Duration::from_secs(1);
    while !finished.load(Ordering::Relaxed) {
        // The movers see the signal or the deadline themselves and finish; there is nothing
        // left to report meanwhile, and no reason to spin.
        if deadline.sleep_until(Instant::now() + POLL_FAST).is_err() || deadline.passed() {
            return;
        }
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
    deadline: Deadline,
    progress: Progress,
) -> Result<(), Halt> {
    let everyone: Vec<NodeAddr> = old.iter().chain(new).copied().collect();
    let mut introduced: std::collections::BTreeMap<(usize, usize), Instant> =
        std::collections::BTreeMap::new();
    let mut last = usize::MAX;
    loop {
        let views = in_parallel(&everyone, |&a| nodes.on(a, admin::cluster_nodes));
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
            nodes.on(a, |c| Ok(admin::cluster_info(c)?.cluster_state_ok()))
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
        if deadline.passed() {
            let names: Vec<String> = pending.iter().map(|&i| everyone[i].to_string()).collect();
            return Err(Halt::Fail(CreateError::NotSettled {
                reason: format!(
                    "{} did not learn every node and the slot map in time; check that the cluster bus ports (port + 10000) are reachable",
                    names.join(", ")
                ),
            }));
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
            nodes.on(everyone[subject], |c| admin::meet(c, &[everyone[viewer]]))
        });
        pause(deadline, POLL_FAST)?;
    }
}

/// How a hand-over of a master role ([`hand_over`]) came out.
#[derive(Debug)]
pub enum Handed {
    /// `node` is master and its old master calls itself its replica.
    Done,
    /// The cluster moved under it (a lagging view, a failover undone): survey again.
    Moved(String),
}

/// Coordinated `CLUSTER FAILOVER` of `master` to its replica `node`, as the converge step
/// does it: asked once `node` sees every slot of `master`, and held until the old master
/// calls itself the new one's replica. For `maintenance`.
pub fn hand_over(
    node: NodeAddr,
    master: NodeAddr,
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<Handed, CreateError> {
    let nodes = Nodes::new(BTreeSet::from([node, master]), options, deadline);
    match failover(&nodes, node, master, deadline) {
        Ok(()) => Ok(Handed::Done),
        Err(Halt::Replan(why)) => Ok(Handed::Moved(why)),
        Err(Halt::Fail(error)) => Err(error),
    }
}

/// Coordinated `CLUSTER FAILOVER` on `node`, waited for; asked again if Redis gave it up.
/// Asked only once `node` sees every slot its master serves: a replica takes over the slots it
/// believes its master has, so one that has not yet heard of a slot just added to its master
/// (an adopted one) would leave it claimed by a replica, served by nobody.
fn failover(
    nodes: &Nodes,
    node: NodeAddr,
    master: NodeAddr,
    deadline: Deadline,
) -> Result<(), Halt> {
    let heard_by = Instant::now() + REPLICA_HEARS_SLOTS;
    while !replica_sees_master_slots(nodes, node, master)? {
        if Instant::now() >= heard_by {
            return Err(Halt::Replan(format!(
                "{node} does not see every slot of its master {master} yet"
            )));
        }
        pause(deadline, POLL)?;
    }
    loop {
        if nodes.on(node, admin::is_master)? {
            return promotion_holds(nodes, node, master, deadline);
        }
        nodes.on(node, |c| admin::failover(c, FailoverMode::Coordinated))?;
        // Redis gives a manual failover up after 5 s (CLUSTER_MF_TIMEOUT).
        let retry_at = Instant::now() + Duration::from_secs(6);
        while Instant::now() < retry_at && !deadline.passed() {
            pause(deadline, POLL_FAST)?;
            if nodes.on(node, admin::is_master)? {
                return promotion_holds(nodes, node, master, deadline);
            }
        }
        if deadline.passed() {
            return Err(Halt::Fail(CreateError::NotSettled {
                reason: format!(
                    "{node} did not take over from its master in time (CLUSTER FAILOVER)"
                ),
            }));
        }
    }
}

/// Waits until the failover of `old_master` to `node` has held: `node` still a master and
/// `old_master` calling itself its replica. A won election can still be undone: elections run
/// side by side collide on epochs, the old master's claim may win, and `node`, made its replica
/// again, drops by full resync every key moved into it meanwhile (soak seed 13055: 231 keys).
fn promotion_holds(
    nodes: &Nodes,
    node: NodeAddr,
    old_master: NodeAddr,
    deadline: Deadline,
) -> Result<(), Halt> {
    let id = nodes.id(node)?;
    let settled_by = Instant::now() + PROMOTION_HOLDS;
    loop {
        if !nodes.on(node, admin::is_master)? {
            return Err(Halt::Replan(format!(
                "{node} took over from {old_master} and was made its replica again"
            )));
        }
        let view = nodes.on(old_master, admin::cluster_nodes)?;
        if view
            .iter()
            .any(|l| l.flags.myself && l.master_id.as_deref() == Some(id.as_str()))
        {
            return Ok(());
        }
        if Instant::now() >= settled_by {
            return Err(Halt::Replan(format!(
                "{old_master} does not call itself a replica of {node} yet"
            )));
        }
        pause(deadline, POLL_FAST)?;
    }
}

/// Whether `replica` believes its master serves exactly the slots `master` says it serves.
fn replica_sees_master_slots(
    nodes: &Nodes,
    replica: NodeAddr,
    master: NodeAddr,
) -> Result<bool, Halt> {
    let own = nodes.on(master, admin::cluster_nodes)?;
    let Some(me) = own.iter().find(|l| l.flags.myself) else {
        return Ok(false);
    };
    let view = nodes.on(replica, admin::cluster_nodes)?;
    Ok(view
        .iter()
        .find(|l| l.id == me.id)
        .is_some_and(|l| l.slots == me.slots))
}

/// `CLUSTER REPLICATE` as soon as `node` knows its new master as a master.
fn replicate(
    nodes: &Nodes,
    node: NodeAddr,
    master_id: &str,
    deadline: Deadline,
) -> Result<(), Halt> {
    if nodes.on(node, |c| {
        admin::replicate_when_known(c, master_id, deadline)
    })? {
        return Ok(());
    }
    Err(Halt::Replan(format!(
        "{node} does not know its new master {master_id} yet"
    )))
}

/// Sleeps `pause`, within `deadline`; a signal stops the run.
fn pause(deadline: Deadline, pause: Duration) -> Result<(), Halt> {
    deadline
        .sleep_until(Instant::now() + pause)
        .map_err(stopped)
}

/// The usability wait of creation against the target layout.
pub fn wait_usable(
    target: &Plan,
    options: &ConvergeOptions,
    deadline: Deadline,
    progress: Progress,
) -> Result<bool, CreateError> {
    let addrs: Vec<NodeAddr> = target.nodes().map(|(a, _)| a).collect();
    let sessions = Sessions::new(addrs.clone(), &options.connect, deadline);
    let ids: Vec<String> = sessions
        .each(|_, c| admin::myid(c))
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|failure| CreateError::ConvergeStep {
                node: addrs[i].to_string(),
                message: failure.to_string(),
                audit: String::new(),
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
