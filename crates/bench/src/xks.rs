//! `--suite xks-proxy`: `strongroom xks-proxy serve` over HTTPS, 1 KiB Encrypt and Decrypt as
//! AWS KMS sends them (AAD and a SHA_256 CDIV requested on Encrypt), every request SigV4-signed
//! for service `kms-xks-proxy`, with the software keystore and with SoftHSMv2 over PKCS#11,
//! beside an HTTP floor and an HTTPS floor; then, where `wrk` is installed, `wrk -t1` replaying
//! one pre-signed request, as the yardstick of the issue was measured.
//!
//! Also the proxy setup [`ProxySetup`] the `xks-kms` suite reuses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;

use crate::suite::{
    self, call_json, free_port, random_bytes, random_string, run_command, wait_for_port,
    write_private, ChildGuard, Endpoint, FloorColumn, Job, MakeRequest, Measured, Post, Signer,
};
use crate::tls::{self, Pki};
use crate::wrk::{self, WrkRow, WrkTarget};
use crate::{procstat, servers, Cli};

/// The region the proxies verify SigV4 for (and the KMS of the `xks-kms` suite runs in).
pub const REGION: &str = "us-east-1";
/// The external key every tenant uses (its label in the keystore or on the token).
pub const KEY_LABEL: &str = "bench-key";
/// Debian's SoftHSMv2 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const SOFTHSM_TOKEN: &str = "strongroom-bench";
const SOFTHSM_PIN: &str = "1234";
const SOFTHSM_SO_PIN: &str = "12345678";
/// The proxy's limit on one PKCS#11 call: below AWS KMS's 250 ms deadline for the whole call,
/// so a stuck HSM answers DependencyTimeoutException before KMS gives up.
pub const BACKEND_TIMEOUT_MS: u64 = 200;
/// How long a request waits for a free PKCS#11 session (the proxy's default).
pub const ACQUIRE_TIMEOUT_MS: u64 = 100;
/// Per-tenant quota: on the request path (a limiter check per request) but far above what
/// the machine can serve, so it never throttles the benchmark.
pub const TENANT_QUOTA_RPS: u32 = 100_000;
/// The AAD KMS sends is its ciphertext blob's fixed header; about this long.
const AAD_LEN: usize = 48;
const XKS_CONTENT_TYPE: &str = "application/json";

/// A key manager behind the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XksBackend {
    /// The sealed software keystore (AES-GCM in aws-lc-rs, inline on the async workers).
    Software,
    /// SoftHSMv2 over PKCS#11 (`/usr/lib/softhsm/libsofthsm2.so`), on tokio's blocking pool.
    Softhsm,
}

impl XksBackend {
    pub fn name(self) -> &'static str {
        match self {
            XksBackend::Software => "software",
            XksBackend::Softhsm => "SoftHSM",
        }
    }
}

/// One tenant of the benchmark proxy.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Short id used in row ids.
    pub id: &'static str,
    pub backend: XksBackend,
    pub verify_encrypt: bool,
}

impl Tenant {
    pub fn prefix(&self) -> String {
        format!("bench/{}", self.id)
    }

    pub fn uri_path(&self) -> String {
        format!("/{}/kms/xks/v1", self.prefix())
    }

    pub fn describe(&self) -> String {
        if self.verify_encrypt {
            self.backend.name().to_string()
        } else {
            format!("{}, verify_encrypt = false", self.backend.name())
        }
    }
}

/// Everything written for one proxy: certificates, credentials, keystore, token, config.
pub struct ProxySetup {
    pub pki: Pki,
    pub port: u16,
    pub config_file: PathBuf,
    pub signer: Signer,
    pub tenants: Vec<Tenant>,
    pub pool_size: usize,
    /// The proxy's `worker_threads` (connection threads); `None`: its default.
    pub worker_threads: Option<usize>,
    /// `SOFTHSM2_CONF` for the proxy, when a tenant uses SoftHSM.
    pub softhsm_conf: Option<String>,
    dir: PathBuf,
}

/// The running proxy.
pub struct RunningProxy {
    guard: ChildGuard,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl RunningProxy {
    /// What the proxy logged of its PKCS#11 calibration, one entry per PKCS#11 tenant.
    pub fn calibration(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.find("PKCS#11 token").map(|i| l[i..].trim().to_string()))
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}

fn softhsm_setup_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/softhsm-setup.sh")
}

/// A SoftHSMv2 token for this run (scripts/softhsm-setup.sh); returns `SOFTHSM2_CONF`.
fn softhsm_token(dir: &Path) -> Result<String, String> {
    if !Path::new(SOFTHSM_MODULE).exists() {
        return Err(format!(
            "SoftHSMv2 is not installed ({SOFTHSM_MODULE} is missing): `apt-get install -y \
             softhsm2`, or run with --xks-backends software"
        ));
    }
    let script = softhsm_setup_script();
    let out = run_command(
        Command::new("bash")
            .arg(&script)
            .arg(dir)
            .arg(SOFTHSM_TOKEN)
            .arg(SOFTHSM_PIN)
            .arg(SOFTHSM_SO_PIN),
        &script.display().to_string(),
    )?;
    out.lines()
        .find_map(|l| l.strip_prefix("export SOFTHSM2_CONF="))
        .map(|v| v.trim().trim_matches('\'').to_string())
        .ok_or_else(|| format!("{} printed no SOFTHSM2_CONF", script.display()))
}

fn toml_str(s: &str) -> String {
    // A JSON string is a valid TOML basic string for these values.
    serde_json::Value::String(s.to_string()).to_string()
}

impl ProxySetup {
    /// Writes the CA and certificate, a credential set, a KEK, a SoftHSM token (if needed),
    /// the configuration, and creates [`KEY_LABEL`] in every tenant's key manager.
    pub fn prepare(
        dir: &Path,
        bin: &Path,
        tenants: Vec<Tenant>,
        cli: &Cli,
    ) -> Result<ProxySetup, String> {
        let (pool_size, worker_threads) = (cli.pkcs11_pool_size, cli.proxy_worker_threads);
        let dir = dir.join("xks-proxy");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let pki = tls::make_pki(&dir)?;
        let signer = Signer {
            access_key_id: random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 26)?,
            secret: random_string(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                48,
            )?,
            region: REGION.to_string(),
            service: "kms-xks-proxy",
        };
        write_private(&dir.join("kek"), &random_bytes(32)?)?;
        let softhsm_conf = if tenants.iter().any(|t| t.backend == XksBackend::Softhsm) {
            write_private(&dir.join("hsm.pin"), format!("{SOFTHSM_PIN}\n").as_bytes())?;
            Some(softhsm_token(&dir.join("softhsm"))?)
        } else {
            None
        };
        let port = free_port()?;
        let setup = ProxySetup {
            pki,
            port,
            config_file: dir.join("xks-proxy.toml"),
            signer,
            tenants,
            pool_size,
            worker_threads,
            softhsm_conf,
            dir,
        };
        write_private(&setup.config_file, setup.config_text().as_bytes())?;
        // One key per key manager (tenants sharing the token share the key).
        let mut done: Vec<XksBackend> = Vec::new();
        for t in &setup.tenants {
            if done.contains(&t.backend) {
                continue;
            }
            done.push(t.backend);
            let mut cmd = Command::new(bin);
            cmd.args(["xks-proxy", "keys", "create", "--config"])
                .arg(&setup.config_file)
                .args(["--prefix", &t.prefix(), "--label", KEY_LABEL])
                .env("RUST_LOG", "warn");
            if let Some(c) = &setup.softhsm_conf {
                cmd.env("SOFTHSM2_CONF", c);
            }
            run_command(&mut cmd, "strongroom xks-proxy keys create")?;
        }
        Ok(setup)
    }

    /// The proxy configuration (see docs/xks-proxy.md).
    fn config_text(&self) -> String {
        let mut s = format!(
            "# Written by strongroom-bench.\n\
             listen = \"127.0.0.1:{port}\"\n\
             region = \"{REGION}\"\n\
             \n\
             [tls]\n\
             cert_file = {cert}\n\
             key_file = {key}\n",
            port = self.port,
            cert = toml_str(&self.pki.cert_file.to_string_lossy()),
            key = toml_str(&self.pki.key_file.to_string_lossy()),
        );
        if let Some(n) = self.worker_threads {
            // A top-level key: it must come before the first table.
            s = s.replacen("\n[tls]", &format!("worker_threads = {n}\n\n[tls]"), 1);
        }
        for t in &self.tenants {
            s.push_str(&format!(
                "\n[[tenants]]\n\
                 prefix = \"{prefix}\"\n\
                 credentials = [{{ access_key_id = \"{akid}\", secret_access_key = \"{secret}\" }}]\n\
                 quota = {{ requests_per_second = {TENANT_QUOTA_RPS} }}\n\
                 backend_timeout_ms = {BACKEND_TIMEOUT_MS}\n\
                 verify_encrypt = {verify}\n",
                prefix = t.prefix(),
                akid = self.signer.access_key_id,
                secret = self.signer.secret,
                verify = t.verify_encrypt,
            ));
            match t.backend {
                XksBackend::Software => s.push_str(
                    "backend = { type = \"software\", path = \"bench.keystore\", kek_file = \"kek\" }\n",
                ),
                XksBackend::Softhsm => s.push_str(&format!(
                    "[tenants.backend]\n\
                     type = \"pkcs11\"\n\
                     module = \"{SOFTHSM_MODULE}\"\n\
                     token_label = \"{SOFTHSM_TOKEN}\"\n\
                     pin_file = \"hsm.pin\"\n\
                     pool_size = {pool}\n\
                     acquire_timeout_ms = {ACQUIRE_TIMEOUT_MS}\n",
                    pool = self.pool_size
                )),
            }
        }
        s
    }

    /// Starts `strongroom xks-proxy serve` with `RUST_LOG=warn` (the proxy logs one INFO line
    /// per request otherwise) and waits until it accepts connections.
    pub fn start(&self, bin: &Path) -> Result<RunningProxy, String> {
        let log = self.dir.join("xks-proxy.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["xks-proxy", "serve", "--config"])
            .arg(&self.config_file)
            // The calibration result (module `cli`, at start) but not the request log lines.
            .env("RUST_LOG", "warn,xks_proxy::cli=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        if let Some(c) = &self.softhsm_conf {
            cmd.env("SOFTHSM2_CONF", c);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {} xks-proxy serve: {e}", bin.display()))?;
        let mut guard = ChildGuard::new(child, "strongroom xks-proxy serve");
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        wait_for_port(addr, &mut guard, &log)?;
        Ok(RunningProxy { guard, addr, log })
    }

    /// The proxy as KMS reaches it (`https://localhost:PORT`).
    pub fn endpoint_url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

/// The XKS request bodies of one tenant.
pub struct XksBodies {
    pub encrypt: Bytes,
    pub decrypt: Bytes,
}

fn request_metadata(op: &str) -> serde_json::Value {
    serde_json::json!({
        "awsPrincipalArn": "arn:aws:iam::111122223333:user/strongroom-bench",
        "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/0b0e6c5d-1c5f-4e0e-9d55-5f0d8c3f6a11",
        "kmsOperation": op,
        "kmsRequestId": "5f6a1d36-8f4e-4c1b-9a7e-2b3c4d5e6f70",
    })
}

/// A 1 KiB Encrypt body as KMS sends it: AES_GCM, AAD, CDIV SHA_256.
pub fn encrypt_body(plaintext: &[u8], aad: &[u8]) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD;
    Bytes::from(
        serde_json::json!({
            "requestMetadata": request_metadata("Encrypt"),
            "plaintext": b64.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": b64.encode(aad),
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        })
        .to_string(),
    )
}

/// A request factory for an XKS call on `path`: every call signs anew.
pub fn xks_maker(endpoint: &Endpoint, signer: &Signer, path: String, body: Bytes) -> MakeRequest {
    let host = endpoint.host();
    let signer = signer.clone();
    Arc::new(move || {
        signer.request(&Post {
            host: &host,
            path: &path,
            content_type: XKS_CONTENT_TYPE,
            x_amz_target: None,
            body: &body,
        })
    })
}

/// Encrypts once on `tenant` and builds the Decrypt body of the result (checking it decrypts).
async fn bodies(
    endpoint: &Endpoint,
    signer: &Signer,
    tenant: &Tenant,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<XksBodies, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let encrypt = encrypt_body(plaintext, aad);
    let path = format!("{}/keys/{KEY_LABEL}/encrypt", tenant.uri_path());
    let req = xks_maker(endpoint, signer, path, encrypt.clone())()?;
    let out = call_json(endpoint, req, &format!("Encrypt on {}", tenant.describe())).await?;
    if out["ciphertextDataIntegrityValue"].as_str().is_none() {
        return Err(format!("{}: Encrypt returned no CDIV", tenant.describe()));
    }
    let decrypt = Bytes::from(
        serde_json::json!({
            "requestMetadata": request_metadata("Decrypt"),
            "ciphertext": out["ciphertext"],
            "ciphertextMetadata": out["ciphertextMetadata"],
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": out["initializationVector"],
            "authenticationTag": out["authenticationTag"],
            "additionalAuthenticatedData": b64.encode(aad),
        })
        .to_string(),
    );
    let path = format!("{}/keys/{KEY_LABEL}/decrypt", tenant.uri_path());
    let req = xks_maker(endpoint, signer, path, decrypt.clone())()?;
    let out = call_json(endpoint, req, &format!("Decrypt on {}", tenant.describe())).await?;
    if out["plaintext"].as_str() != Some(b64.encode(plaintext).as_str()) {
        return Err(format!(
            "{}: Decrypt did not return the plaintext",
            tenant.describe()
        ));
    }
    Ok(XksBodies { encrypt, decrypt })
}

/// The tenants for `--xks-backends`: software; SoftHSM with and without `verify_encrypt`.
fn tenants(cli: &Cli) -> Vec<Tenant> {
    let mut out = Vec::new();
    if cli.xks_backends.contains(&XksBackend::Software) {
        out.push(Tenant {
            id: "software",
            backend: XksBackend::Software,
            verify_encrypt: true,
        });
    }
    if cli.xks_backends.contains(&XksBackend::Softhsm) {
        out.push(Tenant {
            id: "softhsm",
            backend: XksBackend::Softhsm,
            verify_encrypt: true,
        });
        out.push(Tenant {
            id: "softhsm-noverify",
            backend: XksBackend::Softhsm,
            verify_encrypt: false,
        });
    }
    out
}

/// Starts `exe tls-floor-server` and waits for its `LISTEN` line.
fn spawn_tls_floor(exe: &Path, pki: &Pki) -> Result<(ChildGuard, SocketAddr), String> {
    let child = Command::new(exe)
        .arg("tls-floor-server")
        .arg("--cert")
        .arg(&pki.cert_file)
        .arg("--key")
        .arg(&pki.key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {} tls-floor-server: {e}", exe.display()))?;
    let mut guard = ChildGuard::new(child, "the HTTPS floor server");
    let mut addr = None;
    guard.read_stdout_until(|line| {
        addr = line
            .strip_prefix("LISTEN ")
            .and_then(|a| a.trim().parse().ok());
        line.starts_with("LISTEN ")
    })?;
    let addr: SocketAddr = addr.ok_or("the HTTPS floor printed no address")?;
    if !addr.ip().is_loopback() {
        return Err(format!("refusing to load non-loopback {addr}"));
    }
    Ok((guard, addr))
}

/// `--suite xks-proxy`.
pub fn run(cli: &Cli) -> Result<bool, String> {
    suite::validate(cli)?;
    let load_before = procstat::load_average();
    let bin = suite::strongroom_bin(cli)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own path: {e}"))?;
    let tmp = tempfile::Builder::new()
        .prefix("strongroom-bench-xks-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let tenants = tenants(cli);
    if tenants.is_empty() {
        return Err("--xks-backends names no backend".to_string());
    }
    let setup = ProxySetup::prepare(tmp.path(), &bin, tenants, cli)?;
    let proxy = setup.start(&bin)?;
    let floor = servers::spawn_floor(&exe)?;
    let (tls_floor, tls_floor_addr) = spawn_tls_floor(&exe, &setup.pki)?;
    eprintln!(
        "xks-proxy on {} (pid {}, log {}), HTTP floor on {} (pid {}), HTTPS floor on {} (pid {})",
        proxy.addr,
        proxy.pid(),
        proxy.log.display(),
        floor.addr,
        floor.pid(),
        tls_floor_addr,
        tls_floor.pid()
    );
    let tls_client = tls::client(&setup.pki.ca_pem)?;
    let tls_client_for_check = tls_client.clone();
    let proxy_ep = Endpoint {
        addr: proxy.addr,
        tls: Some(tls_client.clone()),
    };
    let floor_ep = Endpoint::http(floor.addr);
    let tls_floor_ep = Endpoint {
        addr: tls_floor_addr,
        tls: Some(tls_client),
    };
    let plaintext: Vec<u8> = (0..cli.plaintext_bytes).map(|i| (i % 251) as u8).collect();
    let aad: Vec<u8> = (0..AAD_LEN).map(|i| (i * 7 % 256) as u8).collect();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    let signer = setup.signer.clone();
    let size = crate::size_label(cli.plaintext_bytes);
    let (rows, negotiated) = rt.block_on(async {
        let negotiated = tls::negotiated(proxy.addr, &tls_client_for_check).await?;
        let mut all_bodies = Vec::new();
        for t in &setup.tenants {
            all_bodies.push(bodies(&proxy_ep, &signer, t, &plaintext, &aad).await?);
        }
        let first = &setup.tenants[0];
        let floor_path = format!("{}/keys/{KEY_LABEL}/encrypt", first.uri_path());
        let mut jobs = vec![
            Job {
                id: "http-floor".into(),
                label: "HTTP floor (bare hyper)".into(),
                make: xks_maker(
                    &floor_ep,
                    &signer,
                    floor_path.clone(),
                    all_bodies[0].encrypt.clone(),
                ),
                endpoint: floor_ep.clone(),
                server_pids: vec![floor.pid()],
                baseline: None,
            },
            Job {
                id: "https-floor".into(),
                label: "HTTPS floor (bare hyper + rustls)".into(),
                make: xks_maker(
                    &tls_floor_ep,
                    &signer,
                    floor_path,
                    all_bodies[0].encrypt.clone(),
                ),
                endpoint: tls_floor_ep.clone(),
                server_pids: vec![tls_floor.pid()],
                baseline: None,
            },
        ];
        for (t, b) in setup.tenants.iter().zip(&all_bodies) {
            let ops: &[(&str, &Bytes)] = if t.verify_encrypt {
                &[("encrypt", &b.encrypt), ("decrypt", &b.decrypt)]
            } else {
                // Decrypt does not depend on verify_encrypt.
                &[("encrypt", &b.encrypt)]
            };
            for (op, body) in ops {
                let path = format!("{}/keys/{KEY_LABEL}/{op}", t.uri_path());
                let verb = if *op == "encrypt" {
                    "Encrypt"
                } else {
                    "Decrypt"
                };
                jobs.push(Job {
                    id: format!("{}-{op}", t.id),
                    label: format!("XKS {verb} {size}, {}", t.describe()),
                    make: xks_maker(&proxy_ep, &signer, path, (*body).clone()),
                    endpoint: proxy_ep.clone(),
                    server_pids: vec![proxy.pid()],
                    baseline: None,
                });
            }
        }
        suite::check_jobs(&jobs).await?;
        Ok::<_, String>((suite::run_jobs(cli, "xks-proxy", &jobs).await, negotiated))
    })?;

    // wrk: one pre-signed request replayed (as the yardstick was measured).
    let wrk_rows = wrk::availability(cli).and_then(|()| {
        let wrk_target = |id: String, label: String, endpoint: &Endpoint, path, pid| WrkTarget {
            id,
            label,
            endpoint: endpoint.clone(),
            path,
            content_type: XKS_CONTENT_TYPE,
            x_amz_target: None,
            body: encrypt_body(&plaintext, &aad),
            signer: setup.signer.clone(),
            server_pid: pid,
        };
        let mut targets = vec![wrk_target(
            "https-floor".into(),
            "HTTPS floor (bare hyper + rustls)".into(),
            &tls_floor_ep,
            format!("{}/keys/{KEY_LABEL}/encrypt", setup.tenants[0].uri_path()),
            tls_floor.pid(),
        )];
        for t in &setup.tenants {
            targets.push(wrk_target(
                format!("{}-encrypt", t.id),
                format!("XKS Encrypt {size}, {}", t.describe()),
                &proxy_ep,
                format!("{}/keys/{KEY_LABEL}/encrypt", t.uri_path()),
                proxy.pid(),
            ));
        }
        rt.block_on(async {
            for t in &targets {
                t.check_replay().await?;
            }
            Ok::<_, String>(())
        })?;
        let runs = wrk::run_rounds(cli, &targets, tmp.path())?;
        Ok(wrk::summarise(&runs, Some("https-floor")))
    });

    let calibration = proxy.calibration();
    drop(proxy);
    drop(tls_floor);
    drop(floor);

    let mut notes = vec![
        format!(
            "Proxy: `strongroom xks-proxy serve --config xks-proxy.toml` run with \
             `RUST_LOG=warn,xks_proxy::cli=info` \
             (at the default `info` it writes one line per request to stderr); HTTPS with a \
             per-run ECDSA P-256 CA and `localhost` certificate (rcgen); the client trusts only \
             that CA; negotiated {negotiated}; HTTP/1.1 keep-alive"
        ),
        format!(
            "Requests: {size} Encrypt with a {AAD_LEN}-byte AAD and \
             `ciphertextDataIntegrityValueAlgorithm: SHA_256`, and Decrypt of its result, as \
             AWS KMS sends them; service `kms-xks-proxy`, region {REGION}"
        ),
        format!(
            "Tenant settings: `verify_encrypt = true` (the default: with a CDIV request the \
             proxy decrypts its result and compares before answering — for PKCS#11 a second HSM \
             operation; one extra row shows SoftHSM with it off), `backend_timeout_ms = \
             {BACKEND_TIMEOUT_MS}` (under KMS's 250 ms deadline), `quota = {{ \
             requests_per_second = {TENANT_QUOTA_RPS} }}` (checked, never reached)"
        ),
    ];
    notes.push(match setup.worker_threads {
        Some(n) => format!("Proxy `worker_threads = {n}` (connection threads)"),
        None => "Proxy `worker_threads` unset: one connection thread per core, less one per \
                 PKCS#11 tenant its calibration found serialized (at least one)"
            .to_string(),
    });
    for line in calibration {
        notes.push(format!("Proxy calibration: {line}"));
    }
    if setup.softhsm_conf.is_some() {
        notes.push(format!(
            "SoftHSMv2: token `{SOFTHSM_TOKEN}` created for this run by \
             scripts/softhsm-setup.sh, module {SOFTHSM_MODULE}, `pool_size = {}`, \
             `acquire_timeout_ms = {ACQUIRE_TIMEOUT_MS}`; {}",
            setup.pool_size,
            softhsm_version().unwrap_or_default()
        ));
    }
    notes.push(
        "Floors: the HTTP floor (bare hyper, plain HTTP) and the HTTPS floor (bare hyper + \
         rustls with the proxy's TLS settings and certificate, answering a fixed XKS-Encrypt-sized \
         JSON) are sent the same signed Encrypt request"
            .to_string(),
    );
    suite::print_header(
        cli,
        "XKS proxy (`--suite xks-proxy`)",
        load_before.as_deref(),
        &notes,
    );
    suite::print_table(
        cli,
        &rows,
        &[
            FloorColumn {
                header: "% of HTTP floor",
                floor_id: "http-floor",
                cpu_bound_header: None,
            },
            FloorColumn {
                header: "% of HTTPS floor",
                floor_id: "https-floor",
                cpu_bound_header: None,
            },
        ],
        None,
        None,
    );
    suite::print_cpu_note("the proxy process (or the floor process on floor rows)");
    let mut ok = rows.iter().all(|r| r.errors == 0);
    match &wrk_rows {
        Ok(w) => {
            wrk::print_table(w, "ratio to HTTPS floor");
            wrk::print_note(
                cli,
                "the proxy process (or the floor process on floor rows)",
            );
            ok &= w.iter().all(|r| !r.has_errors());
        }
        Err(e) => {
            println!("wrk: {e}");
            println!();
        }
    }
    print_yardstick(&rows, wrk_rows.as_deref().ok());
    Ok(ok)
}

fn softhsm_version() -> Option<String> {
    let out = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!v.is_empty()).then(|| format!("SoftHSM {v}"))
}

/// The yardstick: AWS's reference proxy over SoftHSMv2, `wrk -t1`, 1 KiB Encrypt.
const YARDSTICK: [(usize, f64, f64); 2] = [(1, 7_000.0, 0.7), (8, 16_000.0, 1.9)];

/// The verdict lines against the yardstick (Encrypt rows with `verify_encrypt = true`).
fn print_yardstick(rows: &[Measured], wrk: Option<&[WrkRow]>) {
    println!(
        "Yardstick (AWS reference proxy over SoftHSMv2, wrk -t1, signed 1 KiB Encrypt over \
         HTTPS): 7,000 req/s, p99 0.7 ms at 1 connection; 16,000 req/s, p50 0.5 ms, p99 1.9 ms \
         at 8. Targets: SoftHSM ≥ those req/s with p99 no worse; software ≥ 2× the req/s."
    );
    println!();
    println!("| backend | measured by | connections | req/s | p99 ms | target req/s | target p99 ms | verdict |");
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for (backend, factor, p99_applies) in [("software", 2.0, false), ("softhsm", 1.0, true)] {
        for (c, y_rps, y_p99) in YARDSTICK {
            let id = format!("{backend}-encrypt");
            let mut measured: Vec<(&str, f64, f64)> = Vec::new();
            if let Some(r) = rows.iter().find(|r| r.id == id && r.concurrency == c) {
                measured.push(("strongroom-bench", r.rps, r.p99_us as f64 / 1000.0));
            }
            if let Some(w) = wrk.and_then(|w| w.iter().find(|r| r.id == id && r.connections == c)) {
                measured.push(("wrk -t1", w.rps, w.p99_ms));
            }
            for (by, rps, p99) in measured {
                let rps_ok = rps >= factor * y_rps;
                let p99_ok = !p99_applies || p99 <= y_p99;
                println!(
                    "| {backend} | {by} | {c} | {rps:.0} | {p99:.3} | ≥ {:.0} | {} | {} |",
                    factor * y_rps,
                    if p99_applies {
                        format!("≤ {y_p99}")
                    } else {
                        "–".to_string()
                    },
                    if rps_ok && p99_ok {
                        "met"
                    } else {
                        "**missed**"
                    }
                );
            }
        }
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_paths() {
        let t = Tenant {
            id: "softhsm",
            backend: XksBackend::Softhsm,
            verify_encrypt: false,
        };
        assert_eq!(t.uri_path(), "/bench/softhsm/kms/xks/v1");
        assert!(t.describe().contains("verify_encrypt = false"));
    }
}
