//! `strongroom serve` with a configuration written for a suite: principals (users with
//! identity policies, tags and access keys) and, for external key stores, the `[xks]` client
//! settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::suite::{random_string, run_command, write_private, ChildGuard, Endpoint, Signer};

/// The account every suite's principals live in.
pub const ACCOUNT: &str = "111122223333";
/// The KMS's region.
pub const REGION: &str = "us-east-1";

/// An IAM user of [`ACCOUNT`].
pub struct UserSpec {
    pub name: &'static str,
    /// Identity policy documents (JSON).
    pub policies: Vec<String>,
    /// Principal tags.
    pub tags: Vec<(&'static str, &'static str)>,
    /// Give the user an access key.
    pub access_key: bool,
}

/// The identity policy of an administrator: everything.
pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// The `[xks]` section: how the KMS reaches the proxy.
pub struct XksClientSettings {
    pub ca_bundle_file: PathBuf,
    pub requests_per_second: u32,
}

/// The running `strongroom serve`.
pub struct Kms {
    guard: ChildGuard,
    pub endpoint: Endpoint,
    pub log: PathBuf,
    /// Signers by user name (users with an access key).
    pub signers: Vec<(&'static str, Signer)>,
}

impl Kms {
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    pub fn signer(&self, user: &str) -> Result<&Signer, String> {
        self.signers
            .iter()
            .find(|(n, _)| *n == user)
            .map(|(_, s)| s)
            .ok_or_else(|| format!("no access key for user {user}"))
    }
}

fn toml_str(s: &str) -> String {
    // A JSON string is a valid TOML basic string (same escapes, \uXXXX included).
    serde_json::Value::String(s.to_string()).to_string()
}

/// Creates `dir/kms` with `strongroom init` (root key, data directory), replaces its
/// configuration with one holding `users` and `xks`, and starts `strongroom serve` on a free
/// port of 127.0.0.1 with `RUST_LOG=warn`.
pub fn start(
    bin: &Path,
    dir: &Path,
    users: &[UserSpec],
    xks: Option<&XksClientSettings>,
) -> Result<Kms, String> {
    let kms_dir = dir.join("kms");
    run_command(
        Command::new(bin)
            .arg("init")
            .arg("--dir")
            .arg(&kms_dir)
            .args(["--listen", "127.0.0.1:0", "--region", REGION]),
        "strongroom init",
    )?;
    let mut text = format!(
        "# Written by strongroom-bench (root.key and data/ by `strongroom init`).\n\
         region = \"{REGION}\"\n\
         listen = \"127.0.0.1:0\"\n\
         data_dir = \"data\"\n\
         \n\
         [root_key]\n\
         file = \"root.key\"\n"
    );
    if let Some(x) = xks {
        text.push_str(&format!(
            "\n[xks]\n\
             allow_endpoint_port = true\n\
             ca_bundle_file = {}\n\
             system_roots = false\n\
             requests_per_second = {}\n",
            toml_str(&x.ca_bundle_file.to_string_lossy()),
            x.requests_per_second
        ));
    }
    text.push_str(&format!("\n[[accounts]]\nid = \"{ACCOUNT}\"\n"));
    let mut signers = Vec::new();
    for u in users {
        text.push_str(&format!("\n[[accounts.users]]\nname = \"{}\"\n", u.name));
        let policies: Vec<String> = u.policies.iter().map(|p| toml_str(p)).collect();
        text.push_str(&format!("policies = [{}]\n", policies.join(", ")));
        if !u.tags.is_empty() {
            let tags: Vec<String> = u
                .tags
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v)))
                .collect();
            text.push_str(&format!("tags = {{ {} }}\n", tags.join(", ")));
        }
        if u.access_key {
            let signer = Signer {
                access_key_id: format!(
                    "AKIA{}",
                    random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
                ),
                secret: random_string(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    40,
                )?,
                region: REGION.to_string(),
                service: "kms",
            };
            text.push_str(&format!(
                "access_keys = [{{ id = \"{}\", secret = \"{}\" }}]\n",
                signer.access_key_id, signer.secret
            ));
            signers.push((u.name, signer));
        }
    }
    let config_file = kms_dir.join("strongroom.toml");
    write_private(&config_file, text.as_bytes())?;

    let log = kms_dir.join("strongroom.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(&config_file)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("cannot start {} serve: {e}", bin.display()))?;
    let mut guard = ChildGuard::new(child, "strongroom serve");
    let mut addr: Option<SocketAddr> = None;
    guard
        .read_stdout_until(|line| {
            if let Some(a) = line.strip_prefix("strongroom: KMS listening on http://") {
                addr = a.trim().trim_end_matches('/').parse().ok();
                return true;
            }
            false
        })
        .map_err(|e| format!("{e}; log:\n{}", crate::suite::log_tail(&log)))?;
    let addr = addr.ok_or("strongroom serve printed no address")?;
    if !addr.ip().is_loopback() {
        return Err(format!("refusing to load non-loopback {addr}"));
    }
    Ok(Kms {
        guard,
        endpoint: Endpoint::http(addr),
        log,
        signers,
    })
}
