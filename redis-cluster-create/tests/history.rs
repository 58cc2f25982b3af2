//! The fault-history proof of `converge` (issue 17): a fixed short set of seeded random
//! histories (see `testkit::history`), each a live cluster taken through six day-2 events with
//! a converge after each, a writer throughout, and the checks after each: converge exited 0,
//! the wanted layout, every node agreeing, no acknowledged key lost. Scenario tests start from
//! fresh clusters; these carry the state earlier events and converges left behind.
//!
//! `HISTORY_SEED=S [HISTORY_EVENTS=N]` replays one history instead (what a failure report
//! names); `scripts/soak/converge` runs many.

use std::time::Duration;

use testkit::history::{run_history, HistorySettings, Script};

/// The seeds `make test` runs: three histories of six events fit in a few minutes on two cores.
const FIXED_SEEDS: [u64; 3] = [1, 2, 3];
const EVENTS: usize = 6;
/// Fewer keys than the soak's 20,000, for time: enough that every slot move carries keys.
const PRELOAD: usize = 10_000;

fn from_env(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

#[test]
fn converge_keeps_the_layout_and_every_key_through_random_fault_histories() {
    let seeds = from_env("HISTORY_SEED").map_or(FIXED_SEEDS.to_vec(), |seed| vec![seed]);
    let events = from_env("HISTORY_EVENTS").map_or(EVENTS, |n| {
        usize::try_from(n).expect("HISTORY_EVENTS fits a usize")
    });
    let tool = assert_cmd::cargo::cargo_bin("redis-cluster-create");
    let mut failed = Vec::new();
    let mut total = Duration::ZERO;
    for seed in seeds {
        let outcome = run_history(&HistorySettings {
            seed,
            events,
            preload: PRELOAD,
            tool: tool.clone(),
            script: Script::Random,
        });
        total += outcome.elapsed;
        eprintln!("{outcome}");
        if outcome.failure.is_some() {
            failed.push(outcome.to_string());
        }
    }
    eprintln!("histories took {:.0}s", total.as_secs_f64());
    assert!(
        failed.is_empty(),
        "{} histories failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
