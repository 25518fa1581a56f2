//! Cross-account use as a table: a caller of another account, allowed by the key policy and by
//! its own IAM policy, names the key by its ARN in every operation that takes a key. The
//! operations AWS documents for cross-account use work; for the others AWS answers as if the
//! key did not exist.

use serde_json::json;

use super::*;

const THEM: &str = "444455556666";

fn them() -> Caller {
    let admin = policy::Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        policy::PolicyKind::Identity,
    )
    .expect("policy");
    Caller::user(
        AccountId::parse(THEM).expect("account"),
        "them",
        vec![admin],
    )
}

/// The key policy: this account administers, the other account may do everything too.
fn shared_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{THEM}:root")},
             "Action": "kms:*", "Resource": "*"}
        ]
    })
    .to_string()
}

/// A row's request, given the key's ARN, a ciphertext under it and a grant on it.
type Request = fn(&str, &str, &str) -> (Operation, Value);

#[tokio::test]
async fn only_cross_account_operations_find_another_accounts_key() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    // (operation, request, whether the other account reaches the key)
    let rows: Vec<(&str, Request, bool)> = vec![
        (
            "Encrypt",
            |k, _, _| (Operation::Encrypt, json!({"KeyId": k, "Plaintext": "eA=="})),
            true,
        ),
        (
            "Decrypt",
            |k, ct, _| {
                (
                    Operation::Decrypt,
                    json!({"CiphertextBlob": ct, "KeyId": k}),
                )
            },
            true,
        ),
        (
            "ReEncrypt",
            |k, ct, _| {
                (
                    Operation::ReEncrypt,
                    json!({"CiphertextBlob": ct, "DestinationKeyId": k}),
                )
            },
            true,
        ),
        (
            "GenerateDataKey",
            |k, _, _| {
                (
                    Operation::GenerateDataKey,
                    json!({"KeyId": k, "NumberOfBytes": 16}),
                )
            },
            true,
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            |k, _, _| {
                (
                    Operation::GenerateDataKeyWithoutPlaintext,
                    json!({"KeyId": k, "NumberOfBytes": 16}),
                )
            },
            true,
        ),
        (
            "GenerateDataKeyPair",
            |k, _, _| {
                (
                    Operation::GenerateDataKeyPair,
                    json!({"KeyId": k, "KeyPairSpec": "ECC_NIST_P256"}),
                )
            },
            true,
        ),
        (
            "DescribeKey",
            |k, _, _| (Operation::DescribeKey, json!({"KeyId": k})),
            true,
        ),
        (
            "CreateGrant",
            |k, _, _| {
                (
                    Operation::CreateGrant,
                    json!({"KeyId": k, "GranteePrincipal": "arn:aws:iam::444455556666:user/x", "Operations": ["Encrypt"]}),
                )
            },
            true,
        ),
        (
            "ListGrants",
            |k, _, _| (Operation::ListGrants, json!({"KeyId": k})),
            true,
        ),
        (
            "RevokeGrant",
            |k, _, g| (Operation::RevokeGrant, json!({"KeyId": k, "GrantId": g})),
            true,
        ),
        (
            "GetKeyRotationStatus",
            |k, _, _| (Operation::GetKeyRotationStatus, json!({"KeyId": k})),
            true,
        ),
        (
            "EnableKey",
            |k, _, _| (Operation::EnableKey, json!({"KeyId": k})),
            false,
        ),
        (
            "DisableKey",
            |k, _, _| (Operation::DisableKey, json!({"KeyId": k})),
            false,
        ),
        (
            "UpdateKeyDescription",
            |k, _, _| {
                (
                    Operation::UpdateKeyDescription,
                    json!({"KeyId": k, "Description": "theirs"}),
                )
            },
            false,
        ),
        (
            "TagResource",
            |k, _, _| {
                (
                    Operation::TagResource,
                    json!({"KeyId": k, "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
                )
            },
            false,
        ),
        (
            "UntagResource",
            |k, _, _| {
                (
                    Operation::UntagResource,
                    json!({"KeyId": k, "TagKeys": ["k"]}),
                )
            },
            false,
        ),
        (
            "ScheduleKeyDeletion",
            |k, _, _| (Operation::ScheduleKeyDeletion, json!({"KeyId": k})),
            false,
        ),
        (
            "CancelKeyDeletion",
            |k, _, _| (Operation::CancelKeyDeletion, json!({"KeyId": k})),
            false,
        ),
        (
            "EnableKeyRotation",
            |k, _, _| (Operation::EnableKeyRotation, json!({"KeyId": k})),
            false,
        ),
        (
            "DisableKeyRotation",
            |k, _, _| (Operation::DisableKeyRotation, json!({"KeyId": k})),
            false,
        ),
        (
            "RotateKeyOnDemand",
            |k, _, _| (Operation::RotateKeyOnDemand, json!({"KeyId": k})),
            false,
        ),
        (
            "ListKeyRotations",
            |k, _, _| (Operation::ListKeyRotations, json!({"KeyId": k})),
            false,
        ),
        (
            "GetKeyPolicy",
            |k, _, _| (Operation::GetKeyPolicy, json!({"KeyId": k})),
            false,
        ),
        (
            "ListKeyPolicies",
            |k, _, _| (Operation::ListKeyPolicies, json!({"KeyId": k})),
            false,
        ),
        (
            "ListResourceTags",
            |k, _, _| (Operation::ListResourceTags, json!({"KeyId": k})),
            false,
        ),
        (
            "GetKeyLastUsage",
            |k, _, _| (Operation::GetKeyLastUsage, json!({"KeyId": k})),
            false,
        ),
        (
            "CreateAlias",
            |k, _, _| {
                (
                    Operation::CreateAlias,
                    json!({"AliasName": "alias/to-theirs", "TargetKeyId": k}),
                )
            },
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, request, reaches) in &rows {
        let created = call(
            &kms,
            Operation::CreateKey,
            json!({"Policy": shared_policy()}),
        )
        .await
        .expect("create");
        let arn = s(&created["KeyMetadata"], "Arn");
        let ct = s(
            &call(
                &kms,
                Operation::Encrypt,
                json!({"KeyId": arn, "Plaintext": "eA=="}),
            )
            .await
            .expect("encrypt"),
            "CiphertextBlob",
        );
        let grant = s(
            &call(
                &kms,
                Operation::CreateGrant,
                json!({"KeyId": arn, "GranteePrincipal": "arn:aws:iam::111122223333:user/g", "Operations": ["Decrypt"]}),
            )
            .await
            .expect("grant"),
            "GrantId",
        );
        let (op, body) = request(&arn, &ct, &grant);
        let got = call_in(&kms, "us-east-1", &them(), op, body).await;
        let ok = match &got {
            Ok(_) => *reaches,
            Err(e) => {
                !*reaches
                    && e.code == ErrorCode::NotFoundException
                    && e.message == format!("Key '{arn}' does not exist")
            }
        };
        if !ok {
            let got = outcome(&got);
            failures.push(format!("{name}: reaches {reaches}, got {got}"));
        }
    }
    report(&failures, rows.len(), "rows");
}
