//! Concurrent requests: nothing acknowledged is lost when writes race.

use std::collections::BTreeSet;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::Tag;
use tokio::task::JoinSet;

use crate::common::Kms;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_all_kept() {
    let kms = Kms::start().await;
    let key = kms.key().await;

    // 25 TagResource calls on one key at once: every tag survives (no lost update).
    let mut set = JoinSet::new();
    for i in 0..25 {
        let c = kms.client.clone();
        let key = key.clone();
        set.spawn(async move {
            c.tag_resource()
                .key_id(key)
                .tags(
                    Tag::builder()
                        .tag_key(format!("t{i:02}"))
                        .tag_value(format!("{i}"))
                        .build()
                        .expect("tag"),
                )
                .send()
                .await
                .expect("TagResource")
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task");
    }
    let tags = kms
        .client
        .list_resource_tags()
        .key_id(&key)
        .send()
        .await
        .expect("ListResourceTags");
    assert_eq!(tags.tags().len(), 25, "{:?}", tags.tags());

    // 20 CreateKey and 20 Encrypt calls at once.
    let mut creates = JoinSet::new();
    for _ in 0..20 {
        let c = kms.client.clone();
        creates.spawn(async move {
            c.create_key()
                .send()
                .await
                .expect("CreateKey")
                .key_metadata()
                .expect("KeyMetadata")
                .key_id()
                .to_string()
        });
    }
    let mut encrypts = JoinSet::new();
    for i in 0..20u8 {
        let c = kms.client.clone();
        let key = key.clone();
        encrypts.spawn(async move {
            let ct = c
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(vec![i; 16]))
                .send()
                .await
                .expect("Encrypt")
                .ciphertext_blob()
                .expect("CiphertextBlob")
                .clone();
            (i, ct)
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(r) = creates.join_next().await {
        ids.insert(r.expect("task"));
    }
    assert_eq!(ids.len(), 20);
    let listed: BTreeSet<String> = kms
        .client
        .list_keys()
        .send()
        .await
        .expect("ListKeys")
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(str::to_string))
        .collect();
    assert!(ids.is_subset(&listed));
    assert_eq!(listed.len(), 21);
    while let Some(r) = encrypts.join_next().await {
        let (i, ct) = r.expect("task");
        let out = kms
            .client
            .decrypt()
            .ciphertext_blob(ct)
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(
            out.plaintext().map(|b| b.as_ref().to_vec()),
            Some(vec![i; 16])
        );
    }
}
