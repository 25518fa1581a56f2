//! Keys and their lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion.

use std::collections::BTreeSet;

use aws_sdk_kms::operation::cancel_key_deletion::CancelKeyDeletionError;
use aws_sdk_kms::operation::create_key::CreateKeyError;
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::list_keys::ListKeysError;
use aws_sdk_kms::operation::schedule_key_deletion::ScheduleKeyDeletionError;
#[allow(deprecated)]
use aws_sdk_kms::types::CustomerMasterKeySpec;
use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType,
    OriginType, Tag,
};

use crate::common::{expect_code, now_secs, secs, Kms};

const DAY: f64 = 24.0 * 60.0 * 60.0;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().expect("tag")
}

/// Every field DescribeKey returns for an enabled symmetric key made by CreateKey.
#[allow(deprecated)] // CustomerMasterKeySpec is deprecated but still returned, as AWS does.
fn assert_fresh_symmetric(m: &KeyMetadata, account: &str, region: &str, before: f64, after: f64) {
    let id = m.key_id();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "KeyId is a UUID: {id}");
    assert_eq!(m.aws_account_id(), Some(account));
    assert_eq!(account.len(), 12);
    assert!(account.bytes().all(|b| b.is_ascii_digit()), "{account}");
    assert_eq!(
        m.arn(),
        Some(format!("arn:aws:kms:{region}:{account}:key/{id}").as_str())
    );
    let created = secs(m.creation_date().expect("CreationDate"));
    assert!(
        created >= before - 2.0 && created <= after + 2.0,
        "CreationDate {created} within [{before}, {after}]"
    );
    assert!(m.enabled());
    assert_eq!(m.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert_eq!(m.deletion_date(), None);
    assert_eq!(m.origin(), Some(&OriginType::AwsKms));
    assert_eq!(m.key_manager(), Some(&KeyManagerType::Customer));
    assert_eq!(m.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(
        m.customer_master_key_spec(),
        Some(&CustomerMasterKeySpec::SymmetricDefault)
    );
    assert_eq!(
        m.encryption_algorithms(),
        &[EncryptionAlgorithmSpec::SymmetricDefault]
    );
    assert!(m.signing_algorithms().is_empty());
    assert_eq!(m.multi_region(), Some(false));
    assert_eq!(m.custom_key_store_id(), None);
}

#[tokio::test]
async fn create_key_default_and_describe_by_every_kind_of_id() {
    let kms = Kms::start().await;
    let before = now_secs();
    let created = kms.client.create_key().send().await.expect("CreateKey");
    let after = now_secs();
    let m = created.key_metadata().expect("KeyMetadata").clone();
    let account = m.aws_account_id().expect("AWSAccountId").to_string();
    let region = kms.exports.region.clone();
    assert_eq!(region, "us-east-1");
    assert_fresh_symmetric(&m, &account, &region, before, after);
    // A key created without a description has the empty description, as in AWS.
    assert_eq!(m.description(), Some(""));

    let id = m.key_id().to_string();
    let arn = m.arn().expect("Arn").to_string();
    kms.client
        .create_alias()
        .alias_name("alias/describe-me")
        .target_key_id(&id)
        .send()
        .await
        .expect("CreateAlias");
    let alias_arn = format!("arn:aws:kms:{region}:{account}:alias/describe-me");
    for key_ref in [id.as_str(), &arn, "alias/describe-me", &alias_arn] {
        let d = kms
            .client
            .describe_key()
            .key_id(key_ref)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeKey {key_ref}: {e:?}"));
        let dm = d.key_metadata().expect("KeyMetadata");
        assert_eq!(dm, &m, "DescribeKey {key_ref} returns what CreateKey did");
    }
}

#[tokio::test]
async fn create_key_with_description_tags_and_policy() {
    let kms = Kms::start().await;
    let account = kms.account().await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Id":"mine","Statement":[{{"Sid":"a","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let out = kms
        .client
        .create_key()
        .description("payments key")
        .tags(tag("team", "payments"))
        .tags(tag("env", "test"))
        .policy(&policy)
        .send()
        .await
        .expect("CreateKey");
    let m = out.key_metadata().expect("KeyMetadata");
    assert_eq!(m.description(), Some("payments key"));
    let id = m.key_id().to_string();

    let d = kms
        .client
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(
        d.key_metadata().and_then(|m| m.description()),
        Some("payments key")
    );

    let tags = kms
        .client
        .list_resource_tags()
        .key_id(&id)
        .send()
        .await
        .expect("ListResourceTags");
    let got: BTreeSet<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
        .collect();
    let want: BTreeSet<(String, String)> = [("team", "payments"), ("env", "test")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(!tags.truncated());

    let p = kms
        .client
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(p.policy(), Some(policy.as_str()));
}

#[tokio::test]
async fn create_key_default_policy_names_the_account_root() {
    let kms = Kms::start().await;
    let id = kms.key().await;
    let account = kms.account().await;
    let p = kms
        .client
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    let doc: serde_json::Value =
        serde_json::from_str(p.policy().expect("Policy")).expect("the policy is JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    let statements = doc["Statement"].as_array().expect("Statement list");
    let root = format!("arn:aws:iam::{account}:root");
    assert!(
        statements.iter().any(|s| s["Effect"] == "Allow"
            && s["Principal"]["AWS"] == root.as_str()
            && s["Action"] == "kms:*"
            && s["Resource"] == "*"),
        "default policy allows {root} kms:*: {doc}"
    );
}

#[tokio::test]
async fn create_key_rejects_unsupported_specs_and_bad_usage() {
    let kms = Kms::start().await;
    // SM2 exists only in AWS's China Regions.
    let r = kms
        .client
        .create_key()
        .key_spec(KeySpec::Sm2)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await;
    expect_code(r, "UnsupportedOperationException");
    let r = kms
        .client
        .create_key()
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await;
    expect_code(r, "ValidationException");
    let r = kms
        .client
        .create_key()
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await;
    expect_code(r, "ValidationException");
    // Nothing was created by the failures.
    let keys = kms.client.list_keys().send().await.expect("ListKeys");
    assert!(keys.keys().is_empty(), "{:?}", keys.keys());

    // A policy that is not JSON.
    let r = kms.client.create_key().policy("not json").send().await;
    let e = r.expect_err("malformed policy").into_service_error();
    assert!(
        matches!(e, CreateKeyError::MalformedPolicyDocumentException(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn describe_unknown_key_is_not_found() {
    let kms = Kms::start().await;
    let account = kms.account().await;
    let missing = "11111111-2222-3333-4444-555555555555";
    let r = kms.client.describe_key().key_id(missing).send().await;
    let e = r.expect_err("unknown key").into_service_error();
    assert!(matches!(e, DescribeKeyError::NotFoundException(_)), "{e:?}");
    let msg = aws_sdk_kms::error::ProvideErrorMetadata::message(&e).unwrap_or_default();
    assert!(
        msg.contains(&format!("arn:aws:kms:us-east-1:{account}:key/{missing}"))
            && msg.contains("does not exist"),
        "{msg}"
    );

    let arn = format!("arn:aws:kms:us-east-1:{account}:key/{missing}");
    let r = kms.client.describe_key().key_id(arn).send().await;
    expect_code(r, "NotFoundException");
    let r = kms.client.describe_key().key_id("alias/nope").send().await;
    let msg = expect_code(r, "NotFoundException");
    assert!(
        msg.contains(&format!("arn:aws:kms:us-east-1:{account}:alias/nope")),
        "{msg}"
    );
}

#[tokio::test]
async fn list_keys_pages_with_limit_and_marker() {
    let kms = Kms::start().await;
    let account = kms.account().await; // creates one key
    let mut created = BTreeSet::new();
    let first = kms
        .client
        .list_keys()
        .send()
        .await
        .expect("ListKeys")
        .keys()
        .iter()
        .map(|k| k.key_id().expect("KeyId").to_string())
        .collect::<Vec<_>>();
    created.extend(first);
    for _ in 0..6 {
        created.insert(kms.key().await);
    }
    assert_eq!(created.len(), 7);

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let out = kms
            .client
            .list_keys()
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListKeys page");
        sizes.push(out.keys().len());
        for k in out.keys() {
            let id = k.key_id().expect("KeyId");
            assert_eq!(
                k.key_arn(),
                Some(format!("arn:aws:kms:us-east-1:{account}:key/{id}").as_str())
            );
            seen.push(id.to_string());
        }
        if out.truncated() {
            let m = out.next_marker().expect("NextMarker when Truncated");
            marker = Some(m.to_string());
        } else {
            assert_eq!(out.next_marker(), None, "no NextMarker on the last page");
            break;
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no key twice: {seen:?}");
    assert_eq!(unique, created);

    let all = kms.client.list_keys().send().await.expect("ListKeys");
    assert_eq!(all.keys().len(), 7);
    assert!(!all.truncated());

    let r = kms
        .client
        .list_keys()
        .marker("definitely-not-a-marker")
        .send()
        .await;
    let e = r.expect_err("bad marker").into_service_error();
    assert!(
        matches!(e, ListKeysError::InvalidMarkerException(_)),
        "{e:?}"
    );

    let r = kms.client.list_keys().limit(0).send().await;
    expect_code(r, "ValidationException");
    let r = kms.client.list_keys().limit(1001).send().await;
    expect_code(r, "ValidationException");
}

async fn state_of(kms: &Kms, id: &str) -> KeyMetadata {
    kms.client
        .describe_key()
        .key_id(id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .expect("KeyMetadata")
        .clone()
}

#[tokio::test]
async fn enable_disable_and_update_description() {
    let kms = Kms::start().await;
    let id = kms.key().await;
    kms.client
        .disable_key()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKey");
    let m = state_of(&kms, &id).await;
    assert_eq!(m.key_state(), Some(&KeyState::Disabled));
    assert!(!m.enabled());
    // Disabling a disabled key is not an error.
    kms.client
        .disable_key()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKey again");
    kms.client
        .enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey");
    let m = state_of(&kms, &id).await;
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert!(m.enabled());
    kms.client
        .enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey again");

    // By ARN too.
    let arn = m.arn().expect("Arn").to_string();
    kms.client
        .update_key_description()
        .key_id(&arn)
        .description("new words")
        .send()
        .await
        .expect("UpdateKeyDescription");
    assert_eq!(state_of(&kms, &id).await.description(), Some("new words"));
    kms.client
        .update_key_description()
        .key_id(&id)
        .description("")
        .send()
        .await
        .expect("UpdateKeyDescription to empty");
    assert_eq!(state_of(&kms, &id).await.description(), Some(""));

    let msg = expect_code(
        kms.client
            .update_key_description()
            .key_id(&id)
            .description("d".repeat(8193))
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("description"), "{msg}");
    kms.client
        .update_key_description()
        .key_id(&id)
        .description("d".repeat(8192))
        .send()
        .await
        .expect("8192 characters");

    let missing = "11111111-2222-3333-4444-555555555555";
    expect_code(
        kms.client.enable_key().key_id(missing).send().await,
        "NotFoundException",
    );
    expect_code(
        kms.client.disable_key().key_id(missing).send().await,
        "NotFoundException",
    );
    expect_code(
        kms.client
            .update_key_description()
            .key_id(missing)
            .description("x")
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn schedule_key_deletion_default_window_and_twice() {
    let kms = Kms::start().await;
    let id = kms.key().await;
    let arn = state_of(&kms, &id).await.arn().expect("Arn").to_string();
    let before = now_secs();
    let out = kms
        .client
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let after = now_secs();
    assert_eq!(out.key_id(), Some(arn.as_str()), "KeyId is the key ARN");
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(out.pending_window_in_days(), Some(30));
    let when = secs(out.deletion_date().expect("DeletionDate"));
    assert!(
        when >= before + 30.0 * DAY - 2.0 && when <= after + 30.0 * DAY + 2.0,
        "DeletionDate {when} is 30 days after now ({before})"
    );

    let m = state_of(&kms, &id).await;
    assert_eq!(m.key_state(), Some(&KeyState::PendingDeletion));
    assert!(!m.enabled());
    assert_eq!(m.deletion_date(), out.deletion_date());

    let r = kms.client.schedule_key_deletion().key_id(&id).send().await;
    let e = r.expect_err("scheduling twice").into_service_error();
    assert!(
        matches!(e, ScheduleKeyDeletionError::KmsInvalidStateException(_)),
        "{e:?}"
    );
    // The first schedule stands.
    assert_eq!(
        state_of(&kms, &id).await.deletion_date(),
        out.deletion_date()
    );
}

#[tokio::test]
async fn schedule_key_deletion_window_bounds() {
    let kms = Kms::start().await;
    let id = kms.key().await;
    for days in [6, 31, 0, 365] {
        let r = kms
            .client
            .schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(days)
            .send()
            .await;
        let msg = expect_code(r, "ValidationException");
        assert!(msg.contains("pendingWindowInDays"), "{days}: {msg}");
    }
    let r = kms
        .client
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(6)
        .send()
        .await;
    let msg = expect_code(r, "ValidationException");
    assert!(
        msg.contains("Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7"),
        "{msg}"
    );
    let r = kms
        .client
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(31)
        .send()
        .await;
    let msg = expect_code(r, "ValidationException");
    assert!(
        msg.contains("Member must have value less than or equal to 30"),
        "{msg}"
    );
    // Still enabled: the refused calls changed nothing.
    assert_eq!(
        state_of(&kms, &id).await.key_state(),
        Some(&KeyState::Enabled)
    );

    let before = now_secs();
    let out = kms
        .client
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("7 days");
    let after = now_secs();
    assert_eq!(out.pending_window_in_days(), Some(7));
    let when = secs(out.deletion_date().expect("DeletionDate"));
    assert!(
        when >= before + 7.0 * DAY - 2.0 && when <= after + 7.0 * DAY + 2.0,
        "{when}"
    );

    let other = kms.key().await;
    let out = kms
        .client
        .schedule_key_deletion()
        .key_id(&other)
        .pending_window_in_days(30)
        .send()
        .await
        .expect("30 days");
    assert_eq!(out.pending_window_in_days(), Some(30));
}

#[tokio::test]
async fn cancel_key_deletion_leaves_the_key_disabled() {
    let kms = Kms::start().await;
    let id = kms.key().await;
    let arn = state_of(&kms, &id).await.arn().expect("Arn").to_string();

    let r = kms.client.cancel_key_deletion().key_id(&id).send().await;
    let e = r.expect_err("not pending").into_service_error();
    assert!(
        matches!(e, CancelKeyDeletionError::KmsInvalidStateException(_)),
        "{e:?}"
    );

    kms.client
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let out = kms
        .client
        .cancel_key_deletion()
        .key_id(&arn)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(out.key_id(), Some(arn.as_str()));
    let m = state_of(&kms, &id).await;
    assert_eq!(m.key_state(), Some(&KeyState::Disabled));
    assert!(!m.enabled());
    assert_eq!(m.deletion_date(), None);

    // Cancelling again: the key is Disabled, not pending deletion.
    let r = kms.client.cancel_key_deletion().key_id(&id).send().await;
    expect_code(r, "KMSInvalidStateException");

    // And it can be enabled and used again.
    kms.client
        .enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey");
    let ct = kms.encrypt(&id, b"back").await;
    assert!(!ct.is_empty());

    expect_code(
        kms.client
            .cancel_key_deletion()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
}
