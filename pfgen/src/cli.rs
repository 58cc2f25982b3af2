//! The command line: clap definitions, their translation into a typed [`Task`], and [`run`],
//! which reads the site, renders, optionally checks, and writes. Kept apart from the renderers
//! so those stay pure and testable without a process.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::{Error, Format, Policy};

/// Firewall rules for a Redis Cluster host behind a CARP virtual IP, from the site
/// description.
///
/// Prints the ruleset of one host: pf.conf for FreeBSD or an nftables ruleset for Linux. The
/// client ports are open to the CARP network and, on the internal interface, only to the
/// allow table; the cluster bus ports only to the cluster's own hosts; connections to the
/// virtual IP are redirected to the host's own address. The same site always gives the same
/// bytes.
#[derive(Debug, Parser)]
#[command(
    name = "pfgen",
    version,
    args_conflicts_with_subcommands = true,
    help_expected = true,
    max_term_width = 80
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    rules: RulesArgs,
}

#[derive(Debug, Args)]
struct RulesArgs {
    /// Write the rules of the host called NAME. Needed when the site defines more than one
    /// host; with a single host, that host is used.
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Write FORMAT: pf (pf.conf for FreeBSD) or nft (nftables for Linux). The default is the
    /// platform's own: pf on FreeBSD, nft elsewhere.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
    /// Validate the ruleset with the format's own parser before printing it (`pfctl -nf -` for
    /// pf, `nft -c -f -` for nft), and fail with its message if it is rejected. Nothing is
    /// loaded.
    #[arg(long)]
    check: bool,
    /// Read the site description from FILE ("-" reads standard input). Needed by every
    /// form of the command.
    #[arg(long, value_name = "FILE", global = true)]
    site: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the allow table file that pf.conf reads (firewall.allow_file): a header comment,
    /// then one allowed address or network per line.
    Allowlist,
    /// Print the FreeBSD boot-time lines that go with the host's pf.conf: pf_load and
    /// pfsync_load for /boot/loader.conf, pf and pfsync enabled for /etc/rc.conf.d/pf, and
    /// the host's interface addresses for /etc/rc.conf.d/network. (carpctl rcconf prints the
    /// CARP lines of the same files.)
    Rcconf(RcconfArgs),
}

#[derive(Debug, Args)]
struct RcconfArgs {
    /// Print the lines of the host called NAME.
    #[arg(long, value_name = "NAME")]
    host: String,
    /// Print text (the lines under a comment naming each file) or json ({"lines": [{"file",
    /// "line"}]}, as carpctl rcconf prints) (default: text).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "text",
        hide_default_value = true
    )]
    format: RcFormat,
}

/// How `rcconf` prints its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RcFormat {
    Text,
    Json,
}

/// What one run does, with every choice made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Print the ruleset of a host.
    Rules {
        site: PathBuf,
        host: Option<String>,
        format: Format,
        check: bool,
    },
    /// Print the allow table file.
    Allowlist { site: PathBuf },
    /// Print the FreeBSD boot-time lines of a host.
    Rcconf {
        site: PathBuf,
        host: String,
        format: RcFormat,
    },
}

impl Cli {
    /// The task these arguments ask for, defaults filled in.
    pub fn task(self) -> Task {
        // Optional to clap only so that it may stand before or after the subcommand.
        let site = self.rules.site.unwrap_or_else(|| {
            Cli::command()
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "the site description is needed: pass --site FILE (\"-\" reads standard input)",
                )
                .exit()
        });
        match self.command {
            Some(Command::Allowlist) => Task::Allowlist { site },
            Some(Command::Rcconf(args)) => Task::Rcconf {
                site,
                host: args.host,
                format: args.format,
            },
            None => Task::Rules {
                site,
                host: self.rules.host,
                format: self.rules.format.unwrap_or_else(Format::native),
                check: self.rules.check,
            },
        }
    }
}

/// What `rcconf --format json` prints.
#[derive(Debug, serde::Serialize)]
struct RcconfReport<'a> {
    /// The lines in the order they go into their files.
    lines: &'a [site::rcconf::ConfigLine],
}

/// The text `task` prints, or why there is none. Reads the site; runs the checker for
/// `--check`; writes nothing.
pub fn output(task: &Task) -> Result<String, Error> {
    match task {
        Task::Rules {
            site,
            host,
            format,
            check,
        } => {
            let site = site::Site::load(site)?;
            let policy = Policy::from_site(&site, host.as_deref())?;
            let ruleset = crate::render(&policy, *format)?;
            if *check {
                crate::check::check(&ruleset, *format)?;
            }
            Ok(ruleset)
        }
        Task::Allowlist { site } => crate::allowlist(&site::Site::load(site)?),
        Task::Rcconf { site, host, format } => {
            let lines = crate::rcconf::rc_lines(&site::Site::load(site)?, host)?;
            Ok(match format {
                RcFormat::Text => site::rcconf::render_text(&lines),
                RcFormat::Json => toolkit::stdio::json_text(
                    &RcconfReport { lines: &lines },
                    std::io::IsTerminal::is_terminal(&std::io::stdout()),
                ),
            })
        }
    }
}

/// Runs `task` and prints its text on stdout, all at once and only when complete, so a
/// failure leaves stdout empty. A closed stdout (`pfgen | head`) is not an error.
pub fn run(task: &Task) -> Result<(), Error> {
    let text = output(task)?;
    toolkit::stdio::print_text(&text)
        .map(drop)
        .map_err(Error::Write)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_to_the_native_format() {
        let task = Cli::parse_from(["pfgen", "--site", "-"]).task();
        assert_eq!(
            task,
            Task::Rules {
                site: PathBuf::from("-"),
                host: None,
                format: Format::native(),
                check: false
            }
        );
    }

    #[test]
    fn allowlist_subcommand_takes_its_own_site() {
        let task = Cli::parse_from(["pfgen", "allowlist", "--site", "site.json"]).task();
        assert_eq!(
            task,
            Task::Allowlist {
                site: PathBuf::from("site.json")
            }
        );
    }

    #[test]
    fn rule_options_are_parsed() {
        let task = Cli::parse_from([
            "pfgen", "--host", "redis2", "--format", "pf", "--check", "--site", "s.json",
        ])
        .task();
        assert_eq!(
            task,
            Task::Rules {
                site: PathBuf::from("s.json"),
                host: Some("redis2".into()),
                format: Format::Pf,
                check: true
            }
        );
    }
}

#[cfg(test)]
mod site_argument {
    use super::*;

    // The site is named with --site FILE, as in every other tool; a bare path is refused.
    #[test]
    fn a_positional_site_is_a_usage_error() {
        assert!(Cli::try_parse_from(["pfgen", "site.json"]).is_err());
    }
}
