//! Imported key material (keys with Origin EXTERNAL): GetParametersForImport,
//! ImportKeyMaterial and DeleteImportedKeyMaterial. (CreateKey makes such keys, the rotation
//! operations rotate in new imported material, the deletion sweep expires it.)
//!
//! GetParametersForImport hands out a fresh RSA wrapping key's public half and an import token
//! that carries its private half sealed under the root key ([`token`]). ImportKeyMaterial opens
//! the token, unwraps the material with it, checks it against the key's spec and against what
//! was imported before (the material's id is derived from it), and stores it sealed under the
//! root key as one of the key's versions.

mod token;

use std::sync::Arc;

use crypto::asymmetric::{import_material, KeyOpError, WrappingKey};
use kms_api::wire::{
    AlgorithmSpec, Blob, DeleteImportedKeyMaterialRequest, DeleteImportedKeyMaterialResponse,
    GetParametersForImportRequest, GetParametersForImportResponse, ImportKeyMaterialRequest,
    ImportKeyMaterialResponse, ImportType, WrappingKeySpec,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{ExpirationModel, KeySpec, KeyType, KeyVersion, Origin, VersionId};
use tokio::sync::Semaphore;

use crate::core::imported::{self, Write};
use crate::core::{material, optable, timestamp, Access, CachedKey, Core};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How long GetParametersForImport's wrapping key and token may be used.
const PARAMETERS_VALID_MS: i64 = DAY_MS;

/// How far ahead imported material's `ValidTo` may be.
const MAX_VALID_TO_MS: i64 = 365 * DAY_MS;

/// RSA key generation takes from tens of milliseconds (2048 bits) to seconds (4096) of CPU and
/// any caller may ask for it: at most this many run at once, off the async threads.
static WRAPPING_KEY_GENERATION: Semaphore = Semaphore::const_new(2);

fn validation(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::ValidationException, message)
}

/// The key an import operation names: resolved and authorized, with Origin EXTERNAL (checked
/// before its state, as AWS does), in a state the operation accepts.
fn import_key(core: &Core, key_id: &str, access: &Access<'_>) -> Result<Arc<CachedKey>, KmsError> {
    let key = core.resolve(key_id, access)?;
    if key.key.origin != Origin::External {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!(
                "{} origin is {} which is not valid for this operation.",
                key.arn, key.key.origin
            ),
        ));
    }
    core.check_state(&key, optable::info(access.op).states)?;
    Ok(key)
}

/// AWS's table of wrapping algorithms and wrapping key specs per kind of material: RSA-AES
/// wrapping for key pairs only, RSAES-OAEP for anything but an RSA private key, and not with
/// RSA_2048 for a P-521 or Ed25519 private key; nothing else (PKCS#1 v1.5 was withdrawn, SM2 is
/// for China Regions).
fn check_wrapping(
    algorithm: AlgorithmSpec,
    wrapping: WrappingKeySpec,
    spec: KeySpec,
) -> Result<(), KmsError> {
    use AlgorithmSpec::*;
    let rsa_private_key = matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096);
    let secret_key = matches!(
        spec,
        KeySpec::SymmetricDefault
            | KeySpec::Hmac224
            | KeySpec::Hmac256
            | KeySpec::Hmac384
            | KeySpec::Hmac512
    );
    let allowed = match (algorithm, wrapping) {
        (RsaesPkcs1V15 | Sm2pke, _) | (_, WrappingKeySpec::Sm2) => false,
        (RsaAesKeyWrapSha1 | RsaAesKeyWrapSha256, _) => !secret_key,
        (RsaesOaepSha1 | RsaesOaepSha256, WrappingKeySpec::Rsa2048) => {
            !rsa_private_key && !matches!(spec, KeySpec::EccNistP521 | KeySpec::EccNistEdwards25519)
        }
        (RsaesOaepSha1 | RsaesOaepSha256, _) => !rsa_private_key,
    };
    if allowed {
        return Ok(());
    }
    Err(validation(format!(
        "Wrapping algorithm {algorithm} and wrapping key spec {wrapping} cannot be used to import a {spec} key."
    )))
}

pub(crate) async fn get_parameters_for_import(
    core: &Core,
    req: &GetParametersForImportRequest,
    access: &Access<'_>,
) -> Result<GetParametersForImportResponse, KmsError> {
    let key = import_key(core, &req.key_id, access)?;
    check_wrapping(
        req.wrapping_algorithm,
        req.wrapping_key_spec,
        key.key.spec(),
    )?;
    let spec = req.wrapping_key_spec;
    let wrapping_key = {
        let _permit = WRAPPING_KEY_GENERATION
            .acquire()
            .await
            .map_err(|_| KmsError::internal("Key generation failed."))?;
        tokio::task::spawn_blocking(move || WrappingKey::generate(spec))
            .await
            .map_err(|_| KmsError::internal("Key generation failed."))?
            .map_err(KmsError::from)?
    };
    let valid_to_ms = core.now_ms().saturating_add(PARAMETERS_VALID_MS);
    let token = token::seal(
        &core.root,
        &key.arn,
        req.wrapping_algorithm,
        &wrapping_key,
        valid_to_ms,
    )
    .map_err(|_| KmsError::internal("The import token could not be sealed."))?;
    Ok(GetParametersForImportResponse {
        key_id: Some(key.arn.to_string()),
        import_token: Some(Blob::new(token)),
        public_key: Some(Blob::new(wrapping_key.public_key_der().to_vec())),
        parameters_valid_to: Some(timestamp(valid_to_ms)),
    })
}

/// When the material expires (`None`: it does not), from `ExpirationModel` and `ValidTo`, with
/// AWS's rules. `ValidTo` is kept in whole seconds, as AWS keeps it.
fn requested_expiry(req: &ImportKeyMaterialRequest, now_ms: i64) -> Result<Option<i64>, KmsError> {
    match (req.expiration_model, req.valid_to) {
        (Some(ExpirationModel::KeyMaterialDoesNotExpire), Some(_)) => Err(validation(
            "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
        )),
        (Some(ExpirationModel::KeyMaterialDoesNotExpire), None) => Ok(None),
        (_, None) => Err(validation(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        )),
        (_, Some(t)) => {
            let seconds = t.0.floor();
            // Anything outside ±2^53 ms is far outside the allowed year anyway.
            let ms = if seconds.is_finite() && seconds.abs() < 9.0e12 {
                (seconds as i64).saturating_mul(1000)
            } else if seconds > 0.0 {
                i64::MAX
            } else {
                i64::MIN
            };
            if ms <= now_ms {
                return Err(validation("ValidTo must be in the future"));
            }
            if ms > now_ms.saturating_add(MAX_VALID_TO_MS) {
                return Err(validation(
                    "ValidTo must be less than 365 days in the future",
                ));
            }
            Ok(Some(ms))
        }
    }
}

/// The members only symmetric keys take, and those a multi-Region replica refuses.
fn check_members(req: &ImportKeyMaterialRequest, key: &CachedKey) -> Result<(), KmsError> {
    let spec = key.key.spec();
    if key.key.key_type != KeyType::SYMMETRIC_DEFAULT {
        for (given, name) in [
            (req.import_type.is_some(), "importType"),
            (req.key_material_id.is_some(), "keyMaterialId"),
            (
                req.key_material_description.is_some(),
                "keyMaterialDescription",
            ),
        ] {
            if given {
                return Err(validation(format!(
                    "Input parameter {name} cannot be used with {spec} imported keys."
                )));
            }
        }
    }
    let new = req.import_type == Some(ImportType::NewKeyMaterial);
    if new && req.key_material_id.is_some() {
        return Err(validation(
            "Input parameter keyMaterialId cannot be used with NEW_KEY_MATERIAL importType.",
        ));
    }
    if key.key.is_replica() {
        if new {
            return Err(validation(
                "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys",
            ));
        }
        if req.key_material_description.is_some() {
            return Err(validation(
                "Key material description can only be specified on primary Multi-Region keys",
            ));
        }
    }
    Ok(())
}

fn incorrect_material(message: String) -> KmsError {
    KmsError::new(ErrorCode::IncorrectKeyMaterialException, message)
}

fn never_imported(id: &str, arn: &str) -> KmsError {
    validation(format!(
        "Key material (id: {id}) has never been imported into KMS key {arn}."
    ))
}

/// Where imported material goes among the key's materials.
enum Target {
    /// The key's first material.
    First,
    /// New material, to become current at the next rotation.
    New,
    /// A material the key has (its index): imported again.
    Again(usize),
}

/// Where material with id `id` goes, as the request and the key's materials allow.
fn target(
    req: &ImportKeyMaterialRequest,
    key: &CachedKey,
    id: &VersionId,
) -> Result<Target, KmsError> {
    let hex = id.to_hex();
    let materials = key.imported.as_slice();
    if materials.is_empty() {
        return match &req.key_material_id {
            Some(given) if *given != hex => Err(incorrect_material(format!(
                "Imported key material does not have the expected identifier ({given})."
            ))),
            _ => Ok(Target::First),
        };
    }
    if req.import_type == Some(ImportType::NewKeyMaterial) {
        if materials.iter().any(|v| v.id == *id) {
            return Err(incorrect_material(format!(
                "Key material (id: {hex}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {}.",
                key.arn
            )));
        }
        if let Some(pending) = imported::pending(key) {
            return Err(KmsError::new(
                ErrorCode::KmsInvalidStateException,
                format!(
                    "New key material (id: {hex}) cannot be imported into KMS key {}, because another key material (id: {}) is pending rotation.",
                    key.arn,
                    pending.id.to_hex()
                ),
            ));
        }
        return Ok(Target::New);
    }
    let expected = match &req.key_material_id {
        Some(given) => given.clone(),
        None => key
            .key
            .current_version
            .map(|v| v.to_hex())
            .unwrap_or_default(),
    };
    if hex != expected {
        return Err(incorrect_material(format!(
            "Imported key material does not have the expected identifier ({expected})."
        )));
    }
    materials
        .iter()
        .position(|v| v.id == *id)
        .map(Target::Again)
        .ok_or_else(|| never_imported(&hex, &key.arn))
}

pub(crate) async fn import_key_material(
    core: &Core,
    req: &ImportKeyMaterialRequest,
    access: &Access<'_>,
) -> Result<ImportKeyMaterialResponse, KmsError> {
    let key = import_key(core, &req.key_id, access)?;
    check_members(req, &key)?;
    let now = core.now_ms();
    let expires_ms = requested_expiry(req, now)?;
    let opened = token::open(&core.root, &key.arn, req.import_token.as_bytes())
        .map_err(|_| KmsError::new(ErrorCode::InvalidImportTokenException, ""))?;
    if now > opened.valid_to_ms {
        return Err(KmsError::new(ErrorCode::ExpiredImportTokenException, ""));
    }
    // RSA decryption and parsing an RSA private key take milliseconds of CPU: off the async
    // threads.
    let kind = key.key.key_type.material();
    let encrypted = req.encrypted_key_material.as_bytes().to_vec();
    let loaded = tokio::task::spawn_blocking(move || {
        let plaintext = opened.wrapping_key.unwrap(opened.algorithm, &encrypted)?;
        import_material(kind, &plaintext)
    })
    .await
    .map_err(|_| KmsError::internal("The key material could not be imported."))?;
    let material = match loaded {
        Ok(m) => m,
        Err(e @ (KeyOpError::Unsupported(_) | KeyOpError::Internal)) => return Err(e.into()),
        // Material that does not unwrap, or is not of the key's spec, is not a valid ciphertext
        // of key material for this key (AWS gives no message).
        Err(_) => return Err(KmsError::new(ErrorCode::InvalidCiphertextException, "")),
    };
    let id = imported::material_id(&key.key, &material);

    let _w = core.writes.lock().await;
    // Read again under the lock: another request may have changed the key meanwhile.
    let entry = core.cache.key(&key.key_ref()).ok_or_else(|| {
        core.not_found_key(&key.key.region, &key.key.account, key.key.id.as_str())
    })?;
    core.check_state(&entry, optable::info(access.op).states)?;
    let place = target(req, &entry, &id)?;
    let (sealed, ready) = material::seal_imported(&core.root, &entry.key.id, &id, material)?;
    let mut record = entry.key.clone();
    let (version, write) = match place {
        Target::First | Target::New => (
            KeyVersion {
                key: record.id.clone(),
                region: record.region.clone(),
                id,
                kind,
                created_ms: now,
                expires_ms,
                rotation: None,
                wrapped: sealed,
                description: req.key_material_description.clone(),
            },
            Write::Add,
        ),
        Target::Again(index) => {
            let old = entry
                .imported
                .get(index)
                .ok_or_else(|| KmsError::internal("The key's material list changed."))?;
            (
                KeyVersion {
                    expires_ms,
                    wrapped: sealed,
                    description: req
                        .key_material_description
                        .clone()
                        .or_else(|| old.description.clone()),
                    ..old.clone()
                },
                Write::Replace,
            )
        }
    };
    if matches!(place, Target::First) {
        record.current_version = Some(id);
    }
    if !matches!(place, Target::New) {
        let mut after = entry.imported.as_ref().clone();
        match after.iter_mut().find(|v| v.id == id) {
            Some(slot) => *slot = version.clone(),
            None => after.push(version.clone()),
        }
        record.state = imported::state_after_import(&record, &after);
    }
    let written =
        imported::write_version(core, &entry, record, version.clone(), write, Some(ready)).await?;
    if matches!(place, Target::New) {
        // Every Region of a multi-Region key lists the new material, to be imported there too.
        for member in imported::other_members(core, &written.key) {
            if member.imported.iter().any(|v| v.id == id) {
                continue;
            }
            let copy = KeyVersion {
                region: member.key.region.clone(),
                wrapped: Vec::new(),
                expires_ms: None,
                ..version.clone()
            };
            let member_record = member.key.clone();
            imported::write_version(core, &member, member_record, copy, Write::Add, None).await?;
        }
    }
    Ok(ImportKeyMaterialResponse {
        key_id: Some(written.arn.to_string()),
        key_material_id: (written.key.key_type == KeyType::SYMMETRIC_DEFAULT).then(|| id.to_hex()),
    })
}

pub(crate) async fn delete_imported_key_material(
    core: &Core,
    req: &DeleteImportedKeyMaterialRequest,
    access: &Access<'_>,
) -> Result<DeleteImportedKeyMaterialResponse, KmsError> {
    let key = import_key(core, &req.key_id, access)?;
    let _w = core.writes.lock().await;
    let entry = core.cache.key(&key.key_ref()).ok_or_else(|| {
        core.not_found_key(&key.key.region, &key.key.account, key.key.id.as_str())
    })?;
    core.check_state(&entry, optable::info(access.op).states)?;
    let symmetric = entry.key.key_type == KeyType::SYMMETRIC_DEFAULT;
    let index = match &req.key_material_id {
        Some(given) => Some(
            entry
                .imported
                .iter()
                .position(|v| v.id.to_hex() == *given)
                .ok_or_else(|| never_imported(given, &entry.arn))?,
        ),
        None => imported::current_position(&entry),
    };
    // A key that never had material: nothing to delete.
    let Some(old) = index.and_then(|i| entry.imported.get(i)) else {
        return Ok(DeleteImportedKeyMaterialResponse {
            key_id: Some(entry.arn.to_string()),
            key_material_id: None,
        });
    };
    let deleted_id = old.id;
    if old.has_material() {
        let version = KeyVersion {
            wrapped: Vec::new(),
            expires_ms: None,
            ..old.clone()
        };
        let mut record = entry.key.clone();
        let mut after = entry.imported.as_ref().clone();
        if let Some(slot) = after.iter_mut().find(|v| v.id == deleted_id) {
            *slot = version.clone();
        }
        record.state = imported::state_after_removal(&record, &after);
        imported::write_version(core, &entry, record, version, Write::Replace, None).await?;
        tracing::info!(key_id = %entry.key.id, region = %entry.key.region, "deleted imported key material");
    }
    Ok(DeleteImportedKeyMaterialResponse {
        key_id: Some(entry.arn.to_string()),
        key_material_id: symmetric.then(|| deleted_id.to_hex()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_table_follows_aws() {
        use AlgorithmSpec as A;
        use WrappingKeySpec as W;
        let ok = |a, w, s| check_wrapping(a, w, s).is_ok();
        assert!(ok(
            A::RsaesOaepSha256,
            W::Rsa2048,
            KeySpec::SymmetricDefault
        ));
        assert!(ok(A::RsaesOaepSha1, W::Rsa3072, KeySpec::SymmetricDefault));
        assert!(ok(A::RsaesOaepSha256, W::Rsa2048, KeySpec::Hmac512));
        assert!(!ok(
            A::RsaAesKeyWrapSha256,
            W::Rsa2048,
            KeySpec::SymmetricDefault
        ));
        assert!(!ok(A::RsaAesKeyWrapSha1, W::Rsa4096, KeySpec::Hmac224));
        assert!(!ok(A::RsaesPkcs1V15, W::Rsa2048, KeySpec::SymmetricDefault));
        assert!(ok(A::RsaAesKeyWrapSha256, W::Rsa2048, KeySpec::Rsa4096));
        assert!(!ok(A::RsaesOaepSha256, W::Rsa4096, KeySpec::Rsa2048));
        assert!(ok(A::RsaesOaepSha256, W::Rsa2048, KeySpec::EccNistP256));
        assert!(!ok(A::RsaesOaepSha256, W::Rsa2048, KeySpec::EccNistP521));
        assert!(ok(A::RsaesOaepSha256, W::Rsa3072, KeySpec::EccNistP521));
        assert!(ok(A::RsaAesKeyWrapSha256, W::Rsa3072, KeySpec::EccNistP521));
        assert!(!ok(
            A::RsaesOaepSha256,
            W::Rsa2048,
            KeySpec::EccNistEdwards25519
        ));
        assert!(ok(
            A::RsaesOaepSha256,
            W::Rsa3072,
            KeySpec::EccNistEdwards25519
        ));
        assert!(!ok(A::Sm2pke, W::Sm2, KeySpec::SymmetricDefault));
        assert!(!ok(A::RsaesOaepSha256, W::Sm2, KeySpec::SymmetricDefault));
        assert_eq!(
            check_wrapping(A::RsaesOaepSha256, W::Rsa2048, KeySpec::EccNistP521)
                .unwrap_err()
                .message,
            "Wrapping algorithm RSAES_OAEP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a ECC_NIST_P521 key."
        );
    }
}
