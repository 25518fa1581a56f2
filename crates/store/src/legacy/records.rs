//! The records the store keeps.

use serde::{Deserialize, Serialize};

/// A key's state, as AWS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Not usable until enabled.
    Disabled,
    /// Waiting out its deletion window.
    PendingDeletion,
    /// Waiting for imported key material.
    PendingImport,
    /// Its custom key store is disconnected.
    Unavailable,
}

impl KeyState {
    /// The name AWS uses in `KeyState`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::Unavailable => "Unavailable",
        }
    }
}

/// A KMS key's metadata (its material is in [`BackingKeyRecord`]s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id (a UUID).
    pub key_id: String,
    /// The owning account.
    pub account_id: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Description.
    pub description: String,
    /// `ENCRYPT_DECRYPT`, ...
    pub key_usage: String,
    /// `SYMMETRIC_DEFAULT`, ...
    pub key_spec: String,
    /// `AWS_KMS`, `EXTERNAL_KEY_STORE`, ...
    pub origin: String,
    /// State.
    pub state: KeyState,
    /// When a key pending deletion is deleted, milliseconds since the epoch.
    pub deletion_ms: Option<i64>,
    /// The window given to ScheduleKeyDeletion.
    pub pending_window_days: Option<i64>,
    /// The key policy document.
    pub policy: String,
    /// Tags in the order they were added (keys unique).
    pub tags: Vec<(String, String)>,
    /// The backing key that encrypts now (hex).
    pub current_backing_key_id: String,
    /// Custom key store, for keys in one.
    #[serde(default)]
    pub custom_key_store_id: Option<String>,
    /// External key, for keys in an external key store.
    #[serde(default)]
    pub xks_key_id: Option<String>,
}

/// One version of a key's material, wrapped under the root key.
#[derive(Clone, PartialEq, Eq)]
pub struct BackingKeyRecord {
    /// The KMS key it belongs to.
    pub key_id: String,
    /// Its id (hex of 32 bytes).
    pub backing_key_id: String,
    /// The material, wrapped under the root key.
    pub wrapped: Vec<u8>,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
}

impl std::fmt::Debug for BackingKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackingKeyRecord")
            .field("key_id", &self.key_id)
            .field("backing_key_id", &self.backing_key_id)
            .field("wrapped", &format_args!("<{} bytes>", self.wrapped.len()))
            .finish()
    }
}

/// An alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Account the alias lives in.
    pub account_id: String,
    /// `alias/...`.
    pub alias_name: String,
    /// The key it names.
    pub target_key_id: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Last change, milliseconds since the epoch.
    pub updated_ms: i64,
}

/// An external key store (custom key store of type `EXTERNAL_KEY_STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomKeyStoreRecord {
    /// `cks-` followed by 17 hex digits.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Unique name in the account.
    pub name: String,
    /// `EXTERNAL_KEY_STORE`.
    pub store_type: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// `https://host`.
    pub uri_endpoint: String,
    /// `[/prefix]/kms/xks/v1`.
    pub uri_path: String,
    /// `PUBLIC_ENDPOINT` or `VPC_ENDPOINT_SERVICE`.
    pub connectivity: String,
    /// For `VPC_ENDPOINT_SERVICE`.
    pub vpc_endpoint_service_name: Option<String>,
    /// The proxy credential's access key id.
    pub access_key_id: String,
    /// The proxy credential's secret, wrapped under the root key (hex).
    pub wrapped_secret_hex: String,
    /// `CONNECTED`, `CONNECTING`, `FAILED`, `DISCONNECTED`, `DISCONNECTING`.
    pub connection_state: String,
    /// Why the last connection attempt failed.
    pub connection_error_code: Option<String>,
}

/// A grant on a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// 64 hex digits.
    pub grant_id: String,
    /// The key.
    pub key_id: String,
    /// Idempotency name.
    pub name: Option<String>,
    /// Who receives the permissions.
    pub grantee_principal: String,
    /// Who may retire the grant.
    pub retiring_principal: Option<String>,
    /// Permitted operations (`Encrypt`, `ReEncryptFrom`...).
    pub operations: Vec<String>,
    /// Context that must equal the request's.
    pub context_equals: Option<std::collections::BTreeMap<String, String>>,
    /// Context that the request's must include.
    pub context_subset: Option<std::collections::BTreeMap<String, String>>,
    /// Account that created the grant.
    pub issuing_account: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
}

/// Everything in the store.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Keys.
    pub keys: Vec<KeyRecord>,
    /// Backing keys of all keys.
    pub backing_keys: Vec<BackingKeyRecord>,
    /// Aliases.
    pub aliases: Vec<AliasRecord>,
    /// Custom key stores.
    pub custom_key_stores: Vec<CustomKeyStoreRecord>,
    /// Grants.
    pub grants: Vec<GrantRecord>,
}
