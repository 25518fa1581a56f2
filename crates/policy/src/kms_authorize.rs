//! How AWS KMS combines its policies: the key policy, the caller's IAM identity-based policies
//! and grants; and the policy lockout safety check.
//!
//! * An explicit `Deny` in the key policy or in any identity-based policy wins.
//! * Otherwise the request is allowed when the key policy allows the principal itself; or when
//!   the key policy allows the principal's account (`arn:aws:iam::ACCOUNT:root`) and an
//!   identity-based policy of the principal allows the request; or when a grant allows it.
//! * A principal of another account than the key's always needs both: the key policy must allow
//!   it (directly or through its account) and its own identity-based policies must allow too.
//! * Operations on no key (`CreateKey`, `ListKeys`, `GenerateRandom`...) have no key policy:
//!   the identity-based policies alone decide.
//!
//! The root user of an account holds every permission of the account in IAM terms: it needs no
//! identity-based policy (but key policies still apply to it, and a `Deny` still denies).

use std::fmt;

use crate::arn::account_of;
use crate::context::RequestContext;
use crate::evaluate::Decision;
use crate::parse::Policy;
use crate::principal::PrincipalKind;

/// What allowed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowedVia {
    /// The key policy allows the principal itself.
    KeyPolicy,
    /// The key policy allows the principal's account and an identity-based policy allows the
    /// principal (or the key policy allows a principal of another account, which its identity
    /// policies allow too).
    KeyPolicyAndIdentityPolicy,
    /// An operation on no key, allowed by an identity-based policy.
    IdentityPolicy,
    /// A grant.
    Grant,
}

/// Why a request was denied; [`fmt::Display`] needs the action, see [`DenyReason::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// A `Deny` statement of the key policy applies.
    ExplicitDenyInResourcePolicy,
    /// A `Deny` statement of an identity-based policy applies.
    ExplicitDenyInIdentityPolicy,
    /// The key policy does not allow the principal or its account.
    NoResourcePolicyAllows,
    /// The key policy delegates to IAM (or the caller is of another account) and no
    /// identity-based policy allows the request.
    NoIdentityPolicyAllows,
}

impl DenyReason {
    /// The reason as AWS words it at the end of the message: `because no identity-based policy
    /// allows the kms:Encrypt action`, `with an explicit deny in a resource-based policy`.
    pub fn describe(self, action: &str) -> String {
        match self {
            DenyReason::ExplicitDenyInResourcePolicy => {
                "with an explicit deny in a resource-based policy".to_string()
            }
            DenyReason::ExplicitDenyInIdentityPolicy => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            DenyReason::NoResourcePolicyAllows => {
                format!("because no resource-based policy allows the {action} action")
            }
            DenyReason::NoIdentityPolicyAllows => {
                format!("because no identity-based policy allows the {action} action")
            }
        }
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzResult {
    /// The request may proceed.
    Allowed(AllowedVia),
    /// The request is denied.
    Denied {
        /// Why.
        reason: DenyReason,
        /// [`DenyReason::describe`] for the request's action.
        message: String,
    },
}

impl AuthzResult {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, AuthzResult::Allowed(_))
    }

    /// The `AccessDeniedException` message AWS gives for a denied request: `User: ARN is not
    /// authorized to perform: kms:Op on resource: ARN because|with <reason>`. `None` when allowed.
    pub fn access_denied_message(&self, ctx: &RequestContext<'_>) -> Option<String> {
        match self {
            AuthzResult::Allowed(_) => None,
            AuthzResult::Denied { message, .. } => Some(format!(
                "User: {} is not authorized to perform: {} on resource: {} {}",
                caller_name(ctx),
                ctx.action,
                ctx.resource,
                message
            )),
        }
    }
}

impl fmt::Display for AuthzResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthzResult::Allowed(via) => write!(f, "allowed ({via:?})"),
            AuthzResult::Denied { message, .. } => write!(f, "denied: {message}"),
        }
    }
}

fn caller_name<'a>(ctx: &RequestContext<'a>) -> &'a str {
    if ctx.principal.arn.is_empty() {
        "anonymous"
    } else {
        &ctx.principal.arn
    }
}

fn denied(reason: DenyReason, ctx: &RequestContext<'_>) -> AuthzResult {
    AuthzResult::Denied {
        reason,
        message: reason.describe(ctx.action),
    }
}

/// Decides a KMS request. `key_policy` is `None` for operations on no key; `identity_policies`
/// are the caller's IAM policies (of every kind AWS attaches: user, group, role); `grants_allow`
/// says whether a grant on the key allows the operation for this principal (and its constraints
/// hold). The key's account is read from `ctx.resource` (the key ARN).
pub fn authorize(
    key_policy: Option<&Policy>,
    identity_policies: &[&Policy],
    grants_allow: bool,
    ctx: &RequestContext<'_>,
) -> AuthzResult {
    let key = key_policy.map(|p| p.evaluate(ctx));
    let mut identity_allows = false;
    let mut identity_denies = false;
    for p in identity_policies {
        match p.evaluate(ctx) {
            Decision::ExplicitDeny => {
                identity_denies = true;
                break;
            }
            Decision::Allow { .. } => identity_allows = true,
            Decision::NotApplicable => {}
        }
    }
    if key == Some(Decision::ExplicitDeny) {
        return denied(DenyReason::ExplicitDenyInResourcePolicy, ctx);
    }
    if identity_denies {
        return denied(DenyReason::ExplicitDenyInIdentityPolicy, ctx);
    }
    // The root user holds all of its account's IAM permissions.
    identity_allows |= ctx.principal.kind == PrincipalKind::Root;
    let Some(key) = key else {
        return if identity_allows {
            AuthzResult::Allowed(AllowedVia::IdentityPolicy)
        } else {
            denied(DenyReason::NoIdentityPolicyAllows, ctx)
        };
    };
    let p = ctx.principal;
    let same_account = p.account.is_empty()
        || account_of(ctx.resource).is_none_or(|key_account| key_account == p.account);
    let (allowed, reason) = match key {
        Decision::Allow {
            via_account_root: false,
        } if same_account => (Some(AllowedVia::KeyPolicy), None),
        Decision::Allow { .. } if identity_allows => {
            (Some(AllowedVia::KeyPolicyAndIdentityPolicy), None)
        }
        Decision::Allow { .. } => (None, Some(DenyReason::NoIdentityPolicyAllows)),
        _ => (None, Some(DenyReason::NoResourcePolicyAllows)),
    };
    match (allowed, reason) {
        (Some(via), _) => AuthzResult::Allowed(via),
        _ if grants_allow => AuthzResult::Allowed(AllowedVia::Grant),
        (None, Some(reason)) => denied(reason, ctx),
        (None, None) => denied(DenyReason::NoResourcePolicyAllows, ctx),
    }
}

/// The policy lockout safety check of `PutKeyPolicy` and `CreateKey`: true when `policy`, as the
/// key's new key policy, would not allow the requesting principal (`ctx.principal`, with the
/// request's condition keys and the key ARN in `ctx.resource`) to call `kms:PutKeyPolicy`
/// afterwards. Only the key policy counts; an allow through the principal's account counts as an
/// allow (its IAM policies are not checked).
pub fn would_lock_out(policy: &Policy, ctx: &RequestContext<'_>) -> bool {
    let put = RequestContext {
        action: "kms:PutKeyPolicy",
        ..*ctx
    };
    !policy.evaluate(&put).is_allow()
}
