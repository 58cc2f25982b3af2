//! One open connection per node for the whole run: commands are sent to all nodes at once, so
//! each node's connection sits behind its own lock and is reopened after a failure.

use std::sync::Mutex;

use crate::survey::{connect, in_parallel, ConnectOptions};
use crate::NodeAddr;

/// Connections to a fixed list of nodes, in the list's order.
pub struct Sessions {
    pub addrs: Vec<NodeAddr>,
    connections: Vec<Mutex<Option<redis::Connection>>>,
    options: ConnectOptions,
}

impl Sessions {
    pub fn new(addrs: Vec<NodeAddr>, options: &ConnectOptions) -> Self {
        let connections = addrs.iter().map(|_| Mutex::new(None)).collect();
        Self {
            addrs,
            connections,
            options: options.clone(),
        }
    }

    /// Runs `work` on node `index`'s connection, opening it first when needed. A failed
    /// connection is dropped so the next call starts afresh.
    pub fn with<R>(
        &self,
        index: usize,
        work: impl FnOnce(&mut redis::Connection) -> Result<R, String>,
    ) -> Result<R, String> {
        let mut slot = self.connections[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(connect(self.addrs[index], &self.options).map_err(|e| e.to_string())?);
        }
        let result = work(slot.as_mut().expect("connection opened above"));
        if result.is_err() {
            *slot = None;
        }
        result
    }

    /// Runs `work` for every node at once; results in node order.
    pub fn each<R: Send>(
        &self,
        work: impl Fn(usize, &mut redis::Connection) -> Result<R, String> + Sync,
    ) -> Vec<Result<R, String>> {
        let indices: Vec<usize> = (0..self.addrs.len()).collect();
        in_parallel(&indices, |&i| self.with(i, |c| work(i, c)))
    }
}

/// Sends one command given as words and returns the reply, or Redis' error text.
pub fn command<T: redis::FromRedisValue>(
    connection: &mut redis::Connection,
    words: &[&str],
) -> Result<T, String> {
    let mut cmd = redis::cmd(words[0]);
    for word in &words[1..] {
        cmd.arg(*word);
    }
    cmd.query(connection).map_err(|e| e.to_string())
}

/// Sends `CLUSTER MEET` for every peer in one round trip.
pub fn meet(
    connection: &mut redis::Connection,
    peers: impl Iterator<Item = NodeAddr>,
) -> Result<(), String> {
    let mut pipe = redis::pipe();
    for peer in peers {
        pipe.cmd("CLUSTER")
            .arg("MEET")
            .arg(peer.ip_string())
            .arg(peer.0.port())
            .ignore();
    }
    pipe.query::<()>(connection)
        .map_err(|e| format!("CLUSTER MEET: {e}"))
}
