//! SIGINT and SIGTERM as a request to stop at the next safe point, not a kill: a tool that
//! changes nodes step by step must not die between two steps with settings lowered and half
//! the nodes configured. [`install`] turns both signals into a flag; long work calls
//! [`check`] at its safe points (between stages, inside every wait) and, when it says stop,
//! undoes what it lowered, says where it stopped and exits with [`Interrupted::exit_code`]
//! (128 + the signal's number, as a shell reports a process killed by it: 130 for SIGINT, 143
//! for SIGTERM). A second signal while the first is being handled ends the process at once
//! with that code, for the operator who really means it.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The signals handled.
pub const SIGNALS: [i32; 2] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];

/// How often a wait looks at the flag: short enough that Ctrl-C feels immediate.
pub const POLL: Duration = Duration::from_millis(50);

struct Flags {
    raised: Arc<AtomicBool>,
    signal: Arc<AtomicI32>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Why work stopped early: the signal that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted {
    pub signal: i32,
}

impl Interrupted {
    /// `SIGINT`, `SIGTERM`.
    pub fn name(&self) -> &'static str {
        match self.signal {
            signal_hook::consts::SIGINT => "SIGINT",
            signal_hook::consts::SIGTERM => "SIGTERM",
            _ => "a signal",
        }
    }

    /// 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(crate::FAILED)
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.name())
    }
}

impl std::error::Error for Interrupted {}

/// Turns SIGINT and SIGTERM into the flag [`check`] reads. Call once, early in `main`; later
/// calls do nothing. Without it the signals keep their default action (the process dies).
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        raised: Arc::new(AtomicBool::new(false)),
        signal: Arc::new(AtomicI32::new(0)),
    };
    for signal in SIGNALS {
        // Registered first, so it sees the flag as it was before this signal: set only by an
        // earlier one.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            128 + signal,
            flags.raised.clone(),
        )?;
        let which = flags.signal.clone();
        let raised = flags.raised.clone();
        // SAFETY: the action only stores into atomics, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, move || {
                which.store(signal, Ordering::SeqCst);
                raised.store(true, Ordering::SeqCst);
            })?;
        }
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// `Err` once SIGINT or SIGTERM has arrived (after [`install`]).
pub fn check() -> Result<(), Interrupted> {
    match FLAGS.get() {
        Some(flags) if flags.raised.load(Ordering::SeqCst) => Err(Interrupted {
            signal: flags.signal.load(Ordering::SeqCst),
        }),
        _ => Ok(()),
    }
}

/// Sleeps until `until`, waking early (with `Err`) when a signal arrives.
pub fn sleep_until(until: Instant) -> Result<(), Interrupted> {
    loop {
        check()?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The one test that raises a signal in this process: after install, SIGTERM sets the flag
    // instead of killing the test binary, and a sleep notices it at once.
    #[test]
    fn a_signal_after_install_is_a_flag_that_ends_sleeps() {
        assert_eq!(check(), Ok(()));
        install().unwrap();
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        let started = Instant::now();
        let outcome = sleep_until(Instant::now() + Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(1));
        let interrupted = outcome.unwrap_err();
        assert_eq!(interrupted.name(), "SIGTERM");
        assert_eq!(interrupted.exit_code(), 143);
        assert_eq!(interrupted.to_string(), "interrupted by SIGTERM");
    }
}
