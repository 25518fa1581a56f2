//! Key material of every kind and the operations AWS KMS performs with it
//! beyond symmetric encryption: asymmetric keys (RSA, ECC, Ed25519, ML-DSA,
//! ML-KEM), HMAC keys, data key pairs and imported key material.
//!
//! # API summary
//!
//! Material, one per key version (parse once, cache, share across threads):
//!
//! * [`Material::generate`]`(kind)` — fresh material of any
//!   [`MaterialKind`] (SM2: `Unsupported`).
//! * [`Material::from_storage`]`(kind, bytes)` / [`Material::expose_storage`]
//!   — the storage form: raw bytes for AES/HMAC, PKCS#8 DER for key pairs.
//!   To store it, seal it: [`crate::RootKey::seal_material`]`(&material,
//!   context)` and [`crate::RootKey::open_material`]`(kind, sealed, context)`
//!   (AES keeps the existing 61-byte `RootKey::wrap` format).
//! * [`Material::public_key_der`] — GetPublicKey's DER SubjectPublicKeyInfo.
//! * [`Material::as_aes`] — the AES key, for the ciphertext-blob functions.
//! * [`Material::same_key_as`] — re-import of the same material?
//!
//! Operations (each checks AWS's rules and returns [`KeyOpError`], whose
//! `code()` and `Display` are AWS's exception and message; `KmsError::from`
//! converts):
//!
//! * Sign / Verify: [`Material::sign`]`(alg, message_type, message)`,
//!   [`Material::verify`]`(…, signature) -> Ok(bool)` (`false` is
//!   KMSInvalidSignatureException). Rules: the [`sign`] module.
//! * Encrypt / Decrypt (RSA): [`Material::encrypt`], [`Material::decrypt`],
//!   [`Material::max_plaintext_len`].
//! * GenerateMac / VerifyMac: [`Material::generate_mac`],
//!   [`Material::verify_mac`]` -> Ok(bool)` (`false` is KMSInvalidMacException).
//! * DeriveSharedSecret: [`Material::derive_shared_secret`]`(ECDH, peer_spki)`.
//! * Encapsulate / Decapsulate: [`Material::encapsulate`]` -> (ciphertext,
//!   secret)`, [`Material::decapsulate`].
//! * GenerateDataKeyPair: [`generate_data_key_pair`]`(spec) -> DataKeyPair
//!   { private_key (PKCS#8), public_key (SPKI) }`.
//! * GetParametersForImport / ImportKeyMaterial: [`WrappingKey::generate`],
//!   [`WrappingKey::public_key_der`], [`WrappingKey::pkcs8`] /
//!   [`WrappingKey::from_pkcs8`] (keep it with the import token),
//!   [`WrappingKey::unwrap`]`(wrapping_alg, encrypted)`, then
//!   [`import_material`]`(kind, plaintext) -> Material`.
//!
//! What the caller still checks before calling: the key's usage (these
//! functions refuse a material that cannot do the operation with
//! `WrongKeyType`, but AWS's message for that names the key ARN), key state,
//! the wire-level validation of the request (lengths 1–4096 are checked
//! again here), and SM2 (refused outside China Regions).

mod agree;
mod data_key_pair;
mod encrypt;
mod error;
mod import;
mod kem;
mod mac;
mod material;
pub mod sign;

pub use data_key_pair::{data_key_pair_kind, generate_data_key_pair, DataKeyPair};
pub use error::KeyOpError;
pub use import::{import_material, WrappingKey};
pub use kms_model::MaterialKind;
pub use mac::MAX_MAC_MESSAGE_LEN;
pub use material::{hmac_key_lengths, spec_for_kind, Material};
pub use sign::MAX_MESSAGE_LEN;

/// A label for each material kind, bound into the sealed form so stored
/// material cannot be opened as another kind.
pub(crate) fn kind_label(kind: MaterialKind) -> String {
    match kind {
        MaterialKind::Aes256Gcm => "aes-256-gcm".to_owned(),
        MaterialKind::Hmac(bits) => format!("hmac-{bits}"),
        MaterialKind::Rsa(bits) => format!("rsa-{bits}"),
        MaterialKind::EccNist(bits) => format!("ecc-nist-p{bits}"),
        MaterialKind::Secp256k1 => "ecc-secg-p256k1".to_owned(),
        MaterialKind::Ed25519 => "ed25519".to_owned(),
        MaterialKind::Sm2 => "sm2".to_owned(),
        MaterialKind::MlDsa(set) => format!("ml-dsa-{set}"),
        MaterialKind::MlKem(set) => format!("ml-kem-{set}"),
    }
}
