//! GetKeyLastUsage: the last successful cryptographic use of a key, with the request that made it.

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyLastUsageTrackingOperation as Op;

use crate::common::{expect_code, Kms};

#[tokio::test]
async fn records_the_last_cryptographic_use_only() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = kms.key().await;

    let fresh = c
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("usage");
    assert!(
        fresh
            .key_id()
            .is_some_and(|id| id.ends_with(&format!("key/{key}"))),
        "{fresh:?}"
    );
    let created = fresh.key_creation_date().expect("creation date");
    let start = fresh.tracking_start_date().expect("tracking start");
    assert!(start.secs() >= created.secs(), "{fresh:?}");
    assert!(fresh.key_last_usage().is_none(), "never used: {fresh:?}");

    let enc = c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"hello".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let after = c
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("usage");
    let last = after.key_last_usage().expect("used");
    assert_eq!(last.operation(), Some(&Op::Encrypt));
    assert_eq!(last.kms_request_id(), enc.request_id());
    assert!(last.timestamp().expect("timestamp").secs() >= created.secs());

    // Management calls and DryRun calls are not uses.
    c.describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    let dry = c
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().expect("blob").clone())
        .dry_run(true)
        .send()
        .await;
    expect_code(dry, "DryRunOperationException");
    let same = c
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("usage");
    assert_eq!(
        same.key_last_usage().and_then(|u| u.operation()),
        Some(&Op::Encrypt)
    );

    let dec = c
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("Decrypt");
    let now = c
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("usage");
    let last = now.key_last_usage().expect("used");
    assert_eq!(last.operation(), Some(&Op::Decrypt));
    assert_eq!(last.kms_request_id(), dec.request_id());
}

#[tokio::test]
async fn reencrypt_counts_for_both_keys_and_aliases_are_refused() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let (a, b) = (kms.key().await, kms.key().await);
    let enc = c
        .encrypt()
        .key_id(&a)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    c.re_encrypt()
        .ciphertext_blob(enc.ciphertext_blob().expect("blob").clone())
        .destination_key_id(&b)
        .send()
        .await
        .expect("ReEncrypt");
    for k in [&a, &b] {
        let u = c
            .get_key_last_usage()
            .key_id(k)
            .send()
            .await
            .expect("usage");
        assert_eq!(
            u.key_last_usage().and_then(|u| u.operation()),
            Some(&Op::ReEncrypt),
            "{k}"
        );
    }

    c.create_alias()
        .alias_name("alias/used")
        .target_key_id(&a)
        .send()
        .await
        .expect("CreateAlias");
    let r = c.get_key_last_usage().key_id("alias/used").send().await;
    assert_eq!(
        expect_code(r, "InvalidArnException"),
        "Key Aliases are not supported for this operation."
    );
    let missing = c
        .get_key_last_usage()
        .key_id("11111111-2222-3333-4444-555555555555")
        .send()
        .await;
    expect_code(missing, "NotFoundException");
}
