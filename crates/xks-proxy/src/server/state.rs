//! What every request reads: the proxy's tenants and their reloadable settings.
//!
//! Invariants: `Shared::tenants` is fixed at start (tenants come and go with a restart); only a
//! tenant's [`Dynamic`] part changes, replaced whole under its lock by a reload, so a request
//! sees one consistent set of credentials, rules and quota ([`Tenant::dynamic`] clones the
//! `Arc` once per request).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::authz::Rule;
use crate::backend::workers::Workers;
use crate::backend::KeyBackend;
use crate::clock::Clock;
use crate::config::{self, Config, QuotaConfig, Secret, TenantConfig};

use super::health::HealthCache;

/// A tenant's quota: a rate limiter on the proxy's clock.
pub(super) type Limiter = RateLimiter<NotKeyed, InMemoryState, Clock, NoOpMiddleware<Instant>>;

/// What every request needs.
pub(super) struct Shared {
    pub(super) tenants: HashMap<String, Arc<Tenant>>,
    pub(super) verifier: sigv4::Verifier,
    pub(super) fleet_size: u32,
    pub(super) lb_path: String,
    pub(super) plain_http: bool,
    /// The listener's TLS configuration (`None`: plain HTTP); replaced on reload.
    pub(super) tls: Option<Arc<http_serve::Tls>>,
    /// The configuration in force, for reloads.
    pub(super) config: Mutex<Config>,
    /// The audit trail, when configured: one record per request.
    pub(super) audit: Option<Arc<audit::AuditLog>>,
    /// What the admin listener shows.
    pub(super) metrics: Arc<crate::metrics::Metrics>,
    /// The time quotas are counted by (and reloaded quotas start on).
    pub(super) clock: Clock,
}

/// One external key store: a URI path, its backend and its settings.
pub(super) struct Tenant {
    pub(super) uri_path: String,
    pub(super) backend: Arc<dyn KeyBackend>,
    pub(super) blocking: bool,
    /// The threads running the calls of a blocking backend.
    pub(super) workers: Option<Workers>,
    pub(super) timeout: Duration,
    pub(super) verify_encrypt: bool,
    pub(super) ekm_vendor: String,
    pub(super) health: Arc<HealthCache>,
    pub(super) dynamic: RwLock<Arc<Dynamic>>,
    pub(super) metrics: Arc<crate::metrics::Metrics>,
}

/// The reloadable part of a tenant.
pub(super) struct Dynamic {
    pub(super) credentials: HashMap<String, Secret>,
    pub(super) rules: Vec<Rule>,
    pub(super) quota: Option<(QuotaConfig, Arc<Limiter>)>,
}

impl Dynamic {
    /// Reads the tenant's credentials and builds its quota on `clock`, keeping `previous`'s
    /// limiter (and so its state) when the quota did not change.
    pub(super) fn build(
        t: &TenantConfig,
        previous: Option<&Dynamic>,
        clock: &Clock,
    ) -> Result<Dynamic, String> {
        let credentials = config::load_credentials(t)?
            .into_iter()
            .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
            .collect();
        let quota = match t.quota {
            None => None,
            Some(q) => {
                let kept = previous
                    .and_then(|p| p.quota.as_ref())
                    .filter(|(old, _)| *old == q)
                    .map(|(_, l)| l.clone());
                let limiter = match kept {
                    Some(l) => l,
                    None => {
                        let rate = NonZeroU32::new(q.requests_per_second)
                            .ok_or("quota.requests_per_second must be > 0")?;
                        let burst = NonZeroU32::new(q.burst.unwrap_or(q.requests_per_second))
                            .ok_or("quota.burst must be > 0")?;
                        Arc::new(RateLimiter::direct_with_clock(
                            Quota::per_second(rate).allow_burst(burst),
                            clock.clone(),
                        ))
                    }
                };
                Some((q, limiter))
            }
        };
        Ok(Dynamic {
            credentials,
            rules: t.authorization.clone(),
            quota,
        })
    }
}

impl Tenant {
    /// The settings in force now.
    pub(super) fn dynamic(&self) -> Arc<Dynamic> {
        self.dynamic
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts reloaded settings in force for the requests that start from now on.
    pub(super) fn replace_dynamic(&self, dynamic: Dynamic) {
        *self.dynamic.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(dynamic);
    }
}
