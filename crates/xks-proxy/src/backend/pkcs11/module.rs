//! The process-wide registry of loaded PKCS#11 modules.
//!
//! `C_Initialize` and `C_Finalize` act on the whole process, and a module loaded twice is the
//! same library instance, so every backend naming a module shares one [`Module`]: the loaded
//! library, a count of users, and a [`Gate`]. Every PKCS#11 call runs under the gate's read side;
//! `C_Finalize` (with the `C_Initialize` after it) runs under its write side, so it never runs
//! under a call in flight, and bumps the gate's epoch. Sessions remember the epoch they were
//! opened in: a session of an older epoch is forgotten, never closed nor used, since its handle
//! number may by now belong to a session another backend opened.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use crate::backend::BackendError;

/// Serializes the library's life cycle against the calls made through it.
pub(super) struct Gate {
    lock: RwLock<()>,
    epoch: AtomicU64,
}

impl Gate {
    /// Held around every PKCS#11 call other than `C_Finalize`.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Held around `C_Finalize` and what follows it.
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current library initialization (read it under [`Gate::read`] or [`Gate::write`]).
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// `C_Finalize`, best effort (the library may be finalized already); under [`Gate::write`].
    pub(super) fn finalize(&self, ctx: &Pkcs11, _write: &RwLockWriteGuard<'_, ()>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = ctx.clone().finalize();
    }
}

/// A loaded module shared by the backends that name it.
pub(super) struct Module {
    /// Canonical path (the registry key).
    pub(super) path: PathBuf,
    pub(super) ctx: Pkcs11,
    pub(super) gate: Arc<Gate>,
}

struct Loaded {
    path: PathBuf,
    ctx: Pkcs11,
    gate: Arc<Gate>,
    users: usize,
}

/// Loaded modules, kept loaded for the life of the process (unloading a PKCS#11 library is not
/// reliably safe), with how many backends use each.
static MODULES: Mutex<Vec<Loaded>> = Mutex::new(Vec::new());

/// Serializes `C_Initialize` calls (taken under the gate; takes nothing else).
static INIT: Mutex<()> = Mutex::new(());

fn modules() -> MutexGuard<'static, Vec<Loaded>> {
    MODULES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Loads (or shares) the module at `path`.
pub(super) fn acquire(path: &Path) -> Result<Module, BackendError> {
    let cannot = |e: &dyn std::fmt::Display| {
        BackendError::Unavailable(format!(
            "cannot load PKCS#11 module {}: {e}",
            path.display()
        ))
    };
    let key = std::fs::canonicalize(path).map_err(|e| cannot(&e))?;
    let mut mods = modules();
    if let Some(m) = mods.iter_mut().find(|m| m.path == key) {
        m.users += 1;
        return Ok(Module {
            path: key,
            ctx: m.ctx.clone(),
            gate: m.gate.clone(),
        });
    }
    let ctx = Pkcs11::new(&key).map_err(|e| cannot(&e))?;
    let gate = Arc::new(Gate {
        lock: RwLock::new(()),
        epoch: AtomicU64::new(0),
    });
    mods.push(Loaded {
        path: key.clone(),
        ctx: ctx.clone(),
        gate: gate.clone(),
        users: 1,
    });
    Ok(Module {
        path: key,
        ctx,
        gate,
    })
}

/// A backend stops using the module; the last one finalizes the library.
pub(super) fn release(module: &Module) {
    let mut mods = modules();
    if let Some(m) = mods.iter_mut().find(|m| m.path == module.path) {
        m.users = m.users.saturating_sub(1);
        if m.users == 0 {
            let write = m.gate.write();
            m.gate.finalize(&m.ctx, &write);
        }
    }
}

/// `C_Initialize` with OS locking; an already initialized library is fine. Under the gate.
pub(super) fn initialize(ctx: &Pkcs11) -> Result<(), CkError> {
    let _one_at_a_time = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}
