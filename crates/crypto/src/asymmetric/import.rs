//! Imported key material: the RSA wrapping key of GetParametersForImport,
//! unwrapping ImportKeyMaterial's EncryptedKeyMaterial, and AWS's checks on
//! what was imported.
//!
//! Wrapping algorithms:
//!
//! * `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`: the material itself,
//!   RSA-OAEP encrypted (MGF1 with the same hash, empty label). It only fits
//!   small material: no RSA private key, and not a P-521 key under RSA_2048.
//! * `RSA_AES_KEY_WRAP_SHA_1`, `RSA_AES_KEY_WRAP_SHA_256`: a one-time AES key
//!   (AWS asks for 256 bits; 128 is accepted too), RSA-OAEP encrypted with
//!   that hash, followed directly by the material wrapped under the AES key
//!   with AES Key Wrap with Padding (RFC 5649). The first part is as long as
//!   the wrapping key's modulus. This is PKCS#11's `CKM_RSA_AES_KEY_WRAP`.
//!
//! `RSAES_PKCS1_V1_5` (withdrawn by AWS) and `SM2PKE` (China Regions) are
//! refused as [`KeyOpError::Unsupported`].

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_128, AES_256};
use aws_lc_rs::rsa::{KeySize, OaepAlgorithm, PrivateDecryptingKey};
use kms_api::wire::{AlgorithmSpec, EncryptionAlgorithmSpec, WrappingKeySpec};
use kms_model::MaterialKind;
use zeroize::Zeroizing;

use super::encrypt::{oaep, oaep_decrypt};
use super::material::{spec_for_kind, RsaOaep};
use super::{KeyOpError, Material};
use crate::der::{self, oid};

/// The RSA key pair GetParametersForImport hands out the public half of.
/// Keep its PKCS#8 (sealed) with the import token; `Debug` hides it.
pub struct WrappingKey {
    spec: WrappingKeySpec,
    pkcs8: Zeroizing<Vec<u8>>,
    oaep: RsaOaep,
    modulus_len: usize,
    public_der: Vec<u8>,
}

fn rsa_bits(spec: WrappingKeySpec) -> Result<(KeySize, usize), KeyOpError> {
    match spec {
        WrappingKeySpec::Rsa2048 => Ok((KeySize::Rsa2048, 256)),
        WrappingKeySpec::Rsa3072 => Ok((KeySize::Rsa3072, 384)),
        WrappingKeySpec::Rsa4096 => Ok((KeySize::Rsa4096, 512)),
        WrappingKeySpec::Sm2 => Err(KeyOpError::Unsupported("SM2")),
    }
}

impl WrappingKey {
    /// A fresh wrapping key pair of `spec` (RSA_2048, RSA_3072 or RSA_4096).
    pub fn generate(spec: WrappingKeySpec) -> Result<WrappingKey, KeyOpError> {
        let (size, _) = rsa_bits(spec)?;
        let key = PrivateDecryptingKey::generate(size).map_err(|_| KeyOpError::Internal)?;
        let der = key.as_der().map_err(|_| KeyOpError::Internal)?;
        WrappingKey::from_pkcs8(spec, der.as_ref()).map_err(|_| KeyOpError::Internal)
    }

    /// Loads a wrapping key saved with [`WrappingKey::pkcs8`]; anything else
    /// is [`KeyOpError::DamagedMaterial`].
    pub fn from_pkcs8(spec: WrappingKeySpec, pkcs8: &[u8]) -> Result<WrappingKey, KeyOpError> {
        let (_, modulus_len) = rsa_bits(spec)?;
        let bad = KeyOpError::DamagedMaterial;
        let p8 = der::pkcs8(pkcs8).ok_or(bad.clone())?;
        if p8.algorithm.oid != oid::RSA {
            return Err(bad);
        }
        let oaep = RsaOaep::from_pkcs8(pkcs8).ok_or(bad.clone())?;
        if oaep.private.key_size_bytes() != modulus_len {
            return Err(bad);
        }
        let public_der = oaep.public_der.clone();
        Ok(WrappingKey {
            spec,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            oaep,
            modulus_len,
            public_der,
        })
    }

    /// The wrapping key spec.
    pub fn spec(&self) -> WrappingKeySpec {
        self.spec
    }

    /// The private key as PKCS#8 DER (secret: seal it).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key, DER SubjectPublicKeyInfo: GetParametersForImport's
    /// `PublicKey`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Recovers the key material from ImportKeyMaterial's
    /// `EncryptedKeyMaterial`. Anything that does not unwrap is
    /// [`KeyOpError::InvalidCiphertext`].
    pub fn unwrap(
        &self,
        alg: AlgorithmSpec,
        encrypted: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOpError> {
        let oaep_of = |hash| oaep(hash).map(|(a, _)| a).ok_or(KeyOpError::Internal);
        match alg {
            AlgorithmSpec::RsaesOaepSha1 => oaep_decrypt(
                &self.oaep,
                oaep_of(EncryptionAlgorithmSpec::RsaesOaepSha1)?,
                encrypted,
            ),
            AlgorithmSpec::RsaesOaepSha256 => oaep_decrypt(
                &self.oaep,
                oaep_of(EncryptionAlgorithmSpec::RsaesOaepSha256)?,
                encrypted,
            ),
            AlgorithmSpec::RsaAesKeyWrapSha1 => {
                self.rsa_aes_unwrap(oaep_of(EncryptionAlgorithmSpec::RsaesOaepSha1)?, encrypted)
            }
            AlgorithmSpec::RsaAesKeyWrapSha256 => self.rsa_aes_unwrap(
                oaep_of(EncryptionAlgorithmSpec::RsaesOaepSha256)?,
                encrypted,
            ),
            AlgorithmSpec::RsaesPkcs1V15 => Err(KeyOpError::Unsupported("RSAES_PKCS1_V1_5")),
            AlgorithmSpec::Sm2pke => Err(KeyOpError::Unsupported("SM2PKE")),
        }
    }

    fn rsa_aes_unwrap(
        &self,
        alg: &'static OaepAlgorithm,
        encrypted: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOpError> {
        let invalid = KeyOpError::InvalidCiphertext;
        let (wrapped_key, wrapped_material) = encrypted
            .split_at_checked(self.modulus_len)
            .ok_or(invalid.clone())?;
        let aes_key = oaep_decrypt(&self.oaep, alg, wrapped_key)?;
        let cipher = match aes_key.len() {
            32 => &AES_256,
            16 => &AES_128,
            _ => return Err(invalid),
        };
        let kek = AesKek::new(cipher, &aes_key).map_err(|_| invalid.clone())?;
        let mut out = Zeroizing::new(vec![0u8; wrapped_material.len()]);
        let len = kek
            .unwrap_with_padding(wrapped_material, &mut out)
            .map_err(|_| invalid)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappingKey({}, <redacted>)", self.spec)
    }
}

/// Checks unwrapped key material against the key's kind, as ImportKeyMaterial
/// does, and loads it:
///
/// * SYMMETRIC_DEFAULT: exactly 32 bytes;
/// * HMAC_*: the lengths of [`super::hmac_key_lengths`];
/// * RSA, ECC, Ed25519, ML-DSA, ML-KEM: a PKCS#8 DER private key of exactly
///   the key spec (algorithm, curve, modulus size, parameter set) that the
///   library accepts as consistent.
///
/// Anything else is [`KeyOpError::IncorrectKeyMaterial`]. The material is
/// stored as given ([`Material::expose_storage`]).
pub fn import_material(kind: MaterialKind, plaintext: &[u8]) -> Result<Material, KeyOpError> {
    let spec = spec_for_kind(kind).ok_or(KeyOpError::Internal)?;
    if kind == MaterialKind::Sm2 {
        return Err(KeyOpError::Unsupported("SM2"));
    }
    Material::load(kind, Zeroizing::new(plaintext.to_vec()))
        .map_err(|_| KeyOpError::IncorrectKeyMaterial { spec })
}
