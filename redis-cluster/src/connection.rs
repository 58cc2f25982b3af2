//! One connection to one node, every byte of it under a [`Deadline`]: connecting gets the
//! time left, not a fixed bound; a pipeline's replies share the deadline instead of each
//! getting a timeout of its own; a node that answers a byte a second gains nothing from it, as
//! each read waits only for what is left. A reply may not grow past [`MAX_REPLY_BYTES`]. Reads
//! and writes wake every few milliseconds to look at `toolkit::interrupt`, so Ctrl-C is seen
//! while a node keeps us waiting. Redis' own client (the `redis` crate) bounds each read only,
//! so the transport is ours; its value types and conversions are still used.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use redis::{FromRedisValue, Value};
use toolkit::interrupt::{self, Interrupted};

use crate::deadline::{seconds, Deadline};
use crate::errors::{self, ServerError};
use crate::redact::Secrets;
use crate::resp::{self, Decoded, Reply};
use crate::survey::ConnectOptions;
use crate::NodeAddr;

/// The largest reply accepted: 16 MiB. A CLUSTER NODES reply of 10 000 nodes is about 2 MiB;
/// anything much larger comes from something that is not a sane Redis node.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// The longest single connection attempt; longer waits are several attempts.
const CONNECT_SLICE: Duration = Duration::from_secs(1);

/// Why a command got no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The deadline passed first (connecting, sending or waiting for the reply).
    #[error("no reply within {}", seconds(*bound))]
    NoReply { bound: Duration },
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the connection was closed without a reply")]
    Closed,
    #[error("a reply is larger than {} MiB; refused", MAX_REPLY_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("not a Redis reply: {0}")]
    Protocol(String),
    /// An error reply, parsed into its kind (its text clipped).
    #[error("{0}")]
    Server(ServerError),
    #[error("{0}")]
    Interrupted(Interrupted),
    #[error("{0}")]
    Io(String),
}

impl Failure {
    /// The failure of an error reply `text`, clipped for messages.
    pub fn server(text: &str) -> Failure {
        let mut error = ServerError::parse(text);
        error.text = toolkit::words::clip(&error.text, toolkit::words::CLIP);
        Failure::Server(error)
    }

    /// The kind of an error reply; `None` when there was no reply at all.
    pub fn kind(&self) -> Option<&errors::ErrorKind> {
        match self {
            Failure::Server(e) => Some(&e.kind),
            _ => None,
        }
    }

    /// Whether the node may answer differently when asked again on a new connection: it did not
    /// answer, closed the connection, or answered that it is busy loading or moving keys.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::NoReply { .. } | Failure::Closed | Failure::Io(_) | Failure::Connect(_) => {
                true
            }
            Failure::Server(e) => matches!(
                e.kind,
                errors::ErrorKind::Io
                    | errors::ErrorKind::TryAgain
                    | errors::ErrorKind::Loading
                    | errors::ErrorKind::NoReplicas
            ),
            _ => false,
        }
    }
}

impl From<ServerError> for Failure {
    fn from(error: ServerError) -> Failure {
        Failure::Server(error)
    }
}

/// For the callers that report a failure as text.
impl From<Failure> for String {
    fn from(failure: Failure) -> String {
        failure.to_string()
    }
}

impl From<Interrupted> for Failure {
    fn from(i: Interrupted) -> Failure {
        Failure::Interrupted(i)
    }
}

/// An open connection to one node.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet decoded.
    buffer: Vec<u8>,
    deadline: Deadline,
    /// The credentials sent, cut out of every text the node sends back.
    secrets: Secrets,
}

impl Connection {
    /// Connects within what is left of `deadline` and authenticates when `options` say so.
    pub fn open(
        addr: NodeAddr,
        options: &ConnectOptions,
        deadline: Deadline,
    ) -> Result<Connection, Failure> {
        let no_reply = Failure::NoReply {
            bound: deadline.bound(),
        };
        // In slices, so that a signal is seen within one while a host drops our packets; a
        // new attempt is no worse than the kernel's own SYN retry a second later.
        let stream = loop {
            deadline.check()?;
            let left = deadline.remaining().ok_or_else(|| no_reply.clone())?;
            match TcpStream::connect_timeout(&addr.0, left.min(CONNECT_SLICE)) {
                Ok(stream) => break stream,
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                Err(e) => return Err(Failure::Connect(e.to_string())),
            }
        };
        // Commands are small and each waits for its reply: send them at once.
        let _ = stream.set_nodelay(true);
        let mut connection = Connection {
            stream,
            buffer: Vec::new(),
            deadline,
            secrets: Secrets::of(options),
        };
        if let Some(password) = &options.password {
            let mut words = vec!["AUTH"];
            words.extend(options.user.as_deref());
            words.push(password);
            connection.query(&words)?;
        }
        Ok(connection)
    }

    /// Bounds every later command by `deadline`.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    /// `text` taken from a reply, without the credentials this connection sent, for messages
    /// that quote a value (error replies are redacted already).
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// Sends `commands` in one go (a pipeline) and reads their replies, all within the one
    /// deadline. An error reply is a `Reply::Error` in its place.
    pub fn exchange<W: AsRef<[u8]>, C: AsRef<[W]>>(
        &mut self,
        commands: &[C],
    ) -> Result<Vec<Reply>, Failure> {
        let bytes: Vec<u8> = commands
            .iter()
            .flat_map(|c| resp::encode(c.as_ref()))
            .collect();
        self.send(&bytes)?;
        commands.iter().map(|_| self.receive()).collect()
    }

    /// Sends one command and returns its value; an error reply is `Failure::Server`.
    pub fn query(&mut self, words: &[&str]) -> Result<Value, Failure> {
        self.send(&resp::encode(words))?;
        match self.receive()? {
            Reply::Value(v) => Ok(v),
            Reply::Error(text) => Err(Failure::server(&text)),
        }
    }

    /// [`query`](Self::query), converted to `T` (`()`, `String`, `Vec<String>` …).
    pub fn query_as<T: FromRedisValue>(&mut self, words: &[&str]) -> Result<T, Failure> {
        let value = self.query(words)?;
        T::from_redis_value(value).map_err(|e| {
            Failure::Protocol(format!(
                "unexpected reply to {}: {}",
                words.first().unwrap_or(&""),
                toolkit::words::clip(&self.redact(&e.to_string()), toolkit::words::CLIP)
            ))
        })
    }

    fn no_reply(&self) -> Failure {
        Failure::NoReply {
            bound: self.deadline.bound(),
        }
    }

    fn send(&mut self, mut bytes: &[u8]) -> Result<(), Failure> {
        while !bytes.is_empty() {
            self.deadline.check()?;
            let left = self.deadline.remaining().ok_or_else(|| self.no_reply())?;
            let _ = self
                .stream
                .set_write_timeout(Some(left.min(interrupt::POLL)));
            match self.stream.write(bytes) {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if waits(&e) => {}
                Err(e) => return Err(io_failure(&e)),
            }
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<Reply, Failure> {
        let mut need = 1;
        loop {
            if self.buffer.len() >= need {
                let decoded = resp::decode(&self.buffer)
                    .map_err(|e| Failure::Protocol(self.secrets.redact(&e)))?;
                match decoded {
                    // Where error text enters: made safe once, before anyone quotes it (the
                    // credentials cut out, control characters escaped).
                    Decoded::Reply(Reply::Error(text), used) => {
                        self.buffer.drain(..used);
                        let text = toolkit::words::printable(&self.secrets.redact(&text));
                        return Ok(Reply::Error(text));
                    }
                    Decoded::Reply(reply, used) => {
                        self.buffer.drain(..used);
                        return Ok(reply);
                    }
                    Decoded::Need(n) => need = n,
                }
                if need > MAX_REPLY_BYTES {
                    return Err(Failure::TooLarge);
                }
            }
            self.fill(need)?;
        }
    }

    /// Reads until the buffer holds `need` bytes.
    fn fill(&mut self, need: usize) -> Result<(), Failure> {
        let mut chunk = [0u8; 64 * 1024];
        while self.buffer.len() < need {
            self.deadline.check()?;
            let left = self.deadline.remaining().ok_or_else(|| self.no_reply())?;
            let _ = self
                .stream
                .set_read_timeout(Some(left.min(interrupt::POLL)));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if waits(&e) => {}
                Err(e) => return Err(io_failure(&e)),
            }
        }
        Ok(())
    }
}

/// A read or write that ran out of its slice of time, or was interrupted by a signal: look at
/// the clock and the flag, then go on.
fn waits(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

fn io_failure(e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
            Failure::Closed
        }
        _ => Failure::Io(e.to_string()),
    }
}
