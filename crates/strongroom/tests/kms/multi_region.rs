//! Multi-Region keys end to end: aws-sdk-kms clients signed for two Regions of one `strongroom
//! dev`, a primary and its replica, a ciphertext of one Region decrypted in the other, shared
//! rotation, moving the primary, and AWS's refusals.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType};
use aws_sdk_kms::Client;

use crate::common::{expect_code, poll_until, Kms};

async fn client_in(kms: &Kms, region: &str) -> Client {
    let e = &kms.exports;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(&e.endpoint)
        .credentials_provider(Credentials::new(
            &e.access_key_id,
            &e.secret_access_key,
            None,
            None,
            "test",
        ))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

async fn state(c: &Client, key: &str) -> Option<KeyState> {
    c.describe_key()
        .key_id(key)
        .send()
        .await
        .ok()
        .and_then(|d| d.key_metadata)
        .and_then(|m| m.key_state)
}

#[tokio::test]
async fn a_replica_decrypts_what_the_primary_encrypted() {
    let kms = Kms::start().await;
    let east = client_in(&kms, "us-east-1").await;
    let west = client_in(&kms, "eu-west-1").await;

    let meta = east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("metadata");
    let id = meta.key_id().to_string();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    let conf = meta.multi_region_configuration().expect("configuration");
    assert_eq!(
        conf.multi_region_key_type(),
        Some(&MultiRegionKeyType::Primary)
    );
    assert!(conf.replica_keys().is_empty());

    // Before the replica exists the other Region does not know the key.
    let missing = west.describe_key().key_id(&id).send().await;
    expect_code(missing, "NotFoundException");

    let out = east
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .description("the copy")
        .send()
        .await
        .expect("ReplicateKey");
    let replica = out.replica_key_metadata().expect("replica metadata");
    assert!(replica.arn().is_some_and(|a| a.contains(":eu-west-1:")));
    let again = east
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await;
    expect_code(again, "AlreadyExistsException");
    poll_until(
        "the replica to be enabled",
        Duration::from_secs(10),
        || async { state(&west, &id).await == Some(KeyState::Enabled) },
    )
    .await;

    let ct = east
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"across regions".to_vec()))
        .encryption_context("purpose", "mrk")
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("blob");
    let out = west
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "mrk")
        .send()
        .await
        .expect("Decrypt in the replica's Region");
    assert_eq!(
        out.plaintext().map(|b| b.as_ref()),
        Some(&b"across regions"[..])
    );
    assert_eq!(out.key_id(), replica.arn());
    // Naming the primary's ARN in the replica's Region is not the replica.
    let wrong = west
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "mrk")
        .key_id(meta.arn().expect("arn"))
        .send()
        .await;
    expect_code(wrong, "IncorrectKeyException");

    // Rotation is the primary's to set; the replica shows it and refuses to change it.
    east.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(120)
        .send()
        .await
        .expect("EnableKeyRotation");
    let status = west
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .expect("status on the replica");
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(120));
    let refused = west.enable_key_rotation().key_id(&id).send().await;
    let msg = expect_code(refused, "UnsupportedOperationException");
    assert!(msg.contains("is a multi-region replica key"), "{msg}");

    // Independent properties stay apart.
    let east_desc = east.describe_key().key_id(&id).send().await.expect("d");
    let west_desc = west.describe_key().key_id(&id).send().await.expect("d");
    assert_eq!(
        west_desc.key_metadata().and_then(|m| m.description()),
        Some("the copy")
    );
    assert_eq!(
        east_desc.key_metadata().and_then(|m| m.description()),
        Some("")
    );
}

#[tokio::test]
async fn the_primary_moves_to_the_replicas_region() {
    let kms = Kms::start().await;
    let east = client_in(&kms, "us-east-1").await;
    let west = client_in(&kms, "eu-west-1").await;
    let id = east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("metadata")
        .key_id
        .clone();
    let none = east
        .update_primary_region()
        .key_id(&id)
        .primary_region("eu-west-1")
        .send()
        .await;
    assert_eq!(
        expect_code(none, "ValidationException"),
        format!("{id} does not have a replica key in the specified Region.")
    );
    east.replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .expect("ReplicateKey");
    poll_until(
        "the replica to be enabled",
        Duration::from_secs(10),
        || async { state(&west, &id).await == Some(KeyState::Enabled) },
    )
    .await;
    let ct = east
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"before the move".to_vec()))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("blob");

    let from_replica = west
        .update_primary_region()
        .key_id(&id)
        .primary_region("us-east-1")
        .send()
        .await;
    let msg = expect_code(from_replica, "KMSInvalidStateException");
    assert!(msg.ends_with("is not a multi-Region primary key."), "{msg}");

    east.update_primary_region()
        .key_id(&id)
        .primary_region("eu-west-1")
        .send()
        .await
        .expect("UpdatePrimaryRegion");
    let kind = |c: Client| {
        let id = id.clone();
        async move {
            c.describe_key()
                .key_id(&id)
                .send()
                .await
                .ok()
                .and_then(|d| d.key_metadata)
                .and_then(|m| m.multi_region_configuration)
                .and_then(|c| c.multi_region_key_type)
        }
    };
    poll_until("the primary to move", Duration::from_secs(10), || async {
        kind(west.clone()).await == Some(MultiRegionKeyType::Primary)
            && kind(east.clone()).await == Some(MultiRegionKeyType::Replica)
    })
    .await;
    // The new primary decrypts what the old one encrypted; replication now starts from it.
    let out = west
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .expect("Decrypt with the new primary");
    assert_eq!(
        out.plaintext().map(|b| b.as_ref()),
        Some(&b"before the move"[..])
    );
    let old_primary = east
        .replicate_key()
        .key_id(&id)
        .replica_region("ap-southeast-2")
        .send()
        .await;
    expect_code(old_primary, "UnsupportedOperationException");
    west.replicate_key()
        .key_id(&id)
        .replica_region("ap-southeast-2")
        .send()
        .await
        .expect("ReplicateKey from the new primary");
}
