//! Network namespaces as test hosts. Names carry the test process id so concurrent runs never
//! collide; the guard deletes the namespace (and with it its processes' links) on drop.

use std::process::{Command, Output};

/// Fails the test loudly unless it runs as root. A test that needs root carries
/// `#[ignore = "needs root: run with --include-ignored as root"]` and calls this first, so it
/// is skipped in a plain run and fails (instead of passing) when forced to run without root.
pub fn assert_root() {
    assert!(
        is_root(),
        "this test needs root (network namespaces, nftables): run `cargo test -- --include-ignored` as root"
    );
}

/// Fails the test loudly when `tool` is not on PATH, naming the Debian `package` that has it.
pub fn assert_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    assert!(
        found,
        "this test needs '{tool}': install the Debian package {package} (scripts/install-deps)"
    );
}

/// The network namespaces whose names start with `prefix`, as `ip netns list` shows them.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let listing = run("ip", &["netns", "list"]);
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    // The effective uid, read without a libc binding: /proc/self/status "Uid: real effective …".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs a command, panicking with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A network namespace that exists while this value lives.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `<tag>-<pid>` with its loopback up.
    pub fn new(tag: &str) -> Netns {
        Netns::named(format!("{tag}-{}", std::process::id()))
    }

    /// Creates the namespace `name` as it is, for callers that make it unique themselves.
    pub(crate) fn named(name: String) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace; panics when it fails.
    pub fn exec(&self, command: &[&str]) -> Output {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        run("ip", &args)
    }

    /// A `Command` that runs `program` inside the namespace, for processes the test keeps.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
