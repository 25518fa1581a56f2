//! A bounded cache of derived signing keys, shared by the verifier and the client signer: the
//! four-HMAC derivation runs once per (access key, secret, date, region), not per request.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::signing::SigningKey;

/// Signing keys by access key id, then (date, region, secret). The service is fixed per verifier,
/// so it need not be part of the key. The secret is kept to compare (in constant time) with the
/// one the lookup gives: a rotated secret never hits the old secret's key, nor the reverse.
pub(crate) struct KeyCache {
    pub(crate) capacity: usize,
    entries: RwLock<HashMap<String, Vec<CachedKey>>>,
}

struct CachedKey {
    date: String,
    region: String,
    secret: Zeroizing<Vec<u8>>,
    key: Arc<SigningKey>,
}

impl CachedKey {
    fn is_for(&self, secret: &str, date: &str, region: &str) -> bool {
        self.date == date
            && self.region == region
            && bool::from(self.secret.ct_eq(secret.as_bytes()))
    }
}

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        KeyCache {
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn get_or_derive(
        &self,
        access_key_id: &str,
        secret: &str,
        date: &str,
        region: &str,
        derive: impl FnOnce() -> SigningKey,
    ) -> Arc<SigningKey> {
        // A panic elsewhere while holding the lock leaves the map usable; recover it.
        if let Some(hit) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(access_key_id)
            .and_then(|keys| keys.iter().find(|k| k.is_for(secret, date, region)))
        {
            return Arc::clone(&hit.key);
        }
        // Derive outside the lock so contention never waits on HMACs.
        let key = Arc::new(derive());
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.values().map(Vec::len).sum::<usize>() >= self.capacity {
            // Keys for other days are the likeliest dead weight; drop them first.
            for keys in entries.values_mut() {
                keys.retain(|k| k.date == date);
            }
            entries.retain(|_, keys| !keys.is_empty());
            if entries.values().map(Vec::len).sum::<usize>() >= self.capacity {
                entries.clear();
            }
        }
        let keys = entries.entry(access_key_id.to_owned()).or_default();
        // A key for the same day and region under another secret is the rotated-out one.
        keys.retain(|k| !(k.date == date && k.region == region));
        keys.push(CachedKey {
            date: date.to_owned(),
            region: region.to_owned(),
            secret: Zeroizing::new(secret.as_bytes().to_vec()),
            key: Arc::clone(&key),
        });
        key
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::derive_signing_key;

    #[test]
    fn cache_is_bounded_and_keyed_by_secret() {
        let cache = KeyCache::new(2);
        let mut derivations = 0;
        let mut get = |akid: &str, secret: &str, date: &str| {
            cache.get_or_derive(akid, secret, date, "r", || {
                derivations += 1;
                derive_signing_key(secret, date, "r", "s")
            })
        };
        let a = get("A", "s1", "20150830");
        let a2 = get("A", "s1", "20150830");
        assert_eq!(a.as_bytes(), a2.as_bytes());
        let rotated = get("A", "s2", "20150830");
        assert_ne!(a.as_bytes(), rotated.as_bytes());
        get("B", "s1", "20150831");
        get("C", "s1", "20150831");
        assert_eq!(derivations, 4);
        assert!(cache.len() <= 2);
    }
}
