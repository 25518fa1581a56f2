//! The service's metrics, in the Prometheus text format: what it counts as it goes (external key
//! store proxy calls, their latency and errors, throttled requests) and what it reads from its
//! in-memory state when scraped (keys by state and spec, grants, each external key store's
//! health figures, certificate and credential age, imported material expiry). The names of the
//! external key store figures follow the CloudWatch metrics AWS KMS publishes (XksProxyLatency
//! is `strongroom_xks_proxy_latency_seconds`, and so on).

use std::collections::BTreeMap;
use std::time::Duration;

use kms_model::{CustomKeyStoreId, KeyState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use xks_client::ProxyError;

use crate::core::Core;

/// The XKS Proxy API call a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum XksOperation {
    GetHealthStatus,
    GetKeyMetadata,
    Encrypt,
    Decrypt,
}

impl XksOperation {
    fn name(self) -> &'static str {
        match self {
            XksOperation::GetHealthStatus => "GetHealthStatus",
            XksOperation::GetKeyMetadata => "GetKeyMetadata",
            XksOperation::Encrypt => "Encrypt",
            XksOperation::Decrypt => "Decrypt",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProxyCall {
    custom_key_store_id: String,
    kms_operation: &'static str,
    xks_operation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProxyFailure {
    custom_key_store_id: String,
    kms_operation: &'static str,
    xks_operation: &'static str,
    /// `Retryable` or `NonRetryable`, as AWS splits XksProxyErrors.
    error_type: &'static str,
    /// The proxy's error name, or what went wrong on the way (`Timeout`, `Unreachable`,
    /// `TlsFailure`, `InvalidResponse`).
    exception_name: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StoreOperation {
    custom_key_store_id: String,
    kms_operation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StoreLabel {
    custom_key_store_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ManagerState {
    custom_key_store_id: String,
    state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KeyStateSpec {
    key_state: &'static str,
    key_spec: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KeyLabel {
    key_id: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 2 s: the proxy's deadline is 250 ms, twice with the retry.
    Histogram::new(exponential_buckets(0.001, 2.0, 12))
}

/// What the service counts as it runs.
pub(crate) struct Metrics {
    proxy_latency: Family<ProxyCall, Histogram, fn() -> Histogram>,
    proxy_errors: Family<ProxyFailure, Counter>,
    throttled: Family<StoreOperation, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            proxy_latency: Family::new_with_constructor(latency_histogram),
            proxy_errors: Family::default(),
            throttled: Family::default(),
        }
    }
}

/// How AWS splits proxy errors: those worth retrying, and the rest.
fn failure_kind(e: &ProxyError) -> (&'static str, &'static str) {
    use xks::ErrorName as N;
    match e {
        ProxyError::Timeout => ("Retryable", "Timeout"),
        ProxyError::Unreachable(_) => ("Retryable", "Unreachable"),
        ProxyError::InvalidResponse(_) => ("Retryable", "InvalidResponse"),
        ProxyError::Tls(_) => ("NonRetryable", "TlsFailure"),
        ProxyError::Xks { name, .. } => {
            let retryable = matches!(
                name,
                N::ThrottlingException | N::DependencyTimeoutException | N::InternalException
            );
            (
                if retryable {
                    "Retryable"
                } else {
                    "NonRetryable"
                },
                name.as_str(),
            )
        }
    }
}

impl Metrics {
    /// A proxy call that ended after `took`.
    pub fn proxy_call(
        &self,
        store: &CustomKeyStoreId,
        kms_operation: &'static str,
        xks_operation: XksOperation,
        took: Duration,
        error: Option<&ProxyError>,
    ) {
        let call = ProxyCall {
            custom_key_store_id: store.to_string(),
            kms_operation,
            xks_operation: xks_operation.name(),
        };
        self.proxy_latency
            .get_or_create(&call)
            .observe(took.as_secs_f64());
        if let Some(e) = error {
            let (error_type, exception_name) = failure_kind(e);
            self.proxy_errors
                .get_or_create(&ProxyFailure {
                    custom_key_store_id: call.custom_key_store_id,
                    kms_operation,
                    xks_operation: call.xks_operation,
                    error_type,
                    exception_name,
                })
                .inc();
        }
    }

    /// A cryptographic request refused because its store's request quota was spent.
    pub fn throttled(&self, store: &CustomKeyStoreId, kms_operation: &'static str) {
        self.throttled
            .get_or_create(&StoreOperation {
                custom_key_store_id: store.to_string(),
                kms_operation,
            })
            .inc();
    }
}

const DAY_MS: f64 = 24.0 * 60.0 * 60.0 * 1000.0;

/// Every figure, in the Prometheus text format.
pub(crate) fn render(core: &Core) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("strongroom");
    let m = &core.metrics;
    registry.register(
        "xks_proxy_latency_seconds",
        "Time the external key store proxy took to answer (XksProxyLatency)",
        m.proxy_latency.clone(),
    );
    registry.register(
        "xks_proxy_errors",
        "Failed external key store proxy calls (XksProxyErrors)",
        m.proxy_errors.clone(),
    );
    registry.register(
        "external_key_store_throttle",
        "Cryptographic requests refused by an external key store's request quota (ExternalKeyStoreThrottle)",
        m.throttled.clone(),
    );

    let now = core.now_ms();
    let keys = Family::<KeyStateSpec, Gauge>::default();
    let expiry = Family::<KeyLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let mut grants = 0i64;
    for entry in core.cache.keys_where(|_| true) {
        let k = &entry.key;
        keys.get_or_create(&KeyStateSpec {
            key_state: key_state_name(k.state),
            key_spec: k.key_type.spec().as_str(),
        })
        .inc();
        grants += i64::try_from(entry.grants.len()).unwrap_or(i64::MAX);
        let soonest = entry.imported.iter().filter_map(|v| v.expires_ms).min();
        if let Some(expires) = soonest {
            expiry
                .get_or_create(&KeyLabel {
                    key_id: k.id.to_string(),
                })
                .set(((expires - now) as f64 / 1000.0).max(0.0));
        }
    }
    registry.register("keys", "KMS keys by key state and key spec", keys);
    let grant_gauge = Gauge::<i64>::default();
    grant_gauge.set(grants);
    registry.register("grants", "Grants on all keys", grant_gauge);
    registry.register(
        "seconds_until_key_material_expiration",
        "Seconds until the key's imported key material expires (SecondsUntilKeyMaterialExpiration)",
        expiry,
    );

    let states = Family::<ManagerState, Gauge>::default();
    let cert_days = Family::<StoreLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let credential_age = Family::<StoreLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for store in core.stores.matching(|_| true) {
        let label = StoreLabel {
            custom_key_store_id: store.record.id.to_string(),
        };
        if let Some(Ok(by_state)) = store.last_health.as_ref().map(|h| &h.outcome) {
            let sorted: BTreeMap<_, _> = by_state.iter().collect();
            for (state, n) in sorted {
                states
                    .get_or_create(&ManagerState {
                        custom_key_store_id: label.custom_key_store_id.clone(),
                        state: state.clone(),
                    })
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
        if let Some(not_after_ms) = core.xks.certificate_not_after_ms(&store.target.endpoint) {
            cert_days
                .get_or_create(&label)
                .set((not_after_ms - now) as f64 / DAY_MS);
        }
        let since = store
            .record
            .credential_updated_ms
            .unwrap_or(store.record.created_ms);
        credential_age
            .get_or_create(&label)
            .set(((now - since) as f64 / DAY_MS).max(0.0));
    }
    registry.register(
        "xks_external_key_manager_states",
        "External key managers by state at the last health check (XksExternalKeyManagerStates)",
        states,
    );
    registry.register(
        "xks_proxy_certificate_days_to_expire",
        "Days until the proxy's TLS certificate expires, as last seen (XksProxyCertificateDaysToExpire)",
        cert_days,
    );
    registry.register(
        "xks_proxy_credential_age_days",
        "Days since the proxy authentication credential was set (XksProxyCredentialAge)",
        credential_age,
    );
    let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    age.set(core.freshness.age().as_secs_f64());
    registry.register(
        "state_age_seconds",
        "Seconds since this node last confirmed its keys with the store",
        age,
    );

    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

fn key_state_name(s: KeyState) -> &'static str {
    s.as_str()
}
