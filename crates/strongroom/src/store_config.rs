//! `[store]`: where the records live. Without a `url`, SQLite in the data directory (one node);
//! with `url = "postgresql://…"`, a PostgreSQL database that several nodes share.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The `[store]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgresql://user@host:port/database`; none: SQLite in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A file holding the database password (mode 0600, like the root key file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the database password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The schema of Strongroom's tables (created if missing); none: the user's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// TLS to the database, verifying its certificate.
    pub tls: bool,
    /// Extra CA certificates (PEM) trusted for the database's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Trust the system's CA roots for the database's certificate.
    pub tls_system_roots: bool,
    /// Most database connections of this node.
    pub pool_size: usize,
    /// Deadline of one database operation, in milliseconds.
    pub timeout_ms: u64,
    /// How often the node reads the change feed (other nodes' changes), in milliseconds;
    /// PostgreSQL's notifications wake it sooner.
    pub follow_interval_ms: u64,
    /// With PostgreSQL: refuse requests once the node could not confirm its keys current for
    /// this long (the database unreachable), in milliseconds.
    pub max_staleness_ms: u64,
    /// With PostgreSQL: how long the cluster jobs' lease lasts unrenewed (how soon the jobs
    /// move to another node when theirs dies), in milliseconds.
    pub lease_ms: u64,
    /// With PostgreSQL: LISTEN for the other nodes' notifications to read the feed at once
    /// (off behind a pooler or on a database without NOTIFY: the node then only polls).
    pub notifications: bool,
    /// With PostgreSQL: read the change feed before every request (a database round trip
    /// each), so that every node answers as one would, at once, after a change through any
    /// other. Off: requests read only memory and changes arrive within `follow_interval_ms`.
    pub strict_consistency: bool,
    /// How often the node writes the key uses it noted (GetKeyLastUsage) to the store, in
    /// milliseconds: other nodes see a use within about this long, and a crash loses at most
    /// this long's uses.
    pub usage_flush_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            password_file: None,
            password_env: None,
            schema: None,
            tls: false,
            tls_ca_file: None,
            tls_system_roots: true,
            pool_size: 16,
            timeout_ms: 5000,
            follow_interval_ms: 500,
            max_staleness_ms: 5000,
            lease_ms: 15_000,
            notifications: true,
            strict_consistency: false,
            usage_flush_ms: 1000,
        }
    }
}

impl StoreConfig {
    pub fn is_default(&self) -> bool {
        *self == StoreConfig::default()
    }

    /// Relative paths are taken from the configuration file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.password_file, &mut self.tls_ca_file]
            .into_iter()
            .flatten()
        {
            *p = base.join(&*p);
        }
    }

    /// Whether the records are in a database that several nodes may share.
    pub fn is_shared(&self) -> bool {
        self.url.is_some()
    }

    /// The service's cluster settings for this store.
    pub fn cluster(&self) -> kms::ClusterSettings {
        kms::ClusterSettings {
            max_staleness: self
                .is_shared()
                .then(|| Duration::from_millis(self.max_staleness_ms.max(1))),
            lease_ttl: Duration::from_millis(self.lease_ms.max(300)),
            strict_consistency: self.is_shared() && self.strict_consistency,
        }
    }

    /// How often the node writes the key uses it noted to the store.
    pub fn usage_flush_interval(&self) -> Duration {
        Duration::from_millis(self.usage_flush_ms.max(10))
    }

    fn password(&self, allow_shared: bool) -> Result<Option<Zeroizing<String>>, String> {
        match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => {
                Err("[store] takes password_file or password_env, not both".to_string())
            }
            (Some(path), None) => {
                secret_files::check_secret_file(path, "database password file", allow_shared)?;
                let text = Zeroizing::new(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                );
                Ok(Some(Zeroizing::new(
                    text.trim_end_matches(['\n', '\r']).to_string(),
                )))
            }
            (None, Some(var)) => std::env::var(var)
                .map(|v| Some(Zeroizing::new(v)))
                .map_err(|_| format!("the database password variable {var} is not set")),
            (None, None) => Ok(None),
        }
    }

    /// Opens the PostgreSQL store (`url` must be set).
    pub async fn open_postgres(
        &self,
        allow_shared_secret_files: bool,
    ) -> Result<Arc<dyn store::Store>, String> {
        let url = self.url.clone().ok_or("[store] has no url")?;
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err("[store] url must start with postgresql://".to_string());
        }
        let mut options = store::PgOptions::new(url);
        options.password = self.password(allow_shared_secret_files)?;
        options.schema = self.schema.clone();
        options.listen = self.notifications;
        options.pool_size = self.pool_size.max(1);
        options.operation_timeout = Duration::from_millis(self.timeout_ms.max(100));
        options.connect_timeout = options.operation_timeout;
        if self.tls {
            options.tls = store::PgTls::On {
                ca_file: self.tls_ca_file.clone(),
                system_roots: self.tls_system_roots,
            };
        }
        let shown = store::redact_url(&options.url);
        let opened = store::PgStore::open(options)
            .await
            .map_err(|e| format!("cannot open the database {shown}: {e}"))?;
        Ok(Arc::new(opened))
    }
}
