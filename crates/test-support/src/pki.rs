//! A test PKI made with rcgen: a CA per test, and the server and client certificates it
//! issues. Certificates have rcgen's default validity (to 4096-01-01), which tests of expiry
//! figures rely on. Keys are ECDSA P-256 unless asked for RSA.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate authority.
pub struct Ca {
    pem: String,
    params: CertificateParams,
    key: KeyPair,
}

/// The key type of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    Rsa2048,
}

/// A certificate (PEM) and its private key (PEM).
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Identity {
    // The private key stays out of test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The certificate chain, DER.
    pub fn cert_chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("PEM certificates")
    }

    /// The private key, DER.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("PEM private key")
    }

    /// Writes the certificate to `cert` and the key to `key` (both 0600: `write_private`).
    pub fn write(&self, cert: impl AsRef<Path>, key: impl AsRef<Path>) {
        crate::write_private(cert, &self.cert_pem);
        crate::write_private(key, &self.key_pem);
    }

    /// [`Identity::write`], each file replaced atomically (for servers that reload them).
    pub fn replace(&self, cert: impl AsRef<Path>, key: impl AsRef<Path>) {
        crate::write_private_atomically(key, &self.key_pem);
        crate::write_private_atomically(cert, &self.cert_pem);
    }

    /// A rustls server configuration presenting this certificate, offering ALPN `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> std::sync::Arc<rustls::ServerConfig> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(self.cert_chain(), self.private_key())
        .expect("server certificate and key");
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        std::sync::Arc::new(cfg)
    }
}

impl Ca {
    /// A self-signed CA whose subject's common name is `common_name`.
    pub fn new(common_name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("self-signed CA").pem();
        Ca { pem, params, key }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.pem.as_bytes()).expect("PEM CA certificate")
    }

    /// Writes the CA certificate (PEM) to `path`, 0600.
    pub fn write_pem(&self, path: impl AsRef<Path>) {
        crate::write_private(path, &self.pem);
    }

    /// A root store holding this CA only.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der()).expect("a usable CA certificate");
        roots
    }

    /// A server certificate for `names` (DNS names or IP addresses, as subject alternative
    /// names; the first is also the common name).
    pub fn server(&self, names: &[&str]) -> Identity {
        self.server_with(names, KeyKind::EcdsaP256)
    }

    /// [`Ca::server`] with a key of `kind`.
    pub fn server_with(&self, names: &[&str], kind: KeyKind) -> Identity {
        let cn = names.first().copied().unwrap_or("server");
        self.issue(cn, names, kind, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// The usual server certificate of a test: `localhost` and `127.0.0.1`.
    pub fn localhost(&self) -> Identity {
        self.server(&["localhost", "127.0.0.1"])
    }

    /// A client certificate with common name `cn` and the DNS names `sans`.
    pub fn client(&self, cn: &str, sans: &[&str]) -> Identity {
        self.issue(
            cn,
            sans,
            KeyKind::EcdsaP256,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        cn: &str,
        names: &[&str],
        kind: KeyKind,
        usage: ExtendedKeyUsagePurpose,
    ) -> Identity {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("certificate names {names:?}: {e}"));
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = match kind {
            KeyKind::EcdsaP256 => KeyPair::generate(),
            KeyKind::Rsa2048 => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256),
        }
        .expect("certificate key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .expect("issue the certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn issued_certificates_verify_under_their_ca_only() {
        let ca = Ca::new("one");
        let other = Ca::new("other");
        let leaf = ca.localhost();
        let chain = leaf.cert_chain();
        let verify = |roots: rustls::RootCertStore| {
            let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            )
            .build()
            .unwrap();
            v.verify_server_cert(
                &chain[0],
                &[],
                &rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .is_ok()
        };
        assert!(verify(ca.roots()));
        assert!(!verify(other.roots()));
        let dir = tempfile::tempdir().unwrap();
        leaf.write(dir.path().join("c.pem"), dir.path().join("k.pem"));
        let mode = std::fs::metadata(dir.path().join("k.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{leaf:?}").contains("PRIVATE KEY"));
    }
}
