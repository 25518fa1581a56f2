//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

use aws_sdk_kms::operation::put_key_policy::PutKeyPolicyError;

use crate::common::{expect_code, Kms};

async fn policy_of(kms: &Kms, key: &str) -> String {
    kms.client
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy")
        .policy()
        .expect("Policy")
        .to_string()
}

#[tokio::test]
async fn put_then_get_key_policy() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let account = kms.account().await;
    let default = policy_of(&kms, &key).await;
    assert!(
        default.contains(&format!("arn:aws:iam::{account}:root")),
        "{default}"
    );
    let out = kms
        .client
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy without PolicyName");
    assert_eq!(out.policy(), Some(default.as_str()));
    assert_eq!(out.policy_name(), Some("default"));

    let mine = format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{{\"Sid\": \"x\", \"Effect\": \"Allow\", \"Principal\": {{\"AWS\": \"arn:aws:iam::{account}:user/admin\"}}, \"Action\": \"kms:*\", \"Resource\": \"*\"}}]\n}}"
    );
    kms.client
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(&mine)
        .send()
        .await
        .expect("PutKeyPolicy");
    assert_eq!(policy_of(&kms, &key).await, mine, "returned byte for byte");

    // Also without PolicyName (optional in the current model) and by key ARN.
    let arn = format!("arn:aws:kms:us-east-1:{account}:key/{key}");
    let second = mine.replace("\"x\"", "\"y\"");
    kms.client
        .put_key_policy()
        .key_id(&arn)
        .policy(&second)
        .send()
        .await
        .expect("PutKeyPolicy without PolicyName");
    assert_eq!(policy_of(&kms, &arn).await, second);
}

#[tokio::test]
async fn malformed_policy_is_refused() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let before = policy_of(&kms, &key).await;
    for bad in ["{not json", "[]", "{\"Version\":\"2012-10-17\"}"] {
        let e = kms
            .client
            .put_key_policy()
            .key_id(&key)
            .policy_name("default")
            .policy(bad)
            .send()
            .await
            .expect_err(bad)
            .into_service_error();
        assert!(
            matches!(e, PutKeyPolicyError::MalformedPolicyDocumentException(_)),
            "{bad}: {e:?}"
        );
    }
    assert_eq!(policy_of(&kms, &key).await, before, "unchanged");
    expect_code(
        kms.client
            .put_key_policy()
            .key_id("11111111-2222-3333-4444-555555555555")
            .policy_name("default")
            .policy(&before)
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn list_key_policies_is_default() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let out = kms
        .client
        .list_key_policies()
        .key_id(&key)
        .send()
        .await
        .expect("ListKeyPolicies");
    assert_eq!(out.policy_names(), &["default".to_string()]);
    assert!(!out.truncated());
    assert_eq!(out.next_marker(), None);
    expect_code(
        kms.client
            .list_key_policies()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
}
