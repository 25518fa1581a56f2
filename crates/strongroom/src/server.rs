//! The KMS's HTTP front: AWS JSON 1.1 on `POST /`, routing by `X-Amz-Target`, SigV4 verification,
//! and the one place where an error becomes a response.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kms_api::{ErrorCode, KmsError, Operation};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::config::Principal;

/// Largest request body accepted: a key policy (32 KiB, JSON-escaped) is the largest real member.
const MAX_BODY: usize = 256 * 1024;

/// Everything a request needs.
pub struct App {
    pub kms: Arc<kms::Kms>,
    /// Access key id → principal; replaced whole when the configuration is reloaded.
    pub principals: std::sync::RwLock<Arc<HashMap<String, Arc<Principal>>>>,
    pub verifier: sigv4::Verifier,
}

/// A verified request's identity: handlers take it, so they cannot run unauthenticated.
struct Authenticated {
    principal: Arc<Principal>,
    /// The region the request was signed for.
    region: kms_model::Region,
}

/// What the connection says about a request (`aws:SourceIp`, `aws:SecureTransport`).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub source_ip: Option<std::net::IpAddr>,
    pub secure_transport: bool,
}

fn respond(status: u16, request_id: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn error_response(
    err: &KmsError,
    status: u16,
    request_id: &str,
    op: &str,
    started: Instant,
) -> Response<Full<Bytes>> {
    let latency_us = started.elapsed().as_micros();
    if status >= 500 {
        tracing::warn!(
            request_id,
            op,
            code = err.code.name(),
            latency_us,
            "request failed: {}",
            err.message
        );
    } else {
        tracing::info!(
            request_id,
            op,
            code = err.code.name(),
            latency_us,
            "request refused: {}",
            err.message
        );
    }
    respond(status, request_id, err.to_body())
}

impl App {
    /// Answers one HTTP request.
    pub async fn serve_request(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Peer,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        match self.process(req, peer, &request_id).await {
            Ok((op, body)) => {
                tracing::debug!(
                    request_id,
                    op = op.name(),
                    latency_us = started.elapsed().as_micros(),
                    "ok"
                );
                respond(200, &request_id, body)
            }
            Err((op, err, status)) => error_response(&err, status, &request_id, op, started),
        }
    }

    async fn process(
        &self,
        req: Request<Incoming>,
        peer: Peer,
        request_id: &str,
    ) -> Result<(Operation, Vec<u8>), (&'static str, KmsError, u16)> {
        let fail = |e: KmsError| {
            let s = e.http_status();
            ("-", e, s)
        };
        if req.uri().path() != "/" {
            return Err((
                "-",
                KmsError::new(ErrorCode::UnknownOperationException, ""),
                404,
            ));
        }
        if req.method() != Method::POST {
            return Err((
                "-",
                KmsError::new(ErrorCode::UnknownOperationException, ""),
                405,
            ));
        }
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let op = Operation::from_target(target)
            .ok_or_else(|| fail(KmsError::new(ErrorCode::UnknownOperationException, "")))?;
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|_| {
                fail(KmsError::new(
                    ErrorCode::SerializationException,
                    format!(
                        "The request body could not be read or is larger than {MAX_BODY} bytes."
                    ),
                ))
            })?
            .to_bytes();
        let name = op.name();
        let auth = self.authenticate(&parts, &body).map_err(|e| {
            let s = e.http_status();
            (name, e, s)
        })?;
        let origin = kms::RequestOrigin {
            region: auth.region,
            source_ip: peer.source_ip,
            secure_transport: peer.secure_transport,
            request_id: request_id.to_string(),
        };
        match self
            .kms
            .handle(op, &body, &auth.principal.caller, &origin)
            .await
        {
            Ok(out) => Ok((op, out.body)),
            Err(e) => {
                let s = e.http_status();
                Err((name, e, s))
            }
        }
    }

    fn authenticate(
        &self,
        parts: &hyper::http::request::Parts,
        body: &[u8],
    ) -> Result<Authenticated, KmsError> {
        let mut headers = Vec::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            // A header that is not visible ASCII cannot be part of a valid signature; leave it out.
            if let Ok(v) = value.to_str() {
                headers.push((name.as_str(), v));
            }
        }
        let host_header;
        if parts.headers.get(hyper::header::HOST).is_none() {
            // HTTP/2 carries the host in :authority.
            if let Some(a) = parts.uri.authority() {
                host_header = a.as_str().to_string();
                headers.push(("host", host_header.as_str()));
            }
        }
        let request = sigv4::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            body,
        };
        let now = time::OffsetDateTime::now_utc();
        let principals = self
            .principals
            .read()
            .map(|p| Arc::clone(&p))
            .map_err(|_| KmsError::internal("principal table lock poisoned"))?;
        let verified = self
            .verifier
            .verify(&request, now, |akid| {
                principals.get(akid).map(|p| p.secret.as_str())
            })
            .map_err(|e| KmsError::new(sigv4_code(&e), e.to_string()))?;
        let invalid_token = || {
            KmsError::new(
                ErrorCode::UnrecognizedClientException,
                "The security token included in the request is invalid.",
            )
        };
        let principal = principals
            .get(&verified.access_key_id)
            .cloned()
            .ok_or_else(invalid_token)?;
        // The verifier made sure a token present is signed; it must also be the one this
        // credential's session was given (and a long-term key takes none).
        let mut tokens = parts.headers.get_all("x-amz-security-token").iter();
        let sent = match (tokens.next(), tokens.next()) {
            (None, _) => None,
            (Some(t), None) => Some(t.as_bytes()),
            (Some(_), Some(_)) => return Err(invalid_token()),
        };
        let expected = principal.session_token.as_ref().map(|t| t.as_bytes());
        let token_ok = match (sent, expected) {
            (None, None) => true,
            (Some(s), Some(e)) => bool::from(s.ct_eq(e)),
            _ => false,
        };
        if !token_ok {
            return Err(invalid_token());
        }
        // The verifier accepted the scope's region; it is a region name by then.
        let region = kms_model::Region::parse(&verified.region).ok_or_else(|| {
            KmsError::new(
                ErrorCode::InvalidSignatureException,
                format!(
                    "Credential should be scoped to a valid region, not '{}'.",
                    verified.region
                ),
            )
        })?;
        Ok(Authenticated { principal, region })
    }

    /// Replaces the principals (configuration reload).
    pub fn set_principals(&self, principals: HashMap<String, Arc<Principal>>) {
        if let Ok(mut p) = self.principals.write() {
            *p = Arc::new(principals);
        }
    }
}

fn sigv4_code(e: &sigv4::Error) -> ErrorCode {
    match e.aws_code() {
        "MissingAuthenticationTokenException" => ErrorCode::MissingAuthenticationTokenException,
        "IncompleteSignatureException" => ErrorCode::IncompleteSignatureException,
        "UnrecognizedClientException" => ErrorCode::UnrecognizedClientException,
        _ => ErrorCode::InvalidSignatureException,
    }
}

/// Serves the KMS API on `listener` until the process ends.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let origin = Peer {
            source_ip: Some(peer.ip()),
            secure_transport: false,
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(app.serve_request(req, origin).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// Runs the `KmsHealthCheck` of connected external key stores periodically.
pub async fn xks_health_checker(kms: Arc<kms::Kms>) {
    let mut tick = tokio::time::interval(kms.config().xks.health_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = kms.health_check_stores().await {
            tracing::warn!(error = %e, "external key store health check failed");
        }
    }
}

/// Runs the deletion sweep every `every`.
pub async fn deletion_sweeper(kms: Arc<kms::Kms>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = kms.sweep_deletions().await {
            tracing::warn!(error = %e, "deletion sweep failed");
        }
    }
}
