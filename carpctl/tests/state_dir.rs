//! The state directory, where root writes: its modes whatever the umask, links planted in it,
//! directories others could write in, and the lock that keeps one engine per vhid. Most
//! tests run engines in network namespaces and need root.

mod client;
mod lab;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use client::carpctl;
use lab::{require_lab, wait_until, Lab};

const SETTLE: Duration = Duration::from_secs(10);

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Waits at most `within` for the engine `proc` to exit; its exit code and its message (read
/// by a thread of the lab, which may lag behind the exit).
fn refusal(lab: &mut Lab, proc: usize, within: Duration) -> (Option<i32>, String) {
    let code = lab.procs[proc].wait_exit(within).code();
    wait_until(Duration::from_secs(2), "the message is read", || {
        !lab.procs[proc].stderr_text().is_empty()
    });
    (code, lab.procs[proc].stderr_text())
}

/// Regression: under umask 000 the engine created its state directory 0777, so any user
/// could plant links in it; and a link planted as the fixed temporary name
/// `.vhid7.json.tmp` made the engine (root) overwrite the file it named.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn the_engine_keeps_its_modes_under_umask_000_and_writes_through_no_link() {
    require_lab();
    let mut lab = Lab::new(2);
    let victim = lab.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let planted = lab.state_dir(2);
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::symlink(&victim, planted.join(".vhid7.json.tmp")).unwrap();
    lab.carpctl_under_umask(1, "000", &[]);
    lab.carpctl_under_umask(2, "000", &["--advskew", "100"]);
    wait_until(SETTLE, "both engines report", || {
        lab.state(1).is_some() && lab.state(2).is_some()
    });
    let dir = lab.state_dir(1);
    assert_eq!(mode(&dir), 0o755, "the directory");
    assert_eq!(mode(&dir.join("vhid7.json")), 0o644, "the state file");
    assert_eq!(mode(&dir.join("vhid7.sock")), 0o600, "the control socket");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(mode(&victim), 0o600);
}

/// Regression: a state directory others may write in, or that belongs to another user, was
/// used as it was. The engine refuses it with one line naming it and the fix, exit 2, and
/// creates nothing in it.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn the_engine_refuses_a_state_directory_others_could_write_in() {
    require_lab();
    let mut lab = Lab::new(1);
    let dir = lab.state_dir(1);
    std::fs::create_dir(&dir).unwrap();
    for (mode, owner, fix) in [
        (0o777, 0, "chmod go-w"),
        (0o1777, 0, "chmod go-w"),
        (0o755, 65534, "chown root"),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&dir, Some(owner), None).unwrap();
        let engine = lab.carpctl(1, &[]);
        let (code, err) = refusal(&mut lab, engine, Duration::from_secs(5));
        assert_eq!(code, Some(2), "mode {mode:o} uid {owner}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("state directory '{}'", dir.display())) && err.contains(fix),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing created"
        );
    }
}

/// `demote` and `promote` write the hold there too: they refuse such a directory before
/// asking any engine, and create a missing one 0755 whatever the umask.
#[test]
fn demote_refuses_a_state_directory_others_could_write_in() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("state");
    let out = carpctl(&["demote"], &dir, "000");
    assert_eq!(mode(&dir), 0o755, "created 0755 under umask 000");
    assert_eq!(out.status.code(), Some(1), "no engine runs there");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    for command in ["demote", "promote"] {
        let out = carpctl(&[command], &dir, "022");
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end(),
            format!(
                "carpctl: state directory '{0}' may be written by group or others (mode 777), \
                 who could plant links in it; run `chmod go-w '{0}'` or pass another --state-dir",
                dir.display()
            )
        );
    }
}

/// Regression: two engines for one vhid started together both ran (both MASTER), and the
/// first to exit removed the other's socket and state file. The second to reach the lock now
/// refuses at once, naming the holder; the survivor keeps its files and removes them on exit.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn two_engines_for_one_vhid_never_run_together() {
    require_lab();
    let mut lab = Lab::new(1);
    let dir = lab.state_dir(1);
    for round in 0..3 {
        let pair = [lab.carpctl(1, &[]), lab.carpctl(1, &[])];
        let mut exited = || {
            pair.iter()
                .copied()
                .find(|&p| lab.procs[p].child.try_wait().unwrap().is_some())
        };
        wait_until(Duration::from_secs(5), "one of the two refuses", || {
            exited().is_some()
        });
        let loser = exited().unwrap();
        let winner = pair.into_iter().find(|&p| p != loser).unwrap();
        let winner_pid = lab.procs[winner].child.id();
        let (code, err) = refusal(&mut lab, loser, Duration::ZERO);
        assert_eq!(code, Some(1), "round {round}: {err}");
        assert!(
            err.contains(&format!(
                "an engine for vhid 7 already runs (pid {winner_pid}, holding '{}'",
                dir.join("vhid7.lock").display()
            )),
            "round {round}: {err}"
        );
        wait_until(SETTLE, "the survivor reports", || {
            lab.status(1)
                .is_some_and(|s| s["pid"] == serde_json::json!(winner_pid))
        });
        assert!(lab.procs[winner].child.try_wait().unwrap().is_none());
        lab.procs[winner].signal(nix::sys::signal::Signal::SIGTERM);
        lab.procs[winner].wait_exit(Duration::from_secs(5));
        assert!(!dir.join("vhid7.sock").exists() && !dir.join("vhid7.json").exists());
    }
}

/// Regression: the state file of a SIGKILLed engine, its pid now another process's, blocked
/// the start ("already runs"). With no lock held it is taken over, with a warning.
#[test]
#[ignore = "needs root: run with --include-ignored as root"]
fn the_files_of_a_killed_engine_are_taken_over() {
    require_lab();
    let mut lab = Lab::new(1);
    let dir = lab.state_dir(1);
    let killed = lab.carpctl(1, &[]);
    wait_until(SETTLE, "the first engine reports", || {
        lab.state(1).is_some()
    });
    lab.procs[killed].signal(nix::sys::signal::Signal::SIGKILL);
    lab.procs[killed].wait_exit(Duration::from_secs(5));
    // The pid goes to another live process: this one.
    let file = dir.join("vhid7.json");
    let mut left: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    left["pid"] = serde_json::json!(std::process::id());
    std::fs::write(&file, left.to_string()).unwrap();
    assert!(dir.join("vhid7.sock").exists());

    let next = lab.carpctl(1, &[]);
    let pid = lab.procs[next].child.id();
    wait_until(SETTLE, "the new engine reports", || {
        lab.status(1)
            .is_some_and(|s| s["pid"] == serde_json::json!(pid))
    });
    wait_until(Duration::from_secs(2), "the warning is read", || {
        lab.procs[next].stderr_text().contains("taking over")
    });
    let err = lab.procs[next].stderr_text();
    assert!(
        err.contains(&format!(
            "vhid 7: taking over '{}' and '{}' left by an engine that did not stop cleanly",
            file.display(),
            dir.join("vhid7.sock").display()
        )),
        "{err}"
    );
}
