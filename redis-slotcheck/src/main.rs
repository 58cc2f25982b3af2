//! `redis-slotcheck`: parse the arguments, run the check, exit with the monitoring-plugin code
//! (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage errors, unreadable input and bugs are
//! UNKNOWN, and in the Nagios and Prometheus formats also an UNKNOWN report). `carp-verdict`
//! exits 0 with its verdict and 3 when it has none.

use redis_slotcheck::cli::{carp_verdict, run, Cli, Clock, Command, Error, Settings, Sink};
use redis_slotcheck::Status;
use toolkit::Ending;

fn main() -> std::process::ExitCode {
    let clock = Clock::start();
    toolkit::main_reporting(
        "redis-slotcheck",
        Status::Unknown.exit_code(),
        |cli: Cli| match cli.command {
            Some(Command::CarpVerdict(verdict)) => {
                carp_verdict(&verdict).map(|()| Status::Ok.exit_code())
            }
            None => {
                let settings = Settings::from_cli(cli, std::env::var("REDISCLI_AUTH").ok())?;
                run(&settings, &clock).map(Status::exit_code)
            }
        },
        Some(|args: &[std::ffi::OsString], ending: Ending<'_, Error>| {
            let message = match ending {
                Ending::Usage(line) => format!("usage: {line}"),
                // Where the report cannot be written, neither can the UNKNOWN one.
                Ending::Error(Error::Output(_) | Error::Stdout(_)) => return,
                Ending::Error(error) => error.to_string(),
                Ending::Panic(what) => format!("internal error: {what}; please report it"),
            };
            Sink::from_raw_args(args).fail(&message, &clock);
        }),
    )
}
