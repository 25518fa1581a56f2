//! DescribeKey's view of a key (also in CreateKey's and ReplicateKey's answers).

use kms_api::wire::{CustomerMasterKeySpec, ExpirationModel, KeyMetadata, XksKeyConfiguration};
use kms_model::{Key, KeyRef, KeyState, KeyType, Origin};

use super::{timestamp, Core};

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// DescribeKey's view of a key.
pub(crate) fn metadata(core: &Core, key: &Key) -> KeyMetadata {
    let state = core.visible_state(key);
    let t = key.key_type;
    let expiry = imported_expiry(core, key);
    KeyMetadata {
        aws_account_id: Some(key.account.to_string()),
        key_id: key.id.to_string(),
        arn: Some(core.key_arn(key)),
        creation_date: Some(timestamp(key.created_ms)),
        enabled: Some(state == KeyState::Enabled),
        description: Some(key.description.clone()),
        key_usage: Some(key.usage()),
        key_state: Some(state),
        pending_deletion_window_in_days: key
            .deletion
            .filter(|_| key.state == KeyState::PendingReplicaDeletion)
            .map(|d| i32::from(d.window_days)),
        deletion_date: key
            .deletion
            .filter(|_| key.state == KeyState::PendingDeletion)
            .map(|d| timestamp(d.at_ms)),
        origin: Some(key.origin),
        custom_key_store_id: key.external.as_ref().map(|e| e.store.to_string()),
        key_manager: Some(key.manager()),
        customer_master_key_spec: CustomerMasterKeySpec::from_wire(key.spec().as_str()),
        key_spec: Some(key.spec()),
        encryption_algorithms: non_empty(t.encryption_algorithms().to_vec()),
        signing_algorithms: non_empty(t.signing_algorithms().to_vec()),
        mac_algorithms: non_empty(t.mac_algorithms().to_vec()),
        key_agreement_algorithms: non_empty(t.key_agreement_algorithms().to_vec()),
        encapsulation_algorithms: non_empty(t.encapsulation_algorithms().to_vec()),
        multi_region: Some(key.id.is_multi_region()),
        // Only symmetric keys show their material's id (imported ones from their first import).
        current_key_material_id: key
            .current_version
            .filter(|_| key.external.is_none() && key.key_type == KeyType::SYMMETRIC_DEFAULT)
            .map(|v| v.to_hex()),
        xks_key_configuration: key.external.as_ref().map(|e| XksKeyConfiguration {
            id: Some(e.xks_key_id.clone()),
        }),
        multi_region_configuration: super::replicas::configuration(core, key),
        expiration_model: expiry.map(|e| e.0),
        valid_to: expiry.and_then(|e| e.1).map(timestamp),
        ..KeyMetadata::default()
    }
}

/// `ExpirationModel` and `ValidTo` of a key with imported material: the current material's
/// model, while it is held; `ValidTo` is when the first of the key's materials in use expires.
fn imported_expiry(core: &Core, key: &Key) -> Option<(ExpirationModel, Option<i64>)> {
    if key.origin != Origin::External {
        return None;
    }
    let entry = core.cache.key(&KeyRef {
        region: key.region.clone(),
        id: key.id.clone(),
    })?;
    let current_id = key.current_version?;
    let position = entry.imported.iter().position(|v| v.id == current_id)?;
    let current = entry.imported.get(position)?;
    if !current.has_material() {
        return None;
    }
    if current.expires_ms.is_none() {
        return Some((ExpirationModel::KeyMaterialDoesNotExpire, None));
    }
    // Materials up to the current one are in use (later ones await rotation).
    let first = entry
        .imported
        .iter()
        .take(position + 1)
        .filter_map(|v| v.expires_ms)
        .min();
    Some((ExpirationModel::KeyMaterialExpires, first))
}
