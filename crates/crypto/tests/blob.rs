//! Behaviour of the ciphertext blob through the public API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;

use crypto::{
    decrypt_blob, decrypt_blob_with, encode_blob, encode_encryption_context, encrypt_blob,
    encrypt_blob_with, new_backing_key_id, open_external_inner_with, parse_blob,
    seal_external_inner_with, Algorithm, BlobHeader, CryptoError, ExternalLayer, KeyMaterial,
    Layer, PreparedKey, MAX_KEY_ID_LEN,
};

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const MRK_ID: &str = "mrk-1234abcd12ab34cd56ef1234567890ab";

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn setup() -> (KeyMaterial, [u8; 32]) {
    (
        KeyMaterial::generate().unwrap(),
        new_backing_key_id().unwrap(),
    )
}

fn round_trip(key_id: &str, plaintext: &[u8], context: &BTreeMap<String, String>) {
    let (material, bk) = setup();
    let blob = encrypt_blob(key_id, &bk, &material, plaintext, context).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(parsed.key_id(), key_id);
    assert_eq!(parsed.backing_key_id(), &bk);
    assert_eq!(parsed.header().algorithm, Algorithm::SymmetricDefault);
    assert_eq!(parsed.layer(), &Layer::Single);
    let out = decrypt_blob(&parsed, &material, context).unwrap();
    assert_eq!(out.as_slice(), plaintext);
    // The prepared-key path agrees with the one-shot path both ways.
    let key = PreparedKey::new(&material).unwrap();
    assert_eq!(
        decrypt_blob_with(&key, &parsed, context)
            .unwrap()
            .as_slice(),
        plaintext
    );
    let blob2 = encrypt_blob_with(&key, key_id, &bk, plaintext, context).unwrap();
    assert_eq!(blob2.len(), blob.len());
    assert_ne!(blob2, blob, "nonces must differ");
    let parsed2 = parse_blob(&blob2).unwrap();
    assert_eq!(
        decrypt_blob(&parsed2, &material, context)
            .unwrap()
            .as_slice(),
        plaintext
    );
}

#[test]
fn round_trips() {
    let contexts = [
        ctx(&[]),
        ctx(&[("purpose", "test")]),
        ctx(&[("a", "1"), ("b", ""), ("", "x"), ("ünï", "cødé")]),
    ];
    let big: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    for key_id in [
        KEY_ID,
        MRK_ID,
        "alias-like_id.0",
        "x",
        &"k".repeat(MAX_KEY_ID_LEN),
    ] {
        for c in &contexts {
            round_trip(key_id, b"", c);
            round_trip(key_id, b"z", c);
            round_trip(key_id, &big, c);
        }
    }
}

#[test]
fn context_order_is_irrelevant() {
    let (material, bk) = setup();
    let mut a = BTreeMap::new();
    a.insert("x".to_string(), "1".to_string());
    a.insert("a".to_string(), "2".to_string());
    let mut b = BTreeMap::new();
    b.insert("a".to_string(), "2".to_string());
    b.insert("x".to_string(), "1".to_string());
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"hi", &a).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(
        decrypt_blob(&parsed, &material, &b).unwrap().as_slice(),
        b"hi"
    );
}

#[test]
fn context_must_match_exactly() {
    let (material, bk) = setup();
    let good = ctx(&[("tenant", "acme"), ("purpose", "billing")]);
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"secret", &good).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    let wrong = [
        ctx(&[]),
        ctx(&[("tenant", "acme")]), // removed
        ctx(&[("tenant", "acme"), ("purpose", "billing"), ("extra", "")]), // added
        ctx(&[("tenant", "acme"), ("purpose", "Billing")]), // value
        ctx(&[("tenant", "acme"), ("purposE", "billing")]), // key
        ctx(&[("tenant", "acmepurpose"), ("", "billing")]), // shifted
    ];
    for w in &wrong {
        assert_eq!(
            decrypt_blob(&parsed, &material, w),
            Err(CryptoError::InvalidCiphertext),
            "{w:?}"
        );
    }
    // And a blob made without context does not open with one.
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"secret", &ctx(&[])).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(
        decrypt_blob(&parsed, &material, &ctx(&[("", "")])),
        Err(CryptoError::InvalidCiphertext)
    );
}

#[test]
fn other_key_material_fails() {
    let (material, bk) = setup();
    let other = KeyMaterial::generate().unwrap();
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"secret", &ctx(&[])).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(
        decrypt_blob(&parsed, &other, &ctx(&[])),
        Err(CryptoError::InvalidCiphertext)
    );
}

#[test]
fn header_readable_without_key() {
    let (material, bk) = setup();
    let blob = encrypt_blob(MRK_ID, &bk, &material, b"secret", &ctx(&[("a", "b")])).unwrap();
    let header = parse_blob(&blob).unwrap().into_header();
    assert_eq!(header.key_id, MRK_ID);
    assert_eq!(header.backing_key_id, bk);
    assert_eq!(header.layer, Layer::Single);
}

/// Every single-byte change anywhere in the blob is rejected, by the parser
/// or by the tag check.
#[test]
fn every_byte_flip_is_rejected() {
    for key_id in [KEY_ID, MRK_ID, "custom-key"] {
        let (material, bk) = setup();
        let context = ctx(&[("k", "v")]);
        let blob = encrypt_blob(key_id, &bk, &material, b"attack at dawn", &context).unwrap();
        let key = PreparedKey::new(&material).unwrap();
        for pos in 0..blob.len() {
            for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
                let mut bad = blob.clone();
                bad[pos] ^= mask;
                let result = parse_blob(&bad).and_then(|p| decrypt_blob_with(&key, &p, &context));
                assert_eq!(
                    result,
                    Err(CryptoError::InvalidCiphertext),
                    "{key_id}: byte {pos} ^ {mask:#04x}"
                );
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let (material, bk) = setup();
    let context = ctx(&[("k", "v")]);
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"attack at dawn", &context).unwrap();
    for len in 0..blob.len() {
        let result = parse_blob(&blob[..len]).and_then(|p| decrypt_blob(&p, &material, &context));
        assert_eq!(result, Err(CryptoError::InvalidCiphertext), "length {len}");
    }
    for extra in [&[0u8][..], &[0, 0], &[1; 16], &[0xff; 100]] {
        let mut longer = blob.clone();
        longer.extend_from_slice(extra);
        let result = parse_blob(&longer).and_then(|p| decrypt_blob(&p, &material, &context));
        assert_eq!(result, Err(CryptoError::InvalidCiphertext));
    }
    // Also from the front: dropping leading bytes.
    for start in 1..blob.len() {
        let result = parse_blob(&blob[start..]).and_then(|p| decrypt_blob(&p, &material, &context));
        assert_eq!(result, Err(CryptoError::InvalidCiphertext));
    }
}

#[test]
fn not_our_format() {
    let cases: [&[u8]; 8] = [
        b"",
        b"S",
        b"SR",
        b"SR\x01",
        b"SR\x02\x81",
        &[0x01, 0x02, 0x02, 0x00, 0x78, 0x9a],
        &[0; 200],
        &[0xff; 200],
    ];
    for c in cases {
        assert_eq!(parse_blob(c), Err(CryptoError::InvalidCiphertext));
    }
}

#[test]
fn size_overhead() {
    let (material, bk) = setup();
    let pt = vec![0x42u8; 4096];
    let empty = ctx(&[]);
    let big_ctx = ctx(&[("some-key", &"v".repeat(300))]);
    // The longest key ids the KMS issues (36 characters) use compact forms.
    for key_id in [KEY_ID, MRK_ID] {
        for c in [&empty, &big_ctx] {
            let blob = encrypt_blob(key_id, &bk, &material, &pt, c).unwrap();
            assert_eq!(blob.len(), 4096 + 82, "{key_id}");
            assert!(blob.len() <= 4096 + 100);
        }
    }
    // The longest text-form key id still stays far below AWS's 6144 limit.
    let long_id = "k".repeat(MAX_KEY_ID_LEN);
    let blob = encrypt_blob(&long_id, &bk, &material, &pt, &empty).unwrap();
    assert_eq!(blob.len(), 4096 + 130);
    assert!(blob.len() < 6144);
    // Context is authenticated, not stored.
    let small = encrypt_blob(KEY_ID, &bk, &material, b"", &empty).unwrap();
    assert_eq!(small.len(), 82);
}

#[test]
fn invalid_key_ids_are_rejected_on_encrypt() {
    let (material, bk) = setup();
    let too_long = "k".repeat(MAX_KEY_ID_LEN + 1);
    for bad in [
        "",
        "has space",
        "tab\t",
        "ünïcode",
        "nul\0",
        too_long.as_str(),
    ] {
        assert_eq!(
            encrypt_blob(bad, &bk, &material, b"x", &ctx(&[])),
            Err(CryptoError::InvalidKeyId),
            "{bad:?}"
        );
    }
}

#[test]
fn non_compact_uuid_forms_round_trip_verbatim() {
    // Uppercase or malformed UUID-like ids are stored as text, byte for byte.
    for id in [
        "1234ABCD-12AB-34CD-56EF-1234567890AB",
        "1234abcd12ab34cd56ef1234567890ab",
        "1234abcd-12ab-34cd-56ef-1234567890a",
        "mrk-1234ABCD12AB34CD56EF1234567890AB",
        "mrk-1234abcd12ab34cd56ef1234567890a",
        "mrk-",
    ] {
        round_trip(id, b"data", &ctx(&[]));
    }
}

#[test]
fn non_canonical_key_id_encoding_is_rejected() {
    let (material, bk) = setup();
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"x", &ctx(&[])).unwrap();
    // Rewrite the compact UUID (form byte 0x81 + 16 bytes) as 36 text bytes.
    let mut text_form = blob[..3].to_vec();
    text_form.push(36);
    text_form.extend_from_slice(KEY_ID.as_bytes());
    text_form.extend_from_slice(&blob[3 + 17..]);
    assert_eq!(parse_blob(&text_form), Err(CryptoError::InvalidCiphertext));
}

#[test]
fn compact_key_id_text_is_lowercase_canonical() {
    let (material, bk) = setup();
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"x", &ctx(&[])).unwrap();
    assert_eq!(&blob[..4], b"SR\x01\x81");
    assert_eq!(
        &blob[4..20],
        &[
            0x12, 0x34, 0xab, 0xcd, 0x12, 0xab, 0x34, 0xcd, 0x56, 0xef, 0x12, 0x34, 0x56, 0x78,
            0x90, 0xab
        ]
    );
    assert_eq!(&blob[20..52], &bk);
    assert_eq!(blob[52], 0x01, "algorithm");
    assert_eq!(blob[53], 0x00, "layer");
}

#[test]
fn context_too_large() {
    let (material, bk) = setup();
    let huge = ctx(&[("k", &"v".repeat(70_000))]);
    assert_eq!(
        encrypt_blob(KEY_ID, &bk, &material, b"x", &huge),
        Err(CryptoError::ContextTooLarge)
    );
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"x", &ctx(&[])).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(
        decrypt_blob(&parsed, &material, &huge),
        Err(CryptoError::ContextTooLarge)
    );
}

#[test]
fn aad_is_header_then_context() {
    // Cross-check the documented associated data with an independent AES-GCM
    // call: decrypt the payload by hand.
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let (material, bk) = setup();
    let c = ctx(&[("a", "b")]);
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"hello", &c).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    let mut aad = parsed.fixed_header().to_vec();
    assert_eq!(aad.len(), 66);
    aad.extend_from_slice(&encode_encryption_context(&c).unwrap());
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material.expose()).unwrap());
    let mut buf = parsed.payload().to_vec();
    let pt = key
        .open_in_place(
            Nonce::assume_unique_for_key(parsed.header().nonce),
            Aad::from(&aad[..]),
            &mut buf,
        )
        .unwrap();
    assert_eq!(pt, b"hello");
}

fn external_header(key_id: &str, iv_len: usize, md_len: usize) -> BlobHeader {
    BlobHeader {
        key_id: key_id.to_string(),
        backing_key_id: [7u8; 32],
        algorithm: Algorithm::SymmetricDefault,
        layer: Layer::External(ExternalLayer {
            iv: (0..iv_len).map(|i| i as u8).collect(),
            metadata: (0..md_len).map(|i| (100 + i) as u8).collect(),
            tag: [9u8; 16],
        }),
        nonce: [3u8; 12],
    }
}

#[test]
fn external_layer_encode_parse_round_trip() {
    for key_id in [KEY_ID, MRK_ID, "text-id"] {
        for iv_len in [12, 16] {
            for md_len in [0, 1, 20] {
                for ct_len in [16, 17, 4112, 65535] {
                    let header = external_header(key_id, iv_len, md_len);
                    let outer: Vec<u8> = (0..ct_len).map(|i| i as u8).collect();
                    let blob = encode_blob(&header, &outer).unwrap();
                    let parsed = parse_blob(&blob).unwrap();
                    assert_eq!(parsed.header(), &header);
                    assert_eq!(parsed.payload(), &outer[..]);
                    // Truncations and extensions are all caught by the parser.
                    if ct_len <= 17 {
                        for len in 0..blob.len() {
                            assert_eq!(
                                parse_blob(&blob[..len]),
                                Err(CryptoError::InvalidCiphertext)
                            );
                        }
                    }
                    let mut longer = blob.clone();
                    longer.push(0);
                    assert_eq!(parse_blob(&longer), Err(CryptoError::InvalidCiphertext));
                }
            }
        }
    }
}

#[test]
fn external_layer_field_limits() {
    for (iv_len, md_len) in [
        (0, 0),
        (11, 0),
        (13, 0),
        (15, 0),
        (17, 0),
        (12, 21),
        (16, 255),
    ] {
        let header = external_header(KEY_ID, iv_len, md_len);
        assert_eq!(
            encode_blob(&header, &[0u8; 32]),
            Err(CryptoError::InvalidExternalLayer),
            "iv {iv_len} md {md_len}"
        );
    }
    let header = external_header(KEY_ID, 12, 0);
    assert_eq!(
        encode_blob(&header, &[0u8; 15]),
        Err(CryptoError::InvalidExternalLayer)
    );
    assert_eq!(
        encode_blob(&header, &vec![0u8; 65536]),
        Err(CryptoError::InvalidExternalLayer)
    );
    // Hand-made blobs with out-of-range fields fail to parse.
    let good = encode_blob(&header, &[0u8; 16]).unwrap();
    let tail = 2 + 1 + 32 + 1 + 1 + 1 + 16 + 12; // offset of iv_len (compact id)
    let mut bad_iv = good.clone();
    bad_iv[tail] = 13;
    assert_eq!(parse_blob(&bad_iv), Err(CryptoError::InvalidCiphertext));
    let mut bad_md = good.clone();
    bad_md[tail + 1 + 12] = 21;
    assert_eq!(parse_blob(&bad_md), Err(CryptoError::InvalidCiphertext));
    let mut bad_len = good.clone();
    bad_len[tail + 1 + 12 + 1 + 1] = 15;
    assert_eq!(parse_blob(&bad_len), Err(CryptoError::InvalidCiphertext));
}

#[test]
fn external_layer_end_to_end_with_stand_in_proxy() {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let (material, bk) = setup();
    let key = PreparedKey::new(&material).unwrap();
    let c = ctx(&[("dept", "ops")]);
    let inner = seal_external_inner_with(&key, KEY_ID, &bk, b"top secret", &c).unwrap();
    assert_eq!(inner.inner_ciphertext().len(), 10 + 16);
    // A stand-in for the external proxy: AES-256-GCM under its own key.
    let proxy_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x55; 32]).unwrap());
    let iv = [0x11u8; 12];
    let mut outer = inner.inner_ciphertext().to_vec();
    let tag = proxy_key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(b"xks"),
            &mut outer,
        )
        .unwrap();
    let layer = ExternalLayer {
        iv: iv.to_vec(),
        metadata: b"meta".to_vec(),
        tag: tag.as_ref().try_into().unwrap(),
    };
    let blob = inner.into_blob(&layer, &outer).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(parsed.key_id(), KEY_ID);
    assert_eq!(parsed.layer(), &Layer::External(layer.clone()));
    // Single-layer decryption refuses it.
    assert_eq!(
        decrypt_blob_with(&key, &parsed, &c),
        Err(CryptoError::LayerMismatch)
    );
    // The proxy undoes its layer, then we open ours.
    let mut back = parsed.payload().to_vec();
    proxy_key
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(b"xks"),
            &layer.tag,
            &mut back,
        )
        .unwrap();
    let pt = open_external_inner_with(&key, &parsed, &back, &c).unwrap();
    assert_eq!(pt.as_slice(), b"top secret");
    assert_eq!(
        open_external_inner_with(&key, &parsed, &back, &ctx(&[])),
        Err(CryptoError::InvalidCiphertext)
    );
    assert_eq!(
        open_external_inner_with(&key, &parsed, &back[1..], &c),
        Err(CryptoError::InvalidCiphertext)
    );
    // A single-layer blob is refused by the external path.
    let single = encrypt_blob_with(&key, KEY_ID, &bk, b"x", &c).unwrap();
    let single = parse_blob(&single).unwrap();
    assert_eq!(
        open_external_inner_with(&key, &single, single.payload(), &c),
        Err(CryptoError::LayerMismatch)
    );
    // The layer kind is authenticated: relabelling the external blob's inner
    // layer as single fails.
    let mut relabelled = parsed.fixed_header().to_vec();
    let layer_pos = relabelled.len() - 13;
    relabelled[layer_pos] = 0;
    relabelled.extend_from_slice(&back);
    let p = parse_blob(&relabelled).unwrap();
    assert_eq!(
        decrypt_blob_with(&key, &p, &c),
        Err(CryptoError::InvalidCiphertext)
    );
}

#[test]
fn external_inner_rejects_mismatched_outer_length() {
    let (material, bk) = setup();
    let key = PreparedKey::new(&material).unwrap();
    let inner = seal_external_inner_with(&key, KEY_ID, &bk, b"abc", &ctx(&[])).unwrap();
    let layer = ExternalLayer {
        iv: vec![0; 16],
        metadata: vec![],
        tag: [0; 16],
    };
    assert_eq!(
        inner.clone().into_blob(&layer, &[0u8; 18]),
        Err(CryptoError::InvalidExternalLayer)
    );
    assert!(inner.into_blob(&layer, &[0u8; 19]).is_ok());
    assert_eq!(
        seal_external_inner_with(&key, KEY_ID, &bk, &vec![0u8; 65520], &ctx(&[])).err(),
        Some(CryptoError::PlaintextTooLarge)
    );
    assert!(seal_external_inner_with(&key, KEY_ID, &bk, &vec![0u8; 65519], &ctx(&[])).is_ok());
}

#[test]
fn single_layer_encode_blob_matches_encrypt() {
    let (material, bk) = setup();
    let blob = encrypt_blob(KEY_ID, &bk, &material, b"abc", &ctx(&[])).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    assert_eq!(
        encode_blob(parsed.header(), parsed.payload()).unwrap(),
        blob
    );
    assert_eq!(
        encode_blob(parsed.header(), &[0u8; 15]),
        Err(CryptoError::InvalidCiphertext)
    );
}
