//! HMAC keys end to end: CreateKey and DescribeKey for every HMAC spec, GenerateMac and
//! VerifyMac (KMSInvalidMacException), AWS's refusals and messages, grants and rotation.

// CustomerMasterKeySpec is deprecated, yet AWS still returns it and clients still read it.
#![allow(deprecated)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    CustomerMasterKeySpec, GrantOperation, KeySpec, KeyUsageType, MacAlgorithmSpec as Mac,
    SigningAlgorithmSpec,
};

use crate::common::{expect_code, Kms};

const MESSAGE: &[u8] = b"Strongroom HMAC check";

async fn hmac_key(kms: &Kms, spec: KeySpec) -> (String, String) {
    let m = kms
        .client
        .create_key()
        .key_spec(spec.clone())
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec}: {e:?}"))
        .key_metadata
        .expect("KeyMetadata");
    (m.key_id().to_string(), m.arn().expect("Arn").to_string())
}

async fn mac(kms: &Kms, key: &str, alg: Mac, message: &[u8]) -> Vec<u8> {
    let out = kms
        .client
        .generate_mac()
        .key_id(key)
        .mac_algorithm(alg.clone())
        .message(Blob::new(message))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GenerateMac {alg}: {e:?}"));
    assert_eq!(out.mac_algorithm(), Some(&alg));
    out.mac().expect("Mac").as_ref().to_vec()
}

#[tokio::test]
async fn every_hmac_spec_generates_and_verifies_macs() {
    let kms = Kms::start().await;
    let c = &kms.client;
    for (spec, cmk, alg, len) in [
        (
            KeySpec::Hmac224,
            CustomerMasterKeySpec::Hmac224,
            Mac::HmacSha224,
            28,
        ),
        (
            KeySpec::Hmac256,
            CustomerMasterKeySpec::Hmac256,
            Mac::HmacSha256,
            32,
        ),
        (
            KeySpec::Hmac384,
            CustomerMasterKeySpec::Hmac384,
            Mac::HmacSha384,
            48,
        ),
        (
            KeySpec::Hmac512,
            CustomerMasterKeySpec::Hmac512,
            Mac::HmacSha512,
            64,
        ),
    ] {
        let (key, arn) = hmac_key(&kms, spec.clone()).await;
        let m = c
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .expect("DescribeKey")
            .key_metadata
            .expect("KeyMetadata");
        assert_eq!(m.key_spec(), Some(&spec));
        assert_eq!(m.customer_master_key_spec(), Some(&cmk));
        assert_eq!(m.key_usage(), Some(&KeyUsageType::GenerateVerifyMac));
        assert_eq!(m.mac_algorithms(), std::slice::from_ref(&alg));
        assert!(m.encryption_algorithms().is_empty(), "{m:?}");
        assert!(m.signing_algorithms().is_empty(), "{m:?}");
        assert_eq!(m.current_key_material_id(), None, "{m:?}");

        let tag = mac(&kms, &key, alg.clone(), MESSAGE).await;
        assert_eq!(tag.len(), len, "{spec}");
        // HMAC is deterministic; a different message has a different MAC.
        assert_eq!(tag, mac(&kms, &arn, alg.clone(), MESSAGE).await);
        assert_ne!(tag, mac(&kms, &key, alg.clone(), b"another").await);
        let out = c
            .verify_mac()
            .key_id(&key)
            .mac_algorithm(alg.clone())
            .message(Blob::new(MESSAGE))
            .mac(Blob::new(tag.clone()))
            .send()
            .await
            .expect("VerifyMac");
        assert!(out.mac_valid());
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(out.mac_algorithm(), Some(&alg));

        // A wrong or short MAC is KMSInvalidMacException without a message, never MacValid
        // false; DryRun does not change that (it is the last check).
        let mut wrong = tag.clone();
        wrong[0] ^= 1;
        for (bad, dry) in [
            (wrong.clone(), None),
            (tag[..len - 1].to_vec(), None),
            (wrong, Some(true)),
        ] {
            let r = c
                .verify_mac()
                .key_id(&key)
                .mac_algorithm(alg.clone())
                .message(Blob::new(MESSAGE))
                .mac(Blob::new(bad))
                .set_dry_run(dry)
                .send()
                .await;
            assert_eq!(expect_code(r, "KMSInvalidMacException"), "", "{spec}");
        }
        // Each spec has exactly one algorithm.
        let other = if alg == Mac::HmacSha512 {
            Mac::HmacSha256
        } else {
            Mac::HmacSha512
        };
        let r = c
            .generate_mac()
            .key_id(&key)
            .mac_algorithm(other.clone())
            .message(Blob::new(MESSAGE))
            .send()
            .await;
        assert_eq!(
            expect_code(r, "InvalidKeyUsageException"),
            format!("Algorithm {other} is incompatible with key spec {spec}.")
        );
    }
}

#[tokio::test]
async fn hmac_refusals_have_aws_messages() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let (key, arn) = hmac_key(&kms, KeySpec::Hmac256).await;

    // Message lengths: 1 to 4096 bytes.
    mac(&kms, &key, Mac::HmacSha256, &[9u8; 4096]).await;
    for (message, bound) in [
        (vec![9u8; 4097], "less than or equal to 4096"),
        (Vec::new(), "greater than or equal to 1"),
    ] {
        let r = c
            .generate_mac()
            .key_id(&key)
            .mac_algorithm(Mac::HmacSha256)
            .message(Blob::new(message))
            .send()
            .await;
        assert_eq!(
            expect_code(r, "ValidationException"),
            format!("1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length {bound}")
        );
    }

    // Key usage comes before the algorithm, both ways.
    let r = c
        .sign()
        .key_id(&key)
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .message(Blob::new(MESSAGE))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{arn} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.")
    );
    let r = c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{arn} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.")
    );
    let symmetric = kms.key().await;
    let r = c
        .generate_mac()
        .key_id(&symmetric)
        .mac_algorithm(Mac::HmacSha256)
        .message(Blob::new(MESSAGE))
        .send()
        .await;
    let msg = expect_code(r, "InvalidKeyUsageException");
    assert!(
        msg.ends_with(&format!(
            "key/{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."
        )),
        "{msg}"
    );
    // An HMAC key has no public key.
    let r = c.get_public_key().key_id(&key).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");

    // The state comes before the algorithm.
    c.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    let r = c
        .generate_mac()
        .key_id(&key)
        .mac_algorithm(Mac::HmacSha512)
        .message(Blob::new(MESSAGE))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "DisabledException"),
        format!("{arn} is disabled.")
    );
    c.enable_key().key_id(&key).send().await.expect("EnableKey");

    // Grants: the MAC operations, not the encryption ones.
    let grantee = format!("arn:aws:iam::{}:user/grantee", kms.account().await);
    c.create_grant()
        .key_id(&key)
        .grantee_principal(&grantee)
        .operations(GrantOperation::GenerateMac)
        .operations(GrantOperation::VerifyMac)
        .send()
        .await
        .expect("a MAC grant");
    let r = c
        .create_grant()
        .key_id(&key)
        .grantee_principal(&grantee)
        .operations(GrantOperation::Encrypt)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Grant operation Encrypt is not valid for a HMAC_256 key."
    );

    // HMAC keys do not rotate; AWS says nothing more.
    let r = c.enable_key_rotation().key_id(&key).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");
    let r = c.rotate_key_on_demand().key_id(&key).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");
}
