//! The command line: clap's view of the arguments, turned into typed settings before anything
//! runs, and `run`, which surveys, checks, renders and writes. `main.rs` only maps the outcome
//! to an exit code.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::check::{check, CheckOptions};
use crate::render::{render, Format};
use crate::report::Status;
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
    help_expected = true
)]
pub struct Cli {
    /// Cluster nodes to start from, as IP:PORT (IPv6 as [ADDR]:PORT). One reachable node is
    /// enough: the others are discovered from CLUSTER NODES.
    #[arg(
        value_name = "NODE",
        required_unless_present = "site",
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
    #[error("{0}; pass a readable file to --pass-file")]
    PassFile(toolkit::secret::SecretError),
    #[error("{0}")]
    Output(toolkit::file::OutputError),
    #[error("cannot write the report to standard output: {0}")]
    Stdout(std::io::Error),
}

/// Everything `run` needs, checked.
#[derive(Debug)]
pub struct Settings {
    pub seeds: Vec<NodeAddr>,
    pub check: CheckOptions,
    pub connect: ConnectOptions,
    pub format: Format,
    pub output: Option<PathBuf>,
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
            .map_err(Error::PassFile)?;
        Ok(Settings {
            seeds,
            check: CheckOptions {
                min_replicas,
                host_names,
                expect,
            },
            connect,
            format: match cli.format {
                FormatArg::Json => Format::Json,
                FormatArg::Text => Format::Text,
                FormatArg::Nagios => Format::Nagios,
                FormatArg::Prom => Format::Prom,
            },
            output: cli.output,
        })
    }
}

impl toolkit::Failure for Error {
    fn exit_code(&self) -> u8 {
        Status::Unknown.exit_code()
    }
}

/// Surveys the cluster, checks it and writes the report; returns the overall status.
pub fn run(settings: &Settings) -> Result<Status, Error> {
    let found = survey(&settings.seeds, &settings.connect, true);
    if found.reached.is_empty() {
        for (addr, error) in &found.unreachable {
            toolkit::say!("{addr}: {error}");
        }
        toolkit::say!(
            "no node answered; check the node addresses, that redis-server runs there, --timeout, and the credentials (--user, --pass-file or REDISCLI_AUTH)"
        );
    }
    let report = check(&found, &settings.check);
    match settings.output.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let text = render(&report, settings.format, false);
            // Collectors such as node_exporter run as other users: the report is world-readable.
            toolkit::file::write_atomically(path, text.as_bytes(), 0o644).map_err(Error::Output)?;
        }
        None => {
            let pretty = std::io::stdout().is_terminal();
            toolkit::stdio::print_text(&render(&report, settings.format, pretty))
                .map_err(Error::Stdout)?;
        }
    }
    Ok(report.status)
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
    fn nodes_and_defaults() {
        let s = settings(&["127.0.0.1:7000", "[::1]:7001"]).unwrap();
        assert_eq!(s.seeds.len(), 2);
        assert_eq!(s.check.min_replicas, 1);
        assert_eq!(s.connect.timeout, Duration::from_secs(2));
        assert_eq!(s.format, Format::Json);
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
