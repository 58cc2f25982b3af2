//! The CARP state machine of one vhid, with time and packets passed in and actions returned.
//!
//! It does no I/O, so every rule of FreeBSD's ip_carp.c that matters for interoperation
//! (master-down timer, preemption, "the master will time out", bow-out, demotion cap, ucarp's
//! tie-break by source address) is tested with injected time. The engine in `linux` carries
//! out the actions and feeds in what the network and the operator say.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest effective skew: advskew plus demotion never passes it (FreeBSD's CARP_MAXSKEW).
pub const MAX_SKEW: u8 = 240;

/// The state of a vhid on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// see `tie_break_wins`).
    TieBreak,
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
    /// Send an advertisement with these values.
    Advertise { advbase: u8, advskew: u8 },
}

/// The configured, fixed part of a vhid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub advbase: u8,
    pub advskew: u8,
    pub preempt: bool,
    /// Our own source address: our echoed adverts are ignored, and it breaks ties.
    pub src: Ipv4Addr,
}

/// The interval a node advertises at: advbase + skew/256 seconds.
pub fn interval(advbase: u8, skew: u8) -> Duration {
    Duration::from_secs(u64::from(advbase))
        + Duration::from_micros(u64::from(skew) * 1_000_000 / 256)
}

/// Whether `theirs` beats `ours` between two masters with equal intervals. ucarp compares
/// the addresses as the in-memory integers of their network-order bytes, i.e. in the host's
/// native byte order; doing the same makes both sides agree on who yields (FreeBSD has no
/// tie-break and yields to any equal master).
fn tie_break_wins(theirs: Ipv4Addr, ours: Ipv4Addr) -> bool {
    u32::from_ne_bytes(theirs.octets()) < u32::from_ne_bytes(ours.octets())
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
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn demotion(&self) -> u8 {
        self.demotion
    }

    /// advskew + demotion, capped at 240.
    pub fn effective_skew(&self) -> u8 {
        (u16::from(self.config.advskew) + u16::from(self.demotion)).min(u16::from(MAX_SKEW)) as u8
    }

    fn own_interval(&self) -> Duration {
        interval(self.config.advbase, self.effective_skew())
    }

    fn master_down_interval(&self) -> Duration {
        interval(self.config.advbase, self.effective_skew()) + 2 * interval(self.config.advbase, 0)
    }

    /// When [`Machine::tick`] must be called next, if ever.
    pub fn deadline(&self) -> Option<Duration> {
        match self.state {
            State::Init => None,
            State::Backup => self.master_down_at,
            State::Master => self.advert_at,
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
        self.become_backup(now, Reason::Startup, &mut actions);
        actions
    }

    /// Time passed: a master sends its advertisement, a backup whose master went quiet takes over.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.state {
            State::Backup if self.master_down_at.is_some_and(|t| now >= t) => {
                self.become_master(now, Reason::MasterDown, &mut actions);
            }
            State::Master if self.advert_at.is_some_and(|t| now >= t) => {
                self.advertise(now, &mut actions);
            }
            _ => {}
        }
        actions
    }

    /// An advertisement whose HMAC was verified arrived from `src`.
    pub fn advert(
        &mut self,
        now: Duration,
        src: Ipv4Addr,
        advbase: u8,
        advskew: u8,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if src == self.config.src {
            // Our own advert, echoed back by a switch or a loop.
            return actions;
        }
        let theirs = interval(advbase, advskew);
        let ours = self.own_interval();
        match self.state {
            State::Init => {}
            State::Master => {
                if theirs < ours {
                    self.become_backup(now, Reason::BetterMaster, &mut actions);
                } else if theirs == ours && tie_break_wins(src, self.config.src) {
                    self.become_backup(now, Reason::TieBreak, &mut actions);
                } else {
                    // Another master: a partition healed, and the neighbours may have
                    // learned its MAC for our addresses meanwhile. Claim them back.
                    actions.push(Action::Announce);
                }
            }
            State::Backup => {
                if self.config.preempt && ours < theirs {
                    self.become_master(now, Reason::Preempt, &mut actions);
                } else if theirs > interval(self.config.advbase, 0) * 3 {
                    self.become_master(now, Reason::MasterWillTimeOut, &mut actions);
                } else {
                    self.master_down_at = Some(now + self.master_down_interval());
                }
            }
        }
        actions
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

    /// Leave gracefully: a master bows out (advbase 255, advskew 255) so backups take over at
    /// once, and gives up its addresses.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let from = self.state;
        if from == State::Master {
            actions.push(Action::Advertise {
                advbase: crate::wire::BOW_OUT,
                advskew: crate::wire::BOW_OUT,
            });
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
        self.master_down_at = Some(now + self.master_down_interval());
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
        self.advertise(now, actions);
        actions.push(Action::Transition {
            from,
            to: State::Master,
            reason,
        });
    }

    fn advertise(&mut self, now: Duration, actions: &mut Vec<Action>) {
        actions.push(Action::Advertise {
            advbase: self.config.advbase,
            advskew: self.effective_skew(),
        });
        self.advert_at = Some(now + self.own_interval());
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
