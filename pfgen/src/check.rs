//! `--check`: hands the rendered ruleset to the platform's own parser, the only judge that
//! matters, and reports what it says. This is the one place pfgen runs another program.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{Error, Format};

/// The program and arguments that check `format` without loading anything.
pub fn checker(format: Format) -> (&'static str, &'static [&'static str]) {
    match format {
        // -n: parse only; -f -: the ruleset on stdin (pfctl(8)).
        Format::Pf => ("pfctl", &["-nf", "-"]),
        // -c: check only, the kernel's ruleset is not changed (nft(8)).
        Format::Nft => ("nft", &["-c", "-f", "-"]),
    }
}

/// Runs the checker of `format` on `ruleset`; `Err(Rejected)` carries its message.
pub fn check(ruleset: &str, format: Format) -> Result<(), Error> {
    let (tool, args) = checker(format);
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| Error::CheckerMissing { tool, error })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from a thread so a checker that talks before reading all input cannot
    // deadlock us; a checker that stops reading early is judged by its exit status.
    let writer = std::thread::spawn({
        let ruleset = ruleset.to_string();
        move || {
            let _ = stdin.write_all(ruleset.as_bytes());
        }
    });
    let output = child
        .wait_with_output()
        .map_err(|error| Error::CheckerMissing { tool, error })?;
    let _ = writer.join();
    if output.status.success() {
        return Ok(());
    }
    let mut message = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_string();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() {
        message = format!("{}\n{message}", stdout.trim_end());
    }
    if message.is_empty() {
        message = format!("(no message; {})", output.status);
    }
    Err(Error::Rejected {
        command: format!("{tool} {}", args.join(" ")),
        message,
    })
}
