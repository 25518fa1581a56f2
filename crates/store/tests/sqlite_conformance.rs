//! The SQLite backend passes the store conformance suite: every handle opened on a database
//! file of its own, two handles on one file standing in for two processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::PathBuf;
use std::sync::Arc;

use kms_model::Region;
use store::conformance::Backend;
use store::{SqliteOptions, SqliteStore, Store};

struct Sqlite;

/// A database file in a temporary directory that lives as long as the database.
struct Database {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// Small, so that the feed tests run past it.
const CHANGES_KEPT: u64 = 200;

#[async_trait::async_trait]
impl Backend for Sqlite {
    type Database = Database;

    async fn create(&self) -> Database {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("strongroom.db");
        Database { _dir: dir, path }
    }

    async fn open(&self, db: &Database) -> Arc<dyn Store> {
        let options = SqliteOptions {
            changes_kept: CHANGES_KEPT,
            ..SqliteOptions::default()
        };
        let region = Region::parse("us-east-1").expect("region");
        Arc::new(
            SqliteStore::open_with(&db.path, &region, options)
                .await
                .expect("open"),
        )
    }

    fn changes_kept(&self) -> u64 {
        CHANGES_KEPT
    }

    async fn remove_usage_tracking(&self, db: &Database) {
        let conn = rusqlite::Connection::open(&db.path).expect("open");
        conn.execute_batch(
            "DROP TABLE key_usage;
             DELETE FROM meta WHERE name = 'usage_tracking_start_ms';",
        )
        .expect("remove usage tracking");
    }
}

store::conformance_tests!(Sqlite);
