//! Keys with imported key material (Origin EXTERNAL): which of a key's materials are in use,
//! which awaits rotation, their ids, and writing a change of one of them through the store.
//!
//! A key's materials are its versions, oldest first: those up to the current one are in use
//! (a ciphertext may name any of them); one after it was imported as new material and awaits
//! `RotateKeyOnDemand`. A material that is deleted or expires keeps its version, without the
//! material, so that the same material can be imported again under the same id.

use std::sync::Arc;

use kms_api::KmsError;
use kms_model::{Key, KeyState, KeyVersion, VersionId};

use super::cache::{CachedKey, CachedVersion};
use super::material::Material;
use super::{replicas, store_error, Core};

/// The id of imported material: derived from the key id and the material (for a key pair, its
/// public key, so that another encoding of the same private key has the same id), as AWS
/// derives it. Every Region of a multi-Region key computes the same id.
pub(crate) fn material_id(key: &Key, material: &crypto::asymmetric::Material) -> VersionId {
    use aws_lc_rs::digest;
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"strongroom/imported-key-material/v1\0");
    ctx.update(key.id.as_str().as_bytes());
    ctx.update(b"\0");
    match material.public_key_der() {
        Some(public) => {
            ctx.update(b"public-key\0");
            ctx.update(public);
        }
        None => {
            ctx.update(b"secret\0");
            ctx.update(material.expose_storage());
        }
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(ctx.finish().as_ref());
    VersionId(id)
}

/// Where the current material is among a key's materials.
pub(crate) fn current_position(entry: &CachedKey) -> Option<usize> {
    let current = entry.key.current_version?;
    entry.imported.iter().position(|v| v.id == current)
}

/// The material imported as new material that awaits rotation, if any.
pub(crate) fn pending(entry: &CachedKey) -> Option<&KeyVersion> {
    let after = current_position(entry)?;
    entry.imported.get(after + 1..)?.first()
}

/// Whether every material in use holds its material: a key with imported material is usable
/// only then.
pub(crate) fn all_in_use_held(imported: &[KeyVersion], current: Option<VersionId>) -> bool {
    let Some(current) = current else {
        return false;
    };
    let Some(position) = imported.iter().position(|v| v.id == current) else {
        return false;
    };
    imported
        .iter()
        .take(position + 1)
        .all(KeyVersion::has_material)
}

/// The state of a key after material was imported into it: `Enabled` once every material in
/// use is back, from `PendingImport` and also from `Disabled` (as AWS does); otherwise as it was.
pub(crate) fn state_after_import(key: &Key, imported: &[KeyVersion]) -> KeyState {
    match key.state {
        KeyState::PendingImport | KeyState::Disabled
            if all_in_use_held(imported, key.current_version) =>
        {
            KeyState::Enabled
        }
        other => other,
    }
}

/// The state of a key after one of its materials was deleted or expired: `PendingImport` when
/// a material in use is gone (not when only material awaiting rotation is), except that a key
/// pending deletion stays so.
pub(crate) fn state_after_removal(key: &Key, imported: &[KeyVersion]) -> KeyState {
    match key.state {
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion | KeyState::Creating => {
            key.state
        }
        _ if !all_in_use_held(imported, key.current_version) => KeyState::PendingImport,
        other => other,
    }
}

/// How a version is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// A material the key has no version of yet.
    Add,
    /// A version the key has (material put back, deleted or expired).
    Replace,
}

/// Writes `record` with `version` added or replaced (store first, then cache); `material` is
/// the version's new material in memory (`None` keeps what the cache holds of it, if the
/// version still holds material). The caller holds the write lock and read `entry` under it.
pub(crate) async fn write_version(
    core: &Core,
    entry: &CachedKey,
    record: Key,
    version: KeyVersion,
    write: Write,
    material: Option<Material>,
) -> Result<Arc<CachedKey>, KmsError> {
    let revision = match write {
        Write::Add => {
            core.store
                .add_key_version(&record, entry.revision, &version)
                .await
        }
        Write::Replace => {
            core.store
                .replace_key_version(&record, entry.revision, &version)
                .await
        }
    }
    .map_err(store_error)?;
    let mut imported = entry.imported.as_ref().clone();
    match imported.iter_mut().find(|v| v.id == version.id) {
        Some(slot) => *slot = version.clone(),
        None => imported.push(version.clone()),
    }
    let mut fresh = material.map(|m| {
        Arc::new(CachedVersion {
            id: version.id,
            created_ms: version.created_ms,
            rotation: version.rotation,
            material: m,
        })
    });
    // The usable versions, in the materials' order: the written one new, the others as they were.
    let versions = imported
        .iter()
        .filter(|v| v.has_material())
        .filter_map(|v| {
            if v.id == version.id {
                fresh.take().or_else(|| entry.version(&v.id).cloned())
            } else {
                entry.version(&v.id).cloned()
            }
        })
        .collect();
    let updated = entry.with_imported(record, revision, imported, versions);
    let key_ref = updated.key_ref();
    core.cache.put_key(updated);
    core.cache
        .key(&key_ref)
        .ok_or_else(|| KmsError::internal("The key left the cache."))
}

/// The other Regions' records of a multi-Region key (none for a single-Region key).
pub(crate) fn other_members(core: &Core, key: &Key) -> Vec<Arc<CachedKey>> {
    if key.primary_region.is_none() {
        return Vec::new();
    }
    replicas::members(core, key)
        .into_iter()
        .filter(|k| k.key.region != key.region)
        .collect()
}
