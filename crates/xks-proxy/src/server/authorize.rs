//! The checks an operation makes on its caller once its body is decoded: the request metadata
//! it requires, and the tenant's secondary authorization rules.
//!
//! Invariant: the metadata is kept in the request's log record before it is checked, so a
//! refused request's log line and audit record still say who asked.

use xks::{ErrorName, RequestMetadata, XksError};

use crate::authz;
use crate::request::{check_metadata, Required};

use super::outcome::{reject, Reject, RequestLog};
use super::state::{Dynamic, Tenant};

/// Checks the metadata an operation requires (`request::check_metadata`), keeping it in the
/// request's log record (even when incomplete) and lending it back from there.
pub(super) fn require_metadata(
    m: Option<RequestMetadata>,
    required: Required,
    log: &mut RequestLog,
) -> Result<&RequestMetadata, Reject> {
    let Some(m) = m else {
        return Err(check_metadata(None, required)
            .err()
            .unwrap_or_else(|| {
                XksError::new(
                    ErrorName::ValidationException,
                    "requestMetadata is required",
                )
            })
            .into());
    };
    let m = log.metadata.insert(m);
    check_metadata(Some(m), required)?;
    Ok(m)
}

/// The tenant's authorization rules for `key_id` and the caller `m` describes; a denial is
/// logged with the rule that denied and answered AccessDeniedException.
pub(super) fn check_authorization(
    tenant: &Tenant,
    dynamic: &Dynamic,
    key_id: &str,
    m: &RequestMetadata,
) -> Result<(), Reject> {
    match authz::authorize(&dynamic.rules, key_id, m) {
        Ok(()) => Ok(()),
        Err(denial) => {
            tracing::warn!(
                tenant = %tenant.uri_path,
                key_id,
                kms_request_id = m.kms_request_id.as_deref().unwrap_or("-"),
                kms_operation = m.kms_operation.as_deref().unwrap_or("-"),
                principal = m.aws_principal_arn.as_deref().unwrap_or("-"),
                kms_key_arn = m.kms_key_arn.as_deref().unwrap_or("-"),
                via_service = m.kms_via_service.as_deref().unwrap_or("-"),
                rule = denial.rule.as_str(),
                reason = denial.reason.as_str(),
                "secondary authorization denied the request"
            );
            Err(reject(
                ErrorName::AccessDeniedException,
                format!(
                    "Denied by the proxy's authorization rule(s): {}",
                    denial.rule
                ),
            ))
        }
    }
}
