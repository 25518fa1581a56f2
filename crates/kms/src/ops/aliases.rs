//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. An alias is a resource of its
//! own, authorized by the caller's IAM policies (it has no resource policy); every key it names,
//! names now or will name is authorized by its key policy as well.

use std::sync::Arc;

use kms_api::wire::{
    AliasListEntry, CreateAliasRequest, CreateAliasResponse, DeleteAliasRequest,
    DeleteAliasResponse, ListAliasesRequest, ListAliasesResponse, UpdateAliasRequest,
    UpdateAliasResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{Alias, AliasName, AliasNameError, KeyRef};
use store::{StoreError, Versioned};

use crate::core::optable::Naming;
use crate::core::paging::{self, PageLimits};
use crate::core::states::StateRule;
use crate::core::{store_error, timestamp, Access, CachedKey, Core};

/// AWS's quota of aliases on one key.
const MAX_ALIASES_PER_KEY: usize = 50;

/// AWS's rules for an alias name beyond the model's pattern (which allows `:`).
fn checked_name(name: &str) -> Result<AliasName, KmsError> {
    AliasName::check(name).map_err(|e| match e {
        AliasNameError::NoPrefix => KmsError::new(
            ErrorCode::ValidationException,
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ),
        AliasNameError::Empty => KmsError::new(
            ErrorCode::InvalidAliasNameException,
            "Alias name must not be empty after 'alias/'.",
        ),
        AliasNameError::InvalidCharacters => KmsError::new(
            ErrorCode::ValidationException,
            format!("{name} contains invalid characters for an alias"),
        ),
        AliasNameError::Reserved => KmsError::new(
            ErrorCode::InvalidAliasNameException,
            "The alias/aws/ prefix is reserved for AWS managed keys.",
        ),
    })
}

fn authorize_alias(core: &Core, access: &Access<'_>, name: &AliasName) -> Result<(), KmsError> {
    let arn = core.alias_arn(access.region(), &access.account, name);
    core.authorize_resource(access, &arn)
}

/// The key an existing alias names (an alias never outlives its key).
fn alias_key(core: &Core, alias: &Alias) -> Result<Arc<CachedKey>, KmsError> {
    core.cache
        .key(&KeyRef {
            region: alias.region.clone(),
            id: alias.target.clone(),
        })
        .ok_or_else(|| {
            KmsError::internal(format!(
                "Alias {} names a key that is not loaded.",
                alias.name
            ))
        })
}

fn too_many_aliases() -> KmsError {
    KmsError::new(
        ErrorCode::LimitExceededException,
        format!("A key can have at most {MAX_ALIASES_PER_KEY} aliases."),
    )
}

fn already_exists(core: &Core, access: &Access<'_>, name: &AliasName) -> KmsError {
    KmsError::new(
        ErrorCode::AlreadyExistsException,
        format!(
            "An alias with the name {} already exists",
            core.alias_arn(access.region(), &access.account, name)
        ),
    )
}

pub(crate) async fn create_alias(
    core: &Core,
    req: &CreateAliasRequest,
    access: &Access<'_>,
) -> Result<CreateAliasResponse, KmsError> {
    let name = checked_name(&req.alias_name)?;
    authorize_alias(core, access, &name)?;
    let _w = core.writes.lock().await;
    let key = core.resolve_as(&req.target_key_id, access, Naming::KeyOnly)?;
    core.check_state(&key, StateRule::Manageable)?;
    if core
        .cache
        .alias(&access.account, access.region(), &name)
        .is_some()
    {
        return Err(already_exists(core, access, &name));
    }
    if core.cache.alias_count(&key.key_ref()) >= MAX_ALIASES_PER_KEY {
        return Err(too_many_aliases());
    }
    let now = core.now_ms();
    let alias = Alias {
        account: access.account.clone(),
        region: access.region().clone(),
        name: name.clone(),
        target: key.key.id.clone(),
        created_ms: now,
        updated_ms: now,
    };
    let revision = match core.store.create_alias(&alias).await {
        Ok(r) => r,
        Err(StoreError::AlreadyExists) => return Err(already_exists(core, access, &name)),
        Err(e) => return Err(store_error(e)),
    };
    core.cache.put_alias(Versioned {
        record: alias,
        revision,
    });
    Ok(CreateAliasResponse {})
}

pub(crate) async fn update_alias(
    core: &Core,
    req: &UpdateAliasRequest,
    access: &Access<'_>,
) -> Result<UpdateAliasResponse, KmsError> {
    let name = checked_name(&req.alias_name)?;
    authorize_alias(core, access, &name)?;
    let _w = core.writes.lock().await;
    let Some(mut alias) = core.cache.alias(&access.account, access.region(), &name) else {
        return Err(core.not_found_alias(access.region(), &access.account, name.as_str()));
    };
    let old = alias_key(core, &alias.record)?;
    core.authorize_key(access, &old, None)?;
    let key = core.resolve_as(&req.target_key_id, access, Naming::KeyOnly)?;
    core.check_state(&key, StateRule::Manageable)?;
    if old.key.key_type != key.key.key_type {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "The new target key must have the same key spec and key usage as the current one.",
        ));
    }
    if alias.record.target == key.key.id {
        return Ok(UpdateAliasResponse {});
    }
    if core.cache.alias_count(&key.key_ref()) >= MAX_ALIASES_PER_KEY {
        return Err(too_many_aliases());
    }
    alias.record.target = key.key.id.clone();
    alias.record.updated_ms = core.now_ms();
    let revision = core
        .store
        .update_alias(&alias.record, alias.revision)
        .await
        .map_err(store_error)?;
    core.cache.put_alias(Versioned {
        record: alias.record,
        revision,
    });
    Ok(UpdateAliasResponse {})
}

pub(crate) async fn delete_alias(
    core: &Core,
    req: &DeleteAliasRequest,
    access: &Access<'_>,
) -> Result<DeleteAliasResponse, KmsError> {
    let name = checked_name(&req.alias_name)?;
    authorize_alias(core, access, &name)?;
    let _w = core.writes.lock().await;
    let Some(alias) = core.cache.alias(&access.account, access.region(), &name) else {
        return Err(core.not_found_alias(access.region(), &access.account, name.as_str()));
    };
    let key = alias_key(core, &alias.record)?;
    core.authorize_key(access, &key, None)?;
    core.store
        .delete_alias(&access.account, access.region(), &name, alias.revision)
        .await
        .map_err(store_error)?;
    core.cache
        .remove_alias(&access.account, access.region(), &name);
    Ok(DeleteAliasResponse {})
}

pub(crate) async fn list_aliases(
    core: &Core,
    req: &ListAliasesRequest,
    access: &Access<'_>,
) -> Result<ListAliasesResponse, KmsError> {
    let only_key = match req.key_id.as_deref() {
        Some(k) => Some(core.lookup(k, access, Naming::KeyOnly)?.key.id.clone()),
        None => None,
    };
    let page = paging::store_page(
        req.limit,
        req.marker.as_deref(),
        PageLimits {
            default: 50,
            max: 100,
        },
    )?;
    let found = core
        .store
        .list_aliases(&access.account, access.region(), only_key.as_ref(), &page)
        .await
        .map_err(store_error)?;
    Ok(ListAliasesResponse {
        aliases: Some(
            found
                .items
                .iter()
                .map(|a| {
                    let a = &a.record;
                    AliasListEntry {
                        alias_arn: Some(core.alias_arn(&a.region, &a.account, &a.name)),
                        alias_name: Some(a.name.to_string()),
                        target_key_id: Some(a.target.to_string()),
                        creation_date: Some(timestamp(a.created_ms)),
                        last_updated_date: Some(timestamp(a.updated_ms)),
                    }
                })
                .collect(),
        ),
        truncated: Some(found.next.is_some()),
        next_marker: found.next.as_deref().map(paging::encode_marker),
    })
}
