//! Sign and Verify, with AWS's rules on algorithms, message types and
//! message lengths.
//!
//! | key spec               | algorithms                     | message types      |
//! |------------------------|--------------------------------|--------------------|
//! | RSA_*                  | RSASSA_PSS_SHA_*, RSASSA_PKCS1_V1_5_SHA_* | RAW, DIGEST |
//! | ECC_NIST_P256, ECC_SECG_P256K1 | ECDSA_SHA_256          | RAW, DIGEST        |
//! | ECC_NIST_P384          | ECDSA_SHA_384                  | RAW, DIGEST        |
//! | ECC_NIST_P521          | ECDSA_SHA_512                  | RAW, DIGEST        |
//! | ECC_NIST_EDWARDS25519  | ED25519_SHA_512                | RAW                |
//! |                        | ED25519_PH_SHA_512             | DIGEST (SHA-512)   |
//! | ML_DSA_*               | ML_DSA_SHAKE_256               | RAW, EXTERNAL_MU   |
//!
//! RSASSA-PSS uses MGF1 with the same hash and a salt as long as the digest.
//! ECDSA signatures are DER `ECDSA-Sig-Value`s. ML-DSA is pure ML-DSA with
//! the empty context; EXTERNAL_MU is its 64-byte message representative μ =
//! SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64) (FIPS 204 section 6.2).

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, RsaEncoding, RsaParameters, UnparsedPublicKey, VerificationAlgorithm,
};
use kms_api::wire::{KeyUsage, MessageType, SigningAlgorithmSpec as Alg};
use kms_model::KeyType;

use super::error::internal;
use super::material::{Curve, Loaded, Material};
use super::KeyOpError;
use crate::lc;

/// The longest message (or digest, or μ) Sign and Verify take, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// How an allowed algorithm is computed.
enum Scheme {
    Rsa {
        padding: &'static dyn RsaEncoding,
        verify: &'static RsaParameters,
        hash: &'static digest::Algorithm,
    },
    Ecdsa {
        verify: &'static signature::EcdsaVerificationAlgorithm,
        hash: &'static digest::Algorithm,
    },
    Ed25519,
    Ed25519ph,
    MlDsa,
}

/// What a checked request signs: the message itself, a digest of it, or μ.
enum Input<'a> {
    Raw(&'a [u8]),
    Digest(Digest),
    Ed25519phDigest(&'a [u8; 64]),
    Mu(&'a [u8; lc::ML_DSA_MU_LEN]),
}

fn scheme(alg: Alg, key: &Loaded) -> Option<Scheme> {
    use signature as s;
    let rsa = |padding, verify, hash| Scheme::Rsa {
        padding,
        verify,
        hash,
    };
    Some(match (alg, key) {
        (Alg::RsassaPssSha256, Loaded::Rsa(_)) => rsa(
            &s::RSA_PSS_SHA256,
            &s::RSA_PSS_2048_8192_SHA256,
            &digest::SHA256,
        ),
        (Alg::RsassaPssSha384, Loaded::Rsa(_)) => rsa(
            &s::RSA_PSS_SHA384,
            &s::RSA_PSS_2048_8192_SHA384,
            &digest::SHA384,
        ),
        (Alg::RsassaPssSha512, Loaded::Rsa(_)) => rsa(
            &s::RSA_PSS_SHA512,
            &s::RSA_PSS_2048_8192_SHA512,
            &digest::SHA512,
        ),
        (Alg::RsassaPkcs1V15Sha256, Loaded::Rsa(_)) => rsa(
            &s::RSA_PKCS1_SHA256,
            &s::RSA_PKCS1_2048_8192_SHA256,
            &digest::SHA256,
        ),
        (Alg::RsassaPkcs1V15Sha384, Loaded::Rsa(_)) => rsa(
            &s::RSA_PKCS1_SHA384,
            &s::RSA_PKCS1_2048_8192_SHA384,
            &digest::SHA384,
        ),
        (Alg::RsassaPkcs1V15Sha512, Loaded::Rsa(_)) => rsa(
            &s::RSA_PKCS1_SHA512,
            &s::RSA_PKCS1_2048_8192_SHA512,
            &digest::SHA512,
        ),
        (Alg::EcdsaSha256, Loaded::Ec(k)) if k.curve == Curve::P256 => Scheme::Ecdsa {
            verify: &s::ECDSA_P256_SHA256_ASN1,
            hash: &digest::SHA256,
        },
        (Alg::EcdsaSha256, Loaded::Ec(k)) if k.curve == Curve::Secp256k1 => Scheme::Ecdsa {
            verify: &s::ECDSA_P256K1_SHA256_ASN1,
            hash: &digest::SHA256,
        },
        (Alg::EcdsaSha384, Loaded::Ec(k)) if k.curve == Curve::P384 => Scheme::Ecdsa {
            verify: &s::ECDSA_P384_SHA384_ASN1,
            hash: &digest::SHA384,
        },
        (Alg::EcdsaSha512, Loaded::Ec(k)) if k.curve == Curve::P521 => Scheme::Ecdsa {
            verify: &s::ECDSA_P521_SHA512_ASN1,
            hash: &digest::SHA512,
        },
        (Alg::Ed25519Sha512, Loaded::Ed25519(_)) => Scheme::Ed25519,
        (Alg::Ed25519PhSha512, Loaded::Ed25519(_)) => Scheme::Ed25519ph,
        (Alg::MlDsaShake256, Loaded::MlDsa(_)) => Scheme::MlDsa,
        _ => return None,
    })
}

impl Material {
    /// Checks a Sign or Verify request against AWS's rules, in AWS's order:
    /// the algorithm must be one the key spec allows, the message type one
    /// the algorithm takes, and a digest or μ exactly as long as it must be.
    fn signing_input<'a>(
        &self,
        operation: &'static str,
        alg: Alg,
        message_type: MessageType,
        message: &'a [u8],
    ) -> Result<(Scheme, Input<'a>), KeyOpError> {
        let spec = self.spec();
        let allowed = KeyType::new(spec, KeyUsage::SignVerify)
            .map(|t| t.signing_algorithms())
            .ok_or(KeyOpError::WrongKeyType { spec, operation })?;
        let incompatible = KeyOpError::IncompatibleAlgorithm {
            algorithm: alg.as_str(),
            spec,
        };
        if !allowed.contains(&alg) {
            return Err(incompatible);
        }
        let scheme = scheme(alg, &self.key).ok_or(incompatible)?;
        if message.len() > MAX_MESSAGE_LEN {
            return Err(KeyOpError::TooLong { field: "message" });
        }
        let for_algorithm = KeyOpError::MessageTypeForAlgorithm {
            message_type,
            algorithm: alg.as_str(),
        };
        let for_spec = KeyOpError::MessageTypeForSpec { message_type, spec };
        let digest_length = KeyOpError::DigestLength {
            algorithm: alg.as_str(),
        };
        let input = match (&scheme, message_type) {
            (Scheme::Rsa { .. } | Scheme::Ecdsa { .. }, MessageType::Raw) => Input::Raw(message),
            (Scheme::Rsa { hash, .. } | Scheme::Ecdsa { hash, .. }, MessageType::Digest) => {
                Input::Digest(Digest::import_less_safe(message, hash).map_err(|_| digest_length)?)
            }
            (Scheme::Rsa { .. } | Scheme::Ecdsa { .. }, MessageType::ExternalMu) => {
                return Err(for_spec)
            }
            (Scheme::Ed25519, MessageType::Raw) => Input::Raw(message),
            (Scheme::Ed25519, _) => return Err(for_algorithm),
            (Scheme::Ed25519ph, MessageType::Digest) => {
                Input::Ed25519phDigest(message.try_into().map_err(|_| digest_length)?)
            }
            (Scheme::Ed25519ph, _) => return Err(for_algorithm),
            (Scheme::MlDsa, MessageType::Raw) => Input::Raw(message),
            (Scheme::MlDsa, MessageType::ExternalMu) => Input::Mu(
                message
                    .try_into()
                    .map_err(|_| KeyOpError::ExternalMuLength)?,
            ),
            (Scheme::MlDsa, MessageType::Digest) => return Err(for_spec),
        };
        Ok((scheme, input))
    }

    /// Signs `message` (a message, digest or μ, as `message_type` says) the
    /// way AWS's Sign does. The errors are AWS's refusals (see
    /// [`KeyOpError`]); [`KeyOpError::Internal`] only if the library fails.
    pub fn sign(
        &self,
        alg: Alg,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyOpError> {
        let (scheme, input) = self.signing_input("Sign", alg, message_type, message)?;
        match (&self.key, scheme, input) {
            (Loaded::Rsa(k), Scheme::Rsa { padding, .. }, input) => {
                let mut sig = vec![0u8; k.modulus_len];
                match input {
                    Input::Raw(m) => k
                        .signing
                        .sign(padding, &SystemRandom::new(), m, &mut sig)
                        .map_err(internal)?,
                    Input::Digest(d) => k
                        .signing
                        .sign_digest(padding, &d, &mut sig)
                        .map_err(internal)?,
                    _ => return Err(KeyOpError::Internal),
                }
                Ok(sig)
            }
            (Loaded::Ec(k), Scheme::Ecdsa { .. }, input) => {
                let sig = match input {
                    Input::Raw(m) => k.signing.sign(&SystemRandom::new(), m).map_err(internal)?,
                    Input::Digest(d) => k.signing.sign_digest(&d).map_err(internal)?,
                    _ => return Err(KeyOpError::Internal),
                };
                Ok(sig.as_ref().to_vec())
            }
            (Loaded::Ed25519(k), Scheme::Ed25519, Input::Raw(m)) => {
                Ok(k.pair.try_sign(m).map_err(internal)?.as_ref().to_vec())
            }
            (Loaded::Ed25519(k), Scheme::Ed25519ph, Input::Ed25519phDigest(d)) => {
                Ok(lc::ed25519ph_sign_digest(d, &k.seed_and_public)
                    .ok_or(KeyOpError::Internal)?
                    .to_vec())
            }
            (Loaded::MlDsa(k), Scheme::MlDsa, Input::Raw(m)) => {
                let mut sig = vec![0u8; k.pair.algorithm().signature_len()];
                let len = k.pair.sign(m, &mut sig).map_err(internal)?;
                sig.truncate(len);
                Ok(sig)
            }
            (Loaded::MlDsa(k), Scheme::MlDsa, Input::Mu(mu)) => {
                use aws_lc_rs::encoding::AsRawBytes;
                let raw = k.pair.private_key().as_raw_bytes().map_err(internal)?;
                lc::ml_dsa_sign_mu(k.set, raw.as_ref(), mu).ok_or(KeyOpError::Internal)
            }
            _ => Err(KeyOpError::Internal),
        }
    }

    /// Verifies `signature` the way AWS's Verify does: `Ok(false)` for a
    /// signature that does not verify (KMSInvalidSignatureException), an
    /// error for a request AWS refuses before verifying.
    pub fn verify(
        &self,
        alg: Alg,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyOpError> {
        let (scheme, input) = self.signing_input("Verify", alg, message_type, message)?;
        let public = self.public_key_der().ok_or(KeyOpError::Internal)?;
        let check = |alg: &'static dyn VerificationAlgorithm, input: Input<'_>| {
            let key = UnparsedPublicKey::new(alg, public);
            match input {
                Input::Raw(m) => key.verify(m, signature).is_ok(),
                Input::Digest(d) => key.verify_digest(&d, signature).is_ok(),
                _ => false,
            }
        };
        Ok(match (&self.key, scheme, input) {
            (Loaded::Rsa(_), Scheme::Rsa { verify, .. }, input) => check(verify, input),
            (Loaded::Ec(_), Scheme::Ecdsa { verify, .. }, input) => check(verify, input),
            (Loaded::Ed25519(_), Scheme::Ed25519, input) => check(&signature::ED25519, input),
            (Loaded::Ed25519(k), Scheme::Ed25519ph, Input::Ed25519phDigest(d)) => {
                match <&[u8; 64]>::try_from(signature) {
                    Ok(sig) => lc::ed25519ph_verify_digest(d, sig, &k.public),
                    Err(_) => false,
                }
            }
            (Loaded::MlDsa(k), Scheme::MlDsa, Input::Raw(m)) => {
                let alg: &'static dyn VerificationAlgorithm = match k.set {
                    lc::MlDsa::P44 => &signature::ML_DSA_44,
                    lc::MlDsa::P65 => &signature::ML_DSA_65,
                    lc::MlDsa::P87 => &signature::ML_DSA_87,
                };
                UnparsedPublicKey::new(alg, public)
                    .verify(m, signature)
                    .is_ok()
            }
            (Loaded::MlDsa(k), Scheme::MlDsa, Input::Mu(mu)) => {
                use aws_lc_rs::signature::KeyPair;
                lc::ml_dsa_verify_mu(k.set, k.pair.public_key().as_ref(), mu, signature)
            }
            _ => return Err(KeyOpError::Internal),
        })
    }
}
