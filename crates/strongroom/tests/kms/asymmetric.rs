//! Asymmetric keys end to end: CreateKey and DescribeKey for every RSA and ECC spec and usage,
//! GetPublicKey, Sign/Verify, RSA Encrypt/Decrypt/ReEncrypt and DeriveSharedSecret, with AWS's
//! refusals and messages. Every output is checked by OpenSSL (the command-line tool) or, where
//! its 3.0 falls short (Ed25519ph), by ed25519-dalek: signatures verify there, ciphertexts
//! OpenSSL makes with the public key alone decrypt here, public keys parse, ECDH agrees.

// CustomerMasterKeySpec is deprecated, yet AWS still returns it and clients still read it.
#![allow(deprecated)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    CustomerMasterKeySpec, EncryptionAlgorithmSpec as Enc, GrantOperation,
    KeyAgreementAlgorithmSpec, KeyMetadata, KeySpec, KeyState, KeyUsageType, MessageType,
    OriginType, SigningAlgorithmSpec as Sign,
};

use crate::common::{expect_code, Kms};
use crate::openssl::{describe_public, openssl, openssl_ok, Scratch};

const MESSAGE: &[u8] = b"Strongroom asymmetric check\n";

pub async fn create(kms: &Kms, spec: KeySpec, usage: KeyUsageType) -> KeyMetadata {
    kms.client
        .create_key()
        .key_spec(spec.clone())
        .key_usage(usage.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec} {usage}: {e:?}"))
        .key_metadata
        .expect("KeyMetadata")
}

pub async fn public_key(kms: &Kms, key: &str) -> Vec<u8> {
    kms.client
        .get_public_key()
        .key_id(key)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key()
        .expect("PublicKey")
        .as_ref()
        .to_vec()
}

pub async fn sign(kms: &Kms, key: &str, alg: Sign, kind: MessageType, message: &[u8]) -> Vec<u8> {
    let out = kms
        .client
        .sign()
        .key_id(key)
        .signing_algorithm(alg.clone())
        .message_type(kind.clone())
        .message(Blob::new(message))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Sign {alg} {kind}: {e:?}"));
    assert_eq!(out.signing_algorithm(), Some(&alg));
    assert!(
        out.key_id()
            .is_some_and(|id| id.starts_with("arn:aws:kms:") && id.contains(":key/")),
        "the key ARN: {out:?}"
    );
    out.signature().expect("Signature").as_ref().to_vec()
}

pub async fn verify(
    kms: &Kms,
    key: &str,
    alg: Sign,
    kind: MessageType,
    message: &[u8],
    signature: &[u8],
) {
    let out = kms
        .client
        .verify()
        .key_id(key)
        .signing_algorithm(alg.clone())
        .message_type(kind.clone())
        .message(Blob::new(message))
        .signature(Blob::new(signature))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Verify {alg} {kind}: {e:?}"));
    assert!(out.signature_valid());
    assert_eq!(out.signing_algorithm(), Some(&alg));
}

/// Checks DescribeKey's algorithm lists: exactly the one list of the key's usage.
fn assert_lists(m: &KeyMetadata, enc: &[Enc], sign: &[Sign], agree: &[KeyAgreementAlgorithmSpec]) {
    assert_eq!(m.encryption_algorithms(), enc, "{m:?}");
    assert_eq!(m.signing_algorithms(), sign, "{m:?}");
    assert_eq!(m.key_agreement_algorithms(), agree, "{m:?}");
    assert!(m.mac_algorithms().is_empty(), "{m:?}");
    assert!(m.encapsulation_algorithms().is_empty(), "{m:?}");
    // AWS shows a material id for symmetric encryption keys only.
    assert_eq!(m.current_key_material_id(), None, "{m:?}");
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert_eq!(m.origin(), Some(&OriginType::AwsKms));
    assert!(m.enabled());
}

/// The OpenSSL digest name and `-sigopt` options of a signing algorithm.
fn openssl_params(alg: &Sign) -> (&'static str, &'static [&'static str]) {
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
        other => panic!("not an OpenSSL dgst case: {other}"),
    }
}

/// Whether OpenSSL verifies `signature` of `message` under the DER public key in `public`.
fn openssl_verifies(
    dir: &Scratch,
    public: &str,
    alg: &Sign,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let (md, sigopts) = openssl_params(alg);
    let msg = dir.write("verify.msg", message);
    let sig = dir.write("verify.sig", signature);
    let md = format!("-{md}");
    let mut args = vec!["dgst", md.as_str()];
    for o in sigopts {
        args.extend(["-sigopt", o]);
    }
    args.extend([
        "-verify",
        public,
        "-keyform",
        "DER",
        "-signature",
        &sig,
        &msg,
    ]);
    openssl_ok(&args)
}

/// The digest OpenSSL computes of `message` for `alg`.
fn openssl_digest(dir: &Scratch, alg: &Sign, message: &[u8]) -> Vec<u8> {
    let (md, _) = openssl_params(alg);
    let msg = dir.write("digest.msg", message);
    openssl(&["dgst", &format!("-{md}"), "-binary", &msg])
}

/// Signs RAW and DIGEST messages with every algorithm of the key; OpenSSL and Verify accept
/// each signature and OpenSSL refuses it for another message.
async fn check_signatures(kms: &Kms, key: &str, algs: &[Sign]) {
    let dir = Scratch::new();
    let public = dir.write("public.der", &public_key(kms, key).await);
    for alg in algs {
        let raw = sign(kms, key, alg.clone(), MessageType::Raw, MESSAGE).await;
        assert!(
            openssl_verifies(&dir, &public, alg, MESSAGE, &raw),
            "{alg} RAW"
        );
        assert!(
            !openssl_verifies(&dir, &public, alg, b"another", &raw),
            "{alg}"
        );
        verify(kms, key, alg.clone(), MessageType::Raw, MESSAGE, &raw).await;

        // DIGEST: a signature of the digest is a signature of the message.
        let digest = openssl_digest(&dir, alg, MESSAGE);
        let of_digest = sign(kms, key, alg.clone(), MessageType::Digest, &digest).await;
        assert!(
            openssl_verifies(&dir, &public, alg, MESSAGE, &of_digest),
            "{alg} DIGEST"
        );
        verify(kms, key, alg.clone(), MessageType::Raw, MESSAGE, &of_digest).await;
        verify(kms, key, alg.clone(), MessageType::Digest, &digest, &raw).await;
    }
}

/// An RSA spec: CreateKey and DescribeKey with both usages, GetPublicKey, every signing
/// algorithm, and OAEP both ways at AWS's plaintext limits.
async fn check_rsa(spec: KeySpec, cmk: CustomerMasterKeySpec, bits: usize, limits: [usize; 2]) {
    let kms = Kms::start().await;
    let dir = Scratch::new();

    let enc = create(&kms, spec.clone(), KeyUsageType::EncryptDecrypt).await;
    assert_eq!(enc.key_spec(), Some(&spec));
    assert_eq!(enc.customer_master_key_spec(), Some(&cmk));
    assert_eq!(enc.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_lists(&enc, &[Enc::RsaesOaepSha1, Enc::RsaesOaepSha256], &[], &[]);
    let key = enc.key_id();
    let arn = enc.arn().expect("Arn");
    let out = kms
        .client
        .get_public_key()
        .key_id(key)
        .send()
        .await
        .expect("GetPublicKey");
    assert_eq!(out.key_id(), Some(arn));
    assert_eq!(out.key_spec(), Some(&spec));
    assert_eq!(out.customer_master_key_spec(), Some(&cmk));
    assert_eq!(out.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(
        out.encryption_algorithms(),
        [Enc::RsaesOaepSha1, Enc::RsaesOaepSha256]
    );
    assert!(out.signing_algorithms().is_empty());
    assert!(out.key_agreement_algorithms().is_empty());
    let spki = out.public_key().expect("PublicKey").as_ref().to_vec();
    assert!(
        describe_public(&dir, &spki).contains(&format!("Public-Key: ({bits} bit)")),
        "OpenSSL reads an RSA key of {bits} bits"
    );
    let public = dir.write("enc-public.der", &spki);

    for (alg, md, max) in [
        (Enc::RsaesOaepSha1, "sha1", limits[0]),
        (Enc::RsaesOaepSha256, "sha256", limits[1]),
    ] {
        // OpenSSL encrypts the largest plaintext with the public key alone; Decrypt opens it.
        let plaintext: Vec<u8> = (0..max).map(|i| (i * 7 + bits) as u8).collect();
        let pt = dir.write("oaep.pt", &plaintext);
        let ct = dir.path("oaep.ct");
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            &public,
            "-in",
            &pt,
            "-out",
            &ct,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{md}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{md}"),
        ]);
        let out = kms
            .client
            .decrypt()
            .key_id(key)
            .encryption_algorithm(alg.clone())
            .ciphertext_blob(Blob::new(dir.read("oaep.ct")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Decrypt {alg}: {e:?}"));
        assert_eq!(out.plaintext().expect("Plaintext").as_ref(), plaintext);
        assert_eq!(out.key_id(), Some(arn));
        assert_eq!(out.encryption_algorithm(), Some(&alg));
        assert_eq!(out.key_material_id(), None, "no material id for RSA");

        // Encrypt takes the largest plaintext and not one byte more.
        let out = kms
            .client
            .encrypt()
            .key_id(key)
            .encryption_algorithm(alg.clone())
            .plaintext(Blob::new(plaintext.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Encrypt {alg}: {e:?}"));
        assert_eq!(out.key_id(), Some(arn));
        assert_eq!(out.encryption_algorithm(), Some(&alg));
        let ct = out
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec();
        assert_eq!(
            ct.len(),
            bits / 8,
            "OAEP's ciphertext is the modulus' length"
        );
        let back = kms
            .client
            .decrypt()
            .key_id(arn)
            .encryption_algorithm(alg.clone())
            .ciphertext_blob(Blob::new(ct))
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(back.plaintext().expect("Plaintext").as_ref(), plaintext);
        let too_long = kms
            .client
            .encrypt()
            .key_id(key)
            .encryption_algorithm(alg.clone())
            .plaintext(Blob::new(vec![1u8; max + 1]))
            .send()
            .await;
        assert_eq!(
            expect_code(too_long, "ValidationException"),
            format!(
                "Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes."
            )
        );
    }

    let sig = create(&kms, spec.clone(), KeyUsageType::SignVerify).await;
    let algs = [
        Sign::RsassaPkcs1V15Sha256,
        Sign::RsassaPkcs1V15Sha384,
        Sign::RsassaPkcs1V15Sha512,
        Sign::RsassaPssSha256,
        Sign::RsassaPssSha384,
        Sign::RsassaPssSha512,
    ];
    assert_eq!(sig.key_usage(), Some(&KeyUsageType::SignVerify));
    assert_lists(&sig, &[], &algs, &[]);
    let out = kms
        .client
        .get_public_key()
        .key_id(sig.key_id())
        .send()
        .await
        .expect("GetPublicKey");
    assert_eq!(out.signing_algorithms(), algs, "AWS's order");
    assert!(out.encryption_algorithms().is_empty());
    check_signatures(&kms, sig.key_id(), &algs).await;
}

#[tokio::test]
async fn rsa_2048_keys_sign_encrypt_and_interoperate() {
    check_rsa(
        KeySpec::Rsa2048,
        CustomerMasterKeySpec::Rsa2048,
        2048,
        [214, 190],
    )
    .await;
}

#[tokio::test]
async fn rsa_3072_keys_sign_encrypt_and_interoperate() {
    check_rsa(
        KeySpec::Rsa3072,
        CustomerMasterKeySpec::Rsa3072,
        3072,
        [342, 318],
    )
    .await;
}

#[tokio::test]
async fn rsa_4096_keys_sign_encrypt_and_interoperate() {
    check_rsa(
        KeySpec::Rsa4096,
        CustomerMasterKeySpec::Rsa4096,
        4096,
        [470, 446],
    )
    .await;
}

#[tokio::test]
async fn ecc_signing_keys_interoperate() {
    let kms = Kms::start().await;
    let dir = Scratch::new();
    for (spec, cmk, alg, curve) in [
        (
            KeySpec::EccNistP256,
            CustomerMasterKeySpec::EccNistP256,
            Sign::EcdsaSha256,
            "prime256v1",
        ),
        (
            KeySpec::EccNistP384,
            CustomerMasterKeySpec::EccNistP384,
            Sign::EcdsaSha384,
            "secp384r1",
        ),
        (
            KeySpec::EccNistP521,
            CustomerMasterKeySpec::EccNistP521,
            Sign::EcdsaSha512,
            "secp521r1",
        ),
        (
            KeySpec::EccSecgP256K1,
            CustomerMasterKeySpec::EccSecgP256K1,
            Sign::EcdsaSha256,
            "secp256k1",
        ),
    ] {
        let m = create(&kms, spec.clone(), KeyUsageType::SignVerify).await;
        assert_eq!(m.key_spec(), Some(&spec));
        assert_eq!(m.customer_master_key_spec(), Some(&cmk));
        assert_lists(&m, &[], std::slice::from_ref(&alg), &[]);
        let out = kms
            .client
            .get_public_key()
            .key_id(m.key_id())
            .send()
            .await
            .expect("GetPublicKey");
        assert_eq!(out.signing_algorithms(), std::slice::from_ref(&alg));
        assert_eq!(out.key_usage(), Some(&KeyUsageType::SignVerify));
        let spki = out.public_key().expect("PublicKey").as_ref().to_vec();
        assert!(
            describe_public(&dir, &spki).contains(&format!("ASN1 OID: {curve}")),
            "{spec}: OpenSSL reads a key on {curve}"
        );
        check_signatures(&kms, m.key_id(), std::slice::from_ref(&alg)).await;
        // ECDSA signatures are DER ECDSA-Sig-Values.
        let s = sign(&kms, m.key_id(), alg.clone(), MessageType::Raw, MESSAGE).await;
        assert_eq!(s.first(), Some(&0x30), "{spec}");
    }
}

#[tokio::test]
async fn ed25519_signs_raw_messages_and_sha512_digests() {
    use ed25519_dalek::{Signature, VerifyingKey};
    use sha2::{Digest, Sha512};

    let kms = Kms::start().await;
    let dir = Scratch::new();
    let m = create(&kms, KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify).await;
    let algs = [Sign::Ed25519PhSha512, Sign::Ed25519Sha512];
    assert_lists(&m, &[], &algs, &[]);
    let key = m.key_id();
    let spki = public_key(&kms, key).await;
    // AWS's Ed25519 public key: the 12-byte SPKI prefix ("MCowBQYDK2VwAyEA") and 32 bytes.
    assert_eq!(spki.len(), 44);
    assert_eq!(
        spki[..12],
        [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    );
    let public = dir.write("ed.der", &spki);
    let msg = dir.write("ed.msg", MESSAGE);

    // ED25519_SHA_512 on the RAW message: OpenSSL verifies; Ed25519 is deterministic.
    let raw = sign(&kms, key, Sign::Ed25519Sha512, MessageType::Raw, MESSAGE).await;
    assert_eq!(
        raw,
        sign(&kms, key, Sign::Ed25519Sha512, MessageType::Raw, MESSAGE).await
    );
    let sig = dir.write("ed.sig", &raw);
    assert!(openssl_ok(&[
        "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", &public, "-rawin", "-in",
        &msg, "-sigfile", &sig,
    ]));
    let other = dir.write("ed.other", b"another");
    assert!(!openssl_ok(&[
        "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", &public, "-rawin", "-in",
        &other, "-sigfile", &sig,
    ]));
    verify(
        &kms,
        key,
        Sign::Ed25519Sha512,
        MessageType::Raw,
        MESSAGE,
        &raw,
    )
    .await;

    // ED25519_PH_SHA_512 on the SHA-512 digest: ed25519-dalek verifies it as Ed25519ph.
    let digest = Sha512::digest(MESSAGE);
    let ph = sign(
        &kms,
        key,
        Sign::Ed25519PhSha512,
        MessageType::Digest,
        &digest,
    )
    .await;
    let vk = VerifyingKey::from_bytes(spki[12..].try_into().expect("32 bytes")).expect("key");
    let signature = Signature::from_slice(&ph).expect("64 bytes");
    vk.verify_prehashed(Sha512::new_with_prefix(MESSAGE), None, &signature)
        .expect("ed25519-dalek verifies the Ed25519ph signature");
    assert!(
        vk.verify_strict(MESSAGE, &signature).is_err(),
        "not pure Ed25519"
    );
    verify(
        &kms,
        key,
        Sign::Ed25519PhSha512,
        MessageType::Digest,
        &digest,
        &ph,
    )
    .await;

    // Each algorithm takes one message type, and the digest is SHA-512's.
    let c = &kms.client;
    let attempt = |alg: Sign, kind: MessageType, message: Vec<u8>| {
        c.sign()
            .key_id(key)
            .signing_algorithm(alg)
            .message_type(kind)
            .message(Blob::new(message))
            .send()
    };
    assert_eq!(
        expect_code(
            attempt(Sign::Ed25519Sha512, MessageType::Digest, digest.to_vec()).await,
            "ValidationException"
        ),
        "Message type DIGEST is incompatible with algorithm ED25519_SHA_512."
    );
    assert_eq!(
        expect_code(
            attempt(Sign::Ed25519PhSha512, MessageType::Raw, MESSAGE.to_vec()).await,
            "ValidationException"
        ),
        "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."
    );
    assert_eq!(
        expect_code(
            attempt(Sign::Ed25519PhSha512, MessageType::Digest, vec![0u8; 32]).await,
            "ValidationException"
        ),
        "Digest is invalid length for algorithm ED25519_PH_SHA_512."
    );
    assert_eq!(
        expect_code(
            attempt(Sign::EcdsaSha256, MessageType::Raw, MESSAGE.to_vec()).await,
            "InvalidKeyUsageException"
        ),
        "Algorithm ECDSA_SHA_256 is incompatible with key spec ECC_NIST_EDWARDS25519."
    );
}

#[tokio::test]
async fn signing_refusals_have_aws_messages() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let ecc = create(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let key = ecc.key_id();
    let arn = ecc.arn().expect("Arn");
    let attempt = |key: &str, alg: Sign, kind: MessageType, message: Vec<u8>| {
        c.sign()
            .key_id(key)
            .signing_algorithm(alg)
            .message_type(kind)
            .message(Blob::new(message))
            .send()
    };
    let cases = [
        (
            Sign::RsassaPssSha256,
            MessageType::Raw,
            MESSAGE.to_vec(),
            "InvalidKeyUsageException",
            "Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec ECC_NIST_P256.",
        ),
        (
            Sign::EcdsaSha384,
            MessageType::Raw,
            MESSAGE.to_vec(),
            "InvalidKeyUsageException",
            "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.",
        ),
        (
            Sign::EcdsaSha256,
            MessageType::Digest,
            vec![0u8; 48],
            "ValidationException",
            "Digest is invalid length for algorithm ECDSA_SHA_256.",
        ),
        (
            Sign::EcdsaSha256,
            MessageType::ExternalMu,
            vec![0u8; 64],
            "ValidationException",
            "Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256.",
        ),
        (
            Sign::EcdsaSha256,
            MessageType::Raw,
            vec![0u8; 4097],
            "ValidationException",
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096",
        ),
        (
            Sign::EcdsaSha256,
            MessageType::Raw,
            Vec::new(),
            "ValidationException",
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
    ];
    for (alg, kind, message, code, want) in cases {
        let what = format!("{alg} {kind} {} bytes", message.len());
        assert_eq!(
            expect_code(attempt(key, alg, kind, message).await, code),
            want,
            "{what}"
        );
    }
    // The longest message signs.
    let long = vec![7u8; 4096];
    let s = sign(&kms, key, Sign::EcdsaSha256, MessageType::Raw, &long).await;
    verify(&kms, key, Sign::EcdsaSha256, MessageType::Raw, &long, &s).await;

    // A signature that does not verify is KMSInvalidSignatureException without a message, never
    // SignatureValid false: another message, garbage, a truncated signature.
    let good = sign(&kms, key, Sign::EcdsaSha256, MessageType::Raw, MESSAGE).await;
    for (message, signature) in [
        (b"another".to_vec(), good.clone()),
        (
            MESSAGE.to_vec(),
            vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
        ),
        (MESSAGE.to_vec(), good[..good.len() - 1].to_vec()),
    ] {
        let r = c
            .verify()
            .key_id(key)
            .signing_algorithm(Sign::EcdsaSha256)
            .message(Blob::new(message))
            .signature(Blob::new(signature))
            .send()
            .await;
        assert_eq!(expect_code(r, "KMSInvalidSignatureException"), "");
    }

    // Key usage comes before the algorithm: a symmetric key is refused for what it is.
    let symmetric = kms.key().await;
    let sym_arn = format!(
        "arn:aws:kms:{}:{}:key/{symmetric}",
        kms.exports.region,
        kms.account().await
    );
    assert_eq!(
        expect_code(
            attempt(
                &symmetric,
                Sign::EcdsaSha256,
                MessageType::Raw,
                MESSAGE.to_vec()
            )
            .await,
            "InvalidKeyUsageException"
        ),
        format!("{sym_arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign.")
    );
    let r = c
        .verify()
        .key_id(&symmetric)
        .signing_algorithm(Sign::EcdsaSha256)
        .message(Blob::new(MESSAGE))
        .signature(Blob::new(good.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{sym_arn} key usage is ENCRYPT_DECRYPT which is not valid for Verify.")
    );
    let r = c
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{arn} key usage is SIGN_VERIFY which is not valid for Encrypt.")
    );
    let r = c
        .generate_data_key()
        .key_id(key)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{arn} key usage is SIGN_VERIFY which is not valid for GenerateDataKey.")
    );
    // GetPublicKey of a symmetric key: UnsupportedOperationException without a message.
    let r = c.get_public_key().key_id(&symmetric).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");

    // An alias names the key too.
    c.create_alias()
        .alias_name("alias/signer")
        .target_key_id(key)
        .send()
        .await
        .expect("CreateAlias");
    let s = sign(
        &kms,
        "alias/signer",
        Sign::EcdsaSha256,
        MessageType::Raw,
        MESSAGE,
    )
    .await;
    verify(&kms, key, Sign::EcdsaSha256, MessageType::Raw, MESSAGE, &s).await;

    // States: a Disabled key does not sign but still hands out its public key; a key pending
    // deletion does neither.
    c.disable_key()
        .key_id(key)
        .send()
        .await
        .expect("DisableKey");
    assert_eq!(
        expect_code(
            attempt(
                key,
                Sign::RsassaPssSha256,
                MessageType::Raw,
                MESSAGE.to_vec()
            )
            .await,
            "DisabledException"
        ),
        format!("{arn} is disabled."),
        "the state comes before the algorithm"
    );
    let r = c
        .verify()
        .key_id(key)
        .signing_algorithm(Sign::EcdsaSha256)
        .message(Blob::new(MESSAGE))
        .signature(Blob::new(good.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "DisabledException"),
        format!("{arn} is disabled.")
    );
    assert_eq!(public_key(&kms, key).await, public_key(&kms, arn).await);
    c.schedule_key_deletion()
        .key_id(key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let r = c.get_public_key().key_id(key).send().await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending deletion.")
    );
}

#[tokio::test]
async fn rsa_encryption_refusals_and_reencrypt() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let rsa = create(&kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let key = rsa.key_id();
    let arn = rsa.arn().expect("Arn");
    let symmetric = kms.key().await;

    // No algorithm is SYMMETRIC_DEFAULT, which an RSA key does not take.
    let r = c
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."
    );
    // An RSA algorithm on a symmetric key, the other way round.
    let r = c
        .encrypt()
        .key_id(&symmetric)
        .encryption_algorithm(Enc::RsaesOaepSha256)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."
    );
    // An encryption context is refused; an empty one is fine.
    let r = c
        .encrypt()
        .key_id(key)
        .encryption_algorithm(Enc::RsaesOaepSha256)
        .encryption_context("purpose", "test")
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
    );
    let ct = c
        .encrypt()
        .key_id(key)
        .encryption_algorithm(Enc::RsaesOaepSha256)
        .set_encryption_context(Some(Default::default()))
        .plaintext(Blob::new("secret"))
        .send()
        .await
        .expect("Encrypt with an empty context")
        .ciphertext_blob()
        .expect("blob")
        .as_ref()
        .to_vec();

    // Decrypt needs the key and the algorithm.
    let r = c
        .decrypt()
        .encryption_algorithm(Enc::RsaesOaepSha256)
        .ciphertext_blob(Blob::new(ct.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "KeyId must not be null"
    );
    let r = c
        .decrypt()
        .key_id(key)
        .ciphertext_blob(Blob::new(ct.clone()))
        .send()
        .await;
    assert_eq!(expect_code(r, "InvalidCiphertextException"), "");
    let r = c
        .decrypt()
        .key_id(key)
        .encryption_algorithm(Enc::RsaesOaepSha1)
        .ciphertext_blob(Blob::new(ct.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidCiphertextException"),
        "",
        "the other hash"
    );
    let r = c
        .decrypt()
        .key_id(&symmetric)
        .encryption_algorithm(Enc::RsaesOaepSha256)
        .ciphertext_blob(Blob::new(ct.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."
    );
    // A symmetric ciphertext with the RSA key named is another key's.
    let sym_ct = kms.encrypt(&symmetric, b"blob").await;
    let r = c
        .decrypt()
        .key_id(key)
        .ciphertext_blob(Blob::new(sym_ct.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "IncorrectKeyException"),
        "The key ID in the request does not identify a CMK that can perform this operation."
    );
    // Data keys are made under symmetric keys only.
    let r = c
        .generate_data_key()
        .key_id(key)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        "You cannot generate a data key with an asymmetric CMK"
    );
    let r = c
        .generate_data_key_pair()
        .key_id(key)
        .key_pair_spec(aws_sdk_kms::types::DataKeyPairSpec::EccNistP256)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        "You cannot generate a data key pair with an asymmetric CMK"
    );

    // ReEncrypt from RSA to symmetric, symmetric to RSA, RSA to RSA; material ids only for the
    // symmetric side.
    let sym_material = c
        .describe_key()
        .key_id(&symmetric)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.current_key_material_id())
        .expect("CurrentKeyMaterialId")
        .to_string();
    let out = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .source_key_id(key)
        .source_encryption_algorithm(Enc::RsaesOaepSha256)
        .destination_key_id(&symmetric)
        .send()
        .await
        .expect("ReEncrypt RSA to symmetric");
    assert_eq!(out.source_key_id(), Some(arn));
    assert_eq!(
        out.source_encryption_algorithm(),
        Some(&Enc::RsaesOaepSha256)
    );
    assert_eq!(
        out.destination_encryption_algorithm(),
        Some(&Enc::SymmetricDefault)
    );
    assert_eq!(out.source_key_material_id(), None);
    assert_eq!(
        out.destination_key_material_id(),
        Some(sym_material.as_str())
    );
    let to_sym = out.ciphertext_blob().expect("blob").as_ref().to_vec();
    let back = c
        .decrypt()
        .ciphertext_blob(Blob::new(to_sym.clone()))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(back.plaintext().expect("Plaintext").as_ref(), b"secret");

    let out = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(to_sym))
        .destination_key_id(key)
        .destination_encryption_algorithm(Enc::RsaesOaepSha1)
        .send()
        .await
        .expect("ReEncrypt symmetric to RSA");
    assert_eq!(out.key_id(), Some(arn));
    assert_eq!(out.source_key_material_id(), Some(sym_material.as_str()));
    assert_eq!(out.destination_key_material_id(), None);
    assert_eq!(
        out.destination_encryption_algorithm(),
        Some(&Enc::RsaesOaepSha1)
    );
    let to_rsa = out.ciphertext_blob().expect("blob").as_ref().to_vec();

    let other = create(&kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let out = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(to_rsa))
        .source_key_id(arn)
        .source_encryption_algorithm(Enc::RsaesOaepSha1)
        .destination_key_id(other.key_id())
        .destination_encryption_algorithm(Enc::RsaesOaepSha256)
        .send()
        .await
        .expect("ReEncrypt RSA to RSA");
    let back = c
        .decrypt()
        .key_id(other.key_id())
        .encryption_algorithm(Enc::RsaesOaepSha256)
        .ciphertext_blob(Blob::new(out.ciphertext_blob().expect("blob").as_ref()))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(back.plaintext().expect("Plaintext").as_ref(), b"secret");
    // The RSA source must be named; an RSA destination takes no default algorithm.
    let r = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .source_encryption_algorithm(Enc::RsaesOaepSha256)
        .destination_key_id(&symmetric)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "KeyId must not be null"
    );
    let r = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(sym_ct))
        .destination_key_id(key)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."
    );

    // Grants: the operations of the key's type only, and no encryption context constraints.
    let grantee = format!("arn:aws:iam::{}:user/grantee", kms.account().await);
    let r = c
        .create_grant()
        .key_id(key)
        .grantee_principal(&grantee)
        .operations(GrantOperation::GenerateDataKey)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Grant operation GenerateDataKey is not valid for a RSA_2048 key."
    );
    let r = c
        .create_grant()
        .key_id(key)
        .grantee_principal(&grantee)
        .operations(GrantOperation::Decrypt)
        .constraints(
            aws_sdk_kms::types::GrantConstraints::builder()
                .encryption_context_subset("purpose", "test")
                .build(),
        )
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key."
    );
    c.create_grant()
        .key_id(key)
        .grantee_principal(&grantee)
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::GetPublicKey)
        .send()
        .await
        .expect("a grant for an RSA encryption key");
}

#[tokio::test]
async fn ecdh_shared_secrets_agree_with_openssl() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let dir = Scratch::new();
    for (spec, curve, len) in [
        (KeySpec::EccNistP256, "P-256", 32),
        (KeySpec::EccNistP384, "P-384", 48),
        (KeySpec::EccNistP521, "P-521", 66),
    ] {
        let m = create(&kms, spec.clone(), KeyUsageType::KeyAgreement).await;
        assert_eq!(m.key_usage(), Some(&KeyUsageType::KeyAgreement));
        assert_lists(&m, &[], &[], &[KeyAgreementAlgorithmSpec::Ecdh]);
        let key = m.key_id();
        let out = c
            .get_public_key()
            .key_id(key)
            .send()
            .await
            .expect("GetPublicKey");
        assert_eq!(
            out.key_agreement_algorithms(),
            [KeyAgreementAlgorithmSpec::Ecdh]
        );
        assert!(out.signing_algorithms().is_empty());
        let ours = dir.write("kms.der", out.public_key().expect("PublicKey").as_ref());

        // A peer key made by OpenSSL: both sides derive the same secret.
        let peer = dir.path("peer.pem");
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &peer,
        ]);
        let peer_public = openssl(&["pkey", "-in", &peer, "-pubout", "-outform", "DER"]);
        let derived = c
            .derive_shared_secret()
            .key_id(key)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(peer_public.clone()))
            .send()
            .await
            .expect("DeriveSharedSecret");
        assert_eq!(derived.key_id(), m.arn());
        assert_eq!(
            derived.key_agreement_algorithm(),
            Some(&KeyAgreementAlgorithmSpec::Ecdh)
        );
        assert_eq!(derived.key_origin(), Some(&OriginType::AwsKms));
        let secret = derived
            .shared_secret()
            .expect("SharedSecret")
            .as_ref()
            .to_vec();
        assert_eq!(secret.len(), len, "{spec}: the x-coordinate");
        let theirs = openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer,
            "-peerkey",
            &ours,
            "-peerform",
            "DER",
        ]);
        assert_eq!(secret, theirs, "{spec}: OpenSSL derives the same secret");

        // Its own public key is a peer too; DryRun runs the whole derivation first.
        let own = std::fs::read(&ours).expect("read");
        c.derive_shared_secret()
            .key_id(key)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(own))
            .send()
            .await
            .expect("with its own public key");
        for (public, code) in [
            (peer_public.clone(), "DryRunOperationException"),
            (b"not a key".to_vec(), "ValidationException"),
        ] {
            let r = c
                .derive_shared_secret()
                .key_id(key)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(public))
                .dry_run(true)
                .send()
                .await;
            expect_code(r, code);
        }
    }
    // A peer on another curve, garbage, and a key of the wrong usage.
    let p256 = create(&kms, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let p384_peer = dir.path("p384.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        &p384_peer,
    ]);
    let wrong_curve = openssl(&["pkey", "-in", &p384_peer, "-pubout", "-outform", "DER"]);
    for public in [wrong_curve.clone(), vec![0x30, 0x00]] {
        let r = c
            .derive_shared_secret()
            .key_id(p256.key_id())
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(public))
            .send()
            .await;
        assert_eq!(expect_code(r, "ValidationException"), "");
    }
    let signer = create(&kms, KeySpec::EccNistP384, KeyUsageType::SignVerify).await;
    let r = c
        .derive_shared_secret()
        .key_id(signer.key_id())
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(wrong_curve))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!(
            "{} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.",
            signer.arn().expect("Arn")
        )
    );
    // A key agreement key neither signs nor encrypts.
    let r = c
        .sign()
        .key_id(p256.key_id())
        .signing_algorithm(Sign::EcdsaSha256)
        .message(Blob::new(MESSAGE))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!(
            "{} key usage is KEY_AGREEMENT which is not valid for Sign.",
            p256.arn().expect("Arn")
        )
    );
}

#[tokio::test]
async fn create_key_refuses_what_aws_refuses() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let cases = [
        (
            KeySpec::Rsa2048,
            None,
            "ValidationException",
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        ),
        (
            KeySpec::Rsa2048,
            Some(KeyUsageType::KeyAgreement),
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048",
        ),
        (
            KeySpec::EccNistP256,
            Some(KeyUsageType::EncryptDecrypt),
            "ValidationException",
            "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256",
        ),
        (
            KeySpec::EccSecgP256K1,
            Some(KeyUsageType::KeyAgreement),
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1",
        ),
        (
            KeySpec::EccNistEdwards25519,
            Some(KeyUsageType::KeyAgreement),
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_NIST_EDWARDS25519",
        ),
        (
            KeySpec::Hmac256,
            Some(KeyUsageType::SignVerify),
            "ValidationException",
            "KeyUsage SIGN_VERIFY is not compatible with KeySpec HMAC_256",
        ),
        (
            KeySpec::MlDsa44,
            Some(KeyUsageType::EncryptDecrypt),
            "ValidationException",
            "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ML_DSA_44",
        ),
        (
            KeySpec::MlKem768,
            Some(KeyUsageType::KeyAgreement),
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ML_KEM_768",
        ),
        // SM2 exists only in China Regions.
        (
            KeySpec::Sm2,
            Some(KeyUsageType::SignVerify),
            "UnsupportedOperationException",
            "KeySpec SM2 is not supported in this Region",
        ),
    ];
    for (spec, usage, code, want) in cases {
        let r = c
            .create_key()
            .key_spec(spec.clone())
            .set_key_usage(usage.clone())
            .send()
            .await;
        assert_eq!(expect_code(r, code), want, "{spec} {usage:?}");
    }
    // Multi-Region asymmetric keys are allowed.
    let m = c
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .multi_region(true)
        .send()
        .await
        .expect("a multi-Region ECC key")
        .key_metadata
        .expect("KeyMetadata");
    assert!(m.key_id().starts_with("mrk-"));
    assert_eq!(m.multi_region(), Some(true));
}

#[tokio::test]
async fn asymmetric_keys_do_not_rotate() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let m = create(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let key = m.key_id();
    let r = c.enable_key_rotation().key_id(key).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");
    let r = c.rotate_key_on_demand().key_id(key).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");
    let status = c
        .get_key_rotation_status()
        .key_id(key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(!status.key_rotation_enabled());
    let listed = c
        .list_key_rotations()
        .key_id(key)
        .send()
        .await
        .expect("ListKeyRotations");
    assert!(listed.rotations().is_empty(), "{listed:?}");
    let r = c
        .list_key_rotations()
        .key_id(key)
        .include_key_material(aws_sdk_kms::types::IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Input parameter includeKeyMaterial can only be used with symmetric keys."
    );
}
