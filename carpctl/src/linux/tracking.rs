//! The I/O of Redis health tracking: one thread per tracked instance probes it every interval
//! (a fresh connection, AUTH when a password is given, `INFO replication`, all within the
//! interval) and hands the result to the event loop through a channel, waking its poll with a
//! byte on a socket pair. What the results add up to is `crate::health`'s.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use redis_cluster::{ConnectOptions, Connection, Deadline, ErrorKind, Failure, Info, NodeAddr};

use crate::error::Error;
use crate::health::Probe;

/// Probes `addr` once within `bound`.
pub fn probe(addr: NodeAddr, options: &ConnectOptions, bound: Duration) -> Probe {
    let deadline = Deadline::after(bound).ignoring_signals();
    let reply = Connection::open(addr, options, deadline)
        .and_then(|mut connection| connection.query_as::<String>(&["INFO", "replication"]));
    match reply {
        Ok(text) => {
            let info = Info::parse(&text);
            if info.is_replica() && !info.master_link_up() {
                Probe::Syncing("a replica whose link to its master is down".to_string())
            } else {
                Probe::Ready
            }
        }
        Err(Failure::NoReply { .. }) => Probe::NoAnswer,
        Err(Failure::Server(e)) if e.is(&ErrorKind::Loading) => {
            Probe::Syncing("loading its data".to_string())
        }
        Err(Failure::Server(e)) if e.is(&ErrorKind::Auth) || e.is(&ErrorKind::NoPermission) => {
            Probe::Down(format!(
                "{e}; give the tracking user's password with --track-pass-file (or REDISCLI_AUTH)"
            ))
        }
        Err(failure) => Probe::Down(failure.to_string()),
    }
}

/// The probes' side of the event loop: their results and the socket that wakes the poll.
pub struct Probes {
    results: Receiver<(usize, Probe)>,
    wake: UnixStream,
}

impl Probes {
    /// Starts probing every one of `addrs` every `interval`.
    pub fn start(
        addrs: &[NodeAddr],
        options: &ConnectOptions,
        interval: Duration,
    ) -> Result<Probes, Error> {
        let fail = |e| Error::io("cannot start the Redis probes", e);
        let (wake, waker) = UnixStream::pair().map_err(fail)?;
        wake.set_nonblocking(true).map_err(fail)?;
        // A probe never waits for the loop: a wake-up that does not fit is not needed.
        waker.set_nonblocking(true).map_err(fail)?;
        let (sender, results) = mpsc::channel();
        for (index, addr) in addrs.iter().enumerate() {
            let prober = Prober {
                index,
                addr: *addr,
                options: options.clone(),
                interval,
                sender: sender.clone(),
                waker: waker.try_clone().map_err(fail)?,
            };
            std::thread::Builder::new()
                .name(format!("probe {addr}"))
                .spawn(move || prober.run())
                .map_err(fail)?;
        }
        Ok(Probes { results, wake })
    }

    /// The results that came in since the last call, in the order they came.
    pub fn take(&self) -> Vec<(usize, Probe)> {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        self.results.try_iter().collect()
    }
}

impl AsFd for Probes {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

struct Prober {
    index: usize,
    addr: NodeAddr,
    options: ConnectOptions,
    interval: Duration,
    sender: Sender<(usize, Probe)>,
    waker: UnixStream,
}

impl Prober {
    /// Probes until the engine is gone; each probe starts one interval after the previous one
    /// started, whatever it took.
    fn run(mut self) {
        let mut next = Instant::now();
        loop {
            let found = probe(self.addr, &self.options, self.interval);
            if self.sender.send((self.index, found)).is_err() {
                return;
            }
            let _ = self.waker.write_all(b"p");
            next += self.interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }
}
