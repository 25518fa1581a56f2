//! Rotation of the key material of symmetric keys in Strongroom's own key store:
//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations. New versions are made by the rotator (`jobs`): automatic rotation when a
//! key's `NextRotationDate` comes, and the on-demand rotations this module starts.

use kms_api::wire::{
    DisableKeyRotationRequest, DisableKeyRotationResponse, EnableKeyRotationRequest,
    EnableKeyRotationResponse, GetKeyRotationStatusRequest, GetKeyRotationStatusResponse,
    IncludeKeyMaterial, KeyMaterialState, ListKeyRotationsRequest, ListKeyRotationsResponse,
    RotateKeyOnDemandRequest, RotateKeyOnDemandResponse, RotationsListEntry,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{Key, KeyState, KeyType, Origin, RotationType};

use crate::core::paging::{page, PageLimits};
use crate::core::{replicas, timestamp, Access, Core};

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
    let entries: Vec<(String, RotationsListEntry)> = key
        .versions
        .iter()
        .enumerate()
        .filter(|(_, v)| own && (all || v.rotation.is_some()))
        .map(|(i, v)| {
            let current = v.id == key.key.current_version;
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
        .collect();
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
