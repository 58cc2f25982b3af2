//! Hostile and unlucky input: what an attacker or a tired operator might hand a tool as its
//! site. Each test names the scenario it protects; each refusal must name the field.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// The problem lines of `value`, which must be refused.
fn refused(value: &serde_json::Value) -> Vec<String> {
    let problems = problems_of(value);
    assert!(!problems.is_empty(), "accepted: {value}");
    problems
}

/// The whole message of refusing `text`.
fn message_of(text: &str) -> String {
    Site::parse(text, "site.json").unwrap_err().to_string()
}

/// Every interface field of the how-to set to `name`, and the hosts' addresses moved to it
/// where the field named their interface.
fn with_interface(field: &str, name: &str) -> serde_json::Value {
    let mut v = howto_value();
    let (section, key) = field.split_once('.').unwrap();
    let old = v[section][key].as_str().unwrap().to_string();
    v[section][key] = name.into();
    for host in v["hosts"].as_array_mut().unwrap() {
        let addresses = host["addresses"].as_object_mut().unwrap();
        let address = addresses.remove(&old).unwrap();
        addresses.insert(name.to_string(), address);
    }
    v
}

// Issue "hardened" item 1: an interface named to run a command when rc.conf is sourced.
#[test]
fn shell_injection_in_an_address_key_is_refused_with_its_path() {
    let mut v = howto_value();
    v["hosts"][0]["addresses"]["lo9;touch${IFS}pwned;x"] = "10.9.9.9/24".into();
    let problems = refused(&v);
    assert_eq!(
        problems,
        [
            "hosts[0].addresses[\"lo9;touch${IFS}pwned;x\"]: invalid interface name \
          'lo9;touch${IFS}pwned;x': use only letters, digits, '_', '.' and '-'"
        ]
    );
}

// Issue "hardened" item 1: the same name in every field that names an interface.
#[test]
fn shell_injection_in_every_interface_field_is_refused_with_its_path() {
    for field in [
        "cluster.bind_interface",
        "carp.interface",
        "pfsync.interface",
        "firewall.internal_interface",
    ] {
        let evil = "lo9;touch${IFS}pwned;x";
        let problems = refused(&with_interface(field, evil));
        let expected = format!("{field}: invalid interface name '{evil}'");
        assert!(
            problems.iter().any(|p| p.starts_with(&expected)),
            "{field}: {problems:?}"
        );
    }
}

#[test]
fn interface_names_outside_what_linux_and_freebsd_allow_are_refused() {
    for (name, why) in [
        ("em0123456789abcd", "longer than 15 bytes"),
        ("-up", "it must start with a letter"),
        ("..", "it must start with a letter"),
        ("0em", "it must start with a letter"),
        ("em 1", "use only letters"),
        ("em1\n", "use only letters"),
        ("eth/0", "use only letters"),
        ("", "it is empty"),
    ] {
        let problems = refused(&with_interface("pfsync.interface", name));
        assert!(
            problems.iter().any(
                |p| p.starts_with("pfsync.interface: invalid interface name") && p.contains(why)
            ),
            "{name:?}: {problems:?}"
        );
    }
    // A VLAN interface and the longest name are fine.
    assert!(problems_of(&with_interface("pfsync.interface", "em2.100")).is_empty());
    assert!(problems_of(&with_interface("pfsync.interface", "abcdefghijklmno")).is_empty());
}

// A control character in a name must not reach the terminal raw (escape sequences).
#[test]
fn control_characters_are_escaped_in_messages() {
    let problems = refused(&with_interface("pfsync.interface", "em\u{1b}[2J"));
    assert!(
        problems[0].contains(r"'em\u{1b}[2J'") && !problems[0].contains('\u{1b}'),
        "{problems:?}"
    );
    // A right-to-left override would show the operator another name than the one refused.
    let problems = refused(&with_interface("pfsync.interface", "em\u{202e}2"));
    assert!(problems[0].contains(r"'em\u{202e}2'"), "{problems:?}");
    assert!(problems
        .iter()
        .any(|p| p.starts_with(r#"hosts[0].addresses["em\u{202e}2"]: invalid interface name"#)));
}

#[test]
fn host_names_that_a_shell_or_a_path_would_read_otherwise_are_refused() {
    for name in [
        "redis1;reboot",
        "-rf",
        "../redis1",
        "redis 1",
        "",
        "redis1\n",
    ] {
        let mut v = howto_value();
        v["hosts"][1]["name"] = name.into();
        let problems = refused(&v);
        assert!(
            problems[0].starts_with("hosts[1].name: invalid host name"),
            "{name:?}: {problems:?}"
        );
    }
}

// Issue "hardened" item 9: allow_file with `..` escapes DESTDIR when staged.
#[test]
fn file_paths_must_be_absolute_plain_and_inside_the_tree() {
    for (field, path, why) in [
        (
            "firewall.allow_file",
            "/etc/../../root/.ssh/authorized_keys",
            "'..'",
        ),
        ("firewall.allow_file", "/etc/./redis_allow", "'..'"),
        (
            "firewall.allow_file",
            "etc/redis_allow",
            "not an absolute path",
        ),
        (
            "firewall.allow_file",
            "/etc/redis_allow\nx",
            "no spaces, quotes, line breaks",
        ),
        ("firewall.allow_file", "/etc/$(reboot)", "shell characters"),
        ("firewall.allow_file", "/etc/redis\"allow", "quotes"),
        ("firewall.allow_file", "/etc/", "names a directory"),
        ("carp.pass_file", "", "it is empty"),
        ("carp.pass_file", "/etc/carp pass", "no spaces"),
        ("carp.pass_file", "/etc/`id`", "shell characters"),
    ] {
        let mut v = howto_value();
        let (section, key) = field.split_once('.').unwrap();
        v[section][key] = path.into();
        let problems = refused(&v);
        assert_eq!(problems.len(), 1, "{path:?}: {problems:?}");
        assert!(
            problems[0].starts_with(&format!("{field}: invalid file path"))
                && problems[0].contains(why),
            "{path:?}: {problems:?}"
        );
    }
    let mut v = howto_value();
    v["firewall"]["allow_file"] = "/usr/local/etc/redis-allow_v2.txt".into();
    assert!(problems_of(&v).is_empty());
}

// Issue "hardened" item 2: a client range long enough to reach its own bus ports.
#[test]
fn client_ports_reaching_the_bus_ports_are_refused() {
    let mut v = howto_value();
    v["firewall"]["client_ports"] = json!([7000, 20000]);
    assert_eq!(
        refused(&v),
        [
            "firewall.client_ports: range [7000, 20000] reaches its own cluster bus ports \
          17000-30000 (each port + 10000), which the firewall would then open as client ports; \
          keep it under 10000 ports, covering cluster.ports, like [7000, 7100]"
        ]
    );
    // The longest range that stays apart is fine.
    v["firewall"]["client_ports"] = json!([7000, 16999]);
    assert!(problems_of(&v).is_empty());
}

// An instance port that is another instance's bus port: the two cannot both listen.
#[test]
fn an_instance_port_on_another_instances_bus_port_is_refused() {
    let mut v = howto_value();
    v.as_object_mut().unwrap().remove("firewall");
    v["cluster"]["ports"] = json!([7000, 17000]);
    assert_eq!(
        refused(&v),
        [
            "cluster.ports[1]: port 17000 is the cluster bus port of cluster.ports[0] (7000 + \
          10000); choose ports less than 10000 apart"
        ]
    );
}

// Issue "hardened" item 2: pfsync on the client network accepts state from clients.
#[test]
fn pfsync_sharing_a_link_with_clients_or_admins_is_refused() {
    let mut v = howto_value();
    v["pfsync"]["interface"] = "em1".into();
    let problems = refused(&v);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "pfsync.interface: 'em1' is also carp.interface; pfsync has no authentication, \
             so anyone on the client network"
        ),
        "{problems:?}"
    );
    v["pfsync"]["interface"] = "em0".into();
    let problems = refused(&v);
    assert!(
        problems[0].starts_with("pfsync.interface: 'em0' is also firewall.internal_interface"),
        "{problems:?}"
    );
}

#[test]
fn internal_interface_may_not_be_the_carp_interface() {
    let mut v = howto_value();
    v["firewall"]["internal_interface"] = "em1".into();
    assert!(refused(&v)[0].starts_with("firewall.internal_interface: 'em1' is also carp.interface"));
}

// Issue "hardened" item 2: `allow: ["0.0.0.0/0"]` was accepted silently.
#[test]
fn allow_entries_that_open_to_everyone_are_refused() {
    for (entry, why) in [
        ("0.0.0.0/0", "allows every address"),
        ("::/0", "allows every address"),
        ("0.0.0.0/1", "is wider than any internal network"),
        ("2000::/3", "is wider than any internal network"),
        // IPv4-mapped: every IPv4 client on a dual-stack socket (seen in a review: accepted).
        ("::ffff:0.0.0.0/96", "is wider than any internal network"),
        ("::/64", "is wider than any internal network"),
    ] {
        let mut v = howto_value();
        v["firewall"]["allow"] = json!(["192.168.1.50", entry]);
        let problems = refused(&v);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with(&format!("firewall.allow[1]: '{entry}' {why}")),
            "{problems:?}"
        );
    }
    let mut v = howto_value();
    v["firewall"]["allow"] = json!(["10.0.0.0/8", "fd00::/16", "::ffff:192.168.1.0/120"]);
    assert!(problems_of(&v).is_empty());
}

// Issue "hardened" item 9: u64::MAX was accepted and staged as a value redis-server refuses.
#[test]
fn node_timeout_is_bounded() {
    for bad in [
        json!(18_446_744_073_709_551_615_u64),
        json!(0),
        json!(-1),
        json!(3_600_001),
        json!(5000.5),
        json!("5000"),
    ] {
        let mut v = howto_value();
        v["cluster"]["node_timeout_ms"] = bad.clone();
        assert_eq!(
            refused(&v),
            [format!(
                "cluster.node_timeout_ms: expected a number from 1 to 3600000 (milliseconds), got {bad}"
            )]
        );
    }
    let mut v = howto_value();
    v["cluster"]["node_timeout_ms"] = json!(3_600_000);
    assert!(problems_of(&v).is_empty());
}

#[test]
fn ports_out_of_range_or_of_the_wrong_kind_are_refused() {
    for (bad, expected) in [
        (json!(0), "expected a port number from 1 to 55535, got 0"),
        (
            json!(-7000),
            "expected a port number from 1 to 55535, got -7000",
        ),
        (
            json!(70000),
            "expected a port number from 1 to 55535, got 70000",
        ),
        (
            json!("7001"),
            "expected a port number from 1 to 55535, got \"7001\"",
        ),
        (
            json!(65535),
            "port 65535 has cluster bus port 75535, above 65535; use ports up to 55535",
        ),
    ] {
        let mut v = howto_value();
        v["cluster"]["ports"][1] = bad;
        let problems = refused(&v);
        assert_eq!(problems, [format!("cluster.ports[1]: {expected}")]);
    }
    let mut v = howto_value();
    v["firewall"]["client_ports"] = json!([0, 7100]);
    assert_eq!(
        refused(&v),
        ["firewall.client_ports[0]: expected a port number from 1 to 55535, got 0"]
    );
    v["firewall"]["client_ports"] = json!([7000, 7050, 7100]);
    assert_eq!(
        refused(&v),
        ["firewall.client_ports: expected a port range [first, last], like [7000, 7100], got an array of 3 items"]
    );
}

// Issue "One house" item 5: `"vhid": "10"` hid a bad CIDR next to it, and the site crate
// spoke Rust (`expected u8`).
#[test]
fn a_type_error_hides_neither_a_bad_value_next_to_it_nor_a_cross_check() {
    let mut v = howto_value();
    v["carp"]["vhid"] = "10".into();
    v["carp"]["vip"] = "10.0.10.300/24".into();
    v["hosts"][2]["addresses"]
        .as_object_mut()
        .unwrap()
        .remove("em2");
    assert_eq!(
        refused(&v),
        [
            "carp.vhid: expected a number from 1 to 255, got \"10\"",
            "carp.vip: invalid CIDR '10.0.10.300/24' (expected an address with a prefix length, like 10.0.10.11/24)",
            "hosts[2].addresses: host 'redis3' has no address on interface 'em2' (named by pfsync.interface)",
        ]
    );
}

// The cross-checks read every value that could be read: a type error in one field of a
// section or a host does not switch off the checks on its other fields.
#[test]
fn a_type_error_leaves_the_rest_of_its_section_cross_checked() {
    let mut v = howto_value();
    v["carp"]["vhid"] = "10".into();
    v["carp"]["vip"] = "10.0.20.100/24".into();
    v["pfsync"]["interface"] = "em1".into();
    v["hosts"][1]["advskew"] = (-1).into();
    v["hosts"][1]["addresses"]["em0"] = "192.168.1.11/24".into();
    let problems = refused(&v);
    let starts: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "carp.vhid",
            "hosts[1].advskew",
            "hosts[1].addresses.em0",
            "pfsync.interface",
            "carp.vip",
            "carp.vip",
            "carp.vip"
        ],
        "{problems:#?}"
    );
    assert_eq!(
        problems[2],
        "hosts[1].addresses.em0: address 192.168.1.11 is also used at hosts[0].addresses.em0"
    );
}

#[test]
fn two_typos_give_two_problems() {
    let mut v = howto_value();
    v["cluster"]["replica"] = v["cluster"]["replicas"].take();
    v["cluster"].as_object_mut().unwrap().remove("replicas");
    v["hosts"][1]["advskwe"] = 100.into();
    assert_eq!(
        refused(&v),
        [
            "cluster.replica: unknown field; did you mean 'replicas'? cluster has: replicas, node_timeout_ms, ports, bind_interface",
            "cluster.replicas: missing: expected a number from 0 to 255",
            "hosts[1].advskwe: unknown field; did you mean 'advskew'? a host has: name, advskew, addresses, vrrpprio",
        ]
    );
}

#[test]
fn values_of_the_wrong_kind_are_named_in_json_terms() {
    for (field, value, expected) in [
        (
            "schema",
            json!("1"),
            "schema: expected the number 1, got \"1\"",
        ),
        (
            "hosts",
            json!({}),
            "hosts: expected a list of hosts [{…}, …], got an object",
        ),
        (
            "cluster",
            json!([]),
            "cluster: expected cluster as an object {…}, got an empty array",
        ),
        (
            "carp",
            json!(true),
            "carp: expected carp as an object {…}, got true",
        ),
    ] {
        let mut v = howto_value();
        v[field] = value;
        let problems = refused(&v);
        assert_eq!(problems[0], expected, "{problems:?}");
    }
    let mut v = howto_value();
    v["carp"]["preempt"] = "yes".into();
    v["hosts"][0]["advskew"] = 255.into();
    v["hosts"][1]["addresses"] = json!(["10.0.10.12/24"]);
    assert_eq!(
        refused(&v),
        [
            "carp.preempt: expected true or false, got \"yes\"",
            "hosts[0].advskew: expected a number from 0 to 254, got 255",
            "hosts[1].addresses: expected an object of interface name: address/prefix, like {\"em0\": \"192.168.1.11/24\"}, got an array of 1 item",
        ]
    );
}

#[test]
fn null_leaves_out_an_optional_section_but_not_a_required_field() {
    let mut v = howto_value();
    v["pfsync"] = serde_json::Value::Null;
    assert!(problems_of(&v).is_empty());
    v["carp"]["vhid"] = serde_json::Value::Null;
    assert_eq!(
        refused(&v),
        ["carp.vhid: expected a number from 1 to 255, got null"]
    );
}

// Issue "hardened" item 9: a site written as a JSON array was accepted.
#[test]
fn a_document_that_is_not_an_object_is_refused() {
    for (text, got) in [
        ("[]", "an empty array"),
        (&format!("[{HOWTO}]"), "an array of 1 item"),
        ("\"site\"", "\"site\""),
        ("42", "42"),
        ("null", "null"),
    ] {
        assert_eq!(
            message_of(text),
            format!(
                "site.json: invalid site description:\n  expected the site description as an \
                 object {{…}}, got {got}"
            )
        );
    }
}

/// Writes `bytes` as `site.json` in a fresh directory and loads it.
fn load_file(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.json");
    std::fs::write(&path, bytes).unwrap();
    Site::load(&path).unwrap_err().to_string()
}

// Issue "One house" item 5: an empty file said "EOF while parsing a value at line 1 column 0".
#[test]
fn an_empty_file_says_so() {
    for text in ["", "  \n\t\n"] {
        let message = load_file(text.as_bytes());
        assert!(message.ends_with("/site.json: empty file"), "{message}");
    }
}

#[test]
fn syntax_errors_are_said_in_words_with_line_and_column() {
    for (text, expected) in [
        (
            "{\"schema\": 1,}",
            "line 1, column 14: a comma before a closing bracket or brace",
        ),
        (
            "{schema: 1}",
            "line 1, column 2: field names need double quotes",
        ),
        (
            "{\"schema\": yes}",
            "line 1, column 12: expected a value: a number, \"text\", true, false, null, [ or {",
        ),
        (
            "{\"schema\": tru}",
            "line 1, column 15: expected true, false or null (text values need double quotes)",
        ),
        (
            "{\"schema\": 1} {}",
            "line 1, column 15: more text after the end of the document",
        ),
    ] {
        let message = message_of(text);
        assert_eq!(message, format!("site.json: not valid JSON at {expected}"));
        for rust in ["EOF", "ident", "u8", "u16", "u64", "line 1 column"] {
            assert!(!message.contains(rust), "{rust} in {message}");
        }
    }
}

// A document nested deeper than the parser's stack allows must fail, not crash.
#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(message_of(&text).ends_with("nested more than 128 levels deep"));
}

// A copied address line whose key was not changed silently replaced the first address.
#[test]
fn a_key_written_twice_is_refused_with_its_path() {
    let text = HOWTO.replacen(
        "\"em0\": \"192.168.1.11/24\"",
        "\"em0\": \"192.168.1.11/24\", \"em0\": \"192.168.1.99/24\"",
        1,
    );
    assert_ne!(text, HOWTO);
    let message = message_of(&text);
    assert!(
        message.contains("  hosts[0].addresses.em0: written twice in the same object; keep one"),
        "{message}"
    );
}

#[test]
fn bytes_that_are_not_utf8_are_refused() {
    let message = load_file(b"{\"schema\": \xff}");
    assert!(
        message.ends_with("/site.json' is not UTF-8 text"),
        "{message}"
    );
}

// Issue "hardened" item 9: /dev/zero as a site grew memory without bound.
#[test]
fn an_endless_file_fails_fast_at_the_size_bound() {
    let started = Instant::now();
    let err = Site::load(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'/dev/zero' is larger than 1 MiB; that is not a document these tools write"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_file_just_over_the_bound_is_refused_and_one_at_it_is_read() {
    // The how-to padded with white space to exactly the bound is still a site.
    let mut text = HOWTO.as_bytes().to_vec();
    text.resize(usize::try_from(MAX_SITE_BYTES).unwrap(), b' ');
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.json");
    std::fs::write(&path, &text).unwrap();
    assert!(Site::load(&path).is_ok());
    text.push(b' ');
    let message = load_file(&text);
    assert!(message.contains("is larger than 1 MiB"), "{message}");
}

// A megabyte-long name must not come back as a megabyte of message.
#[test]
fn long_values_are_cut_short_in_messages() {
    let mut v = howto_value();
    v["carp"]["vhid"] = "9".repeat(500_000).into();
    let problems = refused(&v);
    assert_eq!(
        problems,
        [format!(
            "carp.vhid: expected a number from 1 to 255, got \"{}…\"",
            "9".repeat(40)
        )]
    );
}

// One problem per element of a huge list: the message lists the first ones and counts the
// rest, and the checks stay linear (a quadratic duplicate check took minutes here).
#[test]
fn a_huge_list_of_bad_ports_is_checked_quickly_and_listed_briefly() {
    let mut v = howto_value();
    v.as_object_mut().unwrap().remove("firewall");
    v["cluster"]["ports"] = json!(vec![7000; 150_000]);
    let started = Instant::now();
    let message = Site::parse(&v.to_string(), "site.json")
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(10));
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 1 + 50 + 1, "{message:.2000}");
    // 149999 ports listed twice and one instance count past the bound.
    assert_eq!(lines[51], "  … and 149950 more problems");
}

// Issue "hardened" item 9: `plan --site` with 166k nodes ran for minutes; a site is bounded
// to what Redis Cluster is designed for.
#[test]
fn more_instances_than_redis_cluster_is_designed_for_are_refused() {
    let mut v = howto_value();
    let host = v["hosts"][0].clone();
    let hosts: Vec<serde_json::Value> = (0..501)
        .map(|i| {
            let mut host = host.clone();
            host["name"] = format!("redis{i}").into();
            host["addresses"] = json!({
                "em0": format!("192.168.{}.{}/16", i / 200, i % 200 + 1),
                "em1": format!("10.0.{}.{}/16", i / 200, i % 200 + 1),
                "em2": format!("10.1.{}.{}/16", i / 200, i % 200 + 1),
            });
            host
        })
        .collect();
    v["hosts"] = hosts.into();
    v["carp"]["vip"] = "10.0.255.254/16".into();
    assert_eq!(
        refused(&v),
        [
            "cluster.ports: 501 hosts × 2 ports give 1002 instances; Redis Cluster is designed \
          for at most 1000 nodes: use fewer hosts or ports"
        ]
    );
    v["hosts"].as_array_mut().unwrap().pop();
    assert!(problems_of(&v).is_empty(), "{:?}", problems_of(&v));
}

// What the model writes, the reader reads back: no field is written that is not read.
#[test]
fn a_site_written_back_as_json_reads_the_same() {
    let site = Site::parse(HOWTO, "howto.json").unwrap();
    let text = serde_json::to_string(&site).unwrap();
    assert_eq!(Site::parse(&text, "again.json").unwrap(), site);
}

// Issue "hardened, round two" item 11: the default-deny firewall and its admin ports.
#[test]
fn default_deny_needs_its_admin_ports_and_keeps_them_off_the_bus() {
    let mut v = howto_value();
    v["firewall"]["inbound"] = "default-deny".into();
    let problems = refused(&v);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("firewall.admin_ports: missing:") && problems[0].contains("[22]"),
        "{problems:?}"
    );

    v["firewall"]["admin_ports"] = json!([22, 17001]);
    assert_eq!(
        refused(&v),
        [
            "firewall.admin_ports: port 17001 is a cluster bus port (17000-17100); the allow list \
          must never reach the bus: leave it out"
        ]
    );

    v["firewall"]["admin_ports"] = json!([22, 0]);
    assert!(refused(&v)[0].starts_with("firewall.admin_ports: expected a list of port numbers"));

    v["firewall"]["admin_ports"] = json!([2222, 22, 22]);
    let site = Site::parse(&v.to_string(), "site.json").unwrap();
    let firewall = site.firewall.unwrap();
    assert_eq!(firewall.inbound, Inbound::DefaultDeny);
    assert_eq!(firewall.admin_ports, [22, 2222]);

    v["firewall"]["inbound"] = "deny".into();
    assert_eq!(
        refused(&v)[0],
        "firewall.inbound: expected \"guard-redis\" or \"default-deny\", got \"deny\""
    );

    // Admin ports mean nothing where every other port is open: said, not ignored.
    v["firewall"]["inbound"] = "guard-redis".into();
    assert!(
        refused(&v)[0].starts_with("firewall.admin_ports: only with \"inbound\": \"default-deny\"")
    );
    v["firewall"].as_object_mut().unwrap().remove("admin_ports");
    assert!(problems_of(&v).is_empty());
}
