//! The state machine of one vhid, CARP or VRRPv3, with time and packets passed in and actions
//! returned.
//!
//! It does no I/O, so every rule that matters for interoperation is tested with injected
//! time: for CARP those of FreeBSD's ip_carp.c (master-down timer, preemption, "the master
//! will time out", bow-out, demotion cap) and ucarp's tie-break by source address; for VRRPv3
//! those of RFC 5798 section 6.4 (skew time, master-down interval from the master's learned
//! interval, preemption, priority 0 on shutdown). The two share the states, the actions and
//! the announce/advertise bookkeeping; they differ in how two adverts compare and in the
//! timers, which [`Offer`] carries. The engine in `linux` carries out the actions and feeds
//! in what the network and the operator say.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::{self, vrrp};

/// Largest effective skew: advskew plus demotion never passes it (FreeBSD's CARP_MAXSKEW).
pub const MAX_SKEW: u8 = 240;

/// The state of a vhid on this node (ordered only so that counters can be kept by state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Init,
    Backup,
    Master,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
        })
    }
}

/// Why the state changed; printed in events and passed to hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The engine started and waits to hear from a master.
    Startup,
    /// No better advertisement for the master-down interval.
    MasterDown,
    /// A worse master was heard and preemption is on.
    Preempt,
    /// A master advertised an interval longer than three of our advbases (a bow-out does).
    MasterWillTimeOut,
    /// A better master was heard.
    BetterMaster,
    /// A master with the same interval and a lower source address was heard (ucarp's rule,
    /// see `tie_break_wins`); in VRRP, the same priority and a higher address.
    TieBreak,
    /// VRRP: the master sent priority 0 (it stops) and the skew time passed.
    MasterStopped,
    /// The engine was told to stop.
    Shutdown,
    /// The interface lost its carrier, went administratively down or was deleted: the node
    /// can neither hear nor be heard, so it holds nothing.
    LinkDown,
    /// The interface is usable again; wait a master-down interval for a master.
    LinkUp,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Startup => "startup",
            Reason::MasterDown => "master_down",
            Reason::Preempt => "preempt",
            Reason::MasterWillTimeOut => "master_will_time_out",
            Reason::BetterMaster => "better_master",
            Reason::TieBreak => "tie_break",
            Reason::MasterStopped => "master_stopped",
            Reason::Shutdown => "shutdown",
            Reason::LinkDown => "link_down",
            Reason::LinkUp => "link_up",
        })
    }
}

/// What the engine must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Announce the state change (event line, state file, hooks).
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
    /// Configure the virtual addresses on the interface.
    AddAddresses,
    /// Remove the virtual addresses from the interface.
    RemoveAddresses,
    /// Tell the neighbours where the virtual addresses are now (gratuitous ARP).
    Announce,
    /// Tell them again, as [`Config::garp_refresh`] asks while MASTER (counted apart from the
    /// announcements of a change).
    RefreshAnnouncement,
    /// Send an advertisement with these values.
    Advertise(Offer),
}

/// What an advertisement says about its sender as a master, in either protocol: the values a
/// node is configured with, sends, and compares with what it hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// CARP: the shorter interval advbase + advskew/256 wins.
    Carp { advbase: u8, advskew: u8 },
    /// VRRPv3: the higher priority wins; the interval is in centiseconds.
    Vrrp { priority: u8, interval_cs: u16 },
}

/// The configured, fixed part of a vhid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The protocol and this node's values in it, before demotion.
    pub offer: Offer,
    pub preempt: bool,
    /// How long after [`Machine::start`] preemption waits (keepalived's `preempt_delay`), so a
    /// node that just booted lets its services catch up before it takes the addresses back.
    /// It holds only preemption: a silent master is still replaced on time.
    pub preempt_delay: Duration,
    /// How often a master repeats its announcement (keepalived's `vrrp_garp_master_refresh`),
    /// for routers and switches whose ARP cache missed or dropped it; None (or zero) for no
    /// repeats beyond those of a change.
    pub garp_refresh: Option<Duration>,
    /// Our own source address: our echoed adverts are ignored, and it breaks ties.
    pub src: IpAddr,
}

/// The interval a node advertises at: advbase + skew/256 seconds.
pub fn interval(advbase: u8, skew: u8) -> Duration {
    Duration::from_secs(u64::from(advbase))
        + Duration::from_micros(u64::from(skew) * 1_000_000 / 256)
}

/// The VRRP interval of `cs` centiseconds.
pub fn centiseconds(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

/// RFC 5798's Skew_Time: (256 - priority) / 256 of the master's advertisement interval.
pub fn skew_time(priority: u8, master_interval: Duration) -> Duration {
    master_interval * (256 - u32::from(priority)) / 256
}

/// Whether `theirs` beats `ours` between two CARP masters with equal intervals. ucarp
/// compares the addresses as the in-memory integers of their network-order bytes, i.e. in the
/// host's native byte order; doing the same makes both sides agree on who yields (FreeBSD has
/// no tie-break and yields to any equal master). ucarp has no IPv6; there the lower address
/// wins.
fn tie_break_wins(theirs: IpAddr, ours: IpAddr) -> bool {
    match (theirs, ours) {
        (IpAddr::V4(t), IpAddr::V4(o)) => {
            u32::from_ne_bytes(t.octets()) < u32::from_ne_bytes(o.octets())
        }
        (t, o) => t < o,
    }
}

/// How often a node with `offer` advertises.
fn own_interval(offer: Offer) -> Duration {
    match offer {
        Offer::Carp { advbase, advskew } => interval(advbase, advskew),
        Offer::Vrrp { interval_cs, .. } => centiseconds(interval_cs.max(1)),
    }
}

/// The state of one vhid and its timers. Times are offsets from any fixed start.
#[derive(Debug, Clone)]
pub struct Machine {
    config: Config,
    state: State,
    demotion: u8,
    /// Backup: when the master counts as gone.
    master_down_at: Option<Duration>,
    /// Master: when the next advertisement is due.
    advert_at: Option<Duration>,
    /// Master: adverts to send before the gratuitous ARP is repeated (as ucarp does, for
    /// neighbours that missed the first one).
    adverts_until_reannounce: Option<u8>,
    /// Master: when the announcement is repeated next ([`Config::garp_refresh`]).
    refresh_at: Option<Duration>,
    /// VRRP: Master_Adver_Interval, the interval the master advertises, learned from it.
    master_interval: Duration,
    /// Backup: what the master-down timer means when it fires (a preempting VRRP backup
    /// lets it run out on purpose, and a priority-0 advert shortens it).
    down_reason: Reason,
    /// When preemption may begin: start-up plus the preempt delay.
    preempt_from: Duration,
}

impl Machine {
    pub fn new(config: Config) -> Self {
        Machine {
            config,
            state: State::Init,
            demotion: 0,
            master_down_at: None,
            advert_at: None,
            adverts_until_reannounce: None,
            refresh_at: None,
            master_interval: own_interval(config.offer),
            down_reason: Reason::MasterDown,
            preempt_from: Duration::ZERO,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn demotion(&self) -> u8 {
        self.demotion
    }

    /// What this node advertises now: CARP's advskew + demotion, capped at 240; VRRP's
    /// priority less the demotion, at least 1.
    pub fn offer(&self) -> Offer {
        match self.config.offer {
            Offer::Carp { advbase, advskew } => Offer::Carp {
                advbase,
                advskew: (u16::from(advskew) + u16::from(self.demotion)).min(u16::from(MAX_SKEW))
                    as u8,
            },
            Offer::Vrrp {
                priority,
                interval_cs,
            } => Offer::Vrrp {
                priority: priority.saturating_sub(self.demotion).max(1),
                interval_cs,
            },
        }
    }

    /// advskew + demotion, capped at 240 (CARP); 0 in VRRP.
    pub fn effective_skew(&self) -> u8 {
        match self.offer() {
            Offer::Carp { advskew, .. } => advskew,
            Offer::Vrrp { .. } => 0,
        }
    }

    /// The priority the adverts carry (VRRP); 0 in CARP.
    pub fn effective_priority(&self) -> u8 {
        match self.offer() {
            Offer::Vrrp { priority, .. } => priority,
            Offer::Carp { .. } => 0,
        }
    }

    /// VRRP's Master_Adver_Interval as learned from the master (CARP: our own interval).
    pub fn master_interval(&self) -> Duration {
        self.master_interval
    }

    fn master_down_interval(&self) -> Duration {
        match self.offer() {
            Offer::Carp { advbase, advskew } => {
                interval(advbase, advskew) + 2 * interval(advbase, 0)
            }
            // RFC 5798: 3 x Master_Adver_Interval + Skew_Time.
            Offer::Vrrp { priority, .. } => {
                3 * self.master_interval + skew_time(priority, self.master_interval)
            }
        }
    }

    /// When [`Machine::tick`] must be called next, if ever.
    pub fn deadline(&self) -> Option<Duration> {
        match self.state {
            State::Init => None,
            State::Backup => self.master_down_at,
            State::Master => self.advert_at.into_iter().chain(self.refresh_at).min(),
        }
    }

    /// INIT -> BACKUP: the interface is usable; wait a master-down interval for a master.
    /// Addresses left behind by an engine that crashed are removed first: a backup must not
    /// answer for them.
    pub fn start(&mut self, now: Duration) -> Vec<Action> {
        if self.state != State::Init {
            return Vec::new();
        }
        let mut actions = vec![Action::RemoveAddresses];
        self.preempt_from = now + self.config.preempt_delay;
        self.become_backup(now, Reason::Startup, &mut actions);
        actions
    }

    /// Time passed: a master sends its advertisement and repeats its announcement when due, a
    /// backup whose master went quiet takes over.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.state {
            State::Backup if self.master_down_at.is_some_and(|t| now >= t) => {
                self.become_master(now, self.down_reason, &mut actions);
            }
            State::Master => {
                if self.advert_at.is_some_and(|t| now >= t) {
                    self.advertise(now, &mut actions);
                }
                if self.refresh_at.is_some_and(|t| now >= t) {
                    // An announcement the advert brought is the refresh: none twice at once.
                    if !actions.contains(&Action::Announce) {
                        actions.push(Action::RefreshAnnouncement);
                    }
                    self.refresh_at = self.next_refresh(now);
                }
            }
            _ => {}
        }
        actions
    }

    /// When a master announces again after `now`; a zero period would make every tick due.
    fn next_refresh(&self, now: Duration) -> Option<Duration> {
        self.config
            .garp_refresh
            .filter(|period| !period.is_zero())
            .map(|period| now + period)
    }

    /// Whether a backup may take the addresses from a worse master now: preempt is on and the
    /// preempt delay since start-up has passed. Until then it keeps a worse master as a
    /// backup without preempt does.
    fn preempts(&self, now: Duration) -> bool {
        self.config.preempt && now >= self.preempt_from
    }

    /// A valid advertisement (CARP: its HMAC verified) arrived from `src`.
    pub fn advert(&mut self, now: Duration, src: IpAddr, theirs: Offer) -> Vec<Action> {
        let mut actions = Vec::new();
        if src == self.config.src || self.state == State::Init {
            // Our own advert, echoed back by a switch or a loop.
            return actions;
        }
        match (self.offer(), theirs) {
            (Offer::Carp { advbase, advskew }, Offer::Carp { .. }) => {
                self.carp_advert(now, src, interval(advbase, advskew), theirs, &mut actions);
            }
            (Offer::Vrrp { priority, .. }, Offer::Vrrp { .. }) => {
                self.vrrp_advert(now, src, priority, theirs, &mut actions);
            }
            // The engine decodes only its own protocol.
            _ => {}
        }
        actions
    }

    fn carp_advert(
        &mut self,
        now: Duration,
        src: IpAddr,
        ours: Duration,
        theirs: Offer,
        actions: &mut Vec<Action>,
    ) {
        let theirs = own_interval(theirs);
        let Offer::Carp { advbase, .. } = self.config.offer else {
            return;
        };
        match self.state {
            State::Init => {}
            State::Master => {
                if theirs < ours {
                    self.become_backup(now, Reason::BetterMaster, actions);
                } else if theirs == ours && tie_break_wins(src, self.config.src) {
                    self.become_backup(now, Reason::TieBreak, actions);
                } else {
                    // Another master: a partition healed, and the neighbours may have
                    // learned its MAC for our addresses meanwhile. Claim them back, and
                    // again after two adverts: a neighbour ignores an ARP update that comes
                    // within its locktime (Linux: 1 s) of the other master's last one.
                    actions.push(Action::Announce);
                    self.adverts_until_reannounce = Some(2);
                }
            }
            State::Backup => {
                if self.preempts(now) && ours < theirs {
                    self.become_master(now, Reason::Preempt, actions);
                } else if theirs > interval(advbase, 0) * 3 {
                    self.become_master(now, Reason::MasterWillTimeOut, actions);
                } else {
                    self.master_down_at = Some(now + self.master_down_interval());
                }
            }
        }
    }

    /// RFC 5798 section 6.4.2 (backup) and 6.4.3 (master).
    fn vrrp_advert(
        &mut self,
        now: Duration,
        src: IpAddr,
        ours: u8,
        theirs: Offer,
        actions: &mut Vec<Action>,
    ) {
        let Offer::Vrrp {
            priority,
            interval_cs,
        } = theirs
        else {
            return;
        };
        // An interval of 0 would make the master-down timer fire at once.
        let their_interval = centiseconds(interval_cs.max(1));
        match self.state {
            State::Init => {}
            State::Master => {
                if priority == vrrp::PRIORITY_STOP {
                    // Another master stops: advertise at once so its backups hear us.
                    self.advertise(now, actions);
                } else if priority > ours || (priority == ours && src > self.config.src) {
                    self.master_interval = their_interval;
                    let reason = if priority > ours {
                        Reason::BetterMaster
                    } else {
                        Reason::TieBreak
                    };
                    self.become_backup(now, reason, actions);
                } else {
                    // A worse master (a healed partition): claim the addresses back and tell
                    // it at once, as keepalived does, rather than at the next interval; and
                    // claim them again after two adverts, past the neighbours' ARP locktime.
                    actions.push(Action::Announce);
                    self.adverts_until_reannounce = Some(2);
                    self.advertise(now, actions);
                }
            }
            State::Backup => {
                if priority == vrrp::PRIORITY_STOP {
                    self.master_down_at = Some(now + skew_time(ours, self.master_interval));
                    self.down_reason = Reason::MasterStopped;
                } else if !self.preempts(now) || priority >= ours {
                    self.master_interval = their_interval;
                    self.master_down_at = Some(now + self.master_down_interval());
                    self.down_reason = Reason::MasterDown;
                } else {
                    // Preempting: the worse master's adverts are discarded, so the timer runs
                    // out and this node takes over (RFC 5798 does not take over at once).
                    self.down_reason = Reason::Preempt;
                }
            }
        }
    }

    /// The interface is usable again. A node the loss of the link stopped becomes BACKUP
    /// (clearing addresses a backup must not answer for). A master that never saw the link
    /// go (a flap shorter than a notification) re-adds its addresses, announces them and
    /// advertises at once: while it was cut off a backup may have taken them over.
    pub fn link_up(&mut self, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.state {
            State::Init => {
                actions.push(Action::RemoveAddresses);
                self.become_backup(now, Reason::LinkUp, &mut actions);
            }
            State::Master => {
                actions.push(Action::AddAddresses);
                actions.push(Action::Announce);
                self.advertise(now, &mut actions);
            }
            State::Backup => {}
        }
        actions
    }

    /// The interface lost its carrier, went down or is gone: a master gives up its
    /// addresses (the peer that hears no more adverts takes them), and the node waits in
    /// INIT for [`Machine::link_up`], as FreeBSD's carp does.
    pub fn link_down(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let from = self.state;
        if from == State::Init {
            return actions;
        }
        if from == State::Master {
            actions.push(Action::RemoveAddresses);
        }
        self.state = State::Init;
        self.master_down_at = None;
        self.advert_at = None;
        self.adverts_until_reannounce = None;
        self.refresh_at = None;
        actions.push(Action::Transition {
            from,
            to: State::Init,
            reason: Reason::LinkDown,
        });
        actions
    }

    /// Sets the demotion (capped so the effective skew stays within 240); a master
    /// advertises the new skew at once so a better backup can preempt within one interval.
    pub fn set_demotion(&mut self, now: Duration, demotion: u8) -> Vec<Action> {
        self.demotion = demotion.min(MAX_SKEW);
        let mut actions = Vec::new();
        if self.state == State::Master {
            self.advertise(now, &mut actions);
        }
        actions
    }

    /// Leave gracefully: a CARP master bows out (advbase 255, advskew 255) so backups take
    /// over at once, a VRRP master sends priority 0 so backups take over after their skew
    /// time; then it gives up its addresses.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let from = self.state;
        if from == State::Master {
            actions.push(Action::Advertise(match self.config.offer {
                Offer::Carp { .. } => Offer::Carp {
                    advbase: wire::BOW_OUT,
                    advskew: wire::BOW_OUT,
                },
                Offer::Vrrp { interval_cs, .. } => Offer::Vrrp {
                    priority: vrrp::PRIORITY_STOP,
                    interval_cs,
                },
            }));
            actions.push(Action::RemoveAddresses);
        }
        if from != State::Init {
            actions.push(Action::Transition {
                from,
                to: State::Init,
                reason: Reason::Shutdown,
            });
        }
        self.state = State::Init;
        self.master_down_at = None;
        self.advert_at = None;
        self.refresh_at = None;
        actions
    }

    fn become_backup(&mut self, now: Duration, reason: Reason, actions: &mut Vec<Action>) {
        let from = self.state;
        if from == State::Master {
            actions.push(Action::RemoveAddresses);
        }
        self.state = State::Backup;
        self.advert_at = None;
        self.adverts_until_reannounce = None;
        self.refresh_at = None;
        if from == State::Init {
            // RFC 5798 6.4.1: until a master is heard, assume it advertises as we would.
            self.master_interval = own_interval(self.config.offer);
        }
        self.master_down_at = Some(now + self.master_down_interval());
        self.down_reason = Reason::MasterDown;
        actions.push(Action::Transition {
            from,
            to: State::Backup,
            reason,
        });
    }

    fn become_master(&mut self, now: Duration, reason: Reason, actions: &mut Vec<Action>) {
        let from = self.state;
        self.state = State::Master;
        self.master_down_at = None;
        // Addresses, announcement and advert first: they are what moves traffic. The
        // transition (event, state file, up hook) then reports a master that holds them.
        actions.push(Action::AddAddresses);
        actions.push(Action::Announce);
        self.adverts_until_reannounce = Some(2);
        self.refresh_at = self.next_refresh(now);
        self.advertise(now, actions);
        actions.push(Action::Transition {
            from,
            to: State::Master,
            reason,
        });
    }

    fn advertise(&mut self, now: Duration, actions: &mut Vec<Action>) {
        let offer = self.offer();
        actions.push(Action::Advertise(offer));
        self.advert_at = Some(now + own_interval(offer));
        match self.adverts_until_reannounce {
            Some(0) => {
                actions.push(Action::Announce);
                self.adverts_until_reannounce = None;
            }
            Some(n) => self.adverts_until_reannounce = Some(n - 1),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
