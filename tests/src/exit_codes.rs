//! The exit-code table every tool shares (0 success, 1 failed, 2 usage or bad input;
//! redis-slotcheck 3 for UNKNOWN), asserted the same way for each tool: a missing file, an
//! invalid site and a bad argument each give the code, a message on stderr and nothing on
//! stdout.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One tool's binary and the site files for the table's cases, in a temporary directory that
/// lives as long as this value.
pub struct BadInputs {
    _dir: tempfile::TempDir,
    program: PathBuf,
    /// A path where no file exists.
    pub missing: String,
    /// A site whose `carp.vhid` is a string and whose first host has a bad CIDR.
    pub invalid_site: String,
}

impl BadInputs {
    /// `program` is the tool's binary, `env!("CARGO_BIN_EXE_<tool>")`.
    pub fn for_program(program: &str) -> BadInputs {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let missing = dir.path().join("no-such-site.json");
        let invalid_site = dir.path().join("invalid-site.json");
        let howto = crate::workspace_root().join("site/examples/howto.json");
        let text = std::fs::read_to_string(&howto).expect("the how-to site is readable");
        let broken = text
            .replacen("\"vhid\": 10", "\"vhid\": \"10\"", 1)
            .replacen("10.0.10.11/24", "10.0.10.300/24", 1);
        assert_ne!(
            broken, text,
            "the how-to site changed shape; update BadInputs"
        );
        std::fs::write(&invalid_site, broken).expect("cannot write the invalid site");
        BadInputs {
            _dir: dir,
            program: PathBuf::from(program),
            missing: missing.display().to_string(),
            invalid_site: invalid_site.display().to_string(),
        }
    }

    /// Runs the tool with `args` and asserts its exit code, that stderr names `named` and that
    /// stdout stays empty. Returns stderr.
    pub fn expect(&self, args: &[&str], code: i32, named: &str) -> String {
        assert_exit(&self.program, args, code, named)
    }
}

/// Runs `program args` and asserts its exit code, that stderr names `named` and that stdout
/// stays empty. Returns stderr.
pub fn assert_exit(program: &Path, args: &[&str], code: i32, named: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{} {args:?}: stderr: {stderr}",
        program.display()
    );
    assert!(
        stderr.contains(named),
        "{} {args:?}: stderr does not name '{named}': {stderr}",
        program.display()
    );
    assert!(
        output.stdout.is_empty(),
        "{} {args:?}: stdout: {}",
        program.display(),
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}
