//! PostgreSQL for tests: the throwaway server `scripts/test-postgres.sh` runs (the one named
//! by `STRONGROOM_TEST_POSTGRES_URL`, or one the script starts on demand), a fresh schema per
//! test, and private servers for tests that stop and start their database. A test that cannot
//! get its server fails: these tests are never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming a running server (`postgresql://postgres@127.0.0.1:PORT/postgres`).
pub const URL_VAR: &str = "STRONGROOM_TEST_POSTGRES_URL";

/// The password of the role `strongroom_pw`, which the test servers make give it.
pub const PASSWORD_ROLE: (&str, &str) = ("strongroom_pw", "strongroom-test-password");

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-postgres.sh")
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run scripts/test-postgres.sh");
    assert!(
        out.status.success(),
        "scripts/test-postgres.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The shared test server's URL (as its superuser).
pub fn server_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => run_script(&["start"]),
    }
}

/// A schema name no other test uses.
pub fn fresh_schema() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "t{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with another user (no password).
pub fn url_as(url: &str, user: &str) -> String {
    match url.split_once("://").and_then(|(s, rest)| {
        let (_, host) = rest.split_once('@')?;
        Some(format!("{s}://{user}@{host}"))
    }) {
        Some(u) => u,
        None => panic!("unexpected test server URL {url}"),
    }
}

/// A server of one test's own, which it may stop and start; stopped (hard) when dropped.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    /// Its URL.
    pub url: String,
}

impl PrivateServer {
    /// Creates and starts it.
    pub fn start() -> PrivateServer {
        PrivateServer::create(false)
    }

    /// Creates and starts one that also speaks TLS (see `scripts/test-postgres.sh`): its CA
    /// is [`PrivateServer::ca_file`]; the role `strongroom_tls` may only connect over TLS.
    pub fn start_tls() -> PrivateServer {
        PrivateServer::create(true)
    }

    fn create(tls: bool) -> PrivateServer {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-pg-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().to_string_lossy().to_string();
        let out = Command::new("bash")
            .arg(script())
            .args(["start", &path])
            .env("STRONGROOM_TEST_PG_TLS", if tls { "1" } else { "0" })
            .output()
            .expect("run scripts/test-postgres.sh");
        assert!(
            out.status.success(),
            "scripts/test-postgres.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        PrivateServer { dir, url }
    }

    /// The CA certificate (PEM) of a TLS server.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn path(&self) -> String {
        self.dir.path().to_string_lossy().to_string()
    }

    /// Stops it (fast shutdown: connections are closed).
    pub fn stop(&self) {
        run_script(&["stop", &self.path()]);
    }

    /// Stops it as a crash would (immediate shutdown: recovery on the next start).
    pub fn crash(&self) {
        run_script(&["kill", &self.path()]);
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let url = run_script(&["start", &self.path()]);
        assert_eq!(url, self.url, "the server came back on another port");
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["kill", &self.path()])
            .output();
    }
}
