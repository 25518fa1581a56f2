//! The KMS service: every TrentService operation Strongroom serves, over a [`store::Store`] with an
//! in-memory copy that keeps the cryptographic hot path free of database reads.
//!
//! The HTTP layer authenticates the caller and hands [`Kms::handle`] the operation, its body, the
//! caller and where the request came from; everything past that point happens here: the body is
//! decoded once into the operation's typed request (`kms_api::wire`), the operation table
//! (`core::optable`) says how it is authorized, and the operation (`ops`) runs on the core
//! (`core`). The answer is a typed [`Outcome`]: the response and what authorization decided.
#![forbid(unsafe_code)]

mod cluster;
mod core;
mod external;
mod jobs;
mod metrics;
mod ops;
mod rewrap;
mod seed;

use std::sync::Arc;

use crypto::RootKey;
use kms_api::wire::{self, DecodeOptions};
use kms_api::{KmsError, Operation};
use kms_model::{CustomKeyStoreId, Region};
use store::Store;

use crate::core::access::Trace;
use crate::core::cache::Cache;
use crate::core::facts::{self, RequestFacts};
use crate::core::optable::{self, Authz};
use crate::core::{rules, store_error, Access, Core};

pub use crate::cluster::ClusterSettings;
pub use crate::core::access::{Caller, RequestOrigin};
pub use crate::core::clock::{Clock, ManualClock, OffsetFileClock, SystemClock};
pub use crate::core::stores::HealthFigures;
pub use crate::external::{ExternalKeyStore, XksSettings};
pub use policy::AllowedVia;
pub use rewrap::{rewrap_root_key, RewrapError, RewrapReport};
pub use seed::{SeedKey, Seeded};

/// Service-wide settings.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    /// The Regions served; the first is where records of a store written before Regions existed
    /// belong.
    pub regions: Vec<Region>,
    /// Serve any Region a request is signed for (`dev`), each its own key namespace.
    pub any_region: bool,
    /// The ARN partition (`aws`).
    pub partition: String,
    /// External key store settings.
    pub xks: XksSettings,
    /// Several nodes on one store: staleness bound, job lease.
    pub cluster: ClusterSettings,
    /// How often the key uses noted in memory are written to the store
    /// ([`Kms::flush_key_usage_forever`]): how long another node, or this one after a crash,
    /// may answer GetKeyLastUsage without them.
    pub usage_flush_interval: std::time::Duration,
}

impl KmsConfig {
    /// One Region, the `aws` partition, default external key store settings.
    pub fn single_region(region: Region) -> KmsConfig {
        KmsConfig {
            regions: vec![region],
            any_region: false,
            partition: "aws".to_string(),
            xks: XksSettings::default(),
            cluster: ClusterSettings::default(),
            usage_flush_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// What a request came to: the response body and what authorization decided (for the audit
/// trail).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The JSON response body.
    pub body: Vec<u8>,
    /// The ARNs of the keys the request was authorized on, in order.
    pub keys: Vec<String>,
    /// How the last authorization allowed the request (`None` for requests that need none).
    pub allowed_via: Option<AllowedVia>,
    /// The grant that allowed it, when one did.
    pub grant: Option<String>,
}

/// A request's result with what its audit record needs ([`Kms::handle_audited`]).
#[derive(Debug)]
pub struct Handled {
    pub result: Result<Outcome, KmsError>,
    pub audit: AuditFacts,
}

/// What the audit trail needs of a request, allowed, denied or failed.
#[derive(Debug, Default)]
pub struct AuditFacts {
    /// The request as decoded; `None` when the body did not decode.
    pub request: Option<wire::Request>,
    /// The ARNs of the keys the request was authorized on (or refused on), in order.
    pub keys: Vec<String>,
    /// The external key store id and external key id of a key in an external key store.
    pub external: Option<(String, String)>,
    /// The key material ids used, in order (ReEncrypt: source, then destination).
    pub key_materials: Vec<String>,
}

/// The service.
pub struct Kms {
    core: Core,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

/// The HTTPS client external key store proxies are reached with, as `config` says.
pub fn xks_client(
    config: &KmsConfig,
    region: &Region,
) -> Result<Arc<dyn ExternalKeyStore>, KmsError> {
    let client = xks_client::XksClient::new(&xks_client::ClientConfig {
        region: region.to_string(),
        timeout: config.xks.timeout,
        extra_ca_pem: config.xks.ca_bundle_pem.clone(),
        system_roots: config.xks.system_roots,
    })
    .map_err(|e| KmsError::internal(format!("The external key store client cannot start: {e}")))?;
    Ok(Arc::new(client))
}

impl Kms {
    /// Loads every key, alias and custom key store from the store and unwraps the key material
    /// under the root key.
    pub async fn open(
        config: KmsConfig,
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
        xks: Arc<dyn ExternalKeyStore>,
    ) -> Result<Kms, KmsError> {
        let snapshot = store.load().await.map_err(store_error)?;
        let usage_tracking_start_ms = store.usage_tracking_start_ms().await.map_err(store_error)?;
        let freshness = core::freshness::Freshness::new(config.cluster.max_staleness);
        let core = Core {
            config,
            store,
            root,
            clock,
            cache: Cache::default(),
            stores: Default::default(),
            xks,
            pools: Default::default(),
            feed_position: std::sync::atomic::AtomicU64::new(snapshot.position),
            usage_tracking_start_ms,
            usage: Default::default(),
            writes: tokio::sync::Mutex::new(()),
            following: tokio::sync::Mutex::new(()),
            freshness,
            node_id: cluster::new_node_id(),
            leader_until: std::sync::Mutex::new(None),
            metrics: Default::default(),
        };
        cluster::replace_all(&core, snapshot)?;
        Ok(Kms { core })
    }

    /// The settings this service runs with.
    pub fn config(&self) -> &KmsConfig {
        &self.core.config
    }

    /// Runs one operation for an authenticated caller.
    pub async fn handle(
        &self,
        op: Operation,
        body: &[u8],
        caller: &Caller,
        origin: &RequestOrigin,
    ) -> Result<Outcome, KmsError> {
        self.handle_audited(op, body, caller, origin).await.result
    }

    /// Runs one operation for an authenticated caller, and hands back, whatever came of it,
    /// what its audit record needs: the request as decoded (the body is decoded once) and
    /// what authorization looked at.
    pub async fn handle_audited(
        &self,
        op: Operation,
        body: &[u8],
        caller: &Caller,
        origin: &RequestOrigin,
    ) -> Handled {
        let trace = Trace::default();
        let mut request = None;
        let result = self
            .run(op, body, caller, origin, &trace, &mut request)
            .await;
        let decisions = trace.into_decisions();
        let keys: Vec<String> = decisions.keys.iter().map(|k| k.to_string()).collect();
        let result = result.map(|body| Outcome {
            body,
            keys: keys.clone(),
            allowed_via: decisions.allowed_via,
            grant: decisions.grant.map(|g| g.to_string()),
        });
        Handled {
            result,
            audit: AuditFacts {
                request,
                keys,
                external: decisions.external,
                key_materials: decisions.key_materials,
            },
        }
    }

    async fn run(
        &self,
        op: Operation,
        body: &[u8],
        caller: &Caller,
        origin: &RequestOrigin,
        trace: &Trace,
        slot: &mut Option<wire::Request>,
    ) -> Result<Vec<u8>, KmsError> {
        // The endpoint's pattern is checked by the custom key store operations, which may relax
        // it for development (a port, plain HTTP) as the configuration allows.
        let opts = match op {
            Operation::CreateCustomKeyStore | Operation::UpdateCustomKeyStore => DecodeOptions {
                skip_patterns: &["xksProxyUriEndpoint"],
            },
            _ => DecodeOptions::STRICT,
        };
        self.core.freshness.check()?;
        let request: &wire::Request = slot.insert(wire::decode(op, body, &opts)?);
        rules::check_grant_tokens(facts::grant_tokens(request))?;
        if self.core.config.cluster.strict_consistency {
            jobs::follow_changes(&self.core).await?;
        } else {
            cluster::catch_up_for_tokens(&self.core, request).await?;
        }
        let info = optable::info(op);
        let access = Access {
            op,
            action: info.action,
            caller,
            facts: RequestFacts::of(request),
            now_ms: self.core.now_ms(),
            origin,
            reencrypt_same_key: None,
            trace,
        };
        if info.authz == Authz::IamOnly {
            self.core.authorize_without_key(&access)?;
        }
        ops::dispatch(&self.core, request, &access).await
    }

    /// Creates `seed`'s key (and its aliases) unless it exists; an existing key is left as it
    /// is, save for missing aliases.
    pub async fn seed_key(&self, seed: &SeedKey) -> Result<Seeded, KmsError> {
        seed::seed_key(&self.core, seed).await
    }

    /// Every metric, in the Prometheus text format.
    pub fn render_metrics(&self) -> Result<String, KmsError> {
        metrics::render(&self.core)
            .map_err(|_| KmsError::internal("The metrics could not be encoded."))
    }

    /// Whether this node can serve: it has confirmed its state with the store within the
    /// staleness bound (for a load balancer's readiness check).
    pub fn ready(&self) -> Result<(), KmsError> {
        self.core.freshness.check()
    }

    /// Deletes every key whose deletion window has ended; returns how many.
    pub async fn sweep_deletions(&self) -> Result<usize, KmsError> {
        jobs::sweep_deletions(&self.core).await
    }

    /// Rotates every key whose automatic rotation is due; returns how many.
    pub async fn rotate_due_keys(&self) -> Result<usize, KmsError> {
        jobs::rotate_due_keys(&self.core).await
    }

    /// Applies what other processes changed in the store (its change feed) to this service's
    /// in-memory copy; returns how many changes were applied.
    pub async fn follow_changes(&self) -> Result<usize, KmsError> {
        jobs::follow_changes(&self.core).await
    }

    /// Writes the key uses noted since the last flush to the store, in one batch; returns how
    /// many. On failure they stay noted for the next flush.
    pub async fn flush_key_usage(&self) -> Result<usize, KmsError> {
        self.core
            .usage
            .flush(&*self.core.store)
            .await
            .map_err(store_error)
    }

    /// Flushes the noted key uses for ever, every `usage_flush_interval` (on every node: each
    /// flushes its own). A failing store is retried at the next interval; requests go on.
    pub async fn flush_key_usage_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.core.config.usage_flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match self.core.usage.flush(&*self.core.store).await {
                Ok(_) if failing => {
                    tracing::info!("key usage is written to the store again");
                    failing = false;
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot write key usage to the store; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// The periodic `KmsHealthCheck` of every connected custom key store.
    pub async fn health_check_stores(&self) -> Result<usize, KmsError> {
        jobs::health_check_stores(&self.core).await
    }

    /// The last health figures of a custom key store (for metrics and tests).
    pub fn store_health(&self, id: &str) -> Option<HealthFigures> {
        CustomKeyStoreId::parse(id).and_then(|id| self.core.store_health(&id))
    }
}

/// The JSON of a response.
pub(crate) fn json<T: kms_api::json::WriteJson>(
    r: Result<T, KmsError>,
) -> Result<Vec<u8>, KmsError> {
    Ok(kms_api::json::to_vec(&r?))
}

#[cfg(test)]
mod tests;
