//! Turning the `KeyId` a caller sent (key id, key ARN, alias name, alias ARN) into a key, in the
//! request's Region, and checking the key's state for the operation.

use std::sync::Arc;

use kms_api::{ErrorCode, KmsError, Operation};
use kms_model::{AccountId, AliasName, Key, KeyId, KeyRef, KeyUsage, Region};

use super::arn::{alias_arn, key_arn, parse_kms_arn};
use super::optable::{self, Naming};
use super::states::{self, Refusal, StateRule};
use super::{Access, CachedKey, Core};
use crate::external::NOT_CONNECTED;

/// A key a request named, and the alias it named it by (for `kms:RequestAlias`).
pub(crate) struct Named<'r> {
    pub account: AccountId,
    pub id: KeyId,
    pub alias: Option<&'r str>,
}

impl Core {
    pub fn key_arn(&self, key: &Key) -> String {
        key_arn(&self.config.partition, &key.region, &key.account, &key.id)
    }

    pub fn alias_arn(&self, region: &Region, account: &AccountId, name: &AliasName) -> String {
        alias_arn(&self.config.partition, region, account, name)
    }

    pub fn not_found_key(&self, region: &Region, account: &AccountId, id: &str) -> KmsError {
        KmsError::new(
            ErrorCode::NotFoundException,
            format!(
                "Key 'arn:{}:kms:{region}:{account}:key/{id}' does not exist",
                self.config.partition
            ),
        )
    }

    pub fn not_found_alias(&self, region: &Region, account: &AccountId, name: &str) -> KmsError {
        KmsError::new(
            ErrorCode::NotFoundException,
            format!(
                "Alias arn:{}:kms:{region}:{account}:{name} is not found.",
                self.config.partition
            ),
        )
    }

    /// Finds the key a request names, in the forms the operation accepts, and authorizes the
    /// request on it.
    pub fn resolve(&self, key_ref: &str, access: &Access<'_>) -> Result<Arc<CachedKey>, KmsError> {
        self.resolve_as(key_ref, access, optable::info(access.op).naming)
    }

    /// [`Core::resolve`] with the naming given (ListAliases's KeyId, the destination of
    /// ReEncrypt).
    pub fn resolve_as(
        &self,
        key_ref: &str,
        access: &Access<'_>,
        naming: Naming,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let (key, named) = self.lookup_named(key_ref, access, naming)?;
        self.authorize_key(access, &key, named.alias)?;
        Ok(key)
    }

    /// Finds the key a request names without authorizing it (ListAliases, which IAM alone
    /// authorizes, and callers that authorize themselves).
    pub fn lookup(
        &self,
        key_ref: &str,
        access: &Access<'_>,
        naming: Naming,
    ) -> Result<Arc<CachedKey>, KmsError> {
        self.lookup_named(key_ref, access, naming).map(|(k, _)| k)
    }

    fn lookup_named<'r>(
        &self,
        key_ref: &'r str,
        access: &Access<'_>,
        naming: Naming,
    ) -> Result<(Arc<CachedKey>, Named<'r>), KmsError> {
        let named = self.parse_key_ref(key_ref, access, naming)?;
        let region = access.region();
        let key = self
            .cache
            .key(&KeyRef {
                region: region.clone(),
                id: named.id.clone(),
            })
            .filter(|k| k.key.account == named.account)
            .ok_or_else(|| self.not_found_key(region, &named.account, named.id.as_str()))?;
        if named.account != access.account && !optable::info(access.op).cross_account {
            // AWS answers as if the key did not exist for operations with no cross-account use.
            return Err(self.not_found_key(region, &named.account, named.id.as_str()));
        }
        Ok((key, named))
    }

    /// The (account, key id) a reference names, following aliases.
    fn parse_key_ref<'r>(
        &self,
        key_ref: &'r str,
        access: &Access<'_>,
        naming: Naming,
    ) -> Result<Named<'r>, KmsError> {
        let invalid = || {
            KmsError::new(
                ErrorCode::NotFoundException,
                format!("Invalid keyId '{key_ref}'"),
            )
        };
        let region = access.region();
        if key_ref.starts_with("alias/") {
            if naming == Naming::KeyOnly {
                return Err(invalid());
            }
            let id = self.alias_target(&access.account, region, key_ref)?;
            return Ok(Named {
                account: access.account.clone(),
                id,
                alias: Some(key_ref),
            });
        }
        if key_ref.starts_with("arn:") {
            let invalid_arn = || {
                KmsError::new(
                    ErrorCode::InvalidArnException,
                    format!("Invalid arn {key_ref}"),
                )
            };
            let arn = parse_kms_arn(key_ref).ok_or_else(invalid_arn)?;
            if arn.partition != self.config.partition || arn.region != region.as_str() {
                return Err(KmsError::new(
                    ErrorCode::NotFoundException,
                    format!("Invalid arn {}", arn.region),
                ));
            }
            let account = AccountId::parse(arn.account).ok_or_else(invalid_arn)?;
            if let Some(id) = arn.resource.strip_prefix("key/") {
                let id =
                    KeyId::parse(id).ok_or_else(|| self.not_found_key(region, &account, id))?;
                return Ok(Named {
                    account,
                    id,
                    alias: None,
                });
            }
            if arn.resource.starts_with("alias/") && naming == Naming::KeyOrAlias {
                let id = self.alias_target(&account, region, arn.resource)?;
                return Ok(Named {
                    account,
                    id,
                    alias: Some(arn.resource),
                });
            }
            return Err(invalid_arn());
        }
        let id = KeyId::parse(key_ref).ok_or_else(invalid)?;
        Ok(Named {
            account: access.account.clone(),
            id,
            alias: None,
        })
    }

    fn alias_target(
        &self,
        account: &AccountId,
        region: &Region,
        name: &str,
    ) -> Result<KeyId, KmsError> {
        AliasName::parse(name)
            .and_then(|n| self.cache.alias(account, region, &n))
            .map(|a| a.record.target)
            .ok_or_else(|| self.not_found_alias(region, account, name))
    }

    /// Checks the key's state (as callers see it) for the operation's rule.
    pub fn check_state(&self, key: &CachedKey, rule: StateRule) -> Result<(), KmsError> {
        let state = self.visible_state(&key.key);
        states::check(state, rule).map_err(|refusal| {
            let arn = self.key_arn(&key.key);
            match refusal {
                Refusal::Disabled => {
                    KmsError::new(ErrorCode::DisabledException, format!("{arn} is disabled."))
                }
                Refusal::PendingDeletion => KmsError::new(
                    ErrorCode::KmsInvalidStateException,
                    format!("{arn} is pending deletion."),
                ),
                Refusal::StoreNotConnected => {
                    KmsError::new(ErrorCode::KmsInvalidStateException, NOT_CONNECTED)
                }
                Refusal::NotPendingDeletion => KmsError::new(
                    ErrorCode::KmsInvalidStateException,
                    format!("{arn} is not pending deletion."),
                ),
                Refusal::InvalidState(s) => KmsError::new(
                    ErrorCode::KmsInvalidStateException,
                    format!("{arn} is {}.", states::words(s)),
                ),
            }
        })
    }

    /// The key a cryptographic operation names (key id, key ARN or alias): authorized, in a
    /// state the operation's row allows, and of `usage`.
    pub fn key_for_use(
        &self,
        key_ref: &str,
        access: &Access<'_>,
        usage: KeyUsage,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let key = self.resolve_as(key_ref, access, Naming::KeyOrAlias)?;
        self.check_state(&key, optable::info(access.op).states)?;
        if key.key.usage() != usage {
            return Err(wrong_usage(&key, access.op));
        }
        Ok(key)
    }

    /// Resolves, authorizes and checks the state the operation's row of the table asks for.
    pub fn resolve_for_op(
        &self,
        key_ref: &str,
        access: &Access<'_>,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let key = self.resolve(key_ref, access)?;
        self.check_state(&key, optable::info(access.op).states)?;
        Ok(key)
    }
}

/// AWS's refusal of a key whose usage is not the operation's: "<arn> key usage is <USAGE> which
/// is not valid for <Operation>."
pub(crate) fn wrong_usage(key: &CachedKey, op: Operation) -> KmsError {
    KmsError::new(
        ErrorCode::InvalidKeyUsageException,
        format!(
            "{} key usage is {} which is not valid for {}.",
            key.arn,
            key.key.usage(),
            op.name()
        ),
    )
}
