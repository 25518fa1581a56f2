//! Shared fixtures.

use policy::{ContextMap, Decision, Policy, PolicyKind, Principal, RequestContext, Value};
use serde_json::{json, Value as Json};

pub const ACCT: &str = "111122223333";
pub const OTHER: &str = "444455556666";
pub const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub const OTHER_KEY: &str =
    "arn:aws:kms:us-east-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321";
pub const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
pub const BOB: &str = "arn:aws:iam::111122223333:user/bob";
pub const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/KeyAdmin";
pub const ADMIN_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/KeyAdmin/session-1";
pub const CAROL: &str = "arn:aws:iam::444455556666:user/carol";

pub fn alice() -> Principal {
    Principal::user(ALICE)
}

pub fn admin_session() -> Principal {
    Principal::role_session(ADMIN_SESSION, ADMIN_ROLE)
}

/// Parses, panicking with the error message on failure.
pub fn parse(doc: &Json, kind: PolicyKind) -> Policy {
    match Policy::parse(&doc.to_string(), kind) {
        Ok(p) => p,
        Err(e) => panic!("{doc} should parse: {e}"),
    }
}

/// An identity policy that allows everything under one condition.
pub fn condition_policy(op: &str, key: &str, values: Json) -> Policy {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": { op: { key: values } }
        }]
    });
    parse(&doc, PolicyKind::Identity)
}

/// Whether `op` with `values` holds for the key `test:Key` set to `request` (absent if None).
pub fn holds(op: &str, values: &Json, request: Option<&Value>) -> bool {
    let policy = condition_policy(op, "test:Key", values.clone());
    let mut keys = ContextMap::new();
    if let Some(v) = request {
        keys.insert("test:Key", v.clone());
    }
    let p = alice();
    let ctx = RequestContext::new(&p, "kms:Encrypt", KEY, &keys);
    match policy.evaluate(&ctx) {
        Decision::Allow { .. } => true,
        Decision::NotApplicable => false,
        Decision::ExplicitDeny => panic!("no deny statement here"),
    }
}

pub fn s(v: &str) -> Option<Value> {
    Some(Value::String(v.to_string()))
}

pub fn list(v: &[&str]) -> Option<Value> {
    Some(Value::Strings(v.iter().map(|s| s.to_string()).collect()))
}

pub fn num(n: f64) -> Option<Value> {
    Some(Value::Number(n))
}

pub fn boolean(b: bool) -> Option<Value> {
    Some(Value::Bool(b))
}

pub fn ip(a: &str) -> Option<Value> {
    Some(Value::Ip(a.parse().expect("test IP")))
}

pub fn date(rfc3339: &str) -> Option<Value> {
    Some(Value::Date(
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .expect("test date"),
    ))
}

/// Runs a table of (operator, policy values, request value, expected) rows and reports every
/// failing row at once.
pub fn run_table(rows: &[(&str, Json, Option<Value>, bool)]) {
    let mut failures = Vec::new();
    for (i, (op, values, request, want)) in rows.iter().enumerate() {
        let got = holds(op, values, request.as_ref());
        if got != *want {
            failures.push(format!(
                "row {i}: {op} {values} vs {request:?}: got {got}, want {want}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing rows:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
