//! Grants as tables: which requests a grant's encryption-context constraint lets through,
//! which grant operations each key type takes, and what a grantee may create through a grant
//! that allows CreateGrant. The grantee (`bob`) has no IAM policy, so a grant is all that can
//! allow it; a refusal is AWS's implicit denial, checked word for word.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const ERIN: &str = "arn:aws:iam::111122223333:user/erin";

fn bob() -> Caller {
    Caller::user(
        AccountId::parse("111122223333").expect("account"),
        "bob",
        Vec::new(),
    )
}

/// AWS's message when nothing allows the request.
fn implicit_denial(action: &str, arn: &str) -> String {
    format!(
        "User: {BOB} is not authorized to perform: {action} on resource: {arn} because no identity-based policy allows the {action} action"
    )
}

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn key_arn(kms: &Kms, id: &str) -> String {
    let d = call(kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    s(&d["KeyMetadata"], "Arn")
}

/// A symmetric key with one grant to bob for `operations` under `constraints` (a
/// `Constraints` object or null).
async fn granted_key(kms: &Kms, operations: &[&str], constraints: Value) -> (String, String) {
    let id = new_key(kms).await;
    let mut body = json!({"KeyId": id, "GranteePrincipal": BOB, "Operations": operations});
    if !constraints.is_null() {
        body["Constraints"] = constraints;
    }
    call(kms, Operation::CreateGrant, body)
        .await
        .expect("CreateGrant");
    let arn = key_arn(kms, &id).await;
    (id, arn)
}

/// Each row: a constraint, the context bob encrypts under, and whether the grant allows it.
#[tokio::test]
async fn encryption_context_constraints_against_request_contexts() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let equals = json!({"EncryptionContextEquals": {"dept": "x"}});
    let equals_two = json!({"EncryptionContextEquals": {"dept": "x", "app": "y"}});
    let subset = json!({"EncryptionContextSubset": {"dept": "x"}});
    let subset_two = json!({"EncryptionContextSubset": {"dept": "x", "app": "y"}});
    let none = Value::Null;
    let rows: Vec<(&str, &Value, BTreeMap<String, String>, bool)> = vec![
        ("no constraint, no context", &none, ctx(&[]), true),
        (
            "no constraint, any context",
            &none,
            ctx(&[("a", "b")]),
            true,
        ),
        (
            "equals, the same pair",
            &equals,
            ctx(&[("dept", "x")]),
            true,
        ),
        (
            "equals, an extra pair",
            &equals,
            ctx(&[("dept", "x"), ("a", "b")]),
            false,
        ),
        ("equals, no context", &equals, ctx(&[]), false),
        (
            "equals, another value",
            &equals,
            ctx(&[("dept", "y")]),
            false,
        ),
        (
            "equals, the value in capitals",
            &equals,
            ctx(&[("dept", "X")]),
            false,
        ),
        (
            "equals, the key in capitals",
            &equals,
            ctx(&[("DEPT", "x")]),
            false,
        ),
        (
            "equals two, both",
            &equals_two,
            ctx(&[("app", "y"), ("dept", "x")]),
            true,
        ),
        (
            "equals two, one of them",
            &equals_two,
            ctx(&[("dept", "x")]),
            false,
        ),
        (
            "subset, the same pair",
            &subset,
            ctx(&[("dept", "x")]),
            true,
        ),
        (
            "subset, an extra pair",
            &subset,
            ctx(&[("dept", "x"), ("a", "b")]),
            true,
        ),
        ("subset, no context", &subset, ctx(&[]), false),
        (
            "subset, another value",
            &subset,
            ctx(&[("dept", "y")]),
            false,
        ),
        (
            "subset, the key in capitals",
            &subset,
            ctx(&[("DEPT", "x")]),
            false,
        ),
        (
            "subset, the value as a key",
            &subset,
            ctx(&[("x", "dept")]),
            false,
        ),
        (
            "subset two, both and more",
            &subset_two,
            ctx(&[("app", "y"), ("dept", "x"), ("z", "z")]),
            true,
        ),
        (
            "subset two, one of them",
            &subset_two,
            ctx(&[("dept", "x"), ("z", "z")]),
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, constraint, context, allowed) in &rows {
        let (id, arn) =
            granted_key(&kms, &["Encrypt", "GenerateDataKey"], (*constraint).clone()).await;
        for (op, body) in [
            (
                Operation::Encrypt,
                json!({"KeyId": id, "Plaintext": "eA==", "EncryptionContext": context}),
            ),
            (
                Operation::GenerateDataKey,
                json!({"KeyId": id, "NumberOfBytes": 16, "EncryptionContext": context}),
            ),
        ] {
            let got = call_in(&kms, "us-east-1", &bob(), op, body).await;
            let action = op.iam_action();
            let ok = match (&got, allowed) {
                (Ok(_), true) => true,
                (Err(e), false) => {
                    e.code == ErrorCode::AccessDeniedException
                        && e.message == implicit_denial(action, &arn)
                }
                _ => false,
            };
            if !ok {
                let got = outcome(&got);
                failures.push(format!("{name} ({action}): allowed {allowed}, got {got}"));
            }
        }
    }
    report(&failures, rows.len(), "rows");
}

/// Decrypt and ReEncrypt check the constraint against the context of their own side: Decrypt
/// and ReEncryptFrom the source context, ReEncryptTo the destination context.
#[tokio::test]
async fn each_side_of_reencrypt_checks_its_own_context() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let constrained = json!({"EncryptionContextSubset": {"dept": "x"}});
    let (src, src_arn) =
        granted_key(&kms, &["Decrypt", "ReEncryptFrom"], constrained.clone()).await;
    let (dst, dst_arn) = granted_key(&kms, &["ReEncryptTo"], constrained).await;
    let make = |context: BTreeMap<String, String>| {
        let kms = &kms;
        let src = src.clone();
        async move {
            let out = call(
                kms,
                Operation::Encrypt,
                json!({"KeyId": src, "Plaintext": "eA==", "EncryptionContext": context}),
            )
            .await
            .expect("encrypt");
            s(&out, "CiphertextBlob")
        }
    };
    let under_x = make(ctx(&[("dept", "x")])).await;
    let under_y = make(ctx(&[("dept", "y")])).await;
    let x = ctx(&[("dept", "x")]);
    let y = ctx(&[("dept", "y")]);
    // (row, operation, body, the action and key ARN it is denied on, if denied)
    type Row<'a> = (&'a str, Operation, Value, Option<(&'a str, &'a str)>);
    let rows: Vec<Row> = vec![
        (
            "Decrypt under the constraint",
            Operation::Decrypt,
            json!({"CiphertextBlob": under_x, "EncryptionContext": x}),
            None,
        ),
        (
            "Decrypt outside it",
            Operation::Decrypt,
            json!({"CiphertextBlob": under_y, "EncryptionContext": y}),
            Some(("kms:Decrypt", &src_arn)),
        ),
        (
            "ReEncrypt, both sides within",
            Operation::ReEncrypt,
            json!({"CiphertextBlob": under_x, "SourceEncryptionContext": x,
                   "DestinationKeyId": dst, "DestinationEncryptionContext": x}),
            None,
        ),
        (
            "ReEncrypt, the source outside",
            Operation::ReEncrypt,
            json!({"CiphertextBlob": under_y, "SourceEncryptionContext": y,
                   "DestinationKeyId": dst, "DestinationEncryptionContext": x}),
            Some(("kms:ReEncryptFrom", &src_arn)),
        ),
        (
            "ReEncrypt, the destination outside",
            Operation::ReEncrypt,
            json!({"CiphertextBlob": under_x, "SourceEncryptionContext": x,
                   "DestinationKeyId": dst, "DestinationEncryptionContext": y}),
            Some(("kms:ReEncryptTo", &dst_arn)),
        ),
        (
            "ReEncrypt, the destination context omitted",
            Operation::ReEncrypt,
            json!({"CiphertextBlob": under_x, "SourceEncryptionContext": x,
                   "DestinationKeyId": dst}),
            Some(("kms:ReEncryptTo", &dst_arn)),
        ),
    ];
    let mut failures = Vec::new();
    for (name, op, body, denied) in &rows {
        let got = call_in(&kms, "us-east-1", &bob(), *op, body.clone()).await;
        let ok = match (&got, denied) {
            (Ok(_), None) => true,
            (Err(e), Some((action, arn))) => {
                e.code == ErrorCode::AccessDeniedException
                    && e.message == implicit_denial(action, arn)
            }
            _ => false,
        };
        if !ok {
            let got = outcome(&got);
            failures.push(format!("{name}: denied {denied:?}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every grant operation of the model against every key type: AWS's table of grant operations
/// by key type (DescribeKey, CreateGrant and RetireGrant on every key).
#[tokio::test]
async fn grant_operations_by_key_type() {
    const ALL: [&str; 19] = [
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "Sign",
        "Verify",
        "GetPublicKey",
        "CreateGrant",
        "RetireGrant",
        "DescribeKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
    ];
    const EVERY_KEY: [&str; 3] = ["CreateGrant", "RetireGrant", "DescribeKey"];
    let types: [(&str, &str, &[&str]); 6] = [
        (
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            &[
                "Decrypt",
                "Encrypt",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "ReEncryptFrom",
                "ReEncryptTo",
                "GenerateDataKeyPair",
                "GenerateDataKeyPairWithoutPlaintext",
            ],
        ),
        (
            "RSA_2048",
            "ENCRYPT_DECRYPT",
            &[
                "Decrypt",
                "Encrypt",
                "ReEncryptFrom",
                "ReEncryptTo",
                "GetPublicKey",
            ],
        ),
        (
            "ECC_NIST_P256",
            "SIGN_VERIFY",
            &["Sign", "Verify", "GetPublicKey"],
        ),
        (
            "HMAC_256",
            "GENERATE_VERIFY_MAC",
            &["GenerateMac", "VerifyMac"],
        ),
        (
            "ECC_NIST_P256",
            "KEY_AGREEMENT",
            &["DeriveSharedSecret", "GetPublicKey"],
        ),
        (
            "ML_KEM_768",
            "ENCAPSULATE_DECAPSULATE",
            &["Encapsulate", "Decapsulate", "GetPublicKey"],
        ),
    ];
    let fx = Fixture::new();
    let kms = fx.open().await;
    let mut failures = Vec::new();
    for (spec, usage, own) in types {
        let created = call(
            &kms,
            Operation::CreateKey,
            json!({"KeySpec": spec, "KeyUsage": usage}),
        )
        .await
        .expect("create");
        let id = s(&created["KeyMetadata"], "KeyId");
        for op in ALL {
            let valid = own.contains(&op) || EVERY_KEY.contains(&op);
            let got = call(
                &kms,
                Operation::CreateGrant,
                json!({"KeyId": id, "GranteePrincipal": BOB, "Operations": [op]}),
            )
            .await;
            let want = format!("Grant operation {op} is not valid for a {spec} key.");
            let ok = match &got {
                Ok(_) => valid,
                Err(e) => !valid && e.code == ErrorCode::ValidationException && e.message == want,
            };
            if !ok {
                let got = outcome(&got);
                failures.push(format!("{op} on {spec} {usage}: valid {valid}, got {got}"));
            }
        }
        // A constraint is for symmetric encryption keys only.
        let constrained = call(
            &kms,
            Operation::CreateGrant,
            json!({"KeyId": id, "GranteePrincipal": BOB, "Operations": ["DescribeKey"],
                   "Constraints": {"EncryptionContextSubset": {"a": "b"}}}),
        )
        .await;
        let ok = match &constrained {
            Ok(_) => spec == "SYMMETRIC_DEFAULT",
            Err(e) => {
                spec != "SYMMETRIC_DEFAULT"
                    && e.code == ErrorCode::ValidationException
                    && e.message == "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key."
            }
        };
        if !ok {
            failures.push(format!(
                "a constrained grant on {spec} {usage}: {constrained:?}"
            ));
        }
    }
    report(&failures, types.len() * (ALL.len() + 1), "cells");
}

/// A grantee creating grants through its grant: only the grant's operations, and constraints at
/// least as strict as the grant's.
#[tokio::test]
async fn grants_made_through_a_grant_stay_within_it() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let subset = json!({"EncryptionContextSubset": {"dept": "x"}});
    let equals = json!({"EncryptionContextEquals": {"dept": "x"}});
    let none = Value::Null;
    let child = |ops: &[&str], constraints: Value| {
        let mut body = json!({"GranteePrincipal": ERIN, "Operations": ops});
        if !constraints.is_null() {
            body["Constraints"] = constraints;
        }
        body
    };
    // (row, parent constraint, child request, allowed)
    let rows: Vec<(&str, &Value, Value, bool)> = vec![
        (
            "unconstrained, one of its operations",
            &none,
            child(&["Encrypt"], Value::Null),
            true,
        ),
        (
            "unconstrained, all of them",
            &none,
            child(&["Encrypt", "Decrypt", "CreateGrant"], Value::Null),
            true,
        ),
        (
            "unconstrained, another operation",
            &none,
            child(&["GenerateDataKey"], Value::Null),
            false,
        ),
        (
            "unconstrained, one more operation",
            &none,
            child(&["Encrypt", "ReEncryptFrom"], Value::Null),
            false,
        ),
        (
            "unconstrained, a constrained child",
            &none,
            child(&["Encrypt"], subset.clone()),
            true,
        ),
        (
            "subset, no constraint",
            &subset,
            child(&["Encrypt"], Value::Null),
            false,
        ),
        (
            "subset, the same",
            &subset,
            child(&["Encrypt"], subset.clone()),
            true,
        ),
        (
            "subset, a stricter subset",
            &subset,
            child(
                &["Encrypt"],
                json!({"EncryptionContextSubset": {"dept": "x", "a": "b"}}),
            ),
            true,
        ),
        (
            "subset, another value",
            &subset,
            child(
                &["Encrypt"],
                json!({"EncryptionContextSubset": {"dept": "y"}}),
            ),
            false,
        ),
        (
            "subset, equals within it",
            &subset,
            child(&["Encrypt"], equals.clone()),
            true,
        ),
        (
            "subset, equals outside it",
            &subset,
            child(&["Encrypt"], json!({"EncryptionContextEquals": {"a": "b"}})),
            false,
        ),
        (
            "equals, the same",
            &equals,
            child(&["Encrypt"], equals.clone()),
            true,
        ),
        (
            "equals, no constraint",
            &equals,
            child(&["Encrypt"], Value::Null),
            false,
        ),
        (
            "equals, a subset",
            &equals,
            child(&["Encrypt"], subset.clone()),
            false,
        ),
        (
            "equals, a larger equals",
            &equals,
            child(
                &["Encrypt"],
                json!({"EncryptionContextEquals": {"dept": "x", "a": "b"}}),
            ),
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, parent, request, allowed) in &rows {
        let (id, arn) = granted_key(
            &kms,
            &["Encrypt", "Decrypt", "CreateGrant"],
            (*parent).clone(),
        )
        .await;
        let mut body = request.clone();
        body["KeyId"] = json!(id);
        let got = call_in(&kms, "us-east-1", &bob(), Operation::CreateGrant, body).await;
        let ok = match (&got, allowed) {
            (Ok(_), true) => true,
            (Err(e), false) => {
                e.code == ErrorCode::AccessDeniedException
                    && e.message == implicit_denial("kms:CreateGrant", &arn)
            }
            _ => false,
        };
        if !ok {
            let got = outcome(&got);
            failures.push(format!("{name}: allowed {allowed}, got {got}"));
        }
    }
    report(&failures, rows.len(), "rows");
}

/// A grant's operations as listed: in the order asked, each once.
#[tokio::test]
async fn a_grant_lists_each_operation_once() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let rows: [(&[&str], &[&str]); 4] = [
        (&["Encrypt"], &["Encrypt"]),
        (&["Decrypt", "Encrypt"], &["Decrypt", "Encrypt"]),
        (&["Encrypt", "Encrypt"], &["Encrypt"]),
        (
            &["Encrypt", "Decrypt", "Encrypt", "Decrypt"],
            &["Encrypt", "Decrypt"],
        ),
    ];
    let mut failures = Vec::new();
    for (asked, listed) in rows {
        let id = new_key(&kms).await;
        call(
            &kms,
            Operation::CreateGrant,
            json!({"KeyId": id, "GranteePrincipal": BOB, "Operations": asked}),
        )
        .await
        .expect("CreateGrant");
        let out = call(&kms, Operation::ListGrants, json!({"KeyId": id}))
            .await
            .expect("ListGrants");
        if out["Grants"][0]["Operations"] != json!(listed) {
            failures.push(format!(
                "{asked:?}: listed {}, want {listed:?}",
                out["Grants"][0]["Operations"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
