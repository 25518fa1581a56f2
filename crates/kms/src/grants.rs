//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and the check
//! that lets a grant authorize a request. Grants take effect at once here (no eventual
//! consistency), so a grant token only has to be well formed.

use std::collections::BTreeMap;
use std::sync::Arc;

use kms_api::types::{
    CreateGrantRequest, CreateGrantResponse, Empty, GrantConstraints, GrantListEntry,
    ListGrantsRequest, ListGrantsResponse, ListRetirableGrantsRequest, RetireGrantRequest,
    RevokeGrantRequest,
};
use kms_api::{ErrorCode, KmsError};
use serde_json::Value;
use store::legacy::GrantRecord;

use crate::keys::StateRule;
use crate::paging::{page, PageLimits};
use crate::resolve::Naming;
use crate::{timestamp, Access, CachedKey, Kms};

/// AWS's quota of grants on one key.
const MAX_GRANTS_PER_KEY: usize = 50_000;
const TOKEN_PREFIX: &str = "srgt1.";

/// Grant operations that take an encryption context, so constraints can apply to them.
const CONTEXT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// Grant operations a constrained grant may include although constraints do not apply to them
/// (CreateGrant passes its constraints on to the grants it makes).
const UNCONSTRAINED_OPERATIONS: &[&str] = &["DescribeKey", "RetireGrant", "CreateGrant"];

/// Grant operations a symmetric encryption key supports.
const SYMMETRIC_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

fn token_for(grant_id: &str) -> Result<String, KmsError> {
    let nonce =
        crypto::random_bytes(16).map_err(|_| KmsError::internal("Random generation failed."))?;
    Ok(format!(
        "{TOKEN_PREFIX}{grant_id}.{}",
        hex::encode(nonce.as_slice())
    ))
}

fn grant_id_of_token(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, nonce) = rest.split_once('.')?;
    let hex_ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_ok(id, 64) && hex_ok(nonce, 32)).then_some(id)
}

/// Grant ids this KMS issues are 64 hex digits; anything else cannot name a grant.
fn check_grant_id(id: &str) -> Result<(), KmsError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(KmsError::new(
            ErrorCode::InvalidGrantIdException,
            "The request was rejected because the specified GrantId is not valid.",
        ))
    }
}

fn invalid_token() -> KmsError {
    KmsError::new(
        ErrorCode::InvalidGrantTokenException,
        "The request was rejected because the specified grant token is not valid.",
    )
}

/// The account of a principal as grants name it: an account id, or an IAM/STS ARN.
fn principal_account(principal: &str) -> Option<&str> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal);
    }
    let mut parts = principal.splitn(6, ':');
    let (arn, _partition, service, _region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn == "arn" && matches!(service, "iam" | "sts") && !account.is_empty()).then_some(account)
}

/// Checks the `GrantTokens` of a request: each must be a token this KMS issued.
pub(crate) fn check_grant_tokens(request: &Value) -> Result<(), KmsError> {
    let Some(tokens) = request.get("GrantTokens").and_then(Value::as_array) else {
        return Ok(());
    };
    for t in tokens {
        if t.as_str().and_then(grant_id_of_token).is_none() {
            return Err(invalid_token());
        }
    }
    Ok(())
}

/// The grant operation name an IAM action corresponds to.
fn grant_operation(action: &str) -> &str {
    action.strip_prefix("kms:").unwrap_or(action)
}

fn context_of<'v>(request: &'v Value, action: &str) -> Option<&'v serde_json::Map<String, Value>> {
    let member = match action {
        "kms:ReEncryptFrom" => "SourceEncryptionContext",
        "kms:ReEncryptTo" => "DestinationEncryptionContext",
        _ => "EncryptionContext",
    };
    request.get(member).and_then(Value::as_object)
}

fn constraints_hold(g: &GrantRecord, ctx: Option<&serde_json::Map<String, Value>>) -> bool {
    let value_of = |k: &str| ctx.and_then(|c| c.get(k)).and_then(Value::as_str);
    if let Some(eq) = &g.context_equals {
        let len = ctx.map_or(0, serde_json::Map::len);
        if len != eq.len() || !eq.iter().all(|(k, v)| value_of(k) == Some(v.as_str())) {
            return false;
        }
    }
    if let Some(sub) = &g.context_subset {
        if !sub.iter().all(|(k, v)| value_of(k) == Some(v.as_str())) {
            return false;
        }
    }
    true
}

/// Whether the grant a CreateGrant request asks for stays within `parent`: only the parent's
/// operations, and constraints at least as strict as the parent's.
fn child_within_parent(parent: &GrantRecord, request: &Value) -> bool {
    let ops_ok = request
        .get("Operations")
        .and_then(Value::as_array)
        .is_some_and(|ops| {
            ops.iter().all(|o| {
                o.as_str()
                    .is_some_and(|o| parent.operations.iter().any(|p| p == o))
            })
        });
    let constraints = request.get("Constraints");
    let child = |member: &str| -> Option<BTreeMap<String, String>> {
        let map = constraints?.get(member)?.as_object()?;
        Some(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
        )
    };
    let (child_equals, child_subset) = (
        child("EncryptionContextEquals"),
        child("EncryptionContextSubset"),
    );
    let includes = |outer: &BTreeMap<String, String>, inner: &BTreeMap<String, String>| {
        inner.iter().all(|(k, v)| outer.get(k) == Some(v))
    };
    let constraints_ok = match (&parent.context_equals, &parent.context_subset) {
        (Some(eq), _) => child_equals.as_ref() == Some(eq),
        (None, Some(sub)) => {
            child_equals.as_ref().is_some_and(|c| includes(c, sub))
                || child_subset.as_ref().is_some_and(|c| includes(c, sub))
        }
        (None, None) => true,
    };
    ops_ok && constraints_ok
}

fn entry(key_arn: &str, g: &GrantRecord) -> GrantListEntry {
    let constraints =
        (g.context_equals.is_some() || g.context_subset.is_some()).then(|| GrantConstraints {
            encryption_context_equals: g.context_equals.clone(),
            encryption_context_subset: g.context_subset.clone(),
            source_arn: None,
        });
    GrantListEntry {
        key_id: key_arn.to_string(),
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: Some(timestamp(g.created_ms)),
        grantee_principal: Some(g.grantee_principal.clone()),
        retiring_principal: g.retiring_principal.clone(),
        issuing_account: format!("arn:aws:iam::{}:root", g.issuing_account),
        operations: g.operations.clone(),
        constraints,
    }
}

impl Kms {
    /// Whether a grant on `key` allows this request for this caller.
    pub(crate) fn grants_allow(&self, access: &Access<'_>, key: &CachedKey) -> bool {
        if key.grants.is_empty() {
            return false;
        }
        let op = grant_operation(access.action);
        let ctx = context_of(access.request, access.action);
        let caller = &access.caller.principal_arn;
        let role = access.caller.principal.role_arn.as_deref();
        key.grants.iter().any(|g| {
            (g.grantee_principal == *caller || Some(g.grantee_principal.as_str()) == role)
                && g.operations.iter().any(|o| o == op)
                && match op {
                    // Constraints do not apply to these; a grant made through a grant must stay
                    // within its parent.
                    "DescribeKey" | "RetireGrant" => true,
                    "CreateGrant" => child_within_parent(g, access.request),
                    _ => constraints_hold(g, ctx),
                }
        })
    }

    fn set_grants(&self, key: &CachedKey, grants: Vec<GrantRecord>) -> Result<(), KmsError> {
        let mut updated = key.with_record(key.record.clone())?;
        updated.grants = Arc::new(grants);
        self.cache_put(updated)
    }

    pub(crate) async fn create_grant(
        &self,
        req: CreateGrantRequest,
        caller: &Access<'_>,
    ) -> Result<CreateGrantResponse, KmsError> {
        let grantee = match (req.grantee_principal, req.grantee_service_principal) {
            (Some(p), None) => p,
            (None, Some(_)) => return Err(KmsError::new(
                ErrorCode::UnsupportedOperationException,
                "GranteeServicePrincipal is not supported by Strongroom: it has no AWS services.",
            )),
            _ => {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "Specify exactly one of GranteePrincipal and GranteeServicePrincipal.",
                ))
            }
        };
        if req.retiring_service_principal.is_some() {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperationException,
                "RetiringServicePrincipal is not supported by Strongroom: it has no AWS services.",
            ));
        }
        if req.operations.is_empty() {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        let _w = self.writes.lock().await;
        let key = self.resolve(&req.key_id, caller, Naming::KeyOnly)?;
        self.check_state(&key, StateRule::Enabled)?;
        if let Some(bad) = req
            .operations
            .iter()
            .find(|o| !SYMMETRIC_OPERATIONS.contains(&o.as_str()))
        {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                format!(
                    "Grant operation {bad} is not valid for a {} key.",
                    key.record.key_spec
                ),
            ));
        }
        let constraints = req.constraints.unwrap_or_default();
        if constraints.source_arn.is_some() {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperationException,
                "The SourceArn grant constraint applies to AWS service principals, which Strongroom does not have.",
            ));
        }
        let constrained = constraints.encryption_context_equals.is_some()
            || constraints.encryption_context_subset.is_some();
        if constrained {
            if let Some(op) = req.operations.iter().find(|o| {
                !CONTEXT_OPERATIONS.contains(&o.as_str())
                    && !UNCONSTRAINED_OPERATIONS.contains(&o.as_str())
            }) {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    format!("Grant constraints are not allowed on a grant for {op}: it takes no encryption context."),
                ));
            }
        }
        if req.dry_run == Some(true) {
            return Err(KmsError::new(
                ErrorCode::DryRunOperationException,
                "The request would have succeeded, but the DryRun option is set.",
            ));
        }
        let mut operations = req.operations;
        operations.dedup();
        let candidate = |g: &GrantRecord| {
            g.name.is_some()
                && g.name == req.name
                && g.grantee_principal == grantee
                && g.retiring_principal == req.retiring_principal
                && g.operations == operations
                && g.context_equals == constraints.encryption_context_equals
                && g.context_subset == constraints.encryption_context_subset
        };
        // A retried CreateGrant with the same name and parameters returns the same grant.
        if let Some(existing) = key.grants.iter().find(|g| candidate(g)) {
            return Ok(CreateGrantResponse {
                grant_token: token_for(&existing.grant_id)?,
                grant_id: existing.grant_id.clone(),
            });
        }
        if key.grants.len() >= MAX_GRANTS_PER_KEY {
            return Err(KmsError::new(
                ErrorCode::LimitExceededException,
                format!("A key can have at most {MAX_GRANTS_PER_KEY} grants."),
            ));
        }
        let id = crypto::random_bytes(32)
            .map_err(|_| KmsError::internal("Random generation failed."))?;
        let grant = GrantRecord {
            grant_id: hex::encode(id.as_slice()),
            key_id: key.record.key_id.clone(),
            name: req.name,
            grantee_principal: grantee,
            retiring_principal: req.retiring_principal,
            operations,
            context_equals: constraints.encryption_context_equals,
            context_subset: constraints.encryption_context_subset,
            issuing_account: caller.account_id.clone(),
            created_ms: self.now_ms(),
        };
        let stored = grant.clone();
        self.store_write(move |s| s.put_grant(&stored)).await?;
        let mut grants = key.grants.as_ref().clone();
        grants.push(grant.clone());
        self.set_grants(&key, grants)?;
        Ok(CreateGrantResponse {
            grant_token: token_for(&grant.grant_id)?,
            grant_id: grant.grant_id,
        })
    }

    pub(crate) fn list_grants(
        &self,
        req: ListGrantsRequest,
        caller: &Access<'_>,
    ) -> Result<ListGrantsResponse, KmsError> {
        let key = self.resolve(&req.key_id, caller, Naming::KeyOnly)?;
        let arn = self.arn_of(&key.record);
        let mut grants: Vec<&GrantRecord> = key
            .grants
            .iter()
            .filter(|g| req.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
            .filter(|g| {
                req.grantee_principal
                    .as_ref()
                    .is_none_or(|p| *p == g.grantee_principal)
            })
            .collect();
        grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
        let p = page(
            grants,
            |g| g.grant_id.clone(),
            req.limit,
            req.marker.as_deref(),
            PageLimits {
                default: 50,
                max: 100,
            },
        )?;
        Ok(ListGrantsResponse {
            grants: p.items.into_iter().map(|g| entry(&arn, g)).collect(),
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }

    pub(crate) fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
        caller: &Access<'_>,
    ) -> Result<ListGrantsResponse, KmsError> {
        let Some(retiring) = req.retiring_principal else {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                "1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null",
            ));
        };
        // The authorized resource is the retiring principal, which must be of the caller's
        // account: nobody lists another account's grants by naming one of its principals.
        if principal_account(&retiring) != Some(caller.account_id.as_str()) {
            return Err(KmsError::new(
                ErrorCode::AccessDeniedException,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {retiring} {}",
                    caller.principal_arn,
                    caller.action,
                    policy::DenyReason::NoResourcePolicyAllows.describe(caller.action)
                ),
            ));
        }
        self.authorize_resource(caller, &retiring)?;
        let mut found: Vec<(String, GrantRecord)> = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .keys
                .values()
                .flat_map(|k| {
                    let arn = self.arn_of(&k.record);
                    k.grants
                        .iter()
                        .filter(|g| g.retiring_principal.as_deref() == Some(retiring.as_str()))
                        .map(move |g| (arn.clone(), g.clone()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        found.sort_by(|a, b| a.1.grant_id.cmp(&b.1.grant_id));
        let p = page(
            found,
            |(_, g)| g.grant_id.clone(),
            req.limit,
            req.marker.as_deref(),
            PageLimits {
                default: 50,
                max: 100,
            },
        )?;
        Ok(ListGrantsResponse {
            grants: p.items.iter().map(|(arn, g)| entry(arn, g)).collect(),
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }

    async fn remove_grant(&self, key: &CachedKey, grant_id: &str) -> Result<(), KmsError> {
        let id = grant_id.to_string();
        self.store_write(move |s| s.delete_grant(&id)).await?;
        let grants: Vec<GrantRecord> = key
            .grants
            .iter()
            .filter(|g| g.grant_id != grant_id)
            .cloned()
            .collect();
        self.set_grants(key, grants)
    }

    fn find_grant(&self, grant_id: &str) -> Option<(Arc<CachedKey>, GrantRecord)> {
        let cache = self.cache.read().ok()?;
        cache.keys.values().find_map(|k| {
            k.grants
                .iter()
                .find(|g| g.grant_id == grant_id)
                .map(|g| (Arc::clone(k), g.clone()))
        })
    }

    pub(crate) async fn retire_grant(
        &self,
        req: RetireGrantRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        let _w = self.writes.lock().await;
        let (key, grant) = match (
            req.grant_token.as_deref(),
            req.key_id.as_deref(),
            req.grant_id.as_deref(),
        ) {
            (Some(token), _, _) => {
                let id = grant_id_of_token(token).ok_or_else(invalid_token)?;
                self.find_grant(id).ok_or_else(|| {
                    KmsError::new(
                        ErrorCode::NotFoundException,
                        "The grant token names a grant that does not exist.",
                    )
                })?
            }
            (None, Some(key_ref), Some(grant_id)) => {
                check_grant_id(grant_id)?;
                let key = self.lookup(key_ref, caller, Naming::KeyOnly)?;
                let grant = key
                    .grants
                    .iter()
                    .find(|g| g.grant_id == grant_id)
                    .cloned()
                    .ok_or_else(|| {
                        KmsError::new(
                            ErrorCode::NotFoundException,
                            format!("Grant ID {grant_id} not found"),
                        )
                    })?;
                (key, grant)
            }
            _ => {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "Specify a GrantToken, or a KeyId with a GrantId.",
                ))
            }
        };
        // Who may retire: the retiring principal, a grantee whose grant includes RetireGrant, or the
        // account that owns the grant (through its policies).
        let principal = &caller.principal_arn;
        let may = grant.retiring_principal.as_deref() == Some(principal.as_str())
            || (grant.grantee_principal == *principal
                && grant.operations.iter().any(|o| o == "RetireGrant"))
            || self.authorize_key(caller, &key, None).is_ok();
        if !may {
            return Err(KmsError::new(
                ErrorCode::AccessDeniedException,
                format!(
                    "User: {principal} is not authorized to perform: kms:RetireGrant on resource: {} because it is neither the grant's retiring principal nor its grantee",
                    self.arn_of(&key.record)
                ),
            ));
        }
        if req.dry_run == Some(true) {
            return Err(KmsError::new(
                ErrorCode::DryRunOperationException,
                "The request would have succeeded, but the DryRun option is set.",
            ));
        }
        self.remove_grant(&key, &grant.grant_id).await?;
        Ok(Empty {})
    }

    pub(crate) async fn revoke_grant(
        &self,
        req: RevokeGrantRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        check_grant_id(&req.grant_id)?;
        let _w = self.writes.lock().await;
        let key = self.resolve(&req.key_id, caller, Naming::KeyOnly)?;
        if !key.grants.iter().any(|g| g.grant_id == req.grant_id) {
            return Err(KmsError::new(
                ErrorCode::NotFoundException,
                format!("Grant ID {} not found", req.grant_id),
            ));
        }
        if req.dry_run == Some(true) {
            return Err(KmsError::new(
                ErrorCode::DryRunOperationException,
                "The request would have succeeded, but the DryRun option is set.",
            ));
        }
        self.remove_grant(&key, &req.grant_id).await?;
        Ok(Empty {})
    }
}

/// Grants by key id, for building the cache.
pub(crate) fn by_key(
    grants: Vec<GrantRecord>,
) -> std::collections::HashMap<String, Vec<GrantRecord>> {
    let mut out: std::collections::HashMap<String, Vec<GrantRecord>> =
        std::collections::HashMap::new();
    for g in grants {
        out.entry(g.key_id.clone()).or_default().push(g);
    }
    out
}
