//! DeriveSharedSecret: ECDH between a KEY_AGREEMENT key (NIST curves) and a
//! peer's public key, given as DER SubjectPublicKeyInfo on the same curve.
//! The shared secret is the raw x-coordinate of the shared point, as AWS
//! returns it (what `openssl pkeyutl -derive` prints too).

use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use kms_api::wire::KeyAgreementAlgorithmSpec;
use zeroize::Zeroizing;

use super::material::{Loaded, Material};
use super::KeyOpError;
use crate::der::{self, oid};

impl Material {
    /// The ECDH shared secret with the peer whose public key is
    /// `peer_public_key` (DER SPKI). A key that is not an EC public key on
    /// this key's curve is [`KeyOpError::InvalidPublicKey`].
    pub fn derive_shared_secret(
        &self,
        alg: KeyAgreementAlgorithmSpec,
        peer_public_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOpError> {
        let KeyAgreementAlgorithmSpec::Ecdh = alg;
        let wrong = KeyOpError::WrongKeyType {
            spec: self.spec(),
            operation: "DeriveSharedSecret",
        };
        let Loaded::Ec(key) = &self.key else {
            return Err(wrong);
        };
        let (Some(private), Some(curve_alg)) = (&key.agreement, key.curve.agreement()) else {
            return Err(wrong);
        };
        // aws-lc-rs would also take a bare point; AWS takes only SPKI.
        let spki = der::spki(peer_public_key).ok_or(KeyOpError::InvalidPublicKey)?;
        if spki.algorithm.oid != oid::EC_PUBLIC_KEY
            || spki.algorithm.param_oid != Some(key.curve.oid())
        {
            return Err(KeyOpError::InvalidPublicKey);
        }
        agreement::agree(
            private,
            UnparsedPublicKey::new(curve_alg, peer_public_key),
            KeyOpError::InvalidPublicKey,
            |secret| Ok(Zeroizing::new(secret.to_vec())),
        )
    }
}
