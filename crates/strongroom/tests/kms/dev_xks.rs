//! The XKS proxy `strongroom dev` starts beside its KMS: the `STRONGROOM_XKS_*` exports, the
//! XKS Proxy API over HTTPS trusting only the printed CA file, with requests signed by the
//! independent `aws-sigv4` crate, and persistence across restarts on one data directory.

use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use regex::Regex;
use serde_json::{json, Value};
use test_support::http::{Connection, Tls, TlsOptions};
use test_support::pki::Ca;
use test_support::sigv4::{xks_json_headers, Signer};

use crate::common::{b64, log_field, random_bytes, Kms, XksExports};

const PRINCIPAL: &str = "arn:aws:iam::111122223333:user/dev";
const KMS_KEY_ARN: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .expect("Base64")
}

/// TLS verifying `server_name` whose only trust anchor is the PEM certificate in `ca_pem`.
fn trusting_only(ca_pem: &[u8], server_name: &str) -> Tls {
    let pem = std::str::from_utf8(ca_pem).expect("PEM is text");
    assert_eq!(
        pem.matches("-----BEGIN CERTIFICATE-----").count(),
        1,
        "the CA file holds one certificate"
    );
    Tls::trusting_pem(pem, server_name, TlsOptions::default())
}

/// A response of the proxy.
#[derive(Debug)]
struct Resp {
    status: u16,
    body: Value,
}

impl Resp {
    #[track_caller]
    fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        self.body
    }

    #[track_caller]
    fn error(self, status: u16, name: &str) {
        assert_eq!(
            (self.status, self.body["errorName"].as_str()),
            (status, Some(name)),
            "{}",
            self.body
        );
    }
}

/// Calls the proxy the printed exports describe, over HTTPS, signing with SigV4.
struct XksCaller {
    /// `localhost:PORT`.
    host: String,
    uri_path: String,
    access_key_id: String,
    secret: String,
    region: String,
    /// The CA certificate (PEM) it trusts, alone.
    ca_pem: Vec<u8>,
}

impl XksCaller {
    fn new(x: &XksExports, region: &str, ca_pem: &[u8]) -> XksCaller {
        XksCaller {
            host: x
                .endpoint
                .strip_prefix("https://")
                .expect("https endpoint")
                .to_string(),
            uri_path: x.uri_path.clone(),
            access_key_id: x.access_key_id.clone(),
            secret: x.secret_access_key.clone(),
            region: region.to_string(),
            ca_pem: ca_pem.to_vec(),
        }
    }

    /// Connects to `localhost:PORT` (as any client of the endpoint would) and verifies the
    /// certificate for `server_name`.
    async fn connect(&self, server_name: &str) -> Result<Connection, String> {
        let tls = trusting_only(&self.ca_pem, server_name);
        Connection::open(&self.host, &self.host, Some(&tls)).await
    }

    /// POSTs `body` to `{uri_path}{suffix}`, signed with `secret` (None: unsigned).
    async fn post_with(&self, suffix: &str, body: &Value, secret: Option<&str>) -> Resp {
        let path = format!("{}{suffix}", self.uri_path);
        let body = serde_json::to_vec(body).unwrap();
        let headers = match secret {
            Some(secret) => Signer::xks(&self.access_key_id, secret)
                .in_region(&self.region)
                .sign_xks(&self.host, &path, &body),
            None => xks_json_headers(),
        };
        let mut conn = self.connect("localhost").await.expect("connect");
        let resp = conn
            .send("POST", &path, &headers, body)
            .await
            .expect("send request");
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let body = resp.json();
        Resp {
            status: resp.status,
            body,
        }
    }

    async fn post(&self, suffix: &str, body: &Value) -> Resp {
        self.post_with(suffix, body, Some(&self.secret)).await
    }

    async fn health(&self) -> Resp {
        let body = json!({"requestMetadata": {
            "kmsRequestId": uuid::Uuid::new_v4().to_string(),
            "kmsOperation": "KmsHealthCheck",
        }});
        self.post("/health", &body).await
    }

    async fn metadata(&self, key_id: &str) -> Resp {
        let body = json!({"requestMetadata": {
            "awsPrincipalArn": PRINCIPAL,
            "kmsOperation": "CreateKey",
            "kmsRequestId": uuid::Uuid::new_v4().to_string(),
        }});
        self.post(&format!("/keys/{key_id}/metadata"), &body).await
    }

    fn request_metadata(op: &str) -> Value {
        json!({
            "awsPrincipalArn": PRINCIPAL,
            "kmsKeyArn": KMS_KEY_ARN,
            "kmsOperation": op,
            "kmsRequestId": uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Encrypt; returns the response (ciphertext, IV, tag, metadata, CDIV).
    async fn encrypt(&self, key_id: &str, plaintext: &[u8], aad: &[u8]) -> Value {
        let body = json!({
            "requestMetadata": Self::request_metadata("Encrypt"),
            "plaintext": b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": b64(aad),
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        });
        self.post(&format!("/keys/{key_id}/encrypt"), &body)
            .await
            .ok()
    }

    /// Decrypt of an Encrypt response.
    async fn decrypt(&self, key_id: &str, sealed: &Value, aad: &[u8]) -> Resp {
        let body = json!({
            "requestMetadata": Self::request_metadata("Decrypt"),
            "ciphertext": sealed["ciphertext"],
            "ciphertextMetadata": sealed["ciphertextMetadata"],
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": sealed["initializationVector"],
            "authenticationTag": sealed["authenticationTag"],
            "additionalAuthenticatedData": b64(aad),
        });
        self.post(&format!("/keys/{key_id}/decrypt"), &body).await
    }
}

/// Starts `strongroom dev` and reads both sets of exports.
async fn start() -> (Kms, XksExports) {
    let mut kms = Kms::start().await;
    let xks = kms.xks_exports();
    (kms, xks)
}

#[tokio::test]
async fn dev_prints_xks_exports_in_the_formats_aws_requires() {
    let (kms, x) = start().await;
    let check = |name: &str, value: &str, pattern: &str| {
        assert!(
            Regex::new(pattern).unwrap().is_match(value),
            "{name}={value:?} does not match {pattern}"
        );
    };
    check(
        "STRONGROOM_XKS_URI_ENDPOINT",
        &x.endpoint,
        r"^https://localhost:[1-9][0-9]{0,4}$",
    );
    // AWS's XksProxyUriPath pattern.
    check(
        "STRONGROOM_XKS_URI_PATH",
        &x.uri_path,
        r"^(/[a-zA-Z0-9/_-]+/kms/xks/v\d{1,2})$|^(/kms/xks/v\d{1,2})$",
    );
    // XksProxyAuthenticationAccessKeyIdType and ...RawSecretAccessKeyType.
    check(
        "STRONGROOM_XKS_ACCESS_KEY_ID",
        &x.access_key_id,
        r"^[A-Z2-7]{20,30}$",
    );
    check(
        "STRONGROOM_XKS_SECRET_ACCESS_KEY",
        &x.secret_access_key,
        r"^[a-zA-Z0-9/+=]{43,64}$",
    );
    // XksKeyId.
    check(
        "STRONGROOM_XKS_KEY_ID",
        &x.key_id,
        r"^[a-zA-Z0-9._-]{1,128}$",
    );
    assert!(x.ca_file.is_absolute(), "{}", x.ca_file.display());
    let pem = std::fs::read_to_string(&x.ca_file).expect("read the CA file");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // The AWS lines are unchanged and us-east-1, the region the proxy verifies.
    assert_eq!(kms.exports.region, "us-east-1");

    // The proxy's files live in the data directory; everything but certificates is 0600.
    let xks_dir = kms.data_dir().join("xks");
    assert!(x
        .ca_file
        .starts_with(std::fs::canonicalize(&xks_dir).unwrap()));
    let mut secret_files = 0;
    for entry in std::fs::read_dir(&xks_dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.is_dir() {
            // The proxy's audit trail.
            assert_eq!(mode, 0o700, "{}", path.display());
            continue;
        }
        if path.extension().is_some_and(|e| e == "pem") {
            assert_eq!(
                mode & 0o022,
                0,
                "{} is not writable by others",
                path.display()
            );
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            let text = std::fs::read(&path).unwrap();
            if String::from_utf8_lossy(&text).contains(&x.secret_access_key)
                || String::from_utf8_lossy(&text).contains("PRIVATE KEY")
            {
                secret_files += 1;
            }
        }
    }
    assert!(
        secret_files >= 3,
        "credentials, CA key and server key files"
    );
}

#[tokio::test]
async fn the_proxy_answers_over_https_trusting_only_the_dev_ca() {
    let (kms, x) = start().await;
    let ca_pem = std::fs::read(&x.ca_file).unwrap();
    let xks = XksCaller::new(&x, &kms.exports.region, &ca_pem);

    // The certificate is valid for localhost and 127.0.0.1 under the dev CA, and only that CA.
    xks.connect("localhost").await.expect("TLS as localhost");
    xks.connect("127.0.0.1").await.expect("TLS as 127.0.0.1");
    let e = xks.connect("example.com").await.expect_err("wrong name");
    assert!(e.contains("TLS"), "{e}");
    let stranger = XksCaller::new(&x, &kms.exports.region, another_ca().as_bytes());
    let e = stranger.connect("localhost").await.expect_err("other CA");
    assert!(e.contains("TLS"), "{e}");

    // GetHealthStatus.
    let health = xks.health().await.ok();
    assert_eq!(health["xksProxyVendor"], "Strongroom", "{health}");
    assert_eq!(health["xksProxyFleetSize"], 1, "{health}");
    let fleet = health["ekmFleetDetails"]
        .as_array()
        .expect("ekmFleetDetails");
    assert_eq!(fleet.len(), 1, "{health}");
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE", "{health}");

    // GetKeyMetadata.
    let meta = xks.metadata(&x.key_id).await.ok();
    assert_eq!(meta["keySpec"], "AES_256", "{meta}");
    assert_eq!(meta["keyStatus"], "ENABLED", "{meta}");
    let mut usage: Vec<&str> = meta["keyUsage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    usage.sort_unstable();
    assert_eq!(usage, ["DECRYPT", "ENCRYPT"], "{meta}");
    xks.metadata("no-such-key")
        .await
        .error(404, "KeyNotFoundException");

    // Encrypt / Decrypt round trip, with AAD.
    let plaintext = random_bytes(32);
    let aad = b"dev xks test";
    let sealed = xks.encrypt(&x.key_id, &plaintext, aad).await;
    assert_eq!(unb64(&sealed["initializationVector"]).len(), 12, "{sealed}");
    assert_eq!(unb64(&sealed["authenticationTag"]).len(), 16, "{sealed}");
    assert_eq!(unb64(&sealed["ciphertext"]).len(), plaintext.len());
    assert_ne!(unb64(&sealed["ciphertext"]), plaintext);
    assert_eq!(
        unb64(&sealed["ciphertextDataIntegrityValue"]).len(),
        32,
        "{sealed}"
    );
    let opened = xks.decrypt(&x.key_id, &sealed, aad).await.ok();
    assert_eq!(unb64(&opened["plaintext"]), plaintext);
    xks.decrypt(&x.key_id, &sealed, b"other aad")
        .await
        .error(400, "InvalidCiphertextException");

    // SigV4 is required, with the printed secret.
    let body = json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}});
    xks.post_with("/health", &body, None)
        .await
        .error(401, "AuthenticationFailedException");
    let (head, last) = x.secret_access_key.split_at(x.secret_access_key.len() - 1);
    let wrong = format!("{head}{}", if last == "A" { "B" } else { "A" });
    xks.post_with("/health", &body, Some(&wrong))
        .await
        .error(401, "AuthenticationFailedException");
    // ... for the region it printed.
    let elsewhere = XksCaller {
        region: "eu-west-1".to_string(),
        ..XksCaller::new(&x, &kms.exports.region, &ca_pem)
    };
    elsewhere
        .health()
        .await
        .error(401, "AuthenticationFailedException");
}

/// A CA certificate the proxy's certificate does not chain to, named like the dev CA.
fn another_ca() -> String {
    Ca::new("Strongroom dev CA").pem().to_string()
}

#[tokio::test]
async fn restarting_dev_on_its_data_dir_keeps_the_proxy_credentials_keys_and_ca() {
    let (mut kms, first) = start().await;
    let ca_pem = std::fs::read(&first.ca_file).unwrap();
    let region = kms.exports.region.clone();
    let plaintext = random_bytes(48);
    let aad = b"restart";
    let sealed = XksCaller::new(&first, &region, &ca_pem)
        .encrypt(&first.key_id, &plaintext, aad)
        .await;

    kms.kill_and_restart().await;
    let second = kms.xks_exports();
    let same = |x: &XksExports| {
        (
            x.uri_path.clone(),
            x.access_key_id.clone(),
            x.secret_access_key.clone(),
            x.key_id.clone(),
            x.ca_file.clone(),
        )
    };
    assert_eq!(same(&first), same(&second));
    assert_eq!(std::fs::read(&second.ca_file).unwrap(), ca_pem, "same CA");

    // A client set up from the first run's CA and credentials calls the second run (on its new
    // port) and decrypts the first run's ciphertext.
    let xks = XksCaller::new(&second, &region, &ca_pem);
    xks.health().await.ok();
    let opened = xks.decrypt(&second.key_id, &sealed, aad).await.ok();
    assert_eq!(unb64(&opened["plaintext"]), plaintext);
}

/// The GetHealthStatus calls `dev` makes while it sets up its demo external key store through its
/// own KMS (CreateCustomKeyStore and ConnectCustomKeyStore on the first run; Update and Connect
/// again on a restart) each carry a kmsRequestId of their own, as the proxy's request log shows:
/// a KMS call made by the process itself has a request id like any other.
#[tokio::test]
async fn dev_setup_health_checks_carry_their_own_request_ids() {
    let mut kms = Kms::start_logging("warn,xks_proxy=info").await;
    kms.kill_and_restart().await;
    let health_ids = |op: &str| -> Vec<String> {
        kms.log
            .lines()
            .iter()
            .filter(|l| {
                l.contains("xks request")
                    && log_field(l, "operation").as_deref() == Some("GetHealthStatus")
                    && log_field(l, "kms_operation").as_deref() == Some(op)
            })
            .map(|l| log_field(l, "kms_request_id").unwrap_or_default())
            .collect()
    };
    let wanted = [
        ("CreateCustomKeyStore", 1),
        ("UpdateCustomKeyStore", 1),
        ("ConnectCustomKeyStore", 2),
    ];
    // Every line was logged before `dev` printed its exports; the reader thread may lag.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while wanted.iter().any(|(op, n)| health_ids(op).len() < *n) {
        assert!(
            std::time::Instant::now() < deadline,
            "health requests: {:#?}",
            kms.log.lines()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut seen = std::collections::HashSet::new();
    for (op, n) in wanted {
        let ids = health_ids(op);
        assert_eq!(ids.len(), n, "{op}: {ids:?}");
        for id in ids {
            assert!(
                uuid::Uuid::parse_str(&id).is_ok(),
                "{op}: kmsRequestId {id:?} is not a request id"
            );
            assert!(seen.insert(id.clone()), "{op}: {id} was used before");
        }
    }
}
