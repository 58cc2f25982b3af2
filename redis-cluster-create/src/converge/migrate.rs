//! Moving slots with their keys, online, in the documented order: IMPORTING on the target,
//! MIGRATING on the source, keys copied by `MIGRATE … KEYS` until the source holds none, then
//! `SETSLOT NODE` on the target, the source and every other master. Clients meanwhile see only
//! ASK (for keys already moved) and MOVED (once the slot is moved), so no acknowledged write is
//! lost.
//!
//! Slots go in chunks: each command is sent for the whole chunk in one round trip (a pipeline),
//! and one `MIGRATE` carries the keys of every slot of the chunk, where redis-cli spends several
//! round trips per slot and ten keys per `MIGRATE`. Each source→target pair runs in its own
//! thread with its own connections. A run killed at any point leaves at most one chunk of open
//! slots per pair, which the next run finishes (see `steps`).
//!
//! Every phase is safe to repeat, and the replies of an earlier, interrupted run are expected:
//! a target that already serves a slot ("already the owner") gets the rest of the move only; a
//! node whose view of the other end lags ("not a master", "unknown node") is asked again until
//! gossip has reached it; a `MIGRATE` that timed out is sent again on new connections; a target
//! that lost its importing state (a restart) is told again. A source that no longer serves a
//! slot means the plan is stale: the move stops with [`MoveError::Stale`] and the executor plans
//! again.
//!
//! `BUSYKEY` (the key exists on the target too): while the source serves the slot, clients
//! read and write the source's copy of every key it still holds, and the target's copy is
//! reachable by no client; so on a move away from the serving node the target's copy is
//! replaced. Moving keys back to the serving node (an interrupted import), the serving node's
//! copy is the one clients see: the key is replaced only if both copies are equal, and
//! otherwise the slot is left open and the key named.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_cluster::admin::{self, Migrate, MigrateAuth, SlotState};
use redis_cluster::{
    ConnectOptions, Connection, Deadline, ErrorKind, Failure, NodeAddr, ServerError,
};

/// Slots per round trip.
const CHUNK: usize = 128;
/// Keys asked for per slot and round trip.
const KEYS_PER_SLOT: usize = 1000;
/// Keys per `MIGRATE` at most.
const KEYS_PER_MIGRATE: usize = 2000;
/// Bound on one `MIGRATE`, in milliseconds (its own timeout, sent with the command).
const MIGRATE_TIMEOUT_MS: u64 = 10_000;
/// How long a node's view of the other end may lag (gossip reaches every node within a few
/// pings) before the move is given back to the planner.
const LAG_BOUND: Duration = Duration::from_secs(10);
/// Pause between two tries while a view lags or a node is busy.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Tries of one batch of keys that failed in passing (IOERR, TRYAGAIN, a dropped connection).
const MIGRATE_TRIES: usize = 5;

/// Counts shared by every mover, read by the progress ticker.
#[derive(Debug, Default)]
pub struct Counters {
    pub slots: AtomicUsize,
    pub keys: AtomicU64,
}

/// A node of a move: its address and id.
#[derive(Debug, Clone)]
pub struct End {
    pub addr: NodeAddr,
    pub id: String,
}

/// Why a move stopped.
#[derive(Debug)]
pub enum MoveError {
    /// The slots are not where the step was planned: plan again from what the nodes say.
    Stale(String),
    /// A key needs a person's decision; the slot stays open.
    Refused(String),
    /// The server would not move these slots atomically (SETSLOT markers of a key-by-key
    /// move are on them): they move key by key instead.
    NotAtomic,
    /// A node did not answer, or answered what no rule here expects.
    Failed { node: NodeAddr, failure: Failure },
}

impl std::fmt::Display for MoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoveError::Stale(why) | MoveError::Refused(why) => f.write_str(why),
            MoveError::NotAtomic => f.write_str("the slots are open for a key-by-key move"),
            MoveError::Failed { node, failure } => write!(f, "{node}: {failure}"),
        }
    }
}

/// Which way keys go, which decides what `BUSYKEY` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Away from the node that serves the slot: the target's copy is replaced.
    Away,
    /// Back to the node that serves the slot: replaced only when both copies are equal.
    Back,
}

/// What every move shares: credentials, the bound of the run, the counters.
pub struct Link<'a> {
    pub options: &'a ConnectOptions,
    pub deadline: Deadline,
    pub counters: &'a Counters,
}

/// Moves `slots` from `from` to `to`; `others` are the other masters to tell.
pub fn move_slots(
    from: &End,
    to: &End,
    others: &[NodeAddr],
    slots: &[u16],
    link: &Link,
) -> Result<(), MoveError> {
    let mut pair = Pair::open(from.addr, to.addr, Direction::Away, link)?;
    pair.until_target_serves()?;
    let mut rest: Vec<Connection> = others
        .iter()
        .filter_map(|&a| Connection::open(a, link.options, link.deadline).ok())
        .collect();
    for chunk in slots.chunks(CHUNK) {
        pair.import(chunk, &from.id)?;
        let served = pair.lagging("MIGRATING", |pair| {
            admin::setslot(&mut pair.source, chunk, SlotState::Migrating(&to.id))
                .map_err(|f| pair.failed_source(f))
        })?;
        let mut moving = Vec::new();
        for (&slot, reply) in chunk.iter().zip(served) {
            match reply {
                Ok(()) => moving.push(slot),
                // Moved by an earlier run up to the target's claim; the source agrees already.
                Err(e)
                    if matches!(e.kind, ErrorKind::NotOwner { .. })
                        && pair.target_owns(slot)? => {}
                Err(e) if matches!(e.kind, ErrorKind::NotOwner { .. }) => {
                    return Err(MoveError::Stale(format!(
                        "{}: slot {slot} is no longer served by it",
                        from.addr
                    )))
                }
                Err(e) => return Err(pair.failed_source(Failure::Server(e))),
            }
        }
        pair.drain(&moving)?;
        pair.settle(chunk, &to.id)?;
        // Best effort: the other masters learn the new owner by gossip anyway; telling them
        // only spares clients a redirection.
        for connection in &mut rest {
            let _ = admin::setslot(connection, chunk, SlotState::Node(&to.id));
        }
        link.counters
            .slots
            .fetch_add(chunk.len(), Ordering::Relaxed);
    }
    Ok(())
}

/// Moves every key `holder` has in `slot` back to `owner`, which serves it.
pub fn move_back(
    holder: NodeAddr,
    owner: NodeAddr,
    slot: u16,
    link: &Link,
) -> Result<(), MoveError> {
    Pair::open(holder, owner, Direction::Back, link)?.drain(&[slot])
}

/// The two ends of one move, connected, and how `BUSYKEY` is decided between them.
struct Pair<'a> {
    source: Connection,
    source_addr: NodeAddr,
    target: Connection,
    target_addr: NodeAddr,
    direction: Direction,
    link: &'a Link<'a>,
}

/// The outcome of one try while a view may lag: the replies, or a lag to wait out.
type Tried<T> = Result<T, MoveError>;

impl<'a> Pair<'a> {
    fn open(
        source_addr: NodeAddr,
        target_addr: NodeAddr,
        direction: Direction,
        link: &'a Link<'a>,
    ) -> Result<Pair<'a>, MoveError> {
        let connect = |addr| {
            Connection::open(addr, link.options, link.deadline).map_err(|failure| {
                MoveError::Failed {
                    node: addr,
                    failure,
                }
            })
        };
        Ok(Pair {
            source: connect(source_addr)?,
            source_addr,
            target: connect(target_addr)?,
            target_addr,
            direction,
            link,
        })
    }

    fn failed_source(&self, failure: Failure) -> MoveError {
        MoveError::Failed {
            node: self.source_addr,
            failure,
        }
    }

    fn failed_target(&self, failure: Failure) -> MoveError {
        MoveError::Failed {
            node: self.target_addr,
            failure,
        }
    }

    /// New connections to both ends, after one was dropped or timed out.
    fn reopen(&mut self) -> Result<(), MoveError> {
        let link = self.link;
        self.source = Connection::open(self.source_addr, link.options, link.deadline)
            .map_err(|f| self.failed_source(f))?;
        self.target = Connection::open(self.target_addr, link.options, link.deadline)
            .map_err(|f| self.failed_target(f))?;
        Ok(())
    }

    /// Runs `attempt` until no reply says that a node lags (its view of the other end: it does
    /// not know the other node yet, or not yet as a master; or, on Valkey, its replicas, which
    /// must confirm a SETSLOT before it answers), within [`LAG_BOUND`].
    fn lagging<T>(
        &mut self,
        what: &str,
        mut attempt: impl FnMut(&mut Self) -> Tried<Vec<Result<T, ServerError>>>,
    ) -> Tried<Vec<Result<T, ServerError>>> {
        let until = Instant::now() + LAG_BOUND;
        loop {
            let replies = attempt(self)?;
            let lag = replies.iter().find_map(|r| match r {
                Err(e)
                    if matches!(
                        e.kind,
                        ErrorKind::UnknownNode | ErrorKind::NotAMaster | ErrorKind::NoReplicas
                    ) =>
                {
                    Some(e.text.clone())
                }
                _ => None,
            });
            let Some(lag) = lag else { return Ok(replies) };
            if Instant::now() >= until {
                return Err(MoveError::Stale(format!(
                    "SETSLOT {what} between {} and {}: {lag}",
                    self.source_addr, self.target_addr
                )));
            }
            self.pause()?;
        }
    }

    fn pause(&self) -> Result<(), MoveError> {
        self.link
            .deadline
            .sleep_until(Instant::now() + RETRY_PAUSE)
            .map_err(|i| self.failed_source(Failure::Interrupted(i)))?;
        if self.link.deadline.passed() {
            return Err(self.failed_source(Failure::NoReply {
                bound: self.link.deadline.bound(),
            }));
        }
        Ok(())
    }

    /// Waits, within [`LAG_BOUND`], until the target reports `cluster_state:ok`: a master that
    /// has just joined refuses keys (CLUSTERDOWN) for its rejoin delay.
    fn until_target_serves(&mut self) -> Result<(), MoveError> {
        let until = Instant::now() + LAG_BOUND;
        loop {
            let info = admin::cluster_info(&mut self.target).map_err(|f| self.failed_target(f))?;
            if info.cluster_state_ok() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(MoveError::Stale(format!(
                    "{} does not report cluster_state:ok",
                    self.target_addr
                )));
            }
            self.pause()?;
        }
    }

    /// IMPORTING on the target for every slot it does not serve already.
    fn import(&mut self, chunk: &[u16], source_id: &str) -> Result<(), MoveError> {
        let replies = self.lagging("IMPORTING", |pair| {
            admin::setslot(&mut pair.target, chunk, SlotState::Importing(source_id))
                .map_err(|f| pair.failed_target(f))
        })?;
        for reply in replies {
            match reply {
                Ok(()) => {}
                // An earlier run got as far as giving it the slot.
                Err(e) if matches!(e.kind, ErrorKind::AlreadyOwner { .. }) => {}
                Err(e) => return Err(self.failed_target(Failure::Server(e))),
            }
        }
        Ok(())
    }

    /// Whether the target serves `slot` in its own view.
    fn target_owns(&mut self, slot: u16) -> Result<bool, MoveError> {
        let lines = admin::cluster_nodes(&mut self.target).map_err(|f| self.failed_target(f))?;
        Ok(lines
            .iter()
            .find(|l| l.flags.myself)
            .is_some_and(|me| me.slots.iter().any(|r| r.start <= slot && slot <= r.end)))
    }

    /// `SETSLOT NODE` on the target, then on the source: the slots are the target's.
    fn settle(&mut self, chunk: &[u16], target_id: &str) -> Result<(), MoveError> {
        let settled = self.lagging("NODE", |pair| {
            admin::setslot(&mut pair.target, chunk, SlotState::Node(target_id))
                .map_err(|f| pair.failed_target(f))
        })?;
        for reply in settled {
            reply.map_err(|e| self.failed_target(Failure::Server(e)))?;
        }
        for _ in 0..MIGRATE_TRIES {
            let replies = self.lagging("NODE", |pair| {
                admin::setslot(&mut pair.source, chunk, SlotState::Node(target_id))
                    .map_err(|f| pair.failed_source(f))
            })?;
            let mut holding = Vec::new();
            for (&slot, reply) in chunk.iter().zip(replies) {
                match reply {
                    Ok(()) => {}
                    // A master that loses its last slot turns itself into a replica of the node
                    // that took it (cluster-allow-replica-migration), possibly before this
                    // reaches it: the slots are moved all the same.
                    Err(e) if e.is(&ErrorKind::OnlyMasters) => return Ok(()),
                    Err(e) if matches!(e.kind, ErrorKind::HoldsKeys { .. }) => holding.push(slot),
                    Err(e) => return Err(self.failed_source(Failure::Server(e))),
                }
            }
            if holding.is_empty() {
                return Ok(());
            }
            // A key reached the source after it was drained (another database, a late
            // write through a stale client): drain again.
            self.drain(&holding)?;
        }
        Err(MoveError::Stale(format!(
            "{}: keys keep arriving in slots it gives away",
            self.source_addr
        )))
    }

    /// Copies keys of `slots` from source to target with MIGRATE until the source has none
    /// left.
    fn drain(&mut self, slots: &[u16]) -> Result<(), MoveError> {
        let asking = self.direction == Direction::Back;
        let mut tries = 0;
        loop {
            let outcome = self.drain_once(slots, asking);
            match outcome {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(Passing(why)) => {
                    tries += 1;
                    if tries >= MIGRATE_TRIES {
                        return Err(why);
                    }
                    self.pause()?;
                    self.reopen()?;
                }
                Err(Fatal(why)) => return Err(why),
            }
        }
    }

    /// One round of GETKEYSINSLOT and MIGRATE; `true` when the source held no key.
    fn drain_once(&mut self, slots: &[u16], asking: bool) -> Result<bool, Stop> {
        let per_slot = admin::keys_in_slots(&mut self.source, slots, KEYS_PER_SLOT)
            .map_err(|f| Stop::of(self.failed_source(f)))?;
        // MIGRATE takes the keys of one slot only (Redis refuses others with CROSSSLOT): one
        // command per slot, all in one round trip.
        let batches: Vec<(u16, &[Vec<u8>])> = slots
            .iter()
            .zip(&per_slot)
            .filter(|(_, keys)| !keys.is_empty())
            .flat_map(|(&slot, keys)| keys.chunks(KEYS_PER_MIGRATE).map(move |k| (slot, k)))
            .collect();
        if batches.is_empty() {
            return Ok(true);
        }
        let commands: Vec<Migrate> = batches
            .iter()
            .map(|(_, keys)| self.migrate_of(keys, false))
            .collect();
        let replies = admin::migrate(&mut self.source, &commands, asking)
            .map_err(|f| Stop::of(self.failed_source(f)))?;
        for ((slot, keys), reply) in batches.iter().zip(replies) {
            match reply {
                Ok(()) => {}
                Err(e) if e.is(&ErrorKind::BusyKey) => {
                    self.replace(keys).map_err(Fatal)?;
                }
                // The target no longer imports the slot (it restarted from its nodes.conf):
                // tell it again, then the next round sends the keys again.
                Err(e)
                    if e.relayed
                        && matches!(e.kind, ErrorKind::Moved { .. } | ErrorKind::Ask { .. })
                        && self.direction == Direction::Away =>
                {
                    let id = admin::myid(&mut self.source)
                        .map_err(|f| Stop::of(self.failed_source(f)))?;
                    self.import(&[*slot], &id).map_err(Stop::of)?;
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind,
                        ErrorKind::Io
                            | ErrorKind::TryAgain
                            | ErrorKind::Loading
                            | ErrorKind::ClusterDown
                    ) =>
                {
                    return Err(Passing(self.migrate_failed(e)));
                }
                Err(e) => return Err(Fatal(self.migrate_failed(e))),
            }
            self.link
                .counters
                .keys
                .fetch_add(keys.len() as u64, Ordering::Relaxed);
        }
        Ok(false)
    }

    fn migrate_of<'k>(&self, keys: &'k [Vec<u8>], replace: bool) -> Migrate<'k>
    where
        'a: 'k,
    {
        let options = self.link.options;
        Migrate {
            target: self.target_addr,
            timeout_ms: MIGRATE_TIMEOUT_MS,
            replace,
            auth: options.password.as_deref().map(|password| MigrateAuth {
                user: options.user.as_deref(),
                password,
            }),
            keys,
        }
    }

    /// One MIGRATE that met `BUSYKEY`, decided as the module's documentation says.
    fn replace(&mut self, keys: &[Vec<u8>]) -> Result<(), MoveError> {
        // Moving back, the source imports the slot and serves it only after ASKING.
        let asking = self.direction == Direction::Back;
        if asking {
            for key in keys {
                let here =
                    admin::dump(&mut self.source, key, true).map_err(|f| self.failed_source(f))?;
                let there =
                    admin::dump(&mut self.target, key, false).map_err(|f| self.failed_target(f))?;
                if here.is_some() && there.is_some() && here != there {
                    return Err(MoveError::Refused(format!(
                        "key '{}' on {} differs from its copy on {}, which serves the slot and which clients see; compare them, delete the wrong one and run again",
                        String::from_utf8_lossy(key),
                        self.source_addr,
                        self.target_addr
                    )));
                }
            }
        }
        let command = self.migrate_of(keys, true);
        let reply = admin::migrate(&mut self.source, &[command], asking)
            .map_err(|f| self.failed_source(f))?;
        match reply.into_iter().next() {
            Some(Err(e)) => Err(self.migrate_failed(e)),
            _ => Ok(()),
        }
    }

    /// The source's `MIGRATE` reply `e`, as the failure of the source, naming the target.
    fn migrate_failed(&self, e: ServerError) -> MoveError {
        self.failed_source(Failure::Server(ServerError {
            text: format!("MIGRATE to {}: {}", self.target_addr, e.text),
            ..e
        }))
    }
}

/// How a round of draining ended early.
enum Stop {
    /// In passing (a timeout, a dropped connection, a busy node): try again on new connections.
    Passing(MoveError),
    Fatal(MoveError),
}
use Stop::{Fatal, Passing};

impl Stop {
    /// A failure of a node: passing when asking again may help.
    fn of(error: MoveError) -> Stop {
        match &error {
            MoveError::Failed { failure, .. } if failure.is_transient() => Passing(error),
            _ => Fatal(error),
        }
    }
}
