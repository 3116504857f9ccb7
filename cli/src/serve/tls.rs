//! Native TLS for the webhook endpoint (`--tls-cert`, `--tls-key`): the PEM files read and checked
//! at start (readable, PEM, a key that matches the certificate), served with rustls on the
//! aws-lc-rs provider that the AWS SDK and reqwest already build, HTTP/1.1 only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate chain and private key files of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM), the server's certificate first.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the TLS files cannot be used. Names the file and the flag; never shows a key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {path} ({flag})", path = .path.display())]
    Unreadable {
        /// The flag that names it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no PEM block of the kind expected.
    #[error("{path} ({flag}) holds no PEM {what}", path = .path.display())]
    NotPem {
        /// The flag that names it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// rustls refuses the pair (most often: the key is not the certificate's).
    #[error(
        "the certificate {cert} (--tls-cert) and the key {key} (--tls-key) cannot be used together",
        cert = .cert.display(),
        key = .key.display()
    )]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        #[source]
        source: tokio_rustls::rustls::Error,
    },
}

/// Reads and checks the files, and builds the acceptor of TLS connections.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let cert_pem = read(&files.cert, "--tls-cert")?;
    let key_pem = read(&files.key, "--tls-key")?;
    let not_pem = |flag, path: &Path, what| TlsError::NotPem { flag, path: path.to_owned(), what };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| not_pem("--tls-cert", &files.cert, "certificate"))?;
    if chain.is_empty() {
        return Err(not_pem("--tls-cert", &files.cert, "certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| not_pem("--tls-key", &files.key, "private key"))?;
    let refused = |source| TlsError::Refused { cert: files.cert.clone(), key: files.key.clone(), source };
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(refused)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read(path: &Path, flag: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable { flag, path: path.to_owned(), source })
}
