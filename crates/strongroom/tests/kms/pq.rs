//! Post-quantum keys end to end: ML-DSA (ML_DSA_SHAKE_256, RAW and EXTERNAL_MU) and ML-KEM
//! (Encapsulate / Decapsulate), checked by the RustCrypto implementations (ml-dsa, ml-kem):
//! signatures verify there, μ computed there signs here, secrets encapsulated there with the
//! public key alone decapsulate here.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    EncapsulationAlgorithmSpec, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec as Sign,
};
use ml_dsa::signature::Verifier;
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams};

use crate::asymmetric::{create, sign, verify};
use crate::common::{expect_code, Kms};

const MESSAGE: &[u8] = b"Strongroom post-quantum check";

/// μ of `message` under `vk` as FIPS 204 defines it (pure ML-DSA, empty context), computed by
/// the RustCrypto implementation.
fn mu_of<P: MlDsaParams>(vk: &ml_dsa::VerifyingKey<P>, message: &[u8]) -> Vec<u8> {
    vk.compute_mu(
        |h| {
            use ml_dsa::signature::digest::Update;
            h.update(message);
            Ok(())
        },
        b"",
    )
    .expect("mu")
    .to_vec()
}

async fn check_ml_dsa<P: MlDsaParams>(kms: &Kms, spec: KeySpec)
where
    ml_dsa::VerifyingKey<P>: ml_dsa::pkcs8::DecodePublicKey,
{
    use ml_dsa::pkcs8::DecodePublicKey;

    let m = create(kms, spec.clone(), KeyUsageType::SignVerify).await;
    assert_eq!(m.key_spec(), Some(&spec));
    assert_eq!(m.signing_algorithms(), [Sign::MlDsaShake256]);
    assert!(m.encryption_algorithms().is_empty());
    let key = m.key_id();
    let out = kms
        .client
        .get_public_key()
        .key_id(key)
        .send()
        .await
        .expect("GetPublicKey");
    assert_eq!(out.signing_algorithms(), [Sign::MlDsaShake256]);
    assert_eq!(out.key_usage(), Some(&KeyUsageType::SignVerify));
    let vk = ml_dsa::VerifyingKey::<P>::from_public_key_der(
        out.public_key().expect("PublicKey").as_ref(),
    )
    .expect("ml-dsa parses the SPKI");

    // RAW: pure ML-DSA of the message.
    let raw = sign(kms, key, Sign::MlDsaShake256, MessageType::Raw, MESSAGE).await;
    let sig = ml_dsa::Signature::<P>::try_from(&raw[..]).expect("a signature of the set");
    vk.verify(MESSAGE, &sig)
        .expect("ml-dsa verifies the RAW signature");
    assert!(vk.verify(b"another", &sig).is_err());
    verify(
        kms,
        key,
        Sign::MlDsaShake256,
        MessageType::Raw,
        MESSAGE,
        &raw,
    )
    .await;

    // EXTERNAL_MU: μ computed outside signs as the message itself.
    let mu = mu_of(&vk, MESSAGE);
    let of_mu = sign(kms, key, Sign::MlDsaShake256, MessageType::ExternalMu, &mu).await;
    let sig = ml_dsa::Signature::<P>::try_from(&of_mu[..]).expect("a signature of the set");
    vk.verify(MESSAGE, &sig)
        .expect("an EXTERNAL_MU signature is a signature of the message");
    verify(
        kms,
        key,
        Sign::MlDsaShake256,
        MessageType::Raw,
        MESSAGE,
        &of_mu,
    )
    .await;
    verify(
        kms,
        key,
        Sign::MlDsaShake256,
        MessageType::ExternalMu,
        &mu,
        &raw,
    )
    .await;

    // The longest RAW message signs.
    let long = vec![3u8; 4096];
    let s = sign(kms, key, Sign::MlDsaShake256, MessageType::Raw, &long).await;
    vk.verify(
        &long,
        &ml_dsa::Signature::<P>::try_from(&s[..]).expect("signature"),
    )
    .expect("4096-byte message");

    // μ is 64 bytes; DIGEST is not an ML-DSA message type; only ML_DSA_SHAKE_256.
    let c = &kms.client;
    let attempt = |alg: Sign, kind: MessageType, message: Vec<u8>| {
        c.sign()
            .key_id(key)
            .signing_algorithm(alg)
            .message_type(kind)
            .message(Blob::new(message))
            .send()
    };
    for len in [1, 63, 65] {
        assert_eq!(
            expect_code(
                attempt(Sign::MlDsaShake256, MessageType::ExternalMu, vec![0; len]).await,
                "ValidationException"
            ),
            "External Mu is invalid length for algorithm ML_DSA_SHAKE_256.",
            "{len}"
        );
    }
    assert_eq!(
        expect_code(
            attempt(Sign::MlDsaShake256, MessageType::Digest, vec![0; 64]).await,
            "ValidationException"
        ),
        format!("Message type DIGEST is incompatible with key spec {spec}.")
    );
    assert_eq!(
        expect_code(
            attempt(Sign::EcdsaSha256, MessageType::Raw, MESSAGE.to_vec()).await,
            "InvalidKeyUsageException"
        ),
        format!("Algorithm ECDSA_SHA_256 is incompatible with key spec {spec}.")
    );
    // A bad signature, with DryRun too: KMSInvalidSignatureException.
    let mut bad = raw.clone();
    bad[10] ^= 1;
    for dry in [None, Some(true)] {
        let r = c
            .verify()
            .key_id(key)
            .signing_algorithm(Sign::MlDsaShake256)
            .message(Blob::new(MESSAGE))
            .signature(Blob::new(bad.clone()))
            .set_dry_run(dry)
            .send()
            .await;
        assert_eq!(expect_code(r, "KMSInvalidSignatureException"), "");
    }
}

#[tokio::test]
async fn ml_dsa_keys_sign_raw_and_external_mu() {
    let kms = Kms::start().await;
    check_ml_dsa::<MlDsa44>(&kms, KeySpec::MlDsa44).await;
    check_ml_dsa::<MlDsa65>(&kms, KeySpec::MlDsa65).await;
    check_ml_dsa::<MlDsa87>(&kms, KeySpec::MlDsa87).await;
}

macro_rules! check_ml_kem {
    ($kms:expr, $P:ty, $spec:expr, $ct_len:expr) => {{
        use ml_kem::pkcs8::DecodePublicKey;
        type P = $P;
        let kms: &Kms = $kms;
        let spec: KeySpec = $spec;
        let c = &kms.client;

        let m = create(kms, spec.clone(), KeyUsageType::EncapsulateDecapsulate).await;
        assert_eq!(m.key_usage(), Some(&KeyUsageType::EncapsulateDecapsulate));
        assert_eq!(
            m.encapsulation_algorithms(),
            [EncapsulationAlgorithmSpec::MlKem]
        );
        assert!(m.encryption_algorithms().is_empty() && m.signing_algorithms().is_empty());
        let key = m.key_id();
        let arn = m.arn().expect("Arn");
        let out = c
            .get_public_key()
            .key_id(key)
            .send()
            .await
            .expect("GetPublicKey");
        assert_eq!(
            out.encapsulation_algorithms(),
            [EncapsulationAlgorithmSpec::MlKem]
        );
        let ek = ml_kem::EncapsulationKey::<P>::from_public_key_der(
            out.public_key().expect("PublicKey").as_ref(),
        )
        .expect("ml-kem parses the SPKI");

        // Encapsulate here, Decapsulate here: the same 32-byte secret.
        let enc = c
            .encapsulate()
            .key_id(key)
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .send()
            .await
            .expect("Encapsulate");
        assert_eq!(enc.key_id(), Some(arn));
        assert_eq!(
            enc.encapsulation_algorithm(),
            Some(&EncapsulationAlgorithmSpec::MlKem)
        );
        let secret = enc.shared_secret().expect("SharedSecret").as_ref().to_vec();
        let ct = enc
            .shared_secret_ciphertext_blob()
            .expect("SharedSecretCiphertextBlob")
            .as_ref()
            .to_vec();
        assert_eq!(secret.len(), 32);
        assert_eq!(ct.len(), $ct_len, "{spec}");
        let decapsulate = |ct: Vec<u8>| {
            c.decapsulate()
                .key_id(key)
                .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
                .shared_secret_ciphertext_blob(Blob::new(ct))
                .send()
        };
        let dec = decapsulate(ct.clone()).await.expect("Decapsulate");
        assert_eq!(dec.shared_secret().expect("SharedSecret").as_ref(), secret);
        assert_eq!(dec.key_id(), Some(arn));

        // Encapsulated by ml-kem with the public key alone, decapsulated here.
        let (their_ct, theirs) = ek.encapsulate_deterministic(&ml_kem::B32::from([7u8; 32]));
        let dec = decapsulate(their_ct.to_vec()).await.expect("Decapsulate");
        assert_eq!(
            dec.shared_secret().expect("SharedSecret").as_ref(),
            theirs.as_slice()
        );

        // Another ciphertext of the right length decapsulates to another secret (implicit
        // rejection); one of the wrong length is InvalidCiphertextException.
        let mut altered = ct.clone();
        altered[0] ^= 1;
        let dec = decapsulate(altered).await.expect("implicit rejection");
        assert_ne!(dec.shared_secret().expect("SharedSecret").as_ref(), secret);
        let r = decapsulate(ct[..ct.len() - 1].to_vec()).await;
        assert_eq!(expect_code(r, "InvalidCiphertextException"), "");

        // An ML-KEM key does nothing else.
        let r = c
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new("x"))
            .send()
            .await;
        assert_eq!(
            expect_code(r, "InvalidKeyUsageException"),
            format!("{arn} key usage is ENCAPSULATE_DECAPSULATE which is not valid for Encrypt.")
        );
    }};
}

#[tokio::test]
async fn ml_kem_keys_encapsulate_and_decapsulate() {
    use ml_kem::{MlKem1024, MlKem512, MlKem768};

    let kms = Kms::start().await;
    check_ml_kem!(&kms, MlKem512, KeySpec::MlKem512, 768);
    check_ml_kem!(&kms, MlKem768, KeySpec::MlKem768, 1088);
    check_ml_kem!(&kms, MlKem1024, KeySpec::MlKem1024, 1568);

    // Keys of another usage are refused for what they are.
    let c = &kms.client;
    let symmetric = kms.key().await;
    let r = c
        .encapsulate()
        .key_id(&symmetric)
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .send()
        .await;
    let msg = expect_code(r, "InvalidKeyUsageException");
    assert!(
        msg.ends_with("key usage is ENCRYPT_DECRYPT which is not valid for Encapsulate."),
        "{msg}"
    );
    let dsa = create(&kms, KeySpec::MlDsa44, KeyUsageType::SignVerify).await;
    let r = c
        .decapsulate()
        .key_id(dsa.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .shared_secret_ciphertext_blob(Blob::new(vec![0u8; 768]))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!(
            "{} key usage is SIGN_VERIFY which is not valid for Decapsulate.",
            dsa.arn().expect("Arn")
        )
    );
}
