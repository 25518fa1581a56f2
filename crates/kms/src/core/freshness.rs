//! How current the in-memory copy is known to be. A node confirms its copy each time it reads
//! the store's change feed to its end; when the store stays out of reach, the copy may miss
//! changes other nodes made (a disabled key, a revoked grant), so past a bounded window the
//! node refuses requests rather than serve state it can no longer confirm.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kms_api::KmsError;

/// The last confirmation, on a monotonic clock (the service's `Clock` may be moved by tests).
pub(crate) struct Freshness {
    base: Instant,
    /// Milliseconds after `base` at which the feed was last read to its end.
    confirmed_ms: AtomicU64,
    /// How old the confirmation may grow; `None`: no bound (a store only this node writes).
    max_staleness: Option<Duration>,
}

impl Freshness {
    /// Confirmed now (the copy was just loaded).
    pub fn new(max_staleness: Option<Duration>) -> Freshness {
        Freshness {
            base: Instant::now(),
            confirmed_ms: AtomicU64::new(0),
            max_staleness,
        }
    }

    fn ms_since_base(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// The feed was read to its end by a read that started at `at`.
    pub fn confirm(&self, at: Instant) {
        self.confirmed_ms
            .fetch_max(self.ms_since_base(at), Ordering::SeqCst);
    }

    /// How long since the last confirmation.
    pub fn age(&self) -> Duration {
        let now = self.ms_since_base(Instant::now());
        Duration::from_millis(now.saturating_sub(self.confirmed_ms.load(Ordering::SeqCst)))
    }

    /// Refuses when the copy is older than the bound.
    pub fn check(&self) -> Result<(), KmsError> {
        match self.max_staleness {
            Some(max) if self.age() > max => Err(KmsError::internal(
                "The service cannot confirm that its key data is current (its database is \
                 unreachable); retry the request.",
            )),
            _ => Ok(()),
        }
    }
}
