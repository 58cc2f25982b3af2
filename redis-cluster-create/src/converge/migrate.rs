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
//! `BUSYKEY` (the key exists on the target too): while the source serves the slot, clients
//! read and write the source's copy of every key it still holds, and the target's copy is
//! reachable by no client; so on a move away from the serving node the target's copy is
//! replaced. Moving keys back to the serving node (an interrupted import), the serving node's
//! copy is the one clients see: the key is replaced only if both copies are equal, and
//! otherwise the slot is left open and the key named.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use redis_cluster::survey::connect;
use redis_cluster::{ConnectOptions, NodeAddr};

/// Slots per round trip.
const CHUNK: usize = 128;
/// Keys asked for per slot and round trip.
const KEYS_PER_SLOT: usize = 1000;
/// Keys per `MIGRATE` at most.
const KEYS_PER_MIGRATE: usize = 2000;
/// Bound on one `MIGRATE`, in milliseconds (its own timeout, sent with the command).
const MIGRATE_TIMEOUT_MS: u64 = 10_000;

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

/// Which way keys go, which decides what `BUSYKEY` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Away from the node that serves the slot: the target's copy is replaced.
    Away,
    /// Back to the node that serves the slot: replaced only when both copies are equal.
    Back,
}

/// Moves `slots` from `from` to `to`; `others` are the other masters to tell. Returns keys moved.
pub fn move_slots(
    from: &End,
    to: &End,
    others: &[NodeAddr],
    slots: &[u16],
    options: &ConnectOptions,
    counters: &Counters,
) -> Result<(), String> {
    let mut pair = Pair::open(from.addr, to.addr, Direction::Away, options, counters)?;
    let mut rest: Vec<redis::Connection> = others
        .iter()
        .filter_map(|&a| open(a, options).ok())
        .collect();
    for chunk in slots.chunks(CHUNK) {
        pipeline(&mut pair.target, to.addr, chunk, |p, s| {
            p.cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("IMPORTING")
                .arg(&from.id);
        })?;
        pipeline(&mut pair.source, from.addr, chunk, |p, s| {
            p.cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("MIGRATING")
                .arg(&to.id);
        })?;
        pair.drain(chunk)?;
        let node = |p: &mut redis::Pipeline, s: u16| {
            p.cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("NODE")
                .arg(&to.id);
        };
        pipeline(&mut pair.target, to.addr, chunk, node)?;
        match pipeline(&mut pair.source, from.addr, chunk, node) {
            // A master that loses its last slot turns itself into a replica of the node that
            // took it (cluster-allow-replica-migration), possibly before this reaches it: the
            // slots are moved all the same.
            Err(e) if e.contains("SETSLOT only with masters") => {}
            other => other?,
        }
        // Best effort: the other masters learn the new owner by gossip anyway; telling them
        // only spares clients a redirection.
        for connection in &mut rest {
            let _ = pipeline(connection, from.addr, chunk, node);
        }
        counters.slots.fetch_add(chunk.len(), Ordering::Relaxed);
    }
    Ok(())
}

/// Moves every key `holder` has in `slot` back to `owner`, which serves it.
pub fn move_back(
    holder: NodeAddr,
    owner: NodeAddr,
    slot: u16,
    options: &ConnectOptions,
    counters: &Counters,
) -> Result<(), String> {
    Pair::open(holder, owner, Direction::Back, options, counters)?.drain(&[slot])
}

fn open(addr: NodeAddr, options: &ConnectOptions) -> Result<redis::Connection, String> {
    let c = connect(addr, options).map_err(|e| format!("{addr}: {e}"))?;
    // MIGRATE waits for the target; give the reply that long and more.
    let bound = Some(Duration::from_millis(MIGRATE_TIMEOUT_MS + 5000));
    c.set_read_timeout(bound)
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(c)
}

/// One command per slot of `chunk`, in one round trip; the first error wins.
fn pipeline(
    connection: &mut redis::Connection,
    addr: NodeAddr,
    chunk: &[u16],
    add: impl Fn(&mut redis::Pipeline, u16),
) -> Result<(), String> {
    let mut p = redis::pipe();
    for &s in chunk {
        add(&mut p, s);
    }
    let replies: Vec<redis::Value> = p.query(connection).map_err(|e| format!("{addr}: {e}"))?;
    for (reply, s) in replies.iter().zip(chunk) {
        if let redis::Value::ServerError(e) = reply {
            return Err(format!(
                "{addr}: slot {s}: {}",
                e.details().unwrap_or(e.code())
            ));
        }
    }
    Ok(())
}

fn migrate_command(
    target: NodeAddr,
    keys: &[Vec<u8>],
    replace: bool,
    options: &ConnectOptions,
) -> redis::Cmd {
    let mut cmd = redis::cmd("MIGRATE");
    cmd.arg(target.ip_string())
        .arg(target.0.port())
        .arg("")
        .arg(0)
        .arg(MIGRATE_TIMEOUT_MS);
    if replace {
        cmd.arg("REPLACE");
    }
    match (&options.user, &options.password) {
        (Some(user), Some(password)) => {
            cmd.arg("AUTH2").arg(user).arg(password);
        }
        (None, Some(password)) => {
            cmd.arg("AUTH").arg(password);
        }
        _ => {}
    }
    cmd.arg("KEYS").arg(keys);
    cmd
}

/// Runs `cmd`, after `ASKING` when `asking`: a node that is importing a slot answers key
/// commands for it only then.
fn query(
    connection: &mut redis::Connection,
    cmd: &redis::Cmd,
    asking: bool,
) -> redis::RedisResult<redis::Value> {
    if !asking {
        return cmd.query(connection);
    }
    let mut p = redis::pipe();
    p.cmd("ASKING").ignore().add_command(cmd.clone());
    let mut replies: Vec<redis::Value> = p.query(connection)?;
    Ok(replies.pop().unwrap_or(redis::Value::Nil))
}

/// The two ends of one move, connected, and how `BUSYKEY` is decided between them.
struct Pair<'a> {
    source: redis::Connection,
    source_addr: NodeAddr,
    target: redis::Connection,
    target_addr: NodeAddr,
    direction: Direction,
    options: &'a ConnectOptions,
    counters: &'a Counters,
}

impl<'a> Pair<'a> {
    fn open(
        source_addr: NodeAddr,
        target_addr: NodeAddr,
        direction: Direction,
        options: &'a ConnectOptions,
        counters: &'a Counters,
    ) -> Result<Pair<'a>, String> {
        Ok(Pair {
            source: open(source_addr, options)?,
            source_addr,
            target: open(target_addr, options)?,
            target_addr,
            direction,
            options,
            counters,
        })
    }

    /// Copies keys of `chunk` from source to target with MIGRATE until the source has none left.
    fn drain(&mut self, chunk: &[u16]) -> Result<(), String> {
        let (source_addr, target_addr) = (self.source_addr, self.target_addr);
        loop {
            let mut p = redis::pipe();
            for &s in chunk {
                p.cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(s)
                    .arg(KEYS_PER_SLOT);
            }
            let per_slot: Vec<Vec<Vec<u8>>> = p
                .query(&mut self.source)
                .map_err(|e| format!("{source_addr}: CLUSTER GETKEYSINSLOT: {e}"))?;
            // MIGRATE takes the keys of one slot only (Redis refuses others with CROSSSLOT): one
            // command per slot, all in one round trip.
            let batches: Vec<&[Vec<u8>]> = per_slot
                .iter()
                .filter(|keys| !keys.is_empty())
                .flat_map(|keys| keys.chunks(KEYS_PER_MIGRATE))
                .collect();
            if batches.is_empty() {
                return Ok(());
            }
            let asking = self.direction == Direction::Back;
            let mut p = redis::pipe();
            p.ignore_errors();
            for batch in &batches {
                if asking {
                    p.cmd("ASKING").ignore();
                }
                p.add_command(migrate_command(target_addr, batch, false, self.options));
            }
            let replies: Vec<redis::RedisResult<redis::Value>> = p
                .query(&mut self.source)
                .map_err(|e| format!("{source_addr}: MIGRATE to {target_addr}: {e}"))?;
            for (batch, reply) in batches.iter().zip(replies) {
                match reply {
                    Ok(_) => {}
                    // Decided key by key, see the module's documentation.
                    // Redis passes the target's reply on: "Target instance replied with error: BUSYKEY …".
                    Err(e) if e.to_string().contains("BUSYKEY") => {
                        self.migrate(batch)?;
                    }
                    Err(e) => return Err(format!("{source_addr}: MIGRATE to {target_addr}: {e}")),
                }
                self.counters
                    .keys
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// One MIGRATE that met `BUSYKEY`, decided as the module's documentation says.
    fn migrate(&mut self, keys: &[Vec<u8>]) -> Result<(), String> {
        let (source_addr, target_addr) = (self.source_addr, self.target_addr);
        // Moving back, the source imports the slot and serves it only after ASKING.
        let asking = self.direction == Direction::Back;
        if asking {
            for key in keys {
                let mut dump = redis::cmd("DUMP");
                dump.arg(key);
                let copy = |c: &mut redis::Connection, asking| match query(c, &dump, asking) {
                    Ok(redis::Value::BulkString(bytes)) => Ok(Some(bytes)),
                    Ok(_) => Ok(None),
                    Err(e) => Err(format!("DUMP: {e}")),
                };
                let (here, there) = (
                    copy(&mut self.source, true)?,
                    copy(&mut self.target, false)?,
                );
                if here.is_some() && there.is_some() && here != there {
                    return Err(format!(
                        "key '{}' on {source_addr} differs from its copy on {target_addr}, which serves the slot and which clients see; compare them, delete the wrong one and run again",
                        String::from_utf8_lossy(key)
                    ));
                }
            }
        }
        let replace = migrate_command(target_addr, keys, true, self.options);
        query(&mut self.source, &replace, asking)
            .map(drop)
            .map_err(|e| format!("{source_addr}: MIGRATE to {target_addr}: {e}"))
    }
}
