//! Encapsulate and Decapsulate with ML-KEM keys (FIPS 203): the shared
//! secret is 32 bytes; the ciphertext 768, 1088 or 1568 bytes for
//! ML_KEM_512, 768 and 1024.

use aws_lc_rs::kem::Ciphertext;
use kms_api::wire::EncapsulationAlgorithmSpec;
use zeroize::Zeroizing;

use super::material::{Loaded, Material, MlKemKey};
use super::KeyOpError;

impl Material {
    fn ml_kem(&self, operation: &'static str) -> Result<&MlKemKey, KeyOpError> {
        match &self.key {
            Loaded::MlKem(k) => Ok(k),
            _ => Err(KeyOpError::WrongKeyType {
                spec: self.spec(),
                operation,
            }),
        }
    }

    /// A fresh shared secret and its ciphertext under the public key, as
    /// Encapsulate returns them: `(ciphertext, shared secret)`.
    pub fn encapsulate(
        &self,
        alg: EncapsulationAlgorithmSpec,
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), KeyOpError> {
        let EncapsulationAlgorithmSpec::MlKem = alg;
        let key = self.ml_kem("Encapsulate")?;
        let (ciphertext, secret) = key
            .encapsulation
            .encapsulate()
            .map_err(|_| KeyOpError::Internal)?;
        Ok((
            ciphertext.as_ref().to_vec(),
            Zeroizing::new(secret.as_ref().to_vec()),
        ))
    }

    /// The shared secret in `ciphertext`, as Decapsulate returns it. A
    /// ciphertext of the wrong length is [`KeyOpError::InvalidCiphertext`];
    /// one of the right length always decapsulates (to a pseudorandom
    /// secret if it was not made for this key: ML-KEM's implicit rejection).
    pub fn decapsulate(
        &self,
        alg: EncapsulationAlgorithmSpec,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOpError> {
        let EncapsulationAlgorithmSpec::MlKem = alg;
        let key = self.ml_kem("Decapsulate")?;
        let secret = key
            .decapsulation
            .decapsulate(Ciphertext::from(ciphertext))
            .map_err(|_| KeyOpError::InvalidCiphertext)?;
        Ok(Zeroizing::new(secret.as_ref().to_vec()))
    }
}
