//! The crate's error type.

/// Everything that can go wrong in this crate.
///
/// No variant ever carries key material, plaintext or any part of an input
/// that could be secret: the messages are fixed strings or describe only
/// lengths and positions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The ciphertext blob is not in our format, was altered, or does not
    /// decrypt under the given key and encryption context.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// The root key (or its file contents) is malformed. The message explains
    /// what is wrong without quoting the input.
    #[error("invalid root key: {0}")]
    InvalidRootKey(String),
    /// A wrapped backing key could not be unwrapped: wrong root key, wrong
    /// context, unknown version, or tampering.
    #[error("failed to unwrap key material")]
    Unwrap,
    /// A root key held in an HSM could not be used: the token, its session or its library
    /// failed (not the record). The message names the token and key, never a secret.
    #[error("the root key cannot be used: {0}")]
    RootKeyUnavailable(String),
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// An encryption-context key or value is too long to encode.
    #[error("encryption context too large")]
    ContextTooLarge,
    /// Key material of the wrong length was supplied.
    #[error("invalid key material length: expected {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// The required length in bytes.
        expected: usize,
        /// The supplied length in bytes.
        actual: usize,
    },
    /// A KMS key id that cannot be stored in a blob header (empty, longer
    /// than [`crate::MAX_KEY_ID_LEN`], or not printable ASCII).
    #[error("invalid key id for ciphertext header")]
    InvalidKeyId,
    /// A backing key id in text form is not 64 lowercase hex digits.
    #[error("invalid backing key id")]
    InvalidBackingKeyId,
    /// The plaintext is too long for the requested blob layout.
    #[error("plaintext too large")]
    PlaintextTooLarge,
    /// The blob uses a different protection layer than the operation expects
    /// (for example an external-key-store blob given to `decrypt_blob`).
    #[error("ciphertext uses a different protection layer")]
    LayerMismatch,
    /// External-key-store layer fields out of range (IV length, metadata
    /// length, outer ciphertext length).
    #[error("invalid external key store layer")]
    InvalidExternalLayer,
    /// The underlying AEAD implementation reported an unexpected failure
    /// while sealing. Should not happen with valid inputs.
    #[error("internal cryptographic failure")]
    Internal,
}
