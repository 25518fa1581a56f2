//! One connection: what it is doing (requests in progress, when it went idle, when the head of
//! its next HTTP/1 request began), the IO wrapper that notices that head, and the driver that
//! closes the connection when a header or idle deadline passes or the server shuts down.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Limits;

/// The HTTP/2 connection preface; a plain-TCP connection that starts with it speaks HTTP/2.
pub(crate) const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Shared by a connection's driver, its IO and its requests (HTTP/2 requests run in their own
/// tasks). Instants are microseconds since `base`, plus one, so that 0 can mean "none".
pub(crate) struct Conn {
    base: Instant,
    protocol: Protocol,
    in_flight: AtomicUsize,
    idle_since: AtomicU64,
    /// HTTP/1: when the first byte of the next request arrived, while no request was in
    /// progress (0: none yet).
    head_started: AtomicU64,
}

impl Conn {
    /// A connection accepted at `base`; an HTTP/1 connection's first request is timed from then.
    pub(crate) fn new(base: Instant, protocol: Protocol) -> Conn {
        Conn {
            base,
            protocol,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(1),
            head_started: AtomicU64::new(if protocol == Protocol::Http1 { 1 } else { 0 }),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX - 1)
            + 1
    }

    fn instant(&self, stamp: u64) -> Instant {
        self.base + Duration::from_micros(stamp.saturating_sub(1))
    }

    /// A request begins: returns when it started (its first byte, for HTTP/1) and the guard that
    /// counts it as in progress until dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> (Instant, InFlight) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let started = match self.head_started.swap(0, Ordering::AcqRel) {
            0 => Instant::now(),
            s => self.instant(s),
        };
        (started, InFlight(Arc::clone(self)))
    }

    /// Another holder of a request in progress (a body still being drained after the answer).
    pub(crate) fn hold(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Bytes were read: on an idle HTTP/1 connection they begin the next request's head.
    fn note_read(&self) {
        if self.protocol == Protocol::Http1
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == 0
        {
            self.head_started
                .store(self.stamp(Instant::now()), Ordering::Release);
        }
    }

    /// The next deadline and what it is, or `None` while a request is in progress (its body has
    /// its own deadline; the answer takes what the service needs).
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_started.load(Ordering::Acquire) {
            0 => Some((
                self.instant(self.idle_since.load(Ordering::Acquire)) + limits.idle_timeout(),
                Expiry::Idle,
            )),
            s => Some((
                self.instant(s) + limits.header_read_timeout(),
                Expiry::Header,
            )),
        }
    }
}

/// A request in progress on a connection.
pub(crate) struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let c = &self.0;
        c.idle_since
            .store(c.stamp(Instant::now()), Ordering::Release);
        c.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a connection's deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The head of a request did not arrive in time: closed at once.
    Header,
    /// No request for the idle timeout: closed gracefully.
    Idle,
}

/// The connection's IO: replays the bytes read to tell HTTP/2 from HTTP/1, and tells the
/// connection when bytes arrive.
pub(crate) struct Watched<T> {
    io: T,
    conn: Arc<Conn>,
    prefix: [u8; 24],
    prefix_len: usize,
    prefix_pos: usize,
}

impl<T> Watched<T> {
    pub(crate) fn new(io: T, conn: Arc<Conn>, prefix: &[u8]) -> Watched<T> {
        let mut buf = [0u8; 24];
        let n = prefix.len().min(buf.len());
        buf[..n].copy_from_slice(&prefix[..n]);
        Watched {
            io,
            conn,
            prefix: buf,
            prefix_len: n,
            prefix_pos: 0,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix_pos < this.prefix_len {
            let n = (this.prefix_len - this.prefix_pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.prefix_pos..this.prefix_pos + n]);
            this.prefix_pos += n;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.conn.note_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// How a connection's driving ended before the connection did.
enum Stop {
    Closed,
    Expired(Expiry),
    Shutdown,
}

/// Runs a hyper connection to its end: closes it at once when a request head is late, asks it
/// to finish gracefully when it has been idle too long or the server shuts down, and drops it
/// if it has not finished within the shutdown grace after that.
pub(crate) async fn drive<C, E>(
    conn: C,
    graceful: impl FnOnce(Pin<&mut C>),
    state: &Conn,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
    peer: std::net::SocketAddr,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = pin!(conn);
    let mut shutdown = pin!(shutdown);
    // The timer is moved only to an earlier deadline; when it fires early the deadline is
    // recomputed. So a steady stream of requests costs no timer updates.
    let mut armed = state
        .deadline(limits)
        .map_or_else(|| Instant::now() + limits.idle_timeout(), |(d, _)| d);
    let mut timer = pin!(tokio::time::sleep_until(armed.into()));
    let stop = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            if let Err(e) = r {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            return Poll::Ready(Stop::Closed);
        }
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Stop::Shutdown);
        }
        loop {
            let want = state.deadline(limits);
            if let Some((d, _)) = want {
                if d < armed {
                    armed = d;
                    timer.as_mut().reset(d.into());
                }
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            match want {
                Some((d, why)) if d <= now => return Poll::Ready(Stop::Expired(why)),
                Some((d, _)) => armed = d,
                // A request is in progress: look again later (HTTP/2 requests end in their
                // own tasks, which do not wake this one).
                None => armed = now + limits.idle_timeout(),
            }
            timer.as_mut().reset(armed.into());
        }
    })
    .await;
    match stop {
        Stop::Closed => {}
        Stop::Expired(Expiry::Header) => {
            tracing::debug!(%peer, "closing the connection: request head not received in time");
        }
        Stop::Expired(Expiry::Idle) | Stop::Shutdown => {
            if matches!(stop, Stop::Expired(_)) {
                tracing::debug!(%peer, "closing the idle connection");
            }
            graceful(conn.as_mut());
            if tokio::time::timeout(limits.shutdown_grace(), conn)
                .await
                .is_err()
            {
                tracing::debug!(%peer, "connection did not finish within the grace period");
            }
        }
    }
}
