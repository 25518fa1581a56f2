//! The HTTP serving module the KMS listener and the XKS proxy share: it accepts connections
//! (plain HTTP/1.1 and HTTP/2, or HTTPS with ALPN), enforces the [`Limits`] — connection caps,
//! header-read, whole-request and idle timeouts, HTTP/2 keep-alive pings, the body size limit
//! and a bounded drain of unread bodies — and shuts down gracefully. Handlers see a request's
//! head and a [`Body`] they read with [`Body::read_all`].
#![forbid(unsafe_code)]

mod body;
mod caps;
mod conn;
mod limits;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use body::{Body, BodyError};
pub use hyper::http::request::Parts;
pub use limits::{Limits, MAX_CONNECTIONS_CEILING};

use body::Finish;
use caps::{Caps, Slot};
use conn::{Conn, Protocol, Watched, H2_PREFACE};

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. `body` is read with [`Body::read_all`]; a body left unread is
    /// drained after the answer, and one that timed out or broke closes the connection (HTTP/1)
    /// or the stream (HTTP/2) instead of the answer being sent.
    fn handle(
        &self,
        head: Parts,
        body: &mut Body,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send;
}

/// A response with `body` as `content_type` (admin endpoints: metrics, health).
pub fn text_response(
    status: hyper::StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

/// The TLS configuration of an HTTPS listener; it may be replaced while serving (new connections
/// use the new one).
pub struct Tls {
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl Tls {
    /// Serves HTTPS with `config` (its ALPN list decides whether HTTP/2 is offered).
    pub fn new(config: Arc<rustls::ServerConfig>) -> Tls {
        Tls {
            current: RwLock::new(config),
        }
    }

    /// Uses `config` for connections accepted from now on.
    pub fn replace(&self, config: Arc<rustls::ServerConfig>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    fn current(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The request failed on the client's side (body timed out or broke): hyper closes the HTTP/1
/// connection or resets the HTTP/2 stream when a service fails.
#[derive(Debug)]
struct Aborted(BodyError);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request abandoned: {}", self.0)
    }
}

impl std::error::Error for Aborted {}

struct Server<H> {
    handler: Arc<H>,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    caps: Caps,
}

/// Serves `listener` with `handler` until `shutdown` completes; then stops accepting, lets open
/// connections finish their requests (idle ones close at once) for up to
/// `limits.shutdown_grace_ms`, and returns. `limits` should have passed [`Limits::validate`].
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    limits: Limits,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let server = Arc::new(Server {
        handler,
        limits,
        tls,
        caps: Caps::new(limits.max_connections, limits.max_connections_per_ip),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match server.caps.admit(peer.ip()) {
                    Some(slot) => {
                        tokio::spawn(connection(
                            Arc::clone(&server),
                            tcp,
                            peer,
                            slot,
                            stop_rx.clone(),
                        ));
                    }
                    // Closed at once: the client sees the connection end instead of waiting.
                    None => drop(tcp),
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection ends within the grace period after it sees the signal; a little more for
    // the tasks to be scheduled.
    let wait = server.limits.shutdown_grace() + Duration::from_secs(1);
    if tokio::time::timeout(wait, server.caps.all_closed())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn connection<H: Handler>(
    server: Arc<Server<H>>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    stop: watch::Receiver<bool>,
) {
    let _slot = slot;
    let accepted = Instant::now();
    let _ = tcp.set_nodelay(true);
    let header_timeout = server.limits.header_read_timeout();
    match server.tls.as_ref().map(|t| t.current()) {
        None => {
            let mut tcp = tcp;
            let mut prefix = [0u8; 24];
            let sniffed = tokio::select! {
                r = tokio::time::timeout(header_timeout, sniff(&mut tcp, &mut prefix)) => r,
                () = stopped(stop.clone()) => return,
            };
            let (len, protocol) = match sniffed {
                Ok(Ok(Some(found))) => found,
                Ok(Ok(None)) => return,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "connection failed before a request: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "closing the connection: no request in time");
                    return;
                }
            };
            let conn = Arc::new(Conn::new(accepted, protocol));
            let io = Watched::new(tcp, Arc::clone(&conn), &prefix[..len]);
            serve_protocol(&server, io, conn, protocol, peer, stop).await;
        }
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let handshake = tokio::select! {
                r = tokio::time::timeout(header_timeout, acceptor.accept(tcp)) => r,
                () = stopped(stop.clone()) => return,
            };
            let tls = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let protocol = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                Protocol::Http2
            } else {
                Protocol::Http1
            };
            let conn = Arc::new(Conn::new(accepted, protocol));
            let io = Watched::new(tls, Arc::clone(&conn), &[]);
            serve_protocol(&server, io, conn, protocol, peer, stop).await;
        }
    }
}

/// Reads until the bytes tell HTTP/2's preface from an HTTP/1 request: `(bytes read, protocol)`,
/// or `None` if the client closed first.
async fn sniff(
    tcp: &mut TcpStream,
    buf: &mut [u8; 24],
) -> std::io::Result<Option<(usize, Protocol)>> {
    let mut len = 0;
    loop {
        let n = tcp.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(None);
        }
        len += n;
        if buf[..len] != H2_PREFACE[..len] {
            return Ok(Some((len, Protocol::Http1)));
        }
        if len == H2_PREFACE.len() {
            return Ok(Some((len, Protocol::Http2)));
        }
    }
}

async fn serve_protocol<H, T>(
    server: &Arc<Server<H>>,
    io: Watched<T>,
    conn: Arc<Conn>,
    protocol: Protocol,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) where
    H: Handler,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = server.limits;
    let service = {
        let server = Arc::clone(server);
        let conn = Arc::clone(&conn);
        hyper::service::service_fn(move |req| {
            let server = Arc::clone(&server);
            let conn = Arc::clone(&conn);
            async move { server.request(req, &conn, peer).await }
        })
    };
    let io = TokioIo::new(io);
    match protocol {
        Protocol::Http1 => {
            let c = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // The head's deadline is enforced by `conn::drive`, which also tells an idle
                // keep-alive connection (idle timeout) from a slow head (header timeout).
                .header_read_timeout(None)
                .keep_alive(true)
                .serve_connection(io, service);
            conn::drive(
                c,
                |c| c.graceful_shutdown(),
                &conn,
                &limits,
                stopped(stop),
                peer,
            )
            .await;
        }
        Protocol::Http2 => {
            let c = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(Duration::from_millis(limits.http2_keep_alive_interval_ms))
                .keep_alive_timeout(Duration::from_millis(limits.http2_keep_alive_timeout_ms))
                .max_concurrent_streams(limits.http2_max_concurrent_streams)
                .serve_connection(io, service);
            conn::drive(
                c,
                |c| c.graceful_shutdown(),
                &conn,
                &limits,
                stopped(stop),
                peer,
            )
            .await;
        }
    }
}

impl<H: Handler> Server<H> {
    async fn request(
        &self,
        req: Request<Incoming>,
        conn: &Arc<Conn>,
        peer: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, Aborted> {
        let (started, in_flight) = conn.begin();
        let (head, incoming) = req.into_parts();
        let mut body = Body::new(
            incoming,
            started + self.limits.request_timeout(),
            &self.limits,
        );
        let response = self.handler.handle(head, &mut body, peer).await;
        match body.finish() {
            Finish::Done => Ok(response),
            Finish::Drain(incoming, received, deadline) => {
                body::drain(incoming, received, deadline, &self.limits, conn.hold());
                Ok(response)
            }
            Finish::Abort(why) => {
                tracing::debug!(%peer, "{why}: closing");
                drop(in_flight);
                Err(Aborted(why))
            }
        }
    }
}
