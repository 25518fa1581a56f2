//! HTTPS: rustls with aws-lc-rs, TLS 1.2 and 1.3, restricted to the cipher suites the XKS
//! specification names, and optional mutual TLS with a required client subject.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{aws_lc_rs as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::config::TlsConfig;

/// The crypto provider: aws-lc-rs with only the specification's cipher suites:
/// `TLS_AES_256_GCM_SHA384` and `TLS_CHACHA20_POLY1305_SHA256` (TLS 1.3),
/// `TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384` and `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`
/// (TLS 1.2).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let mut p = provider::default_provider();
    p.cipher_suites = vec![
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    Arc::new(p)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse certificates in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Builds the server's TLS configuration from `cfg` (reads the PEM files).
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certs(&cfg.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file).map_err(|e| {
        format!(
            "cannot read a private key from {}: {e}",
            cfg.key_file.display()
        )
    })?;
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = match &cfg.client_auth {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(&ca.ca_file)? {
                roots
                    .add(c)
                    .map_err(|e| format!("bad CA certificate in {}: {e}", ca.ca_file.display()))?;
            }
            let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client certificate verifier: {e}"))?;
            builder.with_client_cert_verifier(Arc::new(SubjectVerifier {
                inner,
                subject: ca.subject.trim().to_owned(),
            }))
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("server certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Chain validation by webpki, then the subject check: the handshake fails unless the client
/// certificate's common name or a DNS subject alternative name equals the configured subject.
struct SubjectVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    subject: String,
}

impl fmt::Debug for SubjectVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectVerifier")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for SubjectVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = der::subject_names(end_entity.as_ref()).ok_or(
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
        )?;
        if names.iter().any(|n| n.eq_ignore_ascii_case(&self.subject)) {
            Ok(verified)
        } else {
            tracing::warn!(
                presented = ?names,
                required = %self.subject,
                "client certificate refused: subject does not match"
            );
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Just enough DER to read a certificate's subject common names and DNS alternative names.
/// Only ever given certificates webpki has already validated.
pub mod der {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    /// id-at-commonName, 2.5.4.3
    const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
    /// id-ce-subjectAltName, 2.5.29.17
    const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

    /// One TLV: (tag, contents, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (t, c, r) = tlv(input)?;
        (t == tag).then_some((c, r))
    }

    fn string_value(tag: u8, v: &[u8]) -> Option<String> {
        match tag {
            // UTF8String, PrintableString, IA5String, VisibleString
            0x0c | 0x13 | 0x16 | 0x1a => std::str::from_utf8(v).ok().map(str::to_owned),
            // TeletexString, read as Latin-1
            0x14 => Some(v.iter().map(|&b| b as char).collect()),
            // BMPString (UCS-2)
            0x1e if v.len().is_multiple_of(2) => {
                let units: Vec<u16> = v
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).ok()
            }
            _ => None,
        }
    }

    /// Every subject common name and DNS subject alternative name of the certificate.
    pub fn subject_names(cert: &[u8]) -> Option<Vec<String>> {
        let (cert, _) = expect(cert, SEQUENCE)?;
        let (tbs, _) = expect(cert, SEQUENCE)?;
        let mut rest = tbs;
        // [0] EXPLICIT version, optional.
        if rest.first() == Some(&0xa0) {
            rest = tlv(rest)?.2;
        }
        // serialNumber, signature, issuer, validity
        for _ in 0..4 {
            rest = tlv(rest)?.2;
        }
        let (subject, after_subject) = expect(rest, SEQUENCE)?;
        let mut names = Vec::new();
        let mut rdns = subject;
        while !rdns.is_empty() {
            let (set, next) = expect(rdns, SET)?;
            rdns = next;
            let mut attrs = set;
            while !attrs.is_empty() {
                let (attr, next) = expect(attrs, SEQUENCE)?;
                attrs = next;
                let (oid, value) = expect(attr, OID)?;
                if oid == OID_CN {
                    let (tag, v, _) = tlv(value)?;
                    if let Some(s) = string_value(tag, v) {
                        names.push(s);
                    }
                }
            }
        }
        // subjectPublicKeyInfo, then optional [1], [2] unique ids and [3] extensions.
        let mut rest = tlv(after_subject)?.2;
        while !rest.is_empty() {
            let (tag, contents, next) = tlv(rest)?;
            rest = next;
            if tag != 0xa3 {
                continue;
            }
            let (mut exts, _) = expect(contents, SEQUENCE)?;
            while !exts.is_empty() {
                let (ext, next) = expect(exts, SEQUENCE)?;
                exts = next;
                let (oid, mut body) = expect(ext, OID)?;
                if oid != OID_SAN {
                    continue;
                }
                // critical BOOLEAN, optional
                if body.first() == Some(&0x01) {
                    body = tlv(body)?.2;
                }
                let (octets, _) = expect(body, 0x04)?;
                let (mut general_names, _) = expect(octets, SEQUENCE)?;
                while !general_names.is_empty() {
                    let (tag, v, next) = tlv(general_names)?;
                    general_names = next;
                    // dNSName [2] IA5String
                    if tag == 0x82 {
                        if let Ok(s) = std::str::from_utf8(v) {
                            names.push(s.to_owned());
                        }
                    }
                }
            }
        }
        Some(names)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_cn_and_dns_sans() {
            let mut params =
                rcgen::CertificateParams::new(vec!["a.example".into(), "b.example".into()])
                    .unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "cks.kms.eu-west-1.amazonaws.com");
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, "Org");
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let names = subject_names(cert.der()).unwrap();
            assert_eq!(
                names,
                vec!["cks.kms.eu-west-1.amazonaws.com", "a.example", "b.example"]
            );
        }

        #[test]
        fn garbage_is_refused() {
            assert_eq!(subject_names(b""), None);
            assert_eq!(subject_names(&[0x30, 0x82, 0xff]), None);
            assert_eq!(subject_names(&[0x30, 0x00]), None);
        }
    }
}
