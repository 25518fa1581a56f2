//! Pure cryptography for Strongroom: backing key material, root-key
//! wrapping, the ciphertext blob format and AES-256-GCM.
//!
//! Nothing here does I/O or blocks; every function is synchronous and
//! deterministic apart from drawing random bytes from the system generator.
//!
//! * [`KeyMaterial`] and [`PreparedKey`]: 256-bit backing keys, wiped on
//!   drop, and their reusable AES key schedules.
//! * [`RootKey`]: wraps backing keys for storage; also reads and writes the
//!   root key file.
//! * [`encode_encryption_context`]: canonical bytes of an encryption context.
//! * [`encrypt_blob`], [`parse_blob`], [`decrypt_blob`]: the ciphertext
//!   blob; its byte layout is documented in the [`blob`] module.
//!
//! Errors are [`CryptoError`]; none of them carries secret data.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blob;
mod context;
mod error;
mod hex;
mod key;
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
pub use root::{RootKey, ROOT_KEY_FILE_PREFIX, WRAPPED_KEY_LEN};
