//! The harness: a real `strongroom dev` process per test, an `aws-sdk-kms` client for it, and a
//! tiny HTTP/1.1 client (signed with the independent `aws-sigv4` crate, or not at all) for the
//! requests the SDK will not send.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;

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

/// A running `strongroom` process, SIGKILLed on drop.
struct Process {
    child: Child,
    // Kept open so the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
) -> (Process, Exports) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strongroom"));
    if let Some(c) = cluster {
        cmd.arg("dev")
            .arg("--postgres")
            .arg(&c.url)
            .arg("--postgres-schema")
            .arg(&c.schema)
            .arg("--nodes")
            .arg(c.nodes.to_string());
        if c.strict {
            cmd.arg("--strict-consistency");
        }
    } else {
        cmd.arg("dev");
    }
    let mut child = cmd
        .arg("--port")
        .arg("0")
        .arg("--data-dir")
        .arg(data_dir)
        // Tests move the KMS's clock by writing this file (Kms::advance_clock), and its jobs
        // run often so that what they do shows quickly.
        .arg("--clock-offset-file")
        .arg(data_dir.join(CLOCK_OFFSET_FILE))
        .arg("--job-interval-ms")
        .arg("100")
        .env("RUST_LOG", log_filter)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strongroom");
    let pid = child.id();
    log.follow(
        child.stderr.take().expect("stderr is piped"),
        format!("strongroom {pid}"),
    );
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut vars = std::collections::HashMap::new();
    // Readiness: the exports are printed once the listener is bound; AWS_REGION comes last.
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read strongroom stdout");
        if n == 0 {
            let status = child.wait().expect("wait for strongroom");
            panic!("strongroom exited before printing its exports: {status}");
        }
        if let Some(rest) = line.trim().strip_prefix("export ") {
            if let Some((k, v)) = rest.split_once('=') {
                vars.insert(k.to_string(), v.to_string());
                if k == "AWS_REGION" {
                    break;
                }
            }
        }
    }
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("strongroom did not print {k}"))
    };
    let endpoint = get("AWS_ENDPOINT_URL");
    let addr = endpoint
        .strip_prefix("http://")
        .expect("endpoint is http://")
        .to_string();
    let node_endpoints = vars
        .get("STRONGROOM_NODE_ENDPOINTS")
        .map(|v| v.split(',').map(String::from).collect())
        .unwrap_or_else(|| vec![endpoint.clone()]);
    let exports = Exports {
        endpoint,
        addr,
        access_key_id: get("AWS_ACCESS_KEY_ID"),
        secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
        region: get("AWS_REGION"),
        node_endpoints,
        metrics_url: vars.get("STRONGROOM_METRICS_URL").cloned(),
        audit_log: PathBuf::from(get("STRONGROOM_AUDIT_LOG")),
    };
    assert_eq!(get("AWS_DEFAULT_REGION"), exports.region);
    (
        Process {
            child,
            _stdout: stdout,
        },
        exports,
    )
}

/// Lines of a process's stderr (across restarts), ANSI colours removed.
#[derive(Clone, Default)]
pub struct LogLines {
    inner: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl LogLines {
    /// Reads `stream` line by line on a thread of its own, echoing each line (tagged) to the
    /// test's output.
    pub fn follow(&self, stream: impl std::io::Read + Send + 'static, tag: String) {
        let me = self.clone();
        let ansi = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let line = ansi.replace_all(&line, "").into_owned();
                eprintln!("[{tag}] {line}");
                let (lines, cv) = &*me.inner;
                lines.lock().expect("log lock").push(line);
                cv.notify_all();
            }
        });
    }

    /// How many lines were read so far.
    pub fn len(&self) -> usize {
        self.inner.0.lock().expect("log lock").len()
    }

    /// All lines read so far.
    pub fn lines(&self) -> Vec<String> {
        self.inner.0.lock().expect("log lock").clone()
    }

    /// Waits (at most `timeout`) for a line from index `from` on satisfying `pred`.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let (lines, cv) = &*self.inner;
        let mut guard = lines.lock().expect("log lock");
        loop {
            if let Some(l) = guard.iter().skip(from).find(|l| pred(l)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no log line {what} within {timeout:?}; lines: {:#?}",
                &guard[from.min(guard.len())..]
            );
            guard = cv.wait_timeout(guard, left).expect("log lock").0;
        }
    }
}

/// The value of `name=...` in a log line (quoted or bare).
pub fn log_field(line: &str, name: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r#"(?:^|\s){name}=(?:"([^"]*)"|(\S+))"#)).expect("regex");
    re.captures(line)
        .and_then(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().to_string())
}

/// `HOST:PORT` of `http://HOST:PORT` or `https://HOST:PORT`.
pub fn strip_scheme(endpoint: &str) -> &str {
    endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint)
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
    process: Option<Process>,
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
        if let Some(mut p) = self.process.take() {
            p.child.kill().expect("SIGKILL strongroom");
            let status = p.child.wait().expect("wait for strongroom");
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
        let s = self.signer();
        let headers = s.sign(&self.exports.addr, target, body);
        raw_request(&self.exports.addr, &headers, body)
    }

    /// Signing parameters for this server's credentials, now.
    pub fn signer(&self) -> Signer {
        Signer {
            access_key_id: self.exports.access_key_id.clone(),
            secret: self.exports.secret_access_key.clone(),
            region: self.exports.region.clone(),
            time: SystemTime::now(),
        }
    }

    /// Sends exactly these headers (plus Host, Content-Length and Connection) and body.
    pub fn raw(&self, headers: &[(String, String)], body: &[u8]) -> RawResponse {
        raw_request(&self.exports.addr, headers, body)
    }
}

/// Who signs a raw request, for which region, at what time.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    pub time: SystemTime,
}

impl Signer {
    /// The headers of a request to `target` signed over `host`, `content-type` and
    /// `x-amz-target`, as the SDK signs them: theirs plus `authorization` and `x-amz-date`.
    pub fn sign(&self, host: &str, target: &str, body: &[u8]) -> Vec<(String, String)> {
        self.sign_headers(host, json_headers(target), body, None)
    }

    /// `headers` signed (with `host`, `x-amz-date` and, given a session token,
    /// `x-amz-security-token`), followed by the headers the signature adds.
    pub fn sign_headers(
        &self,
        host: &str,
        mut headers: Vec<(String, String)>,
        body: &[u8],
        session_token: Option<&str>,
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;
        let identity = Credentials::new(
            self.access_key_id.clone(),
            self.secret.clone(),
            session_token.map(String::from),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(self.time)
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let uri = format!("http://{host}/");
        let signable = SignableRequest::new(
            "POST",
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .expect("signable request");
        let (instructions, _signature) = sign(signable, &params).expect("sign").into_parts();
        let (signed, _params) = instructions.into_parts();
        for h in signed {
            headers.push((h.name().to_string(), h.value().to_string()));
        }
        headers
    }
}

/// `Content-Type` and `X-Amz-Target` of an AWS JSON 1.1 request to `target`.
pub fn json_headers(target: &str) -> Vec<(String, String)> {
    vec![
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), target.to_string()),
    ]
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `__type` of an error body.
    pub fn error_type(&self) -> String {
        self.json()["__type"]
            .as_str()
            .unwrap_or_else(|| panic!("no __type in {:?}", String::from_utf8_lossy(&self.body)))
            .to_string()
    }

    /// `message` of an error body (AWS leaves it out for some errors: then empty).
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts this is an AWS JSON error response of the given status and type, returns its message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, error_type: &str) -> String {
        assert_eq!(
            (self.status, self.error_type().as_str()),
            (status, error_type),
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        let obj = v.as_object().expect("error body is a JSON object");
        assert!(
            obj.keys().all(|k| k == "__type" || k == "message"),
            "error body has only __type and message: {v}"
        );
        assert!(
            self.header("x-amzn-RequestId")
                .is_some_and(|v| !v.is_empty()),
            "x-amzn-RequestId on every response: {:?}",
            self.headers
        );
        self.message()
    }
}

/// One HTTP/1.1 POST / over a fresh connection (closed after the response).
pub fn raw_request(addr: &str, headers: &[(String, String)], body: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to strongroom");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut req = format!("POST / HTTP/1.1\r\nhost: {addr}\r\n");
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("host") {
            continue;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).expect("send request");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read response");
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = std::str::from_utf8(&buf[..end]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&data[..eol]).expect("chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("hex chunk size");
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
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
    process: Option<Process>,
    dir: tempfile::TempDir,
    log: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
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
        let config_path = dir.path().join("strongroom.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", log_filter)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start strongroom serve");
        let pid = child.id();
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[strongroom {pid}] {line}");
                // When the test is gone, keep draining so the server never blocks on stderr.
                let _ = tx.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let endpoint = loop {
            let mut line = String::new();
            let n = stdout.read_line(&mut line).expect("read strongroom stdout");
            if n == 0 {
                let status = child.wait().expect("wait for strongroom");
                panic!("strongroom serve exited before it listened: {status}");
            }
            if let Some(addr) = line.trim().strip_prefix("strongroom: KMS listening on ") {
                break addr.to_string();
            }
        };
        Served {
            process: Some(Process {
                child,
                _stdout: stdout,
            }),
            dir,
            log: std::sync::Mutex::new(rx),
            pid,
            endpoint,
            env,
        }
    }

    /// Stops the server as an operator would (SIGTERM, waiting up to 10 s for it to exit) and
    /// starts it again on the same directory and configuration, logging at `log_filter`.
    pub fn restart(mut self, log_filter: &str) -> Served {
        if let Some(mut p) = self.process.take() {
            let status = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -TERM {}: {status}", self.pid);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = p.child.try_wait().expect("try_wait") {
                    assert!(status.success(), "strongroom serve stopped with {status}");
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "strongroom serve still running 10 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Served::spawn_in_env(self.dir, log_filter, self.env)
    }

    /// `kill -9` the server: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.child.kill().expect("SIGKILL strongroom");
            let _ = p.child.wait();
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
        let status = Command::new("kill")
            .args(["-HUP", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP {}: {status}", self.pid);
    }

    /// Waits (at most `timeout`) for a line of the server's log containing `needle`, skipping the
    /// lines before it; returns the line.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        let rx = self.log.lock().expect("log receiver");
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line containing {needle:?} within {timeout:?}: {e}"),
            }
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| p.child.try_wait().expect("try_wait").is_none())
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

/// A shell word as `strongroom dev` prints it: bare, or single-quoted.
fn unquote_shell(v: &str) -> String {
    match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace(r"'\''", "'"),
        None => v.to_string(),
    }
}

impl Kms {
    /// Reads the `STRONGROOM_XKS_*` lines of the running process (they follow the AWS lines the
    /// harness stopped at). Call once per process start: the lines are consumed. Gives up (kills
    /// the server) after 60 s without them.
    pub fn xks_exports(&mut self) -> XksExports {
        let process = self.process.as_mut().expect("a running strongroom");
        let pid = process.child.id();
        let (done, watchdog) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                watchdog.recv_timeout(Duration::from_secs(60))
            {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        });
        let mut all = std::collections::BTreeMap::new();
        while !XKS_EXPORT_NAMES.iter().all(|k| all.contains_key(*k)) {
            let mut line = String::new();
            let n = process
                ._stdout
                .read_line(&mut line)
                .expect("read strongroom stdout");
            assert!(
                n > 0,
                "strongroom stopped before printing the STRONGROOM_XKS_* lines; got {all:?}"
            );
            let export = line.trim().strip_prefix("export ");
            if let Some((k, v)) = export.and_then(|r| r.split_once('=')) {
                if k.starts_with("STRONGROOM_XKS_") {
                    all.insert(k.to_string(), unquote_shell(v));
                }
            }
        }
        let _ = done.send(());
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

/// Writes a file only its owner may read: Strongroom refuses secret files (configurations,
/// keys, credentials, PINs) open to others.
pub fn write_private(path: impl AsRef<std::path::Path>, contents: impl AsRef<[u8]>) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = path.as_ref();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(contents.as_ref())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
