//! The KMS service: every TrentService operation Strongroom serves, over a
//! [`store::legacy::Store`] with an in-memory copy that keeps the cryptographic hot path free of
//! database reads.
//!
//! The HTTP layer authenticates the caller and hands [`Kms::handle`] the operation, its body and the
//! caller; everything past that point (validation, key resolution, key states, cryptography,
//! persistence) happens here.
#![forbid(unsafe_code)]

mod aliases;
mod arn;
mod authz;
mod cache;
mod clock;
mod cryptographic;
mod external;
mod grants;
mod keys;
mod paging;
mod policies;
mod resolve;
mod tags;
mod xks_crypto;

use std::sync::{Arc, RwLock};

use crypto::RootKey;
use kms_api::{ErrorCode, KmsError, Operation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use store::legacy::{Store, StoreError};

pub use authz::{new_request_id, Access, Caller, RequestOrigin};
pub use cache::CachedKey;
pub use clock::{Clock, ManualClock, SystemClock};
pub use external::{HealthFigures, XksSettings};

/// Service-wide settings.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    /// The region in ARNs and SigV4 scopes (`us-east-1`).
    pub region: String,
    /// The ARN partition (`aws`).
    pub partition: String,
    /// External key store settings.
    pub xks: XksSettings,
}

/// The service.
pub struct Kms {
    config: KmsConfig,
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<dyn Clock>,
    cache: RwLock<cache::Cache>,
    xks: xks_client::XksClient,
    /// Serialises writes so that the store and the cache change in the same order.
    writes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Kms {
    /// Loads every key and alias from the store and unwraps the backing keys under the root key.
    pub fn open(
        config: KmsConfig,
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Kms, KmsError> {
        let mut snapshot = store.load().map_err(store_error)?;
        let stores = std::mem::take(&mut snapshot.custom_key_stores);
        let cache = cache::Cache::from_snapshot(snapshot, &root)?;
        let xks = xks_client::XksClient::new(&xks_client::ClientConfig {
            region: config.region.clone(),
            timeout: config.xks.timeout,
            extra_ca_pem: config.xks.ca_bundle_pem.clone(),
            system_roots: config.xks.system_roots,
        })
        .map_err(|e| {
            KmsError::internal(format!("The external key store client cannot start: {e}"))
        })?;
        let kms = Kms {
            config,
            store,
            root,
            clock,
            cache: RwLock::new(cache),
            xks,
            writes: tokio::sync::Mutex::new(()),
        };
        for record in stores {
            let entry = kms.entry_for(record)?;
            if let Ok(mut cache) = kms.cache.write() {
                cache
                    .stores
                    .insert(entry.record.id.clone(), Arc::new(entry));
            }
        }
        Ok(kms)
    }

    /// The settings this service runs with.
    pub fn config(&self) -> &KmsConfig {
        &self.config
    }

    /// Runs one operation for an authenticated caller inside the process (no connection; a
    /// request id of its own); the answer is the JSON response body.
    pub async fn handle(
        &self,
        op: Operation,
        body: &[u8],
        caller: &Caller,
    ) -> Result<Vec<u8>, KmsError> {
        self.handle_from(op, body, caller, &RequestOrigin::internal())
            .await
    }

    /// [`Kms::handle`] for a request whose connection is known (`aws:SourceIp`, ...). An origin
    /// without a request id gets a fresh one: every proxy call names the KMS request behind it.
    pub async fn handle_from(
        &self,
        op: Operation,
        body: &[u8],
        caller: &Caller,
        origin: &RequestOrigin,
    ) -> Result<Vec<u8>, KmsError> {
        let with_id;
        let origin = if origin.request_id.is_empty() {
            with_id = RequestOrigin {
                request_id: new_request_id(),
                ..origin.clone()
            };
            &with_id
        } else {
            origin
        };
        let value = kms_api::parse_body(body)?;
        if matches!(
            op,
            Operation::CreateCustomKeyStore | Operation::UpdateCustomKeyStore
        ) {
            // The endpoint's pattern is checked by the operation, which may relax it for
            // development (a port, plain HTTP) as the configuration allows.
            kms_api::validate_input_except_patterns(op, &value, &["xksProxyUriEndpoint"])?;
        } else {
            kms_api::validate_input(op, &value)?;
        }
        let access = Access {
            op,
            action: op.iam_action(),
            caller,
            request: &value,
            now_ms: self.now_ms(),
            origin,
            reencrypt_same_key: None,
        };
        grants::check_grant_tokens(&value)?;
        if !authz::uses_key_policy(op) {
            self.authorize_without_key(&access)?;
        }
        let caller = &access;
        let req = Request { op, value: &value };
        match op {
            Operation::CreateKey => json(self.create_key(req.decode()?, caller).await),
            Operation::DescribeKey => json(self.describe_key(req.decode()?, caller)),
            Operation::ListKeys => json(self.list_keys(req.decode()?, caller)),
            Operation::EnableKey => json(self.set_key_enabled(req.decode()?, caller, true).await),
            Operation::DisableKey => json(self.set_key_enabled(req.decode()?, caller, false).await),
            Operation::UpdateKeyDescription => {
                json(self.update_key_description(req.decode()?, caller).await)
            }
            Operation::ScheduleKeyDeletion => {
                json(self.schedule_key_deletion(req.decode()?, caller).await)
            }
            Operation::CancelKeyDeletion => {
                json(self.cancel_key_deletion(req.decode()?, caller).await)
            }
            Operation::CreateAlias => json(self.create_alias(req.decode()?, caller).await),
            Operation::UpdateAlias => json(self.update_alias(req.decode()?, caller).await),
            Operation::DeleteAlias => json(self.delete_alias(req.decode()?, caller).await),
            Operation::ListAliases => json(self.list_aliases(req.decode()?, caller)),
            Operation::TagResource => json(self.tag_resource(req.decode()?, caller).await),
            Operation::UntagResource => json(self.untag_resource(req.decode()?, caller).await),
            Operation::ListResourceTags => json(self.list_resource_tags(req.decode()?, caller)),
            Operation::Encrypt => json(self.encrypt(req.decode()?, caller).await),
            Operation::Decrypt => json(self.decrypt(req.decode()?, caller).await),
            Operation::ReEncrypt => json(self.re_encrypt(req.decode()?, caller).await),
            Operation::GenerateDataKey => {
                json(self.generate_data_key(req.decode()?, caller, true).await)
            }
            Operation::GenerateDataKeyWithoutPlaintext => {
                json(self.generate_data_key(req.decode()?, caller, false).await)
            }
            Operation::GenerateRandom => json(self.generate_random(req.decode()?, caller)),
            Operation::GetKeyPolicy => json(self.get_key_policy(req.decode()?, caller)),
            Operation::PutKeyPolicy => json(self.put_key_policy(req.decode()?, caller).await),
            Operation::ListKeyPolicies => json(self.list_key_policies(req.decode()?, caller)),
            Operation::CreateCustomKeyStore => {
                json(self.create_custom_key_store(req.decode()?, caller).await)
            }
            Operation::DescribeCustomKeyStores => {
                json(self.describe_custom_key_stores(req.decode()?, caller))
            }
            Operation::ConnectCustomKeyStore => {
                json(self.connect_custom_key_store(req.decode()?, caller).await)
            }
            Operation::DisconnectCustomKeyStore => json(
                self.disconnect_custom_key_store(req.decode()?, caller)
                    .await,
            ),
            Operation::UpdateCustomKeyStore => {
                json(self.update_custom_key_store(req.decode()?, caller).await)
            }
            Operation::DeleteCustomKeyStore => {
                json(self.delete_custom_key_store(req.decode()?, caller).await)
            }
            Operation::CreateGrant => json(self.create_grant(req.decode()?, caller).await),
            Operation::ListGrants => json(self.list_grants(req.decode()?, caller)),
            Operation::ListRetirableGrants => {
                json(self.list_retirable_grants(req.decode()?, caller))
            }
            Operation::RetireGrant => json(self.retire_grant(req.decode()?, caller).await),
            Operation::RevokeGrant => json(self.revoke_grant(req.decode()?, caller).await),
            other => Err(self.not_built(other, &value, caller)),
        }
    }

    /// The answer to an operation Strongroom does not serve yet. As AWS, the request's key is
    /// resolved and authorized first (an unknown key is NotFoundException), and a key the
    /// operation cannot apply to gets AWS's own refusal.
    fn not_built(
        &self,
        op: Operation,
        request: &serde_json::Value,
        access: &Access<'_>,
    ) -> KmsError {
        let key = match request.get("KeyId").and_then(serde_json::Value::as_str) {
            Some(key_ref) => match self.resolve(key_ref, access, resolve::Naming::KeyOrAlias) {
                Ok(key) => Some(key),
                Err(e) => return e,
            },
            None => None,
        };
        if let Some(key) = key {
            let arn = self.arn_of(&key.record);
            use Operation::*;
            match op {
                GetParametersForImport | ImportKeyMaterial | DeleteImportedKeyMaterial
                    if key.record.origin != "EXTERNAL" =>
                {
                    return KmsError::new(
                        ErrorCode::UnsupportedOperationException,
                        format!(
                            "{arn} origin is {} which is not valid for this operation.",
                            key.record.origin
                        ),
                    )
                }
                Sign | Verify | GenerateMac | VerifyMac | DeriveSharedSecret | Encapsulate
                | Decapsulate => {
                    return KmsError::new(
                        ErrorCode::InvalidKeyUsageException,
                        format!(
                            "{arn} key usage is {} which is not valid for {}.",
                            key.record.key_usage,
                            op.name()
                        ),
                    )
                }
                ReplicateKey | UpdatePrimaryRegion => {
                    return KmsError::new(
                        ErrorCode::UnsupportedOperationException,
                        format!("{arn} is not a multi-region primary key."),
                    )
                }
                _ => {}
            }
        }
        KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!("{} is not supported by Strongroom yet.", op.name()),
        )
    }

    /// Runs a blocking store call off the async threads.
    async fn store_write(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), KmsError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| KmsError::internal("The store task failed."))?
            .map_err(store_error)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

struct Request<'a> {
    op: Operation,
    value: &'a serde_json::Value,
}

impl Request<'_> {
    fn decode<T: DeserializeOwned>(&self) -> Result<T, KmsError> {
        T::deserialize(self.value).map_err(|e| {
            KmsError::new(
                ErrorCode::SerializationException,
                format!("Could not decode the {} request: {e}", self.op.name()),
            )
        })
    }
}

fn json<T: Serialize>(r: Result<T, KmsError>) -> Result<Vec<u8>, KmsError> {
    let v = r?;
    serde_json::to_vec(&v).map_err(|_| KmsError::internal("The response could not be encoded."))
}

fn store_error(e: StoreError) -> KmsError {
    tracing::error!(error = %e, "store failure");
    KmsError::internal("The request failed because of an internal storage error.")
}

fn timestamp(ms: i64) -> kms_api::types::Timestamp {
    // Milliseconds fit an f64 exactly for any date we will see.
    #[allow(clippy::cast_precision_loss)]
    kms_api::types::Timestamp(ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests;
