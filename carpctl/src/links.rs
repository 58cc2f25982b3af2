//! The interfaces a node depends on (its CARP interface and every `--track` one) and the
//! demotion their state implies: as FreeBSD's ifdown demotion, each interface without its
//! carrier or administratively down adds 240, so a backup with preempt takes over at once, and
//! the demotion goes when the carrier returns. Pure: the engine feeds in what rtnetlink says.

use serde::{Deserialize, Serialize};

use crate::machine::MAX_SKEW;

/// Demotion added per interface that is down (FreeBSD's `ifdown_demotion_factor`).
pub const IFDOWN_DEMOTION: u8 = 240;

/// What is known of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Administratively up with its carrier.
    Up,
    /// Administratively down, or without carrier.
    Down,
    /// No interface of that name exists (deleted, or not created yet).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    name: String,
    index: Option<u32>,
    state: LinkState,
}

/// The watched interfaces, the CARP interface first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    links: Vec<Link>,
}

/// A change of one interface, for the log and the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub from: LinkState,
    pub to: LinkState,
    /// The interface now has another index: it was deleted and created again.
    pub recreated: bool,
}

impl Links {
    /// `carp` (known to exist) and the tracked names (duplicates dropped), missing until
    /// rtnetlink reports them.
    pub fn new(carp: &str, carp_index: u32, tracked: &[String]) -> Self {
        let mut links = vec![Link {
            name: carp.to_string(),
            index: Some(carp_index),
            state: LinkState::Up,
        }];
        for name in tracked {
            if !links.iter().any(|l| &l.name == name) {
                links.push(Link {
                    name: name.clone(),
                    index: None,
                    state: LinkState::Missing,
                });
            }
        }
        Links { links }
    }

    /// Records what rtnetlink said of interface `index` named `name` (`None`: it is gone).
    /// Returns the change if the interface is watched and something changed.
    pub fn update(&mut self, name: &str, index: u32, up: Option<bool>) -> Option<Change> {
        let link = self.links.iter_mut().find(|l| l.name == name)?;
        let state = match up {
            Some(true) => LinkState::Up,
            Some(false) => LinkState::Down,
            // A delete of an index we no longer follow (the old one of a recreated
            // interface) says nothing about the current one.
            None if link.index.is_some_and(|i| i != index) => return None,
            None => LinkState::Missing,
        };
        let recreated = up.is_some() && link.index.is_some_and(|i| i != index);
        let from = link.state;
        link.index = if up.is_some() { Some(index) } else { None };
        link.state = state;
        (from != state || recreated).then(|| Change {
            name: name.to_string(),
            from,
            to: state,
            recreated,
        })
    }

    /// The CARP interface's state.
    pub fn carp(&self) -> LinkState {
        self.links[0].state
    }

    /// The CARP interface's current index, if it exists.
    pub fn carp_index(&self) -> Option<u32> {
        self.links[0].index
    }

    /// 240 per interface that is not up, capped at 240.
    pub fn demotion(&self) -> u8 {
        let down = self
            .links
            .iter()
            .filter(|l| l.state != LinkState::Up)
            .count();
        u8::try_from(down * usize::from(IFDOWN_DEMOTION))
            .unwrap_or(MAX_SKEW)
            .min(MAX_SKEW)
    }

    /// Every watched interface and its state, the CARP interface first.
    pub fn states(&self) -> Vec<(String, LinkState)> {
        self.links
            .iter()
            .map(|l| (l.name.clone(), l.state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracked_interface_down_demotes_by_240_until_it_returns() {
        let mut links = Links::new("eth0", 2, &["eth1".into(), "eth1".into()]);
        assert_eq!(links.states().len(), 2, "duplicates dropped");
        assert_eq!(links.demotion(), 240, "not reported yet");
        assert_eq!(links.update("eth9", 9, Some(false)), None, "not watched");
        links.update("eth1", 3, Some(true));
        assert_eq!(links.demotion(), 0);
        let change = links.update("eth1", 3, Some(false)).unwrap();
        assert_eq!((change.from, change.to), (LinkState::Up, LinkState::Down));
        assert_eq!(links.demotion(), 240);
        assert_eq!(links.update("eth1", 3, Some(false)), None, "no change");
        links.update("eth0", 2, Some(false));
        assert_eq!(links.demotion(), 240, "capped");
        links.update("eth0", 2, Some(true));
        links.update("eth1", 3, Some(true));
        assert_eq!(links.demotion(), 0);
    }

    #[test]
    fn a_deleted_and_recreated_interface_is_followed_by_name() {
        let mut links = Links::new("eth0", 2, &[]);
        let gone = links.update("eth0", 2, None).unwrap();
        assert_eq!(gone.to, LinkState::Missing);
        assert_eq!(links.carp_index(), None);
        assert_eq!(links.demotion(), 240);
        let back = links.update("eth0", 7, Some(true)).unwrap();
        assert_eq!(
            (back.from, back.to, back.recreated),
            (LinkState::Missing, LinkState::Up, false)
        );
        assert_eq!(links.carp_index(), Some(7));
        // Recreated between two notifications we saw: same state, new index.
        let again = links.update("eth0", 8, Some(true)).unwrap();
        assert!(again.recreated);
        // The late delete of the old index does not hide the new interface.
        assert_eq!(links.update("eth0", 7, None), None);
        assert_eq!(links.carp(), LinkState::Up);
    }
}
