//! The holds that `carpctl demote` sets by hand and health checks respect, against stand-in
//! engines: one hold per vhid, `promote --unless-held` as one step, the hold file's mode.

mod client;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::{carpctl, command, Reaped, StandIn};

/// The holds `status` shows for `vhid`.
fn holds(dir: &Path, vhid: u8) -> serde_json::Value {
    let out = carpctl(&["status", "--vhid", &vhid.to_string()], dir, "022");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["holds"].clone()
}

fn succeeds(args: &[&str], dir: &Path) {
    let out = carpctl(args, dir, "022");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression: `promote --unless-held` read the hold, then promoted, then cleared the hold,
/// so a demote by hand that came in between lost its hold (and a health check would promote
/// that host next time). A demote by hand started while the promote is with the engine now
/// waits for it, comes after it, and keeps its hold.
#[test]
fn a_demote_by_hand_during_promote_unless_held_keeps_its_hold() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().to_path_buf();
    let by_hand: Arc<Mutex<Option<Reaped>>> = Arc::default();
    let slot = by_hand.clone();
    let started_in = dir.clone();
    let engine = StandIn::start(&dir, 12, move || {
        let mut slot = slot.lock().unwrap();
        if slot.is_some() {
            return;
        }
        let child = command(&["demote", "--vhid", "12"], &started_in, "022")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        *slot = Some(Reaped(child));
        drop(slot);
        // Time for the demote to run its course if nothing stops it.
        std::thread::sleep(Duration::from_millis(500));
    });
    succeeds(&["promote", "--unless-held"], &dir);
    let by_hand = by_hand.lock().unwrap().take();
    let mut by_hand = by_hand.expect("the demote was started");
    let status = by_hand.0.wait().unwrap();
    assert!(status.success());
    assert_eq!(engine.requests(), ["promote", "demote 240"]);
    // The health check's next run leaves the demotion by hand in place.
    succeeds(&["promote", "--unless-held"], &dir);
    assert_eq!(engine.requests(), ["promote", "demote 240"]);
    assert_eq!(holds(&dir, 12)[0]["vhid"], 12, "{}", holds(&dir, 12));
}

/// Regression: `hold.json` held one hold, so `demote --vhid 11` replaced the hold of vhid 10
/// and `promote --vhid 11` cleared every vhid's: the health check's `promote --unless-held`
/// then undid the demote by hand of vhid 10.
#[test]
fn each_vhid_keeps_its_own_hold() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path();
    let ten = StandIn::start(dir, 10, || {});
    let eleven = StandIn::start(dir, 11, || {});
    succeeds(&["demote", "--vhid", "10"], dir);
    succeeds(&["demote", "--vhid", "11"], dir);
    succeeds(&["promote", "--vhid", "11"], dir);
    succeeds(&["promote", "--unless-held"], dir);
    assert_eq!(ten.requests(), ["demote 240"], "vhid 10 stays held");
    assert_eq!(eleven.requests(), ["demote 240", "promote", "promote"]);
    let ten_holds = holds(dir, 10);
    assert_eq!(ten_holds.as_array().unwrap().len(), 1, "{ten_holds}");
    assert_eq!(ten_holds[0]["demotion"], 240);
    assert_eq!(holds(dir, 11), serde_json::json!([]));
}

/// Regression: under umask 000 `hold.json` was created 0666, and its temporary file had a
/// fixed name opened through links: a link planted as `.hold.json.tmp` made root overwrite
/// the file it named.
#[test]
fn the_hold_is_written_0644_under_umask_000_and_through_no_link() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("state");
    std::fs::create_dir(&dir).unwrap();
    let victim = top.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(".hold.json.tmp")).unwrap();
    let _engine = StandIn::start(&dir, 10, || {});
    let out = carpctl(&["demote"], &dir, "000");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(dir.join("hold.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
