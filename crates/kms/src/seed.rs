//! Seeded keys: keys created at start, when absent, with a key id, type, description, policy,
//! tags and aliases given in advance and, optionally, given key material, so that a test
//! fixture's key ids and ciphertexts are the same on every machine and after every restart.
//!
//! A seeded key is an ordinary key of origin AWS_KMS. With given material its version id is
//! derived from the key id and the material (as for imported material), so a ciphertext made on
//! one machine names a version that every other machine seeding the same file also has. A key
//! already present is left as it is (only missing aliases are added): seeding never changes or
//! replaces a key.

use kms_api::{wire, ErrorCode, KmsError};
use kms_model::{
    AccountId, Alias, AliasName, Key, KeyId, KeyRef, KeyState, KeyType, KeyVersion, Origin, Region,
    Rotation,
};
use store::StoreError;
use zeroize::Zeroizing;

use crate::core::{imported, material, rules, store_error, Core};

/// A key to create at start if absent.
pub struct SeedKey {
    pub key_id: KeyId,
    pub account: AccountId,
    pub region: Region,
    pub key_type: KeyType,
    pub description: String,
    /// The key policy; the default key policy when `None`.
    pub policy: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Alias names (`alias/...`) for the key.
    pub aliases: Vec<String>,
    /// Created disabled when false.
    pub enabled: bool,
    /// The key material (AES-256: 32 bytes; HMAC: the key; key pairs: PKCS#8 DER); generated
    /// when `None`.
    pub material: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for SeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedKey")
            .field("key_id", &self.key_id)
            .field("account", &self.account)
            .field("region", &self.region)
            .field("key_type", &self.key_type)
            .field("material", &self.material.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// What seeding did with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    Created,
    /// The key existed (made by an earlier start, or another node); left as it was.
    Present,
}

fn invalid(seed: &SeedKey, message: impl std::fmt::Display) -> KmsError {
    KmsError::new(
        ErrorCode::ValidationException,
        format!("seed key {}: {message}", seed.key_id),
    )
}

pub(crate) async fn seed_key(core: &Core, seed: &SeedKey) -> Result<Seeded, KmsError> {
    if !core.config.any_region && !core.config.regions.contains(&seed.region) {
        return Err(invalid(
            seed,
            format!("Region {} is not served", seed.region),
        ));
    }
    if seed.key_id.as_str().starts_with("mrk-") {
        return Err(invalid(seed, "multi-Region keys cannot be seeded"));
    }
    let names = seed
        .aliases
        .iter()
        .map(|a| {
            AliasName::parse(a)
                .filter(|n| !n.as_str().starts_with("alias/aws/"))
                .ok_or_else(|| invalid(seed, format!("'{a}' is not an alias name of yours")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key_ref = KeyRef {
        region: seed.region.clone(),
        id: seed.key_id.clone(),
    };
    let outcome = match core.cache.key(&key_ref) {
        Some(existing) if existing.key.account != seed.account => {
            return Err(invalid(seed, "the key id is taken in another account"))
        }
        Some(_) => Seeded::Present,
        None => create(core, seed, &key_ref).await?,
    };
    for name in names {
        add_alias(core, seed, &name).await?;
    }
    core.refresh_key(&key_ref).await?;
    Ok(outcome)
}

async fn create(core: &Core, seed: &SeedKey, key_ref: &KeyRef) -> Result<Seeded, KmsError> {
    let wire_tags: Vec<wire::Tag> = seed
        .tags
        .iter()
        .map(|(k, v)| wire::Tag {
            tag_key: k.clone(),
            tag_value: v.clone(),
        })
        .collect();
    let tags = rules::checked_tags(&wire_tags, Vec::new()).map_err(|e| invalid(seed, e))?;
    let policy = match &seed.policy {
        Some(p) => {
            rules::checked_policy(p).map_err(|e| invalid(seed, e))?;
            p.clone()
        }
        None => rules::default_policy(&core.config.partition, &seed.account),
    };
    let now = core.now_ms();
    let key_type = seed.key_type;
    let mut key = Key {
        id: seed.key_id.clone(),
        account: seed.account.clone(),
        region: seed.region.clone(),
        created_ms: now,
        description: seed.description.clone(),
        key_type,
        origin: Origin::AwsKms,
        state: if seed.enabled {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        },
        deletion: None,
        policy,
        tags,
        current_version: None,
        external: None,
        rotation: Rotation::default(),
        primary_region: None,
    };
    let kind = key_type.material();
    let (version_id, wrapped) = match &seed.material {
        Some(bytes) => {
            let parsed = crypto::asymmetric::import_material(kind, bytes).map_err(|_| {
                invalid(
                    seed,
                    format!("the material is not valid for {}", key_type.spec()),
                )
            })?;
            let id = imported::material_id(&key, &parsed);
            let (sealed, _) = material::seal_imported(&core.root, &key.id, &id, parsed)?;
            (id, sealed)
        }
        None => match kind {
            kms_model::MaterialKind::Aes256Gcm => {
                let (id, wrapped, _) = material::generate_aes(&core.root, &key.id)?;
                (id, wrapped)
            }
            kind => {
                let (id, wrapped, _) =
                    material::seal_new(&core.root, &key.id, core.pools.generate(kind).await?)?;
                (id, wrapped)
            }
        },
    };
    key.current_version = Some(version_id);
    let version = KeyVersion {
        key: key.id.clone(),
        region: key.region.clone(),
        id: version_id,
        kind,
        created_ms: now,
        expires_ms: None,
        rotation: None,
        wrapped,
        description: None,
    };
    let _w = core.writes.lock().await;
    match core.store.create_key(&key, &version).await {
        Ok(_) => Ok(Seeded::Created),
        // Another node seeded it first.
        Err(StoreError::AlreadyExists) => {
            match core.store.get_key(key_ref).await.map_err(store_error)? {
                Some(b) if b.key.record.account == seed.account => Ok(Seeded::Present),
                _ => Err(invalid(seed, "the key id is taken in another account")),
            }
        }
        Err(e) => Err(store_error(e)),
    }
}

/// Creates the alias for the seeded key unless it exists; one naming another key is an error
/// (seeding does not move aliases).
async fn add_alias(core: &Core, seed: &SeedKey, name: &AliasName) -> Result<(), KmsError> {
    let taken_by_other = |target: &KeyId| {
        invalid(
            seed,
            format!("{} already names another key ({target})", name.as_str()),
        )
    };
    if let Some(a) = core.cache.alias(&seed.account, &seed.region, name) {
        return if a.record.target == seed.key_id {
            Ok(())
        } else {
            Err(taken_by_other(&a.record.target))
        };
    }
    let now = core.now_ms();
    let alias = Alias {
        account: seed.account.clone(),
        region: seed.region.clone(),
        name: name.clone(),
        target: seed.key_id.clone(),
        created_ms: now,
        updated_ms: now,
    };
    let _w = core.writes.lock().await;
    match core.store.create_alias(&alias).await {
        Ok(_) | Err(StoreError::AlreadyExists) => Ok(()),
        Err(e) => Err(store_error(e)),
    }
}
