//! The control socket's server, off the advertisement path: a thread accepts connections and
//! gives each client a thread of its own with one deadline for the whole request (read the
//! line, wait for the engine, write the answer), and at most [`MAX_CLIENTS`] at a time. The
//! engine only sees finished requests, through a channel and a wake-up socket it polls, and
//! answers without waiting on anybody: a client that trickles a byte at a time, or many that
//! say nothing, can never delay an advertisement.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::control::Request;

/// Clients served at once; more are told to come back later.
pub const MAX_CLIENTS: usize = 8;
/// Time a client has to send its request and read the answer.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(2);
/// The longest request line ("demote 240" is 10 bytes).
const MAX_LINE: usize = 64;
/// Time to write an answer once the deadline passed (the error saying so).
const WRITE_GRACE: Duration = Duration::from_millis(100);

/// A request waiting for the engine's answer.
pub struct Call {
    pub request: Request,
    reply: mpsc::Sender<String>,
}

impl Call {
    /// Hands the answer line to the client's thread (which may have given up already).
    pub fn answer(self, line: String) {
        let _ = self.reply.send(line);
    }
}

pub struct ControlServer {
    calls: mpsc::Receiver<Call>,
    wake: UnixStream,
}

impl ControlServer {
    /// Serves `listener` from a thread of its own.
    pub fn start(listener: UnixListener) -> io::Result<Self> {
        let (wake, waker) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        listener.set_nonblocking(false)?;
        let (tx, calls) = mpsc::channel();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || accept_loop(&listener, &tx, &waker))?;
        Ok(ControlServer { calls, wake })
    }

    /// The requests that arrived since the last call.
    pub fn calls(&self) -> Vec<Call> {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        self.calls.try_iter().collect()
    }
}

impl AsFd for ControlServer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

fn accept_loop(listener: &UnixListener, tx: &mpsc::Sender<Call>, waker: &UnixStream) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
            let _ = stream.set_nonblocking(true);
            let _ = (&stream).write_all(
                b"error busy: too many control clients at once; try again in a moment\n",
            );
            // Closing with the request unread would reset the connection before the client
            // reads the answer.
            let _ = (&stream).read(&mut [0u8; MAX_LINE]);
            continue;
        }
        let (Ok(waker), tx, active) = (waker.try_clone(), tx.clone(), active.clone()) else {
            continue;
        };
        active.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("control-client".into())
            .spawn({
                let active = active.clone();
                move || {
                    serve_client(&stream, &tx, &waker);
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_client(stream: &UnixStream, tx: &mpsc::Sender<Call>, waker: &UnixStream) {
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let reply = match read_line(stream, deadline) {
        Err(message) => format!("error {message}"),
        Ok(line) => match Request::parse(&line) {
            None => format!(
                "error unknown command '{}'; send 'demote N', 'promote' or 'status'",
                line.trim()
            ),
            Some(request) => {
                let (reply, answer) = mpsc::channel();
                if tx.send(Call { request, reply }).is_err() {
                    return;
                }
                // A full wake-up socket means the engine has a wake-up pending already.
                let _ = (&*waker).write(&[1]);
                match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(line) => line,
                    Err(_) => "error the engine did not answer in time".into(),
                }
            }
        },
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if stream
        .set_write_timeout(Some(left.max(WRITE_GRACE)))
        .is_ok()
    {
        let _ = (&*stream).write_all(format!("{reply}\n").as_bytes());
    }
}

/// The first line the client sends, within the deadline and [`MAX_LINE`] bytes.
fn read_line(stream: &UnixStream, deadline: Instant) -> Result<String, String> {
    let mut line = Vec::new();
    let mut chunk = [0u8; MAX_LINE];
    while !line.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no complete request within {} s",
                CLIENT_DEADLINE.as_secs()
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match (&*stream).read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => line.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
        if line.len() > MAX_LINE {
            return Err(format!("request longer than {MAX_LINE} bytes"));
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    Ok(String::from_utf8_lossy(&line[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose engine answers every call with "ok <request>", served by a thread
    /// that polls the wake-up socket as the engine does.
    fn server() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let server = ControlServer::start(UnixListener::bind(&path).unwrap()).unwrap();
        std::thread::spawn(move || loop {
            for call in server.calls() {
                let line = format!("ok {}", call.request.to_line().trim());
                call.answer(line);
            }
            std::thread::sleep(Duration::from_millis(5));
        });
        (dir, path)
    }

    fn ask(path: &std::path::Path, request: &[u8]) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn requests_are_answered_and_junk_refused() {
        let (_dir, path) = server();
        assert_eq!(ask(&path, b"demote 20\n"), "ok demote 20\n");
        assert!(ask(&path, b"reboot\n").starts_with("error unknown command 'reboot'"));
        assert!(ask(&path, &[b'x'; 100]).contains("longer than 64 bytes"));
    }

    #[test]
    fn silent_clients_are_capped_and_dropped_at_the_deadline() {
        let (_dir, path) = server();
        let silent: Vec<UnixStream> = (0..MAX_CLIENTS)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut busy = String::new();
        UnixStream::connect(&path)
            .unwrap()
            .read_to_string(&mut busy)
            .unwrap();
        assert!(busy.starts_with("error busy"), "{busy}");
        let started = Instant::now();
        let mut out = String::new();
        (&silent[0]).read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with("error no complete request within 2 s"),
            "{out}"
        );
        let waited = started.elapsed();
        assert!(
            waited < CLIENT_DEADLINE + Duration::from_millis(500),
            "{waited:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(ask(&path, b"status\n"), "ok status\n", "room again");
    }

    #[test]
    fn a_trickling_client_is_cut_off_at_the_deadline() {
        let (_dir, path) = server();
        let mut s = UnixStream::connect(&path).unwrap();
        let started = Instant::now();
        // One byte every 0.4 s never finishes "status\n" in time.
        for b in b"stat" {
            s.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(400));
        }
        let _ = s.write_all(b"us");
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("error no complete request"), "{out}");
        assert!(started.elapsed() < CLIENT_DEADLINE + Duration::from_millis(500));
    }
}
