//! Key backends: where the external keys live and where AES-GCM runs. Calls block (PKCS#11 is a
//! blocking C API); the server runs them on a few dedicated threads per backend ([`workers`]).

use zeroize::Zeroizing;

pub mod pkcs11;
pub mod software;
pub mod workers;

/// The status of an external key, as GetKeyMetadata reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Usable.
    Enabled,
    /// Present but not usable.
    Disabled,
}

/// What GetKeyMetadata reports about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The external key id (label).
    pub key_id: String,
    /// `AES_256` for every key a backend creates; anything else is reported as found.
    pub key_spec: String,
    /// Subset of `ENCRYPT`, `DECRYPT` (as the key's attributes allow).
    pub key_usage: Vec<String>,
    /// Enabled or disabled.
    pub status: KeyStatus,
}

/// Output of an AES-GCM encryption in the backend.
pub struct Sealed {
    /// Ciphertext without the tag.
    pub ciphertext: Vec<u8>,
    /// The 12-byte IV the backend chose.
    pub iv: Vec<u8>,
    /// The 16-byte tag (split from the ciphertext where the HSM appends it).
    pub tag: [u8; 16],
}

/// A backend failure, mapped by the server to the spec's error names.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No such key (KeyNotFoundException).
    #[error("key not found: {0}")]
    KeyNotFound(String),
    /// The key is disabled (InvalidStateException).
    #[error("key is disabled: {0}")]
    KeyDisabled(String),
    /// The key may not do this (InvalidKeyUsageException).
    #[error("key usage does not allow {operation}: {key_id}")]
    InvalidKeyUsage {
        /// The key.
        key_id: String,
        /// `encrypt` or `decrypt`.
        operation: &'static str,
    },
    /// Authentication of the ciphertext failed (InvalidCiphertextException).
    #[error("ciphertext did not authenticate")]
    InvalidCiphertext,
    /// Every session is busy and none freed in time (ThrottlingException).
    #[error("backend busy")]
    Busy,
    /// The key manager is unreachable or broken (DependencyTimeoutException / InternalException).
    #[error("key manager unavailable: {0}")]
    Unavailable(String),
    /// Anything else (InternalException).
    #[error("internal backend error: {0}")]
    Internal(String),
}

/// Health of the key manager behind a backend, for GetHealthStatus's `ekmFleetDetails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHealth {
    /// An id for the key manager (token label, keystore file name).
    pub id: String,
    /// Its model (`SoftHSM v2`, `Strongroom software keystore`).
    pub model: String,
    /// `ACTIVE`, `DEGRADED` or `UNAVAILABLE`.
    pub health_status: &'static str,
}

/// A session pool's figures, for the proxy's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionPoolFigures {
    /// Sessions the pool may hold.
    pub size: usize,
    /// Sessions held by requests now.
    pub held: usize,
    /// Open sessions nobody holds.
    pub idle: usize,
    /// Requests that found every session held and waited (ever).
    pub waits: u64,
    /// Their total wait.
    pub waited: std::time::Duration,
    /// Requests that got no session within the acquire timeout (ever).
    pub timed_out: u64,
    /// Sessions reopened and library re-initialisations (ever).
    pub recoveries: u64,
}

/// A place external keys live.
pub trait KeyBackend: Send + Sync + 'static {
    /// The key's spec, usage and status.
    fn key_info(&self, key_id: &str) -> Result<KeyInfo, BackendError>;
    /// AES-256-GCM encryption with a fresh 12-byte IV; `aad` is exactly what is given to GCM.
    fn encrypt(&self, key_id: &str, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, BackendError>;
    /// AES-256-GCM decryption; a failed tag check is [`BackendError::InvalidCiphertext`].
    fn decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        iv: &[u8],
        tag: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BackendError>;
    /// A deep health check: a real encrypt and decrypt with the backend's health-check key.
    fn health(&self) -> BackendHealth;
    /// Administration: creates an AES-256 key usable for encrypt and decrypt, returns its id.
    fn create_key(&self, label: &str) -> Result<String, BackendError>;
    /// Administration: every key with its metadata.
    fn list_keys(&self) -> Result<Vec<KeyInfo>, BackendError>;
    /// Administration: enables or disables a key.
    fn set_enabled(&self, key_id: &str, enabled: bool) -> Result<(), BackendError>;
    /// Whether calls may block (a blocking C API, network I/O). The server runs the calls of a
    /// blocking backend on its [`workers`] threads with a timeout, and calls the others inline.
    fn is_blocking(&self) -> bool {
        true
    }
    /// How many threads the server dedicates to the calls of a blocking backend.
    fn worker_threads(&self) -> usize {
        4
    }
    /// Measures the key manager before serving, where that decides how to call it; returns a
    /// line for the log. Called once by `serve`, before [`Self::worker_threads`].
    fn calibrate(&self) -> Option<String> {
        None
    }
    /// Whether the calls are CPU work in this process, one at a time, so that the proxy should
    /// leave them a core (one connection thread fewer, see `Config::worker_threads`).
    fn needs_a_core(&self) -> bool {
        false
    }
    /// The session pool's figures, for a backend that has one.
    fn session_pool(&self) -> Option<SessionPoolFigures> {
        None
    }
}
