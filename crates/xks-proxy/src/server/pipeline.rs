//! The request pipeline: route by path, read the body, authenticate (SigV4), apply the quota,
//! run the operation, then count, audit and log the outcome.
//!
//! Invariants: no operation runs before the request is authenticated (the load-balancer check,
//! which reveals nothing, is the only unauthenticated answer); refusals before the body is
//! read leave the body to the server, which drains it after the answer; every answer is
//! counted once, audited before it is sent (a record that cannot be written turns the answer
//! into InternalException) and logged once, 5xx at warn and 4xx at info.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use http_serve::{Body, BodyError, Parts};
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Response, StatusCode};

use xks::{ErrorName, KeyOperation, RequestMetadata, Route, XksError};

use crate::config::Secret;

use super::operations::{decrypt, encrypt, health_status, key_metadata};
use super::outcome::{json_response, reject, Outcome, Reject, RequestLog};
use super::state::{Dynamic, Shared};

/// Writes the request's audit record, when there is a trail; in `sync` mode, returns once it is
/// on disk. A record that cannot be written turns the answer into an internal error: nothing
/// is answered unrecorded.
async fn audited(
    shared: &Shared,
    log: &RequestLog,
    peer: SocketAddr,
    status: StatusCode,
    error: Option<&XksError>,
) -> Result<(), XksError> {
    let Some(trail) = &shared.audit else {
        return Ok(());
    };
    let record = crate::audit::record(log, peer, status.as_u16(), error);
    trail.append(&record).await.map_err(|e| {
        tracing::error!("cannot write the audit record: {e}");
        XksError::new(
            ErrorName::InternalException,
            "The request's audit record could not be written",
        )
    })
}

pub(super) async fn handle(
    shared: &Shared,
    head: Parts,
    body: &mut Body,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut log = RequestLog {
        operation: "-",
        ..Default::default()
    };
    let outcome = route(shared, head, body, &mut log).await;
    shared.metrics.request(
        log.tenant.as_deref().unwrap_or("-"),
        log.operation,
        match &outcome {
            Ok(_) => "Success",
            Err(r) => r.error.name.as_str(),
        },
        started.elapsed(),
    );
    let latency_us = started.elapsed().as_micros() as u64;
    let (status, resp) = match outcome {
        Ok(body) => (StatusCode::OK, json_response(StatusCode::OK, body)),
        Err(r) => {
            let status = r.status.unwrap_or_else(|| {
                StatusCode::from_u16(r.error.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            });
            if let Err(e) = audited(shared, &log, peer, status, Some(&r.error)).await {
                return json_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_body());
            }
            let mut resp = json_response(status, r.error.to_body());
            if status == StatusCode::METHOD_NOT_ALLOWED {
                resp.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST"));
            }
            emit_log(&log, status, Some(&r.error), latency_us);
            return resp;
        }
    };
    if let Err(e) = audited(shared, &log, peer, status, None).await {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_body());
    }
    emit_log(&log, status, None, latency_us);
    resp
}

fn emit_log(log: &RequestLog, status: StatusCode, error: Option<&XksError>, latency_us: u64) {
    let m = log.metadata.as_ref();
    let field = |f: fn(&RequestMetadata) -> &Option<String>| -> &str {
        m.and_then(|m| f(m).as_deref()).unwrap_or("-")
    };
    let kms_request_id = field(|m| &m.kms_request_id);
    let kms_operation = field(|m| &m.kms_operation);
    let principal = field(|m| &m.aws_principal_arn);
    let kms_key_arn = field(|m| &m.kms_key_arn);
    let via_service = field(|m| &m.kms_via_service);
    let tenant = log.tenant.as_deref().unwrap_or("-");
    let key_id = log.key_id.as_deref().unwrap_or("-");
    let access_key_id = log.access_key_id.as_deref().unwrap_or("-");
    let status = status.as_u16();
    match error {
        None => tracing::info!(
            kms_request_id,
            tenant,
            operation = log.operation,
            key_id,
            kms_operation,
            principal,
            kms_key_arn,
            via_service,
            access_key_id,
            status,
            outcome = "ok",
            latency_us,
            "xks request"
        ),
        Some(e) if status >= 500 => tracing::warn!(
            kms_request_id, tenant, operation = log.operation, key_id, kms_operation, principal,
            kms_key_arn, via_service, access_key_id, status, outcome = e.name.as_str(),
            latency_us, message = %e.message, "xks request failed"
        ),
        Some(e) => tracing::info!(
            kms_request_id, tenant, operation = log.operation, key_id, kms_operation, principal,
            kms_key_arn, via_service, access_key_id, status, outcome = e.name.as_str(),
            latency_us, message = %e.message, "xks request refused"
        ),
    }
}

/// Routes a request and answers it. Refusals before the body is read (path, tenant, method,
/// declared size) leave the body to the server, which drains it after the answer.
async fn route(shared: &Shared, parts: Parts, body: &mut Body, log: &mut RequestLog) -> Outcome {
    let path = parts.uri.path();
    if !shared.lb_path.is_empty()
        && path == shared.lb_path
        && (parts.method == Method::GET || parts.method == Method::HEAD)
    {
        log.operation = "LoadBalancerHealthCheck";
        return lb_health(shared).await;
    }
    let Some(api) = xks::parse_api_path(path) else {
        return Err(reject(
            ErrorName::InvalidUriPathException,
            "The URI path is not an XKS Proxy API path",
        ));
    };
    let Some(tenant) = shared.tenants.get(api.uri_path).cloned() else {
        return Err(reject(
            ErrorName::InvalidUriPathException,
            "No external key store is served at this URI path",
        ));
    };
    log.tenant = Some(tenant.uri_path.clone());
    log.operation = api.route.operation().name();
    let route = match api.route {
        Route::Health => None,
        Route::Key { key_id, op } => {
            log.key_id = Some(
                key_id
                    .chars()
                    .take(xks::MAX_EXTERNAL_KEY_ID_LEN + 1)
                    .collect(),
            );
            Some((key_id.to_owned(), op))
        }
    };
    if parts.method != Method::POST {
        return Err(Reject {
            error: XksError::new(
                ErrorName::ValidationException,
                "XKS Proxy API calls are POST requests",
            ),
            status: Some(StatusCode::METHOD_NOT_ALLOWED),
        });
    }

    let too_large = |max: usize| {
        reject(
            ErrorName::UnsupportedOperationException,
            format!("The request body exceeds the {max} bytes this proxy accepts"),
        )
    };
    let body = match body.read_all().await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(too_large(body.max_bytes())),
        // The server closes the connection or stream instead of sending this.
        Err(e @ (BodyError::TimedOut | BodyError::Broken)) => {
            return Err(reject(ErrorName::ValidationException, e.to_string()))
        }
    };

    let dynamic = tenant.dynamic();
    authenticate(shared, &dynamic, &parts, &body, log)?;

    match route {
        None => health_status(shared, &tenant, &body, log).await,
        Some((key_id, op)) => {
            if let Some((_, limiter)) = &dynamic.quota {
                if limiter.check().is_err() {
                    return Err(reject(
                        ErrorName::ThrottlingException,
                        "The request rate exceeds this external key store's quota",
                    ));
                }
            }
            match op {
                KeyOperation::GetKeyMetadata => {
                    key_metadata(&tenant, &dynamic, key_id, &body, log).await
                }
                KeyOperation::Encrypt => encrypt(&tenant, &dynamic, key_id, &body, log).await,
                KeyOperation::Decrypt => decrypt(&tenant, &dynamic, key_id, &body, log).await,
            }
        }
    }
}

fn authenticate(
    shared: &Shared,
    dynamic: &Dynamic,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    log: &mut RequestLog,
) -> Result<(), Reject> {
    let mut headers = Vec::with_capacity(parts.headers.len() + 1);
    for (name, value) in &parts.headers {
        // A header that is not visible ASCII cannot be part of a valid signature.
        if let Ok(v) = value.to_str() {
            headers.push((name.as_str(), v));
        }
    }
    let authority;
    if !parts.headers.contains_key(hyper::header::HOST) {
        // HTTP/2 carries the host in :authority.
        if let Some(a) = parts.uri.authority() {
            authority = a.as_str().to_owned();
            headers.push(("host", authority.as_str()));
        }
    }
    let request = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    match shared
        .verifier
        .verify(&request, time::OffsetDateTime::now_utc(), |akid| {
            dynamic.credentials.get(akid).map(Secret::as_str)
        }) {
        Ok(v) => {
            log.access_key_id = Some(v.access_key_id);
            Ok(())
        }
        Err(e) => Err(reject(
            ErrorName::AuthenticationFailedException,
            e.to_string(),
        )),
    }
}

/// The unauthenticated load-balancer check: 200 while every tenant's key manager can serve
/// (ACTIVE or DEGRADED), 503 otherwise. Reveals nothing else.
async fn lb_health(shared: &Shared) -> Outcome {
    for tenant in shared.tenants.values() {
        if !tenant.health.can_serve().await {
            return Err(Reject {
                error: XksError::new(ErrorName::InternalException, "unavailable"),
                status: Some(StatusCode::SERVICE_UNAVAILABLE),
            });
        }
    }
    Ok(br#"{"status":"ok"}"#.to_vec())
}
