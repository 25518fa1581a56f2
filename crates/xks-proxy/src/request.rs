//! The proxy's request bodies, decoded and checked without I/O: the JSON of each operation, its
//! `requestMetadata`, the key id, the algorithm, then (after secondary authorization, which the
//! server runs between the two steps) the Base64 fields and their sizes. The server calls these
//! in that order; the fuzz targets (`fuzz/`) call the same functions.

use std::borrow::Cow;

use serde::Deserialize;
use zeroize::Zeroizing;

use xks::{ErrorName, RequestMetadata, XksError};

/// Largest plaintext (Encrypt) or ciphertext (Decrypt) accepted; the specification asks for
/// at least 4300 bytes. Larger ones get UnsupportedOperationException.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// The `ciphertextMetadata` this proxy returns: one byte naming the ciphertext format.
/// Format 1: AES-256-GCM, 96-bit random IV, 128-bit tag, AAD built as the specification says
/// (`u16be(len(aad)) || aad || u8(len(metadata)) || metadata`).
pub const CIPHERTEXT_METADATA_V1: [u8; 1] = [0x01];

fn reject(name: ErrorName, message: impl AsRef<str>) -> XksError {
    XksError::new(name, message)
}

fn invalid_json(e: &serde_json::Error) -> XksError {
    // serde's messages can quote input values; only field names are safe to echo.
    let text = e.to_string();
    let message = if text.contains('"') {
        format!(
            "The request body is not valid (line {}, column {})",
            e.line(),
            e.column()
        )
    } else {
        format!("The request body is not valid: {text}")
    };
    reject(ErrorName::ValidationException, message)
}

/// Which `requestMetadata` fields an operation requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// GetHealthStatus: `kmsRequestId` and `kmsOperation` only.
    Health,
    /// GetKeyMetadata: also `awsPrincipalArn` (CreateKey sends no `kmsKeyArn`).
    KeyMetadata,
    /// Encrypt and Decrypt: also `awsPrincipalArn` and `kmsKeyArn`.
    Crypto,
}

/// Checks that the metadata an operation requires is there; any `kmsOperation` value is
/// accepted, and `kmsRequestId` is opaque (never checked beyond being a string).
pub fn check_metadata(m: Option<&RequestMetadata>, required: Required) -> Result<(), XksError> {
    let Some(m) = m else {
        return Err(reject(
            ErrorName::ValidationException,
            "requestMetadata is required",
        ));
    };
    let mut missing = Vec::new();
    if m.kms_request_id.is_none() {
        missing.push("kmsRequestId");
    }
    if m.kms_operation.is_none() {
        missing.push("kmsOperation");
    }
    if required != Required::Health && m.aws_principal_arn.is_none() {
        missing.push("awsPrincipalArn");
    }
    if required == Required::Crypto && m.kms_key_arn.is_none() {
        missing.push("kmsKeyArn");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(reject(
            ErrorName::ValidationException,
            format!("requestMetadata lacks {}", missing.join(", ")),
        ))
    }
}

/// Checks the external key id of the URI path.
pub fn check_key_id(key_id: &str) -> Result<(), XksError> {
    if xks::is_valid_external_key_id(key_id) {
        Ok(())
    } else {
        Err(reject(
            ErrorName::ValidationException,
            "The externalKeyId must be 1 to 128 characters of A-Z a-z 0-9 - . _",
        ))
    }
}

/// Checks `encryptionAlgorithm` (required; `AES_GCM` only).
pub fn check_algorithm(alg: Option<&str>) -> Result<(), XksError> {
    match alg {
        Some(xks::AES_GCM) => Ok(()),
        None => Err(reject(
            ErrorName::ValidationException,
            "encryptionAlgorithm is required",
        )),
        Some(_) => Err(reject(
            ErrorName::ValidationException,
            "encryptionAlgorithm must be AES_GCM",
        )),
    }
}

fn decode_field(
    value: Option<&str>,
    name: &str,
    error: ErrorName,
) -> Result<Option<Vec<u8>>, XksError> {
    match value {
        None => Ok(None),
        Some(text) => xks::b64::decode(text)
            .map(Some)
            .map_err(|_| reject(error, format!("{name} is not valid Base64"))),
    }
}

/// The body of GetHealthStatus and GetKeyMetadata: only the metadata.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataBody {
    /// `requestMetadata`.
    pub request_metadata: Option<RequestMetadata>,
}

impl MetadataBody {
    /// Decodes the JSON body.
    pub fn parse(body: &[u8]) -> Result<MetadataBody, XksError> {
        serde_json::from_slice(body).map_err(|e| invalid_json(&e))
    }
}

/// The body of Encrypt, its Base64 fields still text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptBody<'a> {
    /// `requestMetadata`.
    pub request_metadata: Option<RequestMetadata>,
    #[serde(borrow)]
    plaintext: Option<Cow<'a, str>>,
    #[serde(borrow)]
    encryption_algorithm: Option<Cow<'a, str>>,
    #[serde(borrow)]
    additional_authenticated_data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ciphertext_data_integrity_value_algorithm: Option<Cow<'a, str>>,
}

/// What Encrypt's body asks for, decoded.
pub struct EncryptInput {
    /// The plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The caller's additional authenticated data (empty if absent).
    pub aad: Vec<u8>,
    /// The AES-GCM AAD: `aad` and [`CIPHERTEXT_METADATA_V1`] as the specification builds it.
    pub gcm_aad: Vec<u8>,
}

impl<'a> EncryptBody<'a> {
    /// Decodes the JSON body.
    pub fn parse(body: &'a [u8]) -> Result<EncryptBody<'a>, XksError> {
        serde_json::from_slice(body).map_err(|e| invalid_json(&e))
    }

    /// The checks before authorization: the algorithm, and whether a CDIV is asked for
    /// (`ciphertextDataIntegrityValueAlgorithm`, `SHA_256` only).
    pub fn check(&self) -> Result<bool, XksError> {
        check_algorithm(self.encryption_algorithm.as_deref())?;
        match self.ciphertext_data_integrity_value_algorithm.as_deref() {
            None => Ok(false),
            Some(xks::SHA_256) => Ok(true),
            Some(_) => Err(reject(
                ErrorName::ValidationException,
                "ciphertextDataIntegrityValueAlgorithm must be SHA_256",
            )),
        }
    }

    /// The Base64 fields, decoded and their sizes checked (after authorization).
    pub fn input(&self) -> Result<EncryptInput, XksError> {
        let plaintext = match self.plaintext.as_deref() {
            None => {
                return Err(reject(
                    ErrorName::ValidationException,
                    "plaintext is required",
                ))
            }
            Some(text) => Zeroizing::new(xks::b64::decode(text).map_err(|_| {
                reject(
                    ErrorName::ValidationException,
                    "plaintext is not valid Base64",
                )
            })?),
        };
        if plaintext.len() > MAX_DATA_BYTES {
            return Err(reject(
                ErrorName::UnsupportedOperationException,
                format!("plaintext exceeds the {MAX_DATA_BYTES} bytes this proxy supports"),
            ));
        }
        let aad = decode_field(
            self.additional_authenticated_data.as_deref(),
            "additionalAuthenticatedData",
            ErrorName::ValidationException,
        )?
        .unwrap_or_default();
        let gcm_aad = xks::gcm_aad(&aad, &CIPHERTEXT_METADATA_V1)
            .map_err(|e| reject(ErrorName::UnsupportedOperationException, e.to_string()))?;
        Ok(EncryptInput {
            plaintext,
            aad,
            gcm_aad,
        })
    }
}

/// The body of Decrypt, its Base64 fields still text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptBody<'a> {
    /// `requestMetadata`.
    pub request_metadata: Option<RequestMetadata>,
    #[serde(borrow)]
    ciphertext: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ciphertext_metadata: Option<Cow<'a, str>>,
    #[serde(borrow)]
    encryption_algorithm: Option<Cow<'a, str>>,
    #[serde(borrow)]
    additional_authenticated_data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    authentication_tag: Option<Cow<'a, str>>,
    #[serde(borrow)]
    initialization_vector: Option<Cow<'a, str>>,
}

/// What Decrypt's body asks for, decoded.
pub struct DecryptInput {
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
    /// The 12- or 16-byte IV.
    pub iv: Vec<u8>,
    /// The 16-byte tag.
    pub tag: Vec<u8>,
    /// The AES-GCM AAD, from the caller's AAD and the ciphertext metadata.
    pub gcm_aad: Vec<u8>,
}

impl<'a> DecryptBody<'a> {
    /// Decodes the JSON body.
    pub fn parse(body: &'a [u8]) -> Result<DecryptBody<'a>, XksError> {
        serde_json::from_slice(body).map_err(|e| invalid_json(&e))
    }

    /// The checks before authorization: the algorithm.
    pub fn check(&self) -> Result<(), XksError> {
        check_algorithm(self.encryption_algorithm.as_deref())
    }

    /// The Base64 fields, decoded and their sizes checked (after authorization).
    pub fn input(&self) -> Result<DecryptInput, XksError> {
        let bad = ErrorName::InvalidCiphertextException;
        let missing = |name: &str| reject(bad, format!("{name} is required"));
        let ciphertext = decode_field(self.ciphertext.as_deref(), "ciphertext", bad)?
            .ok_or_else(|| missing("ciphertext"))?;
        let iv = decode_field(
            self.initialization_vector.as_deref(),
            "initializationVector",
            bad,
        )?
        .ok_or_else(|| missing("initializationVector"))?;
        let tag = decode_field(self.authentication_tag.as_deref(), "authenticationTag", bad)?
            .ok_or_else(|| missing("authenticationTag"))?;
        let metadata = decode_field(
            self.ciphertext_metadata.as_deref(),
            "ciphertextMetadata",
            bad,
        )?
        .unwrap_or_default();
        let aad = decode_field(
            self.additional_authenticated_data.as_deref(),
            "additionalAuthenticatedData",
            bad,
        )?
        .unwrap_or_default();
        if ciphertext.len() > MAX_DATA_BYTES {
            return Err(reject(
                ErrorName::UnsupportedOperationException,
                format!("ciphertext exceeds the {MAX_DATA_BYTES} bytes this proxy supports"),
            ));
        }
        if aad.len() > xks::MAX_AAD_LEN {
            return Err(reject(
                ErrorName::UnsupportedOperationException,
                format!(
                    "additionalAuthenticatedData exceeds the {} bytes this proxy supports",
                    xks::MAX_AAD_LEN
                ),
            ));
        }
        if !matches!(iv.len(), xks::IV_LEN_12 | xks::IV_LEN_16) {
            return Err(reject(bad, "initializationVector must be 12 or 16 bytes"));
        }
        if tag.len() != xks::TAG_LEN {
            return Err(reject(bad, "authenticationTag must be 16 bytes"));
        }
        if metadata.len() > xks::MAX_CIPHERTEXT_METADATA_LEN {
            return Err(reject(bad, "ciphertextMetadata must be at most 20 bytes"));
        }
        // Any metadata is authenticated through the AAD; format 1 (and metadata from other
        // proxies that follow the specification) all use the same construction.
        let gcm_aad = xks::gcm_aad(&aad, &metadata).map_err(|e| reject(bad, e.to_string()))?;
        Ok(DecryptInput {
            ciphertext,
            iv,
            tag,
            gcm_aad,
        })
    }
}
