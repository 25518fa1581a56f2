//! The admin listener (`[admin]`): Prometheus metrics at `/metrics`, and `/healthz` (the process
//! answers) and `/readyz` (it can serve: its keys are confirmed with the store) for load
//! balancers. Plain HTTP, no authentication: it shows counts, key ids and key store ids, never
//! key material or secrets; keep it on a management network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use http_serve::{Body, Parts};
use hyper::{Method, Response, StatusCode};
use kms_api::Operation;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use crate::config::AdminConfig;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    /// `Success`, or the AWS error code the request got.
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

fn request_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// What the HTTP front counts: requests by operation and outcome, and their latency.
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabel, Histogram, fn() -> Histogram>,
    /// Each operation's success counter and latency histogram, once first used: the common
    /// case then takes neither family's lock nor hashes a label set.
    successes: Vec<std::sync::OnceLock<(Counter, Histogram)>>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(request_histogram),
            successes: Operation::ALL
                .iter()
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }
}

impl RequestMetrics {
    /// One request that succeeded.
    pub fn success(&self, op: Operation, took: Duration) {
        let Some(slot) = self.successes.get(op as usize) else {
            return self.count(op.name(), "Success", took);
        };
        let (count, latency) = slot.get_or_init(|| {
            (
                self.counter(op.name(), "Success"),
                self.histogram(op.name()),
            )
        });
        count.inc();
        latency.observe(took.as_secs_f64());
    }

    /// One request refused or failed with the AWS error `code`; `op` is `None` when it named
    /// no known operation.
    pub fn failure(&self, op: Option<Operation>, code: &'static str, took: Duration) {
        self.count(op.map_or("-", |o| o.name()), code, took);
    }

    fn count(&self, operation: &'static str, outcome: &'static str, took: Duration) {
        self.counter(operation, outcome).inc();
        self.histogram(operation).observe(took.as_secs_f64());
    }

    fn counter(&self, operation: &'static str, outcome: &'static str) -> Counter {
        self.requests
            .get_or_create(&RequestLabels { operation, outcome })
            .clone()
    }

    fn histogram(&self, operation: &'static str) -> Histogram {
        self.latency
            .get_or_create(&OperationLabel { operation })
            .clone()
    }

    fn render(&self, out: &mut String) -> Result<(), std::fmt::Error> {
        let mut registry = Registry::with_prefix("strongroom");
        registry.register(
            "requests",
            "KMS API requests by operation and outcome (Success or the error code)",
            self.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's arrival to its answer, by operation",
            self.latency.clone(),
        );
        prometheus_client::encoding::prometheus_text::encode(out, &registry)
    }
}

/// Answers the admin paths for one node.
pub struct Admin {
    pub kms: Arc<kms::Kms>,
    pub requests: Arc<RequestMetrics>,
}

impl Admin {
    fn metrics(&self) -> Response<Full<Bytes>> {
        let mut out = String::new();
        let rendered = self
            .requests
            .render(&mut out)
            .map_err(|_| "encoding failed".to_string())
            .and_then(|()| self.kms.render_metrics().map_err(|e| e.message));
        match rendered {
            Ok(service) => {
                out.push_str(&service);
                http_serve::text_response(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    out,
                )
            }
            Err(e) => http_serve::text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("{e}\n"),
            ),
        }
    }
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
            "/metrics" => self.metrics(),
            "/healthz" => http_serve::text_response(StatusCode::OK, plain, "ok\n".to_string()),
            "/readyz" => match self.kms.ready() {
                Ok(()) => http_serve::text_response(StatusCode::OK, plain, "ready\n".to_string()),
                Err(e) => http_serve::text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    plain,
                    format!("not ready: {}\n", e.message),
                ),
            },
            _ => http_serve::text_response(StatusCode::NOT_FOUND, plain, String::new()),
        }
    }
}
