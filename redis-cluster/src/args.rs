//! The connection arguments both Redis tools take, defined once: who to authenticate as and
//! where the password comes from (a file, or REDISCLI_AUTH as redis-cli reads it; never an
//! argument, which `ps` would show), and TLS with redis-cli's flags.

use std::path::PathBuf;
use std::time::Duration;

use crate::survey::ConnectOptions;
use crate::tls::{Tls, TlsError, TlsFiles};

/// `--user NAME`, `--pass-file FILE` and the TLS flags of redis-cli.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Authenticate as the ACL user NAME (default: the default user).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Read the password from the first line of FILE. Without it, the REDISCLI_AUTH
    /// environment variable is used when set, as redis-cli does.
    #[arg(long, value_name = "FILE")]
    pub pass_file: Option<PathBuf>,

    /// Connect to the nodes over TLS (their tls-port), as redis-cli --tls does. The nodes'
    /// certificates are checked against the CA of --cacert or --cacertdir (default: the
    /// system's CA certificates) and, unlike redis-cli, against the node's IP address, which
    /// they must carry as an IP subjectAltName (or the name of --sni).
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,

    /// Trust the CA certificates (PEM) in FILE to sign the nodes' certificates.
    #[arg(long, value_name = "FILE", requires = "tls", help_heading = "TLS")]
    pub cacert: Option<PathBuf>,

    /// Trust the CA certificates in the PEM files of DIR (other files there are skipped).
    #[arg(long, value_name = "DIR", requires = "tls", help_heading = "TLS")]
    pub cacertdir: Option<PathBuf>,

    /// Present the client certificate (PEM) in FILE to nodes that ask for one
    /// (tls-auth-clients yes); needs --key.
    #[arg(
        long,
        value_name = "FILE",
        requires_all = ["tls", "key"],
        help_heading = "TLS"
    )]
    pub cert: Option<PathBuf>,

    /// The private key (PEM) of the --cert certificate.
    #[arg(
        long,
        value_name = "FILE",
        requires_all = ["tls", "cert"],
        help_heading = "TLS"
    )]
    pub key: Option<PathBuf>,

    /// Send NAME as the TLS server name (SNI) and check the nodes' certificates against it
    /// instead of against each node's IP address.
    #[arg(long, value_name = "NAME", requires = "tls", help_heading = "TLS")]
    pub sni: Option<String>,

    /// Do not verify the nodes' certificates: the traffic is encrypted, but anyone in the
    /// path can pose as a node and read the password. For tests only.
    #[arg(long, requires = "tls", help_heading = "TLS")]
    pub insecure: bool,
}

/// Why the connection arguments cannot be used: bad input.
#[derive(Debug, thiserror::Error)]
pub enum ConnectArgsError {
    #[error("{0}; pass a readable file to --pass-file")]
    PassFile(toolkit::secret::SecretError),
    #[error("{0}")]
    Tls(TlsError),
}

impl ConnectArgs {
    /// The options to connect with: the password from `--pass-file` (its warnings printed),
    /// else `env_password` (the value of REDISCLI_AUTH) when set and not empty; with `--tls`,
    /// the TLS files read once here.
    pub fn options(
        &self,
        timeout: Duration,
        env_password: Option<String>,
    ) -> Result<ConnectOptions, ConnectArgsError> {
        let password = match &self.pass_file {
            Some(path) => {
                let file = toolkit::secret::read_password_file(path)
                    .map_err(ConnectArgsError::PassFile)?;
                for warning in &file.warnings {
                    toolkit::say!("warning: {warning}");
                }
                Some(file.password)
            }
            None => env_password.filter(|p| !p.is_empty()),
        };
        let tls = match self.tls_files() {
            Some(files) => Some(Tls::load(&files).map_err(ConnectArgsError::Tls)?),
            None => None,
        };
        Ok(ConnectOptions {
            timeout,
            user: self.user.clone(),
            password,
            vouched: None,
            tls,
        })
    }

    /// The TLS flags as given; `None` without `--tls`.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        self.tls.then(|| TlsFiles {
            cacert: self.cacert.clone(),
            cacertdir: self.cacertdir.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            sni: self.sni.clone(),
            insecure: self.insecure,
        })
    }
}
