//! Files the tools write (reports for a collector, staged configs) are replaced atomically:
//! written aside in the same directory, flushed, then renamed over the old one, so a reader
//! never sees half a file. Only regular files are replaced: a device or a directory named as
//! the output is refused.
//!
//! The output directory may belong to another user by design (node_exporter's textfile
//! directory), and the tools often run as root: whatever that user plants there must not make
//! root write elsewhere. So a symbolic link is followed (the file it names is replaced and the
//! link stays) only when no one else can have planted or turned it: it belongs to this user or
//! root and sits in a directory only they can write, the rule of Linux's
//! `fs.protected_symlinks` made stricter. A dangling link is refused rather than followed
//! (following it creates the file it names), and a replaced file never gets wider permissions
//! than it had. The temporary file is created exclusively and changed through its open handle,
//! never by name, so nothing planted beside it is touched either.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an output file could not be written; the message names it and says what to do.
#[derive(Debug)]
pub struct OutputError {
    pub path: PathBuf,
    pub reason: String,
    /// The path itself was refused (a device, a link others control): bad input, nothing was
    /// written; otherwise writing failed.
    pub refused: bool,
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write '{}': {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for OutputError {}

/// Replaces `path` with `bytes`, with permission bits `mode`, or the file's present bits where
/// those are narrower (umask aside).
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OutputError> {
    let fail = |refused: bool| {
        move |reason: String| OutputError {
            path: path.to_path_buf(),
            reason,
            refused,
        }
    };
    let target = resolve(path).map_err(fail(true))?;
    let mode = target.mode.map_or(mode, |present| mode & present);
    let dir = match target.path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(&dir)
        .map_err(|e| {
            fail(false)(format!(
                "cannot create a file in '{}': {}; name a file in an existing directory this user may write to",
                dir.display(),
                plain(&e)
            ))
        })?;
    temp.write_all(bytes)
        .and_then(|()| {
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| fail(false)(e.to_string()))?;
    temp.persist(&target.path)
        .map_err(|e| fail(false)(e.error.to_string()))?;
    Ok(())
}

/// An I/O error without the temporary path some libraries add to it.
fn plain(error: &std::io::Error) -> std::io::Error {
    error.raw_os_error().map_or_else(
        || std::io::Error::new(error.kind(), error.kind().to_string()),
        std::io::Error::from_raw_os_error,
    )
}

/// The file a write replaces.
struct Target {
    path: PathBuf,
    /// Its permission bits, when it exists.
    mode: Option<u32>,
}

/// More links in a row than this is a loop (the kernel's own limit, ELOOP).
const MAX_LINKS: usize = 40;

/// Where a write to `path` lands: `path` itself, or where its symbolic links lead, each link
/// checked by [`trusted`]. Refuses a dangling link and anything that exists and is not a
/// regular file.
fn resolve(path: &Path) -> Result<Target, String> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && current == path => {
                return Ok(Target {
                    path: current,
                    mode: None,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "it is a symbolic link to '{}', which does not exist; refusing to create a file through a link: remove the link or name the file itself",
                    current.display()
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        if !meta.file_type().is_symlink() {
            if !meta.is_file() {
                return Err(format!(
                    "'{}' is not a regular file (a device, directory or socket); refusing to replace it: name a file",
                    current.display()
                ));
            }
            return Ok(Target {
                path: current,
                mode: Some(meta.mode() & 0o7777),
            });
        }
        // The message names the path already; only a link further down is named again.
        let which = if current == path {
            "it".to_string()
        } else {
            format!("'{}'", current.display())
        };
        trusted(&which, &current, &meta)?;
        let next = std::fs::read_link(&current).map_err(|e| e.to_string())?;
        current = match current.parent() {
            Some(dir) if next.is_relative() => dir.join(next),
            _ => next,
        };
    }
    Err(format!(
        "more than {MAX_LINKS} symbolic links in a row; name the file itself"
    ))
}

/// Whether the link `link` (with metadata `meta`, named `which` in messages) may be followed:
/// only this user or root can have made it and only they can change it, so it points where one
/// of them meant.
fn trusted(which: &str, link: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let me = effective_uid();
    let ours = |uid: u32| uid == me || uid == 0;
    if !ours(meta.uid()) {
        return Err(format!(
            "{which} is a symbolic link owned by user id {}, not by this user or root; refusing to follow it: remove the link or name the file itself",
            meta.uid()
        ));
    }
    let dir = match link.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir_meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
    if !ours(dir_meta.uid()) || dir_meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{which} is a symbolic link in '{}', which other users can write (they could point it anywhere); refusing to follow it: name the file itself",
            dir.display()
        ));
    }
    Ok(())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_file_is_replaced_whole_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.prom");
        std::fs::write(&path, "old").unwrap();
        set_mode(&path, 0o644);
        write_atomically(&path, b"new\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(mode_of(&path), 0o644);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file stays behind");
    }

    // Regression: a root 0600 file named as the output became the report, mode 0644.
    #[test]
    fn a_narrower_mode_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        set_mode(&path, 0o600);
        write_atomically(&path, b"new", 0o644).unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }

    // Regression: --output /dev/full run as root replaced the device with a regular file.
    #[test]
    fn a_device_is_refused_not_replaced() {
        let error = write_atomically(Path::new("/dev/null"), b"x", 0o644).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        assert!(error.refused);
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file());
    }

    // Regression: --output onto a symbolic link replaced the link with a regular file.
    #[test]
    fn a_link_of_this_user_in_a_private_directory_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.prom");
        let link = dir.path().join("link.prom");
        std::fs::write(&real, "old").unwrap();
        symlink(&real, &link).unwrap();
        write_atomically(&link, b"new", 0o644).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    // Regression: a link planted in a directory others can write (node_exporter's textfile
    // directory) made root replace the file it named.
    #[test]
    fn a_link_in_a_directory_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("textfile");
        std::fs::create_dir(&shared).unwrap();
        set_mode(&shared, 0o777);
        let real = dir.path().join("real");
        let link = shared.join("cluster.prom");
        std::fs::write(&real, "keep").unwrap();
        symlink(&real, &link).unwrap();
        let error = write_atomically(&link, b"new", 0o644).unwrap_err();
        assert!(error.refused);
        let message = error.to_string();
        assert!(
            message.contains(&link.display().to_string())
                && message.contains("other users can write"),
            "{message}"
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 1);
    }

    // Regression: a link planted by another user made root replace the file it named.
    #[test]
    fn a_link_owned_by_another_user_is_refused() {
        if effective_uid() != 0 {
            eprintln!("skipped: giving a link to another user needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("cluster.prom");
        std::fs::write(&real, "keep").unwrap();
        symlink(&real, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        let error = write_atomically(&link, b"new", 0o644).unwrap_err();
        assert!(error.refused);
        assert!(
            error.to_string().contains("owned by user id 65534"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep");
    }

    // Regression: a dangling link made root create the file it named.
    #[test]
    fn a_dangling_link_is_refused_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("named");
        let link = dir.path().join("cluster.prom");
        symlink(&named, &link).unwrap();
        let error = write_atomically(&link, b"new", 0o644).unwrap_err();
        assert!(error.refused);
        assert!(error.to_string().contains("does not exist"), "{error}");
        assert!(!named.exists());
    }

    #[test]
    fn a_missing_directory_is_named() {
        let error = write_atomically(Path::new("/nonexistent-dir/x"), b"x", 0o644).unwrap_err();
        assert!(!error.refused);
        let message = error.to_string();
        assert!(message.contains("/nonexistent-dir/x"), "{message}");
        assert!(
            !message.contains("/nonexistent-dir/."),
            "no temporary path: {message}"
        );
    }
}
