//! The proxy's TOML configuration. See `docs/xks-proxy.md` for the reference.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::authz::Rule;
use crate::backend::pkcs11::Pkcs11Config;
use crate::backend::software::SoftwareConfig;

/// Default bound on the request clock skew SigV4 allows (the specification's 5 minutes).
pub const DEFAULT_MAX_SKEW_SECONDS: u64 = 300;
/// Default age after which a deep health check is run again.
pub const DEFAULT_HEALTH_CACHE_SECONDS: u64 = 30;
/// The specification's ceiling on a cached health result.
pub const MAX_HEALTH_CACHE_SECONDS: u64 = 60;
/// Upper bound of `worker_threads`.
pub const MAX_WORKER_THREADS: usize = 1024;

/// Default time a blocking backend call may take before DependencyTimeoutException.
pub const DEFAULT_BACKEND_TIMEOUT_MS: u64 = 1000;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `host:port` to listen on.
    pub listen: String,
    /// The AWS region KMS signs for (SigV4 credential scope).
    pub region: String,
    /// Serve plain HTTP instead of HTTPS. For local development only.
    #[serde(default)]
    pub insecure_http: bool,
    /// Accept secret files (this configuration, the TLS private key, credentials, KEK and PIN
    /// files) that the group or others may read. Off by default: the proxy refuses to start.
    #[serde(default)]
    pub allow_insecure_file_permissions: bool,
    /// Allowed difference between the request time and the proxy's clock, in seconds.
    #[serde(default = "default_skew")]
    pub max_clock_skew_seconds: u64,
    /// Age (seconds, at most 60) after which GetHealthStatus runs a new deep check.
    #[serde(default = "default_health_cache")]
    pub health_cache_seconds: u64,
    /// `xksProxyFleetSize` reported by GetHealthStatus.
    #[serde(default = "default_fleet_size")]
    pub fleet_size: u32,
    /// Unauthenticated `GET` path for load-balancer health checks (`""` turns it off).
    #[serde(default = "default_lb_path")]
    pub lb_health_check_path: String,
    /// Threads that serve connections (TLS, HTTP, SigV4, JSON). Default: one per CPU core,
    /// less one per PKCS#11 backend that calibration found to be serialized CPU work in this
    /// process (SoftHSMv2), at least one (docs/xks-proxy.md, "Tuning"). Read at start, not on
    /// reload.
    #[serde(default)]
    pub worker_threads: Option<usize>,
    /// Connection, time and size limits of the listener (`[limits]`). Read at start, not on
    /// reload.
    #[serde(default)]
    pub limits: http_serve::Limits,
    /// HTTPS settings (required unless `insecure_http`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The audit trail (`[audit]`, docs/audit.md): one record per request. Its signing key
    /// defaults to `audit-signing-key.pem` beside this file.
    #[serde(default)]
    pub audit: Option<audit::AuditConfig>,
    /// The admin listener (`[admin] listen`): Prometheus `/metrics` and `/healthz`.
    #[serde(default)]
    pub admin: Option<crate::metrics::AdminConfig>,
    /// One entry per URI path prefix.
    pub tenants: Vec<TenantConfig>,
    /// The file this was read from (for reloads); relative paths were resolved against its
    /// directory.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

fn default_skew() -> u64 {
    DEFAULT_MAX_SKEW_SECONDS
}
fn default_health_cache() -> u64 {
    DEFAULT_HEALTH_CACHE_SECONDS
}
fn default_fleet_size() -> u32 {
    1
}
fn default_lb_path() -> String {
    "/ping".to_owned()
}
fn default_backend_timeout() -> u64 {
    DEFAULT_BACKEND_TIMEOUT_MS
}
fn default_true() -> bool {
    true
}

/// `[tls]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Mutual TLS: clients must present a certificate from this CA with this subject.
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
}

/// `[tls.client_auth]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// PEM file of the CA certificate(s) client certificates must chain to.
    pub ca_file: PathBuf,
    /// Required subject: the certificate's common name or one of its DNS subject alternative
    /// names must equal it (ASCII case-insensitively), e.g. `cks.kms.us-east-1.amazonaws.com`.
    pub subject: String,
}

/// `[[tenants]]`: one URI path prefix with its own credentials, keys and quota.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The path prefix: the tenant's `XksProxyUriPath` is `/<prefix>/kms/xks/v1`
    /// (`/kms/xks/v1` for `""`).
    #[serde(default)]
    pub prefix: String,
    /// SigV4 credential sets given inline.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    /// A file of further credential sets (`[[credentials]]` tables), re-read on reload.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Optional request quota; over it, ThrottlingException.
    #[serde(default)]
    pub quota: Option<QuotaConfig>,
    /// Where the tenant's keys live.
    pub backend: BackendConfig,
    /// `ekmVendor` in GetHealthStatus (defaults by backend type).
    #[serde(default)]
    pub ekm_vendor: Option<String>,
    /// Time limit of a call into a blocking backend (PKCS#11), in milliseconds.
    #[serde(default = "default_backend_timeout")]
    pub backend_timeout_ms: u64,
    /// When Encrypt is asked for a CDIV, decrypt the result and compare before answering
    /// (the specification's Appendix C recommendation).
    #[serde(default = "default_true")]
    pub verify_encrypt: bool,
    /// Secondary authorization rules (none: every authenticated request is allowed).
    #[serde(default)]
    pub authorization: Vec<Rule>,
}

impl TenantConfig {
    /// The tenant's `XksProxyUriPath`.
    pub fn uri_path(&self) -> String {
        xks::uri_path_for_prefix(&self.prefix)
    }
}

/// One SigV4 credential set.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// 20 to 30 characters of `A-Z` and `2-7`.
    pub access_key_id: String,
    /// 43 to 64 characters of `A-Za-z0-9+/=`.
    pub secret_access_key: Secret,
}

/// A secret string: wiped on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .finish()
    }
}

impl CredentialConfig {
    /// Checks the formats KMS accepts (the specification's Appendix A and console file).
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.access_key_id;
        if !(20..=30).contains(&id.len())
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        {
            return Err(format!(
                "access key id '{id}' must be 20 to 30 characters of A-Z and 2-7"
            ));
        }
        let s = self.secret_access_key.as_str();
        if !(43..=64).contains(&s.len())
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(format!(
                "the secret access key of '{id}' must be 43 to 64 characters of A-Z a-z 0-9 + / ="
            ));
        }
        Ok(())
    }

    /// A fresh random credential set (26-character id, 43-character secret: 256 bits).
    pub fn generate() -> Result<CredentialConfig, String> {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut id_bytes = [0u8; 26];
        let mut secret = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut id_bytes).map_err(|_| "the random generator failed")?;
        aws_lc_rs::rand::fill(secret.as_mut()).map_err(|_| "the random generator failed")?;
        let access_key_id = id_bytes
            .iter()
            .map(|b| ALPHABET[(b & 31) as usize] as char)
            .collect();
        let mut text = xks::b64::encode(secret.as_ref());
        // 44 characters with one '=' of padding; the secret is the 43 before it.
        text.truncate(43);
        Ok(CredentialConfig {
            access_key_id,
            secret_access_key: Secret(text),
        })
    }
}

/// The body of a `credentials_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    /// The credential sets.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
}

/// `quota = { requests_per_second = N, burst = M }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Sustained rate.
    pub requests_per_second: u32,
    /// Requests allowed at once above the rate (default: one second's worth).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// `[tenants.backend]`
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum BackendConfig {
    /// The sealed software keystore.
    Software(SoftwareConfig),
    /// A PKCS#11 token.
    Pkcs11(Pkcs11Config),
}

impl BackendConfig {
    /// `software` or `pkcs11`.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendConfig::Software(_) => "software",
            BackendConfig::Pkcs11(_) => "pkcs11",
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn resolve(base: &Path, p: &mut PathBuf) {
    if p.is_relative() && !p.as_os_str().is_empty() {
        *p = base.join(&*p);
    }
}

impl Config {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cfg = Config::parse(&text, base)
            .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))?;
        cfg.source = Some(path.to_owned());
        cfg.check_secret_files(path)?;
        Ok(cfg)
    }

    /// Refuses secret files open to the group or others (unless allowed). A file that does not
    /// exist is left to the code that reads it, which says so in its own words.
    fn check_secret_files(&self, config_path: &Path) -> Result<(), ConfigError> {
        let mut files: Vec<(&Path, &str)> = vec![(config_path, "configuration file")];
        if let Some(tls) = &self.tls {
            files.push((&tls.key_file, "TLS private key file"));
        }
        for t in &self.tenants {
            if let Some(f) = &t.credentials_file {
                files.push((f, "credentials file"));
            }
            match &t.backend {
                BackendConfig::Software(s) => {
                    if let Some(k) = &s.kek_file {
                        files.push((k, "KEK file"));
                    }
                }
                BackendConfig::Pkcs11(p) => {
                    if let Some(f) = &p.pin_file {
                        files.push((f, "PIN file"));
                    }
                }
            }
        }
        for (path, what) in files {
            if path.exists() {
                secret_files::check_secret_file(path, what, self.allow_insecure_file_permissions)
                    .map_err(ConfigError)?;
            }
        }
        Ok(())
    }

    /// Parses and checks a configuration; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        cfg.resolve_paths(base_dir);
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(a) = &mut self.audit {
            a.resolve_paths(base);
        }
        if let Some(tls) = &mut self.tls {
            resolve(base, &mut tls.cert_file);
            resolve(base, &mut tls.key_file);
            if let Some(ca) = &mut tls.client_auth {
                resolve(base, &mut ca.ca_file);
            }
        }
        for t in &mut self.tenants {
            if let Some(f) = &mut t.credentials_file {
                resolve(base, f);
            }
            match &mut t.backend {
                BackendConfig::Software(s) => {
                    resolve(base, &mut s.path);
                    if let Some(k) = &mut s.kek_file {
                        resolve(base, k);
                    }
                }
                BackendConfig::Pkcs11(p) => {
                    // A bare module name is left to the dynamic loader's search path.
                    if p.module.components().count() > 1 {
                        resolve(base, &mut p.module);
                    }
                    if let Some(f) = &mut p.pin_file {
                        resolve(base, f);
                    }
                }
            }
        }
    }

    /// Checks everything that can be checked without touching files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.listen.parse::<SocketAddr>().is_err() {
            return err(format!("listen = '{}' is not an address:port", self.listen));
        }
        if self.region.is_empty() {
            return err("region must be set".into());
        }
        if self.health_cache_seconds > MAX_HEALTH_CACHE_SECONDS {
            return err(format!(
                "health_cache_seconds must be at most {MAX_HEALTH_CACHE_SECONDS} (the specification's limit)"
            ));
        }
        if self.fleet_size == 0 {
            return err("fleet_size must be greater than zero".into());
        }
        if let Some(n) = self.worker_threads {
            if !(1..=MAX_WORKER_THREADS).contains(&n) {
                return err(format!(
                    "worker_threads must be between 1 and {MAX_WORKER_THREADS}"
                ));
            }
        }
        self.limits.validate().map_err(ConfigError)?;
        if !self.lb_health_check_path.is_empty() && !self.lb_health_check_path.starts_with('/') {
            return err("lb_health_check_path must start with '/'".into());
        }
        if self.tls.is_none() && !self.insecure_http {
            return err(
                "a [tls] section is required (insecure_http = true serves plain HTTP, for development only)"
                    .into(),
            );
        }
        if let Some(ca) = self.tls.as_ref().and_then(|t| t.client_auth.as_ref()) {
            if ca.subject.trim().is_empty() {
                return err("tls.client_auth.subject must not be empty".into());
            }
        }
        if self.tenants.is_empty() {
            return err("at least one [[tenants]] entry is required".into());
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tenants {
            let uri_path = t.uri_path();
            if !xks::is_valid_uri_path(&uri_path) {
                return err(format!(
                    "tenant prefix '{}' gives the URI path '{uri_path}', which is not a valid \
                     XksProxyUriPath (at most 128 characters of a-z A-Z 0-9 / - _)",
                    t.prefix
                ));
            }
            if !seen.insert(uri_path.clone()) {
                return err(format!("two tenants use the URI path {uri_path}"));
            }
            if t.credentials.is_empty() && t.credentials_file.is_none() {
                return err(format!(
                    "tenant {uri_path} has no credentials: set credentials or credentials_file"
                ));
            }
            for c in &t.credentials {
                c.validate()
                    .map_err(|e| ConfigError(format!("tenant {uri_path}: {e}")))?;
            }
            if let Some(q) = t.quota {
                if q.requests_per_second == 0 || q.burst == Some(0) {
                    return err(format!(
                        "tenant {uri_path}: quota values must be greater than zero"
                    ));
                }
            }
            if t.backend_timeout_ms == 0 {
                return err(format!("tenant {uri_path}: backend_timeout_ms must be > 0"));
            }
            if let BackendConfig::Software(s) = &t.backend {
                if s.kek_file.is_some() == s.kek_env.is_some() {
                    return err(format!(
                        "tenant {uri_path}: set exactly one of kek_file and kek_env"
                    ));
                }
            }
            let mut names = std::collections::HashSet::new();
            for r in &t.authorization {
                r.validate()
                    .map_err(|e| ConfigError(format!("tenant {uri_path}: {e}")))?;
                if !names.insert(r.name.as_str()) {
                    return err(format!(
                        "tenant {uri_path}: two authorization rules are named '{}'",
                        r.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tenant whose prefix (or URI path) is `prefix`; the only tenant if `prefix` is
    /// `None` and there is exactly one.
    pub fn tenant(&self, prefix: Option<&str>) -> Result<&TenantConfig, String> {
        match prefix {
            Some(p) => {
                let wanted = if p.trim_end_matches('/').ends_with(xks::API_BASE_PATH) {
                    p.trim_end_matches('/').to_owned()
                } else {
                    xks::uri_path_for_prefix(p)
                };
                self.tenants
                    .iter()
                    .find(|t| t.uri_path() == wanted)
                    .ok_or_else(|| format!("no tenant has the URI path {wanted}"))
            }
            None if self.tenants.len() == 1 => Ok(&self.tenants[0]),
            None => Err(format!(
                "the configuration has {} tenants; choose one with --prefix",
                self.tenants.len()
            )),
        }
    }
}

/// Every credential set of a tenant: inline ones, then those of its credentials file.
pub fn load_credentials(t: &TenantConfig) -> Result<Vec<CredentialConfig>, String> {
    let mut all = t.credentials.clone();
    if let Some(path) = &t.credentials_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?,
        );
        let file: CredentialsFile = toml::from_str(&text)
            .map_err(|e| format!("credentials file {}: {}", path.display(), e.message()))?;
        for c in &file.credentials {
            c.validate()
                .map_err(|e| format!("credentials file {}: {e}", path.display()))?;
        }
        all.extend(file.credentials);
    }
    let mut ids = std::collections::HashSet::new();
    for c in &all {
        if !ids.insert(c.access_key_id.as_str()) {
            return Err(format!(
                "access key id {} appears twice for tenant {}",
                c.access_key_id,
                t.uri_path()
            ));
        }
    }
    if all.is_empty() {
        return Err(format!("tenant {} has no credentials", t.uri_path()));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ID: &str = "AKIAI2SFODNN7EXAMPLE";
    const SECRET: &str = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";

    fn sample() -> String {
        format!(
            r#"
listen = "127.0.0.1:8443"
region = "eu-west-1"

[tls]
cert_file = "server.pem"
key_file = "/abs/server.key"
client_auth = {{ ca_file = "kms-ca.pem", subject = "cks.kms.eu-west-1.amazonaws.com" }}

[[tenants]]
prefix = "keystores/a"
credentials = [{{ access_key_id = "{KEY_ID}", secret_access_key = "{SECRET}" }}]
quota = {{ requests_per_second = 100 }}
backend = {{ type = "software", path = "a.keystore", kek_env = "KEK_A" }}

[[tenants.authorization]]
name = "ebs-only"
keys = ["app-*"]
via_services = ["ebs"]

[[tenants]]
credentials_file = "b.credentials"
backend = {{ type = "pkcs11", module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "xks", pin_file = "pin", concurrency = "serial" }}
"#
        )
    }

    #[test]
    fn parses_the_sample() {
        let cfg = Config::parse(&sample(), Path::new("/etc/xks")).unwrap();
        assert_eq!(cfg.region, "eu-west-1");
        assert_eq!(cfg.max_clock_skew_seconds, 300);
        let tls = cfg.tls.as_ref().unwrap();
        assert_eq!(tls.cert_file, Path::new("/etc/xks/server.pem"));
        assert_eq!(tls.key_file, Path::new("/abs/server.key"));
        assert_eq!(
            tls.client_auth.as_ref().unwrap().ca_file,
            Path::new("/etc/xks/kms-ca.pem")
        );
        assert_eq!(cfg.tenants[0].uri_path(), "/keystores/a/kms/xks/v1");
        assert_eq!(cfg.tenants[1].uri_path(), "/kms/xks/v1");
        match &cfg.tenants[0].backend {
            BackendConfig::Software(s) => {
                assert_eq!(s.path, Path::new("/etc/xks/a.keystore"));
                assert_eq!(s.kek_env.as_deref(), Some("KEK_A"));
            }
            other => panic!("{other:?}"),
        }
        match &cfg.tenants[1].backend {
            BackendConfig::Pkcs11(p) => {
                assert_eq!(p.token_label, "xks");
                assert_eq!(p.pin_file.as_deref(), Some(Path::new("/etc/xks/pin")));
                assert_eq!(p.concurrency, crate::backend::pkcs11::Concurrency::Serial);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            cfg.tenants[1].credentials_file.as_deref(),
            Some(Path::new("/etc/xks/b.credentials"))
        );
        assert_eq!(
            cfg.tenant(Some("keystores/a")).unwrap().prefix,
            "keystores/a"
        );
        assert_eq!(
            cfg.tenant(Some("/keystores/a/kms/xks/v1")).unwrap().prefix,
            "keystores/a"
        );
        assert!(cfg.tenant(None).is_err());
        assert!(cfg.tenant(Some("zz")).is_err());
    }

    #[test]
    fn refuses_bad_configurations() {
        let base = Path::new("/");
        let s = sample();
        for (from, to, why) in [
            ("[tls]\n", "[nottls]\n", "unknown"),
            (
                "prefix = \"keystores/a\"",
                "prefix = \"a.b\"",
                "not a valid",
            ),
            ("prefix = \"keystores/a\"", "prefix = \"\"", "two tenants"),
            (KEY_ID, "lowercase-id-is-bad-xx", "access key id"),
            (SECRET, "short", "secret access key"),
            (
                "requests_per_second = 100",
                "requests_per_second = 0",
                "quota",
            ),
            (
                "kek_env = \"KEK_A\"",
                "kek_env = \"KEK_A\", kek_file = \"k\"",
                "exactly one",
            ),
            (
                "listen = \"127.0.0.1:8443\"",
                "listen = \"nowhere\"",
                "listen",
            ),
            (
                "listen = \"127.0.0.1:8443\"",
                "listen = \"127.0.0.1:8443\"\nworker_threads = 0",
                "worker_threads",
            ),
            (
                "listen = \"127.0.0.1:8443\"",
                "listen = \"127.0.0.1:8443\"\nhealth_cache_seconds = 61",
                "health_cache_seconds must be at most 60",
            ),
        ] {
            let text = s.replacen(from, to, 1);
            let e = Config::parse(&text, base).unwrap_err().0;
            assert!(e.contains(why), "{why}: {e}");
        }
        let no_tls = s
            .replace("[tls]\n", "")
            .replace("cert_file = \"server.pem\"\n", "")
            .replace("key_file = \"/abs/server.key\"\n", "")
            .replace(
                "client_auth = { ca_file = \"kms-ca.pem\", subject = \"cks.kms.eu-west-1.amazonaws.com\" }\n",
                "",
            );
        let e = Config::parse(&no_tls, base).unwrap_err().0;
        assert!(e.contains("[tls]"), "{e}");
        let dev = format!("insecure_http = true\n{no_tls}");
        assert!(Config::parse(&dev, base).unwrap().insecure_http);
    }

    #[test]
    fn generated_credentials_are_valid_and_debug_hides_secrets() {
        let c = CredentialConfig::generate().unwrap();
        c.validate().unwrap();
        assert_ne!(c, CredentialConfig::generate().unwrap());
        let d = format!("{c:?}");
        assert!(d.contains(&c.access_key_id) && !d.contains(c.secret_access_key.as_str()));
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    /// The example in docs/xks-proxy.md is a valid configuration.
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("../../../docs/xks-proxy.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let cfg = Config::parse(&doc[start..end], Path::new("/etc/strongroom")).unwrap();
        assert_eq!(cfg.tenants.len(), 2);
        assert_eq!(cfg.tenants[0].uri_path(), "/keystores/finance/kms/xks/v1");
        assert_eq!(cfg.tenants[0].authorization.len(), 1);
        assert!(matches!(cfg.tenants[1].backend, BackendConfig::Pkcs11(_)));
        let creds_start = doc.find("### Credentials file").unwrap();
        let block = &doc[creds_start..];
        let s = block.find("```toml\n").unwrap() + "```toml\n".len();
        let e = s + block[s..].find("```").unwrap();
        let file: CredentialsFile = toml::from_str(&block[s..e]).unwrap();
        assert_eq!(file.credentials.len(), 2);
        for c in &file.credentials {
            c.validate().unwrap();
        }
    }
}
