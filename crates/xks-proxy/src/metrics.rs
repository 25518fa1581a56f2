//! The proxy's metrics, per tenant, in the Prometheus text format on its admin listener
//! (`[admin] listen`): requests by operation and outcome with their latency, backend errors by
//! kind, and the PKCS#11 session pool (size, sessions held, waits, time waited, requests that
//! found no session in time, recoveries).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use http_serve::{Body, Parts};
use hyper::{Method, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, KeyBackend};

/// `[admin]` of the proxy's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where `/metrics` and `/healthz` are served (plain HTTP; keep it on a management network).
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    operation: &'static str,
    /// `Success`, or the XKS error name of the answer.
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    tenant: String,
    operation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BackendErrorLabels {
    tenant: String,
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// What the proxy counts as it serves.
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    backend_errors: Family<BackendErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            backend_errors: Family::default(),
        }
    }
}

impl Metrics {
    /// One answered request (`tenant` `-` when the path named none).
    pub fn request(
        &self,
        tenant: &str,
        operation: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                tenant: tenant.to_owned(),
                operation,
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabels {
                tenant: tenant.to_owned(),
                operation,
            })
            .observe(took.as_secs_f64());
    }

    /// A backend call that failed, by kind.
    pub fn backend_error(&self, tenant: &str, e: &BackendError) {
        let kind = match e {
            BackendError::KeyNotFound(_) => "KeyNotFound",
            BackendError::KeyDisabled(_) => "KeyDisabled",
            BackendError::InvalidKeyUsage { .. } => "InvalidKeyUsage",
            BackendError::InvalidCiphertext => "InvalidCiphertext",
            BackendError::Busy => "Busy",
            BackendError::Unavailable(_) => "Unavailable",
            BackendError::Internal(_) => "Internal",
        };
        self.backend_errors
            .get_or_create(&BackendErrorLabels {
                tenant: tenant.to_owned(),
                kind,
            })
            .inc();
    }

    /// A backend call that ran past the tenant's time limit.
    pub fn backend_timeout(&self, tenant: &str) {
        self.backend_errors
            .get_or_create(&BackendErrorLabels {
                tenant: tenant.to_owned(),
                kind: "Timeout",
            })
            .inc();
    }

    /// Every figure; `backends` are the tenants' (URI path, backend).
    pub fn render(
        &self,
        backends: &[(String, Arc<dyn KeyBackend>)],
    ) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::with_prefix("xks_proxy");
        registry.register(
            "requests",
            "XKS Proxy API requests by tenant, operation and outcome (Success or the error name)",
            self.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer",
            self.latency.clone(),
        );
        registry.register(
            "backend_errors",
            "Failed key manager calls by kind (Timeout: past the tenant's backend_timeout_ms)",
            self.backend_errors.clone(),
        );
        let size = Family::<TenantLabel, Gauge>::default();
        let held = Family::<TenantLabel, Gauge>::default();
        let idle = Family::<TenantLabel, Gauge>::default();
        let waits = Family::<TenantLabel, Counter>::default();
        let waited = Family::<TenantLabel, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        let busy = Family::<TenantLabel, Counter>::default();
        let recoveries = Family::<TenantLabel, Counter>::default();
        for (tenant, backend) in backends {
            let Some(p) = backend.session_pool() else {
                continue;
            };
            let label = TenantLabel {
                tenant: tenant.clone(),
            };
            let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            size.get_or_create(&label).set(gauge(p.size));
            held.get_or_create(&label).set(gauge(p.held));
            idle.get_or_create(&label).set(gauge(p.idle));
            waits.get_or_create(&label).inc_by(p.waits);
            waited.get_or_create(&label).inc_by(p.waited.as_secs_f64());
            busy.get_or_create(&label).inc_by(p.timed_out);
            recoveries.get_or_create(&label).inc_by(p.recoveries);
        }
        registry.register("hsm_sessions", "Size of the PKCS#11 session pool", size);
        registry.register(
            "hsm_sessions_held",
            "PKCS#11 sessions held by requests now",
            held,
        );
        registry.register(
            "hsm_sessions_idle",
            "Open PKCS#11 sessions nobody holds",
            idle,
        );
        registry.register(
            "hsm_session_waits",
            "Requests that found every session held and waited",
            waits,
        );
        registry.register(
            "hsm_session_wait_seconds",
            "Time requests spent waiting for a session",
            waited,
        );
        registry.register(
            "hsm_session_timeouts",
            "Requests that found no session within the acquire timeout (ThrottlingException)",
            busy,
        );
        registry.register(
            "hsm_recoveries",
            "Sessions reopened and library re-initialisations after token or session failures",
            recoveries,
        );
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// The admin listener's handler: `/metrics` and `/healthz`.
pub(crate) struct Admin {
    pub metrics: Arc<Metrics>,
    pub backends: Vec<(String, Arc<dyn KeyBackend>)>,
}

impl http_serve::Handler for Admin {
    async fn handle(
        &self,
        head: Parts,
        _body: &mut Body,
        _peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let plain = "text/plain; charset=utf-8";
        if head.method != Method::GET && head.method != Method::HEAD {
            return http_serve::text_response(StatusCode::METHOD_NOT_ALLOWED, plain, String::new());
        }
        match head.uri.path() {
            "/metrics" => match self.metrics.render(&self.backends) {
                Ok(body) => http_serve::text_response(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    body,
                ),
                Err(_) => http_serve::text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    plain,
                    "encoding failed\n".to_owned(),
                ),
            },
            "/healthz" => http_serve::text_response(StatusCode::OK, plain, "ok\n".to_owned()),
            _ => http_serve::text_response(StatusCode::NOT_FOUND, plain, String::new()),
        }
    }
}
