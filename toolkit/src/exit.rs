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
    crate::stdio::set_tool_name(name);
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Printing can fail on a closed stream; the exit code still tells.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                usage_code
            } else {
                SUCCESS
            });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            crate::say!("{error}");
            ExitCode::from(error.exit_code())
        }
    }
}
