//! KMS keys in an external key store over the real proxy: CreateKey with Origin
//! EXTERNAL_KEY_STORE and what it refuses, GenerateRandom's refusal, and deletion (of the KMS key,
//! never of the external key; of the store only when it holds no key).

use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType};

use super::harness::*;
use crate::common::expect_code;

#[tokio::test]
async fn create_key_in_an_external_key_store() {
    let pki = Ca::new("create-key");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("ext-ok");
    proxy.create_key("ext-disabled");
    proxy.disable_key("ext-disabled");
    proxy.create_key_with_usage("ext-encrypt-only", "ENCRYPT");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;

    let out = try_xks_key(c, &store, "ext-ok").await.expect("CreateKey");
    let m = out.key_metadata().expect("KeyMetadata");
    let key = m.key_id().to_string();
    assert_eq!(m.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(m.custom_key_store_id(), Some(store.as_str()));
    assert_eq!(
        m.xks_key_configuration().and_then(|x| x.id()),
        Some("ext-ok")
    );
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert!(m.enabled());
    assert_eq!(m.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(m.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(m.key_manager(), Some(&KeyManagerType::Customer));
    assert_eq!(m.multi_region(), Some(false));
    assert_eq!(m.cloud_hsm_cluster_id(), None);
    assert_eq!(m.expiration_model(), None);
    // No CurrentKeyMaterialId: that is for AWS_KMS and EXTERNAL origins only.
    assert_eq!(m.current_key_material_id(), None);
    let described = c
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(described.key_metadata(), Some(m));

    // One KMS key per external key and store.
    let msg = expect_code(
        try_xks_key(c, &store, "ext-ok").await,
        "XksKeyAlreadyInUseException",
    );
    assert!(msg.contains("ext-ok"), "{msg}");
    // The external key must exist, be enabled, and allow ENCRYPT and DECRYPT.
    let msg = expect_code(
        try_xks_key(c, &store, "ext-missing").await,
        "XksKeyNotFoundException",
    );
    assert_eq!(msg, MSG_KEY_NOT_FOUND);
    let msg = expect_code(
        try_xks_key(c, &store, "ext-disabled").await,
        "XksKeyInvalidConfigurationException",
    );
    assert_eq!(
        msg,
        "The status of the external key must be ENABLED. The status of specified external key is DISABLED."
    );
    let msg = expect_code(
        try_xks_key(c, &store, "ext-encrypt-only").await,
        "XksKeyInvalidConfigurationException",
    );
    assert!(
        msg.starts_with("The key usage of the external key must include ENCRYPT and DECRYPT. The key use of specified external key is "),
        "{msg}"
    );
    expect_code(
        try_xks_key(c, &store, "no/slash").await,
        "ValidationException",
    );
    expect_code(
        try_xks_key(c, "cks-00000000000000000", "ext-ok").await,
        "CustomKeyStoreNotFoundException",
    );

    // Only symmetric encryption keys, never multi-Region.
    for (spec, usage) in [
        (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
        (KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt),
    ] {
        expect_code(
            c.create_key()
                .origin(OriginType::ExternalKeyStore)
                .custom_key_store_id(&store)
                .xks_key_id("ext-new")
                .key_spec(spec.clone())
                .key_usage(usage)
                .send()
                .await,
            "UnsupportedOperationException",
        );
    }
    expect_code(
        c.create_key()
            .origin(OriginType::ExternalKeyStore)
            .custom_key_store_id(&store)
            .xks_key_id("ext-new")
            .multi_region(true)
            .send()
            .await,
        "UnsupportedOperationException",
    );

    // GenerateRandom never runs in an external key store (connected or not).
    let msg = expect_code(
        c.generate_random()
            .number_of_bytes(16)
            .custom_key_store_id(&store)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    assert!(!msg.is_empty());
    expect_code(
        c.generate_random()
            .number_of_bytes(16)
            .custom_key_store_id("cks-00000000000000000")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );

    // A store that is not connected takes no key.
    disconnect(c, &store).await;
    let msg = expect_code(
        try_xks_key(c, &store, "ext-other").await,
        "CustomKeyStoreInvalidStateException",
    );
    assert_eq!(msg, MSG_NOT_CONNECTED);
    expect_code(
        c.generate_random()
            .number_of_bytes(16)
            .custom_key_store_id(&store)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    let keys = c.list_keys().send().await.expect("ListKeys");
    assert_eq!(keys.keys().len(), 1, "only the first key exists: {keys:?}");
}

#[tokio::test]
async fn key_deletion_and_store_deletion() {
    let pki = Ca::new("deletion");
    let mut proxy = Proxy::new(&pki, &["one", "two"], Backend::Software);
    proxy.create_key("ext-del");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let empty = create_store(
        c,
        "empty",
        &proxy.endpoint(),
        &proxy.uri_path_of(1),
        &proxy.cred(),
    )
    .await
    .expect("second store")
    .custom_key_store_id()
    .expect("id")
    .to_string();
    let key = xks_key(c, &store, "ext-del").await;
    encrypt(c, &key, b"x").await;

    let out = c
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(key_state(c, &key).await, "PendingDeletion");
    expect_code(
        c.encrypt()
            .key_id(&key)
            .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    // The external key is untouched.
    assert!(
        proxy
            .list_keys()
            .contains(&("ext-del".to_string(), "ENABLED".to_string())),
        "{:?}",
        proxy.list_keys()
    );

    // Disconnected, a key pending deletion stays PendingDeletion (not Unavailable).
    disconnect(c, &store).await;
    assert_eq!(key_state(c, &key).await, "PendingDeletion");
    // A store holding a key cannot be deleted, even a key pending deletion.
    let msg = expect_code(
        c.delete_custom_key_store()
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreHasCMKsException",
    );
    assert!(msg.contains("ScheduleKeyDeletion"), "{msg}");
    // Cancelling while disconnected: Disabled underneath, Unavailable until reconnected.
    c.cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("CancelKeyDeletion while disconnected");
    assert_eq!(key_state(c, &key).await, "Unavailable");
    connect(c, &store).await;
    assert_eq!(key_state(c, &key).await, "Disabled");

    // Scheduling works while disconnected too; the key shows PendingDeletion throughout.
    disconnect(c, &store).await;
    c.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(30)
        .send()
        .await
        .expect("ScheduleKeyDeletion while disconnected");
    assert_eq!(key_state(c, &key).await, "PendingDeletion");
    connect(c, &store).await;
    assert_eq!(key_state(c, &key).await, "PendingDeletion");

    // An empty store: deleted while disconnected, refused while connected.
    connect(c, &empty).await;
    expect_code(
        c.delete_custom_key_store()
            .custom_key_store_id(&empty)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    disconnect(c, &empty).await;
    c.delete_custom_key_store()
        .custom_key_store_id(&empty)
        .send()
        .await
        .expect("DeleteCustomKeyStore");
    let left = c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    assert_eq!(left.custom_key_stores().len(), 1);
    assert_eq!(
        left.custom_key_stores()[0].custom_key_store_id(),
        Some(store.as_str())
    );
}
