//! Property tests of the parsers that read outside bytes: the ciphertext blob, the root key
//! file, key material (stored, imported, public keys), signatures, KEM ciphertexts and wrapped
//! import material. Whatever the input, they answer (Ok or Err) and never panic; on top:
//! a parsed blob re-encodes to its bytes, a changed blob never decrypts, a changed signature
//! never verifies and junk never unwraps. (Coverage-guided fuzzing of the same parsers:
//! `fuzz/fuzz_targets/blob.rs`, `root_key_file.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crypto::asymmetric::{import_material, Material, MaterialKind, WrappingKey};
use crypto::{
    decrypt_blob_with, encode_blob, encrypt_blob, new_backing_key_id, parse_blob, Algorithm,
    BlobHeader, ExternalLayer, KeyMaterial, Layer, PreparedKey, RootKey,
};
use kms_api::wire::{
    AlgorithmSpec, EncapsulationAlgorithmSpec, KeyAgreementAlgorithmSpec, MessageType,
    SigningAlgorithmSpec, WrappingKeySpec,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        any::<Index>().prop_map(Mutation::Remove),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..5)
}

fn mutate(seed: &[u8], changes: &[Mutation]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for c in changes {
        let len = m.len();
        match c {
            Mutation::FlipBit(i, b) if len > 0 => m[i.index(len)] ^= 1 << b,
            Mutation::Set(i, v) if len > 0 => m[i.index(len)] = *v,
            Mutation::Truncate(i) => m.truncate(i.index(len + 1)),
            Mutation::Insert(i, v) => {
                let at = i.index(len + 1);
                m.splice(at..at, v.iter().copied());
            }
            Mutation::Remove(i) if len > 0 => {
                m.remove(i.index(len));
            }
            _ => {}
        }
    }
    m
}

struct Blobs {
    seeds: Vec<Vec<u8>>,
    key: PreparedKey,
}

fn context() -> BTreeMap<String, String> {
    BTreeMap::from([("k".to_string(), "v".to_string())])
}

fn blobs() -> &'static Blobs {
    static BLOBS: OnceLock<Blobs> = OnceLock::new();
    BLOBS.get_or_init(|| {
        let material = KeyMaterial::generate().unwrap();
        let bk = new_backing_key_id().unwrap();
        let ctx = context();
        let mut seeds = vec![];
        for key_id in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "x",
        ] {
            seeds.push(encrypt_blob(key_id, &bk, &material, b"", &ctx).unwrap());
            seeds.push(encrypt_blob(key_id, &bk, &material, b"some plaintext", &ctx).unwrap());
            let header = BlobHeader {
                key_id: key_id.to_string(),
                backing_key_id: bk,
                algorithm: Algorithm::SymmetricDefault,
                layer: Layer::External(ExternalLayer {
                    iv: vec![1; 16],
                    metadata: vec![2; 5],
                    tag: [3; 16],
                }),
                nonce: [4; 12],
            };
            seeds.push(encode_blob(&header, &[5u8; 40]).unwrap());
        }
        let key = PreparedKey::new(&material).unwrap();
        Blobs { seeds, key }
    })
}

/// Random bytes, often behind the blob's magic, version and a layer byte so the parser gets
/// past its first checks.
fn blob_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::option::of(prop::sample::select(vec![0x81u8, 0x82, 0x05])),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..160),
    )
        .prop_map(|(layer, magic, rest)| {
            let mut b = Vec::new();
            if magic {
                b.extend_from_slice(b"SR\x01");
                b.extend(layer);
            }
            b.extend(rest);
            b
        })
}

struct Materials {
    kinds: Vec<(MaterialKind, Material)>,
    p256: Material,
    mldsa: Material,
    mldsa_sig: Vec<u8>,
    ed: Material,
    ed_sig: Vec<u8>,
    mlkem: Material,
    mlkem_ct: Vec<u8>,
    wrapping: WrappingKey,
}

const MU: [u8; 64] = [3u8; 64];
const DIGEST: [u8; 64] = [1u8; 64];

fn materials() -> &'static Materials {
    static M: OnceLock<Materials> = OnceLock::new();
    M.get_or_init(|| {
        let kinds = [
            MaterialKind::Rsa(2048),
            MaterialKind::EccNist(256),
            MaterialKind::EccNist(521),
            MaterialKind::Secp256k1,
            MaterialKind::Ed25519,
            MaterialKind::MlDsa(44),
            MaterialKind::MlKem(512),
            MaterialKind::Hmac(256),
        ]
        .into_iter()
        .map(|k| (k, Material::generate(k).unwrap()))
        .collect();
        let mldsa = Material::generate(MaterialKind::MlDsa(44)).unwrap();
        let mldsa_sig = mldsa
            .sign(
                SigningAlgorithmSpec::MlDsaShake256,
                MessageType::ExternalMu,
                &MU,
            )
            .unwrap();
        let ed = Material::generate(MaterialKind::Ed25519).unwrap();
        let ed_sig = ed
            .sign(
                SigningAlgorithmSpec::Ed25519PhSha512,
                MessageType::Digest,
                &DIGEST,
            )
            .unwrap();
        let mlkem = Material::generate(MaterialKind::MlKem(512)).unwrap();
        let (mlkem_ct, _) = mlkem
            .encapsulate(EncapsulationAlgorithmSpec::MlKem)
            .unwrap();
        Materials {
            kinds,
            p256: Material::generate(MaterialKind::EccNist(256)).unwrap(),
            mldsa,
            mldsa_sig,
            ed,
            ed_sig,
            mlkem,
            mlkem_ct,
            wrapping: WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any bytes parse or are refused; a parsed blob encodes back to exactly its bytes (one
    /// encoding per blob: nothing a parser skips over can be changed unnoticed).
    #[test]
    fn parsed_blobs_re_encode_to_their_bytes(bytes in blob_like()) {
        if let Ok(parsed) = parse_blob(&bytes) {
            let again = encode_blob(parsed.header(), parsed.payload()).unwrap();
            prop_assert_eq!(again, bytes);
        }
    }

    /// A changed blob that still parses never decrypts.
    #[test]
    fn changed_blobs_never_decrypt(pick in any::<Index>(), changes in mutations()) {
        let b = blobs();
        let original = &b.seeds[pick.index(b.seeds.len())];
        let blob = mutate(original, &changes);
        if let Ok(parsed) = parse_blob(&blob) {
            let result = decrypt_blob_with(&b.key, &parsed, &context());
            if &blob != original {
                prop_assert!(result.is_err(), "a changed blob decrypted");
            }
        }
    }

    /// A damaged root key file is read or refused; junk never unwraps under a root key.
    #[test]
    fn root_key_files_and_junk(
        changes in mutations(),
        junk in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        static ROOT: OnceLock<RootKey> = OnceLock::new();
        let root = ROOT.get_or_init(|| RootKey::generate().unwrap());
        let text = mutate(
            root.to_file_contents()
                .expect("an in-memory root has file contents")
                .as_bytes(),
            &changes,
        );
        let _ = RootKey::from_file_contents(&String::from_utf8_lossy(&text));
        prop_assert!(root.unwrap(&junk, b"ctx").is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Stored, imported and public key material of every kind, changed: read or refused.
    #[test]
    fn changed_key_material_is_read_or_refused(pick in any::<Index>(), changes in mutations()) {
        let m = materials();
        let (kind, material) = &m.kinds[pick.index(m.kinds.len())];
        let bytes = mutate(material.expose_storage(), &changes);
        let _ = Material::from_storage(*kind, &bytes);
        let _ = import_material(*kind, &bytes);
        if let Some(public) = material.public_key_der() {
            let bytes = mutate(public, &changes);
            let _ = m.p256.derive_shared_secret(KeyAgreementAlgorithmSpec::Ecdh, &bytes);
        }
    }

    /// A signature verifies exactly when it is the one made; KEM ciphertexts and wrapped
    /// material of any shape are answered, and changed wrapped material never unwraps.
    #[test]
    fn changed_signatures_and_ciphertexts(changes in mutations()) {
        let m = materials();
        let sig = mutate(&m.mldsa_sig, &changes);
        let ok = m.mldsa.verify(
            SigningAlgorithmSpec::MlDsaShake256,
            MessageType::ExternalMu,
            &MU,
            &sig,
        );
        prop_assert_eq!(ok, Ok(sig == m.mldsa_sig));
        let sig = mutate(&m.ed_sig, &changes);
        let ok = m.ed.verify(
            SigningAlgorithmSpec::Ed25519PhSha512,
            MessageType::Digest,
            &DIGEST,
            &sig,
        );
        prop_assert_eq!(ok, Ok(sig == m.ed_sig));
        let ct = mutate(&m.mlkem_ct, &changes);
        let _ = m.mlkem.decapsulate(EncapsulationAlgorithmSpec::MlKem, &ct);
        let wrapped = mutate(&[7u8; 256 + 40], &changes);
        for alg in [AlgorithmSpec::RsaesOaepSha256, AlgorithmSpec::RsaAesKeyWrapSha256] {
            prop_assert!(m.wrapping.unwrap(alg, &wrapped).is_err());
        }
        let pkcs8 = mutate(m.wrapping.pkcs8(), &changes);
        let _ = WrappingKey::from_pkcs8(WrappingKeySpec::Rsa2048, &pkcs8);
    }
}
