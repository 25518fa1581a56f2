//! `strongroom xks-proxy ...`: the clap types and what each command does.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::software::SoftwareBackend;
use crate::backend::{KeyBackend, KeyStatus};
use crate::config::{BackendConfig, Config, CredentialConfig, TenantConfig};
use crate::server::{self, ServeOptions};

/// `strongroom xks-proxy`: an external key store proxy for AWS KMS (XKS Proxy API v1).
#[derive(Debug, clap::Args)]
pub struct XksProxyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: XksProxyCommand,
}

/// The `xks-proxy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum XksProxyCommand {
    /// Run the proxy (SIGHUP reloads credentials, authorization rules, quotas and TLS files;
    /// SIGINT or SIGTERM stops it).
    Serve {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Serve plain HTTP instead of HTTPS. For local development only: AWS KMS needs HTTPS.
        #[arg(long)]
        insecure_http: bool,
    },
    /// Administer the keys of a tenant's backend.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print a new random SigV4 credential set, as a `[[credentials]]` entry for a credentials
    /// file and as the KMS console's proxy configuration JSON.
    NewCredentials {
        /// The tenant's path prefix, for the console JSON (`XksProxyUriPath`).
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

/// Which configuration and tenant a key command acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct TenantArgs {
    /// The configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// The tenant's path prefix (or its full `/…/kms/xks/v1` path); optional with one tenant.
    #[arg(long)]
    pub prefix: Option<String>,
}

/// `keys ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an AES-256 key; its label is its external key id.
    Create {
        /// Configuration and tenant.
        #[command(flatten)]
        tenant: TenantArgs,
        /// The key's label and external key id (1-128 characters of A-Z a-z 0-9 - . _).
        #[arg(long)]
        label: String,
        /// Key usage (software backend): ENCRYPT, DECRYPT or both, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "ENCRYPT,DECRYPT")]
        usage: Vec<String>,
    },
    /// List the keys with their status and usage.
    List {
        /// Configuration and tenant.
        #[command(flatten)]
        tenant: TenantArgs,
    },
    /// Enable a key.
    Enable {
        /// Configuration and tenant.
        #[command(flatten)]
        tenant: TenantArgs,
        /// The external key id.
        id: String,
    },
    /// Disable a key (GetKeyMetadata reports DISABLED; Encrypt and Decrypt are refused).
    Disable {
        /// Configuration and tenant.
        #[command(flatten)]
        tenant: TenantArgs,
        /// The external key id.
        id: String,
    },
}

/// Runs a command to completion; `serve` builds its own tokio runtime and returns when the
/// proxy is stopped by SIGINT or SIGTERM. Do not call from within a tokio runtime (use
/// [`run`] there).
pub fn run_cli(args: XksProxyArgs) -> Result<(), String> {
    match args.command {
        XksProxyCommand::Serve {
            config,
            insecure_http,
        } => {
            // The configuration and the backends come first: they size the runtime.
            let cfg = Config::load(&config).map_err(|e| e.to_string())?;
            let backends = open_and_calibrate(&cfg)?;
            let threads = connection_threads(&cfg, &backends);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))?
                .block_on(serve_loaded(cfg, insecure_http, backends))
        }
        other => run_sync(other, &mut std::io::stdout()),
    }
}

/// [`run_cli`] for callers already inside a tokio runtime, whose threads serve the proxy: the
/// configuration's `worker_threads` has no effect here.
pub async fn run(args: XksProxyArgs) -> Result<(), String> {
    match args.command {
        XksProxyCommand::Serve {
            config,
            insecure_http,
        } => serve(config, insecure_http).await,
        other => tokio::task::spawn_blocking(move || run_sync(other, &mut std::io::stdout()))
            .await
            .map_err(|e| e.to_string())?,
    }
}

async fn serve(config: PathBuf, insecure_http: bool) -> Result<(), String> {
    let cfg = Config::load(&config).map_err(|e| e.to_string())?;
    let backends = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || open_and_calibrate(&cfg))
            .await
            .map_err(|e| e.to_string())??
    };
    serve_loaded(cfg, insecure_http, backends).await
}

/// Opens every tenant's backend and lets it measure its key manager (PKCS#11: whether calls
/// overlap), logging what it found.
fn open_and_calibrate(cfg: &Config) -> Result<HashMap<String, Arc<dyn KeyBackend>>, String> {
    let mut backends = HashMap::new();
    for t in &cfg.tenants {
        let uri_path = t.uri_path();
        let backend = server::open_backend(&t.backend)
            .map_err(|e| format!("tenant {uri_path}: cannot open its backend: {e}"))?;
        if let Some(line) = backend.calibrate() {
            tracing::info!(tenant = %uri_path, "{line}");
        }
        backends.insert(uri_path, backend);
    }
    Ok(backends)
}

/// `worker_threads` if set; else one per core, less one for each backend whose calls are
/// serialized CPU work in this process (at least one).
fn connection_threads(cfg: &Config, backends: &HashMap<String, Arc<dyn KeyBackend>>) -> usize {
    if let Some(n) = cfg.worker_threads {
        return n;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = backends.values().filter(|b| b.needs_a_core()).count();
    cores.saturating_sub(busy).max(1)
}

async fn serve_loaded(
    cfg: Config,
    insecure_http: bool,
    backends: HashMap<String, Arc<dyn KeyBackend>>,
) -> Result<(), String> {
    let running = server::start(
        cfg,
        ServeOptions {
            insecure_http,
            reload_on_sighup: true,
            backends,
            ..Default::default()
        },
    )
    .await?;
    wait_for_stop_signal().await?;
    tracing::info!("stopping");
    running.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| format!("cannot handle SIGINT: {e}")),
        _ = term.recv() => Ok(()),
    }
}

/// Runs the non-serving commands, writing their output to `out`.
pub fn run_sync(command: XksProxyCommand, out: &mut dyn Write) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    match command {
        XksProxyCommand::Serve { .. } => Err("serve needs a runtime: use run_cli or run".into()),
        XksProxyCommand::NewCredentials { prefix } => {
            let c = CredentialConfig::generate()?;
            writeln!(
                out,
                "# Add to the tenant's credentials file (or its credentials list), then reload \
                 the proxy (SIGHUP)\n[[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                c.access_key_id,
                c.secret_access_key.as_str()
            )
            .map_err(io)?;
            let console = serde_json::json!({
                "XksProxyUriPath": xks::uri_path_for_prefix(&prefix),
                "XksProxyAuthenticationCredential": {
                    "AccessKeyId": c.access_key_id,
                    "RawSecretAccessKey": c.secret_access_key.as_str(),
                }
            });
            writeln!(
                out,
                "# AWS KMS console proxy configuration file\n{}",
                serde_json::to_string_pretty(&console).map_err(|e| e.to_string())?
            )
            .map_err(io)
        }
        XksProxyCommand::Keys(cmd) => keys(cmd, out),
    }
}

fn open(args: &TenantArgs) -> Result<(TenantConfig, Arc<dyn KeyBackend>), String> {
    let cfg = Config::load(&args.config).map_err(|e| e.to_string())?;
    let tenant = cfg.tenant(args.prefix.as_deref())?.clone();
    let backend = server::open_backend(&tenant.backend)?;
    Ok((tenant, backend))
}

fn keys(cmd: KeysCommand, out: &mut dyn Write) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    match cmd {
        KeysCommand::Create {
            tenant,
            label,
            usage,
        } => {
            let cfg = Config::load(&tenant.config).map_err(|e| e.to_string())?;
            let t = cfg.tenant(tenant.prefix.as_deref())?;
            let usage: Vec<String> = usage
                .iter()
                .map(|u| u.trim().to_ascii_uppercase())
                .collect();
            let both = usage.len() == 2
                && usage.iter().any(|u| u == xks::USAGE_ENCRYPT)
                && usage.iter().any(|u| u == xks::USAGE_DECRYPT);
            let id = match &t.backend {
                BackendConfig::Software(s) => {
                    let b = SoftwareBackend::open(s).map_err(|e| e.to_string())?;
                    let refs: Vec<&str> = usage.iter().map(String::as_str).collect();
                    b.create_key_with_usage(&label, &refs)
                }
                other => {
                    if !both {
                        return Err(format!(
                            "--usage is only supported by the software backend; the {} backend \
                             creates ENCRYPT,DECRYPT keys",
                            other.kind()
                        ));
                    }
                    server::open_backend(other)?.create_key(&label)
                }
            }
            .map_err(|e| e.to_string())?;
            writeln!(out, "created {id} in {}", t.uri_path()).map_err(io)
        }
        KeysCommand::List { tenant } => {
            let (t, backend) = open(&tenant)?;
            let keys = backend.list_keys().map_err(|e| e.to_string())?;
            writeln!(out, "# {} ({} keys)", t.uri_path(), keys.len()).map_err(io)?;
            writeln!(out, "{:<40} {:<10} {:<9} USAGE", "ID", "SPEC", "STATUS").map_err(io)?;
            for k in keys {
                let status = match k.status {
                    KeyStatus::Enabled => xks::KEY_STATUS_ENABLED,
                    KeyStatus::Disabled => xks::KEY_STATUS_DISABLED,
                };
                writeln!(
                    out,
                    "{:<40} {:<10} {:<9} {}",
                    k.key_id,
                    k.key_spec,
                    status,
                    k.key_usage.join(",")
                )
                .map_err(io)?;
            }
            Ok(())
        }
        KeysCommand::Enable { tenant, id } => set_enabled(&tenant, &id, true, out),
        KeysCommand::Disable { tenant, id } => set_enabled(&tenant, &id, false, out),
    }
}

fn set_enabled(
    tenant: &TenantArgs,
    id: &str,
    enabled: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let (t, backend) = open(tenant)?;
    backend
        .set_enabled(id, enabled)
        .map_err(|e| e.to_string())?;
    let what = if enabled { "enabled" } else { "disabled" };
    writeln!(out, "{what} {id} in {}", t.uri_path()).map_err(|e| e.to_string())
}
