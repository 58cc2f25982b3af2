//! carpctl's control commands as a client runs them: under a chosen umask, against stand-in
//! engines (a state file owned by this live process and a control socket that answers as an
//! engine would and records what it was asked). No network, no root. Everything stops on drop,
//! also when the test fails.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// `carpctl ARGS --state-dir DIR` run with the umask `umask` (octal, as sh's `umask`).
pub fn carpctl(args: &[&str], dir: &Path, umask: &str) -> Output {
    command(args, dir, umask).output().unwrap()
}

/// The command [`carpctl`] runs, to start it in the background.
pub fn command(args: &[&str], dir: &Path, umask: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
        .arg(env!("CARGO_BIN_EXE_carpctl"))
        .args(args)
        .arg("--state-dir")
        .arg(dir);
    command
}

/// A child process killed and reaped on drop.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Hook = Box<dyn Fn() + Send + Sync>;

/// A stand-in for the engine of one vhid.
pub struct StandIn {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    /// The request lines received, in order of arrival.
    requests: Arc<Mutex<Vec<String>>>,
    server: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Starts answering for `vhid` in `dir`; `before_promote` runs before a promote is
    /// answered.
    pub fn start(
        dir: &Path,
        vhid: u8,
        before_promote: impl Fn() + Send + Sync + 'static,
    ) -> StandIn {
        std::fs::write(
            dir.join(format!("vhid{vhid}.json")),
            format!("{}\n", status(vhid, 0)),
        )
        .unwrap();
        let socket = dir.join(format!("vhid{vhid}.sock"));
        let listener = UnixListener::bind(&socket).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let hook: Arc<Hook> = Arc::new(Box::new(before_promote));
        let (stopped, seen) = (stop.clone(), requests.clone());
        let server = std::thread::spawn(move || {
            let demotion = Arc::new(Mutex::new(0u8));
            let mut clients = Vec::new();
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let (seen, hook, demotion) = (seen.clone(), hook.clone(), demotion.clone());
                clients.push(std::thread::spawn(move || {
                    answer(stream.unwrap(), vhid, &seen, &hook, &demotion);
                }));
            }
            for client in clients {
                let _ = client.join();
            }
        });
        StandIn {
            socket,
            stop,
            requests,
            server: Some(server),
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves one client: one line in, the state as the engine would report it out.
fn answer(
    stream: UnixStream,
    vhid: u8,
    seen: &Mutex<Vec<String>>,
    hook: &Hook,
    demotion: &Mutex<u8>,
) {
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let request = line.trim().to_string();
    seen.lock().unwrap().push(request.clone());
    if request == "promote" {
        hook();
        *demotion.lock().unwrap() = 0;
    } else if let Some(n) = request.strip_prefix("demote ") {
        let mut d = demotion.lock().unwrap();
        *d = d.saturating_add(n.parse().unwrap()).min(240);
    }
    let reply = status(vhid, *demotion.lock().unwrap());
    let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so it sees the flag.
        let _ = UnixStream::connect(&self.socket);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A state file's content for `vhid`, as a running engine owned by this process writes it.
fn status(vhid: u8, demotion: u8) -> serde_json::Value {
    serde_json::json!({
        "vhid": vhid, "interface": "eth0", "state": "MASTER", "pid": std::process::id(),
        "src": "10.0.0.2", "vips": ["10.0.0.100/24"], "advbase": 1, "advskew": 0,
        "demotion": demotion, "link_demotion": 0, "effective_skew": demotion,
        "preempt": false, "since": "2026-01-01T00:00:00.000Z", "bad_adverts": {},
        "last_peer": null, "links": {}, "carpver": 2, "vrrpprio": 100,
        "effective_priority": 0, "vrrpinterval": 100, "master_interval_cs": 100, "peers": []
    })
}
