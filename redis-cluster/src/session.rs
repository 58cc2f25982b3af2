//! One open connection per node for the whole run: commands are sent to all nodes at once, so
//! each node's connection sits behind its own lock and is reopened after a failure. Every
//! command runs under the sessions' deadline (see [`Deadline`]), which the caller may move on,
//! e.g. to give the restore after a failure a short time of its own.

use std::sync::Mutex;

use crate::connection::{Connection, Failure};
use crate::deadline::Deadline;
use crate::survey::{in_parallel, ConnectOptions};
use crate::NodeAddr;

/// Connections to a fixed list of nodes, in the list's order.
pub struct Sessions {
    pub addrs: Vec<NodeAddr>,
    connections: Vec<Mutex<Option<Connection>>>,
    options: ConnectOptions,
    deadline: Deadline,
}

impl Sessions {
    pub fn new(addrs: Vec<NodeAddr>, options: &ConnectOptions, deadline: Deadline) -> Self {
        let connections = addrs.iter().map(|_| Mutex::new(None)).collect();
        Self {
            addrs,
            connections,
            options: options.clone(),
            deadline,
        }
    }

    /// Bounds every later command by `deadline`.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// Runs `work` on node `index`'s connection, opening it first when needed. A failed
    /// connection is dropped so the next call starts afresh (a reply cut off by the deadline
    /// would otherwise be read as the answer to the next command). `work` fails with a
    /// [`Failure`] (typed callers) or anything a failure converts into (text).
    pub fn with<R, E: From<Failure>>(
        &self,
        index: usize,
        work: impl FnOnce(&mut Connection) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut slot = self.connections[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let connection = match slot.take() {
            Some(c) => c,
            None => Connection::open(self.addrs[index], &self.options, self.deadline)?,
        };
        let connection = slot.insert(connection);
        connection.set_deadline(self.deadline);
        let result = work(connection);
        if result.is_err() {
            *slot = None;
        }
        result
    }

    /// Runs `work` for every node at once; results in node order.
    pub fn each<R: Send, E: From<Failure> + Send>(
        &self,
        work: impl Fn(usize, &mut Connection) -> Result<R, E> + Sync,
    ) -> Vec<Result<R, E>> {
        let indices: Vec<usize> = (0..self.addrs.len()).collect();
        in_parallel(&indices, |&i| self.with(i, |c| work(i, c)))
    }
}

/// Sends one command given as words and returns the reply, or Redis' error text (or why there
/// was none: "no reply within 5 s").
pub fn command<T: redis::FromRedisValue>(
    connection: &mut Connection,
    words: &[&str],
) -> Result<T, String> {
    connection.query_as(words).map_err(|e| e.to_string())
}
