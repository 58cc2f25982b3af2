//! The rules for names a site hands on: interface names, host names and file paths end up
//! in rc.conf lines that a shell sources, in pf.conf and nftables rulesets, in `ifconfig`
//! arguments and in paths under a staging root. Each is checked here, once, against a
//! character set that means the same thing in all of those places, so no tool has to quote
//! around a hostile name (`lo9;touch${IFS}pwned;x`) or hope its caller did.
//!
//! Each rule returns why a name breaks it, to follow "invalid interface name 'x': ".

/// Linux (`IFNAMSIZ` 16 with the terminating NUL) and FreeBSD both allow 15 bytes.
pub const MAX_INTERFACE_NAME: usize = 15;
/// A DNS name's limit; host names are placement keys and often the machines' names.
pub const MAX_HOST_NAME: usize = 253;
/// FreeBSD's `PATH_MAX` is 1024 bytes, the stricter of the two systems.
pub const MAX_PATH: usize = 1024;

fn name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// An interface name: 1 to 15 of `A-Z a-z 0-9 _ . -`, starting with a letter (so it can
/// be neither an option to `ifconfig`/`ip` nor `.` or `..`, nor read as a number by pfctl).
pub fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("it is empty".into())
    } else if !name_chars(name) {
        Err("use only letters, digits, '_', '.' and '-'".into())
    } else if name.len() > MAX_INTERFACE_NAME {
        Err(format!(
            "longer than {MAX_INTERFACE_NAME} bytes, the limit of Linux and FreeBSD"
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Err("it must start with a letter".into())
    } else {
        Ok(())
    }
}

/// A host name: 1 to 253 of `A-Z a-z 0-9 _ . -`, starting with a letter or a digit.
pub fn check_host_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("it is empty".into())
    } else if !name_chars(name) {
        Err("use only letters, digits, '-', '_' and '.'".into())
    } else if name.len() > MAX_HOST_NAME {
        Err(format!("longer than {MAX_HOST_NAME} bytes"))
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Err("it must start with a letter or a digit".into())
    } else {
        Ok(())
    }
}

/// A file the tools read or install: an absolute path of `A-Z a-z 0-9 / . _ - +`, at most
/// 1024 bytes, naming a file (no trailing `/`), without `.` or `..` components (which would
/// step out of a staging root such as `DESTDIR`).
pub fn check_file_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        Err("it is empty: name the file".into())
    } else if !path.starts_with('/') {
        Err("not an absolute path: write it from the root, like /etc/redis_allow".into())
    } else if path.len() > MAX_PATH {
        Err(format!("longer than {MAX_PATH} bytes"))
    } else if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+'))
    {
        Err(
            "use only letters, digits, '/', '.', '_', '-' and '+' (no spaces, quotes, \
             line breaks or shell characters)"
                .into(),
        )
    } else if path.split('/').any(|part| part == "." || part == "..") {
        Err("'.' and '..' components are not allowed: write the path without them".into())
    } else if path.ends_with('/') {
        Err("it names a directory: name the file".into())
    } else {
        Ok(())
    }
}
