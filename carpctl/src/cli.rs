//! The command line: clap definitions, turned into typed settings, then dispatched. main.rs
//! only parses, calls [`dispatch`] and exits with its code.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::control::{self, EngineStatus, Request};
use crate::error::Error;
use crate::freebsd::{self, kernel, Alias, KernelCarp};
use crate::hold::{self, Hold, Holds};
use crate::links::LinkState;
use crate::machine::State;
use crate::metrics::{self, VhidValues};
use crate::settings::{
    self, RunArgs, CARP, DEFAULT_STATE_DIR, DEFAULT_VRRP_INTERVAL_CS, DEFAULT_VRRP_PRIORITY,
};
use crate::statedir;
use crate::wire::Password;

#[derive(Debug, Parser)]
#[command(
    name = "carpctl",
    version,
    about = "CARP virtual IPs: a CARP node for Linux that speaks FreeBSD's and ucarp's protocol, \
             and the FreeBSD configuration of the kernel's CARP.",
    max_term_width = 100,
    help_expected = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a CARP node for one vhid on Linux until SIGTERM or SIGINT, then hand over
    /// gracefully; SIGHUP reads the password file again without a handover.
    Run(Box<RunCli>),
    /// Show the state of the running engines (Linux) or of the kernel's CARP (FreeBSD); exit 3
    /// when none runs.
    Status(StatusCli),
    /// Add N to the demotion of running engines so that a better backup takes over; by hand,
    /// this also sets a hold that health checks respect until `carpctl promote`.
    Demote(DemoteCli),
    /// Clear the demotion of running engines and their holds.
    Promote(PromoteCli),
    /// Print the FreeBSD configuration lines of a host, each with its target file.
    Rcconf(RcconfCli),
    /// Add the CARP alias of a host with ifconfig on FreeBSD, or print the command.
    Alias(AliasCli),
}

#[derive(Debug, Args)]
pub struct RunCli {
    /// Take interface, vhid, advbase, virtual IP, password file, preempt and its delay, ARP
    /// refresh, protocol, VRRP interval, peers, this host's advskew, VRRP priority and source
    /// address from the site JSON FILE ("-" for stdin); needs --host. --carpver, --vrrpprio,
    /// --vrrpinterval and --peer override the site's values.
    #[arg(long, value_name = "FILE", requires = "host",
          conflicts_with_all = ["interface", "vip", "advbase", "advskew", "pass_file", "preempt",
                                "preempt_delay", "garp_refresh", "src"])]
    pub site: Option<PathBuf>,
    /// The host of the site JSON this node is.
    #[arg(long, value_name = "NAME", requires = "site")]
    pub host: Option<String>,
    /// The interface IF to run CARP on.
    #[arg(long, short = 'i', value_name = "IF", required_unless_present = "site")]
    pub interface: Option<String>,
    /// The virtual host id N, 1 to 255, the same on every node of the group. With --site:
    /// which of the site's CARP groups to run (default: carp.vhid); run one carpctl per
    /// group for an active/active site.
    #[arg(long, short = 'v', value_name = "N", required_unless_present = "site",
          value_parser = clap::value_parser!(u8).range(1..))]
    pub vhid: Option<u8>,
    /// A virtual address with its prefix length, like 10.0.10.100/24; repeat for more
    /// (ucarp peers need exactly one).
    #[arg(
        long,
        short = 'a',
        value_name = "ADDR/PREFIX",
        required_unless_present = "site"
    )]
    pub vip: Vec<IpNet>,
    /// Speak CARP (2, FreeBSD's and ucarp's) or VRRPv3 (3, RFC 5798, keepalived's)
    /// (default: 2).
    #[arg(long, value_name = "2|3")]
    pub carpver: Option<u8>,
    /// VRRP: the priority N, 1 to 254: the node with the highest holds the addresses
    /// (default: 100).
    #[arg(long, value_name = "N")]
    pub vrrpprio: Option<u8>,
    /// VRRP: advertise every CS centiseconds, 1 to 4095 (default: 100, one second).
    #[arg(long, value_name = "CS")]
    pub vrrpinterval: Option<u16>,
    /// Send the adverts to ADDR (IPv4 or IPv6) instead of the multicast group, and accept
    /// them only from the peers, with any TTL; repeat for more peers.
    #[arg(long, value_name = "ADDR")]
    pub peer: Vec<IpAddr>,
    /// CARP: advertise every S seconds plus advskew/256 (default: 1).
    #[arg(
        long,
        short = 'b',
        value_name = "S",
        default_value_t = 1,
        hide_default_value = true
    )]
    pub advbase: u8,
    /// CARP: the skew N, 0 to 254: the node with the lowest skew holds the addresses
    /// (default: 0).
    #[arg(
        long,
        short = 'k',
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub advskew: u8,
    /// CARP: read the shared password from the first line of FILE (only 19 bytes count);
    /// VRRPv3 has no password.
    #[arg(long, value_name = "FILE")]
    pub pass_file: Option<PathBuf>,
    /// Take the addresses over from a worse master (CARP: a longer interval, VRRP: a lower
    /// priority).
    #[arg(long, short = 'P')]
    pub preempt: bool,
    /// With --preempt: for SECS seconds after the engine starts, 0 to 3600, let a worse master
    /// keep the addresses, so a host that just booted takes its VIP back only once its Redis
    /// replicas had time to resync (keepalived's preempt_delay). It never delays taking over
    /// from a master that went silent (default: 0, preempt at once).
    #[arg(long, value_name = "SECS", requires = "preempt", default_value_t = 0,
          hide_default_value = true,
          value_parser = clap::value_parser!(u16).range(..=i64::from(site::MAX_PREEMPT_DELAY_S)))]
    pub preempt_delay: u16,
    /// While MASTER, send the gratuitous ARP (IPv6: neighbour advertisement) of every virtual
    /// address again every SECS seconds, 1 to 3600, as keepalived's vrrp_garp_master_refresh
    /// does: a router or switch that missed the announcement of a takeover sends to the old
    /// master until its ARP entry expires, which can take hours (default: 0, announce only on
    /// becoming MASTER and once more two adverts later).
    #[arg(long, value_name = "SECS", default_value_t = 0, hide_default_value = true,
          value_parser = clap::value_parser!(u16).range(..=i64::from(site::MAX_GARP_REFRESH_S)))]
    pub garp_refresh: u16,
    /// Send from ADDR (default: the interface's first address of the adverts' family; for
    /// IPv6 multicast its link-local address).
    #[arg(long, short = 's', value_name = "ADDR")]
    pub src: Option<IpAddr>,
    /// Run CMD with sh -c on becoming MASTER; CARP_STATE, CARP_FROM, CARP_REASON,
    /// CARP_INTERFACE, CARP_VHID, CARP_VIPS and CARP_SRC describe the change.
    #[arg(long, value_name = "CMD")]
    pub up_hook: Option<String>,
    /// Run CMD with sh -c on leaving MASTER, with the same variables as --up-hook.
    #[arg(long, value_name = "CMD")]
    pub down_hook: Option<String>,
    /// Demote this node by 240 while interface IF has no carrier, is set down or is gone, so
    /// a backup with preempt takes over at once; repeat for more. The CARP interface always
    /// counts.
    #[arg(long, value_name = "IF")]
    pub track: Vec<String>,
    /// Track the Redis instances at ADDR (IP:PORT; repeat for more; with --site and no ADDR:
    /// this host's instances in the site) and demote this node by 240 while one of them is
    /// down, so a backup with preempt takes the VIP (and its --up-hook promotes replicas of the
    /// dead masters). The demotion is lifted once every instance is ready again, replicas
    /// linked to their masters; the node starts demoted until then. One probe is a connection,
    /// AUTH when a password is given, and INFO replication.
    #[arg(long, value_name = "ADDR", num_args = 0..,
          value_parser = redis_cluster::NodeAddr::from_str)]
    pub track_redis: Option<Vec<redis_cluster::NodeAddr>>,
    /// Probe every tracked instance every SECS seconds, each probe bounded by the same time
    /// (default: 0.5).
    #[arg(long, value_name = "SECS", requires = "track_redis", default_value = "0.5",
          hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    pub track_interval: Duration,
    /// N failed probes in a row of one instance put the host in fault (default: 2).
    #[arg(long, value_name = "N", requires = "track_redis", default_value_t = 2,
          hide_default_value = true, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub track_fall: u32,
    /// N ready probes in a row of every instance end a fault (default: 3).
    #[arg(long, value_name = "N", requires = "track_redis", default_value_t = 3,
          hide_default_value = true, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub track_rise: u32,
    /// An instance that takes connections but does not answer fails probes only once it has
    /// not answered for SECS seconds (default: the site's cluster.node_timeout_ms, else 5):
    /// Redis does not fail over a node paused for less either, so a VIP moved sooner would
    /// only start a failover Redis would not do.
    #[arg(long, value_name = "SECS", requires = "track_redis",
          value_parser = toolkit::duration::parse_timeout)]
    pub track_stall: Option<Duration>,
    /// Authenticate the probes as the ACL user NAME (they need PING, AUTH and INFO only).
    #[arg(long, value_name = "NAME", requires = "track_redis")]
    pub track_user: Option<String>,
    /// Read the probes' Redis password from the first line of FILE (default: REDISCLI_AUTH
    /// when set; else no AUTH).
    #[arg(long, value_name = "FILE", requires = "track_redis")]
    pub track_pass_file: Option<PathBuf>,
    /// Run CMD with sh -c when tracking puts this host in fault and when the fault ends;
    /// CARP_HEALTH (fault or ready) and CARP_HEALTH_REASON say what happened, beside the
    /// variables of --up-hook.
    #[arg(long, value_name = "CMD", requires = "track_redis")]
    pub fault_hook: Option<String>,
    /// Log to the syslog socket SOCKET (default: /dev/log) instead of stderr.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, default_missing_value = "/dev/log")]
    pub syslog: Option<PathBuf>,
    /// Keep the state file and control socket in DIR (default: /run/carpctl).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR, hide_default_value = true)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Text,
}

/// What `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// The state of each vhid as JSON.
    Json,
    /// A summary for people.
    Text,
    /// Prometheus text exposition: state, demotion, skew or priority, and the engine's
    /// counters (see carpctl's README for the metrics).
    Prom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Expect {
    Master,
    Backup,
}

#[derive(Debug, Args)]
pub struct TargetCli {
    /// Only the engine of vhid N (default: every running engine).
    #[arg(long, value_name = "N")]
    pub vhid: Option<u8>,
    /// The engines' state directory DIR (default: /run/carpctl).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR, hide_default_value = true)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct StatusCli {
    #[command(flatten)]
    pub target: TargetCli,
    /// Print json, text or prom (default: json).
    #[arg(long, value_enum, default_value_t = StatusFormat::Json, hide_default_value = true)]
    pub format: StatusFormat,
    /// Write to FILE instead of standard output, replacing it atomically (a temporary file in
    /// the same directory, then renamed), readable by all, for node_exporter's textfile
    /// collector; "-" means standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 0 only when every vhid shown is in this state, 1 otherwise.
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
}

#[derive(Debug, Args)]
pub struct DemoteCli {
    /// Add N to the demotion; the effective skew is capped at 240 (default: 240, which moves
    /// the addresses to any backup with preempt on).
    #[arg(value_name = "N", default_value_t = 240, hide_default_value = true)]
    pub by: u8,
    /// Demote without setting the hold: for health checks, which promote again by themselves.
    #[arg(long)]
    pub no_hold: bool,
    #[command(flatten)]
    pub target: TargetCli,
}

#[derive(Debug, Args)]
pub struct PromoteCli {
    /// Leave alone, silently, the engines that a hold set by `carpctl demote` covers (for
    /// health checks).
    #[arg(long)]
    pub unless_held: bool,
    #[command(flatten)]
    pub target: TargetCli,
}

#[derive(Debug, Args)]
pub struct SiteHostCli {
    /// The site JSON FILE ("-" for stdin).
    #[arg(long, value_name = "FILE")]
    pub site: PathBuf,
    /// The host NAME of the site to configure.
    #[arg(long, value_name = "NAME")]
    pub host: String,
    /// Use ifconfig alias number N in rc.conf (default: 0); further CARP groups of the site
    /// take N+1, N+2, ….
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub alias_index: u32,
    /// Only the site's CARP group with this vhid (default: alias: the main group, carp.vhid;
    /// rcconf: every group).
    #[arg(long, value_name = "N")]
    pub vhid: Option<u8>,
}

#[derive(Debug, Args)]
pub struct RcconfCli {
    #[command(flatten)]
    pub target: SiteHostCli,
    /// Print text (grouped by file) or json (default: text).
    #[arg(long, value_enum, default_value_t = Format::Text, hide_default_value = true)]
    pub format: Format,
    /// Also print a devd rule that runs CMD when the kernel makes the vhid MASTER.
    #[arg(long, value_name = "CMD")]
    pub up_hook: Option<String>,
    /// Also print a devd rule that runs CMD when the kernel makes the vhid BACKUP.
    #[arg(long, value_name = "CMD")]
    pub down_hook: Option<String>,
    /// Write the password itself into the rc.conf line, read from PASS_FILE, as the how-to
    /// does (default: a $(head -n 1 FILE) of the site's pass_file, evaluated when rc reads it).
    #[arg(long, value_name = "PASS_FILE")]
    pub inline_pass: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AliasCli {
    #[command(flatten)]
    pub target: SiteHostCli,
    /// Print the ifconfig command instead of running it (works on any OS).
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the parsed command; the exit code on success (status answers 1 for --expect).
pub fn dispatch(command: Command) -> Result<u8, Error> {
    match command {
        Command::Run(cli) => run(*cli).map(|()| 0),
        Command::Status(cli) => status(&cli),
        Command::Demote(cli) => demote(&cli),
        Command::Promote(cli) => promote(&cli),
        Command::Rcconf(cli) => rcconf(&cli),
        Command::Alias(cli) => alias(&cli),
    }
}

fn run(cli: RunCli) -> Result<(), Error> {
    let site = cli.site.as_deref().map(site::Site::load).transpose()?;
    let redis = redis_tracking(&cli, site.as_ref())?;
    let (mut args, pass_file) = match (&site, &cli.host) {
        (Some(site), Some(host)) => {
            let (args, pass_file) = RunArgs::from_site(site, host, cli.vhid)?;
            (args, Some(pass_file))
        }
        _ => (
            RunArgs {
                interface: cli.interface.unwrap_or_default(),
                vhid: cli.vhid.unwrap_or_default(),
                vips: cli.vip,
                carpver: CARP,
                advbase: cli.advbase,
                advskew: cli.advskew,
                vrrpprio: DEFAULT_VRRP_PRIORITY,
                vrrpinterval: DEFAULT_VRRP_INTERVAL_CS,
                preempt: cli.preempt,
                preempt_delay: cli.preempt_delay,
                garp_refresh: cli.garp_refresh,
                peers: Vec::new(),
                src: cli.src,
                track: Vec::new(),
            },
            cli.pass_file,
        ),
    };
    args.track = cli.track;
    args.carpver = cli.carpver.unwrap_or(args.carpver);
    args.vrrpprio = cli.vrrpprio.unwrap_or(args.vrrpprio);
    args.vrrpinterval = cli.vrrpinterval.unwrap_or(args.vrrpinterval);
    if !cli.peer.is_empty() {
        args.peers = cli.peer;
    }
    // VRRPv3 has no authentication; CARP cannot run without its password.
    let (password, pass_file) = match pass_file {
        Some(path) if args.carpver == CARP => (load_password(&path)?, path),
        None if args.carpver == CARP => {
            return Err(Error::Invalid {
                field: "pass-file",
                value: String::new(),
                fix: "CARP needs the shared password: give --pass-file FILE".into(),
            })
        }
        _ => (Password::new(b""), PathBuf::new()),
    };
    let mut settings = args.validate(
        password,
        pass_file,
        cli.up_hook,
        cli.down_hook,
        cli.state_dir,
    )?;
    settings.redis = redis;
    if let Some(path) = &cli.syslog {
        crate::log::to_syslog(path).map_err(|e| {
            Error::io(
                format!(
                    "cannot reach syslog at '{}' (drop --syslog to log on stderr)",
                    path.display()
                ),
                e,
            )
        })?;
    }
    run_engine(settings)
}

/// The Redis health tracking `--track-redis` asks for, if any: the instances given, or with
/// `--site` and none given, this host's instances in the site.
fn redis_tracking(
    cli: &RunCli,
    site: Option<&site::Site>,
) -> Result<Option<settings::RedisTracking>, Error> {
    let Some(given) = &cli.track_redis else {
        return Ok(None);
    };
    let instances = match (given.is_empty(), site, &cli.host) {
        (false, _, _) => given.clone(),
        (true, Some(site), Some(host)) => settings::site_instances(site, host)?,
        _ => {
            return Err(Error::Invalid {
                field: "track-redis",
                value: String::new(),
                fix: "give the instances to track (--track-redis 10.0.10.1:7000 …), or --site \
                      and --host to track this host's instances in the site"
                    .into(),
            })
        }
    };
    let password = match &cli.track_pass_file {
        Some(path) => {
            let file = toolkit::secret::read_password_file(path).map_err(Error::PassFile)?;
            for warning in &file.warnings {
                toolkit::say!("warning: {warning}");
            }
            Some(file.password)
        }
        None => std::env::var("REDISCLI_AUTH")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let stall = cli.track_stall.unwrap_or_else(|| {
        site.map_or(settings::DEFAULT_TRACK_STALL, |s| {
            Duration::from_millis(s.cluster.node_timeout_ms)
        })
    });
    Ok(Some(settings::RedisTracking {
        instances,
        interval: cli.track_interval,
        rules: crate::health::Rules {
            fall: cli.track_fall,
            rise: cli.track_rise,
            stall,
        },
        options: redis_cluster::ConnectOptions {
            timeout: cli.track_interval,
            user: cli.track_user.clone(),
            password,
            vouched: None,
            // Tracking probes the host's own instances in plain TCP; TLS-only instances are
            // not tracked yet.
            tls: None,
        },
        fault_hook: cli.fault_hook.clone(),
    }))
}

/// Reads a password file and tells the operator what is wrong with it, if anything.
fn load_password(path: &Path) -> Result<Password, Error> {
    let file = settings::read_password(path)?;
    for warning in &file.warnings {
        toolkit::say!("warning: {warning}");
    }
    Ok(file.password)
}

#[cfg(target_os = "linux")]
fn run_engine(settings: settings::RunSettings) -> Result<(), Error> {
    crate::linux::run(settings)
}

#[cfg(not(target_os = "linux"))]
fn run_engine(_: settings::RunSettings) -> Result<(), Error> {
    Err(Error::Unsupported(
        "carpctl run",
        "the engine is for Linux; on FreeBSD the kernel does CARP: use carpctl rcconf or carpctl alias",
    ))
}

/// One vhid as `status` shows it: an engine's state file on Linux, the kernel's on FreeBSD.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum VhidStatus {
    /// Boxed: a state file is several times the size of the kernel's few values.
    Engine(Box<EngineStatus>),
    Kernel(KernelCarp),
}

impl VhidStatus {
    fn vhid(&self) -> u8 {
        match self {
            VhidStatus::Engine(e) => e.vhid,
            VhidStatus::Kernel(k) => k.vhid,
        }
    }

    fn state(&self) -> State {
        match self {
            VhidStatus::Engine(e) => e.state,
            VhidStatus::Kernel(k) => k.state,
        }
    }

    fn values(&self) -> VhidValues<'_> {
        match self {
            VhidStatus::Engine(e) => e.as_ref().into(),
            VhidStatus::Kernel(k) => k.into(),
        }
    }

    /// A few lines a person reads at a glance.
    fn text(&self) -> String {
        match self {
            VhidStatus::Engine(e) => {
                let protocol = if e.carpver == settings::VRRP3 {
                    format!(
                        "VRRPv3 priority {}, interval {} cs (master's {} cs), demotion {} + \
                         interfaces {}: effective priority {}",
                        e.vrrpprio,
                        e.vrrpinterval,
                        e.master_interval_cs,
                        e.demotion,
                        e.link_demotion,
                        e.effective_priority
                    )
                } else {
                    format!(
                        "advbase {} advskew {}, demotion {} + interfaces {}: effective skew {}",
                        e.advbase, e.advskew, e.demotion, e.link_demotion, e.effective_skew
                    )
                };
                let mut out = format!(
                    "vhid {} on {}: {} since {} (pid {})\n  virtual {} from {}{}{}\n  {protocol}{}\n",
                    e.vhid,
                    e.interface,
                    e.state,
                    e.since,
                    e.pid,
                    e.vips.join(" "),
                    e.src,
                    if e.peers.is_empty() {
                        String::new()
                    } else {
                        format!(" to peers {}", e.peers.join(" "))
                    },
                    e.last_peer
                        .as_ref()
                        .map(|p| format!(", last peer {p}"))
                        .unwrap_or_default(),
                    if e.preempt { ", preempt" } else { "" },
                );
                if !e.links.is_empty() {
                    let links: Vec<String> = e
                        .links
                        .iter()
                        .map(|(name, state)| format!("{name} {}", link_word(*state)))
                        .collect();
                    out.push_str(&format!("  interfaces: {}\n", links.join(", ")));
                }
                if let Some(redis) = &e.redis {
                    let instances: Vec<String> = redis
                        .instances
                        .iter()
                        .map(|i| format!("{} {}", i.addr, i.last))
                        .collect();
                    out.push_str(&format!(
                        "  Redis {} (demotion {}): {}\n  tracked: {}\n",
                        redis.health,
                        e.health_demotion,
                        redis.reason,
                        instances.join(", ")
                    ));
                }
                if !e.bad_adverts.is_empty() {
                    let counts: Vec<String> = e
                        .bad_adverts
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect();
                    out.push_str(&format!("  ignored adverts: {}\n", counts.join(", ")));
                }
                out
            }
            VhidStatus::Kernel(k) => {
                // No effective priority for VRRPv3: ifconfig shows only the configured one.
                let protocol = if k.carpver == settings::VRRP3 {
                    format!(
                        "VRRPv3 priority {}, interval {} cs, demotion {} (system-wide)",
                        k.vrrpprio, k.vrrpinterval, k.demotion
                    )
                } else {
                    format!(
                        "advbase {} advskew {}, demotion {} (system-wide): effective skew {}",
                        k.advbase, k.advskew, k.demotion, k.effective_skew
                    )
                };
                format!(
                    "vhid {} on {}: {}\n  virtual {}\n  {protocol}\n",
                    k.vhid,
                    k.interface,
                    k.state,
                    k.vips.join(" "),
                )
            }
        }
    }
}

fn link_word(state: LinkState) -> &'static str {
    match state {
        LinkState::Up => "up",
        LinkState::Down => "down",
        LinkState::Missing => "missing",
    }
}

/// What `status` prints as JSON.
#[derive(Debug, serde::Serialize)]
struct StatusReport<'a> {
    /// One entry per vhid, by vhid.
    vhids: &'a [VhidStatus],
    /// The demotions set by hand that health checks leave in place, for the vhids asked for
    /// (a hold with vhid null is for every engine).
    holds: &'a [&'a Hold],
}

/// What `rcconf --format json` prints.
#[derive(Debug, serde::Serialize)]
struct RcconfReport<'a> {
    /// The configuration lines in the order the how-to writes them.
    lines: &'a [freebsd::ConfigLine],
}

fn collect_status(target: &TargetCli) -> Result<Vec<VhidStatus>, Error> {
    if cfg!(target_os = "freebsd") {
        Ok(kernel::status(target.vhid)?
            .into_iter()
            .map(VhidStatus::Kernel)
            .collect())
    } else {
        Ok(control::running_engines(&target.state_dir, target.vhid)?
            .into_iter()
            .map(|e| VhidStatus::Engine(Box::new(e)))
            .collect())
    }
}

/// What to say when nothing runs: LSB's exit 3, "program is not running".
fn not_running(target: &TargetCli) -> String {
    if cfg!(target_os = "freebsd") {
        format!(
            "no CARP vhid{} in the kernel (ifconfig shows none); add one with carpctl alias",
            target.vhid.map(|v| format!(" {v}")).unwrap_or_default()
        )
    } else {
        Error::NoEngine {
            dir: target.state_dir.clone(),
            vhid: target.vhid,
        }
        .to_string()
    }
}

fn status(cli: &StatusCli) -> Result<u8, Error> {
    let vhids = collect_status(&cli.target)?;
    let holds = hold::read(&cli.target.state_dir)?;
    let holds = holds.concerning(cli.target.vhid);
    let output = cli.output.as_deref().filter(|p| p.as_os_str() != "-");
    let text = match cli.format {
        StatusFormat::Json => toolkit::stdio::json_text(
            &StatusReport {
                vhids: &vhids,
                holds: &holds,
            },
            output.is_none() && std::io::stdout().is_terminal(),
        ),
        StatusFormat::Text if vhids.is_empty() => {
            // The summary is the message; exit 3 without repeating it on stderr.
            emit(output, &format!("{}\n", not_running(&cli.target)))?;
            return Ok(crate::error::STATUS_NOT_RUNNING);
        }
        // Written also when nothing runs, so that no vhid of a stopped engine stays behind.
        StatusFormat::Prom => {
            let values: Vec<VhidValues> = vhids.iter().map(VhidStatus::values).collect();
            metrics::prom(
                &values,
                crate::output::unix_seconds(std::time::SystemTime::now()),
            )
        }
        StatusFormat::Text => {
            let mut text: String = vhids.iter().map(VhidStatus::text).collect();
            for hold in &holds {
                text += &format!(
                    "held since {}: {} demoted {} by hand; `carpctl promote` clears it\n",
                    hold.since,
                    hold.vhid
                        .map_or_else(|| "every engine".to_string(), |v| format!("vhid {v}")),
                    hold.demotion
                );
            }
            text
        }
    };
    emit(output, &text)?;
    if vhids.is_empty() {
        return Err(Error::NotRunning(not_running(&cli.target)));
    }
    let Some(expect) = cli.expect else {
        return Ok(0);
    };
    let wanted = match expect {
        Expect::Master => State::Master,
        Expect::Backup => State::Backup,
    };
    let wrong: Vec<String> = vhids
        .iter()
        .filter(|v| v.state() != wanted)
        .map(|v| format!("vhid {} is {}", v.vhid(), v.state()))
        .collect();
    if wrong.is_empty() {
        Ok(0)
    } else {
        Err(Error::Unexpected(
            format!("expected {wanted}"),
            wrong.join(", "),
        ))
    }
}

/// Writes `text` to `output`, replaced atomically and readable by all (collectors such as
/// node_exporter run as other users), or to standard output.
fn emit(output: Option<&Path>, text: &str) -> Result<(), Error> {
    match output {
        Some(path) => {
            toolkit::file::write_atomically(path, text.as_bytes(), 0o644).map_err(Error::Output)
        }
        None => toolkit::stdio::print_text(text)
            .map(drop)
            .map_err(|e| Error::io("cannot write to stdout", e)),
    }
}

/// A demotion by hand is held: the hold is written only once an engine took the demotion, so
/// a failed demote leaves none behind. The hold lock is taken first (see [`hold`]).
fn demote(cli: &DemoteCli) -> Result<u8, Error> {
    let dir = &cli.target.state_dir;
    statedir::prepare(dir)?;
    let _lock = hold::lock(dir)?;
    control_command(&cli.target, Request::Demote(cli.by))?;
    if !cli.no_hold {
        let mut holds = hold::read(dir)?;
        holds.set(Hold {
            demotion: cli.by,
            vhid: cli.target.vhid,
            since: crate::output::rfc3339(std::time::SystemTime::now()),
        });
        hold::write(dir, &holds)?;
        toolkit::say!("held: health checks leave this demotion in place until `carpctl promote`");
    }
    Ok(0)
}

/// Promotes the engines asked for and releases their holds; with `--unless-held` only the
/// engines no hold covers, and no hold is touched. Check and promote happen under the hold
/// lock, so a demote by hand cannot fall between them and be undone.
fn promote(cli: &PromoteCli) -> Result<u8, Error> {
    let dir = &cli.target.state_dir;
    statedir::prepare(dir)?;
    let _lock = hold::lock(dir)?;
    // A plain promote clears every hold without reading them, so it also clears a damaged file.
    let mut holds = if cli.unless_held || cli.target.vhid.is_some() {
        hold::read(dir)?
    } else {
        Holds::default()
    };
    if cfg!(target_os = "freebsd") {
        // The kernel's demotion is system-wide: any hold holds it.
        if cli.unless_held && !holds.is_empty() {
            return Ok(0);
        }
        kernel_demotion(&cli.target, Request::Promote)?;
        return hold::write(dir, &Holds::default()).map(|()| 0);
    }
    let running: Vec<u8> = control::running_engines(dir, None)?
        .iter()
        .map(|e| e.vhid)
        .collect();
    let asked: Vec<u8> = running
        .iter()
        .copied()
        .filter(|&v| cli.target.vhid.is_none_or(|t| t == v))
        .collect();
    let free: Vec<u8> = asked
        .iter()
        .copied()
        .filter(|&v| !(cli.unless_held && holds.covers(v)))
        .collect();
    if free.is_empty() && !asked.is_empty() {
        // Quietly: a hold is a person's decision, not news for the health check's cron mail.
        return Ok(0);
    }
    tell(&cli.target, &free, Request::Promote)?;
    if !cli.unless_held {
        holds.release(cli.target.vhid, &running);
        hold::write(dir, &holds)?;
    }
    Ok(0)
}

fn control_command(target: &TargetCli, request: Request) -> Result<u8, Error> {
    if cfg!(target_os = "freebsd") {
        return kernel_demotion(target, request);
    }
    let vhids: Vec<u8> = control::running_engines(&target.state_dir, target.vhid)?
        .iter()
        .map(|e| e.vhid)
        .collect();
    tell(target, &vhids, request)
}

/// Sends `request` to the engines of `vhids` and prints each answer; none is an error.
fn tell(target: &TargetCli, vhids: &[u8], request: Request) -> Result<u8, Error> {
    if vhids.is_empty() {
        return Err(Error::NoEngine {
            dir: target.state_dir.clone(),
            vhid: target.vhid,
        });
    }
    for &vhid in vhids {
        let status = control::send(&target.state_dir, vhid, request)?;
        toolkit::stdio::print_json(&status).map_err(|e| Error::io("cannot write to stdout", e))?;
    }
    Ok(0)
}

/// `demote` and `promote` on FreeBSD: add to or take back from the kernel's demotion what
/// carpctl added (kept in the state directory), then print the vhids as `status` does.
fn kernel_demotion(target: &TargetCli, request: Request) -> Result<u8, Error> {
    if let Some(vhid) = target.vhid {
        return Err(Error::Invalid {
            field: "vhid",
            value: vhid.to_string(),
            fix: format!(
                "on FreeBSD the demotion ({}) is system-wide; drop --vhid",
                freebsd::DEMOTION_SYSCTL
            ),
        });
    }
    let change = kernel::change_demotion(&target.state_dir, request)?;
    if change.step != 0 {
        toolkit::say!(
            "{} {:+}: carpctl's share is now {}",
            freebsd::DEMOTION_SYSCTL,
            change.step,
            change.share
        );
    }
    let vhids = kernel::status(None)?;
    if vhids.is_empty() {
        // The counter is the kernel's, not a vhid's: it holds for vhids configured later.
        toolkit::say!(
            "warning: no CARP vhid in the kernel yet; {} applies to the ones configured later",
            freebsd::DEMOTION_SYSCTL
        );
    }
    for vhid in &vhids {
        toolkit::stdio::print_json(vhid).map_err(|e| Error::io("cannot write to stdout", e))?;
    }
    Ok(0)
}

fn load_alias(target: &SiteHostCli) -> Result<Alias, Error> {
    Alias::from_site(&site::Site::load(&target.site)?, &target.host, target.vhid)
}

fn rcconf(cli: &RcconfCli) -> Result<u8, Error> {
    let site = site::Site::load(&cli.target.site)?;
    let vhids: Vec<u8> = match cli.target.vhid {
        Some(vhid) => vec![vhid],
        None => site.carp_groups().iter().map(|g| g.vhid).collect(),
    };
    // Every group is checked before anything is read or printed.
    let aliases = vhids
        .into_iter()
        .map(|vhid| Alias::from_site(&site, &cli.target.host, Some(vhid)))
        .collect::<Result<Vec<_>, _>>()?;
    let literal = match &cli.inline_pass {
        // VRRPv3 lines carry no password.
        Some(path) if aliases.iter().any(Alias::needs_password) => {
            let password = load_password(path)?;
            toolkit::say!(
                "warning: the output contains the password; keep it in a file only root can read"
            );
            Some(String::from_utf8_lossy(password.as_bytes()).into_owned())
        }
        _ => None,
    };
    let mut lines = Vec::new();
    for (index, alias) in (cli.target.alias_index..).zip(aliases) {
        let src = site
            .host(&cli.target.host)?
            .address(&alias.interface)
            .map(site::Cidr::addr);
        // loader.conf and sysctl.conf lines are the same for every group: once is enough.
        for line in alias.rc_lines(index, literal.as_deref()) {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        lines.extend(alias.devd_lines(src, cli.up_hook.as_deref(), cli.down_hook.as_deref())?);
    }
    match cli.format {
        Format::Json => toolkit::stdio::print_json(&RcconfReport { lines: &lines }),
        Format::Text => toolkit::stdio::print_text(&freebsd::render_rc_text(&lines)),
    }
    .map_err(|e| Error::io("cannot write to stdout", e))?;
    Ok(0)
}

fn alias(cli: &AliasCli) -> Result<u8, Error> {
    let alias = load_alias(&cli.target)?;
    if cli.dry_run {
        toolkit::stdio::print_text(&format!("{}\n", alias.ifconfig_command()))
            .map_err(|e| Error::io("cannot write to stdout", e))?;
        return Ok(0);
    }
    if !cfg!(target_os = "freebsd") {
        return Err(Error::Unsupported(
            "carpctl alias",
            "it sets FreeBSD's kernel CARP alias; use --dry-run to see the command, or carpctl run on Linux",
        ));
    }
    apply_alias(&alias)
}

fn apply_alias(alias: &Alias) -> Result<u8, Error> {
    // VRRPv3 has no password: its file need not be there.
    let line = if alias.needs_password() {
        let password = load_password(&alias.pass_file)?;
        String::from_utf8_lossy(password.as_bytes()).into_owned()
    } else {
        String::new()
    };
    kernel::add_alias(alias, &line)?;
    toolkit::say!(
        "added vhid {} alias {} on {}",
        alias.vhid,
        alias.vip,
        alias.interface
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// FreeBSD status of a VRRPv3 vhid: the priority and interval, not CARP's timers.
    #[test]
    fn kernel_vrrp_vhid_text_shows_priority_and_interval() {
        let text = "em1: flags=1\n\tinet 10.0.10.110 netmask 0xffffffff vhid 12\n\
                    \tvrrp: MASTER vrid 12 prio 150 interval 50\n";
        let kernel = freebsd::parse_ifconfig(text).unwrap().remove(0);
        assert_eq!(
            VhidStatus::Kernel(kernel.with_demotion(0)).text(),
            "vhid 12 on em1: MASTER\n  virtual 10.0.10.110\n  \
             VRRPv3 priority 150, interval 50 cs, demotion 0 (system-wide)\n"
        );
    }
}
