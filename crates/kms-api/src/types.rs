//! Typed requests and responses of the operations Strongroom serves. Field names are the model's;
//! requests are decoded only after [`crate::validate_input`] accepted them.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A binary value, base64 on the wire; wiped from memory on drop (plaintexts and data keys are blobs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Zeroizing<Vec<u8>>);

impl Blob {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Blob(Zeroizing::new(bytes))
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Blob::new)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.as_bytes()));
        s.serialize_str(&text)
    }
}

/// A timestamp, seconds since the epoch as a JSON number (AWS JSON 1.1's form).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Timestamp(pub f64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// An encryption context: string keys and values, compared as a whole.
pub type EncryptionContext = BTreeMap<String, String>;

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The tag key.
    pub tag_key: String,
    /// The tag value.
    pub tag_value: String,
}

macro_rules! request {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(rename_all = "PascalCase", default)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }
    };
}

macro_rules! response {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Default, Serialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $($(#[$fdoc])* #[serde(skip_serializing_if = "crate::types::Absent::is_absent")] pub $field: $ty,)*
        }
    };
}

/// Whether a response member is left out: AWS omits absent optional members (`None`) but always
/// sends lists and flags such as `Truncated`, even when empty or false.
pub(crate) trait Absent {
    fn is_absent(&self) -> bool {
        false
    }
}

impl<T> Absent for Option<T> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}
impl Absent for String {}
impl Absent for bool {}
impl<T> Absent for Vec<T> {}

request!(/// CreateKey.
CreateKeyRequest {
    /// Key policy.
    policy: Option<String>,
    /// Description.
    description: Option<String>,
    /// Key usage.
    key_usage: Option<String>,
    /// Deprecated spelling of `KeySpec`.
    customer_master_key_spec: Option<String>,
    /// Key spec.
    key_spec: Option<String>,
    /// Origin.
    origin: Option<String>,
    /// Custom key store.
    custom_key_store_id: Option<String>,
    /// Skip the lockout check.
    bypass_policy_lockout_safety_check: Option<bool>,
    /// Tags.
    tags: Option<Vec<Tag>>,
    /// Multi-Region key.
    multi_region: Option<bool>,
    /// External key id.
    xks_key_id: Option<String>,
});

request!(/// Any request naming one key and nothing else that Strongroom reads.
KeyIdRequest {
    /// Key id, ARN, alias name or alias ARN.
    key_id: String,
    /// Grant tokens.
    grant_tokens: Option<Vec<String>>,
});

request!(/// ListKeys.
ListKeysRequest {
    /// Page size.
    limit: Option<i64>,
    /// Paging marker.
    marker: Option<String>,
});

request!(/// UpdateKeyDescription.
UpdateKeyDescriptionRequest {
    /// Key.
    key_id: String,
    /// New description.
    description: String,
});

request!(/// ScheduleKeyDeletion.
ScheduleKeyDeletionRequest {
    /// Key.
    key_id: String,
    /// 7 to 30 days.
    pending_window_in_days: Option<i64>,
});

request!(/// CreateAlias and UpdateAlias.
AliasRequest {
    /// `alias/...`.
    alias_name: String,
    /// Key.
    target_key_id: String,
});

request!(/// DeleteAlias.
DeleteAliasRequest {
    /// `alias/...`.
    alias_name: String,
});

request!(/// ListAliases.
ListAliasesRequest {
    /// Only this key's aliases.
    key_id: Option<String>,
    /// Page size.
    limit: Option<i64>,
    /// Paging marker.
    marker: Option<String>,
});

request!(/// TagResource.
TagResourceRequest {
    /// Key.
    key_id: String,
    /// Tags to add or overwrite.
    tags: Vec<Tag>,
});

request!(/// UntagResource.
UntagResourceRequest {
    /// Key.
    key_id: String,
    /// Tag keys to remove.
    tag_keys: Vec<String>,
});

request!(/// ListResourceTags and ListKeyPolicies (key plus paging).
KeyPagingRequest {
    /// Key.
    key_id: String,
    /// Page size.
    limit: Option<i64>,
    /// Paging marker.
    marker: Option<String>,
});

request!(/// Encrypt.
EncryptRequest {
    /// Key.
    key_id: String,
    /// Plaintext.
    plaintext: Blob,
    /// Encryption context.
    encryption_context: Option<EncryptionContext>,
    /// Grant tokens.
    grant_tokens: Option<Vec<String>>,
    /// Algorithm.
    encryption_algorithm: Option<String>,
    /// Dry run.
    dry_run: Option<bool>,
});

request!(/// Decrypt.
DecryptRequest {
    /// Ciphertext.
    ciphertext_blob: Blob,
    /// Encryption context.
    encryption_context: Option<EncryptionContext>,
    /// Grant tokens.
    grant_tokens: Option<Vec<String>>,
    /// Expected key.
    key_id: Option<String>,
    /// Algorithm.
    encryption_algorithm: Option<String>,
    /// Nitro enclave recipient.
    recipient: Option<serde_json::Value>,
    /// Dry run.
    dry_run: Option<bool>,
});

request!(/// ReEncrypt.
ReEncryptRequest {
    /// Ciphertext.
    ciphertext_blob: Blob,
    /// Source context.
    source_encryption_context: Option<EncryptionContext>,
    /// Expected source key.
    source_key_id: Option<String>,
    /// Destination key.
    destination_key_id: String,
    /// Destination context.
    destination_encryption_context: Option<EncryptionContext>,
    /// Source algorithm.
    source_encryption_algorithm: Option<String>,
    /// Destination algorithm.
    destination_encryption_algorithm: Option<String>,
    /// Grant tokens.
    grant_tokens: Option<Vec<String>>,
    /// Dry run.
    dry_run: Option<bool>,
});

request!(/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
GenerateDataKeyRequest {
    /// Key.
    key_id: String,
    /// Encryption context.
    encryption_context: Option<EncryptionContext>,
    /// 1 to 1024.
    number_of_bytes: Option<i64>,
    /// AES_128 or AES_256.
    key_spec: Option<String>,
    /// Grant tokens.
    grant_tokens: Option<Vec<String>>,
    /// Nitro enclave recipient.
    recipient: Option<serde_json::Value>,
    /// Dry run.
    dry_run: Option<bool>,
});

request!(/// GenerateRandom.
GenerateRandomRequest {
    /// 1 to 1024.
    number_of_bytes: Option<i64>,
    /// Custom key store.
    custom_key_store_id: Option<String>,
    /// Nitro enclave recipient.
    recipient: Option<serde_json::Value>,
});

request!(/// GetKeyPolicy.
GetKeyPolicyRequest {
    /// Key.
    key_id: String,
    /// Always `default`.
    policy_name: Option<String>,
});

request!(/// PutKeyPolicy.
PutKeyPolicyRequest {
    /// Key.
    key_id: String,
    /// Always `default`.
    policy_name: Option<String>,
    /// Policy document.
    policy: String,
    /// Skip the lockout check.
    bypass_policy_lockout_safety_check: Option<bool>,
});

/// What DescribeKey and CreateKey return about a key.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// Owning account.
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    /// Key id.
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// Creation time.
    pub creation_date: Option<Timestamp>,
    /// Enabled (state Enabled).
    pub enabled: bool,
    /// Description.
    pub description: String,
    /// Key usage.
    pub key_usage: String,
    /// Key state.
    pub key_state: String,
    /// When a key pending deletion is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    /// Waiting period of a scheduled deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<i64>,
    /// Origin.
    pub origin: String,
    /// Custom key store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// Key manager (`CUSTOMER`).
    pub key_manager: String,
    /// Deprecated spelling of `KeySpec`.
    pub customer_master_key_spec: String,
    /// Key spec.
    pub key_spec: String,
    /// Encryption algorithms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
    /// Multi-Region key.
    pub multi_region: bool,
    /// Current key material id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
    /// External key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_key_configuration: Option<XksKeyConfiguration>,
}

/// The external key of a key in an external key store.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct XksKeyConfiguration {
    /// External key id.
    pub id: String,
}

/// One key in ListKeys.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// Key id.
    pub key_id: String,
    /// Key ARN.
    pub key_arn: String,
}

/// One alias in ListAliases.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    /// `alias/...`.
    pub alias_name: String,
    /// Alias ARN.
    pub alias_arn: String,
    /// Key the alias points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    /// Last update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<Timestamp>,
}

response!(/// CreateKey and DescribeKey.
KeyMetadataResponse {
    /// The key.
    key_metadata: Option<KeyMetadata>,
});

response!(/// ListKeys.
ListKeysResponse {
    /// Keys of this page.
    keys: Vec<KeyListEntry>,
    /// Marker of the next page.
    next_marker: Option<String>,
    /// More pages follow.
    truncated: bool,
});

response!(/// ScheduleKeyDeletion.
ScheduleKeyDeletionResponse {
    /// Key ARN.
    key_id: String,
    /// Deletion time.
    deletion_date: Option<Timestamp>,
    /// Key state.
    key_state: String,
    /// Waiting period.
    pending_window_in_days: Option<i64>,
});

response!(/// CancelKeyDeletion.
CancelKeyDeletionResponse {
    /// Key ARN.
    key_id: String,
});

response!(/// ListAliases.
ListAliasesResponse {
    /// Aliases of this page.
    aliases: Vec<AliasListEntry>,
    /// Marker of the next page.
    next_marker: Option<String>,
    /// More pages follow.
    truncated: bool,
});

response!(/// ListResourceTags.
ListResourceTagsResponse {
    /// Tags of this page.
    tags: Vec<Tag>,
    /// Marker of the next page.
    next_marker: Option<String>,
    /// More pages follow.
    truncated: bool,
});

response!(/// Encrypt.
EncryptResponse {
    /// Ciphertext.
    ciphertext_blob: Option<Blob>,
    /// Key ARN.
    key_id: String,
    /// Algorithm.
    encryption_algorithm: String,
});

response!(/// Decrypt.
DecryptResponse {
    /// Key ARN.
    key_id: String,
    /// Plaintext.
    plaintext: Option<Blob>,
    /// Algorithm.
    encryption_algorithm: String,
    /// Key material id.
    key_material_id: Option<String>,
});

response!(/// ReEncrypt.
ReEncryptResponse {
    /// New ciphertext.
    ciphertext_blob: Option<Blob>,
    /// Source key ARN.
    source_key_id: String,
    /// Destination key ARN.
    key_id: String,
    /// Source algorithm.
    source_encryption_algorithm: String,
    /// Destination algorithm.
    destination_encryption_algorithm: String,
    /// Source key material id.
    source_key_material_id: Option<String>,
    /// Destination key material id.
    destination_key_material_id: Option<String>,
});

response!(/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
GenerateDataKeyResponse {
    /// Encrypted data key.
    ciphertext_blob: Option<Blob>,
    /// Plaintext data key (GenerateDataKey only).
    plaintext: Option<Blob>,
    /// Key ARN.
    key_id: String,
    /// Key material id.
    key_material_id: Option<String>,
});

response!(/// GenerateRandom.
GenerateRandomResponse {
    /// Random bytes.
    plaintext: Option<Blob>,
});

response!(/// GetKeyPolicy.
GetKeyPolicyResponse {
    /// Policy document.
    policy: String,
    /// `default`.
    policy_name: String,
});

response!(/// ListKeyPolicies.
ListKeyPoliciesResponse {
    /// Policy names (`default`).
    policy_names: Vec<String>,
    /// Marker of the next page.
    next_marker: Option<String>,
    /// More pages follow.
    truncated: bool,
});

/// An empty response body (`{}`), for operations that return nothing.
#[derive(Debug, Default, Serialize)]
pub struct Empty {}

/// Conditions a grant places on the encryption context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    /// The request's context must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<EncryptionContext>,
    /// The request's context must include this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<EncryptionContext>,
    /// Source ARN (service principals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

request!(/// CreateGrant.
CreateGrantRequest {
    /// Key id or key ARN.
    key_id: String,
    /// Who receives the permissions.
    grantee_principal: Option<String>,
    /// A service principal receiving the permissions.
    grantee_service_principal: Option<String>,
    /// Who may retire the grant.
    retiring_principal: Option<String>,
    /// A service principal that may retire it.
    retiring_service_principal: Option<String>,
    /// Permitted operations.
    operations: Vec<String>,
    /// Encryption context conditions.
    constraints: Option<GrantConstraints>,
    /// Grant tokens.
    grant_tokens: Option<Vec<String>>,
    /// Idempotency name.
    name: Option<String>,
    /// Dry run.
    dry_run: Option<bool>,
});

response!(/// CreateGrant.
CreateGrantResponse {
    /// Token usable at once.
    grant_token: String,
    /// Grant id.
    grant_id: String,
});

request!(/// ListGrants.
ListGrantsRequest {
    /// Key id or key ARN.
    key_id: String,
    /// Only this grant.
    grant_id: Option<String>,
    /// Only grants to this principal.
    grantee_principal: Option<String>,
    /// Page size.
    limit: Option<i64>,
    /// Paging marker.
    marker: Option<String>,
});

request!(/// ListRetirableGrants.
ListRetirableGrantsRequest {
    /// The retiring principal.
    retiring_principal: Option<String>,
    /// Page size.
    limit: Option<i64>,
    /// Paging marker.
    marker: Option<String>,
});

/// One grant in ListGrants / ListRetirableGrants.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    /// Key ARN.
    pub key_id: String,
    /// Grant id.
    pub grant_id: String,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Creation time.
    pub creation_date: Option<Timestamp>,
    /// Grantee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    /// Retiring principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::ACCOUNT:root` of the account that made the grant.
    pub issuing_account: String,
    /// Permitted operations.
    pub operations: Vec<String>,
    /// Constraints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

response!(/// ListGrants and ListRetirableGrants.
ListGrantsResponse {
    /// Grants of this page.
    grants: Vec<GrantListEntry>,
    /// Marker of the next page.
    next_marker: Option<String>,
    /// More pages follow.
    truncated: bool,
});

request!(/// RetireGrant.
RetireGrantRequest {
    /// Token of the grant.
    grant_token: Option<String>,
    /// Key of the grant.
    key_id: Option<String>,
    /// Grant id.
    grant_id: Option<String>,
    /// Dry run.
    dry_run: Option<bool>,
});

request!(/// RevokeGrant.
RevokeGrantRequest {
    /// Key id or key ARN.
    key_id: String,
    /// Grant id.
    grant_id: String,
    /// Dry run.
    dry_run: Option<bool>,
});

/// The credential KMS signs proxy requests with.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct XksProxyAuthenticationCredential {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub raw_secret_access_key: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for XksProxyAuthenticationCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XksProxyAuthenticationCredential")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

request!(/// CreateCustomKeyStore.
CreateCustomKeyStoreRequest {
    /// Name.
    custom_key_store_name: String,
    /// `AWS_CLOUDHSM` (default) or `EXTERNAL_KEY_STORE`.
    custom_key_store_type: Option<String>,
    /// CloudHSM only.
    cloud_hsm_cluster_id: Option<String>,
    /// CloudHSM only.
    trust_anchor_certificate: Option<String>,
    /// CloudHSM only.
    key_store_password: Option<serde_json::Value>,
    /// Proxy endpoint.
    xks_proxy_uri_endpoint: Option<String>,
    /// Proxy path.
    xks_proxy_uri_path: Option<String>,
    /// VPC endpoint service.
    xks_proxy_vpc_endpoint_service_name: Option<String>,
    /// VPC endpoint service owner.
    xks_proxy_vpc_endpoint_service_owner: Option<String>,
    /// Proxy credential.
    xks_proxy_authentication_credential: Option<XksProxyAuthenticationCredential>,
    /// `PUBLIC_ENDPOINT` or `VPC_ENDPOINT_SERVICE`.
    xks_proxy_connectivity: Option<String>,
});

response!(/// CreateCustomKeyStore.
CreateCustomKeyStoreResponse {
    /// The new store's id.
    custom_key_store_id: String,
});

request!(/// UpdateCustomKeyStore.
UpdateCustomKeyStoreRequest {
    /// Store.
    custom_key_store_id: String,
    /// New name.
    new_custom_key_store_name: Option<String>,
    /// CloudHSM only.
    cloud_hsm_cluster_id: Option<String>,
    /// CloudHSM only.
    key_store_password: Option<serde_json::Value>,
    /// Proxy endpoint.
    xks_proxy_uri_endpoint: Option<String>,
    /// Proxy path.
    xks_proxy_uri_path: Option<String>,
    /// VPC endpoint service.
    xks_proxy_vpc_endpoint_service_name: Option<String>,
    /// VPC endpoint service owner.
    xks_proxy_vpc_endpoint_service_owner: Option<String>,
    /// Proxy credential.
    xks_proxy_authentication_credential: Option<XksProxyAuthenticationCredential>,
    /// Connectivity.
    xks_proxy_connectivity: Option<String>,
});

request!(/// ConnectCustomKeyStore, DisconnectCustomKeyStore, DeleteCustomKeyStore.
CustomKeyStoreIdRequest {
    /// Store.
    custom_key_store_id: String,
});

request!(/// DescribeCustomKeyStores.
DescribeCustomKeyStoresRequest {
    /// By id.
    custom_key_store_id: Option<String>,
    /// By name.
    custom_key_store_name: Option<String>,
    /// Page size.
    limit: Option<i64>,
    /// Paging marker.
    marker: Option<String>,
});

/// How KMS reaches an external key store's proxy (never the secret).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct XksProxyConfiguration {
    /// `PUBLIC_ENDPOINT` or `VPC_ENDPOINT_SERVICE`.
    pub connectivity: String,
    /// Access key id of the credential.
    pub access_key_id: String,
    /// Endpoint.
    pub uri_endpoint: String,
    /// Path.
    pub uri_path: String,
    /// VPC endpoint service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_service_name: Option<String>,
    /// VPC endpoint service owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_service_owner: Option<String>,
}

/// One custom key store in DescribeCustomKeyStores.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CustomKeyStoresListEntry {
    /// Id.
    pub custom_key_store_id: String,
    /// Name.
    pub custom_key_store_name: String,
    /// `EXTERNAL_KEY_STORE`.
    pub custom_key_store_type: String,
    /// Connection state.
    pub connection_state: String,
    /// Why the last connection failed (only when FAILED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_error_code: Option<String>,
    /// Creation time.
    pub creation_date: Option<Timestamp>,
    /// The proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_proxy_configuration: Option<XksProxyConfiguration>,
}

response!(/// DescribeCustomKeyStores.
DescribeCustomKeyStoresResponse {
    /// Stores of this page.
    custom_key_stores: Vec<CustomKeyStoresListEntry>,
    /// Marker of the next page.
    next_marker: Option<String>,
    /// More pages follow.
    truncated: bool,
});
