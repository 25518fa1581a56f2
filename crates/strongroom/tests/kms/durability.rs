//! Durability across a real `kill -9`: everything acknowledged before the kill is there after a
//! restart on the same data directory.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, Tag};

use crate::common::Kms;

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let mut kms = Kms::start().await;
    let dir = kms.data_dir();

    let created = kms
        .client
        .create_key()
        .description("survivor")
        .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
        .send()
        .await
        .expect("CreateKey");
    let meta = created.key_metadata().expect("KeyMetadata").clone();
    let key = meta.key_id().to_string();
    kms.client
        .create_alias()
        .alias_name("alias/durable")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");
    let ct = kms
        .client
        .encrypt()
        .key_id("alias/durable")
        .plaintext(Blob::new("written before the crash"))
        .encryption_context("c", "1")
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .clone();
    let doomed = kms.key().await;
    let scheduled = kms
        .client
        .schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(9)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let deletion_date = *scheduled.deletion_date().expect("DeletionDate");
    let disabled = kms.key().await;
    kms.client
        .disable_key()
        .key_id(&disabled)
        .send()
        .await
        .expect("DisableKey");

    // Changes that remove or replace things must survive as well.
    kms.client
        .create_alias()
        .alias_name("alias/gone")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias gone");
    kms.client
        .delete_alias()
        .alias_name("alias/gone")
        .send()
        .await
        .expect("DeleteAlias gone");
    kms.client
        .create_alias()
        .alias_name("alias/moved")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias moved");
    kms.client
        .update_alias()
        .alias_name("alias/moved")
        .target_key_id(&disabled)
        .send()
        .await
        .expect("UpdateAlias moved");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
    kms.client
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .expect("PutKeyPolicy");

    // SIGKILL right after the last response: no shutdown path runs.
    kms.kill_and_restart().await;
    assert_eq!(kms.data_dir(), dir);

    let after = kms
        .client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey after restart");
    assert_eq!(
        after.key_metadata(),
        Some(&meta),
        "the same key, every field"
    );

    let via_alias = kms
        .client
        .describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .expect("alias resolves after restart");
    assert_eq!(
        via_alias.key_metadata().map(|m| m.key_id()),
        Some(key.as_str())
    );

    let pt = kms
        .client
        .decrypt()
        .ciphertext_blob(ct)
        .encryption_context("c", "1")
        .send()
        .await
        .expect("Decrypt after restart");
    assert_eq!(
        pt.plaintext().map(|b| b.as_ref()),
        Some(&b"written before the crash"[..])
    );

    let d = kms
        .client
        .describe_key()
        .key_id(&doomed)
        .send()
        .await
        .expect("DescribeKey doomed");
    let dm = d.key_metadata().expect("KeyMetadata");
    assert_eq!(dm.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(
        dm.deletion_date(),
        Some(&deletion_date),
        "same DeletionDate"
    );
    // It is still cancellable.
    kms.client
        .cancel_key_deletion()
        .key_id(&doomed)
        .send()
        .await
        .expect("CancelKeyDeletion after restart");

    let dis = kms
        .client
        .describe_key()
        .key_id(&disabled)
        .send()
        .await
        .expect("DescribeKey disabled");
    assert_eq!(
        dis.key_metadata().and_then(|m| m.key_state()),
        Some(&KeyState::Disabled)
    );

    let tags = kms
        .client
        .list_resource_tags()
        .key_id(&key)
        .send()
        .await
        .expect("ListResourceTags");
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].tag_value(), "v");

    let keys = kms.client.list_keys().send().await.expect("ListKeys");
    assert_eq!(keys.keys().len(), 3);

    let aliases: Vec<(String, String)> = kms
        .client
        .list_aliases()
        .send()
        .await
        .expect("ListAliases")
        .aliases()
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap_or_default().to_string(),
                a.target_key_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        aliases,
        vec![
            ("alias/durable".to_string(), key.clone()),
            ("alias/moved".to_string(), disabled.clone()),
        ]
    );
    let got = kms
        .client
        .get_key_policy()
        .key_id(&key)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(got.policy(), Some(policy));

    // New work after the restart is fine, and survives a second kill.
    let ct2 = kms.encrypt(&key, b"second life").await;
    kms.kill_and_restart().await;
    let out = kms
        .client
        .decrypt()
        .ciphertext_blob(Blob::new(ct2))
        .send()
        .await
        .expect("Decrypt after the second restart");
    assert_eq!(
        out.plaintext().map(|b| b.as_ref()),
        Some(&b"second life"[..])
    );
    let d = kms
        .client
        .describe_key()
        .key_id(&doomed)
        .send()
        .await
        .expect("DescribeKey doomed");
    assert_eq!(
        d.key_metadata().and_then(|m| m.key_state()),
        Some(&KeyState::Disabled),
        "the cancellation survived too"
    );
}
