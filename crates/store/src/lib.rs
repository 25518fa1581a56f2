//! Persistence for Strongroom: the [`Store`] trait over `kms_model`'s records, its SQLite backend
//! ([`SqliteStore`]) and, behind the `conformance` feature, the suite every backend must pass.
//!
//! The store is the source of truth, shared by every node of a cluster. A node keeps the records
//! in memory for the hot path (cryptographic requests never read the database): it starts from
//! [`Store::load`], writes through the store, and follows [`Store::changes_since`] to pick up what
//! other nodes wrote. Writes are compare-and-swap on a per-record [`Revision`], so two nodes (or
//! two processes on one database) never lose each other's updates.
//!
//! [`legacy`] is the first store (string-typed records, loaded whole), kept for the `kms` crate
//! until it moves over; [`SqliteStore::open`] migrates a database it wrote.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "conformance")]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure panics
pub mod conformance;
pub mod legacy;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;
#[cfg(all(feature = "conformance", feature = "postgres"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure panics
pub mod test_postgres;
mod usage;

use kms_model::{
    AccountId, Alias, AliasName, CustomKeyStore, CustomKeyStoreId, Grant, GrantId, Key, KeyId,
    KeyRef, KeyVersion, Region, Revision,
};

#[cfg(feature = "postgres")]
pub use postgres::{redact_url, PgOptions, PgStore, PgTls};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use usage::{KeyUse, UsageOperation};

/// The most items one page of a list holds, and the most changes one call of
/// [`Store::changes_since`] returns: larger limits are lowered to it.
pub const MAX_PAGE: usize = 1000;

/// A record with the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The record.
    pub record: T,
    /// Its revision: name it in a write to make the write conditional on nothing having
    /// changed the record since.
    pub revision: Revision,
}

/// A key with everything that hangs off it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBundle {
    /// The key record (its revision also moves when a version is added).
    pub key: Versioned<Key>,
    /// Its versions of key material, oldest first.
    pub versions: Vec<KeyVersion>,
    /// The aliases naming the key (same account and Region), by name.
    pub aliases: Vec<Versioned<Alias>>,
    /// Its grants, by grant id.
    pub grants: Vec<Versioned<Grant>>,
}

/// Everything, for a node's in-memory copy at start, with the change-feed position it reflects:
/// following the feed from `position` misses nothing committed after the snapshot.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every key with its versions, aliases and grants (each alias is in its key's bundle), by
    /// Region and key id.
    pub keys: Vec<KeyBundle>,
    /// Every custom key store, by id.
    pub custom_key_stores: Vec<Versioned<CustomKeyStore>>,
    /// The feed position the snapshot reflects.
    pub position: u64,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// The last item's sort key, to pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Which page: the items strictly after `after` in the list's order, at most `limit` of them
/// (a limit of 0 is taken as 1, one above [`MAX_PAGE`] as [`MAX_PAGE`]).
///
/// Lists are ordered by their sort key's bytes (the key id, alias name or grant id); a
/// backend whose text order depends on a collation must compare bytes (PostgreSQL:
/// `COLLATE "C"`).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// The sort key of the previous page's last item; `None` for the first page.
    pub after: Option<String>,
    /// The most items to return.
    pub limit: usize,
}

impl PageRequest {
    /// The first page of at most `limit` items.
    pub fn first(limit: usize) -> PageRequest {
        PageRequest { after: None, limit }
    }

    /// The limit a backend applies: within 1 ..= [`MAX_PAGE`].
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE)
    }
}

/// A record the change feed reports as created, updated or deleted. A reader re-reads it to
/// learn which (a record that is gone was deleted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    /// The key record or its versions; for a deleted key, everything that hung off it (its
    /// aliases and grants are reported too).
    Key(KeyRef),
    /// An alias.
    Alias {
        /// Its account.
        account: AccountId,
        /// Its Region.
        region: Region,
        /// Its name.
        name: AliasName,
    },
    /// A grant.
    Grant {
        /// Its key.
        key: KeyRef,
        /// Its id.
        id: GrantId,
    },
    /// A custom key store.
    CustomKeyStore(CustomKeyStoreId),
}

/// One change of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its position: unique, and larger than every position committed before it.
    pub position: u64,
    /// What changed.
    pub entity: Entity,
}

/// Changes after a position, in commit order, and the position to ask from next.
#[derive(Debug, Clone, Default)]
pub struct ChangeBatch {
    /// The changes, by position.
    pub changes: Vec<Change>,
    /// The last change's position, or the position asked from when there were none.
    pub next_position: u64,
}

/// A storage failure. Its text names the record, never key material.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Compare-and-swap failed: the record changed since it was read. Retryable by re-reading.
    #[error("the record changed since it was read")]
    Conflict,
    /// A create found the record (or, for a custom key store, its name) there already: a
    /// different error from `Conflict` so that the service can answer that it exists.
    #[error("the record exists already")]
    AlreadyExists,
    /// An update or delete found no record, or a create found no key for the record to hang
    /// off (an alias's target in its account and Region, a grant's key).
    #[error("no such record")]
    NotFound,
    /// The write is inconsistent in itself (a key version that names another key): a bug in
    /// the caller, refused before anything is written.
    #[error("invalid write: {0}")]
    Invalid(String),
    /// The change feed cannot go on from this position: the changes after it were pruned (the
    /// reader fell further behind than the store keeps changes), or the position is past the
    /// store's last one (it came from another database). Reload with [`Store::load`] and follow
    /// the feed from the snapshot's position.
    #[error("the change feed cannot continue from position {0}; reload everything")]
    ResyncNeeded(u64),
    /// The database cannot be written (file or directory permissions, a read-only file system).
    #[error("the database cannot be written ({0}); check the permissions of the database file, its -wal and -shm files and its directory, and that the file system is writable")]
    ReadOnly(String),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(String),
    /// A stored record could not be decoded.
    #[error("corrupt record {0}: {1}")]
    Corrupt(String, String),
    /// The database is unreachable or stayed locked too long; retryable.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// Persistence shared by the nodes of a cluster.
///
/// **Durability.** Every write is one transaction, durable before it returns: an acknowledged
/// write survives `kill -9` and power loss.
///
/// **Revisions.** Every write gives each record it creates or changes a new revision, larger
/// than every revision and feed position before it in the database. Writes that name an
/// `expected` revision are compare-and-swap: they fail with [`StoreError::Conflict`] when the
/// record's revision is another one, whoever wrote in between (another task, node or process
/// on the same database); the check and the write are one transaction. An update or delete of
/// a record that is not there fails with [`StoreError::NotFound`] (also when it was deleted
/// after it was read).
///
/// **Change feed.** Every created, changed or deleted record is one [`Change`] with a position.
/// Positions are unique and grow in *commit order*: once a reader has seen position `N`, no
/// change at `N` or below can commit later. A backend must guarantee this, not assume it.
/// SQLite has one writer at a time, and a write draws its positions inside its write lock, so
/// draw order is commit order. A backend with concurrent writers (PostgreSQL) must not draw
/// positions from a sequence, whose numbers are handed out when drawn and may commit in any
/// order; drawing them from a one-row counter that each write transaction updates (the row
/// lock, held to commit, orders the writers) keeps the guarantee. A backend keeps a bounded
/// tail of the feed and answers [`StoreError::ResyncNeeded`] to a reader it cannot serve.
///
/// **Order.** Lists and the bundle's parts are ordered by the bytes of their sort keys.
///
/// **Key usage.** Each key's last cryptographic use is a record of its own, outside the feed:
/// recording one moves no revision and no feed position. Uses are recorded in batches, and a
/// key's record only moves forward in time, whoever writes it. Deleting a key deletes it.
///
/// Implementations never block the calling async thread.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Everything, with the feed position it reflects.
    async fn load(&self) -> Result<Snapshot, StoreError>;

    /// One key with its versions, aliases and grants; `None` if there is no such key.
    async fn get_key(&self, key: &KeyRef) -> Result<Option<KeyBundle>, StoreError>;
    /// A new key with its first version. `AlreadyExists` if the (Region, id) exists.
    async fn create_key(&self, key: &Key, first: &KeyVersion) -> Result<Revision, StoreError>;
    /// A new key with no versions yet: a key whose material is to be imported (Origin
    /// EXTERNAL). `AlreadyExists` if the (Region, id) exists.
    async fn create_key_without_versions(&self, key: &Key) -> Result<Revision, StoreError>;
    /// Replaces the key record.
    async fn update_key(&self, key: &Key, expected: Revision) -> Result<Revision, StoreError>;
    /// Adds a version and writes the key (new current version, rotation state) at once
    /// (rotation). `AlreadyExists` if the key has a version with that id.
    async fn add_key_version(
        &self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError>;
    /// Replaces a version the key has (imported material put in, deleted or expired) and
    /// writes the key at once; the version keeps its place in the key's order. `NotFound` if
    /// the key has no version with that id.
    async fn replace_key_version(
        &self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError>;
    /// Deletes the key with its versions, its grants and the aliases naming it.
    async fn delete_key(&self, key: &KeyRef, expected: Revision) -> Result<(), StoreError>;
    /// Keys of an account in a Region, by key id.
    async fn list_keys(
        &self,
        account: &AccountId,
        region: &Region,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Key>>, StoreError>;

    /// A new alias. `AlreadyExists` if the name is taken in its account and Region;
    /// `NotFound` if its target is not a key of that account and Region.
    async fn create_alias(&self, alias: &Alias) -> Result<Revision, StoreError>;
    /// Replaces an alias (a new target: the same checks as for a new one).
    async fn update_alias(&self, alias: &Alias, expected: Revision)
        -> Result<Revision, StoreError>;
    /// Deletes an alias.
    async fn delete_alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
        expected: Revision,
    ) -> Result<(), StoreError>;
    /// One alias; `None` if there is none of that name (a feed reader resolves an
    /// [`Entity::Alias`] with it).
    async fn get_alias(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
    ) -> Result<Option<Versioned<Alias>>, StoreError>;
    /// Aliases of an account in a Region (only those naming `key`, if given), by name.
    async fn list_aliases(
        &self,
        account: &AccountId,
        region: &Region,
        key: Option<&KeyId>,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Alias>>, StoreError>;

    /// A new grant. `AlreadyExists` if the key has a grant with its id; `NotFound` if there
    /// is no such key. Grants do not change, so they are deleted without a revision.
    async fn create_grant(&self, grant: &Grant) -> Result<Revision, StoreError>;
    /// Deletes a grant (retired or revoked).
    async fn delete_grant(&self, key: &KeyRef, id: &GrantId) -> Result<(), StoreError>;
    /// Grants of a key, by grant id.
    async fn list_grants(
        &self,
        key: &KeyRef,
        page: &PageRequest,
    ) -> Result<Page<Versioned<Grant>>, StoreError>;

    /// A new custom key store. `AlreadyExists` if its id, or its name in its account and
    /// Region, is taken.
    async fn create_custom_key_store(&self, s: &CustomKeyStore) -> Result<Revision, StoreError>;
    /// Replaces a custom key store (`AlreadyExists` if it takes another store's name).
    async fn update_custom_key_store(
        &self,
        s: &CustomKeyStore,
        expected: Revision,
    ) -> Result<Revision, StoreError>;
    /// Deletes a custom key store.
    async fn delete_custom_key_store(
        &self,
        id: &CustomKeyStoreId,
        expected: Revision,
    ) -> Result<(), StoreError>;
    /// One custom key store; `None` if there is none with that id.
    async fn get_custom_key_store(
        &self,
        id: &CustomKeyStoreId,
    ) -> Result<Option<Versioned<CustomKeyStore>>, StoreError>;

    /// What changed after `position`, in commit order: at most `limit` changes (clamped like
    /// a page's limit). [`StoreError::ResyncNeeded`] if the store cannot tell.
    async fn changes_since(&self, position: u64, limit: usize) -> Result<ChangeBatch, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `ttl` from now, by the database's
    /// clock: true if `holder` holds it now (it was free, had expired, or was `holder`'s
    /// already), false if another holder's lease runs. Nodes run cluster-wide jobs only while
    /// they hold the job's lease; a lease that is not renewed passes to another node once it
    /// expires.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives up `holder`'s lease `name` (nothing if another holder has it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Records keys' last uses, in one transaction: each replaces its key's record only if it
    /// is newer (a larger `at_ms`), so that nodes racing cannot move a record back in time.
    /// A use of a key that is not there (deleted since) is dropped.
    async fn record_key_uses(&self, uses: &[KeyUse]) -> Result<(), StoreError>;

    /// A key's last recorded use; `None` if none was recorded.
    async fn key_last_use(&self, key: &KeyRef) -> Result<Option<KeyUse>, StoreError>;

    /// Since when the database records key use (milliseconds since the epoch): when its usage
    /// table was made. The same for every handle, for ever.
    async fn usage_tracking_start_ms(&self) -> Result<i64, StoreError>;

    /// A signal that another handle may have written (PostgreSQL's NOTIFY), to wake a feed
    /// follower before its next poll; `None` if the backend has none. Only ever an early
    /// wake-up: a follower still polls, since notifications can be lost (a reconnect, a
    /// connection pooler, a database without them).
    fn change_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}
