//! Every way carpctl can fail, each with a message a person can act on and an exit code.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("carpctl: {0}")]
    Site(#[from] site::SiteError),
    #[error("carpctl: cannot read password file '{}': {source}", path.display())]
    PassFile { path: PathBuf, source: io::Error },
    #[error("carpctl: password file '{}' is empty; write the shared password on its first line", path.display())]
    EmptyPassword { path: PathBuf },
    #[error("carpctl: invalid {field} '{value}': {fix}")]
    Invalid {
        field: &'static str,
        value: String,
        fix: String,
    },
    #[error("carpctl: interface '{name}' not found; the interfaces here are: {}", known.join(", "))]
    NoInterface { name: String, known: Vec<String> },
    #[error("carpctl: interface '{interface}' has no {family} address to send from; add one or pass --src")]
    NoSource {
        interface: String,
        family: &'static str,
    },
    #[error("carpctl: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("carpctl: no running engine found in '{}'{}; start one with `carpctl run`", dir.display(), vhid.map(|v| format!(" for vhid {v}")).unwrap_or_default())]
    NoEngine { dir: PathBuf, vhid: Option<u8> },
    #[error("carpctl: an engine for vhid {vhid} already runs (pid {pid}); stop it first")]
    AlreadyRunning { vhid: u8, pid: u32 },
    #[error("carpctl: cannot parse `ifconfig` output: {0}")]
    Ifconfig(String),
    #[error("carpctl: {0} (state: {1})")]
    Unexpected(String, String),
    #[error("carpctl: `{0}` is not available on this system; {1}")]
    Unsupported(&'static str, &'static str),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit code: every failure is 1 (usage errors are 2, from clap).
    pub fn exit_code(&self) -> i32 {
        1
    }
}
