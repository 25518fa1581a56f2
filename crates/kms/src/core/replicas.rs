//! The members of a multi-Region key (one record per Region under one `mrk-` id) and keeping
//! what they share in step: key material (the rotator gives every replica the primary's new
//! version) and rotation settings.

use std::sync::Arc;

use kms_api::wire::{MultiRegionConfiguration, MultiRegionKey, MultiRegionKeyType};
use kms_api::KmsError;
use kms_model::{Key, KeyVersion, Revision};

use super::cache::{CachedKey, CachedVersion};
use super::{material, store_error, Core};

/// Every Region's record of a multi-Region key (the primary and its replicas), by Region.
pub(crate) fn members(core: &Core, key: &Key) -> Vec<Arc<CachedKey>> {
    let mut all = core
        .cache
        .keys_where(|k| k.key.id == key.id && k.key.account == key.account);
    all.sort_by(|a, b| a.key.region.cmp(&b.key.region));
    all
}

/// DescribeKey's `MultiRegionConfiguration` of a multi-Region key.
pub(crate) fn configuration(core: &Core, key: &Key) -> Option<MultiRegionConfiguration> {
    let primary_region = key.primary_region.as_ref()?;
    let all = members(core, key);
    let entry = |k: &CachedKey| MultiRegionKey {
        arn: Some(k.arn.to_string()),
        region: Some(k.key.region.to_string()),
    };
    Some(MultiRegionConfiguration {
        multi_region_key_type: Some(if key.is_primary() {
            MultiRegionKeyType::Primary
        } else {
            MultiRegionKeyType::Replica
        }),
        primary_key: all
            .iter()
            .find(|k| k.key.region == *primary_region)
            .map(|k| entry(k)),
        replica_keys: Some(
            all.iter()
                .filter(|k| k.key.region != *primary_region)
                .map(|k| entry(k))
                .collect(),
        ),
    })
}

/// Writes a member's changed record (compare-and-swap on the revision the cache holds).
pub(crate) async fn write_record(
    core: &Core,
    member: &CachedKey,
    record: Key,
) -> Result<Revision, KmsError> {
    let revision = core
        .store
        .update_key(&record, member.revision)
        .await
        .map_err(store_error)?;
    core.cache.put_key(member.with_record(record, revision));
    Ok(revision)
}

/// Copies a primary's rotation settings to its replicas (they share them).
pub(crate) async fn sync_rotation(core: &Core, primary: &CachedKey) -> Result<(), KmsError> {
    if !primary.key.is_primary() {
        return Ok(());
    }
    for replica in members(core, &primary.key)
        .into_iter()
        .filter(|k| k.key.region != primary.key.region)
    {
        let mut record = replica.key.clone();
        record.rotation.period_days = primary.key.rotation.period_days;
        record.rotation.next_ms = primary.key.rotation.next_ms;
        if record != replica.key {
            write_record(core, &replica, record).await?;
        }
    }
    Ok(())
}

/// Gives every replica of `primary` the version it just got (rotation).
pub(crate) async fn replicate_version(
    core: &Core,
    primary: &Key,
    version: &KeyVersion,
) -> Result<(), KmsError> {
    if !primary.is_primary() {
        return Ok(());
    }
    for replica in members(core, primary)
        .into_iter()
        .filter(|k| k.key.region != primary.region)
    {
        let mut record = replica.key.clone();
        record.current_version = Some(version.id);
        let copy = KeyVersion {
            region: record.region.clone(),
            ..version.clone()
        };
        let revision = core
            .store
            .add_key_version(&record, replica.revision, &copy)
            .await
            .map_err(store_error)?;
        let cached = CachedVersion {
            id: copy.id,
            created_ms: copy.created_ms,
            rotation: copy.rotation,
            material: material::unwrap(&core.root, &copy)?,
        };
        core.cache.update_key_to(&replica.key_ref(), revision, |k| {
            k.with_version(record.clone(), revision, cached)
        });
    }
    Ok(())
}
