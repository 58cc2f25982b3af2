//! Waiting until the new cluster is usable, and saying why when it is not.
//!
//! Usable means what a client needs: every node reports `cluster_state:ok`, every node's view
//! matches the plan (same nodes at the same addresses, same roles, same slot owners, so all
//! agree), and every replica's link to its master is up. The judgement is a pure function of
//! what the nodes said, so it is tested without servers; polling and the bus probe are the
//! I/O around it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use redis_cluster::nodes::NodeLine;
use redis_cluster::survey::{in_parallel, query_text};
use redis_cluster::{parse_cluster_nodes, Info, NodeAddr, Plan};

use redis_cluster::admin;
use redis_cluster::session::Sessions;
use redis_cluster::Connection;

/// What one node said in one poll.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub cluster_info: Info,
    pub nodes: Vec<NodeLine>,
    pub replication: Info,
}

/// What the plan expects of one node, with the id it has.
#[derive(Debug, Clone)]
pub struct Expected {
    pub addr: NodeAddr,
    pub id: String,
    /// For a replica, the index (in the same list) of its master.
    pub master: Option<usize>,
    pub slots: Vec<redis_cluster::SlotRange>,
}

/// The plan's nodes in `plan.nodes()` order, joined with their ids.
pub fn expectations(plan: &Plan, ids: &[String]) -> Vec<Expected> {
    let mut expected: Vec<Expected> = plan
        .masters
        .iter()
        .map(|m| Expected {
            addr: m.addr,
            id: String::new(),
            master: None,
            slots: m.slots.clone(),
        })
        .collect();
    for (i, m) in plan.masters.iter().enumerate() {
        for r in &m.replicas {
            expected.push(Expected {
                addr: r.addr,
                id: String::new(),
                master: Some(i),
                slots: Vec::new(),
            });
        }
    }
    for (e, id) in expected.iter_mut().zip(ids) {
        e.id.clone_from(id);
    }
    expected
}

/// Why node `index` is not ready yet, judged from its own snapshot; empty when it is.
pub fn not_ready_reasons(
    expected: &[Expected],
    index: usize,
    snapshot: &Result<Snapshot, String>,
) -> Vec<String> {
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) => return vec![format!("does not answer ({e})")],
    };
    let mut reasons = Vec::new();
    if !snapshot.cluster_info.cluster_state_ok() {
        reasons.push("cluster_state is fail".to_string());
    }
    let handshakes = snapshot.nodes.iter().filter(|n| n.flags.handshake).count();
    if handshakes > 0 {
        reasons.push(format!("{handshakes} handshakes unfinished"));
    }
    for (j, e) in expected.iter().enumerate() {
        let Some(line) = snapshot.nodes.iter().find(|n| n.id == e.id) else {
            reasons.push(format!("does not know {} yet", e.addr));
            continue;
        };
        if line.client_addr() != Some(e.addr) {
            reasons.push(format!("knows {} as {}", e.addr, shown(line)));
        }
        if line.flags.fail || line.flags.pfail {
            reasons.push(format!("sees {} as failing", e.addr));
        }
        match e.master {
            None if !line.flags.master || line.slots != e.slots => {
                reasons.push(format!(
                    "does not see {} as master of its slots yet",
                    e.addr
                ));
            }
            Some(m)
                if !line.flags.replica || line.master_id.as_deref() != Some(&expected[m].id) =>
            {
                reasons.push(format!(
                    "does not see {} as replica of {} yet",
                    e.addr, expected[m].addr
                ));
            }
            _ => {}
        }
        if j == index && e.master.is_some() && !snapshot.replication.master_link_up() {
            reasons.push("its link to its master is not up yet".to_string());
        }
    }
    let extra = snapshot
        .nodes
        .iter()
        .filter(|n| !n.flags.handshake && !expected.iter().any(|e| e.id == n.id))
        .count();
    if extra > 0 {
        reasons.push(format!("knows {extra} nodes that are not in the plan"));
    }
    reasons
}

fn shown(line: &NodeLine) -> String {
    if line.flags.noaddr || line.ip.is_empty() {
        "noaddr".to_string()
    } else {
        line.endpoint()
    }
}

/// Asks every node for CLUSTER INFO, CLUSTER NODES and INFO replication at once.
pub fn poll(sessions: &Sessions) -> Vec<Result<Snapshot, String>> {
    sessions.each(|_, c| {
        let text = |c: &mut Connection, command| query_text(c, command).map_err(|e| e.to_string());
        let cluster_info = Info::parse(&text(c, "CLUSTER INFO")?);
        let nodes = parse_cluster_nodes(&text(c, "CLUSTER NODES")?).map_err(|e| e.to_string())?;
        let replication = Info::parse(&text(c, "INFO replication")?);
        Ok(Snapshot {
            cluster_info,
            nodes,
            replication,
        })
    })
}

/// Pairs `(viewer, subject)` where the viewer knows the subject but not yet its slots or its
/// role. A handshake teaches only the side that started it; the other side would wait for
/// the subject's next regular ping, up to half the node timeout.
pub fn stale_views(
    expected: &[Expected],
    snapshots: &[Result<Snapshot, String>],
) -> Vec<(usize, usize)> {
    let mut stale = Vec::new();
    for (viewer, snapshot) in snapshots.iter().enumerate() {
        let Ok(snapshot) = snapshot else { continue };
        for (subject, e) in expected.iter().enumerate() {
            let Some(line) = snapshot
                .nodes
                .iter()
                .find(|n| n.id == e.id && !n.flags.myself && !n.flags.handshake)
            else {
                continue;
            };
            let current = match e.master {
                None => line.flags.master && line.slots == e.slots,
                Some(m) => line.flags.replica && line.master_id.as_deref() == Some(&expected[m].id),
            };
            if !current {
                stale.push((viewer, subject));
            }
        }
    }
    stale
}

/// Polls until every node is ready, the sessions' deadline passes or a signal asks to stop;
/// returns the last snapshots and
/// whether all were ready. Progress goes to stderr when the ready count changes. A node
/// whose view of a peer is stale gets a fresh introduction from that peer (a `CLUSTER MEET`
/// from a node it knows makes it read the peer's current slots and role), at most once a
/// second per pair.
pub fn until_ready(
    sessions: &Sessions,
    expected: &[Expected],
    interval: Duration,
    progress: &dyn Fn(usize, usize),
) -> (Vec<Result<Snapshot, String>>, bool) {
    let mut last_count = usize::MAX;
    let mut introduced: BTreeMap<(usize, usize), Instant> = BTreeMap::new();
    let mut snapshots: Vec<Result<Snapshot, String>> = Vec::new();
    loop {
        let round = Instant::now();
        let fresh = poll(sessions);
        // A poll the deadline cut short says nothing about the node; the diagnosis is better
        // served by the last view it did give.
        let cut_short = sessions.deadline().passed();
        snapshots = if snapshots.is_empty() {
            fresh
        } else {
            fresh
                .into_iter()
                .zip(snapshots)
                .map(|(new, old)| match (new, old) {
                    (Err(_), Ok(old)) if cut_short => Ok(old),
                    (new, _) => new,
                })
                .collect()
        };
        let mut viewers_of: BTreeMap<usize, Vec<NodeAddr>> = BTreeMap::new();
        for pair in stale_views(expected, &snapshots) {
            let due = introduced
                .get(&pair)
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
            if due {
                introduced.insert(pair, round);
                viewers_of
                    .entry(pair.1)
                    .or_default()
                    .push(expected[pair.0].addr);
            }
        }
        let subjects: Vec<(usize, Vec<NodeAddr>)> = viewers_of.into_iter().collect();
        // Best effort: a failed introduction only leaves the slower path.
        in_parallel(&subjects, |(subject, viewers)| {
            sessions.with(*subject, |c| admin::meet(c, viewers))
        });
        let ready = all_reasons(expected, &snapshots)
            .iter()
            .filter(|r| r.is_empty())
            .count();
        if ready != last_count {
            progress(ready, expected.len());
            last_count = ready;
        }
        let deadline = sessions.deadline();
        if ready == expected.len() || deadline.passed() {
            return (snapshots, ready == expected.len());
        }
        if deadline.sleep_until(round + interval).is_err() {
            return (snapshots, false);
        }
    }
}

/// Why each node is not ready yet (empty when it is): what its own snapshot shows
/// ([`not_ready_reasons`]) and the masters' config epochs it has not learned yet.
pub fn all_reasons(
    expected: &[Expected],
    snapshots: &[Result<Snapshot, String>],
) -> Vec<Vec<String>> {
    let mut reasons: Vec<Vec<String>> = (0..expected.len())
        .map(|i| not_ready_reasons(expected, i, &snapshots[i]))
        .collect();
    for (viewer, lag) in epoch_lags(expected, snapshots) {
        reasons[viewer].push(lag);
    }
    reasons
}

/// Masters' config epochs a node has not learned yet, `(viewer, reason)`. A replica asks for
/// votes with its master's epoch as it knows it, and a master that knows a newer one refuses
/// its vote: were a master to die before every node learned the epoch of its last change
/// (every slot it imported bumps it), no replica of it could ever be elected.
fn epoch_lags(
    expected: &[Expected],
    snapshots: &[Result<Snapshot, String>],
) -> Vec<(usize, String)> {
    let own: BTreeMap<&str, (NodeAddr, u64)> = expected
        .iter()
        .zip(snapshots)
        .filter(|(e, _)| e.master.is_none())
        .filter_map(|(e, s)| {
            let line = s.as_ref().ok()?.nodes.iter().find(|n| n.flags.myself)?;
            Some((e.id.as_str(), (e.addr, line.config_epoch)))
        })
        .collect();
    let mut lags = Vec::new();
    for (viewer, snapshot) in snapshots.iter().enumerate() {
        let Ok(snapshot) = snapshot else { continue };
        for line in snapshot.nodes.iter().filter(|n| !n.flags.myself) {
            if let Some(&(addr, epoch)) = own.get(line.id.as_str()) {
                if line.config_epoch < epoch {
                    lags.push((
                        viewer,
                        format!(
                            "has not learned the config epoch {epoch} of {addr} yet (knows {})",
                            line.config_epoch
                        ),
                    ));
                }
            }
        }
    }
    lags
}

/// Tries to reach a cluster bus address from here; the diagnosis runs it on every suspect bus
/// at once.
pub type BusProbe = dyn Fn(SocketAddr) -> Result<(), String> + Sync;

/// Whether a TCP connection to `addr` opens within a short time, and the error if not.
pub fn reach(addr: SocketAddr) -> Result<(), String> {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Everything the last snapshots say about why the cluster is not usable: each node that is
/// not ready with its reasons, then the likely causes. `bus_probe` tries to reach a bus
/// address from here.
pub fn diagnose(
    expected: &[Expected],
    snapshots: &[Result<Snapshot, String>],
    bus_probe: &BusProbe,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (e, reasons) in expected.iter().zip(all_reasons(expected, snapshots)) {
        if !reasons.is_empty() {
            let shown = reasons.len().min(4);
            let more = reasons.len() - shown;
            let tail = if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            };
            lines.push(format!(
                "{}: not ready: {}{tail}",
                e.addr,
                reasons[..shown].join("; ")
            ));
        }
    }
    let (address_lines, misaddressed) = address_causes(expected, snapshots);
    lines.extend(address_lines);
    lines.extend(bus_causes(expected, snapshots, &misaddressed, bus_probe));
    lines
}

/// Nodes their peers know under another address, or under none: the virtual-IP problem of
/// a node bound to one address whose connections leave from another. Returns the lines and
/// the nodes they concern.
fn address_causes(
    expected: &[Expected],
    snapshots: &[Result<Snapshot, String>],
) -> (Vec<String>, Vec<NodeAddr>) {
    let advice = |e: &Expected| {
        format!(
            "(its connections leave from another address than the one it is bound to); start it with cluster-announce-ip {} or pass --announce",
            e.addr.ip_string()
        )
    };
    let mut lines = Vec::new();
    let mut concerned = Vec::new();
    for e in expected {
        let mut seen_as: Vec<String> = Vec::new();
        for snapshot in snapshots.iter().flatten() {
            let lines_for_e = snapshot.nodes.iter().filter(|n| {
                !n.flags.myself
                    && (n.id == e.id
                        || (n.flags.handshake
                            && n.port == e.addr.0.port()
                            && n.client_addr() != Some(e.addr)
                            && !expected.iter().any(|x| Some(x.addr) == n.client_addr())
                            && expected
                                .iter()
                                .filter(|x| x.addr.0.port() == n.port)
                                .count()
                                == 1))
            });
            for line in lines_for_e {
                if line.client_addr() != Some(e.addr) {
                    let as_text = shown(line);
                    if !seen_as.contains(&as_text) {
                        seen_as.push(as_text);
                    }
                }
            }
        }
        if !seen_as.is_empty() {
            lines.push(format!(
                "{} is known to its peers as {} {}",
                e.addr,
                seen_as.join(" and "),
                advice(e)
            ));
            concerned.push(e.addr);
        }
    }
    (lines, concerned)
}

/// Nodes whose cluster bus (announced port, normally port + 10000) their peers cannot reach:
/// peers that do not know them (a failed handshake is dropped after the node timeout), still
/// shake hands, or see the link down. Nodes known under a wrong address are left to
/// [`address_causes`].
fn bus_causes(
    expected: &[Expected],
    snapshots: &[Result<Snapshot, String>],
    misaddressed: &[NodeAddr],
    bus_probe: &BusProbe,
) -> Vec<String> {
    let mut suspects = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        if misaddressed.contains(&e.addr) {
            continue;
        }
        let mut cut_off: Vec<String> = Vec::new();
        for (j, snapshot) in snapshots.iter().enumerate() {
            let Ok(snapshot) = snapshot else { continue };
            if j == i {
                continue;
            }
            let healthy = snapshot.nodes.iter().any(|n| {
                n.id == e.id && n.connected && !(n.flags.handshake || n.flags.pfail || n.flags.fail)
            });
            let link_down = !healthy;
            if link_down {
                cut_off.push(expected[j].addr.to_string());
            }
        }
        if cut_off.is_empty() {
            continue;
        }
        let own = snapshots[i]
            .as_ref()
            .ok()
            .and_then(|s| s.nodes.iter().find(|n| n.flags.myself))
            .map(|m| m.cport)
            .filter(|&p| p != 0)
            .or_else(|| e.addr.bus().map(|b| b.port()));
        let Some(cport) = own else { continue };
        let whom = if cut_off.len() + 1 == expected.len() {
            "every peer".to_string()
        } else {
            toolkit::words::name_list(&cut_off, 5)
        };
        suspects.push((e.addr, SocketAddr::new(e.addr.0.ip(), cport), whom));
    }
    // All at once: one by one, 160 silent buses would cost 160 probe timeouts.
    let probes = in_parallel(&suspects, |(_, bus, _)| bus_probe(*bus));
    suspects
        .into_iter()
        .zip(probes)
        .map(|((addr, bus, whom), probe)| {
            let here = match probe {
                Ok(()) => "reachable from here".to_string(),
                Err(err) => format!("not reachable from here either: {err}"),
            };
            format!(
                "{addr}: cluster bus {bus} unreachable from {whom} ({here}); open TCP port {} between the nodes, and check cluster-port and cluster-announce-bus-port",
                bus.port()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
