//! The connection caps: at most `max_connections` open at once, and at most
//! `max_connections_per_ip` from one client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Refusals are logged at most this often (seconds), so a flood does not flood the log.
const WARN_EVERY_SECS: u64 = 10;

pub(crate) struct Caps {
    total: usize,
    per_ip: usize,
    open: Arc<Semaphore>,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    started: Instant,
    last_warning: AtomicU64,
}

/// One admitted connection; its place is given back when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.by_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Caps {
    pub(crate) fn new(total: usize, per_ip: usize) -> Caps {
        let total = total.clamp(1, crate::MAX_CONNECTIONS_CEILING);
        Caps {
            total,
            per_ip: per_ip.max(1),
            open: Arc::new(Semaphore::new(total)),
            by_ip: Arc::new(Mutex::new(HashMap::new())),
            started: Instant::now(),
            last_warning: AtomicU64::new(0),
        }
    }

    /// A place for a connection from `ip`, or `None` if either cap is reached.
    pub(crate) fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let Ok(permit) = Arc::clone(&self.open).try_acquire_owned() else {
            self.refused(ip, "max_connections");
            return None;
        };
        {
            let mut map = self.by_ip.lock().unwrap_or_else(PoisonError::into_inner);
            let n = map.entry(ip).or_insert(0);
            if *n >= self.per_ip {
                drop(map);
                self.refused(ip, "max_connections_per_ip");
                return None;
            }
            *n += 1;
        }
        Some(Slot {
            _permit: permit,
            ip,
            by_ip: Arc::clone(&self.by_ip),
        })
    }

    fn refused(&self, ip: IpAddr, cap: &str) {
        let now = self.started.elapsed().as_secs() + WARN_EVERY_SECS;
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + WARN_EVERY_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%ip, "connection refused: limits.{cap} reached (logged once per {WARN_EVERY_SECS} s)");
        } else {
            tracing::debug!(%ip, "connection refused: limits.{cap} reached");
        }
    }

    /// Completes when every admitted connection has ended.
    pub(crate) async fn all_closed(&self) {
        let n = u32::try_from(self.total).unwrap_or(u32::MAX);
        let _ = self.open.acquire_many(n).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_total_and_give_places_back() {
        let caps = Caps::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let c: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert!(caps.admit(a).is_none(), "per address");
        let _b1 = caps.admit(b).unwrap();
        assert!(caps.admit(c).is_none(), "in total");
        drop(a1);
        assert!(caps.admit(a).is_some());
        assert!(caps.by_ip.lock().unwrap().get(&c).is_none_or(|n| *n == 0));
    }
}
