//! External key stores in process: the service talks to a proxy through the
//! [`ExternalKeyStore`] trait, so a proxy written here (AES-GCM under one external key) drives
//! the custom key store operations and double encryption without any network, and can misbehave
//! on demand.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde_json::json;
use zeroize::Zeroizing;

use super::*;

/// How the proxy answers.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mood {
    Good = 0,
    /// Its Encrypt answers a wrong ciphertext data integrity value.
    BadCdiv = 1,
    /// It refuses everything as unauthenticated.
    WrongCredentials = 2,
}

pub(super) struct InProcessProxy {
    key: LessSafeKey,
    mood: AtomicU8,
}

impl InProcessProxy {
    pub(super) fn new() -> Arc<InProcessProxy> {
        let unbound = UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key");
        Arc::new(InProcessProxy {
            key: LessSafeKey::new(unbound),
            mood: AtomicU8::new(Mood::Good as u8),
        })
    }

    fn set(&self, mood: Mood) {
        self.mood.store(mood as u8, Ordering::SeqCst);
    }

    fn mood(&self) -> Mood {
        match self.mood.load(Ordering::SeqCst) {
            1 => Mood::BadCdiv,
            2 => Mood::WrongCredentials,
            _ => Mood::Good,
        }
    }

    fn refuse(&self) -> Result<(), ProxyError> {
        if self.mood() == Mood::WrongCredentials {
            return Err(ProxyError::Xks {
                name: xks::ErrorName::AuthenticationFailedException,
                status: 403,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ExternalKeyStore for InProcessProxy {
    async fn health(
        &self,
        _: &ProxyTarget,
        meta: RequestMetadata,
    ) -> Result<xks_client::GetHealthStatusResponse, ProxyError> {
        self.refuse()?;
        assert!(meta.kms_request_id.is_some_and(|id| !id.is_empty()));
        Ok(xks_client::GetHealthStatusResponse {
            xks_proxy_fleet_size: 1,
            xks_proxy_vendor: "test".into(),
            xks_proxy_model: "in-process".into(),
            ekm_vendor: "test".into(),
            ekm_fleet_details: vec![xks::EkmFleetDetail {
                id: "hsm-1".into(),
                model: "memory".into(),
                health_status: xks::HEALTH_ACTIVE.into(),
            }],
        })
    }

    async fn key_metadata(
        &self,
        _: &ProxyTarget,
        key_id: &str,
        _: RequestMetadata,
    ) -> Result<xks_client::GetKeyMetadataResponse, ProxyError> {
        self.refuse()?;
        // `ext-1`, and as many more as the key-state table needs (one KMS key per external key).
        if key_id != "ext-1" && !key_id.starts_with("ext-many-") {
            return Err(ProxyError::Xks {
                name: xks::ErrorName::KeyNotFoundException,
                status: 404,
            });
        }
        Ok(xks_client::GetKeyMetadataResponse {
            key_spec: xks::AES_256.into(),
            key_usage: vec![xks::USAGE_ENCRYPT.into(), xks::USAGE_DECRYPT.into()],
            key_status: xks::KEY_STATUS_ENABLED.into(),
        })
    }

    async fn encrypt(
        &self,
        _: &ProxyTarget,
        _: &str,
        req: &xks_client::EncryptRequest,
    ) -> Result<xks_client::EncryptResponse, ProxyError> {
        self.refuse()?;
        let aad = req
            .additional_authenticated_data
            .clone()
            .unwrap_or_default();
        let gcm_aad = xks::gcm_aad(&aad, &[]).expect("aad");
        let iv = [9u8; 12];
        let mut ciphertext = req.plaintext.to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(gcm_aad.as_slice()),
                &mut ciphertext,
            )
            .expect("seal");
        let mut cdiv = xks::cdiv_sha256(&aad, &[], &iv, &ciphertext, tag.as_ref()).to_vec();
        if self.mood() == Mood::BadCdiv {
            cdiv[0] ^= 1;
        }
        Ok(xks_client::EncryptResponse {
            ciphertext,
            ciphertext_metadata: None,
            initialization_vector: iv.to_vec(),
            authentication_tag: tag.as_ref().to_vec(),
            ciphertext_data_integrity_value: Some(cdiv),
        })
    }

    async fn decrypt(
        &self,
        _: &ProxyTarget,
        _: &str,
        req: &xks_client::DecryptRequest,
    ) -> Result<xks_client::DecryptResponse, ProxyError> {
        self.refuse()?;
        let aad = req
            .additional_authenticated_data
            .clone()
            .unwrap_or_default();
        let gcm_aad = xks::gcm_aad(&aad, &[]).expect("aad");
        let iv: [u8; 12] = req
            .initialization_vector
            .as_slice()
            .try_into()
            .map_err(|_| ProxyError::Xks {
                name: xks::ErrorName::InvalidCiphertextException,
                status: 400,
            })?;
        let mut sealed = req.ciphertext.clone();
        sealed.extend_from_slice(&req.authentication_tag);
        let opened = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(gcm_aad.as_slice()),
                &mut sealed,
            )
            .map_err(|_| ProxyError::Xks {
                name: xks::ErrorName::InvalidCiphertextException,
                status: 400,
            })?
            .to_vec();
        Ok(xks_client::DecryptResponse {
            plaintext: Zeroizing::new(opened),
        })
    }
}

#[tokio::test]
async fn double_encryption_through_the_trait() {
    let fx = Fixture::new();
    let proxy = InProcessProxy::new();
    let kms = fx
        .open_with(
            RootKey::from_file_contents(&fx.root).expect("root"),
            proxy.clone(),
        )
        .await
        .expect("open");
    let store = call(
        &kms,
        Operation::CreateCustomKeyStore,
        json!({
            "CustomKeyStoreName": "in-process",
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
    let store_id = s(&store, "CustomKeyStoreId");
    call(
        &kms,
        Operation::ConnectCustomKeyStore,
        json!({"CustomKeyStoreId": store_id}),
    )
    .await
    .expect("connect");
    let missing = call(
        &kms,
        Operation::CreateKey,
        json!({"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": store_id, "XksKeyId": "ext-2"}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code, ErrorCode::XksKeyNotFoundException);
    let key = call(
        &kms,
        Operation::CreateKey,
        json!({"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": store_id, "XksKeyId": "ext-1"}),
    )
    .await
    .expect("CreateKey");
    let id = s(&key["KeyMetadata"], "KeyId");
    let ct = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"double"), "EncryptionContext": {"a": "b"}}),
    )
    .await
    .expect("Encrypt");
    let pt = call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"a": "b"}}),
    )
    .await
    .expect("Decrypt");
    assert_eq!(pt["Plaintext"], b64(b"double"));
    assert!(
        pt.get("KeyMaterialId").is_none(),
        "no material id for external keys"
    );

    // A proxy whose integrity value does not check out is not believed.
    proxy.set(Mood::BadCdiv);
    let err = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::KmsInvalidStateException);
    assert!(
        err.message
            .starts_with("AWS KMS cannot interpret the response"),
        "{err}"
    );
    // A proxy that no longer accepts the credentials.
    proxy.set(Mood::WrongCredentials);
    let err = call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"a": "b"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::KmsInvalidStateException);
    assert!(
        err.message.contains("could not authenticate AWS KMS"),
        "{err}"
    );

    // Disconnected: the key shows Unavailable and refuses.
    proxy.set(Mood::Good);
    call(
        &kms,
        Operation::DisconnectCustomKeyStore,
        json!({"CustomKeyStoreId": store_id}),
    )
    .await
    .expect("disconnect");
    let d = call(&kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    assert_eq!(d["KeyMetadata"]["KeyState"], "Unavailable");
    let err = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::KmsInvalidStateException);
}
