//! Starting a KMS: `init` writes a configuration and a root key, `serve` runs one from a
//! configuration, `dev` does both in a (temporary) directory and prints the exports.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{AccessKey, Account, Config, User};
use crate::dev_proxy;
use crate::server::{self, App};

/// What `init` created.
pub struct Created {
    pub config_path: PathBuf,
    pub config: Config,
}

impl Created {
    /// Prints the `export` lines for the first access key (and the endpoint when known).
    pub fn print_exports(&self, endpoint: Option<&str>) {
        let endpoint = endpoint.map(String::from).unwrap_or_else(|| {
            let scheme = if self.config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", self.config.listen)
        });
        let key = self
            .config
            .accounts
            .first()
            .and_then(|a| a.users.first())
            .and_then(|u| u.access_keys.first());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "export AWS_ENDPOINT_URL={endpoint}");
        if let Some(k) = key {
            let _ = writeln!(out, "export AWS_ACCESS_KEY_ID={}", k.id);
            let _ = writeln!(out, "export AWS_SECRET_ACCESS_KEY={}", k.secret);
        }
        let _ = writeln!(out, "export AWS_DEFAULT_REGION={}", self.config.region);
        let _ = writeln!(out, "export AWS_REGION={}", self.config.region);
        let _ = out.flush();
    }
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], len: usize) -> Result<String, String> {
    let bytes = crypto::random_bytes(len).map_err(|e| format!("random generation failed: {e}"))?;
    // Both alphabets have a power-of-two size, so the modulo is unbiased.
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect())
}

fn random_account_id() -> Result<String, String> {
    let digits = random_string(b"0123456789", 12)?;
    // Account ids do not start with 0 in practice; keep it recognisable.
    Ok(format!("1{}", &digits[1..]))
}

/// Creates `dir` with `strongroom.toml`, `data/` and a root key (`root.key`, 0600, or an AES key
/// in a PKCS#11 token), with one account whose user `admin` has an access key and an identity
/// policy allowing `kms:*`.
pub fn init(
    dir: &Path,
    listen: &str,
    region: &str,
    root_key: crate::root_key::RootKeyKind,
    pkcs11: &crate::root_key::Pkcs11Args,
) -> Result<Created, String> {
    let config_path = dir.join("strongroom.toml");
    if config_path.exists() {
        return Err(format!(
            "{} exists already; not overwriting it",
            config_path.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let data = dir.join("data");
    secret_files::create_private_dir(&data)
        .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let root_key = crate::root_key::init_root_key(dir, root_key, pkcs11)?;
    let config = Config {
        region: region.to_string(),
        extra_regions: Vec::new(),
        listen: listen.to_string(),
        tls: None,
        insecure_http: false,
        seed: None,
        admin: None,
        data_dir: PathBuf::from("data"),
        allow_insecure_file_permissions: false,
        root_key,
        deletion_sweep_seconds: 60,
        rotation_check_seconds: 10,
        xks: Default::default(),
        limits: Default::default(),
        store: Default::default(),
        audit: None,
        accounts: vec![Account {
            id: random_account_id()?,
            roles: Vec::new(),
            users: vec![User {
                name: "admin".to_string(),
                policy: Some(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#
                        .to_string(),
                ),
                policies: Vec::new(),
                tags: Default::default(),
                access_keys: vec![AccessKey {
                    id: format!("AKIA{}", random_string(BASE32, 16)?),
                    secret: random_string(SECRET_CHARS, 40)?,
                    session_token: None,
                }],
            }],
        }],
    };
    let text =
        toml::to_string_pretty(&config).map_err(|e| format!("cannot encode the config: {e}"))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&config_path)
        .map_err(|e| format!("cannot create {}: {e}", config_path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    Ok(Created {
        config_path,
        config,
    })
}

/// The database and its WAL files are created 0600 (SQLite gives the `-wal` and `-shm` files
/// the database's mode); ones an older version left open to others are restricted.
fn private_database_files(db: &Path) -> Result<(), String> {
    secret_files::create_private_file(db)
        .map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        secret_files::restrict(&path, 0o600)
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The store the configuration names: PostgreSQL with a `[store]` url, else SQLite in the data
/// directory.
pub(crate) async fn open_store(config: &Config) -> Result<Arc<dyn store::Store>, String> {
    if config.store.is_shared() {
        return config
            .store
            .open_postgres(config.allow_insecure_file_permissions)
            .await;
    }
    let default_region = config
        .regions()?
        .first()
        .cloned()
        .ok_or("the configuration names no region")?;
    let db = config.data_dir.join("strongroom.db");
    private_database_files(&db)?;
    Ok(Arc::new(
        store::SqliteStore::open(&db, &default_region)
            .await
            .map_err(|e| format!("cannot open {}: {e}", db.display()))?,
    ))
}

/// A started KMS listener, not yet serving.
struct Node {
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    /// The TLS configuration when it serves HTTPS (replaced on SIGHUP).
    tls: Option<Arc<http_serve::Tls>>,
    hangup: tokio::signal::unix::Signal,
    /// The admin listener (metrics, health, readiness), when configured.
    admin: Option<tokio::net::TcpListener>,
}

impl Node {
    /// `https://ADDR` or `http://ADDR`.
    fn endpoint(&self) -> Result<String, String> {
        let addr = self.listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{addr}"))
    }
}

/// Builds the service from a configuration and binds its listener. `any_region`: serve every
/// region a request is signed for (`dev`), not only the configured ones.
async fn start(
    config: &Config,
    any_region: bool,
    clock: Arc<dyn kms::Clock>,
) -> Result<Node, String> {
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    secret_files::create_private_dir(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    let root = crate::root_key::load(&config.root_key, config.allow_insecure_file_permissions)?;
    // Read before anything slow, so that a bad certificate fails the start at once.
    let tls = match &config.tls {
        Some(t) => Some(Arc::new(http_serve::Tls::new(
            t.server_config(config.allow_insecure_file_permissions)?,
        ))),
        None => None,
    };
    let audit = match &config.audit {
        Some(a) => Some(a.open(&config.data_dir)?),
        None => None,
    };
    let regions = config.regions()?;
    let default_region = regions
        .first()
        .cloned()
        .ok_or("the configuration names no region")?;
    let store = open_store(config).await?;
    let kms_config = kms::KmsConfig {
        regions: regions.clone(),
        any_region,
        partition: "aws".to_string(),
        xks: config.xks.settings()?,
        cluster: config.store.cluster(),
        usage_flush_interval: config.store.usage_flush_interval(),
    };
    let xks = kms::xks_client(&kms_config, &default_region)
        .map_err(|e| format!("cannot start: {}", e.message))?;
    let kms = kms::Kms::open(kms_config, store, root, clock, xks)
        .await
        .map_err(|e| format!("cannot load the keys: {e}"))?;
    if let Some(seed) = &config.seed {
        let account = config
            .accounts
            .first()
            .and_then(|a| kms_model::AccountId::parse(&a.id))
            .ok_or("seeding needs an account in the configuration")?;
        let defaults = crate::seed::Defaults {
            account,
            region: default_region.clone(),
        };
        let seeds = crate::seed::load(seed, &defaults, config.allow_insecure_file_permissions)?;
        crate::seed::apply(&kms, &seeds, &seed.file).await?;
    }
    let verified_regions = if any_region {
        sigv4::Regions::Any
    } else {
        sigv4::Regions::Only(regions.iter().map(ToString::to_string).collect())
    };
    let app = Arc::new(App {
        kms: Arc::new(kms),
        principals: std::sync::RwLock::new(Arc::new(config.principals()?)),
        // A signature must cover the operation and every x-amz-* header, or a captured request
        // could be replayed as another operation within the 5-minute window.
        verifier: sigv4::Verifier::for_regions(verified_regions, "kms", Duration::from_secs(300))
            .with_required_signed_headers(&["x-amz-target", "content-type"])
            .with_amz_headers_signed(true),
        secure_transport: tls.is_some(),
        metrics: config.admin.as_ref().map(|_| Default::default()),
        audit,
    });
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    crate::tls::check_plain_http(addr, tls.is_some(), config.insecure_http)?;
    let admin = match &config.admin {
        Some(a) => Some(
            tokio::net::TcpListener::bind(&a.listen)
                .await
                .map_err(|e| format!("cannot listen on {} (admin): {e}", a.listen))?,
        ),
        None => None,
    };
    Ok(Node {
        app,
        listener,
        tls,
        hangup,
        admin,
    })
}

/// Reloads the principals (access keys, identity policies, tags) and the TLS certificate from
/// the configuration file on every SIGHUP; what does not load is kept as it was. Open
/// connections keep the certificate they were made with.
async fn reload_on_hangup(
    app: Arc<App>,
    tls: Option<Arc<http_serve::Tls>>,
    config_path: PathBuf,
    mut hup: tokio::signal::unix::Signal,
) {
    while hup.recv().await.is_some() {
        let config = match Config::load(&config_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("configuration reload failed, keeping the current one: {e}");
                continue;
            }
        };
        match config.principals() {
            Ok(p) => {
                let n = p.len();
                app.set_principals(p);
                tracing::info!(
                    access_keys = n,
                    "principals reloaded from {}",
                    config_path.display()
                );
            }
            Err(e) => {
                tracing::warn!("configuration reload failed, keeping the current principals: {e}")
            }
        }
        let Some(tls) = &tls else { continue };
        // The listener's scheme is fixed at start: a [tls] section removed is ignored.
        let Some(section) = &config.tls else {
            tracing::warn!(
                "the reloaded configuration has no [tls]; keeping the current certificate"
            );
            continue;
        };
        match section.server_config(config.allow_insecure_file_permissions) {
            Ok(c) => {
                tls.replace(c);
                tracing::info!(
                    "TLS certificate reloaded from {}",
                    section.cert_file.display()
                );
            }
            Err(e) => tracing::warn!("TLS reload failed, keeping the current certificate: {e}"),
        }
    }
}

/// How often the background jobs run.
#[derive(Debug, Clone, Copy)]
pub struct JobTimes {
    /// The deletion sweep.
    pub sweep: Duration,
    /// The rotator (automatic rotations, and completing on-demand ones).
    pub rotation: Duration,
    /// Following the store's change feed (changes other processes made).
    pub follow: Duration,
    /// Run the sweep, the rotator and the health check only while holding the cluster jobs'
    /// lease (nodes sharing a database).
    pub under_lease: bool,
}

impl JobTimes {
    fn of(config: &Config) -> JobTimes {
        JobTimes {
            sweep: Duration::from_secs(config.deletion_sweep_seconds.max(1)),
            rotation: Duration::from_secs(config.rotation_check_seconds.max(1)),
            follow: Duration::from_millis(config.store.follow_interval_ms.max(10)),
            under_lease: config.store.is_shared(),
        }
    }
}

async fn run(
    node: Node,
    limits: http_serve::Limits,
    jobs: JobTimes,
    config_path: PathBuf,
) -> Result<(), String> {
    let Node {
        app,
        listener,
        tls,
        hangup,
        admin,
    } = node;
    if let (Some(admin), Some(requests)) = (admin, app.metrics.clone()) {
        let handler = Arc::new(crate::admin::Admin {
            kms: Arc::clone(&app.kms),
            requests,
        });
        // It stops with the process: a scrape or probe during shutdown just finds it gone.
        tokio::spawn(http_serve::serve(
            admin,
            None,
            limits,
            handler,
            std::future::pending::<()>(),
        ));
    }
    let lease = jobs.under_lease;
    if lease {
        tokio::spawn(Arc::clone(&app.kms).keep_jobs_lease());
    }
    tokio::spawn(server::every(
        jobs.sweep,
        Arc::clone(&app.kms),
        "deletion sweep",
        move |k| {
            Box::pin(async move {
                if lease && !k.holds_jobs_lease() {
                    return Ok(0);
                }
                k.sweep_deletions().await
            })
        },
    ));
    tokio::spawn(server::every(
        jobs.rotation,
        Arc::clone(&app.kms),
        "rotation",
        move |k| {
            Box::pin(async move {
                if lease && !k.holds_jobs_lease() {
                    return Ok(0);
                }
                k.rotate_due_keys().await
            })
        },
    ));
    tokio::spawn(Arc::clone(&app.kms).follow_forever(jobs.follow));
    // Every node writes its own key uses, leaseholder or not.
    tokio::spawn(Arc::clone(&app.kms).flush_key_usage_forever());
    tokio::spawn(server::xks_health_checker(Arc::clone(&app.kms), lease));
    // The handler is installed before `start` returns to the caller that prints readiness, so a
    // SIGHUP right after the "listening" line cannot kill the process.
    tokio::spawn(reload_on_hangup(
        Arc::clone(&app),
        tls.clone(),
        config_path,
        hangup,
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("signal handling failed: {e}"))?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("signal handling failed: {e}"))?;
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: finishing open requests");
    };
    // Returning (rather than exiting) lets `dev` remove its temporary directory.
    let kms = Arc::clone(&app.kms);
    let audit = app.audit.clone();
    server::serve(app, listener, tls, limits, stop).await;
    // Every answered request has its record; the file ends with its final digest.
    if let Some(audit) = audit {
        audit.close().await;
    }
    // The uses noted since the last flush (the open requests have finished).
    if let Err(e) = kms.flush_key_usage().await {
        tracing::warn!("cannot write the last key uses to the store: {e}");
    }
    if lease {
        // Another node takes the jobs at once rather than when the lease runs out.
        kms.release_jobs_lease().await;
    }
    Ok(())
}

/// `strongroom serve --config FILE`.
pub async fn serve(config_path: &Path) -> Result<(), String> {
    let config = Config::load(config_path)?;
    let node = start(&config, false, Arc::new(kms::SystemClock)).await?;
    // The listening line comes last: who waits for it has everything before it.
    if let Some(admin) = &node.admin {
        let addr = admin.local_addr().map_err(|e| e.to_string())?;
        println!("strongroom: metrics on http://{addr}/metrics");
    }
    println!("strongroom: KMS listening on {}", node.endpoint()?);
    let _ = std::io::stdout().flush();
    run(
        node,
        config.limits,
        JobTimes::of(&config),
        config_path.to_path_buf(),
    )
    .await
}

/// The name of the external key store `dev` creates on its proxy.
const DEMO_STORE_NAME: &str = "strongroom-dev";

/// Creates (or, with a kept data directory, points at this run's proxy again) and connects the
/// demo external key store, through the KMS API as the dev account's admin user.
async fn demo_key_store(
    app: &App,
    config: &Config,
    xks: &dev_proxy::DevProxy,
) -> Result<String, String> {
    let admin = config
        .accounts
        .first()
        .and_then(|a| a.users.first())
        .and_then(|u| u.access_keys.first())
        .ok_or("the dev configuration has no access key")?;
    let principal = app
        .principals
        .read()
        .map_err(|_| "principal table lock poisoned".to_string())?
        .get(&admin.id)
        .cloned()
        .ok_or("the dev access key is not loaded")?;
    let region = kms_model::Region::parse(&config.region)
        .ok_or_else(|| format!("'{}' is not a region name", config.region))?;
    let call = |op: kms_api::Operation, body: serde_json::Value| {
        let kms = Arc::clone(&app.kms);
        let caller = principal.caller.clone();
        let origin = kms::RequestOrigin::internal(region.clone());
        async move {
            let out = kms
                .handle(op, body.to_string().as_bytes(), &caller, &origin)
                .await
                .map_err(|e| format!("{}: {e}", op.name()))?;
            serde_json::from_slice::<serde_json::Value>(&out.body).map_err(|e| e.to_string())
        }
    };
    use kms_api::Operation as Op;
    let credential = serde_json::json!({
        "AccessKeyId": xks.access_key_id,
        "RawSecretAccessKey": xks.secret_access_key,
    });
    let existing = call(
        Op::DescribeCustomKeyStores,
        serde_json::json!({ "CustomKeyStoreName": DEMO_STORE_NAME }),
    )
    .await;
    let id = match existing
        .ok()
        .and_then(|v| v["CustomKeyStores"][0].as_object().cloned())
    {
        Some(store) => {
            let id = store
                .get("CustomKeyStoreId")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            if store.get("ConnectionState").and_then(|v| v.as_str()) != Some("DISCONNECTED") {
                call(
                    Op::DisconnectCustomKeyStore,
                    serde_json::json!({ "CustomKeyStoreId": id }),
                )
                .await?;
            }
            // The proxy listens on a new port each run.
            call(
                Op::UpdateCustomKeyStore,
                serde_json::json!({
                    "CustomKeyStoreId": id,
                    "XksProxyUriEndpoint": xks.endpoint,
                    "XksProxyUriPath": xks.uri_path,
                    "XksProxyAuthenticationCredential": credential,
                }),
            )
            .await?;
            id
        }
        None => {
            let created = call(
                Op::CreateCustomKeyStore,
                serde_json::json!({
                    "CustomKeyStoreName": DEMO_STORE_NAME,
                    "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
                    "XksProxyConnectivity": "PUBLIC_ENDPOINT",
                    "XksProxyUriEndpoint": xks.endpoint,
                    "XksProxyUriPath": xks.uri_path,
                    "XksProxyAuthenticationCredential": credential,
                }),
            )
            .await?;
            created["CustomKeyStoreId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    call(
        Op::ConnectCustomKeyStore,
        serde_json::json!({ "CustomKeyStoreId": id }),
    )
    .await?;
    let state = call(
        Op::DescribeCustomKeyStores,
        serde_json::json!({ "CustomKeyStoreId": id }),
    )
    .await?;
    let connection = state["CustomKeyStores"][0]["ConnectionState"]
        .as_str()
        .unwrap_or_default();
    if connection != "CONNECTED" {
        return Err(format!(
            "the demo external key store did not connect: {connection} {}",
            state["CustomKeyStores"][0]["ConnectionErrorCode"]
                .as_str()
                .unwrap_or_default()
        ));
    }
    Ok(id)
}

/// What `strongroom dev` is asked for.
pub struct DevOptions {
    pub port: u16,
    pub data_dir: Option<PathBuf>,
    pub demo_store: bool,
    /// The KMS's clock runs this file's number of milliseconds ahead of the system's (tests
    /// move it to cross deletion and rotation dates).
    pub clock_offset_file: Option<PathBuf>,
    /// How often the background jobs (rotator, change feed, deletion sweep) run.
    pub job_interval: Duration,
    /// Keep the records in this PostgreSQL database instead of SQLite in the data directory.
    pub postgres: Option<String>,
    /// The schema of the records in that database.
    pub postgres_schema: Option<String>,
    /// How many nodes (KMS listeners, each with its own connections) to run on the database.
    pub nodes: usize,
    /// Every request reads the change feed first (see `StoreConfig::strict_consistency`).
    pub strict_consistency: bool,
    /// The seed file to create keys from at start (material allowed).
    pub seed: Option<PathBuf>,
    /// Serve HTTPS with a certificate of the dev CA (the one the XKS proxy's certificate
    /// chains to), exported as `AWS_CA_BUNDLE`.
    pub tls: bool,
    /// Cryptographic requests per second of each external key store (AWS's quota, 1800, by
    /// default; benchmarks raise it so the quota does not throttle the measurement).
    pub xks_requests_per_second: Option<u32>,
}

/// `strongroom dev [--port N] [--data-dir DIR] [--no-demo-store] ...`.
pub async fn dev(options: DevOptions) -> Result<(), String> {
    let (port, data_dir, demo_store) = (options.port, options.data_dir.clone(), options.demo_store);
    let temp;
    let dir = match data_dir {
        Some(d) => d,
        None => {
            temp = tempfile::Builder::new()
                .prefix("strongroom-dev-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let listen = format!("127.0.0.1:{port}");
    let config_path = dir.join("strongroom.toml");
    let created = if config_path.exists() {
        let mut config = Config::load(&config_path)?;
        config.listen = listen;
        Created {
            config_path,
            config,
        }
    } else {
        let mut c = init(
            &dir,
            &listen,
            "us-east-1",
            crate::root_key::RootKeyKind::File,
            &Default::default(),
        )?;
        // init wrote relative paths; resolve them as Config::load does.
        c.config = Config::load(&c.config_path)?;
        c.config.listen = format!("127.0.0.1:{port}");
        c
    };
    // The XKS proxy (software keystore, CA and credentials in DIR/xks) is up before anything
    // is printed, so the exports are usable as soon as they appear; the KMS trusts its CA and
    // accepts its `https://localhost:PORT` endpoint.
    let xks = dev_proxy::start_dev_proxy(&dir, &created.config.region).await?;
    let mut created = created;
    created.config.xks.ca_bundle_file = Some(xks.ca_file.clone());
    created.config.xks.allow_endpoint_port = true;
    if let Some(rps) = options.xks_requests_per_second {
        created.config.xks.requests_per_second = rps.max(1);
    }
    if let Some(file) = &options.seed {
        let file = std::fs::canonicalize(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        created.config.seed = Some(crate::seed::SeedConfig {
            file,
            allow_material: true,
            fixture: true,
        });
    }
    if options.tls {
        created.config.tls = Some(crate::tls::TlsConfig {
            cert_file: xks.cert_file.clone(),
            key_file: xks.key_file.clone(),
            client_ca_file: None,
        });
    }
    if options.nodes > 1 && options.postgres.is_none() {
        return Err("--nodes needs --postgres: nodes share a PostgreSQL database".to_string());
    }
    if let Some(url) = &options.postgres {
        created.config.store.url = Some(url.clone());
        created.config.store.schema = options.postgres_schema.clone();
        created.config.store.strict_consistency = options.strict_consistency;
        created.config.store.follow_interval_ms =
            u64::try_from(options.job_interval.as_millis()).unwrap_or(u64::MAX);
        // Jobs move to another node within seconds when theirs stops.
        created.config.store.lease_ms = 3000;
    }
    // Another node sees a key's use as soon as it sees a change.
    created.config.store.usage_flush_ms =
        u64::try_from(options.job_interval.as_millis()).unwrap_or(u64::MAX);
    let clock: Arc<dyn kms::Clock> = match &options.clock_offset_file {
        Some(f) => Arc::new(kms::OffsetFileClock::new(f.clone())),
        None => Arc::new(kms::SystemClock),
    };
    // dev keeps an audit trail (default durability) unless its configuration says otherwise;
    // each node its own.
    if created.config.audit.is_none() {
        created.config.audit = Some(crate::audit_trail::AuditConfig {
            dir: dir.join("audit"),
            ..Default::default()
        });
    }
    let mut nodes = Vec::new();
    for i in 0..options.nodes.max(1) {
        let mut config = created.config.clone();
        if i == 0 {
            config.admin = Some(crate::admin::AdminConfig {
                listen: "127.0.0.1:0".to_string(),
            });
        }
        if let (Some(a), true) = (&mut config.audit, i > 0) {
            a.dir = a.dir.join(format!("node-{i}"));
        }
        if i > 0 {
            let port = if port == 0 {
                0
            } else {
                port.saturating_add(u16::try_from(i).unwrap_or(u16::MAX))
            };
            config.listen = format!("127.0.0.1:{port}");
        }
        nodes.push(start(&config, true, Arc::clone(&clock)).await?);
    }
    let endpoints = nodes
        .iter()
        .map(Node::endpoint)
        .collect::<Result<Vec<_>, _>>()?;
    let first = nodes.remove(0);
    let demo = if demo_store {
        Some(demo_key_store(&first.app, &created.config, &xks).await?)
    } else {
        None
    };
    println!("# Strongroom dev KMS, data in {}", dir.display());
    if options.postgres.is_some() {
        println!("export STRONGROOM_NODE_ENDPOINTS={}", endpoints.join(","));
    }
    // Before the AWS lines: AWS_REGION, printed last, tells a reader that all are there.
    if let Some(admin) = &first.admin {
        let addr = admin.local_addr().map_err(|e| e.to_string())?;
        println!("export STRONGROOM_METRICS_URL=http://{addr}/metrics");
    }
    if let Some(audit) = &first.app.audit {
        println!(
            "export STRONGROOM_AUDIT_LOG={}",
            audit.current_file().display()
        );
    }
    if options.tls {
        println!("export AWS_CA_BUNDLE={}", xks.ca_file.display());
    }
    created.print_exports(Some(&endpoints[0]));
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "# External key store (XKS) proxy, keystore in {}",
            dir.join(dev_proxy::XKS_DIR).display()
        );
        xks.print_exports(&mut out);
        if let Some(id) = &demo {
            let _ = writeln!(out, "export STRONGROOM_CUSTOM_KEY_STORE_ID={id}");
            let _ = writeln!(
                out,
                "export STRONGROOM_XKS_SPARE_KEY_ID={}",
                xks.spare_key_id
            );
            let _ = writeln!(
                out,
                "# aws kms create-key --origin EXTERNAL_KEY_STORE --custom-key-store-id $STRONGROOM_CUSTOM_KEY_STORE_ID --xks-key-id $STRONGROOM_XKS_KEY_ID"
            );
        }
        let _ = out.flush();
    }
    let jobs = JobTimes {
        rotation: options.job_interval,
        follow: options.job_interval,
        sweep: options
            .job_interval
            .min(JobTimes::of(&created.config).sweep),
        under_lease: created.config.store.is_shared(),
    };
    // Every node stops on the same signal.
    let others: Vec<_> = nodes
        .into_iter()
        .map(|node| {
            tokio::spawn(run(
                node,
                created.config.limits,
                jobs,
                created.config_path.clone(),
            ))
        })
        .collect();
    let result = run(
        first,
        created.config.limits,
        jobs,
        created.config_path.clone(),
    )
    .await;
    for node in others {
        let _ = node.await;
    }
    xks.shutdown().await;
    result
}
