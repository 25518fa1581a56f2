//! The deep health check of each tenant's key manager, cached: GetHealthStatus and the
//! load-balancer check answer from the cache, and a background task keeps it fresh.
//!
//! Invariants: at most one deep check of a tenant runs at a time (the cache's lock is held
//! across the check); a result is reused for at most the configured time, and a failed one for
//! at most [`FAILED_HEALTH_TTL`]; a check of a blocking backend that hangs or panics reports
//! UNAVAILABLE (keeping the last id and model seen) instead of holding the callers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::backend::{BackendHealth, KeyBackend};
use crate::clock::Clock;

/// A failed health check is re-run after at most this long, whatever the cache age.
const FAILED_HEALTH_TTL: Duration = Duration::from_secs(5);

/// One tenant's cached health.
pub(super) struct HealthCache {
    /// The tenant's URI path: for logs, and the id reported before any check answered.
    uri_path: String,
    backend: Arc<dyn KeyBackend>,
    blocking: bool,
    /// How long a blocking backend's check may take before it counts as failed.
    limit: Duration,
    ttl: Duration,
    /// What a result's age is measured by.
    clock: Clock,
    slot: tokio::sync::Mutex<Option<(Instant, BackendHealth)>>,
}

impl HealthCache {
    /// A cache of `backend`'s health, trusted for `ttl` by `clock`; `backend_timeout` is the
    /// tenant's time limit for calls (a check gets at least a second).
    pub(super) fn new(
        uri_path: String,
        backend: Arc<dyn KeyBackend>,
        backend_timeout: Duration,
        ttl: Duration,
        clock: Clock,
    ) -> HealthCache {
        HealthCache {
            uri_path,
            blocking: backend.is_blocking(),
            backend,
            limit: backend_timeout.max(Duration::from_secs(1)),
            ttl,
            clock,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached result if fresh enough, else a new deep check (one at a time).
    pub(super) async fn get(&self) -> BackendHealth {
        let mut slot = self.slot.lock().await;
        if let Some((at, h)) = slot.as_ref() {
            let ttl = if h.health_status == xks::HEALTH_UNAVAILABLE {
                self.ttl.min(FAILED_HEALTH_TTL)
            } else {
                self.ttl
            };
            if self.clock.since(*at) < ttl {
                return h.clone();
            }
        }
        let previous = slot.as_ref().map(|(_, h)| h.clone());
        let h = self.check(previous).await;
        *slot = Some((self.clock.now(), h.clone()));
        h
    }

    /// Whether the key manager can serve (ACTIVE or DEGRADED), from the cache: the
    /// load-balancer check's question.
    pub(super) async fn can_serve(&self) -> bool {
        self.get().await.health_status != xks::HEALTH_UNAVAILABLE
    }

    async fn check(&self, previous: Option<BackendHealth>) -> BackendHealth {
        if !self.blocking {
            return self.backend.health();
        }
        let backend = self.backend.clone();
        let task = tokio::task::spawn_blocking(move || backend.health());
        match tokio::time::timeout(self.limit, task).await {
            Ok(Ok(h)) => h,
            outcome => {
                let why = if outcome.is_err() {
                    "timed out"
                } else {
                    "panicked"
                };
                tracing::error!(tenant = %self.uri_path, "health check {why}");
                let (id, model) = previous
                    .map(|p| (p.id, p.model))
                    .unwrap_or_else(|| (self.uri_path.clone(), "unknown".to_owned()));
                BackendHealth {
                    id,
                    model,
                    health_status: xks::HEALTH_UNAVAILABLE,
                }
            }
        }
    }
}

/// Keeps a tenant's cached health fresh so GetHealthStatus rarely waits for a check.
pub(super) async fn refresher(health: Arc<HealthCache>, mut shutdown: watch::Receiver<bool>) {
    if health.ttl.is_zero() {
        return;
    }
    let period = (health.ttl / 2).max(Duration::from_secs(1));
    loop {
        let h = health.get().await;
        if h.health_status != xks::HEALTH_ACTIVE {
            tracing::warn!(
                tenant = %health.uri_path,
                id = %h.id,
                status = h.health_status,
                "external key manager is not healthy"
            );
        }
        // The refresh cadence is real waiting, not the cache's clock: the cache decides by its
        // clock whether this call runs a check.
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
