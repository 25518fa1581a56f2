//! The in-memory copy of the store that the hot path reads: keys with their unwrapped, ready
//! key material, compiled policy, grants and alias names; and aliases. (Custom key stores are
//! kept by `stores`.)
//!
//! Invariants the methods keep: a key's entry carries the names of exactly the aliases that
//! name it; an entry is only replaced by one of the same or a newer revision (a slow writer
//! cannot put back an older record); removing a key removes its aliases.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use kms_model::{
    AccountId, Alias, AliasName, Grant, Key, KeyRef, KeyVersion, MaterialKind, Region, Revision,
    RotationType, VersionId,
};
use store::Versioned;

use super::material::Material;
use super::usage::UseSlot;

/// A version's metadata and material.
#[derive(Debug)]
pub(crate) struct CachedVersion {
    pub id: VersionId,
    pub created_ms: i64,
    pub rotation: Option<RotationType>,
    pub material: Material,
}

impl CachedVersion {
    /// The kind of material the version holds.
    pub fn kind(&self) -> MaterialKind {
        match &self.material {
            Material::Aes256Gcm(_) => MaterialKind::Aes256Gcm,
            Material::Parsed(m) => m.kind(),
        }
    }
}

/// A key as the hot path needs it.
pub(crate) struct CachedKey {
    /// The key's record.
    pub key: Key,
    /// The key's ARN (made once: every response and authorization names it).
    pub arn: Arc<str>,
    /// The revision of the record.
    pub revision: Revision,
    /// Its versions that hold their material, oldest first.
    pub versions: Arc<Vec<Arc<CachedVersion>>>,
    /// For a key with Origin EXTERNAL: the stored records of every material imported into it,
    /// oldest first, also those deleted or expired (which await a re-import); empty for others.
    pub imported: Arc<Vec<KeyVersion>>,
    /// The key policy, compiled once per change.
    pub policy: Arc<policy::Policy>,
    /// The key's grants.
    pub grants: Arc<Vec<Grant>>,
    /// Names of the aliases that name the key, sorted (`kms:ResourceAliases`).
    pub aliases: Arc<Vec<String>>,
    /// The key's last successful cryptographic use on this node (GetKeyLastUsage), shared by
    /// every entry of the key.
    pub last_use: Arc<UseSlot>,
}

impl std::fmt::Debug for CachedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKey")
            .field("key", &self.key)
            .field("revision", &self.revision)
            .field("versions", &self.versions.len())
            .finish_non_exhaustive()
    }
}

impl CachedKey {
    /// The key's address.
    pub fn key_ref(&self) -> KeyRef {
        KeyRef {
            region: self.key.region.clone(),
            id: self.key.id.clone(),
        }
    }

    /// The version a ciphertext names.
    pub fn version(&self, id: &VersionId) -> Option<&Arc<CachedVersion>> {
        self.versions.iter().rev().find(|v| v.id == *id)
    }

    /// The version new ciphertexts use.
    pub fn current(&self) -> Option<&Arc<CachedVersion>> {
        self.version(self.key.current_version.as_ref()?)
    }

    /// The parsed material of the current version, for the operations of HMAC, asymmetric and
    /// post-quantum keys (which have one version).
    pub fn current_parsed(&self) -> Result<&Arc<crypto::asymmetric::Material>, kms_api::KmsError> {
        self.current()
            .and_then(|v| v.material.parsed())
            .ok_or_else(|| {
                kms_api::KmsError::internal("The key's material is missing or of another kind.")
            })
    }

    /// The same key with another record (same versions, grants and aliases; the policy
    /// recompiled only if its text changed).
    pub fn with_record(&self, key: Key, revision: Revision) -> CachedKey {
        let policy = if key.policy == self.key.policy {
            Arc::clone(&self.policy)
        } else {
            Arc::new(compile_stored_policy(&key))
        };
        CachedKey {
            key,
            arn: Arc::clone(&self.arn),
            revision,
            versions: Arc::clone(&self.versions),
            imported: Arc::clone(&self.imported),
            policy,
            grants: Arc::clone(&self.grants),
            aliases: Arc::clone(&self.aliases),
            last_use: Arc::clone(&self.last_use),
        }
    }

    /// The same key with other grants.
    pub fn with_grants(&self, grants: Vec<Grant>) -> CachedKey {
        CachedKey {
            key: self.key.clone(),
            arn: Arc::clone(&self.arn),
            revision: self.revision,
            versions: Arc::clone(&self.versions),
            imported: Arc::clone(&self.imported),
            policy: Arc::clone(&self.policy),
            grants: Arc::new(grants),
            aliases: Arc::clone(&self.aliases),
            last_use: Arc::clone(&self.last_use),
        }
    }

    /// The same key with one more version (rotation).
    pub fn with_version(&self, key: Key, revision: Revision, v: CachedVersion) -> CachedKey {
        let mut versions = self.versions.as_ref().clone();
        versions.push(Arc::new(v));
        CachedKey {
            versions: Arc::new(versions),
            ..self.with_record(key, revision)
        }
    }
}

impl CachedKey {
    /// The same key with another record and other imported material (an import, a deletion,
    /// an expiry or a rotation of imported material), `versions` being those that hold theirs.
    pub fn with_imported(
        &self,
        key: Key,
        revision: Revision,
        imported: Vec<KeyVersion>,
        versions: Vec<Arc<CachedVersion>>,
    ) -> CachedKey {
        CachedKey {
            versions: Arc::new(versions),
            imported: Arc::new(imported),
            ..self.with_record(key, revision)
        }
    }
}

/// Compiles a stored key policy. Stored policies were checked when they were written; one that no
/// longer parses (an older, laxer version wrote it) allows nothing rather than failing the start.
pub(crate) fn compile_stored_policy(key: &Key) -> policy::Policy {
    policy::Policy::parse(&key.policy, policy::PolicyKind::Resource).unwrap_or_else(|e| {
        tracing::error!(key_id = %key.id, error = %e, "stored key policy does not parse; it allows nothing");
        policy::Policy::empty(policy::PolicyKind::Resource)
    })
}

/// Builds a cache entry from stored parts.
pub(crate) fn cached_key(
    key: Versioned<Key>,
    versions: &[KeyVersion],
    grants: Vec<Grant>,
    root: &crypto::RootKey,
    partition: &str,
) -> Result<CachedKey, kms_api::KmsError> {
    cached_key_reusing(key, versions, grants, root, partition, None)
}

/// [`cached_key`], taking the parsed material of `previous` (the entry the cache holds) for the
/// versions it already has: a version's material never changes under its id, and parsing an
/// RSA key costs milliseconds.
pub(crate) fn cached_key_reusing(
    key: Versioned<Key>,
    versions: &[KeyVersion],
    grants: Vec<Grant>,
    root: &crypto::RootKey,
    partition: &str,
    previous: Option<&CachedKey>,
) -> Result<CachedKey, kms_api::KmsError> {
    let imported = if key.record.origin == kms_model::Origin::External {
        versions.to_vec()
    } else {
        Vec::new()
    };
    let versions = versions
        .iter()
        .filter(|v| v.has_material())
        .map(|v| {
            let known = previous
                .and_then(|p| p.version(&v.id))
                .filter(|c| c.kind() == v.kind && c.created_ms == v.created_ms);
            if let Some(known) = known {
                return Ok(Arc::clone(known));
            }
            Ok(Arc::new(CachedVersion {
                id: v.id,
                created_ms: v.created_ms,
                rotation: v.rotation,
                material: super::material::unwrap(root, v)?,
            }))
        })
        .collect::<Result<Vec<_>, kms_api::KmsError>>()?;
    Ok(CachedKey {
        policy: Arc::new(compile_stored_policy(&key.record)),
        arn: super::arn::key_arn(
            partition,
            &key.record.region,
            &key.record.account,
            &key.record.id,
        )
        .into(),
        key: key.record,
        revision: key.revision,
        versions: Arc::new(versions),
        imported: Arc::new(imported),
        grants: Arc::new(grants),
        aliases: Arc::new(Vec::new()),
        last_use: Arc::default(),
    })
}

type AliasKey = (AccountId, Region, AliasName);

#[derive(Default)]
struct Inner {
    keys: HashMap<KeyRef, Arc<CachedKey>>,
    aliases: HashMap<AliasKey, Versioned<Alias>>,
}

impl Inner {
    /// Rebuilds the alias names a key's entry carries.
    fn refresh_alias_names(&mut self, key: &KeyRef) {
        let Some(entry) = self.keys.get(key) else {
            return;
        };
        let mut names: Vec<String> = self
            .aliases
            .values()
            .filter(|a| a.record.region == key.region && a.record.target == key.id)
            .map(|a| a.record.name.to_string())
            .collect();
        names.sort();
        if *entry.aliases != names {
            let updated = CachedKey {
                aliases: Arc::new(names),
                ..entry.with_record(entry.key.clone(), entry.revision)
            };
            self.keys.insert(key.clone(), Arc::new(updated));
        }
    }
}

/// The cache. Readers take a read lock for a lookup and leave with an `Arc`.
#[derive(Default)]
pub(crate) struct Cache {
    inner: RwLock<Inner>,
}

impl Cache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (every change is one insert or
        // remove); recover them.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A key.
    pub fn key(&self, key: &KeyRef) -> Option<Arc<CachedKey>> {
        self.read().keys.get(key).cloned()
    }

    /// Puts a key's entry, unless the cache holds a newer revision; keeps its alias names.
    pub fn put_key(&self, entry: CachedKey) {
        let mut inner = self.write();
        let key = entry.key_ref();
        let mut entry = entry;
        if let Some(old) = inner.keys.get(&key) {
            if old.revision > entry.revision {
                return;
            }
            // A reloaded record keeps what this node saw of the key's use.
            entry.last_use = Arc::clone(&old.last_use);
        }
        inner.keys.insert(key.clone(), Arc::new(entry));
        inner.refresh_alias_names(&key);
    }

    /// Replaces a key's entry with `f` of it (under the write lock, so concurrent changes to
    /// grants or aliases are not lost).
    pub fn update_key(&self, key: &KeyRef, f: impl FnOnce(&CachedKey) -> CachedKey) {
        let mut inner = self.write();
        if let Some(old) = inner.keys.get(key).cloned() {
            inner.keys.insert(key.clone(), Arc::new(f(&old)));
        }
    }

    /// Applies this process's own write of `revision` to a key, unless the cache already holds
    /// that revision or a newer one (the change feed can bring the write in first; applying it
    /// again would, say, list a new version twice).
    pub fn update_key_to(
        &self,
        key: &KeyRef,
        revision: Revision,
        f: impl FnOnce(&CachedKey) -> CachedKey,
    ) {
        let mut inner = self.write();
        if let Some(old) = inner.keys.get(key).cloned() {
            if old.revision < revision {
                inner.keys.insert(key.clone(), Arc::new(f(&old)));
            }
        }
    }

    /// Removes a key and the aliases naming it.
    pub fn remove_key(&self, key: &KeyRef) {
        let mut inner = self.write();
        inner.keys.remove(key);
        inner
            .aliases
            .retain(|_, a| !(a.record.region == key.region && a.record.target == key.id));
    }

    /// Keys matching `pred`.
    pub fn keys_where(&self, pred: impl Fn(&CachedKey) -> bool) -> Vec<Arc<CachedKey>> {
        self.read()
            .keys
            .values()
            .filter(|k| pred(k))
            .cloned()
            .collect()
    }

    /// An alias.
    pub fn alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
    ) -> Option<Versioned<Alias>> {
        self.read()
            .aliases
            .get(&(account.clone(), region.clone(), name.clone()))
            .cloned()
    }

    /// How many aliases name a key.
    pub fn alias_count(&self, key: &KeyRef) -> usize {
        self.key(key).map_or(0, |k| k.aliases.len())
    }

    /// Puts an alias (and moves its name between the keys' entries).
    pub fn put_alias(&self, alias: Versioned<Alias>) {
        let mut inner = self.write();
        let a = &alias.record;
        let slot = (a.account.clone(), a.region.clone(), a.name.clone());
        if inner
            .aliases
            .get(&slot)
            .is_some_and(|old| old.revision > alias.revision)
        {
            return;
        }
        let new_key = KeyRef {
            region: a.region.clone(),
            id: a.target.clone(),
        };
        let old_key = inner.aliases.get(&slot).map(|old| KeyRef {
            region: old.record.region.clone(),
            id: old.record.target.clone(),
        });
        inner.aliases.insert(slot, alias);
        inner.refresh_alias_names(&new_key);
        if let Some(old) = old_key.filter(|o| *o != new_key) {
            inner.refresh_alias_names(&old);
        }
    }

    /// Aliases matching `pred`.
    pub fn aliases_where(&self, pred: impl Fn(&Alias) -> bool) -> Vec<Versioned<Alias>> {
        self.read()
            .aliases
            .values()
            .filter(|a| pred(&a.record))
            .cloned()
            .collect()
    }

    /// Removes an alias.
    pub fn remove_alias(&self, account: &AccountId, region: &Region, name: &AliasName) {
        let mut inner = self.write();
        if let Some(old) = inner
            .aliases
            .remove(&(account.clone(), region.clone(), name.clone()))
        {
            inner.refresh_alias_names(&KeyRef {
                region: old.record.region,
                id: old.record.target,
            });
        }
    }
}
