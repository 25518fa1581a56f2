//! Test harness: a proxy started in-process on 127.0.0.1:0 from a configuration file, with the
//! workspace's test-support crate for the rest: a test PKI (rcgen), an HTTPS client (hyper over
//! rustls) and an independent SigV4 signer (the `aws-sigv4` crate, not Strongroom's verifier).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use test_support::http::{Connection, Tls, TlsOptions};
use test_support::pki::{Ca, KeyKind};

use xks_proxy::backend::software::{SoftwareBackend, SoftwareConfig};
use xks_proxy::backend::KeyBackend;
use xks_proxy::clock::ManualClock;
use xks_proxy::{Config, RunningProxy, ServeOptions};

// Not every test binary uses every name.
#[allow(unused_imports)]
pub use test_support::http::Response as Resp;
pub use test_support::pki::Identity as ClientIdentity;
#[allow(unused_imports)]
pub use test_support::sigv4::{Service, Signer};
pub use test_support::write_private;

pub const REGION: &str = "us-east-1";
pub const AKID_1: &str = "AKIDAAAAAAAAAAAAAAAAAAA2";
pub const SECRET_1: &str = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6";
pub const AKID_2: &str = "AKIDBBBBBBBBBBBBBBBBBBB3";
pub const SECRET_2: &str = "c2Vjb25kc2Vjb25kc2Vjb25kc2Vjb25kc2Vjb25kc2Vj";
pub const AKID_3: &str = "AKIDCCCCCCCCCCCCCCCCCCC4";
pub const SECRET_3: &str = "dGhpcmR0aGlyZHRoaXJkdGhpcmR0aGlyZHRoaXJkdGhp";
pub const KEK_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static LOG: Once = Once::new();

/// Logs to the test's captured output (RUST_LOG to change the level).
pub fn init_logging() {
    LOG.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_test_writer()
            .try_init();
    });
}

// ---------------------------------------------------------------------------------------------
// PKI

/// A test CA and the proxy's `localhost` certificate from it.
pub struct Pki {
    pub ca: Ca,
    pub server: ClientIdentity,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let ca = Ca::new(&format!("{name} test CA"));
        let server = ca.localhost();
        Pki { ca, server }
    }

    /// A `localhost` server certificate with an RSA-2048 key from the same CA: `(cert, key)` PEM.
    pub fn rsa_server(&self) -> (String, String) {
        let id = self
            .ca
            .server_with(&["localhost", "127.0.0.1"], KeyKind::Rsa2048);
        (id.cert_pem, id.key_pem)
    }

    /// A client certificate with common name `cn` and DNS alternative names `sans`.
    pub fn client(&self, cn: &str, sans: &[&str]) -> ClientIdentity {
        self.ca.client(cn, sans)
    }

    pub fn roots(&self) -> rustls::RootCertStore {
        self.ca.roots()
    }
}

// ---------------------------------------------------------------------------------------------
// Proxy setup

#[derive(Clone)]
pub struct KeySpec {
    pub id: &'static str,
    pub usage: &'static [&'static str],
    pub enabled: bool,
}

pub fn key(id: &'static str) -> KeySpec {
    KeySpec {
        id,
        usage: &["ENCRYPT", "DECRYPT"],
        enabled: true,
    }
}

#[derive(Clone)]
pub struct TenantSpec {
    pub prefix: &'static str,
    /// Inline credential sets.
    pub credentials: Vec<(&'static str, &'static str)>,
    /// Credential sets in a credentials file (None: no file).
    pub credentials_file: Option<Vec<(&'static str, &'static str)>>,
    pub quota: Option<(u32, u32)>,
    /// Extra TOML inside this tenant's table (e.g. `[[tenants.authorization]]` entries).
    pub extra: String,
    pub keys: Vec<KeySpec>,
    /// The tenant's `backend = { ... }` inline table instead of a software keystore (whose
    /// `keys` are then not made: the test makes its keys in that backend itself).
    pub backend: Option<String>,
}

impl TenantSpec {
    pub fn new(prefix: &'static str) -> TenantSpec {
        TenantSpec {
            prefix,
            credentials: vec![(AKID_1, SECRET_1)],
            credentials_file: None,
            quota: None,
            extra: String::new(),
            keys: vec![key("key-1")],
            backend: None,
        }
    }

    pub fn uri_path(&self) -> String {
        xks::uri_path_for_prefix(self.prefix)
    }
}

pub struct Setup {
    pub tenants: Vec<TenantSpec>,
    /// mTLS: required client subject.
    pub mtls_subject: Option<&'static str>,
    pub insecure_http: bool,
    pub sighup: bool,
    pub backends: HashMap<String, Arc<dyn KeyBackend>>,
    pub global_extra: String,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            tenants: vec![TenantSpec::new("")],
            mtls_subject: None,
            insecure_http: false,
            sighup: false,
            backends: HashMap::new(),
            global_extra: String::new(),
        }
    }
}

pub struct Harness {
    /// The proxy's clock: tests advance it instead of sleeping.
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub proxy: RunningProxy,
    pub config_path: PathBuf,
    pub tenants: Vec<TenantSpec>,
    pub tls: bool,
}

fn creds_toml(list: &[(&str, &str)], table: &str) -> String {
    list.iter()
        .map(|(a, s)| {
            format!("[[{table}]]\naccess_key_id = \"{a}\"\nsecret_access_key = \"{s}\"\n")
        })
        .collect()
}

pub fn keystore_path(dir: &std::path::Path, t: &TenantSpec) -> PathBuf {
    let name = if t.prefix.is_empty() {
        "root".to_string()
    } else {
        t.prefix.replace('/', "_")
    };
    dir.join(format!("{name}.keystore"))
}

/// Writes the configuration for `setup` into `dir` and returns its path.
pub fn write_config(dir: &std::path::Path, pki: &Pki, setup: &Setup) -> PathBuf {
    pki.ca.write_pem(dir.join("ca.pem"));
    pki.server
        .write(dir.join("server.pem"), dir.join("server.key"));
    write_private(dir.join("kek"), KEK_HEX);
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\nregion = \"{REGION}\"\ninsecure_http = {}\n{}\n",
        setup.insecure_http, setup.global_extra
    );
    text.push_str("[tls]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n");
    if let Some(subject) = setup.mtls_subject {
        text.push_str(&format!(
            "[tls.client_auth]\nca_file = \"ca.pem\"\nsubject = \"{subject}\"\n"
        ));
    }
    for t in &setup.tenants {
        let ks = keystore_path(dir, t);
        let backend = t.backend.clone().unwrap_or_else(|| {
            format!(
                "{{ type = \"software\", path = \"{}\", kek_file = \"kek\" }}",
                ks.file_name().unwrap().to_str().unwrap()
            )
        });
        text.push_str(&format!(
            "\n[[tenants]]\nprefix = \"{}\"\nbackend = {backend}\n",
            t.prefix
        ));
        if let Some((rps, burst)) = t.quota {
            text.push_str(&format!(
                "quota = {{ requests_per_second = {rps}, burst = {burst} }}\n"
            ));
        }
        if let Some(file_creds) = &t.credentials_file {
            let name = format!("{}.credentials", ks.file_stem().unwrap().to_str().unwrap());
            write_private(dir.join(&name), creds_toml(file_creds, "credentials"));
            text.push_str(&format!("credentials_file = \"{name}\"\n"));
        }
        text.push_str(&format!(
            "credentials = [{}]\n",
            t.credentials
                .iter()
                .map(|(a, s)| format!("{{ access_key_id = \"{a}\", secret_access_key = \"{s}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        text.push_str(&t.extra);
        text.push('\n');
        if t.backend.is_some() {
            continue;
        }
        // Keys are made before the proxy starts, straight in the keystore file.
        let b = SoftwareBackend::open(&SoftwareConfig {
            path: ks.clone(),
            kek_file: Some(dir.join("kek")),
            kek_env: None,
        })
        .unwrap();
        for k in &t.keys {
            b.create_key_with_usage(k.id, k.usage).unwrap();
            if !k.enabled {
                b.set_enabled(k.id, false).unwrap();
            }
        }
    }
    let path = dir.join("xks-proxy.toml");
    write_private(&path, text);
    path
}

impl Harness {
    pub async fn start(setup: Setup) -> Harness {
        init_logging();
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new("xks");
        let config_path = write_config(dir.path(), &pki, &setup);
        let config = Config::load(&config_path).unwrap();
        let clock = ManualClock::new();
        let proxy = xks_proxy::start(
            config,
            ServeOptions {
                insecure_http: false,
                reload_on_sighup: setup.sighup,
                backends: setup.backends,
                clock: clock.clock(),
            },
        )
        .await
        .unwrap();
        Harness {
            clock,
            tls: proxy.is_tls(),
            dir,
            pki,
            proxy,
            config_path,
            tenants: setup.tenants,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.proxy.local_addr()
    }

    pub fn host(&self) -> String {
        format!("localhost:{}", self.addr().port())
    }

    /// A client trusting the test CA (no client certificate).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        client_config(&self.pki, None, None)
    }

    pub async fn client(&self) -> Client {
        let tls = self.tls.then(|| self.client_config());
        Client::connect(self.addr(), self.host(), tls)
            .await
            .unwrap()
    }

    /// An API caller for `prefix` signing with the first credential set.
    pub async fn api(&self, prefix: &str) -> Api {
        Api {
            client: self.client().await,
            signer: Signer::xks(AKID_1, SECRET_1),
            base: xks::uri_path_for_prefix(prefix),
        }
    }

    pub fn keystore(&self, prefix: &str) -> SoftwareBackend {
        let t = self
            .tenants
            .iter()
            .find(|t| t.prefix == prefix)
            .expect("tenant");
        SoftwareBackend::open(&SoftwareConfig {
            path: keystore_path(self.dir.path(), t),
            kek_file: Some(self.dir.path().join("kek")),
            kek_env: None,
        })
        .unwrap()
    }
}

/// A rustls client configuration trusting `pki`'s CA, offering `http/1.1`, with `provider` (for
/// tests that want specific versions or suites) if given.
pub fn client_config(
    pki: &Pki,
    identity: Option<&ClientIdentity>,
    provider: Option<Arc<rustls::crypto::CryptoProvider>>,
) -> Arc<rustls::ClientConfig> {
    let options = TlsOptions {
        identity,
        provider,
        ..TlsOptions::default()
    };
    Tls::with_roots(pki.roots(), "localhost", options).config
}

// ---------------------------------------------------------------------------------------------
// HTTP client

/// An HTTP/1.1 connection to the proxy, verifying its certificate as `localhost`.
pub struct Client {
    conn: Connection,
    pub host: String,
}

impl Client {
    pub async fn connect(
        addr: std::net::SocketAddr,
        host: String,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Client, String> {
        let tls = tls.map(|config| Tls {
            config,
            server_name: "localhost".to_string(),
        });
        let conn = Connection::open(&addr.to_string(), &host, tls.as_ref()).await?;
        Ok(Client { conn, host })
    }

    /// Sends exactly `headers` (plus `host`) and `body`.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Result<Resp, String> {
        self.conn.send(method, path, headers, body).await
    }

    pub async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        signer: Option<&Signer>,
    ) -> Result<Resp, String> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(s) = signer {
            headers = s.sign(method, &self.host, path, &headers, &body);
        }
        self.conn.send(method, path, &headers, body).await
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        signer: Option<&Signer>,
    ) -> Resp {
        self.try_request(method, path, body, signer).await.unwrap()
    }
}

/// TLS to the harness's proxy trusting its CA and offering `alpn` only.
pub fn tls_offering(h: &Harness, alpn: &[u8]) -> Tls {
    Tls::with_roots(
        h.pki.roots(),
        "localhost",
        TlsOptions {
            alpn: &[alpn],
            ..TlsOptions::default()
        },
    )
}

/// An HTTP/2 client over TLS (ALPN `h2`), as KMS and curl use when the proxy offers it.
pub struct H2Client {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    pub host: String,
}

impl H2Client {
    /// Connects to the harness's proxy trusting its CA, and insists on `h2`.
    pub async fn connect(h: &Harness) -> H2Client {
        let tls = test_support::http::connect_tls(&h.addr().to_string(), &tls_offering(h, b"h2"))
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        H2Client {
            sender,
            host: h.host(),
        }
    }

    /// A POST of `body` to `path`, signed by `signer` (the host goes in `:authority`).
    pub async fn post(&mut self, path: &str, body: &[u8], signer: &Signer) -> Resp {
        let headers = signer.sign(
            "POST",
            &self.host,
            path,
            &[("content-type".to_string(), "application/json".to_string())],
            body,
        );
        let mut req = http::Request::builder()
            .method("POST")
            .version(http::Version::HTTP_2)
            .uri(format!("https://{}{path}", self.host));
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        self.sender.ready().await.unwrap();
        let resp = self.sender.send_request(req).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// API calls

/// A GetHealthStatus body with the two fields it requires.
pub fn health_body() -> Vec<u8> {
    serde_json::to_vec(
        &json!({"requestMetadata": {"kmsRequestId": "h-1", "kmsOperation": "KmsHealthCheck"}}),
    )
    .unwrap()
}

pub fn metadata(op: &str) -> Value {
    json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": op,
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsViaService": "ebs"
    })
}

/// SHA-256 of the concatenation of `parts` (to recompute a CDIV independently).
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// An Encrypt response's ciphertext, IV, tag and ciphertext metadata, decoded.
pub fn encrypt_parts(enc: &Value) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        unb64(&enc["ciphertext"]),
        unb64(&enc["initializationVector"]),
        unb64(&enc["authenticationTag"]),
        unb64(&enc["ciphertextMetadata"]),
    )
}

pub fn b64(bytes: &[u8]) -> String {
    xks::b64::encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    xks::b64::decode(v.as_str().expect("a Base64 string")).unwrap()
}

pub struct Api {
    pub client: Client,
    pub signer: Signer,
    /// `[/<prefix>]/kms/xks/v1`
    pub base: String,
}

impl Api {
    pub async fn call(&mut self, suffix: &str, body: &Value) -> Resp {
        let path = format!("{}{suffix}", self.base);
        let signer = self.signer.clone();
        self.client
            .request(
                "POST",
                &path,
                serde_json::to_vec(body).unwrap(),
                Some(&signer),
            )
            .await
    }

    pub async fn raw(&mut self, suffix: &str, body: &[u8]) -> Resp {
        let path = format!("{}{suffix}", self.base);
        let signer = self.signer.clone();
        self.client
            .request("POST", &path, body.to_vec(), Some(&signer))
            .await
    }

    pub async fn health(&mut self) -> Resp {
        self.raw("/health", &health_body()).await
    }

    pub async fn metadata(&mut self, key: &str) -> Resp {
        self.call(
            &format!("/keys/{key}/metadata"),
            &json!({"requestMetadata": metadata("DescribeKey")}),
        )
        .await
    }

    pub async fn encrypt(
        &mut self,
        key: &str,
        plaintext: &[u8],
        aad: Option<&[u8]>,
        cdiv: bool,
    ) -> Resp {
        let mut body = json!({
            "requestMetadata": metadata("Encrypt"),
            "plaintext": b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
        });
        if let Some(a) = aad {
            body["additionalAuthenticatedData"] = json!(b64(a));
        }
        if cdiv {
            body["ciphertextDataIntegrityValueAlgorithm"] = json!("SHA_256");
        }
        self.call(&format!("/keys/{key}/encrypt"), &body).await
    }

    /// A Decrypt body for an Encrypt response `enc` (and the AAD given to Encrypt).
    pub fn decrypt_body(enc: &Value, aad: Option<&[u8]>) -> Value {
        let mut body = json!({
            "requestMetadata": metadata("Decrypt"),
            "ciphertext": enc["ciphertext"],
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": enc["initializationVector"],
            "authenticationTag": enc["authenticationTag"],
        });
        if !enc["ciphertextMetadata"].is_null() {
            body["ciphertextMetadata"] = enc["ciphertextMetadata"].clone();
        }
        if let Some(a) = aad {
            body["additionalAuthenticatedData"] = json!(b64(a));
        }
        body
    }

    pub async fn decrypt(&mut self, key: &str, body: &Value) -> Resp {
        self.call(&format!("/keys/{key}/decrypt"), body).await
    }
}

/// An untampered Decrypt request for `key` (AAD and CDIV) and requests made from it that must
/// each fail with InvalidCiphertextException: every authenticated field flipped, the AAD or the
/// metadata removed, the metadata extended, and (from an encryption without AAD) the metadata
/// passed as the AAD, the specification's pitfall.
async fn tampered_decrypts(api: &mut Api, key: &str) -> (Value, Vec<(&'static str, Value)>) {
    let aad = b"context";
    let enc = api
        .encrypt(key, b"a data key of 32 bytes..........", Some(aad), true)
        .await
        .ok();
    let good = Api::decrypt_body(&enc, Some(aad));
    let flip = |v: &Value| -> Value {
        let mut b = unb64(v);
        b[0] ^= 1;
        json!(b64(&b))
    };
    let mut cases: Vec<(&'static str, Value)> = Vec::new();
    for field in [
        "ciphertext",
        "authenticationTag",
        "initializationVector",
        "additionalAuthenticatedData",
        "ciphertextMetadata",
    ] {
        let mut b = good.clone();
        b[field] = flip(&good[field]);
        cases.push((field, b));
    }
    let mut b = good.clone();
    b.as_object_mut()
        .unwrap()
        .remove("additionalAuthenticatedData");
    cases.push(("AAD removed", b));
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("ciphertextMetadata");
    cases.push(("metadata removed", b));
    let mut b = good.clone();
    b["ciphertextMetadata"] = json!(b64(&[1, 0]));
    cases.push(("metadata extended", b));
    let enc_no_aad = api.encrypt(key, b"secret", None, false).await.ok();
    let mut b = Api::decrypt_body(&enc_no_aad, None);
    b.as_object_mut().unwrap().remove("ciphertextMetadata");
    b["additionalAuthenticatedData"] = enc_no_aad["ciphertextMetadata"].clone();
    cases.push(("metadata passed as AAD", b));
    (good, cases)
}

/// Retries `f` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if f().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Decrypting a fresh encryption under `key` works; each tampered request of
/// [`tampered_decrypts`], and the untampered one under `other_key`, fails with
/// InvalidCiphertextException.
pub async fn assert_tampering_is_invalid_ciphertext(api: &mut Api, key: &str, other_key: &str) {
    let (good, cases) = tampered_decrypts(api, key).await;
    assert_eq!(api.decrypt(key, &good).await.status, 200);
    for (what, body) in cases {
        let r = api.decrypt(key, &body).await;
        assert_eq!(r.status, 400, "{what}");
        r.assert_error(400, "InvalidCiphertextException");
    }
    api.decrypt(other_key, &good)
        .await
        .assert_error(400, "InvalidCiphertextException");
}
