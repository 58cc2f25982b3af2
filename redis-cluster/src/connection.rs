//! One connection to one node, every byte of it under a [`Deadline`]: connecting gets the
//! time left, not a fixed bound; a pipeline's replies share the deadline instead of each
//! getting a timeout of its own; a node that answers a byte a second gains nothing from it, as
//! each read waits only for what is left. A reply may not grow past [`MAX_REPLY_BYTES`]. Reads
//! and writes wake every few milliseconds to look at `toolkit::interrupt`, so Ctrl-C is seen
//! while a node keeps us waiting. Redis' own client (the `redis` crate) bounds each read only,
//! so the transport is ours; its value types and conversions are still used. With TLS (see
//! [`crate::tls`]) the handshake runs inside the same deadline, before the first command.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};

use redis::{FromRedisValue, Value};
use toolkit::interrupt::{self, Interrupted};

use crate::deadline::{seconds, Deadline};
use crate::errors::{self, ServerError};
use crate::redact::Secrets;
use crate::resp::{self, Decoded, Reply};
use crate::survey::ConnectOptions;
use crate::tls::Tls;
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
    /// A new plaintext connection closed before any byte came back: what a TLS port does to a
    /// client that does not speak TLS, and what Redis does in protected mode or at maxclients.
    #[error(
        "the server closed the connection before its first reply: the port may need --tls \
         (or Redis refused the client: protected mode, maxclients)"
    )]
    Dropped,
    /// The TLS handshake failed, or the server refused it: the cause, in words.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The TLS handshake did not end within the deadline. A plaintext Redis port takes the
    /// handshake's first bytes for the start of a command and waits for the rest.
    #[error("TLS handshake: no reply within {}: no TLS on this port?", seconds(*bound))]
    Handshake { bound: Duration },
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
            Failure::NoReply { .. }
            | Failure::Closed
            | Failure::Dropped
            | Failure::Io(_)
            | Failure::Connect(_)
            | Failure::Handshake { .. } => true,
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

/// The bytes of a connection: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket under it, whose timeouts bound each read and write.
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// An open connection to one node.
pub struct Connection {
    stream: Stream,
    /// The TLS configuration, to tell what a TLS error read later means.
    tls: Option<Tls>,
    /// Whether any byte came back yet: a plaintext connection closed before that is
    /// [`Failure::Dropped`].
    answered: bool,
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
        let stream = match &options.tls {
            None => Stream::Plain(stream),
            Some(tls) => Stream::Tls(Box::new(handshake(tls, addr, stream, deadline)?)),
        };
        let mut connection = Connection {
            stream,
            tls: options.tls.clone(),
            answered: false,
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
                .socket()
                .set_write_timeout(Some(left.min(interrupt::POLL)));
            match self.stream.write(bytes) {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if waits(&e) => {}
                Err(e) => return Err(self.io_failure(&e)),
            }
        }
        // TLS keeps what the socket did not take yet: push it out within the same deadline.
        let no_reply = self.no_reply();
        if let Stream::Tls(tls) = &mut self.stream {
            while tls.conn.wants_write() {
                self.deadline.check()?;
                let left = self.deadline.remaining().ok_or_else(|| no_reply.clone())?;
                let _ = tls.sock.set_write_timeout(Some(left.min(interrupt::POLL)));
                match tls.conn.write_tls(&mut tls.sock) {
                    Ok(_) => {}
                    Err(e) if waits(&e) => {}
                    Err(e) => return Err(io_failure(&e)),
                }
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
                .socket()
                .set_read_timeout(Some(left.min(interrupt::POLL)));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(self.closed()),
                Ok(n) => {
                    self.answered = true;
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
                Err(e) if waits(&e) => {}
                Err(e) => return Err(self.io_failure(&e)),
            }
        }
        Ok(())
    }

    /// The connection closed: [`Failure::Dropped`] when nothing ever came back on plaintext.
    fn closed(&self) -> Failure {
        match self.stream {
            Stream::Plain(_) if !self.answered => Failure::Dropped,
            _ => Failure::Closed,
        }
    }

    /// A read or write error, with what TLS says of it (a server that refuses the client
    /// certificate says so after the handshake, at the first read, in TLS 1.3).
    fn io_failure(&self, e: &std::io::Error) -> Failure {
        if let (Some(tls), Some(error)) = (&self.tls, rustls_error(e)) {
            return Failure::Tls(tls.cause(error));
        }
        match io_failure(e) {
            Failure::Closed => self.closed(),
            other => other,
        }
    }
}

/// Runs the TLS handshake on `socket` within `deadline`.
fn handshake(
    tls: &Tls,
    addr: NodeAddr,
    mut socket: TcpStream,
    deadline: Deadline,
) -> Result<StreamOwned<ClientConnection, TcpStream>, Failure> {
    let mut session = tls.session(addr.0).map_err(Failure::Tls)?;
    let timed_out = Failure::Handshake {
        bound: deadline.bound(),
    };
    let closed =
        || Failure::Tls("the server closed the connection: no TLS on this port?".to_string());
    while session.is_handshaking() {
        deadline.check()?;
        let left = deadline.remaining().ok_or_else(|| timed_out.clone())?;
        let slice = Some(left.min(interrupt::POLL));
        if session.wants_write() {
            let _ = socket.set_write_timeout(slice);
            match session.write_tls(&mut socket) {
                Ok(_) => {}
                Err(e) if waits(&e) => {}
                Err(e) if matches!(io_failure(&e), Failure::Closed) => return Err(closed()),
                Err(e) => return Err(io_failure(&e)),
            }
            continue;
        }
        let _ = socket.set_read_timeout(slice);
        match session.read_tls(&mut socket) {
            Ok(0) => return Err(closed()),
            Ok(_) => {
                if let Err(error) = session.process_new_packets() {
                    // The alert that tells the server why; it may not listen any more.
                    let _ = socket.set_write_timeout(slice);
                    let _ = session.write_tls(&mut socket);
                    return Err(Failure::Tls(tls.cause(&error)));
                }
            }
            Err(e) if waits(&e) => {}
            Err(e) if matches!(io_failure(&e), Failure::Closed) => return Err(closed()),
            Err(e) => return Err(io_failure(&e)),
        }
    }
    Ok(StreamOwned::new(session, socket))
}

/// The TLS error inside an I/O error, where rustls put one.
fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
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
