//! The KMS's HTTP front: AWS JSON 1.1 on `POST /`, routing by `X-Amz-Target`, SigV4 verification,
//! and the one place where an error becomes a response.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use http_serve::{Body, BodyError, Parts};
use hyper::{Method, Response, StatusCode};
use kms_api::{ErrorCode, KmsError, Operation};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::audit_trail::{self, Noted};
use crate::config::Principal;

/// Everything a request needs.
pub struct App {
    pub kms: Arc<kms::Kms>,
    /// Access key id → principal; replaced whole when the configuration is reloaded.
    pub principals: std::sync::RwLock<Arc<HashMap<String, Arc<Principal>>>>,
    pub verifier: sigv4::Verifier,
    /// The listener serves HTTPS (`aws:SecureTransport`).
    pub secure_transport: bool,
    /// Requests by operation and outcome, and their latency: counted only when an admin
    /// listener shows them.
    pub metrics: Option<Arc<crate::admin::RequestMetrics>>,
    /// The audit trail, when configured: one record per request.
    pub audit: Option<Arc<audit::AuditLog>>,
}

/// A verified request's identity: handlers take it, so they cannot run unauthenticated.
struct Authenticated {
    principal: Arc<Principal>,
    /// The access key the request was signed with.
    access_key_id: String,
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

fn ok_response(
    op: Operation,
    body: Vec<u8>,
    request_id: &str,
    started: Instant,
) -> Response<Full<Bytes>> {
    tracing::debug!(
        request_id,
        op = op.name(),
        latency_us = started.elapsed().as_micros(),
        "ok"
    );
    respond(200, request_id, body)
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

impl http_serve::Handler for App {
    async fn handle(
        &self,
        head: Parts,
        body: &mut Body,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let peer = Peer {
            source_ip: Some(peer.ip()),
            secure_transport: self.secure_transport,
        };
        self.serve_request(head, body, peer).await
    }
}

impl App {
    /// A success, counted.
    fn ok(
        &self,
        op: Operation,
        body: Vec<u8>,
        request_id: &str,
        started: Instant,
    ) -> Response<Full<Bytes>> {
        if let Some(m) = &self.metrics {
            m.success(op, started.elapsed());
        }
        ok_response(op, body, request_id, started)
    }

    /// A refusal or failure, counted by its error code.
    fn error(
        &self,
        err: &KmsError,
        status: u16,
        request_id: &str,
        op: &str,
        started: Instant,
    ) -> Response<Full<Bytes>> {
        if let Some(m) = &self.metrics {
            m.failure(Operation::from_name(op), err.code.name(), started.elapsed());
        }
        error_response(err, status, request_id, op, started)
    }

    /// Answers one HTTP request.
    pub async fn serve_request(
        &self,
        head: Parts,
        body: &mut Body,
        peer: Peer,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let Some(audit) = &self.audit else {
            let mut noted = Noted::default();
            return match self
                .process(&head, body, peer, &request_id, &mut noted)
                .await
            {
                Ok((op, body)) => self.ok(op, body, &request_id, started),
                Err((op, err, status)) => self.error(&err, status, &request_id, op, started),
            };
        };
        let mut noted = Noted::default();
        let result = self
            .process(&head, body, peer, &request_id, &mut noted)
            .await;
        let header = |name: &str| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let seen = audit_trail::Seen {
            request_id: &request_id,
            source_ip: peer.source_ip,
            user_agent: header("user-agent"),
            target: header("x-amz-target"),
            authorization: header("authorization"),
            default_region: self.kms.config().regions.first().map_or("", |r| r.as_str()),
        };
        let outcome = match &result {
            Ok((_, body)) => Ok(body.as_slice()),
            Err((_, err, _)) => Err(err),
        };
        let owned = audit_trail::Owned::new(&seen, &noted, outcome);
        let mut record = audit_trail::record(&seen, &noted, &owned, outcome);
        let line = audit::writer::encode(&record).or_else(|e| {
            // The request as decoded always encodes; should it not, log the rest of the record.
            tracing::error!(
                request_id,
                "audit record: {e}; writing it without its parameters"
            );
            record.request_parameters = None;
            audit::writer::encode(&record)
        });
        // In `sync` mode this returns once the record is on disk: no response goes out
        // without its record.
        let written = match line {
            Ok(line) => audit.append_line(line).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::error!(request_id, "cannot write the audit record: {e}");
            let err = KmsError::internal("The request's audit record could not be written.");
            return self.error(&err, 500, &request_id, "-", started);
        }
        match result {
            Ok((op, body)) => self.ok(op, body, &request_id, started),
            Err((op, err, status)) => self.error(&err, status, &request_id, op, started),
        }
    }

    /// Routes, reads the body, authenticates and runs the operation. A refusal before the body
    /// is read leaves it to the server, which drains it after the answer.
    async fn process(
        &self,
        parts: &Parts,
        body: &mut Body,
        peer: Peer,
        request_id: &str,
        noted: &mut Noted,
    ) -> Result<(Operation, Vec<u8>), (&'static str, KmsError, u16)> {
        let fail = |e: KmsError| {
            let s = e.http_status();
            ("-", e, s)
        };
        let too_large = |max: usize| {
            fail(KmsError::new(
                ErrorCode::RequestEntityTooLargeException,
                format!("HTTP content length exceeded {max} bytes."),
            ))
        };
        // AWS's front end refuses an oversized request before looking at anything else.
        if body.declared_too_large() {
            return Err(too_large(body.max_bytes()));
        }
        if parts.uri.path() != "/" {
            return Err((
                "-",
                KmsError::new(ErrorCode::UnknownOperationException, ""),
                404,
            ));
        }
        if parts.method != Method::POST {
            return Err((
                "-",
                KmsError::new(ErrorCode::UnknownOperationException, ""),
                405,
            ));
        }
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let op = Operation::from_target(target)
            .ok_or_else(|| fail(KmsError::new(ErrorCode::UnknownOperationException, "")))?;
        noted.op = Some(op);
        let body = match body.read_all().await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => return Err(too_large(body.max_bytes())),
            // The server closes the connection instead of sending this.
            Err(e @ (BodyError::TimedOut | BodyError::Broken)) => {
                return Err(fail(KmsError::new(
                    ErrorCode::SerializationException,
                    e.to_string(),
                )))
            }
        };
        let name = op.name();
        let auth = self.authenticate(parts, &body).map_err(|e| {
            let s = e.http_status();
            (name, e, s)
        })?;
        noted.caller = Some((Arc::clone(&auth.principal), auth.access_key_id.clone()));
        noted.region = Some(auth.region.to_string());
        let origin = kms::RequestOrigin {
            region: auth.region,
            source_ip: peer.source_ip,
            secure_transport: peer.secure_transport,
            request_id: request_id.to_string(),
        };
        let handled = self
            .kms
            .handle_audited(op, &body, &auth.principal.caller, &origin)
            .await;
        if self.audit.is_some() {
            noted.facts = Some(handled.audit);
        }
        match handled.result {
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
        Ok(Authenticated {
            principal,
            access_key_id: verified.access_key_id,
            region,
        })
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

/// Serves the KMS API on `listener` (HTTPS when `tls` is given) within `limits` until
/// `shutdown` completes, then lets open requests finish (up to the shutdown grace).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<http_serve::Tls>>,
    limits: http_serve::Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    http_serve::serve(listener, tls, limits, app, shutdown).await;
}

/// Runs the `KmsHealthCheck` of connected external key stores periodically.
pub async fn xks_health_checker(kms: Arc<kms::Kms>, under_lease: bool) {
    let mut tick = tokio::time::interval(kms.config().xks.health_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Nodes sharing a database: only the cluster jobs' lease holder checks.
        if under_lease && !kms.holds_jobs_lease() {
            continue;
        }
        if let Err(e) = kms.health_check_stores().await {
            tracing::warn!(error = %e, "external key store health check failed");
        }
    }
}

/// Runs `job` on the service every `period`, logging failures.
pub async fn every(
    period: Duration,
    kms: Arc<kms::Kms>,
    name: &'static str,
    job: impl Fn(
        Arc<kms::Kms>,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, KmsError>> + Send>>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = job(Arc::clone(&kms)).await {
            tracing::warn!(error = %e, "{name} failed");
        }
    }
}
