//! [`Material`]: the key material of one key version, of any kind, parsed
//! once and reusable for any number of operations from any thread.
//!
//! # Storage form
//!
//! | kind                | bytes                                               |
//! |---------------------|-----------------------------------------------------|
//! | AES-256-GCM         | the 32 key bytes                                    |
//! | HMAC                | the key bytes (28–128, see [`hmac_key_lengths`])    |
//! | RSA, ECC, Ed25519   | PKCS#8 DER, as generated or as imported             |
//! | ML-DSA              | PKCS#8 DER (RFC 9881; generated keys in seed form)  |
//! | ML-KEM              | PKCS#8 DER (RFC 9935; generated keys in seed form)  |
//!
//! Imported asymmetric keys are stored exactly as imported, so a later
//! re-import can be compared and nothing is lost by re-encoding.

use std::fmt;
use std::ops::RangeInclusive;

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::hmac;
use aws_lc_rs::kem::{self, DecapsulationKey, EncapsulationKey};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, PqdsaKeyPair,
    PqdsaSigningAlgorithm, RsaKeyPair,
};
use kms_api::wire::{KeySpec, MacAlgorithmSpec};
use kms_model::MaterialKind;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::internal;
use super::KeyOpError;
use crate::der::{self, oid};
use crate::key::KeyMaterial;
use crate::lc;
use crate::BACKING_KEY_LEN;

/// The key material of one key version: AES, HMAC or a private key of any
/// asymmetric spec, parsed and ready to use.
///
/// Build it once per key version ([`Material::generate`],
/// [`Material::from_storage`], [`super::import_material`]) and keep it
/// cached: parsing an RSA key costs far more than signing with it. It is
/// `Send + Sync`; the secret parts are wiped on drop and `Debug` shows only
/// the kind.
pub struct Material {
    kind: MaterialKind,
    spec: KeySpec,
    stored: Zeroizing<Vec<u8>>,
    pub(crate) key: Loaded,
}

/// The parsed key, per family.
pub(crate) enum Loaded {
    Aes(KeyMaterial),
    // Boxed: an HMAC key holds precomputed contexts, over a kilobyte.
    Hmac(Box<HmacKey>),
    Rsa(RsaKey),
    Ec(EcKey),
    Ed25519(EdKey),
    MlDsa(MlDsaKey),
    MlKem(MlKemKey),
}

pub(crate) struct HmacKey {
    pub(crate) algorithm: MacAlgorithmSpec,
    pub(crate) key: hmac::Key,
}

pub(crate) struct RsaKey {
    /// The modulus length in bytes.
    pub(crate) modulus_len: usize,
    pub(crate) signing: RsaKeyPair,
    pub(crate) oaep: RsaOaep,
    pub(crate) public_der: Vec<u8>,
}

/// An RSA private key ready for OAEP, with its public half.
pub(crate) struct RsaOaep {
    pub(crate) private: OaepPrivateDecryptingKey,
    pub(crate) public: OaepPublicEncryptingKey,
    /// The public key, DER SubjectPublicKeyInfo.
    pub(crate) public_der: Vec<u8>,
}

impl RsaOaep {
    pub(crate) fn from_pkcs8(bytes: &[u8]) -> Option<RsaOaep> {
        let key = PrivateDecryptingKey::from_pkcs8(bytes).ok()?;
        let public_key = key.public_key();
        let public_der = public_key.as_der().ok()?.as_ref().to_vec();
        let public = OaepPublicEncryptingKey::new(public_key).ok()?;
        let private = OaepPrivateDecryptingKey::new(key).ok()?;
        Some(RsaOaep {
            private,
            public,
            public_der,
        })
    }
}

/// The elliptic curves of AWS's ECC key specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
    Secp256k1,
}

impl Curve {
    pub(crate) fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => oid::P256,
            Curve::P384 => oid::P384,
            Curve::P521 => oid::P521,
            Curve::Secp256k1 => oid::SECP256K1,
        }
    }

    /// The ECDSA algorithm AWS pairs with the curve (DER signatures).
    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        }
    }

    /// ECDH on the curve; AWS offers KEY_AGREEMENT on the NIST curves only.
    pub(crate) fn agreement(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Curve::P256 => Some(&agreement::ECDH_P256),
            Curve::P384 => Some(&agreement::ECDH_P384),
            Curve::P521 => Some(&agreement::ECDH_P521),
            Curve::Secp256k1 => None,
        }
    }
}

pub(crate) struct EcKey {
    pub(crate) curve: Curve,
    pub(crate) signing: EcdsaKeyPair,
    pub(crate) agreement: Option<agreement::PrivateKey>,
    pub(crate) public_der: Vec<u8>,
}

pub(crate) struct EdKey {
    pub(crate) pair: Ed25519KeyPair,
    /// Seed followed by public key: the private key form Ed25519ph takes.
    pub(crate) seed_and_public: Zeroizing<[u8; 64]>,
    pub(crate) public: [u8; 32],
    pub(crate) public_der: Vec<u8>,
}

pub(crate) struct MlDsaKey {
    pub(crate) set: lc::MlDsa,
    pub(crate) pair: PqdsaKeyPair,
    pub(crate) public_der: Vec<u8>,
}

pub(crate) struct MlKemKey {
    pub(crate) decapsulation: DecapsulationKey,
    pub(crate) encapsulation: EncapsulationKey,
    pub(crate) public_der: Vec<u8>,
}

/// The key spec whose material is `kind`, or `None` for a kind no spec has
/// (an HMAC of 100 bits, say).
pub fn spec_for_kind(kind: MaterialKind) -> Option<KeySpec> {
    Some(match kind {
        MaterialKind::Aes256Gcm => KeySpec::SymmetricDefault,
        MaterialKind::Hmac(224) => KeySpec::Hmac224,
        MaterialKind::Hmac(256) => KeySpec::Hmac256,
        MaterialKind::Hmac(384) => KeySpec::Hmac384,
        MaterialKind::Hmac(512) => KeySpec::Hmac512,
        MaterialKind::Rsa(2048) => KeySpec::Rsa2048,
        MaterialKind::Rsa(3072) => KeySpec::Rsa3072,
        MaterialKind::Rsa(4096) => KeySpec::Rsa4096,
        MaterialKind::EccNist(256) => KeySpec::EccNistP256,
        MaterialKind::EccNist(384) => KeySpec::EccNistP384,
        MaterialKind::EccNist(521) => KeySpec::EccNistP521,
        MaterialKind::Secp256k1 => KeySpec::EccSecgP256k1,
        MaterialKind::Ed25519 => KeySpec::EccNistEdwards25519,
        MaterialKind::Sm2 => KeySpec::Sm2,
        MaterialKind::MlDsa(44) => KeySpec::MlDsa44,
        MaterialKind::MlDsa(65) => KeySpec::MlDsa65,
        MaterialKind::MlDsa(87) => KeySpec::MlDsa87,
        MaterialKind::MlKem(512) => KeySpec::MlKem512,
        MaterialKind::MlKem(768) => KeySpec::MlKem768,
        MaterialKind::MlKem(1024) => KeySpec::MlKem1024,
        _ => return None,
    })
}

/// The lengths AWS accepts for imported HMAC key material, in bytes: from
/// the digest length up to two blocks' worth (HMAC_224: 28–64, HMAC_256:
/// 32–64, HMAC_384: 48–128, HMAC_512: 64–128).
pub fn hmac_key_lengths(algorithm: MacAlgorithmSpec) -> RangeInclusive<usize> {
    match algorithm {
        MacAlgorithmSpec::HmacSha224 => 28..=64,
        MacAlgorithmSpec::HmacSha256 => 32..=64,
        MacAlgorithmSpec::HmacSha384 => 48..=128,
        MacAlgorithmSpec::HmacSha512 => 64..=128,
    }
}

fn hmac_algorithm(bits: u16) -> Option<(MacAlgorithmSpec, hmac::Algorithm)> {
    Some(match bits {
        224 => (MacAlgorithmSpec::HmacSha224, hmac::HMAC_SHA224),
        256 => (MacAlgorithmSpec::HmacSha256, hmac::HMAC_SHA256),
        384 => (MacAlgorithmSpec::HmacSha384, hmac::HMAC_SHA384),
        512 => (MacAlgorithmSpec::HmacSha512, hmac::HMAC_SHA512),
        _ => return None,
    })
}

fn curve_of(kind: MaterialKind) -> Option<Curve> {
    match kind {
        MaterialKind::EccNist(256) => Some(Curve::P256),
        MaterialKind::EccNist(384) => Some(Curve::P384),
        MaterialKind::EccNist(521) => Some(Curve::P521),
        MaterialKind::Secp256k1 => Some(Curve::Secp256k1),
        _ => None,
    }
}

fn ml_dsa_of(set: u8) -> Option<(lc::MlDsa, &'static PqdsaSigningAlgorithm, &'static [u8])> {
    Some(match set {
        44 => (
            lc::MlDsa::P44,
            &signature::ML_DSA_44_SIGNING,
            oid::ML_DSA_44,
        ),
        65 => (
            lc::MlDsa::P65,
            &signature::ML_DSA_65_SIGNING,
            oid::ML_DSA_65,
        ),
        87 => (
            lc::MlDsa::P87,
            &signature::ML_DSA_87_SIGNING,
            oid::ML_DSA_87,
        ),
        _ => return None,
    })
}

fn ml_kem_of(set: u16) -> Option<(&'static kem::Algorithm, &'static [u8])> {
    Some(match set {
        512 => (&kem::ML_KEM_512, oid::ML_KEM_512),
        768 => (&kem::ML_KEM_768, oid::ML_KEM_768),
        1024 => (&kem::ML_KEM_1024, oid::ML_KEM_1024),
        _ => return None,
    })
}

/// The encapsulation key inside an expanded ML-KEM decapsulation key, after
/// FIPS 203's input check (section 7.3): the key has the parameter set's
/// length and carries the right hash of its encapsulation key.
///
/// The layout is dk_PKE (384·k bytes) || ek (384·k + 32) || H(ek) (32) || z (32).
fn ml_kem_public_of_expanded(expanded: &[u8], set: u16) -> Option<Vec<u8>> {
    let k: usize = match set {
        512 => 2,
        768 => 3,
        1024 => 4,
        _ => return None,
    };
    let dk_pke_len = 384 * k;
    let ek_len = 384 * k + 32;
    if expanded.len() != dk_pke_len + ek_len + 64 {
        return None;
    }
    let ek = expanded.get(dk_pke_len..dk_pke_len + ek_len)?;
    let hash = expanded.get(dk_pke_len + ek_len..dk_pke_len + ek_len + 32)?;
    let computed = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA3_256, ek);
    bool::from(computed.as_ref().ct_eq(hash)).then(|| ek.to_vec())
}

/// Length of an ML-KEM seed (d || z, FIPS 203).
const ML_KEM_SEED_LEN: usize = 64;

/// PKCS#8 v1 of an ML-KEM key in RFC 9935's seed form.
fn ml_kem_seed_pkcs8(algorithm_oid: &[u8], seed: &[u8]) -> Zeroizing<Vec<u8>> {
    // Sized up front so the seed is never left behind by a reallocation.
    let mut body = Zeroizing::new(Vec::with_capacity(32 + ML_KEM_SEED_LEN));
    body.extend(der::tlv(der::TAG_INTEGER, &[0]));
    body.extend(der::tlv(
        der::TAG_SEQUENCE,
        &der::tlv(der::TAG_OID, algorithm_oid),
    ));
    let choice = Zeroizing::new(der::tlv(der::TAG_CONTEXT_0, seed));
    der::write_tlv(&mut body, der::TAG_OCTET_STRING, &choice);
    Zeroizing::new(der::tlv(der::TAG_SEQUENCE, &body))
}

impl Material {
    /// Fresh material of `kind` from the system's secure random generator.
    /// SM2 is [`KeyOpError::Unsupported`].
    pub fn generate(kind: MaterialKind) -> Result<Material, KeyOpError> {
        let stored: Zeroizing<Vec<u8>> = match kind {
            MaterialKind::Aes256Gcm => crate::random_bytes(BACKING_KEY_LEN).map_err(internal)?,
            MaterialKind::Hmac(bits) => {
                let (algorithm, _) = hmac_algorithm(bits).ok_or(KeyOpError::Internal)?;
                // A key as long as the digest, the shortest AWS accepts.
                crate::random_bytes(*hmac_key_lengths(algorithm).start()).map_err(internal)?
            }
            MaterialKind::Rsa(bits) => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    _ => return Err(KeyOpError::Internal),
                };
                let pair = RsaKeyPair::generate(size).map_err(internal)?;
                let der = pair.as_der().map_err(internal)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            MaterialKind::EccNist(_) | MaterialKind::Secp256k1 => {
                let curve = curve_of(kind).ok_or(KeyOpError::Internal)?;
                let pair = EcdsaKeyPair::generate(curve.signing()).map_err(internal)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(internal)?.as_ref().to_vec())
            }
            MaterialKind::Ed25519 => {
                let pair = Ed25519KeyPair::generate().map_err(internal)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(internal)?.as_ref().to_vec())
            }
            MaterialKind::MlDsa(set) => {
                let (_, algorithm, _) = ml_dsa_of(set).ok_or(KeyOpError::Internal)?;
                let pair = PqdsaKeyPair::generate(algorithm).map_err(internal)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(internal)?.as_ref().to_vec())
            }
            MaterialKind::MlKem(set) => {
                let (_, algorithm_oid) = ml_kem_of(set).ok_or(KeyOpError::Internal)?;
                // FIPS 203 key generation is a function of a random 64-byte
                // seed; keeping the seed is RFC 9935's recommended form.
                let seed = crate::random_bytes(ML_KEM_SEED_LEN).map_err(internal)?;
                ml_kem_seed_pkcs8(algorithm_oid, &seed)
            }
            MaterialKind::Sm2 => return Err(KeyOpError::Unsupported("SM2")),
        };
        Material::load(kind, stored).map_err(|_| KeyOpError::Internal)
    }

    /// Loads material from its storage form (see the module documentation).
    /// Anything that does not parse as material of exactly `kind` is
    /// [`KeyOpError::DamagedMaterial`].
    pub fn from_storage(kind: MaterialKind, stored: &[u8]) -> Result<Material, KeyOpError> {
        Material::load(kind, Zeroizing::new(stored.to_vec()))
    }

    /// Parses and checks `stored` as material of `kind`.
    pub(crate) fn load(
        kind: MaterialKind,
        stored: Zeroizing<Vec<u8>>,
    ) -> Result<Material, KeyOpError> {
        let bad = KeyOpError::DamagedMaterial;
        let spec = spec_for_kind(kind).ok_or(bad.clone())?;
        let bytes: &[u8] = &stored;
        let key = match kind {
            MaterialKind::Aes256Gcm => {
                Loaded::Aes(KeyMaterial::from_bytes(bytes).map_err(|_| bad.clone())?)
            }
            MaterialKind::Hmac(bits) => {
                let (algorithm, lc_algorithm) = hmac_algorithm(bits).ok_or(bad.clone())?;
                if !hmac_key_lengths(algorithm).contains(&bytes.len()) {
                    return Err(bad);
                }
                Loaded::Hmac(Box::new(HmacKey {
                    algorithm,
                    key: hmac::Key::new(lc_algorithm, bytes),
                }))
            }
            MaterialKind::Rsa(bits) => Loaded::Rsa(load_rsa(bytes, bits).ok_or(bad.clone())?),
            MaterialKind::EccNist(_) | MaterialKind::Secp256k1 => {
                let curve = curve_of(kind).ok_or(bad.clone())?;
                Loaded::Ec(load_ec(bytes, curve).ok_or(bad.clone())?)
            }
            MaterialKind::Ed25519 => Loaded::Ed25519(load_ed25519(bytes).ok_or(bad.clone())?),
            MaterialKind::MlDsa(set) => Loaded::MlDsa(load_ml_dsa(bytes, set).ok_or(bad.clone())?),
            MaterialKind::MlKem(set) => Loaded::MlKem(load_ml_kem(bytes, set).ok_or(bad.clone())?),
            MaterialKind::Sm2 => return Err(KeyOpError::Unsupported("SM2")),
        };
        Ok(Material {
            kind,
            spec,
            stored,
            key,
        })
    }

    /// The kind of material.
    pub fn kind(&self) -> MaterialKind {
        self.kind
    }

    /// The key spec the material belongs to.
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The storage form (module documentation): secret. Seal it with
    /// [`crate::RootKey::seal_material`] rather than storing it yourself, and
    /// keep the borrow short. For data key pairs this is the PKCS#8 private
    /// key that GenerateDataKeyPair returns.
    pub fn expose_storage(&self) -> &[u8] {
        &self.stored
    }

    /// The AES key of symmetric material, for the ciphertext-blob functions.
    pub fn as_aes(&self) -> Option<&KeyMaterial> {
        match &self.key {
            Loaded::Aes(k) => Some(k),
            _ => None,
        }
    }

    /// The public key as DER SubjectPublicKeyInfo, as GetPublicKey returns
    /// it; `None` for AES and HMAC material.
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match &self.key {
            Loaded::Aes(_) | Loaded::Hmac(_) => None,
            Loaded::Rsa(k) => Some(&k.public_der),
            Loaded::Ec(k) => Some(&k.public_der),
            Loaded::Ed25519(k) => Some(&k.public_der),
            Loaded::MlDsa(k) => Some(&k.public_der),
            Loaded::MlKem(k) => Some(&k.public_der),
        }
    }

    /// Whether `other` is the same key: equal secret bytes for AES and HMAC
    /// (compared in constant time), the same public key for key pairs (a key
    /// pair may be re-imported in another PKCS#8 encoding). ImportKeyMaterial
    /// refuses different material with `IncorrectKeyMaterialException`.
    pub fn same_key_as(&self, other: &Material) -> bool {
        if self.kind != other.kind {
            return false;
        }
        match (self.public_key_der(), other.public_key_der()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => bool::from(self.stored.as_slice().ct_eq(other.stored.as_slice())),
            _ => false,
        }
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Material({:?}, <redacted>)", self.kind)
    }
}

/// The PKCS#8 outer layer, checked to name `algorithm_oid` (and, for EC
/// keys, the curve).
fn pkcs8_for<'a>(
    bytes: &'a [u8],
    algorithm_oid: &[u8],
    param_oid: Option<&[u8]>,
) -> Option<der::Pkcs8<'a>> {
    let p8 = der::pkcs8(bytes)?;
    (p8.algorithm.oid == algorithm_oid && p8.algorithm.param_oid == param_oid).then_some(p8)
}

fn load_rsa(bytes: &[u8], bits: u16) -> Option<RsaKey> {
    if !matches!(bits, 2048 | 3072 | 4096) {
        return None;
    }
    pkcs8_for(bytes, oid::RSA, None)?;
    let signing = RsaKeyPair::from_pkcs8(bytes).ok()?;
    let modulus_len = signing.public_modulus_len();
    if modulus_len * 8 != usize::from(bits) {
        return None;
    }
    let oaep = RsaOaep::from_pkcs8(bytes)?;
    let public_der = oaep.public_der.clone();
    Some(RsaKey {
        modulus_len,
        signing,
        oaep,
        public_der,
    })
}

fn load_ec(bytes: &[u8], curve: Curve) -> Option<EcKey> {
    pkcs8_for(bytes, oid::EC_PUBLIC_KEY, Some(curve.oid()))?;
    let signing = EcdsaKeyPair::from_pkcs8(curve.signing(), bytes).ok()?;
    let agreement = match curve.agreement() {
        Some(alg) => Some(agreement::PrivateKey::from_private_key_der(alg, bytes).ok()?),
        None => None,
    };
    let public_der = signing.public_key().as_der().ok()?.as_ref().to_vec();
    Some(EcKey {
        curve,
        signing,
        agreement,
        public_der,
    })
}

fn load_ed25519(bytes: &[u8]) -> Option<EdKey> {
    pkcs8_for(bytes, oid::ED25519, None)?;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes).ok()?;
    let public: [u8; 32] = pair.public_key().as_ref().try_into().ok()?;
    let seed = pair.seed().ok()?.as_be_bytes().ok()?;
    let mut seed_and_public = Zeroizing::new([0u8; 64]);
    let (s, p) = seed_and_public.split_at_mut(32);
    s.copy_from_slice(seed.as_ref().get(..32)?);
    p.copy_from_slice(&public);
    let public_der = pair.public_key().as_der().ok()?.as_ref().to_vec();
    Some(EdKey {
        pair,
        seed_and_public,
        public,
        public_der,
    })
}

fn load_ml_dsa(bytes: &[u8], set: u8) -> Option<MlDsaKey> {
    let (set, algorithm, algorithm_oid) = ml_dsa_of(set)?;
    pkcs8_for(bytes, algorithm_oid, None)?;
    let pair = PqdsaKeyPair::from_pkcs8(algorithm, bytes).ok()?;
    let public_der = pair.public_key().as_der().ok()?.as_ref().to_vec();
    Some(MlDsaKey {
        set,
        pair,
        public_der,
    })
}

fn load_ml_kem(bytes: &[u8], set: u16) -> Option<MlKemKey> {
    let (algorithm, algorithm_oid) = ml_kem_of(set)?;
    let p8 = pkcs8_for(bytes, algorithm_oid, None)?;
    // RFC 9935's private key is a CHOICE of seed [0], expandedKey, or both.
    let mut r = crate::reader::Reader::new(p8.private_key);
    let (tag, _) = der::read_tlv(&mut r)?;
    r.finish()?;
    let expanded = match tag {
        der::TAG_CONTEXT_0 => lc::ml_kem_expand_pkcs8(bytes)?.decapsulation_key,
        der::TAG_OCTET_STRING => {
            Zeroizing::new(der::whole(p8.private_key, der::TAG_OCTET_STRING)?.to_vec())
        }
        der::TAG_SEQUENCE => {
            let mut both =
                crate::reader::Reader::new(der::whole(p8.private_key, der::TAG_SEQUENCE)?);
            let seed = der::expect(&mut both, der::TAG_OCTET_STRING)?;
            let expanded = der::expect(&mut both, der::TAG_OCTET_STRING)?;
            both.finish()?;
            if seed.len() != ML_KEM_SEED_LEN {
                return None;
            }
            // Both forms must describe the same key.
            let keys = lc::ml_kem_expand_pkcs8(&ml_kem_seed_pkcs8(algorithm_oid, seed))?;
            if !bool::from(keys.decapsulation_key.as_slice().ct_eq(expanded)) {
                return None;
            }
            keys.decapsulation_key
        }
        _ => return None,
    };
    // aws-lc-rs cannot derive the public key of a key loaded from raw bytes;
    // it is inside the expanded key.
    let public = ml_kem_public_of_expanded(&expanded, set)?;
    let decapsulation = DecapsulationKey::new(algorithm, &expanded).ok()?;
    let encapsulation = EncapsulationKey::new(algorithm, &public).ok()?;
    let public_der = der::write_spki(algorithm_oid, &public);
    Some(MlKemKey {
        decapsulation,
        encapsulation,
        public_der,
    })
}
