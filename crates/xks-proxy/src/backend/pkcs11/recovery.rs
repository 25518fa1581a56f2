//! Recovery of the PKCS#11 backend from broken sessions, a lost token and a finalized or
//! broken library, without a process restart.
//!
//! When an operation fails with an error that means the session, the token or the library
//! broke (`CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_CLOSED`, `CKR_DEVICE_ERROR`,
//! `CKR_DEVICE_REMOVED`, `CKR_TOKEN_NOT_PRESENT`, `CKR_CRYPTOKI_NOT_INITIALIZED`,
//! `CKR_USER_NOT_LOGGED_IN`, …, a session found logged out, or an ambiguous
//! `CKR_GENERAL_ERROR`/`CKR_FUNCTION_FAILED` after which the session fails a `C_GetSessionInfo`
//! probe), every pooled session is dropped and the backend reconnects: `C_Initialize` (a no-op
//! unless someone finalized the library), the token found again by label, a new session logged
//! in. If that fails too, the library is re-initialized in place (`C_Finalize`, then the same
//! reconnect). The failed operation is retried once after a successful recovery.
//!
//! A token can also lose its objects without any error (SoftHSMv2's token directory moved away
//! under a running process): a key found missing is therefore looked for again with the
//! health-check key, and when that is missing too the request fails with
//! [`BackendError::Unavailable`] (not `KeyNotFound`) and the library is re-initialized, which
//! picks the token up again once it is back.
//!
//! Invariants: re-initializations are attempted at most once per [`REINIT_MIN_INTERVAL`] (by
//! the backend's clock); in between, requests fail at once with [`BackendError::Unavailable`].
//! Recovery holds the backend's state lock for writing, so it waits for the operations in
//! flight and no session is closed or library finalized under a running call; concurrent
//! failures seen at one `generation` recover once. [`Pkcs11Backend::stats`] counts reconnects
//! and re-initializations.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::Session;

use super::module;
use super::ops::{self, ck_error, is_ambiguous, probe_after, OpError};
use super::pool::PooledSession;
use super::{LibState, Pkcs11Backend, Token};
use crate::backend::BackendError;

/// Minimum time between two attempts to re-initialize the PKCS#11 library.
pub const REINIT_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Counters of the recovery machinery (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pkcs11Stats {
    /// Times the pooled sessions were dropped and a new logged-in session opened.
    pub session_recoveries: u64,
    /// Attempts to re-initialize the library (`C_Finalize` + `C_Initialize`).
    pub reinit_attempts: u64,
    /// Successful re-initializations.
    pub reinits: u64,
}

/// How one try of an operation failed.
pub(super) enum Attempt {
    /// The answer.
    Final(BackendError),
    /// The session, token or library broke: recover, then try again.
    Recover(BackendError),
    /// The token's objects are gone: re-initialize the library, then try again.
    Reinit(BackendError),
}

impl Pkcs11Backend {
    /// Connects: `C_Initialize` (a no-op when initialized), finds the token by label, opens a
    /// logged-in session. Sets `lib.token` and `lib.epoch` on success. Under the gate.
    pub(super) fn connect_token(&self, lib: &mut LibState) -> Result<PooledSession, BackendError> {
        let ctx = &self.module.ctx;
        let unavailable = |what: &str, e: CkError| {
            BackendError::Unavailable(format!(
                "PKCS#11 {what} ({}): {e}",
                self.cfg.module.display()
            ))
        };
        module::initialize(ctx).map_err(|e| unavailable("C_Initialize", e))?;
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| unavailable("C_GetSlotList", e))?;
        let mut matches = Vec::new();
        let mut seen = Vec::new();
        for slot in slots {
            let info = match ctx.get_token_info(slot) {
                Ok(info) => info,
                // A slot whose token went away between the two calls.
                Err(CkError::Pkcs11(RvError::TokenNotPresent | RvError::SlotIdInvalid, _)) => {
                    continue
                }
                Err(e) => return Err(unavailable("C_GetTokenInfo", e)),
            };
            let label = info.label().trim_end().to_string();
            if label == self.cfg.token_label {
                matches.push(Token {
                    slot,
                    model: info.model().trim_end().to_string(),
                });
            } else {
                seen.push(label);
            }
        }
        let token = match matches.len() {
            1 => matches.remove(0),
            0 => {
                return Err(BackendError::Unavailable(format!(
                    "no PKCS#11 token labelled {:?} in {} (tokens found: {:?})",
                    self.cfg.token_label,
                    self.cfg.module.display(),
                    seen
                )))
            }
            n => {
                return Err(BackendError::Unavailable(format!(
                    "{n} PKCS#11 tokens are labelled {:?}; the label must be unique",
                    self.cfg.token_label
                )))
            }
        };
        let session = self
            .open_session(token.slot)
            .map_err(OpError::into_backend)?;
        // The session holding the keys' session copies (see `cache`); without one, keys are
        // used through their token objects.
        let keeper = match self.open_session(token.slot) {
            Ok(keeper) => Some(keeper),
            Err(e) => {
                tracing::warn!(token = %self.cfg.token_label, error = %e.into_backend(), "PKCS#11: no session for key copies; using token objects");
                None
            }
        };
        if let Some(old) = self.handles.reset(keeper) {
            self.discard(old);
        }
        lib.model = token.model.clone();
        lib.token = Some(token);
        lib.epoch = session.epoch;
        lib.last_error.clear();
        Ok(session)
    }

    /// One try of `op`, under the backend's state lock and the module's gate.
    pub(super) fn attempt<T>(
        &self,
        lib: &LibState,
        op: &mut impl FnMut(&Session, &Token) -> Result<T, OpError>,
    ) -> Result<T, Attempt> {
        let Some(token) = &lib.token else {
            return Err(Attempt::Recover(BackendError::Unavailable(
                lib.last_error.clone(),
            )));
        };
        if lib.epoch != self.module.gate.epoch() {
            // Another backend on this module re-initialized the library.
            return Err(Attempt::Recover(BackendError::Unavailable(
                "the PKCS#11 library was re-initialized".to_string(),
            )));
        }
        let pooled = match self.pool.take_idle() {
            Some(pooled) => pooled,
            None => match self.open_session(token.slot) {
                Ok(pooled) => pooled,
                Err(e) if e.is_recoverable() => return Err(Attempt::Recover(e.into_backend())),
                Err(e) => return Err(Attempt::Final(e.into_backend())),
            },
        };
        match op(&pooled.session, token) {
            Ok(value) => {
                self.keep(pooled);
                Ok(value)
            }
            Err(OpError::Backend(BackendError::KeyNotFound(label)))
                if label != self.cfg.health_key_label =>
            {
                // A token whose files went away (SoftHSMv2's token directory moved, a network
                // HSM's partition gone) shows no objects at all and no error. The health-check
                // key tells a missing key from a missing token: only the library's
                // re-initialization brings the objects back.
                match ops::find_key(&pooled.session, &self.cfg.health_key_label) {
                    Ok(_) => {
                        self.keep(pooled);
                        Err(Attempt::Final(BackendError::KeyNotFound(label)))
                    }
                    Err(e) => {
                        self.discard(pooled);
                        let why = match e {
                            OpError::Backend(BackendError::KeyNotFound(_)) => format!(
                                "the token's objects are gone (no {label:?}, and no health-check key {:?})",
                                self.cfg.health_key_label
                            ),
                            other => other.into_backend().to_string(),
                        };
                        Err(Attempt::Reinit(BackendError::Unavailable(why)))
                    }
                }
            }
            Err(OpError::Backend(e)) => {
                self.keep(pooled);
                Err(Attempt::Final(e))
            }
            Err(e) if e.is_recoverable() => {
                self.discard(pooled);
                Err(Attempt::Recover(e.into_backend()))
            }
            Err(OpError::Ck(e)) if is_ambiguous(&e) => match probe_after(&pooled.session, &e) {
                // The operation failed; the session is fine.
                Ok(()) => {
                    self.keep(pooled);
                    Err(Attempt::Final(ck_error(e)))
                }
                Err(broken) => {
                    self.discard(pooled);
                    Err(Attempt::Recover(broken.into_backend()))
                }
            },
            // An unexpected PKCS#11 error: do not reuse the session.
            Err(e) => {
                self.discard(pooled);
                Err(Attempt::Final(e.into_backend()))
            }
        }
    }

    /// Recovers from a broken session or library seen at `generation` (see the module docs);
    /// with `reinit`, re-initializes the library without trying a reconnect first.
    pub(super) fn recover(
        &self,
        generation: u64,
        failure: &BackendError,
        reinit: bool,
    ) -> Result<(), BackendError> {
        let mut lib = self.write_lib();
        if lib.generation != generation {
            return Ok(()); // another request already recovered
        }
        {
            let _gate = self.module.gate.read();
            // Every session of this backend is idle now (operations hold the state lock):
            // close them all (or forget those of an older epoch). Object handles may change.
            for pooled in self.pool.drain_idle() {
                self.discard(pooled);
            }
            if let Some(keeper) = self.handles.reset(None) {
                self.discard(keeper);
            }
            if reinit && lib.token.is_some() {
                tracing::warn!(token = %self.cfg.token_label, error = %failure, "PKCS#11 token lost its objects; re-initializing the library");
                lib.token = None;
                lib.last_error = failure.to_string();
            }
            if lib.token.is_some() {
                // Reconnect without re-initializing: find the token again, open a session.
                lib.generation += 1;
                self.session_recoveries.fetch_add(1, Ordering::Relaxed);
                match self.connect_token(&mut lib) {
                    Ok(session) => {
                        tracing::warn!(token = %self.cfg.token_label, error = %failure, "PKCS#11 session broke; reopened the session pool");
                        self.keep(session);
                        return Ok(());
                    }
                    Err(e) => {
                        tracing::warn!(token = %self.cfg.token_label, error = %e, "cannot open a PKCS#11 session; re-initializing the library");
                        lib.token = None;
                        lib.last_error = e.to_string();
                    }
                }
            }
        }

        let now = self.clock.now();
        if let Some(last) = lib.last_reinit {
            let since = now.saturating_duration_since(last);
            if since < REINIT_MIN_INTERVAL {
                return Err(BackendError::Unavailable(format!(
                    "{} (PKCS#11 library re-initialization is rate-limited; next attempt in {} ms)",
                    lib.last_error,
                    (REINIT_MIN_INTERVAL - since).as_millis()
                )));
            }
        }
        lib.last_reinit = Some(now);
        lib.generation += 1;
        self.reinit_attempts.fetch_add(1, Ordering::Relaxed);
        let gate = self.module.gate.write();
        self.module.gate.finalize(&self.module.ctx, &gate);
        match self.connect_token(&mut lib) {
            Ok(session) => {
                self.reinits.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(token = %self.cfg.token_label, "re-initialized the PKCS#11 library");
                self.keep(session);
                Ok(())
            }
            Err(e) => {
                tracing::error!(token = %self.cfg.token_label, error = %e, "PKCS#11 library re-initialization failed");
                lib.token = None;
                lib.last_error = e.to_string();
                Err(e)
            }
        }
    }
}
