//! The exit-code table every tool shares, and the one shape of `main` that applies it:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the operation failed (a node, a peer, the system said no) |
//! | 2 | usage or bad input: a bad argument, an unreadable or invalid file |
//! | 130, 143 | stopped by SIGINT or SIGTERM at a safe point (see [`crate::interrupt`]) |
//!
//! redis-slotcheck answers in the monitoring-plugin codes instead (0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN), so its usage errors are 3; it passes that to `main`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub const SUCCESS: u8 = 0;
pub const FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;

/// An error a tool can end with: its message (without the tool's name, which `main` adds)
/// and its exit code from the table above.
pub trait Failure: std::fmt::Display {
    fn exit_code(&self) -> u8;
}

/// Parses the command line as `C`, runs `run` and turns the outcome into the exit code:
/// clap's usage errors exit `usage_code` (help and version exit 0), `Ok(code)` exits `code`,
/// and an error is printed as `name: message` on standard error and exits its own code.
pub fn main<C: Parser, E: Failure>(
    name: &'static str,
    usage_code: u8,
    run: impl FnOnce(C) -> Result<u8, E>,
) -> ExitCode {
    main_reporting(
        name,
        usage_code,
        run,
        None::<fn(&[OsString], Ending<'_, E>)>,
    )
}

/// How a run ended without an answer, for a tool whose output must say so too.
#[derive(Debug)]
pub enum Ending<'a, E> {
    /// clap refused the arguments; its first line.
    Usage(&'a str),
    /// `run` failed.
    Error(&'a E),
    /// A bug: the panic's message (the default hook has printed it on standard error).
    Panic(&'a str),
}

/// [`main`] for a tool whose answer is read by machines (redis-slotcheck's Nagios line and
/// Prometheus file): every ending without an answer, a panic included, is also handed to
/// `report` with the raw arguments, so the tool can put it where its answer would have gone.
/// A panic then exits `usage_code` instead of Rust's 101.
pub fn main_reporting<C: Parser, E: Failure>(
    name: &'static str,
    usage_code: u8,
    run: impl FnOnce(C) -> Result<u8, E>,
    report: Option<impl FnOnce(&[OsString], Ending<'_, E>)>,
) -> ExitCode {
    crate::stdio::set_tool_name(name);
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match C::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            // Printing can fail on a closed stream; the exit code still tells.
            let _ = error.print();
            if !error.use_stderr() {
                return ExitCode::from(SUCCESS);
            }
            if let Some(report) = report {
                let text = error.to_string();
                let first = text.lines().next().unwrap_or_default();
                report(
                    &args,
                    Ending::Usage(first.strip_prefix("error: ").unwrap_or(first)),
                );
            }
            return ExitCode::from(usage_code);
        }
    };
    let Some(report) = report else {
        return finish(run(cli));
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || run(cli))) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(error)) => {
            crate::say!("{error}");
            report(&args, Ending::Error(&error));
            ExitCode::from(error.exit_code())
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            report(&args, Ending::Panic(&message));
            ExitCode::from(usage_code)
        }
    }
}

fn finish<E: Failure>(outcome: Result<u8, E>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            crate::say!("{error}");
            ExitCode::from(error.exit_code())
        }
    }
}
