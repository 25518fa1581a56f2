//! Policy documents (`policy::Policy::parse`) and their evaluation (`Policy::evaluate`,
//! `policy::authorize`, `policy::would_lock_out`). The first byte picks the kind of policy
//! (key or identity) and the request the parsed policy is asked about; the rest is the document.
//!
//! Properties: parsing and evaluation never panic; evaluation is deterministic; a policy that
//! explicitly denies a request as the key policy makes `authorize` refuse it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{
    authorize, would_lock_out, ContextMap, Decision, Policy, PolicyKind, Principal, RequestContext,
    Value,
};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ACTIONS: [&str; 6] = [
    "kms:Encrypt",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
    "kms:DescribeKey",
    "KMS:decrypt",
    "",
];
const RESOURCES: [&str; 3] = [KEY, "*", "arn:aws:kms:eu-west-1:444455556666:alias/x"];

fn principals() -> [Principal; 5] {
    [
        Principal::user("arn:aws:iam::111122223333:user/alice").with_tag("team", "blue"),
        Principal::role_session(
            "arn:aws:sts::111122223333:assumed-role/KeyAdmin/s",
            "arn:aws:iam::111122223333:role/KeyAdmin",
        ),
        Principal::root("111122223333"),
        Principal::service("ec2.amazonaws.com"),
        Principal::anonymous(),
    ]
}

fn keys() -> ContextMap {
    let mut keys = ContextMap::new()
        .with("kms:CallerAccount", "111122223333")
        .with("kms:ViaService", "ec2.us-west-2.amazonaws.com")
        .with("kms:EncryptionContextKeys", vec!["App", "alice"])
        .with("kms:EncryptionContext:App", "billing")
        .with("kms:GrantIsForAWSResource", true)
        .with("test:n", 5i64)
        .with(
            "aws:CurrentTime",
            Value::String("2021-01-01T00:00:00Z".into()),
        )
        .with("aws:SecureTransport", true)
        .with("aws:SourceArn", "arn:aws:iam::111122223333:role/R")
        .with("test:b", Value::Binary(b"Binary".to_vec()));
    if let Ok(ip) = "203.0.113.9".parse() {
        keys = keys.with("aws:SourceIp", Value::Ip(ip));
    }
    keys
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = if pick & 1 == 0 {
        PolicyKind::Resource
    } else {
        PolicyKind::Identity
    };
    let Ok(policy) = Policy::parse(text, kind) else {
        return;
    };
    let principals = principals();
    let who = &principals[usize::from(pick >> 1) % principals.len()];
    let keys = keys();
    let empty = ContextMap::new();
    for keys in [&keys, &empty] {
        for action in ACTIONS {
            for resource in RESOURCES {
                let ctx = RequestContext::new(who, action, resource, keys);
                let decision = policy.evaluate(&ctx);
                assert_eq!(
                    decision,
                    policy.evaluate(&ctx),
                    "evaluation is not deterministic"
                );
                let _ = would_lock_out(&policy, &ctx);
                let as_key = authorize(Some(&policy), &[], false, &ctx);
                if decision == Decision::ExplicitDeny {
                    assert!(!as_key.is_allowed(), "an explicit deny was overridden");
                }
                let _ = authorize(None, &[&policy], true, &ctx);
            }
        }
    }
});
