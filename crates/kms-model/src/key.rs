//! A KMS key and its versions of key material.

use std::fmt;

use kms_api::wire::{KeyManager, KeySpec, KeyState, KeyUsage, Origin, RotationType};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, CustomKeyStoreId, KeyId, Region, VersionId};
use crate::spec::{KeyType, MaterialKind};

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag key.
    pub key: String,
    /// The tag value.
    pub value: String,
}

/// A key's scheduled deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// When the key is deleted, milliseconds since the epoch.
    pub at_ms: i64,
    /// The waiting period asked for (7–30 days).
    pub window_days: u8,
}

/// Where a key in an external key store keeps its outer layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalKey {
    /// The external key store.
    pub store: CustomKeyStoreId,
    /// The key's id in the external key manager (`XksKeyId`).
    pub xks_key_id: String,
}

/// Automatic rotation of a key's material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Rotation {
    /// The rotation period when automatic rotation is on; `None` when it is off.
    pub period_days: Option<u16>,
    /// When automatic rotation next happens, milliseconds since the epoch (only when on).
    pub next_ms: Option<i64>,
    /// Set while an on-demand rotation is in progress.
    pub on_demand_started_ms: Option<i64>,
}

/// A KMS key's metadata. Its material is in its [`KeyVersion`]s; the current one encrypts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// The key id.
    pub id: KeyId,
    /// The owning account.
    pub account: AccountId,
    /// The Region the key lives in.
    pub region: Region,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// `Description`.
    pub description: String,
    /// Key spec and usage (only the pairs AWS allows).
    #[serde(with = "key_type_serde")]
    pub key_type: KeyType,
    /// Where the material came from.
    pub origin: Origin,
    /// The key's own state (a key in a disconnected store shows `Unavailable` on top of it).
    pub state: KeyState,
    /// Set while the key is pending deletion.
    pub deletion: Option<Deletion>,
    /// The key policy document.
    pub policy: String,
    /// Tags in the order they were added; keys unique.
    pub tags: Vec<Tag>,
    /// The version new ciphertexts use; `None` for a key with Origin EXTERNAL until its first
    /// import (imported material's id comes from the material).
    pub current_version: Option<VersionId>,
    /// For a key in an external key store.
    pub external: Option<ExternalKey>,
    /// Automatic and on-demand rotation (of a multi-Region key: the primary's, copied).
    #[serde(default)]
    pub rotation: Rotation,
    /// For a multi-Region key (`mrk-` id): the Region of its primary key. The key is the
    /// primary when that is its own Region, a replica otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<Region>,
}

impl Key {
    /// Whether this is a multi-Region replica key.
    pub fn is_replica(&self) -> bool {
        self.primary_region
            .as_ref()
            .is_some_and(|p| *p != self.region)
    }

    /// Whether this is a multi-Region primary key.
    pub fn is_primary(&self) -> bool {
        self.primary_region.as_ref() == Some(&self.region)
    }

    /// `KeySpec`.
    pub fn spec(&self) -> KeySpec {
        self.key_type.spec()
    }

    /// `KeyUsage`.
    pub fn usage(&self) -> KeyUsage {
        self.key_type.usage()
    }

    /// `KeyManager`: every key Strongroom holds is a customer managed key.
    pub fn manager(&self) -> KeyManager {
        KeyManager::Customer
    }

    /// A symmetric encryption key in Strongroom's own key store (the keys that rotate).
    pub fn is_own_symmetric(&self) -> bool {
        self.key_type == KeyType::SYMMETRIC_DEFAULT && self.origin == Origin::AwsKms
    }
}

mod key_type_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Pair {
        spec: KeySpec,
        usage: KeyUsage,
    }

    pub fn serialize<S: Serializer>(t: &KeyType, s: S) -> Result<S::Ok, S::Error> {
        Pair {
            spec: t.spec(),
            usage: t.usage(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyType, D::Error> {
        let p = Pair::deserialize(d)?;
        KeyType::new(p.spec, p.usage).ok_or_else(|| {
            serde::de::Error::custom(format!("{} is not a usage of {}", p.usage, p.spec))
        })
    }
}

/// One version of a key's material, wrapped under the root key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    /// The KMS key it belongs to.
    pub key: KeyId,
    /// The key's Region.
    pub region: Region,
    /// Its id (`KeyMaterialId`).
    pub id: VersionId,
    /// What it holds.
    pub kind: MaterialKind,
    /// Creation (or import) time, milliseconds since the epoch; for imported material that a
    /// rotation made current, the time of that rotation.
    pub created_ms: i64,
    /// When imported material expires, if it does (`None` once it is deleted or expired).
    pub expires_ms: Option<i64>,
    /// How it became current: `None` for the key's first version.
    pub rotation: Option<RotationType>,
    /// The material, wrapped under the root key (bound to this key and version); empty when
    /// imported material was deleted or expired (the version stays, awaiting a re-import).
    #[serde(with = "wrapped_serde")]
    pub wrapped: Vec<u8>,
    /// Imported material's `KeyMaterialDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl KeyVersion {
    /// Whether the version holds its material (imported material may have been deleted or
    /// have expired).
    pub fn has_material(&self) -> bool {
        !self.wrapped.is_empty()
    }
}

impl fmt::Debug for KeyVersion {
    // The wrapped material is not secret, but has no business in logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVersion")
            .field("key", &self.key)
            .field("region", &self.region)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("created_ms", &self.created_ms)
            .field("expires_ms", &self.expires_ms)
            .field("rotation", &self.rotation)
            .field("wrapped", &format_args!("<{} bytes>", self.wrapped.len()))
            .field("description", &self.description)
            .finish()
    }
}

mod wrapped_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd hex length"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("not hex"))
            })
            .collect()
    }
}
