//! The clustered backend: PostgreSQL, shared by every node. Connections are pooled
//! (deadpool); TLS to the database is optional (rustls). Every write is one transaction that
//! first locks the one-row clock, so compare-and-swap holds across nodes and feed positions
//! become visible in commit order (see [`crate::Store`]). Writes also `NOTIFY`, through a
//! trigger, and a listening connection turns that into [`Store::change_signal`]: only an early
//! wake-up for followers, which poll the feed all the same.

mod ops;
mod schema;
mod usage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use kms_model::{
    AccountId, Alias, AliasName, CustomKeyStore, CustomKeyStoreId, Grant, GrantId, Key, KeyId,
    KeyRef, KeyVersion, Region, Revision,
};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls, Socket};

use crate::{
    ChangeBatch, KeyBundle, KeyUse, Page, PageRequest, Snapshot, Store, StoreError, Versioned,
};

/// The channel writes notify on.
const CHANNEL: &str = "strongroom_changes";

/// TLS to the database.
#[derive(Debug, Clone, Default)]
pub enum PgTls {
    /// Plain TCP (or a Unix socket): for a database on the same host or a trusted network.
    #[default]
    Off,
    /// TLS, verifying the server's certificate and name against `ca_file` (PEM) and, if
    /// `system_roots`, the system's CA roots.
    On {
        /// Extra trusted CA certificates (PEM).
        ca_file: Option<PathBuf>,
        /// Trust the system's roots too.
        system_roots: bool,
    },
}

/// How to reach the database and how the store behaves.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgresql://user@host:port/database[?options]` (libpq's URL form; key=value also works).
    pub url: String,
    /// The password, when the URL has none (read from a file or the environment by the caller).
    pub password: Option<zeroize::Zeroizing<String>>,
    /// TLS to the database.
    pub tls: PgTls,
    /// The schema holding Strongroom's tables (created if missing); `None`: the user's default
    /// (`search_path`).
    pub schema: Option<String>,
    /// Most connections this node opens (one more listens for notifications).
    pub pool_size: usize,
    /// How many of the latest changes the feed keeps (see `SqliteOptions::changes_kept`).
    pub changes_kept: u64,
    /// Deadline of a connection attempt, and of waiting for a free pooled connection.
    pub connect_timeout: Duration,
    /// Deadline of one operation (its statements and commit); past it the operation fails
    /// with [`StoreError::Unavailable`]. Also the server's `statement_timeout` and
    /// `lock_timeout`.
    pub operation_timeout: Duration,
    /// Listen for change notifications ([`Store::change_signal`]).
    pub listen: bool,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl PgOptions {
    /// Defaults for `url`: no TLS, the default schema, 16 connections, 10,000 changes kept,
    /// 5-second deadlines, notifications on.
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            password: None,
            tls: PgTls::Off,
            schema: None,
            pool_size: 16,
            changes_kept: 10_000,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(5),
            listen: true,
        }
    }
}

/// `url` without the password it may carry (for logs and errors).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// The store in a PostgreSQL database. Cheap to clone (a handle).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    changes_kept: u64,
    operation_timeout: Duration,
    signal: Option<Arc<tokio::sync::Notify>>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.abort();
        }
    }
}

/// A TLS connector for both the pool and the listening connection.
#[derive(Clone)]
enum Connector {
    Plain,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

fn rustls_connector(
    ca_file: Option<&PathBuf>,
    system_roots: bool,
) -> Result<Connector, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| StoreError::Database(format!("cannot read {}: {e}", path.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| {
                StoreError::Database(format!("{}: not a PEM certificate: {e}", path.display()))
            })?;
            roots.add(cert).map_err(|e| {
                StoreError::Database(format!("{}: unusable certificate: {e}", path.display()))
            })?;
        }
    }
    if system_roots {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A system root rustls cannot use is skipped, as browsers do.
            let _ = roots.add(cert);
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Database(
            "TLS to the database needs a CA file or the system's roots".to_string(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Database(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connector::Rustls(
        tokio_postgres_rustls::MakeRustlsConnect::new(config),
    ))
}

impl PgStore {
    /// Connects, applies the schema's migrations and starts listening for notifications.
    /// Fails if the database cannot be reached within the connect timeout.
    pub async fn open(options: PgOptions) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = options.url.parse().map_err(|e| {
            StoreError::Database(format!(
                "the store URL {} is not valid: {e}",
                redact_url(&options.url)
            ))
        })?;
        if let Some(p) = &options.password {
            config.password(p.as_bytes());
        }
        config.connect_timeout(options.connect_timeout);
        config.application_name("strongroom");
        // The server gives up on a statement or a lock wait with the client (a stuck node must
        // not hold the clock's lock), and keeps idle connections alive through NAT and
        // firewalls.
        let ms = options.operation_timeout.as_millis();
        let mut server_options = config.get_options().unwrap_or_default().to_string();
        server_options.push_str(&format!(
            " -c client_min_messages=warning -c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={}",
            ms.saturating_mul(2)
        ));
        if let Some(schema) = &options.schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::Database(format!(
                    "the schema name {schema:?} may hold only letters, digits and _"
                )));
            }
            server_options.push_str(&format!(" -c search_path={schema}"));
        }
        config.options(server_options.trim());
        config.keepalives(true);
        let connector = match &options.tls {
            PgTls::Off => Connector::Plain,
            PgTls::On {
                ca_file,
                system_roots,
            } => rustls_connector(ca_file.as_ref(), *system_roots)?,
        };
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &connector {
            Connector::Plain => Manager::from_config(config.clone(), NoTls, manager_config),
            Connector::Rustls(t) => Manager::from_config(config.clone(), t.clone(), manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Database(format!("cannot set up the connection pool: {e}")))?;

        if let Some(schema) = &options.schema {
            let c = pool_client(&pool).await?;
            // Checked above to be a bare identifier.
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await?;
        }
        {
            let mut c = pool_client(&pool).await?;
            schema::migrate(&mut c).await?;
        }
        let (signal, listener) = if options.listen {
            let signal = Arc::new(tokio::sync::Notify::new());
            let task = tokio::spawn(listen_forever(config, connector, Arc::clone(&signal)));
            (Some(signal), Some(task))
        } else {
            (None, None)
        };
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                changes_kept: options.changes_kept.max(1),
                operation_timeout: options.operation_timeout,
                signal,
                listener,
            }),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        pool_client(&self.inner.pool).await
    }

    /// Runs one operation within the operation deadline.
    async fn timed<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.operation_timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {:?}",
                self.inner.operation_timeout
            ))),
        }
    }
}

async fn pool_client(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    })
}

/// Keeps a connection listening on [`CHANNEL`], reconnecting after a pause when it is lost;
/// wakes the follower on every notification and after every loss (it may have missed some).
async fn listen_forever(
    config: tokio_postgres::Config,
    connector: Connector,
    signal: Arc<tokio::sync::Notify>,
) {
    loop {
        let outcome = match &connector {
            Connector::Plain => listen_once(&config, NoTls, &signal).await,
            Connector::Rustls(t) => listen_once(&config, t.clone(), &signal).await,
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "change notifications lost; reconnecting");
        }
        signal.notify_one();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen_once<T>(
    config: &tokio_postgres::Config,
    tls: T,
    signal: &tokio::sync::Notify,
) -> Result<(), StoreError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = config.connect(tls).await?;
    let sql = format!("LISTEN {CHANNEL}");
    let listen = client.batch_execute(&sql);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            r = &mut listen, if !listening => {
                r?;
                listening = true;
                // Changes committed before LISTEN took effect were not notified.
                signal.notify_one();
            }
            m = std::future::poll_fn(|cx| connection.poll_message(cx)) => match m {
                Some(Ok(AsyncMessage::Notification(_))) => signal.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            }
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        let Some(db) = e.as_db_error() else {
            // I/O, a closed connection, a timeout: the database is (for now) out of reach.
            return StoreError::Unavailable(e.to_string());
        };
        let code = db.code().code();
        let text = format!("{} ({code})", db.message());
        match code {
            // A read-only transaction or server (a standby, or default_transaction_read_only).
            "25006" => StoreError::ReadOnly(text),
            // Connection trouble, insufficient resources, operator intervention (shutdown,
            // statement timeout), lock timeout, serialization failure, deadlock: retryable.
            c if c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57")
                || c == "55P03"
                || c == "40001"
                || c == "40P01" =>
            {
                StoreError::Unavailable(text)
            }
            _ => StoreError::Database(text),
        }
    }
}

/// Runs `$body` (using the writer `$w`) in a write transaction and commits it.
macro_rules! write_tx {
    ($self:ident, |$w:ident| $body:expr) => {
        $self
            .timed(async {
                let mut client = $self.client().await?;
                let tx = client.transaction().await?;
                let mut $w = ops::Writer::begin(&tx).await?;
                let out = $body.await?;
                $w.finish($self.inner.changes_kept).await?;
                tx.commit().await?;
                Ok(out)
            })
            .await
    };
}

#[async_trait]
impl Store for PgStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let snapshot = ops::load(&tx).await?;
            tx.commit().await?;
            Ok(snapshot)
        })
        .await
    }

    async fn get_key(&self, key: &KeyRef) -> Result<Option<KeyBundle>, StoreError> {
        self.timed(async { ops::get_key(&*self.client().await?, key).await })
            .await
    }

    async fn create_key(&self, key: &Key, first: &KeyVersion) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.create_key(key, first))
    }

    async fn create_key_without_versions(&self, key: &Key) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.create_key_without_versions(key))
    }

    async fn update_key(&self, key: &Key, expected: Revision) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.update_key(key, expected))
    }

    async fn replace_key_version(
        &self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.replace_key_version(key, expected, version))
    }

    async fn add_key_version(
        &self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.add_key_version(key, expected, version))
    }

    async fn delete_key(&self, key: &KeyRef, expected: Revision) -> Result<(), StoreError> {
        write_tx!(self, |w| w.delete_key(key, expected))
    }

    async fn list_keys(
        &self,
        account: &AccountId,
        region: &Region,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Key>>, StoreError> {
        self.timed(async { ops::list_keys(&*self.client().await?, account, region, page).await })
            .await
    }

    async fn create_alias(&self, alias: &Alias) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.create_alias(alias))
    }

    async fn update_alias(
        &self,
        alias: &Alias,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.update_alias(alias, expected))
    }

    async fn delete_alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
        expected: Revision,
    ) -> Result<(), StoreError> {
        write_tx!(self, |w| w.delete_alias(account, region, name, expected))
    }

    async fn get_alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
    ) -> Result<Option<Versioned<Alias>>, StoreError> {
        self.timed(async { ops::get_alias(&*self.client().await?, account, region, name).await })
            .await
    }

    async fn list_aliases(
        &self,
        account: &AccountId,
        region: &Region,
        key: Option<&KeyId>,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Alias>>, StoreError> {
        self.timed(async {
            ops::list_aliases(&*self.client().await?, account, region, key, page).await
        })
        .await
    }

    async fn create_grant(&self, grant: &Grant) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.create_grant(grant))
    }

    async fn delete_grant(&self, key: &KeyRef, id: &GrantId) -> Result<(), StoreError> {
        write_tx!(self, |w| w.delete_grant(key, id))
    }

    async fn list_grants(
        &self,
        key: &KeyRef,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Grant>>, StoreError> {
        self.timed(async { ops::list_grants(&*self.client().await?, key, page).await })
            .await
    }

    async fn create_custom_key_store(&self, s: &CustomKeyStore) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.create_custom_key_store(s))
    }

    async fn update_custom_key_store(
        &self,
        s: &CustomKeyStore,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        write_tx!(self, |w| w.update_custom_key_store(s, expected))
    }

    async fn delete_custom_key_store(
        &self,
        id: &CustomKeyStoreId,
        expected: Revision,
    ) -> Result<(), StoreError> {
        write_tx!(self, |w| w.delete_custom_key_store(id, expected))
    }

    async fn get_custom_key_store(
        &self,
        id: &CustomKeyStoreId,
    ) -> Result<Option<Versioned<CustomKeyStore>>, StoreError> {
        self.timed(async { ops::get_custom_key_store(&*self.client().await?, id).await })
            .await
    }

    async fn changes_since(&self, position: u64, limit: usize) -> Result<ChangeBatch, StoreError> {
        self.timed(async { ops::changes_since(&*self.client().await?, position, limit).await })
            .await
    }

    async fn record_key_uses(&self, uses: &[KeyUse]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        // One statement, its own transaction: the clock is not locked, so a batch of uses
        // neither waits for nor holds up the records' writers, and moves no feed position.
        self.timed(async { usage::record(&*self.client().await?, uses).await })
            .await
    }

    async fn key_last_use(&self, key: &KeyRef) -> Result<Option<KeyUse>, StoreError> {
        self.timed(async { usage::last_use(&*self.client().await?, key).await })
            .await
    }

    async fn usage_tracking_start_ms(&self) -> Result<i64, StoreError> {
        self.timed(async { usage::tracking_start(&*self.client().await?).await })
            .await
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        // The database's clock decides, so the nodes' clocks need not agree.
        self.timed(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "INSERT INTO leases (name, holder, expires_at)
                     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                     expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at < clock_timestamp()",
                )
                .await?;
            let taken = c
                .execute(&stmt, &[&name, &holder, &ttl.as_secs_f64()])
                .await?;
            Ok(taken == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.timed(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .await?;
            c.execute(&stmt, &[&name, &holder]).await?;
            Ok(())
        })
        .await
    }

    fn change_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.signal.clone()
    }
}
