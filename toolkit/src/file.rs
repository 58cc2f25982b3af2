//! Files the tools write (reports for a collector, staged configs) are replaced atomically:
//! written aside in the same directory, flushed, then renamed over the old one, so a reader
//! never sees half a file. Only regular files are replaced: a device or a directory named as
//! the output is refused, and a symbolic link is followed, so the file it points at is
//! replaced and the link stays.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output file could not be written; the message names it and says what to do.
#[derive(Debug)]
pub struct OutputError {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write '{}': {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for OutputError {}

/// Replaces `path` with `bytes`, with permission bits `mode` (umask aside).
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OutputError> {
    let fail = |reason: String| OutputError {
        path: path.to_path_buf(),
        reason,
    };
    let target = resolve(path).map_err(fail)?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(&dir)
        .map_err(|e| {
            fail(format!(
                "cannot create a file in '{}': {}; name a file in an existing directory this user may write to",
                dir.display(),
                plain(&e)
            ))
        })?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| fail(e.to_string()))?;
    set_mode(temp.path(), mode).map_err(|e| fail(e.to_string()))?;
    temp.persist(&target)
        .map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// An I/O error without the temporary path some libraries add to it.
fn plain(error: &std::io::Error) -> std::io::Error {
    error.raw_os_error().map_or_else(
        || std::io::Error::new(error.kind(), error.kind().to_string()),
        std::io::Error::from_raw_os_error,
    )
}

/// The file a write to `path` replaces: `path` itself, or where its symbolic links lead. Refuses
/// anything that exists and is not a regular file.
fn resolve(path: &Path) -> Result<PathBuf, String> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => target,
            // A dangling link: create the file it names.
            Err(_) => {
                let link = std::fs::read_link(path).map_err(|e| e.to_string())?;
                match path.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                }
            }
        },
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => Err(format!(
            "'{}' is not a regular file (a device, directory or socket); refusing to replace it: name a file",
            target.display()
        )),
        _ => Ok(target),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.prom");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, b"new\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file stays behind");
    }

    // Regression: --output /dev/full run as root replaced the device with a regular file.
    #[test]
    fn a_device_is_refused_not_replaced() {
        let error = write_atomically(Path::new("/dev/null"), b"x", 0o644).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file());
    }

    // Regression: --output onto a symbolic link replaced the link with a regular file.
    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.prom");
        let link = dir.path().join("link.prom");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new", 0o644).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let error = write_atomically(Path::new("/nonexistent-dir/x"), b"x", 0o644).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/nonexistent-dir/x"), "{message}");
        assert!(
            !message.contains("/nonexistent-dir/."),
            "no temporary path: {message}"
        );
    }
}
