//! The root key as the service uses it: an HSM root key (a counting stand-in for the token
//! behind `crypto::ExternalRootCipher`) is called only to seal new material and to unwrap
//! stored material once, never by a cryptographic request; and `rewrap_root_key` moves key
//! versions and external key store credentials, safely again and again.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use crypto::{ExternalRootCipher, ExternalSealed, RootKind, ROOT_NONCE_LEN, ROOT_TAG_LEN};
use zeroize::Zeroizing;

use super::*;

/// AES-256-GCM behind the external interface, counting its calls.
struct CountingHsm {
    key: [u8; 32],
    calls: AtomicUsize,
}

impl CountingHsm {
    fn new() -> Arc<CountingHsm> {
        let mut key = [0u8; 32];
        key.copy_from_slice(&crypto::random_bytes(32).expect("random"));
        Arc::new(CountingHsm {
            key,
            calls: AtomicUsize::new(0),
        })
    }

    /// Another handle on the same token key (a restarted process).
    fn same_key(&self) -> Arc<CountingHsm> {
        Arc::new(CountingHsm {
            key: self.key,
            calls: AtomicUsize::new(0),
        })
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("key"))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ExternalRootCipher for CountingHsm {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<ExternalSealed, crypto::CryptoError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut nonce = [0u8; ROOT_NONCE_LEN];
        nonce.copy_from_slice(&crypto::random_bytes(ROOT_NONCE_LEN)?);
        let mut ciphertext = plaintext.to_vec();
        let tag = self
            .aead()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut ciphertext,
            )
            .map_err(|_| crypto::CryptoError::Internal)?;
        let mut t = [0u8; ROOT_TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        Ok(ExternalSealed {
            nonce,
            ciphertext,
            tag: t,
        })
    }

    fn open(
        &self,
        nonce: &[u8; ROOT_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; ROOT_TAG_LEN],
    ) -> Result<Zeroizing<Vec<u8>>, crypto::CryptoError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut plain = Zeroizing::new(vec![0u8; ciphertext.len()]);
        self.aead()
            .open_separate_gather(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                ciphertext,
                tag,
                plain.as_mut_slice(),
            )
            .map_err(|_| crypto::CryptoError::Unwrap)?;
        Ok(plain)
    }

    fn describe(&self) -> String {
        "a counting stand-in for an HSM key".to_string()
    }
}

fn admin_policy_key(kind: &str) -> Value {
    match kind {
        "hmac" => json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
        _ => json!({}),
    }
}

async fn create(kms: &Kms, kind: &str) -> String {
    let key = call(kms, Operation::CreateKey, admin_policy_key(kind))
        .await
        .expect("CreateKey");
    s(&key["KeyMetadata"], "KeyId")
}

/// Every cryptographic request on `aes` and `hmac`, `n` times.
async fn hot_path(kms: &Kms, aes: &str, hmac: &str, n: usize) {
    for _ in 0..n {
        let enc = call(
            kms,
            Operation::Encrypt,
            json!({"KeyId": aes, "Plaintext": b64(b"hot path")}),
        )
        .await
        .expect("Encrypt");
        call(
            kms,
            Operation::Decrypt,
            json!({"CiphertextBlob": enc["CiphertextBlob"]}),
        )
        .await
        .expect("Decrypt");
        call(
            kms,
            Operation::ReEncrypt,
            json!({"CiphertextBlob": enc["CiphertextBlob"], "DestinationKeyId": aes}),
        )
        .await
        .expect("ReEncrypt");
        call(
            kms,
            Operation::GenerateDataKey,
            json!({"KeyId": aes, "KeySpec": "AES_256"}),
        )
        .await
        .expect("GenerateDataKey");
        call(
            kms,
            Operation::GenerateMac,
            json!({"KeyId": hmac, "MacAlgorithm": "HMAC_SHA_256", "Message": b64(b"m")}),
        )
        .await
        .expect("GenerateMac");
    }
}

#[tokio::test]
async fn cryptographic_requests_never_call_the_hsm() {
    let fx = Fixture::new();
    let hsm = CountingHsm::new();
    let kms = fx
        .try_open(RootKey::external(hsm.clone()))
        .await
        .expect("open");
    let aes = create(&kms, "aes").await;
    let hmac = create(&kms, "hmac").await;
    assert_eq!(hsm.calls(), 2, "one seal per new key");
    hot_path(&kms, &aes, &hmac, 20).await;
    assert_eq!(hsm.calls(), 2, "no HSM call on the hot path");
    drop(kms);

    // A restart unwraps each version once, then serves from memory.
    let again = hsm.same_key();
    let kms = fx
        .try_open(RootKey::external(again.clone()))
        .await
        .expect("reopen");
    assert_eq!(again.calls(), 2, "one unwrap per stored version");
    hot_path(&kms, &aes, &hmac, 20).await;
    assert_eq!(again.calls(), 2);
    // Rotation (by the rotator job) seals the new version, once.
    call(&kms, Operation::RotateKeyOnDemand, json!({"KeyId": aes}))
        .await
        .expect("rotate");
    assert_eq!(kms.rotate_due_keys().await.expect("rotator"), 1);
    assert_eq!(again.calls(), 3);
    hot_path(&kms, &aes, &hmac, 5).await;
    assert_eq!(again.calls(), 3);
}

async fn create_store(kms: &Kms) -> String {
    let store = call(
        kms,
        Operation::CreateCustomKeyStore,
        json!({
            "CustomKeyStoreName": "moving",
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
            "XksProxyUriEndpoint": "https://proxy.example",
            "XksProxyUriPath": "/kms/xks/v1",
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "RawSecretAccessKey": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG="
            }
        }),
    )
    .await
    .expect("CreateCustomKeyStore");
    s(&store, "CustomKeyStoreId")
}

async fn sqlite(fx: &Fixture) -> store::SqliteStore {
    store::SqliteStore::open(&fx.db, &region("us-east-1"))
        .await
        .expect("store")
}

#[tokio::test]
async fn rewrap_moves_key_versions_and_proxy_credentials() {
    let fx = Fixture::new();
    let proxy = super::external::InProcessProxy::new();
    let file_root = || RootKey::from_file_contents(&fx.root).expect("root");
    let kms = fx
        .open_with(file_root(), proxy.clone())
        .await
        .expect("open");
    let aes = create(&kms, "aes").await;
    let hmac = create(&kms, "hmac").await;
    let store_id = create_store(&kms).await;
    let enc = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": aes, "Plaintext": b64(b"made under the file root")}),
    )
    .await
    .expect("Encrypt");
    drop(kms);
    let hsm = CountingHsm::new();
    let store = sqlite(&fx).await;

    // Without a previous root key there is nothing to move from.
    assert!(matches!(
        rewrap_root_key(&store, &RootKey::external(hsm.clone()), None).await,
        Err(RewrapError::NoPrevious)
    ));

    let moving = RootKey::external(hsm.clone()).with_previous(file_root());
    let report = rewrap_root_key(&store, &moving, None)
        .await
        .expect("rewrap");
    assert_eq!(
        report,
        RewrapReport {
            versions_moved: 2,
            secrets_moved: 1,
            ..RewrapReport::default()
        }
    );
    let again = rewrap_root_key(&store, &moving, None)
        .await
        .expect("rewrap again");
    assert_eq!(
        again,
        RewrapReport {
            versions_current: 2,
            secrets_current: 1,
            ..RewrapReport::default()
        }
    );
    // Every stored record is the HSM's now.
    let snapshot = store::Store::load(&store).await.expect("load");
    for bundle in &snapshot.keys {
        for v in &bundle.versions {
            assert_eq!(crypto::sealed_by(&v.wrapped), Some(RootKind::Hsm));
        }
    }
    let sealed = hex::decode(&snapshot.custom_key_stores[0].record.sealed_secret_hex).expect("hex");
    assert_eq!(crypto::sealed_by(&sealed), Some(RootKind::Hsm));

    // The HSM root key alone opens the store: key versions and the proxy credential.
    let kms = fx
        .open_with(RootKey::external(hsm.same_key()), proxy.clone())
        .await
        .expect("open under the HSM root key alone");
    let dec = call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": enc["CiphertextBlob"]}),
    )
    .await
    .expect("Decrypt");
    assert_eq!(dec["Plaintext"], b64(b"made under the file root"));
    let listed = call(
        &kms,
        Operation::DescribeCustomKeyStores,
        json!({"CustomKeyStoreId": store_id}),
    )
    .await
    .expect("DescribeCustomKeyStores");
    assert_eq!(
        listed["CustomKeyStores"][0]["XksProxyConfiguration"]["AccessKeyId"],
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    );
    call(
        &kms,
        Operation::GenerateMac,
        json!({"KeyId": hmac, "MacAlgorithm": "HMAC_SHA_256", "Message": b64(b"m")}),
    )
    .await
    .expect("GenerateMac");
    drop(kms);

    // The file root key alone no longer does, and says why.
    let err = fx.try_open(file_root()).await.expect_err("file root alone");
    assert!(
        err.message.contains("sealed by a `pkcs11` root key"),
        "{}",
        err.message
    );

    // Two root keys that sealed none of it: every record is reported, none is touched.
    let strangers = RootKey::generate()
        .expect("root")
        .with_previous(RootKey::generate().expect("root"));
    let report = rewrap_root_key(&store, &strangers, None)
        .await
        .expect("rewrap with strangers");
    assert_eq!(report.unreadable.len(), 3, "{report:?}");
    assert_eq!(report.versions_moved + report.secrets_moved, 0);
}

#[tokio::test]
async fn a_rewrap_stopped_midway_leaves_a_store_both_keys_serve() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(create(&kms, "aes").await);
    }
    drop(kms);
    let file_root = || RootKey::from_file_contents(&fx.root).expect("root");
    let hsm = CountingHsm::new();
    let moving = || RootKey::external(hsm.same_key()).with_previous(file_root());
    let store = sqlite(&fx).await;
    let first = rewrap_root_key(&store, &moving(), Some(2))
        .await
        .expect("first part");
    assert_eq!(first.versions_moved, 2);
    assert!(first.stopped_at_limit);
    // Midway: a node with both root keys serves every key.
    let kms = fx.try_open(moving()).await.expect("open midway");
    for k in &keys {
        call(
            &kms,
            Operation::Encrypt,
            json!({"KeyId": k, "Plaintext": b64(b"x")}),
        )
        .await
        .expect("Encrypt midway");
    }
    drop(kms);
    // Neither root key alone does.
    assert!(fx.try_open(file_root()).await.is_err());
    assert!(fx
        .try_open(RootKey::external(hsm.same_key()))
        .await
        .is_err());
    let rest = rewrap_root_key(&store, &moving(), None)
        .await
        .expect("the rest");
    assert_eq!((rest.versions_moved, rest.versions_current), (3, 2));
    assert!(!rest.stopped_at_limit);
    fx.try_open(RootKey::external(hsm.same_key()))
        .await
        .expect("the HSM root key alone, at the end");
}
