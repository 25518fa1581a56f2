//! Kept-alive HTTP/1.1 connections to proxies, each driven by the call that holds it.
//!
//! A call takes a connection out of the pool, polls it in its own task while the request goes
//! out and the answer comes back, and puts it back once the answer is whole. No task runs per
//! connection, so a proxy call wakes no other task (a client that drives each connection on a
//! task of its own passes every request and answer across channels between two tasks).
//!
//! Invariants: a pooled connection has no request in flight; a connection whose future has
//! finished is never polled again nor pooled; a call dropped midway (its deadline, a cancelled
//! KMS request) drops its connection with it. Idle connections are not polled: one the proxy
//! closed meanwhile reports its end when it is next taken, and a close or reset that races the
//! request fails it before any answer, which the caller resends on a new connection. Idle
//! connections expire (after [`IDLE_TIMEOUT`] in the client): an endpoint's when it is next used, every
//! endpoint's when a new endpoint is first pooled.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

use crate::RequestBody;

type Io = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// How long an unused connection is kept.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Unused connections kept per proxy endpoint (more are closed when their call ends).
const IDLE_PER_ENDPOINT: usize = 64;

/// Why an exchange failed. `None` is a connection that ended without an error from hyper.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// No connection could be made: the connector's error (TCP, TLS, name resolution).
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// Sending the request, or waiting for the head of the answer, failed; `reused`: on a
    /// connection an earlier call had used.
    Request {
        error: Option<hyper::Error>,
        reused: bool,
    },
    /// Reading the body of the answer failed (the proxy had begun to answer).
    Answer(Option<hyper::Error>),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const ENDED: &str = "the connection ended";
        match self {
            ExchangeError::Connect(e) => write!(f, "cannot connect: {e}"),
            ExchangeError::Request { error: Some(e), .. } => e.fmt(f),
            ExchangeError::Request { error: None, .. } => write!(f, "{ENDED} before an answer"),
            ExchangeError::Answer(Some(e)) => write!(f, "reading the answer: {e}"),
            ExchangeError::Answer(None) => write!(f, "reading the answer: {ENDED}"),
        }
    }
}

struct Conn {
    send: http1::SendRequest<RequestBody>,
    driver: Pin<Box<http1::Connection<Io, RequestBody>>>,
    /// Whether the driver has finished (it is then never polled again).
    ended: bool,
    idle_since: Instant,
}

impl Conn {
    /// Polls the driver (unless it has finished) so the connection reads and writes.
    fn drive(&mut self, cx: &mut Context<'_>) -> Option<hyper::Error> {
        if self.ended {
            return None;
        }
        match self.driver.as_mut().poll(cx) {
            Poll::Pending => None,
            Poll::Ready(r) => {
                self.ended = true;
                r.err()
            }
        }
    }

    /// Runs `fut` (a stage of an exchange on this connection) while driving the connection; an
    /// error if the connection ends first (`None`: ended without one).
    async fn run<T>(
        &mut self,
        mut fut: Pin<&mut impl Future<Output = T>>,
    ) -> Result<T, Option<hyper::Error>> {
        poll_fn(|cx| {
            let failed = self.drive(cx);
            // The driver hands its outcome to the stage's future first: an error there is the
            // more precise one.
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            match failed {
                Some(e) => Poll::Ready(Err(Some(e))),
                None if self.ended => Poll::Ready(Err(None)),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Waits until the connection can take a request; false if it has ended.
    async fn ready(&mut self) -> bool {
        poll_fn(|cx| {
            self.drive(cx);
            if self.ended {
                return Poll::Ready(false);
            }
            self.send.poll_ready(cx).map(|r| r.is_ok())
        })
        .await
    }

    /// Polls the driver once, so that a connection the proxy closes after its answer
    /// (`Connection: close`) is seen to end before it could be pooled.
    async fn settle(&mut self) {
        poll_fn(|cx| {
            self.drive(cx);
            Poll::Ready(())
        })
        .await
    }
}

/// Connections to any number of proxies.
pub(crate) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// Per endpoint, unused connections from the longest idle to the last used (each is
    /// stamped under the lock as it is pushed).
    idle: Mutex<HashMap<String, Vec<Conn>>>,
    idle_timeout: Duration,
}

impl Pool {
    /// A pool keeping unused connections for `idle_timeout` ([`IDLE_TIMEOUT`]).
    pub(crate) fn new(connector: HttpsConnector<HttpConnector>, idle_timeout: Duration) -> Pool {
        Pool {
            connector,
            idle: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// Sends `request` (its URI in origin form, its `host` header set) to the proxy at
    /// `endpoint` (`scheme://authority`, whose URI is `endpoint_uri`) and reads the whole answer.
    /// `fresh` makes a new connection rather than reuse one.
    pub(crate) async fn exchange(
        &self,
        endpoint: &str,
        endpoint_uri: &hyper::Uri,
        request: hyper::Request<RequestBody>,
        fresh: bool,
    ) -> Result<(u16, Bytes), ExchangeError> {
        let (mut conn, reused) = loop {
            match (!fresh).then(|| self.take(endpoint)).flatten() {
                Some(mut conn) => {
                    if conn.ready().await {
                        break (conn, true);
                    }
                }
                None => break (self.connect(endpoint_uri).await?, false),
            }
        };
        let mut sent = pin!(conn.send.send_request(request));
        let response = conn
            .run(sent.as_mut())
            .await
            .and_then(|r| r.map_err(Some))
            .map_err(|error| ExchangeError::Request { error, reused })?;
        let status = response.status().as_u16();
        let mut body = pin!(response.into_body().collect());
        let body = conn
            .run(body.as_mut())
            .await
            .map_err(ExchangeError::Answer)?
            .map_err(|e| ExchangeError::Answer(Some(e)))?
            .to_bytes();
        conn.settle().await;
        self.put_back(endpoint, conn);
        Ok((status, body))
    }

    /// An idle connection to `endpoint`, the most recently used first; expired ones are closed.
    fn take(&self, endpoint: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.get_mut(endpoint)?;
        self.close_expired(conns, Instant::now());
        conns.pop()
    }

    /// Closes the connections of `conns` idle for longer than the timeout: a prefix, as they
    /// are in the order they became idle.
    fn close_expired(&self, conns: &mut Vec<Conn>, now: Instant) {
        let expired =
            conns.partition_point(|c| now.duration_since(c.idle_since) >= self.idle_timeout);
        conns.drain(..expired);
    }

    fn put_back(&self, endpoint: &str, mut conn: Conn) {
        if conn.ended || conn.send.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        conn.idle_since = now;
        match idle.get_mut(endpoint) {
            Some(conns) if conns.len() >= IDLE_PER_ENDPOINT => {}
            Some(conns) => conns.push(conn),
            None => {
                // Endpoints no longer called (a store deleted or moved) leave connections here.
                idle.retain(|_, conns| {
                    self.close_expired(conns, now);
                    !conns.is_empty()
                });
                idle.insert(endpoint.to_string(), vec![conn]);
            }
        }
    }

    async fn connect(&self, endpoint_uri: &hyper::Uri) -> Result<Conn, ExchangeError> {
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(ExchangeError::Connect)?;
        let io = connector
            .call(endpoint_uri.clone())
            .await
            .map_err(ExchangeError::Connect)?;
        let (send, driver) = http1::handshake(io)
            .await
            .map_err(|e| ExchangeError::Connect(Box::new(e)))?;
        Ok(Conn {
            send,
            driver: Box::pin(driver),
            ended: false,
            idle_since: Instant::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::SecretBody;

    /// What the test server does after each answer.
    #[derive(Clone, Copy)]
    enum After {
        KeepAlive,
        /// Answers with `Connection: close` and closes.
        SayClose,
        /// Closes without saying so, when the test says (after the client pooled it).
        HangUp,
    }

    #[derive(Default)]
    struct Seen {
        connections: AtomicUsize,
        closed: AtomicUsize,
        hang_up: tokio::sync::Notify,
    }

    /// Reads one request (its head, then Content-Length bytes of body) from `sock` into `buf`,
    /// leaving what follows it; false once the client has closed.
    async fn read_request(sock: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return false;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + len);
        true
    }

    /// A plain-HTTP server answering each request `200 {}`.
    async fn server(after: After) -> (String, Arc<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Seen::default());
        let counts = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                counts.connections.fetch_add(1, Ordering::SeqCst);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        if !read_request(&mut sock, &mut buf).await {
                            counts.closed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        let close = match after {
                            After::SayClose => "connection: close\r\n",
                            _ => "",
                        };
                        let answer =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n{close}\r\n{{}}");
                        sock.write_all(answer.as_bytes()).await.unwrap();
                        if matches!(after, After::HangUp) {
                            counts.hang_up.notified().await;
                        }
                        if !matches!(after, After::KeepAlive) {
                            drop(sock);
                            counts.closed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                });
            }
        });
        (endpoint, seen)
    }

    fn pool() -> Pool {
        pool_keeping(IDLE_TIMEOUT)
    }

    fn pool_keeping(idle_timeout: Duration) -> Pool {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        Pool::new(
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp),
            idle_timeout,
        )
    }

    async fn exchange(pool: &Pool, endpoint: &str) -> Result<(u16, Bytes), ExchangeError> {
        let uri: hyper::Uri = endpoint.parse().unwrap();
        let host = uri.authority().unwrap().as_str().to_string();
        let body = SecretBody(Arc::new(zeroize::Zeroizing::new(b"{}".to_vec())));
        let request = hyper::Request::post("/kms/xks/v1/health")
            .header("host", host)
            .body(Full::new(std::io::Cursor::new(body)))
            .unwrap();
        pool.exchange(endpoint, &uri, request, false).await
    }

    #[tokio::test]
    async fn a_kept_alive_connection_carries_every_call() {
        let (endpoint, seen) = server(After::KeepAlive).await;
        let pool = pool();
        for _ in 0..5 {
            let (status, body) = exchange(&pool, &endpoint).await.unwrap();
            assert_eq!((status, &body[..]), (200, &b"{}"[..]));
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_proxy_closes_is_not_reused() {
        for after in [After::SayClose, After::HangUp] {
            let (endpoint, seen) = server(after).await;
            let pool = pool();
            for i in 1..=3 {
                // The proxy has closed the previous connection before this call takes it.
                if i > 1 {
                    seen.hang_up.notify_one();
                }
                closed(&seen, i - 1).await;
                let (status, _) = exchange(&pool, &endpoint).await.unwrap();
                assert_eq!(status, 200);
            }
            assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
        }
    }

    #[tokio::test]
    async fn an_unreachable_proxy_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = exchange(&pool(), &endpoint).await.unwrap_err();
        assert!(matches!(err, ExchangeError::Connect(_)), "{err}");
    }

    /// Once the proxy has begun to answer it has the request: an answer cut short is the proxy
    /// unreachable, and the request is not sent again.
    #[tokio::test]
    async fn an_answer_cut_short_is_unreachable_and_not_sent_again() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                if read_request(&mut sock, &mut Vec::new()).await {
                    seen.fetch_add(1, Ordering::SeqCst);
                    let cut = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"xksProxy";
                    sock.write_all(cut).await.unwrap();
                }
            }
        });
        let ca = test_support::pki::Ca::new("unused");
        let client = crate::XksClient::new(&crate::ClientConfig {
            region: "us-east-1".to_string(),
            timeout: Duration::from_secs(5),
            extra_ca_pem: Some(ca.pem().as_bytes().to_vec()),
            system_roots: false,
        })
        .unwrap();
        let target = crate::ProxyTarget {
            endpoint,
            uri_path: "/kms/xks/v1".to_string(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_string(),
            secret: zeroize::Zeroizing::new("secret".to_string()),
        };
        let err = client
            .health(&target, crate::RequestMetadata::default())
            .await
            .unwrap_err();
        assert!(matches!(err, crate::ProxyError::Unreachable(_)), "{err}");
        assert!(err.to_string().contains("reading the answer"), "{err}");
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }

    /// Waits (boundedly) until `n` connections to a test server have been closed.
    async fn closed(seen: &Seen, n: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while seen.closed.load(Ordering::SeqCst) < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("connections closed");
    }

    #[tokio::test]
    async fn expired_connections_are_closed() {
        let (a, seen_a) = server(After::KeepAlive).await;
        let (b, seen_b) = server(After::KeepAlive).await;
        let pool = pool_keeping(Duration::ZERO);
        for _ in 0..3 {
            exchange(&pool, &a).await.unwrap();
        }
        // Each call found the last connection expired, closed it and made its own.
        assert_eq!(seen_a.connections.load(Ordering::SeqCst), 3);
        closed(&seen_a, 2).await;
        // The first call to another endpoint closes what the first left idle.
        exchange(&pool, &b).await.unwrap();
        closed(&seen_a, 3).await;
        assert_eq!(seen_b.connections.load(Ordering::SeqCst), 1);
    }
}
