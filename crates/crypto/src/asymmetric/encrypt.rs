//! Encrypt and Decrypt with RSA key pairs: RSAES-OAEP with SHA-1 or SHA-256
//! (MGF1 with the same hash, empty label), as AWS does.
//!
//! AWS's plaintext limit is OAEP's: the modulus length less twice the hash
//! length less 2, so RSA_2048 takes 214 bytes with SHA-1 and 190 with
//! SHA-256, RSA_3072 342 and 318, RSA_4096 470 and 446.

use aws_lc_rs::rsa::{OaepAlgorithm, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use kms_api::wire::EncryptionAlgorithmSpec as Alg;
use zeroize::Zeroizing;

use super::material::{Loaded, Material, RsaOaep};
use super::KeyOpError;

/// The OAEP parameters of an AWS algorithm, and the hash length.
pub(crate) fn oaep(alg: Alg) -> Option<(&'static OaepAlgorithm, usize)> {
    match alg {
        Alg::RsaesOaepSha1 => Some((&OAEP_SHA1_MGF1SHA1, 20)),
        Alg::RsaesOaepSha256 => Some((&OAEP_SHA256_MGF1SHA256, 32)),
        Alg::SymmetricDefault | Alg::Sm2pke => None,
    }
}

/// The largest plaintext OAEP with a hash of `hash_len` bytes takes under a
/// modulus of `modulus_len` bytes.
pub(crate) fn oaep_max_plaintext(modulus_len: usize, hash_len: usize) -> usize {
    modulus_len.saturating_sub(2 * hash_len + 2)
}

/// OAEP decryption; every failure is [`KeyOpError::InvalidCiphertext`].
pub(crate) fn oaep_decrypt(
    key: &RsaOaep,
    alg: &'static OaepAlgorithm,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyOpError> {
    let mut out = Zeroizing::new(vec![0u8; key.private.min_output_size()]);
    let len = key
        .private
        .decrypt(alg, ciphertext, &mut out, None)
        .map_err(|_| KeyOpError::InvalidCiphertext)?
        .len();
    out.truncate(len);
    Ok(out)
}

impl Material {
    /// The OAEP key and parameters for `alg`, with the hash and modulus
    /// lengths.
    fn rsa_for(
        &self,
        operation: &'static str,
        alg: Alg,
    ) -> Result<(&RsaOaep, &'static OaepAlgorithm, usize, usize), KeyOpError> {
        let spec = self.spec();
        // Symmetric keys encrypt through the ciphertext blob, not here.
        let Loaded::Rsa(key) = &self.key else {
            return Err(KeyOpError::WrongKeyType { spec, operation });
        };
        let (oaep_alg, hash_len) = oaep(alg).ok_or(KeyOpError::IncompatibleAlgorithm {
            algorithm: alg.as_str(),
            spec,
        })?;
        Ok((&key.oaep, oaep_alg, hash_len, key.modulus_len))
    }

    /// The largest plaintext [`Material::encrypt`] takes with `alg`.
    pub fn max_plaintext_len(&self, alg: Alg) -> Result<usize, KeyOpError> {
        let (_, _, hash_len, modulus_len) = self.rsa_for("Encrypt", alg)?;
        Ok(oaep_max_plaintext(modulus_len, hash_len))
    }

    /// RSA-OAEP encryption under the public key, as AWS's Encrypt does with
    /// an RSA key. The ciphertext is as long as the modulus.
    pub fn encrypt(&self, alg: Alg, plaintext: &[u8]) -> Result<Vec<u8>, KeyOpError> {
        let (key, oaep_alg, hash_len, modulus_len) = self.rsa_for("Encrypt", alg)?;
        let max = oaep_max_plaintext(modulus_len, hash_len);
        if plaintext.len() > max {
            return Err(KeyOpError::PlaintextTooLarge {
                algorithm: alg.as_str(),
                spec: self.spec(),
                max,
            });
        }
        let mut out = vec![0u8; key.public.ciphertext_size()];
        let len = key
            .public
            .encrypt(oaep_alg, plaintext, &mut out, None)
            .map_err(|_| KeyOpError::Internal)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// RSA-OAEP decryption, as AWS's Decrypt does with an RSA key. A
    /// ciphertext that does not decrypt is [`KeyOpError::InvalidCiphertext`].
    pub fn decrypt(&self, alg: Alg, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyOpError> {
        let (key, oaep_alg, _, _) = self.rsa_for("Decrypt", alg)?;
        oaep_decrypt(key, oaep_alg, ciphertext)
    }
}
