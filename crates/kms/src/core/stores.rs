//! Custom key stores as the service keeps them: each record with the proxy target it names (its
//! credential unsealed once), its request quota and its last health figures; and the rules keys
//! in external key stores follow (a disconnected store makes its keys `Unavailable`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use kms_api::{ErrorCode, KmsError};
use kms_model::{ConnectionState, CustomKeyStore, CustomKeyStoreId, Key, KeyState, Revision};
use store::Versioned;
use xks::ErrorName;
use zeroize::Zeroizing;

use super::{Access, Core};
use crate::external::{proxy_message, ProxyError, ProxyTarget, RequestMetadata, NOT_CONNECTED};

/// A custom key store as the service keeps it in memory.
pub(crate) struct StoreEntry {
    pub record: CustomKeyStore,
    pub revision: Revision,
    pub target: ProxyTarget,
    pub limiter: Arc<DefaultDirectRateLimiter>,
    /// The last `KmsHealthCheck`'s answer, for the store's health figures.
    pub last_health: Option<HealthFigures>,
}

/// The custom key stores, by id.
#[derive(Default)]
pub(crate) struct Registry {
    inner: std::sync::RwLock<HashMap<CustomKeyStoreId, Arc<StoreEntry>>>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<CustomKeyStoreId, Arc<StoreEntry>>> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A custom key store.
    pub fn get(&self, id: &CustomKeyStoreId) -> Option<Arc<StoreEntry>> {
        self.read().get(id).cloned()
    }

    /// Custom key stores matching `pred`.
    pub fn matching(&self, pred: impl Fn(&StoreEntry) -> bool) -> Vec<Arc<StoreEntry>> {
        self.read().values().filter(|s| pred(s)).cloned().collect()
    }

    /// Puts a store's entry, unless a newer revision is there.
    pub fn put(&self, entry: StoreEntry) {
        let mut map = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map
            .get(&entry.record.id)
            .is_some_and(|old| old.revision > entry.revision)
        {
            return;
        }
        map.insert(entry.record.id.clone(), Arc::new(entry));
    }

    /// Removes a store.
    pub fn remove(&self, id: &CustomKeyStoreId) {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }
}

/// What the periodic health check learned about a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFigures {
    /// When, milliseconds since the epoch.
    pub checked_ms: i64,
    /// `Ok` with the external key managers by state, or the error's description.
    pub outcome: Result<HashMap<String, usize>, String>,
}

/// What the credential's sealing binds it to.
pub(crate) fn secret_context(id: &CustomKeyStoreId) -> Vec<u8> {
    format!("strongroom/xks-credential/v1/{id}").into_bytes()
}

pub(crate) fn limiter(rps: u32) -> Arc<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(Quota::per_second(rate)))
}

fn invalid_state(msg: &str) -> KmsError {
    KmsError::new(ErrorCode::KmsInvalidStateException, msg)
}

fn store_not_found(id: &str) -> KmsError {
    KmsError::new(
        ErrorCode::CustomKeyStoreNotFoundException,
        format!("Custom key store '{id}' does not exist."),
    )
}

impl Core {
    /// Builds the in-memory entry of a stored record, keeping the quota bucket and health
    /// figures of the entry it replaces.
    pub fn store_entry_for(&self, s: Versioned<CustomKeyStore>) -> Result<StoreEntry, KmsError> {
        let sealed = hex::decode(&s.record.sealed_secret_hex).unwrap_or_default();
        let secret = self
            .root
            .open_secret(&sealed, &secret_context(&s.record.id))
            .map_err(|_| {
                KmsError::internal("The stored proxy credential does not open under the root key.")
            })?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| KmsError::internal("The stored proxy credential is not text."))?;
        let target = ProxyTarget {
            endpoint: s.record.uri_endpoint.clone(),
            uri_path: s.record.uri_path.clone(),
            access_key_id: s.record.access_key_id.clone(),
            secret: Zeroizing::new(secret),
        };
        let (limiter, last_health) = match self.stores.get(&s.record.id) {
            Some(old) => (Arc::clone(&old.limiter), old.last_health.clone()),
            None => (limiter(self.config.xks.requests_per_second), None),
        };
        Ok(StoreEntry {
            record: s.record,
            revision: s.revision,
            target,
            limiter,
            last_health,
        })
    }

    /// The caller's own custom key store (another account's is not found, as in AWS).
    pub fn own_store(&self, id: &str, access: &Access<'_>) -> Result<Arc<StoreEntry>, KmsError> {
        CustomKeyStoreId::parse(id)
            .and_then(|id| self.stores.get(&id))
            .filter(|s| s.record.account == access.account && s.record.region == *access.region())
            .ok_or_else(|| store_not_found(id))
    }

    fn connected_store_of(&self, key: &Key) -> Option<Arc<StoreEntry>> {
        key.external
            .as_ref()
            .and_then(|e| self.stores.get(&e.store))
            .filter(|s| s.record.connection_state == ConnectionState::Connected)
    }

    /// The key state callers see: a key of a store that is not connected is `Unavailable`
    /// (unless pending deletion); its own state comes back when the store reconnects.
    pub fn visible_state(&self, key: &Key) -> KeyState {
        if key.external.is_some()
            && key.state != KeyState::PendingDeletion
            && self.connected_store_of(key).is_none()
        {
            KeyState::Unavailable
        } else {
            key.state
        }
    }

    /// The connected store of a key in an external key store.
    pub fn connected_store(&self, key: &Key) -> Result<Arc<StoreEntry>, KmsError> {
        self.connected_store_of(key)
            .ok_or_else(|| invalid_state(NOT_CONNECTED))
    }

    /// For a key in an external key store: a token of its store's request quota
    /// (`ThrottlingException` when spent).
    pub fn external_quota(&self, key: &Key, op: kms_api::Operation) -> Result<(), KmsError> {
        if key.external.is_none() {
            return Ok(());
        }
        let store = self.connected_store(key)?;
        if store.limiter.check().is_err() {
            self.metrics.throttled(&store.record.id, op.name());
            return Err(KmsError::new(
                ErrorCode::ThrottlingException,
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
            ));
        }
        Ok(())
    }

    /// XksKeyAlreadyInUseException when another KMS key of the store uses the external key.
    pub fn check_external_key_unused(
        &self,
        store: &CustomKeyStoreId,
        xks_key: &str,
    ) -> Result<(), KmsError> {
        let used = !self
            .cache
            .keys_where(|k| {
                k.key
                    .external
                    .as_ref()
                    .is_some_and(|e| e.store == *store && e.xks_key_id == xks_key)
            })
            .is_empty();
        if used {
            return Err(KmsError::new(
                ErrorCode::XksKeyAlreadyInUseException,
                format!("The external key {xks_key} is already associated with another KMS key in this external key store. Each KMS key in an external key store must be associated with a different external key."),
            ));
        }
        Ok(())
    }

    /// CreateKey's checks of an external key: the store is the caller's and connected, the
    /// external key is unused, and the proxy reports it AES_256, ENABLED, for ENCRYPT and DECRYPT.
    pub async fn check_external_key(
        &self,
        store_id: &str,
        xks_key: &str,
        access: &Access<'_>,
    ) -> Result<CustomKeyStoreId, KmsError> {
        let store = self.own_store(store_id, access)?;
        if store.record.connection_state != ConnectionState::Connected {
            return Err(KmsError::new(
                ErrorCode::CustomKeyStoreInvalidStateException,
                NOT_CONNECTED,
            ));
        }
        if !xks::is_valid_external_key_id(xks_key) {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                format!("XksKeyId '{xks_key}' is not a valid external key id."),
            ));
        }
        self.check_external_key_unused(&store.record.id, xks_key)?;
        let meta = RequestMetadata {
            aws_principal_arn: Some(access.principal_arn.clone()),
            kms_operation: Some("CreateKey".to_string()),
            kms_request_id: Some(access.origin.request_id.clone()),
            ..RequestMetadata::default()
        };
        let started = std::time::Instant::now();
        let info = self.xks.key_metadata(&store.target, xks_key, meta).await;
        self.metrics.proxy_call(
            &store.record.id,
            "CreateKey",
            crate::metrics::XksOperation::GetKeyMetadata,
            started.elapsed(),
            info.as_ref().err(),
        );
        let info = info.map_err(|e| {
            let code = match &e {
                ProxyError::Xks {
                    name: ErrorName::KeyNotFoundException,
                    ..
                } => ErrorCode::XksKeyNotFoundException,
                ProxyError::Xks {
                    name: ErrorName::InvalidStateException | ErrorName::InvalidKeyUsageException,
                    ..
                } => ErrorCode::XksKeyInvalidConfigurationException,
                _ => ErrorCode::CustomKeyStoreInvalidStateException,
            };
            tracing::info!(store = store_id, error = %e, "GetKeyMetadata for CreateKey failed");
            KmsError::new(code, proxy_message(&e))
        })?;
        let invalid = |m: String| KmsError::new(ErrorCode::XksKeyInvalidConfigurationException, m);
        if info.key_spec != xks::AES_256 {
            return Err(invalid(format!(
                "The key spec of the external key must be AES_256. The key spec of specified external key is {}.",
                info.key_spec
            )));
        }
        if info.key_status != xks::KEY_STATUS_ENABLED {
            return Err(invalid(format!(
                "The status of the external key must be ENABLED. The status of specified external key is {}.",
                info.key_status
            )));
        }
        let has = |u: &str| info.key_usage.iter().any(|k| k == u);
        if !(has(xks::USAGE_ENCRYPT) && has(xks::USAGE_DECRYPT)) {
            return Err(invalid(format!(
                "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of specified external key is {}.",
                serde_json::to_string(&info.key_usage).unwrap_or_default()
            )));
        }
        Ok(store.record.id.clone())
    }

    /// The last health figures of a store (for metrics and tests).
    pub fn store_health(&self, id: &CustomKeyStoreId) -> Option<HealthFigures> {
        self.stores.get(id).and_then(|s| s.last_health.clone())
    }
}
