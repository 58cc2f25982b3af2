//! The command line: clap definitions, turned into typed settings, then the work. `main.rs`
//! only parses, calls [`run`] and maps the error to an exit code.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use redis_cluster::args::ConnectArgs;
use redis_cluster::{ConnectOptions, Deadline, NodeAddr, Plan};

use crate::apply::{apply, ApplyOptions};
use crate::converge::{
    self,
    execute::{self, ConvergeOptions, SavedPlan},
};
use crate::error::CreateError;
use crate::failover;
use crate::maintenance;
use crate::planner::{self, Candidate};
use crate::reset;

/// Plan, create and reset a Redis Cluster.
///
/// With NODE... (and no subcommand) it plans and applies in one go, like
/// 'redis-cli --cluster create': the plan is shown on stderr and, on a terminal, confirmed
/// before any node changes.
#[derive(Debug, Parser)]
#[command(
    name = "redis-cluster-create",
    version,
    args_conflicts_with_subcommands = true,
    max_term_width = 80,
    help_expected = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the plan JSON for the nodes (masters with slots, replicas with their master,
    /// each node's host) and change nothing. When the nodes already form a cluster, print
    /// the converge steps that would make it consist of exactly these nodes instead.
    Plan(PlanCommand),
    /// Check the nodes, then execute a plan (or a converge plan, when the cluster has not
    /// changed since it was made) and print the result JSON.
    Apply(ApplyArgs),
    /// Make a live cluster consist of exactly these nodes, laid out as creation would: new
    /// nodes join, nodes left out leave, dead nodes are forgotten, open slots are finished,
    /// slots move online with their keys, masters are spread over the hosts again.
    Converge(ConvergeArgs),
    /// Promote at once a replica of every master of a lost host that serves slots and no
    /// longer answers (CLUSTER FAILOVER FORCE, which still needs a majority of masters);
    /// leave every master that answers alone. For CARP hooks; prints JSON of what it did.
    Failover(FailoverArgs),
    /// Take a host out of service for a planned stop without a client error ('start':
    /// its masters handed to replicas on other hosts by coordinated failover, its CARP
    /// engines demoted), and put it back ('end': once its instances are in sync, masters
    /// laid out as the site wants and the CARP hold lifted). Prints JSON.
    #[command(subcommand)]
    Maintenance(MaintenancePhase),
    /// Return nodes to empty (CLUSTER RESET HARD) after a failed or unwanted attempt.
    Reset(ResetArgs),
    /// Print the configuration files of a host's instances (one redis-PORT.conf per port of
    /// the site, and on FreeBSD /etc/rc.conf.d/redis), or write them with --local DIR --write.
    Config(crate::config::ConfigArgs),
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// Replicas per master (default: the site's cluster.replicas with --site, else 1).
    #[arg(long, value_name = "N")]
    replicas: Option<u32>,
    /// Take the nodes from this site description: each host's bind_interface address with
    /// each of the cluster's ports.
    #[arg(long, value_name = "FILE", conflicts_with = "nodes")]
    site: Option<PathBuf>,
    /// The nodes, as IP:PORT; the host of each is its IP.
    #[arg(value_name = "NODE")]
    nodes: Vec<NodeAddr>,
}

#[derive(Debug, Args)]
struct PlanCommand {
    #[command(flatten)]
    plan: PlanArgs,
    /// For a converge plan: allow serving slots again, empty, whose only copy was on a dead
    /// master without replica (their keys are lost; the plan names them).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Debug, Args)]
struct ConvergeArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Change the cluster without asking (needed when there is no terminal to ask on).
    #[arg(long)]
    yes: bool,
    /// Wait at most SECS seconds, from the start, for every step and for the cluster to be
    /// usable afterwards (default: 60).
    #[arg(long, value_name = "SECS", default_value = "60", hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    timeout: Duration,
    /// Serve slots again, empty, whose only copy was on a dead master without replica
    /// (their keys are lost; they are named before anything changes).
    #[arg(long)]
    force: bool,
    /// A live node of the cluster to drain and take out, as IP:PORT (repeatable). Needed
    /// only with a password, which goes to no address that was not given; without one, every
    /// node left out of the list is taken out.
    #[arg(long, value_name = "NODE")]
    remove: Vec<NodeAddr>,
    /// How slots move with their keys: auto (the server's atomic slot migration where both
    /// ends have it: Valkey 9, Redis 8.4; key by key with MIGRATE elsewhere), atomic (refused
    /// before any change where a server lacks it) or keys (always MIGRATE) (default: auto).
    #[arg(
        long,
        value_enum,
        value_name = "HOW",
        default_value = "auto",
        hide_default_value = true
    )]
    migration: converge::Migration,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Debug, Args)]
struct FailoverArgs {
    /// The site description: its nodes are surveyed, and its host names say which nodes
    /// are on the lost host.
    #[arg(long, value_name = "FILE")]
    site: PathBuf,
    /// The host found silent (by CARP); only its masters are considered.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "vhid",
        conflicts_with = "vhid"
    )]
    lost_host: Option<String>,
    /// For hooks: the CARP group this host just took over; the lost host is the group's
    /// master (carp.vhid: the host of lowest advskew; carp.groups: the one named).
    #[arg(long, value_name = "N")]
    vhid: Option<u8>,
    /// With --vhid: this host's name; when the group is its own, nothing was lost.
    #[arg(long, value_name = "NAME", requires = "vhid")]
    host: Option<String>,
    /// How long each node may take to answer the survey before it counts as not answering
    /// (default: 0.3).
    #[arg(long, value_name = "SECS", default_value = "0.3", hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    probe_timeout: Duration,
    /// Wait at most SECS seconds, from the start, for the promoted replicas to report
    /// themselves masters (default: 5).
    #[arg(long, value_name = "SECS", default_value = "5", hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    timeout: Duration,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
enum MaintenancePhase {
    /// Hand every master of the host that serves slots to a replica on another host
    /// (coordinated CLUSTER FAILOVER: no acknowledged write lost), wait until every node
    /// agrees, demote the host's CARP engines until 'end'; then the host may be stopped.
    /// Refused, with nothing changed, while a node is down or a slot is open, or when a
    /// master of the host has no replica elsewhere whose link is up.
    Start(MaintenanceArgs),
    /// Wait (within --timeout) until the host's instances answer and their replicas are in
    /// sync, hand masters back as the site lays them out, lift the CARP hold.
    End(MaintenanceArgs),
}

#[derive(Debug, Args)]
struct MaintenanceArgs {
    /// The site description: its nodes, their hosts and the replicas per master.
    #[arg(long, value_name = "FILE")]
    site: PathBuf,
    /// The host NAME of the site to take out of service or put back.
    #[arg(long, value_name = "NAME")]
    host: String,
    /// The state directory DIR of the host's CARP engines, as given to 'carpctl run'
    /// (default: /run/carpctl); 'carpctl demote' and 'carpctl promote' act on it. Run the
    /// command on the host itself.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/run/carpctl",
        hide_default_value = true
    )]
    carp_state_dir: PathBuf,
    /// Leave CARP alone (a host without CARP engines, or whose VIPs are moved by other means).
    #[arg(long, conflicts_with = "carp_state_dir")]
    no_carp: bool,
    /// Change the nodes without asking (needed when there is no terminal to ask on).
    #[arg(long)]
    yes: bool,
    /// Take at most SECS seconds for the whole run, waiting for the host's instances
    /// included (default: 60).
    #[arg(long, value_name = "SECS", default_value = "60", hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    timeout: Duration,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// What `failover` prints.
#[derive(Debug, Serialize)]
struct FailoverReport {
    /// `None` when the group taken over was this host's own.
    lost_host: Option<String>,
    decisions: Vec<failover::Decision>,
    promotions: Vec<failover::Promotion>,
    total_seconds: f64,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Change the nodes without asking (needed when there is no terminal to ask on).
    #[arg(long)]
    yes: bool,
    /// Take at most SECS seconds for the whole run, from the confirmation: the checks, every
    /// change and the wait until usable; a slow or silent node cannot stretch it. After a
    /// failure, a timeout or a signal, restoring what --fast lowered takes up to 3 s more
    /// (default: 60).
    #[arg(long, value_name = "SECS", default_value = "60", hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    timeout: Duration,
    /// Return as soon as all configuration is sent, without waiting for the cluster to become
    /// usable.
    #[arg(long)]
    no_wait: bool,
    /// For throwaway and test clusters: lower cluster-node-timeout to 500 ms and
    /// repl-diskless-sync-delay to 0 while creating, and restore both afterwards.
    #[arg(long)]
    fast: bool,
    /// Set cluster-announce-ip on each node to the address it was given (for instances bound
    /// to an address their connections do not leave from, like a virtual IP). Set at run time
    /// only: add it to each node's configuration file to keep it.
    #[arg(long)]
    announce: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    run: RunArgs,
    /// The plan file, or '-' for stdin (default: -).
    #[arg(value_name = "PLAN", default_value = "-", hide_default_value = true)]
    plan: PathBuf,
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct ResetArgs {
    /// Reset without asking (needed when there is no terminal to ask on).
    #[arg(long)]
    yes: bool,
    /// Delete the keys of nodes that hold any; without it such nodes are refused.
    #[arg(long)]
    flush: bool,
    /// Take at most SECS seconds for the whole reset: checking and resetting every node (asked
    /// on a terminal, the time to answer does not count: the reset gets SECS of its own after
    /// the answer) (default: 10).
    #[arg(long, value_name = "SECS", default_value = "10", hide_default_value = true, value_parser = toolkit::duration::parse_timeout)]
    timeout: Duration,
    #[command(flatten)]
    connect: ConnectArgs,
    /// The nodes to reset, as IP:PORT.
    #[arg(value_name = "NODE", required = true)]
    nodes: Vec<NodeAddr>,
}

/// How long `plan` waits for a cluster in flux (a failover settling) before it gives up.
const PLAN_SETTLE: Duration = Duration::from_secs(10);

/// Runs the parsed command; `started` is when the process began, the start of every timing.
pub fn run(cli: Cli, started: Instant) -> Result<(), CreateError> {
    match cli.command {
        Some(Command::Plan(args)) => {
            let (candidates, replicas) = candidates(&args.plan)?;
            // A plan changes nothing, so it only asks briefly whether a cluster is there.
            let connect = connect_options(&args.connect, Duration::from_secs(1))?;
            let addrs: Vec<NodeAddr> = candidates.iter().map(|c| c.addr).collect();
            let observation = converge::observe::observe(&addrs, &connect);
            if observation.layout.nodes.iter().any(|n| n.alive && n.joined) {
                let options = ConvergeOptions {
                    timeout: PLAN_SETTLE,
                    force: args.force,
                    migration: converge::Migration::Auto,
                    connect,
                };
                let (observation, planned) = execute::prepare(
                    &candidates,
                    replicas,
                    &options,
                    Deadline::after(PLAN_SETTLE),
                    &|line| toolkit::say!("{line}"),
                )?;
                warn_compromises(&planned.target);
                return print_json(&SavedPlan {
                    schema: 1,
                    kind: execute::KIND.to_string(),
                    force: args.force,
                    observed: observation.layout,
                    target: planned.target,
                    steps: planned.steps,
                    lost: planned.lost,
                });
            }
            let plan = planner::plan(&candidates, replicas)?;
            warn_compromises(&plan);
            print_json(&plan)
        }
        Some(Command::Apply(args)) => {
            let text = toolkit::input::read_text(&args.plan, toolkit::input::DOCUMENT_LIMIT)
                .map_err(redis_cluster::plan::PlanError::Read)?;
            let source_name = if args.plan.as_os_str() == "-" {
                "<stdin>".to_string()
            } else {
                args.plan.display().to_string()
            };
            let kind = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_string)));
            if kind.as_deref() == Some(execute::KIND) {
                return apply_converge(&text, &source_name, &args.run, started);
            }
            let plan = Plan::parse(&text, &source_name)?;
            run_plan(&plan, &args.run, started, "apply this plan")
        }
        Some(Command::Converge(args)) => {
            let (candidates, replicas) = candidates(&args.plan)?;
            if let Some(&both) = args
                .remove
                .iter()
                .find(|r| candidates.iter().any(|c| c.addr == **r))
            {
                return Err(CreateError::RemoveListed(both));
            }
            let options = ConvergeOptions {
                timeout: args.timeout,
                force: args.force,
                migration: args.migration,
                connect: connect_options(&args.connect, ConnectOptions::default().timeout)?
                    .vouching(args.remove.iter().copied()),
            };
            let progress = progress(started);
            let deadline = Deadline::after(args.timeout.saturating_sub(started.elapsed()));
            let (_, planned) =
                execute::prepare(&candidates, replicas, &options, deadline, &progress)?;
            warn_compromises(&planned.target);
            if planned.steps.is_empty() {
                toolkit::say!(
                    "the cluster already consists of these nodes as planned; nothing to change"
                );
            } else {
                for lost in &planned.lost {
                    toolkit::say!("warning: --force: {lost}: they are served again, empty");
                }
                let what = execute::describe(&planned.steps).join("\n");
                confirm(args.yes, "change the cluster", &what)?;
            }
            handle_signals();
            let report =
                execute::run(&candidates, replicas, planned, &options, started, &progress)?;
            toolkit::say!("cluster usable after {:.2} s", report.total_seconds);
            print_json(&report)
        }
        Some(Command::Failover(args)) => run_failover(&args, started),
        Some(Command::Maintenance(phase)) => run_maintenance(&phase, started),
        Some(Command::Reset(args)) => {
            let connect = connect_options(&args.connect, args.timeout)?;
            handle_signals();
            let deadline = Deadline::after(args.timeout);
            let states = reset::inspect(&args.nodes, args.flush, &connect, deadline)?;
            let what = if args.flush {
                format!("Reset and flush {} nodes", states.len())
            } else {
                format!("Reset {} nodes", states.len())
            };
            // Time spent answering the question does not count against the bound.
            let asked = confirm(args.yes, "reset nodes", &what)?;
            let deadline = if asked {
                Deadline::after(args.timeout)
            } else {
                deadline
            };
            print_json(&reset::reset(&states, &connect, deadline)?)
        }
        Some(Command::Config(args)) => crate::config::run(&args),
        None => {
            let plan = make_plan(&cli.create.plan)?;
            run_plan(&plan, &cli.create.run, started, "create the cluster")
        }
    }
}

fn run_plan(
    plan: &Plan,
    args: &RunArgs,
    started: Instant,
    action: &'static str,
) -> Result<(), CreateError> {
    warn_compromises(plan);
    let connect = connect_options(&args.connect, args.timeout)?;
    confirm(args.yes, action, &describe(plan))?;
    handle_signals();
    let options = ApplyOptions {
        timeout: args.timeout,
        wait: !args.no_wait,
        fast: args.fast,
        announce: args.announce,
        connect,
    };
    let report = apply(plan, &options, started, &|line| {
        toolkit::say!("{line} ({:.2} s)", started.elapsed().as_secs_f64());
    })?;
    if report.usable {
        toolkit::say!("cluster usable after {:.2} s", report.total_seconds);
    }
    print_json(&report)
}

/// Progress lines on stderr, each with the seconds since the start.
fn progress(started: Instant) -> impl Fn(&str) {
    move |line: &str| toolkit::say!("{line} ({:.2} s)", started.elapsed().as_secs_f64())
}

fn run_failover(args: &FailoverArgs, started: Instant) -> Result<(), CreateError> {
    let site = site::Site::load(&args.site)?;
    let lost_host = match (&args.lost_host, args.vhid) {
        (Some(name), _) => site.host(name)?.name.clone(),
        (None, Some(vhid)) => {
            let groups = site.carp_groups();
            let Some(group) = groups.iter().find(|g| g.vhid == vhid) else {
                return Err(CreateError::UnknownVhid {
                    vhid,
                    known: groups.iter().map(|g| g.vhid.to_string()).collect(),
                });
            };
            group.master.to_string()
        }
        (None, None) => unreachable!("clap requires --lost-host or --vhid"),
    };
    if let Some(me) = &args.host {
        site.host(me)?;
        if *me == lost_host {
            toolkit::say!(
                "vhid {} is this host's own group: no host was lost",
                args.vhid.unwrap_or_default()
            );
            return print_json(&FailoverReport {
                lost_host: None,
                decisions: Vec::new(),
                promotions: Vec::new(),
                total_seconds: started.elapsed().as_secs_f64(),
            });
        }
    }
    let host_names: BTreeMap<NodeAddr, String> = site
        .nodes()
        .into_iter()
        .map(|n| (NodeAddr(n.addr), n.host))
        .collect();
    let seeds: Vec<NodeAddr> = host_names.keys().copied().collect();
    let probe = connect_options(&args.connect, args.probe_timeout)?;
    let shards = failover::survey_shards(&seeds, &host_names, &probe);
    let decisions = failover::decide(&shards, &lost_host);
    for decision in &decisions {
        match decision {
            failover::Decision::Promote { master, replica } => toolkit::say!(
                "promoting {replica}: its master {master} on {lost_host} does not answer"
            ),
            failover::Decision::Keep { master, why } => toolkit::say!("keeping {master}: {why}"),
        }
    }
    let connect = connect_options(&args.connect, ConnectOptions::default().timeout)?;
    let deadline = Deadline::after(args.timeout.saturating_sub(started.elapsed()));
    let promotions = failover::execute(&decisions, &connect, deadline);
    let failed: Vec<String> = promotions
        .iter()
        .filter(|p| !p.promoted)
        .map(|p| {
            format!(
                "{}: {}",
                p.replica,
                p.error.as_deref().unwrap_or("not promoted")
            )
        })
        .collect();
    print_json(&FailoverReport {
        lost_host: Some(lost_host),
        decisions,
        promotions,
        total_seconds: started.elapsed().as_secs_f64(),
    })?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CreateError::NotPromoted { failed })
    }
}

fn run_maintenance(phase: &MaintenancePhase, started: Instant) -> Result<(), CreateError> {
    let (MaintenancePhase::Start(args) | MaintenancePhase::End(args)) = phase;
    let site = site::Site::load(&args.site)?;
    let host = site.host(&args.host)?.name.clone();
    let candidates = site
        .nodes()
        .into_iter()
        .map(|n| Candidate {
            addr: NodeAddr(n.addr),
            host: n.host,
        })
        .collect();
    let options = maintenance::Options {
        host,
        candidates,
        replicas: site.cluster.replicas,
        timeout: args.timeout,
        connect: connect_options(&args.connect, ConnectOptions::default().timeout)?,
        carp: (!args.no_carp).then(|| args.carp_state_dir.clone()),
    };
    let progress = progress(started);
    handle_signals();
    match phase {
        MaintenancePhase::Start(_) => {
            let confirm =
                |what: &str| confirm(args.yes, "hand the host's masters over", what).map(drop);
            let report = maintenance::start(&options, started, &confirm, &progress)?;
            toolkit::say!(
                "{} serves no slot{}: stop it, then run 'maintenance end' once it is back",
                report.host,
                if report.carp_demoted.is_some() {
                    " and its CARP engines are demoted"
                } else {
                    ""
                }
            );
            print_json(&report)
        }
        MaintenancePhase::End(_) => {
            let confirm = |what: &str| confirm(args.yes, "hand masters back", what).map(drop);
            let report = maintenance::end(&options, started, &confirm, &progress)?;
            toolkit::say!("{} is back in service", report.host);
            print_json(&report)
        }
    }
}

/// Runs a saved converge plan, when the cluster is still as it was when the plan was made.
fn apply_converge(
    text: &str,
    source_name: &str,
    args: &RunArgs,
    started: Instant,
) -> Result<(), CreateError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let saved: SavedPlan = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        redis_cluster::plan::PlanError::Invalid {
            source_name: source_name.to_string(),
            problems: vec![format!("{path}: {}", e.into_inner())],
        }
    })?;
    let candidates: Vec<Candidate> = saved
        .target
        .nodes()
        .map(|(addr, host)| Candidate {
            addr,
            host: host.to_string(),
        })
        .collect();
    let options = ConvergeOptions {
        timeout: args.timeout,
        force: saved.force,
        migration: converge::Migration::Auto,
        connect: connect_options(&args.connect, ConnectOptions::default().timeout)?,
    };
    let addrs: Vec<NodeAddr> = candidates.iter().map(|c| c.addr).collect();
    let now = converge::observe::observe(&addrs, &options.connect);
    let differences = converge::layout::differences(&saved.observed, &now.layout);
    if !differences.is_empty() {
        return Err(CreateError::Changed { differences });
    }
    let what = execute::describe(&saved.steps).join("\n");
    if !saved.steps.is_empty() {
        confirm(args.yes, "apply this converge plan", &what)?;
    }
    let planned = converge::Converge {
        target: saved.target.clone(),
        steps: saved.steps,
        lost: saved.lost,
    };
    handle_signals();
    let report = execute::run(
        &candidates,
        saved.target.replicas,
        planned,
        &options,
        started,
        &progress(started),
    )?;
    print_json(&report)
}

/// The nodes asked for, with their hosts, and the replicas per master.
fn candidates(args: &PlanArgs) -> Result<(Vec<Candidate>, u32), CreateError> {
    let (candidates, site_replicas) = match &args.site {
        Some(path) => {
            let site = site::Site::load(path)?;
            let nodes = site
                .nodes()
                .into_iter()
                .map(|n| Candidate {
                    addr: NodeAddr(n.addr),
                    host: n.host,
                })
                .collect();
            (nodes, Some(site.cluster.replicas))
        }
        None => (
            args.nodes
                .iter()
                .map(|&addr| Candidate {
                    addr,
                    host: addr.ip_string(),
                })
                .collect::<Vec<_>>(),
            None,
        ),
    };
    if candidates.is_empty() {
        return Err(CreateError::NoNodes);
    }
    let replicas = args.replicas.or(site_replicas).unwrap_or(1);
    Ok((candidates, replicas))
}

fn make_plan(args: &PlanArgs) -> Result<Plan, CreateError> {
    let (candidates, replicas) = candidates(args)?;
    Ok(planner::plan(&candidates, replicas)?)
}

/// SIGINT and SIGTERM stop a change at its next safe point instead of killing the process
/// between two steps. Without the handler (it cannot be installed: never seen) they kill as
/// before, which is all that can be done.
fn handle_signals() {
    if let Err(e) = toolkit::interrupt::install() {
        toolkit::say!(
            "warning: cannot handle SIGINT and SIGTERM ({e}); a signal kills this run at once"
        );
    }
}

/// The connection options of `args`, the password falling back to REDISCLI_AUTH.
fn connect_options(args: &ConnectArgs, timeout: Duration) -> Result<ConnectOptions, CreateError> {
    args.options(timeout, std::env::var("REDISCLI_AUTH").ok())
        .map_err(CreateError::Connect)
}

fn warn_compromises(plan: &Plan) {
    for c in &plan.compromises {
        toolkit::say!("warning: {c}");
    }
}

/// The plan in words, for the confirmation.
fn describe(plan: &Plan) -> String {
    let mut text = String::new();
    for m in &plan.masters {
        let slots = redis_cluster::slots::format_ranges(&m.slots);
        text.push_str(&format!(
            "master  {} (host {}) slots {slots}\n",
            m.addr, m.host
        ));
        for r in &m.replicas {
            text.push_str(&format!("  replica {} (host {})\n", r.addr, r.host));
        }
    }
    text
}

/// Goes on with `--yes`; otherwise asks on the terminal, or refuses when there is none. True
/// when it asked (and the answer was yes).
fn confirm(yes: bool, action: &'static str, what: &str) -> Result<bool, CreateError> {
    if yes {
        return Ok(false);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(CreateError::NeedsYes { action });
    }
    // Not eprint!: it panics when standard error is gone.
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{what}\nProceed? [y/N] ").and_then(|()| stderr.flush());
    drop(stderr);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(CreateError::Answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(true)
    } else {
        Err(CreateError::Declined)
    }
}

/// Writes JSON to stdout: pretty on a terminal, one line otherwise. A closed pipe is fine.
fn print_json(value: &impl Serialize) -> Result<(), CreateError> {
    toolkit::stdio::print_json(value)
        .map(drop)
        .map_err(CreateError::Output)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
