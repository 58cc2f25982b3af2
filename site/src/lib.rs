//! The site description: one JSON document (`"schema": 1`) that says which hosts run the
//! cluster, on which interfaces and ports, and how CARP and the firewall are set up.
//!
//! Every tool that takes `--site` reads it through this crate and nowhere else, so a site file
//! is accepted or refused the same way by all of them. The file is read with toolkit's size
//! bound; then three steps, each reporting in the operator's words with the JSON path of the
//! field: [`json`] (text to JSON values), `read` (values to the typed model, every field checked on its own) and
//! `validate` (what fields say about each other). Every problem of a document is reported at
//! once, not only the first. The names a site hands on to shells, rulesets and paths follow
//! the rules of [`names`].

mod display;
mod groups;
pub mod json;
mod model;
pub mod names;
pub mod rcconf;
mod read;
mod validate;

use std::fmt;
use std::path::Path;

pub use groups::{Group, Standing, RANK_SKEW};
pub use model::{
    AllowEntry, Carp, CarpGroup, Cidr, Cluster, Firewall, Host, Inbound, Node, Pfsync, PortRange,
    Site,
};
pub use names::check_interface_name;
pub use read::{
    MAX_GARP_REFRESH_S, MAX_NODE_TIMEOUT_MS, MAX_PORT, MAX_PREEMPT_DELAY_S, MAX_REPLICAS,
    MIN_ALLOW_PREFIX,
};
pub use validate::{BUS_PORT_OFFSET, MAX_INSTANCES, MIN_MASTERS};

/// Largest site document read, in bytes. Real ones are a few kilobytes; the bound makes
/// `--site /dev/zero` or a wrong, huge file fail at once instead of filling memory.
pub const MAX_SITE_BYTES: u64 = 1 << 20;

/// Most problems a message lists; the rest are counted. A hostile document can have a
/// problem per byte.
const LISTED_PROBLEMS: usize = 50;

/// One problem found in a site document, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of the offending field, as in `hosts[1].addresses.em1`; empty for the whole document.
    pub path: String,
    /// What is wrong with it, quoting the bad value.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a site document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The file could not be read, is larger than [`MAX_SITE_BYTES`], is not text or is
    /// empty; the message names the file.
    #[error("{0}")]
    Read(toolkit::input::InputError),
    /// Not JSON; says where.
    #[error("{source_name}: {error}")]
    NotJson {
        source_name: String,
        error: json::SyntaxError,
    },
    /// JSON, but not a usable site description. Every problem found is listed, one per line.
    #[error("{source_name}: invalid site description:\n{}", list(.problems))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
    /// A host name that the site does not define.
    #[error("unknown host {}; the site defines: {}", display::quote(.name), .known.join(", "))]
    UnknownHost { name: String, known: Vec<String> },
}

fn list(problems: &[Problem]) -> String {
    let listed = &problems[..problems.len().min(LISTED_PROBLEMS)];
    let mut text = toolkit::words::indented(listed);
    if problems.len() > listed.len() {
        text.push_str(&format!(
            "\n  … and {} more problems",
            problems.len() - listed.len()
        ));
    }
    text
}

impl Site {
    /// Reads and validates a site document from a file, or from stdin when `path` is `-`;
    /// reads at most [`MAX_SITE_BYTES`].
    pub fn load(path: &Path) -> Result<Site, SiteError> {
        let text = toolkit::input::read_text(path, MAX_SITE_BYTES).map_err(SiteError::Read)?;
        let source_name = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        Site::parse(&text, &source_name)
    }

    /// Parses and validates a site document; `source_name` only labels error messages.
    pub fn parse(text: &str, source_name: &str) -> Result<Site, SiteError> {
        let source_name = source_name.to_string();
        let (value, mut problems) = match json::parse(text) {
            Ok(parsed) => parsed,
            Err(error) => return Err(SiteError::NotJson { source_name, error }),
        };
        let draft = read::read(&value, &mut problems);
        validate::validate(&draft.known, &mut problems);
        match draft.into_site() {
            Some(site) if problems.is_empty() => Ok(site),
            _ => {
                debug_assert!(!problems.is_empty(), "an unreadable part notes a problem");
                Err(SiteError::Invalid {
                    source_name,
                    problems,
                })
            }
        }
    }

    /// The host called `name`, or an error that lists the names the site defines.
    pub fn host(&self, name: &str) -> Result<&Host, SiteError> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| SiteError::UnknownHost {
                name: name.to_string(),
                known: self.hosts.iter().map(|h| h.name.clone()).collect(),
            })
    }

    /// Every Redis instance of the site: each host's `bind_interface` address × each port,
    /// in host order then port order.
    pub fn nodes(&self) -> Vec<Node> {
        self.hosts
            .iter()
            .flat_map(|host| {
                let addr = host.addresses[&self.cluster.bind_interface].addr();
                self.cluster.ports.iter().map(move |&port| Node {
                    host: host.name.clone(),
                    addr: std::net::SocketAddr::new(addr, port),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
