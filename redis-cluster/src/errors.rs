//! A server's error reply, parsed once into a kind code can match. Redis tells its errors apart
//! by a leading code word (`MOVED`, `TRYAGAIN`, `IOERR` …) and, for most cluster commands, only by
//! the sentence after `ERR`; both are read here and nowhere else, so the code that acts on an
//! error matches a kind, never searches a string for a phrase. `MIGRATE` passes the target's
//! error on inside its own ("Target instance replied with error: …"): that inner reply is parsed
//! as well and marked as relayed.

use crate::NodeAddr;

/// What went wrong, as far as the tools act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The node does not know a node id it was given (`Unknown node`, `I don't know about node`).
    UnknownNode,
    /// A node named as a master is a replica in this node's view.
    NotAMaster,
    /// `SETSLOT … MIGRATING` on a node that does not serve the slot.
    NotOwner { slot: u16 },
    /// `SETSLOT … IMPORTING` on the node that serves the slot already.
    AlreadyOwner { slot: u16 },
    /// `SETSLOT … NODE` on a source that still holds keys of the slot.
    HoldsKeys { slot: u16 },
    /// `ADDSLOTS` of a slot this node sees served by another node.
    SlotBusy { slot: u16 },
    /// `CLUSTER MIGRATESLOTS` of slots this node does not serve, all or some of them.
    SlotsElsewhere,
    /// `CLUSTER MIGRATESLOTS` of a slot a running job of this node moves already.
    AlreadyMigrating { slot: u16 },
    /// `CLUSTER CANCELSLOTMIGRATIONS` with nothing to cancel.
    NoMigrations,
    /// `CLUSTER MIGRATESLOTS` of a slot with SETSLOT migrating or importing markers.
    ManualMigration,
    /// `CLUSTER REPLICATE` on a master that holds slots or keys.
    NotEmpty,
    /// A command for masters (SETSLOT) sent to a replica.
    OnlyMasters,
    /// `CLUSTER FAILOVER` sent to a master.
    NotAReplica,
    /// `CLUSTER FAILOVER` without FORCE while the master is down.
    MasterDown,
    /// `CLUSTER FORGET` of the node's own master.
    ForgetsOwnMaster,
    /// The key exists on the target (`BUSYKEY`).
    BusyKey,
    /// `MIGRATE` could not reach or hear the target in time (`IOERR`).
    Io,
    /// A multi-key command while its slot is being moved (`TRYAGAIN`).
    TryAgain,
    /// The slot is served by another node.
    Moved { slot: u16, addr: Option<NodeAddr> },
    /// The key is being imported by another node.
    Ask { slot: u16, addr: Option<NodeAddr> },
    /// The node is loading its data set.
    Loading,
    /// The cluster is down, or the slot is not served.
    ClusterDown,
    /// The replicas did not confirm in time (`NOREPLICAS`): Valkey answers `CLUSTER SETSLOT`
    /// only once its replicas have it, and a replica still syncing after a failover does not.
    NoReplicas,
    /// Authentication is needed or was refused.
    Auth,
    /// The ACL user may not run the command.
    NoPermission,
    /// Anything else.
    Other,
}

/// An error reply: its kind and the text as the server wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct ServerError {
    pub kind: ErrorKind,
    /// Whether `MIGRATE` relayed it from its target.
    pub relayed: bool,
    pub text: String,
}

/// The prefix `MIGRATE` puts before an error its target replied.
const RELAYED: &str = "Target instance replied with error: ";

impl ServerError {
    pub fn parse(text: &str) -> ServerError {
        let body = text.strip_prefix("ERR ").unwrap_or(text);
        let (inner, relayed) = match body.strip_prefix(RELAYED) {
            Some(inner) => (inner, true),
            None => (text, false),
        };
        ServerError {
            kind: kind_of(inner),
            relayed,
            text: text.to_string(),
        }
    }

    pub fn is(&self, kind: &ErrorKind) -> bool {
        &self.kind == kind
    }
}

fn kind_of(text: &str) -> ErrorKind {
    let mut words = text.split_whitespace();
    let code = words.next().unwrap_or_default();
    let redirect = |words: &mut std::str::SplitWhitespace| {
        let slot = words.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let addr = words.next().and_then(|a| a.parse().ok());
        (slot, addr)
    };
    match code {
        "MOVED" => {
            let (slot, addr) = redirect(&mut words);
            return ErrorKind::Moved { slot, addr };
        }
        "ASK" => {
            let (slot, addr) = redirect(&mut words);
            return ErrorKind::Ask { slot, addr };
        }
        "BUSYKEY" => return ErrorKind::BusyKey,
        "IOERR" => return ErrorKind::Io,
        "TRYAGAIN" => return ErrorKind::TryAgain,
        "LOADING" => return ErrorKind::Loading,
        "CLUSTERDOWN" => return ErrorKind::ClusterDown,
        "NOREPLICAS" => return ErrorKind::NoReplicas,
        "NOAUTH" | "WRONGPASS" => return ErrorKind::Auth,
        "NOPERM" => return ErrorKind::NoPermission,
        _ => {}
    }
    let sentence = text.strip_prefix("ERR ").unwrap_or(text);
    let slot_after = |prefix: &str| -> Option<u16> {
        sentence
            .strip_prefix(prefix)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    if let Some(slot) = slot_after("I'm not the owner of hash slot ") {
        return ErrorKind::NotOwner { slot };
    }
    if let Some(slot) = slot_after("I'm already the owner of hash slot ") {
        return ErrorKind::AlreadyOwner { slot };
    }
    if let Some(slot) = slot_after("Can't assign hashslot ") {
        return ErrorKind::HoldsKeys { slot };
    }
    if let Some(slot) = slot_after("Slot ").filter(|_| sentence.ends_with("is already busy")) {
        return ErrorKind::SlotBusy { slot };
    }
    if let Some(slot) = slot_after("I am already migrating slot ") {
        return ErrorKind::AlreadyMigrating { slot };
    }
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| sentence.starts_with(p));
    if starts(&["Unknown node", "I don't know about node"]) {
        ErrorKind::UnknownNode
    } else if starts(&[
        "Target node is not a master",
        "I can only replicate a master",
        "The specified node is not a master",
    ]) {
        ErrorKind::NotAMaster
    } else if starts(&[
        "Slots are not served by this node",
        "Requested slots span multiple shards",
    ]) {
        ErrorKind::SlotsElsewhere
    } else if starts(&["Slots are being manually migrated"]) {
        ErrorKind::ManualMigration
    } else if starts(&["No migrations ongoing"]) {
        ErrorKind::NoMigrations
    } else if starts(&["To set a master the node must be empty"]) {
        ErrorKind::NotEmpty
    } else if starts(&["Please use SETSLOT only with masters"]) {
        ErrorKind::OnlyMasters
    } else if starts(&["You should send CLUSTER FAILOVER to a replica"]) {
        ErrorKind::NotAReplica
    } else if starts(&["Master is down or failed"]) {
        ErrorKind::MasterDown
    } else if starts(&["Can't forget my master"]) {
        ErrorKind::ForgetsOwnMaster
    } else if starts(&["AUTH", "invalid password", "invalid username-password"]) {
        ErrorKind::Auth
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> ErrorKind {
        ServerError::parse(text).kind
    }

    #[test]
    fn cluster_command_errors_get_their_kind() {
        assert_eq!(
            kind("ERR I'm already the owner of hash slot 5005"),
            ErrorKind::AlreadyOwner { slot: 5005 }
        );
        assert_eq!(
            kind("ERR I'm not the owner of hash slot 17"),
            ErrorKind::NotOwner { slot: 17 }
        );
        assert_eq!(
            kind("ERR Can't assign hashslot 15161 to a different node while I still hold keys for this hash slot."),
            ErrorKind::HoldsKeys { slot: 15161 }
        );
        assert_eq!(
            kind("ERR Slots are not served by this node."),
            ErrorKind::SlotsElsewhere
        );
        assert_eq!(
            kind("ERR Requested slots span multiple shards"),
            ErrorKind::SlotsElsewhere
        );
        assert_eq!(
            kind("ERR I am already migrating slot 2000."),
            ErrorKind::AlreadyMigrating { slot: 2000 }
        );
        assert_eq!(kind("ERR No migrations ongoing"), ErrorKind::NoMigrations);
        assert_eq!(
            kind("ERR Slots are being manually migrated"),
            ErrorKind::ManualMigration
        );
        assert_eq!(
            kind("ERR Slot 10922 is already busy"),
            ErrorKind::SlotBusy { slot: 10922 }
        );
        assert_eq!(
            kind("ERR Target node is not a master"),
            ErrorKind::NotAMaster
        );
        assert_eq!(
            kind("ERR I can only replicate a master, not a replica."),
            ErrorKind::NotAMaster
        );
        assert_eq!(kind("ERR Unknown node abc"), ErrorKind::UnknownNode);
        assert_eq!(
            kind("ERR I don't know about node abc"),
            ErrorKind::UnknownNode
        );
        assert_eq!(
            kind("ERR Please use SETSLOT only with masters."),
            ErrorKind::OnlyMasters
        );
        assert_eq!(
            kind("ERR To set a master the node must be empty and without assigned slots."),
            ErrorKind::NotEmpty
        );
        assert_eq!(kind("ERR something new"), ErrorKind::Other);
    }

    #[test]
    fn codes_and_redirections_are_read() {
        assert_eq!(
            kind("MOVED 15117 127.0.0.4:7911"),
            ErrorKind::Moved {
                slot: 15117,
                addr: Some("127.0.0.4:7911".parse().unwrap())
            }
        );
        assert_eq!(
            kind("IOERR error or timeout reading to target instance"),
            ErrorKind::Io
        );
        assert_eq!(
            kind("TRYAGAIN Multiple keys request during rehashing of slot"),
            ErrorKind::TryAgain
        );
        assert_eq!(
            kind("LOADING Redis is loading the dataset in memory"),
            ErrorKind::Loading
        );
        assert_eq!(
            kind("WRONGPASS invalid username-password pair"),
            ErrorKind::Auth
        );
        // Seen on Valkey 9.1: SETSLOT right after a failover, the new replica still syncing.
        assert_eq!(
            kind("NOREPLICAS Not enough good replicas to write."),
            ErrorKind::NoReplicas
        );
    }

    // MIGRATE wraps its target's reply: the inner error is what the mover acts on.
    #[test]
    fn errors_relayed_by_migrate_are_parsed_inside() {
        let e = ServerError::parse(
            "ERR Target instance replied with error: MOVED 15117 127.0.0.4:7911",
        );
        assert!(e.relayed);
        assert!(matches!(e.kind, ErrorKind::Moved { slot: 15117, .. }));
        let e = ServerError::parse(
            "ERR Target instance replied with error: BUSYKEY Target key name already exists.",
        );
        assert!(e.relayed && e.is(&ErrorKind::BusyKey));
        assert!(!ServerError::parse("BUSYKEY Target key name already exists.").relayed);
    }
}
