//! Double encryption through the real proxy: round trips of every cryptographic operation,
//! ReEncrypt across key stores, tampering, the external key disabled in the proxy, the KMS key's
//! own state, disconnecting and reconnecting, and the per-store request quota.

use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};
use aws_sdk_kms::Client;

use super::harness::*;
use crate::common::{expect_code, new_key, random_bytes};

fn arn(key: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}")
}

async fn decrypt_fails(c: &Client, ct: &[u8], code: &str) -> String {
    expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.to_vec()))
            .encryption_context("purpose", "test")
            .send()
            .await,
        code,
    )
}

#[tokio::test]
async fn double_encryption_round_trips() {
    let pki = Ca::new("round-trips");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("ext-1");
    proxy.create_key("ext-2");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let k1 = xks_key(c, &store, "ext-1").await;
    let k2 = xks_key(c, &store, "ext-2").await;
    let a = new_key(c).await;

    for n in [1usize, 4096] {
        let pt = random_bytes(n);
        let out = c
            .encrypt()
            .key_id(&k1)
            .plaintext(Blob::new(pt.clone()))
            .encryption_context("purpose", "test")
            .encryption_context("size", n.to_string())
            .send()
            .await
            .expect("Encrypt");
        assert_eq!(out.key_id(), Some(arn(&k1).as_str()));
        assert_eq!(
            out.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
        let ct = out
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec();
        // The outer layer (proxy IV, tag, metadata) travels in the blob: longer than AWS_KMS's.
        let ct_aws = encrypt(c, &a, &pt).await;
        assert!(
            ct.len() >= ct_aws.len() + 12 + 16,
            "XKS {} bytes, AWS_KMS {} bytes",
            ct.len(),
            ct_aws.len()
        );
        for key_id in [Some(k1.clone()), None] {
            let out = c
                .decrypt()
                .ciphertext_blob(Blob::new(ct.clone()))
                .set_key_id(key_id)
                .encryption_context("purpose", "test")
                .encryption_context("size", n.to_string())
                .send()
                .await
                .expect("Decrypt");
            assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(pt.as_slice()));
            assert_eq!(out.key_id(), Some(arn(&k1).as_str()));
        }
        // The encryption context is bound (the inner layer refuses another).
        let msg = decrypt_fails(c, &ct, "KMSInvalidStateException").await;
        assert_eq!(msg, MSG_INNER_REJECTED);
        // Another key id than the ciphertext's.
        expect_code(
            c.decrypt()
                .ciphertext_blob(Blob::new(ct.clone()))
                .key_id(&k2)
                .encryption_context("purpose", "test")
                .encryption_context("size", n.to_string())
                .send()
                .await,
            "IncorrectKeyException",
        );
    }

    // Data keys.
    let dk = c
        .generate_data_key()
        .key_id(&k1)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("GenerateDataKey");
    let plain = dk.plaintext().expect("Plaintext").as_ref().to_vec();
    assert_eq!(plain.len(), 32);
    let wrapped = dk
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec();
    let out = c
        .decrypt()
        .ciphertext_blob(Blob::new(wrapped))
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("Decrypt data key");
    assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(plain.as_slice()));
    let dk = c
        .generate_data_key_without_plaintext()
        .key_id(&k2)
        .number_of_bytes(64)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    let wrapped = dk
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec();
    assert_eq!(decrypt(c, &wrapped).await.len(), 64);

    // ReEncrypt: XKS → AWS_KMS, AWS_KMS → XKS, XKS → XKS.
    let pt = b"re-encrypt me".to_vec();
    let from_k1 = encrypt(c, &k1, &pt).await;
    let from_a = encrypt(c, &a, &pt).await;
    for (src, src_key, dst) in [
        (&from_k1, &k1, &a),
        (&from_a, &a, &k2),
        (&from_k1, &k1, &k2),
    ] {
        let out = c
            .re_encrypt()
            .ciphertext_blob(Blob::new(src.clone()))
            .destination_key_id(dst)
            .send()
            .await
            .expect("ReEncrypt");
        assert_eq!(out.source_key_id(), Some(arn(src_key).as_str()));
        assert_eq!(out.key_id(), Some(arn(dst).as_str()));
        let ct = out
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec();
        let back = c
            .decrypt()
            .ciphertext_blob(Blob::new(ct))
            .send()
            .await
            .expect("Decrypt re-encrypted");
        assert_eq!(back.plaintext().map(|p| p.as_ref()), Some(pt.as_slice()));
        assert_eq!(back.key_id(), Some(arn(dst).as_str()));
    }

    // Tampering. The outer tag or the fixed header (the proxy's AAD): the proxy's
    // InvalidCiphertextException, which KMS reports as KMSInvalidStateException.
    let ct = c
        .encrypt()
        .key_id(&k1)
        .plaintext(Blob::new("tamper"))
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec();
    let last = ct.len() - 1;
    // Layout (crates/crypto/src/blob.rs): key id 4..20, backing key id 20..52, algorithm 52,
    // layer 53, inner nonce 54..66 (the end of the fixed header), then the outer layer.
    for (what, at) in [
        ("outer tag", last),
        ("outer ciphertext", last - 16),
        ("inner nonce", 60),
    ] {
        let mut bad = ct.clone();
        bad[at] ^= 0x01;
        let msg = decrypt_fails(c, &bad, "KMSInvalidStateException").await;
        assert_eq!(msg, MSG_INVALID_CIPHERTEXT, "{what}");
    }
    // A blob that does not parse, or names no backing key of the key, or claims a single layer,
    // never reaches the proxy.
    let mut other_backing = ct.clone();
    other_backing[30] ^= 0x01;
    let mut single_layer = ct.clone();
    single_layer[53] = 0x00;
    for bad in [
        ct[..10].to_vec(),
        [ct.clone(), vec![0]].concat(),
        vec![0u8; 200],
        other_backing,
        single_layer,
    ] {
        decrypt_fails(c, &bad, "InvalidCiphertextException").await;
    }
    assert_eq!(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct))
            .encryption_context("purpose", "test")
            .send()
            .await
            .expect("the untampered blob still decrypts")
            .plaintext()
            .map(|p| p.as_ref().to_vec()),
        Some(b"tamper".to_vec())
    );
}

/// Encrypt with `key` until it fails with KMSInvalidStateException and `message` (the proxy
/// notices keystore changes within about a second).
///
/// Tolerated on the way: the proxy's 500 InternalException (MSG_INTERNAL). When the software
/// keystore reloads between an Encrypt and the proxy's verifying decryption of it, the proxy
/// reports the disabled key as "the encryption did not decrypt: key is disabled", a 500, instead
/// of 400 InvalidStateException (crates/xks-proxy/src/server.rs, the `verify` step of Encrypt).
async fn until_encrypt_fails(c: &Client, key: &str, message: &str) {
    eventually("Encrypt refused", Duration::from_secs(5), || async {
        match c
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new("x"))
            .send()
            .await
        {
            Ok(_) => None,
            Err(e) if e.message() == Some(MSG_INTERNAL) => {
                eprintln!("transient 500 from the proxy while the key was being disabled");
                None
            }
            Err(e) => {
                assert_eq!(e.code(), Some("KMSInvalidStateException"), "{e:?}");
                assert_eq!(e.message(), Some(message));
                Some(())
            }
        }
    })
    .await;
}

async fn until_encrypt_works(c: &Client, key: &str) {
    eventually("Encrypt works", Duration::from_secs(5), || async {
        c.encrypt()
            .key_id(key)
            .plaintext(Blob::new("x"))
            .send()
            .await
            .ok()
    })
    .await;
}

#[tokio::test]
async fn external_key_disabled_in_the_proxy_and_kms_key_states() {
    let pki = Ca::new("disable");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("ext-1");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let key = xks_key(c, &store, "ext-1").await;
    let ct = encrypt(c, &key, b"old").await;

    // Disabled in the external key manager: the running proxy sees it.
    proxy.disable_key("ext-1");
    until_encrypt_fails(c, &key, MSG_NOT_ENABLED).await;
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_NOT_ENABLED);
    expect_code(
        c.generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    // The KMS key's own state does not change.
    assert_eq!(key_state(c, &key).await, "Enabled");
    proxy.enable_key("ext-1");
    until_encrypt_works(c, &key).await;
    assert_eq!(decrypt(c, &ct).await, b"old");

    // DisableKey/EnableKey on the KMS key change only the KMS key.
    c.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    assert_eq!(key_state(c, &key).await, "Disabled");
    expect_code(
        c.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException",
    );
    expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "DisabledException",
    );
    assert!(
        proxy
            .list_keys()
            .contains(&("ext-1".to_string(), "ENABLED".to_string())),
        "{:?}",
        proxy.list_keys()
    );
    c.enable_key().key_id(&key).send().await.expect("EnableKey");
    assert_eq!(key_state(c, &key).await, "Enabled");
    assert_eq!(decrypt(c, &ct).await, b"old");
}

#[tokio::test]
async fn disconnect_makes_keys_unavailable_and_reconnect_restores_them() {
    let pki = Ca::new("unavailable");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("ext-1");
    proxy.create_key("ext-2");
    proxy.create_key("ext-3");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let enabled = xks_key(c, &store, "ext-1").await;
    let disabled = xks_key(c, &store, "ext-2").await;
    let later_disabled = xks_key(c, &store, "ext-3").await;
    let ct = encrypt(c, &enabled, b"kept").await;
    let ct3 = encrypt(c, &later_disabled, b"kept too").await;
    c.disable_key()
        .key_id(&disabled)
        .send()
        .await
        .expect("DisableKey");

    disconnect(c, &store).await;
    for k in [&enabled, &disabled, &later_disabled] {
        assert_eq!(key_state(c, k).await, "Unavailable");
    }
    let msg = expect_code(
        c.encrypt()
            .key_id(&enabled)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_NOT_CONNECTED);
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_NOT_CONNECTED);
    expect_code(
        c.generate_data_key_without_plaintext()
            .key_id(&enabled)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    // Managing an Unavailable key succeeds; the new state shows once reconnected.
    c.disable_key()
        .key_id(&later_disabled)
        .send()
        .await
        .expect("DisableKey while disconnected");
    assert_eq!(key_state(c, &later_disabled).await, "Unavailable");

    connect(c, &store).await;
    assert_eq!(key_state(c, &enabled).await, "Enabled");
    assert_eq!(key_state(c, &disabled).await, "Disabled");
    assert_eq!(key_state(c, &later_disabled).await, "Disabled");
    assert_eq!(decrypt(c, &ct).await, b"kept");
    c.enable_key()
        .key_id(&later_disabled)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(decrypt(c, &ct3).await, b"kept too");
}

#[tokio::test]
async fn per_store_quota_throttles_crypto() {
    let pki = Ca::new("quota");
    let mut proxy = Proxy::new(&pki, &["one", "two"], Backend::Software);
    proxy.create_key("ext-1");
    proxy.keys_on(1, "create", &["--label", "ext-2"]);
    proxy.start();
    let kms = KmsServer::start_with(
        &pki,
        XksSection {
            requests_per_second: 2,
            ..XksSection::default()
        },
        vec![admin()],
    )
    .await;
    let c = &kms.client;
    let store = connected_store(c, "s1", &proxy).await;
    let other = create_store(
        c,
        "s2",
        &proxy.endpoint(),
        &proxy.uri_path_of(1),
        &proxy.cred(),
    )
    .await
    .expect("second store")
    .custom_key_store_id()
    .expect("id")
    .to_string();
    connect(c, &other).await;
    let key = xks_key(c, &store, "ext-1").await;
    let other_key = xks_key(c, &other, "ext-2").await;
    let a = new_key(c).await;

    let from = proxy.log.len();
    let (mut ok, mut throttled) = (0, 0);
    for _ in 0..12 {
        match c
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), Some("ThrottlingException"), "{e:?}");
                assert_eq!(
                    e.message(),
                    Some("You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.")
                );
                throttled += 1;
            }
        }
    }
    assert!(ok >= 1 && throttled >= 1, "ok {ok}, throttled {throttled}");
    // Another store has its own quota; AWS_KMS keys are not counted.
    encrypt(c, &other_key, b"x").await;
    for _ in 0..12 {
        encrypt(c, &a, b"x").await;
    }
    // Throttled requests never reached the proxy: one Encrypt line per success (+1, other store).
    proxy.log.wait_for(
        from,
        Duration::from_secs(5),
        "the other store's Encrypt",
        |l| is_request_for(l, "Encrypt") && log_field(l, "key_id").as_deref() == Some("ext-2"),
    );
    let sent = proxy.log.lines()[from..]
        .iter()
        .filter(|l| {
            is_request_for(l, "Encrypt") && log_field(l, "key_id").as_deref() == Some("ext-1")
        })
        .count();
    assert_eq!(sent, ok);
}
