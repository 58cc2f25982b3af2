//! Moving slots with the server's atomic slot migration (`redis_cluster::migration`): one job
//! per source→target pair carries every slot of the move, the server copies the keys and hands
//! the slots over in one step, and clients meanwhile see neither ASK nor TRYAGAIN. The job is
//! followed on its driver (the source on Valkey, the target on Redis) until it ends, within the
//! run's deadline; a signal or the deadline cancels it and waits until the server says it is
//! cancelled, so no slot is left half-owned (a cancelled or failed job leaves every slot with
//! its source; a failed job is planned again). A job a killed run left running is waited out before anything is planned
//! ([`running`]), and one met while starting (`I am already migrating slot …`) likewise.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis_cluster::migration::{self, Atomic, Cancel, Job, JobState};
use redis_cluster::slots::{format_ranges, ranges_of};
use redis_cluster::{
    admin, ConnectOptions, Connection, Deadline, ErrorKind, Failure, NodeAddr, Server, SlotRange,
    Survey,
};

use super::layout::Layout;
use super::migrate::{End, Link, MoveError};

/// How often a job's driver is asked how it stands.
const POLL: Duration = Duration::from_millis(50);
/// How long a node's view of the other end may lag before the move goes back to the planner.
const LAG_BOUND: Duration = Duration::from_secs(10);
/// How often a cancellation is asked again while a job hands its slots over.
const HANDOVER_POLL: Duration = Duration::from_millis(5);
/// How long a cancellation may take to be confirmed; not cut short by the signal that asked
/// for it.
const CANCEL_BOUND: Duration = Duration::from_secs(10);

/// Moves `slots` from `from` to `to` in one atomic migration job of kind `kind`.
pub fn move_slots(
    kind: Atomic,
    from: &End,
    to: &End,
    slots: &[u16],
    link: &Link,
) -> Result<(), MoveError> {
    let ranges = ranges_of(slots.iter().copied());
    let driver_addr = kind.driver(from.addr, to.addr);
    let failed = |failure| MoveError::Failed {
        node: driver_addr,
        failure,
    };
    let keys: u64 = Connection::open(from.addr, link.options, link.deadline)
        .and_then(|mut c| admin::count_keys_in_slots(&mut c, slots))
        .map_err(|failure| MoveError::Failed {
            node: from.addr,
            failure,
        })?
        .iter()
        .sum();
    let mut driver = Connection::open(driver_addr, link.options, link.deadline).map_err(failed)?;
    let id = start(&mut driver, kind, &ranges, from, to, link)?;
    let what = format!(
        "atomic migration of slots {} from {} to {}",
        format_ranges(&ranges),
        from.addr,
        to.addr
    );
    loop {
        let job = find(&mut driver, kind, &id).map_err(failed)?;
        match job.map(|j| (j.state, j.message)) {
            Some((JobState::Succeeded, _)) => break,
            // The slots stayed with the source; Valkey does not retry, a new plan does (a
            // failover just before can fail the handshake while views settle).
            Some((JobState::Failed, message)) => {
                return Err(MoveError::Stale(format!(
                    "{what} failed: {}",
                    if message.is_empty() {
                        "no reason given"
                    } else {
                        &message
                    }
                )))
            }
            Some((JobState::Cancelled, _)) => {
                return Err(MoveError::Stale(format!(
                    "{what} was cancelled by someone else"
                )))
            }
            Some((JobState::Running(_), _)) => {}
            None => {
                return Err(failed(Failure::Protocol(format!(
                    "{what}: job {id} is no longer listed by {driver_addr}"
                ))))
            }
        }
        let stop = match link.deadline.sleep_until(Instant::now() + POLL) {
            Err(signal) => Some(Failure::Interrupted(signal)),
            Ok(()) if link.deadline.passed() => Some(Failure::NoReply {
                bound: link.deadline.bound(),
            }),
            Ok(()) => None,
        };
        if let Some(why) = stop {
            cancel(driver_addr, kind, &id, link.options).map_err(|f| {
                failed(Failure::Protocol(format!(
                    "{what} was stopped ({why}) but its cancellation was not confirmed: {f}"
                )))
            })?;
            return Err(failed(why));
        }
    }
    link.counters
        .slots
        .fetch_add(slots.len(), Ordering::Relaxed);
    link.counters.keys.fetch_add(keys, Ordering::Relaxed);
    Ok(())
}

/// Starts the job and returns its id. A node whose view of the other lags is asked again
/// within [`LAG_BOUND`]; slots no longer all on the source make the plan stale; a job of an
/// earlier run still moving some of them is waited out, then the plan is made again.
fn start(
    driver: &mut Connection,
    kind: Atomic,
    ranges: &[SlotRange],
    from: &End,
    to: &End,
    link: &Link,
) -> Result<String, MoveError> {
    let driver_addr = kind.driver(from.addr, to.addr);
    let failed = |failure| MoveError::Failed {
        node: driver_addr,
        failure,
    };
    let lag_until = Instant::now() + LAG_BOUND;
    loop {
        let before: Vec<String> = migration::jobs(driver, kind)
            .map_err(failed)?
            .into_iter()
            .map(|j| j.id)
            .collect();
        match migration::start(driver, kind, ranges, &to.id) {
            Ok(Some(id)) => return Ok(id),
            Ok(None) => {
                let listed = migration::jobs(driver, kind).map_err(failed)?;
                return listed
                    .into_iter()
                    .find(|j| !before.contains(&j.id) && j.target == to.id && j.ranges == ranges)
                    .map(|j| j.id)
                    .ok_or_else(|| {
                        failed(Failure::Protocol(format!(
                            "the migration job of slots {} to {} is not listed",
                            format_ranges(ranges),
                            to.addr
                        )))
                    });
            }
            Err(f) => match f.kind() {
                Some(ErrorKind::ManualMigration) => return Err(MoveError::NotAtomic),
                Some(ErrorKind::SlotsElsewhere) => {
                    return Err(MoveError::Stale(format!(
                        "{}: some of slots {} are no longer served by it",
                        from.addr,
                        format_ranges(ranges)
                    )))
                }
                Some(ErrorKind::AlreadyMigrating { slot }) => {
                    let slot = *slot;
                    wait_out(driver, kind, link).map_err(failed)?;
                    return Err(MoveError::Stale(format!(
                        "{driver_addr} was still moving slot {slot} in a job of an earlier run"
                    )));
                }
                Some(ErrorKind::UnknownNode | ErrorKind::NotAMaster)
                    if Instant::now() < lag_until =>
                {
                    link.deadline
                        .sleep_until(Instant::now() + POLL)
                        .map_err(|s| failed(Failure::Interrupted(s)))?;
                }
                _ => return Err(failed(f)),
            },
        }
    }
}

/// The job `id` of the driver's list, if listed.
fn find(driver: &mut Connection, kind: Atomic, id: &str) -> Result<Option<Job>, Failure> {
    Ok(migration::jobs(driver, kind)?
        .into_iter()
        .find(|j| j.id == id))
}

/// Waits, within the run's deadline, until the driver runs no job.
fn wait_out(driver: &mut Connection, kind: Atomic, link: &Link) -> Result<(), Failure> {
    loop {
        let busy = migration::jobs(driver, kind)?
            .iter()
            .any(|j| !j.state.is_over());
        if !busy {
            return Ok(());
        }
        link.deadline.sleep_until(Instant::now() + POLL)?;
        if link.deadline.passed() {
            return Err(Failure::NoReply {
                bound: link.deadline.bound(),
            });
        }
    }
}

/// Cancels the job and waits until its driver lists it as over, on a connection of its own
/// that the signal which stopped the run does not cut short.
fn cancel(
    driver_addr: NodeAddr,
    kind: Atomic,
    id: &str,
    options: &ConnectOptions,
) -> Result<(), Failure> {
    let deadline = Deadline::after(CANCEL_BOUND).ignoring_signals();
    let mut driver = Connection::open(driver_addr, options, deadline)?;
    // A job handing over is let finish (milliseconds): cancelling it there loses writes.
    while let Cancel::HandingOver(_) = migration::cancel(&mut driver, kind, id)? {
        deadline.sleep_until(Instant::now() + HANDOVER_POLL)?;
        if deadline.passed() {
            return Err(Failure::NoReply {
                bound: deadline.bound(),
            });
        }
    }
    loop {
        match find(&mut driver, kind, id)? {
            Some(job) if !job.state.is_over() => {}
            _ => return Ok(()),
        }
        deadline.sleep_until(Instant::now() + POLL)?;
        if deadline.passed() {
            return Err(Failure::NoReply {
                bound: deadline.bound(),
            });
        }
    }
}

/// The atomic migration both ends of a move have in common, if any.
pub fn common(source: Option<Server>, target: Option<Server>) -> Option<Atomic> {
    let kind = source?.atomic_migration()?;
    (target?.atomic_migration()? == kind).then_some(kind)
}

/// The atomic migration jobs still running on the masters of a survey (left by a run that was
/// killed, or started by someone else), in words naming slots and nodes; each job once, as
/// its driver lists it.
pub fn running(survey: &Survey, layout: &Layout) -> Vec<String> {
    let name = |id: &str| {
        layout
            .by_id(id)
            .map_or_else(|| id.chars().take(8).collect(), |n| n.label())
    };
    survey
        .reached
        .iter()
        .filter_map(|s| {
            let kind = Server::from_info(&s.info)?.atomic_migration()?;
            Some((kind, s.migrations.as_ref().ok()?))
        })
        .flat_map(|(kind, jobs)| {
            jobs.iter()
                .filter(move |j| j.export == (kind == Atomic::Valkey))
                .filter_map(|j| {
                    let JobState::Running(stage) = &j.state else {
                        return None;
                    };
                    Some(format!(
                        "slots {} from {} to {} ({stage})",
                        format_ranges(&j.ranges),
                        name(&j.source),
                        name(&j.target)
                    ))
                })
        })
        .collect()
}
