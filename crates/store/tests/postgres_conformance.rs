//! The PostgreSQL backend passes the store conformance suite: each database a schema of its
//! own on the test server, each handle a pool of its own, as another node would open it.

use std::sync::Arc;

use store::conformance::Backend;
use store::test_postgres::{fresh_schema, server_url};
use store::{PgOptions, PgStore, Store};

struct Postgres;

/// Small, so that the feed tests run past it.
const CHANGES_KEPT: u64 = 200;

#[async_trait::async_trait]
impl Backend for Postgres {
    type Database = String;

    async fn create(&self) -> String {
        fresh_schema()
    }

    async fn open(&self, schema: &String) -> Arc<dyn Store> {
        let mut options = PgOptions::new(server_url());
        options.schema = Some(schema.clone());
        options.changes_kept = CHANGES_KEPT;
        options.pool_size = 4;
        Arc::new(PgStore::open(options).await.expect("open"))
    }

    fn changes_kept(&self) -> u64 {
        CHANGES_KEPT
    }
}

store::conformance_tests!(Postgres);

/// A password from the options (as read from a file or the environment) signs in a role that
/// needs one; a wrong one is refused at open.
#[tokio::test]
async fn password_from_options() {
    use store::test_postgres::{url_as, PASSWORD_ROLE};
    let (role, password) = PASSWORD_ROLE;
    let url = url_as(&server_url(), role);
    let mut options = PgOptions::new(url.clone());
    options.schema = Some(fresh_schema());
    options.password = Some(password.to_string().into());
    let s = PgStore::open(options.clone())
        .await
        .expect("open with the password");
    assert_eq!(s.load().await.expect("load").keys.len(), 0);

    options.password = Some("not-the-password".to_string().into());
    let err = PgStore::open(options.clone()).await.err().expect("refused");
    assert!(
        !format!("{err}").contains("not-the-password"),
        "the error shows no password: {err}"
    );
    options.password = None;
    assert!(
        PgStore::open(options).await.is_err(),
        "no password, no entry"
    );
}

/// An unreachable database fails with `Unavailable` within the connect timeout, not later.
#[tokio::test]
async fn unreachable_database_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut options = PgOptions::new(format!("postgresql://postgres@127.0.0.1:{port}/postgres"));
    options.connect_timeout = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = PgStore::open(options).await.err().expect("refused");
    assert!(
        matches!(err, store::StoreError::Unavailable(_)),
        "got {err:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
