//! Property tests of the parser and the evaluator on garbage, on mutated documents and on
//! well-formed ones: whatever the text, parsing returns; whatever parses evaluates the same way
//! twice and an explicit deny is never overridden; every document built from valid pieces
//! parses, a universal Deny statement denies everything, and Allow statements alone never deny.
//! (Coverage-guided fuzzing of the same parser: `fuzz/fuzz_targets/policy.rs`.)

use policy::{
    authorize, would_lock_out, ContextMap, Decision, Policy, PolicyKind, Principal, RequestContext,
    Value,
};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Value as Json};

use crate::common::*;

/// Strings that exercise the parsers' corners.
const ATOMS: &[&str] = &[
    "",
    "*",
    "?",
    "**",
    "${",
    "}",
    "${*}",
    "${?}",
    "${$}",
    "${aws:username}",
    "${aws:username, 'x'}",
    "${k, 'a''b'}",
    "${ }",
    "$",
    "'",
    ":",
    "::",
    "arn:",
    "arn:aws:kms:*:111122223333:key/*",
    "arn:aws:iam::111122223333:root",
    "111122223333",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/KeyAdmin",
    "arn:aws:sts::111122223333:assumed-role/KeyAdmin/s",
    "kms:*",
    "kms:Encrypt",
    "kms:Gen*",
    "kms:?ncrypt",
    "Allow",
    "Deny",
    "2012-10-17",
    "2008-10-17",
    "StringEquals",
    "StringLike",
    "ForAnyValue:StringLike",
    "ForAllValues:StringNotEquals",
    "NumericLessThan",
    "DateGreaterThanIfExists",
    "Bool",
    "Null",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "BinaryEquals",
    "StringEqualsIgnoreCase",
    "true",
    "false",
    "TRUE",
    "10",
    "-1.5e3",
    "1e999",
    "NaN",
    "2020-01-01T00:00:00Z",
    "2020-02-30",
    "1577836800",
    "203.0.113.0/24",
    "2001:db8::/32",
    "::ffff:1.2.3.4",
    "1.2.3.4/99",
    "QQ==",
    "Q",
    "ü",
    "日本",
    "\u{0}",
    "\u{10FFFF}",
    "aws:SourceIp",
    "kms:ViaService",
    "kms:EncryptionContext:App",
    "aws:PrincipalTag/team",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Statement",
    "Sid",
    "Effect",
    "Version",
    "Id",
    "AWS",
    "Service",
    "Federated",
];

/// Parses as both kinds, and checks what holds of any policy that parses.
fn check_document(text: &str, ctxs: &[(Principal, ContextMap)]) {
    for kind in [PolicyKind::Resource, PolicyKind::Identity] {
        if let Ok(p) = Policy::parse(text, kind) {
            exercise(&p, ctxs);
        }
    }
}

const ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:PutKeyPolicy",
    "KMS:describekey",
    "",
    "*",
];
const RESOURCES: [&str; 4] = [KEY, "*", "", "arn:aws:kms:r:444455556666:key/k"];

/// Evaluation is deterministic, and an explicit deny of the key policy is final.
fn exercise(policy: &Policy, ctxs: &[(Principal, ContextMap)]) {
    for (who, keys) in ctxs {
        for action in ACTIONS {
            for resource in RESOURCES {
                let ctx = RequestContext::new(who, action, resource, keys);
                let decision = policy.evaluate(&ctx);
                assert_eq!(decision, policy.evaluate(&ctx), "not deterministic");
                let _ = would_lock_out(policy, &ctx);
                let r = authorize(Some(policy), &[policy], true, &ctx);
                if decision == Decision::ExplicitDeny {
                    assert!(!r.is_allowed(), "an explicit deny was overridden");
                }
            }
        }
    }
}

fn atom() -> impl Strategy<Value = String> {
    select(ATOMS).prop_map(str::to_owned)
}

/// Any JSON value built from the atoms, a few levels deep.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-100_000i64..100_000).prop_map(|n| json!(n)),
        (0u32..1000).prop_map(|n| json!(f64::from(n) / 7.0)),
        atom().prop_map(Json::String),
        (atom(), atom(), atom()).prop_map(|(a, b, c)| Json::String(format!("{a}{b}{c}"))),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((atom(), inner), 0..4)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

/// One of the seeds, without principals for identity policies.
fn seed(kind: PolicyKind) -> impl Strategy<Value = Json> {
    select(seeds()).prop_map(move |mut v| {
        if kind == PolicyKind::Identity {
            let strip = |s: &mut Json| {
                if let Json::Object(m) = s {
                    m.remove("Principal");
                    m.remove("NotPrincipal");
                }
            };
            match v.get_mut("Statement") {
                Some(Json::Array(items)) => items.iter_mut().for_each(strip),
                Some(one) => strip(one),
                None => {}
            }
        }
        v
    })
}

fn kind() -> impl Strategy<Value = PolicyKind> {
    prop_oneof![Just(PolicyKind::Resource), Just(PolicyKind::Identity)]
}

/// How a node of a document is changed.
#[derive(Debug, Clone)]
enum Edit {
    Replace(Json),
    Insert(String, Json),
    Remove,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any_json().prop_map(Edit::Replace),
        (atom(), any_json()).prop_map(|(k, v)| Edit::Insert(k, v)),
        Just(Edit::Remove),
    ]
}

/// Walks down `path` (a child picked at each level) and applies `edit` there.
fn apply(v: &mut Json, path: &[Index], edit: Edit) {
    let Some((step, rest)) = path.split_first() else {
        match edit {
            Edit::Replace(new) => *v = new,
            Edit::Insert(k, new) => match v {
                Json::Object(m) => {
                    m.insert(k, new);
                }
                Json::Array(items) => items.push(new),
                _ => *v = new,
            },
            Edit::Remove => *v = Json::Null,
        }
        return;
    };
    match v {
        Json::Object(m) if !m.is_empty() => {
            let key = m
                .keys()
                .nth(step.index(m.len()))
                .cloned()
                .unwrap_or_default();
            if rest.is_empty() && matches!(edit, Edit::Remove) {
                m.remove(&key);
            } else if let Some(child) = m.get_mut(&key) {
                apply(child, rest, edit);
            }
        }
        Json::Array(items) if !items.is_empty() => {
            let i = step.index(items.len());
            if rest.is_empty() && matches!(edit, Edit::Remove) {
                items.remove(i);
            } else {
                apply(&mut items[i], rest, edit);
            }
        }
        _ => apply(v, &[], edit),
    }
}

/// Replaces the string leaves (never keys) picked by `picks` with `values`.
fn replace_leaves(v: &mut Json, picks: &[(Index, String)]) {
    for (pick, value) in picks {
        let mut n = 0usize;
        count_strings(v, &mut n);
        if n == 0 {
            return;
        }
        let target = pick.index(n);
        let mut seen = 0usize;
        set_nth_string(v, target, &mut seen, value);
    }
}

fn count_strings(v: &Json, n: &mut usize) {
    match v {
        Json::Object(m) => m.values().for_each(|c| count_strings(c, n)),
        Json::Array(items) => items.iter().for_each(|c| count_strings(c, n)),
        Json::String(_) => *n += 1,
        _ => {}
    }
}

fn set_nth_string(v: &mut Json, target: usize, seen: &mut usize, value: &str) {
    match v {
        Json::Object(m) => m
            .values_mut()
            .for_each(|c| set_nth_string(c, target, seen, value)),
        Json::Array(items) => items
            .iter_mut()
            .for_each(|c| set_nth_string(c, target, seen, value)),
        Json::String(s) => {
            if *seen == target {
                *s = value.to_owned();
            }
            *seen += 1;
        }
        _ => {}
    }
}

/// Byte-level damage to a document's text.
#[derive(Debug, Clone)]
enum Damage {
    FlipBit(Index, u8),
    Cut(Index, usize),
    InsertAtom(Index, String),
    InsertPunct(Index, u8),
    Duplicate(Index, usize, Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Damage::FlipBit(i, b)),
        (any::<Index>(), 0usize..16).prop_map(|(i, n)| Damage::Cut(i, n)),
        (any::<Index>(), atom()).prop_map(|(i, a)| Damage::InsertAtom(i, a)),
        (any::<Index>(), select(&b"{}[]\",:\\*$"[..])).prop_map(|(i, c)| Damage::InsertPunct(i, c)),
        (any::<Index>(), 0usize..32, any::<Index>())
            .prop_map(|(i, n, at)| Damage::Duplicate(i, n, at)),
    ]
}

fn damaged(text: &str, damage: &[Damage]) -> String {
    let mut b = text.as_bytes().to_vec();
    for d in damage {
        let len = b.len();
        match d {
            Damage::FlipBit(i, bit) if len > 0 => {
                let i = i.index(len);
                b[i] ^= 1 << bit;
            }
            Damage::Cut(i, n) if len > 0 => {
                let i = i.index(len);
                b.drain(i..(i + n).min(len));
            }
            Damage::InsertAtom(i, a) => {
                let i = i.index(len + 1);
                b.splice(i..i, a.bytes());
            }
            Damage::InsertPunct(i, c) => {
                let i = i.index(len + 1);
                b.insert(i, *c);
            }
            Damage::Duplicate(i, n, at) if len > 0 => {
                let i = i.index(len);
                let piece = b[i..(i + n).min(len)].to_vec();
                let at = at.index(len + 1);
                b.splice(at..at, piece);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// Well-formed documents, from valid pieces.

fn one_or_many(items: &'static [&'static str]) -> impl Strategy<Value = Json> {
    prop_oneof![
        select(items).prop_map(|s| json!(s)),
        prop::collection::vec(select(items), 1..4).prop_map(|v| json!(v)),
    ]
}

const GOOD_ACTIONS: &[&str] = &[
    "kms:*",
    "kms:Encrypt",
    "kms:Gen*",
    "kms:?ncrypt",
    "*",
    "kms:Describe*",
    "kms:PutKeyPolicy",
];
const GOOD_RESOURCES: &[&str] = &["*", KEY, "arn:aws:kms:*:111122223333:key/*"];
const GOOD_PRINCIPALS: &[&str] = &[
    "arn:aws:iam::111122223333:root",
    "111122223333",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/KeyAdmin",
    "*",
];

fn good_condition() -> impl Strategy<Value = Option<Json>> {
    prop::option::of(select(vec![
        json!({"StringEquals": {"kms:CallerAccount": "111122223333"}}),
        json!({"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}),
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"NumericLessThan": {"test:n": "10"}}),
        json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}),
        json!({"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": ["App*"]}}),
        json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
        json!({"Null": {"aws:TokenIssueTime": "true"}}),
        json!({"ArnLike": {"aws:SourceArn": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}}),
    ]))
}

fn good_statement(kind: PolicyKind, effect: &'static str) -> impl Strategy<Value = Json> {
    (
        one_or_many(GOOD_ACTIONS),
        one_or_many(GOOD_RESOURCES),
        prop_oneof![
            Just(json!("*")),
            one_or_many(GOOD_PRINCIPALS).prop_map(|p| json!({ "AWS": p })),
        ],
        good_condition(),
    )
        .prop_map(move |(action, resource, principal, condition)| {
            let mut st = json!({"Effect": effect, "Action": action, "Resource": resource});
            if kind == PolicyKind::Resource {
                st["Principal"] = principal;
            }
            if let Some(c) = condition {
                st["Condition"] = c;
            }
            st
        })
}

fn good_document(
    kind: PolicyKind,
    effects: &'static [&'static str],
) -> impl Strategy<Value = Json> {
    prop::collection::vec(
        select(effects).prop_flat_map(move |e| good_statement(kind, e)),
        1..5,
    )
    .prop_map(|statements| json!({"Version": "2012-10-17", "Statement": statements}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Garbage built from atoms and punctuation: parsing returns, whatever parses is sound.
    #[test]
    fn garbage_parses_or_is_refused(
        pieces in prop::collection::vec((atom(), select(&['{', '}', '[', ']', '"', ',', ':', ' ', '\\'][..])), 0..24)
    ) {
        let text: String = pieces.iter().map(|(a, c)| format!("{a}{c}")).collect();
        check_document(&text, &contexts());
    }

    /// Seeds with nodes replaced, inserted or removed anywhere.
    #[test]
    fn structurally_mutated_documents_are_sound(
        (kind, base) in kind().prop_flat_map(|k| (Just(k), seed(k))),
        edits in prop::collection::vec((prop::collection::vec(any::<Index>(), 0..6), edit()), 1..3),
    ) {
        let mut doc = base;
        for (path, e) in edits {
            apply(&mut doc, &path, e);
        }
        if let Ok(p) = Policy::parse(&doc.to_string(), kind) {
            exercise(&p, &contexts());
        }
    }

    /// Seeds with string values replaced: mostly valid documents with odd values.
    #[test]
    fn seeds_with_odd_values_are_sound(
        (kind, base) in kind().prop_flat_map(|k| (Just(k), seed(k))),
        picks in prop::collection::vec((any::<Index>(), prop_oneof![
            atom(),
            (atom(), atom()).prop_map(|(a, b)| format!("{a}{b}")),
        ]), 1..4),
    ) {
        let mut doc = base;
        replace_leaves(&mut doc, &picks);
        if let Ok(p) = Policy::parse(&doc.to_string(), kind) {
            exercise(&p, &contexts());
        }
    }

    /// Seeds' text damaged byte by byte.
    #[test]
    fn damaged_text_is_sound(
        base in kind().prop_flat_map(seed),
        damage in prop::collection::vec(damage(), 1..4),
    ) {
        check_document(&damaged(&base.to_string(), &damage), &contexts());
    }

    /// Every document built from valid pieces parses, and Allow statements alone never deny.
    #[test]
    fn well_formed_documents_parse_and_allows_never_deny(
        (kind, doc) in kind().prop_flat_map(|k| (Just(k), good_document(k, &["Allow"]))),
    ) {
        let p = match Policy::parse(&doc.to_string(), kind) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{doc} is refused: {e}"))),
        };
        for (who, keys) in &contexts() {
            for action in ACTIONS {
                for resource in RESOURCES {
                    let ctx = RequestContext::new(who, action, resource, keys);
                    prop_assert_ne!(p.evaluate(&ctx), Decision::ExplicitDeny);
                }
            }
        }
    }

    /// A statement denying everything to everyone, added to any well-formed document, denies
    /// every request.
    #[test]
    fn a_universal_deny_denies_everything(
        (kind, mut doc) in kind().prop_flat_map(|k| (Just(k), good_document(k, &["Allow", "Deny"]))),
    ) {
        let mut deny = json!({"Effect": "Deny", "Action": "*", "Resource": "*"});
        if kind == PolicyKind::Resource {
            deny["Principal"] = json!("*");
        }
        if let Some(Json::Array(statements)) = doc.get_mut("Statement") {
            statements.push(deny);
        }
        let p = match Policy::parse(&doc.to_string(), kind) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{doc} is refused: {e}"))),
        };
        for (who, keys) in &contexts() {
            for action in ["kms:Encrypt", "kms:PutKeyPolicy", "KMS:describekey"] {
                for resource in [KEY, "arn:aws:kms:r:444455556666:key/k"] {
                    let ctx = RequestContext::new(who, action, resource, keys);
                    prop_assert_eq!(p.evaluate(&ctx), Decision::ExplicitDeny);
                    prop_assert!(!authorize(Some(&p), &[&p], true, &ctx).is_allowed());
                }
            }
        }
    }
}

#[test]
fn the_seeds_parse() {
    for s in seeds() {
        assert!(
            Policy::parse(&s.to_string(), PolicyKind::Resource).is_ok(),
            "seed {s} parses"
        );
    }
}

fn seeds() -> Vec<Json> {
    vec![
        json!({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}),
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"A","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/KeyAdmin","arn:aws:iam::111122223333:user/alice"]},"Action":["kms:Create*","kms:Describe*","kms:Put*"],"Resource":"*"},
            {"Sid":"B","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root"]},"NotAction":"kms:Describe*","NotResource":"arn:aws:kms:*:111122223333:key/*",
             "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"},
                          "ForAllValues:StringLike":{"kms:EncryptionContextKeys":["App*","${aws:username}"]},
                          "NumericLessThanIfExists":{"test:n":["10","1e3"]},
                          "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
                          "IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},
                          "Bool":{"aws:SecureTransport":true},
                          "Null":{"aws:TokenIssueTime":"true"},
                          "ArnLike":{"aws:SourceArn":"arn:aws:iam::${aws:PrincipalAccount}:role/*"},
                          "BinaryEquals":{"test:b":"QmluYXJ5"}}}
        ]}),
        json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":["arn:aws:kms:*:*:alias/${aws:PrincipalTag/team, 'none'}-*","*"]}}),
    ]
}

fn contexts() -> Vec<(Principal, ContextMap)> {
    let full = ContextMap::new()
        .with("kms:CallerAccount", ACCT)
        .with("kms:ViaService", "ec2.us-west-2.amazonaws.com")
        .with("kms:EncryptionContextKeys", vec!["App", "alice"])
        .with("test:n", 5i64)
        .with(
            "aws:CurrentTime",
            Value::String("2021-01-01T00:00:00Z".into()),
        )
        .with(
            "aws:SourceIp",
            Value::Ip("203.0.113.9".parse().expect("ip")),
        )
        .with("aws:SecureTransport", true)
        .with("aws:SourceArn", "arn:aws:iam::111122223333:role/R")
        .with("test:b", Value::Binary(b"Binary".to_vec()))
        .with("StringEquals", "x")
        .with("*", vec!["", "*", "ü"]);
    vec![
        (alice().with_tag("team", "blue"), full.clone()),
        (admin_session(), ContextMap::new()),
        (Principal::root(ACCT), full),
        (
            Principal::service("ec2.amazonaws.com"),
            ContextMap::new().with("test:n", "x"),
        ),
        (
            Principal::anonymous(),
            ContextMap::new().with("aws:SourceIp", "not an ip"),
        ),
        (
            Principal::user(CAROL),
            ContextMap::new().with("aws:CurrentTime", 1.5e9),
        ),
    ]
}

#[test]
fn deep_and_large_documents_are_refused_or_parsed_without_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(Policy::parse(&deep, PolicyKind::Resource).is_err());
    let nested = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000));
    let deep_obj = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{nested}}}]}}"#
    );
    assert!(Policy::parse(&deep_obj, PolicyKind::Resource).is_err());
    // Many statements and long patterns.
    let stmts: Vec<Json> = (0..500)
        .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Principal": "*", "Action": format!("kms:{}*", "a".repeat(i % 50)), "Resource": "*"}))
        .collect();
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": stmts}),
        PolicyKind::Resource,
    );
    assert_eq!(p.statement_count(), 500);
    let a = alice();
    let ctx = RequestContext::new(&a, "kms:Encrypt", KEY, &policy::NoKeys);
    assert!(p.evaluate(&ctx).is_allow());
    let nasty = format!("kms:{}b", "*a".repeat(200));
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": nasty, "Resource": "*"}]}),
        PolicyKind::Identity,
    );
    let action = format!("kms:{}", "a".repeat(5000));
    let ctx = RequestContext::new(&a, &action, KEY, &policy::NoKeys);
    assert!(!p.evaluate(&ctx).is_allow());
}
