//! The diagnostics of the long-running engine: each line on stderr carries an RFC 3339 UTC
//! timestamp and a level, so an operator can line it up with the peer's log and with tcpdump;
//! with `--syslog` the lines go to the local syslog socket instead (facility daemon), which
//! stamps them itself. One-shot commands keep plain `carpctl: ...` messages.

use std::fmt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::output;

/// How serious a line is; the syslog severity it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        }
    }

    /// The syslog priority: facility daemon (3) times 8 plus the severity.
    fn priority(self) -> u8 {
        3 * 8
            + match self {
                Level::Error => 3,
                Level::Warning => 4,
                Level::Info => 6,
            }
    }
}

static SYSLOG: OnceLock<UnixDatagram> = OnceLock::new();

/// Sends every later line to the syslog socket at `path` (usually /dev/log).
pub fn to_syslog(path: &Path) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    let _ = SYSLOG.set(socket);
    Ok(())
}

/// One stderr line: `2026-11-25T02:35:24.455Z warning carpctl[21063]: vhid 7: ...`.
pub fn stderr_line(time: SystemTime, level: Level, message: &str) -> String {
    format!(
        "{} {} carpctl[{}]: {message}",
        output::rfc3339(time),
        level.name(),
        std::process::id()
    )
}

/// One syslog datagram (RFC 3164 without the timestamp, which the daemon adds).
pub fn syslog_datagram(level: Level, message: &str) -> String {
    format!(
        "<{}>carpctl[{}]: {message}",
        level.priority(),
        std::process::id()
    )
}

/// Writes one line at `level`. Syslog that stopped listening falls back to stderr.
pub fn write(level: Level, message: fmt::Arguments<'_>) {
    let message = message.to_string();
    if let Some(socket) = SYSLOG.get() {
        if socket
            .send(syslog_datagram(level, &message).as_bytes())
            .is_ok()
        {
            return;
        }
    }
    eprintln!("{}", stderr_line(SystemTime::now(), level, &message));
}

#[cfg_attr(not(target_os = "linux"), allow(unused_macros))] // only the engine logs
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
#[cfg_attr(not(target_os = "linux"), allow(unused_macros))] // only the engine logs
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warning, format_args!($($arg)*)) };
}
#[cfg_attr(not(target_os = "linux"), allow(unused_macros))] // only the engine logs
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
#[allow(unused_imports)] // only the Linux engine logs
pub(crate) use {error, info, warning};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn lines_carry_time_level_and_pid() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_487_400_123);
        assert_eq!(
            stderr_line(at, Level::Warning, "vhid 7: x"),
            format!(
                "2026-11-24T02:30:00.123Z warning carpctl[{}]: vhid 7: x",
                std::process::id()
            )
        );
        assert_eq!(
            syslog_datagram(Level::Info, "hello"),
            format!("<30>carpctl[{}]: hello", std::process::id())
        );
        assert!(syslog_datagram(Level::Error, "e").starts_with("<27>"));
    }

    #[test]
    fn syslog_lines_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        to_syslog(&path).unwrap();
        warning!("vhid {}: test line", 3);
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<28>carpctl[{}]: vhid 3: test line", std::process::id())
        );
    }
}
