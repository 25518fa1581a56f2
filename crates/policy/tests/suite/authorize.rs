//! The combined KMS authorization (key policy, identity policies, grants), its denial
//! messages, and the policy lockout safety check.

use policy::{
    authorize, would_lock_out, AllowedVia, AuthzResult, ContextMap, ContextValue, Decision,
    DenyReason, NoKeys, Policy, PolicyKind, Principal, RequestContext,
};
use serde_json::json;

use crate::common::*;
use crate::kms::{allow_all_identity, console_policy, default_policy, ALLOW};

fn authz(
    key: Option<&Policy>,
    ids: &[&Policy],
    grants: bool,
    who: &Principal,
    action: &str,
    resource: &str,
) -> AuthzResult {
    authorize(
        key,
        ids,
        grants,
        &RequestContext::new(who, action, resource, &NoKeys),
    )
}

fn denied(reason: DenyReason, action: &str) -> AuthzResult {
    AuthzResult::Denied {
        reason,
        message: reason.describe(action),
    }
}

#[test]
fn combined_authorization() {
    use AllowedVia::*;
    use DenyReason::*;
    let default = default_policy();
    let direct = parse(
        &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": [ALICE, CAROL]}, "Action": "kms:Encrypt", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": BOB}, "Action": "kms:Decrypt", "Resource": "*"}
        ]}),
        PolicyKind::Resource,
    );
    let allow_all = allow_all_identity();
    let deny_encrypt = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}),
        PolicyKind::Identity,
    );
    let only_other_keys = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": OTHER_KEY}]}),
        PolicyKind::Identity,
    );
    let alice = alice();
    let bob = Principal::user(BOB);
    let carol = Principal::user(CAROL);
    let root = Principal::root(ACCT);
    let other_root = Principal::root(OTHER);
    let logs = Principal::service("logs.amazonaws.com");
    type Row<'a> = (
        Option<&'a Policy>,
        Vec<&'a Policy>,
        bool,
        &'a Principal,
        &'a str,
        &'a str,
        AuthzResult,
    );
    let rows: Vec<Row<'_>> = vec![
        // Default key policy: IAM decides for the account's principals.
        (
            Some(&default),
            vec![&allow_all],
            false,
            &alice,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicyAndIdentityPolicy),
        ),
        (
            Some(&default),
            vec![],
            false,
            &alice,
            "kms:Encrypt",
            KEY,
            denied(NoIdentityPolicyAllows, "kms:Encrypt"),
        ),
        (
            Some(&default),
            vec![&only_other_keys],
            false,
            &alice,
            "kms:Encrypt",
            KEY,
            denied(NoIdentityPolicyAllows, "kms:Encrypt"),
        ),
        (
            Some(&default),
            vec![&only_other_keys, &allow_all],
            false,
            &alice,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicyAndIdentityPolicy),
        ),
        (
            Some(&default),
            vec![],
            false,
            &root,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicy),
        ),
        (
            Some(&default),
            vec![&allow_all],
            false,
            &carol,
            "kms:Encrypt",
            KEY,
            denied(NoResourcePolicyAllows, "kms:Encrypt"),
        ),
        (
            Some(&default),
            vec![],
            false,
            &other_root,
            "kms:Encrypt",
            KEY,
            denied(NoResourcePolicyAllows, "kms:Encrypt"),
        ),
        // Grants allow on their own, but not against an explicit deny.
        (
            Some(&default),
            vec![],
            true,
            &bob,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(Grant),
        ),
        (
            Some(&default),
            vec![&deny_encrypt],
            true,
            &bob,
            "kms:Encrypt",
            KEY,
            denied(ExplicitDenyInIdentityPolicy, "kms:Encrypt"),
        ),
        // A key policy that names the principal needs no IAM policy (same account).
        (
            Some(&direct),
            vec![],
            false,
            &alice,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicy),
        ),
        (
            Some(&direct),
            vec![],
            false,
            &alice,
            "kms:Decrypt",
            KEY,
            denied(NoIdentityPolicyAllows, "kms:Decrypt"),
        ),
        (
            Some(&direct),
            vec![&deny_encrypt],
            false,
            &alice,
            "kms:Encrypt",
            KEY,
            denied(ExplicitDenyInIdentityPolicy, "kms:Encrypt"),
        ),
        (
            Some(&direct),
            vec![&allow_all],
            false,
            &bob,
            "kms:Decrypt",
            KEY,
            denied(ExplicitDenyInResourcePolicy, "kms:Decrypt"),
        ),
        (
            Some(&direct),
            vec![&allow_all, &deny_encrypt],
            true,
            &bob,
            "kms:Decrypt",
            KEY,
            denied(ExplicitDenyInResourcePolicy, "kms:Decrypt"),
        ),
        (
            Some(&direct),
            vec![],
            false,
            &logs,
            "kms:Decrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicy),
        ),
        (
            Some(&direct),
            vec![],
            false,
            &logs,
            "kms:Encrypt",
            KEY,
            denied(NoResourcePolicyAllows, "kms:Encrypt"),
        ),
        // Cross-account: the key policy must allow, and so must the caller's own IAM policies.
        (
            Some(&direct),
            vec![],
            false,
            &carol,
            "kms:Encrypt",
            KEY,
            denied(NoIdentityPolicyAllows, "kms:Encrypt"),
        ),
        (
            Some(&direct),
            vec![&allow_all],
            false,
            &carol,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicyAndIdentityPolicy),
        ),
        (
            Some(&direct),
            vec![],
            false,
            &carol,
            "kms:Decrypt",
            KEY,
            denied(NoIdentityPolicyAllows, "kms:Decrypt"),
        ),
        (
            Some(&direct),
            vec![&allow_all],
            false,
            &carol,
            "kms:Decrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicyAndIdentityPolicy),
        ),
        (
            Some(&direct),
            vec![&allow_all],
            false,
            &carol,
            "kms:ScheduleKeyDeletion",
            KEY,
            denied(NoResourcePolicyAllows, "kms:ScheduleKeyDeletion"),
        ),
        (
            Some(&direct),
            vec![],
            false,
            &other_root,
            "kms:Decrypt",
            KEY,
            AuthzResult::Allowed(KeyPolicyAndIdentityPolicy),
        ),
        (
            Some(&direct),
            vec![],
            true,
            &carol,
            "kms:Encrypt",
            KEY,
            AuthzResult::Allowed(Grant),
        ),
        // Operations on no key: identity policies alone.
        (
            None,
            vec![&allow_all],
            false,
            &alice,
            "kms:CreateKey",
            "*",
            AuthzResult::Allowed(IdentityPolicy),
        ),
        (
            None,
            vec![],
            false,
            &alice,
            "kms:ListKeys",
            "*",
            denied(NoIdentityPolicyAllows, "kms:ListKeys"),
        ),
        (
            None,
            vec![&only_other_keys],
            false,
            &alice,
            "kms:ListKeys",
            "*",
            denied(NoIdentityPolicyAllows, "kms:ListKeys"),
        ),
        (
            None,
            vec![],
            false,
            &root,
            "kms:GenerateRandom",
            "*",
            AuthzResult::Allowed(IdentityPolicy),
        ),
        (
            None,
            vec![&allow_all, &deny_encrypt],
            false,
            &alice,
            "kms:Encrypt",
            "*",
            denied(ExplicitDenyInIdentityPolicy, "kms:Encrypt"),
        ),
        (
            None,
            vec![&allow_all],
            true,
            &alice,
            "kms:CreateKey",
            "*",
            AuthzResult::Allowed(IdentityPolicy),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (key, ids, grants, who, action, resource, want)) in rows.iter().enumerate() {
        let got = authz(*key, ids, *grants, who, action, resource);
        if got != *want {
            failures.push(format!(
                "row {i}: {} {action} on {resource}: got {got:?}, want {want:?}",
                who.arn
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn denial_messages() {
    let default = default_policy();
    let a = alice();
    let ctx = RequestContext::new(&a, "kms:Encrypt", KEY, &NoKeys);
    let r = authorize(Some(&default), &[], false, &ctx);
    assert!(!r.is_allowed());
    assert_eq!(
        r.access_denied_message(&ctx).as_deref(),
        Some("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows the kms:Encrypt action")
    );
    assert_eq!(
        r.to_string(),
        "denied: because no identity-based policy allows the kms:Encrypt action"
    );
    let rows = [
        (
            DenyReason::ExplicitDenyInResourcePolicy,
            "with an explicit deny in a resource-based policy",
        ),
        (
            DenyReason::ExplicitDenyInIdentityPolicy,
            "with an explicit deny in an identity-based policy",
        ),
        (
            DenyReason::NoResourcePolicyAllows,
            "because no resource-based policy allows the kms:Sign action",
        ),
        (
            DenyReason::NoIdentityPolicyAllows,
            "because no identity-based policy allows the kms:Sign action",
        ),
    ];
    for (reason, text) in rows {
        assert_eq!(reason.describe("kms:Sign"), text);
    }
    let allowed = authorize(
        Some(&default),
        &[],
        false,
        &RequestContext::new(&Principal::root(ACCT), "kms:Encrypt", KEY, &NoKeys),
    );
    assert!(allowed.is_allowed());
    assert_eq!(allowed.access_denied_message(&ctx), None);
}

#[test]
fn lockout_safety_check() {
    let default = default_policy();
    let console = console_policy();
    let only_bob = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}]}),
        PolicyKind::Resource,
    );
    let alice_use_only = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}),
        PolicyKind::Resource,
    );
    let root_but_deny_alice = parse(
        &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": ALICE}, "Action": "kms:Put*", "Resource": "*"}
        ]}),
        PolicyKind::Resource,
    );
    let needs_mfa = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:PutKeyPolicy", "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}),
        PolicyKind::Resource,
    );
    let empty = parse(
        &json!({"Version": "2012-10-17", "Statement": []}),
        PolicyKind::Resource,
    );
    let alice = alice();
    let admin = admin_session();
    let root = Principal::root(ACCT);
    let none = ContextMap::new();
    let mfa = ContextMap::new().with("aws:MultiFactorAuthPresent", true);
    let rows: &[(&Policy, &Principal, &ContextMap, bool)] = &[
        (&default, &alice, &none, false),
        (&default, &admin, &none, false),
        (&default, &root, &none, false),
        (&console, &admin, &none, false),
        (&console, &alice, &none, false),
        (&only_bob, &alice, &none, true),
        (&only_bob, &root, &none, true),
        (&alice_use_only, &alice, &none, true),
        (&root_but_deny_alice, &alice, &none, true),
        (&root_but_deny_alice, &admin, &none, false),
        (&needs_mfa, &alice, &none, true),
        (&needs_mfa, &alice, &mfa, false),
        (&empty, &root, &none, true),
    ];
    for (i, (p, who, keys, want)) in rows.iter().enumerate() {
        // The action of the request being checked does not matter.
        let ctx = RequestContext::new(who, "kms:CreateKey", KEY, *keys);
        assert_eq!(would_lock_out(p, &ctx), *want, "row {i}: {}", who.arn);
    }
}

#[test]
fn custom_context_keys_trait() {
    /// A context backed by a fixed list, as a caller might implement it.
    struct Fixed(Vec<(&'static str, &'static str)>);
    impl policy::ContextKeys for Fixed {
        fn get(&self, name: &str) -> Option<ContextValue<'_>> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| ContextValue::String(v))
        }
    }
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
        }]}),
        PolicyKind::Resource,
    );
    let a = alice();
    let keys = Fixed(vec![("kms:viaservice", "s3.us-east-1.amazonaws.com")]);
    assert_eq!(
        p.evaluate(&RequestContext::new(&a, "kms:Decrypt", KEY, &keys)),
        ALLOW
    );
    let keys = Fixed(vec![]);
    assert_eq!(
        p.evaluate(&RequestContext::new(&a, "kms:Decrypt", KEY, &keys)),
        Decision::NotApplicable
    );
}
