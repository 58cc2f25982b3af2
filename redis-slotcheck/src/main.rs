//! `redis-slotcheck`: parse the arguments, run the check, exit with the monitoring-plugin code
//! (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

use std::process::ExitCode;

use clap::Parser;
use redis_slotcheck::cli::{run, Cli, Settings};

/// Bad arguments and unreadable input leave the cluster's health unknown.
const UNKNOWN: u8 = 3;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are answers, not errors.
            return ExitCode::from(if e.use_stderr() { UNKNOWN } else { 0 });
        }
    };
    let outcome = Settings::from_cli(cli, std::env::var("REDISCLI_AUTH").ok())
        .and_then(|settings| run(&settings));
    match outcome {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(e) => {
            eprintln!("redis-slotcheck: {e}");
            ExitCode::from(UNKNOWN)
        }
    }
}
