//! Holds: demotions set by hand (`carpctl demote`), which automatic health checks leave in
//! place: they demote with `--no-hold` and promote with `--unless-held`; `carpctl promote`
//! clears them. One hold per vhid, and one for every engine (vhid none, also for engines that
//! start later), kept together in `hold.json` in the state directory. `demote` and `promote`
//! take `hold.lock` around their whole check-and-act, so a demote by hand cannot fall between
//! the check of `promote --unless-held` and its promote, to be undone by it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::lock::Lock;
use crate::machine::MAX_SKEW;
use crate::statedir;

const HOLD_FILE: &str = "hold.json";
const LOCK_FILE: &str = "hold.lock";
/// How long `demote` and `promote` wait for another one to finish: each engine answers within
/// its control socket's 2 s bound.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// One demotion set by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// What `carpctl demote` added.
    pub demotion: u8,
    /// The engine it was for, or none for every engine.
    pub vhid: Option<u8>,
    /// When it was set (RFC 3339, UTC).
    pub since: String,
}

/// Every hold in place: at most one per vhid and one for every engine, by vhid (every engine
/// first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holds {
    holds: Vec<Hold>,
}

/// What `hold.json` may contain: the table, or the one hold that carpctl wrote before there
/// was one per vhid (read as a table of one).
#[derive(Deserialize)]
#[serde(untagged)]
enum HoldFile {
    Table(Holds),
    Single(Hold),
}

impl Holds {
    /// Reads `hold.json` text, either form.
    pub fn parse(text: &str) -> Result<Holds, serde_json::Error> {
        Ok(match serde_json::from_str(text)? {
            HoldFile::Table(mut holds) => {
                // Kept sorted and one per vhid; a file edited by hand may not be.
                holds.holds.sort_by_key(|h| h.vhid);
                holds.holds.dedup_by_key(|h| h.vhid);
                holds
            }
            HoldFile::Single(hold) => Holds { holds: vec![hold] },
        })
    }

    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }

    /// Sets `hold`, replacing the one of the same vhid (or for every engine) only.
    pub fn set(&mut self, hold: Hold) {
        match self.holds.binary_search_by_key(&hold.vhid, |h| h.vhid) {
            Ok(i) => self.holds[i] = hold,
            Err(i) => self.holds.insert(i, hold),
        }
    }

    /// The holds that concern `vhid`: its own and the one for every engine; every hold when
    /// no vhid is given.
    pub fn concerning(&self, vhid: Option<u8>) -> Vec<&Hold> {
        self.holds
            .iter()
            .filter(|h| vhid.is_none() || h.vhid.is_none() || h.vhid == vhid)
            .collect()
    }

    /// Whether a hold keeps the engine of `vhid` demoted.
    pub fn covers(&self, vhid: u8) -> bool {
        !self.concerning(Some(vhid)).is_empty()
    }

    /// The demotion an engine of `vhid` starts with: what the holds that cover it added, as
    /// the demotes that set them added it to the running engine, capped as the skew is.
    pub fn demotion_for(&self, vhid: u8) -> u8 {
        self.concerning(Some(vhid))
            .iter()
            .fold(0u8, |sum, h| sum.saturating_add(h.demotion))
            .min(MAX_SKEW)
    }

    /// What `promote` leaves: nothing, or with a vhid every hold but that vhid's. A hold for
    /// every engine then stays for each of the other `running` engines (that have none of
    /// their own), so promoting one engine releases no other.
    pub fn release(&mut self, vhid: Option<u8>, running: &[u8]) {
        let Some(vhid) = vhid else {
            self.holds.clear();
            return;
        };
        self.holds.retain(|h| h.vhid != Some(vhid));
        if let Some(every) = self.holds.iter().position(|h| h.vhid.is_none()) {
            let every = self.holds.remove(every);
            for &other in running.iter().filter(|&&v| v != vhid) {
                if !self.holds.iter().any(|h| h.vhid == Some(other)) {
                    self.set(Hold {
                        vhid: Some(other),
                        ..every.clone()
                    });
                }
            }
        }
    }
}

fn hold_file(dir: &Path) -> PathBuf {
    dir.join(HOLD_FILE)
}

/// The holds in `dir`; none when the file is missing.
pub fn read(dir: &Path) -> Result<Holds, Error> {
    let path = hold_file(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Holds::parse(&text).map_err(|e| Error::Invalid {
            field: "hold file",
            value: path.display().to_string(),
            fix: format!("{e}; remove it or run `carpctl promote`"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Holds::default()),
        Err(e) => Err(Error::io(format!("cannot read '{}'", path.display()), e)),
    }
}

/// Records `holds` in `dir` (see [`statedir::replace`]); none left removes the file.
pub fn write(dir: &Path, holds: &Holds) -> Result<(), Error> {
    let path = hold_file(dir);
    let context = || format!("cannot write the holds to '{}'", path.display());
    if holds.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(context(), e)),
            _ => Ok(()),
        };
    }
    let mut text =
        serde_json::to_vec(holds).map_err(|e| Error::io(context(), std::io::Error::other(e)))?;
    text.push(b'\n');
    statedir::replace(dir, HOLD_FILE, &text).map_err(|e| Error::io(context(), e))
}

/// Takes the lock `demote` and `promote` hold from their first look at the holds to their
/// last write, waiting a bounded time for another one to finish.
pub fn lock(dir: &Path) -> Result<Lock, Error> {
    let path = dir.join(LOCK_FILE);
    Lock::take_within(&path, LOCK_WAIT)
        .map_err(|e| Error::io(format!("cannot lock '{}'", path.display()), e))?
        .map_err(|holder| Error::Locked {
            lock: path,
            holder,
            waited: LOCK_WAIT,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(vhid: Option<u8>, demotion: u8) -> Hold {
        Hold {
            demotion,
            vhid,
            since: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    /// Regression: `hold.json` held one hold, so `demote --vhid 11` replaced the hold of vhid
    /// 10 and `promote --vhid 11` cleared every vhid's.
    #[test]
    fn each_vhid_keeps_its_own_hold() {
        let mut holds = Holds::default();
        holds.set(hold(Some(10), 240));
        holds.set(hold(Some(11), 50));
        holds.set(hold(Some(11), 60));
        assert_eq!(
            holds.concerning(None),
            vec![&hold(Some(10), 240), &hold(Some(11), 60)]
        );
        assert!(holds.covers(10) && holds.covers(11) && !holds.covers(12));
        holds.release(Some(11), &[10, 11]);
        assert_eq!(holds.concerning(None), vec![&hold(Some(10), 240)]);
        assert_eq!((holds.demotion_for(10), holds.demotion_for(11)), (240, 0));
        holds.release(None, &[]);
        assert!(holds.is_empty());
    }

    #[test]
    fn a_hold_for_every_engine_covers_each_and_promoting_one_keeps_the_others() {
        let mut holds = Holds::default();
        holds.set(hold(None, 100));
        holds.set(hold(Some(12), 200));
        assert!(holds.covers(99), "also an engine that starts later");
        assert_eq!((holds.demotion_for(10), holds.demotion_for(12)), (100, 240));
        assert_eq!(holds.concerning(Some(10)), vec![&hold(None, 100)]);
        holds.release(Some(10), &[10, 11, 12]);
        assert_eq!(
            holds.concerning(None),
            vec![&hold(Some(11), 100), &hold(Some(12), 200)]
        );
    }

    /// A `hold.json` written before there was one hold per vhid keeps its meaning.
    #[test]
    fn the_single_hold_of_older_versions_is_read() {
        let old = r#"{"demotion":240,"vhid":10,"since":"2026-01-01T00:00:00.000Z"}"#;
        let holds = Holds::parse(old).unwrap();
        assert!(holds.covers(10) && !holds.covers(11));
        let old = r#"{"demotion":240,"vhid":null,"since":"2026-01-01T00:00:00.000Z"}"#;
        assert!(Holds::parse(old).unwrap().covers(11));
        let mut new = Holds::default();
        new.set(hold(Some(10), 240));
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(Holds::parse(&text).unwrap(), new);
        assert!(Holds::parse(r#"{"demotion":240}"#).is_err());
    }

    #[test]
    fn holds_are_written_read_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        let mut holds = Holds::default();
        holds.set(hold(Some(10), 240));
        write(dir.path(), &holds).unwrap();
        assert_eq!(read(dir.path()).unwrap(), holds);
        write(dir.path(), &Holds::default()).unwrap();
        write(dir.path(), &Holds::default()).unwrap();
        assert!(!hold_file(dir.path()).exists());
        std::fs::write(hold_file(dir.path()), "junk").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("hold.json") && e.contains("carpctl promote"),
            "{e}"
        );
    }
}
