//! Seeded random histories of day-2 events against a real cluster, to prove that
//! `redis-cluster-create converge` holds up through a cluster's whole life and not only from the
//! fresh clusters each scenario test starts with. A history starts with four hosts (127.0.0.1–4,
//! two instances each) made one cluster and preloaded with keys; then each event (a host added,
//! killed or removed, a manual failover, a half-migrated slot, a converge killed mid-run, a node
//! restarted from its nodes.conf, a replica moved under the layout) is followed by a converge of
//! the live nodes, with a cluster-aware writer running throughout, and by the checks: the
//! converge exited 0, the layout is the wanted one, every node agrees, and no key acknowledged
//! since the history began is lost. The events and their parameters come from the seed alone, so
//! a failure is replayed by its seed (only the timing of kills is up to the machine).
//!
//! The harness drives the `redis-cluster-create` binary it is given and nothing else of it, so
//! it judges any version of converge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{RedisConfig, RedisInstance};

/// The addresses hosts may have; a history keeps between three and all five of them alive.
const HOST_IPS: [&str; 5] = [
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.4",
    "127.0.0.5",
];
/// Hosts at the start of a history.
const FIRST_HOSTS: usize = 4;
/// Below this many hosts no host is killed or removed: with three masters, a lost host still
/// leaves a majority of masters to vote a failover; with two it would not.
const FEWEST_HOSTS: usize = 3;
/// Instances per host, as in the how-to.
const INSTANCES_PER_HOST: usize = 2;
/// Node timeout of every instance: short, so dead nodes are failed over quickly, long enough
/// for a loaded two-core machine not to suspect live ones.
const NODE_TIMEOUT_MS: u64 = 2000;
/// `--timeout` of every converge.
const CONVERGE_TIMEOUT_SECS: u64 = 90;
/// How long after its own `--timeout` a converge is taken for hung and killed.
const HANG_GRACE: Duration = Duration::from_secs(60);
/// Gossip needs a moment after converge reports the cluster usable before every node's view
/// is the same; the checks poll this long before they call a difference a failure.
const SETTLE: Duration = Duration::from_secs(15);
const SLOTS: usize = 16384;

/// What to run: one history.
#[derive(Debug, Clone)]
pub struct HistorySettings {
    pub seed: u64,
    /// Events after the cluster is created and loaded.
    pub events: usize,
    /// Keys the writer loads before the first event.
    pub preload: usize,
    /// The `redis-cluster-create` binary under test.
    pub tool: PathBuf,
    /// Where the events come from.
    pub script: Script,
}

/// The events of a history: drawn from the seed, or a fixed sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Drawn from the seed, among the events the cluster allows.
    Random,
    /// The five-step history that issue 17 measured on the executor before it was rebuilt:
    /// a host added; a host SIGKILLed; a manual failover leaving one host with two masters; a
    /// half-migrated slot; the lost host back, its converge SIGKILLed after 1.5 s, then run
    /// again. Only the slot and the failover's replica come from the seed.
    Issue17,
}

/// How a history went.
#[derive(Debug)]
pub struct HistoryOutcome {
    pub seed: u64,
    pub script: Script,
    /// One record per event run (the failing one last).
    pub trail: Vec<EventRecord>,
    /// Converges run, killed ones included.
    pub converges: usize,
    /// What went wrong at the last event, when something did.
    pub failure: Option<String>,
    /// Acknowledged keys that did not read back with their last value, at the failing check.
    pub keys_lost: u64,
    /// The cluster as the live nodes saw it after a failure: each distinct view with the
    /// nodes that hold it.
    pub cluster_at_failure: String,
    pub elapsed: Duration,
}

/// One event of a history and what followed it.
#[derive(Debug)]
pub struct EventRecord {
    /// 1-based position in the history.
    pub number: usize,
    pub event: String,
    /// What the event's setup saw that the converge has to deal with (a failover that did not
    /// happen in time, a converge that ended before its kill).
    pub notes: Vec<String>,
    pub converges: Vec<ConvergeRun>,
    /// The cluster as the live nodes saw it when the event was set up, before its converges:
    /// what the failing converge started from.
    pub cluster_before: String,
    /// Acknowledged keys that no live node held any more once the event was set up, before its
    /// converges ran: Redis's own doing (a master restarted empty from its nodes.conf can win a
    /// slot back from the replica that replaced it, and the replica then deletes that slot's
    /// keys). They are named in the trail and taken out of the writer's check, which from then
    /// on judges the converges alone.
    pub dropped_by_redis: Vec<String>,
    /// The writer's counts of the converges, as it printed them.
    pub writer: String,
}

/// One `redis-cluster-create converge` process.
#[derive(Debug)]
pub struct ConvergeRun {
    /// Exit code, None when a signal ended it.
    pub code: Option<i32>,
    /// The signal the harness sent it, if any.
    pub signalled: Option<&'static str>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl EventRecord {
    /// The trail's note on keys Redis dropped before the converges, empty when none.
    fn dropped_note(&self) -> String {
        if self.dropped_by_redis.is_empty() {
            return String::new();
        }
        let some: Vec<&str> = self
            .dropped_by_redis
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        format!(
            " [Redis dropped {} acknowledged keys before any converge ran, no live node holds \
             them: {}{}]",
            self.dropped_by_redis.len(),
            some.join(" "),
            if self.dropped_by_redis.len() > some.len() {
                " …"
            } else {
                ""
            }
        )
    }
}

impl ConvergeRun {
    fn summary(&self) -> String {
        let ended = match (self.signalled, self.code) {
            (Some(signal), code) => format!("{signal} sent, exit {code:?}"),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "ended by a signal".to_string(),
        };
        let last = self.stderr.lines().last().unwrap_or("(no output)");
        format!("{ended} in {:.1}s: {last}", self.elapsed.as_secs_f64())
    }
}

impl HistoryOutcome {
    /// Acknowledged keys Redis itself dropped in the events, before any converge ran (see
    /// [`EventRecord::dropped_by_redis`]).
    pub fn dropped_by_redis(&self) -> usize {
        self.trail.iter().map(|r| r.dropped_by_redis.len()).sum()
    }

    /// The command that replays this history up to its last event.
    pub fn replay_command(&self) -> String {
        if self.script == Script::Issue17 {
            return format!(
                "scripts/soak/converge --issue-17 --seed {} --events {}",
                self.seed,
                self.trail.len()
            );
        }
        format!(
            "scripts/soak/converge --seed {} --events {}   (or: HISTORY_SEED={} HISTORY_EVENTS={} \
             cargo test -p redis-cluster-create --test history)",
            self.seed,
            self.trail.len(),
            self.seed,
            self.trail.len()
        )
    }
}

impl fmt::Display for HistoryOutcome {
    /// The report of a history: seed, the trail one line per event, and for a failure what
    /// failed, the failing converges' whole stderr and the command that replays it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = self.failure.as_ref().map_or("passed", |_| "FAILED");
        writeln!(
            f,
            "history seed {} {verdict} after {} events ({} converges, {:.0}s)",
            self.seed,
            self.trail.len(),
            self.converges,
            self.elapsed.as_secs_f64()
        )?;
        for record in &self.trail {
            let runs: Vec<String> = record.converges.iter().map(ConvergeRun::summary).collect();
            writeln!(
                f,
                "  #{} {}{}{}: {} | writer {}",
                record.number,
                record.event,
                record
                    .notes
                    .iter()
                    .map(|n| format!(" [{n}]"))
                    .collect::<String>(),
                record.dropped_note(),
                runs.join(" ; then "),
                record.writer
            )?;
        }
        if let Some(failure) = &self.failure {
            writeln!(f, "failure at event #{}: {failure}", self.trail.len())?;
            if let Some(last) = self.trail.last() {
                write!(
                    f,
                    "--- before the converges of event #{}:\n{}",
                    last.number, last.cluster_before
                )?;
                for (n, run) in last.converges.iter().enumerate() {
                    writeln!(
                        f,
                        "--- converge {} of event #{}, stderr:",
                        n + 1,
                        last.number
                    )?;
                    writeln!(f, "{}", run.stderr.trim_end())?;
                }
            }
            write!(f, "{}", self.cluster_at_failure)?;
            writeln!(f, "replay: {}", self.replay_command())?;
        }
        Ok(())
    }
}

/// The harness's random numbers: splitmix64, small enough to own and the same on every
/// machine, so a seed names one history forever.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n as u64).expect("below n, which is a usize")
    }

    /// A duration between `low_ms` and `high_ms` milliseconds.
    fn millis(&mut self, low_ms: u64, high_ms: u64) -> Duration {
        Duration::from_millis(low_ms + self.next_u64() % (high_ms - low_ms + 1))
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// How a converge is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    Kill,
    Int,
    Term,
}

impl Interrupt {
    fn name(self) -> &'static str {
        match self {
            Interrupt::Kill => "SIGKILL",
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
        }
    }
}

/// A change of membership that a converge carries out.
#[derive(Debug, Clone)]
enum Membership {
    /// A new host with two fresh instances on this address.
    Add(String),
    /// The live host on this address is left out of the node list.
    Remove(String),
}

/// One event, with every parameter drawn from the seed.
#[derive(Debug, Clone)]
enum Event {
    /// A host joins (converge of every live node, the new ones among them).
    AddHost(String),
    /// Both instances of the host are killed at once (converge of the survivors).
    KillHost(String),
    /// A live host is left out of the converge, which must drain and remove it.
    RemoveHost(String),
    /// `CLUSTER FAILOVER [FORCE]` on the replica at this position of the sorted replicas.
    ManualFailover { replica: usize, force: bool },
    /// A slot left half-migrated: `{tag}` names the slot, `target` the master (by position
    /// among the other masters) that imports it.
    HalfMigratedSlot { tag: u64, target: usize },
    /// A converge of `change` interrupted by `signal` after `after`, then a second one.
    KilledConverge {
        change: Membership,
        signal: Interrupt,
        after: Duration,
    },
    /// The instance at this position of the sorted nodes is killed and started again from
    /// its nodes.conf `pause` after the kill; a master `pause` after it has been failed over.
    RestartNode { node: usize, pause: Duration },
    /// The replica at this position is made a replica of another master (by position among
    /// the others), leaving its own master without one; Redis's replica migration may then
    /// move a replica by itself during `pause`.
    MoveReplica {
        replica: usize,
        master: usize,
        pause: Duration,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::AddHost(ip) => write!(f, "add host {ip}"),
            Event::KillHost(ip) => write!(f, "SIGKILL host {ip}"),
            Event::RemoveHost(ip) => write!(f, "remove live host {ip}"),
            Event::ManualFailover { replica, force } => write!(
                f,
                "CLUSTER FAILOVER{} on replica #{replica}",
                if *force { " FORCE" } else { "" }
            ),
            Event::HalfMigratedSlot { tag, target } => {
                write!(
                    f,
                    "half-migrated slot of {{h{tag}}} to other master #{target}"
                )
            }
            Event::KilledConverge {
                change,
                signal,
                after,
            } => {
                let change = match change {
                    Membership::Add(ip) => format!("add host {ip}"),
                    Membership::Remove(ip) => format!("remove live host {ip}"),
                };
                write!(
                    f,
                    "{change}, converge {} after {}ms, converge again",
                    signal.name(),
                    after.as_millis()
                )
            }
            Event::RestartNode { node, pause } => write!(
                f,
                "restart node #{node} from its nodes.conf {}ms after its kill (a master: after its failover)",
                pause.as_millis()
            ),
            Event::MoveReplica {
                replica,
                master,
                pause,
            } => write!(
                f,
                "CLUSTER REPLICATE replica #{replica} to other master #{master}, wait {}ms",
                pause.as_millis()
            ),
        }
    }
}

/// A host: its address and its two instances.
struct Host {
    ip: String,
    instances: Vec<RedisInstance>,
}

/// One line of `CLUSTER NODES`, the parts the checks look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NodeLine {
    id: String,
    /// `ip:port`, without the bus port.
    addr: String,
    flags: String,
    /// The master's id, `-` for a master.
    master: String,
    /// Slot ranges and open slots as written.
    slots: Vec<String>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<NodeLine> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return None;
        }
        Some(NodeLine {
            id: fields[0].to_string(),
            addr: fields[1].split('@').next().unwrap_or_default().to_string(),
            flags: fields[2].to_string(),
            master: fields[3].to_string(),
            slots: fields[8..].iter().map(ToString::to_string).collect(),
        })
    }

    fn is_master(&self) -> bool {
        self.flags.split(',').any(|f| f == "master")
    }

    fn host(&self) -> &str {
        self.addr.rsplit_once(':').map_or("", |(ip, _)| ip)
    }

    /// What every node must agree on: id, address, role, master, slots (no flags such as
    /// `myself`, no ping times).
    fn agreed_part(&self) -> String {
        let role = if self.is_master() {
            "master"
        } else {
            "replica"
        };
        format!(
            "{} {} {role} {} {}",
            self.id,
            self.addr,
            self.master,
            self.slots.join(" ")
        )
    }

    /// Slots served, open slots (`[..]`) left out.
    fn served_slots(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !s.starts_with('['))
            .map(|s| {
                let (low, high) = s.split_once('-').unwrap_or((s, s));
                match (low.parse::<usize>(), high.parse::<usize>()) {
                    (Ok(low), Ok(high)) if high >= low => high - low + 1,
                    _ => 0,
                }
            })
            .sum()
    }

    fn serves(&self, slot: usize) -> bool {
        self.slots.iter().any(|s| {
            let (low, high) = s.split_once('-').unwrap_or((s, s));
            matches!(
                (low.parse::<usize>(), high.parse::<usize>()),
                (Ok(low), Ok(high)) if low <= slot && slot <= high
            )
        })
    }
}

/// Runs one redis-cli command on `node`; Err with the reply when Redis refused it (redis-cli
/// exits 0 on error replies, so the reply itself is looked at).
fn redis(node: &RedisInstance, args: &[&str]) -> Result<String, String> {
    let output = Command::new("redis-cli")
        .args(["-h", &node.ip, "-p", &node.port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run redis-cli: {e}"))?;
    let reply = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let error_kinds = [
        "ERR",
        "MOVED",
        "ASK",
        "CLUSTERDOWN",
        "LOADING",
        "BUSYKEY",
        "IOERR",
        "TRYAGAIN",
        "NOREPLICAS",
    ];
    let refused = reply
        .split_whitespace()
        .next()
        .is_some_and(|word| error_kinds.contains(&word));
    if !output.status.success() || refused {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{} {}: {reply}{}",
            node.addr(),
            args.join(" "),
            stderr.trim()
        ));
    }
    Ok(reply)
}

fn cluster_nodes(node: &RedisInstance) -> Result<Vec<NodeLine>, String> {
    Ok(redis(node, &["cluster", "nodes"])?
        .lines()
        .filter_map(NodeLine::parse)
        .collect())
}

fn myself(node: &RedisInstance) -> Result<NodeLine, String> {
    cluster_nodes(node)?
        .into_iter()
        .find(|l| l.flags.contains("myself"))
        .ok_or_else(|| format!("{}: no myself line in CLUSTER NODES", node.addr()))
}

/// A child process killed on drop, so a failing history leaves none behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The cluster-aware writer (`tests/cluster-writer.py`) running with the history's state file.
struct Writer {
    child: Reaped,
    stop: PathBuf,
    /// The writer's stderr after its "preloaded" line, collected for the failure message.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Writer {
    /// Starts writing through `seeds` and returns once the `preload` keys are written.
    fn start(
        world: &World,
        seeds: &[String],
        prefix: &str,
        preload: usize,
    ) -> Result<Writer, String> {
        let stop = world.dir.path().join(format!("stop-{prefix}"));
        let mut command = Command::new("/usr/bin/python3");
        command.arg(crate::workspace_root().join("tests/cluster-writer.py"));
        for seed in seeds {
            command.args(["--seed", seed]);
        }
        command
            .args(["--preload", &preload.to_string(), "--prefix", prefix])
            .arg("--stop-file")
            .arg(&stop)
            .arg("--state")
            .arg(world.state_file())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Reaped(command.spawn().map_err(|e| {
            format!("cannot run /usr/bin/python3 ({e}); install python3 and python3-redis")
        })?);
        let mut lines = BufReader::new(child.0.stderr.take().expect("piped")).lines();
        let mut before = Vec::new();
        let ready = lines.any(|l| match l {
            Ok(l) if l == "preloaded" => true,
            Ok(l) => {
                before.push(l);
                false
            }
            Err(_) => false,
        });
        if !ready {
            return Err(format!(
                "the writer did not start (is python3-redis installed?): {}",
                before.join("\n")
            ));
        }
        let stderr =
            std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
        Ok(Writer {
            child,
            stop,
            stderr: Some(stderr),
        })
    }

    /// Stops writing and returns the writer's report once it has read back every key of the
    /// history.
    fn finish(mut self) -> Result<WriterReport, String> {
        std::fs::write(&self.stop, "").map_err(|e| format!("cannot stop the writer: {e}"))?;
        let mut stdout = String::new();
        if let Some(out) = self.child.0.stdout.as_mut() {
            let _ = out.read_to_string(&mut stdout);
        }
        let _ = self.child.0.wait();
        let stderr = self
            .stderr
            .take()
            .map(|s| s.join().unwrap_or_default())
            .unwrap_or_default();
        WriterReport::parse(&stdout)
            .ok_or_else(|| format!("the writer printed no report: {stdout}\n{stderr}"))
    }
}

/// The writer's counts (see tests/cluster-writer.py).
#[derive(Debug)]
struct WriterReport {
    lost: u64,
    read_errors: u64,
    /// The report as printed, for the trail.
    text: String,
}

impl WriterReport {
    fn parse(stdout: &str) -> Option<WriterReport> {
        let value: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
        Some(WriterReport {
            lost: value["lost"].as_u64()?,
            read_errors: value["read_errors"].as_u64()?,
            text: value.to_string(),
        })
    }
}

/// The live cluster of one history and everything started for it.
struct World {
    settings: HistorySettings,
    config: RedisConfig,
    /// Live hosts, by address.
    hosts: Vec<Host>,
    /// The writer's state file lives here.
    dir: tempfile::TempDir,
    /// Converges run so far.
    converges: usize,
}

impl World {
    fn state_file(&self) -> PathBuf {
        self.dir.path().join("acknowledged.json")
    }

    /// The writer's acknowledged keys and values (see cluster-writer.py's `--state`).
    fn acknowledged(&self) -> BTreeMap<String, serde_json::Value> {
        std::fs::read_to_string(self.state_file())
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn save_acknowledged(&self, state: &BTreeMap<String, serde_json::Value>) -> Result<(), String> {
        let text = serde_json::to_string(state).map_err(|e| e.to_string())?;
        std::fs::write(self.state_file(), text).map_err(|e| format!("cannot save the state: {e}"))
    }

    /// Takes the acknowledged keys that no live node holds (SCAN of every node, owned slots
    /// or not) out of the writer's state and returns them, sorted.
    fn forget_keys_no_node_holds(&self) -> Result<Vec<String>, String> {
        let mut held = BTreeSet::new();
        for node in self.instances() {
            held.extend(redis(node, &["--scan"])?.lines().map(str::to_string));
        }
        let mut state = self.acknowledged();
        let dropped: Vec<String> = state
            .keys()
            .filter(|k| !held.contains(*k))
            .cloned()
            .collect();
        if !dropped.is_empty() {
            state.retain(|k, _| held.contains(k));
            self.save_acknowledged(&state)?;
        }
        Ok(dropped)
    }

    fn instances(&self) -> impl Iterator<Item = &RedisInstance> {
        self.hosts.iter().flat_map(|h| &h.instances)
    }

    /// Every live node's address, sorted, as converge takes them.
    fn addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self.instances().map(RedisInstance::addr).collect();
        addrs.sort();
        addrs
    }

    fn instance(&self, addr: &str) -> Result<&RedisInstance, String> {
        self.instances()
            .find(|i| i.addr() == addr)
            .ok_or_else(|| format!("{addr} is not a live node of the history"))
    }

    fn instance_mut(&mut self, addr: &str) -> Result<&mut RedisInstance, String> {
        self.hosts
            .iter_mut()
            .flat_map(|h| &mut h.instances)
            .find(|i| i.addr() == addr)
            .ok_or_else(|| format!("{addr} is not a live node of the history"))
    }

    /// Live nodes sorted by address, with their own view of their role.
    fn roles(&self) -> Result<Vec<NodeLine>, String> {
        let mut lines = self
            .instances()
            .map(myself)
            .collect::<Result<Vec<_>, _>>()?;
        lines.sort_by(|a, b| a.addr.cmp(&b.addr));
        Ok(lines)
    }

    fn free_ips(&self) -> Vec<&'static str> {
        HOST_IPS
            .iter()
            .copied()
            .filter(|ip| self.hosts.iter().all(|h| h.ip != *ip))
            .collect()
    }

    fn live_ips(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.ip.clone()).collect()
    }

    /// Starts a host's two instances and returns it (not yet part of the cluster).
    fn start_host(&self, ip: &str) -> Host {
        let instances = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..INSTANCES_PER_HOST)
                .map(|_| scope.spawn(|| RedisInstance::start(ip, &self.config)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("starting an instance panicked"))
                .collect()
        });
        Host {
            ip: ip.to_string(),
            instances,
        }
    }

    fn add_host(&mut self, host: Host) {
        self.hosts.push(host);
        self.hosts.sort_by(|a, b| a.ip.cmp(&b.ip));
    }

    /// Takes the host off the live list, which stops its instances (dropping them).
    fn retire_host(&mut self, ip: &str) {
        self.hosts.retain(|h| h.ip != ip);
    }

    /// Waits (bounded) until every replica of the masters among `nodes` has the masters'
    /// whole replication stream, so that killing them loses nothing through Redis's own
    /// asynchronous replication: a loss seen afterwards is then converge's.
    fn wait_replicas_caught_up(&self, nodes: &[&RedisInstance]) -> Result<(), String> {
        for node in nodes {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let info = redis(node, &["info", "replication"])?;
                if crate::info_field(&info, "role") != "master" || replicas_in_sync(&info) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{}: replicas did not catch up within 10s before the kill: {info}",
                        node.addr()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Runs one converge of `nodes`, interrupted by `interrupt` after its delay when given.
    fn converge(
        &mut self,
        nodes: &[String],
        interrupt: Option<(Interrupt, Duration)>,
    ) -> ConvergeRun {
        self.converges += 1;
        let started = Instant::now();
        let mut command = Command::new(&self.settings.tool);
        command
            .args([
                "converge",
                "--yes",
                "--timeout",
                &CONVERGE_TIMEOUT_SECS.to_string(),
            ])
            .args(nodes)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => Reaped(child),
            Err(e) => {
                return ConvergeRun {
                    code: None,
                    signalled: None,
                    stderr: format!("cannot run {}: {e}", self.settings.tool.display()),
                    elapsed: started.elapsed(),
                }
            }
        };
        let mut pipe = child.0.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let mut signalled = None;
        let hang = Duration::from_secs(CONVERGE_TIMEOUT_SECS) + HANG_GRACE;
        let status = loop {
            if let Ok(Some(status)) = child.0.try_wait() {
                break Some(status);
            }
            if let Some((signal, after)) = interrupt {
                if signalled.is_none() && started.elapsed() >= after {
                    send(child.0.id(), signal);
                    signalled = Some(signal.name());
                }
            }
            if started.elapsed() > hang {
                send(child.0.id(), Interrupt::Kill);
                signalled = Some("SIGKILL (hung)");
                break child.0.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = stderr.join().unwrap_or_default();
        if signalled.is_none() && interrupt.is_some() {
            stderr.push_str("(it ended before the interrupt was due)\n");
        }
        ConvergeRun {
            code: status.and_then(|s| s.code()),
            signalled,
            stderr,
            elapsed: started.elapsed(),
        }
    }
}

/// Whether INFO replication of a master shows every replica online at its offset.
fn replicas_in_sync(info: &str) -> bool {
    let offset = crate::info_field(info, "master_repl_offset");
    info.lines()
        .filter(|l| l.starts_with("slave") && l.contains("ip="))
        .all(|l| {
            l.contains("state=online")
                && l.split(',')
                    .any(|f| f.strip_prefix("offset=") == Some(offset.as_str()))
        })
}

fn send(pid: u32, signal: Interrupt) {
    let flag = match signal {
        Interrupt::Kill => "-KILL",
        Interrupt::Int => "-INT",
        Interrupt::Term => "-TERM",
    };
    let _ = Command::new("kill").args([flag, &pid.to_string()]).status();
}

/// Draws the next event among those the live cluster allows.
/// Events of [`Script::Issue17`].
const ISSUE_17_EVENTS: usize = 5;

/// Event `number` (from 1) of [`Script::Issue17`]: the cluster starts on 127.0.0.1-4, a fifth
/// host joins, the third is lost and comes back at the end.
fn issue_17_event(rng: &mut SplitMix, world: &World, number: usize) -> Event {
    let lost = HOST_IPS[2].to_string();
    match number {
        1 => Event::AddHost(
            (*world
                .free_ips()
                .first()
                .expect("the history starts with a free address"))
            .to_string(),
        ),
        2 => Event::KillHost(lost),
        // Every host holds a master and a replica: failing any replica over leaves its host
        // with two masters.
        3 => Event::ManualFailover {
            replica: rng.below(world.hosts.len() * (INSTANCES_PER_HOST - 1)),
            force: false,
        },
        4 => Event::HalfMigratedSlot {
            tag: rng.next_u64() % 100_000,
            target: rng.below(world.hosts.len() - 1),
        },
        _ => Event::KilledConverge {
            change: Membership::Add(lost),
            signal: Interrupt::Kill,
            after: Duration::from_millis(1500),
        },
    }
}

fn draw_event(rng: &mut SplitMix, world: &World) -> Event {
    let hosts = world.hosts.len();
    let free = world.free_ips();
    let live = world.live_ips();
    let mut kinds = vec!["failover", "half", "killed", "restart", "replica"];
    if !free.is_empty() {
        kinds.push("add");
    }
    if hosts > FEWEST_HOSTS {
        kinds.extend(["kill", "remove"]);
    }
    let nodes = hosts * INSTANCES_PER_HOST;
    let replicas = nodes - hosts;
    match *rng.pick(&kinds) {
        "add" => Event::AddHost((*rng.pick(&free)).to_string()),
        "kill" => Event::KillHost(rng.pick(&live).clone()),
        "remove" => Event::RemoveHost(rng.pick(&live).clone()),
        "failover" => Event::ManualFailover {
            replica: rng.below(replicas),
            force: rng.below(2) == 1,
        },
        "half" => Event::HalfMigratedSlot {
            tag: rng.next_u64() % 100_000,
            target: rng.below(hosts - 1),
        },
        "killed" => {
            let add = !free.is_empty() && (hosts <= FEWEST_HOSTS || rng.below(2) == 0);
            let change = if add {
                Membership::Add((*rng.pick(&free)).to_string())
            } else {
                Membership::Remove(rng.pick(&live).clone())
            };
            let signal = *rng.pick(&[Interrupt::Kill, Interrupt::Int, Interrupt::Term]);
            Event::KilledConverge {
                change,
                signal,
                after: rng.millis(200, 3000),
            }
        }
        "restart" => Event::RestartNode {
            node: rng.below(nodes),
            // Up to four node timeouts: back before anyone noticed, or long after its failover.
            pause: rng.millis(0, 4 * NODE_TIMEOUT_MS),
        },
        _ => Event::MoveReplica {
            replica: rng.below(replicas),
            master: rng.below(hosts - 1),
            pause: rng.millis(500, 3000),
        },
    }
}

/// One converge to run: its node list, and the signal that interrupts it after a delay.
struct PlannedRun {
    nodes: Vec<String>,
    interrupt: Option<(Interrupt, Duration)>,
}

/// What an event leaves for the converges: the node lists of the runs (the first interrupted
/// when asked) and the host to retire once they are done.
struct Prepared {
    runs: Vec<PlannedRun>,
    retire: Option<String>,
    notes: Vec<String>,
}

impl Prepared {
    fn one(nodes: Vec<String>) -> Prepared {
        Prepared {
            runs: vec![PlannedRun {
                nodes,
                interrupt: None,
            }],
            retire: None,
            notes: Vec::new(),
        }
    }
}

/// Brings the event about (everything but its converges).
fn prepare(event: &Event, world: &mut World) -> Result<Prepared, String> {
    match event {
        Event::AddHost(ip) => {
            let host = world.start_host(ip);
            world.add_host(host);
            Ok(Prepared::one(world.addrs()))
        }
        Event::KillHost(ip) => {
            let host = world
                .hosts
                .iter()
                .find(|h| h.ip == *ip)
                .ok_or_else(|| format!("no live host {ip}"))?;
            world.wait_replicas_caught_up(&host.instances.iter().collect::<Vec<_>>())?;
            world.retire_host(ip);
            Ok(Prepared::one(world.addrs()))
        }
        Event::RemoveHost(ip) => {
            let kept = world
                .addrs()
                .into_iter()
                .filter(|a| !a.starts_with(&format!("{ip}:")))
                .collect();
            Ok(Prepared {
                retire: Some(ip.clone()),
                ..Prepared::one(kept)
            })
        }
        Event::ManualFailover { replica, force } => {
            let replicas: Vec<NodeLine> = world
                .roles()?
                .into_iter()
                .filter(|l| !l.is_master())
                .collect();
            let chosen = replicas
                .get(*replica % replicas.len().max(1))
                .ok_or("no replica to fail over")?;
            let node = world.instance(&chosen.addr)?;
            let mut args = vec!["cluster", "failover"];
            if *force {
                args.push("force");
            }
            redis(node, &args)?;
            let mut prepared = Prepared::one(world.addrs());
            prepared.notes.push(format!("on {}", chosen.addr));
            if !wait_for(Duration::from_secs(15), || {
                myself(node).is_ok_and(|l| l.is_master())
            }) {
                prepared.notes.push(format!(
                    "{} was no master 15s after the failover",
                    chosen.addr
                ));
            }
            Ok(prepared)
        }
        Event::HalfMigratedSlot { tag, target } => {
            let what = half_migrate(world, *tag, *target)?;
            Ok(Prepared {
                notes: vec![what],
                ..Prepared::one(world.addrs())
            })
        }
        Event::KilledConverge {
            change,
            signal,
            after,
        } => {
            let (nodes, retire) = match change {
                Membership::Add(ip) => {
                    let host = world.start_host(ip);
                    world.add_host(host);
                    (world.addrs(), None)
                }
                Membership::Remove(ip) => (
                    world
                        .addrs()
                        .into_iter()
                        .filter(|a| !a.starts_with(&format!("{ip}:")))
                        .collect::<Vec<_>>(),
                    Some(ip.clone()),
                ),
            };
            Ok(Prepared {
                runs: vec![
                    PlannedRun {
                        nodes: nodes.clone(),
                        interrupt: Some((*signal, *after)),
                    },
                    PlannedRun {
                        nodes,
                        interrupt: None,
                    },
                ],
                retire,
                notes: Vec::new(),
            })
        }
        Event::RestartNode { node, pause } => restart_node(world, *node, *pause),
        Event::MoveReplica {
            replica,
            master,
            pause,
        } => {
            let roles = world.roles()?;
            let replicas: Vec<&NodeLine> = roles.iter().filter(|l| !l.is_master()).collect();
            let chosen = replicas
                .get(*replica % replicas.len().max(1))
                .ok_or("no replica to move")?;
            let others: Vec<&NodeLine> = roles
                .iter()
                .filter(|l| l.is_master() && l.id != chosen.master)
                .collect();
            let to = others
                .get(*master % others.len().max(1))
                .ok_or("no other master to replicate")?;
            redis(
                world.instance(&chosen.addr)?,
                &["cluster", "replicate", &to.id],
            )?;
            std::thread::sleep(*pause);
            Ok(Prepared {
                notes: vec![format!("{} now replicates {}", chosen.addr, to.addr)],
                ..Prepared::one(world.addrs())
            })
        }
    }
}

/// Leaves the slot of `{h<tag>}` half-migrated with keys on both sides: 20 keys written to
/// its owner (and added to the writer's state, so losing them counts), the slot IMPORTING on
/// another master and MIGRATING on the owner, and 10 of the keys moved with MIGRATE … KEYS.
/// Returns which slot and nodes, for the trail.
fn half_migrate(world: &World, tag: u64, target: usize) -> Result<String, String> {
    let any = world.instances().next().ok_or("no live node")?;
    let hashtag = format!("{{h{tag}}}");
    let slot: usize = redis(any, &["cluster", "keyslot", &hashtag])?
        .parse()
        .map_err(|e| format!("CLUSTER KEYSLOT: {e}"))?;
    let roles = world.roles()?;
    let owner_line = roles
        .iter()
        .find(|l| l.is_master() && l.serves(slot))
        .ok_or_else(|| format!("no master serves slot {slot}"))?;
    let others: Vec<&NodeLine> = roles
        .iter()
        .filter(|l| l.is_master() && l.id != owner_line.id)
        .collect();
    let target_line = others
        .get(target % others.len().max(1))
        .ok_or("no second master")?;
    let owner = world.instance(&owner_line.addr)?;
    let importer = world.instance(&target_line.addr)?;
    let keys: Vec<String> = (0..20).map(|n| format!("{hashtag}:{n}")).collect();
    let mut state = world.acknowledged();
    for key in &keys {
        // The writer's values are its counter; 1 is below all of them, and a key of ours is
        // never written by the writer unless it overwrites it with a larger value.
        redis(owner, &["set", key, "1"])?;
        state.insert(key.clone(), serde_json::Value::from(1));
    }
    world.save_acknowledged(&state)?;
    let slot = slot.to_string();
    redis(
        importer,
        &["cluster", "setslot", &slot, "importing", &owner_line.id],
    )?;
    redis(
        owner,
        &["cluster", "setslot", &slot, "migrating", &target_line.id],
    )?;
    let port = importer.port.to_string();
    let mut migrate = vec!["migrate", &importer.ip, &port, "", "0", "5000", "keys"];
    migrate.extend(keys[..10].iter().map(String::as_str));
    redis(owner, &migrate)?;
    Ok(format!(
        "slot {slot} MIGRATING on {} to IMPORTING {}, 10 of 20 keys moved",
        owner.addr(),
        importer.addr()
    ))
}

/// Kills one instance and starts it again from its nodes.conf. A master is started again
/// only once its replica has taken over: with persistence off it comes back empty, and had it
/// come back as the master it was, Redis itself would have dropped its keys.
fn restart_node(world: &mut World, node: usize, pause: Duration) -> Result<Prepared, String> {
    let roles = world.roles()?;
    let chosen = roles
        .get(node % roles.len().max(1))
        .ok_or("no live node")?
        .clone();
    world.wait_replicas_caught_up(&[world.instance(&chosen.addr)?])?;
    world.instance_mut(&chosen.addr)?.kill();
    let mut notes = Vec::new();
    if chosen.is_master() {
        let watcher = world
            .instances()
            .find(|i| i.addr() != chosen.addr)
            .ok_or("no other node")?;
        // Taken over once another master serves the first of its slots.
        let first_slot = chosen
            .slots
            .first()
            .and_then(|s| s.split('-').next())
            .and_then(|s| s.parse::<usize>().ok());
        let failed_over = wait_for(Duration::from_secs(30), || {
            cluster_nodes(watcher).is_ok_and(|lines| {
                lines.iter().any(|l| {
                    l.id != chosen.id && l.is_master() && first_slot.is_some_and(|s| l.serves(s))
                })
            })
        });
        notes.push(format!("{} was a master", chosen.addr));
        if !failed_over {
            notes.push(format!("{} was not failed over within 30s", chosen.addr));
        }
    } else {
        notes.push(format!("{} was a replica", chosen.addr));
    }
    std::thread::sleep(pause);
    world.instance_mut(&chosen.addr)?.restart()?;
    // What Redis does on its own with the node's old claims (it may win slots back and so
    // make their new owner delete their keys) happens before the converge, where it can be
    // told apart from the converge's doing.
    let restarted = world.instance(&chosen.addr)?;
    let settled = wait_for(Duration::from_secs(10), || {
        let Ok(own) = cluster_nodes(restarted) else {
            return false;
        };
        let Some(me) = own.iter().find(|l| l.id == chosen.id) else {
            return false;
        };
        world.instances().all(|node| {
            cluster_nodes(node).is_ok_and(|lines| {
                lines
                    .iter()
                    .any(|l| l.id == me.id && l.agreed_part() == me.agreed_part())
            })
        })
    });
    if !settled {
        notes.push(format!(
            "the nodes did not agree on {} within 10s of its restart",
            chosen.addr
        ));
    }
    Ok(Prepared {
        notes,
        ..Prepared::one(world.addrs())
    })
}

/// Polls `condition` every 100 ms for up to `timeout`; whether it came to hold.
fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The wanted layout, checked on every live node: the cluster is ok with every slot served,
/// every node knows exactly the live nodes and none as failed, no slot is open, every view is
/// the same, one master per host with its slots, every master with a replica on another host.
fn check_layout(world: &World) -> Result<(), String> {
    let wanted: BTreeSet<String> = world.addrs().into_iter().collect();
    let mut views = BTreeMap::new();
    for node in world.instances() {
        let info = redis(node, &["cluster", "info"])?;
        let state = crate::info_field(&info, "cluster_state");
        let assigned = crate::info_field(&info, "cluster_slots_assigned");
        if state != "ok" || assigned != SLOTS.to_string() {
            return Err(format!(
                "{}: cluster_state {state}, slots assigned {assigned}",
                node.addr()
            ));
        }
        let lines = cluster_nodes(node)?;
        let known: BTreeSet<String> = lines.iter().map(|l| l.addr.clone()).collect();
        if known != wanted {
            return Err(format!(
                "{} knows {known:?}, the live nodes are {wanted:?}",
                node.addr()
            ));
        }
        if let Some(bad) = lines.iter().find(|l| {
            l.flags
                .split(',')
                .any(|f| matches!(f, "fail" | "fail?" | "handshake" | "noaddr"))
        }) {
            return Err(format!(
                "{} sees {} as {}",
                node.addr(),
                bad.addr,
                bad.flags
            ));
        }
        if let Some(open) = lines
            .iter()
            .find(|l| l.slots.iter().any(|s| s.starts_with('[')))
        {
            return Err(format!(
                "{} sees open slots on {}: {}",
                node.addr(),
                open.addr,
                open.slots.join(" ")
            ));
        }
        let mut agreed: Vec<String> = lines.iter().map(NodeLine::agreed_part).collect();
        agreed.sort();
        views.insert(node.addr(), (agreed, lines));
    }
    let mut distinct = views.values().map(|(agreed, _)| agreed).collect::<Vec<_>>();
    distinct.dedup();
    if distinct.len() > 1 {
        let text: Vec<String> = views
            .iter()
            .map(|(addr, (agreed, _))| format!("{addr} sees:\n    {}", agreed.join("\n    ")))
            .collect();
        return Err(format!("the nodes disagree:\n  {}", text.join("\n  ")));
    }
    let (_, lines) = views.values().next().ok_or("no live node")?;
    check_placement(lines, world.hosts.len())
}

/// Each distinct view of the cluster among the live nodes (`CLUSTER NODES` without the parts
/// that change by the second), with its cluster_state and the nodes that hold it.
fn views(world: &World) -> String {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in world.instances() {
        let state = redis(node, &["cluster", "info"])
            .map(|info| crate::info_field(&info, "cluster_state"))
            .unwrap_or_else(|e| e);
        let view = cluster_nodes(node).map_or_else(
            |e| e,
            |lines| {
                let mut parts: Vec<String> = lines.iter().map(NodeLine::agreed_part).collect();
                parts.sort();
                parts.join("\n    ")
            },
        );
        seen.entry(format!("cluster_state {state}\n    {view}"))
            .or_default()
            .push(node.addr());
    }
    seen.iter()
        .map(|(view, nodes)| format!("view of {}: {view}\n", nodes.join(" ")))
        .collect()
}

/// What each live node logged about roles and elections (why a replica did not fail over,
/// a configuration change it took from a peer): Redis says there what no command reports.
fn failover_log(world: &World) -> String {
    const TOPICS: [&str; 6] = [
        "failover",
        "Failover",
        "election",
        "Configuration change",
        "epoch",
        "slot",
    ];
    const LAST: usize = 12;
    let mut text = String::new();
    for node in world.instances() {
        let log = node.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| TOPICS.iter().any(|t| l.contains(t)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        text.push_str(&format!(
            "log of {} (its last lines on roles and elections):\n",
            node.addr()
        ));
        for line in &lines[lines.len().saturating_sub(LAST)..] {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text
}

/// Masters and replicas as the wanted layout has them, from one agreed view.
fn check_placement(lines: &[NodeLine], hosts: usize) -> Result<(), String> {
    let masters: Vec<&NodeLine> = lines.iter().filter(|l| l.is_master()).collect();
    if let Some(empty) = masters.iter().find(|m| m.served_slots() == 0) {
        return Err(format!("master {} serves no slot", empty.addr));
    }
    let served: usize = masters.iter().map(|m| m.served_slots()).sum();
    if served != SLOTS {
        return Err(format!("{served} slots served, not {SLOTS}"));
    }
    let wanted_masters = lines.len() / INSTANCES_PER_HOST;
    if masters.len() != wanted_masters {
        return Err(format!(
            "{} masters for {} nodes on {hosts} hosts: {}",
            masters.len(),
            lines.len(),
            masters
                .iter()
                .map(|m| m.addr.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if hosts >= masters.len() {
        let mut per_host: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for master in &masters {
            per_host
                .entry(master.host())
                .or_default()
                .push(&master.addr);
        }
        if let Some((host, on)) = per_host.iter().find(|(_, on)| on.len() > 1) {
            return Err(format!(
                "host {host} holds {} masters: {}",
                on.len(),
                on.join(" ")
            ));
        }
    }
    for master in &masters {
        let replicas: Vec<&NodeLine> = lines.iter().filter(|l| l.master == master.id).collect();
        if replicas.is_empty() {
            return Err(format!("master {} has no replica", master.addr));
        }
        if let Some(near) = replicas.iter().find(|r| r.host() == master.host()) {
            return Err(format!(
                "replica {} shares host {} with its master {}",
                near.addr,
                master.host(),
                master.addr
            ));
        }
    }
    Ok(())
}

/// Creates the first four hosts' cluster and loads it; Err says what failed.
fn start_world(settings: &HistorySettings) -> Result<World, String> {
    let config = RedisConfig {
        node_timeout_ms: NODE_TIMEOUT_MS,
        // Replicas sync at once instead of after the 5 s diskless delay.
        extra: vec![("repl-diskless-sync-delay".into(), "0".into())],
        ..RedisConfig::default()
    };
    let dir = tempfile::Builder::new()
        .prefix("testkit-history-")
        .tempdir()
        .map_err(|e| format!("cannot make a directory: {e}"))?;
    let mut world = World {
        settings: settings.clone(),
        config,
        hosts: Vec::new(),
        dir,
        converges: 0,
    };
    for ip in &HOST_IPS[..FIRST_HOSTS] {
        let host = world.start_host(ip);
        world.add_host(host);
    }
    let output = Command::new(&settings.tool)
        .args(["--yes", "--fast", "--timeout", "60", "--replicas", "1"])
        .args(world.addrs())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", settings.tool.display()))?;
    if !output.status.success() {
        return Err(format!(
            "creating the cluster failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let writer = Writer::start(&world, &world.addrs(), "pre", settings.preload)?;
    let report = writer.finish()?;
    if report.lost > 0 || report.read_errors > 0 {
        return Err(format!(
            "the preload lost keys before any event: {}",
            report.text
        ));
    }
    Ok(world)
}

/// Runs one history; progress (one line per event) goes to stderr as it happens.
pub fn run_history(settings: &HistorySettings) -> HistoryOutcome {
    let started = Instant::now();
    let mut outcome = HistoryOutcome {
        seed: settings.seed,
        script: settings.script,
        trail: Vec::new(),
        converges: 0,
        failure: None,
        keys_lost: 0,
        cluster_at_failure: String::new(),
        elapsed: Duration::ZERO,
    };
    let mut world = match start_world(settings) {
        Ok(world) => world,
        Err(why) => {
            outcome.failure = Some(format!("setup: {why}"));
            outcome.elapsed = started.elapsed();
            return outcome;
        }
    };
    let mut rng = SplitMix::new(settings.seed);
    let events = match settings.script {
        Script::Random => settings.events,
        Script::Issue17 => settings.events.min(ISSUE_17_EVENTS),
    };
    for number in 1..=events {
        let event = match settings.script {
            Script::Random => draw_event(&mut rng, &world),
            Script::Issue17 => issue_17_event(&mut rng, &world, number),
        };
        let (record, problems, lost) = run_event(&mut world, number, &event);
        eprintln!(
            "history {}: #{number} {event}{}: {}{}",
            settings.seed,
            record.dropped_note(),
            record
                .converges
                .iter()
                .map(ConvergeRun::summary)
                .collect::<Vec<_>>()
                .join(" ; then "),
            if problems.is_empty() {
                String::new()
            } else {
                format!(" -- FAILED: {}", problems.join("; "))
            }
        );
        outcome.trail.push(record);
        outcome.converges = world.converges;
        if !problems.is_empty() {
            outcome.failure = Some(problems.join("; "));
            outcome.keys_lost = lost;
            outcome.cluster_at_failure = views(&world) + &failover_log(&world);
            break;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Runs one event, its converges under the writer, and the checks: the event's record, the
/// problems found (none when it passed) and the keys lost.
fn run_event(world: &mut World, number: usize, event: &Event) -> (EventRecord, Vec<String>, u64) {
    let mut record = EventRecord {
        number,
        event: event.to_string(),
        notes: Vec::new(),
        converges: Vec::new(),
        cluster_before: String::new(),
        dropped_by_redis: Vec::new(),
        writer: String::new(),
    };
    let prepared = match prepare(event, world) {
        Ok(prepared) => prepared,
        Err(why) => return (record, vec![format!("the event's setup failed: {why}")], 0),
    };
    record.notes = prepared.notes;
    record.cluster_before = views(world);
    match world.forget_keys_no_node_holds() {
        Ok(dropped) => record.dropped_by_redis = dropped,
        Err(why) => {
            return (
                record,
                vec![format!("cannot list the nodes' keys: {why}")],
                0,
            )
        }
    }
    let mut problems = Vec::new();
    let seeds = prepared
        .runs
        .last()
        .map(|run| run.nodes.clone())
        .unwrap_or_default();
    let writer = match Writer::start(world, &seeds, &format!("e{number}"), 0) {
        Ok(writer) => writer,
        Err(why) => return (record, vec![why], 0),
    };
    for planned in prepared.runs {
        let run = world.converge(&planned.nodes, planned.interrupt);
        match planned.interrupt {
            None if run.code != Some(0) => {
                problems.push(format!("converge exited {:?}", run.code));
            }
            // The exit-code table: SIGINT and SIGTERM stop a run at a safe point, 130 and 143.
            Some((signal, _))
                if signal != Interrupt::Kill && run.signalled.is_some() && run.code.is_none() =>
            {
                problems.push(format!(
                    "converge died of {} instead of stopping at a safe point (exit {})",
                    signal.name(),
                    if signal == Interrupt::Int { 130 } else { 143 }
                ));
            }
            _ => {}
        }
        record.converges.push(run);
    }
    let mut lost = 0;
    match writer.finish() {
        Ok(report) => {
            record.writer = report.text.clone();
            lost = report.lost;
            if report.lost > 0 || report.read_errors > 0 {
                problems.push(format!(
                    "{} acknowledged keys lost, {} unreadable: {}",
                    report.lost, report.read_errors, report.text
                ));
            }
        }
        Err(why) => problems.push(why),
    }
    if let Some(ip) = prepared.retire {
        world.retire_host(&ip);
    }
    let deadline = Instant::now() + SETTLE;
    let layout = loop {
        match check_layout(world) {
            Ok(()) => break Ok(()),
            Err(why) if Instant::now() > deadline => break Err(why),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    if let Err(why) = layout {
        problems.push(format!("layout: {why}"));
    }
    (record, problems, lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_one_sequence_of_numbers() {
        let draw = |seed| {
            let mut rng = SplitMix::new(seed);
            (0..5).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut rng = SplitMix::new(1);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        assert!((0..1000).all(|_| (200..=3000).contains(&rng.millis(200, 3000).as_millis())));
    }

    fn line(text: &str) -> NodeLine {
        NodeLine::parse(text).unwrap()
    }

    #[test]
    fn node_lines_give_addresses_roles_and_slots() {
        let master =
            line("aa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-99 200 [300->-bb]");
        assert_eq!(master.addr, "127.0.0.1:7000");
        assert_eq!(master.host(), "127.0.0.1");
        assert!(master.is_master());
        assert_eq!(master.served_slots(), 101);
        assert!(master.serves(200) && !master.serves(300));
        let replica = line("bb 127.0.0.2:7000@17000 slave aa 0 0 1 connected");
        assert!(!replica.is_master());
        assert_eq!(replica.master, "aa");
    }

    #[test]
    fn placement_wants_one_master_per_host_each_with_a_replica_elsewhere() {
        let good = [
            line("a 127.0.0.1:1@2 master - 0 0 1 connected 0-8191"),
            line("b 127.0.0.2:1@2 master - 0 0 2 connected 8192-16383"),
            line("c 127.0.0.1:2@2 slave b 0 0 2 connected"),
            line("d 127.0.0.2:2@2 slave a 0 0 1 connected"),
        ];
        assert_eq!(check_placement(&good, 2), Ok(()));
        let two_on_one = [
            line("a 127.0.0.1:1@2 master - 0 0 1 connected 0-8191"),
            line("b 127.0.0.1:2@2 master - 0 0 2 connected 8192-16383"),
            line("c 127.0.0.2:1@2 slave b 0 0 2 connected"),
            line("d 127.0.0.2:2@2 slave a 0 0 1 connected"),
        ];
        assert!(check_placement(&two_on_one, 2)
            .unwrap_err()
            .contains("holds 2 masters"));
        let near = [
            line("a 127.0.0.1:1@2 master - 0 0 1 connected 0-8191"),
            line("b 127.0.0.2:1@2 master - 0 0 2 connected 8192-16383"),
            line("c 127.0.0.1:2@2 slave a 0 0 2 connected"),
            line("d 127.0.0.2:2@2 slave b 0 0 1 connected"),
        ];
        assert!(check_placement(&near, 2)
            .unwrap_err()
            .contains("shares host"));
    }

    #[test]
    fn a_master_is_in_sync_when_every_replica_is_online_at_its_offset() {
        let info = "role:master\nconnected_slaves:1\n\
                    slave0:ip=127.0.0.2,port=1,state=online,offset=500,lag=0\n\
                    master_repl_offset:500\n";
        assert!(replicas_in_sync(info));
        assert!(!replicas_in_sync(&info.replace("offset=500", "offset=400")));
    }
}
