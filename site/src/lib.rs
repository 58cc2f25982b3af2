//! The site description: one JSON document (`"schema": 1`) that says which hosts run the
//! cluster, on which interfaces and ports, and how CARP and the firewall are set up.
//!
//! Every tool that takes `--site` reads it through this crate and nowhere else, so a site file
//! is accepted or refused the same way by all of them. Reading is three steps, each reporting
//! in the operator's words with the JSON path of the field: [`json`] (text to JSON values,
//! bounded in size), `read` (values to the typed model, every field checked on its own) and
//! `validate` (what fields say about each other). Every problem of a document is reported at
//! once, not only the first. The names a site hands on to shells, rulesets and paths follow
//! the rules of [`names`].

mod display;
pub mod json;
mod model;
pub mod names;
mod read;
mod validate;

use std::fmt;
use std::io::Read;
use std::path::Path;

pub use model::{AllowEntry, Carp, Cidr, Cluster, Firewall, Host, Node, Pfsync, PortRange, Site};
pub use names::check_interface_name;
pub use read::{MAX_NODE_TIMEOUT_MS, MAX_PORT, MAX_REPLICAS, MIN_ALLOW_PREFIX};
pub use validate::{BUS_PORT_OFFSET, MIN_MASTERS};

/// Largest site document read, in bytes. Real ones are a few kilobytes; the bound makes
/// `--site /dev/zero` or a wrong, huge file fail at once instead of filling memory.
pub const MAX_SITE_BYTES: usize = 1 << 20;

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
    /// The file could not be read.
    #[error("cannot read site file '{source_name}': {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    /// The document is longer than [`MAX_SITE_BYTES`].
    #[error(
        "{source_name}: larger than {} KiB, too large for a site description (a few kilobytes); check that it is the right file",
        MAX_SITE_BYTES / 1024
    )]
    TooLarge { source_name: String },
    /// Nothing but white space.
    #[error("{source_name}: empty file; write the site description there (the README shows one)")]
    Empty { source_name: String },
    /// Not UTF-8 text.
    #[error("{source_name}: not text: byte {offset} is not UTF-8; a site description is a JSON text file")]
    NotText { source_name: String, offset: usize },
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
    let mut lines: Vec<String> = problems
        .iter()
        .take(LISTED_PROBLEMS)
        .map(|p| format!("  {p}"))
        .collect();
    if problems.len() > LISTED_PROBLEMS {
        lines.push(format!(
            "  … and {} more problems",
            problems.len() - LISTED_PROBLEMS
        ));
    }
    lines.join("\n")
}

impl Site {
    /// Reads and validates a site document from a file, or from stdin when `path` is `-`.
    /// Reads at most [`MAX_SITE_BYTES`] (and one byte more, to tell a longer file).
    pub fn load(path: &Path) -> Result<Site, SiteError> {
        let stdin = path.as_os_str() == "-";
        let source_name = if stdin {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        let read_error = |error| SiteError::Read {
            source_name: source_name.clone(),
            error,
        };
        let limit = MAX_SITE_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        if stdin {
            std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
        } else {
            std::fs::File::open(path).and_then(|file| file.take(limit).read_to_end(&mut bytes))
        }
        .map_err(read_error)?;
        Site::from_bytes(&bytes, &source_name)
    }

    /// Parses and validates a site document; `source_name` only labels error messages.
    pub fn parse(text: &str, source_name: &str) -> Result<Site, SiteError> {
        Site::from_bytes(text.as_bytes(), source_name)
    }

    /// Parses and validates a site document given as bytes.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Site, SiteError> {
        let source_name = source_name.to_string();
        if bytes.len() > MAX_SITE_BYTES {
            return Err(SiteError::TooLarge { source_name });
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                return Err(SiteError::NotText {
                    source_name,
                    offset: e.valid_up_to(),
                })
            }
        };
        if text.trim().is_empty() {
            return Err(SiteError::Empty { source_name });
        }
        let (value, mut problems) = match json::parse(text) {
            Ok(parsed) => parsed,
            Err(error) => return Err(SiteError::NotJson { source_name, error }),
        };
        let draft = read::read(&value, &mut problems);
        validate::validate(&draft, &mut problems);
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
