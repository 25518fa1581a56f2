//! GenerateDataKeyPair: a fresh key pair of any DataKeyPairSpec, the
//! private key as PKCS#8 DER and the public key as DER SubjectPublicKeyInfo.

use kms_api::wire::DataKeyPairSpec;
use kms_model::MaterialKind;
use zeroize::Zeroizing;

use super::{KeyOpError, Material};

/// A data key pair as GenerateDataKeyPair returns it (before the private key
/// is encrypted under the KMS key). `Debug` does not show the private key.
pub struct DataKeyPair {
    /// The private key, PKCS#8 DER (ML-KEM in RFC 9935's seed form).
    pub private_key: Zeroizing<Vec<u8>>,
    /// The public key, DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for DataKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeyPair")
            .field("private_key", &"<redacted>")
            .field("public_key_len", &self.public_key.len())
            .finish()
    }
}

/// The material kind of a data key pair spec.
pub fn data_key_pair_kind(spec: DataKeyPairSpec) -> MaterialKind {
    match spec {
        DataKeyPairSpec::Rsa2048 => MaterialKind::Rsa(2048),
        DataKeyPairSpec::Rsa3072 => MaterialKind::Rsa(3072),
        DataKeyPairSpec::Rsa4096 => MaterialKind::Rsa(4096),
        DataKeyPairSpec::EccNistP256 => MaterialKind::EccNist(256),
        DataKeyPairSpec::EccNistP384 => MaterialKind::EccNist(384),
        DataKeyPairSpec::EccNistP521 => MaterialKind::EccNist(521),
        DataKeyPairSpec::EccSecgP256k1 => MaterialKind::Secp256k1,
        DataKeyPairSpec::Sm2 => MaterialKind::Sm2,
        DataKeyPairSpec::EccNistEdwards25519 => MaterialKind::Ed25519,
        DataKeyPairSpec::MlKem512 => MaterialKind::MlKem(512),
        DataKeyPairSpec::MlKem768 => MaterialKind::MlKem(768),
        DataKeyPairSpec::MlKem1024 => MaterialKind::MlKem(1024),
    }
}

/// A fresh data key pair of `spec`. SM2 is [`KeyOpError::Unsupported`].
pub fn generate_data_key_pair(spec: DataKeyPairSpec) -> Result<DataKeyPair, KeyOpError> {
    let material = Material::generate(data_key_pair_kind(spec))?;
    let public_key = material
        .public_key_der()
        .ok_or(KeyOpError::Internal)?
        .to_vec();
    Ok(DataKeyPair {
        private_key: Zeroizing::new(material.expose_storage().to_vec()),
        public_key,
    })
}
