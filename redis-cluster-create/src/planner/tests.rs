use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn candidates(hosts_of_nodes: &[usize]) -> Vec<Candidate> {
    hosts_of_nodes
        .iter()
        .enumerate()
        .map(|(i, &h)| Candidate {
            addr: format!("10.0.0.{}:{}", h + 1, 7000 + i).parse().unwrap(),
            host: format!("h{h}"),
        })
        .collect()
}

/// (replicas beside their master, pairs of sibling replicas sharing a host), from a plan.
fn cost_of(plan: &Plan) -> (usize, usize) {
    let mut same = 0;
    let mut pairs = 0;
    for m in &plan.masters {
        same += m.replicas.iter().filter(|r| r.host == m.host).count();
        let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &m.replicas {
            *per_host.entry(&r.host).or_default() += 1;
        }
        pairs += per_host.values().map(|k| k * (k - 1) / 2).sum::<usize>();
    }
    (same, pairs)
}

/// The spread rule: a host may have two masters more than another only if that other host
/// has no node left to make a master.
fn masters_spread(host_of: &[usize], master_hosts: &[usize]) -> bool {
    let hosts = host_of.iter().max().map_or(0, |m| m + 1);
    let capacity: Vec<usize> = (0..hosts)
        .map(|h| host_of.iter().filter(|&&x| x == h).count())
        .collect();
    let count: Vec<usize> = (0..hosts)
        .map(|h| master_hosts.iter().filter(|&&x| x == h).count())
        .collect();
    (0..hosts).all(|a| (0..hosts).all(|b| count[a] <= count[b] + 1 || count[b] == capacity[b]))
}

/// The best (same-host, sibling pairs) any placement keeping the spread rule reaches, by
/// trying every master set and every assignment of replicas.
fn brute_force_best(host_of: &[usize], replicas: usize) -> (usize, usize) {
    let n = host_of.len();
    let masters = n / (replicas + 1);
    let share = (n - masters) / masters;
    let mut best = (usize::MAX, usize::MAX);
    for set in 0u32..(1 << n) {
        if set.count_ones() as usize != masters {
            continue;
        }
        let master_nodes: Vec<usize> = (0..n).filter(|i| set & (1 << i) != 0).collect();
        let master_hosts: Vec<usize> = master_nodes.iter().map(|&i| host_of[i]).collect();
        if !masters_spread(host_of, &master_hosts) {
            continue;
        }
        let replica_nodes: Vec<usize> = (0..n).filter(|i| set & (1 << i) == 0).collect();
        let total = masters.pow(u32::try_from(replica_nodes.len()).unwrap());
        for code in 0..total {
            let mut rest = code;
            let mut chosen = Vec::new();
            for _ in &replica_nodes {
                chosen.push(rest % masters);
                rest /= masters;
            }
            let load: Vec<usize> = (0..masters)
                .map(|m| chosen.iter().filter(|&&c| c == m).count())
                .collect();
            if load.iter().any(|&l| l < share || l > share + 1) {
                continue;
            }
            let mut same = 0;
            let mut per: BTreeMap<(usize, usize), usize> = BTreeMap::new();
            for (r, &m) in replica_nodes.iter().zip(&chosen) {
                if host_of[*r] == master_hosts[m] {
                    same += 1;
                }
                *per.entry((m, host_of[*r])).or_default() += 1;
            }
            let pairs = per.values().map(|k| k * (k - 1) / 2).sum();
            best = best.min((same, pairs));
        }
    }
    best
}

#[test]
fn six_nodes_on_three_hosts_keep_every_rule() {
    let plan = plan(&candidates(&[0, 1, 2, 0, 1, 2]), 1).unwrap();
    assert!(plan.compromises.is_empty(), "{:?}", plan.compromises);
    let slots: Vec<String> = plan
        .masters
        .iter()
        .map(|m| m.slots[0].to_string())
        .collect();
    assert_eq!(slots, ["0-5461", "5462-10922", "10923-16383"]);
    for m in &plan.masters {
        assert_eq!(m.replicas.len(), 1);
        assert_ne!(m.replicas[0].host, m.host);
    }
}

// Regression: redis-cli left all 9 nodes as masters here; every master must get two replicas
// on the two other hosts.
#[test]
fn nine_nodes_on_three_hosts_with_two_replicas() {
    let plan = plan(&candidates(&[0, 1, 2, 0, 1, 2, 0, 1, 2]), 2).unwrap();
    assert!(plan.compromises.is_empty(), "{:?}", plan.compromises);
    for m in &plan.masters {
        let mut hosts: Vec<&str> = m.replicas.iter().map(|r| r.host.as_str()).collect();
        hosts.push(&m.host);
        hosts.sort_unstable();
        hosts.dedup();
        assert_eq!(hosts.len(), 3, "{m:?}");
    }
}

#[test]
fn one_host_states_every_compromise() {
    let plan = plan(&candidates(&[0; 6]), 1).unwrap();
    assert_eq!(plan.compromises.len(), 3, "{:?}", plan.compromises);
    assert!(plan.compromises[0].contains("shares host 'h0' with its master"));
}

#[test]
fn duplicates_and_too_few_masters_are_refused() {
    let mut nodes = candidates(&[0, 1, 2, 0, 1, 2]);
    nodes[4].addr = nodes[1].addr;
    assert_eq!(
        plan(&nodes, 1).unwrap_err().to_string(),
        "node '10.0.0.2:7001' is given more than once"
    );
    let err = plan(&candidates(&[0, 1, 2, 0, 1]), 1)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "5 nodes with --replicas 1 give 2 masters; Redis Cluster needs at least 3: give at least 6 nodes or ask for fewer replicas"
    );
}

#[test]
fn extra_nodes_become_extra_replicas() {
    let plan = plan(&candidates(&[0, 1, 2, 0, 1, 2, 0]), 1).unwrap();
    let counts: Vec<usize> = plan.masters.iter().map(|m| m.replicas.len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 4);
    assert!(counts.iter().all(|&c| c == 1 || c == 2));
}

#[test]
fn slot_ranges_cover_everything_in_near_equal_parts() {
    for masters in [3, 7, 60, 16384] {
        let ranges = slot_ranges(masters);
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges.last().unwrap().end, SLOT_COUNT - 1);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end + 1, pair[1].start);
        }
        let sizes: Vec<usize> = ranges.iter().map(SlotRange::count).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }
}

fn layout() -> impl Strategy<Value = (Vec<usize>, usize)> {
    (1usize..=4, 3usize..=9, 0usize..=2)
        .prop_flat_map(|(hosts, n, replicas)| {
            (proptest::collection::vec(0..hosts, n), Just(replicas))
        })
        .prop_filter("at least 3 masters", |(nodes, r)| {
            nodes.len() / (r + 1) >= 3
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn placement_is_as_good_as_brute_force((host_of, replicas) in layout()) {
        let plan = plan(&candidates(&host_of), u32::try_from(replicas).unwrap()).unwrap();
        prop_assert_eq!(cost_of(&plan), brute_force_best(&host_of, replicas));
    }

    #[test]
    fn plans_are_valid_spread_and_deterministic((host_of, replicas) in layout()) {
        let nodes = candidates(&host_of);
        let replicas = u32::try_from(replicas).unwrap();
        let first = plan(&nodes, replicas).unwrap();
        prop_assert_eq!(&first, &plan(&nodes, replicas).unwrap());
        prop_assert!(first.problems().is_empty(), "{:?}", first.problems());
        prop_assert_eq!(first.nodes().count(), nodes.len());
        let host_index = |h: &str| h[1..].parse::<usize>().unwrap();
        let master_hosts: Vec<usize> = first.masters.iter().map(|m| host_index(&m.host)).collect();
        prop_assert!(masters_spread(&host_of, &master_hosts));
        let sizes: Vec<usize> = first.masters.iter().map(|m| m.slots[0].count()).collect();
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        let (same, pairs) = cost_of(&first);
        let stated_same = first.compromises.iter().filter(|c| c.contains("with its master")).count();
        let stated_pairs = first.compromises.iter().filter(|c| c.starts_with("replicas ")).count();
        prop_assert_eq!(stated_same, same);
        prop_assert_eq!(stated_pairs > 0, pairs > 0);
    }
}
