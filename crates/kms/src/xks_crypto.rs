//! Double encryption for keys in external key stores: the inner layer under Strongroom's backing
//! key, the outer layer by the external key store proxy with the external key. The proxy's IV, tag
//! and metadata travel in the ciphertext blob; the AAD sent to the proxy is the blob's fixed
//! header, and the CDIV the proxy returns is recomputed and checked.

use std::sync::Arc;

use crypto::{ExternalLayer, Layer, ParsedBlob, PreparedKey};
use kms_api::types::EncryptionContext;
use kms_api::{ErrorCode, KmsError};
use xks_client::{ProxyError, RequestMetadata};
use zeroize::Zeroizing;

use crate::external::{proxy_message, StoreEntry, CONNECTED};
use crate::{Access, CachedKey, Kms};

/// The message of a key whose store is not connected (the specification's KMS table).
pub(crate) const NOT_CONNECTED: &str = "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.";

fn invalid_state(msg: &str) -> KmsError {
    KmsError::new(ErrorCode::KmsInvalidStateException, msg)
}

fn proxy_failure(e: &ProxyError) -> KmsError {
    tracing::info!(error = %e, "external key store proxy call failed");
    invalid_state(proxy_message(e))
}

fn uninterpretable(why: &str) -> KmsError {
    tracing::info!(why, "external key store proxy answer rejected");
    proxy_failure(&ProxyError::InvalidResponse(why.to_string()))
}

impl Kms {
    fn request_metadata(&self, caller: &Access<'_>, key: &CachedKey) -> RequestMetadata {
        RequestMetadata {
            aws_principal_arn: Some(caller.principal_arn.clone()),
            kms_key_arn: Some(self.arn_of(&key.record)),
            kms_operation: Some(caller.op.name().to_string()),
            kms_request_id: Some(caller.origin.request_id.clone()),
            ..RequestMetadata::default()
        }
    }

    /// For a key in an external key store: its store, which must be connected, and a token of its
    /// request quota (`ThrottlingException` when spent). `None` for other keys.
    pub(crate) fn external_quota(
        &self,
        key: &CachedKey,
    ) -> Result<Option<Arc<StoreEntry>>, KmsError> {
        let Some(store_id) = &key.record.custom_key_store_id else {
            return Ok(None);
        };
        let store = self
            .store_entry(store_id)
            .filter(|s| s.record.connection_state == CONNECTED)
            .ok_or_else(|| invalid_state(NOT_CONNECTED))?;
        if store.limiter.check().is_err() {
            return Err(KmsError::new(
                ErrorCode::ThrottlingException,
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
            ));
        }
        Ok(Some(store))
    }

    fn connected_store(&self, key: &CachedKey) -> Result<Arc<StoreEntry>, KmsError> {
        key.record
            .custom_key_store_id
            .as_deref()
            .and_then(|id| self.store_entry(id))
            .filter(|s| s.record.connection_state == CONNECTED)
            .ok_or_else(|| invalid_state(NOT_CONNECTED))
    }

    pub(crate) async fn seal_external(
        &self,
        key: &CachedKey,
        prepared: &PreparedKey,
        plaintext: &[u8],
        ctx: &EncryptionContext,
        caller: &Access<'_>,
    ) -> Result<Vec<u8>, KmsError> {
        let store = self.connected_store(key)?;
        let xks_key = key.record.xks_key_id.as_deref().unwrap_or_default();
        let inner = crypto::seal_external_inner_with(
            prepared,
            &key.record.key_id,
            &key.current,
            plaintext,
            ctx,
        )
        .map_err(|_| KmsError::internal("Encryption failed."))?;
        let aad = inner.fixed_header().to_vec();
        let request = xks_client::EncryptRequest {
            request_metadata: self.request_metadata(caller, key),
            plaintext: Zeroizing::new(inner.inner_ciphertext().to_vec()),
            encryption_algorithm: xks::AES_GCM.to_string(),
            additional_authenticated_data: Some(aad.clone()),
            ciphertext_data_integrity_value_algorithm: Some(xks::SHA_256.to_string()),
        };
        let resp = self
            .xks
            .encrypt(&store.target, xks_key, &request)
            .await
            .map_err(|e| proxy_failure(&e))?;
        let metadata = resp.ciphertext_metadata.clone().unwrap_or_default();
        if !matches!(
            resp.initialization_vector.len(),
            xks::IV_LEN_12 | xks::IV_LEN_16
        ) {
            return Err(uninterpretable(
                "initialization vector of an invalid length",
            ));
        }
        let tag: [u8; xks::TAG_LEN] = resp
            .authentication_tag
            .as_slice()
            .try_into()
            .map_err(|_| uninterpretable("authentication tag of an invalid length"))?;
        if metadata.len() > xks::MAX_CIPHERTEXT_METADATA_LEN {
            return Err(uninterpretable("ciphertext metadata longer than 20 bytes"));
        }
        if resp.ciphertext.len() != inner.inner_ciphertext().len() {
            return Err(uninterpretable(
                "ciphertext length differs from the plaintext's",
            ));
        }
        let expected = xks::cdiv_sha256(
            &aad,
            &metadata,
            &resp.initialization_vector,
            &resp.ciphertext,
            &tag,
        );
        match &resp.ciphertext_data_integrity_value {
            Some(cdiv)
                if bool::from(subtle::ConstantTimeEq::ct_eq(
                    cdiv.as_slice(),
                    expected.as_slice(),
                )) => {}
            Some(_) => {
                return Err(uninterpretable(
                    "ciphertext data integrity value does not match",
                ))
            }
            None => {
                return Err(uninterpretable(
                    "no ciphertext data integrity value although one was requested",
                ))
            }
        }
        let layer = ExternalLayer {
            iv: resp.initialization_vector,
            metadata,
            tag,
        };
        inner
            .into_blob(&layer, &resp.ciphertext)
            .map_err(|_| uninterpretable("the proxy's answer does not fit the ciphertext blob"))
    }

    pub(crate) async fn open_external(
        &self,
        key: &CachedKey,
        prepared: &PreparedKey,
        parsed: &ParsedBlob<'_>,
        ctx: &EncryptionContext,
        caller: &Access<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let Layer::External(layer) = parsed.layer() else {
            return Err(KmsError::new(ErrorCode::InvalidCiphertextException, ""));
        };
        let store = self.connected_store(key)?;
        let xks_key = key.record.xks_key_id.as_deref().unwrap_or_default();
        let request = xks_client::DecryptRequest {
            request_metadata: self.request_metadata(caller, key),
            ciphertext: parsed.payload().to_vec(),
            ciphertext_metadata: (!layer.metadata.is_empty()).then(|| layer.metadata.clone()),
            encryption_algorithm: xks::AES_GCM.to_string(),
            additional_authenticated_data: Some(parsed.fixed_header().to_vec()),
            authentication_tag: layer.tag.to_vec(),
            initialization_vector: layer.iv.clone(),
        };
        let resp = self
            .xks
            .decrypt(&store.target, xks_key, &request)
            .await
            .map_err(|e| proxy_failure(&e))?;
        crypto::open_external_inner_with(prepared, parsed, &resp.plaintext, ctx).map_err(|_| {
            invalid_state(
                "The ciphertext that the external key store proxy submitted for decryption, or the encryption context, is corrupted, missing, or otherwise invalid.",
            )
        })
    }
}
