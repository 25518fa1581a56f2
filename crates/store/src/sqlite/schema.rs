//! The database's layout, and bringing a database to it: create a new one, migrate one the
//! legacy store wrote, refuse one this version does not know.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use kms_model::Region;

use super::migrate;
use crate::usage::TRACKING_START;
use crate::StoreError;

/// The layout this version writes (the legacy store's, which kept none, was 1).
pub(super) const VERSION: u32 = 2;

/// Records are JSON of `kms_model`'s types in `record`; the columns beside them are what
/// lookups, uniqueness and order need. `revision` is the feed position of the record's last
/// write. Deletes cascade in code, not by `ON DELETE CASCADE`, because the feed must report
/// every record a delete removes; the foreign keys only guard against orphans.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One row: the last feed position drawn, and the highest one pruned from the feed.
CREATE TABLE clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL
);
INSERT INTO clock (id, position, pruned_through) VALUES (1, 0, 0);
CREATE TABLE keys (
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    account TEXT NOT NULL,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id)
);
CREATE INDEX keys_by_account ON keys (account, region, key_id);
-- `added` (the position that added it) orders a key's versions, oldest first.
CREATE TABLE key_versions (
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    added INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id, version_id),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id)
);
CREATE TABLE aliases (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (account, region, name),
    FOREIGN KEY (region, target) REFERENCES keys (region, key_id)
);
CREATE INDEX aliases_by_target ON aliases (region, target);
CREATE TABLE grants (
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (region, key_id, grant_id),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id)
);
CREATE TABLE custom_key_stores (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (account, region, name)
);
-- The feed's tail: what each position changed. `kind` is key, alias, grant or
-- custom_key_store; the other columns name the record as its kind needs.
CREATE TABLE changes (
    position INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    region TEXT,
    account TEXT,
    key_id TEXT,
    name TEXT
);
";

/// Cluster-wide leases (see `Store::try_lease`); expiry in milliseconds since the epoch.
const LEASES: &str = "CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);";

/// Each key's last cryptographic use (see `Store::record_key_uses`): outside the feed, so it
/// goes with its key by `ON DELETE CASCADE` (the feed reports nothing of it).
const KEY_USAGE: &str = "CREATE TABLE IF NOT EXISTS key_usage (
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (region, key_id),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
);";

/// What a database holds before it is opened.
enum Found {
    /// Nothing of ours: a new database.
    Empty,
    /// The legacy store's tables.
    Legacy,
    /// This version's layout.
    Current,
    /// A layout this version cannot read.
    Other(String),
}

/// Brings the database to this version's layout, in one transaction that holds the write lock
/// (two processes opening one new or legacy database at once create or migrate it once).
pub(super) fn prepare(conn: &mut Connection, default_region: &Region) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match found(&tx)? {
        Found::Current => {}
        Found::Empty => create(&tx)?,
        Found::Legacy => migrate::from_legacy(&tx, default_region)?,
        Found::Other(what) => {
            return Err(StoreError::Database(format!(
                "the database holds {what}, which this version of Strongroom cannot read"
            )))
        }
    }
    // Leases and key usage came after version 2's first release: tables of their own, added
    // in place. Usage is tracked from when its table was made (this open, for a database
    // that had none).
    tx.execute_batch(LEASES)?;
    tx.execute_batch(KEY_USAGE)?;
    tx.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![TRACKING_START, super::now_ms().to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

/// Creates this version's tables (in a database that has at most the `meta` table).
pub(super) fn create(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(TABLES)?;
    conn.execute(
        "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![VERSION.to_string()],
    )?;
    Ok(())
}

fn found(conn: &Connection) -> Result<Found, StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let has = |name: &str| tables.iter().any(|t| t == name);
    let version: Option<String> = if has("meta") {
        conn.query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    Ok(match version {
        Some(v) if v == VERSION.to_string() => Found::Current,
        Some(v) => Found::Other(format!("schema version {v}")),
        None if has("backing_keys") && has("keys") => Found::Legacy,
        None if tables.iter().all(|t| t == "meta") => Found::Empty,
        None => Found::Other(format!("unknown tables ({})", tables.join(", "))),
    })
}
