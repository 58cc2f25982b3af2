//! The event loop of `carpctl run`: waits on the CARP socket, the control server's wake-up,
//! the signal pipe and rtnetlink with the state machine's next deadline as timeout, and
//! carries out the actions the machine returns (adverts, addresses, gratuitous ARP, events,
//! state file, hooks). Nothing in it waits on a peer or a client: the control socket is served
//! by threads of its own (`serve`), hooks are waited for by threads.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pnet_datalink::NetworkInterface;
use sd_notify::NotifyState;
use serde::Serialize;

use super::addresses::Addresses;
use super::arp;
use super::link::{LinkWatch, NetEvent};
use super::ndp;
use super::serve::{Call, ControlServer};
use super::socket::{AdvertSocket, Undecodable};
use super::tracking::Probes;
use crate::control::{self, Counters, EngineStatus, Request, REPLAYED};
use crate::error::Error;
use crate::health::{Health, Tracker};
use crate::hold;
use crate::links::{Change, LinkState, Links};
use crate::lock::{self, Lock};
use crate::log::{error, info, warning};
use crate::machine::{Action, Config, Machine, Offer, Reason, State, MAX_SKEW};
use crate::output;
use crate::replay::{ReplayGuard, Verdict};
use crate::settings::{self, RunSettings};
use crate::statedir;
use crate::subnets::LinkSubnets;
use crate::wire::vrrp::VrrpAdvert;
use crate::wire::{self, Advert, Datagram, Defect};

/// How often totals of ignored advertisements are reported when they grew.
const TOTALS_EVERY: Duration = Duration::from_secs(60);
/// Least time between two state file writes caused by counters alone.
const COUNTER_WRITE_EVERY: Duration = Duration::from_secs(1);
/// Least time between two state file writes caused by the advertisement counts alone: they
/// grow every interval, and monitoring reads them once a minute.
const COUNTS_WRITE_EVERY: Duration = Duration::from_secs(5);
/// How long start-up waits for the kernel's list of interfaces.
const FIRST_DUMP_WAIT: Duration = Duration::from_secs(1);

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

/// SIGTERM and SIGINT (stop, with a bow-out) and SIGHUP (reload): flags set by the handlers,
/// and a socket they write to so that poll wakes up.
struct Signals {
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> Result<Self, Error> {
        let fail = |e| Error::io("cannot install signal handlers", e);
        let (wake, tx) = UnixStream::pair().map_err(fail)?;
        wake.set_nonblocking(true).map_err(fail)?;
        let stop = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for (signal, flag) in [(SIGTERM, &stop), (SIGINT, &stop), (SIGHUP, &reload)] {
            // The flag first: signal-hook runs a signal's actions in the order registered,
            // so the flag is set when the wake-up arrives.
            signal_hook::flag::register(signal, flag.clone()).map_err(fail)?;
            signal_hook::low_level::pipe::register(signal, tx.try_clone().map_err(fail)?)
                .map_err(fail)?;
        }
        Ok(Signals { wake, stop, reload })
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}

struct Engine {
    settings: RunSettings,
    interface: NetworkInterface,
    /// Over multicast, adverts are believed only from these.
    subnets: LinkSubnets,
    src: IpAddr,
    hashed: Vec<IpAddr>,
    /// Where the adverts go: the peers or the group.
    destinations: Vec<IpAddr>,
    /// None while the interface is gone.
    socket: Option<AdvertSocket>,
    /// The interface index the socket and `addresses` work on.
    attached: u32,
    addresses: Addresses,
    watch: LinkWatch,
    links: Links,
    machine: Machine,
    /// What `carpctl demote` and `promote` set; the machine gets it plus the link and health
    /// demotions.
    operator_demotion: u8,
    /// Redis health tracking, when on.
    tracking: Option<Tracking>,
    replay: ReplayGuard,
    counter: u64,
    started: Instant,
    since: SystemTime,
    bad: BTreeMap<&'static str, u64>,
    bad_reported: BTreeMap<&'static str, u64>,
    last_totals: Instant,
    last_peer: Option<IpAddr>,
    status_dirty: Option<Instant>,
    /// What the state file publishes for monitoring.
    counters: Counters,
    /// Since when the advertisement counts have changed without being written.
    counts_dirty: Option<Instant>,
    hooks: Vec<JoinHandle<()>>,
    stdout_open: bool,
    /// Whether the last advertisement could not be sent.
    send_failing: bool,
    /// Whether the last refresh of the announcements could not be sent.
    refresh_failing: bool,
}

/// Redis health tracking: the probes' results and what they add up to.
struct Tracking {
    probes: Probes,
    tracker: Tracker,
    fault_hook: Option<String>,
}

impl Tracking {
    /// The demotion the host's health asks for: 240 in fault, as for a lost interface.
    fn demotion(&self) -> u8 {
        match self.tracker.health() {
            Health::Ready => 0,
            Health::Fault => MAX_SKEW,
        }
    }
}

/// Runs the engine until SIGTERM or SIGINT, then hands over gracefully. SIGHUP reads the
/// password file again and goes on.
pub fn run(settings: RunSettings) -> Result<(), Error> {
    let interface = find_interface(&settings.interface)?;
    let src = match settings.src {
        Some(src) => src,
        None => own_source(&interface, &settings).ok_or_else(|| Error::NoSource {
            interface: settings.interface.clone(),
            family: if settings.advertises_v4() {
                "IPv4"
            } else if settings.peers.is_empty() {
                "IPv6 link-local"
            } else {
                "IPv6"
            },
        })?,
    };
    let dir = settings.state_dir.clone();
    let signals = Signals::install()?;
    let socket = open_socket(&settings, interface.index, src)?;
    let addresses = Addresses::open(interface.index)
        .map_err(|e| Error::io("cannot open the rtnetlink socket", e))?;
    let watch = LinkWatch::open()
        .and_then(|w| w.request_dump().map(|()| w))
        .map_err(|e| Error::io("cannot watch the links through rtnetlink", e))?;

    // Created only now, so a run refused above leaves nothing behind.
    statedir::prepare(&dir)?;
    let lock = claim(&dir, settings.vhid)?;
    let socket_path = control::socket_path(&dir, settings.vhid);
    let listen_error = |e| Error::io(format!("cannot listen on '{}'", socket_path.display()), e);
    let listener = UnixListener::bind(&socket_path).map_err(listen_error)?;
    // Only root (the owner) may demote or promote: the socket is the engine's door.
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o600))
        .map_err(listen_error)?;
    let server = ControlServer::start(listener).map_err(listen_error)?;

    let mut counter_seed = [0u8; 8];
    getrandom::fill(&mut counter_seed).map_err(|e| {
        Error::io(
            "cannot get random bytes",
            std::io::Error::other(e.to_string()),
        )
    })?;

    let config = Config {
        offer: settings.offer(),
        preempt: settings.preempt,
        preempt_delay: Duration::from_secs(settings.preempt_delay.into()),
        garp_refresh: (settings.garp_refresh > 0)
            .then(|| Duration::from_secs(settings.garp_refresh.into())),
        src,
    };
    let held = held_demotion(&dir, settings.vhid);
    let started = Instant::now();
    let tracking = match &settings.redis {
        Some(redis) => {
            let addrs: Vec<String> = redis.instances.iter().map(ToString::to_string).collect();
            info!(
                "vhid {}: tracking Redis at {} every {} s (fall {}, rise {}, stall {} s): demoted by 240 until every instance is ready",
                settings.vhid,
                addrs.join(" "),
                redis.interval.as_secs_f64(),
                redis.rules.fall,
                redis.rules.rise,
                redis.rules.stall.as_secs_f64()
            );
            Some(Tracking {
                probes: Probes::start(&redis.instances, &redis.options, redis.interval)?,
                tracker: Tracker::new(&addrs, redis.rules, Duration::ZERO),
                fault_hook: redis.fault_hook.clone(),
            })
        }
        None => None,
    };
    let mut engine = Engine {
        hashed: settings.hashed_addresses(),
        destinations: settings.destinations(),
        links: Links::new(&settings.interface, interface.index, &settings.track),
        attached: interface.index,
        subnets: link_subnets(&interface, &settings.vips),
        settings,
        interface,
        src,
        socket: Some(socket),
        addresses,
        watch,
        machine: Machine::new(config),
        operator_demotion: held,
        tracking,
        replay: ReplayGuard::new(),
        counter: u64::from_be_bytes(counter_seed),
        started,
        since: SystemTime::now(),
        bad: BTreeMap::new(),
        bad_reported: BTreeMap::new(),
        last_totals: Instant::now(),
        last_peer: None,
        status_dirty: None,
        counters: Counters {
            started_unix: output::unix_seconds(SystemTime::now()),
            ..Counters::default()
        },
        counts_dirty: None,
        hooks: Vec::new(),
        stdout_open: true,
        send_failing: false,
        refresh_failing: false,
    };
    info!(
        "vhid {} on {} from {src} to {}: {}{}, virtual {}{}{}",
        engine.settings.vhid,
        engine.settings.interface,
        engine
            .destinations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        match engine.settings.offer() {
            Offer::Carp { advbase, advskew } => format!("CARP advbase {advbase} advskew {advskew}"),
            Offer::Vrrp {
                priority,
                interval_cs,
            } => format!("VRRPv3 priority {priority} interval {interval_cs} cs"),
        },
        match (engine.settings.preempt, engine.settings.preempt_delay) {
            (false, _) => String::new(),
            (true, 0) => ", preempt".to_string(),
            (true, delay) => format!(", preempt after {delay} s"),
        },
        engine.vip_list(),
        if engine.settings.track.is_empty() {
            String::new()
        } else {
            format!(", tracking {}", engine.settings.track.join(" "))
        },
        match engine.settings.garp_refresh {
            0 => String::new(),
            secs => format!(", announced again every {secs} s as MASTER"),
        },
    );
    let result = engine.event_loop(&signals, &server);
    notify(&[NotifyState::Stopping]);
    // Still under the lock: no other engine of the vhid can have made these files since.
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(control::state_file(&dir, engine.settings.vhid));
    drop(lock);
    for hook in engine.hooks.drain(..) {
        let _ = hook.join();
    }
    result
}

fn open_socket(settings: &RunSettings, index: u32, src: IpAddr) -> Result<AdvertSocket, Error> {
    let interface = &settings.interface;
    AdvertSocket::open(interface, index, src, settings.peers.is_empty()).map_err(|e| {
        Error::io(
            format!(
                "cannot open the advertisement socket on '{interface}' from {src} (raw sockets \
                 need root or CAP_NET_RAW; an IPv6 source must have passed duplicate address \
                 detection)"
            ),
            e,
        )
    })
}

/// Tells systemd (when it started us with a notify socket); silent elsewhere.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        warning!("cannot notify systemd: {e}");
    }
}

/// The subnets of `interface`'s own addresses.
fn link_subnets(interface: &NetworkInterface, vips: &[IpNet]) -> LinkSubnets {
    let addrs = interface
        .ips
        .iter()
        .filter_map(|net| IpNet::new(net.ip(), net.prefix()).ok());
    LinkSubnets::new(addrs, vips)
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

/// The interface's first own address of the adverts' family: IPv4; over IPv6 multicast the
/// link-local one (RFC 5798 and carp(4) send from it), to IPv6 peers a link-local one if the
/// peers are link-local, a global one otherwise.
fn own_source(interface: &NetworkInterface, settings: &RunSettings) -> Option<IpAddr> {
    let v4 = settings.advertises_v4();
    let link_local = settings.peers.first().is_none_or(|p| match p {
        IpAddr::V6(p) => p.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    });
    interface.ips.iter().map(|net| net.ip()).find(|a| {
        let usable = match a {
            IpAddr::V4(_) => v4,
            IpAddr::V6(a) => !v4 && a.is_unicast_link_local() == link_local,
        };
        usable && !settings.vips.iter().any(|v| v.addr() == *a)
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

    fn event_loop(&mut self, signals: &Signals, server: &ControlServer) -> Result<(), Error> {
        let actions = self.machine.start(self.now());
        self.apply(actions);
        // The kernel's list of interfaces: a tracked one that is down (or the CARP one)
        // counts before the first advertisement.
        let mut first = [PollFd::new(self.watch.as_fd(), PollFlags::POLLIN)];
        let wait = PollTimeout::try_from(FIRST_DUMP_WAIT).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut first, wait);
        self.net_events();
        for (name, state) in self.links.states() {
            if state != LinkState::Up {
                warning!(
                    "vhid {}: interface '{name}' is {}: demoted by 240 until it is up",
                    self.settings.vhid,
                    if state == LinkState::Missing {
                        "missing"
                    } else {
                        "down"
                    }
                );
            }
        }
        // Ready once the control socket is served and the links are known.
        notify(&[NotifyState::Ready]);
        loop {
            let timeout = self.poll_timeout();
            let (ready, socket_at) = {
                let mut fds = vec![
                    PollFd::new(signals.wake.as_fd(), PollFlags::POLLIN),
                    PollFd::new(server.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.watch.as_fd(), PollFlags::POLLIN),
                ];
                if let Some(tracking) = &self.tracking {
                    fds.push(PollFd::new(tracking.probes.as_fd(), PollFlags::POLLIN));
                }
                let socket_at = fds.len();
                if let Some(socket) = &self.socket {
                    fds.push(PollFd::new(socket.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(Error::io("poll failed", e.into())),
                }
                let ready: Vec<bool> = fds
                    .iter()
                    .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                    .collect();
                (ready, socket_at)
            };
            if ready[0] {
                signals.drain();
            }
            if signals.stop.load(Ordering::SeqCst) {
                let actions = self.machine.shutdown();
                self.apply(actions);
                return Ok(());
            }
            if signals.reload.swap(false, Ordering::SeqCst) {
                self.reload();
            }
            if ready[2] {
                self.net_events();
            }
            if ready.get(socket_at) == Some(&true) {
                self.receive();
            }
            self.track();
            if ready[1] {
                for call in server.calls() {
                    self.handle(call);
                }
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
        if let Some(since) = self.counts_dirty {
            wait = wait.min(COUNTS_WRITE_EVERY.saturating_sub(since.elapsed()));
        }
        wait = wait.min(TOTALS_EVERY.saturating_sub(self.last_totals.elapsed()));
        // Round up so the deadline has passed when poll returns.
        PollTimeout::try_from(wait + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
    }

    /// SIGHUP: the password file is read again; state, addresses and timers are kept, so a
    /// `systemctl reload` never moves the VIP. Hook commands are run afresh each time, so an
    /// edited hook script needs no reload at all.
    fn reload(&mut self) {
        let mut states = vec![NotifyState::Reloading];
        states.extend(NotifyState::monotonic_usec_now());
        notify(&states);
        let vhid = self.settings.vhid;
        if self.settings.carpver == settings::VRRP3 {
            // VRRPv3 has no password; hooks are read afresh anyway.
            info!(
                "vhid {vhid}: reloaded on SIGHUP: nothing to read again for VRRPv3; state {} kept",
                self.machine.state()
            );
            notify(&[NotifyState::Ready]);
            return;
        }
        let path = self.settings.pass_file.display().to_string();
        match settings::read_password(&self.settings.pass_file) {
            Ok(file) => {
                for w in &file.warnings {
                    warning!("vhid {vhid}: {}", w);
                }
                let changed = file.password != self.settings.password;
                self.settings.password = file.password;
                info!(
                    "vhid {vhid}: reloaded on SIGHUP: password file '{path}' read again (password {}); state {} kept",
                    if changed { "changed" } else { "unchanged" },
                    self.machine.state()
                );
            }
            Err(e) => error!(
                "vhid {vhid}: reload on SIGHUP failed: {}; the password in use is kept",
                e
            ),
        }
        notify(&[NotifyState::Ready]);
    }

    fn receive(&mut self) {
        loop {
            let Some(socket) = &self.socket else { return };
            let datagram = match socket.recv() {
                Ok(Some(Ok(d))) => d,
                Ok(Some(Err(Undecodable { defect, src }))) => {
                    self.count_bad(defect.name(), defect.explain(), src);
                    continue;
                }
                Ok(None) => return,
                Err(e) => {
                    warning!(
                        "vhid {}: receiving on '{}' failed: {e}",
                        self.settings.vhid,
                        self.settings.interface
                    );
                    return;
                }
            };
            if datagram.vhid() != Some(self.settings.vhid) || datagram.src == self.src {
                continue;
            }
            let offer = match self.check(&datagram) {
                Ok(offer) => offer,
                Err(defect) => {
                    self.count_bad(defect.name(), defect.explain(), Some(datagram.src));
                    continue;
                }
            };
            if let Some(counter) = offer.1 {
                // Only authenticated adverts reach the replay check, so a forger can
                // neither pass it nor fill its memory. The source is not signed: the
                // check looks at the counter alone.
                if self.replay.check(counter) == Verdict::Replayed {
                    self.count_bad(
                        REPLAYED,
                        "a counter this group has already used (a replayed advertisement, \
                         perhaps with its advbase and advskew edited: CARP does not sign them)",
                        Some(datagram.src),
                    );
                    continue;
                }
                // FreeBSD and ucarp adopt the counter they hear. Adopting it only when
                // higher keeps every node's counter growing, also across a healed
                // partition, which the replay check of the peers relies on.
                self.counter = self.counter.max(counter);
            }
            if self.last_peer != Some(datagram.src) {
                self.last_peer = Some(datagram.src);
                self.status_dirty.get_or_insert_with(Instant::now);
            }
            self.counters.adverts_received += 1;
            self.counts_dirty.get_or_insert_with(Instant::now);
            let actions = self.machine.advert(self.now(), datagram.src, offer.0);
            self.apply(actions);
        }
    }

    /// The checks of an advert for our vhid, in FreeBSD's order: TTL (relaxed for unicast
    /// peers, as carp(4) does, but then only the peers are heard), then the protocol's own.
    /// Over multicast the source must lie on our link as well (FreeBSD does not check it).
    /// Returns what it offers and, for CARP, its authenticated counter.
    fn check(&self, d: &Datagram) -> Result<(Offer, Option<u64>), Defect> {
        if self.settings.peers.is_empty() {
            if d.hop_limit != wire::TTL {
                return Err(Defect::Ttl);
            }
            if !self.subnets.contains(d.src) {
                return Err(Defect::OffLink);
            }
        } else if !self.settings.peers.contains(&d.src) {
            return Err(Defect::NotPeer);
        }
        match self.settings.offer() {
            Offer::Carp { .. } => {
                let advert = wire::decode_header(&d.payload)?;
                if !advert.verify(&self.settings.password, &self.hashed) {
                    return Err(Defect::Hmac);
                }
                let offer = Offer::Carp {
                    advbase: advert.advbase,
                    advskew: advert.advskew,
                };
                Ok((offer, Some(advert.counter)))
            }
            Offer::Vrrp { .. } => {
                let advert = VrrpAdvert::decode(&d.payload, d.src, d.dst)?;
                let offer = Offer::Vrrp {
                    priority: advert.priority,
                    interval_cs: advert.interval_cs,
                };
                Ok((offer, None))
            }
        }
    }

    /// What rtnetlink says about interfaces and addresses.
    fn net_events(&mut self) {
        for event in self.watch.events() {
            match event {
                NetEvent::Overrun => {
                    warning!(
                        "vhid {}: rtnetlink notifications were lost; reading every interface again",
                        self.settings.vhid
                    );
                    if let Err(e) = self.watch.request_dump() {
                        error!(
                            "vhid {}: cannot list the interfaces: {e}",
                            self.settings.vhid
                        );
                    }
                    // Address changes may be among the lost ones: adding is idempotent, and
                    // the subnets are read again.
                    if self.machine.state() == State::Master {
                        self.apply(vec![Action::AddAddresses]);
                    }
                    self.addresses_changed(self.attached);
                }
                NetEvent::Link { name, index, up } => {
                    if let Some(change) = self.links.update(&name, index, Some(up)) {
                        self.link_changed(&change, index);
                    }
                }
                NetEvent::LinkGone { name, index } => {
                    if let Some(change) = self.links.update(&name, index, None) {
                        self.link_changed(&change, index);
                    }
                }
                NetEvent::AddressAdded { index } => self.addresses_changed(index),
                NetEvent::AddressGone { index, addr } => {
                    self.addresses_changed(index);
                    self.address_gone(index, addr);
                }
            }
        }
        self.sync_demotion();
    }

    fn link_changed(&mut self, change: &Change, index: u32) {
        let what = match (change.to, change.recreated) {
            (LinkState::Up, true) => "was deleted and created again",
            (LinkState::Up, false) => "is up with its carrier",
            (LinkState::Down, _) => "is down (no carrier, or set down)",
            (LinkState::Missing, _) => "is gone",
        };
        let carp = change.name == self.settings.interface;
        let message = format!(
            "vhid {}: {} interface '{}' {what}",
            self.settings.vhid,
            if carp { "the CARP" } else { "tracked" },
            change.name
        );
        if change.to == LinkState::Up {
            info!("{message}");
        } else {
            warning!("{message}");
        }
        self.status_dirty.get_or_insert_with(Instant::now);
        if !carp {
            return;
        }
        match change.to {
            LinkState::Missing => {
                self.socket = None;
                let actions = self.machine.link_down();
                self.apply(actions);
            }
            LinkState::Down => {
                let actions = self.machine.link_down();
                self.apply(actions);
            }
            LinkState::Up => {
                if self.socket.is_none() || self.attached != index {
                    self.reattach(index);
                }
                // The link's demotion goes first: the master-down timer that link_up starts
                // depends on the skew (CARP) or priority (VRRP) it leaves.
                self.sync_demotion();
                let actions = self.machine.link_up(self.now());
                self.apply(actions);
            }
        }
    }

    /// The CARP interface was created again: its index and MAC are new, and the socket and
    /// the address requests must follow.
    fn reattach(&mut self, index: u32) {
        let vhid = self.settings.vhid;
        if let Err(e) = self.reread_interface() {
            warning!("vhid {vhid}: {}", e);
        }
        match open_socket(&self.settings, index, self.src) {
            Ok(socket) => self.socket = Some(socket),
            Err(e) => error!("vhid {vhid}: {}", e),
        }
        match Addresses::open(index) {
            Ok(addresses) => self.addresses = addresses,
            Err(e) => error!("vhid {vhid}: cannot open the rtnetlink socket: {e}"),
        }
        self.attached = index;
    }

    /// Reads the CARP interface again (its addresses changed, or it was created again): its
    /// MAC for the announcements, its subnets for the source check. When it is gone the last
    /// view is kept.
    fn reread_interface(&mut self) -> Result<(), Error> {
        let interface = find_interface(&self.settings.interface)?;
        self.subnets = link_subnets(&interface, &self.settings.vips);
        self.interface = interface;
        Ok(())
    }

    /// [`Engine::reread_interface`] after an address of the CARP interface changed. Its
    /// addresses also go when it is deleted, and that its link events report.
    fn addresses_changed(&mut self, index: u32) {
        if index == self.attached {
            let _ = self.reread_interface();
        }
    }

    /// An address left our interface. A VIP removed by hand while this node is MASTER
    /// would leave the group unreachable without anybody noticing: put it back.
    fn address_gone(&mut self, index: u32, addr: IpAddr) {
        if self.links.carp_index() != Some(index) || self.machine.state() != State::Master {
            return;
        }
        let Some(vip) = self
            .settings
            .vips
            .iter()
            .find(|v| v.addr() == addr)
            .copied()
        else {
            return;
        };
        warning!(
            "vhid {}: {vip} was removed from '{}' while this node is MASTER; adding it back",
            self.settings.vhid,
            self.settings.interface
        );
        if let Err(e) = self.addresses.add(vip) {
            error!(
                "vhid {}: cannot add {vip} to '{}': {e}",
                self.settings.vhid, self.settings.interface
            );
        }
        self.announce();
    }

    /// Hands the machine the operator's demotion plus the interfaces' and Redis health's.
    fn sync_demotion(&mut self) {
        let total = self
            .operator_demotion
            .saturating_add(self.links.demotion())
            .saturating_add(self.health_demotion())
            .min(MAX_SKEW);
        if total == self.machine.demotion() {
            return;
        }
        let actions = self.machine.set_demotion(self.now(), total);
        info!(
            "vhid {}: demotion {} (operator {}, interfaces {}, Redis health {}), {}",
            self.settings.vhid,
            total,
            self.operator_demotion,
            self.links.demotion(),
            self.health_demotion(),
            match self.machine.offer() {
                Offer::Carp { advskew, .. } => format!("effective skew {advskew}"),
                Offer::Vrrp { priority, .. } => format!("effective priority {priority}"),
            }
        );
        self.apply(actions);
        self.write_status();
    }

    fn health_demotion(&self) -> u8 {
        self.tracking.as_ref().map_or(0, Tracking::demotion)
    }

    /// Feeds the probes that came in to the tracker; a change of the host's health moves the
    /// demotion and runs the fault hook.
    fn track(&mut self) {
        let now = self.now();
        let Some(tracking) = &mut self.tracking else {
            return;
        };
        let mut changes = Vec::new();
        for (index, probe) in tracking.probes.take() {
            changes.extend(tracking.tracker.record(index, probe, now));
            self.status_dirty.get_or_insert_with(Instant::now);
        }
        let hook = tracking.fault_hook.clone();
        for change in changes {
            match change.to {
                Health::Fault => warning!(
                    "vhid {}: Redis fault: {}; demoted by 240 until every tracked instance is ready",
                    self.settings.vhid,
                    change.reason
                ),
                Health::Ready => info!(
                    "vhid {}: Redis ready: {}; the demotion is lifted",
                    self.settings.vhid,
                    change.reason
                ),
            }
            self.sync_demotion();
            self.write_status();
            if let Some(command) = &hook {
                let state = self.machine.state();
                self.run_hook(
                    command,
                    state,
                    state,
                    vec![
                        ("CARP_HEALTH", change.to.to_string()),
                        ("CARP_HEALTH_REASON", change.reason),
                    ],
                );
            }
        }
    }

    fn count_bad(&mut self, name: &'static str, explain: &str, src: Option<IpAddr>) {
        let count = self.bad.entry(name).or_default();
        *count += 1;
        if *count == 1 {
            let from = src.map_or_else(|| "an unknown sender".to_string(), |s| s.to_string());
            warning!(
                "vhid {}: ignoring an advertisement from {from} with {explain}; further ones are counted (see carpctl status)",
                self.settings.vhid
            );
        }
        self.status_dirty.get_or_insert_with(Instant::now);
    }

    fn housekeeping(&mut self) {
        if self
            .status_dirty
            .is_some_and(|since| since.elapsed() >= COUNTER_WRITE_EVERY)
            || self
                .counts_dirty
                .is_some_and(|since| since.elapsed() >= COUNTS_WRITE_EVERY)
        {
            self.write_status();
        }
        if self.last_totals.elapsed() >= TOTALS_EVERY {
            self.last_totals = Instant::now();
            if self.bad != self.bad_reported {
                let totals: Vec<String> = self
                    .bad
                    .iter()
                    .map(|(name, n)| format!("{name} {n}"))
                    .collect();
                warning!(
                    "vhid {}: advertisements ignored so far: {}",
                    self.settings.vhid,
                    totals.join(", ")
                );
                self.bad_reported = self.bad.clone();
            }
        }
    }

    fn handle(&mut self, call: Call) {
        let changed = match call.request {
            Request::Status => false,
            Request::Demote(n) => {
                self.operator_demotion = self.operator_demotion.saturating_add(n).min(MAX_SKEW);
                true
            }
            Request::Promote => {
                self.operator_demotion = 0;
                true
            }
        };
        if changed {
            info!(
                "vhid {}: {} asked for; operator demotion {}",
                self.settings.vhid,
                call.request.to_line().trim(),
                self.operator_demotion
            );
            self.sync_demotion();
            self.write_status();
        }
        call.answer(serde_json::to_string(&self.status()).unwrap_or_default());
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
            demotion: self.operator_demotion,
            link_demotion: self.links.demotion(),
            effective_skew: self.machine.effective_skew(),
            preempt: self.settings.preempt,
            garp_refresh: self.settings.garp_refresh,
            since: output::rfc3339(self.since),
            bad_adverts: self
                .bad
                .iter()
                .map(|(name, n)| ((*name).to_string(), *n))
                .collect(),
            last_peer: self.last_peer.map(|p| p.to_string()),
            links: self.links.states().into_iter().collect(),
            carpver: self.settings.carpver,
            vrrpprio: self.settings.vrrpprio,
            effective_priority: self.machine.effective_priority(),
            vrrpinterval: self.settings.vrrpinterval,
            master_interval_cs: u16::try_from(self.machine.master_interval().as_millis() / 10)
                .unwrap_or(u16::MAX),
            peers: self
                .settings
                .peers
                .iter()
                .map(ToString::to_string)
                .collect(),
            health_demotion: self.health_demotion(),
            redis: self.tracking.as_ref().map(|t| t.tracker.status()),
            counters: Some(self.counters.clone()),
        }
    }

    fn write_status(&mut self) {
        self.status_dirty = None;
        self.counts_dirty = None;
        if let Err(e) = control::write_status(&self.settings.state_dir, &self.status()) {
            error!(
                "vhid {}: cannot write the state file in '{}': {e}",
                self.settings.vhid,
                self.settings.state_dir.display()
            );
        }
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Advertise(offer) => self.advertise(offer),
                Action::AddAddresses => {
                    for vip in self.settings.vips.clone() {
                        if let Err(e) = self.addresses.add(vip) {
                            error!(
                                "vhid {}: cannot add {vip} to '{}': {e}",
                                self.settings.vhid, self.settings.interface
                            );
                        }
                    }
                }
                // A deleted interface took its addresses with it.
                Action::RemoveAddresses if self.links.carp() == LinkState::Missing => {}
                Action::RemoveAddresses => {
                    for vip in self.settings.vips.clone() {
                        if let Err(e) = self.addresses.remove(vip) {
                            error!(
                                "vhid {}: cannot remove {vip} from '{}': {e}",
                                self.settings.vhid, self.settings.interface
                            );
                        }
                    }
                }
                Action::Announce => self.announce(),
                Action::RefreshAnnouncement => self.refresh_announcement(),
                Action::Transition { from, to, reason } => self.transition(from, to, reason),
            }
        }
    }

    /// Gratuitous ARP for the IPv4 addresses, unsolicited neighbour advertisements for the
    /// IPv6 ones.
    fn announce(&self) {
        for failure in self.send_announcements() {
            warning!("{failure}");
        }
    }

    /// [`Engine::announce`] on the `--garp-refresh` period: counted, and a failure reported
    /// once per run of failures rather than every period.
    fn refresh_announcement(&mut self) {
        let failures = self.send_announcements();
        if failures.is_empty() {
            self.counters.garp_refreshes += 1;
            self.counts_dirty.get_or_insert_with(Instant::now);
            if self.refresh_failing {
                self.refresh_failing = false;
                info!(
                    "vhid {}: announcements on '{}' are sent again",
                    self.settings.vhid, self.settings.interface
                );
            }
        } else if !self.refresh_failing {
            self.refresh_failing = true;
            for failure in failures {
                warning!("{failure}; retrying every {} s", self.settings.garp_refresh);
            }
        }
    }

    /// Sends the announcements of every virtual address; what could not be sent, as
    /// warnings to log.
    fn send_announcements(&self) -> Vec<String> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for vip in &self.settings.vips {
            match vip.addr() {
                IpAddr::V4(a) => v4.push(a),
                IpAddr::V6(a) => v6.push(a),
            }
        }
        let mut failures = Vec::new();
        if let Err(e) = arp::announce(&self.interface, &v4) {
            failures.push(format!(
                "vhid {}: cannot send gratuitous ARP on '{}': {e}",
                self.settings.vhid, self.settings.interface
            ));
        }
        if let Err(e) = ndp::announce(&self.interface, &v6) {
            failures.push(format!(
                "vhid {}: cannot send neighbour advertisements on '{}': {e}",
                self.settings.vhid, self.settings.interface
            ));
        }
        failures
    }

    fn advertise(&mut self, offer: Offer) {
        if let Offer::Carp { .. } = offer {
            self.counter = self.counter.wrapping_add(1);
            self.replay.sent(self.counter);
        }
        let mut sent = Ok(());
        for &dst in &self.destinations {
            let result = match &self.socket {
                Some(socket) => socket.send(dst, &self.message(offer, dst)),
                None => Err(std::io::Error::other("the interface is gone")),
            };
            match result {
                Ok(()) => self.counters.adverts_sent += 1,
                Err(e) => sent = Err(std::io::Error::new(e.kind(), format!("to {dst}: {e}"))),
            }
        }
        self.counts_dirty.get_or_insert_with(Instant::now);
        match sent {
            // Reported once per run of failures, not once a second.
            Err(e) if !self.send_failing => {
                self.send_failing = true;
                warning!(
                    "vhid {}: cannot send advertisements on '{}': {e}; retrying every interval",
                    self.settings.vhid,
                    self.settings.interface
                );
            }
            Ok(()) if self.send_failing => {
                self.send_failing = false;
                info!(
                    "vhid {}: advertisements on '{}' are sent again",
                    self.settings.vhid, self.settings.interface
                );
            }
            _ => {}
        }
    }

    /// The CARP header (the same for every destination) or the VRRP message (whose checksum
    /// covers the destination) of an advert.
    fn message(&self, offer: Offer, dst: IpAddr) -> Vec<u8> {
        match offer {
            Offer::Carp { advbase, advskew } => Advert::signed(
                self.settings.vhid,
                advbase,
                advskew,
                self.counter,
                &self.settings.password,
                &self.hashed,
            )
            .encode()
            .to_vec(),
            Offer::Vrrp {
                priority,
                interval_cs,
            } => VrrpAdvert {
                vrid: self.settings.vhid,
                priority,
                interval_cs,
                addrs: self.hashed.clone(),
            }
            .encode(self.src, dst),
        }
    }

    fn transition(&mut self, from: State, to: State, reason: Reason) {
        self.since = SystemTime::now();
        *self.counters.transitions.entry(to).or_default() += 1;
        let event = StateEvent {
            event: "state",
            time: output::rfc3339(self.since),
            interface: &self.settings.interface,
            vhid: self.settings.vhid,
            from,
            to,
            reason,
        };
        info!(
            "vhid {} on {}: {from} -> {to} ({reason})",
            self.settings.vhid, self.settings.interface
        );
        notify(&[NotifyState::Status(&format!(
            "vhid {} {to} on {}",
            self.settings.vhid, self.settings.interface
        ))]);
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
            self.run_hook(
                &command,
                from,
                to,
                vec![("CARP_REASON", reason.to_string())],
            );
        }
    }

    /// Runs a hook through `sh -c` with the state in `CARP_*` variables and `what` happened in
    /// more; its output goes to our stderr so stdout stays data only. A thread waits for it so
    /// the loop never blocks.
    fn run_hook(
        &mut self,
        command: &str,
        from: State,
        to: State,
        what: Vec<(&'static str, String)>,
    ) {
        let stderr = match std::io::stderr().as_fd().try_clone_to_owned() {
            Ok(fd) => Stdio::from(fd),
            Err(_) => Stdio::null(),
        };
        let spawned = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env("CARP_STATE", to.to_string())
            .env("CARP_FROM", from.to_string())
            .envs(what)
            .env("CARP_INTERFACE", &self.settings.interface)
            .env("CARP_VHID", self.settings.vhid.to_string())
            .env("CARP_VIPS", self.vip_list())
            .env("CARP_SRC", self.src.to_string())
            // A hook is not the service systemd watches.
            .env_remove("NOTIFY_SOCKET")
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
                        Ok(status) => warning!("hook '{command}' failed: {status}"),
                        Err(e) => warning!("hook '{command}' could not be waited for: {e}"),
                    }));
            }
            Err(e) => error!("cannot run hook '{command}': {e}"),
        }
    }
}

/// Takes the lock of `vhid` in `dir` for the engine's whole life, so that a second engine for
/// the vhid refuses at once instead of running beside it. A state file or socket found under
/// a free lock was left by an engine that did not stop (a SIGKILL, a crash): it is removed
/// with a warning, whatever process now has the pid it names.
fn claim(dir: &Path, vhid: u8) -> Result<Lock, Error> {
    let path = lock::engine_lock(dir, vhid);
    let lock = Lock::try_take(&path)
        .map_err(|e| Error::io(format!("cannot lock '{}'", path.display()), e))?
        .map_err(|holder| Error::AlreadyRunning {
            vhid,
            holder,
            lock: path.clone(),
        })?;
    let left: Vec<PathBuf> = [
        control::state_file(dir, vhid),
        control::socket_path(dir, vhid),
    ]
    .into_iter()
    .filter(|p| std::fs::symlink_metadata(p).is_ok())
    .collect();
    if !left.is_empty() {
        let names: Vec<String> = left.iter().map(|p| format!("'{}'", p.display())).collect();
        warning!(
            "vhid {vhid}: taking over {} left by an engine that did not stop cleanly",
            names.join(" and ")
        );
        for path in &left {
            std::fs::remove_file(path)
                .map_err(|e| Error::io(format!("cannot remove '{}'", path.display()), e))?;
        }
    }
    Ok(lock)
}

/// The demotion of the holds `carpctl demote` set (in the state directory) for an engine that
/// starts: a hold outlives the engine that took it, so a host taken out by hand stays out
/// across a restart until `carpctl promote`.
fn held_demotion(dir: &Path, vhid: u8) -> u8 {
    match hold::read(dir) {
        Ok(holds) if holds.covers(vhid) => {
            let demotion = holds.demotion_for(vhid);
            info!(
                "vhid {vhid}: starting demoted by {demotion}, held by `carpctl demote` (`carpctl promote` clears it)"
            );
            demotion
        }
        Ok(_) => 0,
        Err(e) => {
            warning!("{e}; starting without the hold's demotion");
            0
        }
    }
}
