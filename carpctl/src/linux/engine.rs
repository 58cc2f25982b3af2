//! The event loop of `carpctl run`: waits on the CARP socket, the control socket and the
//! signal pipe with the state machine's next deadline as timeout, and carries out the actions
//! the machine returns (adverts, addresses, gratuitous ARP, events, state file, hooks).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pnet_datalink::NetworkInterface;
use serde::Serialize;

use super::addresses::Addresses;
use super::arp;
use super::link::LinkWatch;
use super::ndp;
use super::socket::CarpSocket;
use crate::control::{self, EngineStatus, Request};
use crate::error::Error;
use crate::machine::{Action, Config, Machine, Reason, State};
use crate::output;
use crate::settings::RunSettings;
use crate::wire::{self, Advert, Defect};

/// How often totals of ignored advertisements are reported when they grew.
const TOTALS_EVERY: Duration = Duration::from_secs(60);
/// Least time between two state file writes caused by counters alone.
const COUNTER_WRITE_EVERY: Duration = Duration::from_secs(1);

/// One line of stdout per state change.
#[derive(Debug, Serialize)]
struct StateEvent<'a> {
    /// Always "state".
    event: &'static str,
    /// When it happened, RFC 3339 UTC.
    time: String,
    interface: &'a str,
    vhid: u8,
    from: State,
    to: State,
    reason: Reason,
}

struct Engine {
    settings: RunSettings,
    interface: NetworkInterface,
    src: Ipv4Addr,
    hashed: Vec<IpAddr>,
    socket: CarpSocket,
    addresses: Addresses,
    link: LinkWatch,
    machine: Machine,
    counter: u64,
    started: Instant,
    since: SystemTime,
    bad: BTreeMap<Defect, u64>,
    bad_reported: BTreeMap<Defect, u64>,
    last_totals: Instant,
    last_peer: Option<Ipv4Addr>,
    status_dirty: Option<Instant>,
    hooks: Vec<JoinHandle<()>>,
    stdout_open: bool,
    /// Whether the interface had its carrier when last told.
    carrier: bool,
    /// Whether the last advertisement could not be sent.
    send_failing: bool,
}

/// Runs the engine until SIGTERM, SIGINT or SIGHUP, then hands over gracefully.
pub fn run(settings: RunSettings) -> Result<(), Error> {
    let interface = find_interface(&settings.interface)?;
    let src = match settings.src {
        Some(src) => src,
        None => first_own_ipv4(&interface, &settings)
            .ok_or_else(|| Error::NoSource(settings.interface.clone()))?,
    };
    let dir = settings.state_dir.clone();
    if let Some(other) = control::running_engines(&dir, Some(settings.vhid))?.first() {
        return Err(Error::AlreadyRunning {
            vhid: settings.vhid,
            pid: other.pid,
        });
    }

    let (signal_rx, signal_tx) =
        UnixStream::pair().map_err(|e| Error::io("cannot create the signal pipe", e))?;
    signal_rx
        .set_nonblocking(true)
        .map_err(|e| Error::io("cannot create the signal pipe", e))?;
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        let tx = signal_tx
            .try_clone()
            .map_err(|e| Error::io("cannot create the signal pipe", e))?;
        signal_hook::low_level::pipe::register(signal, tx)
            .map_err(|e| Error::io("cannot install signal handlers", e))?;
    }

    let socket = CarpSocket::open(&settings.interface, interface.index).map_err(|e| {
        Error::io(
            format!(
                "cannot open the CARP socket on '{}' (raw sockets need root or CAP_NET_RAW)",
                settings.interface
            ),
            e,
        )
    })?;
    let addresses = Addresses::open(interface.index)
        .map_err(|e| Error::io("cannot open the rtnetlink socket", e))?;
    let link = LinkWatch::open(interface.index)
        .map_err(|e| Error::io("cannot watch the link state through rtnetlink", e))?;
    // Created only now, so a run refused above leaves nothing behind.
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::io(
            format!("cannot create state directory '{}'", dir.display()),
            e,
        )
    })?;
    let socket_path = control::socket_path(&dir, settings.vhid);
    let _ = std::fs::remove_file(&socket_path);
    let listener = UnixListener::bind(&socket_path)
        .map_err(|e| Error::io(format!("cannot listen on '{}'", socket_path.display()), e))?;
    let _ = std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o600));
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io(format!("cannot listen on '{}'", socket_path.display()), e))?;

    let mut counter_seed = [0u8; 8];
    getrandom::fill(&mut counter_seed).map_err(|e| {
        Error::io(
            "cannot get random bytes",
            std::io::Error::other(e.to_string()),
        )
    })?;

    let config = Config {
        advbase: settings.advbase,
        advskew: settings.advskew,
        preempt: settings.preempt,
        src,
    };
    let mut engine = Engine {
        hashed: settings.hashed_addresses(),
        settings,
        interface,
        src,
        socket,
        addresses,
        link,
        machine: Machine::new(config),
        counter: u64::from_be_bytes(counter_seed),
        started: Instant::now(),
        since: SystemTime::now(),
        bad: BTreeMap::new(),
        bad_reported: BTreeMap::new(),
        last_totals: Instant::now(),
        last_peer: None,
        status_dirty: None,
        hooks: Vec::new(),
        stdout_open: true,
        carrier: true,
        send_failing: false,
    };
    eprintln!(
        "carpctl: vhid {} on {} from {}: advbase {} advskew {}{}, virtual {}",
        engine.settings.vhid,
        engine.settings.interface,
        src,
        engine.settings.advbase,
        engine.settings.advskew,
        if engine.settings.preempt {
            ", preempt"
        } else {
            ""
        },
        engine.vip_list(),
    );
    let result = engine.event_loop(&signal_rx, &listener);
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(control::state_file(&dir, engine.settings.vhid));
    for hook in engine.hooks.drain(..) {
        let _ = hook.join();
    }
    result
}

fn find_interface(name: &str) -> Result<NetworkInterface, Error> {
    let all = pnet_datalink::interfaces();
    all.iter()
        .find(|i| i.name == name)
        .cloned()
        .ok_or_else(|| Error::NoInterface {
            name: name.to_string(),
            known: all.iter().map(|i| i.name.clone()).collect(),
        })
}

fn first_own_ipv4(interface: &NetworkInterface, settings: &RunSettings) -> Option<Ipv4Addr> {
    interface.ips.iter().find_map(|net| match net.ip() {
        IpAddr::V4(a) if !settings.vips.iter().any(|v| v.addr() == IpAddr::V4(a)) => Some(a),
        _ => None,
    })
}

impl Engine {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn vip_list(&self) -> String {
        self.settings
            .vips
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn event_loop(&mut self, signals: &UnixStream, listener: &UnixListener) -> Result<(), Error> {
        let actions = self.machine.start(self.now());
        self.apply(actions);
        loop {
            let timeout = self.poll_timeout();
            let mut fds = [
                PollFd::new(self.socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.link.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::io("poll failed", e.into())),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            let (packets, control, signal, link) = (
                ready(&fds[0]),
                ready(&fds[1]),
                ready(&fds[2]),
                ready(&fds[3]),
            );
            if signal {
                let actions = self.machine.shutdown();
                self.apply(actions);
                return Ok(());
            }
            if link {
                self.link_changed();
            }
            if packets {
                self.receive();
            }
            if control {
                self.serve_control(listener);
            }
            let actions = self.machine.tick(self.now());
            self.apply(actions);
            self.housekeeping();
        }
    }

    fn poll_timeout(&self) -> PollTimeout {
        let now = self.now();
        let mut wait = self
            .machine
            .deadline()
            .map_or(TOTALS_EVERY, |d| d.saturating_sub(now));
        if let Some(since) = self.status_dirty {
            wait = wait.min(COUNTER_WRITE_EVERY.saturating_sub(since.elapsed()));
        }
        wait = wait.min(TOTALS_EVERY.saturating_sub(self.last_totals.elapsed()));
        // Round up so the deadline has passed when poll returns.
        PollTimeout::try_from(wait + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
    }

    fn receive(&mut self) {
        let mut buf = [0u8; 2048];
        loop {
            let packet = match self.socket.recv(&mut buf) {
                Ok(Some(p)) => p.to_vec(),
                Ok(None) => return,
                Err(e) => {
                    eprintln!(
                        "carpctl: receiving on '{}' failed: {e}",
                        self.settings.interface
                    );
                    return;
                }
            };
            match wire::decode_ipv4(&packet) {
                Err(defect) => self.count_bad(defect, wire::source_of(&packet)),
                Ok(r) if r.advert.vhid != self.settings.vhid || r.src == self.src => {}
                Ok(r) if !r.advert.verify(&self.settings.password, &self.hashed) => {
                    self.count_bad(Defect::Hmac, Some(r.src));
                }
                Ok(r) => {
                    if self.last_peer != Some(r.src) {
                        self.last_peer = Some(r.src);
                        self.status_dirty.get_or_insert_with(Instant::now);
                    }
                    let actions =
                        self.machine
                            .advert(self.now(), r.src, r.advert.advbase, r.advert.advskew);
                    self.apply(actions);
                }
            }
        }
    }

    fn link_changed(&mut self) {
        let Some(carrier) = self.link.changes() else {
            return;
        };
        if carrier == self.carrier {
            return;
        }
        self.carrier = carrier;
        eprintln!(
            "carpctl: vhid {}: '{}' {}",
            self.settings.vhid,
            self.settings.interface,
            if carrier {
                "has its carrier back"
            } else {
                "lost its carrier"
            }
        );
        if carrier {
            let actions = self.machine.link_up(self.now());
            self.apply(actions);
        }
    }

    fn count_bad(&mut self, defect: Defect, src: Option<Ipv4Addr>) {
        let count = self.bad.entry(defect).or_default();
        *count += 1;
        if *count == 1 {
            let from = src.map_or_else(|| "an unknown sender".to_string(), |s| s.to_string());
            eprintln!(
                "carpctl: vhid {}: ignoring an advertisement from {from} with {}; further ones are counted (see carpctl status)",
                self.settings.vhid,
                defect.explain()
            );
        }
        self.status_dirty.get_or_insert_with(Instant::now);
    }

    fn housekeeping(&mut self) {
        if self
            .status_dirty
            .is_some_and(|since| since.elapsed() >= COUNTER_WRITE_EVERY)
        {
            self.write_status();
        }
        if self.last_totals.elapsed() >= TOTALS_EVERY {
            self.last_totals = Instant::now();
            if self.bad != self.bad_reported {
                let totals: Vec<String> = self
                    .bad
                    .iter()
                    .map(|(d, n)| format!("{} {n}", d.name()))
                    .collect();
                eprintln!(
                    "carpctl: vhid {}: advertisements ignored so far: {}",
                    self.settings.vhid,
                    totals.join(", ")
                );
                self.bad_reported = self.bad.clone();
            }
        }
    }

    fn serve_control(&mut self, listener: &UnixListener) {
        while let Ok((stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            let reply = match reader.read_line(&mut line).ok().and(Request::parse(&line)) {
                Some(request) => {
                    self.handle(request);
                    serde_json::to_string(&self.status()).unwrap_or_default()
                }
                None => format!(
                    "error unknown command '{}'; send 'demote N', 'promote' or 'status'",
                    line.trim()
                ),
            };
            let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
        }
    }

    fn handle(&mut self, request: Request) {
        let demotion = match request {
            Request::Status => return,
            Request::Demote(n) => self.machine.demotion().saturating_add(n),
            Request::Promote => 0,
        };
        let actions = self.machine.set_demotion(self.now(), demotion);
        eprintln!(
            "carpctl: vhid {}: demotion {}, effective skew {}",
            self.settings.vhid,
            self.machine.demotion(),
            self.machine.effective_skew()
        );
        self.apply(actions);
        self.write_status();
    }

    fn status(&self) -> EngineStatus {
        EngineStatus {
            vhid: self.settings.vhid,
            interface: self.settings.interface.clone(),
            state: self.machine.state(),
            pid: std::process::id(),
            src: self.src.to_string(),
            vips: self.settings.vips.iter().map(ToString::to_string).collect(),
            advbase: self.settings.advbase,
            advskew: self.settings.advskew,
            demotion: self.machine.demotion(),
            effective_skew: self.machine.effective_skew(),
            preempt: self.settings.preempt,
            since: output::rfc3339(self.since),
            bad_adverts: self
                .bad
                .iter()
                .map(|(d, n)| (d.name().to_string(), *n))
                .collect(),
            last_peer: self.last_peer.map(|p| p.to_string()),
        }
    }

    fn write_status(&mut self) {
        self.status_dirty = None;
        if let Err(e) = control::write_status(&self.settings.state_dir, &self.status()) {
            eprintln!(
                "carpctl: cannot write the state file in '{}': {e}",
                self.settings.state_dir.display()
            );
        }
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Advertise { advbase, advskew } => self.advertise(advbase, advskew),
                Action::AddAddresses => {
                    for vip in self.settings.vips.clone() {
                        if let Err(e) = self.addresses.add(vip) {
                            eprintln!(
                                "carpctl: cannot add {vip} to '{}': {e}",
                                self.settings.interface
                            );
                        }
                    }
                }
                Action::RemoveAddresses => {
                    for vip in self.settings.vips.clone() {
                        if let Err(e) = self.addresses.remove(vip) {
                            eprintln!(
                                "carpctl: cannot remove {vip} from '{}': {e}",
                                self.settings.interface
                            );
                        }
                    }
                }
                Action::Announce => self.announce(),
                Action::Transition { from, to, reason } => self.transition(from, to, reason),
            }
        }
    }

    /// Gratuitous ARP for the IPv4 addresses, unsolicited neighbour advertisements for the
    /// IPv6 ones.
    fn announce(&self) {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for vip in &self.settings.vips {
            match vip.addr() {
                IpAddr::V4(a) => v4.push(a),
                IpAddr::V6(a) => v6.push(a),
            }
        }
        if let Err(e) = arp::announce(&self.interface, &v4) {
            eprintln!(
                "carpctl: cannot send gratuitous ARP on '{}': {e}",
                self.settings.interface
            );
        }
        if let Err(e) = ndp::announce(&self.interface, &v6) {
            eprintln!(
                "carpctl: cannot send neighbour advertisements on '{}': {e}",
                self.settings.interface
            );
        }
    }

    fn advertise(&mut self, advbase: u8, advskew: u8) {
        self.counter = self.counter.wrapping_add(1);
        let advert = Advert::signed(
            self.settings.vhid,
            advbase,
            advskew,
            self.counter,
            &self.settings.password,
            &self.hashed,
        );
        match self.socket.send(&wire::encode_ipv4(self.src, &advert)) {
            // Reported once per run of failures, not once a second.
            Err(e) if !self.send_failing => {
                self.send_failing = true;
                eprintln!(
                    "carpctl: cannot send advertisements on '{}': {e}; retrying every interval",
                    self.settings.interface
                );
            }
            Ok(()) if self.send_failing => {
                self.send_failing = false;
                eprintln!(
                    "carpctl: advertisements on '{}' are sent again",
                    self.settings.interface
                );
            }
            _ => {}
        }
    }

    fn transition(&mut self, from: State, to: State, reason: Reason) {
        self.since = SystemTime::now();
        let event = StateEvent {
            event: "state",
            time: output::rfc3339(self.since),
            interface: &self.settings.interface,
            vhid: self.settings.vhid,
            from,
            to,
            reason,
        };
        eprintln!(
            "carpctl: vhid {} on {}: {from} -> {to} ({reason})",
            self.settings.vhid, self.settings.interface
        );
        if self.stdout_open {
            let line = serde_json::to_string(&event).unwrap_or_default();
            self.stdout_open = toolkit::stdio::print_text(&format!("{line}\n")).unwrap_or(false);
        }
        self.write_status();
        let hook = match (from, to) {
            (_, State::Master) => self.settings.up_hook.clone(),
            (State::Master, _) => self.settings.down_hook.clone(),
            _ => None,
        };
        if let Some(command) = hook {
            self.run_hook(&command, from, to, reason);
        }
    }

    /// Runs a hook through `sh -c` with the state in `CARP_*` variables; its output goes to
    /// our stderr so stdout stays data only. A thread waits for it so the loop never blocks.
    fn run_hook(&mut self, command: &str, from: State, to: State, reason: Reason) {
        let stderr = match std::io::stderr().as_fd().try_clone_to_owned() {
            Ok(fd) => Stdio::from(fd),
            Err(_) => Stdio::null(),
        };
        let spawned = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env("CARP_STATE", to.to_string())
            .env("CARP_FROM", from.to_string())
            .env("CARP_REASON", reason.to_string())
            .env("CARP_INTERFACE", &self.settings.interface)
            .env("CARP_VHID", self.settings.vhid.to_string())
            .env("CARP_VIPS", self.vip_list())
            .env("CARP_SRC", self.src.to_string())
            .stdin(Stdio::null())
            .stdout(stderr)
            .spawn();
        match spawned {
            Ok(mut child) => {
                let command = command.to_string();
                self.hooks.retain(|h| !h.is_finished());
                self.hooks
                    .push(std::thread::spawn(move || match child.wait() {
                        Ok(status) if status.success() => {}
                        Ok(status) => eprintln!("carpctl: hook '{command}' failed: {status}"),
                        Err(e) => {
                            eprintln!("carpctl: hook '{command}' could not be waited for: {e}");
                        }
                    }));
            }
            Err(e) => eprintln!("carpctl: cannot run hook '{command}': {e}"),
        }
    }
}
