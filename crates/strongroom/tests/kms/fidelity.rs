//! Answers that must be AWS's own, as recorded against AWS KMS: the exception name and the
//! message, for the cases where a natural guess differs from what AWS says.

use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};

use crate::common::{expect_code, Kms};

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().expect("tag")
}

#[tokio::test]
async fn tag_errors_are_tag_exceptions_in_aws_words() {
    let kms = Kms::start().await;
    let mut req = kms.client.create_key();
    for i in 0..51 {
        req = req.tags(tag(&format!("t{i}"), "v"));
    }
    assert_eq!(
        expect_code(req.send().await, "TagException"),
        "Too many tags"
    );

    let key = kms.key().await;
    let dup = kms
        .client
        .tag_resource()
        .key_id(&key)
        .tags(tag("tag1", "a"))
        .tags(tag("tag1", "b"))
        .send()
        .await;
    assert_eq!(expect_code(dup, "TagException"), "Duplicate tag keys");

    for reserved in ["aws:key1", "AWS:key1", "Aws:x"] {
        let r = kms
            .client
            .tag_resource()
            .key_id(&key)
            .tags(tag(reserved, "v"))
            .send()
            .await;
        assert_eq!(
            expect_code(r, "TagException"),
            "Tags beginning with aws: are reserved"
        );
        let r = kms
            .client
            .create_key()
            .tags(tag(reserved, "v"))
            .send()
            .await;
        assert_eq!(
            expect_code(r, "TagException"),
            "Tags beginning with aws: are reserved"
        );
    }
}

#[tokio::test]
async fn malformed_key_ids_are_invalid_before_lookup() {
    let kms = Kms::start().await;
    for bad in [
        "fake-key-id",
        "134f2428cec14b25a1ae9048164dba47",
        "mrk-fake-key-id",
        "key_id",
    ] {
        let r = kms.client.describe_key().key_id(bad).send().await;
        assert_eq!(
            expect_code(r, "NotFoundException"),
            format!("Invalid keyId '{bad}'")
        );
        let r = kms
            .client
            .encrypt()
            .key_id(bad)
            .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
            .send()
            .await;
        assert_eq!(
            expect_code(r, "NotFoundException"),
            format!("Invalid keyId '{bad}'")
        );
    }
    // A well-formed id of no key: AWS names the key's ARN.
    let account = kms.account().await;
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "mrk-00000000000000000000000000000000",
    ] {
        let r = kms.client.describe_key().key_id(id).send().await;
        assert_eq!(
            expect_code(r, "NotFoundException"),
            format!("Key 'arn:aws:kms:us-east-1:{account}:key/{id}' does not exist")
        );
    }
}

#[tokio::test]
async fn alias_prefix_message_is_aws_own() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let r = kms
        .client
        .create_alias()
        .alias_name("no-prefix")
        .target_key_id(&key)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
    );
}

#[tokio::test]
async fn members_aws_requires_in_its_own_words() {
    let kms = Kms::start().await;
    let r = kms.signed("TrentService.GenerateRandom", b"{}");
    assert_eq!(
        r.expect_error(400, "ValidationException"),
        "NumberOfBytes is required."
    );
    let r = kms
        .client
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    );
    let r = kms
        .client
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::KeyAgreement)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"
    );
}

/// AWS validates the request and resolves its key before deciding that an operation cannot
/// apply: operations Strongroom does not serve yet keep that order.
#[tokio::test]
async fn the_key_is_resolved_before_an_operation_is_refused() {
    let kms = Kms::start().await;
    let account = kms.account().await;
    let unknown = "00000000-0000-0000-0000-000000000000";
    let body = format!(r#"{{"KeyId":"{unknown}"}}"#);
    for op in [
        "RotateKeyOnDemand",
        "GetParametersForImport",
        "ReplicateKey",
        "GetPublicKey",
    ] {
        let mut b = body.clone();
        if op == "GetParametersForImport" {
            b = format!(
                r#"{{"KeyId":"{unknown}","WrappingAlgorithm":"RSAES_OAEP_SHA_256","WrappingKeySpec":"RSA_2048"}}"#
            );
        }
        if op == "ReplicateKey" {
            b = format!(r#"{{"KeyId":"{unknown}","ReplicaRegion":"eu-west-1"}}"#);
        }
        let r = kms.signed(&format!("TrentService.{op}"), b.as_bytes());
        assert_eq!(
            r.expect_error(400, "NotFoundException"),
            format!("Key 'arn:aws:kms:us-east-1:{account}:key/{unknown}' does not exist"),
            "{op}"
        );
    }

    let key = kms.key().await;
    let arn = format!("arn:aws:kms:us-east-1:{account}:key/{key}");
    let r = kms.signed(
        "TrentService.GetParametersForImport",
        format!(
            r#"{{"KeyId":"{key}","WrappingAlgorithm":"RSAES_OAEP_SHA_256","WrappingKeySpec":"RSA_2048"}}"#
        )
        .as_bytes(),
    );
    assert_eq!(
        r.expect_error(400, "UnsupportedOperationException"),
        format!("{arn} origin is AWS_KMS which is not valid for this operation.")
    );
    let r = kms.signed(
        "TrentService.ReplicateKey",
        format!(r#"{{"KeyId":"{key}","ReplicaRegion":"eu-west-1"}}"#).as_bytes(),
    );
    assert_eq!(
        r.expect_error(400, "UnsupportedOperationException"),
        format!("{arn} is not a multi-region primary key.")
    );
    for (op, body) in [
        (
            "Sign",
            format!(r#"{{"KeyId":"{key}","Message":"eA==","SigningAlgorithm":"ECDSA_SHA_256"}}"#),
        ),
        (
            "GenerateMac",
            format!(r#"{{"KeyId":"{key}","Message":"eA==","MacAlgorithm":"HMAC_SHA_256"}}"#),
        ),
        (
            "DeriveSharedSecret",
            format!(r#"{{"KeyId":"{key}","KeyAgreementAlgorithm":"ECDH","PublicKey":"eA=="}}"#),
        ),
    ] {
        let r = kms.signed(&format!("TrentService.{op}"), body.as_bytes());
        assert_eq!(
            r.expect_error(400, "InvalidKeyUsageException"),
            format!("{arn} key usage is ENCRYPT_DECRYPT which is not valid for {op}."),
            "{op}"
        );
    }
}
