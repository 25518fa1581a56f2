//! Tag rules as a table: lengths (the model's, checked when the body is decoded), the reserved
//! `aws:` prefix, duplicates, and the quota of 50 tags per key counted after overwrites. Each
//! row runs on a fresh key that already carries `existing` tags, and a refused row leaves them
//! as they were.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

/// One row: what the key has, what the request adds, and the answer.
struct Row {
    name: &'static str,
    existing: usize,
    add: Vec<(String, String)>,
    want: Option<(ErrorCode, String)>,
}

fn row(
    name: &'static str,
    existing: usize,
    add: Vec<(String, String)>,
    want: Option<(ErrorCode, &str)>,
) -> Row {
    Row {
        name,
        existing,
        add,
        want: want.map(|(c, m)| (c, m.to_string())),
    }
}

fn t(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// `n` distinct tags `e00`, `e01`, ... (the names the existing tags of a row have).
fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range.map(|i| t(&format!("{prefix}{i:02}"), "v")).collect()
}

fn length_error(field: &str, value: &str, bound: &str) -> String {
    format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length {bound}"
    )
}

const RESERVED: (ErrorCode, &str) = (
    ErrorCode::TagException,
    "Tags beginning with aws: are reserved",
);
const TOO_MANY: (ErrorCode, &str) = (ErrorCode::TagException, "Too many tags");

fn table() -> Vec<Row> {
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    vec![
        row("one tag", 0, vec![t("owner", "alice")], None),
        row(
            "the longest key and value",
            0,
            vec![t(&"k".repeat(128), &"v".repeat(256))],
            None,
        ),
        row("an empty value", 0, vec![t("empty", "")], None),
        row("keys are case-sensitive", 1, vec![t("E00", "v")], None),
        row("aws without the colon", 0, vec![t("awsome", "v")], None),
        row("no tags", 0, vec![], None),
        Row {
            name: "a key of 129 characters",
            existing: 0,
            add: vec![t(&long_key, "v")],
            want: Some((
                ErrorCode::ValidationException,
                length_error(
                    "tags.1.member.tagKey",
                    &long_key,
                    "less than or equal to 128",
                ),
            )),
        },
        Row {
            name: "an empty key",
            existing: 0,
            add: vec![t("", "v")],
            want: Some((
                ErrorCode::ValidationException,
                length_error("tags.1.member.tagKey", "", "greater than or equal to 1"),
            )),
        },
        Row {
            name: "a value of 257 characters",
            existing: 0,
            add: vec![t("k", &long_value)],
            want: Some((
                ErrorCode::ValidationException,
                length_error(
                    "tags.1.member.tagValue",
                    &long_value,
                    "less than or equal to 256",
                ),
            )),
        },
        row(
            "aws: prefix",
            0,
            vec![t("aws:created-by", "v")],
            Some(RESERVED),
        ),
        row(
            "AWS: prefix in capitals",
            0,
            vec![t("AWS:x", "v")],
            Some(RESERVED),
        ),
        row("aws: alone", 0, vec![t("aws:", "v")], Some(RESERVED)),
        row(
            "a reserved key among good ones",
            0,
            vec![t("a", "v"), t("aws:x", "v")],
            Some(RESERVED),
        ),
        row(
            "a key twice in one request",
            0,
            vec![t("a", "1"), t("a", "2")],
            Some((ErrorCode::TagException, "Duplicate tag keys")),
        ),
        row("51 in one request", 0, numbered("t", 0..51), Some(TOO_MANY)),
        row("50 in one request", 0, numbered("t", 0..50), None),
        row("40 then 10 more", 40, numbered("t", 0..10), None),
        row("50 then one more", 50, vec![t("new", "v")], Some(TOO_MANY)),
        row("50 then an overwrite", 50, vec![t("e00", "changed")], None),
        row(
            "49 then an overwrite and one more",
            49,
            vec![t("e00", "changed"), t("new", "v")],
            None,
        ),
        row(
            "49 then two more",
            49,
            vec![t("new1", "v"), t("new2", "v")],
            Some(TOO_MANY),
        ),
    ]
}

async fn tags_of(kms: &Kms, id: &str) -> BTreeMap<String, String> {
    let out = call(
        kms,
        Operation::ListResourceTags,
        json!({"KeyId": id, "Limit": 50}),
    )
    .await
    .expect("list tags");
    assert_eq!(out["Truncated"], false);
    out["Tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| (s(t, "TagKey"), s(t, "TagValue")))
        .collect()
}

fn tag_list(tags: &[(String, String)]) -> Value {
    tags.iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect()
}

/// The same rows through TagResource on an existing key and, for rows with nothing existing,
/// through CreateKey (which refuses them the same way and then creates nothing).
#[tokio::test]
async fn tag_rules_for_tag_resource_and_create_key() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let mut failures = Vec::new();
    let rows = table();
    for r in &rows {
        let existing = numbered("e", 0..r.existing);
        let created = call(
            &kms,
            Operation::CreateKey,
            json!({"Tags": tag_list(&existing)}),
        )
        .await
        .expect("create");
        let id = s(&created["KeyMetadata"], "KeyId");
        let got = call(
            &kms,
            Operation::TagResource,
            json!({"KeyId": id, "Tags": tag_list(&r.add)}),
        )
        .await;
        let mut want_tags: BTreeMap<String, String> = existing.iter().cloned().collect();
        if r.want.is_none() {
            want_tags.extend(r.add.iter().cloned());
        }
        compare(
            &format!("TagResource: {}", r.name),
            &got,
            &r.want,
            &mut failures,
        );
        let now = tags_of(&kms, &id).await;
        if now != want_tags {
            failures.push(format!("TagResource: {}: tags now {now:?}", r.name));
        }

        if r.existing == 0 {
            let before = key_count(&kms).await;
            let got = call(
                &kms,
                Operation::CreateKey,
                json!({"Tags": tag_list(&r.add)}),
            )
            .await;
            compare(
                &format!("CreateKey: {}", r.name),
                &got,
                &r.want,
                &mut failures,
            );
            let made = key_count(&kms).await - before;
            if made != usize::from(r.want.is_none()) {
                failures.push(format!("CreateKey: {}: {made} keys made", r.name));
            }
        }
    }
    report(&failures, rows.len(), "rows");
}

/// (row, keys to remove, answer, tags left of `a`, `b`, `aws-ish`).
type UntagRow = (
    &'static str,
    Vec<String>,
    Option<(ErrorCode, String)>,
    &'static [&'static str],
);

/// UntagResource: absent keys are not an error, the lengths are the model's.
#[tokio::test]
async fn untag_rules() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let long_key = "k".repeat(129);
    let rows: Vec<UntagRow> = vec![
        (
            "an absent key",
            vec!["never".into()],
            None,
            &["a", "b", "aws-ish"],
        ),
        ("one present", vec!["a".into()], None, &["b", "aws-ish"]),
        (
            "present and absent",
            vec!["a".into(), "x".into()],
            None,
            &["b", "aws-ish"],
        ),
        ("nothing", vec![], None, &["a", "b", "aws-ish"]),
        (
            "keys are case-sensitive",
            vec!["A".into()],
            None,
            &["a", "b", "aws-ish"],
        ),
        (
            "a key of 129 characters",
            vec![long_key.clone()],
            Some((
                ErrorCode::ValidationException,
                length_error("tagKeys.1.member", &long_key, "less than or equal to 128"),
            )),
            &["a", "b", "aws-ish"],
        ),
        (
            "an empty key",
            vec![String::new()],
            Some((
                ErrorCode::ValidationException,
                length_error("tagKeys.1.member", "", "greater than or equal to 1"),
            )),
            &["a", "b", "aws-ish"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, keys, want, left) in &rows {
        let id = new_key(&kms).await;
        call(
            &kms,
            Operation::TagResource,
            json!({"KeyId": id, "Tags": tag_list(&[t("a", "1"), t("b", "2"), t("aws-ish", "3")])}),
        )
        .await
        .expect("tag");
        let got = call(
            &kms,
            Operation::UntagResource,
            json!({"KeyId": id, "TagKeys": keys}),
        )
        .await;
        compare(name, &got, want, &mut failures);
        let now: Vec<String> = tags_of(&kms, &id).await.into_keys().collect();
        let mut left: Vec<String> = left.iter().map(|k| k.to_string()).collect();
        left.sort();
        if now != left {
            failures.push(format!("{name}: tags left {now:?}, want {left:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
