//! External key stores: the custom key store API for `EXTERNAL_KEY_STORE`
//! (Create/Describe/Connect/Disconnect/Update/DeleteCustomKeyStore), their connection states, and
//! how every outcome of a call to the proxy becomes AWS's exception and message (the XKS Proxy API
//! specification's KMS table; docs/research/xks-kms-behaviour.md).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use kms_api::types::{
    CreateCustomKeyStoreRequest, CreateCustomKeyStoreResponse, CustomKeyStoreIdRequest,
    CustomKeyStoresListEntry, DescribeCustomKeyStoresRequest, DescribeCustomKeyStoresResponse,
    Empty, UpdateCustomKeyStoreRequest, XksProxyAuthenticationCredential, XksProxyConfiguration,
};
use kms_api::{ErrorCode, KmsError};
use store::legacy::{CustomKeyStoreRecord, KeyState};
use xks::ErrorName;
use xks_client::{ProxyError, ProxyTarget, RequestMetadata};
use zeroize::Zeroizing;

use crate::paging::{page, PageLimits};
use crate::{timestamp, Access, Kms};

/// AWS's quota of custom key stores per account and Region.
const MAX_STORES_PER_ACCOUNT: usize = 10;

/// How Strongroom's KMS talks to external key store proxies.
#[derive(Debug, Clone)]
pub struct XksSettings {
    /// Deadline of one proxy call (AWS: 250 ms).
    pub timeout: Duration,
    /// Accept `https://host:port` endpoints (AWS allows no port) — for development.
    pub allow_endpoint_port: bool,
    /// Accept `http://` endpoints — for development only.
    pub allow_http: bool,
    /// Extra CA certificates (PEM) trusted for proxies.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Trust the system's CA roots.
    pub system_roots: bool,
    /// Cryptographic requests per second shared by the keys of one store (AWS: 1,800).
    pub requests_per_second: u32,
    /// Period of the `KmsHealthCheck` of connected stores.
    pub health_check_interval: Duration,
}

impl Default for XksSettings {
    fn default() -> Self {
        XksSettings {
            timeout: Duration::from_millis(250),
            allow_endpoint_port: false,
            allow_http: false,
            ca_bundle_pem: None,
            system_roots: true,
            requests_per_second: 1800,
            health_check_interval: Duration::from_secs(60),
        }
    }
}

/// A custom key store as the service keeps it in memory.
pub(crate) struct StoreEntry {
    pub record: CustomKeyStoreRecord,
    pub target: ProxyTarget,
    pub limiter: Arc<DefaultDirectRateLimiter>,
    /// The last `KmsHealthCheck`'s answer, for the store's health figures.
    pub last_health: Option<HealthFigures>,
}

/// What the periodic health check learned about a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFigures {
    /// When, milliseconds since the epoch.
    pub checked_ms: i64,
    /// `Ok` with the external key managers by state, or the error's description.
    pub outcome: Result<HashMap<String, usize>, String>,
}

pub(crate) const CONNECTED: &str = "CONNECTED";
const CONNECTING: &str = "CONNECTING";
const DISCONNECTED: &str = "DISCONNECTED";
const DISCONNECTING: &str = "DISCONNECTING";
const FAILED: &str = "FAILED";

fn secret_context(id: &str) -> Vec<u8> {
    format!("strongroom/xks-credential/v1/{id}").into_bytes()
}

pub(crate) fn limiter(rps: u32) -> Arc<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(Quota::per_second(rate)))
}

/// The message AWS gives for a proxy outcome (same wording for every kind of operation).
pub(crate) fn proxy_message(e: &ProxyError) -> &'static str {
    const CANNOT_INTERPRET: &str = "AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator.";
    match e {
        ProxyError::Xks { name, .. } => match name {
            ErrorName::ValidationException => CANNOT_INTERPRET,
            ErrorName::InvalidStateException => "The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request.",
            ErrorName::InvalidCiphertextException => "The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid.",
            ErrorName::InvalidKeyUsageException => "The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again.",
            ErrorName::AuthenticationFailedException => "The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary.",
            ErrorName::AccessDeniedException => "The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again.",
            ErrorName::KeyNotFoundException => "The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID.",
            ErrorName::InvalidUriPathException => "The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary.",
            ErrorName::ThrottlingException => "The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store.",
            ErrorName::UnsupportedOperationException => "The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator.",
            ErrorName::DependencyTimeoutException => "The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.",
            ErrorName::InternalException => "The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available.",
        },
        ProxyError::Unreachable(_) => "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore.",
        ProxyError::Tls(_) => "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate.",
        ProxyError::Timeout => "AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.",
        ProxyError::InvalidResponse(_) => CANNOT_INTERPRET,
    }
}

/// The message when every external key manager behind a proxy is unavailable.
const UNHEALTHY: &str = "The external key store proxy is in an unhealthy state. If you see this message repeatedly, notify your external key store proxy administrator.";

/// The exception Create/UpdateCustomKeyStore raise for a failed health check.
fn management_error(e: &ProxyError) -> KmsError {
    let code = match e {
        ProxyError::Xks {
            name: ErrorName::AuthenticationFailedException,
            ..
        } => ErrorCode::XksProxyIncorrectAuthenticationCredentialException,
        ProxyError::Xks {
            name: ErrorName::InvalidUriPathException,
            ..
        } => ErrorCode::XksProxyInvalidConfigurationException,
        ProxyError::Xks {
            name: ErrorName::DependencyTimeoutException | ErrorName::ThrottlingException,
            ..
        }
        | ProxyError::Unreachable(_)
        | ProxyError::Tls(_)
        | ProxyError::Timeout => ErrorCode::XksProxyUriUnreachableException,
        _ => ErrorCode::XksProxyInvalidResponseException,
    };
    KmsError::new(code, proxy_message(e))
}

/// The `ConnectionErrorCode` a failed connection attempt records.
fn connection_error_code(e: &ProxyError) -> &'static str {
    match e {
        ProxyError::Xks { name, .. } => match name {
            ErrorName::AuthenticationFailedException => "INVALID_CREDENTIALS",
            ErrorName::AccessDeniedException => "XKS_PROXY_ACCESS_DENIED",
            ErrorName::InvalidUriPathException => "XKS_PROXY_INVALID_CONFIGURATION",
            ErrorName::DependencyTimeoutException => "XKS_PROXY_TIMED_OUT",
            ErrorName::ThrottlingException => "XKS_PROXY_NOT_REACHABLE",
            _ => "XKS_PROXY_INVALID_RESPONSE",
        },
        ProxyError::Unreachable(_) => "XKS_PROXY_NOT_REACHABLE",
        ProxyError::Tls(_) => "XKS_PROXY_INVALID_TLS_CONFIGURATION",
        ProxyError::Timeout => "XKS_PROXY_TIMED_OUT",
        ProxyError::InvalidResponse(_) => "XKS_PROXY_INVALID_RESPONSE",
    }
}

/// How a health check ended.
enum Health {
    Ok,
    AllUnavailable,
    Failed(ProxyError),
}

fn invalid_state(msg: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::CustomKeyStoreInvalidStateException, msg)
}

fn validation(msg: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::ValidationException, msg)
}

fn random_store_id() -> Result<String, KmsError> {
    let bytes =
        crypto::random_bytes(9).map_err(|_| KmsError::internal("Random generation failed."))?;
    let hex = hex::encode(bytes.as_slice());
    Ok(format!("cks-{}", hex.get(..17).unwrap_or(&hex)))
}

impl Kms {
    /// Checks an `XksProxyUriEndpoint` against AWS's pattern, or the relaxed one the configuration
    /// allows (a port, plain HTTP) for development.
    pub(crate) fn check_endpoint(&self, endpoint: &str) -> Result<(), KmsError> {
        let s = &self.config.xks;
        let rest = if let Some(r) = endpoint.strip_prefix("https://") {
            r
        } else if let Some(r) = endpoint.strip_prefix("http://").filter(|_| s.allow_http) {
            r
        } else {
            return Err(pattern_violation(endpoint));
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if s.allow_endpoint_port => (h, Some(p)),
            _ => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
        if host_ok && port_ok {
            Ok(())
        } else {
            Err(pattern_violation(endpoint))
        }
    }

    pub(crate) fn store_entry(&self, id: &str) -> Option<Arc<StoreEntry>> {
        self.cache.read().ok()?.stores.get(id).cloned()
    }

    pub(crate) fn own_store(
        &self,
        id: &str,
        access: &Access<'_>,
    ) -> Result<Arc<StoreEntry>, KmsError> {
        self.store_entry(id)
            .filter(|s| s.record.account_id == access.account_id)
            .ok_or_else(|| {
                KmsError::new(
                    ErrorCode::CustomKeyStoreNotFoundException,
                    format!("Custom key store '{id}' does not exist."),
                )
            })
    }

    fn target_for(&self, record: &CustomKeyStoreRecord) -> Result<ProxyTarget, KmsError> {
        let secret = self
            .root
            .open_secret(
                &hex::decode(&record.wrapped_secret_hex).unwrap_or_default(),
                &secret_context(&record.id),
            )
            .map_err(|_| {
                KmsError::internal("The stored proxy credential does not open under the root key.")
            })?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| KmsError::internal("The stored proxy credential is not text."))?;
        Ok(ProxyTarget {
            endpoint: record.uri_endpoint.clone(),
            uri_path: record.uri_path.clone(),
            access_key_id: record.access_key_id.clone(),
            secret: Zeroizing::new(secret),
        })
    }

    /// Writes a store record (store first, then cache), keeping its quota bucket.
    async fn put_store(
        &self,
        record: CustomKeyStoreRecord,
        target: ProxyTarget,
    ) -> Result<(), KmsError> {
        let stored = record.clone();
        self.store_write(move |s| s.put_custom_key_store(&stored))
            .await?;
        let mut cache = self
            .cache
            .write()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        let (limiter, last_health) = match cache.stores.get(&record.id) {
            Some(old) => (Arc::clone(&old.limiter), old.last_health.clone()),
            None => (limiter(self.config.xks.requests_per_second), None),
        };
        cache.stores.insert(
            record.id.clone(),
            Arc::new(StoreEntry {
                record,
                target,
                limiter,
                last_health,
            }),
        );
        Ok(())
    }

    async fn health_check(
        &self,
        target: &ProxyTarget,
        operation: &str,
        request_id: &str,
    ) -> Health {
        let meta = RequestMetadata {
            kms_operation: Some(operation.to_string()),
            kms_request_id: Some(request_id.to_string()),
            ..RequestMetadata::default()
        };
        match self.xks.health(target, meta).await {
            Ok(h)
                if !h.ekm_fleet_details.is_empty()
                    && h.ekm_fleet_details
                        .iter()
                        .all(|d| d.health_status == xks::HEALTH_UNAVAILABLE) =>
            {
                Health::AllUnavailable
            }
            Ok(h) if h.ekm_fleet_details.is_empty() || h.xks_proxy_fleet_size == 0 => {
                Health::Failed(ProxyError::InvalidResponse(
                    "no external key manager reported".to_string(),
                ))
            }
            Ok(_) => Health::Ok,
            Err(e) => Health::Failed(e),
        }
    }

    /// Create/Update: a failed check is the call's exception.
    async fn checked_health(
        &self,
        target: &ProxyTarget,
        operation: &str,
        request_id: &str,
    ) -> Result<(), KmsError> {
        match self.health_check(target, operation, request_id).await {
            Health::Ok => Ok(()),
            Health::AllUnavailable => Err(KmsError::new(
                ErrorCode::XksProxyUriUnreachableException,
                UNHEALTHY,
            )),
            Health::Failed(e) => {
                tracing::info!(operation, error = %e, "proxy health check failed");
                Err(management_error(&e))
            }
        }
    }

    fn check_unique(
        &self,
        account: &str,
        skip_id: Option<&str>,
        name: &str,
        endpoint: &str,
        path: &str,
    ) -> Result<(), KmsError> {
        let cache = self
            .cache
            .read()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        for s in cache
            .stores
            .values()
            .filter(|s| Some(s.record.id.as_str()) != skip_id)
        {
            let r = &s.record;
            if r.account_id == account && r.name == name {
                return Err(KmsError::new(
                    ErrorCode::CustomKeyStoreNameInUseException,
                    format!(
                        "A custom key store with the name '{name}' already exists in this account."
                    ),
                ));
            }
            if r.account_id == account && r.uri_endpoint == endpoint && r.uri_path == path {
                return Err(KmsError::new(
                    ErrorCode::XksProxyUriInUseException,
                    format!("The proxy URI {endpoint}{path} is already associated with another external key store in this Region."),
                ));
            }
        }
        Ok(())
    }

    pub(crate) async fn create_custom_key_store(
        &self,
        req: CreateCustomKeyStoreRequest,
        caller: &Access<'_>,
    ) -> Result<CreateCustomKeyStoreResponse, KmsError> {
        match req.custom_key_store_type.as_deref() {
            Some("EXTERNAL_KEY_STORE") => {}
            _ => {
                return Err(KmsError::new(
                    ErrorCode::UnsupportedOperationException,
                    "AWS CloudHSM key stores are not supported by Strongroom; create an EXTERNAL_KEY_STORE.",
                ))
            }
        }
        if req.cloud_hsm_cluster_id.is_some()
            || req.trust_anchor_certificate.is_some()
            || req.key_store_password.is_some()
        {
            return Err(validation(
                "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are not valid for an EXTERNAL_KEY_STORE.",
            ));
        }
        let required = |v: Option<String>, name: &str| {
            v.ok_or_else(|| {
                validation(format!(
                    "{name} is required for a custom key store of type EXTERNAL_KEY_STORE."
                ))
            })
        };
        let connectivity = required(req.xks_proxy_connectivity, "XksProxyConnectivity")?;
        let endpoint = required(req.xks_proxy_uri_endpoint, "XksProxyUriEndpoint")?;
        let path = required(req.xks_proxy_uri_path, "XksProxyUriPath")?;
        let credential = req
            .xks_proxy_authentication_credential
            .ok_or_else(|| validation("XksProxyAuthenticationCredential is required for a custom key store of type EXTERNAL_KEY_STORE."))?;
        self.check_endpoint(&endpoint)?;
        check_connectivity(
            &connectivity,
            req.xks_proxy_vpc_endpoint_service_name.as_deref(),
        )?;
        let _w = self.writes.lock().await;
        self.check_unique(
            &caller.account_id,
            None,
            &req.custom_key_store_name,
            &endpoint,
            &path,
        )?;
        let count = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .stores
                .values()
                .filter(|s| s.record.account_id == caller.account_id)
                .count()
        };
        if count >= MAX_STORES_PER_ACCOUNT {
            return Err(KmsError::new(
                ErrorCode::LimitExceededException,
                format!("An account can have at most {MAX_STORES_PER_ACCOUNT} custom key stores."),
            ));
        }
        let target = ProxyTarget {
            endpoint: endpoint.clone(),
            uri_path: path.clone(),
            access_key_id: credential.access_key_id.clone(),
            secret: credential.raw_secret_access_key.clone(),
        };
        self.checked_health(&target, "CreateCustomKeyStore", &caller.origin.request_id)
            .await?;
        let id = random_store_id()?;
        let wrapped = self
            .root
            .seal_secret(
                credential.raw_secret_access_key.as_bytes(),
                &secret_context(&id),
            )
            .map_err(|_| KmsError::internal("The proxy credential could not be sealed."))?;
        let record = CustomKeyStoreRecord {
            id: id.clone(),
            account_id: caller.account_id.clone(),
            name: req.custom_key_store_name,
            store_type: "EXTERNAL_KEY_STORE".to_string(),
            created_ms: self.now_ms(),
            uri_endpoint: endpoint,
            uri_path: path,
            connectivity,
            vpc_endpoint_service_name: None,
            access_key_id: credential.access_key_id,
            wrapped_secret_hex: hex::encode(wrapped),
            connection_state: DISCONNECTED.to_string(),
            connection_error_code: None,
        };
        self.put_store(record, target).await?;
        Ok(CreateCustomKeyStoreResponse {
            custom_key_store_id: id,
        })
    }

    pub(crate) fn describe_custom_key_stores(
        &self,
        req: DescribeCustomKeyStoresRequest,
        caller: &Access<'_>,
    ) -> Result<DescribeCustomKeyStoresResponse, KmsError> {
        if req.custom_key_store_id.is_some() && req.custom_key_store_name.is_some() {
            return Err(validation(
                "Specify either CustomKeyStoreId or CustomKeyStoreName, but not both.",
            ));
        }
        let mut stores: Vec<CustomKeyStoreRecord> = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .stores
                .values()
                .map(|s| &s.record)
                .filter(|r| r.account_id == caller.account_id)
                .filter(|r| {
                    req.custom_key_store_id
                        .as_ref()
                        .is_none_or(|id| *id == r.id)
                })
                .filter(|r| {
                    req.custom_key_store_name
                        .as_ref()
                        .is_none_or(|n| *n == r.name)
                })
                .cloned()
                .collect()
        };
        if stores.is_empty()
            && (req.custom_key_store_id.is_some() || req.custom_key_store_name.is_some())
        {
            return Err(KmsError::new(
                ErrorCode::CustomKeyStoreNotFoundException,
                "The request was rejected because KMS cannot find a custom key store with the specified key store name or ID.",
            ));
        }
        stores.sort_by(|a, b| a.id.cmp(&b.id));
        let p = page(
            stores,
            |r| r.id.clone(),
            req.limit,
            req.marker.as_deref(),
            PageLimits {
                default: 100,
                max: 1000,
            },
        )?;
        Ok(DescribeCustomKeyStoresResponse {
            custom_key_stores: p.items.iter().map(list_entry).collect(),
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }

    pub(crate) async fn connect_custom_key_store(
        &self,
        req: CustomKeyStoreIdRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        let _w = self.writes.lock().await;
        let entry = self.own_store(&req.custom_key_store_id, caller)?;
        match entry.record.connection_state.as_str() {
            CONNECTED | CONNECTING => return Ok(Empty {}),
            FAILED => {
                return Err(invalid_state(format!(
                    "Custom key store {} is in the FAILED state; disconnect it before connecting it again.",
                    entry.record.id
                )))
            }
            DISCONNECTING => {
                return Err(invalid_state(format!("Custom key store {} is disconnecting.", entry.record.id)))
            }
            _ => {}
        }
        // AWS connects asynchronously; here the check takes at most one proxy deadline, so the
        // outcome is recorded before the call returns and DescribeCustomKeyStores shows it at once.
        let mut record = entry.record.clone();
        match self
            .health_check(
                &entry.target,
                "ConnectCustomKeyStore",
                &caller.origin.request_id,
            )
            .await
        {
            Health::Ok => {
                record.connection_state = CONNECTED.to_string();
                record.connection_error_code = None;
            }
            Health::AllUnavailable => {
                record.connection_state = FAILED.to_string();
                record.connection_error_code = Some("XKS_PROXY_NOT_REACHABLE".to_string());
            }
            Health::Failed(e) => {
                tracing::info!(store = %record.id, error = %e, "connecting the external key store failed");
                record.connection_state = FAILED.to_string();
                record.connection_error_code = Some(connection_error_code(&e).to_string());
            }
        }
        self.put_store(record, entry.target.clone()).await?;
        Ok(Empty {})
    }

    pub(crate) async fn disconnect_custom_key_store(
        &self,
        req: CustomKeyStoreIdRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        let _w = self.writes.lock().await;
        let entry = self.own_store(&req.custom_key_store_id, caller)?;
        if matches!(
            entry.record.connection_state.as_str(),
            DISCONNECTED | DISCONNECTING
        ) {
            return Err(invalid_state(format!(
                "Custom key store {} is already {}.",
                entry.record.id,
                entry.record.connection_state.to_lowercase()
            )));
        }
        let mut record = entry.record.clone();
        record.connection_state = DISCONNECTED.to_string();
        record.connection_error_code = None;
        self.put_store(record, entry.target.clone()).await?;
        Ok(Empty {})
    }

    pub(crate) async fn update_custom_key_store(
        &self,
        req: UpdateCustomKeyStoreRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        if req.cloud_hsm_cluster_id.is_some() || req.key_store_password.is_some() {
            return Err(validation(
                "CloudHsmClusterId and KeyStorePassword are not valid for an EXTERNAL_KEY_STORE.",
            ));
        }
        let _w = self.writes.lock().await;
        let entry = self.own_store(&req.custom_key_store_id, caller)?;
        let state = entry.record.connection_state.as_str();
        let needs_disconnected = req.xks_proxy_uri_endpoint.is_some()
            || req.xks_proxy_connectivity.is_some()
            || req.xks_proxy_vpc_endpoint_service_name.is_some()
            || req.xks_proxy_vpc_endpoint_service_owner.is_some();
        if needs_disconnected && state != DISCONNECTED {
            return Err(invalid_state(format!(
                "Custom key store {} must be disconnected to change its endpoint, connectivity or VPC endpoint service.",
                entry.record.id
            )));
        }
        if !matches!(state, DISCONNECTED | CONNECTED) {
            return Err(invalid_state(format!(
                "Custom key store {} is {}; it can be updated only when CONNECTED or DISCONNECTED.",
                entry.record.id, state
            )));
        }
        let mut record = entry.record.clone();
        let mut target = entry.target.clone();
        if let Some(e) = req.xks_proxy_uri_endpoint {
            self.check_endpoint(&e)?;
            record.uri_endpoint = e.clone();
            target.endpoint = e;
        }
        if let Some(p) = req.xks_proxy_uri_path {
            record.uri_path = p.clone();
            target.uri_path = p;
        }
        if let Some(c) = req.xks_proxy_connectivity {
            check_connectivity(&c, req.xks_proxy_vpc_endpoint_service_name.as_deref())?;
            record.connectivity = c;
        }
        let credential: Option<XksProxyAuthenticationCredential> =
            req.xks_proxy_authentication_credential;
        if let Some(c) = &credential {
            record.access_key_id = c.access_key_id.clone();
            target.access_key_id = c.access_key_id.clone();
            target.secret = c.raw_secret_access_key.clone();
            let wrapped = self
                .root
                .seal_secret(
                    c.raw_secret_access_key.as_bytes(),
                    &secret_context(&record.id),
                )
                .map_err(|_| KmsError::internal("The proxy credential could not be sealed."))?;
            record.wrapped_secret_hex = hex::encode(wrapped);
        }
        if let Some(n) = req.new_custom_key_store_name {
            record.name = n;
        }
        self.check_unique(
            &record.account_id,
            Some(&record.id),
            &record.name,
            &record.uri_endpoint,
            &record.uri_path,
        )?;
        let proxy_changed = record.uri_endpoint != entry.record.uri_endpoint
            || record.uri_path != entry.record.uri_path
            || credential.is_some();
        if proxy_changed {
            self.checked_health(&target, "UpdateCustomKeyStore", &caller.origin.request_id)
                .await?;
        }
        self.put_store(record, target).await?;
        Ok(Empty {})
    }

    pub(crate) async fn delete_custom_key_store(
        &self,
        req: CustomKeyStoreIdRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        let _w = self.writes.lock().await;
        let entry = self.own_store(&req.custom_key_store_id, caller)?;
        if entry.record.connection_state != DISCONNECTED {
            return Err(invalid_state(format!(
                "Custom key store {} must be disconnected before it is deleted.",
                entry.record.id
            )));
        }
        let has_keys = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .keys
                .values()
                .any(|k| k.record.custom_key_store_id.as_deref() == Some(entry.record.id.as_str()))
        };
        if has_keys {
            return Err(KmsError::new(
                ErrorCode::CustomKeyStoreHasCMKsException,
                "The custom key store contains KMS keys. After verifying that you do not need to use the KMS keys, use the ScheduleKeyDeletion operation to delete the KMS keys. After they are deleted, you can delete the custom key store.",
            ));
        }
        let id = entry.record.id.clone();
        self.store_write(move |s| s.delete_custom_key_store(&id))
            .await?;
        let mut cache = self
            .cache
            .write()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        cache.stores.remove(&entry.record.id);
        Ok(Empty {})
    }

    /// The periodic `KmsHealthCheck` of every connected store: it feeds the stores' health figures
    /// and never changes a connection state (AWS does not either).
    pub async fn health_check_stores(&self) -> Result<usize, KmsError> {
        let connected: Vec<Arc<StoreEntry>> = {
            let cache = self
                .cache
                .read()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            cache
                .stores
                .values()
                .filter(|s| s.record.connection_state == CONNECTED)
                .cloned()
                .collect()
        };
        for entry in &connected {
            let meta = RequestMetadata {
                kms_operation: Some("KmsHealthCheck".to_string()),
                kms_request_id: Some(crate::new_request_id()),
                ..RequestMetadata::default()
            };
            let outcome = match self.xks.health(&entry.target, meta).await {
                Ok(h) => {
                    let mut by_state: HashMap<String, usize> = HashMap::new();
                    for d in h.ekm_fleet_details {
                        *by_state.entry(d.health_status).or_default() += 1;
                    }
                    Ok(by_state)
                }
                Err(e) => {
                    tracing::warn!(store = %entry.record.id, error = %e, "KmsHealthCheck failed");
                    Err(e.to_string())
                }
            };
            let figures = HealthFigures {
                checked_ms: self.now_ms(),
                outcome,
            };
            let mut cache = self
                .cache
                .write()
                .map_err(|_| KmsError::internal("cache lock poisoned"))?;
            if let Some(current) = cache.stores.get(&entry.record.id).cloned() {
                cache.stores.insert(
                    entry.record.id.clone(),
                    Arc::new(StoreEntry {
                        record: current.record.clone(),
                        target: current.target.clone(),
                        limiter: Arc::clone(&current.limiter),
                        last_health: Some(figures),
                    }),
                );
            }
        }
        Ok(connected.len())
    }

    /// The last health figures of a store (for metrics and tests).
    pub fn store_health(&self, id: &str) -> Option<HealthFigures> {
        self.store_entry(id).and_then(|s| s.last_health.clone())
    }

    /// XksKeyAlreadyInUseException when another KMS key of the store uses the external key.
    pub(crate) fn check_external_key_unused(
        &self,
        store_id: &str,
        xks_key: &str,
    ) -> Result<(), KmsError> {
        let cache = self
            .cache
            .read()
            .map_err(|_| KmsError::internal("cache lock poisoned"))?;
        let used = cache.keys.values().any(|k| {
            k.record.custom_key_store_id.as_deref() == Some(store_id)
                && k.record.xks_key_id.as_deref() == Some(xks_key)
        });
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
    pub(crate) async fn check_external_key(
        &self,
        store_id: &str,
        xks_key: &str,
        caller: &Access<'_>,
    ) -> Result<(), KmsError> {
        let store = self.own_store(store_id, caller)?;
        if store.record.connection_state != CONNECTED {
            return Err(invalid_state(crate::xks_crypto::NOT_CONNECTED));
        }
        if !xks::is_valid_external_key_id(xks_key) {
            return Err(validation(format!(
                "XksKeyId '{xks_key}' is not a valid external key id."
            )));
        }
        self.check_external_key_unused(store_id, xks_key)?;
        let meta = RequestMetadata {
            aws_principal_arn: Some(caller.principal_arn.clone()),
            kms_operation: Some("CreateKey".to_string()),
            kms_request_id: Some(caller.origin.request_id.clone()),
            ..RequestMetadata::default()
        };
        let info = self.xks.key_metadata(&store.target, xks_key, meta).await.map_err(|e| {
            let code = match &e {
                ProxyError::Xks { name: ErrorName::KeyNotFoundException, .. } => ErrorCode::XksKeyNotFoundException,
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
        Ok(())
    }

    /// Builds a cache entry for a stored record.
    pub(crate) fn entry_for(&self, record: CustomKeyStoreRecord) -> Result<StoreEntry, KmsError> {
        let target = self.target_for(&record)?;
        Ok(StoreEntry {
            record,
            target,
            limiter: limiter(self.config.xks.requests_per_second),
            last_health: None,
        })
    }

    /// Whether a key in an external key store is usable now (its store is connected).
    pub(crate) fn store_connected(&self, store_id: &str) -> bool {
        self.store_entry(store_id)
            .is_some_and(|s| s.record.connection_state == CONNECTED)
    }

    /// The key state callers see: a key of a store that is not connected is `Unavailable` (unless
    /// pending deletion); its own state comes back when the store reconnects.
    pub(crate) fn visible_state(&self, record: &store::legacy::KeyRecord) -> KeyState {
        match &record.custom_key_store_id {
            Some(id) if record.state != KeyState::PendingDeletion && !self.store_connected(id) => {
                KeyState::Unavailable
            }
            _ => record.state,
        }
    }
}

fn pattern_violation(endpoint: &str) -> KmsError {
    validation(format!(
        "1 validation error detected: Value '{endpoint}' at 'xksProxyUriEndpoint' failed to satisfy constraint: Member must satisfy regular expression pattern: ^https://[a-zA-Z0-9.-]+$"
    ))
}

fn check_connectivity(connectivity: &str, vpc_service: Option<&str>) -> Result<(), KmsError> {
    match (connectivity, vpc_service) {
        ("PUBLIC_ENDPOINT", None) => Ok(()),
        ("PUBLIC_ENDPOINT", Some(_)) => Err(validation(
            "XksProxyVpcEndpointServiceName is valid only with XksProxyConnectivity VPC_ENDPOINT_SERVICE.",
        )),
        ("VPC_ENDPOINT_SERVICE", None) => Err(validation(
            "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.",
        )),
        (_, Some(name)) => Err(KmsError::new(
            ErrorCode::XksProxyVpcEndpointServiceNotFoundException,
            format!(
                "Strongroom cannot use the Amazon VPC endpoint service {name}: VPC_ENDPOINT_SERVICE connectivity needs AWS PrivateLink, which exists only inside AWS. Use PUBLIC_ENDPOINT connectivity with the proxy's HTTPS endpoint."
            ),
        )),
        (other, None) => Err(validation(format!("Unknown XksProxyConnectivity {other}."))),
    }
}

fn list_entry(r: &CustomKeyStoreRecord) -> CustomKeyStoresListEntry {
    CustomKeyStoresListEntry {
        custom_key_store_id: r.id.clone(),
        custom_key_store_name: r.name.clone(),
        custom_key_store_type: r.store_type.clone(),
        connection_state: r.connection_state.clone(),
        connection_error_code: r
            .connection_error_code
            .clone()
            .filter(|_| r.connection_state == FAILED),
        creation_date: Some(timestamp(r.created_ms)),
        xks_proxy_configuration: Some(XksProxyConfiguration {
            connectivity: r.connectivity.clone(),
            access_key_id: r.access_key_id.clone(),
            uri_endpoint: r.uri_endpoint.clone(),
            uri_path: r.uri_path.clone(),
            vpc_endpoint_service_name: r.vpc_endpoint_service_name.clone(),
            vpc_endpoint_service_owner: None,
        }),
    }
}
