//! The core every operation stands on: the in-memory copy of the store ([`cache`]), the key-state
//! rules ([`states`]), the operation table ([`optable`]), turning a `KeyId` into a key
//! ([`resolve`]), authorization ([`authz`]), AWS's shared rules on tags and policies ([`rules`])
//! and writing through the store ([`writes`]). Operations depend on the core, never on each other.

pub(crate) mod access;
pub(crate) mod arn;
pub(crate) mod authz;
pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod facts;
pub(crate) mod freshness;
pub(crate) mod imported;
pub(crate) mod material;
pub(crate) mod metadata;
pub(crate) mod optable;
pub(crate) mod paging;
pub(crate) mod replicas;
pub(crate) mod resolve;
pub(crate) mod rules;
pub(crate) mod states;
pub(crate) mod stores;
pub(crate) mod usage;
pub(crate) mod writes;

use std::sync::Arc;

use crypto::RootKey;
use kms_api::wire::Timestamp;
use kms_api::KmsError;
use store::{Store, StoreError};

use crate::external::ExternalKeyStore;
use crate::KmsConfig;

pub(crate) use access::Access;
pub(crate) use cache::{Cache, CachedKey};

/// What every operation works with.
pub(crate) struct Core {
    pub config: KmsConfig,
    pub store: Arc<dyn Store>,
    pub root: RootKey,
    pub clock: Arc<dyn clock::Clock>,
    pub cache: Cache,
    pub stores: stores::Registry,
    pub xks: Arc<dyn ExternalKeyStore>,
    /// Where key generation and slow private-key operations run (off the async workers).
    pub pools: material::Pools,
    /// Since when the store tracks key usage, milliseconds since the epoch (GetKeyLastUsage's
    /// tracking start, for keys made before it).
    pub usage_tracking_start_ms: i64,
    /// The key uses this node noted and has not flushed to the store yet.
    pub usage: usage::UsageLog,
    /// How far the cache has followed the store's change feed.
    pub feed_position: std::sync::atomic::AtomicU64,
    /// Orders this process's writes so that the store and the cache change in the same order;
    /// other processes are kept apart by the store's compare-and-swap.
    pub writes: tokio::sync::Mutex<()>,
    /// One reader of the change feed at a time (the follower, a request's catch-up): two
    /// applying the same changes at once could put back a record the other just removed.
    pub following: tokio::sync::Mutex<()>,
    /// How current the cache is known to be (see `freshness`).
    pub freshness: freshness::Freshness,
    /// This node's name in the cluster (lease holder).
    pub node_id: String,
    /// Until when (monotonic) this node holds the cluster jobs' lease, if it does.
    pub leader_until: std::sync::Mutex<Option<std::time::Instant>>,
    /// What the service counts as it runs (`crate::metrics`).
    pub metrics: crate::metrics::Metrics,
}

impl Core {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// A storage failure as the caller sees it.
pub(crate) fn store_error(e: StoreError) -> KmsError {
    match e {
        StoreError::Conflict => KmsError::new(
            kms_api::ErrorCode::KmsInternalException,
            "The request conflicted with a concurrent change; retry it.",
        ),
        other => {
            tracing::error!(error = %other, "store failure");
            KmsError::internal("The request failed because of an internal storage error.")
        }
    }
}

/// AWS JSON 1.1's timestamp: seconds since the epoch.
pub(crate) fn timestamp(ms: i64) -> Timestamp {
    // Milliseconds fit an f64 exactly for any date we will see.
    #[allow(clippy::cast_precision_loss)]
    Timestamp(ms as f64 / 1000.0)
}

/// An id for a request Strongroom makes itself (`kmsRequestId` of its own proxy calls).
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
