//! `redis-cluster-create config`: the configuration files of one host's instances, printed for
//! an installer (the FreeBSD staging script) or written for instances started by hand (the
//! demo, the lab). The files themselves come from `redis_cluster::config`, the one renderer.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use redis_cluster::config::{host_files, HostFiles, Layout};

use crate::error::CreateError;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Read the site description from FILE ("-" reads standard input).
    #[arg(long, value_name = "FILE")]
    site: PathBuf,
    /// Render the files of the host called NAME in the site.
    #[arg(long, value_name = "NAME")]
    host: String,
    /// Print FORMAT: json (the files with path, mode and content, and the directories to
    /// make) or text (each file under a '==> PATH' header) (default: json).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "json",
        hide_default_value = true
    )]
    format: ConfigFormat,
    /// Lay the files out under DIR for instances started by hand: DIR/HOST/redis-PORT.conf,
    /// with data, pid and log file in DIR/HOST/PORT. Without it: the how-to's FreeBSD host
    /// (/usr/local/etc/redis-PORT.conf, /var/db/redis/PORT, /etc/rc.conf.d/redis).
    #[arg(long, value_name = "DIR")]
    local: Option<PathBuf>,
    /// Make the directories and write the files (each replaced whole) instead of printing
    /// them. Only with --local: a FreeBSD host is staged by scripts/freebsd/stage, which keeps
    /// backups of what it replaces.
    #[arg(long, requires = "local")]
    write: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ConfigFormat {
    Json,
    Text,
}

pub fn run(args: &ConfigArgs) -> Result<(), CreateError> {
    let site = site::Site::load(&args.site)?;
    let layout = match &args.local {
        // Redis resolves a relative dir against its own working directory: make it absolute.
        Some(dir) => {
            Layout::Local(
                std::path::absolute(dir).map_err(|error| CreateError::Write {
                    path: dir.clone(),
                    reason: error.to_string(),
                })?,
            )
        }
        None => Layout::FreeBsd,
    };
    let files = host_files(&site, &args.host, &layout)?;
    if args.write {
        return write(&files);
    }
    match args.format {
        ConfigFormat::Json => toolkit::stdio::print_json(&files),
        ConfigFormat::Text => toolkit::stdio::print_text(&files.text()),
    }
    .map(drop)
    .map_err(CreateError::Output)
}

/// Makes every directory, then writes every file, each replaced atomically.
fn write(files: &HostFiles) -> Result<(), CreateError> {
    for dir in &files.directories {
        make_dir(&dir.path, mode(&dir.mode)).map_err(|error| CreateError::Write {
            path: dir.path.clone(),
            reason: error.to_string(),
        })?;
    }
    for file in &files.files {
        if let Some(parent) = file.path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| CreateError::Write {
                path: parent.to_path_buf(),
                reason: error.to_string(),
            })?;
        }
        toolkit::file::write_atomically(&file.path, file.content.as_bytes(), mode(&file.mode))
            .map_err(CreateError::File)?;
    }
    Ok(())
}

/// The permission bits of an octal mode string the renderer produced.
fn mode(octal: &str) -> u32 {
    u32::from_str_radix(octal, 8).expect("the renderer writes modes in octal")
}

fn make_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
