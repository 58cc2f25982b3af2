//! The FreeBSD kernel's CARP, read and changed through the base system's tools: `ifconfig` for
//! the vhids and the alias, `sysctl` for the demotion. What they print is parsed by the pure
//! functions of the parent module; here they are only run, so the command line stays free of
//! processes and the parsing stays testable on any OS.

use std::path::Path;

use super::{Alias, KernelCarp, DEMOTION_SYSCTL};
use crate::control::Request;
use crate::error::Error;
use crate::statedir;

/// Where `demote` on FreeBSD records, in the state directory, what it added to the kernel's
/// demotion.
const DEMOTION_RECORD: &str = "freebsd-demotion";

/// The kernel's CARP vhids (every one, or only `vhid`), each with the system-wide demotion.
pub fn status(vhid: Option<u8>) -> Result<Vec<KernelCarp>, Error> {
    let text = command_output("ifconfig", &[])?;
    let demotion = super::parse_sysctl_int(&command_output("sysctl", &["-n", DEMOTION_SYSCTL])?)?;
    Ok(super::parse_ifconfig(&text)?
        .into_iter()
        .filter(|k| vhid.is_none_or(|v| v == k.vhid))
        .map(|k| k.with_demotion(demotion))
        .collect())
}

/// What [`change_demotion`] did to the kernel's demotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemotionChange {
    /// carpctl's share of the kernel's demotion now.
    pub share: u8,
    /// What was added to the kernel's counter (0: it was left alone).
    pub step: i32,
}

/// Adds to or takes back from the kernel's demotion what `request` asks, counting only what
/// carpctl added before (kept in `state_dir`), and records the new share there.
pub fn change_demotion(state_dir: &Path, request: Request) -> Result<DemotionChange, Error> {
    let record = state_dir.join(DEMOTION_RECORD);
    let ours = match std::fs::read_to_string(&record) {
        Ok(text) => text.trim().parse::<u8>().map_err(|_| Error::Invalid {
            field: "demotion record",
            value: record.display().to_string(),
            fix: format!(
                "it should hold the demotion carpctl added (0 to 240), not '{}'; check `sysctl {}` and fix or remove it",
                text.trim(),
                DEMOTION_SYSCTL
            ),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Error::io(format!("cannot read '{}'", record.display()), e)),
    };
    let (share, step) = super::demotion_step(ours, request);
    if step != 0 {
        let args = super::sysctl_step_args(step);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        command_output("sysctl", &args)?;
        statedir::replace(state_dir, DEMOTION_RECORD, format!("{share}\n").as_bytes()).map_err(
            |e| {
                Error::io(
                    format!(
                        "added {step} to {DEMOTION_SYSCTL} but cannot record it in '{}'",
                        record.display()
                    ),
                    e,
                )
            },
        )?;
    }
    Ok(DemotionChange { share, step })
}

/// Adds `alias` live with `ifconfig`, signed with `password` (empty for VRRPv3, which has
/// none). ifconfig's own message is on stderr already; the error only names the command.
pub fn add_alias(alias: &Alias, password: &str) -> Result<(), Error> {
    let status = std::process::Command::new("ifconfig")
        .args(alias.ifconfig_args(password))
        .status()
        .map_err(|e| Error::io("cannot run ifconfig", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::io(
            format!(
                "ifconfig {} ... alias {} failed ({status})",
                alias.interface, alias.vip
            ),
            std::io::Error::other("see its message above"),
        ))
    }
}

/// Runs a FreeBSD command and returns its stdout; a failure names the command.
fn command_output(program: &str, args: &[&str]) -> Result<String, Error> {
    let shown = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("cannot run '{shown}'"), e))?;
    if !out.status.success() {
        return Err(Error::io(
            format!("'{shown}' failed ({})", out.status),
            std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
