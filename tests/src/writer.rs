//! The cluster-aware writer of the end-to-end tests (`tests/cluster-writer.py`, redis-py's
//! RedisCluster) as a process a test starts before a change and finishes after it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The writer process and its stop file; killed on drop.
pub struct Writer {
    child: Child,
    stop: PathBuf,
    /// The rest of the writer's stderr, for the failure message.
    log: Option<std::thread::JoinHandle<String>>,
    _dir: tempfile::TempDir,
}

impl Writer {
    /// Starts writing through `seeds` (IP:PORT); returns once the `preload` keys are written.
    pub fn start(seeds: &[String], preload: usize) -> Writer {
        Writer::start_via(&[], seeds, preload)
    }

    /// [`Writer::start`] with the writer run by `wrapper` (a command and its arguments, such
    /// as `ip netns exec NAME`, that runs the rest of the line).
    pub fn start_via(wrapper: &[&str], seeds: &[String], preload: usize) -> Writer {
        let dir = tempfile::tempdir().unwrap();
        let stop = dir.path().join("stop");
        let script = crate::workspace_root().join("tests/cluster-writer.py");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg("/usr/bin/python3");
                command
            }
            None => Command::new("/usr/bin/python3"),
        };
        command.arg(script);
        for seed in seeds {
            command.args(["--seed", seed]);
        }
        let mut child = command
            .args(["--preload", &preload.to_string(), "--stop-file"])
            .arg(&stop)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run /usr/bin/python3; install python3 and python3-redis");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = lines.any(|l| l.is_ok_and(|l| l == "preloaded"));
        assert!(
            ready,
            "the writer did not start; is python3-redis installed?"
        );
        let log =
            std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
        Writer {
            child,
            stop,
            log: Some(log),
            _dir: dir,
        }
    }

    /// Stops writing, reads everything back, and returns the writer's counts after checking
    /// that no acknowledged write is lost.
    pub fn finish(mut self) -> Value {
        std::fs::write(&self.stop, "").unwrap();
        let output = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        let log = self
            .log
            .take()
            .map(|l| l.join().unwrap())
            .unwrap_or_default();
        let counts: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("writer output: {e}: {output:?}\n{log}"));
        eprintln!("writer: {counts}");
        assert_eq!(counts["lost"], 0, "acknowledged writes lost: {counts}");
        assert_eq!(counts["read_errors"], 0, "{counts}");
        assert!(counts["acknowledged"].as_u64().unwrap() > 0, "{counts}");
        counts
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
