//! The seed file: keys created at start when absent (`[seed]` for `serve`, `dev --seed FILE`).
//!
//! ```toml
//! [[keys]]
//! key_id = "0f8e4c52-7c1a-4c43-9f1e-2b2a7e41c9d1"
//! # account = "111122223333"        # default: the configuration's first account
//! # region = "us-east-1"            # default: the configuration's region
//! key_spec = "SYMMETRIC_DEFAULT"    # default; key_usage is required for other specs
//! key_usage = "ENCRYPT_DECRYPT"
//! description = "fixture key"
//! # policy = '''{"Version": ...}'''  # default: the default key policy
//! tags = { team = "payments" }
//! aliases = ["alias/fixture"]
//! # enabled = true
//! material = "base64 of the key material"   # or material_file = "key.der" / "key.pem"
//! ```
//!
//! Material is AES-256 (32 bytes) for SYMMETRIC_DEFAULT, the raw key for HMAC, a PKCS#8 private
//! key (DER, or PEM `PRIVATE KEY`) for key pairs. A file that holds material must be private
//! (0600), as the configuration is, and `serve` uses material only with `allow_material = true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// `[seed]` of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConfig {
    /// The seed file (TOML).
    pub file: PathBuf,
    /// Accept key material in it. Off by default: material known outside the KMS is for test
    /// fixtures, not for keys that protect anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_material: bool,
    /// `dev --seed`: a fixture file, which may be readable by others (checked-in fixtures are).
    #[serde(skip)]
    pub fixture: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key_id: String,
    account: Option<String>,
    region: Option<String>,
    key_spec: Option<String>,
    key_usage: Option<String>,
    #[serde(default)]
    description: String,
    policy: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    material: Option<Zeroizing<String>>,
    material_file: Option<PathBuf>,
}

fn enabled_by_default() -> bool {
    true
}

/// Where a seeded key goes when its entry does not say.
pub struct Defaults {
    pub account: kms_model::AccountId,
    pub region: kms_model::Region,
}

/// Reads and checks the seed file named by `seed`. `allow_shared`: accept a file with material
/// that the group or others may read.
pub fn load(
    seed: &SeedConfig,
    defaults: &Defaults,
    allow_shared: bool,
) -> Result<Vec<kms::SeedKey>, String> {
    let path = &seed.file;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: SeedFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let has_material = file
        .keys
        .iter()
        .any(|k| k.material.is_some() || k.material_file.is_some());
    if has_material {
        if !seed.allow_material {
            return Err(format!(
                "{} gives key material, which the configuration does not allow: set \
                 allow_material = true in [seed] (for test fixtures only)",
                path.display()
            ));
        }
        secret_files::check_secret_file(
            path,
            "seed file with key material",
            allow_shared || seed.fixture,
        )?;
    }
    file.keys
        .into_iter()
        .map(|e| entry(e, defaults, base, allow_shared || seed.fixture))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn entry(
    e: Entry,
    defaults: &Defaults,
    base: &Path,
    allow_shared: bool,
) -> Result<kms::SeedKey, String> {
    let id = &e.key_id;
    let key_id = kms_model::KeyId::parse(id).ok_or_else(|| format!("'{id}' is not a key id"))?;
    let account = match &e.account {
        Some(a) => kms_model::AccountId::parse(a)
            .ok_or_else(|| format!("key {id}: account '{a}' is not 12 digits"))?,
        None => defaults.account.clone(),
    };
    let region = match &e.region {
        Some(r) => kms_model::Region::parse(r)
            .ok_or_else(|| format!("key {id}: '{r}' is not a Region name"))?,
        None => defaults.region.clone(),
    };
    let spec = match &e.key_spec {
        Some(s) => kms_model::KeySpec::from_wire(s)
            .ok_or_else(|| format!("key {id}: unknown key_spec {s}"))?,
        None => kms_model::KeySpec::SymmetricDefault,
    };
    let usage = match &e.key_usage {
        Some(u) => kms_model::KeyUsage::from_wire(u)
            .ok_or_else(|| format!("key {id}: unknown key_usage {u}"))?,
        None if spec == kms_model::KeySpec::SymmetricDefault => kms_model::KeyUsage::EncryptDecrypt,
        None => return Err(format!("key {id}: key_usage is required for {spec}")),
    };
    let key_type = kms_model::KeyType::new(spec, usage)
        .ok_or_else(|| format!("key {id}: key_usage {usage} is not compatible with {spec}"))?;
    let material = match (e.material, e.material_file) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "key {id}: give material or material_file, not both"
            ))
        }
        (Some(b64), None) => Some(Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| format!("key {id}: material is not base64"))?,
        )),
        (None, Some(file)) => Some(read_material(&base.join(file), allow_shared)?),
        (None, None) => None,
    };
    Ok(kms::SeedKey {
        key_id,
        account,
        region,
        key_type,
        description: e.description,
        policy: e.policy,
        tags: e.tags.into_iter().collect(),
        aliases: e.aliases,
        enabled: e.enabled,
        material,
    })
}

/// A material file: raw bytes, or a PEM `PRIVATE KEY` (PKCS#8) read as its DER.
fn read_material(path: &Path, allow_shared: bool) -> Result<Zeroizing<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    secret_files::check_secret_file(path, "key material file", allow_shared)?;
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(bytes);
    }
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(&bytes)
        .map_err(|e| format!("{}: not a PEM PRIVATE KEY (PKCS#8): {e}", path.display()))?;
    Ok(Zeroizing::new(der.secret_pkcs8_der().to_vec()))
}

/// Seeds every key of the file; logs what it did.
pub async fn apply(kms: &kms::Kms, seeds: &[kms::SeedKey], file: &Path) -> Result<(), String> {
    for seed in seeds {
        let outcome = kms
            .seed_key(seed)
            .await
            .map_err(|e| format!("{}: {}", file.display(), e.message))?;
        tracing::info!(key_id = %seed.key_id, ?outcome, "seed key");
    }
    Ok(())
}
