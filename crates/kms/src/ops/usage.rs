//! GetKeyLastUsage: a key's last successful cryptographic use, as this node recorded it in
//! memory since it started (the tracking start date says from when).

use kms_api::wire::{
    GetKeyLastUsageRequest, GetKeyLastUsageResponse, KeyLastUsageData,
    KeyLastUsageTrackingOperation,
};
use kms_api::{ErrorCode, KmsError};

use crate::core::{timestamp, Access, Core};

pub(crate) fn get_key_last_usage(
    core: &Core,
    req: &GetKeyLastUsageRequest,
    access: &Access<'_>,
) -> Result<GetKeyLastUsageResponse, KmsError> {
    let alias_arn = req.key_id.starts_with("arn:") && req.key_id.contains(":alias/");
    if req.key_id.starts_with("alias/") || alias_arn {
        return Err(KmsError::new(
            ErrorCode::InvalidArnException,
            "Key Aliases are not supported for this operation.",
        ));
    }
    let key = core.resolve(&req.key_id, access)?;
    let usage = key.last_use().map(|u| KeyLastUsageData {
        operation: KeyLastUsageTrackingOperation::from_wire(u.operation.name()),
        timestamp: Some(timestamp(u.at_ms)),
        kms_request_id: Some(u.request_id),
        cloud_trail_event_id: None,
    });
    Ok(GetKeyLastUsageResponse {
        key_id: Some(key.arn.to_string()),
        key_creation_date: Some(timestamp(key.key.created_ms)),
        tracking_start_date: Some(timestamp(key.key.created_ms.max(core.started_ms))),
        key_last_usage: usage,
    })
}
