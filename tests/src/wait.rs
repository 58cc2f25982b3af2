//! The one bounded wait of the tests. Clusters, firewalls and CARP engines settle in their own
//! time, so tests poll; every poll has a deadline, and on expiry the panic names what was
//! awaited (and the last answer, when the condition gives one), never just "timed out".

use std::fmt::Display;
use std::time::{Duration, Instant};

/// What a polled condition answers: `true`/`false`, `Some(value)`/`None`, or `Ok(value)` /
/// `Err(why not yet)`, whose last `why` the expiry message quotes.
pub trait Poll {
    type Value;
    /// The value once the condition holds, else what to say about the latest attempt.
    fn ready(self) -> Result<Self::Value, Option<String>>;
}

impl Poll for bool {
    type Value = ();
    fn ready(self) -> Result<(), Option<String>> {
        if self {
            Ok(())
        } else {
            Err(None)
        }
    }
}

impl<T> Poll for Option<T> {
    type Value = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Display> Poll for Result<T, E> {
    type Value = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

/// Asks `condition` every `poll` until it holds and returns its value; panics after `timeout`
/// with "waited TIMEOUT for WHAT" and the condition's last answer. The condition is always
/// asked at least once, and once more at the deadline.
pub fn wait_until<P: Poll>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut condition: impl FnMut() -> P,
) -> P::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match condition().ready() {
            Ok(value) => return value,
            Err(last) => last,
        };
        let now = Instant::now();
        if now >= deadline {
            match last {
                Some(last) => panic!("waited {timeout:?} for {what}; last answer: {last}"),
                None => panic!("waited {timeout:?} for {what}"),
            }
        }
        std::thread::sleep(poll.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn returns_the_value_once_the_condition_holds() {
        let mut calls = 0;
        let value = wait_until("the third call", Duration::from_secs(5), MS, || {
            calls += 1;
            (calls == 3).then_some(calls * 10)
        });
        assert_eq!(value, 30);
    }

    #[test]
    fn a_bool_condition_returns_unit() {
        wait_until("true", Duration::ZERO, MS, || true);
    }

    #[test]
    #[should_panic(expected = "waited 20ms for the moon")]
    fn expiry_names_what_was_awaited() {
        wait_until("the moon", 20 * MS, MS, || false);
    }

    #[test]
    #[should_panic(expected = "last answer: still 7 keys")]
    fn expiry_quotes_the_last_answer() {
        wait_until("an empty node", 20 * MS, MS, || {
            Err::<(), _>("still 7 keys")
        });
    }

    #[test]
    fn the_wait_is_bounded_by_the_timeout_not_the_poll() {
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| {
            wait_until("nothing", 50 * MS, Duration::from_secs(10), || false);
        });
        assert!(result.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
