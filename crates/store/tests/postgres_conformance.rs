//! The PostgreSQL backend passes the store conformance suite: each database a schema of its
//! own on the test server, each handle a pool of its own, as another node would open it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

    async fn remove_usage_tracking(&self, schema: &String) {
        let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "SET search_path = {schema};
                 DROP TABLE key_usage;
                 DELETE FROM strongroom_meta WHERE name = 'usage_tracking_start_ms';
                 UPDATE strongroom_meta SET value = '1' WHERE name = 'schema_version';"
            ))
            .await
            .expect("remove usage tracking");
        drop(client);
        let _ = task.await;
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

/// TLS to the database: verified against the given CA and the server's name; a role the server
/// admits only over TLS gets in with it and not without; a CA that did not sign the server's
/// certificate is refused.
#[tokio::test]
async fn tls_to_the_database() {
    use store::test_postgres::{url_as, PrivateServer};
    let pg = PrivateServer::start_tls();
    let url = url_as(&pg.url, "strongroom_tls").replace("127.0.0.1", "localhost");
    let mut options = PgOptions::new(url);
    options.tls = store::PgTls::On {
        ca_file: Some(pg.ca_file()),
        system_roots: false,
    };
    let s = PgStore::open(options.clone()).await.expect("open over TLS");
    let k = store::conformance::key(
        1,
        &store::conformance::account(),
        &store::conformance::region(),
    );
    s.create_key(&k, &store::conformance::version(&k, 1, 1))
        .await
        .expect("a write over TLS");

    let mut plain = options.clone();
    plain.tls = store::PgTls::Off;
    assert!(
        PgStore::open(plain).await.is_err(),
        "the role is refused without TLS"
    );

    let other = tempfile::tempdir().expect("tempdir");
    let wrong_ca = other.path().join("ca.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", "/CN=another-ca", "-keyout"])
        .arg(other.path().join("ca.key"))
        .arg("-out")
        .arg(&wrong_ca)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let mut wrong = options;
    wrong.tls = store::PgTls::On {
        ca_file: Some(wrong_ca),
        system_roots: false,
    };
    assert!(
        PgStore::open(wrong).await.is_err(),
        "a server certificate the CA did not sign is refused"
    );
}
