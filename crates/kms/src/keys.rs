//! Keys and their lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion and the deletion sweep.

use std::collections::HashMap;
use std::sync::Arc;

use kms_api::types::{
    CancelKeyDeletionResponse, CreateKeyRequest, Empty, KeyIdRequest, KeyListEntry, KeyMetadata,
    KeyMetadataResponse, ListKeysRequest, ListKeysResponse, ScheduleKeyDeletionRequest,
    ScheduleKeyDeletionResponse, UpdateKeyDescriptionRequest,
};
use kms_api::{ErrorCode, KmsError};
use store::legacy::{BackingKeyRecord, KeyRecord, KeyState};

use crate::arn::key_arn;
use crate::cache::{prepare, wrap_context, CachedKey};
use crate::paging::{page, PageLimits};
use crate::resolve::Naming;
use crate::{timestamp, Access, Kms};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What an operation may do in each key state, as AWS's key-state table gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateRule {
    /// Any state (DescribeKey, List*, GetKeyPolicy).
    Any,
    /// Enabled or Disabled; PendingDeletion is `KMSInvalidStateException` (management operations).
    NotPendingDeletion,
    /// Enabled only; Disabled is `DisabledException` (cryptographic operations).
    Enabled,
}

/// The key usages AWS allows for each key spec.
fn usage_allowed(spec: &str, usage: &str) -> bool {
    let allowed: &[&str] = match spec {
        "SYMMETRIC_DEFAULT" => &["ENCRYPT_DECRYPT"],
        "RSA_2048" | "RSA_3072" | "RSA_4096" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
        "ECC_NIST_P256" | "ECC_NIST_P384" | "ECC_NIST_P521" => &["SIGN_VERIFY", "KEY_AGREEMENT"],
        "ECC_SECG_P256K1" | "ECC_NIST_EDWARDS25519" => &["SIGN_VERIFY"],
        "HMAC_224" | "HMAC_256" | "HMAC_384" | "HMAC_512" => &["GENERATE_VERIFY_MAC"],
        "SM2" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"],
        "ML_DSA_44" | "ML_DSA_65" | "ML_DSA_87" => &["SIGN_VERIFY"],
        "ML_KEM_512" | "ML_KEM_768" | "ML_KEM_1024" => &["ENCAPSULATE_DECAPSULATE"],
        _ => &[],
    };
    allowed.contains(&usage)
}

impl Kms {
    pub(crate) fn check_state(&self, key: &CachedKey, rule: StateRule) -> Result<(), KmsError> {
        let arn = key_arn(&self.config, &key.record.account_id, &key.record.key_id);
        let state = self.visible_state(&key.record);
        match (rule, state) {
            (StateRule::Any, _) | (_, KeyState::Enabled) => Ok(()),
            // Management of a key whose external key store is disconnected changes its own state,
            // which shows again when the store reconnects.
            (StateRule::NotPendingDeletion, KeyState::Disabled | KeyState::Unavailable) => Ok(()),
            (StateRule::Enabled, KeyState::Unavailable) => Err(KmsError::new(
                ErrorCode::KmsInvalidStateException,
                crate::xks_crypto::NOT_CONNECTED,
            )),
            (StateRule::Enabled, KeyState::Disabled) => Err(KmsError::new(
                ErrorCode::DisabledException,
                format!("{arn} is disabled."),
            )),
            (_, KeyState::PendingDeletion) => Err(KmsError::new(
                ErrorCode::KmsInvalidStateException,
                format!("{arn} is pending deletion."),
            )),
            (_, other) => Err(KmsError::new(
                ErrorCode::KmsInvalidStateException,
                format!("{arn} is {}.", other.as_str()),
            )),
        }
    }

    pub(crate) fn arn_of(&self, record: &KeyRecord) -> String {
        key_arn(&self.config, &record.account_id, &record.key_id)
    }

    pub(crate) fn metadata(&self, record: &KeyRecord) -> KeyMetadata {
        let pending = record.state == KeyState::PendingDeletion;
        let state = self.visible_state(record);
        let external = record.xks_key_id.is_some();
        KeyMetadata {
            aws_account_id: record.account_id.clone(),
            key_id: record.key_id.clone(),
            arn: self.arn_of(record),
            creation_date: Some(timestamp(record.created_ms)),
            enabled: state == KeyState::Enabled,
            description: record.description.clone(),
            key_usage: record.key_usage.clone(),
            key_state: state.as_str().to_string(),
            deletion_date: record.deletion_ms.filter(|_| pending).map(timestamp),
            pending_deletion_window_in_days: None,
            origin: record.origin.clone(),
            custom_key_store_id: record.custom_key_store_id.clone(),
            key_manager: "CUSTOMER".to_string(),
            customer_master_key_spec: record.key_spec.clone(),
            key_spec: record.key_spec.clone(),
            encryption_algorithms: Some(vec!["SYMMETRIC_DEFAULT".to_string()]),
            multi_region: false,
            current_key_material_id: (!external).then(|| record.current_backing_key_id.clone()),
            xks_key_configuration: record
                .xks_key_id
                .as_ref()
                .map(|id| kms_api::types::XksKeyConfiguration { id: id.clone() }),
        }
    }

    pub(crate) async fn create_key(
        &self,
        req: CreateKeyRequest,
        caller: &Access<'_>,
    ) -> Result<KeyMetadataResponse, KmsError> {
        let spec = match (req.key_spec.as_deref(), req.customer_master_key_spec.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
                ))
            }
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => "SYMMETRIC_DEFAULT",
        };
        let usage = match req.key_usage.as_deref() {
            Some(u) => u,
            None if spec == "SYMMETRIC_DEFAULT" => "ENCRYPT_DECRYPT",
            None => {
                return Err(KmsError::new(
                    ErrorCode::ValidationException,
                    "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
                ))
            }
        };
        if !usage_allowed(spec, usage) {
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
            ));
        }
        if spec != "SYMMETRIC_DEFAULT" {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperationException,
                format!("KeySpec {spec} is not supported by Strongroom yet; only SYMMETRIC_DEFAULT keys can be created."),
            ));
        }
        let origin = req.origin.as_deref().unwrap_or("AWS_KMS");
        let external = match origin {
            "AWS_KMS" => {
                if req.xks_key_id.is_some() {
                    return Err(KmsError::new(
                        ErrorCode::ValidationException,
                        "XksKeyId is valid only for keys with Origin EXTERNAL_KEY_STORE.",
                    ));
                }
                if req.custom_key_store_id.is_some() {
                    return Err(KmsError::new(
                        ErrorCode::UnsupportedOperationException,
                        "A CustomKeyStoreId needs Origin EXTERNAL_KEY_STORE (AWS CloudHSM key stores are not supported by Strongroom).",
                    ));
                }
                None
            }
            "EXTERNAL_KEY_STORE" => {
                if req.multi_region == Some(true) {
                    return Err(KmsError::new(
                        ErrorCode::UnsupportedOperationException,
                        "You cannot create a multi-Region key in a custom key store.",
                    ));
                }
                let (Some(store), Some(xks_key)) =
                    (req.custom_key_store_id.clone(), req.xks_key_id.clone())
                else {
                    return Err(KmsError::new(
                        ErrorCode::ValidationException,
                        "Origin EXTERNAL_KEY_STORE requires CustomKeyStoreId and XksKeyId.",
                    ));
                };
                Some((store, xks_key))
            }
            other => {
                return Err(KmsError::new(
                    ErrorCode::UnsupportedOperationException,
                    format!("Origin {other} is not supported by Strongroom yet."),
                ))
            }
        };
        if req.multi_region == Some(true) {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperationException,
                "Multi-Region keys are not supported by Strongroom yet.",
            ));
        }
        let tags = crate::tags::checked_tags(req.tags.unwrap_or_default(), Vec::new())?;
        let key_id = uuid::Uuid::new_v4().to_string();
        let (policy, compiled) = match req.policy {
            Some(p) => {
                let (text, compiled) = crate::policies::checked_policy(p)?;
                if req.bypass_policy_lockout_safety_check != Some(true) {
                    let arn = key_arn(&self.config, &caller.account_id, &key_id);
                    self.check_lockout(caller, &compiled, &arn)?;
                }
                (text, compiled)
            }
            None => crate::policies::checked_policy(crate::policies::default_policy(
                &self.config,
                &caller.account_id,
            ))?,
        };

        if let Some((store_id, xks_key)) = &external {
            self.check_external_key(store_id, xks_key, caller).await?;
        }
        let material = crypto::KeyMaterial::generate()
            .map_err(|_| KmsError::internal("Key generation failed."))?;
        let backing_id = crypto::new_backing_key_id()
            .map_err(|_| KmsError::internal("Key generation failed."))?;
        let backing_hex = hex::encode(backing_id);
        let wrapped = self
            .root
            .wrap(&material, &wrap_context(&key_id, &backing_hex))
            .map_err(|_| KmsError::internal("Key material could not be wrapped."))?;
        let now = self.now_ms();
        let record = KeyRecord {
            key_id: key_id.clone(),
            account_id: caller.account_id.clone(),
            created_ms: now,
            description: req.description.unwrap_or_default(),
            key_usage: usage.to_string(),
            key_spec: spec.to_string(),
            origin: origin.to_string(),
            state: KeyState::Enabled,
            deletion_ms: None,
            pending_window_days: None,
            policy,
            tags,
            current_backing_key_id: backing_hex.clone(),
            custom_key_store_id: external.as_ref().map(|(s, _)| s.clone()),
            xks_key_id: external.as_ref().map(|(_, x)| x.clone()),
        };
        let backing = BackingKeyRecord {
            key_id: key_id.clone(),
            backing_key_id: backing_hex,
            wrapped,
            created_ms: now,
        };
        let (id, prepared) = prepare(&self.root, &backing)?;
        let _w = self.writes.lock().await;
        if let Some((store_id, xks_key)) = &external {
            // Checked again under the write lock: another CreateKey may have taken it meanwhile.
            self.check_external_key_unused(store_id, xks_key)?;
        }
        let (r, b) = (record.clone(), backing);
        self.store_write(move |s| s.create_key(&r, &b)).await?;
        let cached = CachedKey {
            record: record.clone(),
            backing: HashMap::from([(id, prepared)]),
            current: id,
            policy: Arc::new(compiled),
            grants: Arc::new(Vec::new()),
        };
        self.cache_put(cached)?;
        Ok(KeyMetadataResponse {
            key_metadata: Some(self.metadata(&record)),
        })
    }

    pub(crate) fn cache_put(&self, key: CachedKey) -> Result<(), KmsError> {
        let mut cache = self
            .cache
            .write()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        cache.keys.insert(key.record.key_id.clone(), Arc::new(key));
        Ok(())
    }

    /// Changes a key's record: store first, then cache, under the write lock.
    pub(crate) async fn mutate_key(
        &self,
        key_ref: &str,
        caller: &Access<'_>,
        rule: StateRule,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let _w = self.writes.lock().await;
        let key = self.resolve(key_ref, caller, Naming::KeyOnly)?;
        self.check_state(&key, rule)?;
        let mut record = key.record.clone();
        change(&mut record)?;
        if record == key.record {
            return Ok(record);
        }
        let stored = record.clone();
        self.store_write(move |s| s.update_key(&stored)).await?;
        self.cache_put(key.with_record(record.clone())?)?;
        Ok(record)
    }

    pub(crate) fn describe_key(
        &self,
        req: KeyIdRequest,
        caller: &Access<'_>,
    ) -> Result<KeyMetadataResponse, KmsError> {
        let key = self.resolve(&req.key_id, caller, Naming::KeyOrAlias)?;
        Ok(KeyMetadataResponse {
            key_metadata: Some(self.metadata(&key.record)),
        })
    }

    pub(crate) fn list_keys(
        &self,
        req: ListKeysRequest,
        caller: &Access<'_>,
    ) -> Result<ListKeysResponse, KmsError> {
        let mut ids: Vec<(String, String)> = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .keys
                .values()
                .filter(|k| k.record.account_id == caller.account_id)
                .map(|k| (k.record.key_id.clone(), self.arn_of(&k.record)))
                .collect()
        };
        ids.sort();
        let p = page(
            ids,
            |(id, _)| id.clone(),
            req.limit,
            req.marker.as_deref(),
            PageLimits {
                default: 100,
                max: 1000,
            },
        )?;
        Ok(ListKeysResponse {
            keys: p
                .items
                .into_iter()
                .map(|(key_id, key_arn)| KeyListEntry { key_id, key_arn })
                .collect(),
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }

    /// EnableKey and DisableKey.
    pub(crate) async fn set_key_enabled(
        &self,
        req: KeyIdRequest,
        caller: &Access<'_>,
        enabled: bool,
    ) -> Result<Empty, KmsError> {
        let state = if enabled {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        };
        self.mutate_key(&req.key_id, caller, StateRule::NotPendingDeletion, |r| {
            r.state = state;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn update_key_description(
        &self,
        req: UpdateKeyDescriptionRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        self.mutate_key(&req.key_id, caller, StateRule::NotPendingDeletion, |r| {
            r.description = req.description;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
        caller: &Access<'_>,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let days = req.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            let bound = if days < 7 {
                "greater than or equal to 7"
            } else {
                "less than or equal to 30"
            };
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                format!("1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}"),
            ));
        }
        let deletion = self.now_ms().saturating_add(days.saturating_mul(DAY_MS));
        let record = self
            .mutate_key(&req.key_id, caller, StateRule::NotPendingDeletion, |r| {
                r.state = KeyState::PendingDeletion;
                r.deletion_ms = Some(deletion);
                r.pending_window_days = Some(days);
                Ok(())
            })
            .await?;
        Ok(ScheduleKeyDeletionResponse {
            key_id: self.arn_of(&record),
            deletion_date: Some(timestamp(deletion)),
            key_state: record.state.as_str().to_string(),
            pending_window_in_days: Some(days),
        })
    }

    pub(crate) async fn cancel_key_deletion(
        &self,
        req: KeyIdRequest,
        caller: &Access<'_>,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let arn_for_error =
            |cfg: &crate::KmsConfig, r: &KeyRecord| key_arn(cfg, &r.account_id, &r.key_id);
        let cfg = self.config.clone();
        let record = self
            .mutate_key(&req.key_id, caller, StateRule::Any, |r| {
                if r.state != KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        ErrorCode::KmsInvalidStateException,
                        format!("{} is not pending deletion.", arn_for_error(&cfg, r)),
                    ));
                }
                r.state = KeyState::Disabled;
                r.deletion_ms = None;
                r.pending_window_days = None;
                Ok(())
            })
            .await?;
        Ok(CancelKeyDeletionResponse {
            key_id: self.arn_of(&record),
        })
    }

    /// Deletes every key whose deletion window has ended, with its material and aliases. Returns
    /// how many were deleted. Run periodically by the server.
    pub async fn sweep_deletions(&self) -> Result<usize, KmsError> {
        let now = self.now_ms();
        let due: Vec<String> = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .keys
                .values()
                .filter(|k| {
                    k.record.state == KeyState::PendingDeletion
                        && k.record.deletion_ms.is_some_and(|d| d <= now)
                })
                .map(|k| k.record.key_id.clone())
                .collect()
        };
        let mut deleted = 0;
        for key_id in due {
            let _w = self.writes.lock().await;
            // Re-check under the write lock: CancelKeyDeletion may have won the race.
            let still_due = self.cached(&key_id).is_some_and(|k| {
                k.record.state == KeyState::PendingDeletion
                    && k.record.deletion_ms.is_some_and(|d| d <= now)
            });
            if !still_due {
                continue;
            }
            let id = key_id.clone();
            self.store_write(move |s| s.delete_key(&id)).await?;
            let mut cache = self
                .cache
                .write()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache.keys.remove(&key_id);
            cache.aliases.retain(|_, a| a.target_key_id != key_id);
            deleted += 1;
            tracing::info!(key_id = %key_id, "deleted key at the end of its deletion window");
        }
        Ok(deleted)
    }
}
