//! How the KMS reaches external key store proxies: the [`ExternalKeyStore`] trait (the HTTPS
//! client in production, anything in tests), and how every outcome of a proxy call becomes AWS's
//! exception and message (the XKS Proxy API specification's KMS table;
//! docs/research/xks-kms-behaviour.md). Depends on nothing else in the service.

use std::time::Duration;

use async_trait::async_trait;
use kms_api::{ErrorCode, KmsError};
use kms_model::ConnectionErrorCode;
use xks::ErrorName;
pub use xks_client::{ProxyError, ProxyTarget, RequestMetadata};

/// The four calls of the XKS Proxy API.
#[async_trait]
pub trait ExternalKeyStore: Send + Sync + 'static {
    /// GetHealthStatus.
    async fn health(
        &self,
        target: &ProxyTarget,
        meta: RequestMetadata,
    ) -> Result<xks_client::GetHealthStatusResponse, ProxyError>;
    /// GetKeyMetadata.
    async fn key_metadata(
        &self,
        target: &ProxyTarget,
        key_id: &str,
        meta: RequestMetadata,
    ) -> Result<xks_client::GetKeyMetadataResponse, ProxyError>;
    /// Encrypt.
    async fn encrypt(
        &self,
        target: &ProxyTarget,
        key_id: &str,
        req: &xks_client::EncryptRequest,
    ) -> Result<xks_client::EncryptResponse, ProxyError>;
    /// Decrypt.
    async fn decrypt(
        &self,
        target: &ProxyTarget,
        key_id: &str,
        req: &xks_client::DecryptRequest,
    ) -> Result<xks_client::DecryptResponse, ProxyError>;
    /// When the TLS certificate the proxy at `endpoint` last presented expires (milliseconds
    /// since the epoch), if a connection has been made.
    fn certificate_not_after_ms(&self, _endpoint: &str) -> Option<i64> {
        None
    }
}

#[async_trait]
impl ExternalKeyStore for xks_client::XksClient {
    async fn health(
        &self,
        target: &ProxyTarget,
        meta: RequestMetadata,
    ) -> Result<xks_client::GetHealthStatusResponse, ProxyError> {
        xks_client::XksClient::health(self, target, meta).await
    }
    async fn key_metadata(
        &self,
        target: &ProxyTarget,
        key_id: &str,
        meta: RequestMetadata,
    ) -> Result<xks_client::GetKeyMetadataResponse, ProxyError> {
        xks_client::XksClient::key_metadata(self, target, key_id, meta).await
    }
    async fn encrypt(
        &self,
        target: &ProxyTarget,
        key_id: &str,
        req: &xks_client::EncryptRequest,
    ) -> Result<xks_client::EncryptResponse, ProxyError> {
        xks_client::XksClient::encrypt(self, target, key_id, req).await
    }
    async fn decrypt(
        &self,
        target: &ProxyTarget,
        key_id: &str,
        req: &xks_client::DecryptRequest,
    ) -> Result<xks_client::DecryptResponse, ProxyError> {
        xks_client::XksClient::decrypt(self, target, key_id, req).await
    }
    fn certificate_not_after_ms(&self, endpoint: &str) -> Option<i64> {
        xks_client::XksClient::certificate_not_after_ms(self, endpoint)
    }
}

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
pub(crate) const UNHEALTHY: &str = "The external key store proxy is in an unhealthy state. If you see this message repeatedly, notify your external key store proxy administrator.";

/// The message of a key whose store is not connected (the specification's KMS table).
pub(crate) const NOT_CONNECTED: &str = "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.";

/// The exception Create/UpdateCustomKeyStore raise for a failed health check.
pub(crate) fn management_error(e: &ProxyError) -> KmsError {
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
pub(crate) fn connection_error_code(e: &ProxyError) -> ConnectionErrorCode {
    use ConnectionErrorCode as C;
    match e {
        ProxyError::Xks { name, .. } => match name {
            ErrorName::AuthenticationFailedException => C::InvalidCredentials,
            ErrorName::AccessDeniedException => C::XksProxyAccessDenied,
            ErrorName::InvalidUriPathException => C::XksProxyInvalidConfiguration,
            ErrorName::DependencyTimeoutException => C::XksProxyTimedOut,
            ErrorName::ThrottlingException => C::XksProxyNotReachable,
            _ => C::XksProxyInvalidResponse,
        },
        ProxyError::Unreachable(_) => C::XksProxyNotReachable,
        ProxyError::Tls(_) => C::XksProxyInvalidTlsConfiguration,
        ProxyError::Timeout => C::XksProxyTimedOut,
        ProxyError::InvalidResponse(_) => C::XksProxyInvalidResponse,
    }
}

/// How a health check ended.
pub(crate) enum Health {
    Ok,
    AllUnavailable,
    Failed(ProxyError),
}

/// One GetHealthStatus call, judged as AWS judges it.
pub(crate) async fn health_check(
    xks: &dyn ExternalKeyStore,
    target: &ProxyTarget,
    operation: &str,
    request_id: &str,
) -> Health {
    let meta = RequestMetadata {
        kms_operation: Some(operation.to_string()),
        kms_request_id: Some(request_id.to_string()),
        ..RequestMetadata::default()
    };
    match xks.health(target, meta).await {
        Ok(h)
            if !h.ekm_fleet_details.is_empty()
                && h.ekm_fleet_details
                    .iter()
                    .all(|d| d.health_status == xks::HEALTH_UNAVAILABLE) =>
        {
            Health::AllUnavailable
        }
        Ok(h) if h.ekm_fleet_details.is_empty() || h.xks_proxy_fleet_size == 0 => Health::Failed(
            ProxyError::InvalidResponse("no external key manager reported".to_string()),
        ),
        Ok(_) => Health::Ok,
        Err(e) => Health::Failed(e),
    }
}

/// Create/Update: a failed check is the call's exception.
pub(crate) async fn checked_health(
    xks: &dyn ExternalKeyStore,
    target: &ProxyTarget,
    operation: &str,
    request_id: &str,
) -> Result<(), KmsError> {
    match health_check(xks, target, operation, request_id).await {
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
