//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext for every KeyPairSpec: the
//! private key (PKCS#8) parses in OpenSSL (ml-kem for ML-KEM) and its public half is the
//! returned public key; the encrypted private key decrypts (with its encryption context) to it.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeyPairSpec as Spec;

use crate::common::{expect_code, Kms};
use crate::openssl::{describe_public, public_of_private, Scratch};

const DRY: &str = "The request would have succeeded, but the DryRun option is set.";

/// The public key of a private key, as an independent implementation derives it.
fn public_of(dir: &Scratch, spec: &Spec, private: &[u8]) -> Vec<u8> {
    use ml_kem::pkcs8::{DecodePrivateKey, EncodePublicKey};
    use ml_kem::{MlKem1024, MlKem512, MlKem768};

    macro_rules! ml_kem_public {
        ($P:ty) => {
            ml_kem::DecapsulationKey::<$P>::from_pkcs8_der(private)
                .expect("ml-kem parses the PKCS#8")
                .encapsulation_key()
                .to_public_key_der()
                .expect("SPKI")
                .as_bytes()
                .to_vec()
        };
    }
    match spec {
        Spec::MlKem512 => ml_kem_public!(MlKem512),
        Spec::MlKem768 => ml_kem_public!(MlKem768),
        Spec::MlKem1024 => ml_kem_public!(MlKem1024),
        _ => public_of_private(dir, private),
    }
}

async fn material_id(kms: &Kms, key: &str) -> String {
    kms.client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.current_key_material_id())
        .expect("CurrentKeyMaterialId")
        .to_string()
}

async fn decrypt_private(kms: &Kms, blob: &[u8]) -> Vec<u8> {
    kms.client
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .encryption_context("purpose", "data key pair")
        .send()
        .await
        .expect("Decrypt the private key")
        .plaintext()
        .expect("Plaintext")
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn every_key_pair_spec_matches_its_public_key() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let dir = Scratch::new();
    let key = kms.key().await;
    let arn = format!(
        "arn:aws:kms:{}:{}:key/{key}",
        kms.exports.region,
        kms.account().await
    );
    let material = material_id(&kms, &key).await;
    for spec in [
        Spec::Rsa2048,
        Spec::Rsa3072,
        Spec::Rsa4096,
        Spec::EccNistP256,
        Spec::EccNistP384,
        Spec::EccNistP521,
        Spec::EccSecgP256K1,
        Spec::EccNistEdwards25519,
        Spec::MlKem512,
        Spec::MlKem768,
        Spec::MlKem1024,
    ] {
        let out = c
            .generate_data_key_pair()
            .key_id(&key)
            .key_pair_spec(spec.clone())
            .encryption_context("purpose", "data key pair")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKeyPair {spec}: {e:?}"));
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(out.key_pair_spec(), Some(&spec));
        assert_eq!(out.key_material_id(), Some(material.as_str()));
        let public = out.public_key().expect("PublicKey").as_ref().to_vec();
        let private = out
            .private_key_plaintext()
            .expect("PrivateKeyPlaintext")
            .as_ref()
            .to_vec();
        assert_eq!(public_of(&dir, &spec, &private), public, "{spec}");
        if !matches!(spec, Spec::MlKem512 | Spec::MlKem768 | Spec::MlKem1024) {
            describe_public(&dir, &public);
        }
        if spec == Spec::EccNistEdwards25519 {
            assert_eq!(private.len(), 48, "AWS's Ed25519 PKCS#8 size");
        }
        let blob = out
            .private_key_ciphertext_blob()
            .expect("PrivateKeyCiphertextBlob")
            .as_ref()
            .to_vec();
        assert_eq!(decrypt_private(&kms, &blob).await, private, "{spec}");
        // Without its encryption context it does not decrypt.
        let r = c.decrypt().ciphertext_blob(Blob::new(blob)).send().await;
        assert_eq!(expect_code(r, "InvalidCiphertextException"), "");
    }

    // Without the plaintext: the ciphertext decrypts to the private key of the public key.
    for spec in [Spec::Rsa2048, Spec::EccNistP256, Spec::MlKem768] {
        let out = c
            .generate_data_key_pair_without_plaintext()
            .key_id(&key)
            .key_pair_spec(spec.clone())
            .encryption_context("purpose", "data key pair")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKeyPairWithoutPlaintext {spec}: {e:?}"));
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(out.key_pair_spec(), Some(&spec));
        assert_eq!(out.key_material_id(), Some(material.as_str()));
        let private = decrypt_private(
            &kms,
            out.private_key_ciphertext_blob()
                .expect("PrivateKeyCiphertextBlob")
                .as_ref(),
        )
        .await;
        assert_eq!(
            public_of(&dir, &spec, &private),
            out.public_key().expect("PublicKey").as_ref(),
            "{spec}"
        );
    }

    // SM2 exists only in China Regions; a DryRun generates, then answers DryRun.
    let r = c
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(Spec::Sm2)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "UnsupportedOperationException"),
        "KeyPairSpec SM2 is not supported in this Region"
    );
    let r = c
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(Spec::EccNistP256)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "DryRunOperationException"), DRY);
    let r = c
        .generate_data_key_pair_without_plaintext()
        .key_id(&key)
        .key_pair_spec(Spec::EccNistP256)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "DryRunOperationException"), DRY);
    // A disabled key makes no pairs.
    c.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    let r = c
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(Spec::EccNistP256)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "DisabledException"),
        format!("{arn} is disabled.")
    );
}
