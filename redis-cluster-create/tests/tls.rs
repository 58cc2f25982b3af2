//! redis-cluster-create over TLS against TLS-only, password-protected redis-server instances
//! (`port 0`, `tls-port`, `tls-cluster yes`, `tls-replication yes`), with certificates made by
//! openssl at test time: a cluster created and grown with redis-cli's TLS flags, and each
//! bad TLS input refused with one line naming the node and the cause, changing nothing.

use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use testkit::{Certificates, RedisConfig, RedisInstance, TlsServer};

const PASSWORD: &str = "tls-s3cret";

fn tool() -> Command {
    let mut cmd = Command::cargo_bin("redis-cluster-create").unwrap();
    // Every test must end on its own; this only turns a hang into a failure.
    cmd.timeout(Duration::from_secs(120));
    cmd.env_remove("REDISCLI_AUTH");
    cmd
}

/// A TLS-only instance configuration with `tls`, the password set for clients and
/// replication when `password` says so.
fn config(tls: TlsServer, password: bool) -> RedisConfig {
    let mut extra = vec![("repl-diskless-sync-delay".into(), "0".into())];
    if password {
        extra.push(("requirepass".into(), PASSWORD.into()));
        extra.push(("masterauth".into(), PASSWORD.into()));
    }
    RedisConfig {
        node_timeout_ms: 3000,
        extra,
        tls: Some(tls),
        ..RedisConfig::default()
    }
}

/// One instance on each of `hosts` (127.0.0.N), in parallel.
fn start(hosts: &[u8], config: &RedisConfig) -> Vec<RedisInstance> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| scope.spawn(move || RedisInstance::start(&format!("127.0.0.{h}"), config)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn addrs(instances: &[RedisInstance]) -> Vec<String> {
    instances.iter().map(RedisInstance::addr).collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "failed: {}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `--tls` with the test CA and the client certificate.
fn tls_args(certs: &Certificates) -> Vec<String> {
    let path = |name: &str| certs.path(name).display().to_string();
    vec![
        "--tls".into(),
        "--cacert".into(),
        path("ca.crt"),
        "--cert".into(),
        path("client.crt"),
        "--key".into(),
        path("client.key"),
    ]
}

fn run(args: &[String], nodes: &[String]) -> Output {
    tool()
        .args(args)
        .args(nodes)
        .env("REDISCLI_AUTH", PASSWORD)
        .output()
        .unwrap()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(ToString::to_string).collect()
}

// Issue 19: a TLS-only cluster with a password (clients must show a certificate) is created
// over TLS, its replicas sync over TLS, and converge grows it: MIGRATE between the nodes goes
// over their own TLS (tls-cluster yes), the keys arrive.
#[test]
fn a_tls_only_cluster_is_created_and_grown_over_tls() {
    let certs = Certificates::generate();
    let config = config(certs.server("yes"), true);
    let nodes = start(&[1, 2, 3, 1, 2, 3], &config);
    let mut args = tls_args(&certs);
    args.extend(strings(&[
        "--yes",
        "--fast",
        "--timeout",
        "30",
        "--replicas",
        "1",
    ]));
    let result = json(&run(&args, &addrs(&nodes)));
    assert_eq!(result["usable"], true, "{result}");
    for node in &nodes {
        let info = node.cli(&["cluster", "info"]);
        assert_eq!(testkit::info_field(&info, "cluster_state"), "ok");
        let replication = node.cli(&["info", "replication"]);
        if testkit::info_field(&replication, "role") == "slave" {
            testkit::wait_until(
                &format!("{} to sync with its master over TLS", node.addr()),
                Duration::from_secs(20),
                Duration::from_millis(100),
                || {
                    let replication = node.cli(&["info", "replication"]);
                    let link = testkit::info_field(&replication, "master_link_status");
                    if link == "up" {
                        Ok(())
                    } else {
                        Err(format!("master_link_status:{link}"))
                    }
                },
            );
        }
    }

    // Keys in every master (redis-cli -c follows the redirections), then two new masters:
    // converge moves slots with their keys.
    let keys: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    for key in &keys {
        assert_eq!(nodes[0].cli(&["-c", "set", key, key]), "OK");
    }
    let added = start(&[4, 5], &config);
    let mut all: Vec<String> = addrs(&nodes);
    all.extend(addrs(&added));
    let mut args = strings(&["converge", "--yes", "--timeout", "90", "--replicas", "1"]);
    args.extend(tls_args(&certs));
    let report = json(&run(&args, &all));
    assert_eq!(report["usable"], true, "{report}");
    for node in &added {
        let info = node.cli(&["cluster", "info"]);
        assert_eq!(testkit::info_field(&info, "cluster_state"), "ok");
    }
    let moved: usize = added
        .iter()
        .map(|n| n.cli(&["dbsize"]).parse::<usize>().unwrap())
        .sum();
    assert!(moved > 0, "no key reached the new masters");
    for key in &keys {
        assert_eq!(&nodes[0].cli(&["-c", "get", key]), key);
    }
}

/// Runs create (`--replicas 0`) with `args` on `nodes`, asserts exit `code`, that stderr has a
/// line holding `said` for `named` (none when empty), and that no node changed.
fn refused(nodes: &[RedisInstance], args: &[String], code: i32, named: &str, said: &str) {
    let before: Vec<String> = nodes.iter().map(RedisInstance::fingerprint).collect();
    let mut all = args.to_vec();
    all.extend(strings(&["--yes", "--replicas", "0", "--timeout", "2"]));
    let output = run(&all, &addrs(nodes));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {text}");
    assert!(
        output.stdout.is_empty(),
        "{args:?}: stdout: {:?}",
        output.stdout
    );
    assert!(
        text.lines().any(|l| l.contains(named) && l.contains(said)),
        "{args:?}: no line names '{named}' with '{said}': {text}"
    );
    let after: Vec<String> = nodes.iter().map(RedisInstance::fingerprint).collect();
    assert_eq!(before, after, "{args:?} changed a node");
}

// Issue 19: a wrong CA, a certificate for other addresses, an expired certificate, a server
// that wants a client certificate, --tls against a plaintext port and plaintext against a TLS
// port: each is one line naming the node and the cause, exit 1, nothing changed. Files that
// cannot be used are bad input (exit 2), named by flag and path.
#[test]
fn bad_tls_input_is_named_and_changes_nothing() {
    let certs = Certificates::generate();
    let path = |name: &str| certs.path(name).display().to_string();
    let good = start(&[1, 2, 3], &config(certs.server("optional"), true));
    let first = good[0].addr();

    let mut other_ca = strings(&["--tls", "--cacert"]);
    other_ca.push(path("other-ca.crt"));
    refused(
        &good,
        &other_ca,
        1,
        &first,
        "TLS handshake failed: certificate signed by an unknown authority",
    );
    // Without --tls: the TLS port closes the connection at the first plaintext byte.
    refused(&good, &[], 1, &first, "the port may need --tls");
    // Files: named by flag and path, before any node is asked.
    let mut missing = strings(&["--tls", "--cacert", "/nonexistent/ca.crt"]);
    refused(
        &good,
        &missing,
        2,
        "--cacert '/nonexistent/ca.crt'",
        "No such file",
    );
    missing = strings(&["--tls", "--cacert"]);
    missing.extend([path("ca.crt"), "--cert".into(), path("client.crt")]);
    missing.extend(["--key".into(), path("ca.crt")]);
    refused(&good, &missing, 2, "--key", "holds no PEM private key");
    let mut cacertdir = strings(&["--tls", "--cacertdir"]);
    cacertdir.push("/nonexistent".into());
    refused(
        &good,
        &cacertdir,
        2,
        "--cacertdir '/nonexistent'",
        "No such file",
    );
    // The TLS flags need --tls (clap's usage error).
    refused(&good, &strings(&["--insecure"]), 2, "--tls", "");

    // A CA directory and --insecure reach the good nodes: plan changes nothing and succeeds.
    for args in [
        strings(&["--tls", "--cacertdir", &certs.dir().display().to_string()]),
        strings(&["--tls", "--insecure"]),
    ] {
        let mut all = vec!["plan".to_string()];
        all.extend(args.clone());
        all.extend(strings(&["--replicas", "0"]));
        let output = run(&all, &addrs(&good));
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }

    let expired = start(
        &[1, 2, 3],
        &config(certs.server_presenting("expired", "optional"), true),
    );
    let mut ca = strings(&["--tls", "--cacert"]);
    ca.push(path("ca.crt"));
    refused(
        &expired,
        &ca,
        1,
        &expired[0].addr(),
        "TLS handshake failed: certificate has expired",
    );

    // A certificate for other addresses: refused, unless --sni names what it carries.
    let elsewhere = start(
        &[1, 2, 3],
        &config(certs.server_presenting("elsewhere", "optional"), true),
    );
    refused(
        &elsewhere,
        &ca,
        1,
        &elsewhere[1].addr(),
        "TLS handshake failed: certificate is not valid for this node's address",
    );
    let mut sni = vec!["plan".to_string()];
    sni.extend(ca.clone());
    sni.extend(strings(&["--sni", "redis.test", "--replicas", "0"]));
    let output = run(&sni, &addrs(&elsewhere));
    assert!(output.status.success(), "--sni: {}", stderr(&output));

    // Client certificates required: without --cert the server refuses the handshake.
    let strict = start(&[1, 2, 3], &config(certs.server("yes"), true));
    refused(&strict, &ca, 1, &strict[2].addr(), "pass --cert and --key");

    // --tls against a plaintext port: the server waits for the end of a command that never
    // comes, or answers in plaintext.
    let plain = start(
        &[1, 2, 3],
        &RedisConfig {
            extra: vec![("requirepass".into(), PASSWORD.into())],
            ..RedisConfig::default()
        },
    );
    refused(&plain, &ca, 1, &plain[0].addr(), "no TLS on this port?");
}
