//! Interoperability with the RustCrypto implementations, for what the
//! openssl CLI on Debian (3.0) cannot check: Ed25519ph (ED25519_PH_SHA_512),
//! ML-DSA with RAW messages and external μ (ML_DSA_SHAKE_256), and ML-KEM
//! (Encapsulate/Decapsulate, keys in PKCS#8 and SPKI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// a test fails by panicking

// ml-kem deprecates the expanded key form; it is needed here to build
// expanded-form PKCS#8, which AWS-LC and RFC 9935 still accept.
#![allow(deprecated)]

use crypto::asymmetric::{generate_data_key_pair, import_material, Material, MaterialKind};
use ed25519_dalek::{
    Signature as EdSignature, SigningKey as EdSigningKey, VerifyingKey as EdVerifyingKey,
};
use kms_api::wire::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, MessageType, SigningAlgorithmSpec as Sign,
};
use ml_dsa::signature::{Keypair, SignatureEncoding, Signer, Verifier};
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams};
use ml_kem::kem::Decapsulate;
use ml_kem::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ml_kem::{ExpandedKeyEncoding, MlKem1024, MlKem512, MlKem768};
use sha2::{Digest, Sha512};

const MESSAGE: &[u8] = b"Strongroom interoperability check";

fn ed25519_keys(m: &Material) -> (EdSigningKey, EdVerifyingKey) {
    // PKCS#8 v1 for Ed25519 ends with the 32-byte seed; the SPKI with the key.
    let p8 = m.expose_storage();
    let seed: [u8; 32] = p8[p8.len() - 32..].try_into().unwrap();
    let spki = m.public_key_der().unwrap();
    let public: [u8; 32] = spki[spki.len() - 32..].try_into().unwrap();
    let signing = EdSigningKey::from_bytes(&seed);
    assert_eq!(
        signing.verifying_key().to_bytes(),
        public,
        "dalek derives our public key"
    );
    (signing, EdVerifyingKey::from_bytes(&public).unwrap())
}

#[test]
fn ed25519ph_interoperates_with_ed25519_dalek() {
    let m = Material::generate(MaterialKind::Ed25519).unwrap();
    let (signing, verifying) = ed25519_keys(&m);
    let digest: [u8; 64] = Sha512::digest(MESSAGE).into();

    // Ours: ED25519_PH_SHA_512 over the SHA-512 digest of the message.
    let ours = m
        .sign(Sign::Ed25519PhSha512, MessageType::Digest, &digest)
        .unwrap();
    let sig = EdSignature::from_slice(&ours).unwrap();
    verifying
        .verify_prehashed(Sha512::new_with_prefix(MESSAGE), None, &sig)
        .expect("dalek verifies our Ed25519ph signature");
    assert!(verifying
        .verify_prehashed(Sha512::new_with_prefix(b"another"), None, &sig)
        .is_err());
    // Ed25519ph is a different signature from pure Ed25519.
    assert!(verifying.verify_strict(MESSAGE, &sig).is_err());

    // Theirs: Ed25519ph is deterministic, so the bytes match too.
    let theirs = signing
        .sign_prehashed(Sha512::new_with_prefix(MESSAGE), None)
        .unwrap()
        .to_bytes();
    assert_eq!(theirs.to_vec(), ours);
    assert_eq!(
        m.verify(Sign::Ed25519PhSha512, MessageType::Digest, &digest, &theirs),
        Ok(true)
    );
    let other: [u8; 64] = Sha512::digest(b"another").into();
    assert_eq!(
        m.verify(Sign::Ed25519PhSha512, MessageType::Digest, &other, &theirs),
        Ok(false)
    );

    // Pure Ed25519 matches dalek too.
    let pure = m
        .sign(Sign::Ed25519Sha512, MessageType::Raw, MESSAGE)
        .unwrap();
    assert_eq!(pure, signing.sign(MESSAGE).to_bytes().to_vec());
    // A prehash signature with a context (Ed25519ctx-style domain) is not ours.
    let with_context = signing
        .sign_prehashed(Sha512::new_with_prefix(MESSAGE), Some(b"ctx"))
        .unwrap()
        .to_bytes();
    assert_eq!(
        m.verify(
            Sign::Ed25519PhSha512,
            MessageType::Digest,
            &digest,
            &with_context
        ),
        Ok(false)
    );
}

/// μ as FIPS 204 defines it for pure ML-DSA with the empty context, computed
/// by the RustCrypto implementation from the public key.
fn mu_of<P: MlDsaParams>(vk: &ml_dsa::VerifyingKey<P>, message: &[u8]) -> [u8; 64] {
    let mu = vk
        .compute_mu(
            |h| {
                use ml_dsa::signature::digest::Update;
                h.update(message);
                Ok(())
            },
            b"",
        )
        .unwrap();
    mu.as_slice().try_into().unwrap()
}

macro_rules! check_ml_dsa {
    ($P:ty, $set:expr) => {{
        type P = $P;
        let set: u8 = $set;

        let kind = MaterialKind::MlDsa(set);
        let m = Material::generate(kind).unwrap();
        // Their parser reads our PKCS#8 (seed form) and derives our SPKI.
        let sk =
            ml_dsa::SigningKey::<P>::from_pkcs8_der(m.expose_storage()).expect("PKCS#8 parses");
        let vk = ml_dsa::VerifyingKey::<P>::from_public_key_der(m.public_key_der().unwrap())
            .expect("SPKI parses");
        assert_eq!(vk, sk.verifying_key());
        assert_eq!(
            vk.to_public_key_der().unwrap().as_bytes(),
            m.public_key_der().unwrap()
        );

        // RAW: pure ML-DSA, empty context, both ways.
        let ours = m
            .sign(Sign::MlDsaShake256, MessageType::Raw, MESSAGE)
            .unwrap();
        let sig = ml_dsa::Signature::<P>::try_from(&ours[..]).unwrap();
        vk.verify(MESSAGE, &sig)
            .expect("RustCrypto verifies our RAW signature");
        assert!(vk.verify(b"another", &sig).is_err());
        let theirs = sk.sign(MESSAGE).to_bytes();
        assert_eq!(
            m.verify(Sign::MlDsaShake256, MessageType::Raw, MESSAGE, &theirs),
            Ok(true)
        );
        assert_eq!(
            m.verify(Sign::MlDsaShake256, MessageType::Raw, b"another", &theirs),
            Ok(false)
        );

        // EXTERNAL_MU: signing μ(M) is signing M.
        let mu = mu_of(&vk, MESSAGE);
        let ours = m
            .sign(Sign::MlDsaShake256, MessageType::ExternalMu, &mu)
            .unwrap();
        let sig = ml_dsa::Signature::<P>::try_from(&ours[..]).unwrap();
        assert!(vk.verify_mu(&mu.into(), &sig));
        vk.verify(MESSAGE, &sig)
            .expect("an external-mu signature is a signature of the message");
        assert_eq!(
            m.verify(Sign::MlDsaShake256, MessageType::Raw, MESSAGE, &ours),
            Ok(true)
        );
        let theirs = sk.signing_key_mu(&mu);
        assert_eq!(
            m.verify(Sign::MlDsaShake256, MessageType::ExternalMu, &mu, &theirs),
            Ok(true)
        );
        let other_mu = mu_of(&vk, b"another");
        assert_eq!(
            m.verify(
                Sign::MlDsaShake256,
                MessageType::ExternalMu,
                &other_mu,
                &theirs
            ),
            Ok(false)
        );

        // A key made by RustCrypto imports here with the same public key.
        let seed = [set; 32];
        let theirs_key = ml_dsa::SigningKey::<P>::from_seed(&seed.into());
        let der = theirs_key.to_pkcs8_der().unwrap();
        let imported = import_material(kind, der.as_bytes()).unwrap();
        assert_eq!(
            imported.public_key_der().unwrap(),
            theirs_key
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
        );
        let sig = imported
            .sign(Sign::MlDsaShake256, MessageType::Raw, MESSAGE)
            .unwrap();
        theirs_key
            .verifying_key()
            .verify(
                MESSAGE,
                &ml_dsa::Signature::<P>::try_from(&sig[..]).unwrap(),
            )
            .unwrap();
    }};
}

/// Signs μ deterministically with the RustCrypto key.
trait SignMu {
    fn signing_key_mu(&self, mu: &[u8; 64]) -> Vec<u8>;
}

impl<P: MlDsaParams> SignMu for ml_dsa::SigningKey<P> {
    fn signing_key_mu(&self, mu: &[u8; 64]) -> Vec<u8> {
        self.expanded_key()
            .sign_mu_deterministic(&(*mu).into())
            .to_bytes()
            .to_vec()
    }
}

#[test]
fn ml_dsa_44_interoperates() {
    check_ml_dsa!(MlDsa44, 44);
}

#[test]
fn ml_dsa_65_interoperates() {
    check_ml_dsa!(MlDsa65, 65);
}

#[test]
fn ml_dsa_87_interoperates() {
    check_ml_dsa!(MlDsa87, 87);
}

/// The ML-KEM OID content bytes (2.16.840.1.101.3.4.4.x).
fn ml_kem_oid(set: u16) -> Vec<u8> {
    let last = match set {
        512 => 1,
        768 => 2,
        _ => 3,
    };
    vec![0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, last]
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(body);
    out
}

/// PKCS#8 with RFC 9935's `expandedKey` or `both` private key choice.
fn pkcs8_with(set: u16, private_key: &[u8]) -> Vec<u8> {
    let mut body = der(0x02, &[0]);
    body.extend(der(0x30, &der(0x06, &ml_kem_oid(set))));
    body.extend(der(0x04, private_key));
    der(0x30, &body)
}

macro_rules! check_ml_kem {
    ($P:ty, $set:expr) => {{
        type P = $P;
        let set: u16 = $set;

        let kind = MaterialKind::MlKem(set);
        let m = Material::generate(kind).unwrap();
        // Our PKCS#8 (seed form) and SPKI parse there and agree.
        let dk = ml_kem::DecapsulationKey::<P>::from_pkcs8_der(m.expose_storage())
            .expect("PKCS#8 parses");
        let ek = ml_kem::EncapsulationKey::<P>::from_public_key_der(m.public_key_der().unwrap())
            .expect("SPKI parses");
        assert!(dk.encapsulation_key() == &ek);
        assert_eq!(
            dk.to_pkcs8_der().unwrap().as_bytes(),
            m.expose_storage(),
            "same seed-form encoding"
        );

        // Encapsulated there with the public key alone, decapsulated here.
        let m_random: [u8; 32] = crypto::random_bytes(32)
            .unwrap()
            .as_slice()
            .try_into()
            .unwrap();
        let (ct, theirs) = ek.encapsulate_deterministic(&ml_kem::B32::from(m_random));
        let ours = m
            .decapsulate(EncapsulationAlgorithmSpec::MlKem, ct.as_slice())
            .unwrap();
        assert_eq!(ours.as_slice(), theirs.as_slice());
        // Encapsulated here, decapsulated there.
        let (ct, ours) = m.encapsulate(EncapsulationAlgorithmSpec::MlKem).unwrap();
        let theirs = dk.decapsulate_slice(&ct).unwrap();
        assert_eq!(ours.as_slice(), theirs.as_slice());

        // Their keys in all three RFC 9935 forms import here as the same key.
        let seed = [(set / 8) as u8; 64];
        let their_dk = ml_kem::DecapsulationKey::<P>::from_seed(seed.into());
        let their_spki = their_dk.encapsulation_key().to_public_key_der().unwrap();
        let expanded = their_dk.to_expanded_bytes();
        let seed_form = their_dk.to_pkcs8_der().unwrap();
        let expanded_form = pkcs8_with(set, &der(0x04, &expanded));
        let mut both = der(0x04, &seed);
        both.extend(der(0x04, &expanded));
        let both_form = pkcs8_with(set, &der(0x30, &both));
        for (name, p8) in [
            ("seed", seed_form.as_bytes()),
            ("expanded", &expanded_form[..]),
            ("both", &both_form[..]),
        ] {
            let imported = import_material(kind, p8).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(
                imported.public_key_der().unwrap(),
                their_spki.as_bytes(),
                "{name}"
            );
            let (ct, ours) = imported
                .encapsulate(EncapsulationAlgorithmSpec::MlKem)
                .unwrap();
            assert_eq!(
                their_dk.decapsulate_slice(&ct).unwrap().as_slice(),
                ours.as_slice(),
                "{name}"
            );
        }
        // A `both` whose halves disagree, and an expanded key with a wrong
        // H(ek), are refused.
        let mut mismatched = der(0x04, &[0xffu8; 64]);
        mismatched.extend(der(0x04, &expanded));
        assert!(import_material(kind, &pkcs8_with(set, &der(0x30, &mismatched))).is_err());
        let mut corrupt = expanded.to_vec();
        let hash_at = corrupt.len() - 64;
        corrupt[hash_at] ^= 1;
        assert!(import_material(kind, &pkcs8_with(set, &der(0x04, &corrupt))).is_err());
    }};
}

#[test]
fn ml_kem_512_interoperates() {
    check_ml_kem!(MlKem512, 512);
}

#[test]
fn ml_kem_768_interoperates() {
    check_ml_kem!(MlKem768, 768);
}

#[test]
fn ml_kem_1024_interoperates() {
    check_ml_kem!(MlKem1024, 1024);
}

#[test]
fn ml_kem_data_key_pairs_parse_there() {
    let pair = generate_data_key_pair(DataKeyPairSpec::MlKem768).unwrap();
    let dk = ml_kem::DecapsulationKey::<MlKem768>::from_pkcs8_der(&pair.private_key).unwrap();
    assert_eq!(
        dk.encapsulation_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
        &pair.public_key[..]
    );
}
