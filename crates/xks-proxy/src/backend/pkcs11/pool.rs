//! The session pool: at most `size` requests hold a session at a time; a request that finds every
//! session busy waits up to the acquire timeout for one to be returned, then fails with
//! [`BackendError::Busy`].

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::session::Session;

use crate::backend::BackendError;

/// An open, logged-in session and the library epoch it was opened in (see `module`). Opened
/// without close-on-drop: the backend closes it explicitly when the epoch is current, and
/// forgets it otherwise.
pub(super) struct PooledSession {
    pub(super) session: Session,
    pub(super) epoch: u64,
}

/// Idle sessions and the number of permits handed out.
pub(super) struct Pool {
    size: usize,
    acquire_timeout: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    /// Requests currently holding a permit (with or without a session yet).
    in_use: usize,
    /// Open, logged-in sessions nobody holds. Never more than `size`.
    idle: Vec<PooledSession>,
    /// Requests waiting for a permit: a returned permit wakes one only when some wait (a
    /// condition variable's notification is a system call even when nobody waits).
    waiters: usize,
    /// Acquisitions that had to wait, their total wait, and those that timed out (metrics).
    waits: u64,
    waited: Duration,
    timed_out: u64,
}

/// The right to hold one session; returned to the pool on drop.
pub(super) struct Permit<'a> {
    pool: &'a Pool,
}

impl Pool {
    pub(super) fn new(size: usize, acquire_timeout: Duration) -> Pool {
        Pool {
            size,
            acquire_timeout,
            state: Mutex::new(PoolState {
                in_use: 0,
                idle: Vec::with_capacity(size),
                waiters: 0,
                waits: 0,
                waited: Duration::ZERO,
                timed_out: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding this lock leaves the state consistent (plain counters and a Vec).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to the acquire timeout for a free permit.
    pub(super) fn acquire(&self) -> Result<Permit<'_>, BackendError> {
        let started = Instant::now();
        let deadline = started + self.acquire_timeout;
        let mut state = self.lock();
        let waited = state.in_use >= self.size;
        if waited {
            state.waits += 1;
        }
        while state.in_use >= self.size {
            let now = Instant::now();
            if now >= deadline {
                state.timed_out += 1;
                state.waited += now - started;
                return Err(BackendError::Busy);
            }
            state.waiters += 1;
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiters -= 1;
        }
        state.in_use += 1;
        if waited {
            state.waited += started.elapsed();
        }
        Ok(Permit { pool: self })
    }

    /// An idle session, if any.
    pub(super) fn take_idle(&self) -> Option<PooledSession> {
        self.lock().idle.pop()
    }

    /// Returns a healthy session for reuse; gives it back if the pool is full.
    #[must_use]
    pub(super) fn put_idle(&self, session: PooledSession) -> Option<PooledSession> {
        let mut state = self.lock();
        if state.idle.len() < self.size {
            state.idle.push(session);
            None
        } else {
            Some(session)
        }
    }

    /// Takes every idle session out (to close them, during recovery or shutdown).
    pub(super) fn drain_idle(&self) -> Vec<PooledSession> {
        std::mem::take(&mut self.lock().idle)
    }

    /// (permits in use, idle sessions, size).
    pub(super) fn status(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.in_use, state.idle.len(), self.size)
    }

    /// The figures for the metrics (recoveries left at 0 for the backend to fill in).
    pub(super) fn figures(&self) -> crate::backend::SessionPoolFigures {
        let state = self.lock();
        crate::backend::SessionPoolFigures {
            size: self.size,
            held: state.in_use,
            idle: state.idle.len(),
            waits: state.waits,
            waited: state.waited,
            timed_out: state.timed_out,
            recoveries: 0,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.in_use = state.in_use.saturating_sub(1);
        let waiting = state.waiters > 0;
        drop(state);
        if waiting {
            self.pool.freed.notify_one();
        }
    }
}
