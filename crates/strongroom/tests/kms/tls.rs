//! HTTPS on the KMS listener: aws-sdk-kms verifying the server's certificate, the certificate
//! replaced on SIGHUP without dropping open connections, client certificates when required, and
//! plain HTTP refused on a non-loopback address.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::common::{https_client, json_headers, write_private, PrincipalSpec, Served, Signer};

/// A CA that issues server and client certificates.
struct TestCa {
    key: KeyPair,
    params: CertificateParams,
    pem: String,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa { key, params, pem }
    }

    /// A certificate for `names` (PEM chain, PEM key).
    fn issue(&self, names: &[&str]) -> (String, String) {
        let issuer = Issuer::from_params(&self.params, &self.key);
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn admin() -> PrincipalSpec {
    PrincipalSpec::user("111122223333", "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    )
}

/// `strongroom serve` with `[tls]` on `server.pem`/`server.key` (and `client_ca_file` when
/// given), its certificate issued by `ca` for 127.0.0.1.
fn serve_https(
    ca: &TestCa,
    client_ca: Option<&TestCa>,
    p: &PrincipalSpec,
) -> (Served, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    write_private(files.path().join("server.pem"), cert);
    write_private(files.path().join("server.key"), key);
    let mut section = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        files.path().join("server.pem").display(),
        files.path().join("server.key").display()
    );
    if let Some(c) = client_ca {
        write_private(files.path().join("clients.pem"), &c.pem);
        section.push_str(&format!(
            "client_ca_file = \"{}\"\n",
            files.path().join("clients.pem").display()
        ));
    }
    let served = Served::start_with(std::slice::from_ref(p), &section);
    (served, files)
}

/// A TLS connection to `addr` trusting `ca_pem`, presenting `client` (PEM chain, PEM key) if
/// given, with one HTTP/1.1 connection over it.
async fn connect(
    addr: &str,
    ca_pem: &str,
    client: Option<(&str, &str)>,
) -> Result<hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let name = ServerName::try_from(host.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(conn);
    Ok(send)
}

/// A signed ListKeys over `send`: the status and body.
async fn list_keys(
    send: &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    addr: &str,
    p: &PrincipalSpec,
) -> Result<(u16, String), String> {
    use http_body_util::BodyExt;
    let signer = Signer {
        access_key_id: p.access_key_id.clone(),
        secret: p.secret.clone(),
        region: "us-east-1".to_string(),
        time: std::time::SystemTime::now(),
    };
    let body = b"{}";
    let headers = signer.sign_headers(addr, json_headers("TrentService.ListKeys"), body, None);
    let mut req = hyper::Request::post("/").header("host", addr);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from_static(body)))
        .unwrap();
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[tokio::test]
async fn sdk_verifies_the_certificate_and_policy_sees_secure_transport() {
    let ca = TestCa::new("Strongroom test CA");
    let p = admin();
    let (served, _files) = serve_https(&ca, None, &p);
    assert!(
        served.endpoint.starts_with("https://127.0.0.1:"),
        "{}",
        served.endpoint
    );
    let client = https_client(&served.endpoint, &p.access_key_id, &p.secret, &ca.pem).await;
    // aws:SecureTransport is true over HTTPS: a key whose policy denies insecure transport
    // still works.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let key = client
        .create_key()
        .policy(policy)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let ct = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"over TLS".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let pt = client
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(pt.as_ref(), b"over TLS");

    // A client that trusts another CA refuses the connection.
    let other = TestCa::new("Some other CA");
    let stranger = https_client(&served.endpoint, &p.access_key_id, &p.secret, &other.pem).await;
    let err = stranger.list_keys().send().await.unwrap_err();
    assert!(
        format!("{err:?}").contains("UnknownIssuer") || format!("{err:?}").contains("certificate"),
        "{err:?}"
    );
}

#[tokio::test]
async fn sighup_serves_a_new_certificate_and_keeps_open_connections() {
    let first = TestCa::new("First CA");
    let p = admin();
    let (served, files) = serve_https(&first, None, &p);
    let addr = served.addr();
    let mut open = connect(&addr, &first.pem, None).await.unwrap();
    assert_eq!(list_keys(&mut open, &addr, &p).await.unwrap().0, 200);

    // The operator renews the certificate (from another CA here, to tell them apart) and
    // signals the server.
    let second = TestCa::new("Second CA");
    let (cert, key) = second.issue(&["127.0.0.1"]);
    write_private(files.path().join("server.key.new"), key);
    write_private(files.path().join("server.pem.new"), cert);
    std::fs::rename(
        files.path().join("server.key.new"),
        files.path().join("server.key"),
    )
    .unwrap();
    std::fs::rename(
        files.path().join("server.pem.new"),
        files.path().join("server.pem"),
    )
    .unwrap();
    served.sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if connect(&addr, &second.pem, None).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // New connections get the new certificate only...
    assert!(connect(&addr, &first.pem, None).await.is_err());
    // ...and the connection made before goes on serving.
    assert_eq!(list_keys(&mut open, &addr, &p).await.unwrap().0, 200);

    // A certificate that does not load leaves the current one in place.
    std::fs::write(files.path().join("server.pem"), "not a certificate").unwrap();
    served.sighup();
    served.wait_for_log("TLS reload failed", Duration::from_secs(10));
    let mut again = connect(&addr, &second.pem, None).await.unwrap();
    assert_eq!(list_keys(&mut again, &addr, &p).await.unwrap().0, 200);
}

#[tokio::test]
async fn client_certificates_are_required_when_configured() {
    let server_ca = TestCa::new("Server CA");
    let client_ca = TestCa::new("Client CA");
    let p = admin();
    let (served, _files) = serve_https(&server_ca, Some(&client_ca), &p);
    let addr = served.addr();

    // No certificate: the handshake (or the first request, under TLS 1.3) fails.
    let refused = match connect(&addr, &server_ca.pem, None).await {
        Err(_) => true,
        Ok(mut send) => list_keys(&mut send, &addr, &p).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");

    // A certificate from a CA the server does not name: refused too.
    let (cert, key) = server_ca.issue(&["intruder"]);
    let refused = match connect(&addr, &server_ca.pem, Some((&cert, &key))).await {
        Err(_) => true,
        Ok(mut send) => list_keys(&mut send, &addr, &p).await.is_err(),
    };
    assert!(refused, "a client certificate of another CA was accepted");

    // The client CA's certificate: served (and SigV4 still applies).
    let (cert, key) = client_ca.issue(&["payments"]);
    let mut send = connect(&addr, &server_ca.pem, Some((&cert, &key)))
        .await
        .unwrap();
    assert_eq!(list_keys(&mut send, &addr, &p).await.unwrap().0, 200);
    let mut send = connect(&addr, &server_ca.pem, Some((&cert, &key)))
        .await
        .unwrap();
    let mut stranger = p.clone();
    stranger.secret = "wrong".to_string();
    let (status, body) = list_keys(&mut send, &addr, &stranger).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("InvalidSignatureException"), "{body}");
}

#[test]
fn plain_http_is_refused_off_loopback_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::render_config(&[admin()])
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    assert!(config.contains("0.0.0.0:0"), "{config}");
    write_private(dir.path().join("strongroom.toml"), &config);
    let root: String = crate::common::random_bytes(32)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write_private(
        dir.path().join("root.key"),
        format!("strongroom-root-key-v1:{root}\n"),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .arg("serve")
        .arg("--config")
        .arg(dir.path().join("strongroom.toml"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve plain HTTP on 0.0.0.0"),
        "{stderr}"
    );

    // Said explicitly, it serves.
    write_private(
        dir.path().join("strongroom.toml"),
        format!("insecure_http = true\n{config}"),
    );
    let served = Served::spawn_in(dir, "warn");
    assert!(
        served.endpoint.starts_with("http://0.0.0.0:"),
        "{}",
        served.endpoint
    );
}
