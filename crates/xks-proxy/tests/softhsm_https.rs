//! The running proxy over HTTPS with a real SoftHSMv2 token behind a tenant (`type = "pkcs11"`
//! in its configuration), driven by the independent SigV4 signer: every operation, key states
//! and usages, tampering, both credential sets, bad and expired signatures, and health while
//! the token is gone and once it is back.
//!
//! Needs SoftHSMv2 (`apt-get install -y softhsm2`); the tests fail without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;
mod pkcs11_support;

use std::time::{Duration, SystemTime};

use serde_json::json;

use common::*;
use pkcs11_support::{aes_key_template, Hsm};
use xks_proxy::backend::pkcs11::REINIT_MIN_INTERVAL;
use xks_proxy::backend::KeyBackend;

const TOKEN: &str = "strongroom";
const PIN: &str = "1234";
const PREFIX: &str = "hsm";

/// A proxy whose tenant `hsm` uses the token, holding `key-1`, `key-2`, `off` (disabled),
/// `enc-only` and `dec-only` (AES-256 keys made by another tool without CKA_DECRYPT or
/// CKA_ENCRYPT).
async fn start(hsm: &Hsm) -> Harness {
    {
        let admin = hsm.open(TOKEN);
        for id in ["key-1", "key-2", "off"] {
            admin.create_key(id).unwrap();
        }
        admin.set_enabled("off", false).unwrap();
    }
    hsm.generate(TOKEN, PIN, &aes_key_template("enc-only", 32, true, false));
    hsm.generate(TOKEN, PIN, &aes_key_template("dec-only", 32, false, true));
    let mut tenant = TenantSpec::new(PREFIX);
    tenant.credentials = vec![(AKID_1, SECRET_1), (AKID_2, SECRET_2)];
    tenant.backend = Some(format!(
        "{{ type = \"pkcs11\", module = \"{}\", token_label = \"{TOKEN}\", pin_file = \"{}\" }}",
        hsm.module().display(),
        hsm.dir().join(format!("pin-{TOKEN}")).display()
    ));
    Harness::start(Setup {
        tenants: vec![tenant],
        global_extra: "health_cache_seconds = 0".into(),
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_and_error_with_softhsm() {
    let hsm = Hsm::single();
    let h = start(&hsm).await;
    let mut api = h.api(PREFIX).await;

    // GetHealthStatus: the deep check ran against the token.
    let v = api.health().await.ok();
    assert_eq!(v["ekmVendor"], "PKCS#11");
    let fleet = &v["ekmFleetDetails"][0];
    assert_eq!(
        (&fleet["id"], &fleet["model"], &fleet["healthStatus"]),
        (&json!(TOKEN), &json!("SoftHSM v2"), &json!("ACTIVE"))
    );

    // GetKeyMetadata: status and usage as the token holds them.
    for (id, usage, status) in [
        ("key-1", json!(["ENCRYPT", "DECRYPT"]), "ENABLED"),
        ("off", json!(["ENCRYPT", "DECRYPT"]), "DISABLED"),
        ("enc-only", json!(["ENCRYPT"]), "ENABLED"),
        ("dec-only", json!(["DECRYPT"]), "ENABLED"),
    ] {
        assert_eq!(
            api.metadata(id).await.ok(),
            json!({"keySpec": "AES_256", "keyUsage": usage, "keyStatus": status}),
            "{id}"
        );
    }

    // Encrypt and Decrypt at the specification's minimum sizes, with AAD and CDIV.
    let plaintext = vec![0x5a; 4300];
    let aad = vec![0xa5; 8192];
    let enc = api
        .encrypt("key-1", &plaintext, Some(&aad), true)
        .await
        .ok();
    let (ct, iv, tag, md) = encrypt_parts(&enc);
    assert_eq!((ct.len(), iv.len(), tag.len()), (4300, 12, 16));
    assert_eq!(
        unb64(&enc["ciphertextDataIntegrityValue"]),
        sha256(&[&aad, &md, &iv, &ct, &tag])
    );
    let body = Api::decrypt_body(&enc, Some(&aad));
    let dec = api.decrypt("key-1", &body).await.ok();
    assert_eq!(unb64(&dec["plaintext"]), plaintext);

    // The second credential set works at once; bad and expired signatures do not.
    let mut second = h.api(PREFIX).await;
    second.signer = Signer::xks(AKID_2, SECRET_2);
    assert_eq!(second.decrypt("key-1", &body).await.status, 200);
    let ten_minutes = Duration::from_secs(600);
    for (what, signer) in [
        ("wrong secret", Signer::xks(AKID_1, SECRET_2)),
        (
            "expired",
            Signer::xks(AKID_1, SECRET_1).at(SystemTime::now() - ten_minutes),
        ),
    ] {
        second.signer = signer;
        let r = second.metadata("key-1").await;
        assert_eq!(r.status, 401, "{what}");
        r.assert_error(401, "AuthenticationFailedException");
    }

    // A missing key, a disabled key, keys without the usage asked for.
    api.metadata("nope")
        .await
        .assert_error(404, "KeyNotFoundException");
    api.encrypt("nope", b"x", None, true)
        .await
        .assert_error(404, "KeyNotFoundException");
    api.decrypt("nope", &body)
        .await
        .assert_error(404, "KeyNotFoundException");
    api.encrypt("off", b"x", None, true)
        .await
        .assert_error(400, "InvalidStateException");
    api.decrypt("off", &body)
        .await
        .assert_error(400, "InvalidStateException");
    api.encrypt("dec-only", b"x", None, true)
        .await
        .assert_error(400, "InvalidKeyUsageException");
    api.decrypt("enc-only", &body)
        .await
        .assert_error(400, "InvalidKeyUsageException");
    // An encrypt-only key still encrypts when a CDIV is asked for (its check decryption is
    // not allowed, so it is skipped).
    let enc_only = api.encrypt("enc-only", b"x", None, true).await.ok();
    assert_eq!(unb64(&enc_only["ciphertext"]).len(), 1);

    // Tampered ciphertext, tag, IV, AAD and metadata, and another key.
    assert_tampering_is_invalid_ciphertext(&mut api, "key-1", "key-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_tells_the_truth_while_the_token_is_gone() {
    let hsm = Hsm::single();
    let h = start(&hsm).await;
    let mut api = h.api(PREFIX).await;
    let enc = api.encrypt("key-1", b"kept", None, false).await.ok();
    let body = Api::decrypt_body(&enc, None);

    // The library is torn down under the proxy and the token's files are gone.
    let tokens = hsm.dir().join("tokens");
    let away = hsm.dir().join("tokens-away");
    hsm.raw().finalize().unwrap();
    std::fs::rename(&tokens, &away).unwrap();

    let v = api.health().await.ok();
    let fleet = &v["ekmFleetDetails"][0];
    assert_eq!(
        (&fleet["id"], &fleet["healthStatus"]),
        (&json!(TOKEN), &json!("UNAVAILABLE"))
    );
    api.decrypt("key-1", &body)
        .await
        .assert_error(500, "InternalException");
    let mut lb = h.client().await;
    assert_eq!(
        lb.request("GET", "/ping", Vec::new(), None).await.status,
        503
    );

    // Back: the proxy re-initializes by itself, no restart.
    // Re-initialization is rate-limited by the proxy's clock: not before REINIT_MIN_INTERVAL
    // has passed since the last attempt, then at the next request.
    std::fs::rename(&away, &tokens).unwrap();
    api.decrypt("key-1", &body)
        .await
        .assert_error(500, "InternalException");
    h.clock.advance(REINIT_MIN_INTERVAL);
    let r = api.decrypt("key-1", &body).await;
    assert_eq!(r.status, 200, "decrypt works again once the token is back");
    assert_eq!(unb64(&r.json()["plaintext"]), b"kept");
    let v = api.health().await.ok();
    assert_eq!(v["ekmFleetDetails"][0]["healthStatus"], "ACTIVE");
}
