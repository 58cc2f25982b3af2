//! The administrative commands the tools send, as typed calls: each builds its words once and
//! returns a typed value or a [`Failure`] whose error replies carry their [`ErrorKind`](crate::ErrorKind),
//! so callers decide by kind (`AlreadyOwner`, `NotAMaster`, `Io` …) what to do. Calls that act
//! on many slots at once go in one round trip and return one result per slot.

use std::time::{Duration, Instant};

use redis::Value;

use crate::connection::{Connection, Failure};
use crate::deadline::Deadline;
use crate::errors::{ErrorKind, ServerError};
use crate::info::Info;
use crate::nodes::{parse_cluster_nodes, NodeLine};
use crate::resp::Reply;
use crate::{NodeAddr, Server, SlotRange};

/// What `CLUSTER SETSLOT` does to a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState<'a> {
    /// Receiving the slot from the node with this id.
    Importing(&'a str),
    /// Giving the slot to the node with this id.
    Migrating(&'a str),
    /// Neither.
    Stable,
    /// Served by the node with this id.
    Node(&'a str),
}

/// How `CLUSTER FAILOVER` is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverMode {
    /// With the master's agreement: no write is lost.
    Coordinated,
    /// Without the master, with the other masters' votes.
    Force,
    /// Without the master and without votes: the replica takes a new config epoch itself.
    Takeover,
}

/// The node id of the node asked.
pub fn myid(c: &mut Connection) -> Result<String, Failure> {
    c.query_as(&["CLUSTER", "MYID"])
}

/// The node's `CLUSTER NODES`, parsed.
pub fn cluster_nodes(c: &mut Connection) -> Result<Vec<NodeLine>, Failure> {
    let text: String = c.query_as(&["CLUSTER", "NODES"])?;
    parse_cluster_nodes(&text).map_err(|e| Failure::Protocol(e.to_string()))
}

/// `CLUSTER INFO`, parsed.
pub fn cluster_info(c: &mut Connection) -> Result<Info, Failure> {
    let text: String = c.query_as(&["CLUSTER", "INFO"])?;
    Ok(Info::parse(&text))
}

/// Whether the node is a master, from `INFO replication` (what it is now, not what its peers
/// think).
pub fn is_master(c: &mut Connection) -> Result<bool, Failure> {
    let text: String = c.query_as(&["INFO", "replication"])?;
    Ok(Info::parse(&text).get("role") == Some("master"))
}

/// Keys in the selected database.
pub fn dbsize(c: &mut Connection) -> Result<u64, Failure> {
    c.query_as(&["DBSIZE"])
}

/// `CLUSTER SETSLOT` for every slot of `slots`, in one round trip; one result per slot.
pub fn setslot(
    c: &mut Connection,
    slots: &[u16],
    state: SlotState,
) -> Result<Vec<Result<(), ServerError>>, Failure> {
    let numbers: Vec<String> = slots.iter().map(u16::to_string).collect();
    let commands: Vec<Vec<&str>> = numbers
        .iter()
        .map(|slot| {
            let mut words = vec!["CLUSTER", "SETSLOT", slot.as_str()];
            match state {
                SlotState::Importing(id) => words.extend(["IMPORTING", id]),
                SlotState::Migrating(id) => words.extend(["MIGRATING", id]),
                SlotState::Stable => words.push("STABLE"),
                SlotState::Node(id) => words.extend(["NODE", id]),
            }
            words
        })
        .collect();
    each(c, &commands)
}

/// What server the node runs, from `INFO server`.
pub fn server(c: &mut Connection) -> Result<Server, Failure> {
    let text: String = c.query_as(&["INFO", "server"])?;
    Server::from_info(&Info::parse(&text))
        .ok_or_else(|| Failure::Protocol("INFO server names no server version".to_string()))
}

/// Assigns `ranges` to the node: `CLUSTER ADDSLOTSRANGE` where the server has it, `ADDSLOTS`
/// with every slot named where it does not (Redis 6.2).
pub fn assign_slots(c: &mut Connection, ranges: &[SlotRange]) -> Result<(), Failure> {
    let ranged = server(c)?.has_slot_ranges();
    let words: Vec<String> = if ranged {
        ranges
            .iter()
            .flat_map(|r| [r.start.to_string(), r.end.to_string()])
            .collect()
    } else {
        ranges
            .iter()
            .flat_map(SlotRange::slots)
            .map(|s| s.to_string())
            .collect()
    };
    let command = if ranged { "ADDSLOTSRANGE" } else { "ADDSLOTS" };
    let mut all = vec!["CLUSTER", command];
    all.extend(words.iter().map(String::as_str));
    c.query(&all).map(drop)
}

/// [`assign_slots`], then `CLUSTER BUMPEPOCH` so the claim wins over any stale one.
pub fn add_slots(c: &mut Connection, ranges: &[SlotRange]) -> Result<(), Failure> {
    assign_slots(c, ranges)?;
    c.query(&["CLUSTER", "BUMPEPOCH"]).map(drop)
}

/// `CLUSTER REPLICATE`: the node follows the master with `master_id`.
pub fn replicate(c: &mut Connection, master_id: &str) -> Result<(), Failure> {
    c.query(&["CLUSTER", "REPLICATE", master_id]).map(drop)
}

/// `CLUSTER REPLICATE` as soon as the node knows its master, and knows it as a master (a node
/// just met, or just promoted by a failover, is not yet either everywhere); `false` when
/// `deadline` passes first. Creation and converge both attach replicas this way.
pub fn replicate_when_known(
    c: &mut Connection,
    master_id: &str,
    deadline: Deadline,
) -> Result<bool, Failure> {
    loop {
        match replicate(c, master_id) {
            Ok(()) => return Ok(true),
            Err(f)
                if matches!(
                    f.kind(),
                    Some(ErrorKind::UnknownNode | ErrorKind::NotAMaster)
                ) =>
            {
                if deadline.passed() {
                    return Ok(false);
                }
                deadline.sleep_until(Instant::now() + KNOWN_POLL)?;
            }
            Err(f) => return Err(f),
        }
    }
}

/// How often [`replicate_when_known`] asks again.
const KNOWN_POLL: Duration = Duration::from_millis(10);

/// `CLUSTER FORGET`.
pub fn forget(c: &mut Connection, id: &str) -> Result<(), Failure> {
    c.query(&["CLUSTER", "FORGET", id]).map(drop)
}

/// `CLUSTER FAILOVER`, sent to a replica.
pub fn failover(c: &mut Connection, mode: FailoverMode) -> Result<(), Failure> {
    let words: &[&str] = match mode {
        FailoverMode::Coordinated => &["CLUSTER", "FAILOVER"],
        FailoverMode::Force => &["CLUSTER", "FAILOVER", "FORCE"],
        FailoverMode::Takeover => &["CLUSTER", "FAILOVER", "TAKEOVER"],
    };
    c.query(words).map(drop)
}

/// `CLUSTER RESET HARD`: a new id, no peers, no slots (refused by a master holding keys).
pub fn reset_hard(c: &mut Connection) -> Result<(), Failure> {
    c.query(&["CLUSTER", "RESET", "HARD"]).map(drop)
}

/// `CLUSTER MEET` for every peer, in one round trip.
pub fn meet(c: &mut Connection, peers: &[NodeAddr]) -> Result<(), Failure> {
    let words: Vec<[String; 2]> = peers
        .iter()
        .map(|p| [p.ip_string(), p.0.port().to_string()])
        .collect();
    let commands: Vec<Vec<&str>> = words
        .iter()
        .map(|[ip, port]| vec!["CLUSTER", "MEET", ip, port])
        .collect();
    match each(c, &commands)?.into_iter().find_map(Result::err) {
        Some(e) => Err(Failure::server(&e.text)),
        None => Ok(()),
    }
}

/// One setting (`CONFIG GET`).
pub fn config_get(c: &mut Connection, name: &str) -> Result<String, Failure> {
    let pair: Vec<String> = c.query_as(&["CONFIG", "GET", name])?;
    pair.into_iter()
        .nth(1)
        .ok_or_else(|| Failure::Protocol(format!("CONFIG GET {name}: no value")))
}

/// `CONFIG SET`.
pub fn config_set(c: &mut Connection, name: &str, value: &str) -> Result<(), Failure> {
    c.query(&["CONFIG", "SET", name, value]).map(drop)
}

/// Up to `per_slot` key names of each slot of `slots` (`CLUSTER GETKEYSINSLOT`), in one round
/// trip. Key names are kept as bytes: a key is moved under its own name, whatever it holds.
pub fn keys_in_slots(
    c: &mut Connection,
    slots: &[u16],
    per_slot: usize,
) -> Result<Vec<Vec<Vec<u8>>>, Failure> {
    let count = per_slot.to_string();
    let numbers: Vec<String> = slots.iter().map(u16::to_string).collect();
    let commands: Vec<Vec<&str>> = numbers
        .iter()
        .map(|s| vec!["CLUSTER", "GETKEYSINSLOT", s.as_str(), count.as_str()])
        .collect();
    replies(c, &commands)?
        .into_iter()
        .map(|reply| match reply {
            Reply::Value(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::BulkString(bytes) => Ok(bytes),
                    other => Err(Failure::Protocol(format!("unexpected key {other:?}"))),
                })
                .collect(),
            Reply::Value(other) => Err(Failure::Protocol(format!(
                "unexpected GETKEYSINSLOT reply {other:?}"
            ))),
            Reply::Error(text) => Err(Failure::server(&text)),
        })
        .collect()
}

/// The number of keys of each slot of `slots` (`CLUSTER COUNTKEYSINSLOT`), in one round trip.
pub fn count_keys_in_slots(c: &mut Connection, slots: &[u16]) -> Result<Vec<u64>, Failure> {
    let numbers: Vec<String> = slots.iter().map(u16::to_string).collect();
    let commands: Vec<Vec<&str>> = numbers
        .iter()
        .map(|s| vec!["CLUSTER", "COUNTKEYSINSLOT", s.as_str()])
        .collect();
    replies(c, &commands)?
        .into_iter()
        .map(|reply| match reply {
            Reply::Value(Value::Int(n)) => Ok(u64::try_from(n).unwrap_or(0)),
            Reply::Value(other) => Err(Failure::Protocol(format!(
                "unexpected COUNTKEYSINSLOT reply {other:?}"
            ))),
            Reply::Error(text) => Err(Failure::server(&text)),
        })
        .collect()
}

/// Credentials `MIGRATE` passes on to its target.
#[derive(Debug, Clone, Copy)]
pub struct MigrateAuth<'a> {
    pub user: Option<&'a str>,
    pub password: &'a str,
}

/// One `MIGRATE … KEYS` of keys of one slot.
#[derive(Debug, Clone)]
pub struct Migrate<'a> {
    pub target: NodeAddr,
    pub timeout_ms: u64,
    /// Replace the target's copy of a key that exists there.
    pub replace: bool,
    pub auth: Option<MigrateAuth<'a>>,
    pub keys: &'a [Vec<u8>],
}

/// Every `MIGRATE` of `batches` in one round trip, each after `ASKING` when `asking` (a node
/// that imports a slot answers key commands for it only then); one result per batch.
pub fn migrate(
    c: &mut Connection,
    batches: &[Migrate],
    asking: bool,
) -> Result<Vec<Result<(), ServerError>>, Failure> {
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    for batch in batches {
        if asking {
            commands.push(vec![b"ASKING".to_vec()]);
        }
        let mut words: Vec<Vec<u8>> = [
            "MIGRATE".to_string(),
            batch.target.ip_string(),
            batch.target.0.port().to_string(),
            String::new(),
            "0".to_string(),
            batch.timeout_ms.to_string(),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        if batch.replace {
            words.push(b"REPLACE".to_vec());
        }
        if let Some(auth) = batch.auth {
            match auth.user {
                Some(user) => words.extend([b"AUTH2".to_vec(), user.into(), auth.password.into()]),
                None => words.extend([b"AUTH".to_vec(), auth.password.into()]),
            }
        }
        words.push(b"KEYS".to_vec());
        words.extend(batch.keys.iter().cloned());
        commands.push(words);
    }
    let all = c.exchange(&commands)?;
    let step = if asking { 2 } else { 1 };
    Ok(all
        .into_iter()
        .skip(step - 1)
        .step_by(step)
        .map(|reply| match reply {
            Reply::Value(_) => Ok(()),
            Reply::Error(text) => Err(ServerError::parse(&text)),
        })
        .collect())
}

/// `DUMP` of `key` (after `ASKING` when `asking`): its serialized value, `None` when absent.
pub fn dump(c: &mut Connection, key: &[u8], asking: bool) -> Result<Option<Vec<u8>>, Failure> {
    let mut commands = Vec::new();
    if asking {
        commands.push(vec![b"ASKING".to_vec()]);
    }
    commands.push(vec![b"DUMP".to_vec(), key.to_vec()]);
    match c.exchange(&commands)?.pop() {
        Some(Reply::Value(Value::BulkString(bytes))) => Ok(Some(bytes)),
        Some(Reply::Error(text)) => Err(Failure::server(&text)),
        _ => Ok(None),
    }
}

/// Sends `commands` in one round trip; one result per command.
fn each(
    c: &mut Connection,
    commands: &[Vec<&str>],
) -> Result<Vec<Result<(), ServerError>>, Failure> {
    Ok(replies(c, commands)?
        .into_iter()
        .map(|reply| match reply {
            Reply::Value(_) => Ok(()),
            Reply::Error(text) => Err(ServerError::parse(&text)),
        })
        .collect())
}

fn replies(c: &mut Connection, commands: &[Vec<&str>]) -> Result<Vec<Reply>, Failure> {
    let words: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    c.exchange(&words)
}
