//! HTTPS on the KMS listener: aws-sdk-kms verifying the server's certificate, the certificate
//! replaced on SIGHUP without dropping open connections, client certificates when required, and
//! plain HTTP refused on a non-loopback address.

use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use test_support::http::{Connection, Tls, TlsOptions};
use test_support::pki::{Ca, Identity};

use crate::common::{https_client, signer_for, write_private, PrincipalSpec, Served};

fn admin() -> PrincipalSpec {
    PrincipalSpec::user("111122223333", "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    )
}

/// `strongroom serve` with `[tls]` on `server.pem`/`server.key` (and `client_ca_file` when
/// given), its certificate issued by `ca` for 127.0.0.1.
fn serve_https(ca: &Ca, client_ca: Option<&Ca>, p: &PrincipalSpec) -> (Served, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    ca.server(&["127.0.0.1"]).write(
        files.path().join("server.pem"),
        files.path().join("server.key"),
    );
    let mut section = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        files.path().join("server.pem").display(),
        files.path().join("server.key").display()
    );
    if let Some(c) = client_ca {
        c.write_pem(files.path().join("clients.pem"));
        section.push_str(&format!(
            "client_ca_file = \"{}\"\n",
            files.path().join("clients.pem").display()
        ));
    }
    let served = Served::start_with(std::slice::from_ref(p), &section);
    (served, files)
}

/// An HTTP/1.1 connection over TLS to `addr` trusting `ca` only, presenting `client` if given.
async fn connect(addr: &str, ca: &Ca, client: Option<&Identity>) -> Result<Connection, String> {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let tls = Tls::with_roots(
        ca.roots(),
        host,
        TlsOptions {
            identity: client,
            ..TlsOptions::default()
        },
    );
    Connection::open(addr, addr, Some(&tls)).await
}

/// A signed ListKeys over `conn`: the status and body.
async fn list_keys(conn: &mut Connection, p: &PrincipalSpec) -> Result<(u16, String), String> {
    let body = b"{}";
    let headers = signer_for(p).sign_kms(&conn.host, "TrentService.ListKeys", body);
    let r = conn.send("POST", "/", &headers, &body[..]).await?;
    Ok((r.status, r.text()))
}

#[tokio::test]
async fn sdk_verifies_the_certificate_and_policy_sees_secure_transport() {
    let ca = Ca::new("Strongroom test CA");
    let p = admin();
    let (served, _files) = serve_https(&ca, None, &p);
    assert!(
        served.endpoint.starts_with("https://127.0.0.1:"),
        "{}",
        served.endpoint
    );
    let client = https_client(&served.endpoint, &p.access_key_id, &p.secret, ca.pem()).await;
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
    let other = Ca::new("Some other CA");
    let stranger = https_client(&served.endpoint, &p.access_key_id, &p.secret, other.pem()).await;
    let err = stranger.list_keys().send().await.unwrap_err();
    assert!(
        format!("{err:?}").contains("UnknownIssuer") || format!("{err:?}").contains("certificate"),
        "{err:?}"
    );
}

#[tokio::test]
async fn sighup_serves_a_new_certificate_and_keeps_open_connections() {
    let first = Ca::new("First CA");
    let p = admin();
    let (served, files) = serve_https(&first, None, &p);
    let addr = served.addr();
    let mut open = connect(&addr, &first, None).await.unwrap();
    assert_eq!(list_keys(&mut open, &p).await.unwrap().0, 200);

    // The operator renews the certificate (from another CA here, to tell them apart) and
    // signals the server.
    let second = Ca::new("Second CA");
    second.server(&["127.0.0.1"]).replace(
        files.path().join("server.pem"),
        files.path().join("server.key"),
    );
    served.sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if connect(&addr, &second, None).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // New connections get the new certificate only...
    assert!(connect(&addr, &first, None).await.is_err());
    // ...and the connection made before goes on serving.
    assert_eq!(list_keys(&mut open, &p).await.unwrap().0, 200);

    // A certificate that does not load leaves the current one in place.
    std::fs::write(files.path().join("server.pem"), "not a certificate").unwrap();
    served.sighup();
    served.wait_for_log("TLS reload failed", Duration::from_secs(10));
    let mut again = connect(&addr, &second, None).await.unwrap();
    assert_eq!(list_keys(&mut again, &p).await.unwrap().0, 200);
}

#[tokio::test]
async fn client_certificates_are_required_when_configured() {
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let p = admin();
    let (served, _files) = serve_https(&server_ca, Some(&client_ca), &p);
    let addr = served.addr();

    // No certificate: the handshake (or the first request, under TLS 1.3) fails.
    let refused = match connect(&addr, &server_ca, None).await {
        Err(_) => true,
        Ok(mut send) => list_keys(&mut send, &p).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");

    // A certificate from a CA the server does not name: refused too.
    let intruder = server_ca.client("intruder", &["intruder"]);
    let refused = match connect(&addr, &server_ca, Some(&intruder)).await {
        Err(_) => true,
        Ok(mut send) => list_keys(&mut send, &p).await.is_err(),
    };
    assert!(refused, "a client certificate of another CA was accepted");

    // The client CA's certificate: served (and SigV4 still applies).
    let payments = client_ca.client("payments", &["payments"]);
    let mut send = connect(&addr, &server_ca, Some(&payments)).await.unwrap();
    assert_eq!(list_keys(&mut send, &p).await.unwrap().0, 200);
    let mut send = connect(&addr, &server_ca, Some(&payments)).await.unwrap();
    let mut stranger = p.clone();
    stranger.secret = "wrong".to_string();
    let (status, body) = list_keys(&mut send, &stranger).await.unwrap();
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
