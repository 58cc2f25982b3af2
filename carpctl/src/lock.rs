//! Lock files in the state directory: an flock held as long as the file stays open, so it
//! goes with the process however it ends (a SIGKILL included) and a pid file that outlives
//! its process can never block anyone. The holder writes its pid into the file, only to name
//! it to whoever finds the lock taken. The files stay: removing one while another process
//! waits on it would let a third lock a new file of the same name beside it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::statedir;

/// How often a bounded wait tries again.
const RETRY_EVERY: Duration = Duration::from_millis(20);
/// How many times the holder's pid is looked for (see [`holder`]).
const PID_READS: u32 = 5;

/// A lock held until dropped.
#[derive(Debug)]
pub struct Lock {
    /// Kept open: closing it releases the lock.
    _file: File,
}

/// Who holds a lock that could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// The holder's pid, when it has written it yet.
    pub pid: Option<u32>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}"),
            None => write!(f, "pid unknown"),
        }
    }
}

impl Lock {
    /// Takes the lock on `path` (created 0644, never through a link) if no one holds it.
    pub fn try_take(path: &Path) -> std::io::Result<Result<Lock, Busy>> {
        let mut file =
            statedir::open_no_follow(path, OpenOptions::new().read(true).write(true).create(true))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
                Ok(Ok(Lock { _file: file }))
            }
            Err(TryLockError::WouldBlock) => Ok(Err(Busy {
                pid: holder(&mut file),
            })),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Takes the lock on `path`, waiting at most `within` for its holder to let go.
    pub fn take_within(path: &Path, within: Duration) -> std::io::Result<Result<Lock, Busy>> {
        let end = Instant::now() + within;
        loop {
            match Lock::try_take(path)? {
                Err(_) if Instant::now() < end => std::thread::sleep(RETRY_EVERY),
                taken => return Ok(taken),
            }
        }
    }
}

/// The pid a holder wrote into its lock file. A holder that has just taken the lock writes it
/// a moment later, so an empty file is read again a few times. The pid is a courtesy for the
/// message: unreadable is unknown.
fn holder(file: &mut File) -> Option<u32> {
    for _ in 0..PID_READS {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(pid) = text.trim().parse() {
                return Some(pid);
            }
        }
        std::thread::sleep(RETRY_EVERY);
    }
    None
}

/// The lock file of the engine of `vhid`.
pub fn engine_lock(dir: &Path, vhid: u8) -> PathBuf {
    dir.join(format!("vhid{vhid}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_names_its_holder_and_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = engine_lock(dir.path(), 10);
        let held = Lock::try_take(&path).unwrap().unwrap();
        let busy = Lock::try_take(&path).unwrap().unwrap_err();
        assert_eq!(busy.pid, Some(std::process::id()));
        let started = Instant::now();
        let busy = Lock::take_within(&path, Duration::from_millis(100)).unwrap();
        assert!(busy.is_err() && started.elapsed() >= Duration::from_millis(100));
        drop(held);
        assert!(Lock::try_take(&path).unwrap().is_ok());
    }
}
