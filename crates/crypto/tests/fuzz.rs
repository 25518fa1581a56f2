//! Deterministic pseudo-random fuzzing of the parsers: whatever the input,
//! they return (Ok or Err) and never panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;

use crypto::{
    decrypt_blob_with, encode_blob, encrypt_blob, new_backing_key_id, parse_blob, Algorithm,
    BlobHeader, ExternalLayer, KeyMaterial, Layer, PreparedKey, RootKey,
};

/// xorshift64*: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seed_blobs() -> (Vec<Vec<u8>>, KeyMaterial) {
    let material = KeyMaterial::generate().unwrap();
    let bk = new_backing_key_id().unwrap();
    let mut ctx = BTreeMap::new();
    ctx.insert("k".to_string(), "v".to_string());
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
    (seeds, material)
}

#[test]
fn parse_random_bytes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..4000 {
        let len = rng.below(160);
        let mut bytes = rng.bytes(len);
        // Often start with the magic and version so the parser gets deeper.
        if rng.below(2) == 0 && bytes.len() >= 3 {
            bytes[..3].copy_from_slice(b"SR\x01");
            if rng.below(2) == 0 && bytes.len() >= 4 {
                bytes[3] = [0x81, 0x82, 0x05][rng.below(3)];
            }
        }
        if parse_blob(&bytes).is_ok() {
            accepted += 1;
        }
    }
    // Random bytes with a valid-looking prefix are sometimes well formed;
    // that is fine, decryption will reject them. Just make sure we ran.
    assert!(accepted < 4000);
}

#[test]
fn parse_and_decrypt_mutated_blobs() {
    let (seeds, material) = seed_blobs();
    let key = PreparedKey::new(&material).unwrap();
    let mut ctx = BTreeMap::new();
    ctx.insert("k".to_string(), "v".to_string());
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for i in 0..5000 {
        let mut blob = seeds[i % seeds.len()].clone();
        let original = blob.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(5) {
                0 if !blob.is_empty() => {
                    let p = rng.below(blob.len());
                    blob[p] ^= 1 << rng.below(8);
                }
                1 if !blob.is_empty() => {
                    let p = rng.below(blob.len());
                    blob[p] = rng.next() as u8;
                }
                2 => {
                    let cut = rng.below(blob.len() + 1);
                    blob.truncate(cut);
                }
                3 => {
                    let p = rng.below(blob.len() + 1);
                    blob.insert(p, rng.next() as u8);
                }
                _ if !blob.is_empty() => {
                    let p = rng.below(blob.len());
                    blob.remove(p);
                }
                _ => {}
            }
        }
        if let Ok(parsed) = parse_blob(&blob) {
            let result = decrypt_blob_with(&key, &parsed, &ctx);
            if blob != original {
                assert!(result.is_err(), "mutated blob decrypted (iteration {i})");
            }
        }
    }
}

#[test]
fn root_key_file_and_unwrap_fuzz() {
    let mut rng = Rng(42);
    let root = RootKey::generate().unwrap();
    let good = root.to_file_contents().unwrap();
    for _ in 0..3000 {
        let mut text = good.as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            if text.is_empty() {
                break;
            }
            let p = rng.below(text.len());
            match rng.below(3) {
                0 => text[p] = rng.next() as u8,
                1 => {
                    text.remove(p);
                }
                _ => text.truncate(p),
            }
        }
        let s = String::from_utf8_lossy(&text);
        let _ = RootKey::from_file_contents(&s);
        let len = rng.below(80);
        let junk = rng.bytes(len);
        assert!(root.unwrap(&junk, b"ctx").is_err());
    }
}

/// Mutations of a valid input: bit flips, truncations, insertions and
/// random replacements, plus wholly random bytes.
fn mutations(rng: &mut Rng, seed: &[u8], rounds: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut m = seed.to_vec();
        match rng.below(5) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            1 => m.truncate(rng.below(m.len() + 1)),
            2 => {
                let i = rng.below(m.len() + 1);
                let n = 1 + rng.below(4);
                let extra = rng.bytes(n);
                m.splice(i..i, extra);
            }
            3 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            _ => {
                let n = rng.below(seed.len() + 8);
                m = rng.bytes(n);
            }
        }
        out.push(m);
    }
    out
}

#[test]
fn key_material_parsers_never_panic() {
    use crypto::asymmetric::{import_material, Material, MaterialKind, WrappingKey};
    use kms_api::wire::{
        AlgorithmSpec, EncapsulationAlgorithmSpec, KeyAgreementAlgorithmSpec, MessageType,
        SigningAlgorithmSpec, WrappingKeySpec,
    };

    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let kinds = [
        MaterialKind::Rsa(2048),
        MaterialKind::EccNist(256),
        MaterialKind::EccNist(521),
        MaterialKind::Secp256k1,
        MaterialKind::Ed25519,
        MaterialKind::MlDsa(44),
        MaterialKind::MlKem(512),
        MaterialKind::Hmac(256),
    ];
    let p256 = Material::generate(MaterialKind::EccNist(256)).unwrap();
    for kind in kinds {
        let m = Material::generate(kind).unwrap();
        let rounds = if kind == MaterialKind::Rsa(2048) {
            150
        } else {
            400
        };
        for bytes in mutations(&mut rng, m.expose_storage(), rounds) {
            let _ = Material::from_storage(kind, &bytes);
            let _ = import_material(kind, &bytes);
        }
        if let Some(public) = m.public_key_der() {
            for bytes in mutations(&mut rng, public, 300) {
                let _ = p256.derive_shared_secret(KeyAgreementAlgorithmSpec::Ecdh, &bytes);
            }
        }
    }
    // Signatures and ciphertexts of any shape are answered, not panicked on.
    let mldsa = Material::generate(MaterialKind::MlDsa(44)).unwrap();
    let mlkem = Material::generate(MaterialKind::MlKem(512)).unwrap();
    let ed = Material::generate(MaterialKind::Ed25519).unwrap();
    let mu = [3u8; 64];
    let sig = mldsa
        .sign(
            SigningAlgorithmSpec::MlDsaShake256,
            MessageType::ExternalMu,
            &mu,
        )
        .unwrap();
    for bytes in mutations(&mut rng, &sig, 200) {
        let ok = mldsa.verify(
            SigningAlgorithmSpec::MlDsaShake256,
            MessageType::ExternalMu,
            &mu,
            &bytes,
        );
        assert_eq!(ok, Ok(bytes == sig));
    }
    let sig = ed
        .sign(
            SigningAlgorithmSpec::Ed25519PhSha512,
            MessageType::Digest,
            &[1u8; 64],
        )
        .unwrap();
    for bytes in mutations(&mut rng, &sig, 200) {
        let ok = ed.verify(
            SigningAlgorithmSpec::Ed25519PhSha512,
            MessageType::Digest,
            &[1u8; 64],
            &bytes,
        );
        assert_eq!(ok, Ok(bytes == sig));
    }
    let (ct, _) = mlkem
        .encapsulate(EncapsulationAlgorithmSpec::MlKem)
        .unwrap();
    for bytes in mutations(&mut rng, &ct, 200) {
        let _ = mlkem.decapsulate(EncapsulationAlgorithmSpec::MlKem, &bytes);
    }
    let w = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
    let wrapped = vec![7u8; 256 + 40];
    for bytes in mutations(&mut rng, &wrapped, 200) {
        for alg in [
            AlgorithmSpec::RsaesOaepSha256,
            AlgorithmSpec::RsaAesKeyWrapSha256,
        ] {
            assert!(w.unwrap(alg, &bytes).is_err());
        }
    }
    for bytes in mutations(&mut rng, w.pkcs8(), 100) {
        let _ = WrappingKey::from_pkcs8(WrappingKeySpec::Rsa2048, &bytes);
    }
}
