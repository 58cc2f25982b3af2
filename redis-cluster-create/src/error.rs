//! Every way the tool can fail, each knowing its exit code and saying what to do about it.

use std::time::Duration;

use crate::planner::PlanningError;

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Site(#[from] site::SiteError),
    #[error(transparent)]
    Plan(#[from] redis_cluster::plan::PlanError),
    #[error(transparent)]
    Planning(#[from] PlanningError),
    #[error("no nodes given: name them (IP:PORT ...) or pass --site FILE")]
    NoNodes,
    #[error("--remove {0}: it is also in the list of nodes to keep; give it once")]
    RemoveListed(redis_cluster::NodeAddr),
    #[error(
        "refusing to {action} without confirmation: there is no terminal to ask on; pass --yes"
    )]
    NeedsYes { action: &'static str },
    #[error("not confirmed; no node was changed")]
    Declined,
    #[error("no node was changed, because:\n{}", toolkit::words::indented(.problems))]
    Refused { problems: Vec<String> },
    #[error("--migration atomic: no node was changed, because:\n{}\nuse --migration auto, which moves keys one by one where a server has no atomic migration", toolkit::words::indented(.problems))]
    NoAtomicMigration { problems: Vec<String> },
    #[error("{node}: {step} failed: {message}\nthe nodes are partly configured; return them to empty with 'redis-cluster-create reset --yes NODE...' and try again")]
    Step {
        node: String,
        step: &'static str,
        message: String,
    },
    #[error("{node}: CLUSTER RESET HARD failed: {message}; other nodes may already be reset: run the same reset again once it answers")]
    ResetFailed { node: String, message: String },
    #[error("the cluster is not usable after {:.1} s (--timeout):\n{}", .waited.as_secs_f64(), toolkit::words::indented(.diagnosis))]
    NotReady {
        waited: Duration,
        diagnosis: Vec<String>,
    },
    #[error(transparent)]
    Converge(#[from] crate::converge::ConvergeError),
    /// A converge step failed; `audit` says what the check of the keys afterwards found.
    #[error("{}{message}\n{audit}; run the same converge again to finish", if .node.is_empty() { String::new() } else { format!("{node}: ") })]
    ConvergeStep {
        node: String,
        message: String,
        audit: String,
    },
    #[error("not done within --timeout: {reason}; run the same converge again to finish")]
    NotSettled { reason: String },
    #[error("the cluster has changed since the plan was made:\n{}\nmake a new plan", toolkit::words::indented(.differences))]
    Changed { differences: Vec<String> },
    #[error("not every replica was promoted:\n{}\nRedis's own failover still runs after cluster-node-timeout", toolkit::words::indented(.failed))]
    NotPromoted { failed: Vec<String> },
    #[error("the site has no CARP group with vhid {vhid}; its vhids: {}", .known.join(", "))]
    UnknownVhid { vhid: u8, known: Vec<String> },
    /// SIGINT or SIGTERM stopped the run at a safe point.
    #[error("{signal} while {doing}; {next}")]
    Interrupted {
        signal: toolkit::interrupt::Interrupted,
        doing: &'static str,
        /// How the nodes were left and what finishes the job.
        next: String,
    },
    #[error("the cluster was created, but settings --fast lowered could not be restored:\n{}", toolkit::words::indented(.nodes))]
    Unrestored { nodes: Vec<String> },
    #[error("{cause}\nand settings --fast lowered could not be restored:\n{}", toolkit::words::indented(.nodes))]
    AlsoUnrestored {
        cause: Box<CreateError>,
        nodes: Vec<String>,
    },
    /// `carpctl demote` (before any node changed) or `carpctl promote` (after the masters
    /// were handed back) failed.
    #[error("carpctl {action} failed: {message}\n{}", if *.action == "demote" {
        "no Redis node was changed; start the host's CARP engines (or give --carp-state-dir their directory, or --no-carp) and run it again"
    } else {
        "the masters are laid out again; lift the hold with 'carpctl promote' once the engines run"
    })]
    Carp {
        action: &'static str,
        message: String,
    },
    /// `--pass-file` or a TLS file (`--cacert`, `--cert`, …) that cannot be used.
    #[error("{0}")]
    Connect(redis_cluster::args::ConnectArgsError),
    #[error("cannot write '{}': {reason}", .path.display())]
    Write {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A file `config --write` replaces; a path refused as it stands (a device, a link others
    /// control) is bad input.
    #[error(transparent)]
    File(toolkit::file::OutputError),
    #[error("cannot write the result: {0}")]
    Output(std::io::Error),
    #[error("cannot read the answer: {0}")]
    Answer(std::io::Error),
}

impl toolkit::Failure for CreateError {
    /// 2 for input that cannot be used as given (like clap's usage errors), 128 + the signal
    /// for a run stopped by SIGINT (130) or SIGTERM (143), 1 for everything that went wrong
    /// with the nodes.
    fn exit_code(&self) -> u8 {
        match self {
            CreateError::Interrupted { signal, .. } => signal.exit_code(),
            CreateError::AlsoUnrestored { cause, .. } => cause.exit_code(),
            CreateError::File(error) if error.refused => toolkit::BAD_INPUT,
            CreateError::Site(_)
            | CreateError::Plan(_)
            | CreateError::Planning(_)
            | CreateError::NoNodes
            | CreateError::RemoveListed(_)
            | CreateError::UnknownVhid { .. }
            | CreateError::Connect(_)
            | CreateError::NeedsYes { .. }
            | CreateError::NoAtomicMigration { .. }
            | CreateError::Converge(crate::converge::ConvergeError::Planning(_)) => {
                toolkit::BAD_INPUT
            }
            _ => toolkit::FAILED,
        }
    }
}
