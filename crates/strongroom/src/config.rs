//! The configuration file (TOML): where to listen, the data directory, the root key, the
//! principals (accounts, IAM users and their access keys) and the listener's limits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use crate::seed::SeedConfig;
pub use crate::store_config::StoreConfig;
pub use crate::tls::TlsConfig;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The AWS region this KMS answers for (and where records of a store written before regions
    /// existed belong).
    #[serde(default = "default_region")]
    pub region: String,
    /// More regions this KMS serves besides `region`, each its own key namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_regions: Vec<String>,
    /// Listen address of the KMS API (`127.0.0.1:4599`).
    pub listen: String,
    /// Serve HTTPS (`[tls]`). Without it the listener serves plain HTTP, which `serve` refuses
    /// on a non-loopback address unless `insecure_http` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Serve plain HTTP on a non-loopback address (plaintexts and data keys cross the network
    /// in clear): only behind something that encrypts the connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_http: bool,
    /// Directory of the SQLite database (unused with a `[store]` url).
    pub data_dir: PathBuf,
    /// Accept secret files (this configuration, the root key file) that the group or others may
    /// read. Off by default: `serve` refuses to start on such files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_file_permissions: bool,
    /// Where the root key comes from.
    pub root_key: RootKeySource,
    /// How often the deletion sweep runs, in seconds.
    #[serde(default = "default_sweep")]
    pub deletion_sweep_seconds: u64,
    /// How often the rotator looks for keys whose rotation is due (and completes on-demand
    /// rotations), in seconds.
    #[serde(default = "default_rotation_check")]
    pub rotation_check_seconds: u64,
    /// Accounts and their principals.
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// How the KMS reaches external key store proxies.
    #[serde(default, skip_serializing_if = "XksClientConfig::is_default")]
    pub xks: XksClientConfig,
    /// Where the records live (`[store]`): SQLite in `data_dir`, or PostgreSQL.
    #[serde(default, skip_serializing_if = "StoreConfig::is_default")]
    pub store: StoreConfig,
    /// The admin listener: metrics, health and readiness (`[admin]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminConfig>,
    /// Keys created at start when absent (`[seed]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<SeedConfig>,
    /// Connection, time and size limits of the KMS listener (`[limits]`, docs/limits.md).
    #[serde(default, skip_serializing_if = "http_serve::Limits::is_default")]
    pub limits: http_serve::Limits,
    /// The audit trail (`[audit]`, docs/audit.md); none without the section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<audit::AuditConfig>,
}

/// External key store proxy client settings (`[xks]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XksClientConfig {
    /// Deadline of one proxy call, in milliseconds (AWS: 250).
    pub timeout_ms: u64,
    /// Accept `https://host:port` endpoints (AWS does not) — for development.
    pub allow_endpoint_port: bool,
    /// Accept `http://` endpoints — for development only.
    pub allow_http: bool,
    /// Extra CA certificates (PEM file) trusted for proxies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Trust the system's CA roots.
    pub system_roots: bool,
    /// Cryptographic requests per second shared by the keys of one external key store.
    pub requests_per_second: u32,
    /// Period of the KmsHealthCheck of connected stores, in seconds.
    pub health_check_seconds: u64,
}

impl Default for XksClientConfig {
    fn default() -> Self {
        XksClientConfig {
            timeout_ms: 250,
            allow_endpoint_port: false,
            allow_http: false,
            ca_bundle_file: None,
            system_roots: true,
            requests_per_second: 1800,
            health_check_seconds: 60,
        }
    }
}

impl XksClientConfig {
    fn is_default(&self) -> bool {
        *self == XksClientConfig::default()
    }

    /// The service's settings, reading the CA bundle.
    pub fn settings(&self) -> Result<kms::XksSettings, String> {
        let ca_bundle_pem = match &self.ca_bundle_file {
            Some(p) => {
                Some(std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?)
            }
            None => None,
        };
        Ok(kms::XksSettings {
            timeout: std::time::Duration::from_millis(self.timeout_ms.max(1)),
            allow_endpoint_port: self.allow_endpoint_port,
            allow_http: self.allow_http,
            ca_bundle_pem,
            system_roots: self.system_roots,
            requests_per_second: self.requests_per_second.max(1),
            health_check_interval: std::time::Duration::from_secs(self.health_check_seconds.max(1)),
        })
    }
}

/// The root key's source: exactly one of `file`, `env` and `pkcs11` (see `root_key`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKeySource {
    /// A key file written by `strongroom init` (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// An environment variable holding the key file's contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// An AES key in a PKCS#11 token, which never leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<Pkcs11RootKey>,
    /// While moving to this root key: the one it replaces, whose records are still read
    /// (`strongroom root-key rewrap` moves them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<RootKeySource>>,
}

/// `[root_key] pkcs11 = { ... }`: an AES-256 key in a PKCS#11 token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11RootKey {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The AES key's label (`CKA_LABEL`): 1 to 128 characters of `A-Za-z0-9-._`.
    pub key_label: String,
    /// A file holding the token's user PIN (mode 0600; one trailing newline ignored).
    pub pin_file: PathBuf,
    /// Sessions kept open on the token (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<usize>,
}

impl Pkcs11RootKey {
    /// A description for messages (no secret in it).
    pub fn describe(&self) -> String {
        format!(
            "AES key {:?} in PKCS#11 token {:?} ({})",
            self.key_label,
            self.token_label,
            self.module.display()
        )
    }
}

impl RootKeySource {
    /// Resolves relative paths against the configuration file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(f) = &self.file {
            self.file = Some(base.join(f));
        }
        if let Some(p) = &mut self.pkcs11 {
            p.pin_file = base.join(&p.pin_file);
        }
        if let Some(previous) = &mut self.previous {
            previous.resolve_paths(base);
        }
    }
}

/// `[admin]`: the admin listener (metrics, health, readiness).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin listener listens (`127.0.0.1:9599`).
    pub listen: String,
}

/// An AWS account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// IAM users of the account.
    #[serde(default)]
    pub users: Vec<User>,
    /// IAM roles of the account; their access keys act as sessions of the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<User>,
}

/// An IAM user or role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user or role name (`alice`).
    pub name: String,
    /// An identity policy document (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// More identity policy documents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Principal tags (`aws:PrincipalTag/<key>`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Access keys.
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
}

/// An access key pair.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
    /// For temporary credentials (a role session): the session token every request must carry
    /// in `X-Amz-Security-Token`. Keys without one accept no token at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn default_region() -> String {
    "us-east-1".to_string()
}

fn default_rotation_check() -> u64 {
    10
}

fn default_sweep() -> u64 {
    60
}

/// The identity an access key authenticates as.
#[derive(Debug, Clone)]
pub struct Principal {
    pub caller: kms::Caller,
    pub secret: Zeroizing<String>,
    /// The session token of temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
    /// The `userIdentity` of this access key's audit records, made once rather than per request.
    pub audit_identity: audit::record::RenderedIdentity,
}

fn compile_identity_policies(who: &str, user: &User) -> Result<Vec<policy::Policy>, String> {
    user.policy
        .iter()
        .chain(user.policies.iter())
        .map(|text| {
            policy::Policy::parse(text, policy::PolicyKind::Identity)
                .map_err(|e| format!("identity policy of {who}: {e}"))
        })
        .collect()
}

fn caller_for(account: &str, user: &User, role: bool) -> Result<kms::Caller, String> {
    let policies = compile_identity_policies(&user.name, user)?;
    let id = kms_model::AccountId::parse(account)
        .ok_or_else(|| format!("account id '{account}' is not 12 digits"))?;
    let mut caller = kms::Caller::user(id, &user.name, policies);
    if role {
        let role_arn = format!("arn:aws:iam::{account}:role/{}", user.name);
        let session = format!(
            "arn:aws:sts::{account}:assumed-role/{}/strongroom",
            user.name
        );
        caller.principal = policy::Principal::role_session(&session, &role_arn);
        caller.principal_arn = session;
    }
    for (k, v) in &user.tags {
        caller.principal = caller.principal.clone().with_tag(k, v);
    }
    Ok(caller)
}

impl Config {
    /// Reads and checks a config file. Relative paths are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut cfg = Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        // It holds secret access keys.
        secret_files::check_secret_file(
            path,
            "configuration file",
            cfg.allow_insecure_file_permissions,
        )?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.data_dir = base.join(&cfg.data_dir);
        cfg.root_key.resolve_paths(base);
        cfg.store.resolve_paths(base);
        if let Some(tls) = &mut cfg.tls {
            tls.resolve_paths(base);
        }
        if let Some(seed) = &mut cfg.seed {
            seed.file = base.join(&seed.file);
        }
        if let Some(a) = &mut cfg.audit {
            a.resolve_paths(base);
        }
        if let Some(f) = &cfg.xks.ca_bundle_file {
            cfg.xks.ca_bundle_file = Some(base.join(f));
        }
        cfg.check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    /// Parses and checks a configuration's text as [`Config::load`] does, minus what needs the
    /// file itself (its permissions, paths taken from its directory).
    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg = Config::from_toml(text)?;
        cfg.check()?;
        Ok(cfg)
    }

    fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// What a parsed configuration must also satisfy: valid limits, well-formed accounts, no
    /// access key twice, identity policies that parse.
    fn check(&self) -> Result<(), String> {
        self.limits.validate().map_err(|e| e.to_string())?;
        self.principals()?;
        Ok(())
    }

    /// The regions served: `region` first, then `extra_regions`.
    pub fn regions(&self) -> Result<Vec<kms_model::Region>, String> {
        std::iter::once(&self.region)
            .chain(&self.extra_regions)
            .map(|r| {
                kms_model::Region::parse(r).ok_or_else(|| format!("'{r}' is not a region name"))
            })
            .collect()
    }

    /// Access key id → principal, refusing duplicates and malformed account ids.
    pub fn principals(&self) -> Result<HashMap<String, std::sync::Arc<Principal>>, String> {
        let mut out = HashMap::new();
        for acct in &self.accounts {
            if acct.id.len() != 12 || !acct.id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("account id '{}' is not 12 digits", acct.id));
            }
            let users = acct.users.iter().map(|u| (u, false));
            for (user, role) in users.chain(acct.roles.iter().map(|r| (r, true))) {
                let caller = caller_for(&acct.id, user, role)?;
                for key in &user.access_keys {
                    let p = std::sync::Arc::new(Principal {
                        audit_identity: audit::record::RenderedIdentity::new(
                            audit::record::UserIdentity::for_principal(
                                &caller.principal_arn,
                                Some(&key.id),
                            ),
                        )?,
                        caller: caller.clone(),
                        secret: Zeroizing::new(key.secret.clone()),
                        session_token: key.session_token.clone().map(Zeroizing::new),
                    });
                    if out.insert(key.id.clone(), p).is_some() {
                        return Err(format!("access key id {} appears twice", key.id));
                    }
                }
            }
        }
        Ok(out)
    }
}
