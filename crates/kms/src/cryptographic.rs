//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateRandom. They read only the in-memory cache: no database on this path.

use std::sync::Arc;

use kms_api::types::{
    Blob, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, EncryptionContext,
    GenerateDataKeyRequest, GenerateDataKeyResponse, GenerateRandomRequest, GenerateRandomResponse,
    ReEncryptRequest, ReEncryptResponse,
};
use kms_api::{ErrorCode, KmsError};
use zeroize::Zeroizing;

use crate::keys::StateRule;
use crate::resolve::Naming;
use crate::{Access, CachedKey, Kms};

/// A decrypted ciphertext: its key, the backing key that made it, and the plaintext.
struct Opened {
    key: Arc<CachedKey>,
    backing_key_id: String,
    plaintext: Zeroizing<Vec<u8>>,
}

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

fn check_algorithm(alg: Option<&str>) -> Result<(), KmsError> {
    match alg {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(other) => Err(KmsError::new(
            ErrorCode::InvalidKeyUsageException,
            format!(
                "The encryption algorithm {other} is not compatible with a SYMMETRIC_DEFAULT key."
            ),
        )),
    }
}

fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::new(
            ErrorCode::DryRunOperationException,
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(())
}

fn no_recipient(recipient: Option<&serde_json::Value>) -> Result<(), KmsError> {
    if recipient.is_some() {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            "Recipient (Nitro Enclaves attestation) is not supported by Strongroom.",
        ));
    }
    Ok(())
}

fn bad_ciphertext() -> KmsError {
    KmsError::new(ErrorCode::InvalidCiphertextException, "")
}

impl Kms {
    /// The key an encrypting operation names, checked for state and usage.
    fn encrypting_key(
        &self,
        key_ref: &str,
        caller: &Access<'_>,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let op = caller.op;
        let key = self.resolve(key_ref, caller, Naming::KeyOrAlias)?;
        self.check_state(&key, StateRule::Enabled)?;
        self.external_quota(&key)?;
        if key.record.key_usage != "ENCRYPT_DECRYPT" {
            return Err(KmsError::new(
                ErrorCode::InvalidKeyUsageException,
                format!(
                    "{} key usage is {} which is not valid for {}.",
                    self.arn_of(&key.record),
                    key.record.key_usage,
                    op.name()
                ),
            ));
        }
        Ok(key)
    }

    async fn seal(
        &self,
        key: &CachedKey,
        plaintext: &[u8],
        ctx: &EncryptionContext,
        caller: &Access<'_>,
    ) -> Result<Vec<u8>, KmsError> {
        let prepared = key
            .backing
            .get(&key.current)
            .ok_or_else(|| KmsError::internal("The key's current backing key is missing."))?;
        if key.record.xks_key_id.is_some() {
            return self
                .seal_external(key, prepared, plaintext, ctx, caller)
                .await;
        }
        crypto::encrypt_blob_with(prepared, &key.record.key_id, &key.current, plaintext, ctx)
            .map_err(|_| KmsError::internal("Encryption failed."))
    }

    /// Opens a ciphertext blob: finds its key, checks it against `expected` (a `KeyId` the caller
    /// named), its state and the caller, then decrypts with the backing key the blob names.
    async fn open_blob(
        &self,
        blob: &[u8],
        ctx: &EncryptionContext,
        expected: Option<&str>,
        caller: &Access<'_>,
    ) -> Result<Opened, KmsError> {
        let parsed = crypto::parse_blob(blob).map_err(|_| bad_ciphertext())?;
        let key_id = parsed.key_id().to_string();
        if let Some(expected) = expected {
            let named = self.lookup(expected, caller, Naming::KeyOrAlias)?;
            if named.record.key_id != key_id {
                return Err(KmsError::new(
                    ErrorCode::IncorrectKeyException,
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        // The key id inside the blob is not authenticated until decryption: a blob naming no key we
        // have is a bad ciphertext, not a missing key the caller asked for.
        let key = self.cached(&key_id).ok_or_else(bad_ciphertext)?;
        let alias = expected.filter(|e| e.starts_with("alias/"));
        self.authorize_key(caller, &key, alias)?;
        self.check_state(&key, StateRule::Enabled)?;
        self.external_quota(&key)?;
        let backing_id = *parsed.backing_key_id();
        let prepared = key.backing.get(&backing_id).ok_or_else(bad_ciphertext)?;
        let plaintext = match (parsed.layer(), key.record.xks_key_id.is_some()) {
            (crypto::Layer::Single, false) => {
                crypto::decrypt_blob_with(prepared, &parsed, ctx).map_err(|_| bad_ciphertext())?
            }
            (crypto::Layer::External(_), true) => {
                self.open_external(&key, prepared, &parsed, ctx, caller)
                    .await?
            }
            // A blob whose layering does not match its key's kind was not made by that key.
            _ => return Err(bad_ciphertext()),
        };
        Ok(Opened {
            key: key.clone(),
            backing_key_id: hex::encode(backing_id),
            plaintext,
        })
    }

    pub(crate) async fn encrypt(
        &self,
        req: EncryptRequest,
        caller: &Access<'_>,
    ) -> Result<EncryptResponse, KmsError> {
        let key = self.encrypting_key(&req.key_id, caller)?;
        check_algorithm(req.encryption_algorithm.as_deref())?;
        dry_run(req.dry_run)?;
        let ctx = req.encryption_context.unwrap_or_default();
        let blob = self
            .seal(&key, req.plaintext.as_bytes(), &ctx, caller)
            .await?;
        Ok(EncryptResponse {
            ciphertext_blob: Some(Blob::new(blob)),
            key_id: self.arn_of(&key.record),
            encryption_algorithm: SYMMETRIC_DEFAULT.to_string(),
        })
    }

    pub(crate) async fn decrypt(
        &self,
        req: DecryptRequest,
        caller: &Access<'_>,
    ) -> Result<DecryptResponse, KmsError> {
        no_recipient(req.recipient.as_ref())?;
        check_algorithm(req.encryption_algorithm.as_deref())?;
        let ctx = req.encryption_context.unwrap_or_default();
        let Opened {
            key,
            backing_key_id,
            plaintext,
        } = self
            .open_blob(
                req.ciphertext_blob.as_bytes(),
                &ctx,
                req.key_id.as_deref(),
                caller,
            )
            .await?;
        dry_run(req.dry_run)?;
        Ok(DecryptResponse {
            key_id: self.arn_of(&key.record),
            plaintext: Some(Blob(plaintext)),
            encryption_algorithm: SYMMETRIC_DEFAULT.to_string(),
            key_material_id: Some(backing_key_id),
        })
    }

    pub(crate) async fn re_encrypt(
        &self,
        req: ReEncryptRequest,
        caller: &Access<'_>,
    ) -> Result<ReEncryptResponse, KmsError> {
        check_algorithm(req.source_encryption_algorithm.as_deref())?;
        check_algorithm(req.destination_encryption_algorithm.as_deref())?;
        let src_ctx = req.source_encryption_context.unwrap_or_default();
        // `kms:ReEncryptOnSameKey` is known before either key is authorized.
        let source_id = crypto::parse_blob(req.ciphertext_blob.as_bytes())
            .ok()
            .map(|p| p.key_id().to_string());
        let dest_id = self
            .lookup(&req.destination_key_id, caller, Naming::KeyOrAlias)
            .ok()
            .map(|k| k.record.key_id.clone());
        let same_key = source_id.zip(dest_id).map(|(a, b)| a == b);
        let Opened {
            key: source,
            backing_key_id: source_backing,
            plaintext,
        } = self
            .open_blob(
                req.ciphertext_blob.as_bytes(),
                &src_ctx,
                req.source_key_id.as_deref(),
                &caller
                    .with_action("kms:ReEncryptFrom")
                    .with_same_key(same_key),
            )
            .await?;
        let dest = self.encrypting_key(
            &req.destination_key_id,
            &caller.with_action("kms:ReEncryptTo"),
        )?;
        dry_run(req.dry_run)?;
        let dest_ctx = req.destination_encryption_context.unwrap_or_default();
        let blob = self
            .seal(
                &dest,
                &plaintext,
                &dest_ctx,
                &caller.with_action("kms:ReEncryptTo"),
            )
            .await?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Some(Blob::new(blob)),
            source_key_id: self.arn_of(&source.record),
            key_id: self.arn_of(&dest.record),
            source_encryption_algorithm: SYMMETRIC_DEFAULT.to_string(),
            destination_encryption_algorithm: SYMMETRIC_DEFAULT.to_string(),
            source_key_material_id: Some(source_backing),
            destination_key_material_id: Some(hex::encode(dest.current)),
        })
    }

    pub(crate) async fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
        caller: &Access<'_>,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let len = match (req.key_spec.as_deref(), req.number_of_bytes) {
            (Some(_), Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "Please specify either number of bytes or key spec, not both.",
                ))
            }
            (None, None) => {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "Please specify either number of bytes or key spec.",
                ))
            }
            (Some("AES_128"), None) => 16,
            (Some(_), None) => 32,
            (None, Some(n)) => usize::try_from(n).unwrap_or(0),
        };
        no_recipient(req.recipient.as_ref())?;
        let key = self.encrypting_key(&req.key_id, caller)?;
        dry_run(req.dry_run)?;
        let data_key = crypto::random_bytes(len)
            .map_err(|_| KmsError::internal("Random generation failed."))?;
        let ctx = req.encryption_context.unwrap_or_default();
        let blob = self.seal(&key, &data_key, &ctx, caller).await?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Some(Blob::new(blob)),
            plaintext: with_plaintext.then_some(Blob(data_key)),
            key_id: self.arn_of(&key.record),
            key_material_id: Some(hex::encode(key.current)),
        })
    }

    pub(crate) fn generate_random(
        &self,
        req: GenerateRandomRequest,
        caller: &Access<'_>,
    ) -> Result<GenerateRandomResponse, KmsError> {
        no_recipient(req.recipient.as_ref())?;
        if let Some(id) = req.custom_key_store_id {
            // Another account's store is not found, as in every custom key store operation.
            self.own_store(&id, caller)?;
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperationException,
                format!("GenerateRandom does not support {id}: it is an external key store."),
            ));
        }
        let Some(n) = req.number_of_bytes else {
            // The model leaves it optional; AWS answers in its own words.
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                "NumberOfBytes is required.",
            ));
        };
        let bytes = crypto::random_bytes(usize::try_from(n).unwrap_or(0))
            .map_err(|_| KmsError::internal("Random generation failed."))?;
        Ok(GenerateRandomResponse {
            plaintext: Some(Blob(bytes)),
        })
    }
}
