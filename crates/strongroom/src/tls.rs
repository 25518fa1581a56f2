//! HTTPS on the KMS listener: the `[tls]` section, and the rustls configuration built from it
//! (read again on SIGHUP, so a renewed certificate is served without a restart).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};

/// `[tls]`: the listener serves HTTPS (TLS 1.2 and 1.3) with this certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM), the server's certificate first.
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1), mode 0600.
    pub key_file: PathBuf,
    /// Require clients to present a certificate issued by one of these CAs (PEM). SigV4 still
    /// authenticates every request; this only decides who may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Makes relative paths relative to `base` (the configuration file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        self.cert_file = base.join(&self.cert_file);
        self.key_file = base.join(&self.key_file);
        if let Some(ca) = &mut self.client_ca_file {
            *ca = base.join(&*ca);
        }
    }

    /// Reads the files and builds the server configuration (ALPN: h2, then http/1.1).
    /// `allow_shared_key`: accept a key file the group or others may read.
    pub fn server_config(&self, allow_shared_key: bool) -> Result<Arc<ServerConfig>, String> {
        secret_files::check_secret_file(&self.key_file, "TLS private key file", allow_shared_key)?;
        let certs = read_certs(&self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file).map_err(|e| {
            format!(
                "cannot read a private key from {}: {e}",
                self.key_file.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("client certificate verifier: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("TLS certificate and key: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot parse certificates in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Plain HTTP is refused on an address other hosts can reach unless the configuration says so
/// (`insecure_http = true`): plaintexts and data keys would cross the network in clear.
pub fn check_plain_http(
    addr: std::net::SocketAddr,
    tls: bool,
    insecure_http: bool,
) -> Result<(), String> {
    if tls || insecure_http || addr.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to serve plain HTTP on {addr}: add a [tls] section (cert_file, key_file), \
         listen on a loopback address, or set insecure_http = true"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let public: std::net::SocketAddr = "0.0.0.0:4599".parse().unwrap();
        let loopback: std::net::SocketAddr = "127.0.0.1:4599".parse().unwrap();
        let v6: std::net::SocketAddr = "[::1]:4599".parse().unwrap();
        assert!(check_plain_http(public, false, false).is_err());
        assert!(check_plain_http(public, true, false).is_ok());
        assert!(check_plain_http(public, false, true).is_ok());
        assert!(check_plain_http(loopback, false, false).is_ok());
        assert!(check_plain_http(v6, false, false).is_ok());
    }
}
