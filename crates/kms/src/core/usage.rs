//! Key usage (GetKeyLastUsage) off the hot path: a cryptographic request notes its key's use
//! in memory ([`UseSlot`], one per key, shared by the key's cache entries) and queues the key
//! once; a background flush writes the queued keys' uses to the store in one batch, on every
//! node. GetKeyLastUsage answers the newer of the store's record and this node's own, which
//! may not be flushed yet.

use std::sync::{Arc, Mutex, PoisonError};

use kms_api::Operation;
use kms_model::KeyRef;
use store::{KeyUse, Store, StoreError, UsageOperation};

use super::CachedKey;

/// A key's last cryptographic use on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastUse {
    pub operation: UsageOperation,
    pub at_ms: i64,
    pub request_id: String,
}

/// A key's last use on this node, and whether it waits in the flush queue.
#[derive(Debug, Default)]
pub(crate) struct UseSlot(Mutex<SlotState>);

#[derive(Debug, Default)]
struct SlotState {
    last: Option<LastUse>,
    queued: bool,
}

impl UseSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last use this node saw.
    pub fn last(&self) -> Option<LastUse> {
        self.lock().last.clone()
    }
}

/// The operation a use is recorded as; `None` for operations that are not uses.
pub(crate) fn tracked(op: Operation) -> Option<UsageOperation> {
    Some(match op {
        Operation::Decrypt => UsageOperation::Decrypt,
        Operation::DeriveSharedSecret => UsageOperation::DeriveSharedSecret,
        Operation::Encrypt => UsageOperation::Encrypt,
        Operation::GenerateDataKey => UsageOperation::GenerateDataKey,
        Operation::GenerateDataKeyPair => UsageOperation::GenerateDataKeyPair,
        Operation::GenerateDataKeyPairWithoutPlaintext => {
            UsageOperation::GenerateDataKeyPairWithoutPlaintext
        }
        Operation::GenerateDataKeyWithoutPlaintext => {
            UsageOperation::GenerateDataKeyWithoutPlaintext
        }
        Operation::GenerateMac => UsageOperation::GenerateMac,
        Operation::ReEncrypt => UsageOperation::ReEncrypt,
        Operation::Sign => UsageOperation::Sign,
        Operation::Verify => UsageOperation::Verify,
        Operation::VerifyMac => UsageOperation::VerifyMac,
        Operation::Encapsulate => UsageOperation::Encapsulate,
        Operation::Decapsulate => UsageOperation::Decapsulate,
        _ => return None,
    })
}

/// The keys used since the last flush, each once (bounded by the number of keys).
#[derive(Default)]
pub(crate) struct UsageLog {
    queue: Mutex<Vec<(KeyRef, Arc<UseSlot>)>>,
}

impl UsageLog {
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<(KeyRef, Arc<UseSlot>)>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes a successful cryptographic use of `key` (a later one replaces an earlier one);
    /// the queue's lock is taken only for the key's first use since its last flush.
    pub fn note(&self, key: &CachedKey, op: Operation, at_ms: i64, request_id: &str) {
        let Some(operation) = tracked(op) else {
            return;
        };
        let newly_queued = {
            let mut slot = key.last_use.lock();
            if slot.last.as_ref().is_some_and(|l| l.at_ms > at_ms) {
                return;
            }
            slot.last = Some(LastUse {
                operation,
                at_ms,
                request_id: request_id.to_string(),
            });
            !std::mem::replace(&mut slot.queued, true)
        };
        if newly_queued {
            self.queue()
                .push((key.key_ref(), Arc::clone(&key.last_use)));
        }
    }

    /// Writes the uses noted since the last flush in one batch; returns how many. On failure
    /// the keys go back in the queue for the next flush (with any use noted meanwhile).
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let batch = std::mem::take(&mut *self.queue());
        if batch.is_empty() {
            return Ok(0);
        }
        let uses: Vec<KeyUse> = batch
            .iter()
            .filter_map(|(key, slot)| {
                // Read and unqueued at once: a use after this queues the key again.
                let mut s = slot.lock();
                s.queued = false;
                s.last.clone().map(|l| KeyUse {
                    key: key.clone(),
                    operation: l.operation,
                    at_ms: l.at_ms,
                    request_id: l.request_id,
                })
            })
            .collect();
        match store.record_key_uses(&uses).await {
            Ok(()) => Ok(uses.len()),
            Err(e) => {
                let retry: Vec<_> = batch
                    .into_iter()
                    .filter(|(_, slot)| !std::mem::replace(&mut slot.lock().queued, true))
                    .collect();
                self.queue().extend(retry);
                Err(e)
            }
        }
    }

    /// How many keys wait for the next flush.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.queue().len()
    }
}

/// The newer of two uses (the store's on a tie: it is the one every node answers).
pub(crate) fn newer(stored: Option<KeyUse>, local: Option<LastUse>) -> Option<LastUse> {
    let stored = stored.map(|u| LastUse {
        operation: u.operation,
        at_ms: u.at_ms,
        request_id: u.request_id,
    });
    match (stored, local) {
        (Some(s), Some(l)) => Some(if l.at_ms > s.at_ms { l } else { s }),
        (s, l) => s.or(l),
    }
}
