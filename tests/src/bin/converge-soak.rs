//! Runs as many random fault histories of `converge` as asked (`testkit::history`) and sums
//! them up in one table, so a change to converge can be soaked far beyond the test suite's
//! few fixed seeds. `scripts/soak/converge` builds and runs it; the usage says the flags.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::history::{run_history, HistoryOutcome, HistorySettings, Script};

const USAGE: &str =
    "usage: converge-soak [--histories N] [--seed S] [--events E] [--keys K] [--issue-17] --tool PATH

Runs N random fault histories (default 1) of E events each (default 6) against the
redis-cluster-create binary PATH, after preloading K keys (default 20000). History i has
seed S+i; without --seed, S comes from the clock. With --issue-17 each history is issue 17's
fixed five-step history instead (add a host, lose one, a manual failover, a half-migrated slot,
the lost host back under a converge SIGKILLed after 1.5 s). Prints a table on stdout and every
failure with the command that replays it; exits 1 when any history failed.";

/// What the command line asks for.
struct Settings {
    histories: u64,
    first_seed: u64,
    events: usize,
    keys: usize,
    tool: PathBuf,
    script: Script,
}

fn parse(args: &[String]) -> Result<Settings, String> {
    let mut histories = 1;
    let mut first_seed = None;
    let mut events = 6;
    let mut keys = 20_000;
    let mut tool = None;
    let mut script = Script::Random;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: &String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: '{text}' is not a number"))
        };
        match flag.as_str() {
            "--histories" => histories = number(value()?)?,
            "--seed" => first_seed = Some(number(value()?)?),
            "--events" => events = usize::try_from(number(value()?)?).map_err(|e| e.to_string())?,
            "--keys" => keys = usize::try_from(number(value()?)?).map_err(|e| e.to_string())?,
            "--tool" => tool = Some(PathBuf::from(value()?)),
            "--issue-17" => script = Script::Issue17,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let first_seed = first_seed.unwrap_or_else(|| {
        // Seeds from the clock stay small enough to type back.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() % 1_000_000)
    });
    Ok(Settings {
        histories,
        first_seed,
        events,
        keys,
        tool: tool.ok_or("--tool PATH is needed")?,
        script,
    })
}

fn minutes(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!("{}m{:02}s", secs / 60, secs % 60)
}

/// The summary table and the failures, as printed on stdout.
fn table(outcomes: &[HistoryOutcome], elapsed: Duration) -> String {
    let events: usize = outcomes.iter().map(|o| o.trail.len()).sum();
    let converges: usize = outcomes.iter().map(|o| o.converges).sum();
    let failed: Vec<&HistoryOutcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    let lost: u64 = outcomes.iter().map(|o| o.keys_lost).sum();
    let dropped: usize = outcomes.iter().map(HistoryOutcome::dropped_by_redis).sum();
    let mut text = format!(
        "{:>9}  {:>6}  {:>9}  {:>8}  {:>9}  {:>16}  {:>8}\n\
         {:>9}  {:>6}  {:>9}  {:>8}  {:>9}  {:>16}  {:>8}\n",
        "histories",
        "events",
        "converges",
        "failures",
        "keys lost",
        "dropped by Redis",
        "time",
        outcomes.len(),
        events,
        converges,
        failed.len(),
        lost,
        dropped,
        minutes(elapsed)
    );
    if dropped > 0 {
        text.push_str(
            "(dropped by Redis: acknowledged keys no live node held after an event's setup, \
             before its converge ran; see each history's trail)\n",
        );
    }
    if !failed.is_empty() {
        text.push_str("\nfailures:\n");
    }
    for outcome in failed {
        let event = outcome.trail.last().map_or("setup", |r| r.event.as_str());
        text.push_str(&format!(
            "  seed {} event #{} ({event}): {}\n    replay: {}\n",
            outcome.seed,
            outcome.trail.len(),
            outcome.failure.as_deref().unwrap_or_default(),
            outcome.replay_command()
        ));
    }
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match parse(&args) {
        Ok(settings) => settings,
        Err(why) if why.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("converge-soak: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for i in 0..settings.histories {
        let outcome = run_history(&HistorySettings {
            seed: settings.first_seed + i,
            events: settings.events,
            preload: settings.keys,
            tool: settings.tool.clone(),
            script: settings.script,
        });
        // The whole report of every history, the failing converges' stderr included, for
        // whoever has to fix what failed.
        eprintln!("{outcome}");
        outcomes.push(outcome);
    }
    print!("{}", table(&outcomes, started.elapsed()));
    if outcomes.iter().any(|o| o.failure.is_some()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
