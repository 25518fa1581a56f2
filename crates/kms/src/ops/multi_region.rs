//! Multi-Region keys: ReplicateKey and UpdatePrimaryRegion. A multi-Region key is one record
//! per Region under one `mrk-` id; replicas carry copies of the primary's versions (the same
//! material, the same version ids), so a ciphertext of one Region decrypts in another. Key
//! material and rotation settings are shared (the rotator and the rotation operations keep them
//! in step); description, policy, tags, aliases, grants and the enabled state are each key's own.

use kms_api::wire::{
    ReplicateKeyRequest, ReplicateKeyResponse, UpdatePrimaryRegionRequest,
    UpdatePrimaryRegionResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{Key, KeyRef, KeyState, KeyVersion, Origin, Region};
use store::StoreError;

use crate::core::{replicas, rules, store_error, Access, Core};

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

/// Copies of `versions` for the same key in another Region (the wrapping binds key id and
/// version id, not the Region, so the wrapped bytes are the same). Imported material is not
/// copied: it must be imported into each Region (its versions are, to be imported into).
fn versions_for(versions: &[KeyVersion], region: &Region, origin: Origin) -> Vec<KeyVersion> {
    versions
        .iter()
        .map(|v| {
            let mut copy = KeyVersion {
                region: region.clone(),
                ..v.clone()
            };
            if origin == Origin::External {
                copy.wrapped.clear();
                copy.expires_ms = None;
            }
            copy
        })
        .collect()
}

pub(crate) async fn replicate_key(
    core: &Core,
    req: &ReplicateKeyRequest,
    access: &Access<'_>,
) -> Result<ReplicateKeyResponse, KmsError> {
    no_alias(&req.key_id)?;
    let primary = core.resolve_for_op(&req.key_id, access)?;
    if !primary.key.is_primary() {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!("{} is not a multi-region primary key.", primary.arn),
        ));
    }
    let region =
        Region::parse(&req.replica_region).ok_or_else(|| not_a_region(&req.replica_region))?;
    if region == primary.key.region {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            format!("{region} cannot have a replica because it contains the primary."),
        ));
    }
    if !core.config.any_region && !core.config.regions.contains(&region) {
        return Err(not_a_region(region.as_str()));
    }
    // The replica is created in its Region: the caller needs kms:CreateKey there (IAM).
    core.authorize_without_key(&access.with_action("kms:CreateKey"))?;
    let tags = rules::checked_tags(req.tags.as_deref().unwrap_or_default(), Vec::new())?;
    let replica_arn = crate::core::arn::key_arn(
        &core.config.partition,
        &region,
        &primary.key.account,
        &primary.key.id,
    );
    let policy = match &req.policy {
        Some(p) => {
            let compiled = rules::checked_policy(p)?;
            if req.bypass_policy_lockout_safety_check != Some(true) {
                core.check_lockout(access, &compiled, &replica_arn)?;
            }
            p.clone()
        }
        None => rules::default_policy(&core.config.partition, &primary.key.account),
    };
    let _w = core.writes.lock().await;
    let replica_ref = KeyRef {
        region: region.clone(),
        id: primary.key.id.clone(),
    };
    if core.cache.key(&replica_ref).is_some() {
        return Err(KmsError::new(
            ErrorCode::AlreadyExistsException,
            "You can create only one replica of each primary key in each AWS Region.",
        ));
    }
    let bundle = core
        .store
        .get_key(&primary.key_ref())
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            core.not_found_key(
                &primary.key.region,
                &primary.key.account,
                primary.key.id.as_str(),
            )
        })?;
    let versions = versions_for(&bundle.versions, &region, primary.key.origin);
    let mut replica = Key {
        region: region.clone(),
        created_ms: core.now_ms(),
        description: req.description.clone().unwrap_or_default(),
        state: KeyState::Creating,
        deletion: None,
        policy,
        tags,
        ..primary.key.clone()
    };
    replica.rotation.on_demand_started_ms = None;
    let (first, rest) = versions
        .split_first()
        .ok_or_else(|| KmsError::internal("The primary key has no key material."))?;
    let mut revision = match core.store.create_key(&replica, first).await {
        Ok(r) => r,
        Err(StoreError::AlreadyExists) => {
            return Err(KmsError::new(
                ErrorCode::AlreadyExistsException,
                "You can create only one replica of each primary key in each AWS Region.",
            ))
        }
        Err(e) => return Err(store_error(e)),
    };
    for v in rest {
        revision = core
            .store
            .add_key_version(&replica, revision, v)
            .await
            .map_err(store_error)?;
    }
    let entry = crate::core::cache::cached_key(
        store::Versioned {
            record: replica.clone(),
            revision,
        },
        &versions,
        Vec::new(),
        &core.root,
        &core.config.partition,
    )?;
    core.cache.put_key(entry);
    let tags = (!replica.tags.is_empty()).then(|| {
        replica
            .tags
            .iter()
            .map(|t| kms_api::wire::Tag {
                tag_key: t.key.clone(),
                tag_value: t.value.clone(),
            })
            .collect()
    });
    Ok(ReplicateKeyResponse {
        replica_key_metadata: Some(crate::core::metadata::metadata(core, &replica)),
        replica_policy: Some(replica.policy.clone()),
        replica_tags: tags,
    })
}

fn not_a_region(region: &str) -> KmsError {
    KmsError::new(
        ErrorCode::ValidationException,
        format!("Region {region} is not a valid Region or multi-Region keys are not supported in Region {region}."),
    )
}

pub(crate) async fn update_primary_region(
    core: &Core,
    req: &UpdatePrimaryRegionRequest,
    access: &Access<'_>,
) -> Result<UpdatePrimaryRegionResponse, KmsError> {
    no_alias(&req.key_id)?;
    let primary = core.resolve(&req.key_id, access)?;
    if !primary.key.is_primary() {
        return Err(KmsError::new(
            ErrorCode::KmsInvalidStateException,
            format!("{} is not a multi-Region primary key.", primary.arn),
        ));
    }
    core.check_state(&primary, crate::core::states::StateRule::Enabled)?;
    if req.primary_region == primary.key.region.as_str() {
        return Ok(UpdatePrimaryRegionResponse {});
    }
    let not_there = || {
        KmsError::new(
            ErrorCode::ValidationException,
            format!(
                "{} does not have a replica key in the specified Region.",
                primary.key.id
            ),
        )
    };
    let new_region = Region::parse(&req.primary_region).ok_or_else(not_there)?;
    let target = core
        .cache
        .key(&KeyRef {
            region: new_region.clone(),
            id: primary.key.id.clone(),
        })
        .ok_or_else(not_there)?;
    core.authorize_key(access, &target, None)?;
    core.check_state(&target, crate::core::states::StateRule::Enabled)?;
    let _w = core.writes.lock().await;
    for member in replicas::members(core, &primary.key) {
        let mut record = member.key.clone();
        record.primary_region = Some(new_region.clone());
        replicas::write_record(core, &member, record).await?;
    }
    Ok(UpdatePrimaryRegionResponse {})
}
