//! Alias rules as tables: which names CreateAlias takes, which targets it and UpdateAlias
//! accept, and AWS's exact refusal for each that it does not. A refused request changes nothing
//! (checked after each table).

use serde_json::json;

use super::*;

/// An answer: success, or an exact error (`{name}` stands for the alias name of the row,
/// `{arn}` for the target key's ARN, `{alias}` for the alias's ARN).
type Want = Option<(ErrorCode, &'static str)>;

/// The model's pattern, checked when the body is decoded; `:` passes it and is refused after.
const PATTERN: &str = "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$";

fn names() -> Vec<(String, Want)> {
    let ok = None;
    let long = |n: usize| format!("alias/{}", "a".repeat(n - "alias/".len()));
    vec![
        ("alias/plain".into(), ok),
        ("alias/app/data_key-1".into(), ok),
        ("alias/UPPER-lower_09".into(), ok),
        // `aws` is reserved only as a path segment.
        ("alias/awsome".into(), ok),
        ("alias/aws".into(), ok),
        (long(256), ok),
        (
            long(257),
            Some((
                ErrorCode::ValidationException,
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256",
            )),
        ),
        (
            String::new(),
            Some((
                ErrorCode::ValidationException,
                "2 validation errors detected: Value '' at 'aliasName' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            )),
        ),
        (
            "no-prefix".into(),
            Some((
                ErrorCode::ValidationException,
                "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
            )),
        ),
        (
            "Alias/upper-prefix".into(),
            Some((
                ErrorCode::ValidationException,
                "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
            )),
        ),
        (
            "alias/".into(),
            Some((
                ErrorCode::InvalidAliasNameException,
                "Alias name must not be empty after 'alias/'.",
            )),
        ),
        (
            "alias/aws/mine".into(),
            Some((
                ErrorCode::InvalidAliasNameException,
                "The alias/aws/ prefix is reserved for AWS managed keys.",
            )),
        ),
        (
            "alias/with:colon".into(),
            Some((ErrorCode::ValidationException, "alias/with:colon contains invalid characters for an alias")),
        ),
        (
            "alias/dots.are.bad".into(),
            Some((ErrorCode::ValidationException, PATTERN)),
        ),
        ("alias/has space".into(), Some((ErrorCode::ValidationException, PATTERN))),
        ("alias/bang!".into(), Some((ErrorCode::ValidationException, PATTERN))),
        ("alias/ünicode".into(), Some((ErrorCode::ValidationException, PATTERN))),
    ]
}

/// Compares an answer with a [`Want`] after substituting `{arn}` and `{alias}`.
fn check(
    row: &str,
    got: &Result<Value, KmsError>,
    want: Want,
    subst: &[(&str, &str)],
    failures: &mut Vec<String>,
) {
    let want = want.map(|(code, m)| {
        let mut m = m.to_string();
        for (from, to) in subst {
            m = m.replace(from, to);
        }
        (code, m)
    });
    compare(row, got, &want, failures);
}

async fn alias_names(kms: &Kms) -> Vec<String> {
    let listed = call(kms, Operation::ListAliases, json!({"Limit": 1000}))
        .await
        .expect("list");
    listed["Aliases"]
        .as_array()
        .expect("aliases")
        .iter()
        .filter_map(|a| a["AliasName"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn alias_names_are_checked_with_aws_messages() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let key = new_key(&kms).await;
    let mut failures = Vec::new();
    let mut accepted = Vec::new();
    let rows = names();
    for (name, want) in &rows {
        let alias_arn = format!("arn:aws:kms:us-east-1:111122223333:{name}");
        let got = call(
            &kms,
            Operation::CreateAlias,
            json!({"AliasName": name, "TargetKeyId": key}),
        )
        .await;
        check(
            &format!("CreateAlias {name:?}"),
            &got,
            *want,
            &[("{alias}", &alias_arn), ("{name}", name)],
            &mut failures,
        );
        if got.is_ok() {
            accepted.push(name.clone());
        }
    }
    report(&failures, rows.len(), "rows");
    let mut listed = alias_names(&kms).await;
    listed.sort();
    accepted.sort();
    assert_eq!(listed, accepted, "exactly the accepted names exist");
}

/// The account of the other account's key in [`alias_targets_and_operations`].
const ELSEWHERE: &str = "444455556666";

#[tokio::test]
async fn alias_targets_and_operations() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let a = new_key(&kms).await;
    let b = new_key(&kms).await;
    let rsa = s(
        &call(
            &kms,
            Operation::CreateKey,
            json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
        )
        .await
        .expect("rsa")["KeyMetadata"],
        "KeyId",
    );
    let other_account = {
        let admin = policy::Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
            policy::PolicyKind::Identity,
        )
        .expect("policy");
        let them = Caller::user(
            AccountId::parse(ELSEWHERE).expect("account"),
            "them",
            vec![admin],
        );
        let k = call_in(&kms, "us-east-1", &them, Operation::CreateKey, json!({}))
            .await
            .expect("their key");
        s(&k["KeyMetadata"], "Arn")
    };
    let other_region = s(
        &call_in(
            &kms,
            "eu-west-1",
            &caller(),
            Operation::CreateKey,
            json!({}),
        )
        .await
        .expect("west key")["KeyMetadata"],
        "Arn",
    );
    for (name, target) in [("alias/taken", &a), ("alias/moving", &a)] {
        call(
            &kms,
            Operation::CreateAlias,
            json!({"AliasName": name, "TargetKeyId": target}),
        )
        .await
        .expect("alias");
    }
    let arn_of = |id: &str| format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
    let missing = "11111111-2222-3333-4444-555555555555";
    let not_found_key = Some((
        ErrorCode::NotFoundException,
        "Key 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555' does not exist",
    ));
    let rows: Vec<(&str, Operation, Value, Want)> = vec![
        (
            "create by key id",
            Operation::CreateAlias,
            json!({"AliasName": "alias/by-id", "TargetKeyId": a}),
            None,
        ),
        (
            "create by key ARN",
            Operation::CreateAlias,
            json!({"AliasName": "alias/by-arn", "TargetKeyId": arn_of(&a)}),
            None,
        ),
        (
            "create a duplicate",
            Operation::CreateAlias,
            json!({"AliasName": "alias/taken", "TargetKeyId": b}),
            Some((
                ErrorCode::AlreadyExistsException,
                "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/taken already exists",
            )),
        ),
        (
            "create targeting an alias",
            Operation::CreateAlias,
            json!({"AliasName": "alias/via-alias", "TargetKeyId": "alias/taken"}),
            Some((ErrorCode::NotFoundException, "Invalid keyId 'alias/taken'")),
        ),
        (
            "create targeting an alias ARN",
            Operation::CreateAlias,
            json!({"AliasName": "alias/via-alias-arn",
                   "TargetKeyId": "arn:aws:kms:us-east-1:111122223333:alias/taken"}),
            Some((ErrorCode::InvalidArnException, "Invalid arn arn:aws:kms:us-east-1:111122223333:alias/taken")),
        ),
        (
            "create targeting a missing key",
            Operation::CreateAlias,
            json!({"AliasName": "alias/to-nothing", "TargetKeyId": missing}),
            not_found_key,
        ),
        // CreateAlias has no cross-account use: AWS answers as if the key did not exist.
        (
            "create targeting another account's key",
            Operation::CreateAlias,
            json!({"AliasName": "alias/theirs", "TargetKeyId": other_account}),
            Some((ErrorCode::NotFoundException, "Key '{other_account}' does not exist")),
        ),
        (
            "create targeting another Region's key",
            Operation::CreateAlias,
            json!({"AliasName": "alias/western", "TargetKeyId": other_region}),
            Some((ErrorCode::NotFoundException, "Invalid arn eu-west-1")),
        ),
        (
            "update to another key",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/moving", "TargetKeyId": b}),
            None,
        ),
        (
            "update to the key it names",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/moving", "TargetKeyId": b}),
            None,
        ),
        (
            "update to a key of another type",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/moving", "TargetKeyId": rsa}),
            Some((
                ErrorCode::ValidationException,
                "The new target key must have the same key spec and key usage as the current one.",
            )),
        ),
        (
            "update to a missing key",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/moving", "TargetKeyId": missing}),
            not_found_key,
        ),
        (
            "update to an alias",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/moving", "TargetKeyId": "alias/taken"}),
            Some((ErrorCode::NotFoundException, "Invalid keyId 'alias/taken'")),
        ),
        (
            "update an alias that does not exist",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/never-made", "TargetKeyId": a}),
            Some((ErrorCode::NotFoundException, "Alias arn:aws:kms:us-east-1:111122223333:alias/never-made is not found.")),
        ),
        (
            "update a reserved alias",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/aws/ebs", "TargetKeyId": a}),
            Some((ErrorCode::InvalidAliasNameException, "The alias/aws/ prefix is reserved for AWS managed keys.")),
        ),
        (
            "delete an alias that does not exist",
            Operation::DeleteAlias,
            json!({"AliasName": "alias/never-made"}),
            Some((ErrorCode::NotFoundException, "Alias arn:aws:kms:us-east-1:111122223333:alias/never-made is not found.")),
        ),
        (
            "delete a reserved alias",
            Operation::DeleteAlias,
            json!({"AliasName": "alias/aws/ebs"}),
            Some((ErrorCode::InvalidAliasNameException, "The alias/aws/ prefix is reserved for AWS managed keys.")),
        ),
        (
            "delete",
            Operation::DeleteAlias,
            json!({"AliasName": "alias/taken"}),
            None,
        ),
        (
            "delete twice",
            Operation::DeleteAlias,
            json!({"AliasName": "alias/taken"}),
            Some((ErrorCode::NotFoundException, "Alias arn:aws:kms:us-east-1:111122223333:alias/taken is not found.")),
        ),
    ];
    let mut failures = Vec::new();
    for (row, op, body, want) in &rows {
        let got = call(&kms, *op, body.clone()).await;
        check(
            row,
            &got,
            *want,
            &[("{other_account}", &other_account)],
            &mut failures,
        );
    }
    report(&failures, rows.len(), "rows");
    let mut listed = alias_names(&kms).await;
    listed.sort();
    assert_eq!(listed, ["alias/by-arn", "alias/by-id", "alias/moving"]);
    let d = call(
        &kms,
        Operation::DescribeKey,
        json!({"KeyId": "alias/moving"}),
    )
    .await
    .expect("describe");
    assert_eq!(
        s(&d["KeyMetadata"], "KeyId"),
        b,
        "the last successful update"
    );
}

/// AWS's quota: 50 aliases per key, counted at CreateAlias and at UpdateAlias onto the key.
#[tokio::test]
async fn a_key_takes_fifty_aliases() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let full = new_key(&kms).await;
    let other = new_key(&kms).await;
    for i in 0..50 {
        call(
            &kms,
            Operation::CreateAlias,
            json!({"AliasName": format!("alias/n{i}"), "TargetKeyId": full}),
        )
        .await
        .unwrap_or_else(|e| panic!("alias {i}: {e}"));
    }
    call(
        &kms,
        Operation::CreateAlias,
        json!({"AliasName": "alias/elsewhere", "TargetKeyId": other}),
    )
    .await
    .expect("another key has room");
    let limit = Some((
        ErrorCode::LimitExceededException,
        "A key can have at most 50 aliases.",
    ));
    let rows = [
        (
            "the 51st",
            Operation::CreateAlias,
            json!({"AliasName": "alias/n50", "TargetKeyId": full}),
            limit,
        ),
        (
            "moved onto a full key",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/elsewhere", "TargetKeyId": full}),
            limit,
        ),
        (
            "moved off it",
            Operation::UpdateAlias,
            json!({"AliasName": "alias/n0", "TargetKeyId": other}),
            None,
        ),
        (
            "then one more fits",
            Operation::CreateAlias,
            json!({"AliasName": "alias/n50", "TargetKeyId": full}),
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (row, op, body, want) in &rows {
        let got = call(&kms, *op, body.clone()).await;
        check(row, &got, *want, &[], &mut failures);
    }
    report(&failures, rows.len(), "rows");
    let of_full = call(
        &kms,
        Operation::ListAliases,
        json!({"KeyId": full, "Limit": 100}),
    )
    .await
    .expect("list");
    assert_eq!(of_full["Aliases"].as_array().map(Vec::len), Some(50));
}
