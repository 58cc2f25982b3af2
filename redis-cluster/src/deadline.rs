//! One bound for a whole operation. A timeout applied to each read lets a peer that answers a
//! byte a second, or a pipeline of replies that each arrive just in time, stretch a wait without
//! end; a [`Deadline`] is a point in time fixed when the operation starts, and every connect,
//! write, read and sleep of it gets only what is left. It also remembers the bound it was made
//! from, so that an expiry can be told as "no reply within 2 s". A deadline is cut short by
//! SIGINT or SIGTERM (see `toolkit::interrupt`), except one made for the restore that follows
//! such a signal ([`Deadline::ignoring_signals`]).

use std::time::{Duration, Instant};

use toolkit::interrupt::{self, Interrupted};

/// A point in time by which an operation must be over, and the bound it was set from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    bound: Duration,
    interruptible: bool,
}

impl Deadline {
    /// `bound` from now.
    pub fn after(bound: Duration) -> Deadline {
        let now = Instant::now();
        Deadline {
            at: now.checked_add(bound).unwrap_or(now),
            bound,
            interruptible: true,
        }
    }

    /// The same deadline, not cut short by a signal: for undoing what a run changed after the
    /// signal that stopped it.
    pub fn ignoring_signals(self) -> Deadline {
        Deadline {
            interruptible: false,
            ..self
        }
    }

    /// `Err` when a signal has asked to stop and this deadline heeds signals.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.interruptible {
            interrupt::check()
        } else {
            Ok(())
        }
    }

    /// The bound it was set from, for messages.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// The time left, or `None` once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    pub fn passed(&self) -> bool {
        self.remaining().is_none()
    }

    /// Sleeps until `until` or the deadline, whichever comes first; wakes early on SIGINT or
    /// SIGTERM (see `toolkit::interrupt`).
    pub fn sleep_until(&self, until: Instant) -> Result<(), Interrupted> {
        let until = until.min(self.at);
        if self.interruptible {
            interrupt::sleep_until(until)
        } else {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            Ok(())
        }
    }
}

/// A duration as people read it in a message: "2 s", "0.5 s", "1.25 s".
pub fn seconds(d: Duration) -> String {
    let text = format!("{:.2}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_shrinks_to_none() {
        let d = Deadline::after(Duration::from_millis(50));
        assert!(d.remaining().unwrap() <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert!(d.passed());
        assert_eq!(d.bound(), Duration::from_millis(50));
    }

    #[test]
    fn a_sleep_never_passes_the_deadline() {
        let d = Deadline::after(Duration::from_millis(30));
        let started = Instant::now();
        d.sleep_until(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25 s");
    }
}
