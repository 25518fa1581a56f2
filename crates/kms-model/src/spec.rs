//! What a key's type allows: AWS's table of key usages per key spec, the algorithms each
//! (spec, usage) supports, and the kind of material a key of the spec holds.

use kms_api::wire::{
    EncapsulationAlgorithmSpec as Encap, EncryptionAlgorithmSpec as Enc,
    KeyAgreementAlgorithmSpec as Agree, KeySpec, KeyUsage, MacAlgorithmSpec as Mac,
    SigningAlgorithmSpec as Sign,
};
use serde::{Deserialize, Serialize};

/// A key spec with a usage AWS allows for it; no other pair can be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyType {
    spec: KeySpec,
    usage: KeyUsage,
}

impl KeyType {
    /// The symmetric encryption key, AWS's default.
    pub const SYMMETRIC_DEFAULT: KeyType = KeyType {
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsage::EncryptDecrypt,
    };

    /// `None` when AWS does not allow `usage` for `spec`.
    pub fn new(spec: KeySpec, usage: KeyUsage) -> Option<KeyType> {
        KeyType::usages(spec)
            .contains(&usage)
            .then_some(KeyType { spec, usage })
    }

    /// The usages AWS allows for a key spec.
    pub fn usages(spec: KeySpec) -> &'static [KeyUsage] {
        use KeySpec::*;
        use KeyUsage::*;
        match spec {
            SymmetricDefault => &[EncryptDecrypt],
            Rsa2048 | Rsa3072 | Rsa4096 => &[EncryptDecrypt, SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 => &[SignVerify, KeyAgreement],
            EccSecgP256k1 | EccNistEdwards25519 => &[SignVerify],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[GenerateVerifyMac],
            Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
            MlDsa44 | MlDsa65 | MlDsa87 => &[SignVerify],
            MlKem512 | MlKem768 | MlKem1024 => &[EncapsulateDecapsulate],
        }
    }

    /// The key spec.
    pub fn spec(self) -> KeySpec {
        self.spec
    }

    /// The key usage.
    pub fn usage(self) -> KeyUsage {
        self.usage
    }

    /// The encryption algorithms of an `ENCRYPT_DECRYPT` key (empty for others).
    pub fn encryption_algorithms(self) -> &'static [Enc] {
        use KeySpec::*;
        match (self.usage, self.spec) {
            (KeyUsage::EncryptDecrypt, SymmetricDefault) => &[Enc::SymmetricDefault],
            (KeyUsage::EncryptDecrypt, Rsa2048 | Rsa3072 | Rsa4096) => {
                &[Enc::RsaesOaepSha1, Enc::RsaesOaepSha256]
            }
            (KeyUsage::EncryptDecrypt, Sm2) => &[Enc::Sm2pke],
            _ => &[],
        }
    }

    /// The signing algorithms of a `SIGN_VERIFY` key (empty for others), in the order AWS lists
    /// them.
    pub fn signing_algorithms(self) -> &'static [Sign] {
        use KeySpec::*;
        if self.usage != KeyUsage::SignVerify {
            return &[];
        }
        match self.spec {
            Rsa2048 | Rsa3072 | Rsa4096 => &[
                Sign::RsassaPkcs1V15Sha256,
                Sign::RsassaPkcs1V15Sha384,
                Sign::RsassaPkcs1V15Sha512,
                Sign::RsassaPssSha256,
                Sign::RsassaPssSha384,
                Sign::RsassaPssSha512,
            ],
            EccNistP256 | EccSecgP256k1 => &[Sign::EcdsaSha256],
            EccNistP384 => &[Sign::EcdsaSha384],
            EccNistP521 => &[Sign::EcdsaSha512],
            EccNistEdwards25519 => &[Sign::Ed25519PhSha512, Sign::Ed25519Sha512],
            Sm2 => &[Sign::Sm2dsa],
            MlDsa44 | MlDsa65 | MlDsa87 => &[Sign::MlDsaShake256],
            _ => &[],
        }
    }

    /// The MAC algorithm of a `GENERATE_VERIFY_MAC` key (empty for others).
    pub fn mac_algorithms(self) -> &'static [Mac] {
        match self.spec {
            KeySpec::Hmac224 => &[Mac::HmacSha224],
            KeySpec::Hmac256 => &[Mac::HmacSha256],
            KeySpec::Hmac384 => &[Mac::HmacSha384],
            KeySpec::Hmac512 => &[Mac::HmacSha512],
            _ => &[],
        }
    }

    /// The key agreement algorithms of a `KEY_AGREEMENT` key (empty for others).
    pub fn key_agreement_algorithms(self) -> &'static [Agree] {
        if self.usage == KeyUsage::KeyAgreement {
            &[Agree::Ecdh]
        } else {
            &[]
        }
    }

    /// The encapsulation algorithms of an `ENCAPSULATE_DECAPSULATE` key (empty for others).
    pub fn encapsulation_algorithms(self) -> &'static [Encap] {
        if self.usage == KeyUsage::EncapsulateDecapsulate {
            &[Encap::MlKem]
        } else {
            &[]
        }
    }

    /// What material a key of this type holds.
    pub fn material(self) -> MaterialKind {
        MaterialKind::for_spec(self.spec)
    }
}

/// The kind of material a key version holds: what the crypto layer must be able to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaterialKind {
    /// 256-bit AES-GCM (symmetric encryption keys).
    Aes256Gcm,
    /// An HMAC key of the given digest size in bits (224, 256, 384, 512).
    Hmac(u16),
    /// An RSA key pair of the given modulus size in bits.
    Rsa(u16),
    /// A NIST prime-curve key pair of the given size in bits (256, 384, 521).
    EccNist(u16),
    /// A secp256k1 key pair.
    Secp256k1,
    /// An Ed25519 key pair.
    Ed25519,
    /// An SM2 key pair.
    Sm2,
    /// An ML-DSA key pair of the given parameter set (44, 65, 87).
    MlDsa(u8),
    /// An ML-KEM key pair of the given parameter set (512, 768, 1024).
    MlKem(u16),
}

impl MaterialKind {
    /// The material of a key spec.
    pub fn for_spec(spec: KeySpec) -> MaterialKind {
        use KeySpec::*;
        match spec {
            SymmetricDefault => MaterialKind::Aes256Gcm,
            Hmac224 => MaterialKind::Hmac(224),
            Hmac256 => MaterialKind::Hmac(256),
            Hmac384 => MaterialKind::Hmac(384),
            Hmac512 => MaterialKind::Hmac(512),
            Rsa2048 => MaterialKind::Rsa(2048),
            Rsa3072 => MaterialKind::Rsa(3072),
            Rsa4096 => MaterialKind::Rsa(4096),
            EccNistP256 => MaterialKind::EccNist(256),
            EccNistP384 => MaterialKind::EccNist(384),
            EccNistP521 => MaterialKind::EccNist(521),
            EccSecgP256k1 => MaterialKind::Secp256k1,
            EccNistEdwards25519 => MaterialKind::Ed25519,
            Sm2 => MaterialKind::Sm2,
            MlDsa44 => MaterialKind::MlDsa(44),
            MlDsa65 => MaterialKind::MlDsa(65),
            MlDsa87 => MaterialKind::MlDsa(87),
            MlKem512 => MaterialKind::MlKem(512),
            MlKem768 => MaterialKind::MlKem(768),
            MlKem1024 => MaterialKind::MlKem(1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_has_usages_and_only_those_build() {
        for spec in KeySpec::ALL {
            let usages = KeyType::usages(*spec);
            assert!(!usages.is_empty(), "{spec}");
            for usage in KeyUsage::ALL {
                let t = KeyType::new(*spec, *usage);
                assert_eq!(t.is_some(), usages.contains(usage), "{spec} {usage}");
            }
        }
        assert_eq!(
            KeyType::new(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
            Some(KeyType::SYMMETRIC_DEFAULT)
        );
    }

    #[test]
    fn algorithm_lists_are_in_aws_order() {
        // DescribeKey and GetPublicKey list them in this order on AWS.
        let rsa = KeyType::new(KeySpec::Rsa2048, KeyUsage::SignVerify).expect("allowed");
        let names: Vec<&str> = rsa
            .signing_algorithms()
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512"
            ]
        );
        let ed = KeyType::new(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify).expect("allowed");
        let names: Vec<&str> = ed.signing_algorithms().iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ["ED25519_PH_SHA_512", "ED25519_SHA_512"]);
    }

    #[test]
    fn each_usage_has_its_algorithms() {
        for spec in KeySpec::ALL {
            for usage in KeyType::usages(*spec) {
                let t = KeyType::new(*spec, *usage).expect("allowed");
                let counts = [
                    t.encryption_algorithms().len(),
                    t.signing_algorithms().len(),
                    t.mac_algorithms().len(),
                    t.key_agreement_algorithms().len(),
                    t.encapsulation_algorithms().len(),
                ];
                assert_eq!(
                    counts.iter().filter(|c| **c > 0).count(),
                    1,
                    "{spec} {usage}: {counts:?}"
                );
            }
        }
    }
}
