//! The four operations over HTTPS, and every error they can produce.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use common::*;
use xks_proxy::backend::software::RELOAD_CHECK;
use xks_proxy::backend::{BackendError, BackendHealth, KeyBackend, KeyInfo, KeyStatus, Sealed};

fn setup_with_keys(keys: Vec<KeySpec>) -> Setup {
    let mut t = TenantSpec::new("");
    t.keys = keys;
    Setup {
        tenants: vec![t],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_status_reports_a_deep_check() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let v = api.health().await.ok();
    assert_eq!(v["xksProxyFleetSize"], 1);
    assert_eq!(v["xksProxyVendor"], "Strongroom");
    assert!(v["xksProxyModel"]
        .as_str()
        .unwrap()
        .starts_with("Strongroom XKS Proxy "));
    assert_eq!(v["ekmVendor"], "Strongroom");
    let fleet = v["ekmFleetDetails"].as_array().unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0]["id"], "root.keystore");
    assert!(fleet[0]["model"]
        .as_str()
        .unwrap()
        .contains("software keystore"));
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE");
    // Every kmsOperation is accepted.
    for op in [
        "CreateCustomKeyStore",
        "ConnectCustomKeyStore",
        "SomeFutureOperation",
    ] {
        let r = api
            .call(
                "/health",
                &json!({"requestMetadata": {"kmsRequestId": "x", "kmsOperation": op}}),
            )
            .await;
        assert_eq!(r.status, 200, "{op}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_metadata() {
    let h = Harness::start(setup_with_keys(vec![key("key-1")])).await;
    let mut api = h.api("").await;
    let v = api.metadata("key-1").await.ok();
    assert_eq!(
        v,
        json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"})
    );
    // CreateKey sends no kmsKeyArn.
    let r = api
        .call(
            "/keys/key-1/metadata",
            &json!({"requestMetadata": {
                "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                "kmsOperation": "CreateKey", "kmsRequestId": "r-1"}}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_and_decrypt_with_aad_and_cdiv() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let aad = b"project=nile,department=marketing";
    let enc = api
        .encrypt("key-1", b"Hello World!", Some(aad), true)
        .await
        .ok();
    let (ct, iv, tag, md) = encrypt_parts(&enc);
    assert_eq!(ct.len(), 12);
    assert_eq!(iv.len(), 12);
    assert_eq!(tag.len(), 16);
    assert_eq!(
        md,
        vec![1u8],
        "ciphertextMetadata is the format version byte"
    );
    // The CDIV as Appendix C computes it, recomputed here independently.
    let cdiv = unb64(&enc["ciphertextDataIntegrityValue"]);
    assert_eq!(cdiv, sha256(&[aad, &md, &iv, &ct, &tag]));

    let dec = api
        .decrypt("key-1", &Api::decrypt_body(&enc, Some(aad)))
        .await
        .ok();
    assert_eq!(unb64(&dec["plaintext"]), b"Hello World!");
    // Two encryptions of the same plaintext use different IVs.
    let enc2 = api
        .encrypt("key-1", b"Hello World!", Some(aad), true)
        .await
        .ok();
    assert_ne!(enc2["initializationVector"], enc["initializationVector"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_without_aad_or_cdiv() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let enc = api.encrypt("key-1", b"", None, false).await.ok();
    assert!(enc.get("ciphertextDataIntegrityValue").is_none(), "{enc}");
    assert_eq!(unb64(&enc["ciphertext"]), b"");
    let dec = api
        .decrypt("key-1", &Api::decrypt_body(&enc, None))
        .await
        .ok();
    assert_eq!(unb64(&dec["plaintext"]), b"");
    // CDIV without AAD covers metadata, IV, ciphertext and tag.
    let enc = api.encrypt("key-1", b"data key", None, true).await.ok();
    let parts: Vec<Vec<u8>> = [
        "ciphertextMetadata",
        "initializationVector",
        "ciphertext",
        "authenticationTag",
    ]
    .iter()
    .map(|f| unb64(&enc[*f]))
    .collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    assert_eq!(unb64(&enc["ciphertextDataIntegrityValue"]), sha256(&refs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_minimum_sizes_4300_plaintext_and_8192_aad() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let plaintext: Vec<u8> = (0..4300u32).map(|i| (i * 7) as u8).collect();
    let aad: Vec<u8> = (0..8192u32).map(|i| (i * 13) as u8).collect();
    let enc = api
        .encrypt("key-1", &plaintext, Some(&aad), true)
        .await
        .ok();
    assert_eq!(unb64(&enc["ciphertext"]).len(), 4300);
    let dec = api
        .decrypt("key-1", &Api::decrypt_body(&enc, Some(&aad)))
        .await
        .ok();
    assert_eq!(unb64(&dec["plaintext"]), plaintext);
    // The most this proxy supports: 64 KiB of data, an AAD whose length fits the AAD
    // construction's 16-bit length field.
    let most = vec![7u8; 65_536];
    let most_aad = vec![9u8; 65_535];
    let enc = api
        .encrypt("key-1", &most, Some(&most_aad), true)
        .await
        .ok();
    let mut body = Api::decrypt_body(&enc, Some(&most_aad));
    let dec = api.decrypt("key-1", &body).await.ok();
    assert_eq!(unb64(&dec["plaintext"]), most);
    // One byte more: UnsupportedOperationException.
    api.encrypt("key-1", &[0u8; 65_537], None, false)
        .await
        .assert_error(501, "UnsupportedOperationException");
    api.encrypt("key-1", b"x", Some(&[0u8; 65_536]), false)
        .await
        .assert_error(501, "UnsupportedOperationException");
    body["additionalAuthenticatedData"] = json!(b64(&[9u8; 65_536]));
    api.decrypt("key-1", &body)
        .await
        .assert_error(501, "UnsupportedOperationException");
    body["additionalAuthenticatedData"] = json!(b64(&most_aad));
    body["ciphertext"] = json!(b64(&[0u8; 65_537]));
    api.decrypt("key-1", &body)
        .await
        .assert_error(501, "UnsupportedOperationException");
    let too_long_body = vec![b' '; 300 * 1024];
    api.raw("/keys/key-1/encrypt", &too_long_body)
        .await
        .assert_error(501, "UnsupportedOperationException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_invalid_ciphertext() {
    let h = Harness::start(setup_with_keys(vec![key("key-1"), key("key-2")])).await;
    let mut api = h.api("").await;
    assert_tampering_is_invalid_ciphertext(&mut api, "key-1", "key-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_decrypt_inputs_are_invalid_ciphertext() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let enc = api.encrypt("key-1", b"x", None, false).await.ok();
    let good = Api::decrypt_body(&enc, None);
    let mut cases: Vec<(&str, Value)> = Vec::new();
    for (field, value) in [
        ("initializationVector", json!(b64(&[0; 11]))),
        ("initializationVector", json!(b64(&[0; 16]))),
        ("authenticationTag", json!(b64(&[0; 15]))),
        ("ciphertextMetadata", json!(b64(&[1; 21]))),
        ("ciphertext", json!("not base64!")),
    ] {
        let mut b = good.clone();
        b[field] = value;
        cases.push((field, b));
    }
    for field in ["ciphertext", "initializationVector", "authenticationTag"] {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        cases.push((field, b));
    }
    for (what, body) in cases {
        let r = api.decrypt("key-1", &body).await;
        assert_eq!(
            r.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.assert_error(400, "InvalidCiphertextException");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let enc_body = |f: &dyn Fn(&mut Value)| {
        let mut b = json!({
            "requestMetadata": metadata("Encrypt"),
            "plaintext": b64(b"x"),
            "encryptionAlgorithm": "AES_GCM",
        });
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "no metadata",
            enc_body(&|b| {
                b.as_object_mut().unwrap().remove("requestMetadata");
            }),
        ),
        (
            "no request id",
            enc_body(&|b| {
                b["requestMetadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("kmsRequestId");
            }),
        ),
        (
            "no principal",
            enc_body(&|b| {
                b["requestMetadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("awsPrincipalArn");
            }),
        ),
        (
            "no operation",
            enc_body(&|b| {
                b["requestMetadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("kmsOperation");
            }),
        ),
        (
            "no key arn",
            enc_body(&|b| {
                b["requestMetadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("kmsKeyArn");
            }),
        ),
        (
            "no plaintext",
            enc_body(&|b| {
                b.as_object_mut().unwrap().remove("plaintext");
            }),
        ),
        (
            "bad plaintext",
            enc_body(&|b| b["plaintext"] = json!("%%%")),
        ),
        (
            "no algorithm",
            enc_body(&|b| {
                b.as_object_mut().unwrap().remove("encryptionAlgorithm");
            }),
        ),
        (
            "other algorithm",
            enc_body(&|b| b["encryptionAlgorithm"] = json!("AES_CBC")),
        ),
        (
            "other cdiv algorithm",
            enc_body(&|b| b["ciphertextDataIntegrityValueAlgorithm"] = json!("SHA_1")),
        ),
        (
            "bad aad",
            enc_body(&|b| b["additionalAuthenticatedData"] = json!("@@")),
        ),
        (
            "metadata not an object",
            enc_body(&|b| b["requestMetadata"] = json!("plaintext-ish")),
        ),
    ];
    for (what, body) in cases {
        let r = api.call("/keys/key-1/encrypt", &body).await;
        assert_eq!(
            r.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.assert_error(400, "ValidationException");
        // Input values are never echoed back.
        assert!(
            !String::from_utf8_lossy(&r.body).contains("plaintext-ish"),
            "{what}"
        );
    }
    api.raw("/keys/key-1/metadata", b"not json")
        .await
        .assert_error(400, "ValidationException");
    let mut d = Api::decrypt_body(
        &json!({"ciphertext": "", "initializationVector": b64(&[0; 12]), "authenticationTag": b64(&[0; 16])}),
        None,
    );
    d["encryptionAlgorithm"] = json!("AES_GCM_SIV");
    api.decrypt("key-1", &d)
        .await
        .assert_error(400, "ValidationException");
    // Key ids outside A-Za-z0-9-._ or longer than 128 characters.
    let long = "k".repeat(129);
    for bad in ["a~b", "a%20b", long.as_str()] {
        api.metadata(bad)
            .await
            .assert_error(400, "ValidationException");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kms_operations_are_accepted() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    let mut md = metadata("BulkEncrypt");
    let r = api
        .call(
            "/keys/key-1/metadata",
            &json!({"requestMetadata": md.clone()}),
        )
        .await;
    assert_eq!(r.status, 200);
    let enc = api
        .call(
            "/keys/key-1/encrypt",
            &json!({"requestMetadata": md.clone(), "plaintext": b64(b"p"), "encryptionAlgorithm": "AES_GCM"}),
        )
        .await
        .ok();
    md["kmsOperation"] = json!("SomethingNew");
    // Unknown metadata fields are ignored too.
    md["kmsRecipientAttestationImageSha384"] = json!("abc");
    let mut body = Api::decrypt_body(&enc, None);
    body["requestMetadata"] = md;
    let dec = api.decrypt("key-1", &body).await.ok();
    assert_eq!(unb64(&dec["plaintext"]), b"p");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_is_key_not_found() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    api.metadata("nope")
        .await
        .assert_error(404, "KeyNotFoundException");
    api.encrypt("nope", b"x", None, false)
        .await
        .assert_error(404, "KeyNotFoundException");
    let enc = api.encrypt("key-1", b"x", None, false).await.ok();
    api.decrypt("nope", &Api::decrypt_body(&enc, None))
        .await
        .assert_error(404, "KeyNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_key_is_invalid_state() {
    let h = Harness::start(setup_with_keys(vec![
        key("key-1"),
        KeySpec {
            id: "off",
            usage: &["ENCRYPT", "DECRYPT"],
            enabled: false,
        },
    ]))
    .await;
    let mut api = h.api("").await;
    assert_eq!(api.metadata("off").await.ok()["keyStatus"], "DISABLED");
    api.encrypt("off", b"x", None, false)
        .await
        .assert_error(400, "InvalidStateException");
    // Ciphertext made while enabled cannot be decrypted while disabled. The serving keystore
    // looks at its file once per RELOAD_CHECK of the proxy's clock.
    let ks = h.keystore("");
    ks.set_enabled("off", true).unwrap();
    api.encrypt("off", b"x", None, false)
        .await
        .assert_error(400, "InvalidStateException");
    h.clock.advance(RELOAD_CHECK);
    let enc = api.encrypt("off", b"x", None, false).await.ok();
    ks.set_enabled("off", false).unwrap();
    assert_eq!(
        api.decrypt("off", &Api::decrypt_body(&enc, None))
            .await
            .status,
        200,
        "not looked at yet"
    );
    h.clock.advance(RELOAD_CHECK);
    api.decrypt("off", &Api::decrypt_body(&enc, None))
        .await
        .assert_error(400, "InvalidStateException");
    assert_eq!(api.metadata("off").await.ok()["keyStatus"], "DISABLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_usage_is_invalid_key_usage() {
    let h = Harness::start(setup_with_keys(vec![
        key("key-1"),
        KeySpec {
            id: "enc-only",
            usage: &["ENCRYPT"],
            enabled: true,
        },
        KeySpec {
            id: "dec-only",
            usage: &["DECRYPT"],
            enabled: true,
        },
    ]))
    .await;
    let mut api = h.api("").await;
    assert_eq!(
        api.metadata("enc-only").await.ok()["keyUsage"],
        json!(["ENCRYPT"])
    );
    api.encrypt("dec-only", b"x", None, false)
        .await
        .assert_error(400, "InvalidKeyUsageException");
    let enc = api.encrypt("enc-only", b"x", None, false).await.ok();
    api.decrypt("enc-only", &Api::decrypt_body(&enc, None))
        .await
        .assert_error(400, "InvalidKeyUsageException");
    // With a CDIV asked for, the check decryption the key does not allow is skipped.
    assert_eq!(api.encrypt("enc-only", b"x", None, true).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_other_methods_are_405() {
    let h = Harness::start(Setup::default()).await;
    let mut c = h.client().await;
    for path in [
        "/kms/xks/v1/health",
        "/kms/xks/v1/keys/key-1/metadata",
        "/kms/xks/v1/keys/key-1/encrypt",
        "/kms/xks/v1/keys/key-1/decrypt",
    ] {
        for method in ["GET", "PUT", "DELETE"] {
            let r = c.request(method, path, Vec::new(), None).await;
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.headers.get("allow").unwrap(), "POST");
        }
        // Signed or not.
        let signer = Signer::xks(AKID_1, SECRET_1);
        let r = c.request("GET", path, Vec::new(), Some(&signer)).await;
        assert_eq!(r.status, 405);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_uri_paths_are_404() {
    let h = Harness::start(Setup::default()).await;
    let mut c = h.client().await;
    let signer = Signer::xks(AKID_1, SECRET_1);
    for path in [
        "/",
        "/kms/xks/v1",
        "/kms/xks/v2/health",
        "/kms/xks/v1/keys/key-1/sign",
        "/kms/xks/v1/keys/key-1",
        "/other/kms/xks/v1/health",
        "/kms/xks/v1/health/",
    ] {
        let r = c.request("POST", path, b"{}".to_vec(), Some(&signer)).await;
        r.assert_error(404, "InvalidUriPathException");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_check_is_unauthenticated() {
    let h = Harness::start(Setup::default()).await;
    let mut c = h.client().await;
    let r = c.request("GET", "/ping", Vec::new(), None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_served_when_negotiated() {
    let h = Harness::start(Setup::default()).await;
    let mut c = H2Client::connect(&h).await;
    let r = c
        .post(
            "/kms/xks/v1/health",
            &health_body(),
            &Signer::xks(AKID_1, SECRET_1),
        )
        .await;
    assert_eq!(r.status, 200);
}

/// GetHealthStatus requires `requestMetadata` with `kmsRequestId` and `kmsOperation` (the
/// specification's GetHealthStatus section) and answers ValidationException without them, as
/// for the other operations; nothing else in the metadata is required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_requires_kms_request_id_and_operation() {
    let h = Harness::start(Setup::default()).await;
    let mut api = h.api("").await;
    for (what, body) in [
        ("no body", &b""[..]),
        ("not JSON", b"health"),
        ("no requestMetadata", b"{}"),
        ("requestMetadata null", br#"{"requestMetadata": null}"#),
        ("requestMetadata empty", br#"{"requestMetadata": {}}"#),
        (
            "requestMetadata not an object",
            br#"{"requestMetadata": "x"}"#,
        ),
        (
            "no kmsOperation",
            br#"{"requestMetadata": {"kmsRequestId": "r-1"}}"#,
        ),
        (
            "no kmsRequestId",
            br#"{"requestMetadata": {"kmsOperation": "KmsHealthCheck"}}"#,
        ),
        (
            "kmsRequestId not a string",
            br#"{"requestMetadata": {"kmsRequestId": 7, "kmsOperation": "KmsHealthCheck"}}"#,
        ),
    ] {
        let r = api.raw("/health", body).await;
        assert_eq!(
            r.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.assert_error(400, "ValidationException");
    }
    // The two fields are enough; kmsRequestId is opaque (not checked to be a UUID).
    let r = api
        .raw(
            "/health",
            br#"{"requestMetadata": {"kmsRequestId": "not-a-uuid", "kmsOperation": "KmsHealthCheck"}}"#,
        )
        .await;
    assert_eq!(r.ok()["ekmFleetDetails"][0]["healthStatus"], "ACTIVE");
}

/// The GetHealthStatus checks of AWS's XKS proxy test client (aws-kms-xksproxy-test-client,
/// `test_get_health_status`), over HTTP/2 as curl negotiates it: its request bodies, its
/// credential and URI prefix changes, and the status and error name each must get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_test_client_health_checks_over_http2() {
    const PREFIX: &str = "example/uri/path/prefix";
    let h = Harness::start(Setup {
        tenants: vec![TenantSpec::new(PREFIX)],
        ..Default::default()
    })
    .await;
    let mut c = H2Client::connect(&h).await;
    let path = format!("/{PREFIX}/kms/xks/v1/health");
    let good = Signer::xks(AKID_1, SECRET_1);
    // Pretty-printed like the client's here-documents.
    let valid = r#"{
    "requestMetadata": {
        "kmsOperation": "KmsHealthCheck",
        "kmsRequestId": "5112f4d6-db54-4af4-ae30-c55a22a8dfae"
    }
}"#;
    let empty_metadata = r#"{
    "requestMetadata": {
    }
}"#;

    let r = c.post(&path, valid.as_bytes(), &good).await;
    let v = r.ok();
    assert!(v["ekmFleetDetails"][0]["healthStatus"].is_string(), "{v}");
    c.post(&path, b"{}", &good)
        .await
        .assert_error(400, "ValidationException");
    c.post(&path, empty_metadata.as_bytes(), &good)
        .await
        .assert_error(400, "ValidationException");
    let bad_akid = Signer::xks(&format!("Invalid{AKID_1}"), SECRET_1);
    c.post(&path, valid.as_bytes(), &bad_akid)
        .await
        .assert_error(401, "AuthenticationFailedException");
    let bad_secret = Signer::xks(AKID_1, &format!("Invalid{SECRET_1}"));
    c.post(&path, valid.as_bytes(), &bad_secret)
        .await
        .assert_error(401, "AuthenticationFailedException");
    c.post(
        &format!("/{PREFIX}/invalid/kms/xks/v1/health"),
        valid.as_bytes(),
        &good,
    )
    .await
    .assert_error(404, "InvalidUriPathException");
}

// ---------------------------------------------------------------------------------------------
// Backend failures, with stand-in backends.

/// 0 = healthy, 1 = unavailable, 2 = slow, 3 = busy.
struct Flaky {
    mode: AtomicU8,
    /// Deep health checks run.
    checks: AtomicUsize,
}

impl Flaky {
    fn new() -> Flaky {
        Flaky {
            mode: AtomicU8::new(0),
            checks: AtomicUsize::new(0),
        }
    }

    fn fail(&self) -> Result<(), BackendError> {
        match self.mode.load(Ordering::SeqCst) {
            1 => Err(BackendError::Unavailable(
                "connection to the HSM lost".into(),
            )),
            2 => {
                // A slow HSM: the call really takes this long (past the proxy's time limit).
                std::thread::sleep(Duration::from_millis(1500));
                Ok(())
            }
            3 => Err(BackendError::Busy),
            _ => Ok(()),
        }
    }
}

impl KeyBackend for Flaky {
    fn key_info(&self, key_id: &str) -> Result<KeyInfo, BackendError> {
        self.fail()?;
        Ok(KeyInfo {
            key_id: key_id.into(),
            key_spec: "AES_256".into(),
            key_usage: vec!["ENCRYPT".into(), "DECRYPT".into()],
            status: KeyStatus::Enabled,
        })
    }
    fn encrypt(&self, _: &str, plaintext: &[u8], _: &[u8]) -> Result<Sealed, BackendError> {
        self.fail()?;
        Ok(Sealed {
            ciphertext: plaintext.to_vec(),
            iv: vec![0; 12],
            tag: [0; 16],
        })
    }
    fn decrypt(
        &self,
        _: &str,
        c: &[u8],
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        self.fail()?;
        Ok(Zeroizing::new(c.to_vec()))
    }
    fn health(&self) -> BackendHealth {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let status = match self.mode.load(Ordering::SeqCst) {
            0 => "ACTIVE",
            2 => {
                // A health check that hangs (past the check's limit), not a wait for time.
                std::thread::sleep(Duration::from_millis(1500));
                "ACTIVE"
            }
            _ => "UNAVAILABLE",
        };
        BackendHealth {
            id: "hsm-1".into(),
            model: "Test HSM".into(),
            health_status: status,
        }
    }
    fn create_key(&self, _: &str) -> Result<String, BackendError> {
        Err(BackendError::Internal("no".into()))
    }
    fn list_keys(&self) -> Result<Vec<KeyInfo>, BackendError> {
        Ok(Vec::new())
    }
    fn set_enabled(&self, _: &str, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A proxy whose tenant `hsm` is a [`Flaky`] stand-in, with `extra` in the tenant's table and
/// the given health cache time.
async fn start_flaky(extra: &str, health_cache_seconds: u64) -> (Arc<Flaky>, Harness) {
    let flaky = Arc::new(Flaky::new());
    let mut t = TenantSpec::new("hsm");
    t.extra = extra.into();
    let mut setup = Setup {
        tenants: vec![t],
        global_extra: format!("health_cache_seconds = {health_cache_seconds}"),
        ..Default::default()
    };
    setup.backends.insert(
        "/hsm/kms/xks/v1".into(),
        flaky.clone() as Arc<dyn KeyBackend>,
    );
    (flaky, Harness::start(setup).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_failures_map_to_spec_errors_and_health_tells_the_truth() {
    let (flaky, h) = start_flaky("backend_timeout_ms = 300\n", 0).await;
    let mut api = h.api("hsm").await;
    assert_eq!(api.metadata("k").await.status, 200);
    assert_eq!(
        api.health().await.ok()["ekmFleetDetails"][0]["healthStatus"],
        "ACTIVE"
    );
    // The verification decrypt of a CDIV request goes through the backend too.
    assert_eq!(api.encrypt("k", b"x", None, true).await.status, 200);

    flaky.mode.store(1, Ordering::SeqCst);
    api.metadata("k")
        .await
        .assert_error(500, "InternalException");
    api.encrypt("k", b"x", None, false)
        .await
        .assert_error(500, "InternalException");
    let v = api.health().await.ok();
    assert_eq!(v["ekmFleetDetails"][0]["healthStatus"], "UNAVAILABLE");
    assert_eq!(v["ekmFleetDetails"][0]["id"], "hsm-1");
    let mut c = h.client().await;
    assert_eq!(
        c.request("GET", "/ping", Vec::new(), None).await.status,
        503
    );

    flaky.mode.store(3, Ordering::SeqCst);
    api.metadata("k")
        .await
        .assert_error(429, "ThrottlingException");

    flaky.mode.store(2, Ordering::SeqCst);
    api.metadata("k")
        .await
        .assert_error(503, "DependencyTimeoutException");
    // A health check that hangs past its limit reports UNAVAILABLE.
    let v = api.health().await.ok();
    assert_eq!(v["ekmFleetDetails"][0]["healthStatus"], "UNAVAILABLE");

    flaky.mode.store(0, Ordering::SeqCst);
    assert_eq!(
        api.health().await.ok()["ekmFleetDetails"][0]["healthStatus"],
        "ACTIVE"
    );
}

/// GetHealthStatus answers from a deep check at most `health_cache_seconds` old: calls within
/// that time do not run the check again, and a key manager that fails shows within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_are_cached_for_at_most_the_configured_time() {
    let (flaky, h) = start_flaky("", 2).await;
    let mut api = h.api("hsm").await;
    let status = |v: Value| v["ekmFleetDetails"][0]["healthStatus"].clone();
    assert_eq!(status(api.health().await.ok()), "ACTIVE");
    let before = flaky.checks.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(status(api.health().await.ok()), "ACTIVE");
    }
    // The proxy's clock stands still: the background refresh finds the result fresh too.
    let ran = flaky.checks.load(Ordering::SeqCst) - before;
    assert_eq!(ran, 0, "20 calls ran {ran} deep checks");

    // A failure shows once the cached result is 2 s old, not before.
    flaky.mode.store(1, Ordering::SeqCst);
    h.clock.advance(Duration::from_millis(1999));
    assert_eq!(status(api.health().await.ok()), "ACTIVE");
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(status(api.health().await.ok()), "UNAVAILABLE");
    assert_eq!(flaky.checks.load(Ordering::SeqCst) - before, 1);
}
