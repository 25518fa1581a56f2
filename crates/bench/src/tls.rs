//! HTTPS for the XKS suites: a per-run CA and `localhost` certificate (the workspace's test
//! PKI), the client's rustls settings trusting only that CA, and the HTTPS floor server.
//!
//! The HTTPS floor (`strongroom-bench tls-floor-server --cert F --key F`, a separate process
//! like the HTTP floor) is a bare hyper HTTP/1.1 server behind tokio-rustls with the same TLS
//! settings as `strongroom xks-proxy` (aws-lc-rs, TLS 1.3/1.2, the XKS specification's four
//! cipher suites, ALPN h2 + http/1.1, the same certificate). It reads the request body and
//! answers a fixed JSON shaped like an XKS Encrypt answer for 1 KiB of plaintext, so the bytes
//! encrypted on the wire match the real proxy's and the only difference is the work done.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::crypto::{aws_lc_rs as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpListener;

use crate::suite::{write_private, TlsClient};

/// The CA and the server certificate of one run.
pub struct Pki {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Makes a CA (ECDSA P-256) and a certificate for `localhost` / `127.0.0.1` in `dir`, with the
/// workspace's test PKI.
pub fn make_pki(dir: &Path) -> Result<Pki, String> {
    let ca = test_support::pki::Ca::new("strongroom-bench CA");
    let leaf = ca.localhost();
    let pki = Pki {
        ca_pem: ca.pem().to_string(),
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join("localhost.pem"),
        key_file: dir.join("localhost.key"),
    };
    write_private(&pki.ca_file, pki.ca_pem.as_bytes())?;
    write_private(&pki.cert_file, leaf.cert_pem.as_bytes())?;
    write_private(&pki.key_file, leaf.key_pem.as_bytes())?;
    Ok(pki)
}

/// aws-lc-rs with the XKS specification's cipher suites (as `strongroom xks-proxy` uses).
pub fn xks_provider() -> Arc<CryptoProvider> {
    let mut p = provider::default_provider();
    p.cipher_suites = vec![
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    Arc::new(p)
}

/// A client trusting only `ca_pem`, checking the name `localhost`, offering HTTP/1.1.
pub fn client(ca_pem: &str) -> Result<TlsClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA certificate: {e}"))?;
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(provider::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsClient {
        config: Arc::new(config),
        server_name: ServerName::try_from("localhost")
            .map_err(|e| format!("server name: {e}"))?
            .to_owned(),
    })
}

/// The protocol version and cipher suite a handshake with `addr` negotiates.
pub async fn negotiated(addr: std::net::SocketAddr, client: &TlsClient) -> Result<String, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(&client.config))
        .connect(client.server_name.clone(), tcp)
        .await
        .map_err(|e| format!("TLS handshake with {addr} failed: {e}"))?;
    let conn = tls.get_ref().1;
    let version = conn
        .protocol_version()
        .map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
    let suite = conn
        .negotiated_cipher_suite()
        .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
    Ok(format!("{version} {suite}"))
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(xks_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The HTTPS floor's answer: an XKS Encrypt answer's shape and size for 1 KiB.
fn floor_body() -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD;
    Bytes::from(
        serde_json::json!({
            "authenticationTag": b64.encode([0u8; 16]),
            "ciphertext": b64.encode([0u8; 1024]),
            "ciphertextDataIntegrityValue": b64.encode([0u8; 32]),
            "ciphertextMetadata": "AQ==",
            "initializationVector": b64.encode([0u8; 12]),
        })
        .to_string(),
    )
}

/// Runs the HTTPS floor until stdin reaches end of file (the parent went away).
pub fn run_server(cert: &Path, key: &Path) -> ExitCode {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
        }
    });
    let config = match server_config(cert, key) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tls floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tls floor: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls floor: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Arc<rustls::ServerConfig>) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTEN {addr}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    let body = floor_body();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("tls floor: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| answer(req, body.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn answer(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match req.into_body().collect().await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_run_pki_is_private_and_trusted_by_the_client() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pki = super::make_pki(dir.path()).unwrap();
        for f in [&pki.ca_file, &pki.cert_file, &pki.key_file] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
        let key = std::fs::read_to_string(&pki.key_file).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert!(super::client(&pki.ca_pem).is_ok());
        assert!(super::server_config(&pki.cert_file, &pki.key_file).is_ok());
    }

    #[test]
    fn floor_body_is_the_size_of_a_1kib_encrypt_answer() {
        let b = super::floor_body();
        assert!(b.len() > 1400 && b.len() < 1600, "{}", b.len());
    }
}
