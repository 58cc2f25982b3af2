//! Every way carpctl can fail, each with a message a person can act on and an exit code.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Site(#[from] site::SiteError),
    #[error("{0}")]
    PassFile(toolkit::secret::SecretError),
    #[error("invalid {field} '{value}': {fix}")]
    Invalid {
        field: &'static str,
        value: String,
        fix: String,
    },
    #[error("interface '{name}' not found; the interfaces here are: {}", known.join(", "))]
    NoInterface { name: String, known: Vec<String> },
    #[error("interface '{interface}' has no {family} address to send from; add one or pass --src")]
    NoSource {
        interface: String,
        family: &'static str,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("no running engine found in '{}'{}; start one with `carpctl run`", dir.display(), vhid.map(|v| format!(" for vhid {v}")).unwrap_or_default())]
    NoEngine { dir: PathBuf, vhid: Option<u8> },
    /// `status` found nothing to report on: LSB's "program is not running".
    #[error("{0}")]
    NotRunning(String),
    #[error("state directory '{}' {problem}; {}", dir.display(), problem.fix(dir))]
    UnsafeStateDir {
        dir: PathBuf,
        problem: crate::statedir::Problem,
    },
    #[error("an engine for vhid {vhid} already runs ({holder}, holding '{}'); stop it first", lock.display())]
    AlreadyRunning {
        vhid: u8,
        holder: crate::lock::Busy,
        lock: PathBuf,
    },
    #[error("another carpctl demote or promote ({holder}) has held '{}' for {}s; try again once it has finished", lock.display(), waited.as_secs())]
    Locked {
        lock: PathBuf,
        holder: crate::lock::Busy,
        waited: std::time::Duration,
    },
    #[error("cannot parse `ifconfig` output: {0}")]
    Ifconfig(String),
    #[error("{0} (state: {1})")]
    Unexpected(String, String),
    #[error("`{0}` is not available on this system; {1}")]
    Unsupported(&'static str, &'static str),
    #[error("{0}")]
    Output(toolkit::file::OutputError),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `status`: the engine asked for is not running (LSB's code for it).
pub const STATUS_NOT_RUNNING: u8 = 3;

impl toolkit::Failure for Error {
    /// 2 for input that cannot be used as given (the site, a password file, an argument's
    /// value, a state directory others could write in, an output path refused), 3 when `status` finds no engine
    /// (LSB), 1 for everything the system or the engine refused.
    fn exit_code(&self) -> u8 {
        match self {
            Error::NotRunning(_) => STATUS_NOT_RUNNING,
            Error::Output(e) if e.refused => toolkit::BAD_INPUT,
            Error::Site(_)
            | Error::PassFile(_)
            | Error::Invalid { .. }
            | Error::NoInterface { .. }
            | Error::UnsafeStateDir { .. } => toolkit::BAD_INPUT,
            _ => toolkit::FAILED,
        }
    }
}
