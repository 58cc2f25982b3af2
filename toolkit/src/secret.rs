//! Password files, read one way by every tool: the first line is the secret, the file may not
//! be larger than a line needs, and a file that group or others may read draws a warning (as
//! ssh refuses keys with such modes; here a warning, since the file may be shared on purpose
//! by a group of operators).

use std::path::{Path, PathBuf};

use crate::input::{read_text, InputError};

/// The most a password file may hold.
const LIMIT: u64 = 64 * 1024;

/// The first line of a password file, and what the operator should hear about the file.
#[derive(Debug)]
pub struct PasswordFile {
    /// Without its line end.
    pub password: String,
    /// Warnings about the file, as sentences without the tool's name.
    pub warnings: Vec<String>,
}

/// Why a password file gives no password.
#[derive(Debug)]
pub enum SecretError {
    Input(InputError),
    EmptyFirstLine { path: PathBuf },
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Input(InputError::Empty { path })
            | SecretError::EmptyFirstLine { path } => {
                write!(
                    f,
                    "password file '{}' is empty; write the password on its first line",
                    path.display()
                )
            }
            SecretError::Input(InputError::Unreadable { path, error }) => {
                write!(f, "cannot read password file '{}': {error}", path.display())
            }
            SecretError::Input(error) => write!(f, "password file {error}"),
        }
    }
}

impl std::error::Error for SecretError {}

/// Reads the first line of `path` as the password.
pub fn read_password_file(path: &Path) -> Result<PasswordFile, SecretError> {
    let text = read_text(path, LIMIT).map_err(SecretError::Input)?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(SecretError::EmptyFirstLine {
            path: path.to_path_buf(),
        });
    }
    let mut warnings = Vec::new();
    if let Some(mode) = loose_mode(path) {
        warnings.push(format!(
            "password file '{}' may be read by group or others (mode {mode:03o}); run chmod 600 on it",
            path.display()
        ));
    }
    Ok(PasswordFile {
        password: line.to_string(),
        warnings,
    })
}

/// The permission bits of `path` when any group or other bit is set.
#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_path: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn the_first_line_is_the_password() {
        let (_dir, path) = file_with("s3cret\r\nignored\n", 0o600);
        let file = read_password_file(&path).unwrap();
        assert_eq!(file.password, "s3cret");
        assert!(file.warnings.is_empty());
    }

    #[test]
    fn any_group_or_other_bit_warns() {
        for mode in [0o640, 0o604, 0o610] {
            let (_dir, path) = file_with("pw\n", mode);
            let file = read_password_file(&path).unwrap();
            assert_eq!(file.warnings.len(), 1, "mode {mode:o}");
            assert!(file.warnings[0].contains("chmod 600"));
        }
    }

    #[test]
    fn an_empty_first_line_is_refused() {
        for text in ["", "\nsecond\n"] {
            let (_dir, path) = file_with(text, 0o600);
            let error = read_password_file(&path).unwrap_err().to_string();
            assert!(error.contains("is empty"), "{error}");
        }
    }
}
