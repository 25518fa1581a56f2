//! Pure cryptography for Strongroom: backing key material, root-key
//! wrapping, the ciphertext blob format and AES-256-GCM.
//!
//! Nothing here does I/O or blocks; every function is synchronous and
//! deterministic apart from drawing random bytes from the system generator.
//!
//! * [`KeyMaterial`] and [`PreparedKey`]: 256-bit backing keys, wiped on
//!   drop, and their reusable AES key schedules.
//! * [`RootKey`]: wraps backing keys for storage; also reads and writes the
//!   root key file. A root key may be held in an HSM instead of memory: its
//!   AES-GCM then runs through an [`ExternalRootCipher`] the caller supplies
//!   (the one place where a call here may block).
//! * [`encode_encryption_context`]: canonical bytes of an encryption context.
//! * [`encrypt_blob`], [`parse_blob`], [`decrypt_blob`]: the ciphertext
//!   blob; its byte layout is documented in the [`blob`] module.
//!
//! * [`asymmetric`]: key material of every kind (AES, HMAC, RSA, ECC,
//!   Ed25519, ML-DSA, ML-KEM) and the operations on it: Sign/Verify,
//!   RSA Encrypt/Decrypt, MACs, ECDH, ML-KEM, data key pairs, imported
//!   material. Its module documentation summarises the API.
//!
//! Errors are [`CryptoError`] and, for key operations,
//! [`asymmetric::KeyOpError`]; none of them carries secret data.

// `unsafe` only in `lc`, the boundary to the few AWS-LC functions that
// aws-lc-rs does not wrap (Ed25519ph, ML-DSA external mu, ML-KEM seeds).
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod asymmetric;
pub mod blob;
mod context;
mod der;
mod error;
mod hex;
mod key;
mod lc;
mod reader;
mod root;

pub use blob::{
    decrypt_blob, decrypt_blob_with, encode_blob, encrypt_blob, encrypt_blob_with,
    open_external_inner_with, parse_blob, seal_external_inner_with, Algorithm, BlobHeader,
    ExternalInner, ExternalLayer, Layer, ParsedBlob, MAX_KEY_ID_LEN,
};
pub use context::encode_encryption_context;
pub use error::CryptoError;
pub use key::{
    backing_key_id_hex, new_backing_key_id, parse_backing_key_id_hex, random_bytes, KeyMaterial,
    PreparedKey, BACKING_KEY_ID_LEN, BACKING_KEY_LEN,
};
pub use root::{
    sealed_by, ExternalRootCipher, ExternalSealed, Resealed, RootKey, RootKind,
    ROOT_KEY_FILE_PREFIX, ROOT_NONCE_LEN, ROOT_TAG_LEN, WRAPPED_KEY_LEN,
};
