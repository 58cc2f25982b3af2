//! From a survey of the listed nodes (and every node they know) to the planner's [`Layout`],
//! and what keeps a plan from being made yet: nodes that do not answer but that no peer has
//! flagged `fail` (Redis has not decided they are dead), listed nodes that do not answer, and
//! new nodes that cannot join.

use std::collections::BTreeMap;

use redis_cluster::survey::survey;
use redis_cluster::survey::ProbeError;
use redis_cluster::{ConnectOptions, NodeAddr, NodeTable, Role, Server, Survey};

use super::audit;
use super::layout::{Layout, LayoutNode};
use crate::preflight::node_problems;

/// A layout and what stands in the way of planning on it.
#[derive(Debug)]
pub struct Observation {
    pub layout: Layout,
    /// Nodes that do not answer and that no peer flags `fail` yet: Redis decides within the
    /// node timeout whether they are dead.
    pub suspects: Vec<String>,
    /// Listed nodes that did not answer, with the reason.
    pub unreachable: Vec<(NodeAddr, ProbeError)>,
    /// Why listed new nodes cannot join (keys, no cluster support, old version).
    pub problems: Vec<String>,
    /// Masters holding keys in databases other than 0 (Valkey's `cluster-databases`), in
    /// words: converge moves the keys of database 0 only.
    pub other_databases: Vec<String>,
    /// Atomic slot migrations still running (a killed run's, or someone else's), in words;
    /// nothing is planned until they end. Only [`observe`] asks.
    pub migrations: Vec<String>,
    /// The server of each node that answered.
    pub servers: BTreeMap<NodeAddr, Server>,
}

/// Surveys `listed` and every node they know, and counts the keys masters hold where no client
/// finds them (see [`LayoutNode::stray`]).
pub fn observe(listed: &[NodeAddr], options: &ConnectOptions) -> Observation {
    let options = &options.vouching(listed.iter().copied());
    let survey = survey(listed, options, true);
    let mut observation = layout_of(&survey, listed);
    // While a job moves a slot its target holds keys of a slot it does not serve yet: not
    // strays, and nothing to plan around until the job has ended.
    observation.migrations = super::atomic::running(&survey, &observation.layout);
    if !observation.migrations.is_empty() {
        return observation;
    }
    let deadline = redis_cluster::Deadline::after(options.timeout);
    match audit::strays(&survey, &observation.layout, options, deadline) {
        Ok(found) => {
            for (addr, stray) in found {
                if let Some(node) = observation
                    .layout
                    .nodes
                    .iter_mut()
                    .find(|n| n.addr == Some(addr))
                {
                    node.stray = stray;
                }
            }
        }
        Err(why) => observation.problems.push(why),
    }
    observation
}

/// Surveys `listed` and every node they know, without counting keys: roles, slots and open
/// slots only, as a step checks them right before it acts.
pub fn observe_roles(listed: &[NodeAddr], options: &ConnectOptions) -> Observation {
    let options = &options.vouching(listed.iter().copied());
    layout_of(&survey(listed, options, true), listed)
}

/// The layout of a survey (pure).
pub fn layout_of(survey: &Survey, listed: &[NodeAddr]) -> Observation {
    let table = NodeTable::build(survey, &BTreeMap::new());
    let mut problems: Vec<String> = table
        .id_conflicts
        .iter()
        .map(|c| {
            format!(
                "{} and {} both answer as node {} with different views: one of them is not that node; find out which before changing the cluster",
                c.kept, c.other, c.id
            )
        })
        .collect();
    let mut nodes = Vec::new();
    let mut suspects = Vec::new();
    let mut unreachable = Vec::new();
    for node in &table.nodes {
        let Some(id) = node.id else {
            if let (Some(addr), Some(error)) = (node.addr, node.error) {
                if listed.contains(&addr) {
                    unreachable.push((addr, error.clone()));
                }
            }
            continue;
        };
        let line = node.line.expect("nodes with an id have a line");
        if line.flags.handshake {
            continue;
        }
        let answered = node.own_line;
        let joined = match node.state.and_then(|s| s.cluster.as_ref()) {
            Some(view) => view.info.known_nodes().unwrap_or(1) > 1,
            None => true,
        };
        if !answered && !node.failed() {
            if matches!(node.error, Some(ProbeError::NotAsked)) {
                problems.push(format!(
                    "{} is in the cluster but not listed, and the password goes only to the nodes given, so it was not asked: list it to keep it, or pass --remove {} to drain it and take it out",
                    node.label, node.label
                ));
                continue;
            }
            suspects.push(node.label.clone());
        }
        if answered && !joined {
            if let Some(state) = node.state {
                problems.extend(node_problems(state));
            }
        }
        let open = |direction| {
            if !answered {
                return Vec::new();
            }
            line.own_open_slots()
                .iter()
                .filter(|o| o.direction == direction)
                .map(|o| (o.slot, o.peer.clone()))
                .collect()
        };
        nodes.push(LayoutNode {
            id: id.to_string(),
            addr: node.addr,
            alive: answered,
            joined,
            master: match node.role() {
                Role::Replica => node.master_id().map(str::to_string),
                _ => None,
            },
            slots: node.slots().to_vec(),
            migrating: open(redis_cluster::nodes::Direction::Migrating),
            importing: open(redis_cluster::nodes::Direction::Importing),
            stray: Vec::new(),
        });
    }
    problems.extend(separate_clusters(survey));
    let other_databases = survey
        .reached
        .iter()
        .filter(|state| !state.info.is_replica())
        .flat_map(|state| {
            state
                .info
                .keys_by_database()
                .into_iter()
                .filter(|&(db, keys)| db != 0 && keys > 0)
                .map(move |(db, keys)| {
                    format!(
                        "{} holds {} in database {db}",
                        state.addr,
                        toolkit::words::counted(keys, "key")
                    )
                })
        })
        .collect();
    nodes.sort_by(|a, b| (a.addr, &a.id).cmp(&(b.addr, &b.id)));
    Observation {
        layout: Layout { nodes },
        suspects,
        unreachable,
        problems,
        other_databases,
        migrations: Vec::new(),
        servers: survey
            .reached
            .iter()
            .filter_map(|s| Some((s.addr, Server::from_info(&s.info)?)))
            .collect(),
    }
}

/// Masters serving slots that do not know each other belong to two clusters: converging them
/// as one would move slots between clusters.
fn separate_clusters(survey: &Survey) -> Vec<String> {
    let serving: Vec<(NodeAddr, &str, Vec<&str>)> = survey
        .reached
        .iter()
        .filter_map(|state| {
            let view = state.cluster.as_ref()?;
            let me = view.myself()?;
            (me.flags.master && !me.slots.is_empty()).then(|| {
                let known = view.nodes.iter().map(|l| l.id.as_str()).collect();
                (state.addr, me.id.as_str(), known)
            })
        })
        .collect();
    let mut problems = Vec::new();
    for (i, (a, _, known)) in serving.iter().enumerate() {
        for (b, id, _) in &serving[i + 1..] {
            if !known.contains(id) {
                problems.push(format!(
                    "{a} and {b} serve slots of two different clusters; converge one cluster at a time, leaving the other's nodes out"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use redis_cluster::survey::ClusterView;
    use redis_cluster::{parse_cluster_nodes, Info, NodeState, ProbeError};

    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191 [5->-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]\n\
                     bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 127.0.0.2:7001@17001 master - 0 0 2 connected 8192-16383\n\
                     cccccccccccccccccccccccccccccccccccccccc 127.0.0.3:7002@17002 slave,fail bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 0 0 2 disconnected\n\
                     dddddddddddddddddddddddddddddddddddddddd 127.0.0.3:7003@17003 master,fail? - 0 0 0 connected\n";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 127.0.0.2:7001@17001 myself,master - 0 0 2 connected 8192-16383 [5-<-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n\
                     aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 127.0.0.1:7000@17000 master - 0 0 1 connected 0-8191\n\
                     cccccccccccccccccccccccccccccccccccccccc 127.0.0.3:7002@17002 slave bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 0 0 2 disconnected\n\
                     dddddddddddddddddddddddddddddddddddddddd 127.0.0.3:7003@17003 master - 0 0 0 connected\n";

    fn state(addr: &str, nodes: &str, known: u32, keys: u32) -> NodeState {
        NodeState {
            addr: addr.parse().unwrap(),
            info: Info::parse(&format!(
                "redis_version:7.0.15\r\ncluster_enabled:1\r\ndb0:keys={keys},expires=0\r\n"
            )),
            cluster: Some(ClusterView {
                info: Info::parse(&format!("cluster_known_nodes:{known}\r\n")),
                nodes: parse_cluster_nodes(nodes).unwrap(),
            }),
            migrations: Ok(Vec::new()),
        }
    }

    #[test]
    fn dead_suspect_new_and_open_slots_are_told_apart() {
        let down = || ProbeError::Connect("refused".into());
        let survey = Survey {
            reached: vec![
                state("127.0.0.1:7000", A, 4, 0),
                state("127.0.0.2:7001", B, 4, 0),
                state(
                    "127.0.0.4:7004",
                    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee 127.0.0.4:7004@17004 myself,master - 0 0 0 connected\n",
                    1,
                    3,
                ),
            ],
            unreachable: vec![
                ("127.0.0.3:7002".parse().unwrap(), down()),
                ("127.0.0.3:7003".parse().unwrap(), down()),
            ],
            beyond_limit: false,
        };
        let listed: Vec<NodeAddr> = ["127.0.0.1:7000", "127.0.0.2:7001", "127.0.0.4:7004"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let seen = layout_of(&survey, &listed);
        let node = |id: &str| seen.layout.by_id(id).unwrap();
        let id = |digit: char| digit.to_string().repeat(40);
        assert_eq!(node(&id('a')).migrating, [(5, id('b'))]);
        assert_eq!(node(&id('b')).importing, [(5, id('a'))]);
        let c = node(&id('c'));
        assert!(!c.alive && c.master == Some(id('b')));
        // Only suspected (fail?) by one peer: Redis has not decided yet.
        assert_eq!(seen.suspects, ["127.0.0.3:7003"]);
        assert!(!node(&id('e')).joined);
        assert_eq!(
            seen.problems,
            ["127.0.0.4:7004: holds 3 keys; a new cluster starts from empty nodes: move the data away, or empty it with 'redis-cluster-create reset --flush'"]
        );
        assert!(seen.unreachable.is_empty());
    }

    #[test]
    fn masters_of_two_clusters_are_refused() {
        let one = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\n";
        let two = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 127.0.0.2:7001@17001 myself,master - 0 0 1 connected 0-16383\n\
                   cccccccccccccccccccccccccccccccccccccccc 127.0.0.3:7002@17002 slave bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 0 0 1 connected\n";
        let survey = Survey {
            reached: vec![
                state("127.0.0.1:7000", one, 1, 0),
                state("127.0.0.2:7001", two, 2, 0),
            ],
            unreachable: Vec::new(),
            beyond_limit: false,
        };
        let seen = layout_of(&survey, &[]);
        assert!(
            seen.problems.iter().any(|p| p
                == "127.0.0.1:7000 and 127.0.0.2:7001 serve slots of two different clusters; converge one cluster at a time, leaving the other's nodes out"),
            "{:?}",
            seen.problems
        );
    }
}
