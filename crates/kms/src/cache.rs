//! The in-memory copy of the store that the hot path reads: key records with their unwrapped,
//! ready-to-use backing keys, and aliases. Writes update it after the store has the change.

use std::collections::HashMap;
use std::sync::Arc;

use crypto::{PreparedKey, RootKey};
use kms_api::KmsError;
use store::legacy::{AliasRecord, BackingKeyRecord, KeyRecord, Snapshot};

/// A key as the hot path needs it.
pub struct CachedKey {
    /// The key's metadata.
    pub record: KeyRecord,
    /// Its backing keys by id, unwrapped and prepared for AES-GCM.
    pub backing: HashMap<[u8; 32], Arc<PreparedKey>>,
    /// The backing key new ciphertexts use.
    pub current: [u8; 32],
    /// The key policy, compiled once per change.
    pub policy: Arc<policy::Policy>,
    /// The key's grants.
    pub grants: Arc<Vec<store::legacy::GrantRecord>>,
}

impl std::fmt::Debug for CachedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKey")
            .field("record", &self.record)
            .field("backing_keys", &self.backing.len())
            .finish()
    }
}

impl CachedKey {
    /// The same key with a changed record (backing keys shared; the policy recompiled only
    /// when its text changed).
    pub(crate) fn with_record(&self, record: KeyRecord) -> Result<CachedKey, KmsError> {
        let policy = if record.policy == self.record.policy {
            Arc::clone(&self.policy)
        } else {
            Arc::new(compile_stored_policy(&record)?)
        };
        Ok(CachedKey {
            record,
            backing: self.backing.clone(),
            current: self.current,
            policy,
            grants: Arc::clone(&self.grants),
        })
    }
}

#[derive(Default)]
pub(crate) struct Cache {
    pub keys: HashMap<String, Arc<CachedKey>>,
    /// Aliases by (account, alias name).
    pub aliases: HashMap<(String, String), AliasRecord>,
    /// Custom key stores by id.
    pub stores: HashMap<String, Arc<crate::external::StoreEntry>>,
}

/// Compiles a stored key policy. Stored policies were checked when they were written; one that no
/// longer parses (an older, laxer version wrote it) allows nothing rather than failing the start.
pub(crate) fn compile_stored_policy(record: &KeyRecord) -> Result<policy::Policy, KmsError> {
    policy::Policy::parse(&record.policy, policy::PolicyKind::Resource).or_else(|e| {
        tracing::error!(key_id = %record.key_id, error = %e, "stored key policy does not parse; it allows nothing");
        policy::Policy::parse(r#"{"Version":"2012-10-17","Statement":[]}"#, policy::PolicyKind::Resource)
            .map_err(|_| KmsError::internal("The empty key policy does not compile."))
    })
}

/// What binds a wrapped backing key to its row: unwrapping it under another key's row fails.
pub(crate) fn wrap_context(key_id: &str, backing_key_id: &str) -> Vec<u8> {
    format!("strongroom/backing-key/v1/{key_id}/{backing_key_id}").into_bytes()
}

pub(crate) fn parse_backing_id(hex_id: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_id).ok()?;
    bytes.try_into().ok()
}

pub(crate) fn prepare(
    root: &RootKey,
    b: &BackingKeyRecord,
) -> Result<([u8; 32], Arc<PreparedKey>), KmsError> {
    let id = parse_backing_id(&b.backing_key_id).ok_or_else(|| {
        KmsError::internal(format!(
            "Stored backing key id of {} is malformed.",
            b.key_id
        ))
    })?;
    let material = root
        .unwrap(&b.wrapped, &wrap_context(&b.key_id, &b.backing_key_id))
        .map_err(|_| {
            KmsError::internal(format!(
                "Backing key of {} does not unwrap under the root key.",
                b.key_id
            ))
        })?;
    let prepared = PreparedKey::new(&material)
        .map_err(|_| KmsError::internal("Backing key could not be prepared."))?;
    Ok((id, Arc::new(prepared)))
}

impl Cache {
    pub(crate) fn from_snapshot(snap: Snapshot, root: &RootKey) -> Result<Cache, KmsError> {
        let mut backing: HashMap<String, HashMap<[u8; 32], Arc<PreparedKey>>> = HashMap::new();
        for b in &snap.backing_keys {
            let (id, key) = prepare(root, b)?;
            backing.entry(b.key_id.clone()).or_default().insert(id, key);
        }
        let mut grants = crate::grants::by_key(snap.grants);
        let mut cache = Cache::default();
        for record in snap.keys {
            let current = parse_backing_id(&record.current_backing_key_id).unwrap_or([0; 32]);
            let keys = backing.remove(&record.key_id).unwrap_or_default();
            let policy = Arc::new(compile_stored_policy(&record)?);
            let key_grants = Arc::new(grants.remove(&record.key_id).unwrap_or_default());
            cache.keys.insert(
                record.key_id.clone(),
                Arc::new(CachedKey {
                    record,
                    backing: keys,
                    current,
                    policy,
                    grants: key_grants,
                }),
            );
        }
        for a in snap.aliases {
            cache
                .aliases
                .insert((a.account_id.clone(), a.alias_name.clone()), a);
        }
        Ok(cache)
    }
}
