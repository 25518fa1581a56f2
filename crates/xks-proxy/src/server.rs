//! The proxy's requests: routing, SigV4, quotas, secondary authorization, the four operations,
//! health caching, request logging and reloads. Connections, TLS, timeouts, connection caps and
//! body limits are `http_serve`'s (docs/limits.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::Full;
use http_serve::{Body, BodyError, Parts};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use xks::{ErrorName, KeyOperation, RequestMetadata, Route, XksError};

use crate::authz::{self, Rule};
use crate::backend::workers::Workers;
use crate::backend::{BackendError, BackendHealth, KeyBackend, KeyStatus};
use crate::config::{self, BackendConfig, Config, QuotaConfig, Secret, TenantConfig};
use crate::request::{
    check_key_id, check_metadata, DecryptBody, DecryptInput, EncryptBody, EncryptInput,
    MetadataBody, Required,
};

pub use crate::request::{CIPHERTEXT_METADATA_V1, MAX_DATA_BYTES};
/// `xksProxyVendor`.
pub const PROXY_VENDOR: &str = "Strongroom";
/// A failed health check is re-run after at most this long, whatever the cache age.
const FAILED_HEALTH_TTL: Duration = Duration::from_secs(5);

/// Calls that may wait for a blocking backend's threads, per thread; past that, ThrottlingException.
const WORKER_QUEUE_PER_THREAD: usize = 64;

/// How to run.
#[derive(Clone, Default)]
pub struct ServeOptions {
    /// Serve plain HTTP even if the configuration has `[tls]` (development only).
    pub insecure_http: bool,
    /// Reload credentials, authorization rules, quotas and TLS files on SIGHUP.
    pub reload_on_sighup: bool,
    /// Backends to use instead of opening the configured ones, by tenant URI path
    /// (`/<prefix>/kms/xks/v1`); for tests and embedding.
    pub backends: HashMap<String, Arc<dyn KeyBackend>>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("insecure_http", &self.insecure_http)
            .field("reload_on_sighup", &self.reload_on_sighup)
            .field("backends", &self.backends.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Opens the backend a tenant's configuration describes.
pub fn open_backend(cfg: &BackendConfig) -> Result<Arc<dyn KeyBackend>, String> {
    match cfg {
        BackendConfig::Software(s) => crate::backend::software::SoftwareBackend::open(s)
            .map(|b| Arc::new(b) as Arc<dyn KeyBackend>)
            .map_err(|e| e.to_string()),
        BackendConfig::Pkcs11(p) => crate::backend::pkcs11::Pkcs11Backend::open(p)
            .map(|b| Arc::new(b) as Arc<dyn KeyBackend>)
            .map_err(|e| e.to_string()),
    }
}

/// A running proxy.
pub struct RunningProxy {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningProxy {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the admin listener (`/metrics`, `/healthz`) listens, when configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        !self.shared.plain_http
    }

    /// Re-reads the configuration file (if it came from one) and every credentials file, and
    /// applies new credentials, authorization rules, quotas and TLS files. All or nothing: on
    /// error the running settings stay. Listen address, region, tenants and backends need a
    /// restart.
    pub fn reload(&self) -> Result<(), String> {
        self.shared.reload()
    }

    /// Stops accepting, lets open connections finish (up to `limits.shutdown_grace_ms`) and
    /// stops background tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Every answered request has its record; the file ends with its final digest.
        if let Some(trail) = &self.shared.audit {
            trail.close().await;
        }
    }

    /// The audit file being written, when the proxy keeps a trail.
    pub fn audit_file(&self) -> Option<std::path::PathBuf> {
        self.shared.audit.as_ref().map(|a| a.current_file())
    }

    /// Runs until `shutdown` is called from elsewhere or the accept loop ends.
    pub async fn wait(mut self) {
        if let Some(accept) = self.tasks.first_mut() {
            let _ = accept.await;
        }
    }
}

/// Binds, opens the backends and starts serving. Must be called within a tokio runtime.
pub async fn start(config: Config, mut opts: ServeOptions) -> Result<RunningProxy, String> {
    let plain_http = config.insecure_http || opts.insecure_http;
    let tls = if plain_http {
        tracing::warn!("serving plain HTTP: for local development only, never for AWS KMS");
        None
    } else {
        let tls_cfg = config
            .tls
            .as_ref()
            .ok_or("a [tls] section is required unless insecure_http is set")?;
        Some(Arc::new(http_serve::Tls::new(crate::tls::server_config(
            tls_cfg,
        )?)))
    };
    let metrics = Arc::<crate::metrics::Metrics>::default();
    let mut tenants = HashMap::new();
    for t in &config.tenants {
        let uri_path = t.uri_path();
        let backend = match opts.backends.remove(&uri_path) {
            Some(b) => b,
            None => open_backend(&t.backend)
                .map_err(|e| format!("tenant {uri_path}: cannot open its backend: {e}"))?,
        };
        let dynamic = Dynamic::build(t, None)?;
        let workers = if backend.is_blocking() {
            let threads = backend.worker_threads();
            Some(
                Workers::start(
                    backend.clone(),
                    threads,
                    threads.saturating_mul(WORKER_QUEUE_PER_THREAD),
                    "xks-backend",
                )
                .map_err(|e| format!("tenant {uri_path}: cannot start backend threads: {e}"))?,
            )
        } else {
            None
        };
        let tenant = Tenant {
            uri_path: uri_path.clone(),
            blocking: backend.is_blocking(),
            workers,
            backend,
            timeout: Duration::from_millis(t.backend_timeout_ms),
            verify_encrypt: t.verify_encrypt,
            ekm_vendor: t.ekm_vendor.clone().unwrap_or_else(|| match t.backend {
                BackendConfig::Software(_) => PROXY_VENDOR.to_owned(),
                BackendConfig::Pkcs11(_) => "PKCS#11".to_owned(),
            }),
            health: HealthCache::new(Duration::from_secs(config.health_cache_seconds)),
            dynamic: RwLock::new(Arc::new(dynamic)),
            metrics: Arc::clone(&metrics),
        };
        tenants.insert(uri_path, Arc::new(tenant));
    }
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let audit = match &config.audit {
        Some(a) => {
            // The signing key defaults to the configuration's directory.
            let base = config
                .source
                .as_ref()
                .and_then(|p| p.parent())
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(|| std::path::PathBuf::from("."));
            Some(a.open(&base)?)
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        tenants,
        verifier: sigv4::Verifier::new(
            config.region.clone(),
            xks::SIGV4_SERVICE,
            Duration::from_secs(config.max_clock_skew_seconds),
        ),
        fleet_size: config.fleet_size,
        lb_path: config.lb_health_check_path.clone(),
        plain_http,
        tls: tls.clone(),
        config: Mutex::new(config.clone()),
        audit,
        metrics: Arc::clone(&metrics),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let stop = {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = vec![tokio::spawn(http_serve::serve(
        listener,
        tls,
        config.limits,
        shared.clone(),
        stop,
    ))];
    let mut metrics_addr = None;
    if let Some(admin) = &config.admin {
        let admin_listener = TcpListener::bind(&admin.listen)
            .await
            .map_err(|e| format!("cannot listen on {} (admin): {e}", admin.listen))?;
        metrics_addr = admin_listener.local_addr().ok();
        if let Some(a) = metrics_addr {
            tracing::info!("XKS proxy metrics on http://{a}/metrics");
        }
        let handler = Arc::new(crate::metrics::Admin {
            metrics: Arc::clone(&metrics),
            backends: shared
                .tenants
                .values()
                .map(|t| (t.uri_path.clone(), Arc::clone(&t.backend)))
                .collect(),
        });
        let mut rx = shutdown_rx.clone();
        tasks.push(tokio::spawn(http_serve::serve(
            admin_listener,
            None,
            config.limits,
            handler,
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
    }
    for tenant in shared.tenants.values() {
        tasks.push(tokio::spawn(health_refresher(
            tenant.clone(),
            shutdown_rx.clone(),
        )));
    }
    if opts.reload_on_sighup {
        tasks.push(tokio::spawn(sighup_loop(shared.clone(), shutdown_rx)?));
    }
    tracing::info!(
        %addr,
        tls = !plain_http,
        tenants = ?shared.tenants.keys().collect::<Vec<_>>(),
        connection_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        "XKS proxy listening"
    );
    Ok(RunningProxy {
        addr,
        metrics_addr,
        shared,
        shutdown: shutdown_tx,
        tasks,
    })
}

#[cfg(unix)]
fn sighup_loop(
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed now, so a SIGHUP right after `start` returns is handled, not fatal.
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    Ok(async move {
        loop {
            tokio::select! {
                got = hup.recv() => {
                    if got.is_none() { return; }
                    tracing::info!("SIGHUP: reloading credentials, rules, quotas and TLS files");
                    let s = shared.clone();
                    match tokio::task::spawn_blocking(move || s.reload()).await {
                        Ok(Ok(())) => tracing::info!("reload complete"),
                        Ok(Err(e)) => tracing::error!("reload failed, previous settings kept: {e}"),
                        Err(e) => tracing::error!("reload failed: {e}"),
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// What every request needs.
struct Shared {
    tenants: HashMap<String, Arc<Tenant>>,
    verifier: sigv4::Verifier,
    fleet_size: u32,
    lb_path: String,
    plain_http: bool,
    /// The listener's TLS configuration (`None`: plain HTTP); replaced on reload.
    tls: Option<Arc<http_serve::Tls>>,
    /// The configuration in force, for reloads.
    config: Mutex<Config>,
    /// The audit trail, when configured: one record per request.
    audit: Option<Arc<audit::AuditLog>>,
    /// What the admin listener shows.
    metrics: Arc<crate::metrics::Metrics>,
}

struct Tenant {
    uri_path: String,
    backend: Arc<dyn KeyBackend>,
    blocking: bool,
    /// The threads running the calls of a blocking backend.
    workers: Option<Workers>,
    timeout: Duration,
    verify_encrypt: bool,
    ekm_vendor: String,
    health: HealthCache,
    dynamic: RwLock<Arc<Dynamic>>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// The reloadable part of a tenant.
struct Dynamic {
    credentials: HashMap<String, Secret>,
    rules: Vec<Rule>,
    quota: Option<(QuotaConfig, Arc<DefaultDirectRateLimiter>)>,
}

impl Dynamic {
    fn build(t: &TenantConfig, previous: Option<&Dynamic>) -> Result<Dynamic, String> {
        let credentials = config::load_credentials(t)?
            .into_iter()
            .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
            .collect();
        let quota = match t.quota {
            None => None,
            Some(q) => {
                // Keep the running limiter (and its state) when the quota did not change.
                let kept = previous
                    .and_then(|p| p.quota.as_ref())
                    .filter(|(old, _)| *old == q)
                    .map(|(_, l)| l.clone());
                let limiter = match kept {
                    Some(l) => l,
                    None => {
                        let rate = NonZeroU32::new(q.requests_per_second)
                            .ok_or("quota.requests_per_second must be > 0")?;
                        let burst = NonZeroU32::new(q.burst.unwrap_or(q.requests_per_second))
                            .ok_or("quota.burst must be > 0")?;
                        Arc::new(RateLimiter::direct(
                            Quota::per_second(rate).allow_burst(burst),
                        ))
                    }
                };
                Some((q, limiter))
            }
        };
        Ok(Dynamic {
            credentials,
            rules: t.authorization.clone(),
            quota,
        })
    }
}

impl Tenant {
    fn dynamic(&self) -> Arc<Dynamic> {
        self.dynamic
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Shared {
    fn reload(&self) -> Result<(), String> {
        let mut current = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let new = match &current.source {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => current.clone(),
        };
        let tls = if self.plain_http {
            None
        } else {
            let tls_cfg = new
                .tls
                .as_ref()
                .ok_or("the new configuration has no [tls] section")?;
            Some(crate::tls::server_config(tls_cfg)?)
        };
        let mut updates = Vec::new();
        for t in &new.tenants {
            let uri_path = t.uri_path();
            match self.tenants.get(&uri_path) {
                Some(tenant) => {
                    let old = tenant.dynamic();
                    let dynamic = Dynamic::build(t, Some(&old))
                        .map_err(|e| format!("tenant {uri_path}: {e}"))?;
                    updates.push((tenant.clone(), dynamic));
                }
                None => tracing::warn!(
                    tenant = %uri_path,
                    "new tenant in the configuration: it is served after a restart"
                ),
            }
        }
        for uri_path in self.tenants.keys() {
            if !new.tenants.iter().any(|t| &t.uri_path() == uri_path) {
                tracing::warn!(
                    tenant = %uri_path,
                    "tenant removed from the configuration: it is still served until a restart"
                );
            }
        }
        for (tenant, dynamic) in updates {
            tracing::info!(
                tenant = %tenant.uri_path,
                access_key_ids = ?dynamic.credentials.keys().collect::<Vec<_>>(),
                rules = dynamic.rules.len(),
                "tenant settings reloaded"
            );
            *tenant
                .dynamic
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Arc::new(dynamic);
        }
        if let (Some(running), Some(new)) = (&self.tls, tls) {
            running.replace(new);
        }
        *current = new;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// What a request's log line and audit record say.
type RequestLog = crate::audit::Seen;

/// A refusal: the error to send and, for 405, the status that replaces the error's own.
struct Reject {
    error: XksError,
    status: Option<StatusCode>,
}

impl From<XksError> for Reject {
    fn from(error: XksError) -> Reject {
        Reject {
            error,
            status: None,
        }
    }
}

fn reject(name: ErrorName, message: impl AsRef<str>) -> Reject {
    XksError::new(name, message).into()
}

type Outcome = Result<Vec<u8>, Reject>;

impl http_serve::Handler for Shared {
    async fn handle(
        &self,
        head: Parts,
        body: &mut Body,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        handle(self, head, body, peer).await
    }
}

/// Writes the request's audit record, when there is a trail; in `sync` mode, returns once it is
/// on disk. A record that cannot be written turns the answer into an internal error: nothing
/// is answered unrecorded.
async fn audited(
    shared: &Shared,
    log: &RequestLog,
    peer: SocketAddr,
    status: StatusCode,
    error: Option<&XksError>,
) -> Result<(), XksError> {
    let Some(trail) = &shared.audit else {
        return Ok(());
    };
    let record = crate::audit::record(log, peer, status.as_u16(), error);
    trail.append(&record).await.map_err(|e| {
        tracing::error!("cannot write the audit record: {e}");
        XksError::new(
            ErrorName::InternalException,
            "The request's audit record could not be written",
        )
    })
}

async fn handle(
    shared: &Shared,
    head: Parts,
    body: &mut Body,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut log = RequestLog {
        operation: "-",
        ..Default::default()
    };
    let outcome = route(shared, head, body, &mut log).await;
    shared.metrics.request(
        log.tenant.as_deref().unwrap_or("-"),
        log.operation,
        match &outcome {
            Ok(_) => "Success",
            Err(r) => r.error.name.as_str(),
        },
        started.elapsed(),
    );
    let latency_us = started.elapsed().as_micros() as u64;
    let (status, resp) = match outcome {
        Ok(body) => (StatusCode::OK, json_response(StatusCode::OK, body)),
        Err(r) => {
            let status = r.status.unwrap_or_else(|| {
                StatusCode::from_u16(r.error.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            });
            if let Err(e) = audited(shared, &log, peer, status, Some(&r.error)).await {
                return json_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_body());
            }
            let mut resp = json_response(status, r.error.to_body());
            if status == StatusCode::METHOD_NOT_ALLOWED {
                resp.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST"));
            }
            emit_log(&log, status, Some(&r.error), latency_us);
            return resp;
        }
    };
    if let Err(e) = audited(shared, &log, peer, status, None).await {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_body());
    }
    emit_log(&log, status, None, latency_us);
    resp
}

fn emit_log(log: &RequestLog, status: StatusCode, error: Option<&XksError>, latency_us: u64) {
    let m = log.metadata.as_ref();
    let field = |f: fn(&RequestMetadata) -> &Option<String>| -> &str {
        m.and_then(|m| f(m).as_deref()).unwrap_or("-")
    };
    let kms_request_id = field(|m| &m.kms_request_id);
    let kms_operation = field(|m| &m.kms_operation);
    let principal = field(|m| &m.aws_principal_arn);
    let kms_key_arn = field(|m| &m.kms_key_arn);
    let via_service = field(|m| &m.kms_via_service);
    let tenant = log.tenant.as_deref().unwrap_or("-");
    let key_id = log.key_id.as_deref().unwrap_or("-");
    let access_key_id = log.access_key_id.as_deref().unwrap_or("-");
    let status = status.as_u16();
    match error {
        None => tracing::info!(
            kms_request_id,
            tenant,
            operation = log.operation,
            key_id,
            kms_operation,
            principal,
            kms_key_arn,
            via_service,
            access_key_id,
            status,
            outcome = "ok",
            latency_us,
            "xks request"
        ),
        Some(e) if status >= 500 => tracing::warn!(
            kms_request_id, tenant, operation = log.operation, key_id, kms_operation, principal,
            kms_key_arn, via_service, access_key_id, status, outcome = e.name.as_str(),
            latency_us, message = %e.message, "xks request failed"
        ),
        Some(e) => tracing::info!(
            kms_request_id, tenant, operation = log.operation, key_id, kms_operation, principal,
            kms_key_arn, via_service, access_key_id, status, outcome = e.name.as_str(),
            latency_us, message = %e.message, "xks request refused"
        ),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Routes a request and answers it. Refusals before the body is read (path, tenant, method,
/// declared size) leave the body to the server, which drains it after the answer.
async fn route(shared: &Shared, parts: Parts, body: &mut Body, log: &mut RequestLog) -> Outcome {
    let path = parts.uri.path();
    if !shared.lb_path.is_empty()
        && path == shared.lb_path
        && (parts.method == Method::GET || parts.method == Method::HEAD)
    {
        log.operation = "LoadBalancerHealthCheck";
        return lb_health(shared).await;
    }
    let Some(api) = xks::parse_api_path(path) else {
        return Err(reject(
            ErrorName::InvalidUriPathException,
            "The URI path is not an XKS Proxy API path",
        ));
    };
    let Some(tenant) = shared.tenants.get(api.uri_path).cloned() else {
        return Err(reject(
            ErrorName::InvalidUriPathException,
            "No external key store is served at this URI path",
        ));
    };
    log.tenant = Some(tenant.uri_path.clone());
    log.operation = api.route.operation().name();
    let route = match api.route {
        Route::Health => None,
        Route::Key { key_id, op } => {
            log.key_id = Some(
                key_id
                    .chars()
                    .take(xks::MAX_EXTERNAL_KEY_ID_LEN + 1)
                    .collect(),
            );
            Some((key_id.to_owned(), op))
        }
    };
    if parts.method != Method::POST {
        return Err(Reject {
            error: XksError::new(
                ErrorName::ValidationException,
                "XKS Proxy API calls are POST requests",
            ),
            status: Some(StatusCode::METHOD_NOT_ALLOWED),
        });
    }

    let too_large = |max: usize| {
        reject(
            ErrorName::UnsupportedOperationException,
            format!("The request body exceeds the {max} bytes this proxy accepts"),
        )
    };
    let body = match body.read_all().await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(too_large(body.max_bytes())),
        // The server closes the connection or stream instead of sending this.
        Err(e @ (BodyError::TimedOut | BodyError::Broken)) => {
            return Err(reject(ErrorName::ValidationException, e.to_string()))
        }
    };

    let dynamic = tenant.dynamic();
    authenticate(shared, &dynamic, &parts, &body, log)?;

    match route {
        None => health(shared, &tenant, &body, log).await,
        Some((key_id, op)) => {
            if let Some((_, limiter)) = &dynamic.quota {
                if limiter.check().is_err() {
                    return Err(reject(
                        ErrorName::ThrottlingException,
                        "The request rate exceeds this external key store's quota",
                    ));
                }
            }
            match op {
                KeyOperation::GetKeyMetadata => {
                    key_metadata(&tenant, &dynamic, key_id, &body, log).await
                }
                KeyOperation::Encrypt => encrypt(&tenant, &dynamic, key_id, &body, log).await,
                KeyOperation::Decrypt => decrypt(&tenant, &dynamic, key_id, &body, log).await,
            }
        }
    }
}

fn authenticate(
    shared: &Shared,
    dynamic: &Dynamic,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    log: &mut RequestLog,
) -> Result<(), Reject> {
    let mut headers = Vec::with_capacity(parts.headers.len() + 1);
    for (name, value) in &parts.headers {
        // A header that is not visible ASCII cannot be part of a valid signature.
        if let Ok(v) = value.to_str() {
            headers.push((name.as_str(), v));
        }
    }
    let authority;
    if !parts.headers.contains_key(hyper::header::HOST) {
        // HTTP/2 carries the host in :authority.
        if let Some(a) = parts.uri.authority() {
            authority = a.as_str().to_owned();
            headers.push(("host", authority.as_str()));
        }
    }
    let request = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    match shared
        .verifier
        .verify(&request, time::OffsetDateTime::now_utc(), |akid| {
            dynamic.credentials.get(akid).map(Secret::as_str)
        }) {
        Ok(v) => {
            log.access_key_id = Some(v.access_key_id);
            Ok(())
        }
        Err(e) => Err(reject(
            ErrorName::AuthenticationFailedException,
            e.to_string(),
        )),
    }
}

/// Checks the metadata an operation requires (`request::check_metadata`), keeping it in the
/// request's log record (even when incomplete) and lending it back from there.
fn require_metadata(
    m: Option<RequestMetadata>,
    required: Required,
    log: &mut RequestLog,
) -> Result<&RequestMetadata, Reject> {
    let Some(m) = m else {
        return Err(check_metadata(None, required)
            .err()
            .unwrap_or_else(|| {
                XksError::new(
                    ErrorName::ValidationException,
                    "requestMetadata is required",
                )
            })
            .into());
    };
    let m = log.metadata.insert(m);
    check_metadata(Some(m), required)?;
    Ok(m)
}

fn check_authorization(
    tenant: &Tenant,
    dynamic: &Dynamic,
    key_id: &str,
    m: &RequestMetadata,
) -> Result<(), Reject> {
    match authz::authorize(&dynamic.rules, key_id, m) {
        Ok(()) => Ok(()),
        Err(denial) => {
            tracing::warn!(
                tenant = %tenant.uri_path,
                key_id,
                kms_request_id = m.kms_request_id.as_deref().unwrap_or("-"),
                kms_operation = m.kms_operation.as_deref().unwrap_or("-"),
                principal = m.aws_principal_arn.as_deref().unwrap_or("-"),
                kms_key_arn = m.kms_key_arn.as_deref().unwrap_or("-"),
                via_service = m.kms_via_service.as_deref().unwrap_or("-"),
                rule = denial.rule.as_str(),
                reason = denial.reason.as_str(),
                "secondary authorization denied the request"
            );
            Err(reject(
                ErrorName::AccessDeniedException,
                format!(
                    "Denied by the proxy's authorization rule(s): {}",
                    denial.rule
                ),
            ))
        }
    }
}

fn backend_error(tenant: &Tenant, e: BackendError) -> Reject {
    tenant.metrics.backend_error(&tenant.uri_path, &e);
    match e {
        BackendError::KeyNotFound(_) => reject(
            ErrorName::KeyNotFoundException,
            "The external key was not found in the external key manager",
        ),
        BackendError::KeyDisabled(_) => reject(
            ErrorName::InvalidStateException,
            "The external key is disabled in the external key manager",
        ),
        BackendError::InvalidKeyUsage { operation, .. } => reject(
            ErrorName::InvalidKeyUsageException,
            format!("The external key does not allow {operation}"),
        ),
        BackendError::InvalidCiphertext => reject(
            ErrorName::InvalidCiphertextException,
            "The ciphertext, initialization vector, additional authenticated data, ciphertext \
             metadata or authentication tag is corrupted, missing or otherwise invalid",
        ),
        BackendError::Busy => reject(
            ErrorName::ThrottlingException,
            "The external key manager is busy; retry",
        ),
        BackendError::Unavailable(detail) => {
            tracing::error!(tenant = %tenant.uri_path, "key manager unavailable: {detail}");
            reject(
                ErrorName::InternalException,
                "The external key manager is unavailable",
            )
        }
        BackendError::Internal(detail) => {
            tracing::error!(tenant = %tenant.uri_path, "key manager error: {detail}");
            reject(
                ErrorName::InternalException,
                "The external key manager failed the operation",
            )
        }
    }
}

/// Runs a backend call: inline for a non-blocking backend, else on the tenant's backend threads
/// within the tenant's time limit (DependencyTimeoutException past it; a call still queued when
/// the limit passes is skipped).
async fn call_backend<T, F>(tenant: &Arc<Tenant>, f: F) -> Result<T, Reject>
where
    T: Send + 'static,
    F: FnOnce(&dyn KeyBackend) -> Result<T, BackendError> + Send + 'static,
{
    let workers = match &tenant.workers {
        Some(w) if tenant.blocking => w,
        _ => return f(tenant.backend.as_ref()).map_err(|e| backend_error(tenant, e)),
    };
    let reply = workers.submit(f).map_err(|e| backend_error(tenant, e))?;
    match tokio::time::timeout(tenant.timeout, reply).await {
        Ok(Ok(Ok(result))) => result.map_err(|e| backend_error(tenant, e)),
        Ok(Ok(Err(_panic))) => {
            tracing::error!(tenant = %tenant.uri_path, "backend call panicked");
            Err(reject(
                ErrorName::InternalException,
                "The proxy failed the operation",
            ))
        }
        Ok(Err(_closed)) => {
            tracing::error!(tenant = %tenant.uri_path, "backend worker dropped the call");
            Err(reject(
                ErrorName::InternalException,
                "The proxy failed the operation",
            ))
        }
        Err(_) => {
            tenant.metrics.backend_timeout(&tenant.uri_path);
            Err(reject(
                ErrorName::DependencyTimeoutException,
                format!(
                    "The external key manager did not answer within {} ms",
                    tenant.timeout.as_millis()
                ),
            ))
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Outcome {
    serde_json::to_vec(v).map_err(|_| {
        reject(
            ErrorName::InternalException,
            "Cannot serialize the response",
        )
    })
}

async fn key_metadata(
    tenant: &Arc<Tenant>,
    dynamic: &Dynamic,
    key_id: String,
    body: &[u8],
    log: &mut RequestLog,
) -> Outcome {
    let raw = MetadataBody::parse(body)?;
    let m = require_metadata(raw.request_metadata, Required::KeyMetadata, log)?;
    check_key_id(&key_id)?;
    check_authorization(tenant, dynamic, &key_id, m)?;
    let info = call_backend(tenant, move |b| b.key_info(&key_id)).await?;
    let mut key_usage = info.key_usage;
    key_usage.truncate(xks::MAX_KEY_USAGE_VALUES);
    to_json(&xks::GetKeyMetadataResponse {
        key_spec: info.key_spec,
        key_usage,
        key_status: match info.status {
            KeyStatus::Enabled => xks::KEY_STATUS_ENABLED,
            KeyStatus::Disabled => xks::KEY_STATUS_DISABLED,
        }
        .to_owned(),
    })
}

async fn encrypt(
    tenant: &Arc<Tenant>,
    dynamic: &Dynamic,
    key_id: String,
    body: &[u8],
    log: &mut RequestLog,
) -> Outcome {
    let mut raw = EncryptBody::parse(body)?;
    let m = require_metadata(raw.request_metadata.take(), Required::Crypto, log)?;
    check_key_id(&key_id)?;
    let want_cdiv = raw.check()?;
    check_authorization(tenant, dynamic, &key_id, m)?;
    let EncryptInput {
        plaintext,
        aad,
        gcm_aad,
    } = raw.input()?;
    let metadata = CIPHERTEXT_METADATA_V1;
    let verify = want_cdiv && tenant.verify_encrypt;

    let (sealed, cdiv) = call_backend(tenant, move |b| {
        let sealed = b.encrypt(&key_id, &plaintext, &gcm_aad)?;
        if sealed.ciphertext.len() != plaintext.len()
            || !matches!(sealed.iv.len(), xks::IV_LEN_12 | xks::IV_LEN_16)
        {
            return Err(BackendError::Internal(
                "the key manager returned a malformed encryption".into(),
            ));
        }
        // Appendix C: the CDIV is computed before the check decryption.
        let cdiv = want_cdiv.then(|| {
            xks::cdiv_sha256(&aad, &metadata, &sealed.iv, &sealed.ciphertext, &sealed.tag)
        });
        if verify {
            let checked = b.decrypt(
                &key_id,
                &sealed.ciphertext,
                &sealed.iv,
                &sealed.tag,
                &gcm_aad,
            );
            match checked {
                // aws-lc's CRYPTO_memcmp: constant time, and word-at-a-time unlike subtle's
                // per-byte comparison (which was 1.3% of the proxy's CPU per software Encrypt).
                Ok(check) => {
                    if aws_lc_rs::constant_time::verify_slices_are_equal(&check, &plaintext)
                        .is_err()
                    {
                        return Err(BackendError::Internal(
                            "the encryption decrypted to different bytes".into(),
                        ));
                    }
                }
                // A key allowed to encrypt but not to decrypt: the key manager will not check
                // its own work, so the encryption is answered as it made it.
                Err(BackendError::InvalidKeyUsage {
                    operation: "decrypt",
                    ..
                }) => {}
                // The key changed between the two steps (disabled, removed, usage changed):
                // report that, not a broken key manager.
                Err(
                    e @ (BackendError::KeyDisabled(_)
                    | BackendError::KeyNotFound(_)
                    | BackendError::InvalidKeyUsage { .. }
                    | BackendError::Busy
                    | BackendError::Unavailable(_)),
                ) => return Err(e),
                Err(e) => {
                    return Err(BackendError::Internal(format!(
                        "the encryption did not decrypt: {e}"
                    )))
                }
            }
        }
        Ok((sealed, cdiv))
    })
    .await?;
    to_json(&xks::EncryptResponse {
        ciphertext: sealed.ciphertext,
        ciphertext_metadata: Some(metadata.to_vec()),
        initialization_vector: sealed.iv,
        authentication_tag: sealed.tag.to_vec(),
        ciphertext_data_integrity_value: cdiv.map(|c| c.to_vec()),
    })
}

async fn decrypt(
    tenant: &Arc<Tenant>,
    dynamic: &Dynamic,
    key_id: String,
    body: &[u8],
    log: &mut RequestLog,
) -> Outcome {
    let mut raw = DecryptBody::parse(body)?;
    let m = require_metadata(raw.request_metadata.take(), Required::Crypto, log)?;
    check_key_id(&key_id)?;
    raw.check()?;
    check_authorization(tenant, dynamic, &key_id, m)?;
    let DecryptInput {
        ciphertext,
        iv,
        tag,
        gcm_aad,
    } = raw.input()?;
    let plaintext = call_backend(tenant, move |b| {
        b.decrypt(&key_id, &ciphertext, &iv, &tag, &gcm_aad)
    })
    .await?;
    to_json(&xks::DecryptResponse { plaintext })
}

async fn health(
    shared: &Shared,
    tenant: &Arc<Tenant>,
    body: &[u8],
    log: &mut RequestLog,
) -> Outcome {
    // The specification's error table leaves GetHealthStatus out of ValidationException, but
    // its GetHealthStatus section requires both fields, and AWS's own proxy and test client
    // answer `{}` and `{"requestMetadata":{}}` with ValidationException.
    let raw = MetadataBody::parse(body)?;
    require_metadata(raw.request_metadata, Required::Health, log)?;
    let h = tenant.health.get(tenant).await;
    to_json(&xks::GetHealthStatusResponse {
        xks_proxy_fleet_size: shared.fleet_size,
        xks_proxy_vendor: PROXY_VENDOR.to_owned(),
        xks_proxy_model: format!("Strongroom XKS Proxy {}", env!("CARGO_PKG_VERSION")),
        ekm_vendor: tenant.ekm_vendor.clone(),
        ekm_fleet_details: vec![xks::EkmFleetDetail {
            id: h.id,
            model: h.model,
            health_status: h.health_status.to_owned(),
        }],
    })
}

/// The unauthenticated load-balancer check: 200 while every tenant's key manager can serve
/// (ACTIVE or DEGRADED), 503 otherwise. Reveals nothing else.
async fn lb_health(shared: &Shared) -> Outcome {
    for tenant in shared.tenants.values() {
        if tenant.health.get(tenant).await.health_status == xks::HEALTH_UNAVAILABLE {
            return Err(Reject {
                error: XksError::new(ErrorName::InternalException, "unavailable"),
                status: Some(StatusCode::SERVICE_UNAVAILABLE),
            });
        }
    }
    Ok(br#"{"status":"ok"}"#.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Health

struct HealthCache {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, BackendHealth)>>,
}

impl HealthCache {
    fn new(ttl: Duration) -> HealthCache {
        HealthCache {
            ttl,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached result if fresh enough, else a new deep check (one at a time).
    async fn get(&self, tenant: &Arc<Tenant>) -> BackendHealth {
        let mut slot = self.slot.lock().await;
        if let Some((at, h)) = slot.as_ref() {
            let ttl = if h.health_status == xks::HEALTH_UNAVAILABLE {
                self.ttl.min(FAILED_HEALTH_TTL)
            } else {
                self.ttl
            };
            if at.elapsed() < ttl {
                return h.clone();
            }
        }
        let previous = slot.as_ref().map(|(_, h)| h.clone());
        let h = self.check(tenant, previous).await;
        *slot = Some((Instant::now(), h.clone()));
        h
    }

    async fn check(&self, tenant: &Arc<Tenant>, previous: Option<BackendHealth>) -> BackendHealth {
        if !tenant.blocking {
            return tenant.backend.health();
        }
        let backend = tenant.backend.clone();
        let limit = tenant.timeout.max(Duration::from_secs(1));
        let task = tokio::task::spawn_blocking(move || backend.health());
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(h)) => h,
            outcome => {
                let why = if outcome.is_err() {
                    "timed out"
                } else {
                    "panicked"
                };
                tracing::error!(tenant = %tenant.uri_path, "health check {why}");
                let (id, model) = previous
                    .map(|p| (p.id, p.model))
                    .unwrap_or_else(|| (tenant.uri_path.clone(), "unknown".to_owned()));
                BackendHealth {
                    id,
                    model,
                    health_status: xks::HEALTH_UNAVAILABLE,
                }
            }
        }
    }
}

/// Keeps each tenant's cached health fresh so GetHealthStatus rarely waits for a check.
async fn health_refresher(tenant: Arc<Tenant>, mut shutdown: watch::Receiver<bool>) {
    if tenant.health.ttl.is_zero() {
        return;
    }
    let period = (tenant.health.ttl / 2).max(Duration::from_secs(1));
    loop {
        let h = tenant.health.get(&tenant).await;
        if h.health_status != xks::HEALTH_ACTIVE {
            tracing::warn!(
                tenant = %tenant.uri_path,
                id = %h.id,
                status = h.health_status,
                "external key manager is not healthy"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
