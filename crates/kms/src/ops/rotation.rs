//! Rotation of the key material of symmetric keys in Strongroom's own key store:
//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations. New versions are made by the rotator (`jobs`): automatic rotation when a
//! key's `NextRotationDate` comes, and the on-demand rotations this module starts. Symmetric
//! keys with imported material rotate on demand only, to material imported as new beforehand.

use kms_api::wire::{
    DisableKeyRotationRequest, DisableKeyRotationResponse, EnableKeyRotationRequest,
    EnableKeyRotationResponse, ExpirationModel, GetKeyRotationStatusRequest,
    GetKeyRotationStatusResponse, ImportState, IncludeKeyMaterial, KeyMaterialState,
    ListKeyRotationsRequest, ListKeyRotationsResponse, RotateKeyOnDemandRequest,
    RotateKeyOnDemandResponse, RotationsListEntry,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{Key, KeyState, KeyType, KeyVersion, Origin, RotationType};

use crate::core::imported::{self, Write};
use crate::core::optable::Naming;
use crate::core::paging::{page, PageLimits};
use crate::core::states::StateRule;
use crate::core::{replicas, timestamp, Access, CachedKey, Core};

pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The rotation period when EnableKeyRotation names none.
const DEFAULT_PERIOD_DAYS: u16 = 365;

/// AWS's limit of on-demand rotations per key.
pub(crate) const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// An on-demand rotation is refused this close to an automatic one.
const AUTOMATIC_ROTATION_GUARD_MS: i64 = 20 * 60 * 1000;

/// Whether a key can rotate, with AWS's refusal when it cannot.
fn check_rotatable(core: &Core, key: &Key, op: &str) -> Result<(), KmsError> {
    if key.is_replica() {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!(
                "{} is a multi-region replica key which is not valid for {op}.",
                core.key_arn(key)
            ),
        ));
    }
    if key.key_type != KeyType::SYMMETRIC_DEFAULT {
        // AWS gives no message for this one.
        return Err(KmsError::new(ErrorCode::UnsupportedOperationException, ""));
    }
    if key.origin != Origin::AwsKms {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!(
                "{} origin is {} which is not valid for this operation.",
                core.key_arn(key),
                key.origin
            ),
        ));
    }
    Ok(())
}

/// Automatic rotation does not apply to keys with imported material: AWS refuses them before
/// it looks at their state (a key pending import gets the origin refusal too).
fn refuse_imported(core: &Core, key_id: &str, access: &Access<'_>) -> Result<(), KmsError> {
    if core
        .lookup(key_id, access, Naming::KeyOnly)
        .is_ok_and(|k| k.key.origin == Origin::External)
    {
        let key = core.resolve(key_id, access)?;
        check_rotatable(core, &key.key, access.op.name())?;
    }
    Ok(())
}

/// Aliases are not accepted by the rotation operations (their `KeyId` is a key id or ARN).
fn no_alias(key_id: &str) -> Result<(), KmsError> {
    let alias_arn = key_id.starts_with("arn:") && key_id.contains(":alias/");
    if key_id.starts_with("alias/") || alias_arn {
        return Err(KmsError::new(
            ErrorCode::InvalidArnException,
            "Key Aliases are not supported for this operation.",
        ));
    }
    Ok(())
}

pub(crate) async fn enable(
    core: &Core,
    req: &EnableKeyRotationRequest,
    access: &Access<'_>,
) -> Result<EnableKeyRotationResponse, KmsError> {
    no_alias(&req.key_id)?;
    refuse_imported(core, &req.key_id, access)?;
    let asked = req
        .rotation_period_in_days
        .map(|d| u16::try_from(d).unwrap_or(DEFAULT_PERIOD_DAYS));
    let now = core.now_ms();
    let key = core
        .mutate_key(&req.key_id, access, |k| {
            check_rotatable(core, k, access.op.name())?;
            let period = match (k.rotation.period_days, asked) {
                // Enabled already: the same period, or none, changes nothing.
                (Some(current), None) => current,
                (Some(current), Some(p)) if p == current => current,
                (_, Some(p)) => p,
                (None, None) => DEFAULT_PERIOD_DAYS,
            };
            if k.rotation.period_days != Some(period) {
                k.rotation.period_days = Some(period);
                k.rotation.next_ms = Some(now.saturating_add(i64::from(period) * DAY_MS));
            }
            Ok(())
        })
        .await?;
    replicas::sync_rotation(core, &key).await?;
    Ok(EnableKeyRotationResponse {})
}

pub(crate) async fn disable(
    core: &Core,
    req: &DisableKeyRotationRequest,
    access: &Access<'_>,
) -> Result<DisableKeyRotationResponse, KmsError> {
    no_alias(&req.key_id)?;
    refuse_imported(core, &req.key_id, access)?;
    let key = core
        .mutate_key(&req.key_id, access, |k| {
            check_rotatable(core, k, access.op.name())?;
            k.rotation.period_days = None;
            k.rotation.next_ms = None;
            Ok(())
        })
        .await?;
    replicas::sync_rotation(core, &key).await?;
    Ok(DisableKeyRotationResponse {})
}

pub(crate) fn status(
    core: &Core,
    req: &GetKeyRotationStatusRequest,
    access: &Access<'_>,
) -> Result<GetKeyRotationStatusResponse, KmsError> {
    no_alias(&req.key_id)?;
    let key = core.resolve(&req.key_id, access)?;
    let k = &key.key;
    // While a key is pending deletion its rotation reads as off; cancelling brings it back.
    let on = k
        .rotation
        .period_days
        .filter(|_| k.state != KeyState::PendingDeletion);
    Ok(GetKeyRotationStatusResponse {
        key_id: Some(core.key_arn(k)),
        key_rotation_enabled: Some(on.is_some()),
        rotation_period_in_days: on.map(i32::from),
        next_rotation_date: on.and(k.rotation.next_ms).map(timestamp),
        on_demand_rotation_start_date: k.rotation.on_demand_started_ms.map(timestamp),
    })
}

pub(crate) async fn rotate_on_demand(
    core: &Core,
    req: &RotateKeyOnDemandRequest,
    access: &Access<'_>,
) -> Result<RotateKeyOnDemandResponse, KmsError> {
    no_alias(&req.key_id)?;
    if core
        .lookup(&req.key_id, access, Naming::KeyOnly)
        .is_ok_and(|k| k.key.origin == Origin::External)
    {
        return rotate_imported(core, req, access).await;
    }
    let now = core.now_ms();
    // The limit counts completed on-demand rotations (the refusals of the key itself come
    // first; a key that cannot be found is answered by `mutate_key`).
    let done = core
        .lookup(&req.key_id, access, crate::core::optable::Naming::KeyOnly)
        .map(|k| {
            k.versions
                .iter()
                .filter(|v| v.rotation == Some(RotationType::OnDemand))
                .count()
        })
        .unwrap_or(0);
    let key = core
        .mutate_key(&req.key_id, access, |k| {
            check_rotatable(core, k, access.op.name())?;
            if k
                .rotation
                .next_ms
                .filter(|_| k.rotation.period_days.is_some())
                .is_some_and(|next| next.saturating_sub(now) < AUTOMATIC_ROTATION_GUARD_MS)
            {
                return Err(KmsError::new(
                    ErrorCode::ConflictException,
                    "The request was rejected because an automatic rotation of this key is currently in progress or scheduled to begin within the next 20 minutes.",
                ));
            }
            if done >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsError::new(
                    ErrorCode::LimitExceededException,
                    format!(
                        "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                        core.key_arn(k)
                    ),
                ));
            }
            // A rotation already in progress takes this request too.
            if k.rotation.on_demand_started_ms.is_none() {
                k.rotation.on_demand_started_ms = Some(now);
            }
            Ok(())
        })
        .await?;
    Ok(RotateKeyOnDemandResponse {
        key_id: Some(core.key_arn(&key.key)),
    })
}

/// RotateKeyOnDemand of a key with imported material: the material imported as new becomes
/// current, at once, in every Region of a multi-Region key (each must hold it).
async fn rotate_imported(
    core: &Core,
    req: &RotateKeyOnDemandRequest,
    access: &Access<'_>,
) -> Result<RotateKeyOnDemandResponse, KmsError> {
    let key = core.resolve_for_op(&req.key_id, access)?;
    if key.key.is_replica() {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!(
                "{} is a multi-region replica key which is not valid for {}.",
                key.arn,
                access.op.name()
            ),
        ));
    }
    if key.key.key_type != KeyType::SYMMETRIC_DEFAULT {
        return Err(KmsError::new(ErrorCode::UnsupportedOperationException, ""));
    }
    let _w = core.writes.lock().await;
    let entry = core.cache.key(&key.key_ref()).ok_or_else(|| {
        core.not_found_key(&key.key.region, &key.key.account, key.key.id.as_str())
    })?;
    core.check_state(&entry, StateRule::Enabled)?;
    let pending = imported::pending(&entry).cloned().ok_or_else(|| {
        KmsError::new(
            ErrorCode::KmsInvalidStateException,
            format!(
                "No available key material pending rotation for the key: {}.",
                entry.arn
            ),
        )
    })?;
    let done = entry
        .imported
        .iter()
        .filter(|v| v.rotation == Some(RotationType::OnDemand))
        .count();
    if done >= MAX_ON_DEMAND_ROTATIONS {
        return Err(KmsError::new(
            ErrorCode::LimitExceededException,
            format!(
                "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                entry.arn
            ),
        ));
    }
    let replicas = imported::other_members(core, &entry.key);
    let held = |m: &CachedKey| {
        m.imported
            .iter()
            .any(|v| v.id == pending.id && v.has_material())
    };
    if !replicas.iter().all(|m| held(m)) {
        return Err(KmsError::new(
            ErrorCode::KmsInvalidStateException,
            "Cannot perform key material rotation: Key material has not been imported for replicas of the Multi-Region key.",
        ));
    }
    let now = core.now_ms();
    for member in std::iter::once(entry).chain(replicas) {
        let Some(version) = member.imported.iter().find(|v| v.id == pending.id) else {
            continue;
        };
        let version = KeyVersion {
            created_ms: now,
            rotation: Some(RotationType::OnDemand),
            ..version.clone()
        };
        let mut record = member.key.clone();
        record.current_version = Some(version.id);
        let mut after = member.imported.as_ref().clone();
        if let Some(slot) = after.iter_mut().find(|v| v.id == version.id) {
            *slot = version.clone();
        }
        record.state = imported::state_after_removal(&record, &after);
        imported::write_version(core, &member, record, version, Write::Replace, None).await?;
    }
    tracing::info!(key_id = %key.key.id, rotation = %RotationType::OnDemand, "rotated in imported key material");
    Ok(RotateKeyOnDemandResponse {
        key_id: Some(key.arn.to_string()),
    })
}

/// ListKeyRotations' entry of each imported material of `key` (all of them, or only those
/// rotated in).
fn imported_entries(core: &Core, key: &CachedKey, all: bool) -> Vec<(String, RotationsListEntry)> {
    let current = imported::current_position(key);
    let members = imported::other_members(core, &key.key);
    key.imported
        .iter()
        .enumerate()
        .filter(|(_, v)| all || v.rotation.is_some())
        .map(|(i, v)| {
            let state = match current {
                Some(c) if i == c => KeyMaterialState::Current,
                Some(c) if i < c => KeyMaterialState::NonCurrent,
                _ => {
                    let everywhere = v.has_material()
                        && members
                            .iter()
                            .all(|m| m.imported.iter().any(|o| o.id == v.id && o.has_material()));
                    if members.is_empty() || everywhere {
                        KeyMaterialState::PendingRotation
                    } else {
                        KeyMaterialState::PendingMultiRegionImportAndRotation
                    }
                }
            };
            let held = v.has_material();
            let entry = RotationsListEntry {
                key_id: Some(key.arn.to_string()),
                key_material_id: Some(v.id.to_hex()),
                key_material_description: v.description.clone(),
                key_material_state: Some(state),
                import_state: Some(if held {
                    ImportState::Imported
                } else {
                    ImportState::PendingImport
                }),
                expiration_model: held.then_some(if v.expires_ms.is_some() {
                    ExpirationModel::KeyMaterialExpires
                } else {
                    ExpirationModel::KeyMaterialDoesNotExpire
                }),
                valid_to: v.expires_ms.filter(|_| held).map(timestamp),
                rotation_date: v.rotation.map(|_| timestamp(v.created_ms)),
                rotation_type: v.rotation,
            };
            (format!("{i:010}"), entry)
        })
        .collect()
}

pub(crate) fn list(
    core: &Core,
    req: &ListKeyRotationsRequest,
    access: &Access<'_>,
) -> Result<ListKeyRotationsResponse, KmsError> {
    no_alias(&req.key_id)?;
    let key = core.resolve(&req.key_id, access)?;
    let all = req.include_key_material == Some(IncludeKeyMaterial::AllKeyMaterial);
    if all && key.key.key_type != KeyType::SYMMETRIC_DEFAULT {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "Input parameter includeKeyMaterial can only be used with symmetric keys.",
        ));
    }
    let arn = core.key_arn(&key.key);
    let own = key.key.external.is_none() && key.key.origin == Origin::AwsKms;
    let entries: Vec<(String, RotationsListEntry)> = if key.key.origin == Origin::External {
        imported_entries(core, &key, all)
    } else {
        key.versions
            .iter()
            .enumerate()
            .filter(|(_, v)| own && (all || v.rotation.is_some()))
            .map(|(i, v)| {
                let current = Some(v.id) == key.key.current_version;
                let entry = RotationsListEntry {
                    key_id: Some(arn.clone()),
                    key_material_id: Some(v.id.to_hex()),
                    key_material_state: Some(if current {
                        KeyMaterialState::Current
                    } else {
                        KeyMaterialState::NonCurrent
                    }),
                    rotation_date: v.rotation.map(|_| timestamp(v.created_ms)),
                    rotation_type: v.rotation,
                    ..RotationsListEntry::default()
                };
                (format!("{i:010}"), entry)
            })
            .collect()
    };
    let p = page(
        entries,
        |(sort, _)| sort.clone(),
        req.limit,
        req.marker.as_deref(),
        PageLimits {
            default: 100,
            max: 1000,
        },
    )?;
    Ok(ListKeyRotationsResponse {
        rotations: Some(p.items.into_iter().map(|(_, e)| e).collect()),
        next_marker: p.next_marker,
        truncated: Some(p.truncated),
    })
}
