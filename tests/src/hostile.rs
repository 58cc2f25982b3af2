//! Peers that misbehave, for the hostile-input tests of the Redis tools: TCP listeners that
//! speak just enough of the Redis protocol to look like an empty cluster node, and then do what
//! an attacker or a broken host would: answer a byte a second, never answer, name new peers
//! without end, send a 10 MB line or an endless reply, go silent once the tool starts to
//! change them, or quote the password they were sent in an error. They stand for a misbehaving
//! peer, not for Redis: every test that needs a working node starts a real redis-server beside
//! them. Each stops when dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::PortLease;

/// What a [`FakePeer`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts connections, reads, never answers.
    Silent,
    /// Answers the first command with a valid 200-byte reply, one byte a second.
    Trickle,
    /// An empty cluster node whose CLUSTER NODES names `fan_out` peers never named before, at
    /// fresh 127.x.y.z addresses on the same port, which this same listener answers (it
    /// listens on every address).
    Expanding { fan_out: usize },
    /// An empty cluster node whose own CLUSTER NODES line carries a host name of `bytes` bytes.
    HugeLine { bytes: usize },
    /// Answers the first command with a bulk string claiming 100 MB and sends it as fast as
    /// it can.
    Flood,
    /// An empty cluster node that answers every question (INFO, CLUSTER INFO, CLUSTER NODES,
    /// CONFIG GET, CLUSTER MYID) and goes silent at the first command that would change it.
    StallOnChange,
    /// An empty cluster node that names a peer without an address whose line carries ESC and
    /// BEL (terminal escapes that clear the screen and set the title) in its host name and a
    /// flag, and with `in_id` in its node id too.
    ControlCharacters { in_id: bool },
    /// A node whose AUTH is renamed away: it answers AUTH as Redis answers an unknown command,
    /// quoting the arguments (the user name and password) in its error; otherwise an empty
    /// cluster node.
    EchoAuth,
}

/// A misbehaving peer on a leased port.
pub struct FakePeer {
    pub ip: String,
    pub port: u16,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
    _lease: PortLease,
}

impl FakePeer {
    /// Listens on `ip` and behaves as told.
    pub fn start(ip: &str, behaviour: Behaviour) -> FakePeer {
        let lease = PortLease::take(ip);
        let listener = TcpListener::bind((ip, lease.port)).expect("cannot bind a fake peer");
        FakePeer::serve(ip, listener, lease, behaviour)
    }

    /// Listens on every address (0.0.0.0), so that any 127.x.y.z on its port reaches it: for
    /// peers that name many addresses. [`FakePeer::ip`] is 127.0.0.1.
    pub fn start_everywhere(behaviour: Behaviour) -> FakePeer {
        let lease = PortLease::take_on(&["0.0.0.0"]);
        let listener = TcpListener::bind(("0.0.0.0", lease.port)).expect("cannot bind a fake peer");
        FakePeer::serve("127.0.0.1", listener, lease, behaviour)
    }

    fn serve(ip: &str, listener: TcpListener, lease: PortLease, behaviour: Behaviour) -> FakePeer {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let port = lease.port;
        let accepting = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let fresh = Arc::new(AtomicU32::new(0));
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let stop = stop.clone();
                            let fresh = fresh.clone();
                            std::thread::spawn(move || {
                                let _ = Conversation {
                                    stream,
                                    stop,
                                    behaviour,
                                    port,
                                    fresh,
                                }
                                .run();
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        FakePeer {
            ip: ip.to_string(),
            port,
            stop,
            accepting: Some(accepting),
            _lease: lease,
        }
    }

    /// `ip:port`, as the tools take it.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accepting.take() {
            let _ = handle.join();
        }
    }
}

/// A port on every address where connections are never accepted and new ones hang: the
/// listen queue (length 0) is kept full, so the kernel drops further SYNs, as a host behind a
/// firewall that drops packets would. [`Blackhole::addrs`] names as many distinct silent
/// addresses as a test needs.
pub struct Blackhole {
    pub port: u16,
    _listener: std::net::TcpListener,
    _queued: Vec<TcpStream>,
    _lease: PortLease,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        let lease = PortLease::take_on(&["0.0.0.0"]);
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("cannot open a socket");
        let addr: SocketAddr = ([0, 0, 0, 0], lease.port).into();
        socket
            .bind(&addr.into())
            .expect("cannot bind the blackhole");
        socket.listen(0).expect("cannot listen");
        let target: SocketAddr = ([127, 0, 0, 1], lease.port).into();
        // Fill the queue; these complete at once, later connects hang.
        let queued = (0..3)
            .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_millis(200)).ok())
            .collect();
        Blackhole {
            port: lease.port,
            _listener: socket.into(),
            _queued: queued,
            _lease: lease,
        }
    }

    /// `count` distinct addresses (127.0.1.1, 127.0.1.2, …) on the blackhole's port.
    pub fn addrs(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("127.0.{}.{}:{}", 1 + i / 250, 1 + i % 250, self.port))
            .collect()
    }
}

/// One accepted connection of a fake peer.
struct Conversation {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    behaviour: Behaviour,
    port: u16,
    fresh: Arc<AtomicU32>,
}

impl Conversation {
    fn run(mut self) -> std::io::Result<()> {
        self.stream
            .set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut buffer = Vec::new();
        let mut stalled = false;
        let mut chunk = [0u8; 4096];
        while !self.stop.load(Ordering::SeqCst) {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => return Err(e),
            }
            while let Some((words, used)) = command(&buffer) {
                buffer.drain(..used);
                if stalled {
                    continue;
                }
                match self.behaviour {
                    Behaviour::Silent => {}
                    Behaviour::Trickle => return self.trickle(),
                    Behaviour::Flood => return self.flood(),
                    Behaviour::StallOnChange if !is_question(&words) => stalled = true,
                    _ => {
                        let reply = self.answer(&words);
                        self.stream.write_all(&reply)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn trickle(&mut self) -> std::io::Result<()> {
        let body = "x".repeat(200);
        let reply = format!("${}\r\n{body}\r\n", body.len());
        for byte in reply.as_bytes() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            self.stream.write_all(&[*byte])?;
            for _ in 0..20 {
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    fn flood(&mut self) -> std::io::Result<()> {
        self.stream.write_all(b"$100000000\r\n")?;
        let chunk = vec![b'x'; 64 * 1024];
        while !self.stop.load(Ordering::SeqCst) {
            self.stream.write_all(&chunk)?;
        }
        Ok(())
    }

    /// What an empty cluster node would answer.
    fn answer(&self, words: &[String]) -> Vec<u8> {
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let me = self
            .stream
            .local_addr()
            .map_or_else(|_| "127.0.0.1".to_string(), |a| a.ip().to_string());
        let id = format!("{:0>40}", format!("{:x}", hash(&me)));
        match upper.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["AUTH", ..] if self.behaviour == Behaviour::EchoAuth => {
                // Redis's own wording (server.c, processCommand).
                let args: String = words[1..].iter().map(|w| format!("'{w}' ")).collect();
                format!("-ERR unknown command 'AUTH', with args beginning with: {args}\r\n")
                    .into_bytes()
            }
            ["INFO", ..] => bulk(
                "# Server\r\nredis_version:7.0.15\r\n# Replication\r\nrole:master\r\n# Cluster\r\ncluster_enabled:1\r\n# Keyspace\r\n",
            ),
            ["CLUSTER", "INFO"] => bulk("cluster_state:fail\r\ncluster_slots_assigned:0\r\ncluster_known_nodes:1\r\ncluster_size:0\r\n"),
            ["CLUSTER", "MYID"] => bulk(&id),
            ["CLUSTER", "NODES"] => bulk(&self.nodes(&me, &id)),
            ["CONFIG", "GET", name] => {
                let value = match *name {
                    "CLUSTER-NODE-TIMEOUT" => "5000",
                    "REPL-DISKLESS-SYNC-DELAY" => "5",
                    _ => "",
                };
                let name = name.to_ascii_lowercase();
                format!(
                    "*2\r\n${}\r\n{name}\r\n${}\r\n{value}\r\n",
                    name.len(),
                    value.len()
                )
                .into_bytes()
            }
            _ => b"+OK\r\n".to_vec(),
        }
    }

    fn nodes(&self, me: &str, id: &str) -> String {
        let bus = u32::from(self.port) + 10_000;
        let mut text = match self.behaviour {
            Behaviour::HugeLine { bytes } => format!(
                "{id} {me}:{}@{bus},{} myself,master - 0 0 0 connected\n",
                self.port,
                "h".repeat(bytes)
            ),
            _ => format!(
                "{id} {me}:{}@{bus} myself,master - 0 0 0 connected\n",
                self.port
            ),
        };
        if let Behaviour::ControlCharacters { in_id } = self.behaviour {
            let peer = if in_id {
                format!("{}\x1b[2J", "e".repeat(36))
            } else {
                "e".repeat(40)
            };
            text.push_str(&format!(
                "{peer} :0@0,host\x1b[2J\x07 master,noaddr,x\x1b]0;pwned\x07 - 0 0 0 disconnected\n"
            ));
        }
        if let Behaviour::Expanding { fan_out } = self.behaviour {
            for _ in 0..fan_out {
                let n = self.fresh.fetch_add(1, Ordering::SeqCst);
                let ip = format!(
                    "127.{}.{}.{}",
                    10 + n / 63_500 % 240,
                    n / 250 % 254,
                    1 + n % 250
                );
                text.push_str(&format!(
                    "{:0>40} {ip}:{}@{bus} master - 0 0 0 connected\n",
                    format!("{:x}", hash(&ip)),
                    self.port
                ));
            }
        }
        text
    }
}

/// Commands that only read: what a tool asks before it changes anything.
fn is_question(words: &[String]) -> bool {
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    matches!(
        upper
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["INFO", ..] | ["CLUSTER", "INFO" | "NODES" | "MYID"] | ["CONFIG", "GET", _] | ["AUTH", ..]
    )
}

fn bulk(text: &str) -> Vec<u8> {
    format!("${}\r\n{text}\r\n", text.len()).into_bytes()
}

fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// One command (an array of bulk strings) at the start of `buffer` and the bytes it took.
fn command(buffer: &[u8]) -> Option<(Vec<String>, usize)> {
    fn line(buffer: &[u8], at: usize) -> Option<(&str, usize)> {
        let end = buffer.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        Some((std::str::from_utf8(&buffer[at..end]).ok()?, end + 2))
    }
    let (count, mut at) = line(buffer, 0)?;
    let count: usize = count.strip_prefix('*')?.parse().ok()?;
    let mut words = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let (length, start) = line(buffer, at)?;
        let length: usize = length.strip_prefix('$')?.parse().ok()?;
        let word = buffer.get(start..start + length)?;
        words.push(String::from_utf8_lossy(word).into_owned());
        at = start + length + 2;
    }
    (buffer.len() >= at).then_some((words, at))
}

/// What one run of a tool gave, and how long it took.
#[derive(Debug)]
pub struct Run {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    /// Runs `command` to its end, timing it.
    pub fn of(command: &mut Command) -> Run {
        let started = Instant::now();
        let output = command.output().expect("cannot run the tool");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            took: started.elapsed(),
        }
    }

    /// Asserts the run ended within `secs` plus what a loaded two-core machine may add.
    pub fn assert_within(&self, secs: u64) {
        let bound = Duration::from_secs(secs + 4);
        assert!(
            self.took < bound,
            "took {:?}, bound {bound:?}; stderr: {}",
            self.took,
            self.stderr
        );
    }
}
