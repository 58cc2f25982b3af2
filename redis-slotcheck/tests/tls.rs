//! redis-slotcheck over TLS: a TLS-only, password-protected 3-master cluster (made by
//! redis-cluster-create over TLS, certificates made by openssl at test time) is judged OK with
//! redis-cli's TLS flags, and each bad TLS input is UNKNOWN (3) with one line naming the node
//! and the cause.

use std::process::Command;

use redis_slotcheck::{Report, Status};
use testkit::{Certificates, RedisConfig, RedisInstance};

const PASSWORD: &str = "tls-slotcheck";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn slotcheck(args: &[String]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_redis-slotcheck"))
        .args(args)
        .env("REDISCLI_AUTH", PASSWORD)
        .output()
        .unwrap();
    Run {
        code: output.status.code().expect("exited by a signal"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(ToString::to_string).collect()
}

// Issue 19: health checks of a TLS-only cluster, and the refusals named.
#[test]
fn a_tls_only_cluster_is_checked_over_tls() {
    let certs = Certificates::generate();
    let path = |name: &str| certs.path(name).display().to_string();
    let config = RedisConfig {
        node_timeout_ms: 3000,
        extra: vec![
            ("requirepass".into(), PASSWORD.into()),
            ("masterauth".into(), PASSWORD.into()),
        ],
        tls: Some(certs.server("optional")),
        ..RedisConfig::default()
    };
    let nodes: Vec<RedisInstance> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
            .into_iter()
            .map(|ip| scope.spawn(|| RedisInstance::start(ip, &config)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let addrs: Vec<String> = nodes.iter().map(RedisInstance::addr).collect();
    let tls = vec!["--tls".to_string(), "--cacert".into(), path("ca.crt")];

    let create = testkit::build_tools(&["redis-cluster-create"]).join("redis-cluster-create");
    let created = Command::new(create)
        .args(&tls)
        .args(["--yes", "--fast", "--timeout", "30", "--replicas", "0"])
        .args(&addrs)
        .env("REDISCLI_AUTH", PASSWORD)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let mut args = tls.clone();
    args.extend(strings(&["--replicas", "0", &addrs[0]]));
    let run = testkit::wait_until(
        "the TLS cluster to be judged OK",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(250),
        || {
            let run = slotcheck(&args);
            if run.code == 0 {
                Ok(run)
            } else {
                Err(format!("{}\n{}", run.stdout, run.stderr))
            }
        },
    );
    let report: Report = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report.status, Status::Ok);
    assert_eq!(report.nodes.len(), 3, "every node found through the seed");

    // Each bad input: UNKNOWN, one line naming the node and the cause.
    let seed = addrs[0].clone();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            strings(&["--tls", "--cacert", &path("other-ca.crt")]),
            "TLS handshake failed: certificate signed by an unknown authority",
        ),
        (
            strings(&["--tls", "--cacert", &path("ca.crt"), "--sni", "redis.test"]),
            "TLS handshake failed: certificate is not valid for this node's address",
        ),
        (Vec::new(), "the port may need --tls"),
    ];
    for (mut args, said) in cases {
        args.extend(strings(&["--timeout", "2", &seed]));
        let run = slotcheck(&args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(&format!("redis-slotcheck: {seed}: ")) && l.contains(said)),
            "{args:?}: no line names {seed} with '{said}': {}",
            run.stderr
        );
    }
    let run = slotcheck(&strings(&[
        "--tls",
        "--cacert",
        "/nonexistent/ca.crt",
        &seed,
    ]));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("--cacert '/nonexistent/ca.crt'"),
        "{}",
        run.stderr
    );
}
