//! One table of every node, merged from what each node says about itself and about its peers.
//! A survey holds one `CLUSTER NODES` view per reachable node; the checks and the day-2 planner need to ask "what is
//! node X, who flags it, what does it serve" regardless of whether X itself answered. This
//! module builds that table once, without I/O, so every check reads the same facts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::nodes::{Flags, NodeLine, Role};
use crate::slots::{SlotRange, SLOT_COUNT};
use crate::survey::{NodeState, ProbeError, Survey};
use crate::NodeAddr;

/// FNV-1a: node ids are looked up once per line of every view (n² for n nodes), and SipHash's
/// protection against chosen keys buys nothing for ids Redis generated at random.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<'a> = HashMap<&'a str, usize, BuildHasherDefault<IdHasher>>;

/// Marks "no owner" in a slot owner table.
pub const NO_OWNER: u16 = u16::MAX;

/// One node of the cluster as far as anyone knows it.
#[derive(Debug)]
pub struct KnownNode<'a> {
    pub id: Option<&'a str>,
    pub addr: Option<NodeAddr>,
    /// How reports name it: the address, or the id when the address is unknown.
    pub label: String,
    /// Site host name, or the announced IP.
    pub host: String,
    /// What the node said, when it answered.
    pub state: Option<&'a NodeState>,
    /// Why it did not answer, when it was asked.
    pub error: Option<&'a ProbeError>,
    /// The node's own `myself` line when it answered, otherwise the line of the peers' most
    /// common description of its role.
    pub line: Option<&'a NodeLine>,
    /// Whether `line` is the node's own.
    pub own_line: bool,
    /// How each peer that answered sees it: (peer address, line).
    pub seen_by: Vec<(NodeAddr, &'a NodeLine)>,
}

impl KnownNode<'_> {
    pub fn role(&self) -> Role {
        match self.line.map(|l| l.flags) {
            Some(Flags { master: true, .. }) => Role::Master,
            Some(Flags { replica: true, .. }) => Role::Replica,
            _ => Role::Unknown,
        }
    }

    /// Slots it serves: its own claim when it answered, its peers' view otherwise.
    pub fn slots(&self) -> &[SlotRange] {
        match self.line {
            Some(line) if self.role() == Role::Master => &line.slots,
            _ => &[],
        }
    }

    /// Labels of the peers that set a flag on it.
    pub fn flagged_by(&self, flag: impl Fn(&Flags) -> bool) -> Vec<String> {
        self.seen_by
            .iter()
            .filter(|(_, line)| flag(&line.flags))
            .map(|(peer, _)| peer.to_string())
            .collect()
    }

    /// The peers whose line for this node carries the flag `name` that this tool does not know.
    pub fn flagged_by_name(&self, name: &str) -> Vec<String> {
        self.seen_by
            .iter()
            .filter(|(_, line)| line.unknown_flags.iter().any(|f| f == name))
            .map(|(peer, _)| peer.to_string())
            .collect()
    }

    pub fn failed(&self) -> bool {
        self.seen_by.iter().any(|(_, line)| line.flags.fail)
    }

    /// A master that answered, is not flagged `fail` by anyone, and claims slots.
    pub fn serves(&self) -> bool {
        self.own_line && self.role() == Role::Master && !self.failed()
    }

    /// For a replica, the id of its master.
    pub fn master_id(&self) -> Option<&str> {
        match self.role() {
            Role::Replica => self.line?.master_id.as_deref(),
            _ => None,
        }
    }
}

/// What a line says about a node's role: master, replica, and of which master.
pub fn role_key(line: &NodeLine) -> (bool, bool, Option<&str>) {
    (
        line.flags.master,
        line.flags.replica,
        line.master_id.as_deref(),
    )
}

/// Two addresses that answer as one node id with different views: at most one is that node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdConflict {
    pub id: String,
    /// The address kept as the node: the one it announces, when either is.
    pub kept: NodeAddr,
    /// The other address, whose reply is left out of every judgement.
    pub other: NodeAddr,
}

/// Every node, in address order (nodes without an address last), with an index by id.
#[derive(Debug)]
pub struct NodeTable<'a> {
    pub nodes: Vec<KnownNode<'a>>,
    /// Addresses answering as an id another address answers as, with another view.
    pub id_conflicts: Vec<IdConflict>,
    by_id: IdMap<'a>,
}

/// What a reply says that the same server, asked twice at once, says both times: its
/// cluster_state and every line but the timings, link states and `fail?` (which change by
/// the moment).
fn stable_view(state: &NodeState) -> Option<(bool, Vec<String>)> {
    let view = state.cluster.as_ref()?;
    let mut lines: Vec<String> = view
        .nodes
        .iter()
        .map(|l| {
            format!(
                "{} {:?} {} {} {} {} {:?} {} {:?}",
                l.id,
                l.client_addr(),
                l.flags.myself,
                l.flags.master,
                l.flags.replica,
                l.flags.fail,
                l.master_id,
                l.config_epoch,
                l.slots
            )
        })
        .collect();
    lines.sort_unstable();
    Some((view.info.cluster_state_ok(), lines))
}

/// Which of two replies with one `myself` id to keep (`None`: both are the same server, keep
/// the first): the one reached at the address it announces wins over one that is not.
fn conflict_between(first: &NodeState, second: &NodeState) -> Option<(NodeAddr, NodeAddr)> {
    if stable_view(first) == stable_view(second) {
        return None;
    }
    let at_home = |s: &NodeState| {
        s.cluster
            .as_ref()
            .and_then(|c| c.myself())
            .and_then(NodeLine::client_addr)
            == Some(s.addr)
    };
    if at_home(second) && !at_home(first) {
        Some((second.addr, first.addr))
    } else {
        Some((first.addr, second.addr))
    }
}

impl<'a> NodeTable<'a> {
    /// Merges a survey; `host_names` maps addresses to site host names.
    pub fn build(survey: &'a Survey, host_names: &BTreeMap<NodeAddr, String>) -> NodeTable<'a> {
        let mut nodes: Vec<KnownNode<'a>> = Vec::new();
        let mut seen_ids = IdMap::default();
        let mut id_conflicts = Vec::new();
        let host_of = |addr: Option<NodeAddr>, line: Option<&NodeLine>| {
            if let Some(name) = addr.and_then(|a| host_names.get(&a)) {
                return name.clone();
            }
            match (line.map(|l| l.ip.as_str()), addr) {
                (Some(ip), _) if !ip.is_empty() => ip.to_string(),
                (_, Some(addr)) => addr.ip_string(),
                _ => "unknown".to_string(),
            }
        };
        for state in &survey.reached {
            let myself = state.cluster.as_ref().and_then(|c| c.myself());
            if let Some(me) = myself {
                // The same node reached under two addresses counts once; two addresses with
                // one id and different views are a conflict (a node lying about its id), and
                // only the one at the address the id announces speaks for it.
                if let Some(&i) = seen_ids.get(me.id.as_str()) {
                    let earlier = nodes[i].state.expect("nodes with an id so far answered");
                    if let Some((kept, other)) = conflict_between(earlier, state) {
                        id_conflicts.push(IdConflict {
                            id: me.id.clone(),
                            kept,
                            other,
                        });
                        if kept == state.addr {
                            nodes[i].addr = Some(state.addr);
                            nodes[i].label = state.addr.to_string();
                            nodes[i].host = host_of(Some(state.addr), myself);
                            nodes[i].state = Some(state);
                            nodes[i].line = myself;
                        }
                    }
                    continue;
                }
                seen_ids.insert(&me.id, nodes.len());
            }
            nodes.push(KnownNode {
                id: myself.map(|me| me.id.as_str()),
                addr: Some(state.addr),
                label: state.addr.to_string(),
                host: host_of(Some(state.addr), myself),
                state: Some(state),
                error: None,
                line: myself,
                own_line: myself.is_some(),
                seen_by: Vec::new(),
            });
        }
        // Only the nodes kept above observe: a node reached under two addresses speaks once.
        let observers: Vec<(NodeAddr, &'a NodeState)> = nodes
            .iter()
            .filter_map(|n| Some((n.addr?, n.state?)))
            .collect();
        // Nodes only named by others are taken up to MAX_NODES in all: past it the survey has
        // stopped following them (and says so), and the checks would only slow down.
        let room = crate::MAX_NODES.saturating_sub(survey.unreachable.len());
        // Which id answered at each address: a peer's line giving that address to another id is
        // a stale entry (a node reset or replaced there, or a lie), not a second node of the
        // host that answers there.
        let answered_at: HashMap<NodeAddr, &str> = nodes
            .iter()
            .filter_map(|n| Some((n.addr?, n.id?)))
            .collect();
        for (observer, state) in observers {
            let Some(view) = &state.cluster else { continue };
            for line in view.nodes.iter().filter(|l| !l.flags.myself) {
                if nodes.len() >= room && !seen_ids.contains_key(line.id.as_str()) {
                    continue;
                }
                let index = *seen_ids.entry(&line.id).or_insert_with(|| {
                    let addr = line.client_addr();
                    let stale = addr
                        .and_then(|a| answered_at.get(&a))
                        .is_some_and(|&id| id != line.id);
                    nodes.push(KnownNode {
                        id: Some(&line.id),
                        addr,
                        label: addr.map_or_else(|| line.id.clone(), |a| a.to_string()),
                        host: if stale {
                            "unknown".to_string()
                        } else {
                            host_of(addr, Some(line))
                        },
                        state: None,
                        error: None,
                        line: Some(line),
                        own_line: false,
                        seen_by: Vec::new(),
                    });
                    nodes.len() - 1
                });
                nodes[index].seen_by.push((observer, line));
            }
        }
        // Indexed, not searched: with thousands of unreachable nodes named by thousands of
        // peers (a hostile peer can arrange that) a search per node took minutes.
        let announced: HashSet<NodeAddr> = nodes
            .iter()
            .filter(|n| n.own_line)
            .filter_map(|n| n.line.and_then(NodeLine::client_addr))
            .collect();
        let mut unanswered: HashMap<NodeAddr, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if let (Some(addr), None) = (n.addr, n.state) {
                unanswered.entry(addr).or_insert(i);
            }
        }
        for (addr, error) in &survey.unreachable {
            // A node answered under the address we were given but announces another one that
            // does not answer from here: it is reachable, not a second node.
            if announced.contains(addr) {
                continue;
            }
            match unanswered.get(addr) {
                Some(&i) => nodes[i].error = Some(error),
                None => nodes.push(KnownNode {
                    id: None,
                    addr: Some(*addr),
                    label: addr.to_string(),
                    host: host_of(Some(*addr), None),
                    state: None,
                    error: Some(error),
                    line: None,
                    own_line: false,
                    seen_by: Vec::new(),
                }),
            }
        }
        // A node that did not answer is described by its peers; while the cluster converges
        // they may differ (a fresh replica still shown as a master), so the most common
        // description of its role wins, not merely the first observer's.
        for node in nodes
            .iter_mut()
            .filter(|n| !n.own_line && !n.seen_by.is_empty())
        {
            let mut votes: HashMap<(bool, bool, Option<&str>), usize> = HashMap::new();
            for (_, line) in &node.seen_by {
                *votes.entry(role_key(line)).or_default() += 1;
            }
            node.line = node
                .seen_by
                .iter()
                .map(|(_, line)| *line)
                .rev()
                .max_by_key(|line| votes[&role_key(line)]);
        }
        nodes.sort_by(|a, b| {
            (a.addr.is_none(), a.addr, a.id).cmp(&(b.addr.is_none(), b.addr, b.id))
        });
        let by_id = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.id?, i)))
            .collect();
        NodeTable {
            nodes,
            id_conflicts,
            by_id,
        }
    }

    pub fn index_of_id(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn by_id(&self, id: &str) -> Option<&KnownNode<'a>> {
        self.index_of_id(id).map(|i| &self.nodes[i])
    }

    /// The report name of the node with `id`, or the id itself when nobody knows it.
    pub fn label_of_id(&self, id: &str) -> String {
        self.by_id(id)
            .map_or_else(|| id.to_string(), |n| n.label.clone())
    }

    /// The nodes that answered with a cluster view: the observers.
    pub fn observers(&self) -> impl Iterator<Item = &KnownNode<'a>> {
        self.nodes
            .iter()
            .filter(|n| n.state.is_some_and(|s| s.cluster.is_some()))
    }

    /// Slot → index of the owning node as `lines` (one node's view) say, `NO_OWNER` if none.
    pub fn owner_table(&self, lines: &[NodeLine]) -> Vec<u16> {
        let mut owners = vec![NO_OWNER; usize::from(SLOT_COUNT)];
        for line in lines {
            let Some(index) = self.index_of_id(&line.id) else {
                continue;
            };
            let index = u16::try_from(index).unwrap_or(NO_OWNER);
            for slot in line.slots.iter().flat_map(SlotRange::slots) {
                owners[usize::from(slot)] = index;
            }
        }
        owners
    }
}
