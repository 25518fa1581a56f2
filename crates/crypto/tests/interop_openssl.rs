//! Interoperability with OpenSSL (the `openssl` command-line tool), an
//! implementation independent of AWS-LC: our signatures verify there and
//! theirs here, ciphertexts made there with the public key alone decrypt
//! here, public keys and data key pairs parse and match there, ECDH and HMAC
//! agree, keys generated there import here, and key material wrapped there
//! the way AWS's import instructions say unwraps here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use common::{hex, openssl, openssl_ok, Scratch};
use crypto::asymmetric::{
    generate_data_key_pair, import_material, Material, MaterialKind, WrappingKey,
};
use kms_api::wire::{
    AlgorithmSpec, DataKeyPairSpec, EncryptionAlgorithmSpec as Enc, KeyAgreementAlgorithmSpec,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec as Sign, WrappingKeySpec,
};

const MESSAGE: &[u8] = b"Strongroom interoperability check\n";

/// The OpenSSL digest name and padding options of an algorithm.
fn openssl_params(alg: Sign) -> (&'static str, &'static [&'static str]) {
    const PSS: &[&str] = &["rsa_padding_mode:pss", "rsa_pss_saltlen:digest"];
    const PKCS1: &[&str] = &["rsa_padding_mode:pkcs1"];
    match alg {
        Sign::RsassaPssSha256 => ("sha256", PSS),
        Sign::RsassaPssSha384 => ("sha384", PSS),
        Sign::RsassaPssSha512 => ("sha512", PSS),
        Sign::RsassaPkcs1V15Sha256 => ("sha256", PKCS1),
        Sign::RsassaPkcs1V15Sha384 => ("sha384", PKCS1),
        Sign::RsassaPkcs1V15Sha512 => ("sha512", PKCS1),
        Sign::EcdsaSha256 => ("sha256", &[]),
        Sign::EcdsaSha384 => ("sha384", &[]),
        Sign::EcdsaSha512 => ("sha512", &[]),
        other => panic!("not an OpenSSL case: {other}"),
    }
}

/// `base` (a subcommand and its arguments) with `flag opt` pairs inserted
/// right after the subcommand: `dgst` reads options only before its file.
fn with_opts<'a>(base: &[&'a str], flag: &'a str, opts: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    for o in opts.iter().rev() {
        v.insert(1, o);
        v.insert(1, flag);
    }
    v
}

fn digest_of(md: &str, message: &[u8], dir: &Scratch) -> Vec<u8> {
    let msg = dir.write("to-digest", message);
    openssl(&["dgst", &format!("-{md}"), "-binary", &msg])
}

/// Signs here and verifies in OpenSSL, then the other way round, for RAW
/// and DIGEST messages.
fn check_signing(m: &Material, alg: Sign) {
    let dir = Scratch::new();
    let private = dir.write("private.der", m.expose_storage());
    let public = dir.write("public.der", m.public_key_der().unwrap());
    let msg = dir.write("msg", MESSAGE);
    let other = dir.write("other", b"another message");
    let (md, opts) = openssl_params(alg);
    let case = format!("{:?} {alg}", m.kind());

    // RAW: OpenSSL hashes the message itself.
    let ours = dir.write("ours.sig", &m.sign(alg, MessageType::Raw, MESSAGE).unwrap());
    let verify = |file: &str, sig: &str| {
        openssl_ok(&with_opts(
            &[
                "dgst",
                &format!("-{md}"),
                "-verify",
                &public,
                "-keyform",
                "DER",
                "-signature",
                sig,
                file,
            ],
            "-sigopt",
            opts,
        ))
    };
    assert!(
        verify(&msg, &ours),
        "{case}: OpenSSL rejects our RAW signature"
    );
    assert!(
        !verify(&other, &ours),
        "{case}: OpenSSL accepts it for another message"
    );
    let theirs = dir.path("theirs.sig");
    openssl(&with_opts(
        &[
            "dgst",
            &format!("-{md}"),
            "-sign",
            &private,
            "-keyform",
            "DER",
            "-out",
            &theirs,
            &msg,
        ],
        "-sigopt",
        opts,
    ));
    let theirs = dir.read("theirs.sig");
    assert_eq!(
        m.verify(alg, MessageType::Raw, MESSAGE, &theirs),
        Ok(true),
        "{case}"
    );
    assert_eq!(
        m.verify(alg, MessageType::Raw, b"another message", &theirs),
        Ok(false)
    );

    // DIGEST: both sides sign the digest as given.
    let digest = digest_of(md, MESSAGE, &dir);
    let dig = dir.write("digest", &digest);
    let ours = dir.write(
        "ours-d.sig",
        &m.sign(alg, MessageType::Digest, &digest).unwrap(),
    );
    assert!(
        openssl_ok(&with_opts(
            &[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                &public,
                "-keyform",
                "DER",
                "-in",
                &dig,
                "-sigfile",
                &ours,
                "-pkeyopt",
                &format!("digest:{md}")
            ],
            "-pkeyopt",
            opts,
        )),
        "{case}: OpenSSL rejects our DIGEST signature"
    );
    // A DIGEST signature is a signature of the message.
    assert!(verify(&msg, &ours), "{case}");
    let theirs = dir.path("theirs-d.sig");
    openssl(&with_opts(
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            &private,
            "-keyform",
            "DER",
            "-in",
            &dig,
            "-out",
            &theirs,
            "-pkeyopt",
            &format!("digest:{md}"),
        ],
        "-pkeyopt",
        opts,
    ));
    let theirs = dir.read("theirs-d.sig");
    assert_eq!(
        m.verify(alg, MessageType::Digest, &digest, &theirs),
        Ok(true),
        "{case}"
    );
    assert_eq!(
        m.verify(alg, MessageType::Raw, MESSAGE, &theirs),
        Ok(true),
        "{case}"
    );
}

#[test]
fn rsa_signatures_interoperate() {
    let m = Material::generate(MaterialKind::Rsa(2048)).unwrap();
    for alg in [
        Sign::RsassaPssSha256,
        Sign::RsassaPssSha384,
        Sign::RsassaPssSha512,
        Sign::RsassaPkcs1V15Sha256,
        Sign::RsassaPkcs1V15Sha384,
        Sign::RsassaPkcs1V15Sha512,
    ] {
        check_signing(&m, alg);
    }
    let m = Material::generate(MaterialKind::Rsa(3072)).unwrap();
    check_signing(&m, Sign::RsassaPssSha384);
    check_signing(&m, Sign::RsassaPkcs1V15Sha256);
    let m = Material::generate(MaterialKind::Rsa(4096)).unwrap();
    check_signing(&m, Sign::RsassaPssSha512);
    check_signing(&m, Sign::RsassaPkcs1V15Sha384);
}

#[test]
fn ecdsa_signatures_interoperate() {
    for (kind, alg) in [
        (MaterialKind::EccNist(256), Sign::EcdsaSha256),
        (MaterialKind::EccNist(384), Sign::EcdsaSha384),
        (MaterialKind::EccNist(521), Sign::EcdsaSha512),
        (MaterialKind::Secp256k1, Sign::EcdsaSha256),
    ] {
        check_signing(&Material::generate(kind).unwrap(), alg);
    }
}

#[test]
fn ed25519_signatures_interoperate() {
    let m = Material::generate(MaterialKind::Ed25519).unwrap();
    let dir = Scratch::new();
    let private = dir.write("private.der", m.expose_storage());
    let public = dir.write("public.der", m.public_key_der().unwrap());
    let msg = dir.write("msg", MESSAGE);
    let other = dir.write("other", b"x");
    let ours = dir.write(
        "ours.sig",
        &m.sign(Sign::Ed25519Sha512, MessageType::Raw, MESSAGE)
            .unwrap(),
    );
    let verify = |file: &str| {
        openssl_ok(&[
            "pkeyutl", "-verify", "-pubin", "-inkey", &public, "-keyform", "DER", "-rawin", "-in",
            file, "-sigfile", &ours,
        ])
    };
    assert!(verify(&msg));
    assert!(!verify(&other));
    let theirs = dir.path("theirs.sig");
    openssl(&[
        "pkeyutl", "-sign", "-inkey", &private, "-keyform", "DER", "-rawin", "-in", &msg, "-out",
        &theirs,
    ]);
    let theirs = dir.read("theirs.sig");
    // Ed25519 is deterministic: OpenSSL's signature is ours, byte for byte.
    assert_eq!(theirs, std::fs::read(dir.path("ours.sig")).unwrap());
    assert_eq!(
        m.verify(Sign::Ed25519Sha512, MessageType::Raw, MESSAGE, &theirs),
        Ok(true)
    );
}

#[test]
fn public_keys_and_data_key_pairs_parse_and_match_in_openssl() {
    let cases = [
        (DataKeyPairSpec::Rsa2048, "Public-Key: (2048 bit)"),
        (DataKeyPairSpec::Rsa3072, "Public-Key: (3072 bit)"),
        (DataKeyPairSpec::Rsa4096, "Public-Key: (4096 bit)"),
        (DataKeyPairSpec::EccNistP256, "ASN1 OID: prime256v1"),
        (DataKeyPairSpec::EccNistP384, "ASN1 OID: secp384r1"),
        (DataKeyPairSpec::EccNistP521, "ASN1 OID: secp521r1"),
        (DataKeyPairSpec::EccSecgP256k1, "ASN1 OID: secp256k1"),
        (DataKeyPairSpec::EccNistEdwards25519, "ED25519 Public-Key"),
    ];
    for (spec, text) in cases {
        let pair = generate_data_key_pair(spec).unwrap();
        let dir = Scratch::new();
        let private = dir.write("private.der", &pair.private_key);
        let public = dir.write("public.der", &pair.public_key);
        // OpenSSL derives the same public key from our PKCS#8 private key.
        let derived = openssl(&[
            "pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER",
        ]);
        assert_eq!(derived, pair.public_key, "{spec}");
        // And reads the SPKI as a key of the spec.
        let shown = String::from_utf8(openssl(&[
            "pkey", "-pubin", "-inform", "DER", "-in", &public, "-noout", "-text",
        ]))
        .unwrap();
        assert!(shown.contains(text), "{spec}: {shown}");
        // OpenSSL's own PKCS#8 re-encoding of the private key still loads here.
        let reencoded = openssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", &private, "-outform", "DER",
        ]);
        let kind = crypto::asymmetric::data_key_pair_kind(spec);
        let again = import_material(kind, &reencoded).unwrap();
        assert_eq!(again.public_key_der(), Some(&pair.public_key[..]));
    }
}

#[test]
fn keys_generated_by_openssl_import_and_work_here() {
    let cases: &[(&[&str], MaterialKind, Sign)] = &[
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            MaterialKind::Rsa(2048),
            Sign::RsassaPssSha256,
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            MaterialKind::Rsa(3072),
            Sign::RsassaPkcs1V15Sha512,
        ),
        (
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-pkeyopt",
                "ec_param_enc:named_curve",
            ],
            MaterialKind::EccNist(256),
            Sign::EcdsaSha256,
        ),
        (
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-pkeyopt",
                "ec_param_enc:named_curve",
            ],
            MaterialKind::EccNist(384),
            Sign::EcdsaSha384,
        ),
        (
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-521",
                "-pkeyopt",
                "ec_param_enc:named_curve",
            ],
            MaterialKind::EccNist(521),
            Sign::EcdsaSha512,
        ),
        (
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
                "-pkeyopt",
                "ec_param_enc:named_curve",
            ],
            MaterialKind::Secp256k1,
            Sign::EcdsaSha256,
        ),
        (
            &["-algorithm", "ED25519"],
            MaterialKind::Ed25519,
            Sign::Ed25519Sha512,
        ),
    ];
    for (args, kind, alg) in cases {
        let dir = Scratch::new();
        let der = openssl_genpkey(&dir, "private.der", args);
        let private = dir.path("private.der");
        let m = import_material(*kind, &der).unwrap();
        let their_public = openssl(&[
            "pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER",
        ]);
        assert_eq!(m.public_key_der(), Some(&their_public[..]), "{kind:?}");
        if *alg == Sign::Ed25519Sha512 {
            assert!(m
                .verify(
                    *alg,
                    MessageType::Raw,
                    MESSAGE,
                    &m.sign(*alg, MessageType::Raw, MESSAGE).unwrap()
                )
                .unwrap());
        } else {
            check_signing(&m, *alg);
        }
        // The same key re-imported in another encoding is the same key.
        if matches!(kind, MaterialKind::EccNist(_) | MaterialKind::Secp256k1) {
            // An ECPrivateKey without its public key, wrapped in PKCS#8.
            let sec1 = dir.path("sec1.der");
            openssl(&[
                "ec",
                "-inform",
                "DER",
                "-in",
                &private,
                "-no_public",
                "-outform",
                "DER",
                "-out",
                &sec1,
            ]);
            let p8 = openssl(&[
                "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", &sec1, "-outform", "DER",
            ]);
            let again = import_material(*kind, &p8).unwrap();
            assert!(again.same_key_as(&m), "{kind:?}");
        }
    }
    // An RSA key of another size is not RSA_2048 material.
    let dir = Scratch::new();
    let private = dir.path("p.der");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:3072",
        "-outform",
        "DER",
        "-out",
        &private,
    ]);
    assert!(import_material(MaterialKind::Rsa(2048), &dir.read("p.der")).is_err());
    // A P-256 key in the traditional (SEC1) form is not PKCS#8.
    let sec1 = dir.path("sec1.der");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-outform",
        "DER",
        "-out",
        &sec1,
    ]);
    assert!(import_material(MaterialKind::EccNist(256), &dir.read("sec1.der")).is_err());
}

#[test]
fn rsa_oaep_interoperates_both_ways() {
    for bits in [2048u16, 4096] {
        let m = Material::generate(MaterialKind::Rsa(bits)).unwrap();
        let dir = Scratch::new();
        let private = dir.write("private.der", m.expose_storage());
        let public = dir.write("public.der", m.public_key_der().unwrap());
        for (alg, md) in [
            (Enc::RsaesOaepSha1, "sha1"),
            (Enc::RsaesOaepSha256, "sha256"),
        ] {
            let max = m.max_plaintext_len(alg).unwrap();
            for len in [1usize, 32, max] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let pt = dir.write("pt", &plaintext);
                let oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt"];
                let md_opt = format!("rsa_oaep_md:{md}");
                let mgf_opt = format!("rsa_mgf1_md:{md}");
                // Made by OpenSSL with the public key alone, opened here.
                let ct = dir.path("ct");
                openssl(&[
                    "pkeyutl", "-encrypt", "-pubin", "-inkey", &public, "-keyform", "DER", "-in",
                    &pt, "-out", &ct, oaep[0], oaep[1], oaep[2], &md_opt, "-pkeyopt", &mgf_opt,
                ]);
                let ct = dir.read("ct");
                assert_eq!(ct.len(), usize::from(bits) / 8);
                assert_eq!(
                    m.decrypt(alg, &ct).unwrap().as_slice(),
                    &plaintext[..],
                    "{bits} {alg} {len}"
                );
                // Made here, opened by OpenSSL.
                let ours = dir.write("ours", &m.encrypt(alg, &plaintext).unwrap());
                let back = openssl(&[
                    "pkeyutl", "-decrypt", "-inkey", &private, "-keyform", "DER", "-in", &ours,
                    oaep[0], oaep[1], oaep[2], &md_opt, "-pkeyopt", &mgf_opt,
                ]);
                assert_eq!(back, plaintext, "{bits} {alg} {len}");
            }
        }
    }
}

#[test]
fn ecdh_matches_openssl_derive() {
    for (bits, curve) in [(256u16, "P-256"), (384, "P-384"), (521, "P-521")] {
        let m = Material::generate(MaterialKind::EccNist(bits)).unwrap();
        let dir = Scratch::new();
        let peer = dir.path("peer.der");
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-pkeyopt",
            "ec_param_enc:named_curve",
            "-outform",
            "DER",
            "-out",
            &peer,
        ]);
        let peer_public = openssl(&[
            "pkey", "-inform", "DER", "-in", &peer, "-pubout", "-outform", "DER",
        ]);
        let ours_public = dir.write("ours.der", m.public_key_der().unwrap());
        let theirs = openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer,
            "-keyform",
            "DER",
            "-peerkey",
            &ours_public,
            "-peerform",
            "DER",
        ]);
        let ours = m
            .derive_shared_secret(KeyAgreementAlgorithmSpec::Ecdh, &peer_public)
            .unwrap();
        assert_eq!(ours.as_slice(), &theirs[..], "P-{bits}");
        assert_eq!(theirs.len(), usize::from(bits).div_ceil(8));
    }
}

#[test]
fn hmac_matches_openssl() {
    let dir = Scratch::new();
    let msg = dir.write("msg", MESSAGE);
    for (bits, alg, md) in [
        (224u16, MacAlgorithmSpec::HmacSha224, "SHA224"),
        (256, MacAlgorithmSpec::HmacSha256, "SHA256"),
        (384, MacAlgorithmSpec::HmacSha384, "SHA384"),
        (512, MacAlgorithmSpec::HmacSha512, "SHA512"),
    ] {
        let generated = Material::generate(MaterialKind::Hmac(bits)).unwrap();
        // Imported keys may be longer than the digest: up to 64 or 128 bytes.
        let long_key: Vec<u8> = (0..crypto::asymmetric::hmac_key_lengths(alg).end().to_owned())
            .map(|i| i as u8)
            .collect();
        let imported = import_material(MaterialKind::Hmac(bits), &long_key).unwrap();
        for m in [&generated, &imported] {
            let key_hex = format!("hexkey:{}", hex(m.expose_storage()));
            let out = String::from_utf8(openssl(&[
                "mac", "-digest", md, "-macopt", &key_hex, "-in", &msg, "HMAC",
            ]))
            .unwrap();
            let ours = m.generate_mac(alg, MESSAGE).unwrap();
            assert_eq!(out.trim().to_lowercase(), hex(&ours), "HMAC_{bits}");
        }
    }
}

/// Generates a key with `openssl genpkey` and returns it as PKCS#8 DER (the
/// form AWS asks for; `genpkey -outform DER` writes the traditional form
/// for some key types).
fn openssl_genpkey(dir: &Scratch, name: &str, args: &[&str]) -> Vec<u8> {
    let traditional = dir.path(&format!("{name}.trad"));
    let mut gen = vec!["genpkey"];
    gen.extend_from_slice(args);
    gen.extend_from_slice(&["-outform", "DER", "-out", &traditional]);
    openssl(&gen);
    let p8 = dir.path(name);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-inform",
        "DER",
        "-in",
        &traditional,
        "-outform",
        "DER",
        "-out",
        &p8,
    ]);
    dir.read(name)
}

/// Wraps `material` for import as AWS's instructions do with OpenSSL.
fn wrap_with_openssl(public_der: &[u8], alg: AlgorithmSpec, material: &[u8]) -> Vec<u8> {
    let dir = Scratch::new();
    let public = dir.write("wrapping.der", public_der);
    let md = match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    };
    let oaep = |input: &str, output: &str| {
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &public,
            "-keyform",
            "DER",
            "-in",
            input,
            "-out",
            output,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{md}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{md}"),
        ]);
    };
    let mat = dir.write("material", material);
    match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256 => {
            oaep(&mat, &dir.path("out"));
            dir.read("out")
        }
        _ => {
            let aes = dir.path("aes.key");
            openssl(&["rand", "-out", &aes, "32"]);
            let aes_key = dir.read("aes.key");
            oaep(&aes, &dir.path("wrapped-key"));
            let wrapped_material = dir.path("wrapped-material");
            openssl(&[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &hex(&aes_key),
                "-iv",
                "A65959A6",
                "-in",
                &mat,
                "-out",
                &wrapped_material,
            ]);
            let mut out = dir.read("wrapped-key");
            out.extend(dir.read("wrapped-material"));
            out
        }
    }
}

#[test]
fn material_wrapped_by_openssl_unwraps_and_imports() {
    let symmetric = [0x42u8; 32];
    let dir = Scratch::new();
    let rsa_key = openssl_genpkey(
        &dir,
        "rsa.der",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let p521_key = openssl_genpkey(
        &dir,
        "p521.der",
        &[
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-pkeyopt",
            "ec_param_enc:named_curve",
        ],
    );

    for spec in [
        WrappingKeySpec::Rsa2048,
        WrappingKeySpec::Rsa3072,
        WrappingKeySpec::Rsa4096,
    ] {
        let w = WrappingKey::generate(spec).unwrap();
        for alg in [
            AlgorithmSpec::RsaesOaepSha1,
            AlgorithmSpec::RsaesOaepSha256,
            AlgorithmSpec::RsaAesKeyWrapSha1,
            AlgorithmSpec::RsaAesKeyWrapSha256,
        ] {
            let wrapped = wrap_with_openssl(w.public_key_der(), alg, &symmetric);
            let unwrapped = w.unwrap(alg, &wrapped).unwrap();
            assert_eq!(unwrapped.as_slice(), &symmetric, "{spec} {alg}");
            let m = import_material(MaterialKind::Aes256Gcm, &unwrapped).unwrap();
            assert_eq!(m.as_aes().unwrap().expose(), &symmetric);
            // The hash is part of the scheme: the other one does not unwrap it.
            let other = match alg {
                AlgorithmSpec::RsaesOaepSha1 => AlgorithmSpec::RsaesOaepSha256,
                AlgorithmSpec::RsaesOaepSha256 => AlgorithmSpec::RsaesOaepSha1,
                AlgorithmSpec::RsaAesKeyWrapSha1 => AlgorithmSpec::RsaAesKeyWrapSha256,
                _ => AlgorithmSpec::RsaAesKeyWrapSha1,
            };
            assert!(
                w.unwrap(other, &wrapped).is_err(),
                "{spec} {alg} as {other}"
            );
            let mut tampered = wrapped.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert!(w.unwrap(alg, &tampered).is_err(), "{spec} {alg} tampered");
        }
        // An RSA private key only fits RSA_AES_KEY_WRAP.
        for alg in [
            AlgorithmSpec::RsaAesKeyWrapSha1,
            AlgorithmSpec::RsaAesKeyWrapSha256,
        ] {
            let unwrapped = w
                .unwrap(alg, &wrap_with_openssl(w.public_key_der(), alg, &rsa_key))
                .unwrap();
            let m = import_material(MaterialKind::Rsa(2048), &unwrapped).unwrap();
            assert_eq!(m.expose_storage(), &rsa_key[..]);
            let unwrapped = w
                .unwrap(alg, &wrap_with_openssl(w.public_key_der(), alg, &p521_key))
                .unwrap();
            assert!(import_material(MaterialKind::EccNist(521), &unwrapped).is_ok());
        }
    }
}
