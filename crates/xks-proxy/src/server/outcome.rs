//! What a request comes to: an answer body or a refusal ([`Reject`]), and the record kept of
//! it ([`RequestLog`]). Every backend failure becomes an XKS error here ([`backend_error`]),
//! and only here.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use xks::{ErrorName, XksError};

use crate::backend::BackendError;

use super::state::Tenant;

/// What a request's log line and audit record say.
pub(super) type RequestLog = crate::audit::Seen;

/// A refusal: the error to send and, for 405 and 503, the status that replaces the error's own.
pub(super) struct Reject {
    pub(super) error: XksError,
    pub(super) status: Option<StatusCode>,
}

impl From<XksError> for Reject {
    fn from(error: XksError) -> Reject {
        Reject {
            error,
            status: None,
        }
    }
}

pub(super) fn reject(name: ErrorName, message: impl AsRef<str>) -> Reject {
    XksError::new(name, message).into()
}

/// A JSON answer body, or why not.
pub(super) type Outcome = Result<Vec<u8>, Reject>;

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Outcome {
    serde_json::to_vec(v).map_err(|_| {
        reject(
            ErrorName::InternalException,
            "Cannot serialize the response",
        )
    })
}

pub(super) fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The XKS error for a backend failure, counted in the tenant's metrics; details of
/// unavailable or failing key managers are logged, never sent.
pub(super) fn backend_error(tenant: &Tenant, e: BackendError) -> Reject {
    tenant.metrics.backend_error(&tenant.uri_path, &e);
    match e {
        BackendError::KeyNotFound(_) => reject(
            ErrorName::KeyNotFoundException,
            "The external key was not found in the external key manager",
        ),
        BackendError::KeyDisabled(_) => reject(
            ErrorName::InvalidStateException,
            "The external key is disabled in the external key manager",
        ),
        BackendError::InvalidKeyUsage { operation, .. } => reject(
            ErrorName::InvalidKeyUsageException,
            format!("The external key does not allow {operation}"),
        ),
        BackendError::InvalidCiphertext => reject(
            ErrorName::InvalidCiphertextException,
            "The ciphertext, initialization vector, additional authenticated data, ciphertext \
             metadata or authentication tag is corrupted, missing or otherwise invalid",
        ),
        BackendError::Busy => reject(
            ErrorName::ThrottlingException,
            "The external key manager is busy; retry",
        ),
        BackendError::Unavailable(detail) => {
            tracing::error!(tenant = %tenant.uri_path, "key manager unavailable: {detail}");
            reject(
                ErrorName::InternalException,
                "The external key manager is unavailable",
            )
        }
        BackendError::Internal(detail) => {
            tracing::error!(tenant = %tenant.uri_path, "key manager error: {detail}");
            reject(
                ErrorName::InternalException,
                "The external key manager failed the operation",
            )
        }
    }
}
