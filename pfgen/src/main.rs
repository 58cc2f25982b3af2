//! The pfgen binary: parse the command line, run, map the outcome to the exit status
//! (0 printed, 1 failed with a message on stderr, 2 usage error from clap).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let task = pfgen::cli::Cli::parse().task();
    match pfgen::cli::run(&task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
