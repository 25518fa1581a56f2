//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use kms_api::types::{
    AliasListEntry, AliasRequest, DeleteAliasRequest, Empty, ListAliasesRequest,
    ListAliasesResponse,
};
use std::sync::Arc;

use kms_api::{ErrorCode, KmsError};
use store::legacy::AliasRecord;

use crate::arn::alias_arn;
use crate::keys::StateRule;
use crate::paging::{page, PageLimits};
use crate::resolve::Naming;
use crate::{timestamp, Access, CachedKey, Kms};

/// AWS's quota of aliases on one key.
const MAX_ALIASES_PER_KEY: usize = 50;

/// AWS's rules for an alias name beyond the model's pattern (which allows `:`): `alias/`, then
/// letters, digits, `/`, `_` and `-`; `alias/aws/` is reserved for AWS managed keys.
fn check_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    };
    if rest.is_empty() {
        return Err(KmsError::new(
            ErrorCode::InvalidAliasNameException,
            "Alias name must not be empty after 'alias/'.",
        ));
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            format!("{name} contains invalid characters for an alias"),
        ));
    }
    if name.starts_with("alias/aws/") || name == "alias/aws" {
        return Err(KmsError::new(
            ErrorCode::InvalidAliasNameException,
            "The alias/aws/ prefix is reserved for AWS managed keys.",
        ));
    }
    Ok(())
}

impl Kms {
    fn alias_exists(&self, account: &str, name: &str) -> Result<Option<AliasRecord>, KmsError> {
        let cache = self
            .cache
            .read()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        Ok(cache
            .aliases
            .get(&(account.to_string(), name.to_string()))
            .cloned())
    }

    /// The key an existing alias names (an alias never outlives its key).
    fn alias_key(&self, alias: &AliasRecord) -> Result<Arc<CachedKey>, KmsError> {
        self.cached(&alias.target_key_id).ok_or_else(|| {
            KmsError::internal(format!(
                "Alias {} names a key that is not loaded.",
                alias.alias_name
            ))
        })
    }

    /// Authorizes the caller's operation on an alias of its own account: aliases have no
    /// resource policy, so the caller's IAM policies alone decide.
    fn authorize_alias(&self, caller: &Access<'_>, alias_name: &str) -> Result<(), KmsError> {
        let arn = alias_arn(&self.config, &caller.account_id, alias_name);
        self.authorize_resource(caller, &arn)
    }

    async fn put_alias(&self, alias: AliasRecord) -> Result<(), KmsError> {
        let stored = alias.clone();
        self.store_write(move |s| s.put_alias(&stored)).await?;
        let mut cache = self
            .cache
            .write()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        cache
            .aliases
            .insert((alias.account_id.clone(), alias.alias_name.clone()), alias);
        Ok(())
    }

    /// The alias names that point at a key (`kms:ResourceAliases`).
    pub(crate) fn alias_names_of(&self, key_id: &str) -> Vec<String> {
        let Ok(cache) = self.cache.read() else {
            return Vec::new();
        };
        let mut names: Vec<String> = cache
            .aliases
            .values()
            .filter(|a| a.target_key_id == key_id)
            .map(|a| a.alias_name.clone())
            .collect();
        names.sort();
        names
    }

    fn aliases_of(&self, key_id: &str) -> Result<usize, KmsError> {
        let cache = self
            .cache
            .read()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        Ok(cache
            .aliases
            .values()
            .filter(|a| a.target_key_id == key_id)
            .count())
    }

    pub(crate) async fn create_alias(
        &self,
        req: AliasRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        check_alias_name(&req.alias_name)?;
        // The alias is a resource of its own, authorized by IAM; the key by its key policy.
        self.authorize_alias(caller, &req.alias_name)?;
        let _w = self.writes.lock().await;
        let key = self.resolve(&req.target_key_id, caller, Naming::KeyOnly)?;
        self.check_state(&key, StateRule::NotPendingDeletion)?;
        if self
            .alias_exists(&caller.account_id, &req.alias_name)?
            .is_some()
        {
            return Err(KmsError::new(
                ErrorCode::AlreadyExistsException,
                format!(
                    "An alias with the name {} already exists",
                    alias_arn(&self.config, &caller.account_id, &req.alias_name)
                ),
            ));
        }
        if self.aliases_of(&key.record.key_id)? >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::new(
                ErrorCode::LimitExceededException,
                format!("A key can have at most {MAX_ALIASES_PER_KEY} aliases."),
            ));
        }
        let now = self.now_ms();
        self.put_alias(AliasRecord {
            account_id: caller.account_id.clone(),
            alias_name: req.alias_name,
            target_key_id: key.record.key_id.clone(),
            created_ms: now,
            updated_ms: now,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn update_alias(
        &self,
        req: AliasRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        check_alias_name(&req.alias_name)?;
        // The alias, the key it names now and the key it will name must all allow the caller.
        self.authorize_alias(caller, &req.alias_name)?;
        let _w = self.writes.lock().await;
        let Some(mut alias) = self.alias_exists(&caller.account_id, &req.alias_name)? else {
            return Err(self.not_found_alias(&caller.account_id, &req.alias_name));
        };
        let old = self.alias_key(&alias)?;
        self.authorize_key(caller, &old, None)?;
        let key = self.resolve(&req.target_key_id, caller, Naming::KeyOnly)?;
        self.check_state(&key, StateRule::NotPendingDeletion)?;
        if old.record.key_usage != key.record.key_usage
            || old.record.key_spec != key.record.key_spec
        {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                "The new target key must have the same key spec and key usage as the current one.",
            ));
        }
        if alias.target_key_id == key.record.key_id {
            return Ok(Empty {});
        }
        if self.aliases_of(&key.record.key_id)? >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::new(
                ErrorCode::LimitExceededException,
                format!("A key can have at most {MAX_ALIASES_PER_KEY} aliases."),
            ));
        }
        alias.target_key_id = key.record.key_id.clone();
        alias.updated_ms = self.now_ms();
        self.put_alias(alias).await?;
        Ok(Empty {})
    }

    pub(crate) async fn delete_alias(
        &self,
        req: DeleteAliasRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        check_alias_name(&req.alias_name)?;
        // The alias (IAM) and the key it names (key policy) must both allow the caller.
        self.authorize_alias(caller, &req.alias_name)?;
        let _w = self.writes.lock().await;
        let Some(alias) = self.alias_exists(&caller.account_id, &req.alias_name)? else {
            return Err(self.not_found_alias(&caller.account_id, &req.alias_name));
        };
        let key = self.alias_key(&alias)?;
        self.authorize_key(caller, &key, None)?;
        let (account, name) = (caller.account_id.clone(), req.alias_name.clone());
        self.store_write(move |s| s.delete_alias(&account, &name))
            .await?;
        let mut cache = self
            .cache
            .write()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        cache
            .aliases
            .remove(&(caller.account_id.clone(), req.alias_name));
        Ok(Empty {})
    }

    pub(crate) fn list_aliases(
        &self,
        req: ListAliasesRequest,
        caller: &Access<'_>,
    ) -> Result<ListAliasesResponse, KmsError> {
        let only_key = match req.key_id.as_deref() {
            Some(k) => Some(
                self.lookup(k, caller, Naming::KeyOnly)?
                    .record
                    .key_id
                    .clone(),
            ),
            None => None,
        };
        let mut aliases: Vec<AliasRecord> = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .aliases
                .values()
                .filter(|a| a.account_id == caller.account_id)
                .filter(|a| only_key.as_ref().is_none_or(|k| *k == a.target_key_id))
                .cloned()
                .collect()
        };
        aliases.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));
        let p = page(
            aliases,
            |a| a.alias_name.clone(),
            req.limit,
            req.marker.as_deref(),
            PageLimits {
                default: 50,
                max: 100,
            },
        )?;
        Ok(ListAliasesResponse {
            aliases: p
                .items
                .into_iter()
                .map(|a| AliasListEntry {
                    alias_arn: alias_arn(&self.config, &a.account_id, &a.alias_name),
                    alias_name: a.alias_name,
                    target_key_id: Some(a.target_key_id),
                    creation_date: Some(timestamp(a.created_ms)),
                    last_updated_date: Some(timestamp(a.updated_ms)),
                })
                .collect(),
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }
}
