//! AWS's rules for the key operations, as tables: every (key spec, signing
//! algorithm, message type, message length), MAC algorithm, RSA plaintext
//! limit and import check, with the exception and message AWS answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crypto::asymmetric::{
    data_key_pair_kind, generate_data_key_pair, import_material, KeyOpError, Material,
    MaterialKind, WrappingKey,
};
use crypto::RootKey;
use kms_api::wire::{
    AlgorithmSpec, DataKeyPairSpec, EncapsulationAlgorithmSpec, EncryptionAlgorithmSpec,
    KeyAgreementAlgorithmSpec, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec as Sign,
    WrappingKeySpec,
};
use kms_api::{ErrorCode, KmsError};

const ASYMMETRIC: &[MaterialKind] = &[
    MaterialKind::Rsa(2048),
    MaterialKind::Rsa(3072),
    MaterialKind::Rsa(4096),
    MaterialKind::EccNist(256),
    MaterialKind::EccNist(384),
    MaterialKind::EccNist(521),
    MaterialKind::Secp256k1,
    MaterialKind::Ed25519,
    MaterialKind::MlDsa(44),
    MaterialKind::MlDsa(65),
    MaterialKind::MlDsa(87),
    MaterialKind::MlKem(512),
    MaterialKind::MlKem(768),
    MaterialKind::MlKem(1024),
];

const SYMMETRIC: &[MaterialKind] = &[
    MaterialKind::Aes256Gcm,
    MaterialKind::Hmac(224),
    MaterialKind::Hmac(256),
    MaterialKind::Hmac(384),
    MaterialKind::Hmac(512),
];

/// One generated key per kind, made on first use and shared by the tests of
/// this process (RSA-4096 takes a while).
fn key(kind: MaterialKind) -> &'static Material {
    static KEYS: OnceLock<Mutex<HashMap<String, &'static Material>>> = OnceLock::new();
    let mut keys = KEYS.get_or_init(Default::default).lock().unwrap();
    keys.entry(format!("{kind:?}"))
        .or_insert_with(|| Box::leak(Box::new(Material::generate(kind).expect("generate"))))
}

fn spec_name(kind: MaterialKind) -> &'static str {
    match kind {
        MaterialKind::Aes256Gcm => "SYMMETRIC_DEFAULT",
        MaterialKind::Hmac(224) => "HMAC_224",
        MaterialKind::Hmac(256) => "HMAC_256",
        MaterialKind::Hmac(384) => "HMAC_384",
        MaterialKind::Hmac(512) => "HMAC_512",
        MaterialKind::Rsa(2048) => "RSA_2048",
        MaterialKind::Rsa(3072) => "RSA_3072",
        MaterialKind::Rsa(4096) => "RSA_4096",
        MaterialKind::EccNist(256) => "ECC_NIST_P256",
        MaterialKind::EccNist(384) => "ECC_NIST_P384",
        MaterialKind::EccNist(521) => "ECC_NIST_P521",
        MaterialKind::Secp256k1 => "ECC_SECG_P256K1",
        MaterialKind::Ed25519 => "ECC_NIST_EDWARDS25519",
        MaterialKind::MlDsa(44) => "ML_DSA_44",
        MaterialKind::MlDsa(65) => "ML_DSA_65",
        MaterialKind::MlDsa(87) => "ML_DSA_87",
        MaterialKind::MlKem(512) => "ML_KEM_512",
        MaterialKind::MlKem(768) => "ML_KEM_768",
        MaterialKind::MlKem(1024) => "ML_KEM_1024",
        other => panic!("{other:?}"),
    }
}

/// AWS's signing algorithms per key spec, written out independently of the
/// code under test.
fn allowed_signing(kind: MaterialKind) -> &'static [&'static str] {
    match kind {
        MaterialKind::Rsa(_) => &[
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
        ],
        MaterialKind::EccNist(256) | MaterialKind::Secp256k1 => &["ECDSA_SHA_256"],
        MaterialKind::EccNist(384) => &["ECDSA_SHA_384"],
        MaterialKind::EccNist(521) => &["ECDSA_SHA_512"],
        MaterialKind::Ed25519 => &["ED25519_SHA_512", "ED25519_PH_SHA_512"],
        MaterialKind::MlDsa(_) => &["ML_DSA_SHAKE_256"],
        _ => &[],
    }
}

fn digest_len(alg: &str) -> Option<usize> {
    if alg.ends_with("SHA_256") {
        Some(32)
    } else if alg.ends_with("SHA_384") {
        Some(48)
    } else if alg.ends_with("SHA_512") {
        Some(64)
    } else {
        None
    }
}

/// What AWS answers for a Sign request, per the rules of the Sign and Verify
/// API references: `Ok(())` or (exception, message).
fn expected_sign(
    kind: MaterialKind,
    alg: &str,
    mt: &str,
    len: usize,
) -> Result<(), (ErrorCode, String)> {
    let spec = spec_name(kind);
    if !allowed_signing(kind).contains(&alg) {
        return Err((
            ErrorCode::InvalidKeyUsageException,
            format!("Algorithm {alg} is incompatible with key spec {spec}."),
        ));
    }
    let validation = |m: String| Err((ErrorCode::ValidationException, m));
    match (alg, mt) {
        ("ED25519_SHA_512", "RAW") => Ok(()),
        ("ED25519_SHA_512", _) => validation(format!(
            "Message type {mt} is incompatible with algorithm ED25519_SHA_512."
        )),
        ("ED25519_PH_SHA_512", "DIGEST") if len == 64 => Ok(()),
        ("ED25519_PH_SHA_512", "DIGEST") => {
            validation("Digest is invalid length for algorithm ED25519_PH_SHA_512.".to_owned())
        }
        ("ED25519_PH_SHA_512", _) => validation(format!(
            "Message type {mt} is incompatible with algorithm ED25519_PH_SHA_512."
        )),
        ("ML_DSA_SHAKE_256", "RAW") => Ok(()),
        ("ML_DSA_SHAKE_256", "EXTERNAL_MU") if len == 64 => Ok(()),
        ("ML_DSA_SHAKE_256", "EXTERNAL_MU") => {
            validation("External Mu is invalid length for algorithm ML_DSA_SHAKE_256.".to_owned())
        }
        ("ML_DSA_SHAKE_256", _) => validation(format!(
            "Message type {mt} is incompatible with key spec {spec}."
        )),
        (_, "RAW") => Ok(()),
        (_, "DIGEST") if Some(len) == digest_len(alg) => Ok(()),
        (_, "DIGEST") => validation(format!("Digest is invalid length for algorithm {alg}.")),
        (_, _) => validation(format!(
            "Message type {mt} is incompatible with key spec {spec}."
        )),
    }
}

fn as_aws(e: KeyOpError) -> (ErrorCode, String) {
    let k = KmsError::from(e);
    (k.code, k.message)
}

#[test]
fn sign_and_verify_follow_aws_rules_for_every_spec_algorithm_and_message_type() {
    let mut checked = 0;
    let mut signed = 0;
    for &kind in ASYMMETRIC
        .iter()
        .filter(|k| !matches!(k, MaterialKind::MlKem(_)))
    {
        let m = key(kind);
        for &alg in Sign::ALL {
            if alg == Sign::Sm2dsa {
                continue;
            }
            for &mt in MessageType::ALL {
                for len in [1usize, 20, 32, 48, 64, 65, 4096] {
                    let message: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                    let expected = expected_sign(kind, alg.as_str(), mt.as_str(), len);
                    let got = m.sign(alg, mt, &message).map_err(as_aws);
                    let case = format!("{kind:?} {alg} {mt} len {len}");
                    checked += 1;
                    match (&expected, got) {
                        (Ok(()), Ok(sig)) => {
                            signed += 1;
                            assert_eq!(m.verify(alg, mt, &message, &sig), Ok(true), "{case}");
                            let mut other = message.clone();
                            other[0] ^= 1;
                            assert_eq!(m.verify(alg, mt, &other, &sig), Ok(false), "{case}");
                            let mut bad = sig.clone();
                            let last = bad.len() - 1;
                            bad[last] ^= 0x40;
                            assert_eq!(m.verify(alg, mt, &message, &bad), Ok(false), "{case}");
                            assert_eq!(m.verify(alg, mt, &message, &[]), Ok(false), "{case}");
                            assert_eq!(m.verify(alg, mt, &message, &sig[1..]), Ok(false), "{case}");
                        }
                        (Err(e), Err(g)) => {
                            assert_eq!(e, &g, "{case}");
                            // Verify refuses the same requests the same way.
                            assert_eq!(
                                m.verify(alg, mt, &message, &[0u8; 64]).map_err(as_aws),
                                Err(g),
                                "{case}"
                            );
                        }
                        (e, g) => panic!("{case}: expected {e:?}, got {g:?}"),
                    }
                }
            }
        }
    }
    assert!(checked > 2000 && signed > 150, "{checked} {signed}");
}

#[test]
fn signatures_have_the_sizes_aws_returns() {
    let sig = |kind, alg| key(kind).sign(alg, MessageType::Raw, b"m").unwrap().len();
    assert_eq!(sig(MaterialKind::Rsa(2048), Sign::RsassaPssSha256), 256);
    assert_eq!(
        sig(MaterialKind::Rsa(3072), Sign::RsassaPkcs1V15Sha384),
        384
    );
    assert_eq!(sig(MaterialKind::Rsa(4096), Sign::RsassaPssSha512), 512);
    assert_eq!(sig(MaterialKind::Ed25519, Sign::Ed25519Sha512), 64);
    assert_eq!(sig(MaterialKind::MlDsa(44), Sign::MlDsaShake256), 2420);
    assert_eq!(sig(MaterialKind::MlDsa(65), Sign::MlDsaShake256), 3309);
    assert_eq!(sig(MaterialKind::MlDsa(87), Sign::MlDsaShake256), 4627);
    // DER ECDSA-Sig-Value: a SEQUENCE of two INTEGERs.
    for kind in [
        MaterialKind::EccNist(256),
        MaterialKind::EccNist(384),
        MaterialKind::EccNist(521),
        MaterialKind::Secp256k1,
    ] {
        let alg = match kind {
            MaterialKind::EccNist(384) => Sign::EcdsaSha384,
            MaterialKind::EccNist(521) => Sign::EcdsaSha512,
            _ => Sign::EcdsaSha256,
        };
        let s = key(kind).sign(alg, MessageType::Raw, b"m").unwrap();
        assert_eq!(s[0], 0x30, "{kind:?}");
    }
}

#[test]
fn messages_over_4096_bytes_are_refused() {
    let long = vec![0u8; 4097];
    let e = key(MaterialKind::EccNist(256))
        .sign(Sign::EcdsaSha256, MessageType::Raw, &long)
        .unwrap_err();
    assert_eq!(
        as_aws(e),
        (
            ErrorCode::ValidationException,
            "1 validation error detected: Value at 'message' failed to satisfy constraint: \
             Member must have length less than or equal to 4096"
                .to_owned()
        )
    );
    let e = key(MaterialKind::Hmac(256))
        .generate_mac(MacAlgorithmSpec::HmacSha256, &long)
        .unwrap_err();
    assert_eq!(as_aws(e).0, ErrorCode::ValidationException);
}

#[test]
fn keys_that_cannot_sign_refuse_to() {
    for &kind in SYMMETRIC.iter().chain([MaterialKind::MlKem(768)].iter()) {
        let e = key(kind)
            .sign(Sign::EcdsaSha256, MessageType::Raw, b"m")
            .unwrap_err();
        assert!(matches!(e, KeyOpError::WrongKeyType { .. }), "{kind:?}");
        assert_eq!(KmsError::from(e).code, ErrorCode::InvalidKeyUsageException);
    }
}

#[test]
fn rsa_oaep_plaintext_limits_and_messages_match_aws() {
    // The limits AWS records, per key spec and algorithm.
    let cases = [
        (2048, EncryptionAlgorithmSpec::RsaesOaepSha1, 214),
        (2048, EncryptionAlgorithmSpec::RsaesOaepSha256, 190),
        (3072, EncryptionAlgorithmSpec::RsaesOaepSha1, 342),
        (3072, EncryptionAlgorithmSpec::RsaesOaepSha256, 318),
        (4096, EncryptionAlgorithmSpec::RsaesOaepSha1, 470),
        (4096, EncryptionAlgorithmSpec::RsaesOaepSha256, 446),
    ];
    for (bits, alg, max) in cases {
        let m = key(MaterialKind::Rsa(bits));
        assert_eq!(m.max_plaintext_len(alg), Ok(max));
        let plaintext = vec![0xa5u8; max];
        let ct = m.encrypt(alg, &plaintext).unwrap();
        assert_eq!(ct.len(), usize::from(bits) / 8);
        assert_eq!(m.decrypt(alg, &ct).unwrap().as_slice(), &plaintext[..]);
        // The other hash does not decrypt it.
        let other = if alg == EncryptionAlgorithmSpec::RsaesOaepSha1 {
            EncryptionAlgorithmSpec::RsaesOaepSha256
        } else {
            EncryptionAlgorithmSpec::RsaesOaepSha1
        };
        assert_eq!(m.decrypt(other, &ct), Err(KeyOpError::InvalidCiphertext));
        assert_eq!(
            m.encrypt(alg, b"").map(|c| c.len()),
            Ok(usize::from(bits) / 8)
        );
        let e = m.encrypt(alg, &vec![0u8; max + 1]).unwrap_err();
        assert_eq!(
            as_aws(e),
            (
                ErrorCode::ValidationException,
                format!(
                    "Algorithm {alg} and key spec RSA_{bits} cannot encrypt data larger than {max} bytes."
                )
            )
        );
    }
    let m = key(MaterialKind::Rsa(2048));
    let ct = m
        .encrypt(EncryptionAlgorithmSpec::RsaesOaepSha256, b"x")
        .unwrap();
    for cut in [0, 1, ct.len() - 1] {
        assert_eq!(
            m.decrypt(EncryptionAlgorithmSpec::RsaesOaepSha256, &ct[..cut]),
            Err(KeyOpError::InvalidCiphertext)
        );
    }
    let mut bad = ct.clone();
    bad[10] ^= 1;
    let e = m
        .decrypt(EncryptionAlgorithmSpec::RsaesOaepSha256, &bad)
        .unwrap_err();
    assert_eq!(
        as_aws(e),
        (ErrorCode::InvalidCiphertextException, String::new())
    );
    for alg in [
        EncryptionAlgorithmSpec::SymmetricDefault,
        EncryptionAlgorithmSpec::Sm2pke,
    ] {
        assert_eq!(
            as_aws(m.encrypt(alg, b"x").unwrap_err()),
            (
                ErrorCode::InvalidKeyUsageException,
                format!("Algorithm {alg} is incompatible with key spec RSA_2048.")
            )
        );
    }
}

#[test]
fn hmac_rules_match_aws() {
    let algs = [
        (224, MacAlgorithmSpec::HmacSha224, 28),
        (256, MacAlgorithmSpec::HmacSha256, 32),
        (384, MacAlgorithmSpec::HmacSha384, 48),
        (512, MacAlgorithmSpec::HmacSha512, 64),
    ];
    for (bits, alg, mac_len) in algs {
        let m = key(MaterialKind::Hmac(bits));
        let mac = m.generate_mac(alg, b"some important message").unwrap();
        assert_eq!(mac.len(), mac_len);
        assert_eq!(m.verify_mac(alg, b"some important message", &mac), Ok(true));
        assert_eq!(
            m.verify_mac(alg, b"some different important message", &mac),
            Ok(false)
        );
        assert_eq!(
            m.verify_mac(alg, b"some important message", &mac[1..]),
            Ok(false)
        );
        assert_eq!(m.verify_mac(alg, b"some important message", &[]), Ok(false));
        for (_, other, _) in algs.iter().filter(|(_, a, _)| *a != alg) {
            let expected = (
                ErrorCode::InvalidKeyUsageException,
                format!("Algorithm {other} is incompatible with key spec HMAC_{bits}."),
            );
            assert_eq!(as_aws(m.generate_mac(*other, b"m").unwrap_err()), expected);
            assert_eq!(
                as_aws(m.verify_mac(*other, b"m", &mac).unwrap_err()),
                expected
            );
        }
    }
    // AWS's recorded messages, verbatim.
    assert_eq!(
        as_aws(
            key(MaterialKind::Hmac(224))
                .generate_mac(MacAlgorithmSpec::HmacSha256, b"m")
                .unwrap_err()
        )
        .1,
        "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224."
    );
    let e = key(MaterialKind::Aes256Gcm)
        .generate_mac(MacAlgorithmSpec::HmacSha256, b"m")
        .unwrap_err();
    assert!(matches!(e, KeyOpError::WrongKeyType { .. }));
}

#[test]
fn ecdh_needs_a_nist_key_and_an_spki_on_its_curve() {
    for bits in [256u16, 384, 521] {
        let ours = key(MaterialKind::EccNist(bits));
        let theirs = Material::generate(MaterialKind::EccNist(bits)).unwrap();
        let a = ours
            .derive_shared_secret(
                KeyAgreementAlgorithmSpec::Ecdh,
                theirs.public_key_der().unwrap(),
            )
            .unwrap();
        let b = theirs
            .derive_shared_secret(
                KeyAgreementAlgorithmSpec::Ecdh,
                ours.public_key_der().unwrap(),
            )
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), usize::from(bits).div_ceil(8));
        for other in [256u16, 384, 521].iter().filter(|o| **o != bits) {
            let wrong_curve = key(MaterialKind::EccNist(*other)).public_key_der().unwrap();
            let e = ours
                .derive_shared_secret(KeyAgreementAlgorithmSpec::Ecdh, wrong_curve)
                .unwrap_err();
            assert_eq!(as_aws(e), (ErrorCode::ValidationException, String::new()));
        }
        for bad in [
            key(MaterialKind::Secp256k1).public_key_der().unwrap(),
            key(MaterialKind::Rsa(2048)).public_key_der().unwrap(),
            key(MaterialKind::Ed25519).public_key_der().unwrap(),
            &b"not a key"[..],
            &[][..],
        ] {
            assert_eq!(
                ours.derive_shared_secret(KeyAgreementAlgorithmSpec::Ecdh, bad),
                Err(KeyOpError::InvalidPublicKey)
            );
        }
        // A bare point is a valid key to aws-lc-rs, but not SPKI as AWS requires.
        let spki = theirs.public_key_der().unwrap();
        let point = &spki[spki.len() - (2 * usize::from(bits).div_ceil(8) + 1)..];
        assert_eq!(point[0], 0x04);
        assert_eq!(
            ours.derive_shared_secret(KeyAgreementAlgorithmSpec::Ecdh, point),
            Err(KeyOpError::InvalidPublicKey)
        );
    }
    for kind in [
        MaterialKind::Secp256k1,
        MaterialKind::Ed25519,
        MaterialKind::Rsa(2048),
    ] {
        let e = key(kind)
            .derive_shared_secret(
                KeyAgreementAlgorithmSpec::Ecdh,
                key(MaterialKind::EccNist(256)).public_key_der().unwrap(),
            )
            .unwrap_err();
        assert!(matches!(e, KeyOpError::WrongKeyType { .. }), "{kind:?}");
    }
}

#[test]
fn ml_kem_encapsulates_and_decapsulates() {
    for (set, ct_len) in [(512u16, 768usize), (768, 1088), (1024, 1568)] {
        let m = key(MaterialKind::MlKem(set));
        let (ct, secret) = m.encapsulate(EncapsulationAlgorithmSpec::MlKem).unwrap();
        assert_eq!(ct.len(), ct_len);
        assert_eq!(secret.len(), 32);
        let back = m
            .decapsulate(EncapsulationAlgorithmSpec::MlKem, &ct)
            .unwrap();
        assert_eq!(back, secret);
        // Implicit rejection: a changed ciphertext gives another secret.
        let mut bad = ct.clone();
        bad[0] ^= 1;
        let other = m
            .decapsulate(EncapsulationAlgorithmSpec::MlKem, &bad)
            .unwrap();
        assert_ne!(other, secret);
        for cut in [0, 1, ct.len() - 1] {
            assert_eq!(
                m.decapsulate(EncapsulationAlgorithmSpec::MlKem, &ct[..cut]),
                Err(KeyOpError::InvalidCiphertext)
            );
        }
        // Another key's ciphertext.
        let other_key = Material::generate(MaterialKind::MlKem(set)).unwrap();
        assert_ne!(
            other_key
                .decapsulate(EncapsulationAlgorithmSpec::MlKem, &ct)
                .unwrap(),
            secret
        );
    }
    let e = key(MaterialKind::EccNist(256))
        .encapsulate(EncapsulationAlgorithmSpec::MlKem)
        .unwrap_err();
    assert!(matches!(e, KeyOpError::WrongKeyType { .. }));
}

#[test]
fn storage_form_round_trips_and_refuses_other_kinds() {
    let all: Vec<MaterialKind> = ASYMMETRIC.iter().chain(SYMMETRIC).copied().collect();
    for &kind in &all {
        let m = key(kind);
        assert_eq!(m.kind(), kind);
        assert_eq!(m.spec().as_str(), spec_name(kind));
        let back = Material::from_storage(kind, m.expose_storage()).unwrap();
        assert!(back.same_key_as(m), "{kind:?}");
        assert_eq!(back.public_key_der(), m.public_key_der());
        assert_eq!(m.public_key_der().is_some(), ASYMMETRIC.contains(&kind));
        for &other in all.iter().filter(|o| **o != kind) {
            // AES and HMAC keys are raw bytes: any bytes of a fitting length
            // load as one. Everything else must refuse.
            if !SYMMETRIC.contains(&other) {
                assert_eq!(
                    Material::from_storage(other, m.expose_storage()).map(|_| ()),
                    Err(KeyOpError::DamagedMaterial),
                    "{kind:?} as {other:?}"
                );
            }
            assert!(!m.same_key_as(key(other)));
        }
        // Every truncation is refused, never a panic.
        let stored = m.expose_storage();
        for cut in 0..stored.len() {
            assert!(
                Material::from_storage(kind, &stored[..cut]).is_err(),
                "{kind:?} {cut}"
            );
        }
    }
    assert!(matches!(
        Material::generate(MaterialKind::Sm2),
        Err(KeyOpError::Unsupported("SM2"))
    ));
    assert_eq!(
        Material::generate(MaterialKind::Hmac(100)).map(|_| ()),
        Err(KeyOpError::Internal)
    );
    // Fresh keys differ.
    assert!(!Material::generate(MaterialKind::Ed25519)
        .unwrap()
        .same_key_as(key(MaterialKind::Ed25519)));
}

#[test]
fn debug_never_shows_secrets() {
    for &kind in ASYMMETRIC.iter().chain(SYMMETRIC) {
        let m = key(kind);
        let shown = format!("{m:?}");
        assert_eq!(shown, format!("Material({kind:?}, <redacted>)"));
    }
    let pair = generate_data_key_pair(DataKeyPairSpec::EccNistP256).unwrap();
    assert!(format!("{pair:?}").contains("<redacted>"));
    let wrapping = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
    assert_eq!(format!("{wrapping:?}"), "WrappingKey(RSA_2048, <redacted>)");
}

#[test]
fn sealed_material_opens_only_as_its_kind_and_context() {
    let root = RootKey::generate().unwrap();
    for &kind in ASYMMETRIC.iter().chain(SYMMETRIC) {
        let m = key(kind);
        let sealed = root.seal_material(m, b"key-1/v1").unwrap();
        let head = &m.expose_storage()[..16];
        assert!(
            !sealed.windows(16).any(|w| w == head),
            "{kind:?} sealed in clear"
        );
        let back = root.open_material(kind, &sealed, b"key-1/v1").unwrap();
        assert!(back.same_key_as(m));
        assert!(root.open_material(kind, &sealed, b"key-1/v2").is_err());
        for &other in ASYMMETRIC.iter().chain(SYMMETRIC).filter(|o| **o != kind) {
            assert!(
                root.open_material(other, &sealed, b"key-1/v1").is_err(),
                "{kind:?} as {other:?}"
            );
        }
        let other_root = RootKey::generate().unwrap();
        assert!(other_root
            .open_material(kind, &sealed, b"key-1/v1")
            .is_err());
    }
}

#[test]
fn aes_material_keeps_the_existing_wrap_format() {
    // Rows written by RootKey::wrap before this change must still open.
    let root = RootKey::generate().unwrap();
    let aes = crypto::KeyMaterial::generate().unwrap();
    let old = root.wrap(&aes, b"ctx").unwrap();
    assert_eq!(old.len(), crypto::WRAPPED_KEY_LEN);
    let opened = root
        .open_material(MaterialKind::Aes256Gcm, &old, b"ctx")
        .unwrap();
    assert_eq!(opened.as_aes(), Some(&aes));
    let sealed = root.seal_material(&opened, b"ctx").unwrap();
    assert_eq!(sealed.len(), crypto::WRAPPED_KEY_LEN);
    assert_eq!(sealed[0], 0x01);
    assert_eq!(root.unwrap(&sealed, b"ctx").unwrap(), aes);
    // A proxy secret sealed with the same context is not key material.
    let secret = root.seal_secret(&[7u8; 48], b"ctx").unwrap();
    assert!(root
        .open_material(MaterialKind::Hmac(384), &secret, b"ctx")
        .is_err());
}

#[test]
fn data_key_pairs_for_every_spec() {
    for &spec in DataKeyPairSpec::ALL {
        if spec == DataKeyPairSpec::Sm2 {
            assert!(matches!(
                generate_data_key_pair(spec),
                Err(KeyOpError::Unsupported("SM2"))
            ));
            continue;
        }
        let pair = generate_data_key_pair(spec).unwrap();
        let kind = data_key_pair_kind(spec);
        // The private key is the storage form: it loads and derives the
        // same public key.
        let m = Material::from_storage(kind, &pair.private_key).unwrap();
        assert_eq!(m.public_key_der(), Some(&pair.public_key[..]), "{spec}");
        assert_eq!(spec_name(kind), spec.as_str());
    }
}

#[test]
fn imported_material_is_checked_against_the_key_spec() {
    // Symmetric: exactly 32 bytes.
    assert!(import_material(MaterialKind::Aes256Gcm, &[1u8; 32]).is_ok());
    for len in [0usize, 16, 31, 33, 64] {
        let e = import_material(MaterialKind::Aes256Gcm, &vec![1u8; len]).unwrap_err();
        assert_eq!(
            as_aws(e),
            (
                ErrorCode::IncorrectKeyMaterialException,
                "The key material is not valid for key spec SYMMETRIC_DEFAULT.".to_owned()
            )
        );
    }
    // HMAC: from the digest length to the block-derived maximum.
    for (bits, min, max) in [
        (224u16, 28usize, 64usize),
        (256, 32, 64),
        (384, 48, 128),
        (512, 64, 128),
    ] {
        for len in [min - 1, min, max, max + 1] {
            let ok = import_material(MaterialKind::Hmac(bits), &vec![3u8; len]).is_ok();
            assert_eq!(ok, (min..=max).contains(&len), "HMAC_{bits} len {len}");
        }
    }
    // Key pairs: PKCS#8 of exactly the spec.
    for &kind in ASYMMETRIC {
        let der = key(kind).expose_storage();
        let imported = import_material(kind, der).unwrap();
        assert!(imported.same_key_as(key(kind)));
        for &other in ASYMMETRIC.iter().filter(|o| **o != kind) {
            let e = import_material(other, der).unwrap_err();
            assert_eq!(
                KmsError::from(e).code,
                ErrorCode::IncorrectKeyMaterialException
            );
        }
        let e = import_material(kind, &[0x30, 0x00]).unwrap_err();
        assert!(matches!(e, KeyOpError::IncorrectKeyMaterial { .. }));
    }
    assert!(matches!(
        import_material(MaterialKind::Sm2, &[0u8; 10]),
        Err(KeyOpError::Unsupported("SM2"))
    ));
}

#[test]
fn wrapping_keys_unwrap_oaep_and_refuse_what_aws_refuses() {
    for (spec, modulus) in [
        (WrappingKeySpec::Rsa2048, 256usize),
        (WrappingKeySpec::Rsa3072, 384),
        (WrappingKeySpec::Rsa4096, 512),
    ] {
        let w = WrappingKey::generate(spec).unwrap();
        let reloaded = WrappingKey::from_pkcs8(spec, w.pkcs8()).unwrap();
        assert_eq!(reloaded.public_key_der(), w.public_key_der());
        // The public key is an RSA key of the spec's size: encrypt with it
        // through a Material built from the same PKCS#8.
        let as_material =
            Material::from_storage(MaterialKind::Rsa((modulus * 8) as u16), w.pkcs8()).unwrap();
        assert_eq!(as_material.public_key_der(), Some(w.public_key_der()));
        for (wrap_alg, enc_alg) in [
            (
                AlgorithmSpec::RsaesOaepSha1,
                EncryptionAlgorithmSpec::RsaesOaepSha1,
            ),
            (
                AlgorithmSpec::RsaesOaepSha256,
                EncryptionAlgorithmSpec::RsaesOaepSha256,
            ),
        ] {
            let ct = as_material.encrypt(enc_alg, &[9u8; 32]).unwrap();
            assert_eq!(w.unwrap(wrap_alg, &ct).unwrap().as_slice(), &[9u8; 32]);
            let mut bad = ct.clone();
            bad[5] ^= 1;
            assert_eq!(w.unwrap(wrap_alg, &bad), Err(KeyOpError::InvalidCiphertext));
        }
        assert!(WrappingKey::from_pkcs8(
            if spec == WrappingKeySpec::Rsa2048 {
                WrappingKeySpec::Rsa3072
            } else {
                WrappingKeySpec::Rsa2048
            },
            w.pkcs8()
        )
        .is_err());
        assert!(matches!(
            w.unwrap(AlgorithmSpec::RsaesPkcs1V15, &[0u8; 256]),
            Err(KeyOpError::Unsupported(_))
        ));
        assert!(matches!(
            w.unwrap(AlgorithmSpec::Sm2pke, &[0u8; 256]),
            Err(KeyOpError::Unsupported(_))
        ));
        for alg in [
            AlgorithmSpec::RsaAesKeyWrapSha1,
            AlgorithmSpec::RsaAesKeyWrapSha256,
        ] {
            for len in [0usize, 10, modulus, modulus + 8, modulus + 40] {
                assert_eq!(
                    w.unwrap(alg, &vec![1u8; len]),
                    Err(KeyOpError::InvalidCiphertext)
                );
            }
        }
    }
    assert!(matches!(
        WrappingKey::generate(WrappingKeySpec::Sm2),
        Err(KeyOpError::Unsupported("SM2"))
    ));
    assert!(WrappingKey::from_pkcs8(
        WrappingKeySpec::Rsa2048,
        key(MaterialKind::EccNist(256)).expose_storage()
    )
    .is_err());
}

#[test]
fn keys_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Material>();
    assert_send_sync::<WrappingKey>();
    assert_send_sync::<crypto::asymmetric::DataKeyPair>();
    // And usable from several threads at once.
    let m = key(MaterialKind::EccNist(256));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let sig = m.sign(Sign::EcdsaSha256, MessageType::Raw, b"t").unwrap();
                assert_eq!(
                    m.verify(Sign::EcdsaSha256, MessageType::Raw, b"t", &sig),
                    Ok(true)
                );
            });
        }
    });
}

#[test]
fn public_keys_have_the_spki_sizes_aws_returns() {
    // ML-DSA sizes as GetPublicKey returns them (RFC 9881 SPKI: a 22-byte
    // header and the raw key); the others are the standard encodings.
    let cases = [
        (MaterialKind::Rsa(2048), 294),
        (MaterialKind::Rsa(3072), 422),
        (MaterialKind::Rsa(4096), 550),
        (MaterialKind::EccNist(256), 91),
        (MaterialKind::EccNist(384), 120),
        (MaterialKind::EccNist(521), 158),
        (MaterialKind::Secp256k1, 88),
        (MaterialKind::Ed25519, 44),
        (MaterialKind::MlDsa(44), 1334),
        (MaterialKind::MlDsa(65), 1974),
        (MaterialKind::MlDsa(87), 2614),
        (MaterialKind::MlKem(512), 822),
        (MaterialKind::MlKem(768), 1206),
        (MaterialKind::MlKem(1024), 1590),
    ];
    for (kind, len) in cases {
        let spki = key(kind).public_key_der().unwrap();
        assert_eq!(spki.len(), len, "{kind:?}");
        assert_eq!(spki[0], 0x30, "{kind:?}");
    }
}
