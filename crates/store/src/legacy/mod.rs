//! The first store: string-typed records, loaded whole, and the [`Store`] trait with its SQLite
//! backend. Kept unchanged for the `kms` crate until it moves to the typed store at the crate root.
//!
//! The store is the source of truth; the service keeps an in-memory copy for the hot path and writes
//! here first. Every write is one transaction that is durable (WAL, `synchronous=FULL`) before it
//! returns, so an acknowledged request survives `kill -9`.
mod records;
mod sqlite;

pub use records::{
    AliasRecord, BackingKeyRecord, CustomKeyStoreRecord, GrantRecord, KeyRecord, KeyState, Snapshot,
};
pub use sqlite::SqliteStore;

/// A storage failure. Its text names the operation, never key material.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record {0}: {1}")]
    Corrupt(String, String),
    /// The database cannot be written (file or directory permissions, a read-only file system).
    #[error("the database cannot be written ({0}); check the permissions of the database file, its -wal and -shm files and its directory, and that the file system is writable")]
    ReadOnly(String),
    /// A lock was poisoned by a panic elsewhere.
    #[error("store lock poisoned")]
    Poisoned,
}

/// What the service needs from persistence. Calls block; the service runs them off the async threads.
pub trait Store: Send + Sync + 'static {
    /// Everything, for the in-memory cache at start-up.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Creates a key with its first backing key, atomically.
    fn create_key(&self, key: &KeyRecord, backing: &BackingKeyRecord) -> Result<(), StoreError>;
    /// Replaces a key's record (state, description, tags, policy ...).
    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Deletes a key, its backing keys, its grants and every alias pointing at it.
    fn delete_key(&self, key_id: &str) -> Result<(), StoreError>;
    /// Creates or replaces an alias.
    fn put_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    /// Deletes an alias.
    fn delete_alias(&self, account_id: &str, alias_name: &str) -> Result<(), StoreError>;
    /// Creates or replaces a custom key store.
    fn put_custom_key_store(&self, store: &CustomKeyStoreRecord) -> Result<(), StoreError>;
    /// Creates a grant.
    fn put_grant(&self, grant: &GrantRecord) -> Result<(), StoreError>;
    /// Deletes a grant (retired or revoked).
    fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError>;
    /// Deletes a custom key store.
    fn delete_custom_key_store(&self, id: &str) -> Result<(), StoreError>;
}
