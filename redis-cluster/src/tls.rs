//! TLS for the connections to the nodes, with the flags redis-cli has (`--tls`, `--cacert`,
//! `--cacertdir`, `--cert`, `--key`, `--sni`, `--insecure`). The files are read once, when the
//! options are built, so that a bad file is bad input before any node is asked; the
//! configuration is then shared by every connection. The handshake itself runs in
//! [`crate::connection`], under the connection's one deadline; this module turns what went
//! wrong in it into words an operator can act on. rustls with the ring provider: no OpenSSL
//! and no cmake to build.
//!
//! Unlike redis-cli, which checks the chain only, the certificate's name is checked too:
//! against `--sni NAME` when given, else against the node's IP address (the address the tools
//! are given and the cluster announces), which the certificate must then carry as an IP
//! subjectAltName.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

/// The TLS files and choices as given on the command line (or by a site description), before
/// anything is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--cacert FILE`: the CA certificates (PEM) that sign the nodes' certificates.
    pub cacert: Option<PathBuf>,
    /// `--cacertdir DIR`: a directory of CA certificates (PEM files; other files are skipped).
    pub cacertdir: Option<PathBuf>,
    /// `--cert FILE`: the client certificate (PEM, chain allowed) for servers that ask for one.
    pub cert: Option<PathBuf>,
    /// `--key FILE`: the private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// `--sni NAME`: the server name to send and to check the certificates against.
    pub sni: Option<String>,
    /// `--insecure`: no verification of the nodes' certificates.
    pub insecure: bool,
}

/// Files OpenSSL reads CA certificates from when none is named, by system: Debian and its
/// kin, Fedora and its kin, FreeBSD's ca_root_nss, FreeBSD base and macOS.
const SYSTEM_CA_FILES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/usr/local/share/certs/ca-root-nss.crt",
    "/etc/ssl/cert.pem",
];

/// Why the TLS options cannot be used: bad input, named by flag and file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{flag} '{}': {reason}", .path.display())]
    File {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("--cert and --key go together: give both (the client certificate and its key)")]
    Pair,
    #[error("--sni '{0}' is not a DNS name or an IP address")]
    Sni(String),
    #[error(
        "no CA certificates: pass --cacert FILE or --cacertdir DIR (the CA that signed the \
         nodes' certificates), or --insecure to skip verification"
    )]
    NoCa,
    #[error("the client certificate and key cannot be used: {0}")]
    Config(String),
}

/// A ready TLS client configuration, shared by every connection.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    sni: Option<ServerName<'static>>,
    /// Whether a client certificate is offered, for the words of a refusal.
    client_cert: bool,
}

impl std::fmt::Debug for Tls {
    /// The configuration holds keys: only what is safe to print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("sni", &self.sni)
            .field("client_cert", &self.client_cert)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the files of `files` and builds the client configuration.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        // Deprecated for its lack of post-quantum key exchange; aws-lc-rs, which has it, needs
        // cmake and a C toolchain to build, which the hosts here need not have.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let sni = files
            .sni
            .as_ref()
            .map(|name| ServerName::try_from(name.clone()).map_err(|_| TlsError::Sni(name.clone())))
            .transpose()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if files.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
        } else {
            let roots = roots(files)?;
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_webpki_verifier(verifier)
        };
        let (config, client_cert) = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates("--cert", cert)?;
                let key = private_key(key)?;
                let config = builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsError::Config(e.to_string()))?;
                (config, true)
            }
            (None, None) => (builder.with_no_client_auth(), false),
            _ => return Err(TlsError::Pair),
        };
        Ok(Tls {
            config: Arc::new(config),
            sni,
            client_cert,
        })
    }

    /// A client session for the node at `addr`: `--sni` as the name, else its IP address.
    pub(crate) fn session(&self, addr: SocketAddr) -> Result<rustls::ClientConnection, String> {
        let name = self
            .sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
        rustls::ClientConnection::new(self.config.clone(), name).map_err(|e| e.to_string())
    }

    /// What a failed handshake (or the first read after it, where a server's refusal of the
    /// client certificate arrives in TLS 1.3) means, in words.
    pub(crate) fn cause(&self, error: &rustls::Error) -> String {
        cause(error, self.client_cert)
    }
}

/// The CA certificates to trust: `--cacert` and `--cacertdir`, else the system's.
fn roots(files: &TlsFiles) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut add = |flag: &'static str, path: &Path, certs: Vec<CertificateDer<'static>>| {
        for cert in certs {
            roots.add(cert).map_err(|e| TlsError::File {
                flag,
                path: path.to_path_buf(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        Ok::<(), TlsError>(())
    };
    if let Some(path) = &files.cacert {
        add("--cacert", path, certificates("--cacert", path)?)?;
    }
    if let Some(dir) = &files.cacertdir {
        let entries = std::fs::read_dir(dir).map_err(|e| TlsError::File {
            flag: "--cacertdir",
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        let mut found = false;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            // OpenSSL's hashed directories hold links and other files beside the PEM ones.
            if let Ok(certs) = certificates("--cacertdir", path) {
                found = true;
                add("--cacertdir", path, certs)?;
            }
        }
        if !found {
            return Err(TlsError::File {
                flag: "--cacertdir",
                path: dir.clone(),
                reason: "holds no PEM certificate".to_string(),
            });
        }
    }
    if files.cacert.is_none() && files.cacertdir.is_none() {
        let system = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(SYSTEM_CA_FILES.iter().map(PathBuf::from))
            .find(|p| p.is_file());
        if let Some(path) = system {
            add(
                "SSL_CERT_FILE",
                &path,
                certificates("SSL_CERT_FILE", &path)?,
            )?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoCa);
    }
    Ok(roots)
}

/// The certificates of the PEM file `path`, at least one.
fn certificates(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::File {
        flag,
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".to_string()));
    }
    Ok(certs)
}

/// The private key of the PEM file `path` (PKCS#8, PKCS#1 or SEC1).
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bad = |reason: String| TlsError::File {
        flag: "--key",
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => bad("holds no PEM private key".to_string()),
        e => bad(format!("not a PEM file: {e}")),
    })
}

/// The words for a handshake error; `client_cert` says whether one was offered.
fn cause(error: &rustls::Error, client_cert: bool) -> String {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => {
                "certificate signed by an unknown authority (pass the CA that signed it with \
                 --cacert)"
                    .to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate is not valid for this node's address (it needs the address as an \
                 IP subjectAltName, or pass the name it carries with --sni)"
                    .to_string()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate is not valid yet (check the clocks)".to_string()
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "certificate is not for TLS servers (extendedKeyUsage lacks serverAuth)".to_string()
            }
            other => format!("certificate rejected: {other:?}"),
        },
        E::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure
                if !client_cert =>
            {
                format!(
                    "the server refused the handshake ({alert:?}): it asks for a client \
                     certificate, pass --cert and --key"
                )
            }
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::DecryptError
                if client_cert =>
            {
                format!("the server refused the client certificate of --cert ({alert:?})")
            }
            other => format!("the server refused the handshake ({other:?})"),
        },
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            "the server did not answer in TLS: no TLS on this port?".to_string()
        }
        other => other.to_string(),
    }
}

/// `--insecure`: every certificate is taken, its handshake signatures still checked (they
/// prove the server holds the key of the certificate it sent, whatever that is worth).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_error(files: &TlsFiles) -> String {
        Tls::load(files).unwrap_err().to_string()
    }

    #[test]
    fn a_missing_file_is_named_with_its_flag() {
        let message = file_error(&TlsFiles {
            cacert: Some("/nonexistent/ca.crt".into()),
            ..TlsFiles::default()
        });
        assert!(
            message.starts_with("--cacert '/nonexistent/ca.crt': "),
            "{message}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let message = file_error(&TlsFiles {
            cacert: Some(path.clone()),
            ..TlsFiles::default()
        });
        assert_eq!(
            message,
            format!("--cacert '{}': holds no PEM certificate", path.display())
        );
        let message = file_error(&TlsFiles {
            cacertdir: Some(dir.path().to_path_buf()),
            ..TlsFiles::default()
        });
        assert!(message.contains("holds no PEM certificate"), "{message}");
    }

    #[test]
    fn cert_and_key_go_together() {
        let message = file_error(&TlsFiles {
            insecure: true,
            cert: Some("/nonexistent/client.crt".into()),
            ..TlsFiles::default()
        });
        assert!(
            message.contains("--cert and --key go together"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_sni_is_refused() {
        let message = file_error(&TlsFiles {
            insecure: true,
            sni: Some("not a name".into()),
            ..TlsFiles::default()
        });
        assert!(message.contains("--sni 'not a name'"), "{message}");
    }

    #[test]
    fn insecure_needs_no_files() {
        let tls = Tls::load(&TlsFiles {
            insecure: true,
            ..TlsFiles::default()
        })
        .unwrap();
        assert!(tls.session("127.0.0.1:7000".parse().unwrap()).is_ok());
    }

    #[test]
    fn handshake_errors_read_as_causes() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(cause(&unknown, false).starts_with("certificate signed by an unknown authority"));
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(cause(&expired, false), "certificate has expired");
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(cause(&plain, false).ends_with("no TLS on this port?"));
        let wants_cert = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(cause(&wants_cert, false).contains("pass --cert and --key"));
        let refused = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        assert!(cause(&refused, true).contains("refused the client certificate"));
    }
}
