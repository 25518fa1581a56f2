//! `[audit]`: where and how an audit trail is written, as the KMS's and the XKS proxy's
//! configurations say it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[audit]`: where and how the audit trail is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The directory of the audit files (relative to the configuration file).
    pub dir: PathBuf,
    /// `sync`: a response is sent only once its record is on disk (many requests share one
    /// flush). `buffered`: records are flushed within `buffer_max_delay_ms`, or once
    /// `buffer_max_records` wait; a crash loses at most those.
    pub durability: DurabilityMode,
    pub buffer_max_records: usize,
    pub buffer_max_delay_ms: u64,
    /// Start a new file past this size.
    pub rotate_megabytes: u64,
    /// Start a new file after this long.
    pub rotate_seconds: u64,
    /// Sign the chain at most this long after a record (0: with every write).
    pub digest_interval_ms: u64,
    /// The Ed25519 signing key (PEM, 0600), created on first use; default
    /// `DATA_DIR/audit-signing-key.pem`. Its public key is written into `dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PathBuf>,
}

/// `durability` of `[audit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    Sync,
    Buffered,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: PathBuf::from("audit"),
            durability: DurabilityMode::Buffered,
            buffer_max_records: 1000,
            buffer_max_delay_ms: 100,
            rotate_megabytes: 64,
            rotate_seconds: 24 * 3600,
            digest_interval_ms: 1000,
            signing_key: None,
        }
    }
}

impl AuditConfig {
    /// Takes relative paths from `base` (the configuration file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        self.dir = base.join(&self.dir);
        if let Some(k) = &self.signing_key {
            self.signing_key = Some(base.join(k));
        }
    }

    /// Opens the log (creating the signing key on first use).
    pub fn open(&self, data_dir: &Path) -> Result<Arc<crate::AuditLog>, String> {
        let key_path = self
            .signing_key
            .clone()
            .unwrap_or_else(|| data_dir.join("audit-signing-key.pem"));
        let key = crate::SigningKey::load_or_create(&key_path)?;
        let durability = match self.durability {
            DurabilityMode::Sync => crate::Durability::Sync,
            DurabilityMode::Buffered => crate::Durability::Buffered {
                max_records: self.buffer_max_records.max(1),
                max_delay: Duration::from_millis(self.buffer_max_delay_ms),
            },
        };
        let config = crate::WriterConfig {
            durability,
            rotate_bytes: self.rotate_megabytes.max(1) << 20,
            rotate_age: Duration::from_secs(self.rotate_seconds.max(1)),
            digest_interval: Duration::from_millis(self.digest_interval_ms),
            ..crate::WriterConfig::new(self.dir.clone())
        };
        crate::AuditLog::open(config, key).map(Arc::new)
    }
}
