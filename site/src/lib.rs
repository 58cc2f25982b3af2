//! The site description: one JSON document (`"schema": 1`) that says which hosts run the
//! cluster, on which interfaces and ports, and how CARP and the firewall are set up.
//!
//! Every tool that takes `--site` reads it through this crate and nowhere else, so a site file
//! is accepted or refused the same way by all of them. Loading is two steps: serde
//! deserialization (shape and single values, with the JSON path of a bad field) and
//! [`validate`] (cross-checks between fields, every problem reported, not only the first).

mod model;
pub mod rcconf;
mod validate;

use std::fmt;
use std::io::Read;
use std::path::Path;

pub use model::{AllowEntry, Carp, Cidr, Cluster, Firewall, Host, Node, Pfsync, PortRange, Site};
pub use validate::{validate, BUS_PORT_OFFSET};

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
    /// The document is not valid JSON, has the wrong shape, or fails the cross-checks.
    /// Every problem found is listed, one per line.
    #[error("{source_name}: invalid site description:\n{}", list(.problems))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
    /// A host name that the site does not define.
    #[error("unknown host '{name}'; the site defines: {}", .known.join(", "))]
    UnknownHost { name: String, known: Vec<String> },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Site {
    /// Reads and validates a site document from a file, or from stdin when `path` is `-`.
    pub fn load(path: &Path) -> Result<Site, SiteError> {
        let source_name = path.display().to_string();
        let read_error = |error| SiteError::Read {
            source_name: source_name.clone(),
            error,
        };
        let text = if source_name == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(read_error)?;
            text
        } else {
            std::fs::read_to_string(path).map_err(read_error)?
        };
        Site::parse(
            &text,
            if source_name == "-" {
                "<stdin>"
            } else {
                &source_name
            },
        )
    }

    /// Parses and validates a site document; `source_name` only labels error messages.
    pub fn parse(text: &str, source_name: &str) -> Result<Site, SiteError> {
        let invalid = |problems| SiteError::Invalid {
            source_name: source_name.to_string(),
            problems,
        };
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let site: Site = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            invalid(vec![Problem::new(path, e.into_inner().to_string())])
        })?;
        let problems = validate(&site);
        if problems.is_empty() {
            Ok(site)
        } else {
            Err(invalid(problems))
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
