//! Statement-level evaluation: effects, actions, resources, principals.

use policy::{ContextMap, Decision, NoKeys, Policy, PolicyKind, Principal, RequestContext};
use serde_json::{json, Value as Json};

use crate::common::*;

const ALLOW: Decision = Decision::Allow {
    via_account_root: false,
};
const ALLOW_VIA_ROOT: Decision = Decision::Allow {
    via_account_root: true,
};
const DENY: Decision = Decision::ExplicitDeny;
const NA: Decision = Decision::NotApplicable;

fn identity(statements: Json) -> Policy {
    parse(
        &json!({"Version": "2012-10-17", "Statement": statements}),
        PolicyKind::Identity,
    )
}

fn key_policy(statements: Json) -> Policy {
    parse(
        &json!({"Version": "2012-10-17", "Statement": statements}),
        PolicyKind::Resource,
    )
}

fn eval(policy: &Policy, who: &Principal, action: &str, resource: &str) -> Decision {
    policy.evaluate(&RequestContext::new(who, action, resource, &NoKeys))
}

#[test]
fn action_matching() {
    let rows: &[(Json, &str, Decision)] = &[
        (json!("kms:Encrypt"), "kms:Encrypt", ALLOW),
        (json!("kms:Encrypt"), "kms:encrypt", ALLOW),
        (json!("KMS:ENCRYPT"), "kms:Encrypt", ALLOW),
        (json!("kms:Encrypt"), "kms:Decrypt", NA),
        (json!("kms:Encrypt"), "kms:EncryptX", NA),
        (json!("kms:*"), "kms:Encrypt", ALLOW),
        (json!("kms:*"), "s3:GetObject", NA),
        (json!("*"), "s3:GetObject", ALLOW),
        (
            json!("kms:Generate*"),
            "kms:GenerateDataKeyWithoutPlaintext",
            ALLOW,
        ),
        (json!("kms:Generate*"), "kms:GenerateRandom", ALLOW),
        (json!("kms:Generate*"), "kms:ReEncryptFrom", NA),
        (json!("kms:ReEncrypt*"), "kms:ReEncryptFrom", ALLOW),
        (json!("kms:ReEncrypt*"), "kms:ReEncryptTo", ALLOW),
        (json!("kms:*crypt"), "kms:Decrypt", ALLOW),
        (json!("kms:*crypt"), "kms:Encrypt", ALLOW),
        (json!("kms:*crypt"), "kms:ReEncryptFrom", NA),
        (json!("kms:?ecrypt"), "kms:Decrypt", ALLOW),
        (json!("kms:Describe?ey"), "kms:DescribeKey", ALLOW),
        (json!("kms:List*"), "kms:ListKeys", ALLOW),
        (json!("kms:list*"), "kms:ListAliases", ALLOW),
        (json!(["kms:Encrypt", "kms:Decrypt"]), "kms:Decrypt", ALLOW),
        (json!(["kms:Encrypt", "kms:Decrypt"]), "kms:Sign", NA),
    ];
    for (i, (actions, action, want)) in rows.iter().enumerate() {
        let p = identity(json!([{"Effect": "Allow", "Action": actions, "Resource": "*"}]));
        assert_eq!(
            eval(&p, &alice(), action, KEY),
            *want,
            "row {i}: {actions} vs {action}"
        );
    }
}

#[test]
fn not_action() {
    let p = identity(
        json!([{"Effect": "Allow", "NotAction": ["kms:ScheduleKeyDeletion", "kms:Disable*"], "Resource": "*"}]),
    );
    let rows = [
        ("kms:Encrypt", ALLOW),
        ("kms:ScheduleKeyDeletion", NA),
        ("kms:schedulekeydeletion", NA),
        ("kms:DisableKey", NA),
        ("kms:DisableKeyRotation", NA),
        ("kms:EnableKey", ALLOW),
        ("s3:GetObject", ALLOW),
    ];
    for (action, want) in rows {
        assert_eq!(eval(&p, &alice(), action, KEY), want, "{action}");
    }
    // NotAction with Deny: deny everything except the listed actions.
    let p = identity(json!([
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "kms:Describe*", "Resource": "*"}
    ]));
    assert_eq!(eval(&p, &alice(), "kms:DescribeKey", KEY), ALLOW);
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", KEY), DENY);
}

#[test]
fn resource_matching() {
    let rows: &[(Json, &str, Decision)] = &[
        (json!("*"), KEY, ALLOW),
        (json!("*"), "*", ALLOW),
        (json!(KEY), KEY, ALLOW),
        (json!(KEY), OTHER_KEY, NA),
        (json!("arn:aws:kms:*:111122223333:key/*"), KEY, ALLOW),
        (json!("arn:aws:kms:*:111122223333:key/*"), OTHER_KEY, NA),
        (json!("arn:aws:kms:*:*:key/*"), OTHER_KEY, ALLOW),
        (
            json!("arn:aws:kms:us-east-1:111122223333:key/1234abcd-*"),
            KEY,
            ALLOW,
        ),
        (
            json!("arn:aws:kms:us-east-1:111122223333:key/1234ABCD-*"),
            KEY,
            NA,
        ),
        (json!("arn:aws:kms:us-west-2:111122223333:key/*"), KEY, NA),
        (
            json!("arn:aws:kms:us-east-?:111122223333:key/*"),
            KEY,
            ALLOW,
        ),
        (json!("arn:aws:kms:*:111122223333:alias/*"), KEY, NA),
        (json!("arn:aws:kms:*:111122223333:*"), KEY, ALLOW),
        (json!("arn:aws:kms:*"), KEY, ALLOW),
        // An operation on no resource needs "*".
        (json!("arn:aws:kms:*:111122223333:key/*"), "*", NA),
        (json!([OTHER_KEY, KEY]), KEY, ALLOW),
    ];
    for (i, (resources, resource, want)) in rows.iter().enumerate() {
        let p = identity(json!([{"Effect": "Allow", "Action": "kms:*", "Resource": resources}]));
        assert_eq!(
            eval(&p, &alice(), "kms:Encrypt", resource),
            *want,
            "row {i}: {resources} vs {resource}"
        );
    }
}

#[test]
fn not_resource() {
    let p = identity(
        json!([{"Effect": "Allow", "Action": "kms:*", "NotResource": "arn:aws:kms:*:444455556666:key/*"}]),
    );
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", KEY), ALLOW);
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", OTHER_KEY), NA);
    assert_eq!(eval(&p, &alice(), "kms:ListKeys", "*"), ALLOW);
    let p = identity(json!([
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:*", "NotResource": [KEY]}
    ]));
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", KEY), ALLOW);
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", OTHER_KEY), DENY);
}

#[test]
fn deny_wins_over_allow() {
    let p = identity(json!([
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
    ]));
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", KEY), ALLOW);
    assert_eq!(eval(&p, &alice(), "kms:ScheduleKeyDeletion", KEY), DENY);
    // Order does not matter.
    let p = identity(json!([
        {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    ]));
    assert_eq!(eval(&p, &alice(), "kms:ScheduleKeyDeletion", KEY), DENY);
    // A deny with a failing condition does not deny.
    let p = identity(json!([
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    ]));
    let secure = ContextMap::new().with("aws:SecureTransport", true);
    let insecure = ContextMap::new().with("aws:SecureTransport", false);
    let a = alice();
    assert_eq!(
        p.evaluate(&RequestContext::new(&a, "kms:Encrypt", KEY, &secure)),
        ALLOW
    );
    assert_eq!(
        p.evaluate(&RequestContext::new(&a, "kms:Encrypt", KEY, &insecure)),
        DENY
    );
    // No statement at all: not applicable.
    let empty = identity(json!([]));
    assert_eq!(eval(&empty, &alice(), "kms:Encrypt", KEY), NA);
}

#[test]
fn principal_matching() {
    let root = Principal::root(ACCT);
    let other_root = Principal::root(OTHER);
    let alice = alice();
    let bob = Principal::user(BOB);
    let session = admin_session();
    let carol = Principal::user(CAROL);
    let svc = Principal::service("cloudtrail.amazonaws.com");
    let anon = Principal::anonymous();
    let other_session = Principal::role_session(
        "arn:aws:sts::111122223333:assumed-role/Other/s",
        "arn:aws:iam::111122223333:role/Other",
    );
    let rows: &[(Json, &Principal, Decision)] = &[
        (json!("*"), &alice, ALLOW),
        (json!("*"), &anon, ALLOW),
        (json!("*"), &svc, ALLOW),
        (json!({"AWS": "*"}), &carol, ALLOW),
        (json!({"AWS": "*"}), &anon, ALLOW),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &alice,
            ALLOW_VIA_ROOT,
        ),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &session,
            ALLOW_VIA_ROOT,
        ),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &root,
            ALLOW,
        ),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &carol,
            NA,
        ),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &other_root,
            NA,
        ),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &svc,
            NA,
        ),
        (
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            &anon,
            NA,
        ),
        (json!({"AWS": ACCT}), &alice, ALLOW_VIA_ROOT),
        (json!({"AWS": ACCT}), &root, ALLOW),
        (json!({"AWS": OTHER}), &carol, ALLOW_VIA_ROOT),
        (json!({"AWS": ALICE}), &alice, ALLOW),
        (json!({"AWS": ALICE}), &bob, NA),
        (json!({"AWS": ALICE}), &root, NA),
        (json!({"AWS": [BOB, ALICE]}), &alice, ALLOW),
        (json!({"AWS": ADMIN_ROLE}), &session, ALLOW),
        (json!({"AWS": ADMIN_ROLE}), &other_session, NA),
        (json!({"AWS": ADMIN_SESSION}), &session, ALLOW),
        (
            json!({"AWS": "arn:aws:sts::111122223333:assumed-role/KeyAdmin/other"}),
            &session,
            NA,
        ),
        (
            json!({"AWS": [ALICE, format!("arn:aws:iam::{ACCT}:root")]}),
            &alice,
            ALLOW,
        ),
        (
            json!({"AWS": [format!("arn:aws:iam::{ACCT}:root"), ALICE]}),
            &alice,
            ALLOW,
        ),
        (
            json!({"AWS": [format!("arn:aws:iam::{ACCT}:root"), ALICE]}),
            &bob,
            ALLOW_VIA_ROOT,
        ),
        (json!({"Service": "cloudtrail.amazonaws.com"}), &svc, ALLOW),
        (json!({"Service": "CloudTrail.amazonaws.com"}), &svc, ALLOW),
        (json!({"Service": "cloudtrail.amazonaws.com"}), &alice, NA),
        (
            json!({"Service": ["ec2.amazonaws.com", "cloudtrail.amazonaws.com"]}),
            &svc,
            ALLOW,
        ),
        (
            json!({"AWS": ALICE, "Service": "cloudtrail.amazonaws.com"}),
            &svc,
            ALLOW,
        ),
        (
            json!({"AWS": ALICE, "Service": "cloudtrail.amazonaws.com"}),
            &alice,
            ALLOW,
        ),
        (
            json!({"AWS": ALICE, "Service": "cloudtrail.amazonaws.com"}),
            &bob,
            NA,
        ),
    ];
    for (i, (principal, who, want)) in rows.iter().enumerate() {
        let p = key_policy(
            json!([{"Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"}]),
        );
        assert_eq!(
            eval(&p, who, "kms:Encrypt", KEY),
            *want,
            "row {i}: {principal} vs {}",
            who.arn
        );
    }
}

#[test]
fn direct_allow_is_preferred_over_account_allow() {
    let p = key_policy(json!([
        {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Encrypt", "Resource": "*"}
    ]));
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", KEY), ALLOW);
    assert_eq!(eval(&p, &alice(), "kms:Decrypt", KEY), ALLOW_VIA_ROOT);
    assert_eq!(
        eval(&p, &Principal::user(BOB), "kms:Encrypt", KEY),
        ALLOW_VIA_ROOT
    );
}

#[test]
fn not_principal() {
    let root = format!("arn:aws:iam::{ACCT}:root");
    let alice = alice();
    let bob = Principal::user(BOB);
    let session = admin_session();
    let carol = Principal::user(CAROL);
    let acct_root = Principal::root(ACCT);
    let svc = Principal::service("ec2.amazonaws.com");
    // Deny everyone but the listed: each level of the caller (account, role, session, user)
    // must be named to be excepted.
    let rows: &[(Json, &Principal, Decision)] = &[
        (json!({"AWS": [ALICE, root]}), &alice, ALLOW),
        (json!({"AWS": [ALICE, root]}), &bob, DENY),
        (json!({"AWS": [ALICE, root]}), &acct_root, ALLOW),
        (json!({"AWS": [ALICE, root]}), &carol, DENY),
        (json!({"AWS": [ALICE, root]}), &svc, DENY),
        (json!({"AWS": ALICE}), &alice, DENY),
        (json!({"AWS": root}), &alice, DENY),
        (json!({"AWS": root}), &acct_root, ALLOW),
        // The session itself must be named too (AWS checks account, role, then session).
        (json!({"AWS": [ADMIN_ROLE, root]}), &session, DENY),
        (
            json!({"AWS": [ADMIN_SESSION, ADMIN_ROLE, root]}),
            &session,
            ALLOW,
        ),
        (json!({"AWS": [ADMIN_SESSION, root]}), &session, DENY),
        (json!({"AWS": [ADMIN_ROLE]}), &session, DENY),
        (json!({"Service": "ec2.amazonaws.com"}), &svc, ALLOW),
        (json!({"Service": "ec2.amazonaws.com"}), &alice, DENY),
        (json!({"AWS": "*"}), &carol, ALLOW),
    ];
    for (i, (np, who, want)) in rows.iter().enumerate() {
        let p = key_policy(json!([
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": np, "Action": "kms:*", "Resource": "*"}
        ]));
        assert_eq!(
            eval(&p, who, "kms:Encrypt", KEY),
            *want,
            "row {i}: NotPrincipal {np} vs {}",
            who.arn
        );
    }
    // NotPrincipal with Allow: everyone else is allowed.
    let p = key_policy(
        json!([{"Effect": "Allow", "NotPrincipal": {"AWS": [ALICE, root]}, "Action": "kms:*", "Resource": "*"}]),
    );
    assert_eq!(eval(&p, &bob, "kms:Encrypt", KEY), ALLOW);
    assert_eq!(eval(&p, &alice, "kms:Encrypt", KEY), NA);
}

#[test]
fn single_statement_object_and_2008_version() {
    let p = parse(
        &json!({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        PolicyKind::Identity,
    );
    assert_eq!(p.statement_count(), 1);
    assert_eq!(p.version(), policy::Version::V2008_10_17);
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", KEY), ALLOW);
    let p = parse(
        &json!({"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        PolicyKind::Identity,
    );
    assert_eq!(p.version(), policy::Version::V2008_10_17);
    assert_eq!(p.id(), None);
}

#[test]
fn metadata() {
    let p = parse(
        &json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "B", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}
        ]}),
        PolicyKind::Resource,
    );
    assert_eq!(p.id(), Some("key-default-1"));
    assert_eq!(p.kind(), PolicyKind::Resource);
    assert_eq!(p.statement_count(), 3);
    assert_eq!(p.sids().collect::<Vec<_>>(), ["A", "B"]);
    assert_eq!(p.version().as_str(), "2012-10-17");
}

#[test]
fn policies_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Policy>();
    check::<policy::PolicyError>();
}
