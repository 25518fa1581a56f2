//! The embedded default: SQLite in the data directory, WAL with `synchronous=FULL`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::{
    AliasRecord, BackingKeyRecord, CustomKeyStoreRecord, GrantRecord, KeyRecord, Snapshot, Store,
    StoreError,
};

/// SQLite behind one connection. Writes are small and rare next to reads, which the service serves
/// from memory, so one serialised connection is enough.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS backing_keys (
    key_id TEXT NOT NULL,
    backing_key_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (key_id, backing_key_id)
);
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS custom_key_stores (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    account_id TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (account_id, alias_name)
);
";

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly(
                "SQLite opened it read-only".to_string(),
            ));
        }
        // FULL makes every commit reach the disk before it returns: what we acknowledge survives a kill -9
        // or a power cut; WAL keeps those commits cheap.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        check_writable(&conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().map_err(|_| StoreError::Poisoned)?;
        f(&mut conn)
    }
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

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(what.to_string(), e.to_string()))
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.with(|conn| {
            let mut snap = Snapshot::default();
            let mut stmt = conn.prepare("SELECT key_id, record FROM keys")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, json) = row?;
                let rec: KeyRecord = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("key {id}"), e.to_string()))?;
                snap.keys.push(rec);
            }
            let mut stmt = conn
                .prepare("SELECT key_id, backing_key_id, wrapped, created_ms FROM backing_keys")?;
            let rows = stmt.query_map([], |r| {
                Ok(BackingKeyRecord {
                    key_id: r.get(0)?,
                    backing_key_id: r.get(1)?,
                    wrapped: r.get(2)?,
                    created_ms: r.get(3)?,
                })
            })?;
            for row in rows {
                snap.backing_keys.push(row?);
            }
            let mut stmt = conn.prepare("SELECT alias_name, record FROM aliases")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (name, json) = row?;
                let rec: AliasRecord = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("alias {name}"), e.to_string()))?;
                snap.aliases.push(rec);
            }
            let mut stmt = conn.prepare("SELECT grant_id, record FROM grants")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, json) = row?;
                let rec: GrantRecord = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("grant {id}"), e.to_string()))?;
                snap.grants.push(rec);
            }
            let mut stmt = conn.prepare("SELECT id, record FROM custom_key_stores")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, json) = row?;
                let rec: CustomKeyStoreRecord = serde_json::from_str(&json).map_err(|e| {
                    StoreError::Corrupt(format!("custom key store {id}"), e.to_string())
                })?;
                snap.custom_key_stores.push(rec);
            }
            Ok(snap)
        })
    }

    fn create_key(&self, key: &KeyRecord, backing: &BackingKeyRecord) -> Result<(), StoreError> {
        let json = to_json("key", key)?;
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute("INSERT INTO keys (key_id, record) VALUES (?1, ?2)", params![key.key_id, json])?;
            tx.execute(
                "INSERT INTO backing_keys (key_id, backing_key_id, wrapped, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![backing.key_id, backing.backing_key_id, backing.wrapped, backing.created_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let json = to_json("key", key)?;
        self.with(|conn| {
            conn.execute(
                "UPDATE keys SET record = ?2 WHERE key_id = ?1",
                params![key.key_id, json],
            )?;
            Ok(())
        })
    }

    fn delete_key(&self, key_id: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM backing_keys WHERE key_id = ?1",
                params![key_id],
            )?;
            tx.execute("DELETE FROM keys WHERE key_id = ?1", params![key_id])?;
            tx.execute(
                "DELETE FROM aliases WHERE json_extract(record, '$.target_key_id') = ?1",
                params![key_id],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn put_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let json = to_json("alias", alias)?;
        self.with(|conn| {
            conn.execute(
                "INSERT INTO aliases (account_id, alias_name, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account_id, alias_name) DO UPDATE SET record = excluded.record",
                params![alias.account_id, alias.alias_name, json],
            )?;
            Ok(())
        })
    }

    fn put_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        let json = to_json("grant", grant)?;
        self.with(|conn| {
            conn.execute(
                "INSERT INTO grants (grant_id, key_id, record) VALUES (?1, ?2, ?3)",
                params![grant.grant_id, grant.key_id, json],
            )?;
            Ok(())
        })
    }

    fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute("DELETE FROM grants WHERE grant_id = ?1", params![grant_id])?;
            Ok(())
        })
    }

    fn put_custom_key_store(&self, store: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        let json = to_json("custom key store", store)?;
        self.put_json(
            "INSERT INTO custom_key_stores (id, record) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            &store.id,
            &json,
        )
    }

    fn delete_custom_key_store(&self, id: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute("DELETE FROM custom_key_stores WHERE id = ?1", params![id])?;
            Ok(())
        })
    }

    fn delete_alias(&self, account_id: &str, alias_name: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM aliases WHERE account_id = ?1 AND alias_name = ?2",
                params![account_id, alias_name],
            )?;
            Ok(())
        })
    }
}

impl SqliteStore {
    fn put_json(&self, sql: &str, id: &str, json: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(sql, params![id, json])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::KeyState;

    fn key(id: &str) -> KeyRecord {
        KeyRecord {
            key_id: id.into(),
            account_id: "111122223333".into(),
            created_ms: 1,
            description: String::new(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            origin: "AWS_KMS".into(),
            state: KeyState::Enabled,
            deletion_ms: None,
            pending_window_days: None,
            policy: "{}".into(),
            tags: vec![("a".into(), "b".into())],
            current_backing_key_id: "00".into(),
            custom_key_store_id: None,
            xks_key_id: None,
        }
    }

    #[test]
    fn round_trip_and_cascade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).expect("open");
        let k = key("k1");
        let b = BackingKeyRecord {
            key_id: "k1".into(),
            backing_key_id: "00".into(),
            wrapped: vec![1, 2, 3],
            created_ms: 1,
        };
        store.create_key(&k, &b).expect("create");
        assert!(
            store.create_key(&k, &b).is_err(),
            "duplicate key id refused"
        );
        let mut k2 = k.clone();
        k2.state = KeyState::Disabled;
        store.update_key(&k2).expect("update");
        let alias = AliasRecord {
            account_id: "111122223333".into(),
            alias_name: "alias/x".into(),
            target_key_id: "k1".into(),
            created_ms: 1,
            updated_ms: 1,
        };
        store.put_alias(&alias).expect("alias");
        drop(store);
        let store = SqliteStore::open(&path).expect("reopen");
        let snap = store.load().expect("load");
        assert_eq!(snap.keys, vec![k2]);
        assert_eq!(snap.backing_keys, vec![b]);
        assert_eq!(snap.aliases, vec![alias]);
        store.delete_key("k1").expect("delete");
        let snap = store.load().expect("load");
        assert!(snap.keys.is_empty() && snap.backing_keys.is_empty() && snap.aliases.is_empty());
    }

    #[test]
    fn custom_key_stores_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).expect("open");
        let mut cks = CustomKeyStoreRecord {
            id: "cks-0123456789abcdef0".into(),
            account_id: "111122223333".into(),
            name: "ext".into(),
            store_type: "EXTERNAL_KEY_STORE".into(),
            created_ms: 5,
            uri_endpoint: "https://proxy.example".into(),
            uri_path: "/kms/xks/v1".into(),
            connectivity: "PUBLIC_ENDPOINT".into(),
            vpc_endpoint_service_name: None,
            access_key_id: "ABCDEFGHIJKLMNOPQRST".into(),
            wrapped_secret_hex: "00ff".into(),
            connection_state: "DISCONNECTED".into(),
            connection_error_code: None,
        };
        store.put_custom_key_store(&cks).expect("put");
        cks.connection_state = "CONNECTED".into();
        store.put_custom_key_store(&cks).expect("replace");
        drop(store);
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(
            store.load().expect("load").custom_key_stores,
            vec![cks.clone()]
        );
        store.delete_custom_key_store(&cks.id).expect("delete");
        assert!(store.load().expect("load").custom_key_stores.is_empty());
    }
}
