//! Writing through the store: every change is a compare-and-swap on the revision the cache
//! holds; the cache takes the change once the store has it. A conflict (another process
//! changed the record) reloads the record and tries the change again on it.

use std::sync::Arc;

use kms_api::KmsError;
use kms_model::{Key, KeyRef};
use store::StoreError;

use super::cache::cached_key_reusing;
use super::optable;
use super::{store_error, Access, CachedKey, Core};

/// How long a change keeps being tried against a record other processes keep changing (nodes
/// of a cluster writing one key at once). A node with a queue of writes to one key wins each
/// race against another node's retry while its queue lasts, so the bound is on time, not on
/// tries; the short random pause lets the writers fall out of step.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// The pause before another try after a conflict: 0 to 3 ms.
fn backoff() -> std::time::Duration {
    std::time::Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 4))
}

impl Core {
    /// Reloads a key (with its versions, grants and aliases) from the store into the cache;
    /// removes it if the store no longer has it.
    pub async fn refresh_key(&self, key: &KeyRef) -> Result<Option<Arc<CachedKey>>, KmsError> {
        match self.store.get_key(key).await.map_err(store_error)? {
            None => {
                self.cache.remove_key(key);
                Ok(None)
            }
            Some(bundle) => {
                let grants = bundle.grants.into_iter().map(|g| g.record).collect();
                let previous = self.cache.key(key);
                let entry = cached_key_reusing(
                    bundle.key,
                    &bundle.versions,
                    grants,
                    &self.root,
                    &self.config.partition,
                    previous.as_deref(),
                )?;
                self.cache.put_key(entry);
                for a in bundle.aliases {
                    self.cache.put_alias(a);
                }
                Ok(self.cache.key(key))
            }
        }
    }

    /// Changes the record of the key a request names: resolved and authorized for the
    /// operation, in a state the operation's row allows; `change` may refuse. Store first, then
    /// cache, in this process's write order.
    pub async fn mutate_key(
        &self,
        key_ref: &str,
        access: &Access<'_>,
        change: impl Fn(&mut Key) -> Result<(), KmsError>,
    ) -> Result<Arc<CachedKey>, KmsError> {
        let _w = self.writes.lock().await;
        let mut current = self.resolve_for_op(key_ref, access)?;
        let deadline = std::time::Instant::now() + RETRY_FOR;
        for attempt in 0.. {
            if attempt > 0 {
                if std::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(backoff()).await;
            }
            let mut record = current.key.clone();
            change(&mut record)?;
            match self.store.update_key(&record, current.revision).await {
                Ok(revision) => {
                    let entry = current.with_record(record, revision);
                    self.cache.put_key(entry);
                    return self
                        .cache
                        .key(&current.key_ref())
                        .ok_or_else(|| KmsError::internal("The key left the cache."));
                }
                Err(StoreError::Conflict) => {
                    current = self.refresh_key(&current.key_ref()).await?.ok_or_else(|| {
                        self.not_found_key(
                            &current.key.region,
                            &current.key.account,
                            current.key.id.as_str(),
                        )
                    })?;
                    self.check_state(&current, optable::info(access.op).states)?;
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(store_error(StoreError::Conflict))
    }
}
