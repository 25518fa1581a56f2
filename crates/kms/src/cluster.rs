//! Several nodes on one store: following the change feed (woken early by the store's change
//! signal, bounded in staleness), the lease under which one node at a time runs the cluster's
//! jobs, and catching up before a request whose grant token names a grant another node made.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_api::wire::Request;
use kms_api::KmsError;
use store::Snapshot;

use crate::core::cache::cached_key;
use crate::core::{facts, rules, Core};
use crate::Kms;

/// The lease the deletion sweep, the rotator and the external key stores' health check run
/// under.
const JOBS_LEASE: &str = "cluster-jobs";

/// How nodes sharing a store behave.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Refuse requests once the in-memory copy could not be confirmed current (the change feed
    /// read to its end) for this long; `None`: no bound (a store no other node writes).
    pub max_staleness: Option<Duration>,
    /// How long the cluster jobs' lease lasts unrenewed: how soon the jobs move to another
    /// node when theirs dies. Renewed every third of it.
    pub lease_ttl: Duration,
    /// Read the change feed before every request (one database round trip each), so that a
    /// request sees every change any node acknowledged before it arrived, as on one node.
    /// Off by default: requests then read only memory, and other nodes' changes arrive
    /// within the follow interval.
    pub strict_consistency: bool,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            max_staleness: None,
            lease_ttl: Duration::from_secs(15),
            strict_consistency: false,
        }
    }
}

/// A name for this node, unique across restarts (the lease holder).
pub(crate) fn new_node_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".to_string());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &nonce[..8])
}

/// Makes the cache hold exactly `snapshot` (at start, and when the feed cannot go on).
pub(crate) fn replace_all(core: &Core, snapshot: Snapshot) -> Result<usize, KmsError> {
    let mut keys = HashSet::new();
    let mut aliases = HashSet::new();
    for bundle in snapshot.keys {
        let grants = bundle.grants.into_iter().map(|g| g.record).collect();
        let entry = cached_key(
            bundle.key,
            &bundle.versions,
            grants,
            &core.root,
            &core.config.partition,
        )?;
        keys.insert(entry.key_ref());
        core.cache.put_key(entry);
        for a in bundle.aliases {
            aliases.insert((
                a.record.account.clone(),
                a.record.region.clone(),
                a.record.name.clone(),
            ));
            core.cache.put_alias(a);
        }
    }
    for gone in core.cache.keys_where(|k| !keys.contains(&k.key_ref())) {
        core.cache.remove_key(&gone.key_ref());
    }
    for gone in core.cache.aliases_where(|a| {
        !aliases.contains(&(a.account.clone(), a.region.clone(), a.name.clone()))
    }) {
        let a = gone.record;
        core.cache.remove_alias(&a.account, &a.region, &a.name);
    }
    let mut stores = HashSet::new();
    let loaded = keys.len();
    for s in snapshot.custom_key_stores {
        stores.insert(s.record.id.clone());
        let entry = core.store_entry_for(s)?;
        core.stores.put(entry);
    }
    for gone in core.stores.matching(|s| !stores.contains(&s.record.id)) {
        core.stores.remove(&gone.record.id);
    }
    core.feed_position
        .store(snapshot.position, std::sync::atomic::Ordering::SeqCst);
    Ok(loaded)
}

/// A request naming a grant (by token) that this node does not know yet: another node just
/// made it. A grant token's promise is that the grant works at once, so read the feed now
/// rather than at the next poll.
pub(crate) async fn catch_up_for_tokens(core: &Core, request: &Request) -> Result<(), KmsError> {
    let retire_token = match request {
        Request::RetireGrant(r) => r.grant_token.as_slice(),
        _ => &[],
    };
    let tokens = facts::grant_tokens(request).unwrap_or_default();
    let unknown = tokens
        .iter()
        .chain(retire_token)
        .filter_map(|t| rules::grant_id_of_token(t))
        .any(|id| {
            core.cache
                .keys_where(|k| k.grants.iter().any(|g| g.id == id))
                .is_empty()
        });
    if unknown {
        crate::jobs::follow_changes(core).await?;
    }
    Ok(())
}

impl Kms {
    /// This node's name (the holder of its leases).
    pub fn node_id(&self) -> &str {
        &self.core.node_id
    }

    /// How long since the in-memory copy was last confirmed current.
    pub fn staleness(&self) -> Duration {
        self.core.freshness.age()
    }

    /// Follows the store's change feed for ever: every `interval`, or sooner when the store
    /// signals a change. Each read to the feed's end confirms the copy current.
    pub async fn follow_forever(self: Arc<Self>, interval: Duration) {
        let signal = self.core.store.change_signal();
        let mut failing = false;
        loop {
            let started = Instant::now();
            match crate::jobs::follow_changes(&self.core).await {
                Ok(_) => {
                    self.core.freshness.confirm(started);
                    if failing {
                        tracing::info!("the change feed is readable again");
                        failing = false;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the change feed; retrying");
                        failing = true;
                    }
                }
            }
            // While failing, retry soon: the staleness window is running.
            let pause = if failing {
                interval.min(Duration::from_millis(200))
            } else {
                interval
            };
            match &signal {
                Some(s) => {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = s.notified() => {}
                    }
                }
                None => tokio::time::sleep(pause).await,
            }
        }
    }

    /// Takes and renews the cluster jobs' lease for ever (every third of its time to live).
    pub async fn keep_jobs_lease(self: Arc<Self>) {
        let ttl = self.core.config.cluster.lease_ttl;
        let renew_every = ttl / 3;
        loop {
            let asked = Instant::now();
            let held = match self
                .core
                .store
                .try_lease(JOBS_LEASE, &self.core.node_id, ttl)
                .await
            {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the cluster jobs' lease");
                    false
                }
            };
            let was = self.holds_jobs_lease();
            {
                let mut until = self
                    .core
                    .leader_until
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Counted from before the request, and short of the full time to live, so this
                // node stops before the database lets another take over.
                *until = held.then(|| asked + ttl.saturating_sub(renew_every));
            }
            if held && !was {
                tracing::info!(node = %self.core.node_id, "took the cluster jobs' lease");
            } else if !held && was {
                tracing::info!(node = %self.core.node_id, "lost the cluster jobs' lease");
            }
            tokio::time::sleep(renew_every).await;
        }
    }

    /// Whether this node holds the cluster jobs' lease now.
    pub fn holds_jobs_lease(&self) -> bool {
        self.core
            .leader_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Gives the lease up (at shutdown), so another node takes the jobs at once.
    pub async fn release_jobs_lease(&self) {
        *self
            .core
            .leader_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        if let Err(e) = self
            .core
            .store
            .release_lease(JOBS_LEASE, &self.core.node_id)
            .await
        {
            tracing::warn!(error = %e, "cannot release the cluster jobs' lease");
        }
    }
}
