//! Request logging: one line per request with the KMS request id, operation, key, outcome and
//! latency; never plaintext, key material or secrets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use common::*;

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_logged_without_secrets() {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(buf.clone());
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut t = TenantSpec::new("");
    t.extra = "[[tenants.authorization]]\nname = \"deny-bob\"\neffect = \"deny\"\nprincipals = [\"*:user/Bob\"]\n".into();
    let h = Harness::start(Setup {
        tenants: vec![t],
        ..Default::default()
    })
    .await;
    let mut api = h.api("").await;
    let plaintext = b"TOP-SECRET-PLAINTEXT-0123456789";
    let mut body = json!({
        "requestMetadata": metadata("Encrypt"),
        "plaintext": b64(plaintext),
        "encryptionAlgorithm": "AES_GCM",
    });
    body["requestMetadata"]["kmsRequestId"] = json!("req-encrypt-42");
    let enc = api.call("/keys/key-1/encrypt", &body).await.ok();
    let mut dec = Api::decrypt_body(&enc, None);
    dec["requestMetadata"]["kmsRequestId"] = json!("req-decrypt-43");
    assert_eq!(api.decrypt("key-1", &dec).await.status, 200);
    let mut bad = dec.clone();
    bad["requestMetadata"]["kmsRequestId"] = json!("req-bad-44");
    bad["authenticationTag"] = json!(b64(&[0; 16]));
    api.decrypt("key-1", &bad)
        .await
        .assert_error(400, "InvalidCiphertextException");
    let mut bob = dec.clone();
    bob["requestMetadata"]["kmsRequestId"] = json!("req-bob-45");
    bob["requestMetadata"]["awsPrincipalArn"] = json!("arn:aws:iam::123456789012:user/Bob");
    api.decrypt("key-1", &bob)
        .await
        .assert_error(403, "AccessDeniedException");
    // A request refused before its metadata is read is logged too.
    let mut c = h.client().await;
    c.request(
        "POST",
        "/kms/xks/v1/keys/key-1/metadata",
        b"{}".to_vec(),
        None,
    )
    .await
    .assert_error(401, "AuthenticationFailedException");
    h.proxy.shutdown().await;

    let log = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let line = |id: &str| -> String {
        log.lines()
            .find(|l| l.contains(id) && l.contains("xks request"))
            .unwrap_or_else(|| panic!("no request line for {id} in:\n{log}"))
            .to_string()
    };
    let e = line("req-encrypt-42");
    for part in [
        "operation=\"Encrypt\"",
        "key_id=\"key-1\"",
        "outcome=\"ok\"",
        "status=200",
        "latency_us=",
        "kms_operation=\"Encrypt\"",
        "access_key_id=\"AKIDAAAAAAAAAAAAAAAAAAA2\"",
    ] {
        assert!(e.contains(part), "{part} in {e}");
    }
    assert!(line("req-decrypt-43").contains("operation=\"Decrypt\""));
    let b = line("req-bad-44");
    assert!(
        b.contains("outcome=\"InvalidCiphertextException\"") && b.contains("status=400"),
        "{b}"
    );
    let refused = log
        .lines()
        .find(|l| l.contains("xks request") && l.contains("AuthenticationFailedException"))
        .unwrap_or_else(|| panic!("no line for the unsigned request in:\n{log}"));
    assert!(
        refused.contains("status=401") && refused.contains("operation=\"GetKeyMetadata\""),
        "{refused}"
    );
    let denial = log
        .lines()
        .find(|l| l.contains("secondary authorization denied"))
        .expect("a denial line");
    assert!(
        denial.contains("rule=\"deny-bob\"") && denial.contains("req-bob-45"),
        "{denial}"
    );

    // Nothing secret: not the plaintext (raw or Base64), not the signing secret, not the KEK.
    let pt_text = String::from_utf8_lossy(plaintext).to_string();
    for secret in [pt_text.as_str(), &b64(plaintext), SECRET_1, KEK_HEX] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}
