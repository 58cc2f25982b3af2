//! The state directory is where root writes (state files, the hold, lock files), so whoever
//! else can write there could plant a link that makes root overwrite a file of their choosing.
//! This module is the one way carpctl creates the directory and writes in it: created 0755
//! whatever the umask, refused when it belongs to another user or others may write to it, and
//! files replaced through a temporary file created exclusively (never through a link).

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::Error;

/// The mode of the directory carpctl creates: `status` needs no privilege to read it.
const DIR_MODE: u32 = 0o755;
/// The mode of the files it writes (the umask can only make it tighter).
const FILE_MODE: u32 = 0o644;

/// Why a state directory is not safe for root to write in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// It belongs to this user id, neither root nor the engine's.
    Owner(u32),
    /// Group or others may write to it (the permission bits).
    Writable(u32),
    NotDirectory,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Owner(uid) => write!(
                f,
                "belongs to uid {uid}, not to root or this user, who could plant links in it"
            ),
            Problem::Writable(mode) => write!(
                f,
                "may be written by group or others (mode {mode:o}), who could plant links in it"
            ),
            Problem::NotDirectory => write!(f, "is not a directory"),
        }
    }
}

impl Problem {
    /// What fixes it, for the message.
    pub fn fix(&self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Problem::Owner(_) => format!("run `chown root '{dir}'` or pass another --state-dir"),
            Problem::Writable(_) => format!("run `chmod go-w '{dir}'` or pass another --state-dir"),
            Problem::NotDirectory => "pass a directory as --state-dir".to_string(),
        }
    }
}

/// Whether a directory owned by `owner` with permission bits `mode` is safe for the user
/// `euid` to write in: owned by root or by that user, and writable by no one else. The sticky
/// bit does not help: others could still create the link names carpctl writes to.
pub fn problem(owner: u32, mode: u32, euid: u32) -> Option<Problem> {
    if owner != 0 && owner != euid {
        Some(Problem::Owner(owner))
    } else if mode & 0o022 != 0 {
        Some(Problem::Writable(mode & 0o7777))
    } else {
        None
    }
}

/// Creates `dir` (mode 0755 whatever the umask) if it is missing, then checks that it is safe
/// to write in (see [`problem`]).
pub fn prepare(dir: &Path) -> Result<(), Error> {
    let fail = |e| {
        Error::io(
            format!("cannot create state directory '{}'", dir.display()),
            e,
        )
    };
    if let Some(parent) = dir.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)
            .map_err(fail)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        // The umask has taken bits off (or, at 000, left group and others' write bits on
        // a mode asked for with them): set what is meant.
        Ok(()) => std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(fail)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    check(dir)
}

/// Refuses a state directory that others could plant links in (see [`problem`]).
pub fn check(dir: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::io(
            format!("cannot read state directory '{}'", dir.display()),
            e,
        )
    })?;
    let found = if meta.is_dir() {
        problem(meta.uid(), meta.mode(), nix::unistd::geteuid().as_raw())
    } else {
        Some(Problem::NotDirectory)
    };
    match found {
        Some(problem) => Err(Error::UnsafeStateDir {
            dir: dir.to_path_buf(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Opens `path` for writing, creating it with mode 0644 (umask aside) and never through a
/// symbolic link: the last component being a link fails with ELOOP.
pub fn open_no_follow(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    options
        .mode(FILE_MODE)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Replaces `dir/name` with `bytes` so readers never see half a file: written to a temporary
/// file of a name no one can guess, created exclusively (O_EXCL, no link followed), then
/// renamed over `name` (a rename replaces a link, never its target). On failure the
/// temporary file is removed.
pub fn replace(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .make_in(dir, |path| {
            open_no_follow(path, OpenOptions::new().write(true).create_new(true))
        })?;
    temp.write_all(bytes)?;
    temp.persist(dir.join(name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_or_the_user_may_own_it_and_no_one_else_write() {
        assert_eq!(problem(0, 0o40755, 0), None);
        assert_eq!(problem(0, 0o40700, 1000), None, "root's directory");
        assert_eq!(problem(1000, 0o40755, 1000), None, "the user's own");
        assert_eq!(problem(1000, 0o40755, 0), Some(Problem::Owner(1000)));
        assert_eq!(problem(0, 0o40775, 0), Some(Problem::Writable(0o775)));
        assert_eq!(problem(0, 0o41777, 0), Some(Problem::Writable(0o1777)));
        assert_eq!(problem(0, 0o40757, 0), Some(Problem::Writable(0o757)));
    }

    /// Regression: the temporary files had fixed names and were opened through links, so a
    /// link planted as `.vhid10.json.tmp` made root overwrite the file it named.
    #[test]
    fn a_planted_link_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        for planted in [".vhid10.json.tmp", ".hold.json.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
        }
        std::os::unix::fs::symlink(&victim, dir.path().join("vhid10.json")).unwrap();
        replace(dir.path(), "vhid10.json", b"state\n").unwrap();
        replace(dir.path(), "hold.json", b"hold\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let replaced = dir.path().join("vhid10.json");
        assert!(std::fs::symlink_metadata(&replaced).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(replaced).unwrap(), "state\n");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 5, "no temporary file left: {names:?}");
    }

    #[test]
    fn a_link_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("vhid10.lock");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_no_follow(&link, OpenOptions::new().write(true).create(true)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(nix::libc::ELOOP));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}
