//! An HTTP/1.1 client on hyper 1, over plain TCP or rustls, for the requests the SDK cannot
//! send: unsigned, signed over the wrong headers, with odd headers or bodies. It sends the
//! headers it is given (names lower-cased by hyper) and adds only `host` (unless given) and
//! `content-length`.
//!
//! A test that must send bytes no HTTP client would (a head trickled byte by byte, a body
//! never finished) opens a raw stream with [`connect_tls`] or a `TcpStream` and writes them
//! itself.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::pki::{Ca, Identity};

/// How long a one-shot request may take before it fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS to a server: the client configuration and the name its certificate must carry.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: String,
}

/// What a TLS client offers and trusts.
#[derive(Clone, Default)]
pub struct TlsOptions<'a> {
    /// The client certificate to present.
    pub identity: Option<&'a Identity>,
    /// ALPN protocols; empty: `http/1.1`.
    pub alpn: &'a [&'a [u8]],
    /// The crypto provider (versions, suites); `None`: aws-lc-rs's default.
    pub provider: Option<Arc<CryptoProvider>>,
}

impl Tls {
    /// Trusting `ca` only, verifying `server_name`, offering `http/1.1`.
    pub fn trusting(ca: &Ca, server_name: &str) -> Tls {
        Tls::with_roots(ca.roots(), server_name, TlsOptions::default())
    }

    /// Trusting only the certificates of the PEM text `ca_pem`.
    pub fn trusting_pem(ca_pem: &str, server_name: &str, options: TlsOptions<'_>) -> Tls {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.expect("PEM CA certificate"))
                .expect("a usable CA certificate");
        }
        assert!(!roots.is_empty(), "no certificate in the CA PEM text");
        Tls::with_roots(roots, server_name, options)
    }

    /// Trusting `roots`, as `options` say.
    pub fn with_roots(
        roots: rustls::RootCertStore,
        server_name: &str,
        options: TlsOptions<'_>,
    ) -> Tls {
        let provider = options
            .provider
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
        let mut config = match options.identity {
            Some(id) => builder
                .with_client_auth_cert(id.cert_chain(), id.private_key())
                .expect("client certificate and key"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = if options.alpn.is_empty() {
            vec![b"http/1.1".to_vec()]
        } else {
            options.alpn.iter().map(|p| p.to_vec()).collect()
        };
        Tls {
            config: Arc::new(config),
            server_name: server_name.to_string(),
        }
    }

    /// The same trust and identity, offering `alpn` instead.
    pub fn with_alpn(&self, alpn: &[&[u8]]) -> Tls {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Tls {
            config: Arc::new(config),
            server_name: self.server_name.clone(),
        }
    }
}

/// A TLS handshake over `tcp`.
pub async fn handshake(tcp: TcpStream, tls: &Tls) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(tls.server_name.clone())
        .map_err(|e| format!("server name {:?}: {e}", tls.server_name))?;
    tokio_rustls::TlsConnector::from(Arc::clone(&tls.config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// A TLS connection to `addr`, for tests that write raw bytes (see the module's note).
pub async fn connect_tls(addr: &str, tls: &Tls) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    handshake(tcp, tls).await
}

/// A response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of this name, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the response body is not JSON ({e}): {:?}", self.text()))
    }

    /// `__type` of a KMS (AWS JSON 1.1) error body.
    #[track_caller]
    pub fn error_type(&self) -> String {
        self.json()["__type"]
            .as_str()
            .unwrap_or_else(|| panic!("no __type in {:?}", self.text()))
            .to_string()
    }

    /// `message` of a KMS error body (AWS leaves it out for some errors: then empty).
    #[track_caller]
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts a KMS error response of `status` and `error_type` whose body has only `__type`
    /// and `message` and which carries a request id; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, error_type: &str) -> String {
        assert_eq!(
            (self.status, self.error_type().as_str()),
            (status, error_type),
            "body: {}",
            self.text()
        );
        let v = self.json();
        let obj = v.as_object().expect("the error body is a JSON object");
        assert!(
            obj.keys().all(|k| k == "__type" || k == "message"),
            "an error body has only __type and message: {v}"
        );
        assert!(
            self.header("x-amzn-RequestId")
                .is_some_and(|v| !v.is_empty()),
            "x-amzn-RequestId on every response: {:?}",
            self.headers
        );
        self.message()
    }

    /// `errorName` of an XKS Proxy API error body (empty if none).
    #[track_caller]
    pub fn error_name(&self) -> String {
        self.json()["errorName"].as_str().unwrap_or("").to_string()
    }

    /// Asserts an XKS Proxy API error of `status` and `name`: a JSON body whose `errorMessage`
    /// is short printable ASCII.
    #[track_caller]
    pub fn assert_error(&self, status: u16, name: &str) {
        assert_eq!(
            (self.status, self.error_name().as_str()),
            (status, name),
            "body: {}",
            self.text()
        );
        let v = self.json();
        let msg = v["errorMessage"].as_str().unwrap_or("");
        assert!(
            msg.len() < 512 && msg.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{msg}"
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
    }

    /// Asserts status 200 and returns the JSON body.
    #[track_caller]
    pub fn ok(&self) -> serde_json::Value {
        assert_eq!(self.status, 200, "{}", self.text());
        self.json()
    }
}

/// An open HTTP/1.1 connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// The `host` header of its requests.
    pub host: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` (with TLS if given) and sends `host` as the `host` header.
    pub async fn open(addr: &str, host: &str, tls: Option<&Tls>) -> Result<Connection, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        Connection::over(tcp, host, tls).await
    }

    /// An HTTP/1.1 connection over `tcp` (with TLS if given).
    pub async fn over(tcp: TcpStream, host: &str, tls: Option<&Tls>) -> Result<Connection, String> {
        let sender = match tls {
            Some(tls) => {
                let stream = handshake(tcp, tls).await?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                tokio::spawn(conn);
                sender
            }
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                tokio::spawn(conn);
                sender
            }
        };
        Ok(Connection {
            sender,
            host: host.to_string(),
        })
    }

    /// Sends `method path` with `headers` (plus `host` unless among them) and `body`, and reads
    /// the whole response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Result<Response, String> {
        let mut req = http::Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req = req.header("host", &self.host);
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(body.into()))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// One request over a connection of its own (`host` is `addr` unless among `headers`), given
/// 30 s to complete.
pub async fn request(
    addr: &str,
    tls: Option<&Tls>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Result<Response, String> {
    let body = body.into();
    let exchange = async {
        let mut c = Connection::open(addr, addr, tls).await?;
        c.send(method, path, headers, body).await
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no response from {addr} within {REQUEST_TIMEOUT:?}"))?
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own: the blocking form of
/// the client, callable from synchronous code and from inside another runtime alike.
pub fn block_on<F>(f: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for a blocking request")
                .block_on(f)
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// [`request`], blocking.
pub fn request_blocking(
    addr: &str,
    tls: Option<&Tls>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, String> {
    let body = Bytes::copy_from_slice(body);
    block_on(request(addr, tls, method, path, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection HTTP/1.1 server that records the request head and answers `answer`.
    async fn once(answer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer).await.unwrap();
            got
        });
        (addr, task)
    }

    #[tokio::test]
    async fn sends_the_headers_given_and_reads_the_answer() {
        let (addr, task) =
            once(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nx-amzn-requestid: r\r\n\r\n{}")
                .await;
        let headers = vec![("x-odd".to_string(), "a  b".to_string())];
        let r = tokio::task::spawn_blocking(move || {
            request_blocking(&addr, None, "POST", "/p?q=1", &headers, b"")
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (400, &b"{}"[..]));
        assert_eq!(r.header("X-Amzn-RequestId"), Some("r"));
        let head = String::from_utf8(task.await.unwrap()).unwrap();
        assert!(head.starts_with("POST /p?q=1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("x-odd: a  b\r\n"), "{head}");
        assert!(head.contains("host: 127.0.0.1:"), "{head}");
    }
}
