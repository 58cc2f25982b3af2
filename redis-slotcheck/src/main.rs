//! `redis-slotcheck`: parse the arguments, run the check, exit with the monitoring-plugin code
//! (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage errors and unreadable input are UNKNOWN).

use redis_slotcheck::cli::{run, Cli, Settings};
use redis_slotcheck::Status;

fn main() -> std::process::ExitCode {
    toolkit::main(
        "redis-slotcheck",
        Status::Unknown.exit_code(),
        |cli: Cli| {
            let settings = Settings::from_cli(cli, std::env::var("REDISCLI_AUTH").ok())?;
            run(&settings).map(Status::exit_code)
        },
    )
}
