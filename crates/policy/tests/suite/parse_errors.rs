//! Malformed documents: each is refused with its kind and a message that says what is wrong.

use policy::{ErrorKind, Policy, PolicyKind};

const R: PolicyKind = PolicyKind::Resource;
const I: PolicyKind = PolicyKind::Identity;

/// A key policy statement wrapped in a valid document.
fn stmt(s: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#)
}

#[test]
fn malformed_documents() {
    let ok_stmt = r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#;
    let rows: Vec<(String, PolicyKind, ErrorKind, &str)> = vec![
        ("".into(), R, ErrorKind::NotJson, "not valid JSON"),
        ("not json".into(), R, ErrorKind::NotJson, "not valid JSON"),
        ("{".into(), R, ErrorKind::NotJson, "not valid JSON"),
        (
            r#"{"Version":"2012-10-17","Statement":[]} trailing"#.into(),
            R,
            ErrorKind::NotJson,
            "not valid JSON",
        ),
        ("[]".into(), R, ErrorKind::NotJson, "JSON object"),
        ("\"policy\"".into(), R, ErrorKind::NotJson, "JSON object"),
        ("null".into(), R, ErrorKind::NotJson, "JSON object"),
        (
            r#"{"Version":"2012-10-17"}"#.into(),
            R,
            ErrorKind::MissingStatement,
            "no Statement",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":"x"}"#.into(),
            R,
            ErrorKind::InvalidStatement,
            "object or a list",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[1]}"#.into(),
            R,
            ErrorKind::InvalidStatement,
            "Statement 1: a statement must be an object",
        ),
        (
            format!(r#"{{"Version":"2012-10-17","Statement":[{ok_stmt}],"Extra":1}}"#),
            R,
            ErrorKind::UnknownElement,
            "\"Extra\"",
        ),
        (
            format!(r#"{{"version":"2012-10-17","Statement":[{ok_stmt}]}}"#),
            R,
            ErrorKind::UnknownElement,
            "\"version\"",
        ),
        (
            format!(r#"{{"Version":"2012-10-18","Statement":[{ok_stmt}]}}"#),
            R,
            ErrorKind::InvalidVersion,
            "2012-10-18",
        ),
        (
            format!(r#"{{"Version":20121017,"Statement":[{ok_stmt}]}}"#),
            R,
            ErrorKind::InvalidVersion,
            "not supported",
        ),
        (
            format!(r#"{{"Version":"2012-10-17","Id":5,"Statement":[{ok_stmt}]}}"#),
            R,
            ErrorKind::InvalidId,
            "Id must be a string",
        ),
        (
            stmt(r#"{"Principal":"*","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::MissingEffect,
            "Statement 1: missing Effect",
        ),
        (
            stmt(r#"{"Sid":"S1","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::MissingEffect,
            "Statement 1 (Sid \"S1\"): missing Effect",
        ),
        (
            stmt(r#"{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidEffect,
            "\"Allow\" or \"Deny\"",
        ),
        (
            stmt(r#"{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidEffect,
            "Permit",
        ),
        (
            stmt(r#"{"Effect":true,"Principal":"*","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidEffect,
            "Effect",
        ),
        (
            stmt(r#"{"Sid":7,"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidSid,
            "Sid must be a string",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}"#,
            ),
            R,
            ErrorKind::ActionConflict,
            "both Action and NotAction",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Resource":"*"}"#),
            R,
            ErrorKind::MissingAction,
            "Action or NotAction",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            "non-empty list",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":[1],"Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            "list of strings",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            "\"Encrypt\"",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:","Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            "kms:",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":":Encrypt","Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            ":Encrypt",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"k ms:Encrypt","Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            "k ms",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt Decrypt","Resource":"*"}"#,
            ),
            R,
            ErrorKind::InvalidAction,
            "service:Action",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","NotAction":"","Resource":"*"}"#),
            R,
            ErrorKind::InvalidAction,
            "invalid action",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*"}"#),
            R,
            ErrorKind::MissingResource,
            "Resource or NotResource",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","NotResource":"*"}"#,
            ),
            R,
            ErrorKind::ResourceConflict,
            "both Resource and NotResource",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/abc"}"#),
            R,
            ErrorKind::InvalidResource,
            "\"key/abc\"",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":[]}"#),
            R,
            ErrorKind::InvalidResource,
            "non-empty list",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":{"a":1}}"#),
            R,
            ErrorKind::InvalidResource,
            "Resource must be",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::MissingPrincipal,
            "Principal or NotPrincipal",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#,
            ),
            R,
            ErrorKind::PrincipalConflict,
            "both Principal and NotPrincipal",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            I,
            ErrorKind::PrincipalNotAllowed,
            "must not specify a Principal",
        ),
        (
            stmt(
                r#"{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#,
            ),
            I,
            ErrorKind::PrincipalNotAllowed,
            "identity-based",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"111122223333","Action":"kms:*","Resource":"*"}"#,
            ),
            R,
            ErrorKind::InvalidPrincipal,
            "{\"AWS\": \"111122223333\"}",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":{},"Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidPrincipal,
            "names no principal",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidPrincipal,
            "non-empty list",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*","Resource":"*"}"#,
            ),
            R,
            ErrorKind::InvalidPrincipal,
            "\"alice\"",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}"#,
            ),
            R,
            ErrorKind::InvalidPrincipal,
            "user/*",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:group/devs"},"Action":"kms:*","Resource":"*"}"#,
            ),
            R,
            ErrorKind::InvalidPrincipal,
            "group/devs",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":{"Users":"x"},"Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidPrincipal,
            "unknown principal type \"Users\"",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"Service":"*"},"Action":"kms:*","Resource":"*"}"#,
            ),
            R,
            ErrorKind::InvalidPrincipal,
            "invalid principal",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":["*"],"Action":"kms:*","Resource":"*"}"#),
            R,
            ErrorKind::InvalidPrincipal,
            "must be \"*\" or an object",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Conditions":{}}"#,
            ),
            R,
            ErrorKind::UnknownStatementElement,
            "\"Conditions\"",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":[]}"#,
            ),
            R,
            ErrorKind::InvalidCondition,
            "Condition must be an object",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":"x"}}"#,
            ),
            R,
            ErrorKind::InvalidCondition,
            "StringEquals must be an object",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"":"x"}}}"#,
            ),
            R,
            ErrorKind::InvalidCondition,
            "empty condition key",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqual":{"k":"x"}}}"#,
            ),
            R,
            ErrorKind::UnknownConditionOperator,
            "\"StringEqual\"",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"k":"true"}}}"#,
            ),
            R,
            ErrorKind::UnknownConditionOperator,
            "NullIfExists",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForEachValue:StringEquals":{"k":"x"}}}"#,
            ),
            R,
            ErrorKind::UnknownConditionOperator,
            "ForEachValue",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":null}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "for key k",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":[]}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "non-empty list",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":{"a":"b"}}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "string, a boolean, a number",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":["a",["b"]]}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "StringEquals",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"k":"ten"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "\"ten\" is not a number",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericEquals":{"k":["1","x"]}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "\"x\" is not a number",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"yesterday"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "is not a date",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-02-30"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "2020-02-30",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "true or false",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Null":{"k":"maybe"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "true or false",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"BinaryEquals":{"k":"%%%"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "base64",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/33"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "CIDR",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"example.com"}}}"#,
            ),
            R,
            ErrorKind::InvalidConditionValue,
            "example.com",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}"#.to_string(),
            R,
            ErrorKind::DuplicateSid,
            "Statement 2 (Sid \"A\"): the Sid \"A\" is used by another statement",
        ),
        (
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{ok_stmt},{{"Effect":"Allow","Principal":"*","Action":"kms:*"}}]}}"#
            ),
            R,
            ErrorKind::MissingResource,
            "Statement 2:",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (doc, kind, want_kind, want_text)) in rows.iter().enumerate() {
        match Policy::parse(doc, *kind) {
            Ok(_) => failures.push(format!("row {i}: {doc} parsed")),
            Err(e) => {
                if e.kind() != *want_kind || !e.message().contains(want_text) {
                    failures.push(format!(
                        "row {i}: {doc}\n  got {:?}: {}\n  want {want_kind:?} containing {want_text:?}",
                        e.kind(),
                        e
                    ));
                }
                assert_eq!(e.to_string(), e.message());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_edge_cases_parse() {
    let docs = [
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        r#"{"Statement":[]}"#,
        r#"{"Version":"2008-10-17","Statement":[]}"#,
        r#"  {"Version":"2012-10-17","Statement":[]}  "#,
        r#"{"Version":"2012-10-17","Id":"","Statement":[]}"#,
        // The same Sid is fine once; no Sid is fine many times.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:root"]},"Action":["kms:Encrypt"],"Resource":["*"],"Condition":{}}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com","CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"kms:*","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{}}}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"stringequals":{"k":"v"},"ForAnyValue:StringLikeIfExists":{"k":["a*"]}}}]}"#,
    ];
    for d in docs {
        let r = Policy::parse(d, PolicyKind::Resource);
        assert!(r.is_ok(), "{d}: {r:?}");
    }
    assert_eq!(policy::MAX_POLICY_BYTES, 32768);
}
