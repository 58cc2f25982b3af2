//! Refusing replayed advertisements. CARP signs a 64-bit counter with every advert, but not
//! the IP source, the advbase or the advskew, and FreeBSD and ucarp never check the counter:
//! an advert captured on the link and sent again later is obeyed, from any source and with
//! its advbase and advskew edited at will. It can hold a backup in BACKUP after the master
//! died, unseat a live master, or make a backup take the VIP with a made-up bow-out.
//!
//! The rule kept here, one guard per vhid: the counters the group uses form one sequence.
//! Every node counts up by one per advert and adopts the counter it hears (FreeBSD and ucarp
//! always, carpctl when it is higher), so the group's counters grow while its nodes live, and
//! the engine's own adverts belong to the sequence too. The counters seen are kept as runs. An
//! advert whose counter lies inside a run (a value used before, or one the group has moved
//! past) is a replay and refused, whatever source it names and whatever advbase and advskew
//! it carries: the source is not signed, so telling replays apart by source let a new source
//! start a run of its own. Any other counter is accepted: just after a run it extends that
//! run; far from every run it is a node started afresh with a random counter and begins a run
//! of its own.
//!
//! Memory is bounded: a few runs, the one extended least recently forgotten first. There is
//! no per-sender memory for spoofed senders to flush. Only authenticated adverts reach this
//! check, and a counter outside every run can only come from adverts signed before the engine
//! started, so a forger can neither pass the check nor fill the memory.

/// Runs remembered: each node that starts afresh (or a far jump of the counter) begins one.
pub const RUNS: usize = 16;
/// The largest forward step that still extends a run. Steps come from adverts of other nodes
/// a sender adopted, or lost ones: 2^32 is over a century of adverts at one per second,
/// while a fresh random 64-bit counter lands that close to a run with a chance of 2^-31.
pub const MAX_STEP: u64 = 1 << 32;

/// Counters `first..=last` the group has used, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: u64,
    last: u64,
}

impl Run {
    fn contains(self, counter: u64) -> bool {
        (self.first..=self.last).contains(&counter)
    }

    /// Whether `counter` continues this run.
    fn extended_by(self, counter: u64) -> bool {
        counter > self.last && counter - self.last <= MAX_STEP
    }
}

/// What [`ReplayGuard::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The counter continues a run.
    Accepted,
    /// A counter far from every run (or the first one): a node started afresh, accepted as
    /// a new run.
    NewRun,
    /// Inside a run the group has already used: refused.
    Replayed,
}

/// The counters a vhid's group has used so far.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    /// Extended least recently first, so the stalest run is the one forgotten.
    runs: Vec<Run>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the counter of an authenticated advert, whoever seems to send it, and
    /// remembers it if accepted.
    pub fn check(&mut self, counter: u64) -> Verdict {
        if self.runs.iter().any(|r| r.contains(counter)) {
            return Verdict::Replayed;
        }
        // Of the runs the counter could continue, the nearest: the others it leaves alone.
        let continued = self
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.extended_by(counter))
            .max_by_key(|(_, r)| r.last)
            .map(|(i, _)| i);
        let (run, verdict) = match continued {
            Some(i) => {
                let mut run = self.runs.remove(i);
                run.last = counter;
                (run, Verdict::Accepted)
            }
            None => {
                if self.runs.len() == RUNS {
                    self.runs.remove(0);
                }
                let run = Run {
                    first: counter,
                    last: counter,
                };
                (run, Verdict::NewRun)
            }
        };
        self.runs.push(run);
        verdict
    }

    /// Remembers the counter of an advert this engine sent: it is the group's as much as a
    /// peer's, and the engine's own adverts sent back to it in another node's name are
    /// replays. It never lies inside a run (the engine counts on from the highest counter it
    /// accepted), so the verdict says nothing.
    pub fn sent(&mut self, counter: u64) {
        self.check(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counting_group_is_accepted_and_every_earlier_value_refused() {
        let mut g = ReplayGuard::new();
        assert_eq!(g.check(1000), Verdict::NewRun);
        for c in 1001..1010 {
            assert_eq!(g.check(c), Verdict::Accepted, "{c}");
        }
        for c in [1000, 1005, 1009] {
            assert_eq!(g.check(c), Verdict::Replayed, "used before: {c}");
        }
        // Lost adverts leave a gap; the values in it were passed over and are refused too.
        assert_eq!(g.check(1020), Verdict::Accepted);
        assert_eq!(g.check(1015), Verdict::Replayed);
    }

    #[test]
    fn a_node_started_afresh_is_accepted_and_the_old_run_stays_refused() {
        let mut g = ReplayGuard::new();
        for c in 5_000_000..5_000_010 {
            g.check(c);
        }
        // A restart: a random counter below the old run, then counting from there.
        assert_eq!(g.check(77), Verdict::NewRun);
        assert_eq!(g.check(78), Verdict::Accepted);
        // A replay of the old run, above the current counter, is still refused.
        assert_eq!(g.check(5_000_003), Verdict::Replayed);
        assert_eq!(g.check(77), Verdict::Replayed);
        // A restart to a counter far above the old run begins a run of its own.
        assert_eq!(g.check(u64::MAX - 5), Verdict::NewRun);
        assert_eq!(g.check(u64::MAX - 4), Verdict::Accepted);
        assert_eq!(g.check(78), Verdict::Replayed);
    }

    #[test]
    fn a_far_jump_forward_does_not_swallow_the_counter_space() {
        // Adopting the counter of a node started afresh moves the group far ahead; the span
        // jumped over must stay open for a later restart that lands in it.
        let mut g = ReplayGuard::new();
        g.check(10);
        assert_eq!(g.check(10 + MAX_STEP + 1), Verdict::NewRun);
        assert_eq!(g.check(1 << 40), Verdict::NewRun);
        assert_eq!(g.check(11), Verdict::Accepted, "continues the first run");
    }

    #[test]
    fn a_counter_continues_the_nearest_run_below_it_and_leaves_the_others_open() {
        // Two masters at once (a healed partition) count in runs of their own, far apart,
        // until one adopts the other's counter; each advert extends its own run.
        let (a, b) = (1000, 1000 + 4 * MAX_STEP);
        let mut g = ReplayGuard::new();
        g.check(a);
        g.check(b);
        assert_eq!(g.check(b + 1), Verdict::Accepted);
        assert_eq!(g.check(a + 1), Verdict::Accepted, "the lower run is open");
        assert_eq!(g.runs.len(), 2);
        for used in [a, a + 1, b, b + 1] {
            assert_eq!(g.check(used), Verdict::Replayed, "{used}");
        }
    }

    #[test]
    fn the_engines_own_counters_are_part_of_the_sequence() {
        // Its own adverts sent back to a master in another node's name would make it yield
        // on a tie: they are replays.
        let mut g = ReplayGuard::new();
        g.check(40);
        for c in 41..45 {
            g.sent(c);
        }
        for c in 40..45 {
            assert_eq!(g.check(c), Verdict::Replayed, "{c}");
        }
        // A peer that adopted the last of them counts on.
        assert_eq!(g.check(45), Verdict::Accepted);
    }

    #[test]
    fn memory_is_bounded_and_the_live_run_is_never_the_one_forgotten() {
        let mut g = ReplayGuard::new();
        g.check(7);
        // Runs begun by restarts (each far from the others), the live one extended between.
        for run in 1..=RUNS as u64 {
            assert_eq!(g.check(run << 40), Verdict::NewRun);
            assert_eq!(g.check(7 + run), Verdict::Accepted, "the live run goes on");
        }
        assert_eq!(g.runs.len(), RUNS);
        assert_eq!(g.check(10), Verdict::Replayed, "the live run is kept");
        assert_eq!(g.check(3 << 40), Verdict::Replayed, "so are the later ones");
        assert_eq!(
            g.check(1 << 40),
            Verdict::NewRun,
            "the stalest run was forgotten"
        );
    }
}
