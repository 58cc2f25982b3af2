//! Talking to the nodes: one connection per node, all nodes at once, each bounded by a
//! timeout. A survey starts from a few seed nodes and follows `CLUSTER NODES` to the rest, so
//! one reachable node is enough to see the whole cluster.

use std::collections::BTreeSet;
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use crate::info::Info;
use crate::nodes::{parse_cluster_nodes, NodeLine};
use crate::NodeAddr;

/// How to reach the nodes.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Bound on connecting and on each reply.
    pub timeout: Duration,
    /// ACL user name (`AUTH user password`); `None` means the default user.
    pub user: Option<String>,
    /// Password; `None` sends no AUTH.
    pub password: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            user: None,
            password: None,
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
    /// to clients from other hosts in protected mode (no password set), and at maxclients.
    #[error(
        "{command} failed: {message}; the server closed the connection without answering: \
         Redis does that in protected mode to clients from other hosts when no password is set \
         (set a password, or protected-mode no where a firewall guards the port), and when \
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
}

/// Opens a connection to one node, with `options`' timeout and credentials.
pub fn connect(addr: NodeAddr, options: &ConnectOptions) -> Result<redis::Connection, ProbeError> {
    let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(user) = &options.user {
        settings = settings.set_username(user);
    }
    if let Some(password) = &options.password {
        settings = settings.set_password(password);
    }
    let info = ConnectionAddr::Tcp(addr.ip_string(), addr.0.port())
        .into_connection_info()
        .map_err(|e| ProbeError::Connect(e.to_string()))?
        .set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(|e| ProbeError::Connect(e.to_string()))?;
    let connection = client
        .get_connection_with_timeout(options.timeout)
        .map_err(|e| {
            if e.kind() == redis::ErrorKind::AuthenticationFailed
                || e.code() == Some("NOAUTH")
                || e.code() == Some("WRONGPASS")
            {
                ProbeError::Auth(e.to_string())
            } else {
                ProbeError::Connect(e.to_string())
            }
        })?;
    let bound = |e: redis::RedisError| ProbeError::Connect(e.to_string());
    connection
        .set_read_timeout(Some(options.timeout))
        .map_err(bound)?;
    connection
        .set_write_timeout(Some(options.timeout))
        .map_err(bound)?;
    Ok(connection)
}

/// Runs one command that answers with text (INFO, CLUSTER NODES, …).
pub fn query_text(
    connection: &mut redis::Connection,
    command: &'static str,
) -> Result<String, ProbeError> {
    let mut words = command.split_whitespace();
    let mut cmd = redis::cmd(words.next().unwrap_or_default());
    for word in words {
        cmd.arg(word);
    }
    cmd.query::<String>(connection)
        .map_err(|e| command_error(command, e))
}

/// The INFO sections the checks read. Fewer than the default set: the memory section alone
/// costs the server more than everything else asked here.
const INFO_SECTIONS: [&str; 4] = ["server", "replication", "cluster", "keyspace"];

/// Asks one node for INFO, CLUSTER INFO and CLUSTER NODES in one round trip (pipelined); the
/// cluster replies are used only when INFO says cluster support is enabled.
pub fn probe(addr: NodeAddr, options: &ConnectOptions) -> Result<NodeState, ProbeError> {
    let mut connection = connect(addr, options)?;
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    pipe.cmd("INFO").arg(&INFO_SECTIONS[..]);
    pipe.cmd("CLUSTER").arg("INFO");
    pipe.cmd("CLUSTER").arg("NODES");
    let replies: Vec<redis::RedisResult<String>> = pipe
        .query(&mut connection)
        .map_err(|e| command_error("INFO", e))?;
    let mut replies = replies.into_iter();
    let mut next = |command: &'static str| {
        replies
            .next()
            .unwrap_or_else(|| Err((redis::ErrorKind::Client, "missing reply").into()))
            .map_err(|e| command_error(command, e))
    };
    let info = Info::parse(&next("INFO")?);
    let (cluster_info, nodes) = (next("CLUSTER INFO"), next("CLUSTER NODES"));
    let cluster = if info.cluster_enabled() {
        let nodes = parse_cluster_nodes(&nodes?).map_err(|e| ProbeError::Parse(e.to_string()))?;
        Some(ClusterView {
            info: Info::parse(&cluster_info?),
            nodes,
        })
    } else {
        None
    };
    Ok(NodeState {
        addr,
        info,
        cluster,
    })
}

fn command_error(command: &'static str, e: redis::RedisError) -> ProbeError {
    let message = e.to_string();
    if e.code() == Some("NOAUTH") || e.code() == Some("WRONGPASS") {
        ProbeError::Auth(message)
    } else if e.is_connection_dropped() {
        ProbeError::Dropped { command, message }
    } else {
        ProbeError::Command { command, message }
    }
}

/// Every node reached and every node that could not be.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// In address order.
    pub reached: Vec<NodeState>,
    /// In address order, with the reason.
    pub unreachable: Vec<(NodeAddr, ProbeError)>,
}

/// Most probes running at once. Each mostly waits on the network, but spawning a thread per
/// node costs more than it saves once the nodes outnumber the cores many times over.
const MAX_PARALLEL: usize = 16;

/// Runs `f` on every item, up to `MAX_PARALLEL` at once, and returns the results in order.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = items.len().min(MAX_PARALLEL);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a probe thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Surveys `seeds` and, when `discover` is set, every node they know of (repeatedly, until no
/// new address turns up). Nodes in handshake or without an address are not followed.
pub fn survey(seeds: &[NodeAddr], options: &ConnectOptions, discover: bool) -> Survey {
    let mut seen: BTreeSet<NodeAddr> = seeds.iter().copied().collect();
    let mut wave: Vec<NodeAddr> = seen.iter().copied().collect();
    let mut result = Survey::default();
    while !wave.is_empty() {
        let outcomes = in_parallel(&wave, |&addr| probe(addr, options));
        let mut next = BTreeSet::new();
        for (addr, outcome) in wave.iter().zip(outcomes) {
            match outcome {
                Ok(state) => {
                    if discover {
                        let known = state.cluster.iter().flat_map(|c| &c.nodes);
                        for line in known.filter(|n| !n.flags.handshake) {
                            if let Some(peer) = line.client_addr() {
                                if seen.insert(peer) {
                                    next.insert(peer);
                                }
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
