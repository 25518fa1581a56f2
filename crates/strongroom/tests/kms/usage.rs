//! GetKeyLastUsage: the last successful cryptographic use of a key, with the request that made it.
//! Uses are kept in the store (written by each node about once a second), so every node answers
//! the same and a restart loses none.

use std::time::{Duration, Instant};

use aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput;
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyLastUsageTrackingOperation as Op;
use aws_sdk_kms::Client;

use crate::common::{expect_code, new_key, secs, Kms, PrincipalSpec, Served, NODES_VAR};

/// GetKeyLastUsage of `key`, once its last use is the request `request_id` (or none, for
/// `None`). A use made through another node reaches the node asked with that node's next
/// write of its uses, so across nodes (`STRONGROOM_TEST_NODES`) the answer is polled for up to
/// 3 s; on one node the first answer must have it. Returns the last answer either way.
async fn usage_once(c: &Client, key: &str, request_id: Option<&str>) -> GetKeyLastUsageOutput {
    let across_nodes = std::env::var(NODES_VAR).is_ok();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let out = c
            .get_key_last_usage()
            .key_id(key)
            .send()
            .await
            .expect("GetKeyLastUsage");
        let last = out.key_last_usage().and_then(|u| u.kms_request_id());
        if last == request_id || !across_nodes || Instant::now() >= deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn records_the_last_cryptographic_use_only() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = kms.key().await;

    let fresh = usage_once(c, &key, None).await;
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
    let after = usage_once(c, &key, enc.request_id()).await;
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
    let same = usage_once(c, &key, enc.request_id()).await;
    assert_eq!(
        same.key_last_usage().and_then(|u| u.operation()),
        Some(&Op::Encrypt)
    );
    assert_eq!(
        same.key_last_usage().and_then(|u| u.kms_request_id()),
        enc.request_id()
    );

    let dec = c
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("Decrypt");
    let now = usage_once(c, &key, dec.request_id()).await;
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
    let re = c
        .re_encrypt()
        .ciphertext_blob(enc.ciphertext_blob().expect("blob").clone())
        .destination_key_id(&b)
        .send()
        .await
        .expect("ReEncrypt");
    for k in [&a, &b] {
        let u = usage_once(c, k, re.request_id()).await;
        let last = u.key_last_usage();
        assert_eq!(
            last.and_then(|u| u.operation()),
            Some(&Op::ReEncrypt),
            "{k}"
        );
        assert_eq!(
            last.and_then(|u| u.kms_request_id()),
            re.request_id(),
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

/// A key's last use and the tracking start survive stopping and starting `serve`: the use is
/// in the database (written at shutdown at the latest), not only in the old process's memory.
#[tokio::test]
async fn usage_survives_a_restart_of_serve() {
    let admin = PrincipalSpec::user("111122223333", "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    );
    let s = Served::start(std::slice::from_ref(&admin));
    let c = s.client(&admin).await;
    let key = new_key(&c).await;
    let enc = c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"kept".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let before = usage_once(&c, &key, enc.request_id()).await;
    let used = before.key_last_usage().expect("used");
    assert_eq!(used.kms_request_id(), enc.request_id());

    let s = s.restart("warn");
    let c = s.client(&admin).await;
    let after = c
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyLastUsage after the restart");
    let kept = after
        .key_last_usage()
        .expect("the use survived the restart");
    assert_eq!(kept.operation(), Some(&Op::Encrypt));
    assert_eq!(kept.kms_request_id(), enc.request_id());
    assert_eq!(
        kept.timestamp().map(secs),
        used.timestamp().map(secs),
        "the same use"
    );
    assert_eq!(
        after.tracking_start_date().map(secs),
        before.tracking_start_date().map(secs),
        "tracking did not start again at the restart"
    );
}
