//! Certificates for TLS test worlds, made at test time with the `openssl` command in a
//! temporary directory: a CA, a server certificate for the loopback addresses the instances
//! bind (127.0.0.1–127.0.0.5 as IP subjectAltNames), a client certificate, and the bad ones
//! the refusals are tested with (expired, for another address, from another CA). Servers
//! started with [`Certificates::server`] are TLS-only (see [`crate::RedisConfig::tls`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The subjectAltNames of the good server certificate: every loopback address tests bind.
const LOOPBACK_SANS: &str = "IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4,IP:127.0.0.5";

/// A directory of PEM files, removed on drop.
#[derive(Debug)]
pub struct Certificates {
    dir: tempfile::TempDir,
}

/// The TLS settings of a TLS-only instance, and what redis-cli needs to reach it.
#[derive(Debug, Clone)]
pub struct TlsServer {
    /// `tls-cert-file`: the certificate the server presents (and uses as a client on the
    /// cluster bus and for replication).
    pub cert: PathBuf,
    /// `tls-key-file`.
    pub key: PathBuf,
    /// `tls-ca-cert-file`: the CA that signs the certificates the server trusts.
    pub ca: PathBuf,
    /// `tls-auth-clients`: "yes", "no" or "optional".
    pub auth_clients: String,
    /// The client certificate and key redis-cli presents for testkit's own commands
    /// (readiness, [`crate::RedisInstance::cli`]).
    pub cli_cert: PathBuf,
    pub cli_key: PathBuf,
}

impl TlsServer {
    /// redis-cli's arguments to reach a server with these settings. Without verification:
    /// testkit's own commands reach the servers with bad certificates too; what the tools
    /// verify is what is tested.
    pub fn cli_args(&self) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        vec![
            "--tls".to_string(),
            "--insecure".to_string(),
            "--cert".to_string(),
            path(&self.cli_cert),
            "--key".to_string(),
            path(&self.cli_key),
        ]
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run openssl; install the openssl package");
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Certificates {
    /// Makes every certificate at once (a fraction of a second: EC P-256 keys).
    pub fn generate() -> Certificates {
        let dir = tempfile::Builder::new()
            .prefix("testkit-tls-")
            .tempdir()
            .expect("cannot create a temporary directory");
        let certs = Certificates { dir };
        certs.authority("ca", "testkit CA");
        certs.authority("other-ca", "another CA");
        let server_ext =
            format!("subjectAltName={LOOPBACK_SANS}\nextendedKeyUsage=serverAuth,clientAuth\n");
        certs.issue("server", "ca", &server_ext, "2");
        certs.issue("client", "ca", "extendedKeyUsage=clientAuth\n", "2");
        // Valid until a day before it was made: expired from the start.
        certs.issue("expired", "ca", &server_ext, "-1");
        certs.issue("stranger", "other-ca", &server_ext, "2");
        certs.issue(
            "elsewhere",
            "ca",
            "subjectAltName=IP:127.0.0.9,DNS:redis.test\nextendedKeyUsage=serverAuth,clientAuth\n",
            "2",
        );
        certs
    }

    fn authority(&self, name: &str, subject: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-subj",
                &format!("/CN={subject}"),
            ],
        );
    }

    /// `name.crt` and `name.key`, signed by the CA `ca`, with the extensions `ext`, valid
    /// for `days` from now.
    fn issue(&self, name: &str, ca: &str, ext: &str, days: &str) {
        let at = self.dir.path();
        std::fs::write(at.join(format!("{name}.ext")), ext).expect("cannot write an ext file");
        openssl(
            at,
            &[
                "req",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            at,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                days,
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }

    /// The file `name` (`ca.crt`, `client.key`, …).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory that holds every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A TLS-only server presenting the good certificate, with `tls-auth-clients`
    /// `auth_clients`.
    pub fn server(&self, auth_clients: &str) -> TlsServer {
        self.server_presenting("server", auth_clients)
    }

    /// A TLS-only server presenting the certificate `name` (`server`, `expired`, `stranger`,
    /// `elsewhere`); the CA of the bad certificates' own servers stays the good one.
    pub fn server_presenting(&self, name: &str, auth_clients: &str) -> TlsServer {
        TlsServer {
            cert: self.path(&format!("{name}.crt")),
            key: self.path(&format!("{name}.key")),
            ca: self.path("ca.crt"),
            auth_clients: auth_clients.to_string(),
            cli_cert: self.path("client.crt"),
            cli_key: self.path("client.key"),
        }
    }
}
