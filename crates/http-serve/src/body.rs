//! A request body as handlers see it: read whole, up to the size limit and before the request's
//! deadline; whatever a handler leaves unread is drained (bounded) after its answer.

use std::future::Future;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};

use crate::conn::InFlight;
use crate::Limits;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than `max_body_bytes` (declared, or found while reading).
    TooLarge,
    /// Not complete before the request timeout. The connection (HTTP/1) or stream (HTTP/2) is
    /// closed after the handler returns, whatever it answers.
    TimedOut,
    /// The client broke off or sent a malformed body; closed likewise.
    Broken,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "the request body is larger than the limit",
            BodyError::TimedOut => "the request body did not arrive in time",
            BodyError::Broken => "the request body could not be read",
        })
    }
}

impl std::error::Error for BodyError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unread,
    Complete,
    Failed(BodyError),
}

/// A request's body.
pub struct Body {
    incoming: Incoming,
    deadline: Instant,
    max_bytes: usize,
    received: usize,
    state: State,
}

/// What the server does with a body once its handler has answered.
pub(crate) enum Finish {
    /// Read to the end: nothing.
    Done,
    /// Left unread (or partly read): drain it in the background, then drop it.
    Drain(Incoming, usize, Instant),
    /// Timed out or broken: close the connection or stream.
    Abort(BodyError),
}

impl Body {
    pub(crate) fn new(incoming: Incoming, deadline: Instant, limits: &Limits) -> Body {
        Body {
            incoming,
            deadline,
            max_bytes: limits.max_body_bytes,
            received: 0,
            state: State::Unread,
        }
    }

    /// The largest body [`read_all`](Body::read_all) accepts.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The length the client declared (`Content-Length`), if any.
    pub fn declared_len(&self) -> Option<u64> {
        self.incoming.size_hint().exact()
    }

    /// Whether the declared length is above the limit: such a body is refused unread.
    pub fn declared_too_large(&self) -> bool {
        self.declared_len()
            .is_some_and(|n| n > self.max_bytes as u64)
    }

    /// Reads the whole body: refused at once if its declared length is above the limit, cut off
    /// as soon as it grows past it, and given up at the request's deadline.
    pub async fn read_all(&mut self) -> Result<Bytes, BodyError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        if self.declared_too_large() {
            return self.fail(BodyError::TooLarge);
        }
        // Most bodies arrive as one frame, which is kept as it is; a second one starts a copy.
        let mut first: Option<Bytes> = None;
        let mut more: Option<BytesMut> = None;
        loop {
            let mut next = std::pin::pin!(self.incoming.frame());
            // A frame already received needs no timer (the usual case: the body came with the
            // head); only a wait is bounded by the deadline.
            let ready = std::future::poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await;
            let frame = match ready {
                Poll::Ready(f) => Ok(f),
                Poll::Pending => tokio::time::timeout_at(self.deadline.into(), next).await,
            };
            let frame = match frame {
                Err(_) => return self.fail(BodyError::TimedOut),
                Ok(None) => break,
                Ok(Some(Err(_))) => return self.fail(BodyError::Broken),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.received = self.received.saturating_add(data.len());
            if self.received > self.max_bytes {
                return self.fail(BodyError::TooLarge);
            }
            match (&mut first, &mut more) {
                (None, _) => first = Some(data),
                (Some(f), None) => {
                    let mut buf = BytesMut::with_capacity(self.received.max(2 * f.len()));
                    buf.extend_from_slice(f);
                    buf.extend_from_slice(&data);
                    more = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            }
        }
        self.state = State::Complete;
        Ok(match (first, more) {
            (_, Some(buf)) => buf.freeze(),
            (Some(f), None) => f,
            (None, None) => Bytes::new(),
        })
    }

    fn fail(&mut self, e: BodyError) -> Result<Bytes, BodyError> {
        self.state = State::Failed(e);
        Err(e)
    }

    pub(crate) fn finish(self) -> Finish {
        match self.state {
            State::Complete => Finish::Done,
            State::Failed(e @ (BodyError::TimedOut | BodyError::Broken)) => Finish::Abort(e),
            State::Unread | State::Failed(BodyError::TooLarge) => {
                if self.incoming.is_end_stream() {
                    Finish::Done
                } else {
                    Finish::Drain(self.incoming, self.received, self.deadline)
                }
            }
        }
    }
}

/// Reads and drops the rest of a body the handler answered without reading, so the client gets
/// that answer cleanly: an HTTP/1 connection stays usable, an HTTP/2 stream ends without
/// RST_STREAM (which some clients, curl among them, report as a failure even after a complete
/// response). Bounded by `drain_max_bytes` (counting what was read already) and
/// `drain_timeout_ms`; past either the body is dropped, which closes the HTTP/1 connection or
/// resets the stream. The answer is not held back meanwhile.
pub(crate) fn drain(
    mut incoming: Incoming,
    received: usize,
    request_deadline: Instant,
    limits: &Limits,
    hold: InFlight,
) {
    let max = limits.drain_max_bytes;
    if incoming.size_hint().exact().is_some_and(|n| n > max as u64) || received > max {
        return;
    }
    let deadline = request_deadline.min(Instant::now() + limits.drain_timeout());
    tokio::spawn(async move {
        let _hold = hold;
        let mut total = received;
        let done = tokio::time::timeout_at(deadline.into(), async {
            while let Some(Ok(frame)) = incoming.frame().await {
                if let Ok(data) = frame.into_data() {
                    total = total.saturating_add(data.len());
                    if total > max {
                        return;
                    }
                }
            }
        })
        .await;
        if done.is_err() {
            tracing::debug!("stopped draining a request body: drain timeout");
        }
    });
}
