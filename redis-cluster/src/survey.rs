//! Talking to the nodes: one connection per node, all nodes at once, all under one deadline.
//! A survey starts from a few seed nodes and follows `CLUSTER NODES` to the rest, so one
//! reachable node is enough to see the whole cluster; it follows at most [`MAX_NODES`] nodes,
//! so a peer that keeps naming new ones cannot make it endless.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::connection::{Connection, Failure};
use crate::deadline::Deadline;
use crate::errors::ErrorKind;
use crate::info::Info;
use crate::migration::{self, Job};
use crate::nodes::{parse_cluster_nodes, NodeLine};
use crate::resp::Reply;
use crate::server::Server;
use crate::tls::Tls;
use crate::{NodeAddr, MAX_NODES};

/// How to reach the nodes.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Bound on a whole survey (every connect, command and reply of it, discovery included).
    pub timeout: Duration,
    /// ACL user name (`AUTH user password`); `None` means the default user.
    pub user: Option<String>,
    /// Password; `None` sends no AUTH.
    pub password: Option<String>,
    /// With a password: the addresses besides a survey's seeds that may be asked (and so get
    /// the credentials); an address only a node names is then recorded as not asked. `None`:
    /// every address a node names is asked.
    pub vouched: Option<BTreeSet<NodeAddr>>,
    /// TLS for every connection (`--tls`); `None`: plain TCP.
    pub tls: Option<Tls>,
}

impl ConnectOptions {
    /// These options with `addrs` vouched for as well, and only vouched addresses asked.
    pub fn vouching(&self, addrs: impl IntoIterator<Item = NodeAddr>) -> ConnectOptions {
        let mut options = self.clone();
        options
            .vouched
            .get_or_insert_with(BTreeSet::new)
            .extend(addrs);
        options
    }

    /// Whether a survey from `seeds` asks `addr`, which a node named.
    fn may_ask(&self, addr: NodeAddr, seeds: &[NodeAddr]) -> bool {
        match (&self.password, &self.vouched) {
            (Some(_), Some(vouched)) => seeds.contains(&addr) || vouched.contains(&addr),
            _ => true,
        }
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            user: None,
            password: None,
            vouched: None,
            tls: None,
        }
    }
}

/// What one reachable node said about itself and the cluster.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub addr: NodeAddr,
    /// The `INFO` sections server, replication, cluster and keyspace.
    pub info: Info,
    /// `CLUSTER INFO` and `CLUSTER NODES`; `None` when cluster support is disabled.
    pub cluster: Option<ClusterView>,
    /// The atomic slot migration jobs a master lists (running and recently ended; empty where
    /// the server has none), or why they could not be had.
    pub migrations: Result<Vec<Job>, String>,
}

/// The answering node's view of the cluster.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub info: Info,
    pub nodes: Vec<NodeLine>,
}

impl ClusterView {
    /// The `myself` line: the node's own id, role, slots and open slots.
    pub fn myself(&self) -> Option<&NodeLine> {
        self.nodes.iter().find(|n| n.flags.myself)
    }
}

/// Why a node could not be surveyed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("authentication failed: {0}; pass --user and the password from --pass-file or REDISCLI_AUTH")]
    Auth(String),
    /// The server accepted the connection and closed it without answering. Redis does this
    /// to clients from other hosts in protected mode (no password set), and at maxclients; a
    /// TLS port does it to a client that does not speak TLS.
    #[error(
        "{command} failed: {message}; the server closed the connection without answering: \
         a TLS port does that to a client without TLS (the port may need --tls), Redis does \
         it in protected mode to clients from other hosts when no password is set (set a \
         password, or protected-mode no where a firewall guards the port), and when \
         maxclients is reached"
    )]
    Dropped {
        command: &'static str,
        message: String,
    },
    #[error("{command} failed: {message}")]
    Command {
        command: &'static str,
        message: String,
    },
    #[error("{0}")]
    Parse(String),
    /// The TLS handshake failed, or the server refused it (`TLS handshake failed: cause`).
    #[error("{0}")]
    Tls(String),
    /// Named by a node, but neither given nor vouched for: not asked, so that the password
    /// goes only to addresses the operator named.
    #[error(
        "named by a node but not given: not asked (the password goes only to the nodes given)"
    )]
    NotAsked,
}

/// Opens a connection to one node within `deadline`, with `options`' credentials.
pub fn connect(
    addr: NodeAddr,
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<Connection, ProbeError> {
    Connection::open(addr, options, deadline).map_err(|failure| match failure {
        Failure::Server(e) if e.is(&ErrorKind::Auth) => ProbeError::Auth(e.text),
        Failure::Connect(reason) => ProbeError::Connect(reason),
        tls @ (Failure::Tls(_) | Failure::Handshake { .. }) => ProbeError::Tls(tls.to_string()),
        Failure::Dropped => command_error("AUTH", Failure::Dropped),
        other => ProbeError::Connect(other.to_string()),
    })
}

/// Runs one command that answers with text (INFO, CLUSTER NODES, …).
pub fn query_text(
    connection: &mut Connection,
    command: &'static str,
) -> Result<String, ProbeError> {
    let words: Vec<&str> = command.split_whitespace().collect();
    connection
        .query_as::<String>(&words)
        .map_err(|f| command_error(command, f))
}

/// The INFO sections the checks read. Fewer than the default set: the memory section alone
/// costs the server more than everything else asked here. One INFO per section: several
/// sections in one INFO is Redis 7.0 syntax.
const INFO_SECTIONS: [&str; 4] = ["server", "replication", "cluster", "keyspace"];

/// Asks one node for INFO, CLUSTER INFO and CLUSTER NODES in one round trip (pipelined, the
/// replies under the one deadline); the cluster replies are used only when INFO says cluster
/// support is enabled.
pub fn probe(
    addr: NodeAddr,
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<NodeState, ProbeError> {
    let mut connection = connect(addr, options, deadline)?;
    let info_words: Vec<[&str; 2]> = INFO_SECTIONS.iter().map(|s| ["INFO", s]).collect();
    let mut commands: Vec<&[&str]> = info_words.iter().map(|w| &w[..]).collect();
    commands.extend([&["CLUSTER", "INFO"][..], &["CLUSTER", "NODES"][..]]);
    let replies = connection
        .exchange(&commands)
        .map_err(|f| command_error("INFO", f))?;
    let mut replies = replies.into_iter();
    let mut next = |command: &'static str| -> Result<String, ProbeError> {
        match replies.next() {
            Some(Reply::Value(v)) => redis::from_redis_value::<String>(v).map_err(|e| {
                ProbeError::Parse(format!(
                    "{command}: unexpected reply: {}",
                    toolkit::words::clip(&connection.redact(&e.to_string()), toolkit::words::CLIP)
                ))
            }),
            Some(Reply::Error(text)) => Err(command_error(command, Failure::server(&text))),
            None => Err(ProbeError::Parse(format!("{command}: missing reply"))),
        }
    };
    let mut info_text = String::new();
    for _ in INFO_SECTIONS {
        info_text.push_str(&next("INFO")?);
    }
    let info = Info::parse(&info_text);
    let (cluster_info, nodes) = (next("CLUSTER INFO"), next("CLUSTER NODES"));
    let cluster = if info.cluster_enabled() {
        let nodes = parse_cluster_nodes(&nodes?)
            .map_err(|e| ProbeError::Parse(connection.redact(&e.to_string())))?;
        Some(ClusterView {
            info: Info::parse(&cluster_info?),
            nodes,
        })
    } else {
        None
    };
    // A second round trip, on the masters of servers with atomic slot migration only.
    let atomic = Server::from_info(&info).and_then(|s| s.atomic_migration());
    let migrations = match atomic {
        Some(kind) if cluster.is_some() && info.get("role") == Some("master") => {
            migration::jobs(&mut connection, kind).map_err(|f| connection.redact(&f.to_string()))
        }
        _ => Ok(Vec::new()),
    };
    Ok(NodeState {
        addr,
        info,
        cluster,
        migrations,
    })
}

fn command_error(command: &'static str, failure: Failure) -> ProbeError {
    let message = match failure {
        Failure::Server(e) if e.is(&ErrorKind::Auth) => return ProbeError::Auth(e.text),
        Failure::Server(e) => e.text,
        Failure::Closed | Failure::Dropped => {
            return ProbeError::Dropped {
                command,
                message: Failure::Closed.to_string(),
            }
        }
        Failure::Tls(_) => return ProbeError::Tls(failure.to_string()),
        other => other.to_string(),
    };
    ProbeError::Command { command, message }
}

/// Every node reached and every node that could not be.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// In address order.
    pub reached: Vec<NodeState>,
    /// In address order, with the reason.
    pub unreachable: Vec<(NodeAddr, ProbeError)>,
    /// Whether nodes named other addresses that were not asked, because [`MAX_NODES`] had
    /// been followed already.
    pub beyond_limit: bool,
}

/// Workers a run starts with. On a healthy cluster every node answers within milliseconds,
/// and more threads than this only contend for the cores with the servers they ask (measured
/// on 120 local nodes: 42 ms with 16 workers, 50 ms with 64, 61 ms with 256).
const FIRST_WORKERS: usize = 16;

/// Most workers at once. Nodes that do not answer hold a worker until the shared deadline, so
/// when no item has finished for [`STALL`], another `FIRST_WORKERS` start, up to this many:
/// 160 silent hosts then cost the deadline once, and the nodes queued behind them are still
/// asked. Past this many the shared deadline ends the rest.
const MAX_PARALLEL: usize = 256;

/// How long no item may finish before more workers start.
const STALL: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs `f` on every item, [`FIRST_WORKERS`] at once and more when they stall (up to
/// [`MAX_PARALLEL`]), and returns the results in order.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(items.len()));
    let (finished, progress) = channel::<()>();
    let work = || loop {
        let i = next.fetch_add(1, Relaxed);
        let Some(item) = items.get(i) else { break };
        let result = f(item);
        results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((i, result));
        let _ = finished.send(());
    };
    let limit = items.len().min(MAX_PARALLEL);
    std::thread::scope(|scope| {
        let mut workers = 0;
        let mut more = FIRST_WORKERS;
        // Hands out workers until every item is taken: 16 at first, 16 more each time no item
        // finished for STALL. Waiting on the channel, not sleeping, so a quick run ends at once.
        while workers < limit && next.load(Relaxed) < items.len() {
            for _ in 0..more.min(limit - workers) {
                scope.spawn(work);
                workers += 1;
            }
            more = match progress.recv_timeout(STALL) {
                Ok(()) => 0,
                Err(RecvTimeoutError::Timeout) => FIRST_WORKERS,
                Err(RecvTimeoutError::Disconnected) => break,
            };
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Surveys `seeds` and, when `discover` is set, every node they know of (repeatedly, until no
/// new address turns up or [`MAX_NODES`] are followed). Nodes in handshake or without an
/// address are not followed. `options.timeout` bounds the whole survey: a node that has not
/// answered when it ends is unreachable ("no reply within N s").
pub fn survey(seeds: &[NodeAddr], options: &ConnectOptions, discover: bool) -> Survey {
    survey_within(seeds, options, discover, Deadline::after(options.timeout))
}

/// [`survey`] within `deadline` instead of `options.timeout` (one that ignores signals, to look
/// at a cluster after a signal stopped the work on it).
pub fn survey_within(
    seeds: &[NodeAddr],
    options: &ConnectOptions,
    discover: bool,
    deadline: Deadline,
) -> Survey {
    let mut seen: BTreeSet<NodeAddr> = seeds.iter().copied().collect();
    let mut wave: Vec<NodeAddr> = seen.iter().copied().collect();
    let mut result = Survey::default();
    while !wave.is_empty() {
        let outcomes = in_parallel(&wave, |&addr| probe(addr, options, deadline));
        let mut next = BTreeSet::new();
        for (addr, outcome) in wave.iter().zip(outcomes) {
            match outcome {
                Ok(state) => {
                    if discover {
                        let known = state.cluster.iter().flat_map(|c| &c.nodes);
                        for line in known.filter(|n| !n.flags.handshake) {
                            let Some(peer) = line.client_addr() else {
                                continue;
                            };
                            if seen.contains(&peer) {
                                continue;
                            }
                            if seen.len() >= MAX_NODES {
                                result.beyond_limit = true;
                            } else if !options.may_ask(peer, seeds) {
                                seen.insert(peer);
                                result.unreachable.push((peer, ProbeError::NotAsked));
                            } else {
                                seen.insert(peer);
                                next.insert(peer);
                            }
                        }
                    }
                    result.reached.push(state);
                }
                Err(error) => result.unreachable.push((*addr, error)),
            }
        }
        wave = next.into_iter().collect();
    }
    result.reached.sort_by_key(|s| s.addr);
    result.unreachable.sort_by_key(|(a, _)| *a);
    result
}
