//! Shared setup of the PKCS#11 backend tests: a fresh SoftHSMv2 token directory per test.
//!
//! SoftHSMv2 reads `SOFTHSM2_CONF` when the library is initialized, and environment variables
//! are process-wide, so each test points `SOFTHSM2_CONF` at its own directory before it opens a
//! backend. cargo-nextest runs every test in its own process; under `cargo test` the tests of
//! one binary are serialized by a process-wide lock held for the whole test (so
//! `--test-threads=1` is not strictly needed, but it is what the lock amounts to).
//!
//! The tests fail (never skip) when SoftHSMv2 is not installed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use test_support::softhsm::SoftHsm;
use xks_proxy::backend::pkcs11::{Pkcs11Backend, Pkcs11Config};

static SERIAL: Mutex<()> = Mutex::new(());

/// A temporary SoftHSM token directory with initialized tokens; `SOFTHSM2_CONF` points at it.
pub struct Hsm {
    tokens: SoftHsm,
    module: PathBuf,
    _serial: MutexGuard<'static, ()>,
}

impl Hsm {
    /// Tokens as `(label, user PIN)`.
    pub fn new(tokens: &[(&str, &str)]) -> Hsm {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens = SoftHsm::new(tokens);
        // Edition 2021: set_var is safe; every test of this process is serialized above.
        std::env::set_var("SOFTHSM2_CONF", tokens.conf());
        Hsm {
            module: tokens.module().to_path_buf(),
            tokens,
            _serial: serial,
        }
    }

    /// The token directory (`tokens/` holds the tokens, `pin-LABEL` their PINs).
    pub fn dir(&self) -> &Path {
        self.tokens.dir()
    }

    pub fn module(&self) -> &Path {
        &self.module
    }

    /// One token `strongroom` with PIN `1234`.
    pub fn single() -> Hsm {
        Hsm::new(&[("strongroom", "1234")])
    }

    pub fn config(&self, label: &str) -> Pkcs11Config {
        let mut cfg = Pkcs11Config::new(&self.module, label);
        cfg.pin_file = Some(self.tokens.pin_file(label));
        cfg.pool_size = 4;
        cfg.acquire_timeout_ms = 100;
        cfg
    }

    pub fn open(&self, label: &str) -> Pkcs11Backend {
        Pkcs11Backend::open(&self.config(label)).expect("open the PKCS#11 backend")
    }

    /// A second, independent handle on the same library (what another component of the process
    /// would hold): initialized if needed.
    pub fn raw(&self) -> Pkcs11 {
        let ctx = Pkcs11::new(&self.module).expect("load SoftHSM");
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("C_Initialize: {e}"),
        }
        ctx
    }

    pub fn slot(&self, ctx: &Pkcs11, label: &str) -> Slot {
        ctx.get_slots_with_token()
            .expect("slots")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .expect("token info")
                    .label()
                    .trim_end()
                    == label
            })
            .expect("token by label")
    }

    /// A logged-in read-write session through the second handle.
    pub fn raw_session(&self, ctx: &Pkcs11, label: &str, pin: &str) -> Session {
        let session = ctx
            .open_rw_session(self.slot(ctx, label))
            .expect("open session");
        match session.login(UserType::User, Some(&AuthPin::from(pin))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("login: {e}"),
        }
        session
    }
}

/// An AES token key of `bytes` bytes with the given usage, as another PKCS#11 tool makes it.
pub fn aes_key_template(label: &str, bytes: usize, encrypt: bool, decrypt: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(Ulong::try_from(bytes).unwrap()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(encrypt),
        Attribute::Decrypt(decrypt),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

impl Hsm {
    /// Generates a key from `template` in token `label` outside any backend, through a second
    /// handle on the library.
    pub fn generate(&self, label: &str, pin: &str, template: &[Attribute]) {
        let ctx = self.raw();
        let session = self.raw_session(&ctx, label, pin);
        session
            .generate_key(&Mechanism::AesKeyGen, template)
            .expect("generate key");
    }
}

/// The one token object labelled `label`, through a raw session (the backend's session copies
/// of keys are visible to it too, as session objects).
pub fn raw_find(session: &Session, label: &str) -> ObjectHandle {
    let found = session
        .find_objects(&[
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .expect("find");
    assert_eq!(found.len(), 1, "one token object labelled {label}");
    found[0]
}

/// The session objects labelled `label` (the backend's copies of that key), through a raw
/// session of the same process.
pub fn raw_session_copies(session: &Session, label: &str) -> Vec<ObjectHandle> {
    session
        .find_objects(&[
            Attribute::Token(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .expect("find")
}
