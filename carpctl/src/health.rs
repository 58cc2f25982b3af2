//! Redis health tracking (`carpctl run --track-redis`), the pure part: what the probes of this
//! host's Redis instances add up to. The engine demotes its group by 240 while the host is in
//! fault, so a backup with preempt takes the VIP (and its up-hook promotes the replicas of the
//! masters that died); it lifts the demotion only once the host is ready again.
//!
//! The rules, in keepalived's `track_script` terms with Redis's own notion of a failed node:
//! - an instance that is gone (nothing listens, the connection closes, an error reply) fails a
//!   probe; `fall` failed probes in a row put the host in fault;
//! - an instance that takes connections but does not answer fails probes only once it has
//!   not answered for `stall` (default: the cluster's node timeout): a process that is paused
//!   (a long fork, swapping, SIGSTOP) for less than that is not failed over by Redis either,
//!   and moving the VIP would only start a failover Redis itself would not do;
//! - the host is ready again once every instance has answered `rise` probes in a row as a
//!   master or as a replica whose link to its master is up: a replica still syncing keeps the
//!   host in fault (no preempt before the data is there), but never puts a healthy host in
//!   fault (a replica loses its link when a master on another host dies).
//!
//! The host starts in fault: a host that boots gets its VIP back only once its Redis is ready.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one probe of one instance found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A master, or a replica whose link to its master is up.
    Ready,
    /// Alive but not to be relied on yet: a replica (re)syncing, or a node loading its data.
    Syncing(String),
    /// Took the connection but sent no reply within the probe's bound.
    NoAnswer,
    /// Gone or refusing: nothing listens, the connection closed, an error reply.
    Down(String),
}

impl Probe {
    fn describe(&self) -> String {
        match self {
            Probe::Ready => "ready".to_string(),
            Probe::Syncing(why) => format!("syncing: {why}"),
            Probe::NoAnswer => "no answer".to_string(),
            Probe::Down(why) => format!("down: {why}"),
        }
    }
}

/// Whether the host's Redis may hold the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ready,
    Fault,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Health::Ready => "ready",
            Health::Fault => "fault",
        })
    }
}

/// How probes add up (see the module's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Failed probes in a row that put the host in fault.
    pub fall: u32,
    /// Ready probes in a row, of every instance, that end a fault.
    pub rise: u32,
    /// How long an instance may leave probes unanswered before they count as failed.
    pub stall: Duration,
}

/// The host's health changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub to: Health,
    /// Why, naming the instance that failed.
    pub reason: String,
}

/// One tracked instance as `carpctl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceHealth {
    pub addr: String,
    /// The last probe: ready, syncing: …, no answer, down: …, or not probed yet.
    pub last: String,
    /// Failed probes in a row.
    pub failed: u32,
    /// Ready probes in a row.
    pub ready: u32,
}

/// The tracking part of `carpctl status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthStatus {
    pub health: Health,
    /// Why the host is in that state.
    pub reason: String,
    pub instances: Vec<InstanceHealth>,
}

#[derive(Debug)]
struct Instance {
    addr: String,
    last: Option<Probe>,
    failed: u32,
    ready: u32,
    /// When it last answered (or when tracking started): a stall counts from here.
    answered: Duration,
}

/// The tracker of one host's instances.
#[derive(Debug)]
pub struct Tracker {
    rules: Rules,
    instances: Vec<Instance>,
    health: Health,
    reason: String,
}

impl Tracker {
    /// Tracks `addrs` from `now` on; the host starts in fault until every instance is ready.
    pub fn new(addrs: &[String], rules: Rules, now: Duration) -> Tracker {
        Tracker {
            rules,
            instances: addrs
                .iter()
                .map(|addr| Instance {
                    addr: addr.clone(),
                    last: None,
                    failed: 0,
                    ready: 0,
                    answered: now,
                })
                .collect(),
            health: Health::Fault,
            reason: "starting: not every tracked Redis instance is ready yet".to_string(),
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Records the probe of instance `index` taken at `now`; returns the change of the host's
    /// health it caused, if any.
    pub fn record(&mut self, index: usize, probe: Probe, now: Duration) -> Option<Change> {
        let rules = self.rules;
        let instance = self.instances.get_mut(index)?;
        match &probe {
            Probe::Ready => {
                instance.ready = instance.ready.saturating_add(1);
                instance.failed = 0;
                instance.answered = now;
            }
            Probe::Syncing(_) => {
                instance.ready = 0;
                instance.failed = 0;
                instance.answered = now;
            }
            Probe::NoAnswer => {
                instance.ready = 0;
                if now.saturating_sub(instance.answered) >= rules.stall {
                    instance.failed = instance.failed.saturating_add(1);
                }
            }
            Probe::Down(_) => {
                instance.ready = 0;
                instance.failed = instance.failed.saturating_add(1);
            }
        }
        instance.last = Some(probe);
        match self.health {
            Health::Ready => {
                let failed = self.instances.iter().find(|i| i.failed >= rules.fall)?;
                let why = match &failed.last {
                    Some(Probe::NoAnswer) => format!(
                        "no answer for {:.1} s",
                        now.saturating_sub(failed.answered).as_secs_f64()
                    ),
                    Some(probe) => probe.describe(),
                    None => "not probed".to_string(),
                };
                let reason = format!(
                    "{}: {why} ({} failed probes in a row)",
                    failed.addr, failed.failed
                );
                self.change(Health::Fault, reason)
            }
            Health::Fault => {
                if self.instances.iter().all(|i| i.ready >= rules.rise) {
                    let reason = format!(
                        "every tracked Redis instance answered {} probes in a row as a master or a replica linked to its master",
                        rules.rise
                    );
                    self.change(Health::Ready, reason)
                } else {
                    None
                }
            }
        }
    }

    fn change(&mut self, to: Health, reason: String) -> Option<Change> {
        self.health = to;
        self.reason.clone_from(&reason);
        Some(Change { to, reason })
    }

    pub fn status(&self) -> HealthStatus {
        HealthStatus {
            health: self.health,
            reason: self.reason.clone(),
            instances: self
                .instances
                .iter()
                .map(|i| InstanceHealth {
                    addr: i.addr.clone(),
                    last: i
                        .last
                        .as_ref()
                        .map_or_else(|| "not probed yet".to_string(), Probe::describe),
                    failed: i.failed,
                    ready: i.ready,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
