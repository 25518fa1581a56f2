//! The lifecycle with the proxy's PKCS#11 backend on a fresh SoftHSMv2 token: the external keys
//! are AES-256 keys generated in the token and every outer-layer operation runs inside it.
//! Fails (never skips) when SoftHSMv2 is not installed.

use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, OriginType};

use super::harness::*;
use crate::common::{expect_code, random_bytes};

#[tokio::test]
async fn softhsm_lifecycle() {
    let pki = Ca::new("softhsm");
    let mut proxy = Proxy::new(&pki, &["hsm"], Backend::SoftHsm(softhsm()));
    proxy.create_key("hsm-1");
    proxy.create_key("hsm-2");
    proxy.start();
    // The proxy calibrated the token and sized its connection threads by the result: one
    // fewer than cores when it found SoftHSM serializing (as on an idle machine), else one per
    // core (a loaded machine can make two threads look useful).
    let lines = proxy.log.lines();
    let Some(calibration) = lines
        .iter()
        .find(|l| l.contains("encryptions/s from one thread"))
    else {
        panic!("no calibration line: {lines:#?}");
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let want = if calibration.contains("1 call(s) at a time (the module serializes its work)") {
        cores.saturating_sub(1).max(1)
    } else {
        cores
    };
    assert_eq!(proxy.connection_threads(), want, "{calibration}");
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;

    let store = connected_store(c, "hsm-store", &proxy).await;
    let k1 = xks_key(c, &store, "hsm-1").await;
    let k2 = xks_key(c, &store, "hsm-2").await;
    let m = c
        .describe_key()
        .key_id(&k1)
        .send()
        .await
        .expect("DescribeKey");
    let m = m.key_metadata().expect("KeyMetadata");
    assert_eq!(m.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(
        m.xks_key_configuration().and_then(|x| x.id()),
        Some("hsm-1")
    );
    expect_code(
        try_xks_key(c, &store, "hsm-missing").await,
        "XksKeyNotFoundException",
    );

    // Round trips through the token.
    let mut old = Vec::new();
    for n in [1usize, 4096] {
        let pt = random_bytes(n);
        let ct = c
            .encrypt()
            .key_id(&k1)
            .plaintext(Blob::new(pt.clone()))
            .encryption_context("hsm", "yes")
            .send()
            .await
            .expect("Encrypt")
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec();
        let back = c
            .decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .encryption_context("hsm", "yes")
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(back.plaintext().map(|p| p.as_ref()), Some(pt.as_slice()));
        old.push((ct, pt));
    }
    let dk = c
        .generate_data_key()
        .key_id(&k1)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    let plain = dk.plaintext().expect("Plaintext").as_ref().to_vec();
    let wrapped = dk
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec();
    assert_eq!(decrypt(c, &wrapped).await, plain);
    let wrapped2 = c
        .generate_data_key_without_plaintext()
        .key_id(&k2)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec();
    assert_eq!(decrypt(c, &wrapped2).await.len(), 16);
    let moved = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(wrapped.clone()))
        .destination_key_id(&k2)
        .send()
        .await
        .expect("ReEncrypt hsm-1 → hsm-2")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec();
    assert_eq!(decrypt(c, &moved).await, plain);

    // Disabled in the token (`keys disable`, seen by the running proxy), then enabled again.
    proxy.disable_key("hsm-1");
    assert!(
        proxy
            .list_keys()
            .contains(&("hsm-1".to_string(), "DISABLED".to_string())),
        "{:?}",
        proxy.list_keys()
    );
    let refused = eventually("Encrypt refused", Duration::from_secs(5), || async {
        match c
            .encrypt()
            .key_id(&k1)
            .plaintext(Blob::new("x"))
            .send()
            .await
        {
            Ok(_) => None,
            Err(e) => Some((e.code().map(String::from), e.message().map(String::from))),
        }
    })
    .await;
    assert_eq!(
        refused,
        (
            Some("KMSInvalidStateException".to_string()),
            Some(MSG_NOT_ENABLED.to_string())
        )
    );
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(wrapped.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_NOT_ENABLED);
    // The other key of the token is unaffected.
    encrypt(c, &k2, b"still fine").await;
    proxy.enable_key("hsm-1");
    eventually("Encrypt works again", Duration::from_secs(5), || async {
        c.encrypt()
            .key_id(&k1)
            .plaintext(Blob::new("x"))
            .send()
            .await
            .ok()
    })
    .await;
    assert_eq!(key_state(c, &k1).await, "Enabled");

    // Disconnect: Unavailable; reconnect: the old ciphertexts decrypt.
    disconnect(c, &store).await;
    assert_eq!(key_state(c, &k1).await, "Unavailable");
    let msg = expect_code(
        c.encrypt()
            .key_id(&k1)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_NOT_CONNECTED);
    connect(c, &store).await;
    assert_eq!(state(c, &store).await, ("CONNECTED".to_string(), None));
    assert_eq!(key_state(c, &k1).await, "Enabled");
    for (ct, pt) in &old {
        let back = c
            .decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .encryption_context("hsm", "yes")
            .send()
            .await
            .expect("Decrypt after reconnecting");
        assert_eq!(back.plaintext().map(|p| p.as_ref()), Some(pt.as_slice()));
    }
    assert_eq!(decrypt(c, &moved).await, plain);
}
