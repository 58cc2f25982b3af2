//! The verdict on reports and carpctl statuses recorded from real redis-server instances
//! (three hosts, 127.0.0.1 to 127.0.0.3, two instances each) and a real carpctl engine pair
//! (vhids 10 and 11), in `tests/fixtures/carp-verdict`.

use super::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/carp-verdict/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn report(name: &str) -> Report {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn carp(name: &str) -> CarpStatus {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn judge(report_name: &str, host: &str, carp_name: &str) -> Verdict {
    verdict(&report(report_name), host, &carp(carp_name)).unwrap()
}

#[test]
fn a_healthy_host_with_nothing_demoted_is_left_alone() {
    let v = judge("healthy", "redis1", "carp-up");
    assert!(!v.broken && v.instances.is_empty(), "{v:#?}");
    assert_eq!((v.action, v.cause), (Action::None, Cause::Healthy));
    assert_eq!((v.vhids, v.demoted, v.held), (vec![10, 11], vec![], vec![]));
    assert_eq!(
        v.reason,
        "redis1's instances are healthy; every vhid (10 and 11) is not demoted"
    );
}

#[test]
fn an_own_instance_unreachable_demotes() {
    let v = judge("own-unreachable", "redis1", "carp-up");
    assert_eq!((v.action, v.cause), (Action::Demote, Cause::Broken));
    assert_eq!(v.instances.len(), 1, "{v:#?}");
    assert_eq!(v.instances[0].node, "127.0.0.1:26802");
    assert_eq!(v.instances[0].checks, [CheckName::Reachable]);
    assert!(
        v.instances[0].problems[0].starts_with("127.0.0.1:26802 does not answer"),
        "{v:#?}"
    );
    assert_eq!(
        v.reason,
        "redis1's instance 127.0.0.1:26802 (unreachable) is broken; vhids 10 and 11 are not demoted yet"
    );
}

#[test]
fn an_own_instance_with_cluster_state_fail_demotes() {
    // 127.0.0.1:26802 after CLUSTER RESET SOFT: it answers, alone, with cluster_state:fail.
    let v = judge("own-state-fail", "redis1", "carp-up");
    assert_eq!((v.action, v.cause), (Action::Demote, Cause::Broken));
    let nodes: Vec<&str> = v.instances.iter().map(|i| i.node.as_str()).collect();
    assert_eq!(nodes, ["127.0.0.1:26802"]);
    assert_eq!(v.instances[0].checks, [CheckName::ClusterState]);
}

#[test]
fn another_hosts_broken_instance_leaves_this_host_alone() {
    // The reset instance on redis1 puts every node into the CRITICAL slot_agreement check,
    // which names both sides of the disagreement: redis2 must not demote for it.
    let v = judge("own-state-fail", "redis2", "carp-up");
    assert!(!v.broken, "{v:#?}");
    assert_eq!((v.action, v.cause), (Action::None, Cause::Healthy));
    // redis2's master is down and its replica on redis1 took over: redis1 runs two masters
    // (WARNING) but is not broken; redis2 is.
    let v = judge("other-host-failed", "redis1", "carp-up");
    assert_eq!((v.broken, v.action), (false, Action::None));
    let v = judge("other-host-failed", "redis2", "carp-up");
    assert_eq!((v.broken, v.action), (true, Action::Demote));
    assert_eq!(v.instances[0].node, "127.0.0.2:26801");
}

#[test]
fn a_broken_host_already_demoted_is_left_alone() {
    // Demoted by this check a minute ago (no hold).
    let v = judge("own-unreachable", "redis1", "carp-demoted");
    assert_eq!((v.action, v.cause), (Action::None, Cause::AlreadyDemoted));
    assert_eq!(
        v.reason,
        "redis1's instance 127.0.0.1:26802 (unreachable) is broken; every vhid (10 and 11) is demoted already"
    );
    // Demoted by an operator.
    let v = judge("own-unreachable", "redis1", "carp-held");
    assert_eq!((v.action, v.cause), (Action::None, Cause::AlreadyDemoted));
    assert!(
        v.reason
            .ends_with("(vhids 10 and 11 are held demoted by hand since 2026-12-05T14:15:27.754Z)"),
        "{}",
        v.reason
    );
}

#[test]
fn a_broken_host_demotes_the_groups_a_hold_of_one_vhid_left_up() {
    // An operator held vhid 10 only; vhid 11 still carries the VIP of a broken host.
    let v = judge("own-unreachable", "redis1", "carp-held-vhid10");
    assert_eq!((v.action, v.cause), (Action::Demote, Cause::Broken));
    assert!(
        v.reason.ends_with("vhid 11 is not demoted yet"),
        "{}",
        v.reason
    );
}

#[test]
fn a_recovered_host_promotes_what_it_demoted_itself() {
    let v = judge("healthy", "redis1", "carp-demoted");
    assert_eq!((v.action, v.cause), (Action::Promote, Cause::Recovered));
    assert_eq!(
        v.reason,
        "redis1's instances are healthy; vhids 10 and 11 are demoted without a hold"
    );
    // vhid 11 was demoted by the check, vhid 10 held by hand: promote --unless-held takes
    // back 11 and leaves 10.
    let v = judge("healthy", "redis1", "carp-held-vhid10-demoted");
    assert_eq!((v.action, v.cause), (Action::Promote, Cause::Recovered));
    assert_eq!(v.held, [10]);
    assert_eq!(
        v.reason,
        "redis1's instances are healthy; vhid 11 is demoted without a hold; vhid 10 is held demoted by hand since 2026-12-05T14:15:27.817Z, and stays so"
    );
}

#[test]
fn an_operators_hold_is_left_in_place() {
    for carp_name in ["carp-held", "carp-held-vhid10"] {
        let v = judge("healthy", "redis1", carp_name);
        assert_eq!(
            (v.action, v.cause),
            (Action::None, Cause::Held),
            "{carp_name}"
        );
        assert!(
            v.reason.ends_with("; `carpctl promote` clears the hold"),
            "{}",
            v.reason
        );
    }
}

#[test]
fn without_a_carp_engine_nothing_moves() {
    for report_name in ["healthy", "own-unreachable"] {
        let v = judge(report_name, "redis1", "carp-no-engine");
        assert_eq!((v.action, v.cause), (Action::None, Cause::NoEngine));
        assert_eq!(v.broken, report_name != "healthy");
        assert!(v
            .reason
            .ends_with("no CARP engine runs here (carpctl status shows no vhid)"));
    }
}

#[test]
fn the_kernels_system_wide_demotion_counts_when_positive() {
    // FreeBSD: the vhids as carpctl status prints the kernel's (no engine fields), one
    // demotion for all; a negative one (set by hand) demotes nothing.
    let kernel = |demotion: i64| -> CarpStatus {
        let vhid = |n: u8| {
            serde_json::json!({"interface": "em1", "vhid": n, "state": "BACKUP", "carpver": 2,
                "advbase": 1, "advskew": 100, "vrrpprio": 0, "vrrpinterval": 0,
                "vips": ["10.0.10.100/24"], "demotion": demotion, "effective_skew": 240})
        };
        serde_json::from_value(serde_json::json!({"vhids": [vhid(10), vhid(11)], "holds": []}))
            .unwrap()
    };
    let healthy = report("healthy");
    let v = verdict(&healthy, "redis1", &kernel(240)).unwrap();
    assert_eq!(v.action, Action::Promote);
    let v = verdict(&healthy, "redis1", &kernel(-10)).unwrap();
    assert_eq!((v.action, v.demoted), (Action::None, vec![]));
}

#[test]
fn an_unknown_host_is_refused_naming_the_known_ones() {
    let err = verdict(&report("healthy"), "redis9", &carp("carp-up")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("host 'redis9'"), "{text}");
    assert!(
        text.contains("(its hosts: redis1, redis2 and redis3)"),
        "{text}"
    );
}

#[test]
fn the_text_line_starts_with_the_action() {
    let v = judge("own-unreachable", "redis1", "carp-up");
    let text = v.text();
    assert!(
        text.starts_with("demote: redis1's instance 127.0.0.1:26802"),
        "{text}"
    );
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
}

#[test]
fn the_verdict_json_names_action_and_cause_in_words() {
    let v = judge("healthy", "redis1", "carp-held");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["action"], "none");
    assert_eq!(json["cause"], "held");
    let back: Verdict = serde_json::from_value(json).unwrap();
    assert_eq!(back, v);
}
