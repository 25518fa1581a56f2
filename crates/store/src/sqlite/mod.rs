//! The embedded backend: SQLite in the data directory, WAL with `synchronous=FULL`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction: it takes the database's write lock before
//! it reads what it checks, so a compare-and-swap holds against every other connection, in this
//! process or another, and feed positions are drawn in commit order (see [`crate::Store`]).
//! SQLite calls block, so each runs on tokio's blocking pool.

mod migrate;
pub(crate) mod ops;
mod schema;
mod usage;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use kms_model::{
    AccountId, Alias, AliasName, CustomKeyStore, CustomKeyStoreId, Grant, GrantId, Key, KeyId,
    KeyRef, KeyVersion, Region, Revision,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::{
    ChangeBatch, KeyBundle, KeyUse, Page, PageRequest, Snapshot, Store, StoreError, Versioned,
};

/// How a [`SqliteStore`] behaves.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How many of the latest changes the feed keeps. A reader further behind is told to
    /// reload ([`StoreError::ResyncNeeded`]). Nodes follow the feed continuously, so this
    /// needs to cover only the writes made while one is slow or restarting; each kept change
    /// is a small row.
    pub changes_kept: u64,
    /// How long a write waits for another connection's write lock before it fails with
    /// [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            changes_kept: 10_000,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The store in one SQLite file. Writes go through one connection, reads through another, so
/// that a read never waits for a write's sync to disk. Cheap to clone (a handle).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    changes_kept: u64,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if needed, with the default options. A
    /// database written by the legacy store is migrated (its records are put in
    /// `default_region`, the Region it served).
    pub async fn open(
        path: impl AsRef<Path>,
        default_region: &Region,
    ) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, default_region, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with options.
    pub async fn open_with(
        path: impl AsRef<Path>,
        default_region: &Region,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let region = default_region.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open_blocking(path, &region, options))
            .await
            .map_err(|e| StoreError::Database(format!("opening the store failed: {e}")))?
    }

    fn open_blocking(
        path: PathBuf,
        default_region: &Region,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let mut writer = Connection::open(&path)?;
        if writer.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly(
                "SQLite opened it read-only".to_string(),
            ));
        }
        // First, so that the pragmas below wait for another process's open too.
        writer.busy_timeout(options.busy_timeout)?;
        // FULL makes every commit reach the disk before it returns: what we acknowledge
        // survives a kill -9 or a power cut; WAL keeps those commits cheap and lets reads run
        // beside a write.
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        schema::prepare(&mut writer, default_region)?;
        check_writable(&writer)?;

        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.pragma_update(None, "query_only", "ON")?;
        reader.busy_timeout(options.busy_timeout)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                changes_kept: options.changes_kept.max(1),
            }),
        })
    }

    /// Runs `f` in a read transaction (one consistent snapshot of the database) on the
    /// blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut conn = lock(&inner.reader);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            f(&tx)
        })
        .await
    }

    /// Runs `f` in a write transaction holding the database's write lock, prunes the feed,
    /// and commits (durably) if `f` succeeded.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ops::Writer<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut w = ops::Writer::new(&tx);
            let out = f(&mut w)?;
            w.prune(inner.changes_kept)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Database(format!("a store task failed: {e}")))?
}

/// A panic while a connection was held unwound its transaction (rusqlite rolls back on drop),
/// so the connection is usable again.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// SQLite opens a file it may not write read-only without a word (checked at open), and a file
/// system or directory can refuse writes to a file it opened read-write: every write would then
/// fail. A real write at start turns both into a refusal to start.
fn check_writable(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (name, value) VALUES ('write_check', '1')
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [],
    )
    .map(drop)
    .map_err(|e| StoreError::ReadOnly(e.to_string()))
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        self.read(ops::load).await
    }

    async fn get_key(&self, key: &KeyRef) -> Result<Option<KeyBundle>, StoreError> {
        let key = key.clone();
        self.read(move |tx| ops::get_key(tx, &key)).await
    }

    async fn create_key(&self, key: &Key, first: &KeyVersion) -> Result<Revision, StoreError> {
        let (key, first) = (key.clone(), first.clone());
        self.write(move |w| w.create_key(&key, &first)).await
    }

    async fn create_key_without_versions(&self, key: &Key) -> Result<Revision, StoreError> {
        let key = key.clone();
        self.write(move |w| w.create_key_without_versions(&key))
            .await
    }

    async fn update_key(&self, key: &Key, expected: Revision) -> Result<Revision, StoreError> {
        let key = key.clone();
        self.write(move |w| w.update_key(&key, expected)).await
    }

    async fn add_key_version(
        &self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        let (key, version) = (key.clone(), version.clone());
        self.write(move |w| w.add_key_version(&key, expected, &version))
            .await
    }

    async fn replace_key_version(
        &self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        let (key, version) = (key.clone(), version.clone());
        self.write(move |w| w.replace_key_version(&key, expected, &version))
            .await
    }

    async fn delete_key(&self, key: &KeyRef, expected: Revision) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |w| w.delete_key(&key, expected)).await
    }

    async fn list_keys(
        &self,
        account: &AccountId,
        region: &Region,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Key>>, StoreError> {
        let (account, region, page) = (account.clone(), region.clone(), page.clone());
        self.read(move |tx| ops::list_keys(tx, &account, &region, &page))
            .await
    }

    async fn create_alias(&self, alias: &Alias) -> Result<Revision, StoreError> {
        let alias = alias.clone();
        self.write(move |w| w.create_alias(&alias)).await
    }

    async fn update_alias(
        &self,
        alias: &Alias,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        let alias = alias.clone();
        self.write(move |w| w.update_alias(&alias, expected)).await
    }

    async fn delete_alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
        expected: Revision,
    ) -> Result<(), StoreError> {
        let (account, region, name) = (account.clone(), region.clone(), name.clone());
        self.write(move |w| w.delete_alias(&account, &region, &name, expected))
            .await
    }

    async fn get_alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
    ) -> Result<Option<Versioned<Alias>>, StoreError> {
        let (account, region, name) = (account.clone(), region.clone(), name.clone());
        self.read(move |tx| ops::get_alias(tx, &account, &region, &name))
            .await
    }

    async fn list_aliases(
        &self,
        account: &AccountId,
        region: &Region,
        key: Option<&KeyId>,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Alias>>, StoreError> {
        let (account, region, page) = (account.clone(), region.clone(), page.clone());
        let key = key.cloned();
        self.read(move |tx| ops::list_aliases(tx, &account, &region, key.as_ref(), &page))
            .await
    }

    async fn create_grant(&self, grant: &Grant) -> Result<Revision, StoreError> {
        let grant = grant.clone();
        self.write(move |w| w.create_grant(&grant)).await
    }

    async fn delete_grant(&self, key: &KeyRef, id: &GrantId) -> Result<(), StoreError> {
        let (key, id) = (key.clone(), id.clone());
        self.write(move |w| w.delete_grant(&key, &id)).await
    }

    async fn list_grants(
        &self,
        key: &KeyRef,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Grant>>, StoreError> {
        let (key, page) = (key.clone(), page.clone());
        self.read(move |tx| ops::list_grants(tx, &key, &page)).await
    }

    async fn create_custom_key_store(&self, s: &CustomKeyStore) -> Result<Revision, StoreError> {
        let s = s.clone();
        self.write(move |w| w.create_custom_key_store(&s)).await
    }

    async fn update_custom_key_store(
        &self,
        s: &CustomKeyStore,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        let s = s.clone();
        self.write(move |w| w.update_custom_key_store(&s, expected))
            .await
    }

    async fn delete_custom_key_store(
        &self,
        id: &CustomKeyStoreId,
        expected: Revision,
    ) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |w| w.delete_custom_key_store(&id, expected))
            .await
    }

    async fn get_custom_key_store(
        &self,
        id: &CustomKeyStoreId,
    ) -> Result<Option<Versioned<CustomKeyStore>>, StoreError> {
        let id = id.clone();
        self.read(move |tx| ops::get_custom_key_store(tx, &id))
            .await
    }

    async fn changes_since(&self, position: u64, limit: usize) -> Result<ChangeBatch, StoreError> {
        self.read(move |tx| ops::changes_since(tx, position, limit))
            .await
    }

    async fn record_key_uses(&self, uses: &[KeyUse]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let uses = uses.to_vec();
        let inner = Arc::clone(&self.inner);
        // Its own write transaction: no feed position is drawn, so none is pruned either.
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            usage::record(&tx, &uses)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn key_last_use(&self, key: &KeyRef) -> Result<Option<KeyUse>, StoreError> {
        let key = key.clone();
        self.read(move |tx| usage::last_use(tx, &key)).await
    }

    async fn usage_tracking_start_ms(&self) -> Result<i64, StoreError> {
        self.read(|tx| usage::tracking_start(tx)).await
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            // Every process on the file shares the machine's clock.
            let now = now_ms();
            let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            let conn = lock(&inner.writer);
            let changed = conn
                .prepare_cached(
                    "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                     expires_ms = excluded.expires_ms
                     WHERE leases.holder = excluded.holder OR leases.expires_ms < ?4",
                )?
                .execute(rusqlite::params![name, holder, until, now])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            lock(&inner.writer)
                .prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                .execute(rusqlite::params![name, holder])?;
            Ok(())
        })
        .await
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
