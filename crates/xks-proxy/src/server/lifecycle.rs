//! The proxy's life: [`start`] opens the backends and listeners and spawns the background
//! tasks; [`RunningProxy::reload`] (and SIGHUP) replaces credentials, rules, quotas and TLS
//! files; [`RunningProxy::shutdown`] stops it.
//!
//! Invariants: a reload is all or nothing (every new setting is built before any is put in
//! force; on error the running settings stay); listen address, region, tenants and backends
//! change only with a restart; shutdown returns after every task ended and the audit trail is
//! closed, so every answered request has its record.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::workers::Workers;
use crate::backend::KeyBackend;
use crate::clock::Clock;
use crate::config::{BackendConfig, Config};

use super::connection::{listener_tls, reloaded_tls};
use super::health::{self, HealthCache};
use super::state::{Dynamic, Shared, Tenant};
use super::PROXY_VENDOR;

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
    /// The clock of the proxy's time-dependent decisions (health cache, quotas, and the
    /// backends it opens itself); the system clock unless a test hands in a manual one.
    pub clock: Clock,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("insecure_http", &self.insecure_http)
            .field("reload_on_sighup", &self.reload_on_sighup)
            .field("backends", &self.backends.keys().collect::<Vec<_>>())
            .field("clock", &self.clock)
            .finish()
    }
}

/// Opens the backend a tenant's configuration describes.
pub fn open_backend(cfg: &BackendConfig) -> Result<Arc<dyn KeyBackend>, String> {
    open_backend_with_clock(cfg, Clock::system())
}

/// [`open_backend`], with the backend's caches timed by `clock`.
fn open_backend_with_clock(
    cfg: &BackendConfig,
    clock: Clock,
) -> Result<Arc<dyn KeyBackend>, String> {
    match cfg {
        BackendConfig::Software(s) => {
            crate::backend::software::SoftwareBackend::open_with_clock(s, clock)
                .map(|b| Arc::new(b) as Arc<dyn KeyBackend>)
                .map_err(|e| e.to_string())
        }
        BackendConfig::Pkcs11(p) => {
            crate::backend::pkcs11::Pkcs11Backend::open_with_clock(p, clock)
                .map(|b| Arc::new(b) as Arc<dyn KeyBackend>)
                .map_err(|e| e.to_string())
        }
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
/// Binds, opens the backends and starts serving. Must be called within a tokio runtime.
pub async fn start(config: Config, mut opts: ServeOptions) -> Result<RunningProxy, String> {
    let plain_http = config.insecure_http || opts.insecure_http;
    let tls = listener_tls(&config, plain_http)?;
    let metrics = Arc::<crate::metrics::Metrics>::default();
    let mut tenants = HashMap::new();
    for t in &config.tenants {
        let uri_path = t.uri_path();
        let backend = match opts.backends.remove(&uri_path) {
            Some(b) => b,
            None => open_backend_with_clock(&t.backend, opts.clock.clone())
                .map_err(|e| format!("tenant {uri_path}: cannot open its backend: {e}"))?,
        };
        let dynamic = Dynamic::build(t, None, &opts.clock)?;
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
        let timeout = Duration::from_millis(t.backend_timeout_ms);
        let health = Arc::new(HealthCache::new(
            uri_path.clone(),
            backend.clone(),
            timeout,
            Duration::from_secs(config.health_cache_seconds),
            opts.clock.clone(),
        ));
        let tenant = Tenant {
            uri_path: uri_path.clone(),
            blocking: backend.is_blocking(),
            workers,
            backend,
            timeout,
            verify_encrypt: t.verify_encrypt,
            ekm_vendor: t.ekm_vendor.clone().unwrap_or_else(|| match t.backend {
                BackendConfig::Software(_) => PROXY_VENDOR.to_owned(),
                BackendConfig::Pkcs11(_) => "PKCS#11".to_owned(),
            }),
            health,
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
        clock: opts.clock.clone(),
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
        tasks.push(tokio::spawn(health::refresher(
            tenant.health.clone(),
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

impl Shared {
    fn reload(&self) -> Result<(), String> {
        let mut current = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let new = match &current.source {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => current.clone(),
        };
        let tls = reloaded_tls(&new, self.plain_http)?;
        let mut updates = Vec::new();
        for t in &new.tenants {
            let uri_path = t.uri_path();
            match self.tenants.get(&uri_path) {
                Some(tenant) => {
                    let old = tenant.dynamic();
                    let dynamic = Dynamic::build(t, Some(&old), &self.clock)
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
            tenant.replace_dynamic(dynamic);
        }
        if let (Some(running), Some(new)) = (&self.tls, tls) {
            running.replace(new);
        }
        *current = new;
        Ok(())
    }
}
