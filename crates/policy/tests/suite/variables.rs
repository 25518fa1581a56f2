//! Policy variables in Resource and in String/ARN condition values.

use policy::{ContextMap, Decision, ErrorKind, Policy, PolicyKind, Principal, RequestContext};
use serde_json::{json, Value as Json};

use crate::common::*;

fn allow_when(condition: Json) -> Policy {
    parse(
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": condition
        }]}),
        PolicyKind::Identity,
    )
}

fn allowed(p: &Policy, who: &Principal, keys: &ContextMap, resource: &str) -> bool {
    p.evaluate(&RequestContext::new(who, "kms:Encrypt", resource, keys))
        .is_allow()
}

#[test]
fn username_in_condition() {
    let p = allow_when(json!({"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}}));
    let keys = |v: &str| ContextMap::new().with("kms:EncryptionContext:owner", v);
    assert!(allowed(&p, &alice(), &keys("alice"), KEY));
    assert!(!allowed(&p, &alice(), &keys("bob"), KEY));
    assert!(!allowed(&p, &alice(), &keys("Alice"), KEY));
    assert!(allowed(&p, &Principal::user(BOB), &keys("bob"), KEY));
    // A role session has no aws:username: the statement cannot match.
    assert!(!allowed(&p, &admin_session(), &keys("alice"), KEY));
    assert!(!allowed(&p, &admin_session(), &keys(""), KEY));
}

#[test]
fn missing_variable_makes_even_negated_conditions_fail() {
    let p = allow_when(json!({"StringNotEquals": {"test:Key": "${aws:username}"}}));
    let keys = ContextMap::new().with("test:Key", "x");
    assert!(allowed(&p, &alice(), &keys, KEY));
    assert!(!allowed(&p, &admin_session(), &keys, KEY));
    let keys = ContextMap::new().with("test:Key", "alice");
    assert!(!allowed(&p, &alice(), &keys, KEY));
    // With a default value the variable always resolves.
    let p = allow_when(json!({"StringEquals": {"test:Key": "${aws:username, 'nobody'}"}}));
    let keys = ContextMap::new().with("test:Key", "nobody");
    assert!(allowed(&p, &admin_session(), &keys, KEY));
    assert!(!allowed(&p, &alice(), &keys, KEY));
}

#[test]
fn variables_in_like_patterns_and_tags() {
    let p = allow_when(json!({"StringLike": {"test:Path": "home/${aws:username}/*"}}));
    let path = |v: &str| ContextMap::new().with("test:Path", v);
    assert!(allowed(&p, &alice(), &path("home/alice/docs/a.txt"), KEY));
    assert!(!allowed(&p, &alice(), &path("home/bob/docs/a.txt"), KEY));
    let p =
        allow_when(json!({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}));
    let blue = alice().with_tag("Team", "blue");
    let tag = |v: &str| ContextMap::new().with("aws:ResourceTag/Team", v);
    assert!(allowed(&p, &blue, &tag("blue"), KEY));
    assert!(!allowed(&p, &blue, &tag("red"), KEY));
    assert!(
        !allowed(&p, &alice(), &tag("blue"), KEY),
        "untagged principal"
    );
    // A substituted value is literal text, even with wildcard characters in it.
    let star = alice().with_tag("team", "*");
    let p = allow_when(json!({"StringLike": {"test:Key": "team-${aws:PrincipalTag/team}"}}));
    assert!(!allowed(
        &p,
        &star,
        &ContextMap::new().with("test:Key", "team-blue"),
        KEY
    ));
    assert!(allowed(
        &p,
        &star,
        &ContextMap::new().with("test:Key", "team-*"),
        KEY
    ));
}

#[test]
fn any_request_key_can_be_a_variable() {
    let p = allow_when(json!({"StringEquals": {"test:Owner": "${AWS:PrincipalAccount}"}}));
    assert!(allowed(
        &p,
        &alice(),
        &ContextMap::new().with("test:Owner", ACCT),
        KEY
    ));
    assert!(!allowed(
        &p,
        &alice(),
        &ContextMap::new().with("test:Owner", OTHER),
        KEY
    ));
    let p = allow_when(json!({"StringEquals": {"test:A": "${test:B}"}}));
    let both = ContextMap::new().with("test:A", "v").with("TEST:b", "v");
    assert!(allowed(&p, &alice(), &both, KEY));
    let differ = ContextMap::new().with("test:A", "v").with("test:B", "w");
    assert!(!allowed(&p, &alice(), &differ, KEY));
    // A multivalued key is not a variable.
    let multi = ContextMap::new()
        .with("test:A", "v")
        .with("test:B", vec!["v", "w"]);
    assert!(!allowed(&p, &alice(), &multi, KEY));
    // Booleans and numbers become text.
    let typed = ContextMap::new()
        .with("test:A", "true")
        .with("test:B", true);
    assert!(allowed(&p, &alice(), &typed, KEY));
    let typed = ContextMap::new().with("test:A", "3").with("test:B", 3i64);
    assert!(allowed(&p, &alice(), &typed, KEY));
}

#[test]
fn escapes() {
    let rows: &[(&str, &str, bool)] = &[
        ("${*}", "*", true),
        ("${*}", "x", false),
        ("a${?}", "a?", true),
        ("a${?}", "ab", false),
        ("${$}{x}", "${x}", true),
        ("cost-${*}-*", "cost-*-anything", true),
        ("cost-${*}-*", "cost-x-anything", false),
    ];
    for &(pattern, value, want) in rows {
        let p = allow_when(json!({"StringLike": {"test:Key": pattern}}));
        let keys = ContextMap::new().with("test:Key", value);
        assert_eq!(
            allowed(&p, &alice(), &keys, KEY),
            want,
            "{pattern} vs {value}"
        );
    }
}

#[test]
fn version_2008_has_no_variables() {
    let doc = json!({"Version": "2008-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*", "Resource": "*",
        "Condition": {"StringEquals": {"test:Key": "${aws:username}"}}
    }]});
    let p = parse(&doc, PolicyKind::Identity);
    assert!(allowed(
        &p,
        &alice(),
        &ContextMap::new().with("test:Key", "${aws:username}"),
        KEY
    ));
    assert!(!allowed(
        &p,
        &alice(),
        &ContextMap::new().with("test:Key", "alice"),
        KEY
    ));
    let doc = json!({"Version": "2008-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:us-east-1:111122223333:alias/${aws:username}"
    }]});
    let p = parse(&doc, PolicyKind::Identity);
    let keys = ContextMap::new();
    assert!(!allowed(
        &p,
        &alice(),
        &keys,
        "arn:aws:kms:us-east-1:111122223333:alias/alice"
    ));
    assert!(allowed(
        &p,
        &alice(),
        &keys,
        "arn:aws:kms:us-east-1:111122223333:alias/${aws:username}"
    ));
}

#[test]
fn variables_in_resources() {
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*",
        "Resource": "arn:aws:kms:*:111122223333:alias/${aws:username}-*"
    }]});
    let p = parse(&doc, PolicyKind::Identity);
    let keys = ContextMap::new();
    let alias = |n: &str| format!("arn:aws:kms:us-east-1:111122223333:alias/{n}");
    assert!(allowed(&p, &alice(), &keys, &alias("alice-app")));
    assert!(!allowed(&p, &alice(), &keys, &alias("bob-app")));
    assert!(!allowed(&p, &admin_session(), &keys, &alias("alice-app")));
    // Another resource of the list still matches when one has an unresolved variable.
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*",
        "Resource": ["arn:aws:kms:*:111122223333:key/${aws:PrincipalTag/key}", KEY]
    }]});
    let p = parse(&doc, PolicyKind::Identity);
    assert!(allowed(&p, &admin_session(), &keys, KEY));
    assert!(!allowed(&p, &admin_session(), &keys, OTHER_KEY));
    let tagged = admin_session().with_tag("key", "abc");
    assert!(allowed(
        &p,
        &tagged,
        &keys,
        "arn:aws:kms:eu-west-1:111122223333:key/abc"
    ));
    // A variable in an ARN condition, here in the account part.
    let p = allow_when(
        json!({"ArnLike": {"aws:SourceArn": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}}),
    );
    let src = |v: &str| ContextMap::new().with("aws:SourceArn", v);
    assert!(allowed(
        &p,
        &alice(),
        &src("arn:aws:iam::111122223333:role/R"),
        KEY
    ));
    assert!(!allowed(
        &p,
        &alice(),
        &src("arn:aws:iam::444455556666:role/R"),
        KEY
    ));
    // NotResource with an unresolved variable: the statement does not apply.
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:*", "NotResource": "arn:aws:kms:*:*:key/${aws:PrincipalTag/key}"}
    ]});
    let p = parse(&doc, PolicyKind::Identity);
    let none = ContextMap::new();
    let d = p.evaluate(&RequestContext::new(
        &admin_session(),
        "kms:Encrypt",
        KEY,
        &none,
    ));
    assert_eq!(
        d,
        Decision::Allow {
            via_account_root: false
        }
    );
    let d = p.evaluate(&RequestContext::new(&tagged, "kms:Encrypt", KEY, &none));
    assert_eq!(d, Decision::ExplicitDeny);
}

#[test]
fn variables_are_refused_where_not_supported() {
    for (op, value) in [
        ("NumericEquals", "${aws:EpochTime}"),
        ("DateLessThan", "${aws:CurrentTime}"),
        ("IpAddress", "${aws:SourceIp}"),
        ("BinaryEquals", "${x}"),
        ("Null", "${x}"),
        ("Bool", "${x}"),
    ] {
        let doc = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "kms:*", "Resource": "*",
            "Condition": {op: {"test:Key": value}}
        }]});
        let e = Policy::parse(&doc.to_string(), PolicyKind::Identity).expect_err(op);
        assert_eq!(e.kind(), ErrorKind::InvalidConditionValue, "{op}: {e}");
    }
}
