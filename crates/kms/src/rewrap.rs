//! Moving a deployment from one root key to another (`strongroom root-key rewrap`): every
//! record sealed under the previous root key is sealed again under the current one and written
//! back with compare-and-swap, through the [`Store`] trait (SQLite and PostgreSQL alike).
//!
//! What a root key seals in the store: the material of every key version (AES keys wrapped,
//! other kinds sealed) and the proxy credential of every external key store. Import tokens are
//! sealed too, but never stored: one handed out before the move opens while the previous root
//! key is still configured, and they expire within a day anyway.
//!
//! Safe to run again after a crash, or beside serving nodes: a record is read, moved only
//! when the current root key does not open it already, and written only if it did not change
//! meanwhile (else it is read again). Nodes configured with both root keys read records sealed
//! by either, so they keep serving during the move.

use std::fmt;

use crypto::{Resealed, RootKey};
use kms_model::{CustomKeyStore, KeyRef, KeyVersion};
use store::{KeyBundle, Store, StoreError, Versioned};

use crate::core::material::wrap_context;
use crate::core::stores::secret_context;

/// How often a record that keeps changing under the rewrap is read again before giving up.
const ATTEMPTS: usize = 20;

/// What a rewrap did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Key versions sealed again under the current root key.
    pub versions_moved: usize,
    /// Key versions the current root key sealed already.
    pub versions_current: usize,
    /// External key store credentials sealed again.
    pub secrets_moved: usize,
    /// External key store credentials the current root key sealed already.
    pub secrets_current: usize,
    /// Records neither root key opens (damaged, or sealed by a third key), by name. The rest
    /// were moved; the deployment cannot drop the previous root key while any remain.
    pub unreadable: Vec<String>,
    /// The run stopped at its limit of records to move, before looking at every record.
    pub stopped_at_limit: bool,
}

impl RewrapReport {
    fn moved(&self) -> usize {
        self.versions_moved + self.secrets_moved
    }
}

impl fmt::Display for RewrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} key version(s) moved, {} already under the current root key; {} external key \
             store credential(s) moved, {} already under it; {} unreadable",
            self.versions_moved,
            self.versions_current,
            self.secrets_moved,
            self.secrets_current,
            self.unreadable.len()
        )?;
        if self.stopped_at_limit {
            f.write_str(" (stopped at the limit: run it again to move the rest)")?;
        }
        Ok(())
    }
}

/// Why a rewrap stopped.
#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    /// The root key has no previous root key: there is nothing to move from.
    #[error(
        "the root key has no previous root key to move from (configure it as [root_key.previous])"
    )]
    NoPrevious,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A root key could not be used (an HSM that cannot be reached), or sealing failed.
    #[error("{0}")]
    Root(crypto::CryptoError),
    /// A record kept changing under the rewrap.
    #[error("{0} kept changing during the rewrap; run it again")]
    Busy(String),
}

/// Seals every record sealed by `root`'s previous root key under `root`, as the module docs say;
/// with a `limit`, stops once it has moved that many (the rest move at the next run: a way to
/// spread the work on the HSM over time).
pub async fn rewrap_root_key(
    store: &dyn Store,
    root: &RootKey,
    limit: Option<usize>,
) -> Result<RewrapReport, RewrapError> {
    if root.previous().is_none() {
        return Err(RewrapError::NoPrevious);
    }
    let limit = limit.unwrap_or(usize::MAX);
    let snapshot = store.load().await?;
    let mut report = RewrapReport::default();
    for bundle in snapshot.keys {
        if report.moved() >= limit {
            report.stopped_at_limit = true;
            return Ok(report);
        }
        rewrap_key(store, root, bundle, &mut report, limit).await?;
    }
    for s in snapshot.custom_key_stores {
        if report.moved() >= limit {
            report.stopped_at_limit = true;
            return Ok(report);
        }
        rewrap_custom_key_store(store, root, s, &mut report).await?;
    }
    Ok(report)
}

/// A failure of the root keys that is about this record (it opens under neither) rather than
/// about the keys themselves.
fn record_failure(e: crypto::CryptoError) -> Result<(), RewrapError> {
    match e {
        crypto::CryptoError::Unwrap => Ok(()),
        other => Err(RewrapError::Root(other)),
    }
}

async fn rewrap_key(
    store: &dyn Store,
    root: &RootKey,
    mut bundle: KeyBundle,
    report: &mut RewrapReport,
    limit: usize,
) -> Result<(), RewrapError> {
    let at = KeyRef {
        region: bundle.key.record.region.clone(),
        id: bundle.key.record.id.clone(),
    };
    // Versions moved by an earlier attempt are current when read again: not counted twice.
    let mut moved_ids = std::collections::HashSet::new();
    for _ in 0..ATTEMPTS {
        let mut revision = bundle.key.revision;
        let mut current = 0;
        let mut unreadable = Vec::new();
        let mut changed = false;
        for v in bundle.versions.iter().filter(|v| !v.wrapped.is_empty()) {
            if report.moved() >= limit {
                report.stopped_at_limit = true;
                break;
            }
            let context = wrap_context(&v.key, &v.id);
            match root.reseal_material(v.kind, &v.wrapped, &context) {
                Ok(Resealed::Current) => {
                    if !moved_ids.contains(&v.id) {
                        current += 1;
                    }
                }
                Ok(Resealed::Moved(wrapped)) => {
                    let version = KeyVersion {
                        wrapped,
                        ..v.clone()
                    };
                    match store
                        .replace_key_version(&bundle.key.record, revision, &version)
                        .await
                    {
                        Ok(r) => {
                            revision = r;
                            moved_ids.insert(v.id);
                            report.versions_moved += 1;
                        }
                        // Changed or gone since it was read: read it again.
                        Err(StoreError::Conflict | StoreError::NotFound) => {
                            changed = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => {
                    record_failure(e)?;
                    unreadable.push(format!(
                        "key {} ({}) version {}",
                        v.key,
                        v.region,
                        v.id.to_hex()
                    ));
                }
            }
        }
        if !changed {
            report.versions_current += current;
            report.unreadable.extend(unreadable);
            return Ok(());
        }
        match store.get_key(&at).await? {
            Some(fresh) => bundle = fresh,
            None => return Ok(()), // deleted meanwhile: nothing left to move
        }
    }
    Err(RewrapError::Busy(format!("key {} ({})", at.id, at.region)))
}

async fn rewrap_custom_key_store(
    store: &dyn Store,
    root: &RootKey,
    mut s: Versioned<CustomKeyStore>,
    report: &mut RewrapReport,
) -> Result<(), RewrapError> {
    for _ in 0..ATTEMPTS {
        let id = s.record.id.clone();
        let Ok(sealed) = hex::decode(&s.record.sealed_secret_hex) else {
            report
                .unreadable
                .push(format!("external key store {id} credential"));
            return Ok(());
        };
        let moved = match root.reseal_secret(&sealed, &secret_context(&id)) {
            Ok(Resealed::Current) => {
                report.secrets_current += 1;
                return Ok(());
            }
            Ok(Resealed::Moved(moved)) => moved,
            Err(e) => {
                record_failure(e)?;
                report
                    .unreadable
                    .push(format!("external key store {id} credential"));
                return Ok(());
            }
        };
        let mut record = s.record.clone();
        record.sealed_secret_hex = hex::encode(moved);
        match store.update_custom_key_store(&record, s.revision).await {
            Ok(_) => {
                report.secrets_moved += 1;
                return Ok(());
            }
            Err(StoreError::Conflict | StoreError::NotFound) => {
                match store.get_custom_key_store(&id).await? {
                    Some(fresh) => s = fresh,
                    None => return Ok(()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RewrapError::Busy("an external key store".to_string()))
}
