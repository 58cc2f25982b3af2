//! A fresh, isolated link for each end-to-end test: network namespaces (one per host) joined
//! by a bridge in a namespace of its own, carpctl and ucarp started inside them, and all of it
//! removed on drop, also when the test fails. Names carry the process id and a counter so
//! tests of other processes on the machine never collide.

#![allow(dead_code)] // each test binary uses a different part of the lab

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carpctl::wire::{self, Advert, Password};

pub const VHID: u8 = 7;
pub const VIP: &str = "10.77.0.100";
pub const PASSWORD: &str = "lab-shared-pass";

/// Fails the test at once, saying what to do, where the lab cannot run: it needs root (network
/// namespaces, raw sockets) and iproute2 and ping. The tests that call it are `#[ignore]`d,
/// so a plain `cargo test` reports them as ignored; `make test` runs them as root.
pub fn require_lab() {
    testkit::assert_root();
    testkit::assert_tool("ip", "iproute2");
    testkit::assert_tool("ping", "iputils-ping");
}

/// How a keepalived peer is configured: VRRPv3 for the lab's VRID and VIP.
#[derive(Debug, Clone)]
pub struct Keepalived {
    pub priority: u8,
    /// `advert_int` in centiseconds (keepalived takes fractional seconds in version 3).
    pub interval_cs: u16,
    pub preempt: bool,
    /// Unicast peers (`unicast_peer`); multicast when empty.
    pub peers: Vec<String>,
    /// `unicast_ttl`: the TTL of its unicast adverts.
    pub unicast_ttl: Option<u8>,
    /// The virtual address with its prefix.
    pub vip: String,
}

impl Keepalived {
    pub fn new(priority: u8) -> Keepalived {
        Keepalived {
            priority,
            interval_cs: 100,
            preempt: true,
            peers: Vec::new(),
            unicast_ttl: None,
            vip: format!("{VIP}/24"),
        }
    }

    /// keepalived.conf(5) text for `host`.
    fn config(&self, host: usize) -> String {
        let mut instance = format!(
            "    state BACKUP\n    interface eth0\n    virtual_router_id {VHID}\n    \
             priority {}\n    advert_int {}.{:02}\n",
            self.priority,
            self.interval_cs / 100,
            self.interval_cs % 100
        );
        if !self.preempt {
            instance.push_str("    nopreempt\n");
        }
        if !self.peers.is_empty() {
            let own = if self.vip.contains(':') {
                format!("fd77::{host}")
            } else {
                Lab::addr(host).to_string()
            };
            instance.push_str(&format!(
                "    unicast_src_ip {own}\n    unicast_peer {{\n{}    }}\n",
                self.peers
                    .iter()
                    .map(|p| format!("        {p}\n"))
                    .collect::<String>()
            ));
        }
        if let Some(ttl) = self.unicast_ttl {
            instance.push_str(&format!("    unicast_ttl {ttl}\n"));
        }
        format!(
            "global_defs {{\n    vrrp_version 3\n}}\nvrrp_instance lab {{\n{instance}    \
             virtual_ipaddress {{\n        {}\n    }}\n}}\n",
            self.vip
        )
    }
}

/// A process started in a host namespace, with its output collected line by line.
pub struct Proc {
    pub child: Child,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(mut command: Command) -> Proc {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The state-change events printed so far, decoded.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout_lines()
            .iter()
            .map(|l| serde_json::from_str(l).expect("stdout is JSON lines"))
            .collect()
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < end,
                "process did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hosts 1..=n on one bridged link, 10.77.0.i/24 on their eth0.
pub struct Lab {
    pub hosts: usize,
    pub dir: tempfile::TempDir,
    /// Processes die before the namespaces go (fields drop in order).
    pub procs: Vec<Proc>,
    /// Hosts `h1`… cabled by their `eth0` to one bridge: testkit's network builder.
    net: testkit::Lab,
}

impl Lab {
    pub fn new(hosts: usize) -> Lab {
        let mut net = testkit::Lab::new("cc");
        net.bridge("br0");
        for i in 1..=hosts {
            net.host(&host_name(i));
        }
        let mut lab = Lab {
            hosts,
            dir: tempfile::tempdir().unwrap(),
            procs: Vec::new(),
            net,
        };
        for i in 1..=hosts {
            lab.plug_cable(i);
        }
        lab.write_pass("pass", PASSWORD);
        lab
    }

    /// Gives `host` its cable: eth0 with 10.77.0.host/24 inside the host, the other end on the
    /// bridge. Also plugs a host whose eth0 was deleted back in.
    pub fn plug_cable(&mut self, host: usize) {
        let addr = format!("10.77.0.{host}/24");
        self.net.cable(&host_name(host), "eth0", "br0", &[&addr]);
    }

    /// Deletes `host`'s eth0 (and with it the bridge end of its cable).
    pub fn delete_cable(&self, host: usize) {
        sh(&["ip", "-n", &self.ns(host), "link", "del", "eth0"]);
    }

    /// A second link inside `host`: `trk0` (to track) paired with `trk1`, both up. Setting
    /// `trk1` down takes `trk0`'s carrier.
    pub fn add_tracked_link(&self, host: usize) {
        let ns = self.ns(host);
        sh(&[
            "ip", "-n", &ns, "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
        ]);
        sh(&["ip", "-n", &ns, "link", "set", "trk0", "up"]);
        sh(&["ip", "-n", &ns, "link", "set", "trk1", "up"]);
    }

    /// Runs `ip ARGS` inside `host`'s namespace.
    pub fn ip(&self, host: usize, args: &[&str]) {
        let ns = self.ns(host);
        let mut all = vec!["ip", "-n", &ns];
        all.extend_from_slice(args);
        sh(&all);
    }

    pub fn bridge_ns(&self) -> String {
        self.net.switch().name.clone()
    }

    pub fn ns(&self, host: usize) -> String {
        self.net.ns(&host_name(host)).name.clone()
    }

    pub fn addr(host: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, host as u8)
    }

    pub fn state_dir(&self, host: usize) -> PathBuf {
        self.dir.path().join(format!("state{host}"))
    }

    /// Writes a 0600 password file and returns its path.
    pub fn write_pass(&self, name: &str, password: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Starts `carpctl run` for the lab's vhid on `host` with extra arguments; returns the
    /// index into `procs`.
    pub fn carpctl(&mut self, host: usize, extra: &[&str]) -> usize {
        self.carpctl_with_pass(host, &self.dir.path().join("pass"), extra)
    }

    pub fn carpctl_with_pass(&mut self, host: usize, pass: &Path, extra: &[&str]) -> usize {
        self.carpctl_with_env(host, pass, extra, &[])
    }

    /// [`Lab::carpctl_with_pass`] with extra environment variables.
    pub fn carpctl_with_env(
        &mut self,
        host: usize,
        pass: &Path,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> usize {
        self.spawn_with_vip(host, &[], pass, extra, env)
    }

    /// [`Lab::carpctl`] with the process's umask set to `umask` (octal, as sh's `umask`).
    pub fn carpctl_under_umask(&mut self, host: usize, umask: &str, extra: &[&str]) -> usize {
        let pass = self.dir.path().join("pass");
        let umask = format!("umask {umask} && exec \"$0\" \"$@\"");
        self.spawn_with_vip(host, &["sh", "-c", &umask], &pass, extra, &[])
    }

    /// Starts `carpctl run` with the lab's VIP and the password file `pass`.
    fn spawn_with_vip(
        &mut self,
        host: usize,
        wrapper: &[&str],
        pass: &Path,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> usize {
        let vip = format!("{VIP}/24");
        let pass = pass.to_str().unwrap();
        let args: Vec<&str> = ["--vip", &vip, "--pass-file", pass]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        self.spawn_carpctl(host, wrapper, &args, env)
    }

    /// Starts `carpctl run` for the lab's vhid on `host`'s eth0 with only `extra` beyond
    /// interface, vhid and state directory (no VIP, no password file).
    pub fn carpctl_bare(&mut self, host: usize, extra: &[&str]) -> usize {
        self.spawn_carpctl(host, &[], extra, &[])
    }

    /// Starts `carpctl run` in `host`'s namespace through `wrapper` (a command that runs its
    /// arguments, or none).
    fn spawn_carpctl(
        &mut self,
        host: usize,
        wrapper: &[&str],
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> usize {
        let mut command = Command::new("ip");
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .args(["netns", "exec", &self.ns(host)])
            .args(wrapper)
            .args([env!("CARGO_BIN_EXE_carpctl"), "run"])
            .args(["--interface", "eth0", "--vhid", &VHID.to_string()])
            .arg("--state-dir")
            .arg(self.state_dir(host))
            .args(extra);
        self.procs.push(Proc::spawn(command));
        self.procs.len() - 1
    }

    /// Starts a redis-server (testkit's binary: Debian's, or the server matrix's) inside
    /// `host` on 127.0.0.1:`port`, not persistent, with `extra` settings (`--name value`);
    /// returns the index into `procs` once it answers.
    pub fn redis(&mut self, host: usize, port: u16, extra: &[&str]) -> usize {
        let dir = self.dir.path().join(format!("redis{host}-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &self.ns(host),
                &testkit::redis_server_binary(),
            ])
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra);
        self.procs.push(Proc::spawn(command));
        let ns = self.ns(host);
        let port = port.to_string();
        wait_until(Duration::from_secs(10), "redis-server answers", || {
            Command::new("ip")
                .args(["netns", "exec", &ns, "redis-cli", "-p", &port, "ping"])
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
        });
        self.procs.len() - 1
    }

    /// Starts ucarp on `host` with up/down scripts that add and remove the VIP.
    pub fn ucarp(&mut self, host: usize, advskew: u8, preempt: bool) -> usize {
        self.ucarp_with_pass(host, advskew, preempt, PASSWORD)
    }

    pub fn ucarp_with_pass(
        &mut self,
        host: usize,
        advskew: u8,
        preempt: bool,
        password: &str,
    ) -> usize {
        self.ucarp_from(
            host,
            &Lab::addr(host).to_string(),
            advskew,
            preempt,
            password,
        )
    }

    /// Starts ucarp on `host` sending from `src`.
    pub fn ucarp_from(
        &mut self,
        host: usize,
        src: &str,
        advskew: u8,
        preempt: bool,
        password: &str,
    ) -> usize {
        let up = self.dir.path().join("vip-up");
        let down = self.dir.path().join("vip-down");
        // ucarp calls the scripts with the interface and the address.
        std::fs::write(&up, "#!/bin/sh\nexec ip addr add \"$2/24\" dev \"$1\"\n").unwrap();
        std::fs::write(&down, "#!/bin/sh\nexec ip addr del \"$2/24\" dev \"$1\"\n").unwrap();
        for script in [&up, &down] {
            std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host), "ucarp", "-i", "eth0"])
            .args(["-s", src, "-v", &VHID.to_string()])
            .args(["-p", password, "-a", VIP, "-k", &advskew.to_string()])
            .arg("-u")
            .arg(&up)
            .arg("-d")
            .arg(&down);
        if preempt {
            command.arg("-P");
        }
        self.procs.push(Proc::spawn(command));
        self.procs.len() - 1
    }

    /// Starts keepalived (VRRPv3, in the foreground, logging to stderr) on `host`.
    pub fn keepalived(&mut self, host: usize, k: &Keepalived) -> usize {
        let file = |name: &str| self.dir.path().join(format!("keepalived{host}.{name}"));
        std::fs::write(file("conf"), k.config(host)).unwrap();
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host), "keepalived"])
            .args(["--dont-fork", "--vrrp", "--log-console", "--log-detail"])
            .arg("--use-file")
            .arg(file("conf"))
            .arg("--pid")
            .arg(file("pid"))
            .arg("--vrrp_pid")
            .arg(file("vrrp.pid"));
        self.procs.push(Proc::spawn(command));
        self.procs.len() - 1
    }

    /// Gives `host` the address fd77::`host`/64 and waits until its link-local address has
    /// passed duplicate address detection (adverts over IPv6 multicast are sent from it).
    pub fn add_ipv6(&self, host: usize) {
        self.add_addr(host, &format!("fd77::{host}/64"));
        wait_until(
            Duration::from_secs(10),
            "a usable link-local address",
            || {
                let out = Command::new("ip")
                    .args([
                        "-n",
                        &self.ns(host),
                        "-6",
                        "-o",
                        "addr",
                        "show",
                        "dev",
                        "eth0",
                    ])
                    .args(["scope", "link"])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                text.contains("fe80::") && !text.contains("tentative")
            },
        );
    }

    /// Drops (`true`) or lets through (`false`) multicast sent and received by `host`, as a
    /// cloud network or a vSwitch that filters it would.
    pub fn drop_multicast(&self, host: usize, on: bool) {
        let script = if on {
            "add table inet nomcast; \
             add chain inet nomcast out { type filter hook output priority 0; }; \
             add chain inet nomcast in { type filter hook input priority 0; }; \
             add rule inet nomcast out ip daddr 224.0.0.0/4 drop; \
             add rule inet nomcast out ip6 daddr ff02::12 drop; \
             add rule inet nomcast in ip daddr 224.0.0.0/4 drop; \
             add rule inet nomcast in ip6 daddr ff02::12 drop"
        } else {
            "delete table inet nomcast"
        };
        sh(&["ip", "netns", "exec", &self.ns(host), "nft", script]);
    }

    /// Whether `host` has the virtual address on its eth0.
    pub fn has_vip(&self, host: usize) -> bool {
        self.has_addr(host, VIP)
    }

    /// Whether `host` has `addr` (either family) on its eth0.
    pub fn has_addr(&self, host: usize, addr: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns(host), "-o", "addr", "show", "dev", "eth0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {addr}/"))
    }

    /// Adds a static address (no duplicate address detection) to `host`'s eth0.
    pub fn add_addr(&self, host: usize, cidr: &str) {
        sh(&[
            "ip",
            "-n",
            &self.ns(host),
            "addr",
            "add",
            cidr,
            "dev",
            "eth0",
            "nodad",
        ]);
    }

    /// The hosts that hold the virtual address now.
    pub fn vip_holders(&self) -> Vec<usize> {
        (1..=self.hosts).filter(|&h| self.has_vip(h)).collect()
    }

    /// Whether the VIP answers one ping sent from `host`.
    pub fn ping_from(&self, host: usize) -> bool {
        self.ping(host, VIP)
    }

    /// Whether `addr` answers one ping sent from `host`.
    pub fn ping(&self, host: usize, addr: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(host),
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                addr,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Unplugs (`false`) or plugs back (`true`) a host's cable at the bridge.
    pub fn set_link(&self, host: usize, up: bool) {
        self.net.plug(&host_name(host), "eth0", up);
    }

    /// Drops (`true`) or lets through (`false`) CARP packets on the bridge: a partition that
    /// keeps every carrier up, so each side sees only silence.
    pub fn partition(&self, on: bool) {
        let script = if on {
            "add table bridge partition; \
             add chain bridge partition forward { type filter hook forward priority 0; }; \
             add rule bridge partition forward ip protocol 112 drop"
        } else {
            "delete table bridge partition"
        };
        sh(&["ip", "netns", "exec", &self.bridge_ns(), "nft", script]);
    }

    /// What `carpctl status` says about the engine of `host`, or None when none runs.
    pub fn status(&self, host: usize) -> Option<serde_json::Value> {
        let out = self.control(host, &["status"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        doc["vhids"].as_array()?.first().cloned()
    }

    /// Runs `carpctl ARGS --state-dir` against the engine of `host` (demote, promote).
    pub fn control(&self, host: usize, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_carpctl"))
            .args(args)
            .arg("--state-dir")
            .arg(self.state_dir(host))
            .output()
            .unwrap()
    }

    pub fn state(&self, host: usize) -> Option<String> {
        self.status(host)
            .and_then(|s| s["state"].as_str().map(str::to_string))
    }

    /// Sends advertisements from inside `host`'s namespace, as another node would.
    pub fn send_adverts(&self, host: usize, adverts: &[Advert]) {
        let src = Lab::addr(host);
        self.send_packets(
            host,
            adverts.iter().map(|a| wire::encode_ipv4(src, a)).collect(),
        );
    }

    /// Sends whole IPv4 packets (header included) to the CARP group from inside `host`.
    pub fn send_packets(&self, host: usize, packets: Vec<Vec<u8>>) {
        self.send_packets_to(host, wire::GROUP, packets);
    }

    /// Sends `advert` from `host` to `dst` only, as a unicast peer would.
    pub fn send_unicast(&self, host: usize, dst: Ipv4Addr, advert: &Advert) {
        let packet = wire::ip::ipv4_packet(Lab::addr(host), dst, &advert.encode());
        self.send_packets_to(host, dst, vec![packet]);
    }

    fn send_packets_to(&self, host: usize, dst: Ipv4Addr, packets: Vec<Vec<u8>>) {
        let ns = self.ns(host);
        std::thread::spawn(move || {
            let (socket, to) = packet_socket_on_eth0(&ns, dst);
            for p in packets {
                socket.send_to(&p, &to).unwrap();
            }
        })
        .join()
        .unwrap();
    }

    /// Sends `packets` (whole IPv4 packets, so with whatever source address they name) to the
    /// CARP group from inside `host` in the background, in turn and over again, one every
    /// `every`, until [`Sender::stop`]: an attacker replaying what it captured.
    pub fn send_every(&self, host: usize, packets: Vec<Vec<u8>>, every: Duration) -> Sender {
        let ns = self.ns(host);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let (socket, to) = packet_socket_on_eth0(&ns, wire::GROUP);
            let mut sent = 0;
            for p in packets.iter().cycle() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                socket.send_to(p, &to).unwrap();
                sent += 1;
                std::thread::sleep(every);
            }
            sent
        });
        Sender { stop, thread }
    }
}

/// Packets being sent by [`Lab::send_every`].
pub struct Sender {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Sender {
    /// Stops sending; returns how many packets went out.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// One CARP packet seen on a host's eth0, with when it arrived.
pub struct Captured {
    pub at: Instant,
    pub packet: Vec<u8>,
}

impl Lab {
    /// Records every CARP packet reaching `host`'s eth0 for `during`, in a thread; join it
    /// for the packets.
    pub fn capture(&self, host: usize, during: Duration) -> std::thread::JoinHandle<Vec<Captured>> {
        let ns = self.ns(host);
        let own = Lab::addr(host);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let socket = carp_socket_on_eth0(&ns);
            socket
                .join_multicast_v4_n(
                    &wire::GROUP,
                    &socket2::InterfaceIndexOrAddress::Address(own),
                )
                .unwrap();
            ready_tx.send(()).unwrap();
            let end = Instant::now() + during;
            let mut seen = Vec::new();
            let mut buf = [0u8; 2048];
            loop {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return seen;
                }
                socket.set_read_timeout(Some(left)).unwrap();
                if let Ok(n) = std::io::Read::read(&mut &socket, &mut buf) {
                    seen.push(Captured {
                        at: Instant::now(),
                        packet: buf[..n].to_vec(),
                    });
                }
            }
        });
        ready_rx.recv().unwrap();
        handle
    }

    /// Records when a gratuitous ARP for `vip` (an ARP frame whose sender and target address
    /// are both `vip`) reaches `host`, for `during`, in a thread; join it for the times.
    pub fn capture_garp(
        &self,
        host: usize,
        vip: Ipv4Addr,
        during: Duration,
    ) -> std::thread::JoinHandle<Vec<Instant>> {
        let ns = self.ns(host);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let socket = arp_socket_in(&ns);
            ready_tx.send(()).unwrap();
            let end = Instant::now() + during;
            let mut seen = Vec::new();
            let mut frame = [0u8; 2048];
            loop {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return seen;
                }
                socket.set_read_timeout(Some(left)).unwrap();
                if let Ok(n) = std::io::Read::read(&mut &socket, &mut frame) {
                    if is_gratuitous_arp(&frame[..n], vip) {
                        seen.push(Instant::now());
                    }
                }
            }
        });
        ready_rx.recv().unwrap();
        handle
    }
}

/// An ethernet frame that is an ARP packet with `vip` as sender and target address.
fn is_gratuitous_arp(frame: &[u8], vip: Ipv4Addr) -> bool {
    let vip = vip.octets();
    frame.len() >= 42
        && frame[12..14] == [0x08, 0x06]
        && frame[28..32] == vip
        && frame[38..42] == vip
}

/// A packet socket that receives the ARP frames of every interface of the namespace `ns`
/// (its eth0 and a loopback that carries none), for the calling thread: setns moves only
/// this thread into the namespace.
fn arp_socket_in(ns: &str) -> socket2::Socket {
    const ETH_P_ARP: u16 = 0x0806;
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    socket2::Socket::new(
        socket2::Domain::PACKET,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(i32::from(ETH_P_ARP.to_be()))),
    )
    .unwrap()
}

/// A raw CARP (protocol 112) socket on `eth0` of the namespace `ns`, for the calling thread:
/// setns moves only this thread into the namespace.
fn carp_socket_on_eth0(ns: &str) -> socket2::Socket {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(i32::from(wire::PROTOCOL))),
    )
    .unwrap();
    socket.bind_device(Some(b"eth0")).unwrap();
    socket
}

/// A raw socket on eth0 of the namespace `ns` for sending whole IPv4 packets (header
/// included), and `dst` as the address to send them to.
fn packet_socket_on_eth0(ns: &str, dst: Ipv4Addr) -> (socket2::Socket, socket2::SockAddr) {
    let socket = carp_socket_on_eth0(ns);
    socket.set_header_included_v4(true).unwrap();
    (
        socket,
        socket2::SockAddr::from(std::net::SocketAddrV4::new(dst, 0)),
    )
}

/// The captured packets sent from `src`, decoded.
pub fn adverts_from(captured: &[Captured], src: Ipv4Addr) -> Vec<(Instant, Advert, [u8; 56])> {
    captured
        .iter()
        .filter_map(|c| {
            let r = wire::decode_ipv4(&c.packet).ok()?;
            let packet: [u8; 56] = c.packet.as_slice().try_into().ok()?;
            (r.src == src).then_some((c.at, r.advert, packet))
        })
        .collect()
}

/// The longest time between two consecutive instants.
pub fn longest_gap(times: &[Instant]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// An advertisement for the lab's vhid and VIP, signed with `password`.
pub fn advert(advbase: u8, advskew: u8, counter: u64, password: &str) -> Advert {
    Advert::signed(
        VHID,
        advbase,
        advskew,
        counter,
        &Password::new(password.as_bytes()),
        &[VIP.parse().unwrap()],
    )
}

/// The lab's name of host number `host` (1, 2, …).
fn host_name(host: usize) -> String {
    format!("h{host}")
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The state changes printed by the carpctl of `proc`, as "FROM->TO reason".
pub fn reasons(lab: &Lab, proc: usize) -> Vec<String> {
    lab.procs[proc]
        .events()
        .iter()
        .map(|e| {
            format!(
                "{}->{} {}",
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["reason"].as_str().unwrap()
            )
        })
        .collect()
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `within`.
pub fn wait_until(within: Duration, what: &str, check: impl FnMut() -> bool) {
    testkit::wait_until(what, within, Duration::from_millis(50), check);
}

/// How long `check` took to hold, polled every 10 ms; panics with `what` after `within`.
pub fn time_until(within: Duration, what: &str, check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    testkit::wait_until(what, within, Duration::from_millis(10), check);
    start.elapsed()
}

/// Holds `check` true for the whole of `during`; panics with `what` when it fails.
pub fn holds_for(during: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + during;
    while Instant::now() < end {
        assert!(check(), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
