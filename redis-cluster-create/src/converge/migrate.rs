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

use redis::Value;

use redis_cluster::resp::Reply;
use redis_cluster::survey::connect;
use redis_cluster::{ConnectOptions, Connection, Deadline, NodeAddr};

/// Slots per round trip.
const CHUNK: usize = 128;
/// Keys asked for per slot and round trip.
const KEYS_PER_SLOT: usize = 1000;
/// Keys per `MIGRATE` at most.
const KEYS_PER_MIGRATE: usize = 2000;
/// Bound on one `MIGRATE`, in milliseconds (its own timeout, sent with the command).
const MIGRATE_TIMEOUT_MS: &str = "10000";

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

/// Moves `slots` from `from` to `to`; `others` are the other masters to tell.
pub fn move_slots(
    from: &End,
    to: &End,
    others: &[NodeAddr],
    slots: &[u16],
    link: &Link,
) -> Result<(), String> {
    let mut pair = Pair::open(from.addr, to.addr, Direction::Away, link)?;
    let mut rest: Vec<Connection> = others.iter().filter_map(|&a| open(a, link).ok()).collect();
    for chunk in slots.chunks(CHUNK) {
        pipeline(&mut pair.target, to.addr, chunk, |s| {
            setslot(s, "IMPORTING", &from.id)
        })?;
        pipeline(&mut pair.source, from.addr, chunk, |s| {
            setslot(s, "MIGRATING", &to.id)
        })?;
        pair.drain(chunk)?;
        let node = |s: u16| setslot(s, "NODE", &to.id);
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
        link.counters
            .slots
            .fetch_add(chunk.len(), Ordering::Relaxed);
    }
    Ok(())
}

/// Moves every key `holder` has in `slot` back to `owner`, which serves it.
pub fn move_back(holder: NodeAddr, owner: NodeAddr, slot: u16, link: &Link) -> Result<(), String> {
    Pair::open(holder, owner, Direction::Back, link)?.drain(&[slot])
}

/// What every move shares: credentials, the bound of the run, the counters.
pub struct Link<'a> {
    pub options: &'a ConnectOptions,
    pub deadline: Deadline,
    pub counters: &'a Counters,
}

fn open(addr: NodeAddr, link: &Link) -> Result<Connection, String> {
    connect(addr, link.options, link.deadline).map_err(|e| format!("{addr}: {e}"))
}

fn setslot(slot: u16, state: &str, id: &str) -> Vec<String> {
    ["CLUSTER", "SETSLOT", &slot.to_string(), state, id]
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Sends every command in one round trip and returns the replies in order.
fn exchange(
    connection: &mut Connection,
    addr: NodeAddr,
    commands: &[Vec<String>],
) -> Result<Vec<Reply>, String> {
    let words: Vec<Vec<&str>> = commands
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let words: Vec<&[&str]> = words.iter().map(Vec::as_slice).collect();
    connection
        .exchange(&words)
        .map_err(|e| format!("{addr}: {e}"))
}

/// One command per slot of `chunk`, in one round trip; the first error wins.
fn pipeline(
    connection: &mut Connection,
    addr: NodeAddr,
    chunk: &[u16],
    command: impl Fn(u16) -> Vec<String>,
) -> Result<(), String> {
    let commands: Vec<Vec<String>> = chunk.iter().map(|&s| command(s)).collect();
    let replies = exchange(connection, addr, &commands)?;
    for (reply, s) in replies.iter().zip(chunk) {
        if let Reply::Error(e) = reply {
            return Err(format!("{addr}: slot {s}: {e}"));
        }
    }
    Ok(())
}

fn migrate_command(
    target: NodeAddr,
    keys: &[String],
    replace: bool,
    options: &ConnectOptions,
) -> Vec<String> {
    let mut words: Vec<String> = vec![
        "MIGRATE".into(),
        target.ip_string(),
        target.0.port().to_string(),
        String::new(),
        "0".into(),
        MIGRATE_TIMEOUT_MS.into(),
    ];
    if replace {
        words.push("REPLACE".into());
    }
    match (&options.user, &options.password) {
        (Some(user), Some(password)) => {
            words.extend(["AUTH2".to_string(), user.clone(), password.clone()]);
        }
        (None, Some(password)) => words.extend(["AUTH".to_string(), password.clone()]),
        _ => {}
    }
    words.push("KEYS".into());
    words.extend(keys.iter().cloned());
    words
}

/// `command`, after `ASKING` when `asking` (a node that is importing a slot answers key
/// commands for it only then), as commands for one round trip.
fn maybe_asking(command: Vec<String>, asking: bool) -> Vec<Vec<String>> {
    if asking {
        vec![vec!["ASKING".to_string()], command]
    } else {
        vec![command]
    }
}

/// The key names of a `GETKEYSINSLOT` reply. Key names are sent as text, so a key that is not
/// UTF-8 is named and refused rather than moved under another name.
fn keys_of(reply: Reply, addr: NodeAddr, slot: u16) -> Result<Vec<String>, String> {
    match reply {
        Reply::Value(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::BulkString(bytes) => String::from_utf8(bytes).map_err(|e| {
                    format!(
                        "{addr}: slot {slot} holds a key that is not UTF-8 ({:?}); move it by hand and run again",
                        String::from_utf8_lossy(e.as_bytes())
                    )
                }),
                other => Err(format!("{addr}: unexpected key {other:?} in slot {slot}")),
            })
            .collect(),
        Reply::Value(other) => Err(format!("{addr}: unexpected GETKEYSINSLOT reply {other:?}")),
        Reply::Error(e) => Err(format!("{addr}: CLUSTER GETKEYSINSLOT {slot}: {e}")),
    }
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

impl<'a> Pair<'a> {
    fn open(
        source_addr: NodeAddr,
        target_addr: NodeAddr,
        direction: Direction,
        link: &'a Link<'a>,
    ) -> Result<Pair<'a>, String> {
        Ok(Pair {
            source: open(source_addr, link)?,
            source_addr,
            target: open(target_addr, link)?,
            target_addr,
            direction,
            link,
        })
    }

    /// Copies keys of `chunk` from source to target with MIGRATE until the source has none
    /// left.
    fn drain(&mut self, chunk: &[u16]) -> Result<(), String> {
        let (source_addr, target_addr) = (self.source_addr, self.target_addr);
        let asking = self.direction == Direction::Back;
        loop {
            let commands: Vec<Vec<String>> = chunk
                .iter()
                .map(|s| {
                    [
                        "CLUSTER",
                        "GETKEYSINSLOT",
                        &s.to_string(),
                        &KEYS_PER_SLOT.to_string(),
                    ]
                    .iter()
                    .map(ToString::to_string)
                    .collect()
                })
                .collect();
            let replies = exchange(&mut self.source, source_addr, &commands)?;
            let mut per_slot = Vec::new();
            for (reply, &slot) in replies.into_iter().zip(chunk) {
                per_slot.push(keys_of(reply, source_addr, slot)?);
            }
            // MIGRATE takes the keys of one slot only (Redis refuses others with CROSSSLOT): one
            // command per slot, all in one round trip.
            let batches: Vec<&[String]> = per_slot
                .iter()
                .filter(|keys| !keys.is_empty())
                .flat_map(|keys| keys.chunks(KEYS_PER_MIGRATE))
                .collect();
            if batches.is_empty() {
                return Ok(());
            }
            let commands: Vec<Vec<String>> = batches
                .iter()
                .flat_map(|batch| {
                    maybe_asking(
                        migrate_command(target_addr, batch, false, self.link.options),
                        asking,
                    )
                })
                .collect();
            let replies = exchange(&mut self.source, source_addr, &commands)?;
            let step = if asking { 2 } else { 1 };
            for (k, batch) in batches.iter().enumerate() {
                match &replies[k * step + step - 1] {
                    Reply::Value(_) => {}
                    // Redis passes the target's reply on: "Target instance replied with error:
                    // BUSYKEY …". Decided key by key, see the module's documentation.
                    Reply::Error(e) if e.contains("BUSYKEY") => self.migrate(batch)?,
                    Reply::Error(e) => {
                        return Err(format!("{source_addr}: MIGRATE to {target_addr}: {e}"))
                    }
                }
                self.link
                    .counters
                    .keys
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// One MIGRATE that met `BUSYKEY`, decided as the module's documentation says.
    fn migrate(&mut self, keys: &[String]) -> Result<(), String> {
        let (source_addr, target_addr) = (self.source_addr, self.target_addr);
        // Moving back, the source imports the slot and serves it only after ASKING.
        let asking = self.direction == Direction::Back;
        if asking {
            for key in keys {
                let dump = vec!["DUMP".to_string(), key.clone()];
                let copy = |c: &mut Connection, addr, asking| {
                    let replies = exchange(c, addr, &maybe_asking(dump.clone(), asking))?;
                    match replies.last() {
                        Some(Reply::Value(Value::BulkString(bytes))) => Ok(Some(bytes.clone())),
                        Some(Reply::Error(e)) => Err(format!("{addr}: DUMP: {e}")),
                        _ => Ok(None),
                    }
                };
                let here = copy(&mut self.source, source_addr, true)?;
                let there = copy(&mut self.target, target_addr, false)?;
                if here.is_some() && there.is_some() && here != there {
                    return Err(format!(
                        "key '{key}' on {source_addr} differs from its copy on {target_addr}, which serves the slot and which clients see; compare them, delete the wrong one and run again"
                    ));
                }
            }
        }
        let replace = migrate_command(target_addr, keys, true, self.link.options);
        let replies = exchange(
            &mut self.source,
            source_addr,
            &maybe_asking(replace, asking),
        )?;
        match replies.last() {
            Some(Reply::Error(e)) => Err(format!("{source_addr}: MIGRATE to {target_addr}: {e}")),
            _ => Ok(()),
        }
    }
}
