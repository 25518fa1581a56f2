//! The database's layout and its migrations, applied at start under an advisory lock (several
//! nodes starting at once migrate once).

use tokio_postgres::Client;

use crate::StoreError;

/// Serializes migrations across nodes (any constant; this one spells "strongrm").
const MIGRATION_LOCK: i64 = 0x7374_726f_6e67_726d;

/// Each migration brings the layout from the version before it to its own; applied in order,
/// each in the one transaction that holds the lock. Never edit one that shipped: add another.
///
/// Records are JSON of `kms_model`'s types in `record`; the columns beside them are what
/// lookups, uniqueness and order need, in the "C" collation so that lists sort by bytes. The
/// one-row `clock` holds the last feed position: every write locks it first and keeps it to
/// commit, which orders writers, so positions become visible in commit order (a sequence would
/// not: its numbers are drawn before commit, in any order). Deletes cascade in code, so that
/// the feed reports every record a delete removes.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE clock (
    id integer PRIMARY KEY CHECK (id = 1),
    position bigint NOT NULL,
    pruned_through bigint NOT NULL
);
INSERT INTO clock (id, position, pruned_through) VALUES (1, 0, 0);
CREATE TABLE keys (
    region text COLLATE "C" NOT NULL,
    key_id text COLLATE "C" NOT NULL,
    account text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (region, key_id)
);
CREATE INDEX keys_by_account ON keys (account, region, key_id);
CREATE TABLE key_versions (
    region text COLLATE "C" NOT NULL,
    key_id text COLLATE "C" NOT NULL,
    version_id text COLLATE "C" NOT NULL,
    added bigint NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (region, key_id, version_id),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id)
);
CREATE TABLE aliases (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    target text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (account, region, name),
    FOREIGN KEY (region, target) REFERENCES keys (region, key_id)
);
CREATE INDEX aliases_by_target ON aliases (region, target);
CREATE TABLE grants (
    region text COLLATE "C" NOT NULL,
    key_id text COLLATE "C" NOT NULL,
    grant_id text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (region, key_id, grant_id),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id)
);
CREATE TABLE custom_key_stores (
    id text COLLATE "C" PRIMARY KEY,
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    record text NOT NULL,
    UNIQUE (account, region, name)
);
CREATE TABLE changes (
    position bigint PRIMARY KEY,
    kind text NOT NULL,
    region text,
    account text,
    key_id text,
    name text
);
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);
-- Wakes followers early (they poll the feed regardless): delivered when the write commits.
CREATE FUNCTION strongroom_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('strongroom_changes', NEW.position::text);
    RETURN NEW;
END
$$;
CREATE TRIGGER clock_moved AFTER UPDATE OF position ON clock
    FOR EACH ROW WHEN (NEW.position <> OLD.position) EXECUTE FUNCTION strongroom_notify_change();
"#,
    ),
    (
        2,
        // Each key's last cryptographic use, outside the feed: it goes with its key by
        // ON DELETE CASCADE (the feed reports nothing of it). Usage is tracked from when the
        // table was made, by the database's clock.
        r#"
CREATE TABLE key_usage (
    region text COLLATE "C" NOT NULL,
    key_id text COLLATE "C" NOT NULL,
    operation text NOT NULL,
    at_ms bigint NOT NULL,
    request_id text NOT NULL,
    PRIMARY KEY (region, key_id),
    FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
);
INSERT INTO strongroom_meta (name, value)
VALUES ('usage_tracking_start_ms',
        floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text)
ON CONFLICT (name) DO NOTHING;
"#,
    ),
];

/// The layout this version writes.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Brings the database to [`latest`]; refuses a database a newer version migrated.
pub(super) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS strongroom_meta (
             name text PRIMARY KEY,
             value text NOT NULL
         )",
    )
    .await?;
    let found: i32 = match tx
        .query_opt(
            "SELECT value FROM strongroom_meta WHERE name = 'schema_version'",
            &[],
        )
        .await?
    {
        None => 0,
        Some(row) => {
            let text: String = row.try_get(0)?;
            text.parse()
                .map_err(|_| StoreError::Corrupt("schema version".to_string(), text.clone()))?
        }
    };
    if found > latest() {
        return Err(StoreError::Database(format!(
            "the database has schema version {found}, written by a newer Strongroom (this one \
             knows up to {})",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO strongroom_meta (name, value) VALUES ('schema_version', $1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&version.to_string()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
