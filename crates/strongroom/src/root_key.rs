//! The root key: where it comes from (a file, a variable, an AES key in an HSM), the PKCS#11
//! root key, and the `strongroom root-key` commands that create one and move a deployment from
//! one root key to another.
//!
//! A root key in an HSM is an AES-256 secret key object of a PKCS#11 token that never leaves it
//! (`CKA_SENSITIVE` true, `CKA_EXTRACTABLE` false): every wrap and unwrap of key material is an
//! AES-GCM call into the token, through the XKS proxy's PKCS#11 backend (session pool,
//! recovery from broken sessions). Backing keys are unwrapped once, when they are loaded, and
//! kept in memory: no Encrypt, Decrypt or GenerateDataKey calls the HSM. The calls that do
//! (loading, CreateKey, rotation, imports, custom key stores) run with
//! `tokio::task::block_in_place`, so a slow token never stalls an async worker's other tasks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crypto::{
    CryptoError, ExternalRootCipher, ExternalSealed, RootKey, ROOT_NONCE_LEN, ROOT_TAG_LEN,
};
use xks_proxy::backend::pkcs11::{Pkcs11Backend, Pkcs11Config};
use xks_proxy::backend::{BackendError, KeyBackend, KeyStatus};
use zeroize::Zeroizing;

use crate::config::{Config, Pkcs11RootKey, RootKeySource};

/// Sessions the root key keeps open on its token.
const DEFAULT_POOL_SIZE: usize = 4;
/// How long a wrap or unwrap waits for a free session before failing.
const ACQUIRE_TIMEOUT_MS: u64 = 5_000;

/// Loads the root key `src` names, with its previous root key when it names one.
pub fn load(src: &RootKeySource, allow_shared: bool) -> Result<RootKey, String> {
    let root = load_one(src, allow_shared)?;
    let Some(previous) = &src.previous else {
        return Ok(root);
    };
    if previous.previous.is_some() {
        return Err("[root_key.previous] may not have a previous root key of its own".to_string());
    }
    let previous = load_one(previous, allow_shared)
        .map_err(|e| format!("the previous root key ([root_key.previous]): {e}"))?;
    tracing::info!(
        current = %root.kind(),
        previous = %previous.kind(),
        "root key with a previous one: records sealed by either are read; run `strongroom \
         root-key rewrap` to move them all to the current one"
    );
    Ok(root.with_previous(previous))
}

fn load_one(src: &RootKeySource, allow_shared: bool) -> Result<RootKey, String> {
    let contents = match (&src.file, &src.env, &src.pkcs11) {
        (Some(path), None, None) => {
            secret_files::check_secret_file(path, "root key file", allow_shared)?;
            Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            )
        }
        (None, Some(var), None) => Zeroizing::new(
            std::env::var(var).map_err(|_| format!("the root key variable {var} is not set"))?,
        ),
        (None, None, Some(p)) => {
            return open_pkcs11(p, allow_shared).map(|root| RootKey::external(root))
        }
        _ => return Err("root_key needs exactly one of `file`, `env` or `pkcs11`".to_string()),
    };
    RootKey::from_file_contents(&contents).map_err(|e| format!("the root key is not valid: {e}"))
}

/// Runs a call that may block on the HSM without stalling the async worker it is called on:
/// on a multi-threaded runtime the worker's other tasks move to another thread meanwhile.
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

/// A root key held in a PKCS#11 token.
pub struct Pkcs11Root {
    backend: Pkcs11Backend,
    key_label: String,
    described: String,
}

impl std::fmt::Debug for Pkcs11Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Root")
            .field("key", &self.described)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Root {
    fn unavailable(&self, e: BackendError) -> CryptoError {
        CryptoError::RootKeyUnavailable(format!("{}: {e}", self.described))
    }
}

impl ExternalRootCipher for Pkcs11Root {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<ExternalSealed, CryptoError> {
        let sealed = blocking(|| self.backend.encrypt(&self.key_label, plaintext, aad))
            .map_err(|e| self.unavailable(e))?;
        let nonce: [u8; ROOT_NONCE_LEN] = sealed
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Internal)?;
        Ok(ExternalSealed {
            nonce,
            ciphertext: sealed.ciphertext,
            tag: sealed.tag,
        })
    }

    fn open(
        &self,
        nonce: &[u8; ROOT_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; ROOT_TAG_LEN],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        blocking(|| {
            self.backend
                .decrypt(&self.key_label, ciphertext, nonce, tag, aad)
        })
        .map_err(|e| match e {
            BackendError::InvalidCiphertext => CryptoError::Unwrap,
            other => self.unavailable(other),
        })
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}

fn backend_config(p: &Pkcs11RootKey) -> Pkcs11Config {
    let mut cfg = Pkcs11Config::new(&p.module, &p.token_label);
    cfg.pin_file = Some(p.pin_file.clone());
    cfg.pool_size = p.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
    cfg.acquire_timeout_ms = ACQUIRE_TIMEOUT_MS;
    // Never created nor used by this backend (no health check, no calibration); it must be a
    // valid label, and this one is the caller's to choose.
    cfg.health_key_label = p.key_label.clone();
    cfg
}

/// Logs in to the token (the PIN file must be private to its owner).
fn connect(p: &Pkcs11RootKey, allow_shared: bool) -> Result<Pkcs11Backend, String> {
    secret_files::check_secret_file(&p.pin_file, "PKCS#11 PIN file", allow_shared)?;
    blocking(|| Pkcs11Backend::connect(&backend_config(p)))
        .map_err(|e| format!("the root key's PKCS#11 token {:?}: {e}", p.token_label))
}

/// Opens the root key in its token: the key must exist, be an enabled AES-256 key that may
/// encrypt and decrypt, and seal and open a probe.
pub fn open_pkcs11(p: &Pkcs11RootKey, allow_shared: bool) -> Result<Arc<Pkcs11Root>, String> {
    open_with(p, allow_shared, false).map(|(root, _)| root)
}

/// Creates the root key in its token unless a key has its label (an AES-256 token key,
/// private, sensitive and not extractable, for encryption and decryption), then opens it as
/// [`open_pkcs11`] does. `true` when it was created.
pub fn create_pkcs11(
    p: &Pkcs11RootKey,
    allow_shared: bool,
) -> Result<(Arc<Pkcs11Root>, bool), String> {
    open_with(p, allow_shared, true)
}

fn open_with(
    p: &Pkcs11RootKey,
    allow_shared: bool,
    create: bool,
) -> Result<(Arc<Pkcs11Root>, bool), String> {
    let backend = connect(p, allow_shared)?;
    let described = p.describe();
    let mut created = false;
    let info = match blocking(|| backend.key_info(&p.key_label)) {
        Ok(info) => info,
        Err(BackendError::KeyNotFound(_)) if create => {
            blocking(|| backend.create_key(&p.key_label))
                .map_err(|e| format!("cannot create the {described}: {e}"))?;
            created = true;
            blocking(|| backend.key_info(&p.key_label)).map_err(|e| format!("{described}: {e}"))?
        }
        Err(BackendError::KeyNotFound(_)) => {
            return Err(format!(
                "there is no {described}: create it with `strongroom root-key create \
                 --root-key pkcs11 ...` (or `strongroom init --root-key pkcs11 ...`)"
            ))
        }
        Err(e) => return Err(format!("{described}: {e}")),
    };
    if info.key_spec != "AES_256" {
        return Err(format!(
            "{described} is a {} key; the root key must be AES_256",
            info.key_spec
        ));
    }
    let may = |usage: &str| info.key_usage.iter().any(|u| u == usage);
    if !(may("ENCRYPT") && may("DECRYPT")) {
        return Err(format!(
            "{described} may not both encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT)"
        ));
    }
    if info.status == KeyStatus::Disabled {
        return Err(format!(
            "{described} is disabled (CKA_END_DATE in the past)"
        ));
    }
    let root = Arc::new(Pkcs11Root {
        backend,
        key_label: p.key_label.clone(),
        described,
    });
    probe(&root)?;
    Ok((root, created))
}

/// Seals and opens a few random bytes, so that a key the token will not use for AES-GCM fails
/// the start rather than the first CreateKey.
fn probe(root: &Pkcs11Root) -> Result<(), String> {
    const AAD: &[u8] = b"strongroom root key probe";
    let failed = |e: CryptoError| format!("{}: a test encryption failed: {e}", root.described);
    let probe = crypto::random_bytes(32).map_err(failed)?;
    let sealed = root.seal(AAD, &probe).map_err(failed)?;
    let opened = root
        .open(&sealed.nonce, AAD, &sealed.ciphertext, &sealed.tag)
        .map_err(failed)?;
    if opened.as_slice() != probe.as_slice() {
        return Err(failed(CryptoError::Unwrap));
    }
    Ok(())
}

/// Writes a new root key file (0600); refuses to overwrite one.
pub fn create_file(path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let root = RootKey::generate().map_err(|e| format!("cannot generate the root key: {e}"))?;
    let contents = root
        .to_file_contents()
        .ok_or("a generated root key has a file form")?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Where `init` and `root-key create` put a new root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RootKeyKind {
    /// A root key file (`root.key`, mode 0600).
    #[default]
    File,
    /// An AES key in a PKCS#11 token.
    Pkcs11,
}

/// The PKCS#11 options of `init` and `root-key create`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Pkcs11Args {
    /// The PKCS#11 module (for `--root-key pkcs11`).
    #[arg(long)]
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long)]
    pub token_label: Option<String>,
    /// The root key's label in the token (created when absent).
    #[arg(long, default_value = "strongroom-root-key")]
    pub key_label: String,
    /// A file holding the token's user PIN (mode 0600).
    #[arg(long)]
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Args {
    fn root_key(&self) -> Result<Pkcs11RootKey, String> {
        let need = |what: &str| format!("--root-key pkcs11 needs --{what}");
        Ok(Pkcs11RootKey {
            module: self
                .pkcs11_module
                .clone()
                .ok_or_else(|| need("pkcs11-module"))?,
            token_label: self
                .token_label
                .clone()
                .ok_or_else(|| need("token-label"))?,
            key_label: self.key_label.clone(),
            pin_file: self.pin_file.clone().ok_or_else(|| need("pin-file"))?,
            pool_size: None,
        })
    }
}

/// For `init` in `dir`: a new `root.key`, or the HSM key (created when absent). Returns the
/// configuration's `[root_key]`.
pub fn init_root_key(
    dir: &Path,
    kind: RootKeyKind,
    pkcs11: &Pkcs11Args,
) -> Result<RootKeySource, String> {
    match kind {
        RootKeyKind::File => {
            create_file(&dir.join("root.key"))?;
            Ok(RootKeySource {
                file: Some(PathBuf::from("root.key")),
                ..RootKeySource::default()
            })
        }
        RootKeyKind::Pkcs11 => {
            let mut p = pkcs11.root_key()?;
            // The configuration names the PIN file as given; it must work from anywhere.
            p.pin_file = std::path::absolute(&p.pin_file)
                .map_err(|e| format!("cannot resolve {}: {e}", p.pin_file.display()))?;
            let (_, created) = create_pkcs11(&p, false)?;
            if created {
                tracing::info!(key = %p.describe(), "created the root key in the token");
            }
            Ok(RootKeySource {
                pkcs11: Some(p),
                ..RootKeySource::default()
            })
        }
    }
}

/// `strongroom root-key ...`.
#[derive(Debug, clap::Args)]
pub struct RootKeyArgs {
    #[command(subcommand)]
    command: RootKeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RootKeyCommand {
    /// Create a root key: a root key file (mode 0600) or an AES-256 key in a PKCS#11 token
    /// (sensitive, not extractable; left alone when a key has the label already).
    Create {
        /// Where the new root key lives.
        #[arg(long = "root-key", value_enum, default_value_t)]
        kind: RootKeyKind,
        /// For `--root-key file`: the file to write.
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
    /// Seal every record sealed under `[root_key.previous]` under `[root_key]` again, in the
    /// store the configuration names. Safe to run again; nodes configured with both root keys
    /// keep serving meanwhile.
    Rewrap {
        /// The configuration file, with the new root key as `[root_key]` and the old one as
        /// `[root_key.previous]`.
        #[arg(long)]
        config: PathBuf,
        /// Move at most this many records in this run (run it again for the rest), to spread
        /// the work on the HSM.
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// Runs `strongroom root-key ...`.
pub async fn run(args: RootKeyArgs) -> Result<(), String> {
    match args.command {
        RootKeyCommand::Create { kind, file, pkcs11 } => match kind {
            RootKeyKind::File => {
                let path = file.ok_or("--root-key file needs --file")?;
                create_file(&path)?;
                println!("Created the root key file {}", path.display());
                Ok(())
            }
            RootKeyKind::Pkcs11 => {
                let p = pkcs11.root_key()?;
                let (_, created) = create_pkcs11(&p, false)?;
                println!(
                    "{} the {}",
                    if created { "Created" } else { "Found" },
                    p.describe()
                );
                Ok(())
            }
        },
        RootKeyCommand::Rewrap { config, limit } => rewrap(&config, limit).await,
    }
}

async fn rewrap(config_path: &Path, limit: Option<usize>) -> Result<(), String> {
    let config = Config::load(config_path)?;
    if config.root_key.previous.is_none() {
        return Err(format!(
            "{} has no [root_key.previous]: set the new root key as [root_key] and the old one \
             as [root_key.previous]",
            config_path.display()
        ));
    }
    if !config.store.is_shared() && !config.data_dir.join("strongroom.db").exists() {
        return Err(format!(
            "there is no database at {}",
            config.data_dir.join("strongroom.db").display()
        ));
    }
    let root = load(&config.root_key, config.allow_insecure_file_permissions)?;
    let store = crate::setup::open_store(&config).await?;
    let report = kms::rewrap_root_key(store.as_ref(), &root, limit)
        .await
        .map_err(|e| format!("rewrap stopped: {e}"))?;
    println!("{report}");
    if !report.unreadable.is_empty() {
        for name in &report.unreadable {
            eprintln!("strongroom: neither root key opens {name}");
        }
        return Err(format!(
            "{} record(s) open under neither root key; keep [root_key.previous] until they are dealt with",
            report.unreadable.len()
        ));
    }
    if report.stopped_at_limit {
        println!("Run it again to move the rest.");
        return Ok(());
    }
    println!(
        "Every record is sealed by the current root key: remove [root_key.previous] from {} and \
         restart the nodes.",
        config_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Against a real SoftHSMv2 token (the tests fail, never skip, without it). SoftHSMv2 reads
    //! `SOFTHSM2_CONF` when the library is initialized, a process-wide setting: these tests
    //! hold one lock while they run.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    use super::*;

    const PIN: &str = "pin-7391";
    static SERIAL: Mutex<()> = Mutex::new(());

    struct Token {
        dir: tempfile::TempDir,
        root: Pkcs11RootKey,
        _serial: MutexGuard<'static, ()>,
    }

    fn module() -> PathBuf {
        let path = std::env::var_os("STRONGROOM_TEST_PKCS11_MODULE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
        assert!(
            path.exists(),
            "SoftHSMv2 is not installed ({} is missing): `apt-get install -y softhsm2`",
            path.display()
        );
        path
    }

    fn token() -> Token {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/softhsm-setup.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(dir.path())
            .args(["root", PIN, "12345678"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        std::fs::set_permissions(
            &pin_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        // Edition 2021: set_var is safe; the tests that use the token are serialized above.
        std::env::set_var("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"));
        Token {
            root: Pkcs11RootKey {
                module: module(),
                token_label: "root".to_string(),
                key_label: "strongroom-root".to_string(),
                pin_file,
                pool_size: None,
            },
            dir,
            _serial: serial,
        }
    }

    /// The root key's attributes, read through a second handle on the library.
    fn attributes(t: &Token) -> Vec<Attribute> {
        let ctx = Pkcs11::new(&t.root.module).unwrap();
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => panic!("C_Initialize: {e}"),
        }
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == "root")
            .unwrap();
        let session = ctx.open_ro_session(slot).unwrap();
        session
            .login(UserType::User, Some(&AuthPin::from(PIN)))
            .unwrap();
        let found = session
            .find_objects(&[
                Attribute::Token(true),
                Attribute::Label(t.root.key_label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(
            found.len(),
            1,
            "one token key labelled {}",
            t.root.key_label
        );
        session
            .get_attributes(
                found[0],
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::ValueLen,
                ],
            )
            .unwrap()
    }

    #[test]
    fn the_created_key_never_leaves_the_token_and_wraps_there() {
        let t = token();
        let (root, created) = create_pkcs11(&t.root, false).unwrap();
        assert!(created);
        drop(root);
        let (root, created) = create_pkcs11(&t.root, false).unwrap();
        assert!(!created, "the existing key is used, not replaced");
        drop(root);
        let attrs = attributes(&t);
        for want in [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::NeverExtractable(true),
        ] {
            assert!(attrs.contains(&want), "{want:?} in {attrs:?}");
        }
        assert!(attrs
            .iter()
            .any(|a| matches!(a, Attribute::ValueLen(l) if usize::from(*l) == 32)));

        let hsm = RootKey::external(open_pkcs11(&t.root, false).unwrap());
        assert_eq!(hsm.kind(), crypto::RootKind::Hsm);
        let material = crypto::KeyMaterial::generate().unwrap();
        let wrapped = hsm.wrap(&material, b"key/version").unwrap();
        assert_eq!(wrapped.len(), crypto::WRAPPED_KEY_LEN);
        assert_eq!(crypto::sealed_by(&wrapped), Some(crypto::RootKind::Hsm));
        assert_eq!(hsm.unwrap(&wrapped, b"key/version").unwrap(), material);
        // A wrong context or a changed byte is refused by the token's tag check.
        assert_eq!(hsm.unwrap(&wrapped, b"key/other"), Err(CryptoError::Unwrap));
        let mut bad = wrapped.clone();
        bad[20] ^= 1;
        assert_eq!(hsm.unwrap(&bad, b"key/version"), Err(CryptoError::Unwrap));
        let secret = hsm.seal_secret(b"a proxy credential", b"cks").unwrap();
        assert_eq!(
            hsm.open_secret(&secret, b"cks").unwrap().as_slice(),
            b"a proxy credential"
        );

        // Moving a file root's record into the token, and back out to another file root.
        let file = RootKey::generate().unwrap();
        let old = file.wrap(&material, b"ctx").unwrap();
        let moving = RootKey::external(open_pkcs11(&t.root, false).unwrap()).with_previous(file);
        let crypto::Resealed::Moved(in_hsm) = moving
            .reseal_material(crypto::asymmetric::MaterialKind::Aes256Gcm, &old, b"ctx")
            .unwrap()
        else {
            panic!("should move");
        };
        assert_eq!(hsm.unwrap(&in_hsm, b"ctx").unwrap(), material);
        let back = RootKey::generate().unwrap().with_previous(hsm);
        let crypto::Resealed::Moved(home) = back
            .reseal_material(crypto::asymmetric::MaterialKind::Aes256Gcm, &in_hsm, b"ctx")
            .unwrap()
        else {
            panic!("should move back");
        };
        assert_eq!(crypto::sealed_by(&home), Some(crypto::RootKind::Software));

        // Nothing shows the PIN.
        let shown = format!("{moving:?} {back:?} {:?}", t.root);
        assert!(!shown.contains(PIN), "{shown}");
        drop(t.dir);
    }

    #[test]
    fn wrong_pins_missing_keys_and_shared_pin_files_are_refused() {
        let t = token();
        let err = open_pkcs11(&t.root, false).unwrap_err();
        assert!(
            err.contains("there is no AES key \"strongroom-root\""),
            "{err}"
        );
        create_pkcs11(&t.root, false).unwrap();
        let wrong = t.dir.path().join("wrong");
        std::fs::write(&wrong, "0000\n").unwrap();
        std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let err = open_pkcs11(
            &Pkcs11RootKey {
                pin_file: wrong.clone(),
                ..t.root.clone()
            },
            false,
        )
        .unwrap_err();
        assert!(err.contains("CKR_PIN_INCORRECT"), "{err}");
        std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        let err = open_pkcs11(
            &Pkcs11RootKey {
                pin_file: wrong,
                ..t.root.clone()
            },
            false,
        )
        .unwrap_err();
        assert!(err.contains("mode 640"), "{err}");
    }

    /// A worker of a one-worker runtime keeps running other tasks while a task of its own waits
    /// for the token (fails with the token called in place: the other task never runs).
    #[test]
    fn token_calls_leave_the_async_worker_to_other_tasks() {
        let t = token();
        create_pkcs11(&t.root, false).unwrap();
        let root = Arc::new(RootKey::external(open_pkcs11(&t.root, false).unwrap()));
        let material = crypto::KeyMaterial::generate().unwrap();
        let wrapped = root.wrap(&material, b"ctx").unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let (calls, ticked) = rt.block_on(async {
            let counter = Arc::clone(&ticks);
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            let root = Arc::clone(&root);
            let ticks = Arc::clone(&ticks);
            // Never yields: without block_in_place it would hold the only worker throughout.
            let busy = tokio::spawn(async move {
                let start = Instant::now();
                let before = ticks.load(Ordering::Relaxed);
                let mut calls = 0;
                while start.elapsed() < Duration::from_millis(300) {
                    assert_eq!(root.unwrap(&wrapped, b"ctx").unwrap(), material);
                    calls += 1;
                }
                (calls, ticks.load(Ordering::Relaxed) - before)
            });
            let out = busy.await.unwrap();
            ticker.abort();
            out
        });
        assert!(calls > 10, "{calls} unwraps");
        // Held by token calls, the only worker would run it not at all; a loaded machine may
        // run it far less often than every millisecond.
        assert!(
            ticked >= 5,
            "the other task ran only {ticked} times in 300 ms"
        );
    }
}
