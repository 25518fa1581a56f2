//! Keys and their lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion.

use kms_api::wire::{
    CancelKeyDeletionRequest, CancelKeyDeletionResponse, CreateKeyRequest, CreateKeyResponse,
    DescribeKeyRequest, DescribeKeyResponse, EnableKeyResponse, KeyListEntry, ListKeysRequest,
    ListKeysResponse, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse,
    UpdateKeyDescriptionRequest, UpdateKeyDescriptionResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{
    Deletion, ExternalKey, Key, KeyId, KeySpec, KeyState, KeyType, KeyUsage, KeyVersion,
    MaterialKind, Origin, Rotation,
};

use crate::core::cache::{CachedKey, CachedVersion};
use crate::core::paging::{self, PageLimits};
use crate::core::{material, rules, store_error, timestamp, Access, Core};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The key spec a CreateKey asks for (`CustomerMasterKeySpec` is the deprecated name of it).
fn requested_spec(req: &CreateKeyRequest) -> Result<KeySpec, KmsError> {
    match (req.key_spec, req.customer_master_key_spec) {
        (Some(_), Some(_)) => Err(KmsError::new(
            ErrorCode::ValidationException,
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
        )),
        (Some(s), None) => Ok(s),
        (None, Some(s)) => KeySpec::from_wire(s.as_str()).ok_or_else(|| {
            KmsError::new(ErrorCode::ValidationException, format!("Unknown key spec {s}."))
        }),
        (None, None) => Ok(KeySpec::SymmetricDefault),
    }
}

/// The key type a CreateKey asks for, with AWS's messages.
fn requested_type(req: &CreateKeyRequest) -> Result<KeyType, KmsError> {
    let key_type = requested_pair(req)?;
    if key_type.spec() == KeySpec::Sm2 {
        // SM2 exists only in AWS's China Regions; elsewhere AWS answers this.
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            "KeySpec SM2 is not supported in this Region",
        ));
    }
    Ok(key_type)
}

/// The key spec and usage a CreateKey asks for, if AWS allows the pair.
fn requested_pair(req: &CreateKeyRequest) -> Result<KeyType, KmsError> {
    let spec = requested_spec(req)?;
    let usage = match req.key_usage {
        Some(u) => u,
        None if spec == KeySpec::SymmetricDefault => KeyUsage::EncryptDecrypt,
        None => {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
            ))
        }
    };
    KeyType::new(spec, usage).ok_or_else(|| {
        KmsError::new(
            ErrorCode::ValidationException,
            format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
        )
    })
}

/// Where the new key's material comes from: Strongroom, or an external key store and key.
fn requested_origin(
    req: &CreateKeyRequest,
    key_type: KeyType,
) -> Result<Option<(String, String)>, KmsError> {
    match req.origin.unwrap_or(Origin::AwsKms) {
        Origin::AwsKms | Origin::External => {
            if req.xks_key_id.is_some() {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "XksKeyId is valid only for keys with Origin EXTERNAL_KEY_STORE.",
                ));
            }
            if req.custom_key_store_id.is_some() {
                return Err(KmsError::new(
                    ErrorCode::UnsupportedOperationException,
                    "A CustomKeyStoreId needs Origin EXTERNAL_KEY_STORE (AWS CloudHSM key stores are not supported by Strongroom).",
                ));
            }
            Ok(None)
        }
        Origin::ExternalKeyStore => {
            if key_type != KeyType::SYMMETRIC_DEFAULT {
                // External key stores hold symmetric encryption keys only (the exception AWS
                // answers is not documented; see docs/research/xks-kms-behaviour.md §6.1).
                return Err(KmsError::new(
                    ErrorCode::UnsupportedOperationException,
                    format!(
                        "KeySpec {} is not supported for Origin EXTERNAL_KEY_STORE",
                        key_type.spec()
                    ),
                ));
            }
            if req.multi_region == Some(true) {
                return Err(KmsError::new(
                    ErrorCode::UnsupportedOperationException,
                    "You cannot create a multi-Region key in a custom key store.",
                ));
            }
            match (&req.custom_key_store_id, &req.xks_key_id) {
                (Some(store), Some(xks_key)) => Ok(Some((store.clone(), xks_key.clone()))),
                _ => Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "Origin EXTERNAL_KEY_STORE requires CustomKeyStoreId and XksKeyId.",
                )),
            }
        }
        other => Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!("Origin {other} is not supported by Strongroom yet."),
        )),
    }
}

pub(crate) async fn create_key(
    core: &Core,
    req: &CreateKeyRequest,
    access: &Access<'_>,
) -> Result<CreateKeyResponse, KmsError> {
    if req.origin == Some(Origin::External) {
        return create_awaiting_import(core, req, access).await;
    }
    let key_type = requested_type(req)?;
    let external = requested_origin(req, key_type)?;
    let tags = rules::checked_tags(req.tags.as_deref().unwrap_or_default(), Vec::new())?;
    let multi_region = req.multi_region == Some(true);
    let id = new_key_id(multi_region)?;
    let region = access.region().clone();
    let policy = key_policy(core, req, access, &id)?;
    let external = match &external {
        Some((store, xks_key)) => Some(ExternalKey {
            store: core.check_external_key(store, xks_key, access).await?,
            xks_key_id: xks_key.clone(),
        }),
        None => None,
    };
    let (version_id, wrapped, prepared) = match key_type.material() {
        MaterialKind::Aes256Gcm => material::generate_aes(&core.root, &id)?,
        // Key pairs take long to make (RSA_4096: up to seconds): off the async workers.
        kind => material::seal_new(&core.root, &id, core.pools.generate(kind).await?)?,
    };
    let now = core.now_ms();
    let key = Key {
        id: id.clone(),
        account: access.account.clone(),
        region: region.clone(),
        created_ms: now,
        description: req.description.clone().unwrap_or_default(),
        key_type,
        origin: req.origin.unwrap_or(Origin::AwsKms),
        state: KeyState::Enabled,
        deletion: None,
        policy,
        tags,
        current_version: Some(version_id),
        external,
        rotation: Rotation::default(),
        primary_region: multi_region.then(|| region.clone()),
    };
    let version = KeyVersion {
        key: id.clone(),
        region,
        id: version_id,
        kind: key_type.material(),
        created_ms: now,
        expires_ms: None,
        rotation: None,
        wrapped,
        description: None,
    };
    let _w = core.writes.lock().await;
    if let Some(e) = &key.external {
        // Checked again under the write lock: another CreateKey may have taken it meanwhile.
        core.check_external_key_unused(&e.store, &e.xks_key_id)?;
    }
    let revision = core
        .store
        .create_key(&key, &version)
        .await
        .map_err(store_error)?;
    let entry = CachedKey {
        policy: std::sync::Arc::new(crate::core::cache::compile_stored_policy(&key)),
        arn: core.key_arn(&key).into(),
        key: key.clone(),
        revision,
        versions: std::sync::Arc::new(vec![std::sync::Arc::new(CachedVersion {
            id: version_id,
            created_ms: now,
            rotation: None,
            material: prepared,
        })]),
        imported: std::sync::Arc::new(Vec::new()),
        grants: std::sync::Arc::new(Vec::new()),
        aliases: std::sync::Arc::new(Vec::new()),
        last_use: std::sync::Arc::default(),
    };
    core.cache.put_key(entry);
    Ok(CreateKeyResponse {
        key_metadata: Some(crate::core::metadata::metadata(core, &key)),
    })
}

/// A fresh key id.
fn new_key_id(multi_region: bool) -> Result<KeyId, KmsError> {
    let random =
        crypto::random_bytes(16).map_err(|_| KmsError::internal("Key generation failed."))?;
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&random);
    Ok(KeyId::from_random(bytes, multi_region))
}

/// The policy a new key gets: the one asked for (checked, and not locking the caller out
/// unless asked to), or the default.
fn key_policy(
    core: &Core,
    req: &CreateKeyRequest,
    access: &Access<'_>,
    id: &KeyId,
) -> Result<String, KmsError> {
    match &req.policy {
        Some(p) => {
            let compiled = rules::checked_policy(p)?;
            if req.bypass_policy_lockout_safety_check != Some(true) {
                let arn = crate::core::arn::key_arn(
                    &core.config.partition,
                    access.region(),
                    &access.account,
                    id,
                );
                core.check_lockout(access, &compiled, &arn)?;
            }
            Ok(p.clone())
        }
        None => Ok(rules::default_policy(
            &core.config.partition,
            &access.account,
        )),
    }
}

/// CreateKey with Origin EXTERNAL: a key with no material, PendingImport until material is
/// imported (ImportKeyMaterial). AWS allows symmetric, HMAC, RSA and ECC keys, multi-Region
/// ones too; not ML-DSA (nor, presumably, ML-KEM and SM2).
async fn create_awaiting_import(
    core: &Core,
    req: &CreateKeyRequest,
    access: &Access<'_>,
) -> Result<CreateKeyResponse, KmsError> {
    let key_type = requested_pair(req)?;
    let spec = key_type.spec();
    if matches!(
        spec,
        KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87
            | KeySpec::MlKem512
            | KeySpec::MlKem768
            | KeySpec::MlKem1024
            | KeySpec::Sm2
    ) {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            format!("KeySpec {spec} is not supported for Origin EXTERNAL"),
        ));
    }
    requested_origin(req, key_type)?;
    let tags = rules::checked_tags(req.tags.as_deref().unwrap_or_default(), Vec::new())?;
    let multi_region = req.multi_region == Some(true);
    let id = new_key_id(multi_region)?;
    let region = access.region().clone();
    let policy = key_policy(core, req, access, &id)?;
    let key = Key {
        id,
        account: access.account.clone(),
        region: region.clone(),
        created_ms: core.now_ms(),
        description: req.description.clone().unwrap_or_default(),
        key_type,
        origin: Origin::External,
        state: KeyState::PendingImport,
        deletion: None,
        policy,
        tags,
        current_version: None,
        external: None,
        rotation: Rotation::default(),
        primary_region: multi_region.then(|| region.clone()),
    };
    let _w = core.writes.lock().await;
    let revision = core
        .store
        .create_key_without_versions(&key)
        .await
        .map_err(store_error)?;
    let entry = crate::core::cache::cached_key(
        store::Versioned {
            record: key.clone(),
            revision,
        },
        &[],
        Vec::new(),
        &core.root,
        &core.config.partition,
    )?;
    core.cache.put_key(entry);
    Ok(CreateKeyResponse {
        key_metadata: Some(crate::core::metadata::metadata(core, &key)),
    })
}

pub(crate) fn describe_key(
    core: &Core,
    req: &DescribeKeyRequest,
    access: &Access<'_>,
) -> Result<DescribeKeyResponse, KmsError> {
    let key = core.resolve(&req.key_id, access)?;
    Ok(DescribeKeyResponse {
        key_metadata: Some(crate::core::metadata::metadata(core, &key.key)),
    })
}

pub(crate) async fn list_keys(
    core: &Core,
    req: &ListKeysRequest,
    access: &Access<'_>,
) -> Result<ListKeysResponse, KmsError> {
    let page = paging::store_page(
        req.limit,
        req.marker.as_deref(),
        PageLimits {
            default: 100,
            max: 1000,
        },
    )?;
    let found = core
        .store
        .list_keys(&access.account, access.region(), &page)
        .await
        .map_err(store_error)?;
    Ok(ListKeysResponse {
        keys: Some(
            found
                .items
                .iter()
                .map(|k| KeyListEntry {
                    key_id: Some(k.record.id.to_string()),
                    key_arn: Some(core.key_arn(&k.record)),
                })
                .collect(),
        ),
        truncated: Some(found.next.is_some()),
        next_marker: found.next.as_deref().map(paging::encode_marker),
    })
}

/// EnableKey and DisableKey.
pub(crate) async fn set_enabled(
    core: &Core,
    key_id: &str,
    access: &Access<'_>,
    enabled: bool,
) -> Result<EnableKeyResponse, KmsError> {
    let state = if enabled {
        KeyState::Enabled
    } else {
        KeyState::Disabled
    };
    core.mutate_key(key_id, access, |k| {
        k.state = state;
        Ok(())
    })
    .await?;
    Ok(EnableKeyResponse {})
}

pub(crate) async fn update_description(
    core: &Core,
    req: &UpdateKeyDescriptionRequest,
    access: &Access<'_>,
) -> Result<UpdateKeyDescriptionResponse, KmsError> {
    core.mutate_key(&req.key_id, access, |k| {
        k.description = req.description.clone();
        Ok(())
    })
    .await?;
    Ok(UpdateKeyDescriptionResponse {})
}

pub(crate) async fn schedule_deletion(
    core: &Core,
    req: &ScheduleKeyDeletionRequest,
    access: &Access<'_>,
) -> Result<ScheduleKeyDeletionResponse, KmsError> {
    let days = req.pending_window_in_days.unwrap_or(30);
    let window = u8::try_from(days).ok().filter(|d| (7..=30).contains(d));
    let Some(window_days) = window else {
        let bound = if days < 7 {
            "greater than or equal to 7"
        } else {
            "less than or equal to 30"
        };
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            format!("1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}"),
        ));
    };
    let at_ms = core
        .now_ms()
        .saturating_add(i64::from(window_days).saturating_mul(DAY_MS));
    // A multi-Region primary with replicas waits for them to be deleted first.
    let has_replicas = core
        .lookup(&req.key_id, access, crate::core::optable::Naming::KeyOnly)
        .is_ok_and(|k| {
            k.key.is_primary() && crate::core::replicas::members(core, &k.key).len() > 1
        });
    let key = core
        .mutate_key(&req.key_id, access, |k| {
            if has_replicas && k.is_primary() {
                k.state = KeyState::PendingReplicaDeletion;
                k.deletion = Some(Deletion {
                    at_ms: i64::MAX,
                    window_days,
                });
            } else {
                k.state = KeyState::PendingDeletion;
                k.deletion = Some(Deletion { at_ms, window_days });
            }
            Ok(())
        })
        .await?;
    let pending = key.key.state == KeyState::PendingDeletion;
    Ok(ScheduleKeyDeletionResponse {
        key_id: Some(key.arn.to_string()),
        deletion_date: pending.then(|| timestamp(at_ms)),
        key_state: Some(key.key.state),
        pending_window_in_days: Some(days),
    })
}

pub(crate) async fn cancel_deletion(
    core: &Core,
    req: &CancelKeyDeletionRequest,
    access: &Access<'_>,
) -> Result<CancelKeyDeletionResponse, KmsError> {
    // A key whose imported material is missing goes back to waiting for it.
    let awaiting_import = core
        .lookup(&req.key_id, access, crate::core::optable::Naming::KeyOnly)
        .is_ok_and(|k| {
            k.key.origin == Origin::External
                && !crate::core::imported::all_in_use_held(&k.imported, k.key.current_version)
        });
    let key = core
        .mutate_key(&req.key_id, access, |k| {
            k.state = if awaiting_import {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            k.deletion = None;
            Ok(())
        })
        .await?;
    Ok(CancelKeyDeletionResponse {
        key_id: Some(core.key_arn(&key.key)),
    })
}
