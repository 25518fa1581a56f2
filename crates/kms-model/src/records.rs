//! Aliases, grants and custom key stores.

use std::collections::BTreeMap;

use kms_api::wire::{
    ConnectionErrorCode, ConnectionState, CustomKeyStoreType, GrantOperation, XksProxyConnectivity,
};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, AliasName, CustomKeyStoreId, GrantId, KeyId, Region};

/// A key as the store addresses it: a multi-Region key has one record per Region under one id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyRef {
    /// The Region.
    pub region: Region,
    /// The key id.
    pub id: KeyId,
}

/// An alias: a name in an account and Region for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The account it belongs to.
    pub account: AccountId,
    /// Its Region.
    pub region: Region,
    /// `alias/...`.
    pub name: AliasName,
    /// The key it names (in the same account and Region).
    pub target: KeyId,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Last change, milliseconds since the epoch.
    pub updated_ms: i64,
}

/// A grant's constraints on the encryption context: at most one kind, as AWS allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantConstraints {
    /// The request's context must equal this one.
    Equals(BTreeMap<String, String>),
    /// The request's context must include this one.
    Subset(BTreeMap<String, String>),
}

/// A grant on a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Its id.
    pub id: GrantId,
    /// The key (Region and id).
    pub key: crate::KeyRef,
    /// Idempotency name.
    pub name: Option<String>,
    /// Who receives the permissions.
    pub grantee: String,
    /// Who may retire it besides the grantee's account.
    pub retiring: Option<String>,
    /// The operations it allows.
    pub operations: Vec<GrantOperation>,
    /// Encryption context constraints.
    pub constraints: Option<GrantConstraints>,
    /// The account that made it.
    pub issuing_account: AccountId,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
}

/// An external key store (a custom key store of type `EXTERNAL_KEY_STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomKeyStore {
    /// Its id.
    pub id: CustomKeyStoreId,
    /// The owning account.
    pub account: AccountId,
    /// Its Region.
    pub region: Region,
    /// Unique name in the account and Region.
    pub name: String,
    /// `EXTERNAL_KEY_STORE` (AWS CloudHSM key stores are not served).
    pub store_type: CustomKeyStoreType,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// `https://host[:port]`.
    pub uri_endpoint: String,
    /// `[/prefix]/kms/xks/v1`.
    pub uri_path: String,
    /// Public endpoint or VPC endpoint service.
    pub connectivity: XksProxyConnectivity,
    /// For `VPC_ENDPOINT_SERVICE`.
    pub vpc_endpoint_service_name: Option<String>,
    /// The proxy credential's access key id.
    pub access_key_id: String,
    /// The proxy credential's secret, sealed under the root key (hex).
    pub sealed_secret_hex: String,
    /// The connection state.
    pub connection_state: ConnectionState,
    /// Why the last connection attempt failed.
    pub connection_error: Option<ConnectionErrorCode>,
    /// When the proxy credential was last set (milliseconds since the epoch; records written
    /// before this was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_updated_ms: Option<i64>,
}
