//! Background jobs: the deletion sweep (which also expires imported key material), the rotator
//! and the external key stores' health check.
//! Each change they make is a compare-and-swap on the record's revision, so several processes
//! running them on one database do each change at most once.

use std::collections::HashMap;
use std::sync::Arc;

use kms_api::KmsError;
use kms_model::{ConnectionState, KeyState, KeyVersion, RotationType};
use store::{Entity, StoreError};

use crate::core::cache::{CachedKey, CachedVersion};
use crate::core::imported::{self, Write};
use crate::core::stores::{HealthFigures, StoreEntry};
use crate::core::{material, new_request_id, replicas, store_error, Core};
use crate::external::RequestMetadata;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A multi-Region primary waiting for its replicas' deletion starts its own waiting period
/// once the last replica is gone.
async fn start_primary_deletions(core: &Core) -> Result<(), KmsError> {
    let now = core.now_ms();
    for k in core
        .cache
        .keys_where(|k| k.key.state == KeyState::PendingReplicaDeletion)
    {
        if replicas::members(core, &k.key).len() > 1 {
            continue;
        }
        let _w = core.writes.lock().await;
        let Some(current) = core.cache.key(&k.key_ref()) else {
            continue;
        };
        let mut record = current.key.clone();
        let window = record.deletion.map_or(30, |d| d.window_days);
        record.state = KeyState::PendingDeletion;
        record.deletion = Some(kms_model::Deletion {
            at_ms: now.saturating_add(i64::from(window) * DAY_MS),
            window_days: window,
        });
        replicas::write_record(core, &current, record).await?;
    }
    Ok(())
}

/// Deletes every key whose deletion window has ended, with its versions, grants and aliases.
pub(crate) async fn sweep_deletions(core: &Core) -> Result<usize, KmsError> {
    let now = core.now_ms();
    let due = |k: &CachedKey| {
        k.key.state == KeyState::PendingDeletion && k.key.deletion.is_some_and(|d| d.at_ms <= now)
    };
    let mut deleted = 0;
    for candidate in core.cache.keys_where(due) {
        let _w = core.writes.lock().await;
        let key_ref = candidate.key_ref();
        // Re-check under the write lock: CancelKeyDeletion may have won the race.
        let Some(current) = core.cache.key(&key_ref).filter(|k| due(k)) else {
            continue;
        };
        match core.store.delete_key(&key_ref, current.revision).await {
            Ok(()) => {
                core.cache.remove_key(&key_ref);
                deleted += 1;
                tracing::info!(key_id = %key_ref.id, "deleted key at the end of its deletion window");
            }
            // Another process changed or deleted it: take its view.
            Err(StoreError::Conflict | StoreError::NotFound) => {
                core.refresh_key(&key_ref).await?;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    start_primary_deletions(core).await?;
    expire_imported_material(core).await?;
    Ok(deleted)
}

/// Deletes imported key material whose `ValidTo` has come: the key awaits a re-import
/// (PendingImport) when the material was in use. Each Region of a multi-Region key has its own
/// expiry. Returns how many materials expired.
pub(crate) async fn expire_imported_material(core: &Core) -> Result<usize, KmsError> {
    let now = core.now_ms();
    let due = |v: &KeyVersion| v.has_material() && v.expires_ms.is_some_and(|t| t <= now);
    let mut expired = 0;
    for candidate in core.cache.keys_where(|k| k.imported.iter().any(due)) {
        let _w = core.writes.lock().await;
        let key_ref = candidate.key_ref();
        // One material at a time, each write on the entry the last one left.
        while let Some(current) = core.cache.key(&key_ref) {
            let Some(version) = current.imported.iter().find(|v| due(v)) else {
                break;
            };
            let version = KeyVersion {
                wrapped: Vec::new(),
                expires_ms: None,
                ..version.clone()
            };
            let mut after = current.imported.as_ref().clone();
            if let Some(slot) = after.iter_mut().find(|v| v.id == version.id) {
                *slot = version.clone();
            }
            let mut record = current.key.clone();
            record.state = imported::state_after_removal(&record, &after);
            let id = version.id;
            match imported::write_version(core, &current, record, version, Write::Replace, None)
                .await
            {
                Ok(_) => {
                    expired += 1;
                    tracing::info!(key_id = %key_ref.id, region = %key_ref.region, material = %id.to_hex(), "imported key material expired");
                }
                Err(e) => {
                    // Another process changed the key: take its view and try again next round.
                    tracing::warn!(key_id = %key_ref.id, error = %e, "imported key material not expired yet");
                    core.refresh_key(&key_ref).await?;
                    break;
                }
            }
        }
    }
    Ok(expired)
}

/// What a key's rotation needs now, if anything.
fn rotation_due(k: &CachedKey, now: i64) -> Option<RotationType> {
    if k.key.is_replica() {
        // Replicas take the primary's versions; they never rotate on their own.
        return None;
    }
    if k.key.rotation.on_demand_started_ms.is_some() {
        // A started on-demand rotation completes whatever the key's state became.
        return Some(RotationType::OnDemand);
    }
    let automatic = k.key.state == KeyState::Enabled
        && k.key.rotation.period_days.is_some()
        && k.key.rotation.next_ms.is_some_and(|n| n <= now);
    automatic.then_some(RotationType::Automatic)
}

/// Replicas being created become usable (their material was copied when they were made).
async fn finish_creating(core: &Core) -> Result<(), KmsError> {
    for k in core.cache.keys_where(|k| k.key.state == KeyState::Creating) {
        let _w = core.writes.lock().await;
        let Some(current) = core.cache.key(&k.key_ref()) else {
            continue;
        };
        if current.key.state != KeyState::Creating {
            continue;
        }
        let mut record = current.key.clone();
        // A replica of a key with imported material has none until it is imported there.
        record.state = KeyState::Enabled;
        if record.origin == kms_model::Origin::External {
            record.state = imported::state_after_removal(&record, &current.imported);
        }
        match replicas::write_record(core, &current, record).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(key_id = %current.key.id, error = %e, "replica not finished"),
        }
    }
    Ok(())
}

/// Rotates every key whose automatic rotation is due and completes started on-demand rotations;
/// finishes replicas being created.
pub(crate) async fn rotate_due_keys(core: &Core) -> Result<usize, KmsError> {
    finish_creating(core).await?;
    let now = core.now_ms();
    let mut rotated = 0;
    for candidate in core.cache.keys_where(|k| rotation_due(k, now).is_some()) {
        let _w = core.writes.lock().await;
        let key_ref = candidate.key_ref();
        let Some(current) = core.cache.key(&key_ref) else {
            continue;
        };
        let Some(kind) = rotation_due(&current, now) else {
            continue;
        };
        let (version_id, wrapped, prepared) = material::generate_aes(&core.root, &current.key.id)?;
        let mut key = current.key.clone();
        key.current_version = Some(version_id);
        match kind {
            RotationType::OnDemand => key.rotation.on_demand_started_ms = None,
            RotationType::Automatic => {
                let period = i64::from(key.rotation.period_days.unwrap_or(365)) * DAY_MS;
                let next = key.rotation.next_ms.unwrap_or(now).saturating_add(period);
                // A key that missed rotations (disabled, or the clock jumped) rotates once now
                // and then keeps the period from now.
                key.rotation.next_ms = Some(if next <= now {
                    now.saturating_add(period)
                } else {
                    next
                });
            }
        }
        let version = KeyVersion {
            key: key.id.clone(),
            region: key.region.clone(),
            id: version_id,
            kind: key.key_type.material(),
            created_ms: now,
            expires_ms: None,
            rotation: Some(kind),
            wrapped,
            description: None,
        };
        match core
            .store
            .add_key_version(&key, current.revision, &version)
            .await
        {
            Ok(revision) => {
                let cached = CachedVersion {
                    id: version_id,
                    created_ms: now,
                    rotation: Some(kind),
                    material: prepared,
                };
                core.cache.update_key_to(&key_ref, revision, |k| {
                    k.with_version(key.clone(), revision, cached)
                });
                replicas::replicate_version(core, &key, &version).await?;
                rotated += 1;
                tracing::info!(key_id = %key.id, rotation = %kind, "rotated key material");
            }
            // Another rotator (or another write) came first: take its view, rotate no more.
            Err(StoreError::Conflict | StoreError::NotFound) => {
                core.refresh_key(&key_ref).await?;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(rotated)
}

/// How many changes one read of the change feed takes.
const FEED_BATCH: usize = 1000;

/// Brings the cache up to date with the store's change feed (changes made by other processes;
/// this process's own changes are in the cache already and apply again harmlessly). Returns how
/// many changes were applied.
pub(crate) async fn follow_changes(core: &Core) -> Result<usize, KmsError> {
    let _one_reader = core.following.lock().await;
    let mut applied = 0;
    loop {
        let from = core.feed_position.load(std::sync::atomic::Ordering::SeqCst);
        let batch = match core.store.changes_since(from, FEED_BATCH).await {
            Ok(batch) => batch,
            // Too far behind (the changes were pruned) or on another database: start over
            // from a full snapshot.
            Err(StoreError::ResyncNeeded(at)) => {
                tracing::warn!(position = at, "change feed lost; reloading everything");
                let _w = core.writes.lock().await;
                let snapshot = core.store.load().await.map_err(store_error)?;
                return crate::cluster::replace_all(core, snapshot);
            }
            Err(e) => return Err(store_error(e)),
        };
        for change in &batch.changes {
            // Under the write lock: a reload that read the store before one of this node's
            // writes committed must not land after that write's cache update and undo it.
            let _w = core.writes.lock().await;
            match &change.entity {
                Entity::Key(key) | Entity::Grant { key, .. } => {
                    core.refresh_key(key).await?;
                }
                Entity::Alias {
                    account,
                    region,
                    name,
                } => match core
                    .store
                    .get_alias(account, region, name)
                    .await
                    .map_err(store_error)?
                {
                    Some(a) => core.cache.put_alias(a),
                    None => core.cache.remove_alias(account, region, name),
                },
                Entity::CustomKeyStore(id) => {
                    match core
                        .store
                        .get_custom_key_store(id)
                        .await
                        .map_err(store_error)?
                    {
                        Some(s) => {
                            let entry = core.store_entry_for(s)?;
                            core.stores.put(entry);
                        }
                        None => core.stores.remove(id),
                    }
                }
            }
            applied += 1;
        }
        core.feed_position
            .fetch_max(batch.next_position, std::sync::atomic::Ordering::SeqCst);
        if batch.changes.len() < FEED_BATCH {
            return Ok(applied);
        }
    }
}

/// The periodic `KmsHealthCheck` of every connected store: it feeds the stores' health figures
/// and never changes a connection state (AWS does not either).
pub(crate) async fn health_check_stores(core: &Core) -> Result<usize, KmsError> {
    let connected: Vec<Arc<StoreEntry>> = core
        .stores
        .matching(|s| s.record.connection_state == ConnectionState::Connected);
    for entry in &connected {
        let meta = RequestMetadata {
            kms_operation: Some("KmsHealthCheck".to_string()),
            kms_request_id: Some(new_request_id()),
            ..RequestMetadata::default()
        };
        let started = std::time::Instant::now();
        let answer = core.xks.health(&entry.target, meta).await;
        core.metrics.proxy_call(
            &entry.record.id,
            "KmsHealthCheck",
            crate::metrics::XksOperation::GetHealthStatus,
            started.elapsed(),
            answer.as_ref().err(),
        );
        let outcome = match answer {
            Ok(h) => {
                let mut by_state: HashMap<String, usize> = HashMap::new();
                for d in h.ekm_fleet_details {
                    *by_state.entry(d.health_status).or_default() += 1;
                }
                Ok(by_state)
            }
            Err(e) => {
                tracing::warn!(store = %entry.record.id, error = %e, "KmsHealthCheck failed");
                Err(e.to_string())
            }
        };
        let figures = HealthFigures {
            checked_ms: core.now_ms(),
            outcome,
        };
        if let Some(current) = core.stores.get(&entry.record.id) {
            core.stores.put(StoreEntry {
                record: current.record.clone(),
                revision: current.revision,
                target: current.target.clone(),
                limiter: Arc::clone(&current.limiter),
                last_health: Some(figures),
            });
        }
    }
    Ok(connected.len())
}
