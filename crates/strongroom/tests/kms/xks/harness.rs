//! The world of the external key store tests: a test PKI, a real `strongroom xks-proxy serve`
//! process (software keystore or SoftHSMv2 token) administered with `strongroom xks-proxy keys
//! ...`, a real `strongroom serve` process whose `[xks]` section trusts only the test CA, and
//! helpers over the custom key store API of `aws-sdk-kms`. PKI, processes and tokens come from
//! the test-support crate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::create_custom_key_store::{
    CreateCustomKeyStoreError, CreateCustomKeyStoreOutput,
};
use aws_sdk_kms::operation::create_key::{CreateKeyError, CreateKeyOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    CustomKeyStoreType, CustomKeyStoresListEntry, OriginType, XksProxyAuthenticationCredentialType,
    XksProxyConnectivityType,
};
use aws_sdk_kms::Client;
use serde_json::json;

use crate::common::{bin, client_for, random_bytes, render_config, Exports, PrincipalSpec};
pub use crate::common::{log_field, LogLines};
pub use test_support::pki::{Ca, Identity};
pub use test_support::process::Signal;
use test_support::process::{Serve, XksProxy as XksProxyProcess};
pub use test_support::softhsm::SoftHsm;
use test_support::{write_private, write_private_atomically};

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------------------------
// The messages of the XKS Proxy API specification's KMS table (docs/research/xks-kms-behaviour.md).

pub const MSG_NOT_CONNECTED: &str = "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.";
pub const MSG_NOT_ENABLED: &str = "The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request.";
pub const MSG_DENIED: &str = "The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again.";
pub const MSG_AUTH: &str = "The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary.";
pub const MSG_URI_PATH: &str = "The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary.";
pub const MSG_UNREACHABLE: &str = "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore.";
pub const MSG_TLS: &str = "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate.";
pub const MSG_TIMEOUT: &str = "AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.";
pub const MSG_CANNOT_INTERPRET: &str = "AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator.";
pub const MSG_PROXY_THROTTLED: &str = "The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store.";
pub const MSG_DEPENDENCY_TIMEOUT: &str = "The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.";
pub const MSG_INTERNAL: &str = "The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available.";
pub const MSG_INVALID_CIPHERTEXT: &str = "The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid.";
pub const MSG_INNER_REJECTED: &str = "The ciphertext that the external key store proxy submitted for decryption, or the encryption context, is corrupted, missing, or otherwise invalid.";
pub const MSG_KEY_NOT_FOUND: &str = "The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID.";
pub const MSG_KEY_USAGE: &str = "The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again.";
pub const MSG_UNSUPPORTED: &str = "The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator.";

// ---------------------------------------------------------------------------------------------
// SigV4 credentials between KMS and proxy

/// An XKS proxy credential set in the formats KMS accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    pub access_key_id: String,
    pub secret: String,
}

impl Cred {
    /// 26 characters of `A-Z2-7`, 43 characters of Base64.
    pub fn random() -> Cred {
        use base64::Engine;
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let access_key_id = random_bytes(26)
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect();
        let mut secret = base64::engine::general_purpose::STANDARD.encode(random_bytes(32));
        secret.truncate(43);
        Cred {
            access_key_id,
            secret,
        }
    }

    pub fn sdk(&self) -> XksProxyAuthenticationCredentialType {
        XksProxyAuthenticationCredentialType::builder()
            .access_key_id(&self.access_key_id)
            .raw_secret_access_key(&self.secret)
            .build()
            .expect("credential")
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn path_str(p: &Path) -> String {
    toml_str(p.to_str().expect("UTF-8 path"))
}

/// The label of the one token of a proxy's SoftHSM (user PIN `1234`).
pub const SOFTHSM_LABEL: &str = "strongroom";

/// A SoftHSMv2 token directory with the token [`SOFTHSM_LABEL`]; fails (never skips) when
/// SoftHSMv2 is not installed.
pub fn softhsm() -> SoftHsm {
    SoftHsm::new(&[(SOFTHSM_LABEL, "1234")])
}

// ---------------------------------------------------------------------------------------------
// The proxy process

/// Where the proxy's keys live.
pub enum Backend {
    Software,
    SoftHsm(SoftHsm),
}

/// A `strongroom xks-proxy serve --config FILE` process and its files.
pub struct Proxy {
    process: Option<XksProxyProcess>,
    pub dir: tempfile::TempDir,
    /// Tenant prefixes; the first is the one the helpers use by default.
    pub prefixes: Vec<String>,
    /// The credential sets in the tenants' credentials file.
    pub creds: Vec<Cred>,
    /// The certificate it serves.
    pub leaf: Identity,
    /// TOML appended to every tenant (e.g. `[[tenants.authorization]]` rules).
    pub tenant_extra: String,
    pub backend: Backend,
    /// 0 until the first start.
    pub port: u16,
    pub log: LogLines,
}

impl Proxy {
    /// Writes the files of a proxy with one tenant per prefix and one credential set; does not
    /// start it (create keys first, so the running proxy needs no reload).
    pub fn new(pki: &Ca, prefixes: &[&str], backend: Backend) -> Proxy {
        if matches!(backend, Backend::SoftHsm(_)) {
            assert_eq!(prefixes.len(), 1, "one tenant per SoftHSM token");
        }
        let dir = tempfile::Builder::new()
            .prefix("strongroom-xksp-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("tls")).expect("mkdir tls");
        let kek: String = random_bytes(32)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        write_private(dir.path().join("kek"), kek);
        let proxy = Proxy {
            process: None,
            dir,
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            creds: vec![Cred::random()],
            leaf: pki.localhost(),
            tenant_extra: String::new(),
            backend,
            port: 0,
            log: LogLines::default(),
        };
        proxy.write_files();
        proxy
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("xks-proxy.toml")
    }

    fn write_files(&self) {
        let d = self.dir.path();
        self.leaf
            .replace(d.join("tls/cert.pem"), d.join("tls/key.pem"));
        let mut creds = String::new();
        for c in &self.creds {
            creds.push_str(&format!(
                "[[credentials]]\naccess_key_id = {}\nsecret_access_key = {}\n\n",
                toml_str(&c.access_key_id),
                toml_str(&c.secret)
            ));
        }
        write_private_atomically(d.join("credentials.toml"), &creds);
        let mut cfg = format!(
            "listen = \"127.0.0.1:{}\"\nregion = \"{REGION}\"\n\n[tls]\ncert_file = \"tls/cert.pem\"\nkey_file = \"tls/key.pem\"\n",
            self.port
        );
        for (i, prefix) in self.prefixes.iter().enumerate() {
            cfg.push_str(&format!(
                "\n[[tenants]]\nprefix = {}\ncredentials_file = \"credentials.toml\"\n",
                toml_str(prefix)
            ));
            match &self.backend {
                Backend::Software => cfg.push_str(&format!(
                    "[tenants.backend]\ntype = \"software\"\npath = \"tenant-{i}.keystore\"\nkek_file = \"kek\"\n"
                )),
                Backend::SoftHsm(hsm) => cfg.push_str(&format!(
                    "[tenants.backend]\ntype = \"pkcs11\"\nmodule = {}\ntoken_label = {}\npin_file = {}\npool_size = 4\n",
                    path_str(hsm.module()),
                    toml_str(SOFTHSM_LABEL),
                    path_str(&hsm.pin_file(SOFTHSM_LABEL))
                )),
            }
            cfg.push_str(&self.tenant_extra);
            cfg.push('\n');
        }
        write_private_atomically(self.config_path(), &cfg);
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.env("NO_COLOR", "1");
        cmd.envs(self.env());
        cmd
    }

    /// What the proxy's processes need in their environment: `SOFTHSM2_CONF` with SoftHSM.
    fn env(&self) -> Vec<(String, String)> {
        match &self.backend {
            Backend::SoftHsm(hsm) => vec![hsm.env()],
            Backend::Software => Vec::new(),
        }
    }

    /// `XksProxyUriPath` of the first tenant.
    pub fn uri_path(&self) -> String {
        self.uri_path_of(0)
    }

    pub fn uri_path_of(&self, tenant: usize) -> String {
        match self.prefixes[tenant].as_str() {
            "" => "/kms/xks/v1".to_string(),
            p => format!("/{p}/kms/xks/v1"),
        }
    }

    /// `https://localhost:PORT`.
    pub fn endpoint(&self) -> String {
        assert_ne!(self.port, 0, "the proxy was never started");
        format!("https://localhost:{}", self.port)
    }

    pub fn cred(&self) -> Cred {
        self.creds[0].clone()
    }

    /// Starts the proxy (again, on the same port after the first start) with the current files
    /// and waits for its `XKS proxy listening` line.
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "the proxy is running");
        self.write_files();
        let proc = XksProxyProcess::start(
            Path::new(bin()),
            &self.config_path(),
            "info",
            &self.env(),
            &self.log,
        );
        if self.port == 0 {
            self.port = proc.port;
            // Later starts listen on the same port: the stores keep their endpoint.
            self.write_files();
        } else {
            assert_eq!(proc.port, self.port, "the proxy came back on its port");
        }
        self.process = Some(proc);
    }

    /// The `connection_threads` the proxy reported when it last started listening.
    pub fn connection_threads(&self) -> usize {
        let line = &self.process.as_ref().expect("a running proxy").listening;
        log_field(line, "connection_threads")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no connection_threads in {line:?}"))
    }

    /// SIGKILLs the proxy and waits for it.
    pub fn kill(&mut self) {
        if let Some(p) = self.process.take() {
            p.process.kill();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the running proxy.
    pub fn signal(&self, signal: Signal) {
        let p = self.process.as_ref().expect("a running proxy");
        p.process.signal(signal);
    }

    /// Kill and start again with the current settings, on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// Sends SIGHUP and waits for `reload complete`.
    pub fn reload(&mut self) {
        self.write_files();
        let from = self.log.len();
        self.signal(Signal::Hup);
        self.log
            .wait_for(from, Duration::from_secs(10), "reload complete", |l| {
                l.contains("reload complete") || l.contains("reload failed")
            });
        let last = self.log.lines()[from..]
            .iter()
            .rev()
            .find(|l| l.contains("reload"))
            .cloned()
            .unwrap_or_default();
        assert!(!last.contains("reload failed"), "{last}");
    }

    /// Replaces the credential sets (file rewritten atomically) and reloads.
    pub fn set_creds(&mut self, creds: Vec<Cred>) {
        self.creds = creds;
        self.reload();
    }

    /// `strongroom xks-proxy keys SUB --config F --prefix P ARGS...` on tenant `tenant`; its stdout.
    pub fn keys_on(&self, tenant: usize, sub: &str, args: &[&str]) -> String {
        let out = self
            .command()
            .args(["xks-proxy", "keys", sub, "--config"])
            .arg(self.config_path())
            .args(["--prefix", &self.uri_path_of(tenant)])
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run strongroom xks-proxy keys");
        assert!(
            out.status.success(),
            "xks-proxy keys {sub} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    pub fn create_key(&self, label: &str) {
        let out = self.keys_on(0, "create", &["--label", label]);
        assert!(out.contains(&format!("created {label}")), "{out}");
    }

    pub fn create_key_with_usage(&self, label: &str, usage: &str) {
        self.keys_on(0, "create", &["--label", label, "--usage", usage]);
    }

    pub fn disable_key(&self, label: &str) {
        self.keys_on(0, "disable", &[label]);
    }

    pub fn enable_key(&self, label: &str) {
        self.keys_on(0, "enable", &[label]);
    }

    /// `keys list`: (id, status) of every key of the first tenant.
    pub fn list_keys(&self) -> Vec<(String, String)> {
        self.keys_on(0, "list", &[])
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("ID "))
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.len() >= 3).then(|| (cols[0].to_string(), cols[2].to_string()))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The KMS process

/// The `[xks]` section of the KMS configuration.
#[derive(Debug, Clone)]
pub struct XksSection {
    pub timeout_ms: u64,
    pub allow_endpoint_port: bool,
    pub requests_per_second: u32,
    /// Period of the KmsHealthCheck of connected stores (long by default: out of the way).
    pub health_check_seconds: u64,
}

impl Default for XksSection {
    fn default() -> Self {
        XksSection {
            timeout_ms: 250,
            allow_endpoint_port: true,
            requests_per_second: 1800,
            health_check_seconds: 3600,
        }
    }
}

/// An identity policy allowing every KMS action.
pub fn allow_all() -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    ]})
    .to_string()
}

/// The administrator every KMS of these tests has.
pub fn admin() -> PrincipalSpec {
    PrincipalSpec::user(ACCOUNT, "xks-admin").policy(allow_all())
}

/// A `strongroom serve --config FILE` process trusting the test CA for proxies.
pub struct KmsServer {
    process: Option<Serve>,
    pub dir: tempfile::TempDir,
    pub principals: Vec<PrincipalSpec>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// `http://127.0.0.1:PORT/metrics` of its admin listener.
    pub metrics_url: String,
    /// A client of the first principal.
    pub client: Client,
    pub log: LogLines,
}

impl KmsServer {
    /// The administrator only, default `[xks]` (250 ms, ports allowed).
    pub async fn start(pki: &Ca) -> KmsServer {
        KmsServer::start_with(pki, XksSection::default(), vec![admin()]).await
    }

    pub async fn start_with(
        pki: &Ca,
        xks: XksSection,
        principals: Vec<PrincipalSpec>,
    ) -> KmsServer {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-xkskms-")
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
        let ca = dir.path().join("proxy-ca.pem");
        pki.write_pem(&ca);
        let config = format!(
            "{}\n[admin]\nlisten = \"127.0.0.1:0\"\n[xks]\ntimeout_ms = {}\nallow_endpoint_port = {}\nca_bundle_file = {}\nsystem_roots = false\nrequests_per_second = {}\nhealth_check_seconds = {}\n",
            render_config(&principals),
            xks.timeout_ms,
            xks.allow_endpoint_port,
            path_str(&ca),
            xks.requests_per_second,
            xks.health_check_seconds
        );
        write_private(dir.path().join("strongroom.toml"), config);
        let log = LogLines::default();
        let process = spawn_kms(dir.path(), &log);
        let endpoint = process.endpoint.clone();
        let metrics_url = process.metrics_url.clone().unwrap_or_default();
        let client = kms_client(&endpoint, &principals[0]).await;
        KmsServer {
            process: Some(process),
            dir,
            principals,
            endpoint,
            metrics_url,
            client,
            log,
        }
    }

    /// A client signing as `p`.
    pub async fn client_for(&self, p: &PrincipalSpec) -> Client {
        kms_client(&self.endpoint, p).await
    }

    /// SIGKILL the KMS and start it again on the same configuration and data; clients are
    /// rebuilt for the new port.
    pub async fn restart(&mut self) {
        if let Some(p) = self.process.take() {
            p.process.kill();
        }
        let process = spawn_kms(self.dir.path(), &self.log);
        self.endpoint = process.endpoint.clone();
        self.metrics_url = process.metrics_url.clone().unwrap_or_default();
        self.process = Some(process);
        self.client = kms_client(&self.endpoint, &self.principals[0]).await;
    }
}

fn spawn_kms(dir: &Path, log: &LogLines) -> Serve {
    Serve::start(
        Path::new(bin()),
        &dir.join("strongroom.toml"),
        "warn,kms=info",
        &[],
        log,
    )
}

async fn kms_client(endpoint: &str, p: &PrincipalSpec) -> Client {
    let exports = Exports {
        endpoint: endpoint.to_string(),
        addr: endpoint
            .strip_prefix("http://")
            .unwrap_or(endpoint)
            .to_string(),
        access_key_id: p.access_key_id.clone(),
        secret_access_key: p.secret.clone(),
        region: REGION.to_string(),
        node_endpoints: vec![endpoint.to_string()],
        metrics_url: None,
        audit_log: PathBuf::new(),
    };
    client_for(&exports, &p.access_key_id, &p.secret).await
}

// ---------------------------------------------------------------------------------------------
// Custom key store and key helpers

pub type CreateStoreResult =
    Result<CreateCustomKeyStoreOutput, SdkError<CreateCustomKeyStoreError>>;

/// CreateCustomKeyStore, PUBLIC_ENDPOINT.
pub async fn create_store(
    client: &Client,
    name: &str,
    endpoint: &str,
    path: &str,
    cred: &Cred,
) -> CreateStoreResult {
    client
        .create_custom_key_store()
        .custom_key_store_name(name)
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
        .xks_proxy_uri_endpoint(endpoint)
        .xks_proxy_uri_path(path)
        .xks_proxy_authentication_credential(cred.sdk())
        .send()
        .await
}

/// A store over the first tenant of `proxy`, created and returned by id (DISCONNECTED).
pub async fn store_for(client: &Client, name: &str, proxy: &Proxy) -> String {
    create_store(
        client,
        name,
        &proxy.endpoint(),
        &proxy.uri_path(),
        &proxy.cred(),
    )
    .await
    .expect("CreateCustomKeyStore")
    .custom_key_store_id()
    .expect("CustomKeyStoreId")
    .to_string()
}

/// A store over the first tenant of `proxy`, connected.
pub async fn connected_store(client: &Client, name: &str, proxy: &Proxy) -> String {
    let id = store_for(client, name, proxy).await;
    connect(client, &id).await;
    assert_eq!(state(client, &id).await, ("CONNECTED".to_string(), None));
    id
}

pub async fn describe_store(client: &Client, id: &str) -> CustomKeyStoresListEntry {
    let out = client
        .describe_custom_key_stores()
        .custom_key_store_id(id)
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    let stores = out.custom_key_stores();
    assert_eq!(stores.len(), 1, "{stores:?}");
    stores[0].clone()
}

/// (ConnectionState, ConnectionErrorCode).
pub async fn state(client: &Client, id: &str) -> (String, Option<String>) {
    let e = describe_store(client, id).await;
    (
        e.connection_state()
            .expect("ConnectionState")
            .as_str()
            .to_string(),
        e.connection_error_code().map(|c| c.as_str().to_string()),
    )
}

pub async fn connect(client: &Client, id: &str) {
    client
        .connect_custom_key_store()
        .custom_key_store_id(id)
        .send()
        .await
        .expect("ConnectCustomKeyStore");
}

pub async fn disconnect(client: &Client, id: &str) {
    client
        .disconnect_custom_key_store()
        .custom_key_store_id(id)
        .send()
        .await
        .expect("DisconnectCustomKeyStore");
    assert_eq!(state(client, id).await, ("DISCONNECTED".to_string(), None));
}

/// Disconnect (if needed) and Connect; the resulting (state, code).
pub async fn reconnect(client: &Client, id: &str) -> (String, Option<String>) {
    if state(client, id).await.0 != "DISCONNECTED" {
        disconnect(client, id).await;
    }
    connect(client, id).await;
    state(client, id).await
}

pub async fn try_xks_key(
    client: &Client,
    store: &str,
    xks_key: &str,
) -> Result<CreateKeyOutput, SdkError<CreateKeyError>> {
    client
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(store)
        .xks_key_id(xks_key)
        .send()
        .await
}

/// CreateKey in `store` over the external key `xks_key`; the KMS key id.
pub async fn xks_key(client: &Client, store: &str, xks_key: &str) -> String {
    try_xks_key(client, store, xks_key)
        .await
        .expect("CreateKey EXTERNAL_KEY_STORE")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string()
}

pub async fn encrypt(client: &Client, key: &str, plaintext: &[u8]) -> Vec<u8> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec()
}

pub async fn decrypt(client: &Client, ciphertext: &[u8]) -> Vec<u8> {
    client
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext))
        .send()
        .await
        .expect("Decrypt")
        .plaintext()
        .expect("Plaintext")
        .as_ref()
        .to_vec()
}

/// `KeyState` as text.
pub async fn key_state(client: &Client, key: &str) -> String {
    client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.key_state())
        .expect("KeyState")
        .as_str()
        .to_string()
}

/// A port nothing listens on (bound and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Calls `probe` until it returns `Some`, at most `timeout` (25 ms between tries).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether `line` is a request log line of the proxy with `kms_operation=op`.
pub fn is_request_for(line: &str, op: &str) -> bool {
    line.contains("xks request") && log_field(line, "kms_operation").as_deref() == Some(op)
}
