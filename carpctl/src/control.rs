//! The state directory shared by running engines and the `status`, `demote` and `promote`
//! commands: one JSON state file per vhid (what the engine is doing now) and one unix socket
//! per vhid that takes one-line commands and answers with the new state. (The holds that
//! `demote` leaves there are the `hold` module's.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::health::HealthStatus;
use crate::links::LinkState;
use crate::machine::State;
use crate::statedir;
use crate::wire::Defect;

/// What an engine publishes about its vhid in `vhid<N>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineStatus {
    pub vhid: u8,
    pub interface: String,
    pub state: State,
    /// Process id of the engine.
    pub pid: u32,
    /// Our source address.
    pub src: String,
    /// The virtual addresses with prefix length.
    pub vips: Vec<String>,
    pub advbase: u8,
    /// The configured skew.
    pub advskew: u8,
    /// Added to the skew by `carpctl demote`.
    pub demotion: u8,
    /// Added to the skew by interfaces that are down (240 each, as FreeBSD's ifdown demotion).
    #[serde(default)]
    pub link_demotion: u8,
    /// advskew + demotion + link_demotion, capped at 240: what the adverts carry.
    pub effective_skew: u8,
    pub preempt: bool,
    /// Seconds between the announcements a master repeats (`--garp-refresh`); absent when it
    /// repeats none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub garp_refresh: u16,
    /// When the current state was entered (RFC 3339, UTC).
    pub since: String,
    /// Advertisements ignored so far, per defect (ttl, checksum, version, hmac, malformed,
    /// replayed, not_peer, off_link).
    pub bad_adverts: BTreeMap<String, u64>,
    /// Source of the last valid advertisement from another node, if any.
    pub last_peer: Option<String>,
    /// The CARP interface and every tracked one: up, down or missing.
    #[serde(default)]
    pub links: BTreeMap<String, LinkState>,
    /// 2 (CARP) or 3 (VRRPv3).
    #[serde(default = "carp_version")]
    pub carpver: u8,
    /// VRRP: the configured priority.
    #[serde(default)]
    pub vrrpprio: u8,
    /// VRRP: the priority less the demotion (at least 1): what the adverts carry.
    #[serde(default)]
    pub effective_priority: u8,
    /// VRRP: our advertisement interval in centiseconds.
    #[serde(default)]
    pub vrrpinterval: u16,
    /// VRRP: the master's interval as learned from its adverts, in centiseconds.
    #[serde(default)]
    pub master_interval_cs: u16,
    /// The unicast peers; empty for multicast.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Added to the skew by Redis health tracking: 240 while this host's tracked instances
    /// are in fault.
    #[serde(default)]
    pub health_demotion: u8,
    /// Redis health tracking (`--track-redis`), when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<HealthStatus>,
    /// What the engine counted since it started; absent from the state file of an engine
    /// older than these counters. (The advertisements it ignored are `bad_adverts`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
}

/// What an engine counts from its start, for monitoring (`carpctl status --format prom`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// When the engine started, in seconds since the Unix epoch: counters that went down since
    /// the last reading belong to a new engine.
    pub started_unix: u64,
    /// State changes, by the state entered (INIT, BACKUP, MASTER).
    pub transitions: BTreeMap<State, u64>,
    /// Advertisements sent, one per destination (the group, or each peer).
    pub adverts_sent: u64,
    /// Valid advertisements heard from the other nodes of the vhid.
    pub adverts_received: u64,
    /// Announcements repeated while MASTER (`--garp-refresh`), each a gratuitous ARP or
    /// neighbour advertisement per virtual address; absent from an older engine's file.
    #[serde(default)]
    pub garp_refreshes: u64,
}

/// The key of replayed advertisements in `bad_adverts` (the others are [`Defect`] names).
pub const REPLAYED: &str = "replayed";

/// Every key `bad_adverts` can have: why an advertisement was ignored.
pub fn rejection_reasons() -> impl Iterator<Item = &'static str> {
    Defect::ALL.iter().map(|d| d.name()).chain([REPLAYED])
}

fn carp_version() -> u8 {
    crate::settings::CARP
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// A command for a running engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Add to the demotion (the effective skew is capped at 240).
    Demote(u8),
    /// Clear the demotion.
    Promote,
    /// Only report the state.
    Status,
}

impl Request {
    pub fn to_line(self) -> String {
        match self {
            Request::Demote(n) => format!("demote {n}\n"),
            Request::Promote => "promote\n".into(),
            Request::Status => "status\n".into(),
        }
    }

    pub fn parse(line: &str) -> Option<Request> {
        let mut words = line.split_whitespace();
        let request = match (words.next()?, words.next()) {
            ("demote", Some(n)) => Request::Demote(n.parse().ok()?),
            ("promote", None) => Request::Promote,
            ("status", None) => Request::Status,
            _ => return None,
        };
        words.next().is_none().then_some(request)
    }
}

fn state_name(vhid: u8) -> String {
    format!("vhid{vhid}.json")
}

pub fn state_file(dir: &Path, vhid: u8) -> PathBuf {
    dir.join(state_name(vhid))
}

pub fn socket_path(dir: &Path, vhid: u8) -> PathBuf {
    dir.join(format!("vhid{vhid}.sock"))
}

/// Writes `status` to its state file through a temporary file and a rename, so readers never
/// see half a file. It is mode 0644: `status` needs no privilege, and no secret is in it.
pub fn write_status(dir: &Path, status: &EngineStatus) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(status).map_err(std::io::Error::other)?;
    text.push(b'\n');
    statedir::replace(dir, &state_name(status.vhid), &text)
}

/// The state files in `dir` whose engine process is alive, by vhid (for one vhid if given).
/// A state file that cannot be read is skipped with a warning on stderr (a stale or damaged
/// file of one vhid must not hide the engines of the others), and silently when its name says
/// it belongs to another vhid than the one asked for.
pub fn running_engines(dir: &Path, vhid: Option<u8>) -> Result<Vec<EngineStatus>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot read '{}'", dir.display()), e)),
    };
    let mut engines = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(named) = name.to_str().and_then(|n| {
            n.strip_prefix("vhid")?
                .strip_suffix(".json")?
                .parse::<u8>()
                .ok()
        }) else {
            continue;
        };
        if vhid.is_some_and(|v| v != named) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<EngineStatus>(&text).map_err(|e| e.to_string())
            });
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                toolkit::say!(
                    "warning: ignoring state file '{}': {e}; remove it if no engine for vhid {named} runs",
                    entry.path().display()
                );
                continue;
            }
        };
        if status.vhid != named || !process_alive(status.pid) {
            continue;
        }
        engines.push(status);
    }
    engines.sort_by_key(|e| e.vhid);
    Ok(engines)
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// Sends `request` to the engine of `vhid` in `dir` and returns its answer.
pub fn send(dir: &Path, vhid: u8, request: Request) -> Result<EngineStatus, Error> {
    let path = socket_path(dir, vhid);
    let context = || {
        format!(
            "cannot talk to the engine of vhid {vhid} at '{}'",
            path.display()
        )
    };
    let mut stream = UnixStream::connect(&path).map_err(|e| Error::io(context(), e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .and_then(|()| stream.write_all(request.to_line().as_bytes()))
        .map_err(|e| Error::io(context(), e))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| Error::io(context(), e))?;
    if let Some(message) = line.strip_prefix("error ") {
        return Err(Error::Invalid {
            field: "request",
            value: request.to_line().trim().to_string(),
            fix: message.trim().to_string(),
        });
    }
    serde_json::from_str(&line).map_err(|e| Error::io(context(), std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_junk_is_refused() {
        for r in [
            Request::Demote(0),
            Request::Demote(240),
            Request::Promote,
            Request::Status,
        ] {
            assert_eq!(Request::parse(&r.to_line()), Some(r));
        }
        for junk in [
            "",
            "demote",
            "demote 999",
            "demote 1 2",
            "promote now",
            "reboot",
        ] {
            assert_eq!(Request::parse(junk), None, "{junk:?}");
        }
    }

    fn status(vhid: u8, pid: u32) -> EngineStatus {
        EngineStatus {
            vhid,
            interface: "eth0".into(),
            state: State::Backup,
            pid,
            src: "10.0.0.2".into(),
            vips: vec!["10.0.0.100/24".into()],
            advbase: 1,
            advskew: 0,
            demotion: 0,
            effective_skew: 0,
            preempt: false,
            garp_refresh: 0,
            since: "2026-01-01T00:00:00.000Z".into(),
            bad_adverts: BTreeMap::new(),
            last_peer: None,
            link_demotion: 0,
            links: BTreeMap::new(),
            carpver: 2,
            vrrpprio: 100,
            effective_priority: 0,
            vrrpinterval: 100,
            master_interval_cs: 100,
            peers: Vec::new(),
            health_demotion: 0,
            redis: None,
            counters: None,
        }
    }

    #[test]
    fn only_live_engines_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        write_status(dir.path(), &status(10, std::process::id())).unwrap();
        // A pid that cannot exist: above the kernel's pid_max limit.
        write_status(dir.path(), &status(11, 4_194_305)).unwrap();
        std::fs::write(dir.path().join("unrelated.txt"), "x").unwrap();
        let live = running_engines(dir.path(), None).unwrap();
        assert_eq!(live, vec![status(10, std::process::id())]);
        assert!(running_engines(dir.path(), Some(11)).unwrap().is_empty());
        assert!(running_engines(&dir.path().join("absent"), None)
            .unwrap()
            .is_empty());
    }

    /// The counters travel through the state file with their states as keys, and the file of
    /// an engine older than them still reads, without counters.
    #[test]
    fn counters_round_trip_and_an_older_file_has_none() {
        let mut counted = status(10, 1);
        counted.counters = Some(Counters {
            started_unix: 1_767_225_000,
            transitions: BTreeMap::from([(State::Backup, 2), (State::Master, 1)]),
            adverts_sent: 30,
            adverts_received: 4,
            garp_refreshes: 2,
        });
        let text = serde_json::to_string(&counted).unwrap();
        assert!(
            text.contains("\"transitions\":{\"BACKUP\":2,\"MASTER\":1}"),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<EngineStatus>(&text).unwrap(),
            counted
        );
        let older = serde_json::to_string(&status(10, 1)).unwrap();
        assert!(!older.contains("counters"), "{older}");
        assert!(!older.contains("garp_refresh"), "off: not written, {older}");
        assert_eq!(
            serde_json::from_str::<EngineStatus>(&older)
                .unwrap()
                .counters,
            None
        );
    }

    /// Regression: one corrupt `vhidNN.json` made status and demote fail for every engine.
    #[test]
    fn a_corrupt_state_file_hides_no_other_engine() {
        let dir = tempfile::tempdir().unwrap();
        write_status(dir.path(), &status(10, std::process::id())).unwrap();
        std::fs::write(dir.path().join("vhid11.json"), "{\"vhid\": 11, trunc").unwrap();
        std::fs::write(dir.path().join("vhid12.json"), [0xff, 0xfe]).unwrap();
        let live = running_engines(dir.path(), None).unwrap();
        assert_eq!(live, vec![status(10, std::process::id())]);
        assert_eq!(running_engines(dir.path(), Some(10)).unwrap(), live);
        assert!(running_engines(dir.path(), Some(11)).unwrap().is_empty());
        // A file whose name and content disagree counts for neither.
        write_status(dir.path(), &status(13, std::process::id())).unwrap();
        std::fs::rename(
            dir.path().join("vhid13.json"),
            dir.path().join("vhid14.json"),
        )
        .unwrap();
        assert!(running_engines(dir.path(), Some(14)).unwrap().is_empty());
    }
}
