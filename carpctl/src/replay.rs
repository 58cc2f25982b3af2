//! Refusing replayed advertisements. CARP signs a 64-bit counter with every advert, but
//! FreeBSD and ucarp never check it, so an advert captured on the link and sent again later is
//! obeyed: it can hold a backup in BACKUP after the master died, or make it take the VIP with
//! a replayed bow-out.
//!
//! The rule kept here, per sender: the counters accepted from it form runs (a sender counts up
//! by one per advert, and FreeBSD and ucarp nodes adopt the counter of the adverts they hear, so
//! a sender's counters grow while it lives). An advert whose counter falls inside a run already
//! seen from that sender (a value seen before, or one the sender has moved past) is a replay
//! and refused. Any other counter is accepted: just after the current run it extends it; far
//! from every run it is a restarted sender with a fresh random counter and starts a run of its
//! own. Memory is bounded: a few runs per sender, a few senders, the oldest forgotten first.
//!
//! Only adverts whose HMAC verified reach this check, so a forger cannot fill the memory.

use std::net::IpAddr;

/// Runs remembered per sender: each restart (or far jump) of a sender starts one.
pub const RUNS_PER_SOURCE: usize = 8;
/// Senders remembered; the one heard least recently is forgotten first.
pub const SOURCES: usize = 16;
/// The largest forward step that still extends a run. Steps come from adverts of other nodes
/// the sender adopted, or lost ones: 2^32 is over a century of adverts at one per second,
/// while a fresh random 64-bit counter lands that close to a run with a chance of 2^-31.
pub const MAX_STEP: u64 = 1 << 32;

/// Counters `first..=last` accepted from one sender, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: u64,
    last: u64,
}

impl Run {
    fn contains(self, counter: u64) -> bool {
        (self.first..=self.last).contains(&counter)
    }
}

#[derive(Debug, Clone)]
struct Source {
    addr: IpAddr,
    /// Oldest first; the last one is the current run.
    runs: Vec<Run>,
}

/// What [`ReplayGuard::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The counter extends the sender's current run.
    Accepted,
    /// A counter far from every run seen from this sender (or the first from it): a
    /// restarted sender, accepted as a new run.
    NewRun,
    /// Inside a run already seen from this sender: refused.
    Replayed,
}

/// The counters accepted so far, per sender. Most recently heard sender last.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    sources: Vec<Source>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the counter of an authenticated advert from `src` and remembers it if accepted.
    pub fn check(&mut self, src: IpAddr, counter: u64) -> Verdict {
        let index = match self.sources.iter().position(|s| s.addr == src) {
            Some(i) => i,
            None => {
                if self.sources.len() == SOURCES {
                    self.sources.remove(0);
                }
                self.sources.push(Source {
                    addr: src,
                    runs: Vec::new(),
                });
                self.sources.len() - 1
            }
        };
        let source = &mut self.sources[index];
        if source.runs.iter().any(|r| r.contains(counter)) {
            return Verdict::Replayed;
        }
        let verdict = match source.runs.last_mut() {
            Some(run) if counter > run.last && counter - run.last <= MAX_STEP => {
                run.last = counter;
                Verdict::Accepted
            }
            _ => {
                if source.runs.len() == RUNS_PER_SOURCE {
                    source.runs.remove(0);
                }
                source.runs.push(Run {
                    first: counter,
                    last: counter,
                });
                Verdict::NewRun
            }
        };
        // Most recently heard last, so the stalest sender is the one forgotten.
        let source = self.sources.remove(index);
        self.sources.push(source);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_counting_sender_is_accepted_and_every_earlier_value_refused() {
        let mut g = ReplayGuard::new();
        assert_eq!(g.check(A, 1000), Verdict::NewRun);
        for c in 1001..1010 {
            assert_eq!(g.check(A, c), Verdict::Accepted, "{c}");
        }
        for c in [1000, 1005, 1009] {
            assert_eq!(g.check(A, c), Verdict::Replayed, "seen before: {c}");
        }
        // Lost adverts leave a gap; the values in it were passed over and are refused too.
        assert_eq!(g.check(A, 1020), Verdict::Accepted);
        assert_eq!(g.check(A, 1015), Verdict::Replayed);
    }

    #[test]
    fn a_restarted_sender_with_a_fresh_counter_is_accepted_and_its_old_run_stays_refused() {
        let mut g = ReplayGuard::new();
        for c in 5_000_000..5_000_010 {
            g.check(A, c);
        }
        // Restart: a random counter below the old run, then counting from there.
        assert_eq!(g.check(A, 77), Verdict::NewRun);
        assert_eq!(g.check(A, 78), Verdict::Accepted);
        // A replay of the old run, above the current counter, is still refused.
        assert_eq!(g.check(A, 5_000_003), Verdict::Replayed);
        assert_eq!(g.check(A, 77), Verdict::Replayed);
        // A restart to a counter far above the old run starts a run of its own.
        assert_eq!(g.check(A, u64::MAX - 5), Verdict::NewRun);
        assert_eq!(g.check(A, u64::MAX - 4), Verdict::Accepted);
        assert_eq!(g.check(A, 78), Verdict::Replayed);
    }

    #[test]
    fn a_far_jump_forward_does_not_swallow_the_counter_space() {
        // Adopting the counter of a restarted third node moves a sender far ahead; the span
        // jumped over must stay open for a later restart that lands in it.
        let mut g = ReplayGuard::new();
        g.check(A, 10);
        assert_eq!(g.check(A, 10 + MAX_STEP + 1), Verdict::NewRun);
        assert_eq!(g.check(A, 1 << 40), Verdict::NewRun);
        assert_eq!(g.check(A, 11), Verdict::NewRun, "never seen from A");
    }

    #[test]
    fn senders_are_kept_apart() {
        let mut g = ReplayGuard::new();
        g.check(A, 50);
        assert_eq!(g.check(B, 50), Verdict::NewRun, "B's 50 is not A's");
        assert_eq!(g.check(A, 50), Verdict::Replayed);
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest_first() {
        let mut g = ReplayGuard::new();
        for run in 0..RUNS_PER_SOURCE as u64 + 1 {
            assert_eq!(g.check(A, run << 40), Verdict::NewRun);
        }
        assert_eq!(g.sources[0].runs.len(), RUNS_PER_SOURCE);
        assert_eq!(
            g.check(A, 0),
            Verdict::NewRun,
            "the oldest run was forgotten"
        );
        assert_eq!(
            g.check(A, 2 << 40),
            Verdict::Replayed,
            "the others are kept"
        );

        let mut g = ReplayGuard::new();
        g.check(A, 7);
        for i in 0..SOURCES as u8 {
            g.check(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)), 7);
            if i == 0 {
                // A is heard again: it is no longer the stalest.
                assert_eq!(g.check(A, 8), Verdict::Accepted);
            }
        }
        assert_eq!(g.sources.len(), SOURCES);
        assert_eq!(g.check(A, 8), Verdict::Replayed, "A was kept");
        assert_eq!(
            g.check(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 7),
            Verdict::NewRun,
            "the stalest sender was forgotten"
        );
    }
}
