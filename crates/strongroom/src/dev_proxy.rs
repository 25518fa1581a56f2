//! The external key store (XKS) proxy `strongroom dev` runs beside its KMS.
//!
//! Everything lives in `DATA_DIR/xks/` (mode 0700) and is created on the first run, reused on
//! later ones:
//!
//! * `ca.pem` / `ca.key`: a development CA (ECDSA P-256); clients trust `ca.pem`;
//! * `localhost.pem` / `localhost.key`: the proxy's certificate for `localhost` and `127.0.0.1`,
//!   signed by that CA (re-issued by the same CA if missing);
//! * `credentials.toml`: the SigV4 credential set (AWS's formats: a 26-character `A-Z2-7`
//!   access key id, a 48-character `A-Za-z0-9+/` secret);
//! * `kek`: the software keystore's key-encryption key (64 hex digits);
//! * `dev.keystore`: the sealed software keystore with two AES-256 keys, [`KEY_ID`] and
//!   [`SPARE_KEY_ID`];
//! * `audit/`: the proxy's audit trail (buffered), signed with `audit-signing-key.pem`;
//! * `xks-proxy.toml`: the proxy configuration (rewritten on every start), so that
//!   `strongroom xks-proxy keys ... --config DATA_DIR/xks/xks-proxy.toml` administers the same
//!   keystore; the running proxy sees such changes within a second.
//!
//! Private keys, the KEK, the credentials and the keystore are mode 0600. The proxy listens on
//! a fresh free port of 127.0.0.1 on every start and is reached as `https://localhost:PORT`.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use xks_proxy::backend::software::write_atomically;
use xks_proxy::backend::{BackendError, KeyBackend};
use xks_proxy::config::{load_credentials, Config, CredentialConfig, Secret};
use xks_proxy::{RunningProxy, ServeOptions};
use zeroize::Zeroizing;

/// The directory under the dev data directory.
pub const XKS_DIR: &str = "xks";
/// The tenant's path prefix: its `XksProxyUriPath` is `/dev/kms/xks/v1`.
pub const TENANT_PREFIX: &str = "dev";
/// The external key `STRONGROOM_XKS_KEY_ID` names.
pub const KEY_ID: &str = "strongroom-dev-key";
/// A second external key, left unused.
pub const SPARE_KEY_ID: &str = "strongroom-dev-spare-key";

const CONFIG_FILE: &str = "xks-proxy.toml";
const CREDENTIALS_FILE: &str = "credentials.toml";
const KEYSTORE_FILE: &str = "dev.keystore";
const KEK_FILE: &str = "kek";
const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca.key";
const CERT_FILE: &str = "localhost.pem";
const KEY_FILE: &str = "localhost.key";

const ACCESS_KEY_ID_LEN: usize = 26;
const SECRET_LEN: usize = 48;
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Certificates are valid from an hour ago (clock differences) for ten years.
const CERT_DAYS: i64 = 3650;

/// The running development proxy and what a client needs to call it.
pub struct DevProxy {
    /// `https://localhost:PORT`.
    pub endpoint: String,
    /// The tenant's `XksProxyUriPath`, `/dev/kms/xks/v1`.
    pub uri_path: String,
    /// SigV4 access key id (20-30 characters of `A-Z2-7`).
    pub access_key_id: String,
    /// SigV4 secret (43-64 characters of `A-Za-z0-9+/=`).
    pub secret_access_key: String,
    /// The AES-256 external key to use.
    pub key_id: String,
    /// A second AES-256 external key, not used by anything `dev` sets up.
    pub spare_key_id: String,
    /// The CA certificate (PEM) the proxy's certificate chains to.
    pub ca_file: PathBuf,
    /// The `localhost`/`127.0.0.1` certificate (PEM) and its key: the proxy's, and the KMS's
    /// under `dev --tls`.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Its contents.
    #[allow(dead_code, reason = "for callers that configure a client in-process")]
    pub ca_pem: String,
    running: RunningProxy,
}

impl std::fmt::Debug for DevProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevProxy")
            .field("endpoint", &self.endpoint)
            .field("uri_path", &self.uri_path)
            .field("access_key_id", &self.access_key_id)
            .field("key_id", &self.key_id)
            .field("spare_key_id", &self.spare_key_id)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl DevProxy {
    /// Writes the `export STRONGROOM_XKS_...=...` lines (values single-quoted when the shell
    /// needs it, e.g. a path with spaces).
    pub fn print_exports(&self, out: &mut impl Write) {
        let ca_file = self.ca_file.to_string_lossy();
        let audit_file = self.running.audit_file().unwrap_or_default();
        let audit_file = audit_file.to_string_lossy();
        let lines = [
            ("STRONGROOM_XKS_URI_ENDPOINT", self.endpoint.as_str()),
            ("STRONGROOM_XKS_URI_PATH", self.uri_path.as_str()),
            ("STRONGROOM_XKS_ACCESS_KEY_ID", self.access_key_id.as_str()),
            (
                "STRONGROOM_XKS_SECRET_ACCESS_KEY",
                self.secret_access_key.as_str(),
            ),
            ("STRONGROOM_XKS_KEY_ID", self.key_id.as_str()),
            ("STRONGROOM_XKS_AUDIT_LOG", audit_file.as_ref()),
            ("STRONGROOM_XKS_CA_FILE", ca_file.as_ref()),
        ];
        for (name, value) in lines {
            let _ = writeln!(out, "export {name}={}", shell_quote(value));
        }
        let _ = out.flush();
    }

    /// The address the proxy listens on (`127.0.0.1:PORT`).
    #[allow(dead_code, reason = "for callers that connect in-process")]
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.running.local_addr()
    }

    /// Stops the proxy (open connections get up to 5 s to finish).
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// `value` as one shell word: as is when it only has characters the shell leaves alone,
/// single-quoted otherwise.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/+=-_.,:@%".contains(&b));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Creates (first run) or reuses (later runs) the proxy's files in `data_dir/xks/` and starts
/// it on a free port of 127.0.0.1, verifying SigV4 for `region`. Must run in a tokio runtime.
pub async fn start_dev_proxy(data_dir: &Path, region: &str) -> Result<DevProxy, String> {
    let data_dir = data_dir.to_path_buf();
    let region = region.to_string();
    let prepared = tokio::task::spawn_blocking(move || prepare(&data_dir, &region))
        .await
        .map_err(|e| format!("XKS proxy setup failed: {e}"))??;
    let Prepared {
        config,
        backend,
        uri_path,
        credentials,
        ca_file,
        ca_pem,
        dir,
    } = prepared;
    let running = xks_proxy::start(
        config,
        ServeOptions {
            insecure_http: false,
            reload_on_sighup: false,
            backends: HashMap::from([(uri_path.clone(), backend)]),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("cannot start the dev XKS proxy: {e}"))?;
    Ok(DevProxy {
        endpoint: format!("https://localhost:{}", running.local_addr().port()),
        uri_path,
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.as_str().to_string(),
        key_id: KEY_ID.to_string(),
        spare_key_id: SPARE_KEY_ID.to_string(),
        ca_file,
        cert_file: dir.join(CERT_FILE),
        key_file: dir.join(KEY_FILE),
        ca_pem,
        running,
    })
}

/// Everything the proxy needs, read or created.
struct Prepared {
    config: Config,
    backend: Arc<dyn KeyBackend>,
    uri_path: String,
    credentials: CredentialConfig,
    ca_file: PathBuf,
    ca_pem: String,
    /// Where the files are (absolute).
    dir: PathBuf,
}

fn prepare(data_dir: &Path, region: &str) -> Result<Prepared, String> {
    let dir = data_dir.join(XKS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
    // Absolute, so that the exported CA path works from any directory.
    let dir = std::fs::canonicalize(&dir)
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;

    ensure_kek(&dir)?;
    ensure_credentials(&dir)?;
    let ca_pem = ensure_pki(&dir)?;

    let config_path = dir.join(CONFIG_FILE);
    let text = config_text(region);
    write_file(&config_path, text.as_bytes(), 0o600)?;
    let mut config =
        Config::parse(&text, &dir).map_err(|e| format!("{}: {e}", config_path.display()))?;
    config.source = Some(config_path);
    let tenant = config.tenant(Some(TENANT_PREFIX))?.clone();
    let uri_path = tenant.uri_path();
    let credentials = load_credentials(&tenant)?
        .into_iter()
        .next()
        .ok_or("the dev XKS proxy has no credentials")?;

    let backend = xks_proxy::open_backend(&tenant.backend)
        .map_err(|e| format!("cannot open the dev XKS keystore: {e}"))?;
    for id in [KEY_ID, SPARE_KEY_ID] {
        match backend.key_info(id) {
            Ok(_) => {}
            Err(BackendError::KeyNotFound(_)) => {
                backend
                    .create_key(id)
                    .map_err(|e| format!("cannot create the dev XKS key {id}: {e}"))?;
            }
            Err(e) => return Err(format!("dev XKS key {id}: {e}")),
        }
    }
    Ok(Prepared {
        config,
        backend,
        uri_path,
        credentials,
        ca_file: dir.join(CA_CERT_FILE),
        ca_pem,
        dir,
    })
}

fn config_text(region: &str) -> String {
    format!(
        "# The XKS proxy of `strongroom dev` (rewritten on every start; the port is chosen then).\n\
         # Administer its keys with\n\
         #   strongroom xks-proxy keys list --config <this file>\n\
         listen = \"127.0.0.1:0\"\n\
         region = {region}\n\
         \n\
         [tls]\n\
         cert_file = \"{CERT_FILE}\"\n\
         key_file = \"{KEY_FILE}\"\n\
         \n\
         [audit]\n\
         dir = \"audit\"\n\
         durability = \"buffered\"\n\
         \n\
         [[tenants]]\n\
         prefix = \"{TENANT_PREFIX}\"\n\
         credentials_file = \"{CREDENTIALS_FILE}\"\n\
         backend = {{ type = \"software\", path = \"{KEYSTORE_FILE}\", kek_file = \"{KEK_FILE}\" }}\n",
        region = toml_string(region),
    )
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Writes `bytes` to `path` atomically (temporary file, sync, rename) with mode `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    write_atomically(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if mode != 0o600 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Zeroizing<String>, String> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn random_string(alphabet: &[u8], len: usize) -> Result<Zeroizing<String>, String> {
    let bytes = crypto::random_bytes(len).map_err(|e| format!("random generation failed: {e}"))?;
    // Both alphabets have a power-of-two size, so the modulo is unbiased.
    Ok(Zeroizing::new(
        bytes
            .iter()
            .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
            .collect(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keystore's KEK: 32 random bytes as 64 hex digits, mode 0600.
fn ensure_kek(dir: &Path) -> Result<(), String> {
    let kek = dir.join(KEK_FILE);
    if kek.exists() {
        return Ok(());
    }
    let keystore = dir.join(KEYSTORE_FILE);
    if keystore.exists() {
        return Err(format!(
            "{} exists but its key-encryption key {} is missing; restore it or remove the \
             keystore to start a new one",
            keystore.display(),
            kek.display()
        ));
    }
    let bytes = crypto::random_bytes(32).map_err(|e| format!("random generation failed: {e}"))?;
    let text = Zeroizing::new(format!("{}\n", hex(&bytes)));
    write_file(&kek, text.as_bytes(), 0o600)
}

/// The credentials file (mode 0600) with one fresh SigV4 credential set.
fn ensure_credentials(dir: &Path) -> Result<(), String> {
    let path = dir.join(CREDENTIALS_FILE);
    if path.exists() {
        return Ok(());
    }
    let credentials = CredentialConfig {
        access_key_id: random_string(BASE32, ACCESS_KEY_ID_LEN)?.to_string(),
        secret_access_key: Secret::new(random_string(SECRET_CHARS, SECRET_LEN)?.as_str()),
    };
    credentials.validate()?;
    let text = Zeroizing::new(format!(
        "# SigV4 credentials of the `strongroom dev` XKS proxy.\n\
         [[credentials]]\n\
         access_key_id = \"{}\"\n\
         secret_access_key = \"{}\"\n",
        credentials.access_key_id,
        credentials.secret_access_key.as_str()
    ));
    write_file(&path, text.as_bytes(), 0o600)
}

fn tls_err(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("cannot make the {what}: {e}")
}

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CERT_DAYS);
}

/// The CA's parameters. Its name carries the start of its key identifier, so the parameters
/// (and hence an issuer able to sign new certificates under the existing `ca.pem`) can be
/// rebuilt from the key alone.
fn ca_params(key: &KeyPair) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("dev CA"))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let id = params.key_identifier(key);
    params.distinguished_name.push(
        DnType::CommonName,
        format!("Strongroom dev CA {}", hex(&id[..id.len().min(8)])),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Strongroom (development only)");
    validity(&mut params);
    Ok(params)
}

/// The CA (kept) and the `localhost` certificate (kept, or issued again by the same CA when
/// missing). Returns the CA certificate's PEM.
fn ensure_pki(dir: &Path) -> Result<String, String> {
    let ca_cert_path = dir.join(CA_CERT_FILE);
    let ca_key_path = dir.join(CA_KEY_FILE);
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);

    let (ca_key, ca_pem, new_ca) = if ca_cert_path.exists() && ca_key_path.exists() {
        let key_pem = read_file(&ca_key_path)?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| format!("{}: not a private key: {e}", ca_key_path.display()))?;
        (key, read_file(&ca_cert_path)?.to_string(), false)
    } else {
        let key = KeyPair::generate().map_err(tls_err("dev CA key"))?;
        let cert = ca_params(&key)?
            .self_signed(&key)
            .map_err(tls_err("dev CA certificate"))?;
        write_file(&ca_key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&ca_cert_path, cert.pem().as_bytes(), 0o644)?;
        (key, cert.pem(), true)
    };

    if new_ca || !cert_path.exists() || !key_path.exists() {
        let params = ca_params(&ca_key)?;
        let issuer = Issuer::from_params(&params, &ca_key);
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(tls_err("localhost certificate"))?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.use_authority_key_identifier_extension = true;
        validity(&mut leaf);
        let key = KeyPair::generate().map_err(tls_err("localhost key"))?;
        let cert = leaf
            .signed_by(&key, &issuer)
            .map_err(tls_err("localhost certificate"))?;
        write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    }
    Ok(ca_pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("https://localhost:1"), "https://localhost:1");
        assert_eq!(shell_quote("a+b/c="), "a+b/c=");
        assert_eq!(shell_quote("/tmp/a b/ca.pem"), "'/tmp/a b/ca.pem'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[tokio::test]
    async fn creates_then_reuses_everything() {
        let data = tempfile::tempdir().unwrap();
        let first = start_dev_proxy(data.path(), "us-east-1").await.unwrap();
        let dir = data.path().join(XKS_DIR);
        assert_eq!(mode(&dir), 0o700);
        for f in [
            KEK_FILE,
            CREDENTIALS_FILE,
            KEYSTORE_FILE,
            CA_KEY_FILE,
            KEY_FILE,
        ] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        assert_eq!(first.uri_path, "/dev/kms/xks/v1");
        assert!(first.endpoint.starts_with("https://localhost:"));
        assert_eq!(
            first.local_addr().ip(),
            std::net::Ipv4Addr::LOCALHOST,
            "dev's proxy listens on 127.0.0.1 only"
        );
        assert_eq!(
            first.endpoint,
            format!("https://localhost:{}", first.local_addr().port())
        );
        assert!(first.ca_file.is_absolute());
        assert_eq!(
            std::fs::read_to_string(&first.ca_file).unwrap(),
            first.ca_pem
        );
        CredentialConfig {
            access_key_id: first.access_key_id.clone(),
            secret_access_key: Secret::new(first.secret_access_key.clone()),
        }
        .validate()
        .unwrap();
        assert_ne!(first.key_id, first.spare_key_id);
        let leaf = std::fs::read(dir.join(CERT_FILE)).unwrap();
        let keystore = std::fs::read(dir.join(KEYSTORE_FILE)).unwrap();
        let mut exports = Vec::new();
        first.print_exports(&mut exports);
        first.shutdown().await;

        let second = start_dev_proxy(data.path(), "us-east-1").await.unwrap();
        assert_eq!(second.access_key_id, first_access_key(&exports));
        assert_eq!(std::fs::read(dir.join(CERT_FILE)).unwrap(), leaf);
        assert_eq!(
            std::fs::read(dir.join(KEYSTORE_FILE)).unwrap(),
            keystore,
            "the keys exist already: the keystore is not rewritten"
        );
        let mut again = Vec::new();
        second.print_exports(&mut again);
        let strip_endpoint = |b: &[u8]| {
            String::from_utf8(b.to_vec())
                .unwrap()
                .lines()
                // The port and the audit file (a new one per start) change.
                .filter(|l| !l.contains("URI_ENDPOINT") && !l.contains("AUDIT_LOG"))
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(strip_endpoint(&exports), strip_endpoint(&again));
        second.shutdown().await;
    }

    fn first_access_key(exports: &[u8]) -> String {
        String::from_utf8_lossy(exports)
            .lines()
            .find_map(|l| l.strip_prefix("export STRONGROOM_XKS_ACCESS_KEY_ID="))
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_missing_certificate_is_issued_again_by_the_same_ca() {
        let data = tempfile::tempdir().unwrap();
        let first = start_dev_proxy(data.path(), "us-east-1").await.unwrap();
        first.shutdown().await;
        let dir = data.path().join(XKS_DIR);
        let ca = std::fs::read(dir.join(CA_CERT_FILE)).unwrap();
        let leaf = std::fs::read(dir.join(CERT_FILE)).unwrap();
        std::fs::remove_file(dir.join(CERT_FILE)).unwrap();
        let second = start_dev_proxy(data.path(), "us-east-1").await.unwrap();
        assert_eq!(std::fs::read(dir.join(CA_CERT_FILE)).unwrap(), ca);
        assert_ne!(std::fs::read(dir.join(CERT_FILE)).unwrap(), leaf);
        // A TLS handshake trusting only the CA succeeds for both names.
        for name in ["localhost", "127.0.0.1"] {
            handshake(&second, name).await;
        }
        second.shutdown().await;
    }

    async fn handshake(proxy: &DevProxy, name: &str) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(proxy.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(proxy.local_addr())
            .await
            .unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS handshake as {name}: {e}"));
    }

    #[tokio::test]
    async fn a_keystore_without_its_kek_is_refused() {
        let data = tempfile::tempdir().unwrap();
        start_dev_proxy(data.path(), "us-east-1")
            .await
            .unwrap()
            .shutdown()
            .await;
        std::fs::remove_file(data.path().join(XKS_DIR).join(KEK_FILE)).unwrap();
        let e = start_dev_proxy(data.path(), "us-east-1").await.unwrap_err();
        assert!(e.contains("key-encryption key"), "{e}");
    }
}
