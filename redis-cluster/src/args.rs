//! The connection arguments both Redis tools take, defined once: who to authenticate as and
//! where the password comes from (a file, or REDISCLI_AUTH as redis-cli reads it; never an
//! argument, which `ps` would show).

use std::path::PathBuf;
use std::time::Duration;

use crate::survey::ConnectOptions;

/// `--user NAME` and `--pass-file FILE`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Authenticate as the ACL user NAME (default: the default user).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Read the password from the first line of FILE. Without it, the REDISCLI_AUTH
    /// environment variable is used when set, as redis-cli does.
    #[arg(long, value_name = "FILE")]
    pub pass_file: Option<PathBuf>,
}

impl ConnectArgs {
    /// The options to connect with: the password from `--pass-file` (its warnings printed),
    /// else `env_password` (the value of REDISCLI_AUTH) when set and not empty.
    pub fn options(
        &self,
        timeout: Duration,
        env_password: Option<String>,
    ) -> Result<ConnectOptions, toolkit::secret::SecretError> {
        let password = match &self.pass_file {
            Some(path) => {
                let file = toolkit::secret::read_password_file(path)?;
                for warning in &file.warnings {
                    toolkit::say!("warning: {warning}");
                }
                Some(file.password)
            }
            None => env_password.filter(|p| !p.is_empty()),
        };
        Ok(ConnectOptions {
            timeout,
            user: self.user.clone(),
            password,
            vouched: None,
        })
    }
}
