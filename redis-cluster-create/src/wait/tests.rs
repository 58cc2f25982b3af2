use super::*;

const IDS: [&str; 4] = [
    "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
    "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
    "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
    "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4",
];

/// Three masters on 127.0.0.1/2/3 and a replica of the first on .2.
fn plan() -> Plan {
    Plan::parse(
        r#"{"schema":1,"replicas":0,"masters":[
        {"addr":"127.0.0.1:7000","host":"127.0.0.1","slots":[[0,5461]],
         "replicas":[{"addr":"127.0.0.2:7003","host":"127.0.0.2"}]},
        {"addr":"127.0.0.2:7001","host":"127.0.0.2","slots":[[5462,10922]],"replicas":[]},
        {"addr":"127.0.0.3:7002","host":"127.0.0.3","slots":[[10923,16383]],"replicas":[]}]}"#,
        "t",
    )
    .unwrap()
}

fn expected() -> Vec<Expected> {
    expectations(&plan(), &IDS.map(String::from))
}

/// The view of node `me` when everything is right, with `edit` applied to the line text.
fn view(me: usize, edit: &dyn Fn(usize, String) -> String) -> Snapshot {
    let lines = [
        "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 127.0.0.1:7000@17000 master - 0 0 1 connected 0-5461",
        "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2 127.0.0.2:7001@17001 master - 0 0 2 connected 5462-10922",
        "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3 127.0.0.3:7002@17002 master - 0 0 3 connected 10923-16383",
        "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4 127.0.0.2:7003@17003 slave a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 0 0 4 connected",
    ];
    let text: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = if i == me {
                l.replacen(" master", " myself,master", 1)
                    .replacen(" slave", " myself,slave", 1)
            } else {
                (*l).to_string()
            };
            edit(i, l)
        })
        .collect();
    Snapshot {
        cluster_info: Info::parse("cluster_state:ok\r\n"),
        nodes: parse_cluster_nodes(&text.join("\n")).unwrap(),
        replication: Info::parse(if me == 3 {
            "role:slave\r\nmaster_link_status:up\r\n"
        } else {
            "role:master\r\n"
        }),
    }
}

fn all(edit: &dyn Fn(usize, usize, String) -> String) -> Vec<Result<Snapshot, String>> {
    (0..4)
        .map(|me| Ok(view(me, &|i, l| edit(me, i, l))))
        .collect()
}

#[test]
fn a_matching_cluster_is_ready_everywhere() {
    let snapshots = all(&|_, _, l| l);
    for (i, snapshot) in snapshots.iter().enumerate() {
        assert!(not_ready_reasons(&expected(), i, snapshot).is_empty());
    }
    assert!(diagnose(&expected(), &snapshots, &|_| Ok(())).is_empty());
}

#[test]
fn a_replica_with_its_link_down_is_not_ready() {
    let mut snapshots = all(&|_, _, l| l);
    if let Ok(s) = &mut snapshots[3] {
        s.replication = Info::parse("role:slave\r\nmaster_link_status:down\r\n");
    }
    assert_eq!(
        not_ready_reasons(&expected(), 3, &snapshots[3]),
        ["its link to its master is not up yet"]
    );
}

// The how-to's VIP problem: 127.0.0.2:7001 is bound to .2 but its connections leave from .1,
// so the others learned it as 127.0.0.1:7001.
#[test]
fn a_node_known_under_another_address_gets_the_announce_advice() {
    let snapshots = all(&|me, i, l| {
        if i == 1 && me != 1 {
            l.replace("127.0.0.2:7001", "127.0.0.1:7001")
        } else {
            l
        }
    });
    let text = diagnose(&expected(), &snapshots, &|_| Ok(())).join("\n");
    assert!(
        text.contains("127.0.0.2:7001 is known to its peers as 127.0.0.1:7001 (its connections leave from another address than the one it is bound to); start it with cluster-announce-ip 127.0.0.2 or pass --announce"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1:7000: not ready: knows 127.0.0.2:7001 as 127.0.0.1:7001"));
}

#[test]
fn an_unreachable_bus_names_the_peers_that_cannot_reach_it() {
    let snapshots = all(&|me, i, l| {
        if i == 2 && me != 2 {
            l.replace(
                " master - 0 0 3 connected",
                " master,fail? - 0 0 3 disconnected",
            )
        } else {
            l
        }
    });
    let text = diagnose(&expected(), &snapshots, &|_| {
        Err("connection refused".into())
    })
    .join("\n");
    assert!(text.contains("127.0.0.3:7002: cluster bus 127.0.0.3:17002 unreachable from every peer (not reachable from here either: connection refused)"), "{text}");
    assert!(text.contains("127.0.0.1:7000: not ready: sees 127.0.0.3:7002 as failing"));
}

// A node that learned a peer through the peer's own handshake has not read its role yet; it
// gets a fresh introduction from that peer instead of waiting for the next regular ping.
#[test]
fn views_missing_a_role_or_slots_are_stale() {
    let snapshots = all(&|me, i, l| match (me, i) {
        (0, 3) => l.replace(
            " slave a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 ",
            " master - ",
        ),
        (2, 1) => l.replace(" 5462-10922", ""),
        _ => l,
    });
    assert_eq!(stale_views(&expected(), &snapshots), [(0, 3), (2, 1)]);
    assert!(stale_views(&expected(), &all(&|_, _, l| l)).is_empty());
}

// Seen in a fault history: a master bumped its epoch importing slots and died a second after
// converge ended; one master knew the new epoch, its replica did not, and that master refused
// every vote. Converge waits until every node knows each master's latest epoch.
#[test]
fn a_node_that_has_not_learned_a_masters_config_epoch_is_not_ready() {
    // The master itself and 127.0.0.3 know epoch 9; the others still know 1.
    let snapshots = all(&|me, i, l| {
        if i == 0 && (me == 0 || me == 2) {
            l.replacen(" 0 0 1 connected", " 0 0 9 connected", 1)
        } else {
            l
        }
    });
    let reasons = all_reasons(&expected(), &snapshots);
    assert!(reasons[0].is_empty() && reasons[2].is_empty());
    for lagging in [1, 3] {
        assert_eq!(
            reasons[lagging],
            ["has not learned the config epoch 9 of 127.0.0.1:7000 yet (knows 1)"]
        );
    }
    assert!(all_reasons(&expected(), &all(&|_, _, l| l))
        .iter()
        .all(Vec::is_empty));
}
