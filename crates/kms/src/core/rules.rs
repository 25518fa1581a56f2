//! AWS's rules that several operations share: tags (CreateKey, TagResource), key policies
//! (CreateKey, PutKeyPolicy), when a grant allows a request (authorization, CreateGrant), and
//! DryRun (the cryptographic operations and the grant operations).

use std::collections::{BTreeMap, HashSet};

use kms_api::wire;
use kms_api::{ErrorCode, KmsError};
use kms_model::{AccountId, Grant, GrantConstraints, GrantId, GrantOperation, Tag};
use policy::Policy;

use super::access::Access;
use super::cache::CachedKey;

// ---------------------------------------------------------------------------------------------
// Tags

/// AWS's quota of tags on one key.
pub(crate) const MAX_TAGS_PER_KEY: usize = 50;

/// Adds `new` to `existing` (overwriting values of existing keys), with AWS's rules.
pub(crate) fn checked_tags(
    new: &[wire::Tag],
    mut existing: Vec<Tag>,
) -> Result<Vec<Tag>, KmsError> {
    let mut seen = HashSet::new();
    for t in new {
        if t.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(KmsError::new(
                ErrorCode::TagException,
                "Tags beginning with aws: are reserved",
            ));
        }
        if !seen.insert(t.tag_key.as_str()) {
            return Err(KmsError::new(ErrorCode::TagException, "Duplicate tag keys"));
        }
    }
    for t in new {
        match existing.iter_mut().find(|e| e.key == t.tag_key) {
            Some(slot) => slot.value = t.tag_value.clone(),
            None => existing.push(Tag {
                key: t.tag_key.clone(),
                value: t.tag_value.clone(),
            }),
        }
    }
    if existing.len() > MAX_TAGS_PER_KEY {
        return Err(KmsError::new(ErrorCode::TagException, "Too many tags"));
    }
    Ok(existing)
}

// ---------------------------------------------------------------------------------------------
// Key policies

/// AWS's limit on a key policy document.
const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The policy CreateKey gives a key when the caller names none: the account may do everything,
/// which delegates access to the account's IAM policies.
pub(crate) fn default_policy(partition: &str, account: &AccountId) -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:{partition}:iam::{account}:root") },
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Checks a key policy document (size, then the policy language) and compiles it.
pub(crate) fn checked_policy(policy: &str) -> Result<Policy, KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(KmsError::new(
            ErrorCode::LimitExceededException,
            format!(
                "The key policy is {} bytes; the limit is {MAX_POLICY_BYTES}.",
                policy.len()
            ),
        ));
    }
    compile_key_policy(policy)
}

/// Compiles a key policy document: `MalformedPolicyDocumentException` with the parser's reason.
pub(crate) fn compile_key_policy(text: &str) -> Result<Policy, KmsError> {
    Policy::parse(text, policy::PolicyKind::Resource).map_err(|e| {
        KmsError::new(
            ErrorCode::MalformedPolicyDocumentException,
            e.message().to_string(),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Grants

/// The grant operation an IAM action corresponds to.
fn grant_operation(action: &str) -> Option<GrantOperation> {
    GrantOperation::from_wire(action.strip_prefix("kms:").unwrap_or(action))
}

/// The encryption context a grant's constraints are checked against for this action.
fn grant_context<'a>(access: &Access<'a>) -> Option<&'a BTreeMap<String, String>> {
    match access.action {
        "kms:ReEncryptFrom" => access.facts.source_context,
        "kms:ReEncryptTo" => access.facts.destination_context,
        _ => access.facts.context,
    }
}

pub(crate) fn constraints_hold(g: &Grant, ctx: Option<&BTreeMap<String, String>>) -> bool {
    let value_of = |k: &str| ctx.and_then(|c| c.get(k));
    match &g.constraints {
        None => true,
        Some(GrantConstraints::Equals(eq)) => {
            ctx.map_or(0, BTreeMap::len) == eq.len()
                && eq.iter().all(|(k, v)| value_of(k) == Some(v))
        }
        Some(GrantConstraints::Subset(sub)) => sub.iter().all(|(k, v)| value_of(k) == Some(v)),
    }
}

/// The constraints a CreateGrant request asks for.
pub(crate) fn requested_constraints(
    c: Option<&wire::GrantConstraints>,
) -> Option<GrantConstraints> {
    let c = c?;
    match (&c.encryption_context_equals, &c.encryption_context_subset) {
        (Some(eq), _) => Some(GrantConstraints::Equals(eq.clone())),
        (None, Some(sub)) => Some(GrantConstraints::Subset(sub.clone())),
        (None, None) => None,
    }
}

/// Whether the grant a CreateGrant request asks for stays within `parent`: only the parent's
/// operations, and constraints at least as strict as the parent's.
fn child_within_parent(parent: &Grant, request: &wire::CreateGrantRequest) -> bool {
    let ops_ok = request
        .operations
        .iter()
        .all(|o| parent.operations.contains(o));
    let child = requested_constraints(request.constraints.as_ref());
    let includes = |outer: &BTreeMap<String, String>, inner: &BTreeMap<String, String>| {
        inner.iter().all(|(k, v)| outer.get(k) == Some(v))
    };
    let constraints_ok = match (&parent.constraints, &child) {
        (Some(GrantConstraints::Equals(eq)), Some(GrantConstraints::Equals(c))) => eq == c,
        (Some(GrantConstraints::Equals(_)), _) => false,
        (
            Some(GrantConstraints::Subset(sub)),
            Some(GrantConstraints::Equals(c) | GrantConstraints::Subset(c)),
        ) => includes(c, sub),
        (Some(GrantConstraints::Subset(_)), None) => false,
        (None, _) => true,
    };
    ops_ok && constraints_ok
}

/// The grant on `key` that allows this request for this caller, if any.
pub(crate) fn matching_grant(access: &Access<'_>, key: &CachedKey) -> Option<GrantId> {
    if key.grants.is_empty() {
        return None;
    }
    let op = grant_operation(access.action)?;
    let ctx = grant_context(access);
    let caller = &access.caller.principal_arn;
    let role = access.caller.principal.role_arn.as_deref();
    key.grants
        .iter()
        .find(|g| {
            (g.grantee == *caller || Some(g.grantee.as_str()) == role)
                && g.operations.contains(&op)
                && match op {
                    // Constraints do not apply to these; a grant made through a grant must stay
                    // within its parent.
                    GrantOperation::DescribeKey | GrantOperation::RetireGrant => true,
                    GrantOperation::CreateGrant => access
                        .facts
                        .grant
                        .is_some_and(|req| child_within_parent(g, req)),
                    _ => constraints_hold(g, ctx),
                }
        })
        .map(|g| g.id.clone())
}

const TOKEN_PREFIX: &str = "srgt1.";

/// A grant token for a grant: its id and a nonce. Grants take effect at once here (no eventual
/// consistency), so a token only has to be well formed.
pub(crate) fn token_for(grant_id: &GrantId) -> Result<String, KmsError> {
    let nonce =
        crypto::random_bytes(16).map_err(|_| KmsError::internal("Random generation failed."))?;
    Ok(format!(
        "{TOKEN_PREFIX}{grant_id}.{}",
        hex::encode(nonce.as_slice())
    ))
}

/// The grant a token names, if it is one this KMS issued.
pub(crate) fn grant_id_of_token(token: &str) -> Option<GrantId> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, nonce) = rest.split_once('.')?;
    let nonce_ok = nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    nonce_ok.then(|| GrantId::parse(id)).flatten()
}

pub(crate) fn invalid_token() -> KmsError {
    KmsError::new(
        ErrorCode::InvalidGrantTokenException,
        "The request was rejected because the specified grant token is not valid.",
    )
}

/// Checks the `GrantTokens` of a request: each must be a token this KMS issued.
pub(crate) fn check_grant_tokens(tokens: Option<&[String]>) -> Result<(), KmsError> {
    for t in tokens.unwrap_or_default() {
        if grant_id_of_token(t).is_none() {
            return Err(invalid_token());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// DryRun

/// DryRun is the last check: the operation has run in full (every refusal, the cryptography
/// itself) and would have succeeded, so AWS answers DryRunOperationException in place of its
/// result. Call it after the work and before anything is written or recorded.
pub(crate) fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::new(
            ErrorCode::DryRunOperationException,
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(())
}

/// The `Recipient` of a request (a Nitro Enclaves attestation document): Strongroom runs no
/// enclaves to verify one, so it refuses it rather than answer without it.
pub(crate) fn no_recipient(recipient: Option<&wire::RecipientInfo>) -> Result<(), KmsError> {
    if recipient.is_some() {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            "Recipient (Nitro Enclaves attestation) is not supported by Strongroom.",
        ));
    }
    Ok(())
}
