//! Wire types of the AWS External Key Store (XKS) Proxy API, version 1.
//!
//! Shared by Strongroom's XKS proxy (`strongroom xks-proxy`) and the KMS's XKS client:
//! the request and response bodies of the four operations, the error names with their
//! HTTP statuses, the URI rules, the AES-GCM additional authenticated data construction
//! and the ciphertext data integrity value (CDIV) of the specification's Appendix C.
//!
//! Pure code: no I/O, no async, no clocks.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod b64;
mod crypto;
mod error;
mod path;
mod types;

pub use crypto::{cdiv_sha256, gcm_aad, AadError};
pub use error::{sanitize_error_message, ErrorName, XksError, MAX_ERROR_MESSAGE_LEN};
pub use path::{
    is_valid_external_key_id, is_valid_uri_path, parse_api_path, uri_path_for_prefix, ApiPath,
    KeyOperation, Operation, Route, API_BASE_PATH,
};
pub use types::{
    DecryptRequest, DecryptResponse, EkmFleetDetail, EncryptRequest, EncryptResponse,
    ErrorResponse, GetHealthStatusRequest, GetHealthStatusResponse, GetKeyMetadataRequest,
    GetKeyMetadataResponse, RequestMetadata,
};

/// The only `encryptionAlgorithm` of version 1.
pub const AES_GCM: &str = "AES_GCM";
/// The only `ciphertextDataIntegrityValueAlgorithm` of version 1.
pub const SHA_256: &str = "SHA_256";
/// The only `keySpec` of version 1.
pub const AES_256: &str = "AES_256";
/// `keyUsage` value for keys that can encrypt.
pub const USAGE_ENCRYPT: &str = "ENCRYPT";
/// `keyUsage` value for keys that can decrypt.
pub const USAGE_DECRYPT: &str = "DECRYPT";
/// `keyStatus` of a usable key.
pub const KEY_STATUS_ENABLED: &str = "ENABLED";
/// `keyStatus` of a key that exists but may not be used.
pub const KEY_STATUS_DISABLED: &str = "DISABLED";
/// `healthStatus`: the key manager is healthy.
pub const HEALTH_ACTIVE: &str = "ACTIVE";
/// `healthStatus`: the key manager is unhealthy but can still serve traffic.
pub const HEALTH_DEGRADED: &str = "DEGRADED";
/// `healthStatus`: the key manager cannot serve traffic.
pub const HEALTH_UNAVAILABLE: &str = "UNAVAILABLE";

/// Plaintext (Encrypt) and ciphertext (Decrypt) sizes a proxy must at least support.
pub const MIN_SUPPORTED_DATA_LEN: usize = 4300;
/// AAD size a proxy must at least support.
pub const MIN_SUPPORTED_AAD_LEN: usize = 8192;
/// Largest AAD the length-prefixed construction can carry (a 2-byte length).
pub const MAX_AAD_LEN: usize = u16::MAX as usize;
/// Largest `ciphertextMetadata`, in bytes before Base64.
pub const MAX_CIPHERTEXT_METADATA_LEN: usize = 20;
/// The AES-GCM tag length the API carries.
pub const TAG_LEN: usize = 16;
/// The 96-bit IV length.
pub const IV_LEN_12: usize = 12;
/// The 128-bit IV length the API also allows.
pub const IV_LEN_16: usize = 16;
/// Most `keyUsage` values a GetKeyMetadata response may carry.
pub const MAX_KEY_USAGE_VALUES: usize = 10;
/// Most `ekmFleetDetails` entries a GetHealthStatus response may carry.
pub const MAX_EKM_FLEET_DETAILS: usize = 10;
/// Longest `externalKeyId`.
pub const MAX_EXTERNAL_KEY_ID_LEN: usize = 128;
/// Longest `XksProxyUriPath` (`[/<prefix>]/kms/xks/v1`).
pub const MAX_URI_PATH_LEN: usize = 128;
/// Longest whole request URI (`https://<server>...`).
pub const MAX_URI_LEN: usize = 256;
/// ARN lengths a proxy must support.
pub const MAX_ARN_LEN: usize = 2048;
/// The SigV4 service name of the XKS Proxy API.
pub const SIGV4_SERVICE: &str = "kms-xks-proxy";
