//! The KMS side of the XKS Proxy API: calls an external key store proxy over HTTPS with SigV4
//! (service `kms-xks-proxy`), on pooled keep-alive connections, with a deadline per call, and
//! classifies every way a call can end so the KMS can map it to AWS's exceptions.
#![forbid(unsafe_code)]

mod cert_expiry;
mod pool;

use std::time::Duration;

use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use xks::{ErrorName, XksError};
use zeroize::Zeroizing;

pub use xks::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, GetHealthStatusRequest,
    GetHealthStatusResponse, GetKeyMetadataRequest, GetKeyMetadataResponse, RequestMetadata,
};

/// Where a proxy is and how to sign for it.
#[derive(Clone)]
pub struct ProxyTarget {
    /// `https://host` (or, where the KMS's configuration allows, `https://host:port` and `http://`).
    pub endpoint: String,
    /// `[/prefix]/kms/xks/v1`.
    pub uri_path: String,
    /// SigV4 access key id.
    pub access_key_id: String,
    /// SigV4 secret.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for ProxyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("endpoint", &self.endpoint)
            .field("uri_path", &self.uri_path)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// How a proxy call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The proxy answered with one of the specification's errors.
    Xks {
        /// The error name.
        name: ErrorName,
        /// The HTTP status it came with.
        status: u16,
    },
    /// No TCP connection could be made.
    Unreachable(String),
    /// The TLS handshake failed (certificate, name, CA, version).
    Tls(String),
    /// No complete answer within the deadline, twice (the call is retried once).
    Timeout,
    /// An answer that is not what the specification allows.
    InvalidResponse(String),
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyError::Xks { name, status } => {
                write!(f, "proxy answered {status} {}", name.as_str())
            }
            ProxyError::Unreachable(e) => write!(f, "proxy unreachable: {e}"),
            ProxyError::Tls(e) => write!(f, "TLS with the proxy failed: {e}"),
            ProxyError::Timeout => write!(f, "proxy did not answer in time"),
            ProxyError::InvalidResponse(e) => write!(f, "invalid proxy response: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Attempts of a call that times out (the first and one retry).
pub const CALL_ATTEMPTS: u32 = 2;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The region the KMS runs in (the SigV4 scope).
    pub region: String,
    /// Deadline of one attempt (AWS KMS: 250 ms). A call that times out is tried once more.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM), besides the system roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Whether the system's roots are trusted.
    pub system_roots: bool,
}

/// A request body: zeroed when the client is done with it (an Encrypt carries plaintext), and
/// shared rather than copied when the request is sent again.
#[derive(Clone)]
struct SecretBody(std::sync::Arc<Zeroizing<Vec<u8>>>);

impl AsRef<[u8]> for SecretBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

type RequestBody = Full<std::io::Cursor<SecretBody>>;

/// Signing keys kept per client: a few per proxy credential per day.
const SIGNING_KEYS_KEPT: usize = 256;

/// A pooled client for any number of proxies.
#[derive(Clone)]
pub struct XksClient {
    http: std::sync::Arc<pool::Pool>,
    signer: std::sync::Arc<sigv4::Signer>,
    region: String,
    timeout: Duration,
    /// The notAfter of each proxy host's certificate, as last seen.
    expiries: cert_expiry::Expiries,
}

impl std::fmt::Debug for XksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XksClient")
            .field("region", &self.region)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn root_store(cfg: &ClientConfig) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    if cfg.system_roots {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A system certificate rustls cannot use is skipped, as browsers do.
            let _ = roots.add(cert);
        }
    }
    if let Some(pem) = &cfg.extra_ca_pem {
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
            roots.add(cert).map_err(|e| format!("CA bundle: {e}"))?;
            n += 1;
        }
        if n == 0 {
            return Err("the CA bundle holds no certificate".to_string());
        }
    }
    Ok(roots)
}

/// Whether an error, or anything it wraps, is a TLS failure. An I/O error that wraps another
/// I/O error does not expose the inner one through `source()` (only its source), so wrapped
/// payloads are searched through `get_ref()`.
fn tls_failure(e: &(dyn std::error::Error + 'static), depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls.to_string());
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if let Some(found) = io.get_ref().and_then(|inner| tls_failure(inner, depth + 1)) {
            return Some(found);
        }
        if io.kind() == std::io::ErrorKind::InvalidData {
            return Some(io.to_string());
        }
    }
    e.source().and_then(|s| tls_failure(s, depth + 1))
}

/// Whether an exchange failed because its connection was closed before an answer began:
/// hyper's "connection closed before message completed", the request canceled with it, or, on
/// a kept-alive connection, any break (the proxy reset it as the request went out). Once the
/// proxy has begun to answer, it has the request: that is never sent again.
fn closed_under_us(e: &pool::ExchangeError) -> bool {
    match e {
        pool::ExchangeError::Request {
            error: Some(h),
            reused,
        } => h.is_incomplete_message() || h.is_canceled() || (*reused && broke_in_transit(h)),
        pool::ExchangeError::Request { error: None, .. } => true,
        pool::ExchangeError::Answer(_) | pool::ExchangeError::Connect(_) => false,
    }
}

/// Whether `e` says the connection broke during the exchange (reset, closed before a whole
/// answer, an I/O error): the proxy could not be talked to, which is not an answer KMS cannot
/// interpret (a proxy killed mid-request). An answer that is not HTTP is not such a failure.
fn broke_in_transit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return false;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return true;
            }
        }
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The most specific description of why an exchange failed: TLS or not.
fn classify_exchange(e: &pool::ExchangeError) -> ProxyError {
    use pool::ExchangeError::{Answer, Connect, Request};
    match e {
        Connect(c) => match tls_failure(c.as_ref(), 0) {
            Some(tls) => ProxyError::Tls(tls),
            None => ProxyError::Unreachable(e.to_string()),
        },
        Request { error: Some(h), .. } | Answer(Some(h)) => {
            if let Some(tls) = tls_failure(h, 0) {
                ProxyError::Tls(tls)
            } else if broke_in_transit(h) {
                ProxyError::Unreachable(e.to_string())
            } else {
                ProxyError::InvalidResponse(e.to_string())
            }
        }
        Request { error: None, .. } | Answer(None) => ProxyError::Unreachable(e.to_string()),
    }
}

impl XksClient {
    /// A client trusting the system roots and/or the given CA bundle.
    pub fn new(cfg: &ClientConfig) -> Result<XksClient, String> {
        let roots = root_store(cfg)?;
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::clone(&provider),
        )
        .build()
        .map_err(|e| format!("TLS configuration: {e}"))?;
        let expiries = cert_expiry::Expiries::default();
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(cert_expiry::NotingVerifier {
                inner: webpki,
                seen: std::sync::Arc::clone(&expiries),
            }))
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        // A request is written whole; Nagle's algorithm would only hold back a split write's
        // tail for the proxy's delayed ACK. (HTTP/2 to the proxy was measured: 10–20% fewer
        // requests/s than HTTP/1.1 on kept-alive connections, so ALPN offers only http/1.1.)
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(XksClient {
            http: std::sync::Arc::new(pool::Pool::new(connector, pool::IDLE_TIMEOUT)),
            signer: std::sync::Arc::new(sigv4::Signer::new(xks::SIGV4_SERVICE, SIGNING_KEYS_KEPT)),
            region: cfg.region.clone(),
            timeout: cfg.timeout,
            expiries,
        })
    }

    /// When the certificate the proxy at `endpoint` (`https://host[:port]`) last presented
    /// expires, in milliseconds since the epoch; `None` before a handshake with it.
    pub fn certificate_not_after_ms(&self, endpoint: &str) -> Option<i64> {
        let uri: hyper::Uri = endpoint.parse().ok()?;
        let host = uri.host()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.expiries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(host)
            .copied()
    }

    /// GetHealthStatus.
    pub async fn health(
        &self,
        t: &ProxyTarget,
        meta: RequestMetadata,
    ) -> Result<GetHealthStatusResponse, ProxyError> {
        self.call(
            t,
            "/health",
            &GetHealthStatusRequest {
                request_metadata: meta,
            },
        )
        .await
    }

    /// GetKeyMetadata.
    pub async fn key_metadata(
        &self,
        t: &ProxyTarget,
        key_id: &str,
        meta: RequestMetadata,
    ) -> Result<GetKeyMetadataResponse, ProxyError> {
        self.call(
            t,
            &format!("/keys/{key_id}/metadata"),
            &GetKeyMetadataRequest {
                request_metadata: meta,
            },
        )
        .await
    }

    /// Encrypt.
    pub async fn encrypt(
        &self,
        t: &ProxyTarget,
        key_id: &str,
        req: &EncryptRequest,
    ) -> Result<EncryptResponse, ProxyError> {
        self.call(t, &format!("/keys/{key_id}/encrypt"), req).await
    }

    /// Decrypt.
    pub async fn decrypt(
        &self,
        t: &ProxyTarget,
        key_id: &str,
        req: &DecryptRequest,
    ) -> Result<DecryptResponse, ProxyError> {
        self.call(t, &format!("/keys/{key_id}/decrypt"), req).await
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        t: &ProxyTarget,
        suffix: &str,
        body: &Req,
    ) -> Result<Resp, ProxyError> {
        // AWS KMS retries a call that timed out once, so a failing call takes up to twice the
        // deadline (developer guide, "Monitoring external key stores", Latency). Every other
        // outcome, including a refused connection or an error answer, is final.
        for attempt in 1..=CALL_ATTEMPTS {
            match tokio::time::timeout(self.timeout, self.call_inner(t, suffix, body)).await {
                Ok(r) => return r,
                Err(_) => tracing::debug!(
                    endpoint = %t.endpoint,
                    path = suffix,
                    attempt,
                    "the external key store proxy did not answer in time"
                ),
            }
        }
        Err(ProxyError::Timeout)
    }

    async fn call_inner<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        t: &ProxyTarget,
        suffix: &str,
        body: &Req,
    ) -> Result<Resp, ProxyError> {
        let body = SecretBody(std::sync::Arc::new(Zeroizing::new(
            serde_json::to_vec(body).map_err(|e| {
                ProxyError::InvalidResponse(format!("cannot encode the request: {e}"))
            })?,
        )));
        let path = format!("{}{suffix}", t.uri_path);
        let endpoint: hyper::Uri = t
            .endpoint
            .parse()
            .map_err(|e| ProxyError::Unreachable(format!("invalid proxy URI: {e}")))?;
        let host = endpoint
            .authority()
            .ok_or_else(|| ProxyError::Unreachable("the proxy URI has no host".to_string()))?
            .as_str();
        let amz_date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let content_type = "application/json";
        let headers = [
            ("content-type", content_type),
            ("host", host),
            ("x-amz-date", amz_date.as_str()),
        ];
        let request = sigv4::Request {
            method: "POST",
            path: &path,
            query: "",
            headers: &headers,
            body: body.as_ref(),
        };
        let authorization = self
            .signer
            .sign(
                &t.secret,
                &t.access_key_id,
                &self.region,
                &amz_date,
                &request,
                &["content-type", "host", "x-amz-date"],
                &sigv4::sha256_hex(body.as_ref()),
            )
            .map_err(|e| ProxyError::InvalidResponse(format!("cannot sign the request: {e}")))?;
        // Origin form, with exactly the host that was signed.
        let build = || {
            hyper::Request::post(path.as_str())
                .header("host", host)
                .header("content-type", content_type)
                .header("x-amz-date", &amz_date)
                .header("authorization", authorization.as_str())
                .body(Full::new(std::io::Cursor::new(body.clone())))
                .map_err(|e| ProxyError::InvalidResponse(format!("cannot build the request: {e}")))
        };
        let (status, bytes) = match self
            .http
            .exchange(&t.endpoint, &endpoint, build()?, false)
            .await
        {
            Ok(r) => r,
            // A connection the proxy closed or reset as the request went out (a restart, a
            // certificate change) with no answer begun: the request is sent again, once, on a
            // new connection, within the same deadline.
            Err(e) if closed_under_us(&e) => self
                .http
                .exchange(&t.endpoint, &endpoint, build()?, true)
                .await
                .map_err(|e| classify_exchange(&e))?,
            Err(e) => return Err(classify_exchange(&e)),
        };
        decode_answer(status, &bytes)
    }
}

/// Reads a proxy's answer: the operation's response on HTTP 200, else the specification's
/// error body (any other answer is [`ProxyError::InvalidResponse`]).
pub fn decode_answer<Resp: DeserializeOwned>(status: u16, body: &[u8]) -> Result<Resp, ProxyError> {
    if status == 200 {
        return serde_json::from_slice(body)
            .map_err(|e| ProxyError::InvalidResponse(format!("malformed answer: {e}")));
    }
    match XksError::from_body(body) {
        Some(err) => Err(ProxyError::Xks {
            name: err.name,
            status,
        }),
        None => Err(ProxyError::InvalidResponse(format!(
            "HTTP {status} without an XKS error body"
        ))),
    }
}
