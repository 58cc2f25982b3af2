//! Where the keys are, checked rather than assumed. A client finds a key on the master that
//! serves its slot, or, while the slot moves, on the node the owner sends it to with ASK. Keys
//! anywhere else are out of every client's sight: on a master that neither serves their slot nor
//! imports it from an owner that migrates it there (a failover or a restart in the middle of a
//! move leaves them so). [`strays`] finds them, so the planner moves them back, and
//! [`statement`] says after a stopped run whether every key is in sight, by name where not.

use std::time::Duration;

use redis_cluster::admin;
use redis_cluster::survey::{in_parallel, survey_within};
use redis_cluster::{ConnectOptions, Connection, Deadline, NodeAddr, Survey, SLOT_COUNT};

use super::layout::Layout;
use super::observe::layout_of;

/// How long the check after a stopped run may take; it is not cut short by the signal that
/// stopped the run.
const AUDIT_BOUND: Duration = Duration::from_secs(5);

/// Slots a node holds keys of out of clients' sight, with their key counts.
pub type StraySlots = Vec<(u16, u64)>;

/// The slots of each live master of `layout` that holds keys (as `survey` found) in which it
/// holds keys out of clients' sight, with their key counts.
pub fn strays(
    survey: &Survey,
    layout: &Layout,
    options: &ConnectOptions,
    deadline: Deadline,
) -> Result<Vec<(NodeAddr, StraySlots)>, String> {
    let holders: Vec<NodeAddr> = survey
        .reached
        .iter()
        .filter(|s| s.info.key_count() > 0)
        .map(|s| s.addr)
        .collect();
    let owner_migrates_to = |slot: u16, id: &str| {
        layout.nodes.iter().any(|o| {
            o.alive && o.owns(slot) && o.migrating.iter().any(|(s, to)| *s == slot && to == id)
        })
    };
    let scans: Vec<(NodeAddr, Vec<u16>)> = layout
        .nodes
        .iter()
        .filter(|n| n.alive && n.is_master())
        .filter_map(|n| Some((n.addr?, n)))
        .filter(|(addr, _)| holders.contains(addr))
        .map(|(addr, n)| {
            let slots = (0..SLOT_COUNT)
                .filter(|&s| !n.owns(s))
                .filter(|&s| {
                    !n.importing
                        .iter()
                        .any(|(i, _)| *i == s && owner_migrates_to(s, &n.id))
                })
                .collect();
            (addr, slots)
        })
        .collect();
    in_parallel(&scans, |(addr, slots)| {
        let counts = Connection::open(*addr, options, deadline)
            .and_then(|mut c| admin::count_keys_in_slots(&mut c, slots))
            .map_err(|f| format!("{addr}: cannot count its keys per slot: {f}"))?;
        let found: Vec<(u16, u64)> = slots
            .iter()
            .zip(counts)
            .filter(|(_, keys)| *keys > 0)
            .map(|(&s, keys)| (s, keys))
            .collect();
        Ok((*addr, found))
    })
    .into_iter()
    .collect()
}

/// What a check of the cluster around `seeds` finds, in words, for the message of a run that
/// stopped: that every key is in clients' sight, which are not, or that it could not be checked.
pub fn statement(seeds: &[NodeAddr], options: &ConnectOptions) -> String {
    let deadline = Deadline::after(AUDIT_BOUND).ignoring_signals();
    let survey = survey_within(
        seeds,
        &options.vouching(seeds.iter().copied()),
        true,
        deadline,
    );
    let observation = layout_of(&survey, seeds);
    let unanswered: Vec<String> = observation
        .layout
        .nodes
        .iter()
        .filter(|n| !n.alive && n.is_master() && !n.slots.is_empty())
        .map(|n| n.label())
        .collect();
    if !unanswered.is_empty() {
        return format!(
            "the keys were not checked: {} did not answer",
            unanswered.join(", ")
        );
    }
    match strays(&survey, &observation.layout, options, deadline) {
        Err(why) => format!("the keys were not checked: {why}"),
        Ok(found) => {
            let found: Vec<String> = found
                .into_iter()
                .flat_map(|(addr, slots)| {
                    slots.into_iter().map(move |(slot, keys)| {
                        format!(
                            "{addr} holds {} of slot {slot}, which it neither serves nor imports",
                            toolkit::words::counted(keys, "key")
                        )
                    })
                })
                .collect();
            if found.is_empty() {
                "checked: every key is on the node clients are sent to for it; nothing is lost"
                    .to_string()
            } else {
                format!(
                    "keys out of clients' sight until a converge moves them back to their slot's owner: {}",
                    toolkit::words::name_list(&found, 8)
                )
            }
        }
    }
}
