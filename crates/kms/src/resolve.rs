//! Turning the `KeyId` a caller sent (key id, key ARN, alias name, alias ARN) into a key.

use std::sync::Arc;

use kms_api::{ErrorCode, KmsError};

use crate::arn::{alias_arn, key_arn, parse_kms_arn};
use crate::authz::allows_cross_account;
use crate::{Access, CachedKey, Kms};

/// Which forms of `KeyId` an operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// Key id or key ARN.
    KeyOnly,
    /// Key id, key ARN, alias name or alias ARN.
    KeyOrAlias,
}

/// Whether `s` has the form of a key id: a UUID (`1234abcd-12ab-34cd-56ef-1234567890ab`) or a
/// multi-Region key id (`mrk-` and 32 hex digits). AWS answers anything else with
/// "Invalid keyId", before looking the key up.
pub(crate) fn is_key_id(s: &str) -> bool {
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = s.strip_prefix("mrk-") {
        return hex(rest, 32);
    }
    let mut parts = s.split('-');
    [8, 4, 4, 4, 12]
        .iter()
        .all(|len| parts.next().is_some_and(|p| hex(p, *len)))
        && parts.next().is_none()
}

impl Kms {
    pub(crate) fn not_found_key(&self, account: &str, key_id: &str) -> KmsError {
        KmsError::new(
            ErrorCode::NotFoundException,
            format!(
                "Key '{}' does not exist",
                key_arn(&self.config, account, key_id)
            ),
        )
    }

    pub(crate) fn not_found_alias(&self, account: &str, alias: &str) -> KmsError {
        KmsError::new(
            ErrorCode::NotFoundException,
            format!(
                "Alias {} is not found.",
                alias_arn(&self.config, account, alias)
            ),
        )
    }

    /// Finds the key a request names, in the form the operation allows, and authorizes the
    /// request on it.
    pub(crate) fn resolve(
        &self,
        key_ref: &str,
        access: &Access<'_>,
        naming: Naming,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let key = self.lookup(key_ref, access, naming)?;
        let alias = key_ref
            .starts_with("alias/")
            .then_some(key_ref)
            .or_else(|| {
                parse_kms_arn(key_ref)
                    .map(|a| a.resource)
                    .filter(|r| r.starts_with("alias/"))
            });
        self.authorize_key(access, &key, alias)?;
        Ok(key)
    }

    /// Finds the key a request names without authorizing (for ListAliases, which IAM alone
    /// authorizes, and for callers that authorize themselves).
    pub(crate) fn lookup(
        &self,
        key_ref: &str,
        access: &Access<'_>,
        naming: Naming,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let (account, key_id) = self.resolve_id(key_ref, access, naming)?;
        let key = self
            .cached(&key_id)
            .ok_or_else(|| self.not_found_key(&account, &key_id))?;
        if key.record.account_id != account {
            return Err(self.not_found_key(&account, &key_id));
        }
        if account != access.account_id && !allows_cross_account(access.op) {
            // AWS answers as if the key did not exist for operations with no cross-account use.
            return Err(self.not_found_key(&account, &key_id));
        }
        Ok(key)
    }

    pub(crate) fn cached(&self, key_id: &str) -> Option<Arc<CachedKey>> {
        self.cache.read().ok()?.keys.get(key_id).cloned()
    }

    /// The (account, key id) a reference names, following aliases.
    fn resolve_id(
        &self,
        key_ref: &str,
        caller: &Access<'_>,
        naming: Naming,
    ) -> Result<(String, String), KmsError> {
        let invalid = || {
            KmsError::new(
                ErrorCode::NotFoundException,
                format!("Invalid keyId '{key_ref}'"),
            )
        };
        if key_ref.starts_with("alias/") {
            if naming == Naming::KeyOnly {
                return Err(invalid());
            }
            return self.alias_target(&caller.account_id, key_ref);
        }
        if key_ref.starts_with("arn:") {
            let arn = parse_kms_arn(key_ref).ok_or_else(|| {
                KmsError::new(
                    ErrorCode::InvalidArnException,
                    format!("Invalid arn {key_ref}"),
                )
            })?;
            if arn.partition != self.config.partition || arn.region != self.config.region {
                return Err(KmsError::new(
                    ErrorCode::NotFoundException,
                    format!(
                        "Invalid arn {key_ref}: it does not name a key in region {}",
                        self.config.region
                    ),
                ));
            }
            if let Some(id) = arn.resource.strip_prefix("key/") {
                return Ok((arn.account.to_string(), id.to_string()));
            }
            if arn.resource.starts_with("alias/") && naming == Naming::KeyOrAlias {
                return self.alias_target(arn.account, arn.resource);
            }
            return Err(KmsError::new(
                ErrorCode::InvalidArnException,
                format!("Invalid arn {key_ref}"),
            ));
        }
        if !is_key_id(key_ref) {
            return Err(invalid());
        }
        Ok((caller.account_id.clone(), key_ref.to_string()))
    }

    fn alias_target(&self, account: &str, alias: &str) -> Result<(String, String), KmsError> {
        let cache = self
            .cache
            .read()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        match cache.aliases.get(&(account.to_string(), alias.to_string())) {
            Some(a) => Ok((account.to_string(), a.target_key_id.clone())),
            None => Err(self.not_found_alias(account, alias)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_key_id;

    #[test]
    fn key_id_forms() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "1234ABCD-12AB-34CD-56EF-1234567890AB",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            assert!(is_key_id(ok), "{ok}");
        }
        for bad in [
            "fake-key-id",
            "134f2428cec14b25a1ae9048164dba47",
            "mrk-fake-key-id",
            "key_id",
            "",
            "1234abcd-12ab-34cd-56ef-1234567890ab-",
            "1234abcd-12ab-34cd-56ef-1234567890a",
            "1234abcg-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890a",
        ] {
            assert!(!is_key_id(bad), "{bad}");
        }
    }
}
