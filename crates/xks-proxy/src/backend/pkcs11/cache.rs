//! Keys found by label, with their attributes and a session copy to compute with.
//!
//! A token search costs SoftHSMv2 a decryption of every private object's label, reading
//! attributes costs it a check of the object files, and so does every `C_EncryptInit` or
//! `C_DecryptInit` on a token object. So a key's handle and attributes are cached and used as
//! is for [`ATTR_CACHE_TTL`], then checked by reading its label back with the attributes; and
//! the cryptography runs on a **session copy** of the key (`C_CopyObject` with
//! `CKA_TOKEN = false`, same value, usage, sensitivity and label), which the module keeps in
//! memory: with SoftHSMv2 an AES-GCM operation on a copy costs half what it costs on the token
//! object. The usage and disabled checks always use the token object's attributes. At each
//! refresh the copy is kept only if the token object is the same handle with the same
//! attributes and the same value (both encrypt one fixed block alike: a handle number may be
//! reused for a new key), so a copy never stands for a changed key longer than
//! [`ATTR_CACHE_TTL`]. A key the module refuses to copy (`CKA_COPYABLE` false, or no session
//! objects), or that may not encrypt (the value check needs it), is used through its token
//! handle; a disabled key gets no copy (it is refused before any crypto).
//!
//! Copies belong to one *keeper* session, opened with each connection and closed by the
//! recovery that clears this cache, so no copy outlives the handles it was made from. A copy
//! dropped from the cache (the key changed, or the copy's handle failed) may still be in use by
//! an operation that looked it up just before: it is destroyed only after
//! [`COPY_RETIRE_AFTER`]. A copy is replaced only when the key changed, never merely because an
//! operation failed (a stream of bad ciphertexts must not make a copy per request).
//!
//! Entries are valid for the current library initialization (cleared by every recovery and,
//! per label, by this backend's administrative writes). Any failure of an operation that used a
//! cached entry reads the attributes afresh and retries once, so a stale entry never turns into
//! a wrong answer, only into a retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;

use super::ops::{find_key, read_key_attrs, same_key_material, KeyAttrs, OpError};
use super::pool::PooledSession;
use crate::clock::Clock;

/// How long a key's cached attributes are trusted without reading them again. Changes made by
/// another process (`keys disable`, another PKCS#11 tool) show within this time; this backend's
/// own administrative writes invalidate the entry at once.
pub const ATTR_CACHE_TTL: Duration = Duration::from_secs(1);

/// How long a session copy dropped from the cache is kept before it is destroyed: far longer
/// than any operation holds a handle it looked up (operations are bounded by the backend
/// timeout, 1 s by default).
const COPY_RETIRE_AFTER: Duration = Duration::from_secs(30);

/// A key found by label: its token handle, its session copy, its attributes, and when they
/// were read (by the cache's clock).
struct CachedKey {
    handle: ObjectHandle,
    copy: Option<ObjectHandle>,
    attrs: Arc<KeyAttrs>,
    read_at: Instant,
}

/// The session owning the copies, and the copies waiting to be destroyed.
struct Copies {
    keeper: Option<PooledSession>,
    /// Copies to destroy, with when they were retired (real time, see `sweep`).
    retired: Vec<(ObjectHandle, Instant)>,
}

/// The cache of keys by label (see the module docs).
pub(super) struct HandleCache {
    entries: Mutex<HashMap<String, CachedKey>>,
    copies: Mutex<Copies>,
    /// What [`ATTR_CACHE_TTL`] is measured by.
    clock: Clock,
}

/// A key found by [`lookup_key`].
pub(super) struct FoundKey {
    /// The handle to compute with: the session copy, or the token object.
    pub(super) handle: ObjectHandle,
    pub(super) attrs: Arc<KeyAttrs>,
    /// Whether the attributes came from the cache without being read now.
    pub(super) cached: bool,
}

impl HandleCache {
    pub(super) fn new(clock: Clock) -> HandleCache {
        HandleCache {
            clock,
            entries: Mutex::new(HashMap::new()),
            copies: Mutex::new(Copies {
                keeper: None,
                retired: Vec::new(),
            }),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, CachedKey>> {
        // A panic while holding this lock leaves a consistent map.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn copies(&self) -> MutexGuard<'_, Copies> {
        self.copies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every entry and copy and makes `keeper` the session for new copies; returns the
    /// previous keeper for the caller to close (its copies go with it) or forget. Called by
    /// (re)connection, when no operation runs.
    pub(super) fn reset(&self, keeper: Option<PooledSession>) -> Option<PooledSession> {
        self.entries().clear();
        let mut copies = self.copies();
        copies.retired.clear();
        std::mem::replace(&mut copies.keeper, keeper)
    }

    /// Takes the keeper session out (the backend is being dropped).
    pub(super) fn take_keeper(&self) -> Option<PooledSession> {
        self.reset(None)
    }

    /// Drops the cached entry of `label` and retires its copy (after a write to the key, or when
    /// the module refused the key).
    pub(super) fn invalidate(&self, label: &str) {
        let removed = self.entries().remove(label);
        if let Some(copy) = removed.and_then(|e| e.copy) {
            self.retire(copy);
        }
    }

    /// Destroys the retired copies nobody can still be using. Real time, not the cache's
    /// clock: what matters is how long operations really hold a handle.
    fn sweep(&self) {
        let mut copies = self.copies();
        let now = Instant::now();
        let Copies { keeper, retired } = &mut *copies;
        let Some(keeper) = keeper.as_ref() else {
            return;
        };
        retired.retain(|(copy, at)| {
            if now.saturating_duration_since(*at) < COPY_RETIRE_AFTER {
                return true;
            }
            let _ = keeper.session.destroy_object(*copy);
            false
        });
    }

    /// A session copy of the token key `key`, or `None` when the module refuses one.
    fn copy_of(&self, key: ObjectHandle) -> Option<ObjectHandle> {
        let copies = self.copies();
        let keeper = copies.keeper.as_ref()?;
        match keeper.session.copy_object(key, &[Attribute::Token(false)]) {
            Ok(copy) => Some(copy),
            Err(e) => {
                tracing::debug!(error = %e, "PKCS#11: no session copy of the key; using the token object");
                None
            }
        }
    }

    fn retire(&self, copy: ObjectHandle) {
        self.copies().retired.push((copy, Instant::now()));
    }

    /// Caches `attrs` for `label`, keeping the previous copy when the key is the same object
    /// with the same attributes and value, else making a new one. Only enabled keys that may
    /// encrypt get a copy: the value check encrypts.
    fn remember(
        &self,
        session: &Session,
        label: &str,
        handle: ObjectHandle,
        attrs: KeyAttrs,
        read_at: Instant,
    ) -> FoundKey {
        self.sweep();
        let previous = self.entries().remove(label);
        let usable = attrs.worth_a_copy();
        let kept = match previous.and_then(|p| p.copy.map(|copy| (p, copy))) {
            // The handle could have been reused for a new key with the same label and
            // attributes (PKCS#11 allows it): the value check tells.
            Some((p, copy))
                if usable
                    && p.handle == handle
                    && p.attrs.same_key(&attrs)
                    && same_key_material(session, handle, copy) =>
            {
                Some(copy)
            }
            Some((_, copy)) => {
                self.retire(copy);
                None
            }
            None => None,
        };
        let copy = match kept {
            Some(copy) => Some(copy),
            None if usable => self.copy_of(handle),
            None => None,
        };
        let attrs = Arc::new(attrs);
        let replaced = self.entries().insert(
            label.to_string(),
            CachedKey {
                handle,
                copy,
                attrs: attrs.clone(),
                read_at,
            },
        );
        // Another thread refreshed the same key meanwhile: its copy is retired, not leaked.
        if let Some(other) = replaced.and_then(|e| e.copy).filter(|c| Some(*c) != copy) {
            self.retire(other);
        }
        FoundKey {
            handle: copy.unwrap_or(handle),
            attrs,
            cached: false,
        }
    }
}

/// The key labelled `label` and its attributes, from the cache while they are fresh.
pub(super) fn lookup_key(
    cache: &HandleCache,
    session: &Session,
    label: &str,
) -> Result<FoundKey, OpError> {
    if let Some(entry) = cache.entries().get(label) {
        if cache.clock.since(entry.read_at) < ATTR_CACHE_TTL {
            return Ok(FoundKey {
                handle: entry.copy.unwrap_or(entry.handle),
                attrs: entry.attrs.clone(),
                cached: true,
            });
        }
    }
    lookup_key_fresh(cache, session, label)
}

/// The key labelled `label` with its attributes read now (through the cached handle, checked
/// against the label, or by a search); refreshes the cache.
pub(super) fn lookup_key_fresh(
    cache: &HandleCache,
    session: &Session,
    label: &str,
) -> Result<FoundKey, OpError> {
    let cached = cache.entries().get(label).map(|entry| entry.handle);
    if let Some(key) = cached {
        let read_at = cache.clock.now();
        match read_key_attrs(session, key, true) {
            Ok(attrs) if attrs.label.as_deref() == Some(label) => {
                return Ok(cache.remember(session, label, key, attrs, read_at));
            }
            // Deleted, or the handle now names another object: search again.
            Ok(_)
            | Err(OpError::Ck(CkError::Pkcs11(
                RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid,
                _,
            ))) => cache.invalidate(label),
            Err(e) => return Err(e),
        }
    }
    let read_at = cache.clock.now();
    let key = find_key(session, label)?;
    let attrs = read_key_attrs(session, key, false)?;
    Ok(cache.remember(session, label, key, attrs, read_at))
}
