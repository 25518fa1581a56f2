//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant. When a grant
//! allows a request is a rule of the core (`core::rules::matching_grant`).

use std::sync::Arc;

use kms_api::wire::{
    CreateGrantRequest, CreateGrantResponse, GrantConstraints as WireConstraints, GrantListEntry,
    ListGrantsRequest, ListGrantsResponse, ListRetirableGrantsRequest, RetireGrantRequest,
    RetireGrantResponse, RevokeGrantRequest, RevokeGrantResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{Grant, GrantConstraints, GrantId, GrantOperation, KeySpec, KeyType, KeyUsage};

use crate::core::optable::Naming;
use crate::core::paging::{page, PageLimits};
use crate::core::rules::dry_run;
use crate::core::{rules, store_error, timestamp, Access, CachedKey, Core};

/// AWS's quota of grants on one key.
const MAX_GRANTS_PER_KEY: usize = 50_000;

/// Grant operations that take an encryption context, so constraints can apply to them.
const CONTEXT_OPERATIONS: &[GrantOperation] = &[
    GrantOperation::Decrypt,
    GrantOperation::Encrypt,
    GrantOperation::GenerateDataKey,
    GrantOperation::GenerateDataKeyWithoutPlaintext,
    GrantOperation::ReEncryptFrom,
    GrantOperation::ReEncryptTo,
    GrantOperation::GenerateDataKeyPair,
    GrantOperation::GenerateDataKeyPairWithoutPlaintext,
];

/// Grant operations a constrained grant may include although constraints do not apply to them
/// (CreateGrant passes its constraints on to the grants it makes).
const UNCONSTRAINED_OPERATIONS: &[GrantOperation] = &[
    GrantOperation::DescribeKey,
    GrantOperation::RetireGrant,
    GrantOperation::CreateGrant,
];

/// The grant operations a key of `key_type` supports (AWS's table of grant operations by key
/// type): those of its key usage, and CreateGrant, RetireGrant and DescribeKey on every key.
fn grant_operations(key_type: KeyType) -> &'static [GrantOperation] {
    use GrantOperation::*;
    match key_type.usage() {
        KeyUsage::EncryptDecrypt if key_type == KeyType::SYMMETRIC_DEFAULT => &[
            Decrypt,
            Encrypt,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            ReEncryptFrom,
            ReEncryptTo,
            GenerateDataKeyPair,
            GenerateDataKeyPairWithoutPlaintext,
            CreateGrant,
            RetireGrant,
            DescribeKey,
        ],
        KeyUsage::EncryptDecrypt => &[
            Decrypt,
            Encrypt,
            ReEncryptFrom,
            ReEncryptTo,
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey,
        ],
        KeyUsage::SignVerify => &[
            Sign,
            Verify,
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey,
        ],
        KeyUsage::KeyAgreement => &[
            DeriveSharedSecret,
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey,
        ],
        KeyUsage::GenerateVerifyMac => &[
            GenerateMac,
            VerifyMac,
            CreateGrant,
            RetireGrant,
            DescribeKey,
        ],
        KeyUsage::EncapsulateDecapsulate => &[
            Encapsulate,
            Decapsulate,
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey,
        ],
    }
}

/// Grant ids this KMS issues are 64 hex digits; anything else cannot name a grant.
fn checked_grant_id(id: &str) -> Result<GrantId, KmsError> {
    GrantId::parse(id).ok_or_else(|| {
        KmsError::new(
            ErrorCode::InvalidGrantIdException,
            "The request was rejected because the specified GrantId is not valid.",
        )
    })
}

fn entry(key_arn: &str, g: &Grant) -> GrantListEntry {
    let constraints = g.constraints.as_ref().map(|c| match c {
        GrantConstraints::Equals(m) => WireConstraints {
            encryption_context_equals: Some(m.clone()),
            ..WireConstraints::default()
        },
        GrantConstraints::Subset(m) => WireConstraints {
            encryption_context_subset: Some(m.clone()),
            ..WireConstraints::default()
        },
    });
    GrantListEntry {
        key_id: Some(key_arn.to_string()),
        grant_id: Some(g.id.to_string()),
        name: g.name.clone(),
        creation_date: Some(timestamp(g.created_ms)),
        grantee_principal: Some(g.grantee.clone()),
        retiring_principal: g.retiring.clone(),
        issuing_account: Some(format!("arn:aws:iam::{}:root", g.issuing_account)),
        operations: Some(g.operations.clone()),
        constraints,
        ..GrantListEntry::default()
    }
}

pub(crate) async fn create_grant(
    core: &Core,
    req: &CreateGrantRequest,
    access: &Access<'_>,
) -> Result<CreateGrantResponse, KmsError> {
    let grantee =
        match (&req.grantee_principal, &req.grantee_service_principal) {
            (Some(p), None) => p.clone(),
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
    let _w = core.writes.lock().await;
    let key = core.resolve_for_op(&req.key_id, access)?;
    if let Some(bad) = req
        .operations
        .iter()
        .find(|o| !grant_operations(key.key.key_type).contains(o))
    {
        let spec: KeySpec = key.key.spec();
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            format!("Grant operation {bad} is not valid for a {spec} key."),
        ));
    }
    if req
        .constraints
        .as_ref()
        .is_some_and(|c| c.source_arn.is_some())
    {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            "The SourceArn grant constraint applies to AWS service principals, which Strongroom does not have.",
        ));
    }
    let constraints = rules::requested_constraints(req.constraints.as_ref());
    if constraints.is_some() && key.key.key_type != KeyType::SYMMETRIC_DEFAULT {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.",
        ));
    }
    if constraints.is_some() {
        if let Some(op) = req
            .operations
            .iter()
            .find(|o| !CONTEXT_OPERATIONS.contains(o) && !UNCONSTRAINED_OPERATIONS.contains(o))
        {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                format!("Grant constraints are not allowed on a grant for {op}: it takes no encryption context."),
            ));
        }
    }
    // Each operation once, in the order asked (`dedup` alone keeps repeats that are apart).
    let mut operations: Vec<GrantOperation> = Vec::with_capacity(req.operations.len());
    for o in &req.operations {
        if !operations.contains(o) {
            operations.push(*o);
        }
    }
    let same = |g: &Grant| {
        g.name.is_some()
            && g.name == req.name
            && g.grantee == grantee
            && g.retiring == req.retiring_principal
            && g.operations == operations
            && g.constraints == constraints
    };
    // A retried CreateGrant with the same name and parameters returns the same grant, also
    // when another node made it and this one has not followed the feed that far yet.
    let key = if req.name.is_some() {
        core.refresh_key(&key.key_ref()).await?.ok_or_else(|| {
            core.not_found_key(&key.key.region, &key.key.account, key.key.id.as_str())
        })?
    } else {
        key
    };
    if let Some(existing) = key.grants.iter().find(|g| same(g)) {
        dry_run(req.dry_run)?;
        return Ok(CreateGrantResponse {
            grant_token: Some(rules::token_for(&existing.id)?),
            grant_id: Some(existing.id.to_string()),
        });
    }
    if key.grants.len() >= MAX_GRANTS_PER_KEY {
        return Err(KmsError::new(
            ErrorCode::LimitExceededException,
            format!("A key can have at most {MAX_GRANTS_PER_KEY} grants."),
        ));
    }
    let random =
        crypto::random_bytes(32).map_err(|_| KmsError::internal("Random generation failed."))?;
    let id = GrantId::parse(&hex::encode(random.as_slice()))
        .ok_or_else(|| KmsError::internal("Grant id generation failed."))?;
    let grant = Grant {
        id: id.clone(),
        key: key.key_ref(),
        name: req.name.clone(),
        grantee,
        retiring: req.retiring_principal.clone(),
        operations,
        constraints,
        issuing_account: access.account.clone(),
        created_ms: core.now_ms(),
    };
    dry_run(req.dry_run)?;
    core.store.create_grant(&grant).await.map_err(store_error)?;
    core.cache.update_key(&key.key_ref(), |k| {
        let mut grants = k.grants.as_ref().clone();
        // The change feed may have brought it in already.
        if !grants.iter().any(|g| g.id == grant.id) {
            grants.push(grant.clone());
        }
        k.with_grants(grants)
    });
    let id = if grant.name.is_some() {
        converge_named_grant(core, &grant).await?
    } else {
        id
    };
    Ok(CreateGrantResponse {
        grant_token: Some(rules::token_for(&id)?),
        grant_id: Some(id.to_string()),
    })
}

/// Two nodes that create the same named grant at once both succeed; they settle on the one
/// that committed first (the lowest revision: the later writer always sees the earlier one's
/// grant, so it is the one that gives way), and every retry returns that one.
async fn converge_named_grant(core: &Core, made: &Grant) -> Result<GrantId, KmsError> {
    let mut first: Option<store::Versioned<Grant>> = None;
    let mut page = store::PageRequest::first(store::MAX_PAGE);
    loop {
        let got = core
            .store
            .list_grants(&made.key, &page)
            .await
            .map_err(store_error)?;
        for g in got.items {
            let r = &g.record;
            let same = r.name == made.name
                && r.grantee == made.grantee
                && r.retiring == made.retiring
                && r.operations == made.operations
                && r.constraints == made.constraints;
            if same && first.as_ref().is_none_or(|f| g.revision < f.revision) {
                first = Some(g);
            }
        }
        match got.next {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let Some(first) = first.map(|g| g.record.id) else {
        return Ok(made.id.clone());
    };
    if first != made.id {
        match core.store.delete_grant(&made.key, &made.id).await {
            // Another request may have removed it already.
            Ok(()) | Err(store::StoreError::NotFound) => {}
            Err(e) => return Err(store_error(e)),
        }
        core.refresh_key(&made.key).await?;
    }
    Ok(first)
}

fn grants_page(
    grants: Vec<(String, &Grant)>,
    limit: Option<i32>,
    marker: Option<&str>,
) -> Result<ListGrantsResponse, KmsError> {
    let p = page(
        grants,
        |(_, g)| g.id.to_string(),
        limit,
        marker,
        PageLimits {
            default: 50,
            max: 100,
        },
    )?;
    Ok(ListGrantsResponse {
        grants: Some(p.items.iter().map(|(arn, g)| entry(arn, g)).collect()),
        next_marker: p.next_marker,
        truncated: Some(p.truncated),
    })
}

pub(crate) async fn list_grants(
    core: &Core,
    req: &ListGrantsRequest,
    access: &Access<'_>,
) -> Result<ListGrantsResponse, KmsError> {
    let key = core.resolve(&req.key_id, access)?;
    let arn = core.key_arn(&key.key);
    let mut grants: Vec<(String, &Grant)> = key
        .grants
        .iter()
        .filter(|g| req.grant_id.as_ref().is_none_or(|id| *id == g.id.as_str()))
        .filter(|g| {
            req.grantee_principal
                .as_ref()
                .is_none_or(|p| *p == g.grantee)
        })
        .map(|g| (arn.clone(), g))
        .collect();
    grants.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    grants_page(grants, req.limit, req.marker.as_deref())
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

pub(crate) fn list_retirable_grants(
    core: &Core,
    req: &ListRetirableGrantsRequest,
    access: &Access<'_>,
) -> Result<ListGrantsResponse, KmsError> {
    let Some(retiring) = req.retiring_principal.as_deref() else {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null",
        ));
    };
    // The authorized resource is the retiring principal, which must be of the caller's
    // account: nobody lists another account's grants by naming one of its principals.
    if principal_account(retiring) != Some(access.account.as_str()) {
        return Err(KmsError::new(
            ErrorCode::AccessDeniedException,
            format!(
                "User: {} is not authorized to perform: {} on resource: {retiring} {}",
                access.principal_arn,
                access.action,
                policy::DenyReason::NoResourcePolicyAllows.describe(access.action)
            ),
        ));
    }
    core.authorize_resource(access, retiring)?;
    let keys = core.cache.keys_where(|k| {
        k.key.region == *access.region()
            && k.grants
                .iter()
                .any(|g| g.retiring.as_deref() == Some(retiring))
    });
    let mut found: Vec<(String, &Grant)> = keys
        .iter()
        .flat_map(|k| {
            let arn = core.key_arn(&k.key);
            k.grants
                .iter()
                .filter(|g| g.retiring.as_deref() == Some(retiring))
                .map(move |g| (arn.clone(), g))
        })
        .collect();
    found.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    grants_page(found, req.limit, req.marker.as_deref())
}

async fn remove_grant(core: &Core, key: &CachedKey, id: &GrantId) -> Result<(), KmsError> {
    core.store
        .delete_grant(&key.key_ref(), id)
        .await
        .map_err(store_error)?;
    core.cache.update_key(&key.key_ref(), |k| {
        let grants = k.grants.iter().filter(|g| g.id != *id).cloned().collect();
        k.with_grants(grants)
    });
    Ok(())
}

fn grant_not_found(id: &str) -> KmsError {
    KmsError::new(
        ErrorCode::NotFoundException,
        format!("Grant ID {id} not found"),
    )
}

pub(crate) async fn retire_grant(
    core: &Core,
    req: &RetireGrantRequest,
    access: &Access<'_>,
) -> Result<RetireGrantResponse, KmsError> {
    let _w = core.writes.lock().await;
    let (key, grant) = match (
        req.grant_token.as_deref(),
        req.key_id.as_deref(),
        req.grant_id.as_deref(),
    ) {
        (Some(token), _, _) => {
            let id = rules::grant_id_of_token(token).ok_or_else(rules::invalid_token)?;
            let keys = core
                .cache
                .keys_where(|k| k.grants.iter().any(|g| g.id == id));
            keys.into_iter()
                .find_map(|k| {
                    let g = k.grants.iter().find(|g| g.id == id).cloned()?;
                    Some((Arc::clone(&k), g))
                })
                .ok_or_else(|| {
                    KmsError::new(
                        ErrorCode::NotFoundException,
                        "The grant token names a grant that does not exist.",
                    )
                })?
        }
        (None, Some(key_ref), Some(grant_id)) => {
            let id = checked_grant_id(grant_id)?;
            let key = core.lookup(key_ref, access, Naming::KeyOnly)?;
            let grant = key
                .grants
                .iter()
                .find(|g| g.id == id)
                .cloned()
                .ok_or_else(|| grant_not_found(grant_id))?;
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
    let principal = &access.principal_arn;
    let may = grant.retiring.as_deref() == Some(principal.as_str())
        || (grant.grantee == *principal && grant.operations.contains(&GrantOperation::RetireGrant))
        || core.authorize_key(access, &key, None).is_ok();
    if !may {
        return Err(KmsError::new(
            ErrorCode::AccessDeniedException,
            format!(
                "User: {principal} is not authorized to perform: kms:RetireGrant on resource: {} because it is neither the grant's retiring principal nor its grantee",
                core.key_arn(&key.key)
            ),
        ));
    }
    dry_run(req.dry_run)?;
    remove_grant(core, &key, &grant.id).await?;
    Ok(RetireGrantResponse {})
}

pub(crate) async fn revoke_grant(
    core: &Core,
    req: &RevokeGrantRequest,
    access: &Access<'_>,
) -> Result<RevokeGrantResponse, KmsError> {
    let id = checked_grant_id(&req.grant_id)?;
    let _w = core.writes.lock().await;
    let key = core.resolve(&req.key_id, access)?;
    if !key.grants.iter().any(|g| g.id == id) {
        return Err(grant_not_found(&req.grant_id));
    }
    dry_run(req.dry_run)?;
    remove_grant(core, &key, &id).await?;
    Ok(RevokeGrantResponse {})
}
