//! The KMS tests' harness: a real `strongroom dev` (or `serve`) process per test, an
//! `aws-sdk-kms` client for it, and raw requests for what the SDK will not send (signed with the
//! independent `aws-sigv4` crate, or not at all). Processes, signer and HTTP client come from the
//! test-support crate; what is KMS's is here: exports, principals, configurations, and the check,
//! when a test's KMS stops, that no secret reached its audit files or its log.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
pub use test_support::http::Response as RawResponse;
pub use test_support::process::{log_field, strip_scheme, LogLines};
use test_support::process::{Dev, DevOptions, Serve, Signal};
pub use test_support::sigv4::{kms_json_headers as json_headers, Signer};
pub use test_support::write_private;

/// What `strongroom dev` printed: where it listens and how to sign in.
#[derive(Debug, Clone)]
pub struct Exports {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    /// Every node's endpoint (`STRONGROOM_NODE_ENDPOINTS`; the one endpoint otherwise).
    pub node_endpoints: Vec<String>,
    /// `STRONGROOM_METRICS_URL`, when printed.
    pub metrics_url: Option<String>,
    /// The audit file being written (`STRONGROOM_AUDIT_LOG`).
    pub audit_log: PathBuf,
}

/// Refused requests are logged at info; keep test output to warnings and worse.
const DEFAULT_LOG_FILTER: &str = "warn";

/// The file in a dev data directory that holds the KMS clock's offset, in milliseconds.
const CLOCK_OFFSET_FILE: &str = "clock-offset-ms";

/// Several dev nodes on one PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct DevCluster {
    pub url: String,
    pub schema: String,
    pub nodes: usize,
    /// `--strict-consistency`: every request reads the feed first.
    pub strict: bool,
}

/// `STRONGROOM_TEST_NODES=N` (N >= 2) runs every test's KMS as N dev nodes on the PostgreSQL
/// test server, each SDK request going to the next node in turn. The nodes run with strict
/// consistency, so that tests written for one server (a change, then a request that must see
/// it) hold on whichever node each request lands.
pub const NODES_VAR: &str = "STRONGROOM_TEST_NODES";

fn cluster_from_env() -> Option<DevCluster> {
    let nodes: usize = std::env::var(NODES_VAR).ok()?.parse().ok()?;
    (nodes >= 2).then(|| DevCluster {
        url: store::test_postgres::server_url(),
        schema: store::test_postgres::fresh_schema(),
        nodes,
        strict: true,
    })
}

/// Sends each request to the next node in turn (before signing, so that the signature covers
/// the node's host).
#[derive(Debug)]
struct Alternate {
    endpoints: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Alternate {
    fn name(&self) -> &'static str {
        "AlternateNodes"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.endpoints.len();
        let request = context.request_mut();
        let uri = request.uri().to_string();
        if let Some(rest) = uri.strip_prefix(self.endpoints[0].as_str()) {
            request.set_uri(format!("{}{rest}", self.endpoints[i]))?;
        }
        Ok(())
    }
}

/// Starts `strongroom dev` on `data_dir` logging at `log_filter` (RUST_LOG) into `log`, with
/// `cluster` nodes on PostgreSQL if given.
fn spawn_dev(
    data_dir: &Path,
    log_filter: &str,
    log: &LogLines,
    cluster: Option<&DevCluster>,
) -> (Dev, Exports) {
    let mut options = DevOptions::new(data_dir)
        // Tests move the KMS's clock by writing this file (Kms::advance_clock), and its jobs
        // run often so that what they do shows quickly.
        .arg("--clock-offset-file")
        .arg(data_dir.join(CLOCK_OFFSET_FILE))
        .arg("--job-interval-ms")
        .arg("100");
    options.log_filter = log_filter.to_string();
    if let Some(c) = cluster {
        options = options
            .arg("--postgres")
            .arg(&c.url)
            .arg("--postgres-schema")
            .arg(&c.schema)
            .arg("--nodes")
            .arg(c.nodes.to_string());
        if c.strict {
            options = options.arg("--strict-consistency");
        }
    }
    let dev = Dev::start(Path::new(bin()), &options, log);
    let exports = Exports::of(&dev);
    (dev, exports)
}

impl Exports {
    /// What `dev` printed.
    pub fn of(dev: &Dev) -> Exports {
        let endpoint = dev.export("AWS_ENDPOINT_URL").to_string();
        let addr = endpoint
            .strip_prefix("http://")
            .expect("endpoint is http://")
            .to_string();
        let node_endpoints = dev
            .exports
            .get("STRONGROOM_NODE_ENDPOINTS")
            .map(|v| v.split(',').map(String::from).collect())
            .unwrap_or_else(|| vec![endpoint.clone()]);
        let exports = Exports {
            endpoint,
            addr,
            access_key_id: dev.export("AWS_ACCESS_KEY_ID").to_string(),
            secret_access_key: dev.export("AWS_SECRET_ACCESS_KEY").to_string(),
            region: dev.export("AWS_REGION").to_string(),
            node_endpoints,
            metrics_url: dev.exports.get("STRONGROOM_METRICS_URL").cloned(),
            audit_log: PathBuf::from(dev.export("STRONGROOM_AUDIT_LOG")),
        };
        assert_eq!(dev.export("AWS_DEFAULT_REGION"), exports.region);
        exports
    }
}

/// The `strongroom` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strongroom")
}

/// A client for an HTTPS endpoint whose certificate chains to `ca_pem` (and nothing else).
pub async fn https_client(
    endpoint: &str,
    access_key_id: &str,
    secret: &str,
    ca_pem: &str,
) -> Client {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_pem_certificate(ca_pem.as_bytes().to_vec());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .expect("TLS context"),
        )
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(http)
        .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

/// A client for `exports`, configured explicitly (nothing read from the environment).
pub async fn client_for(exports: &Exports, access_key_id: &str, secret: &str) -> Client {
    client_with_token(exports, access_key_id, secret, None).await
}

/// [`client_for`] with temporary credentials' session token.
pub async fn client_with_token(
    exports: &Exports,
    access_key_id: &str,
    secret: &str,
    session_token: Option<String>,
) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(exports.region.clone()))
        .endpoint_url(exports.endpoint.clone())
        .credentials_provider(Credentials::new(
            access_key_id,
            secret,
            session_token,
            None,
            "test",
        ))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let mut conf = aws_sdk_kms::config::Builder::from(&config).interceptor(NoteSecrets);
    if exports.node_endpoints.len() > 1 {
        conf = conf.interceptor(Alternate {
            endpoints: exports.node_endpoints.clone(),
            next: std::sync::atomic::AtomicUsize::new(0),
        });
    }
    Client::from_conf(conf.build())
}

/// Every secret an SDK client of this process sent or received: the values of data, key
/// material, ciphertext, token and credential members of request and response bodies, and
/// the signatures of Authorization headers. The audit files of every test's server are
/// searched for them ([`check_audit_files`]).
static SECRETS_SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The members whose values are secret: the test's own list, not the server's.
const SECRET_MEMBERS: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "SourceCiphertextBlob",
    "CiphertextForRecipient",
    "Message",
    "Signature",
    "Mac",
    "EncryptedKeyMaterial",
    "ImportToken",
    "GrantToken",
    "GrantTokens",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
    "SharedSecret",
    "SharedSecretCiphertextBlob",
    "KeyStorePassword",
    "RawSecretAccessKey",
    "AttestationDocument",
];

fn note_secrets(body: &[u8]) {
    fn walk(v: &serde_json::Value, secret: bool, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if secret && s.len() >= 12 => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, secret, out)),
            serde_json::Value::Object(o) => o
                .iter()
                .for_each(|(k, v)| walk(v, secret || SECRET_MEMBERS.contains(&k.as_str()), out)),
            _ => {}
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let mut found = Vec::new();
    walk(&v, false, &mut found);
    if !found.is_empty() {
        SECRETS_SEEN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(found);
    }
}

#[derive(Debug)]
struct NoteSecrets;

impl aws_smithy_runtime_api::client::interceptors::Intercept for NoteSecrets {
    fn name(&self) -> &'static str {
        "NoteSecrets"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request();
        if let Some(body) = request.body().bytes() {
            note_secrets(body);
        }
        if let Some(sig) = request
            .headers()
            .get("authorization")
            .and_then(|a| a.split("Signature=").nth(1))
        {
            SECRETS_SEEN
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sig.to_string());
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(body) = context.response().body().bytes() {
            note_secrets(body);
        }
        Ok(())
    }
}

/// Whether an SDK client of this process sent or received `value` in a secret member (or as a
/// signature).
pub fn secret_seen(value: &str) -> bool {
    SECRETS_SEEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|s| s == value)
}

/// The audit files under `dir` (every node's).
pub fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(audit_files(&p));
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Checks the audit trail a test's server wrote in `dir`: the files verify (chain, signatures,
/// sequence), and none holds a secret — any value this process's clients sent or received in a
/// secret member, the Authorization signatures, `also` (secret keys) — nor a secret member's
/// name. Returns how many records were checked.
pub fn check_audit_files(dir: &Path, also: &[&str]) -> usize {
    let mut records = 0;
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<PathBuf>> = Default::default();
    for f in audit_files(dir) {
        by_dir
            .entry(f.parent().map(Path::to_path_buf).unwrap_or_default())
            .or_default()
            .push(f);
    }
    let secrets = SECRETS_SEEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (d, files) in by_dir {
        let pem = std::fs::read_to_string(d.join("audit-signing-key.pub")).expect("public key");
        let key = audit::PublicKey::from_pem(&pem).expect("public key PEM");
        let report = audit::verify_files(&files, &[key]);
        assert!(
            report.is_ok(),
            "audit files in {}: {:?}",
            d.display(),
            report.all_problems()
        );
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read audit file");
            for line in text.lines() {
                if !line.starts_with("{\"eventVersion\"") {
                    continue;
                }
                records += 1;
                for name in SECRET_MEMBERS
                    .iter()
                    .chain(&["Authorization", "AWS4-HMAC-SHA256"])
                {
                    let camel = format!("{}{}", name[..1].to_ascii_lowercase(), &name[1..]);
                    assert!(
                        !line.contains(&format!("\"{name}\""))
                            && !line.contains(&format!("\"{camel}\"")),
                        "{name} in an audit record of {}: {line}",
                        f.display()
                    );
                }
            }
            for s in secrets
                .iter()
                .map(String::as_str)
                .chain(also.iter().copied())
            {
                assert!(
                    !text.contains(s),
                    "a secret ({}...) is in {}",
                    &s[..s.len().min(6)],
                    f.display()
                );
            }
        }
    }
    records
}

/// Checks what a test's server logged: no secret this process's clients sent or received, no
/// Authorization signature, none of `also`.
pub fn check_log_lines(lines: &[String], also: &[&str]) {
    let secrets = SECRETS_SEEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for line in lines {
        for s in secrets
            .iter()
            .map(String::as_str)
            .chain(also.iter().copied())
        {
            assert!(
                !line.contains(s),
                "a secret ({}...) is in a log line: {line}",
                &s[..s.len().min(6)]
            );
        }
    }
}

impl Drop for Kms {
    fn drop(&mut self) {
        // Stop the server, then check what it wrote (unless the test failed already): its audit
        // trail and the proxy's, and its log.
        drop(self.process.take());
        if !std::thread::panicking() {
            check_audit_files(self.dir.path(), &[&self.exports.secret_access_key]);
            check_log_lines(&self.log.lines(), &[&self.exports.secret_access_key]);
        }
    }
}

/// One test's KMS: a data directory, the server on it and a client.
pub struct Kms {
    // Declared first so the process is gone before the directory is removed.
    process: Option<Dev>,
    dir: tempfile::TempDir,
    pub exports: Exports,
    pub client: Client,
    /// The server's stderr, across restarts.
    pub log: LogLines,
    log_filter: String,
    /// The dev cluster this KMS runs as, if any.
    cluster: Option<DevCluster>,
}

impl Kms {
    /// Starts a fresh server on a new data directory.
    pub async fn start() -> Kms {
        Kms::start_logging(DEFAULT_LOG_FILTER).await
    }

    /// [`Kms::start`] with `log_filter` as the server's RUST_LOG (kept across restarts).
    pub async fn start_logging(log_filter: &str) -> Kms {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-it-")
            .tempdir()
            .expect("tempdir");
        Kms::start_in(dir, log_filter).await
    }

    /// `nodes` dev nodes on a fresh schema of the PostgreSQL test server, as one process.
    pub async fn start_cluster(nodes: usize, log_filter: &str) -> Kms {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-it-")
            .tempdir()
            .expect("tempdir");
        let cluster = DevCluster {
            url: store::test_postgres::server_url(),
            schema: store::test_postgres::fresh_schema(),
            nodes,
            strict: false,
        };
        let log = LogLines::default();
        let (process, exports) = spawn_dev(dir.path(), log_filter, &log, Some(&cluster));
        assert_eq!(exports.node_endpoints.len(), nodes);
        assert_eq!(exports.node_endpoints[0], exports.endpoint);
        let client = client_for(&exports, &exports.access_key_id, &exports.secret_access_key).await;
        Kms {
            process: Some(process),
            dir,
            exports,
            client,
            log,
            log_filter: log_filter.to_string(),
            cluster: Some(cluster),
        }
    }

    /// A client for node `i` of a cluster.
    pub async fn node_client(&self, i: usize) -> Client {
        let mut exports = self.exports.clone();
        exports.endpoint = exports.node_endpoints[i].clone();
        exports.node_endpoints = vec![exports.endpoint.clone()];
        exports.addr = exports
            .endpoint
            .strip_prefix("http://")
            .expect("endpoint is http://")
            .to_string();
        client_for(&exports, &exports.access_key_id, &exports.secret_access_key).await
    }

    /// Starts a server on an existing data directory (`dev --data-dir`).
    pub async fn start_in(dir: tempfile::TempDir, log_filter: &str) -> Kms {
        let log = LogLines::default();
        let cluster = cluster_from_env();
        let (process, exports) = spawn_dev(dir.path(), log_filter, &log, cluster.as_ref());
        let client = client_for(&exports, &exports.access_key_id, &exports.secret_access_key).await;
        Kms {
            process: Some(process),
            dir,
            exports,
            client,
            log,
            log_filter: log_filter.to_string(),
            cluster,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Moves the server's clock forward by `ms` (it reads the offset at every use).
    pub fn advance_clock(&self, ms: i64) {
        let path = self.dir.path().join(CLOCK_OFFSET_FILE);
        let now: i64 = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, (now + ms).to_string()).expect("write clock offset");
        std::fs::rename(&tmp, &path).expect("replace clock offset");
    }

    /// `kill -9` the server (no chance to flush anything) and start it again on the same data
    /// directory; the client is rebuilt for the new port.
    pub async fn kill_and_restart(&mut self) {
        if let Some(p) = self.process.take() {
            let status = p.process.kill();
            assert!(!status.success(), "strongroom was killed: {status}");
        }
        let (process, exports) = spawn_dev(
            self.dir.path(),
            &self.log_filter,
            &self.log,
            self.cluster.as_ref(),
        );
        assert_eq!(exports.access_key_id, self.exports.access_key_id);
        assert_eq!(exports.secret_access_key, self.exports.secret_access_key);
        self.client =
            client_for(&exports, &exports.access_key_id, &exports.secret_access_key).await;
        self.exports = exports;
        self.process = Some(process);
    }

    /// Creates a default key and returns its id.
    pub async fn key(&self) -> String {
        self.client
            .create_key()
            .send()
            .await
            .expect("CreateKey")
            .key_metadata()
            .expect("KeyMetadata")
            .key_id()
            .to_string()
    }

    /// The account the dev credentials belong to.
    pub async fn account(&self) -> String {
        let id = self.key().await;
        self.client
            .describe_key()
            .key_id(id)
            .send()
            .await
            .expect("DescribeKey")
            .key_metadata()
            .and_then(|m| m.aws_account_id())
            .expect("AWSAccountId")
            .to_string()
    }

    /// Encrypts `plaintext` under `key_id` with no context.
    pub async fn encrypt(&self, key_id: &str, plaintext: &[u8]) -> Vec<u8> {
        self.client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
            .send()
            .await
            .expect("Encrypt")
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec()
    }

    /// A signed raw request for `target` (`TrentService.X`) with this server's credentials.
    pub fn signed(&self, target: &str, body: &[u8]) -> RawResponse {
        let headers = self.signer().sign_kms(&self.exports.addr, target, body);
        raw_request(&self.exports.addr, &headers, body)
    }

    /// A signer with this server's credentials, signing at the time of each request.
    pub fn signer(&self) -> Signer {
        Signer::kms(
            &self.exports.access_key_id,
            &self.exports.secret_access_key,
            &self.exports.region,
        )
    }

    /// Sends exactly these headers (plus Host and Content-Length) and body.
    pub fn raw(&self, headers: &[(String, String)], body: &[u8]) -> RawResponse {
        raw_request(&self.exports.addr, headers, body)
    }
}

/// Creates a symmetric key with default settings through `c`; returns its id.
pub async fn new_key(c: &Client) -> String {
    c.create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_string()
}

/// A signer for `p` in us-east-1, signing at the time of each request.
pub fn signer_for(p: &PrincipalSpec) -> Signer {
    Signer::kms(&p.access_key_id, &p.secret, "us-east-1")
}

/// One `POST /` over a fresh connection to `addr` (plain HTTP) with exactly these headers (plus
/// `host` and `content-length`) and body.
pub fn raw_request(addr: &str, headers: &[(String, String)], body: &[u8]) -> RawResponse {
    test_support::http::request_blocking(addr, None, "POST", "/", headers, body)
        .unwrap_or_else(|e| panic!("POST / to {addr}: {e}"))
}

/// The `__type` of an SDK error (`ValidationException`, ...), or a description of a non-service
/// failure so that assertions show it.
pub fn code<E: ProvideErrorMetadata + std::fmt::Debug>(e: &E) -> String {
    e.code()
        .map(str::to_string)
        .unwrap_or_else(|| format!("<no code: {e:?}>"))
}

/// Asserts that `r` failed with error code `expected` and returns the message.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
    expected: &str,
) -> String {
    match r {
        Ok(v) => panic!("expected {expected}, the call succeeded: {v:?}"),
        Err(e) => {
            assert_eq!(code(&e), expected, "full error: {e:?}");
            e.message().unwrap_or_default().to_string()
        }
    }
}

/// Seconds since the epoch of an SDK timestamp.
pub fn secs(t: &aws_sdk_kms::primitives::DateTime) -> f64 {
    t.as_secs_f64()
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Standard base64 (for raw request bodies).
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Random bytes for tests (v4 UUIDs carry OS randomness).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

// ---------------------------------------------------------------------------------------------
// `strongroom serve --config FILE` with several accounts, users and roles (authorization tests).

/// One IAM user or role of a served configuration, with one access key.
#[derive(Debug, Clone)]
pub struct PrincipalSpec {
    /// The 12-digit account id.
    pub account: String,
    pub name: String,
    /// A role: its access key acts as the session `assumed-role/NAME/strongroom`.
    pub role: bool,
    /// Identity policy documents (JSON).
    pub policies: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub access_key_id: String,
    pub secret: String,
    /// Temporary credentials: the session token requests must carry.
    pub session_token: Option<String>,
}

impl PrincipalSpec {
    fn new(account: &str, name: &str, role: bool) -> PrincipalSpec {
        let hex = |n: usize| -> String {
            random_bytes(n)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        };
        PrincipalSpec {
            account: account.to_string(),
            name: name.to_string(),
            role,
            policies: Vec::new(),
            tags: Vec::new(),
            access_key_id: format!("AKIA{}", hex(8)),
            secret: hex(20),
            session_token: None,
        }
    }

    /// Gives this principal temporary credentials with a fresh session token.
    pub fn with_session_token(mut self) -> PrincipalSpec {
        let token: String = random_bytes(24)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.session_token = Some(token);
        self
    }

    /// An IAM user with a fresh access key and no identity policy.
    pub fn user(account: &str, name: &str) -> PrincipalSpec {
        PrincipalSpec::new(account, name, false)
    }

    /// An IAM role with a fresh access key and no identity policy.
    pub fn role(account: &str, name: &str) -> PrincipalSpec {
        PrincipalSpec::new(account, name, true)
    }

    /// Adds an identity policy document.
    pub fn policy(mut self, doc: impl Into<String>) -> PrincipalSpec {
        self.policies.push(doc.into());
        self
    }

    /// Adds a principal tag.
    pub fn tag(mut self, key: &str, value: &str) -> PrincipalSpec {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }

    /// The ARN requests are made as (a user's ARN, or a role's session ARN).
    pub fn arn(&self) -> String {
        if self.role {
            format!(
                "arn:aws:sts::{}:assumed-role/{}/strongroom",
                self.account, self.name
            )
        } else {
            format!("arn:aws:iam::{}:user/{}", self.account, self.name)
        }
    }
}

/// The configuration file for `principals` (root key `root.key`, data in `data/`).
pub fn render_config(principals: &[PrincipalSpec]) -> String {
    use serde_json::{json, Map, Value};
    let mut accounts: Vec<(String, Vec<Value>, Vec<Value>)> = Vec::new();
    for p in principals {
        let idx = match accounts.iter().position(|(id, _, _)| *id == p.account) {
            Some(i) => i,
            None => {
                accounts.push((p.account.clone(), Vec::new(), Vec::new()));
                accounts.len() - 1
            }
        };
        let tags: Map<String, Value> = p
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let entry = json!({
            "name": p.name,
            "policies": p.policies,
            "tags": tags,
            "access_keys": [match &p.session_token {
                Some(t) => json!({"id": p.access_key_id, "secret": p.secret, "session_token": t}),
                None => json!({"id": p.access_key_id, "secret": p.secret}),
            }],
        });
        if p.role {
            accounts[idx].2.push(entry);
        } else {
            accounts[idx].1.push(entry);
        }
    }
    let config = json!({
        "region": "us-east-1",
        "listen": "127.0.0.1:0",
        "data_dir": "data",
        "deletion_sweep_seconds": 60,
        "root_key": {"file": "root.key"},
        "accounts": accounts
            .into_iter()
            .map(|(id, users, roles)| json!({"id": id, "users": users, "roles": roles}))
            .collect::<Vec<_>>(),
    });
    toml::to_string(&config).expect("config as TOML")
}

/// A `strongroom serve --config FILE` process on a fresh directory, SIGKILLed on drop.
pub struct Served {
    // Declared first so the process is gone before the directory is removed.
    process: Option<Serve>,
    dir: tempfile::TempDir,
    /// The server's stderr, across restarts.
    log: LogLines,
    /// The first line of `log` that [`Served::wait_for_log`] has not passed.
    log_cursor: std::sync::Mutex<usize>,
    /// The server's process id (for signals).
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Environment variables the server runs with (kept across restarts).
    env: Vec<(String, String)>,
}

impl Served {
    /// Writes a configuration for `principals` and a root key into a new directory, starts
    /// `strongroom serve` on it and waits for `strongroom: KMS listening on http://ADDR`.
    pub fn start(principals: &[PrincipalSpec]) -> Served {
        Served::start_with(principals, "")
    }

    /// As [`Served::start`], with `extra` (TOML tables such as `[limits]`) appended to the
    /// configuration.
    pub fn start_with(principals: &[PrincipalSpec], extra: &str) -> Served {
        Served::start_configured(principals, "", extra)
    }

    /// [`Served::start_with`], with `top` (top-level keys) put before the principals' tables.
    pub fn start_configured(principals: &[PrincipalSpec], top: &str, extra: &str) -> Served {
        Served::start_logged(principals, top, extra, "warn,strongroom::setup=info")
    }

    /// [`Served::start_configured`] with `log_filter` as the server's RUST_LOG.
    pub fn start_logged(
        principals: &[PrincipalSpec],
        top: &str,
        extra: &str,
        log_filter: &str,
    ) -> Served {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-serve-")
            .tempdir()
            .expect("tempdir");
        let root: String = random_bytes(32)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        write_private(
            dir.path().join("root.key"),
            format!("strongroom-root-key-v1:{root}\n"),
        );
        write_private(
            dir.path().join("strongroom.toml"),
            format!("{top}{}\n{extra}", render_config(principals)),
        );
        Served::spawn_in(dir, log_filter)
    }

    /// Another node of this one's cluster: a directory with the same configuration and root
    /// key (the configuration must name a shared `[store]`), started with `log_filter`.
    pub fn another_node(&self, log_filter: &str) -> Served {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-serve-")
            .tempdir()
            .expect("tempdir");
        for f in ["root.key", "strongroom.toml"] {
            let text = std::fs::read(self.dir.path().join(f)).expect("read node file");
            write_private(dir.path().join(f), text);
        }
        Served::spawn_in(dir, log_filter)
    }

    /// Starts `strongroom serve` on the configuration in `dir` and waits for `strongroom: KMS
    /// listening on http://ADDR`.
    pub fn spawn_in(dir: tempfile::TempDir, log_filter: &str) -> Served {
        Served::spawn_in_env(dir, log_filter, Vec::new())
    }

    /// [`Served::spawn_in`] with `env` set for the server (`SOFTHSM2_CONF`), now and at every
    /// restart.
    pub fn spawn_in_env(
        dir: tempfile::TempDir,
        log_filter: &str,
        env: Vec<(String, String)>,
    ) -> Served {
        Served::spawn_logging(dir, log_filter, env, LogLines::default())
    }

    fn spawn_logging(
        dir: tempfile::TempDir,
        log_filter: &str,
        env: Vec<(String, String)>,
        log: LogLines,
    ) -> Served {
        let from = log.len();
        let serve = Serve::start(
            Path::new(bin()),
            &dir.path().join("strongroom.toml"),
            log_filter,
            &env,
            &log,
        );
        Served {
            pid: serve.process.pid(),
            endpoint: serve.endpoint.clone(),
            process: Some(serve),
            dir,
            log,
            log_cursor: std::sync::Mutex::new(from),
            env,
        }
    }

    /// Stops the server as an operator would (SIGTERM, waiting up to 10 s for it to exit) and
    /// starts it again on the same directory and configuration, logging at `log_filter`.
    pub fn restart(mut self, log_filter: &str) -> Served {
        if let Some(p) = self.process.take() {
            let status = p.process.terminate(Duration::from_secs(10));
            assert!(status.success(), "strongroom serve stopped with {status}");
        }
        Served::spawn_logging(self.dir, log_filter, self.env, self.log)
    }

    /// `kill -9` the server: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(p) = self.process.take() {
            p.process.kill();
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        strip_scheme(&self.endpoint).to_string()
    }

    /// The configuration file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("strongroom.toml")
    }

    /// An SDK client signing as `p`.
    pub async fn client(&self, p: &PrincipalSpec) -> Client {
        let exports = Exports {
            endpoint: self.endpoint.clone(),
            addr: self.addr(),
            access_key_id: p.access_key_id.clone(),
            secret_access_key: p.secret.clone(),
            region: "us-east-1".to_string(),
            node_endpoints: vec![self.endpoint.clone()],
            metrics_url: None,
            // `serve` keeps an audit trail only with an [audit] section.
            audit_log: PathBuf::new(),
        };
        client_with_token(
            &exports,
            &p.access_key_id,
            &p.secret,
            p.session_token.clone(),
        )
        .await
    }

    /// Replaces the configuration file's principals (atomically: write, then rename).
    pub fn rewrite_config(&self, principals: &[PrincipalSpec]) {
        let tmp = self.dir.path().join("strongroom.toml.new");
        write_private(&tmp, render_config(principals));
        std::fs::rename(&tmp, self.config_path()).expect("replace config");
    }

    /// Writes `text` as the configuration file, as is.
    pub fn write_raw_config(&self, text: &str) {
        let tmp = self.dir.path().join("strongroom.toml.new");
        write_private(&tmp, text);
        std::fs::rename(&tmp, self.config_path()).expect("replace config");
    }

    /// Sends SIGHUP (reload the principals).
    pub fn sighup(&self) {
        self.process
            .as_ref()
            .expect("a running server")
            .process
            .signal(Signal::Hup);
    }

    /// Waits (at most `timeout`) for a line of the server's log containing `needle`, skipping the
    /// lines before it (and those an earlier wait passed); returns the line.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let mut cursor = self.log_cursor.lock().expect("log cursor");
        let (i, line) =
            self.log
                .wait_for_at(*cursor, timeout, &format!("containing {needle:?}"), |l| {
                    l.contains(needle)
                });
        *cursor = i + 1;
        line
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| p.process.try_wait().is_none())
    }
}

/// `c` with a deadline for each whole operation: a request without an answer by then fails with
/// the SDK's TimeoutError (how the soak and fault tests tell a hang).
pub fn with_operation_timeout(c: &Client, timeout: Duration) -> Client {
    let conf = c
        .config()
        .to_builder()
        .timeout_config(
            aws_sdk_kms::config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// Calls `probe` until it returns true, at most for `timeout` (a short pause between tries);
/// panics with `what` otherwise.
pub async fn poll_until<F, Fut>(what: &str, timeout: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if probe().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The external key store (XKS) proxy `strongroom dev` starts beside the KMS.

/// The `STRONGROOM_XKS_*` lines `strongroom dev` prints after `AWS_REGION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksExports {
    /// `https://localhost:PORT`.
    pub endpoint: String,
    /// `XksProxyUriPath`, e.g. `/dev/kms/xks/v1`.
    pub uri_path: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The external key to use.
    pub key_id: String,
    /// The CA certificate (PEM) to trust.
    pub ca_file: PathBuf,
    /// Every `STRONGROOM_XKS_*` variable read up to the last required one, by name (values
    /// unquoted).
    pub all: std::collections::BTreeMap<String, String>,
}

/// The variables [`XksExports`] requires.
pub const XKS_EXPORT_NAMES: [&str; 6] = [
    "STRONGROOM_XKS_URI_ENDPOINT",
    "STRONGROOM_XKS_URI_PATH",
    "STRONGROOM_XKS_ACCESS_KEY_ID",
    "STRONGROOM_XKS_SECRET_ACCESS_KEY",
    "STRONGROOM_XKS_KEY_ID",
    "STRONGROOM_XKS_CA_FILE",
];

impl Kms {
    /// The `STRONGROOM_XKS_*` lines of the running process (they follow the AWS lines), waiting
    /// up to 60 s for them.
    pub fn xks_exports(&mut self) -> XksExports {
        let dev = self.process.as_ref().expect("a running strongroom");
        let all = dev.wait_for_exports(
            "STRONGROOM_XKS_",
            &XKS_EXPORT_NAMES,
            Duration::from_secs(60),
        );
        let get = |k: &str| all[k].clone();
        XksExports {
            endpoint: get("STRONGROOM_XKS_URI_ENDPOINT"),
            uri_path: get("STRONGROOM_XKS_URI_PATH"),
            access_key_id: get("STRONGROOM_XKS_ACCESS_KEY_ID"),
            secret_access_key: get("STRONGROOM_XKS_SECRET_ACCESS_KEY"),
            key_id: get("STRONGROOM_XKS_KEY_ID"),
            ca_file: PathBuf::from(get("STRONGROOM_XKS_CA_FILE")),
            all,
        }
    }
}
