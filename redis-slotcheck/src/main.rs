//! `redis-slotcheck`: parse the arguments, run the check, exit with the monitoring-plugin code
//! (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Whatever goes wrong (bad arguments, bad input,
//! a bug) is UNKNOWN, and in the Nagios and Prometheus formats also an UNKNOWN report.

use std::process::ExitCode;

use clap::Parser;
use redis_slotcheck::cli::{run, Cli, Clock, Error, Settings, Sink};

/// Bad arguments and unreadable input leave the cluster's health unknown.
const UNKNOWN: u8 = 3;

fn main() -> ExitCode {
    let clock = Clock::start();
    let args: Vec<_> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are answers, not errors.
            if !e.use_stderr() {
                return ExitCode::SUCCESS;
            }
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Sink::from_raw_args(&args).fail(&format!("usage: {first}"), &clock);
            return ExitCode::from(UNKNOWN);
        }
    };
    let sink = Sink::from_cli(&cli);
    let outcome = std::panic::catch_unwind(move || {
        Settings::from_cli(cli, std::env::var("REDISCLI_AUTH").ok())
            .and_then(|settings| run(&settings, &clock))
    });
    let message = match outcome {
        Ok(Ok(status)) => return ExitCode::from(status.exit_code()),
        // Where the report cannot be written, neither can the UNKNOWN one.
        Ok(Err(e @ (Error::Output { .. } | Error::Stdout(_)))) => {
            eprintln!("redis-slotcheck: {e}");
            return ExitCode::from(UNKNOWN);
        }
        Ok(Err(e)) => {
            eprintln!("redis-slotcheck: {e}");
            e.to_string()
        }
        // The panic message is on stderr already (the default hook printed it).
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("internal error: {what}; please report it")
        }
    };
    sink.fail(&message, &clock);
    ExitCode::from(UNKNOWN)
}
