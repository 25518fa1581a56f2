//! The software keystore: AES-256 keys in one file, sealed under a key-encryption key (KEK).
//!
//! The file is JSON: `{"format": "strongroom-xks-keystore", "version": 1, "nonce": B64,
//! "sealed": B64}` where `sealed` is AES-256-GCM (under the KEK, AAD = the format name and
//! version) of a JSON document holding every key (id, material, enabled flag, usage, creation
//! time) and the health-check key. Everything, flags included, is therefore confidential and
//! tamper-evident; a wrong KEK or an edited file is refused.
//!
//! Writes are atomic: a temporary file in the same directory is written, synced, renamed over
//! the keystore, and the directory is synced, so a crash leaves either the old or the new
//! keystore. Administrative changes take an exclusive lock on `<path>.lock` and re-read the
//! file first, so concurrent `keys` commands do not lose each other's changes.
//!
//! A serving backend notices changes made by `keys` commands: at most once a second it
//! compares the file's identity (inode, size, modification time) with the one it loaded and
//! reloads on change. A keystore that cannot be reloaded leaves the last good one in use and
//! the health check reports `DEGRADED`.
//!
//! Data keys run AES-256-GCM in aws-lc-rs with a random 96-bit IV per encryption.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::Clock;

use super::{BackendError, BackendHealth, KeyBackend, KeyInfo, KeyStatus, Sealed};

/// The `format` field of a keystore file.
pub const FORMAT: &str = "strongroom-xks-keystore";
/// The keystore file version this code writes and reads.
pub const VERSION: u32 = 1;
/// What health reports as the key manager's model.
pub const MODEL: &str = "Strongroom software keystore v1 (AES-256-GCM, aws-lc-rs)";
/// How often a serving backend looks at the file for changes (by its clock).
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

const KEY_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Where the keystore lives and where its KEK comes from (exactly one of `kek_file`, `kek_env`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareConfig {
    /// The keystore file; created (with its health-check key) if missing.
    pub path: PathBuf,
    /// A file holding the 32-byte KEK: raw, or as 64 hex digits, or as Base64.
    #[serde(default)]
    pub kek_file: Option<PathBuf>,
    /// An environment variable holding the KEK as 64 hex digits or Base64.
    #[serde(default)]
    pub kek_env: Option<String>,
}

/// The software keystore backend.
pub struct SoftwareBackend {
    path: PathBuf,
    lock_path: PathBuf,
    kek: Zeroizing<[u8; KEY_LEN]>,
    state: RwLock<Arc<Snapshot>>,
    /// Milliseconds since `epoch` (by `clock`) of the last look at the file.
    last_check_ms: AtomicU64,
    checking: AtomicBool,
    /// The last reload failed; serving the previous keystore.
    stale: AtomicBool,
    epoch: Instant,
    clock: Clock,
}

/// The keystore as loaded: ready-to-use ciphers.
struct Snapshot {
    keys: HashMap<String, Arc<LoadedKey>>,
    health_key: LessSafeKey,
    stamp: Option<FileStamp>,
}

struct LoadedKey {
    info: KeyInfo,
    cipher: LessSafeKey,
    can_encrypt: bool,
    can_decrypt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let m = fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

/// The outer, on-disk document.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    #[serde(with = "xks::b64::bytes")]
    nonce: Vec<u8>,
    #[serde(with = "xks::b64::bytes")]
    sealed: Vec<u8>,
}

/// The sealed document.
#[derive(Serialize, Deserialize)]
struct Document {
    #[serde(with = "xks::b64::secret")]
    health_key: Zeroizing<Vec<u8>>,
    keys: BTreeMap<String, StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    #[serde(with = "xks::b64::secret")]
    material: Zeroizing<Vec<u8>>,
    enabled: bool,
    usage: Vec<String>,
    created: String,
}

fn internal(msg: impl Into<String>) -> BackendError {
    BackendError::Internal(msg.into())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], BackendError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| internal("the random generator failed"))?;
    Ok(out)
}

fn cipher(material: &[u8]) -> Result<LessSafeKey, BackendError> {
    if material.len() != KEY_LEN {
        return Err(internal("a stored key is not 32 bytes"));
    }
    UnboundKey::new(&AES_256_GCM, material)
        .map(LessSafeKey::new)
        .map_err(|_| internal("cannot load an AES-256 key"))
}

/// Reads the 32-byte KEK from a file or an environment variable (exactly one).
pub fn read_kek(cfg: &SoftwareConfig) -> Result<Zeroizing<[u8; KEY_LEN]>, BackendError> {
    let raw: Zeroizing<Vec<u8>> = match (&cfg.kek_file, &cfg.kek_env) {
        (Some(_), Some(_)) => return Err(internal("set only one of kek_file and kek_env")),
        (None, None) => {
            return Err(internal(
                "the keystore needs a KEK: set kek_file or kek_env",
            ))
        }
        (Some(path), None) => Zeroizing::new(
            fs::read(path)
                .map_err(|e| internal(format!("cannot read kek_file {}: {e}", path.display())))?,
        ),
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) => Zeroizing::new(v.into_bytes()),
            Err(_) => {
                return Err(internal(format!(
                    "environment variable {var} (kek_env) is not set or not UTF-8"
                )))
            }
        },
    };
    parse_kek(&raw).ok_or_else(|| {
        internal("the KEK must be 32 bytes: raw (file only), 64 hex digits or Base64")
    })
}

fn parse_kek(raw: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let text = std::str::from_utf8(raw).ok().map(str::trim);
    if let Some(t) = text {
        if t.len() == 2 * KEY_LEN {
            let decoded = Zeroizing::new(hex_decode(t)?);
            out.copy_from_slice(&decoded);
            return Some(out);
        }
        if let Ok(decoded) = xks::b64::decode(t).map(Zeroizing::new) {
            if decoded.len() == KEY_LEN {
                out.copy_from_slice(&decoded);
                return Some(out);
            }
        }
    }
    if raw.len() == KEY_LEN {
        out.copy_from_slice(raw);
        return Some(out);
    }
    None
}

fn hex_decode(t: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    t.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(*p.get(1)?)?))
        .collect()
}

fn envelope_aad() -> Vec<u8> {
    format!("{FORMAT} v{VERSION}").into_bytes()
}

fn is_usage(u: &str) -> bool {
    u == xks::USAGE_ENCRYPT || u == xks::USAGE_DECRYPT
}

impl SoftwareBackend {
    /// Opens the keystore of `cfg`, creating it (with a fresh health-check key) if the file
    /// does not exist.
    pub fn open(cfg: &SoftwareConfig) -> Result<SoftwareBackend, BackendError> {
        Self::open_with_clock(cfg, Clock::system())
    }

    /// [`SoftwareBackend::open`], looking at the file for changes by `clock`.
    pub fn open_with_clock(
        cfg: &SoftwareConfig,
        clock: Clock,
    ) -> Result<SoftwareBackend, BackendError> {
        let kek = read_kek(cfg)?;
        Self::open_at(&cfg.path, kek, clock)
    }

    /// Opens (or creates) the keystore at `path` with `kek`.
    pub fn open_with_kek(
        path: &Path,
        kek: Zeroizing<[u8; KEY_LEN]>,
    ) -> Result<SoftwareBackend, BackendError> {
        Self::open_at(path, kek, Clock::system())
    }

    fn open_at(
        path: &Path,
        kek: Zeroizing<[u8; KEY_LEN]>,
        clock: Clock,
    ) -> Result<SoftwareBackend, BackendError> {
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let backend = SoftwareBackend {
            path: path.to_owned(),
            lock_path: PathBuf::from(lock_name),
            kek,
            // Replaced below; a throwaway key keeps the type simple.
            state: RwLock::new(Arc::new(Snapshot {
                keys: HashMap::new(),
                health_key: cipher(&[0u8; KEY_LEN])?,
                stamp: None,
            })),
            last_check_ms: AtomicU64::new(0),
            checking: AtomicBool::new(false),
            stale: AtomicBool::new(false),
            epoch: clock.now(),
            clock,
        };
        if !path.exists() {
            backend.modify(|_| Ok(()))?;
        } else {
            let (doc, stamp) = backend.read_document()?;
            backend.install(&doc, stamp)?;
        }
        Ok(backend)
    }

    /// The keystore file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates an AES-256 key with the given usage (a non-empty subset of `ENCRYPT`,
    /// `DECRYPT`); `label` becomes its external key id.
    pub fn create_key_with_usage(
        &self,
        label: &str,
        usage: &[&str],
    ) -> Result<String, BackendError> {
        if !xks::is_valid_external_key_id(label) {
            return Err(internal(format!(
                "'{label}' is not a valid external key id (1-128 characters of A-Z a-z 0-9 - . _)"
            )));
        }
        if usage.is_empty() || !usage.iter().all(|u| is_usage(u)) {
            return Err(internal("key usage must be ENCRYPT, DECRYPT or both"));
        }
        let mut usage_list: Vec<String> = Vec::new();
        for u in [xks::USAGE_ENCRYPT, xks::USAGE_DECRYPT] {
            if usage.contains(&u) {
                usage_list.push(u.to_owned());
            }
        }
        let material = Zeroizing::new(random_bytes::<KEY_LEN>()?.to_vec());
        let created = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.modify(|doc| {
            if doc.keys.contains_key(label) {
                return Err(internal(format!("a key with id '{label}' already exists")));
            }
            doc.keys.insert(
                label.to_owned(),
                StoredKey {
                    material: material.clone(),
                    enabled: true,
                    usage: usage_list.clone(),
                    created: created.clone(),
                },
            );
            Ok(())
        })?;
        Ok(label.to_owned())
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.maybe_reload();
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn key(&self, key_id: &str) -> Result<Arc<LoadedKey>, BackendError> {
        self.snapshot()
            .keys
            .get(key_id)
            .cloned()
            .ok_or_else(|| BackendError::KeyNotFound(key_id.to_owned()))
    }

    /// At most once per [`RELOAD_CHECK`], reloads the file if it changed.
    fn maybe_reload(&self) {
        let now = u64::try_from(self.clock.since(self.epoch).as_millis()).unwrap_or(u64::MAX);
        let last = self.last_check_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < RELOAD_CHECK.as_millis() as u64 {
            return;
        }
        if self
            .checking
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.last_check_ms.store(now, Ordering::Relaxed);
        let current = self
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .stamp;
        if FileStamp::of(&self.path) != current {
            match self
                .read_document()
                .and_then(|(doc, stamp)| self.install(&doc, stamp))
            {
                Ok(()) => {
                    self.stale.store(false, Ordering::Relaxed);
                    tracing::info!(path = %self.path.display(), "software keystore reloaded");
                }
                Err(e) => {
                    self.stale.store(true, Ordering::Relaxed);
                    tracing::error!(
                        path = %self.path.display(),
                        "cannot reload the software keystore; still serving the previous one: {e}"
                    );
                }
            }
        }
        self.checking.store(false, Ordering::Release);
    }

    fn read_document(&self) -> Result<(Document, Option<FileStamp>), BackendError> {
        let stamp = FileStamp::of(&self.path);
        let bytes = fs::read(&self.path).map_err(|e| {
            BackendError::Unavailable(format!("cannot read keystore {}: {e}", self.path.display()))
        })?;
        let doc = self.unseal(&bytes)?;
        Ok((doc, stamp))
    }

    fn unseal(&self, bytes: &[u8]) -> Result<Document, BackendError> {
        unseal(bytes, self.kek.as_slice(), &self.path)
    }

    fn seal(&self, doc: &Document) -> Result<Vec<u8>, BackendError> {
        let mut plain = Zeroizing::new(
            serde_json::to_vec(doc).map_err(|_| internal("cannot serialize the keystore"))?,
        );
        let nonce_bytes = random_bytes::<IV_LEN>()?;
        let kek = cipher(self.kek.as_slice())?;
        let tag = kek
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(envelope_aad()),
                &mut plain,
            )
            .map_err(|_| internal("cannot seal the keystore"))?;
        let mut sealed = plain.to_vec();
        sealed.extend_from_slice(tag.as_ref());
        let env = Envelope {
            format: FORMAT.to_owned(),
            version: VERSION,
            nonce: nonce_bytes.to_vec(),
            sealed,
        };
        let mut out = serde_json::to_vec_pretty(&env)
            .map_err(|_| internal("cannot serialize the keystore"))?;
        out.push(b'\n');
        Ok(out)
    }

    fn install(&self, doc: &Document, stamp: Option<FileStamp>) -> Result<(), BackendError> {
        let snapshot = load(doc, stamp)?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }

    /// Read-modify-write under the lock file; a missing file starts a new keystore.
    fn modify(
        &self,
        change: impl FnOnce(&mut Document) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock_path)
            .map_err(|e| {
                internal(format!(
                    "cannot open lock file {}: {e}",
                    self.lock_path.display()
                ))
            })?;
        lock.lock()
            .map_err(|e| internal(format!("cannot lock {}: {e}", self.lock_path.display())))?;
        let mut doc = if self.path.exists() {
            self.read_document()?.0
        } else {
            Document {
                health_key: Zeroizing::new(random_bytes::<KEY_LEN>()?.to_vec()),
                keys: BTreeMap::new(),
            }
        };
        change(&mut doc)?;
        let bytes = self.seal(&doc)?;
        write_atomically(&self.path, &bytes).map_err(|e| {
            internal(format!(
                "cannot write keystore {}: {e}",
                self.path.display()
            ))
        })?;
        self.install(&doc, FileStamp::of(&self.path))?;
        // The lock is released when `lock` is dropped.
        drop(lock);
        Ok(())
    }
}

/// Opens a keystore file's contents (`path` names it in messages): the envelope, then the
/// sealed document under `kek`.
fn unseal(bytes: &[u8], kek: &[u8], path: &Path) -> Result<Document, BackendError> {
    let env: Envelope = serde_json::from_slice(bytes)
        .map_err(|_| internal(format!("{} is not a keystore file", path.display())))?;
    if env.format != FORMAT {
        return Err(internal(format!(
            "{} is not a keystore file",
            path.display()
        )));
    }
    if env.version != VERSION {
        return Err(internal(format!(
            "keystore {} has version {}; this build reads version {VERSION}",
            path.display(),
            env.version
        )));
    }
    let nonce = Nonce::try_assume_unique_for_key(&env.nonce)
        .map_err(|_| internal("keystore nonce is malformed"))?;
    let kek = cipher(kek)?;
    let mut buf = Zeroizing::new(env.sealed);
    let plain = kek
        .open_in_place(nonce, Aad::from(envelope_aad()), &mut buf)
        .map_err(|_| {
            internal(format!(
                "cannot unseal keystore {}: wrong KEK or the file was altered",
                path.display()
            ))
        })?;
    serde_json::from_slice(plain).map_err(|_| internal("the unsealed keystore is malformed"))
}

/// The ready-to-use keys of an unsealed document.
fn load(doc: &Document, stamp: Option<FileStamp>) -> Result<Snapshot, BackendError> {
    let mut keys = HashMap::with_capacity(doc.keys.len());
    for (id, k) in &doc.keys {
        let usage: Vec<String> = k.usage.clone();
        keys.insert(
            id.clone(),
            Arc::new(LoadedKey {
                info: KeyInfo {
                    key_id: id.clone(),
                    key_spec: xks::AES_256.to_owned(),
                    key_usage: usage.clone(),
                    status: if k.enabled {
                        KeyStatus::Enabled
                    } else {
                        KeyStatus::Disabled
                    },
                },
                cipher: cipher(&k.material)?,
                can_encrypt: usage.iter().any(|u| u == xks::USAGE_ENCRYPT),
                can_decrypt: usage.iter().any(|u| u == xks::USAGE_DECRYPT),
            }),
        );
    }
    Ok(Snapshot {
        keys,
        health_key: cipher(&doc.health_key)?,
        stamp,
    })
}

/// Reads a keystore file's contents under `kek` as opening the keystore does (the envelope, the
/// sealed document, every key's material) and tells the keys it holds, by id. No file is read.
pub fn read_keystore(bytes: &[u8], kek: &[u8; KEY_LEN]) -> Result<Vec<KeyInfo>, BackendError> {
    let doc = unseal(bytes, kek, Path::new("(keystore)"))?;
    let snapshot = load(&doc, None)?;
    let mut keys: Vec<KeyInfo> = snapshot.keys.values().map(|k| k.info.clone()).collect();
    keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    Ok(keys)
}

/// Writes `bytes` to `path` so that a crash leaves the old or the new content: a temporary
/// file in the same directory is written and synced, renamed over `path`, and the directory
/// is synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keystore".to_owned());
    let suffix: [u8; 8] = {
        let mut b = [0u8; 8];
        aws_lc_rs::rand::fill(&mut b)
            .map_err(|_| std::io::Error::other("random generator failed"))?;
        b
    };
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        u64::from_le_bytes(suffix)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl KeyBackend for SoftwareBackend {
    fn key_info(&self, key_id: &str) -> Result<KeyInfo, BackendError> {
        Ok(self.key(key_id)?.info.clone())
    }

    fn encrypt(&self, key_id: &str, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, BackendError> {
        let key = self.key(key_id)?;
        if key.info.status != KeyStatus::Enabled {
            return Err(BackendError::KeyDisabled(key_id.to_owned()));
        }
        if !key.can_encrypt {
            return Err(BackendError::InvalidKeyUsage {
                key_id: key_id.to_owned(),
                operation: "encrypt",
            });
        }
        let iv = random_bytes::<IV_LEN>()?;
        let mut ciphertext = plaintext.to_vec();
        let tag = key
            .cipher
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad),
                &mut ciphertext,
            )
            .map_err(|_| internal("AES-GCM encryption failed"))?;
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag.as_ref());
        Ok(Sealed {
            ciphertext,
            iv: iv.to_vec(),
            tag: tag_bytes,
        })
    }

    fn decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        iv: &[u8],
        tag: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        let key = self.key(key_id)?;
        if key.info.status != KeyStatus::Enabled {
            return Err(BackendError::KeyDisabled(key_id.to_owned()));
        }
        if !key.can_decrypt {
            return Err(BackendError::InvalidKeyUsage {
                key_id: key_id.to_owned(),
                operation: "decrypt",
            });
        }
        // This backend only makes 96-bit IVs; anything else cannot be its ciphertext.
        let nonce =
            Nonce::try_assume_unique_for_key(iv).map_err(|_| BackendError::InvalidCiphertext)?;
        if tag.len() != TAG_LEN {
            return Err(BackendError::InvalidCiphertext);
        }
        let mut plaintext = Zeroizing::new(vec![0u8; ciphertext.len()]);
        key.cipher
            .open_separate_gather(nonce, Aad::from(aad), ciphertext, tag, &mut plaintext)
            .map_err(|_| BackendError::InvalidCiphertext)?;
        Ok(plaintext)
    }

    fn health(&self) -> BackendHealth {
        let id = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "software-keystore".to_owned());
        let snapshot = self.snapshot();
        let status = match health_round_trip(&snapshot.health_key) {
            Ok(()) if self.stale.load(Ordering::Relaxed) => xks::HEALTH_DEGRADED,
            Ok(()) => xks::HEALTH_ACTIVE,
            Err(e) => {
                tracing::error!("software keystore health check failed: {e}");
                xks::HEALTH_UNAVAILABLE
            }
        };
        BackendHealth {
            id,
            model: MODEL.to_owned(),
            health_status: status,
        }
    }

    fn create_key(&self, label: &str) -> Result<String, BackendError> {
        self.create_key_with_usage(label, &[xks::USAGE_ENCRYPT, xks::USAGE_DECRYPT])
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>, BackendError> {
        let mut keys: Vec<KeyInfo> = self
            .snapshot()
            .keys
            .values()
            .map(|k| k.info.clone())
            .collect();
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(keys)
    }

    fn set_enabled(&self, key_id: &str, enabled: bool) -> Result<(), BackendError> {
        self.modify(|doc| match doc.keys.get_mut(key_id) {
            Some(k) => {
                k.enabled = enabled;
                Ok(())
            }
            None => Err(BackendError::KeyNotFound(key_id.to_owned())),
        })
    }

    fn is_blocking(&self) -> bool {
        false
    }
}

/// A real encrypt and decrypt with the health-check key.
fn health_round_trip(key: &LessSafeKey) -> Result<(), String> {
    let probe: [u8; 32] = random_bytes().map_err(|e| e.to_string())?;
    let iv: [u8; IV_LEN] = random_bytes().map_err(|e| e.to_string())?;
    let aad = b"strongroom xks health check";
    let mut buf = probe.to_vec();
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
        .map_err(|_| "encryption failed".to_owned())?;
    let mut out = [0u8; 32];
    key.open_separate_gather(
        Nonce::assume_unique_for_key(iv),
        Aad::from(aad),
        &buf,
        tag.as_ref(),
        &mut out,
    )
    .map_err(|_| "decryption failed".to_owned())?;
    if out != probe {
        return Err("decryption returned different bytes".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(b: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn create_encrypt_decrypt_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let b = SoftwareBackend::open_with_kek(&path, kek(1)).unwrap();
        assert!(b.list_keys().unwrap().is_empty());
        assert_eq!(b.create_key("key.one").unwrap(), "key.one");
        assert!(b.create_key("key.one").is_err());
        assert!(b.create_key("bad id").is_err());
        let sealed = b.encrypt("key.one", b"hello", b"aad").unwrap();
        assert_eq!(sealed.iv.len(), 12);
        assert_eq!(sealed.ciphertext.len(), 5);
        let pt = b
            .decrypt(
                "key.one",
                &sealed.ciphertext,
                &sealed.iv,
                &sealed.tag,
                b"aad",
            )
            .unwrap();
        assert_eq!(pt.as_slice(), b"hello");
        assert!(matches!(
            b.decrypt(
                "key.one",
                &sealed.ciphertext,
                &sealed.iv,
                &sealed.tag,
                b"aaX"
            ),
            Err(BackendError::InvalidCiphertext)
        ));
        assert!(matches!(
            b.decrypt("key.one", &sealed.ciphertext, &[0; 16], &sealed.tag, b"aad"),
            Err(BackendError::InvalidCiphertext)
        ));
        assert!(matches!(
            b.key_info("nope"),
            Err(BackendError::KeyNotFound(_))
        ));

        // A second open (as after a restart) sees the same key.
        let again = SoftwareBackend::open_with_kek(&path, kek(1)).unwrap();
        let pt = again
            .decrypt(
                "key.one",
                &sealed.ciphertext,
                &sealed.iv,
                &sealed.tag,
                b"aad",
            )
            .unwrap();
        assert_eq!(pt.as_slice(), b"hello");
        // The key material is not in the file in the clear, nor is the id (whose `.` cannot
        // occur in the Base64 of the sealed document by chance, as `k1` could).
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(FORMAT) && !text.contains("key.one"), "{text}");
        // A wrong KEK is refused.
        assert!(SoftwareBackend::open_with_kek(&path, kek(2)).is_err());
        // So is a file changed by a single bit anywhere in its sealed part, its nonce or its
        // format line (the format and version are the seal's AAD).
        let original = fs::read(&path).unwrap();
        let env: serde_json::Value = serde_json::from_slice(&original).unwrap();
        for field in ["sealed", "nonce"] {
            let mut bytes = xks::b64::decode(env[field].as_str().unwrap()).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x10;
            let mut changed = env.clone();
            changed[field] = serde_json::json!(xks::b64::encode(&bytes));
            fs::write(&path, serde_json::to_vec(&changed).unwrap()).unwrap();
            assert!(
                SoftwareBackend::open_with_kek(&path, kek(1)).is_err(),
                "{field} changed"
            );
        }
        let mut changed = env.clone();
        changed["version"] = serde_json::json!(VERSION + 1);
        fs::write(&path, serde_json::to_vec(&changed).unwrap()).unwrap();
        assert!(SoftwareBackend::open_with_kek(&path, kek(1)).is_err());
        fs::write(&path, &original).unwrap();
        assert!(SoftwareBackend::open_with_kek(&path, kek(1)).is_ok());
    }

    #[test]
    fn disable_usage_and_health() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let b = SoftwareBackend::open_with_kek(&path, kek(3)).unwrap();
        b.create_key_with_usage("enc-only", &["ENCRYPT"]).unwrap();
        b.create_key("k").unwrap();
        let s = b.encrypt("enc-only", b"x", b"").unwrap();
        assert!(matches!(
            b.decrypt("enc-only", &s.ciphertext, &s.iv, &s.tag, b""),
            Err(BackendError::InvalidKeyUsage {
                operation: "decrypt",
                ..
            })
        ));
        b.set_enabled("k", false).unwrap();
        assert_eq!(b.key_info("k").unwrap().status, KeyStatus::Disabled);
        assert!(matches!(
            b.encrypt("k", b"x", b""),
            Err(BackendError::KeyDisabled(_))
        ));
        b.set_enabled("k", true).unwrap();
        assert!(b.encrypt("k", b"x", b"").is_ok());
        assert!(matches!(
            b.set_enabled("zz", true),
            Err(BackendError::KeyNotFound(_))
        ));
        let h = b.health();
        assert_eq!(h.health_status, "ACTIVE");
        assert_eq!(h.id, "keys.json");
        // The health key is not one of the listed keys.
        let ids: Vec<String> = b
            .list_keys()
            .unwrap()
            .into_iter()
            .map(|k| k.key_id)
            .collect();
        assert_eq!(ids, vec!["enc-only".to_string(), "k".to_string()]);
    }

    #[test]
    fn a_serving_backend_sees_admin_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let time = crate::clock::ManualClock::new();
        let serving = SoftwareBackend::open_at(&path, kek(4), time.clock()).unwrap();
        let admin = SoftwareBackend::open_with_kek(&path, kek(4)).unwrap();
        admin.create_key("new").unwrap();
        // Within RELOAD_CHECK the file is not looked at.
        time.advance(RELOAD_CHECK - Duration::from_millis(1));
        assert!(matches!(
            serving.key_info("new"),
            Err(BackendError::KeyNotFound(_))
        ));
        time.advance(Duration::from_millis(1));
        assert!(serving.key_info("new").is_ok());
        admin.set_enabled("new", false).unwrap();
        assert_eq!(serving.key_info("new").unwrap().status, KeyStatus::Enabled);
        time.advance(RELOAD_CHECK);
        assert_eq!(serving.key_info("new").unwrap().status, KeyStatus::Disabled);
        // A corrupted file leaves the last good keystore in use and health degraded.
        fs::write(&path, b"garbage").unwrap();
        time.advance(RELOAD_CHECK);
        assert!(serving.key_info("new").is_ok());
        assert_eq!(serving.health().health_status, "DEGRADED");
    }

    #[test]
    fn kek_formats() {
        let hex_text = "00".repeat(31) + "ff";
        assert_eq!(parse_kek(hex_text.as_bytes()).unwrap()[31], 0xff);
        assert_eq!(
            parse_kek(format!("{hex_text}\n").as_bytes()).unwrap()[31],
            0xff
        );
        let b64 = xks::b64::encode(&[7u8; 32]);
        assert_eq!(*parse_kek(b64.as_bytes()).unwrap(), [7u8; 32]);
        assert_eq!(*parse_kek(&[9u8; 32]).unwrap(), [9u8; 32]);
        assert!(parse_kek(b"short").is_none());
        assert!(parse_kek(&[1u8; 31]).is_none());
        let cfg = SoftwareConfig {
            path: "x".into(),
            kek_file: None,
            kek_env: None,
        };
        assert!(read_kek(&cfg).is_err());
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
    }
}
