//! The command line: clap definitions, turned into typed settings, then dispatched. main.rs
//! only calls [`main`] and exits with its code.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::control::{self, EngineStatus, Request};
use crate::error::Error;
use crate::freebsd::{self, Alias, KernelCarp};
use crate::machine::State;
use crate::settings::{self, RunArgs, DEFAULT_STATE_DIR};
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
    /// Run a CARP node for one vhid on Linux until SIGTERM or SIGINT, then hand over gracefully.
    Run(RunCli),
    /// Show the state of the running engines (Linux) or of the kernel's CARP (FreeBSD).
    Status(StatusCli),
    /// Add N to the demotion of running engines so that a better backup takes over; by hand,
    /// this also sets a hold that health checks respect until `carpctl promote`.
    Demote(DemoteCli),
    /// Clear the demotion of running engines and the hold.
    Promote(PromoteCli),
    /// Print the FreeBSD configuration lines of a host, each with its target file.
    Rcconf(RcconfCli),
    /// Add the CARP alias of a host with ifconfig on FreeBSD, or print the command.
    Alias(AliasCli),
}

#[derive(Debug, Args)]
pub struct RunCli {
    /// Take interface, vhid, advbase, virtual IP, password file, preempt, this host's advskew
    /// and source address from the site JSON FILE ("-" for stdin); needs --host.
    #[arg(long, value_name = "FILE", requires = "host",
          conflicts_with_all = ["interface", "vhid", "vip", "advbase", "advskew", "pass_file", "preempt", "src"])]
    pub site: Option<PathBuf>,
    /// The host of the site JSON this node is.
    #[arg(long, value_name = "NAME", requires = "site")]
    pub host: Option<String>,
    /// The interface IF to run CARP on.
    #[arg(long, short = 'i', value_name = "IF", required_unless_present = "site")]
    pub interface: Option<String>,
    /// The virtual host id N, 1 to 255, the same on every node of the group.
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
    /// Advertise every S seconds plus advskew/256 (default: 1).
    #[arg(
        long,
        short = 'b',
        value_name = "S",
        default_value_t = 1,
        hide_default_value = true
    )]
    pub advbase: u8,
    /// The skew N, 0 to 254: the node with the lowest skew holds the addresses (default: 0).
    #[arg(
        long,
        short = 'k',
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub advskew: u8,
    /// Read the shared password from the first line of FILE (only 19 bytes count).
    #[arg(long, value_name = "FILE", required_unless_present = "site")]
    pub pass_file: Option<PathBuf>,
    /// Take the addresses over from a master with a longer interval.
    #[arg(long, short = 'P')]
    pub preempt: bool,
    /// Send from ADDR (default: the interface's first IPv4 address).
    #[arg(long, short = 's', value_name = "ADDR")]
    pub src: Option<Ipv4Addr>,
    /// Run CMD with sh -c on becoming MASTER; CARP_STATE, CARP_FROM, CARP_REASON,
    /// CARP_INTERFACE, CARP_VHID, CARP_VIPS and CARP_SRC describe the change.
    #[arg(long, value_name = "CMD")]
    pub up_hook: Option<String>,
    /// Run CMD with sh -c on leaving MASTER, with the same variables as --up-hook.
    #[arg(long, value_name = "CMD")]
    pub down_hook: Option<String>,
    /// Keep the state file and control socket in DIR (default: /run/carpctl).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR, hide_default_value = true)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Text,
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
    /// Print json or text (default: json).
    #[arg(long, value_enum, default_value_t = Format::Json, hide_default_value = true)]
    pub format: Format,
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
    /// Do nothing while a hold set by `carpctl demote` is in place (for health checks).
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
    /// Use ifconfig alias number N in rc.conf (default: 0).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub alias_index: u32,
}

#[derive(Debug, Args)]
pub struct RcconfCli {
    #[command(flatten)]
    pub target: SiteHostCli,
    /// Print text (grouped by file) or json (default: text).
    #[arg(long, value_enum, default_value_t = Format::Text, hide_default_value = true)]
    pub format: Format,
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

/// Parses the command line, runs the command and returns the exit code.
/// Runs the parsed command; the exit code on success (status answers 1 for --expect).
pub fn dispatch(command: Command) -> Result<u8, Error> {
    match command {
        Command::Run(cli) => run(cli).map(|()| 0),
        Command::Status(cli) => status(&cli),
        Command::Demote(cli) => demote(&cli),
        Command::Promote(cli) => promote(&cli),
        Command::Rcconf(cli) => rcconf(&cli),
        Command::Alias(cli) => alias(&cli),
    }
}

fn run(cli: RunCli) -> Result<(), Error> {
    let (args, pass_file) = match (&cli.site, &cli.host) {
        (Some(site), Some(host)) => RunArgs::from_site(&site::Site::load(site)?, host)?,
        _ => (
            RunArgs {
                interface: cli.interface.unwrap_or_default(),
                vhid: cli.vhid.unwrap_or_default(),
                vips: cli.vip,
                advbase: cli.advbase,
                advskew: cli.advskew,
                preempt: cli.preempt,
                src: cli.src,
            },
            cli.pass_file.unwrap_or_default(),
        ),
    };
    let password = load_password(&pass_file)?;
    let settings = args.validate(password, cli.up_hook, cli.down_hook, cli.state_dir)?;
    run_engine(settings)
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
    Engine(EngineStatus),
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

    fn text(&self) -> String {
        match self {
            VhidStatus::Engine(e) => format!(
                "vhid {} on {}: {} advbase {} advskew {} demotion {} ({}) pid {}{}",
                e.vhid,
                e.interface,
                e.state,
                e.advbase,
                e.advskew,
                e.demotion,
                e.vips.join(" "),
                e.pid,
                if e.bad_adverts.is_empty() {
                    String::new()
                } else {
                    let counts: Vec<String> = e
                        .bad_adverts
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect();
                    format!(", ignored adverts: {}", counts.join(", "))
                }
            ),
            VhidStatus::Kernel(k) => format!(
                "vhid {} on {}: {} advbase {} advskew {} ({})",
                k.vhid,
                k.interface,
                k.state,
                k.advbase,
                k.advskew,
                k.vips.join(" ")
            ),
        }
    }
}

/// What `status` prints as JSON.
#[derive(Debug, serde::Serialize)]
struct StatusReport<'a> {
    /// One entry per vhid, by vhid.
    vhids: &'a [VhidStatus],
    /// The demotion set by hand that health checks leave in place, if any.
    hold: Option<&'a control::Hold>,
}

/// What `rcconf --format json` prints.
#[derive(Debug, serde::Serialize)]
struct RcconfReport<'a> {
    /// The configuration lines in the order the how-to writes them.
    lines: &'a [freebsd::ConfigLine],
}

fn collect_status(target: &TargetCli) -> Result<Vec<VhidStatus>, Error> {
    if cfg!(target_os = "freebsd") {
        let out = std::process::Command::new("ifconfig")
            .output()
            .map_err(|e| Error::io("cannot run ifconfig", e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(freebsd::parse_ifconfig(&text)?
            .into_iter()
            .filter(|k| target.vhid.is_none_or(|v| v == k.vhid))
            .map(VhidStatus::Kernel)
            .collect())
    } else {
        Ok(control::running_engines(&target.state_dir, target.vhid)?
            .into_iter()
            .map(VhidStatus::Engine)
            .collect())
    }
}

fn status(cli: &StatusCli) -> Result<u8, Error> {
    let vhids = collect_status(&cli.target)?;
    let hold = control::read_hold(&cli.target.state_dir)?;
    match cli.format {
        Format::Json => toolkit::stdio::print_json(&StatusReport {
            vhids: &vhids,
            hold: hold.as_ref(),
        }),
        Format::Text => {
            let mut text: String = vhids.iter().map(|v| v.text() + "\n").collect();
            if let Some(hold) = &hold {
                text += &format!(
                    "held since {}: demoted {} by hand; `carpctl promote` clears it\n",
                    hold.since, hold.demotion
                );
            }
            toolkit::stdio::print_text(&text)
        }
    }
    .map_err(|e| Error::io("cannot write to stdout", e))?;
    let Some(expect) = cli.expect else {
        return Ok(0);
    };
    let wanted = match expect {
        Expect::Master => State::Master,
        Expect::Backup => State::Backup,
    };
    if vhids.is_empty() {
        return Err(Error::NoEngine {
            dir: cli.target.state_dir.clone(),
            vhid: cli.target.vhid,
        });
    }
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

/// A demotion by hand is held: the hold is written only once an engine took the demotion, so
/// a failed demote leaves none behind.
fn demote(cli: &DemoteCli) -> Result<u8, Error> {
    control_command(&cli.target, Request::Demote(cli.by))?;
    if !cli.no_hold {
        control::write_hold(
            &cli.target.state_dir,
            &control::Hold {
                demotion: cli.by,
                vhid: cli.target.vhid,
                since: crate::output::rfc3339(std::time::SystemTime::now()),
            },
        )?;
        eprintln!(
            "carpctl: held: health checks leave this demotion in place until `carpctl promote`"
        );
    }
    Ok(0)
}

fn promote(cli: &PromoteCli) -> Result<u8, Error> {
    if cli.unless_held {
        // Quietly: a hold is a person's decision, not news for the health check's cron mail.
        if control::read_hold(&cli.target.state_dir)?.is_some() {
            return Ok(0);
        }
    }
    control_command(&cli.target, Request::Promote)?;
    control::clear_hold(&cli.target.state_dir)?;
    Ok(0)
}

fn control_command(target: &TargetCli, request: Request) -> Result<u8, Error> {
    for status in control::send_all(&target.state_dir, target.vhid, request)? {
        toolkit::stdio::print_json(&status).map_err(|e| Error::io("cannot write to stdout", e))?;
    }
    Ok(0)
}

fn load_alias(target: &SiteHostCli) -> Result<Alias, Error> {
    Alias::from_site(&site::Site::load(&target.site)?, &target.host)
}

fn rcconf(cli: &RcconfCli) -> Result<u8, Error> {
    let alias = load_alias(&cli.target)?;
    let literal = match &cli.inline_pass {
        Some(path) => {
            let password = load_password(path)?;
            toolkit::say!(
                "warning: the output contains the password; keep it in a file only root can read"
            );
            Some(String::from_utf8_lossy(password.as_bytes()).into_owned())
        }
        None => None,
    };
    let lines = alias.rc_lines(cli.target.alias_index, literal.as_deref());
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
    let password = load_password(&alias.pass_file)?;
    let line = String::from_utf8_lossy(password.as_bytes()).into_owned();
    let status = std::process::Command::new("ifconfig")
        .args(alias.ifconfig_args(&line))
        .status()
        .map_err(|e| Error::io("cannot run ifconfig", e))?;
    if status.success() {
        toolkit::say!(
            "added vhid {} alias {} on {}",
            alias.vhid,
            alias.vip,
            alias.interface
        );
        Ok(0)
    } else {
        Err(Error::io(
            format!(
                "ifconfig {} ... alias {} failed ({status})",
                alias.interface, alias.vip
            ),
            std::io::Error::other("see its message above"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
