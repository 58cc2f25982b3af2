//! Atomic slot migration: the server moves slots with their keys itself and hands them over in
//! one step, so clients never see ASK and a failed move leaves every slot with its source.
//! Two servers offer it, each its own way:
//!
//! - Valkey 9: `CLUSTER MIGRATESLOTS SLOTSRANGE a b … NODE id` sent to the source, which
//!   answers `OK` and lists the job in `CLUSTER GETSLOTMIGRATIONS`; `CLUSTER
//!   CANCELSLOTMIGRATIONS` (no argument in 9.1, whatever its HELP says) cancels every export of
//!   that source.
//! - Redis 8.4: `CLUSTER MIGRATION IMPORT a b …` sent to the target, which answers the task id;
//!   `CLUSTER MIGRATION STATUS ID id` and `CLUSTER MIGRATION CANCEL ID id`.
//!
//! Both status replies are read here into one [`Job`], so the mover knows one model.

use redis::Value;

use crate::admin::server;
use crate::slots::SlotRange;
use crate::{Connection, Failure, NodeAddr};

/// Which atomic slot migration a server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomic {
    /// Valkey 9: driven from the source.
    Valkey,
    /// Redis 8.4: driven from the target.
    Redis,
}

impl Atomic {
    /// The node of a move that takes the command and reports the job.
    pub fn driver(self, source: NodeAddr, target: NodeAddr) -> NodeAddr {
        match self {
            Atomic::Valkey => source,
            Atomic::Redis => target,
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// On its way; the server's own word for the stage.
    Running(String),
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_over(&self) -> bool {
        !matches!(self, JobState::Running(_))
    }
}

/// One migration job as its driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Valkey's name or Redis's task id.
    pub id: String,
    /// Whether this node is the job's source (Valkey EXPORT, Redis `migrating`).
    pub export: bool,
    pub ranges: Vec<SlotRange>,
    pub source: String,
    pub target: String,
    pub state: JobState,
    /// Why it failed, when it did (empty otherwise).
    pub message: String,
    /// When it was created, in milliseconds since the epoch (Valkey tells seconds).
    pub created_ms: u64,
}

impl Job {
    /// Whether the job moves any of `slots`.
    pub fn covers_any(&self, slots: &[SlotRange]) -> bool {
        self.ranges
            .iter()
            .any(|r| slots.iter().any(|s| s.start <= r.end && r.start <= s.end))
    }
}

/// Starts moving `ranges` from the node of `source` to the node `target_id`, on the driver:
/// the source for Valkey, the target for Redis. Returns the job's id where the server tells it
/// (Redis); Valkey's is found in its job list.
pub fn start(
    driver: &mut Connection,
    kind: Atomic,
    ranges: &[SlotRange],
    target_id: &str,
) -> Result<Option<String>, Failure> {
    let bounds: Vec<String> = ranges
        .iter()
        .flat_map(|r| [r.start.to_string(), r.end.to_string()])
        .collect();
    let mut words: Vec<&str> = match kind {
        Atomic::Valkey => vec!["CLUSTER", "MIGRATESLOTS", "SLOTSRANGE"],
        Atomic::Redis => vec!["CLUSTER", "MIGRATION", "IMPORT"],
    };
    words.extend(bounds.iter().map(String::as_str));
    match kind {
        Atomic::Valkey => {
            words.extend(["NODE", target_id]);
            driver.query(&words).map(|_| None)
        }
        Atomic::Redis => driver.query_as::<String>(&words).map(Some),
    }
}

/// Every job the driver lists: running ones and the recently ended ones it keeps.
pub fn jobs(driver: &mut Connection, kind: Atomic) -> Result<Vec<Job>, Failure> {
    let reply = match kind {
        Atomic::Valkey => driver.query(&["CLUSTER", "GETSLOTMIGRATIONS"])?,
        Atomic::Redis => driver.query(&["CLUSTER", "MIGRATION", "STATUS", "ALL"])?,
    };
    parse_jobs(kind, &reply).map_err(Failure::Protocol)
}

/// What a request to cancel came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    Cancelled,
    /// Not cancelled: a job of the driver is handing its slots over (its stage named), which
    /// cancelling would cut in two. Ask again once it is over.
    HandingOver(String),
}

/// Valkey's export stages from the source's pause for the handover to the target's claim. A
/// source cancelled there unpauses and takes writes for slots the target claims anyway: the
/// write-loss window of Valkey's own design notes, seen here as acknowledged writes lost.
const HANDOVER_STAGES: [&str; 3] = ["waiting-to-pause", "failover-paused", "failover-granted"];

/// Cancels, in one step on the server, every export of a Valkey driver unless one of them is
/// handing over (a script: no migration stage changes while it runs); cancels the job `id` on
/// Redis. Nothing left to cancel is not an error.
pub fn cancel(driver: &mut Connection, kind: Atomic, id: &str) -> Result<Cancel, Failure> {
    match kind {
        Atomic::Valkey => {
            let stages = HANDOVER_STAGES
                .iter()
                .map(|s| format!("['{s}']=true"))
                .collect::<Vec<_>>()
                .join(",");
            let script = format!(
                "local handover = {{{stages}}} \
                 for _, job in ipairs(redis.call('CLUSTER', 'GETSLOTMIGRATIONS')) do \
                   local fields = {{}} \
                   for i = 1, #job, 2 do fields[job[i]] = job[i + 1] end \
                   if fields['operation'] == 'EXPORT' and handover[fields['state']] then \
                     return fields['state'] \
                   end \
                 end \
                 redis.pcall('CLUSTER', 'CANCELSLOTMIGRATIONS') \
                 return ''"
            );
            let said: String = driver.query_as(&["EVAL", &script, "0"])?;
            Ok(if said.is_empty() {
                Cancel::Cancelled
            } else {
                Cancel::HandingOver(said)
            })
        }
        Atomic::Redis => match driver.query(&["CLUSTER", "MIGRATION", "CANCEL", "ID", id]) {
            Err(f) if f.kind() == Some(&crate::ErrorKind::NoMigrations) => Ok(Cancel::Cancelled),
            other => other.map(|_| Cancel::Cancelled),
        },
    }
}

/// Which atomic migration the node has, from its version (Valkey's own, never the
/// `redis_version` it reports).
pub fn offered(c: &mut Connection) -> Result<Option<Atomic>, Failure> {
    Ok(server(c)?.atomic_migration())
}

/// The jobs of a status reply: an array of jobs, each an array of field, value, field, value.
pub fn parse_jobs(kind: Atomic, reply: &Value) -> Result<Vec<Job>, String> {
    let Value::Array(items) = reply else {
        return Err(format!(
            "a list of migration jobs was expected, got {reply:?}"
        ));
    };
    items.iter().map(|item| parse_job(kind, item)).collect()
}

fn parse_job(kind: Atomic, item: &Value) -> Result<Job, String> {
    let Value::Array(words) = item else {
        return Err(format!("a migration job was expected, got {item:?}"));
    };
    let text = |v: &Value| -> String {
        match v {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            _ => String::new(),
        }
    };
    let fields: Vec<(String, String)> = words
        .chunks(2)
        .filter_map(|pair| match pair {
            [name, value] => Some((text(name), text(value))),
            _ => None,
        })
        .collect();
    let field = |name: &str| -> String {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // The two servers name the same facts differently.
    let (id, slots, source, target, operation, state, message) = match kind {
        Atomic::Valkey => (
            "name",
            "slot_ranges",
            "source_node",
            "target_node",
            "operation",
            "state",
            "message",
        ),
        Atomic::Redis => (
            "id",
            "slots",
            "source",
            "dest",
            "operation",
            "state",
            "last_error",
        ),
    };
    let id = field(id);
    if id.is_empty() {
        return Err(format!("a migration job without an id: {fields:?}"));
    }
    let ranges = field(slots)
        .split_whitespace()
        .map(parse_range)
        .collect::<Result<Vec<_>, _>>()?;
    let state_word = field(state);
    let state = match (kind, state_word.as_str()) {
        (Atomic::Valkey, "success") | (Atomic::Redis, "completed" | "done") => JobState::Succeeded,
        (_, "failed") => JobState::Failed,
        (Atomic::Valkey, "cancelled") | (Atomic::Redis, "canceled") => JobState::Cancelled,
        (_, other) => JobState::Running(other.to_string()),
    };
    let operation = field(operation).to_ascii_lowercase();
    let created = field("create_time").parse::<u64>().unwrap_or(0);
    let created_ms = match kind {
        Atomic::Valkey => created.saturating_mul(1000),
        Atomic::Redis => created,
    };
    Ok(Job {
        id,
        export: matches!(operation.as_str(), "export" | "migrate" | "migrating"),
        ranges,
        source: field(source),
        target: field(target),
        state,
        message: field(message),
        created_ms,
    })
}

/// `a-b`, or a single slot `a`.
fn parse_range(text: &str) -> Result<SlotRange, String> {
    let (start, end) = text.split_once('-').unwrap_or((text, text));
    let slot = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|&n| n < crate::SLOT_COUNT)
            .ok_or_else(|| format!("not a slot range: {text:?}"))
    };
    let (start, end) = (slot(start)?, slot(end)?);
    if start > end {
        return Err(format!("not a slot range: {text:?}"));
    }
    Ok(SlotRange::new(start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn job(fields: &[(&str, Value)]) -> Value {
        Value::Array(
            fields
                .iter()
                .flat_map(|(name, value)| [bulk(name), value.clone()])
                .collect(),
        )
    }

    /// As Valkey 9.1.2 answered `CLUSTER GETSLOTMIGRATIONS` on the source in this project's
    /// tests: one job running, one done.
    #[test]
    fn valkey_jobs_are_read() {
        let running = job(&[
            ("name", bulk("5133974b51506635d600ff133311209165ec44dd")),
            ("operation", bulk("EXPORT")),
            ("slot_ranges", bulk("4000-4100 4200-4300")),
            (
                "target_node",
                bulk("ba6b73a757a2ab01cf99f18306cd4a18336a0e95"),
            ),
            (
                "source_node",
                bulk("087a239c5c7a5d08667dbef0ced0fa7f5e6b2947"),
            ),
            ("create_time", Value::Int(1796454671)),
            ("last_update_time", Value::Int(1796454671)),
            ("last_ack_time", Value::Int(1796454671)),
            ("state", bulk("waiting-to-snapshot")),
            ("message", bulk("")),
            ("cow_size", Value::Int(0)),
            ("remaining_repl_size", Value::Int(0)),
        ]);
        let failed = job(&[
            ("name", bulk("aa")),
            ("operation", bulk("IMPORT")),
            ("slot_ranges", bulk("0-3000 5101-8191")),
            ("target_node", bulk("t")),
            ("source_node", bulk("s")),
            ("state", bulk("failed")),
            (
                "message",
                bulk("Connection lost to source. Check CLUSTER GETSLOTMIGRATIONS on the source node for more information."),
            ),
        ]);
        let jobs = parse_jobs(Atomic::Valkey, &Value::Array(vec![running, failed])).unwrap();
        assert_eq!(
            jobs[0].state,
            JobState::Running("waiting-to-snapshot".into())
        );
        assert!(jobs[0].export && !jobs[1].export);
        assert_eq!(
            jobs[0].ranges,
            [SlotRange::new(4000, 4100), SlotRange::new(4200, 4300)]
        );
        assert_eq!(jobs[0].target, "ba6b73a757a2ab01cf99f18306cd4a18336a0e95");
        assert_eq!(jobs[0].created_ms, 1_796_454_671_000);
        assert_eq!(jobs[1].state, JobState::Failed);
        assert!(jobs[1].message.starts_with("Connection lost to source"));
        assert!(jobs[1].covers_any(&[SlotRange::new(3000, 3000)]));
        assert!(!jobs[1].covers_any(&[SlotRange::new(3001, 5100)]));
        for (word, state) in [
            ("success", JobState::Succeeded),
            ("cancelled", JobState::Cancelled),
            ("replicating", JobState::Running("replicating".into())),
        ] {
            let one = job(&[
                ("name", bulk("n")),
                ("slot_ranges", bulk("7")),
                ("state", bulk(word)),
            ]);
            let parsed = parse_jobs(Atomic::Valkey, &Value::Array(vec![one])).unwrap();
            assert_eq!(parsed[0].state, state);
            assert_eq!(parsed[0].ranges, [SlotRange::new(7, 7)]);
        }
    }

    /// Fields as Redis 8.4 writes a task of `CLUSTER MIGRATION STATUS` (its documentation and
    /// `replyTaskStatus`): no 8.4 server is at hand, so the reply is recorded here.
    #[test]
    fn redis_tasks_are_read() {
        let task = |operation: &str, state: &str, error: &str| {
            job(&[
                ("id", bulk("24cf41718b20f7f05901743dffc40bc9b15db339")),
                ("slots", bulk("0-1000 2000-3000")),
                ("source", bulk("a6f810b8a6f810b8a6f810b8a6f810b8a6f810b8")),
                ("dest", bulk("7c5ab2607c5ab2607c5ab2607c5ab2607c5ab260")),
                ("operation", bulk(operation)),
                ("state", bulk(state)),
                ("last_error", bulk(error)),
                ("retries", Value::Int(0)),
                ("create_time", Value::Int(1_790_405_105_443)),
                ("start_time", Value::Int(1_790_405_105_443)),
                ("end_time", Value::Int(1_790_405_105_445)),
                ("write_pause_ms", Value::Int(2)),
            ])
        };
        let reply = Value::Array(vec![
            task("import", "wait-stream-eof", ""),
            task("import", "completed", ""),
            task("migrate", "failed", "connection refused"),
            task("import", "canceled", ""),
        ]);
        let jobs = parse_jobs(Atomic::Redis, &reply).unwrap();
        assert_eq!(jobs[0].id, "24cf41718b20f7f05901743dffc40bc9b15db339");
        assert_eq!(jobs[0].state, JobState::Running("wait-stream-eof".into()));
        assert!(!jobs[0].export && jobs[2].export);
        assert_eq!(jobs[0].source, "a6f810b8a6f810b8a6f810b8a6f810b8a6f810b8");
        assert_eq!(jobs[0].target, "7c5ab2607c5ab2607c5ab2607c5ab2607c5ab260");
        assert_eq!(jobs[1].state, JobState::Succeeded);
        assert_eq!(jobs[1].created_ms, 1_790_405_105_443);
        assert_eq!(
            (&jobs[2].state, jobs[2].message.as_str()),
            (&JobState::Failed, "connection refused")
        );
        assert_eq!(jobs[3].state, JobState::Cancelled);
        assert_eq!(
            jobs[1].ranges,
            [SlotRange::new(0, 1000), SlotRange::new(2000, 3000)]
        );
    }

    #[test]
    fn malformed_replies_are_refused_with_what_was_expected() {
        assert!(parse_jobs(Atomic::Valkey, &Value::Int(3))
            .unwrap_err()
            .starts_with("a list of migration jobs was expected"));
        let bad = job(&[
            ("name", bulk("n")),
            ("slot_ranges", bulk("9-2")),
            ("state", bulk("x")),
        ]);
        assert_eq!(
            parse_jobs(Atomic::Valkey, &Value::Array(vec![bad])).unwrap_err(),
            "not a slot range: \"9-2\""
        );
        let no_id = job(&[("slot_ranges", bulk("1-2"))]);
        assert!(parse_jobs(Atomic::Valkey, &Value::Array(vec![no_id]))
            .unwrap_err()
            .starts_with("a migration job without an id"));
    }
}
