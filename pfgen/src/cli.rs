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
            None => Task::Rules {
                site,
                host: self.rules.host,
                format: self.rules.format.unwrap_or_else(Format::native),
                check: self.rules.check,
            },
        }
    }
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
