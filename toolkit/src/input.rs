//! Reading the documents the tools take (site, plan, password files): from a path or `-` for
//! standard input, never more than a bound, so `/dev/zero` or a wrong multi-gigabyte file is
//! refused at once instead of growing memory without end.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most a site description or a plan may hold: far beyond any real one.
pub const DOCUMENT_LIMIT: u64 = 16 * 1024 * 1024;

/// Why an input could not be read; the message names the file.
#[derive(Debug)]
pub enum InputError {
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    TooLarge {
        path: PathBuf,
        limit: u64,
    },
    NotText {
        path: PathBuf,
    },
    Empty {
        path: PathBuf,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Unreadable { path, error } => {
                write!(f, "cannot read '{}': {error}", shown(path))
            }
            InputError::TooLarge { path, limit } => write!(
                f,
                "'{}' is larger than {} MiB; that is not a document these tools write",
                shown(path),
                limit / (1024 * 1024)
            ),
            InputError::NotText { path } => {
                write!(f, "'{}' is not UTF-8 text", shown(path))
            }
            InputError::Empty { path } => write!(f, "{}: empty file", shown(path)),
        }
    }
}

impl std::error::Error for InputError {}

fn shown(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads all of `path` ("-" is standard input), at most `limit` bytes, as UTF-8 text that
/// holds more than white space.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputError> {
    let unreadable = |error| InputError::Unreadable {
        path: path.to_path_buf(),
        error,
    };
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path)
            .map_err(unreadable)?
            .take(limit + 1)
            .read_to_end(&mut bytes)
    };
    read.map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| InputError::NotText {
        path: path.to_path_buf(),
    })?;
    if text.trim().is_empty() {
        return Err(InputError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        std::fs::write(&path, "{}\n").unwrap();
        assert_eq!(read_text(&path, 100).unwrap(), "{}\n");
    }

    // Regression: /dev/zero as a site or plan file grew memory without bound.
    #[test]
    fn an_endless_file_is_refused_at_the_bound() {
        let error = read_text(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(error, InputError::TooLarge { .. }), "{error}");
        assert!(error.to_string().contains("/dev/zero"), "{error}");
    }

    #[test]
    fn empty_missing_and_binary_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("site.json");
        std::fs::write(&empty, " \n").unwrap();
        assert!(read_text(&empty, 100)
            .unwrap_err()
            .to_string()
            .ends_with("site.json: empty file"));
        let missing = read_text(&dir.path().join("nope.json"), 100).unwrap_err();
        assert!(missing.to_string().contains("nope.json"), "{missing}");
        let binary = dir.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_text(&binary, 100).unwrap_err(),
            InputError::NotText { .. }
        ));
    }
}
