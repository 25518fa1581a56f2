//! Key policies from the AWS KMS documentation, evaluated.

use policy::{ContextMap, Decision, Policy, PolicyKind, Principal, RequestContext};
use serde_json::json;

use crate::common::*;

const DEFAULT_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

pub(crate) fn default_policy() -> Policy {
    Policy::parse(DEFAULT_POLICY, PolicyKind::Resource).expect("the default key policy parses")
}

/// The key policy the console writes: the account statement, key administrators, key users and
/// grants for AWS resources.
pub(crate) fn console_policy() -> Policy {
    parse(
        &json!({
            "Version": "2012-10-17",
            "Id": "key-consolepolicy-3",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": "kms:*",
                    "Resource": "*"
                },
                {
                    "Sid": "Allow access for Key Administrators",
                    "Effect": "Allow",
                    "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KeyAdmin"]},
                    "Action": [
                        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                        "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                        "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                        "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"
                    ],
                    "Resource": "*"
                },
                {
                    "Sid": "Allow use of the key",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": "*"
                },
                {
                    "Sid": "Allow attachment of persistent resources",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
                }
            ]
        }),
        PolicyKind::Resource,
    )
}

pub(crate) fn allow_all_identity() -> Policy {
    parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
        PolicyKind::Identity,
    )
}

fn eval(p: &Policy, who: &Principal, action: &str, keys: &ContextMap) -> Decision {
    p.evaluate(&RequestContext::new(who, action, KEY, keys))
}

pub(crate) const ALLOW: Decision = Decision::Allow {
    via_account_root: false,
};
const VIA_ROOT: Decision = Decision::Allow {
    via_account_root: true,
};

#[test]
fn default_key_policy() {
    let p = default_policy();
    assert_eq!(p.id(), Some("key-default-1"));
    assert_eq!(
        p.sids().collect::<Vec<_>>(),
        ["Enable IAM User Permissions"]
    );
    let none = ContextMap::new();
    assert_eq!(
        eval(&p, &Principal::root(ACCT), "kms:ScheduleKeyDeletion", &none),
        ALLOW
    );
    assert_eq!(eval(&p, &alice(), "kms:Encrypt", &none), VIA_ROOT);
    assert_eq!(
        eval(&p, &admin_session(), "kms:PutKeyPolicy", &none),
        VIA_ROOT
    );
    assert_eq!(
        eval(&p, &Principal::user(CAROL), "kms:Encrypt", &none),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, &Principal::root(OTHER), "kms:Encrypt", &none),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(
            &p,
            &Principal::service("ec2.amazonaws.com"),
            "kms:Encrypt",
            &none
        ),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, &alice(), "s3:GetObject", &none),
        Decision::NotApplicable
    );
}

#[test]
fn console_key_policy() {
    let p = console_policy();
    let none = ContextMap::new();
    let admin = admin_session();
    let alice = alice();
    let bob = Principal::user(BOB);
    let grant_for_resource = ContextMap::new().with("kms:GrantIsForAWSResource", true);
    let grant_not_for_resource = ContextMap::new().with("kms:GrantIsForAWSResource", false);
    let rows: &[(&Principal, &str, &ContextMap, Decision)] = &[
        (&admin, "kms:PutKeyPolicy", &none, ALLOW),
        (&admin, "kms:ScheduleKeyDeletion", &none, ALLOW),
        (&admin, "kms:DescribeKey", &none, ALLOW),
        (&admin, "kms:GetKeyRotationStatus", &none, ALLOW),
        (&admin, "kms:RotateKeyOnDemand", &none, ALLOW),
        (&admin, "kms:Encrypt", &none, VIA_ROOT),
        (&admin, "kms:Decrypt", &none, VIA_ROOT),
        (&alice, "kms:Encrypt", &none, ALLOW),
        (&alice, "kms:ReEncryptFrom", &none, ALLOW),
        (&alice, "kms:GenerateDataKeyPair", &none, ALLOW),
        (&alice, "kms:PutKeyPolicy", &none, VIA_ROOT),
        (&alice, "kms:CreateGrant", &grant_for_resource, ALLOW),
        (&alice, "kms:CreateGrant", &grant_not_for_resource, VIA_ROOT),
        (&alice, "kms:CreateGrant", &none, VIA_ROOT),
        (&bob, "kms:Encrypt", &none, VIA_ROOT),
    ];
    for (i, (who, action, keys, want)) in rows.iter().enumerate() {
        assert_eq!(
            eval(&p, who, action, keys),
            *want,
            "row {i}: {} {action}",
            who.arn
        );
    }
}

#[test]
fn via_service_and_caller_account() {
    // The statement of the AWS managed key for Amazon EBS.
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Condition": {"StringEquals": {
                "kms:CallerAccount": "111122223333",
                "kms:ViaService": "ec2.us-west-2.amazonaws.com"
            }},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*"
        }]}),
        PolicyKind::Resource,
    );
    let via = |acct: &str, svc: &str| {
        ContextMap::new()
            .with("kms:CallerAccount", acct)
            .with("kms:ViaService", svc)
    };
    let rows: &[(ContextMap, &str, bool)] = &[
        (
            via(ACCT, "ec2.us-west-2.amazonaws.com"),
            "kms:Decrypt",
            true,
        ),
        (
            via(ACCT, "ec2.us-west-2.amazonaws.com"),
            "kms:GenerateDataKeyWithoutPlaintext",
            true,
        ),
        (
            via(ACCT, "ec2.us-west-2.amazonaws.com"),
            "kms:ScheduleKeyDeletion",
            false,
        ),
        (
            via(ACCT, "ec2.us-east-1.amazonaws.com"),
            "kms:Decrypt",
            false,
        ),
        (
            via(OTHER, "ec2.us-west-2.amazonaws.com"),
            "kms:Decrypt",
            false,
        ),
        (
            ContextMap::new().with("kms:CallerAccount", ACCT),
            "kms:Decrypt",
            false,
        ),
    ];
    for (i, (keys, action, want)) in rows.iter().enumerate() {
        assert_eq!(
            eval(&p, &alice(), action, keys).is_allow(),
            *want,
            "row {i}"
        );
    }
    // A StringLike on the service, as the documentation shows for any region.
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringLike": {"kms:ViaService": ["ec2.*.amazonaws.com", "rds.*.amazonaws.com"]}}
        }]}),
        PolicyKind::Resource,
    );
    let svc = |s: &str| ContextMap::new().with("kms:ViaService", s);
    assert_eq!(
        eval(
            &p,
            &alice(),
            "kms:Decrypt",
            &svc("rds.eu-west-1.amazonaws.com")
        ),
        ALLOW
    );
    assert_eq!(
        eval(
            &p,
            &alice(),
            "kms:Decrypt",
            &svc("s3.eu-west-1.amazonaws.com")
        ),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, &alice(), "kms:Decrypt", &ContextMap::new()),
        Decision::NotApplicable
    );
}

#[test]
fn encryption_context_conditions() {
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
            "Action": "kms:GenerateDataKey",
            "Resource": "*",
            "Condition": {"StringEquals": {
                "kms:EncryptionContext:AppName": "ExampleApp",
                "kms:EncryptionContext:FilePath": "/var/opt/secrets/"
            }}
        }]}),
        PolicyKind::Resource,
    );
    let admin = admin_session();
    let ctx = |pairs: &[(&str, &str)]| {
        let mut m = ContextMap::new();
        for (k, v) in pairs {
            m.insert(&format!("kms:EncryptionContext:{k}"), *v);
        }
        m
    };
    let rows: &[(ContextMap, bool)] = &[
        (
            ctx(&[("AppName", "ExampleApp"), ("FilePath", "/var/opt/secrets/")]),
            true,
        ),
        // The condition key, encryption context key included, ignores case...
        (
            ctx(&[("appname", "ExampleApp"), ("FILEPATH", "/var/opt/secrets/")]),
            true,
        ),
        // ...but StringEquals compares the value exactly.
        (
            ctx(&[("AppName", "exampleapp"), ("FilePath", "/var/opt/secrets/")]),
            false,
        ),
        (ctx(&[("AppName", "ExampleApp")]), false),
        (ctx(&[]), false),
    ];
    for (i, (keys, want)) in rows.iter().enumerate() {
        assert_eq!(
            eval(&p, &admin, "kms:GenerateDataKey", keys).is_allow(),
            *want,
            "row {i}"
        );
    }
    // kms:EncryptionContextKeys is multivalued: require exactly an allowed set of keys.
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]},
                "Null": {"kms:EncryptionContextKeys": "false"}
            }
        }]}),
        PolicyKind::Resource,
    );
    let keys = |k: &[&str]| ContextMap::new().with("kms:EncryptionContextKeys", k);
    assert_eq!(
        eval(&p, &alice(), "kms:Encrypt", &keys(&["AppName"])),
        VIA_ROOT
    );
    assert_eq!(
        eval(&p, &alice(), "kms:Encrypt", &keys(&["AppName", "FilePath"])),
        VIA_ROOT
    );
    assert_eq!(
        eval(&p, &alice(), "kms:Encrypt", &keys(&["AppName", "Other"])),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, &alice(), "kms:Encrypt", &keys(&[])),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, &alice(), "kms:Encrypt", &ContextMap::new()),
        Decision::NotApplicable
    );
}

#[test]
fn deny_without_mfa_and_bypass_lockout() {
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "MFA", "Effect": "Deny", "Principal": "*", "Action": ["kms:ScheduleKeyDeletion", "kms:Delete*"], "Resource": "*",
             "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
            {"Sid": "NoBypass", "Effect": "Deny", "Principal": "*", "Action": "kms:PutKeyPolicy", "Resource": "*",
             "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": true}}}
        ]}),
        PolicyKind::Resource,
    );
    let mfa = |b: bool| ContextMap::new().with("aws:MultiFactorAuthPresent", b);
    assert_eq!(
        eval(&p, &alice(), "kms:ScheduleKeyDeletion", &ContextMap::new()),
        Decision::ExplicitDeny
    );
    assert_eq!(
        eval(&p, &alice(), "kms:ScheduleKeyDeletion", &mfa(false)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        eval(&p, &alice(), "kms:ScheduleKeyDeletion", &mfa(true)),
        VIA_ROOT
    );
    assert_eq!(
        eval(&p, &alice(), "kms:Encrypt", &ContextMap::new()),
        VIA_ROOT
    );
    let bypass = |b: bool| ContextMap::new().with("kms:BypassPolicyLockoutSafetyCheck", b);
    assert_eq!(
        eval(&p, &alice(), "kms:PutKeyPolicy", &bypass(true)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        eval(&p, &alice(), "kms:PutKeyPolicy", &bypass(false)),
        VIA_ROOT
    );
}
