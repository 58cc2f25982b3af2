//! One real `redis-server` per value, configured like the how-to's redis-NNNN.conf, in its
//! own temporary directory, killed and removed on drop. With [`RedisConfig::tls`] it is
//! TLS-only: `port 0`, the leased port as `tls-port`, TLS on the cluster bus and for
//! replication.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::tls::TlsServer;
use crate::PortLease;

/// How to configure an instance. The defaults follow the how-to's redis-NNNN.conf, with
/// persistence off so tests leave nothing behind and start fast.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub cluster_enabled: bool,
    pub node_timeout_ms: u64,
    /// Set `cluster-announce-ip` to the bound address (what the how-to's VIP problem lacks).
    pub announce_ip: bool,
    /// Further `--name value` pairs passed as they are. A `requirepass` here is also the
    /// password testkit's own commands authenticate with.
    pub extra: Vec<(String, String)>,
    /// TLS-only on the leased port (`port 0`, `tls-port`, `tls-cluster yes`,
    /// `tls-replication yes`) with these certificates; `None`: plaintext.
    pub tls: Option<TlsServer>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            cluster_enabled: true,
            node_timeout_ms: 5000,
            announce_ip: true,
            extra: Vec::new(),
            tls: None,
        }
    }
}

/// Whether a server at `addr` replies to PING (any reply counts, `-NOAUTH` as well: what is
/// tested is that its event loop runs).
fn answers_a_command(addr: &str, tls: Option<&TlsServer>) -> bool {
    if let Some(tls) = tls {
        let (ip, port) = addr.rsplit_once(':').expect("ip:port");
        let Ok(output) = Command::new("redis-cli")
            .args(["-h", ip, "-p", port])
            .args(tls.cli_args())
            .arg("ping")
            .stdin(Stdio::null())
            .output()
        else {
            return false;
        };
        let said = String::from_utf8_lossy(&output.stdout);
        return said.contains("PONG") || said.contains("NOAUTH");
    }
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 1];
    stream.write_all(b"PING\r\n").is_ok() && matches!(stream.read(&mut reply), Ok(1))
}

/// A running redis-server.
#[derive(Debug)]
pub struct RedisInstance {
    pub ip: String,
    pub port: u16,
    child: Child,
    /// The command line it was started with, which [`RedisInstance::restart`] repeats.
    args: Vec<String>,
    /// TLS settings when it is TLS-only.
    tls: Option<TlsServer>,
    /// The `requirepass` it was started with, for testkit's own commands.
    password: Option<String>,
    dir: tempfile::TempDir,
    _lease: Arc<PortLease>,
}

impl RedisInstance {
    /// Starts an instance bound to `ip` on a leased port and waits until it accepts connections.
    /// A port found free can still be taken by a process outside the leases before
    /// redis-server binds it; then another leased port is tried, a few times.
    pub fn start(ip: &str, config: &RedisConfig) -> RedisInstance {
        for _ in 0..3 {
            match RedisInstance::try_start_on(ip, Arc::new(PortLease::take(ip)), config) {
                Ok(instance) => return instance,
                Err(log) if log.contains("Address already in use") => {}
                Err(log) => panic!("{log}"),
            }
        }
        panic!(
            "redis-server on {ip}: three leased ports were taken by others before it bound them"
        );
    }

    /// Starts an instance bound to `ip` on the port of `lease`, which may be shared by instances
    /// on other addresses (see [`PortLease::take_on`]); the port stays leased until the last
    /// of them is dropped.
    pub fn start_on(ip: &str, lease: Arc<PortLease>, config: &RedisConfig) -> RedisInstance {
        RedisInstance::try_start_on(ip, lease, config).unwrap_or_else(|log| panic!("{log}"))
    }

    /// [`RedisInstance::start_on`], or why the server exited: its address and log.
    fn try_start_on(
        ip: &str,
        lease: Arc<PortLease>,
        config: &RedisConfig,
    ) -> Result<RedisInstance, String> {
        let dir = tempfile::Builder::new()
            .prefix("testkit-redis-")
            .tempdir()
            .unwrap();
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let path = |p: &Path| p.display().to_string();
        let ports = match &config.tls {
            None => vec![("port", lease.port.to_string())],
            Some(tls) => vec![
                ("port", "0".to_string()),
                ("tls-port", lease.port.to_string()),
                ("tls-cluster", "yes".to_string()),
                ("tls-replication", "yes".to_string()),
                ("tls-cert-file", path(&tls.cert)),
                ("tls-key-file", path(&tls.key)),
                ("tls-ca-cert-file", path(&tls.ca)),
                ("tls-auth-clients", tls.auth_clients.clone()),
            ],
        };
        let args: Vec<String> = ports
            .into_iter()
            .chain([
                ("bind", ip.to_string()),
                ("dir", dir.path().display().to_string()),
                (
                    "cluster-enabled",
                    yes_no(config.cluster_enabled).to_string(),
                ),
                ("cluster-config-file", "nodes.conf".to_string()),
                ("cluster-node-timeout", config.node_timeout_ms.to_string()),
                ("appendonly", "no".to_string()),
                ("save", String::new()),
                (
                    "logfile",
                    dir.path().join("redis.log").display().to_string(),
                ),
                ("protected-mode", "no".to_string()),
            ])
            .chain(
                config
                    .announce_ip
                    .then(|| ("cluster-announce-ip", ip.to_string())),
            )
            .chain(config.extra.iter().map(|(k, v)| (k.as_str(), v.clone())))
            .flat_map(|(k, v)| [format!("--{k}"), v])
            .collect();
        let child = spawn_server(&args);
        let password = config
            .extra
            .iter()
            .rev()
            .find(|(k, _)| k == "requirepass")
            .map(|(_, v)| v.clone());
        let mut instance = RedisInstance {
            ip: ip.to_string(),
            port: lease.port,
            child,
            args,
            tls: config.tls.clone(),
            password,
            dir,
            _lease: lease,
        };
        instance.wait_ready()?;
        Ok(instance)
    }

    /// Waits until the server answers a command, which it does only once its initialisation
    /// has ended (a port that accepts connections is not enough: redis-server listens on its
    /// client port before it binds the bus port, and exits when that is taken);
    /// `Err` with its log when it exited.
    fn wait_ready(&mut self) -> Result<(), String> {
        let what = format!("redis-server on {} to accept connections", self.addr());
        let mut exited = None;
        crate::wait_until(
            &what,
            Duration::from_secs(10),
            Duration::from_millis(20),
            || {
                if let Ok(Some(status)) = self.child.try_wait() {
                    exited = Some(status);
                    return true;
                }
                answers_a_command(&self.addr(), self.tls.as_ref())
            },
        );
        match exited {
            None => Ok(()),
            Some(status) => Err(format!(
                "redis-server on {} exited with {status}; log:\n{}",
                self.addr(),
                self.log()
            )),
        }
    }

    /// `ip:port`, as tools take it on the command line.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Runs `redis-cli` against this instance and returns its stdout (trimmed); panics on failure.
    /// `CLUSTER ADDSLOTS` of every slot from `start` to `end`: what every server of the matrix
    /// takes (ADDSLOTSRANGE is Redis 7.0). The reply, trimmed.
    pub fn add_slots(&self, start: u16, end: u16) -> String {
        self.slots_command("addslots", start, end)
    }

    /// `CLUSTER DELSLOTS` of every slot from `start` to `end`, as [`RedisInstance::add_slots`].
    pub fn del_slots(&self, start: u16, end: u16) -> String {
        self.slots_command("delslots", start, end)
    }

    fn slots_command(&self, subcommand: &str, start: u16, end: u16) -> String {
        let slots: Vec<String> = (start..=end).map(|s| s.to_string()).collect();
        let mut args = vec!["cluster", subcommand];
        args.extend(slots.iter().map(String::as_str));
        self.cli(&args)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-h", &self.ip, "-p", &self.port.to_string()]);
        if let Some(tls) = &self.tls {
            command.args(tls.cli_args());
        }
        if let Some(password) = &self.password {
            command.env("REDISCLI_AUTH", password);
        }
        let output = command
            .args(args)
            .output()
            .expect("cannot run redis-cli; install the redis-tools package");
        assert!(
            output.status.success(),
            "redis-cli {} on {} failed ({}): {}",
            args.join(" ").chars().take(120).collect::<String>(),
            self.addr(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// What must not change when a tool refuses to act: id, peers, slots, epoch, keys, and the
    /// settings `--fast` lowers.
    pub fn fingerprint(&self) -> String {
        let keys = self.cli(&["dbsize"]);
        let info = self.cli(&["info", "cluster"]);
        if info_field(&info, "cluster_enabled") != "1" {
            return format!("keys={keys}");
        }
        let cluster = self.cli(&["cluster", "info"]);
        format!(
            "id={} keys={keys} known={} slots={} epoch={} node-timeout={} sync-delay={}",
            self.cli(&["cluster", "myid"]),
            info_field(&cluster, "cluster_known_nodes"),
            info_field(&cluster, "cluster_slots_assigned"),
            info_field(&cluster, "cluster_current_epoch"),
            self.config("cluster-node-timeout"),
            self.config("repl-diskless-sync-delay"),
        )
    }

    /// The value of one setting (`CONFIG GET`).
    pub fn config(&self, name: &str) -> String {
        self.cli(&["config", "get", name])
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }

    /// The server's process id, to signal it (SIGSTOP freezes it, as a stalled host would).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server at once (as a crash would), keeping its directory for inspection.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server at once and starts it again on the same address, port, directory and
    /// settings, as a host's init system restarts a crashed instance: it comes back with its
    /// `nodes.conf` (its id, epoch and view of the cluster) but, persistence being off, no keys.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.child = spawn_server(&self.args);
        self.wait_ready()
    }

    /// The cluster as this node sees it, one entry per `CLUSTER NODES` line: (node id, role
    /// "master" or "replica", master id or "-", slots and open slots as written), without the
    /// ping times and link states that change from one moment to the next.
    pub fn cluster_layout(&self) -> Vec<(String, String, String, String)> {
        self.cli(&["cluster", "nodes"])
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let role = if f[2].contains("master") {
                    "master"
                } else {
                    "replica"
                };
                (
                    f[0].to_string(),
                    role.to_string(),
                    f[3].to_string(),
                    f[8..].join(" "),
                )
            })
            .collect()
    }

    /// Path of the server's data directory file `name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The server binary the tests run: `TEST_REDIS_SERVER` (the server matrix sets it to Redis 6.2
/// or Valkey, see scripts/test-servers), else Debian's `redis-server`.
pub fn server_binary() -> String {
    std::env::var("TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

fn spawn_server(args: &[String]) -> Child {
    let binary = server_binary();
    Command::new(&binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary}: {e}; install the redis-server package (or run scripts/test-servers for the others)")
        })
}

impl Drop for RedisInstance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `key` in an INFO or CLUSTER INFO reply, empty when absent.
pub fn info_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_default()
        .to_string()
}
