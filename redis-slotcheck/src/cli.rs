//! The command line: clap's view of the arguments, turned into typed settings before anything
//! runs, and `run`, which surveys, checks, renders and writes. `main.rs` only maps the outcome
//! to an exit code, and hands every failure to [`Sink::fail`], so that monitoring reading the
//! Nagios line or the Prometheus file sees UNKNOWN rather than nothing or a stale answer.
//! `carp-verdict` reads a saved report and carpctl's status and prints the verdict of
//! [`crate::verdict`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use serde::de::DeserializeOwned;

use crate::check::{check, CheckOptions};
use crate::render::{render, Format};
use crate::report::{Report, Status, Timing};
use crate::verdict::{verdict, CarpStatus, VerdictError};
use redis_cluster::args::ConnectArgs;
use redis_cluster::plan::{Plan, PlanError};
use redis_cluster::survey::{survey, ConnectOptions};
use redis_cluster::NodeAddr;

/// Checks the health of a running Redis Cluster: slot coverage and agreement, failed and
/// unreachable nodes, open slots, replicas, replica links and placement. Exits 0 OK,
/// 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no node reachable, bad arguments or input).
#[derive(Debug, Parser)]
#[command(
    name = "redis-slotcheck",
    version,
    max_term_width = 80,
    help_expected = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Cluster nodes to start from, as IP:PORT (IPv6 as [ADDR]:PORT). One reachable node is
    /// enough: the others are discovered from CLUSTER NODES.
    #[arg(
        value_name = "NODE",
        required_unless_present_any = ["site", "from_report"],
        conflicts_with = "site"
    )]
    pub nodes: Vec<String>,

    /// Take the nodes from the site description FILE (each host's address on the cluster's
    /// bind_interface, times each port) and place nodes by its host names.
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,

    /// Warn when a master has fewer than N online replicas; 0 turns the check off (default:
    /// the site's cluster.replicas with --site, otherwise 1).
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,

    /// Also compare the cluster with the plan in the file PLAN, as redis-cluster-create prints it
    /// ("-" reads standard input).
    #[arg(long, value_name = "PLAN")]
    pub expect: Option<PathBuf>,

    /// Output format (default: json).
    #[arg(long, value_enum, default_value_t = FormatArg::Json, hide_default_value = true)]
    pub format: FormatArg,

    /// Write the report to FILE instead of standard output, replacing it atomically (a
    /// temporary file in the same directory, then renamed); "-" means standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Take at most SECS seconds for the whole check: connecting to every node, every reply and
    /// the discovery of the nodes the first ones name; a node that has not answered by then is
    /// reported unreachable ("no reply within SECS s"), however slowly it trickles (default: 2).
    #[arg(
        long,
        value_name = "SECS",
        default_value = "2",
        hide_default_value = true,
        value_parser = toolkit::duration::parse_timeout
    )]
    pub timeout: Duration,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Survey nothing: render the report in FILE, as --format json printed it ("-" reads
    /// standard input), in --format to --output, and exit with its status. One survey can so
    /// serve a script's decision and the monitoring file.
    #[arg(long, value_name = "FILE",
          conflicts_with_all = ["nodes", "site", "replicas", "expect", "timeout", "user", "pass_file"])]
    pub from_report: Option<PathBuf>,
}

/// What redis-slotcheck does besides checking.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Should this host give up its CARP virtual IP? Prints whether the host's own Redis
    /// instances are broken and what to do with its CARP groups, and why; changes nothing.
    ///
    /// An instance is broken when it does not answer, runs without cluster support, reports
    /// cluster_state:fail, or owns slots nobody serves. The action is "demote" (run `carpctl
    /// demote --no-hold`) while the host is broken and a vhid is not demoted yet, "promote"
    /// (run `carpctl promote --unless-held`) once it is healthy while a vhid is demoted
    /// without a hold, and "none" otherwise: healthy, already demoted, held by an operator's
    /// `carpctl demote` (left in place until `carpctl promote`), or no CARP engine here.
    /// scripts/cluster-health runs it every minute. Exits 0 with a verdict, 3 (UNKNOWN) when
    /// the input cannot be read or names no such host.
    CarpVerdict(VerdictCli),
}

/// The arguments of `carp-verdict`.
#[derive(Debug, Args)]
pub struct VerdictCli {
    /// The host NAME whose own instances are judged, as the report names hosts: the site's
    /// host names when the report was made with --site, otherwise the instances' IP addresses.
    #[arg(long, value_name = "NAME")]
    pub host: String,

    /// The report in FILE, as `redis-slotcheck --format json` printed it ("-" reads standard
    /// input).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,

    /// carpctl's status in FILE, as `carpctl status --format json` printed it ("-" reads
    /// standard input). Where no engine runs, carpctl prints it without vhids and exits 3:
    /// pass it all the same, the verdict is then "none".
    #[arg(long, value_name = "FILE")]
    pub carp: PathBuf,

    /// Output format (default: json).
    #[arg(long, value_enum, default_value_t = VerdictFormat::Json, hide_default_value = true)]
    pub format: VerdictFormat,
}

/// `carp-verdict --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerdictFormat {
    /// The verdict as JSON (pretty on a terminal, one line otherwise).
    Json,
    /// One line: the action ("demote", "promote" or "none"), a colon and the reason.
    Text,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The report as JSON (pretty on a terminal, one line otherwise).
    Json,
    /// A summary for people.
    Text,
    /// Nagios/Icinga plugin output with perfdata.
    Nagios,
    /// Prometheus text exposition for node_exporter's textfile collector.
    Prom,
}

/// Why the tool could not judge the cluster; every variant exits 3 (UNKNOWN), the monitoring
/// plugins' code for "the health is not known".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Node(String),
    #[error("{0}")]
    Site(#[from] site::SiteError),
    #[error("{0}")]
    Plan(#[from] PlanError),
    /// `--pass-file` or a TLS file (`--cacert`, `--cert`, …) that cannot be used.
    #[error("{0}")]
    Connect(redis_cluster::args::ConnectArgsError),
    #[error("{0}")]
    Output(toolkit::file::OutputError),
    #[error("cannot write the report to standard output: {0}")]
    Stdout(std::io::Error),
    #[error(
        "cannot read the report '{path}': {error}; pass what --format json printed to {option}"
    )]
    ReadReport {
        path: String,
        error: String,
        option: &'static str,
    },
    #[error("cannot read carpctl's status '{path}': {error}; pass what `carpctl status --format json` printed to --carp")]
    ReadCarp { path: String, error: String },
    #[error("--report and --carp both read standard input; pass one of them as a file")]
    BothStdin,
    #[error("{0}")]
    Verdict(#[from] VerdictError),
    #[error("cannot write the verdict to standard output: {0}")]
    WriteVerdict(std::io::Error),
}

/// Where the answer goes: the format and the file the arguments ask for. It is known before
/// anything can fail, so that a failure reaches monitoring in that format too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub format: Format,
    /// None or "-": standard output.
    pub output: Option<PathBuf>,
}

impl Sink {
    /// The sink of any arguments, also of those clap refused: `--format` and `--output` as far
    /// as they are given and valid (defaults otherwise), so that even a usage error is an
    /// UNKNOWN in the format a monitoring system asked for.
    pub fn from_raw_args(args: &[OsString]) -> Sink {
        let mut sink = Sink {
            format: Format::Json,
            output: None,
        };
        // A subcommand's --format is its own, and none of them writes a report.
        let first = args.get(1).and_then(|a| a.to_str()).unwrap_or_default();
        if Cli::command().find_subcommand(first).is_some() {
            return sink;
        }
        let mut args = args
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned());
        while let Some(arg) = args.next() {
            if arg == "--" {
                break;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            if name != "--format" && name != "--output" {
                continue;
            }
            let Some(value) = inline.or_else(|| args.next()) else {
                break;
            };
            if name == "--output" {
                sink.output = Some(PathBuf::from(value));
            } else if let Ok(format) = FormatArg::from_str(&value, false) {
                sink.format = format.into();
            }
        }
        sink
    }

    /// Writes `report` where the arguments asked.
    pub fn write(&self, report: &Report) -> Result<(), Error> {
        match self.output.as_deref().filter(|p| p.as_os_str() != "-") {
            Some(path) => {
                let text = render(report, self.format, false);
                // Collectors such as node_exporter run as other users: the report is world-readable.
                toolkit::file::write_atomically(path, text.as_bytes(), 0o644).map_err(Error::Output)
            }
            None => {
                let pretty = std::io::stdout().is_terminal();
                toolkit::stdio::print_text(&render(report, self.format, pretty))
                    .map(|_| ())
                    .map_err(Error::Stdout)
            }
        }
    }

    /// Reports a run that could not judge the cluster: in the monitoring formats (Nagios,
    /// Prometheus) as an UNKNOWN report naming `message`, which replaces a previous --output
    /// file; JSON and text carry data only, so there the message on stderr is all.
    pub fn fail(&self, message: &str, clock: &Clock) {
        if !matches!(self.format, Format::Nagios | Format::Prom) {
            return;
        }
        if let Err(error) = self.write(&Report::failure(message, clock.timing())) {
            toolkit::say!("{error}");
        }
    }
}

/// When the run started, for the report's timing.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: SystemTime,
    started: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            wall: SystemTime::now(),
            started: Instant::now(),
        }
    }

    /// The start as Unix time and the time taken so far.
    pub fn timing(&self) -> Timing {
        Timing {
            started_unix: self
                .wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            duration_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// Everything `run` needs, checked.
#[derive(Debug)]
pub struct Settings {
    pub seeds: Vec<NodeAddr>,
    pub check: CheckOptions,
    pub connect: ConnectOptions,
    pub sink: Sink,
    /// Render this saved report instead of surveying.
    pub from_report: Option<PathBuf>,
}

impl Settings {
    /// Reads the files the arguments name and validates every value.
    /// `env_password` is the value of REDISCLI_AUTH, if set.
    pub fn from_cli(cli: Cli, env_password: Option<String>) -> Result<Settings, Error> {
        let mut host_names = BTreeMap::new();
        let mut min_replicas = cli.replicas.unwrap_or(1);
        let seeds = if let Some(path) = &cli.site {
            let site = site::Site::load(path)?;
            min_replicas = cli.replicas.unwrap_or(site.cluster.replicas);
            site.nodes()
                .into_iter()
                .map(|node| {
                    let addr = NodeAddr(node.addr);
                    host_names.insert(addr, node.host);
                    addr
                })
                .collect()
        } else {
            cli.nodes
                .iter()
                .map(|text| text.parse::<NodeAddr>().map_err(Error::Node))
                .collect::<Result<Vec<_>, _>>()?
        };
        let expect = cli.expect.as_deref().map(Plan::load).transpose()?;
        let connect = cli
            .connect
            .options(cli.timeout, env_password)
            .map_err(Error::Connect)?;
        Ok(Settings {
            seeds,
            check: CheckOptions {
                min_replicas,
                host_names,
                expect,
            },
            connect,
            sink: Sink {
                format: cli.format.into(),
                output: cli.output,
            },
            from_report: cli.from_report,
        })
    }
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Json => Format::Json,
            FormatArg::Text => Format::Text,
            FormatArg::Nagios => Format::Nagios,
            FormatArg::Prom => Format::Prom,
        }
    }
}

impl toolkit::Failure for Error {
    fn exit_code(&self) -> u8 {
        Status::Unknown.exit_code()
    }
}

/// Surveys the cluster (or reads the saved report), checks it and writes the report; returns
/// the overall status.
pub fn run(settings: &Settings, clock: &Clock) -> Result<Status, Error> {
    let report = match &settings.from_report {
        Some(path) => read_report(path, "--from-report")?,
        None => {
            let mut report = survey_and_check(settings);
            report.timing = Some(clock.timing());
            report
        }
    };
    settings.sink.write(&report)?;
    Ok(report.status)
}

fn survey_and_check(settings: &Settings) -> Report {
    let found = survey(&settings.seeds, &settings.connect, true);
    if found.reached.is_empty() {
        for (addr, error) in &found.unreachable {
            toolkit::say!("{addr}: {error}");
        }
        toolkit::say!(
            "no node answered; check the node addresses, that redis-server runs there, --timeout, the credentials (--user, --pass-file or REDISCLI_AUTH) and TLS (--tls and its files)"
        );
    }
    check(&found, &settings.check)
}

fn read_report(path: &Path, option: &'static str) -> Result<Report, Error> {
    read_json(path).map_err(|error| Error::ReadReport {
        path: path.display().to_string(),
        error,
        option,
    })
}

/// The JSON document in `path` ("-": standard input); an error names the field at fault.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = toolkit::input::read_text(path, toolkit::input::DOCUMENT_LIMIT)
        .map_err(|e| e.to_string())?;
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at == "." {
            inner.to_string()
        } else {
            format!("{at}: {inner}")
        }
    })
}

/// `carp-verdict`: reads the report and carpctl's status, prints the verdict.
pub fn carp_verdict(cli: &VerdictCli) -> Result<(), Error> {
    if cli.report.as_os_str() == "-" && cli.carp.as_os_str() == "-" {
        return Err(Error::BothStdin);
    }
    let report = read_report(&cli.report, "--report")?;
    let carp: CarpStatus = read_json(&cli.carp).map_err(|error| Error::ReadCarp {
        path: cli.carp.display().to_string(),
        error,
    })?;
    let verdict = verdict(&report, &cli.host, &carp)?;
    match cli.format {
        VerdictFormat::Json => toolkit::stdio::print_json(&verdict),
        VerdictFormat::Text => toolkit::stdio::print_text(&verdict.text()),
    }
    .map(|_| ())
    .map_err(Error::WriteVerdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn settings(args: &[&str]) -> Result<Settings, Error> {
        let cli =
            Cli::try_parse_from(std::iter::once("redis-slotcheck").chain(args.iter().copied()))
                .unwrap();
        Settings::from_cli(cli, None)
    }

    #[test]
    fn the_sink_of_refused_arguments_is_what_they_asked_for() {
        let sink = |args: &[&str]| {
            let args: Vec<OsString> = std::iter::once("redis-slotcheck")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            Sink::from_raw_args(&args)
        };
        assert_eq!(
            sink(&["--timeout", "x", "--format", "prom", "--output", "m.prom"]),
            Sink {
                format: Format::Prom,
                output: Some(PathBuf::from("m.prom")),
            }
        );
        assert_eq!(sink(&["--format=nagios"]).format, Format::Nagios);
        // An invalid format or one after `--` leaves the default; a missing value is no value.
        assert_eq!(sink(&["--format", "xml"]).format, Format::Json);
        assert_eq!(sink(&["--", "--format", "prom"]).format, Format::Json);
        assert_eq!(sink(&["--output"]).output, None);
        // carp-verdict's --format is its own: a failed verdict writes no report.
        assert_eq!(
            sink(&["carp-verdict", "--format", "prom"]).format,
            Format::Json
        );
    }

    #[test]
    fn nodes_and_defaults() {
        let s = settings(&["127.0.0.1:7000", "[::1]:7001"]).unwrap();
        assert_eq!(s.seeds.len(), 2);
        assert_eq!(s.check.min_replicas, 1);
        assert_eq!(s.connect.timeout, Duration::from_secs(2));
        assert_eq!(s.sink.format, Format::Json);
        assert!(s.connect.password.is_none());
    }

    #[test]
    fn a_bad_node_is_named() {
        let err = settings(&["127.0.0.1:7000", "redis1:7000"]).unwrap_err();
        assert!(err.to_string().contains("'redis1:7000'"), "{err}");
    }

    #[test]
    fn bad_timeouts_are_refused_by_the_parser() {
        for bad in ["0", "-1", "abc", "NaN"] {
            let parsed = Cli::try_parse_from(["redis-slotcheck", "--timeout", bad, "127.0.0.1:1"]);
            assert!(parsed.is_err(), "{bad}");
        }
        let cli =
            Cli::try_parse_from(["redis-slotcheck", "--timeout", "0.25", "127.0.0.1:1"]).unwrap();
        assert_eq!(cli.timeout, Duration::from_millis(250));
    }

    #[test]
    fn site_nodes_carry_host_names() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../site/examples/howto.json");
        let s = settings(&["--site", path]).unwrap();
        assert_eq!(s.seeds.len(), 6);
        let first = s.seeds[0];
        assert_eq!(first.to_string(), "10.0.10.11:7000");
        assert_eq!(s.check.host_names[&first], "redis1");
    }

    #[test]
    fn password_from_file_wins_over_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        let cli = Cli::try_parse_from([
            "redis-slotcheck",
            "--pass-file",
            file.to_str().unwrap(),
            "127.0.0.1:1",
        ])
        .unwrap();
        let s = Settings::from_cli(cli, Some("env".into())).unwrap();
        assert_eq!(s.connect.password.as_deref(), Some("s3cret"));
        let cli = Cli::try_parse_from(["redis-slotcheck", "127.0.0.1:1"]).unwrap();
        let s = Settings::from_cli(cli, Some("env".into())).unwrap();
        assert_eq!(s.connect.password.as_deref(), Some("env"));
    }
}
