//! Errors of the key operations, each with the exception and message AWS
//! answers for it.

use kms_api::wire::{KeySpec, MessageType};
use kms_api::{ErrorCode, KmsError};

/// Why a key operation was refused or failed. `Display` is AWS's message and
/// [`KeyOpError::code`] its exception, so `KmsError::from(e)` is the answer a
/// client must see. No variant carries secret data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyOpError {
    /// The algorithm is not one the key's spec allows (`InvalidKeyUsageException`).
    #[error("Algorithm {algorithm} is incompatible with key spec {spec}.")]
    IncompatibleAlgorithm {
        /// The algorithm's wire name.
        algorithm: &'static str,
        /// The key spec.
        spec: KeySpec,
    },
    /// The message type cannot be used with this signing algorithm (Ed25519
    /// takes RAW with `ED25519_SHA_512`, DIGEST with `ED25519_PH_SHA_512`).
    #[error("Message type {message_type} is incompatible with algorithm {algorithm}.")]
    MessageTypeForAlgorithm {
        /// The message type given.
        message_type: MessageType,
        /// The signing algorithm's wire name.
        algorithm: &'static str,
    },
    /// The message type cannot be used with keys of this spec (DIGEST for
    /// ML-DSA, EXTERNAL_MU for anything but ML-DSA).
    #[error("Message type {message_type} is incompatible with key spec {spec}.")]
    MessageTypeForSpec {
        /// The message type given.
        message_type: MessageType,
        /// The key spec.
        spec: KeySpec,
    },
    /// A DIGEST message whose length is not the algorithm's digest length.
    #[error("Digest is invalid length for algorithm {algorithm}.")]
    DigestLength {
        /// The signing algorithm's wire name.
        algorithm: &'static str,
    },
    /// An EXTERNAL_MU message that is not 64 bytes.
    #[error("External Mu is invalid length for algorithm ML_DSA_SHAKE_256.")]
    ExternalMuLength,
    /// A message (or MAC message) longer than 4096 bytes.
    #[error("1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to 4096")]
    TooLong {
        /// The request member, as AWS names it in the message.
        field: &'static str,
    },
    /// RSA-OAEP plaintext over the limit of the key size and hash.
    #[error(
        "Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {max} bytes."
    )]
    PlaintextTooLarge {
        /// The encryption algorithm's wire name.
        algorithm: &'static str,
        /// The key spec.
        spec: KeySpec,
        /// The largest plaintext allowed, in bytes.
        max: usize,
    },
    /// A ciphertext (RSA, ML-KEM, or wrapped import material) that does not
    /// decrypt under the key (`InvalidCiphertextException`, no message).
    #[error("")]
    InvalidCiphertext,
    /// A peer public key for ECDH that is not a DER SubjectPublicKeyInfo of
    /// the key's curve (`ValidationException`; AWS gives no message).
    #[error("")]
    InvalidPublicKey,
    /// Imported key material that does not fit the key spec
    /// (`IncorrectKeyMaterialException`).
    #[error("The key material is not valid for key spec {spec}.")]
    IncorrectKeyMaterial {
        /// The key spec.
        spec: KeySpec,
    },
    /// The key's material cannot do this operation at all (the service checks
    /// key usage first, so this only guards against misuse of the API).
    #[error("{spec} key material cannot perform {operation}.")]
    WrongKeyType {
        /// The key spec.
        spec: KeySpec,
        /// The operation, as AWS names it.
        operation: &'static str,
    },
    /// Something Strongroom does not implement: SM2 (AWS offers it only in
    /// China Regions), RSAES_PKCS1_V1_5 and SM2PKE wrapping.
    #[error("{0} is not supported.")]
    Unsupported(&'static str),
    /// Stored material that does not load: the database and the material
    /// kind disagree, or the row is damaged.
    #[error("stored key material is damaged or of another kind")]
    DamagedMaterial,
    /// The random number generator or the library failed unexpectedly.
    #[error("internal cryptographic failure")]
    Internal,
}

impl KeyOpError {
    /// The AWS exception for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            KeyOpError::IncompatibleAlgorithm { .. } | KeyOpError::WrongKeyType { .. } => {
                ErrorCode::InvalidKeyUsageException
            }
            KeyOpError::MessageTypeForAlgorithm { .. }
            | KeyOpError::MessageTypeForSpec { .. }
            | KeyOpError::DigestLength { .. }
            | KeyOpError::ExternalMuLength
            | KeyOpError::TooLong { .. }
            | KeyOpError::PlaintextTooLarge { .. }
            | KeyOpError::InvalidPublicKey => ErrorCode::ValidationException,
            KeyOpError::InvalidCiphertext => ErrorCode::InvalidCiphertextException,
            KeyOpError::IncorrectKeyMaterial { .. } => ErrorCode::IncorrectKeyMaterialException,
            KeyOpError::Unsupported(_) => ErrorCode::UnsupportedOperationException,
            KeyOpError::DamagedMaterial | KeyOpError::Internal => ErrorCode::KmsInternalException,
        }
    }
}

impl From<KeyOpError> for KmsError {
    fn from(e: KeyOpError) -> Self {
        KmsError::new(e.code(), e.to_string())
    }
}

/// Maps any library failure to [`KeyOpError::Internal`].
pub(crate) fn internal<E>(_: E) -> KeyOpError {
    KeyOpError::Internal
}
