//! GetKeyLastUsage: a key's last successful cryptographic use, the newer of what the store
//! holds (every node's flushed uses) and what this node noted and has not flushed yet. Usage
//! is tracked from when the database began to (or from the key's creation, if later).

use kms_api::wire::{
    GetKeyLastUsageRequest, GetKeyLastUsageResponse, KeyLastUsageData,
    KeyLastUsageTrackingOperation,
};
use kms_api::{ErrorCode, KmsError};

use crate::core::usage::newer;
use crate::core::{store_error, timestamp, Access, Core};

pub(crate) async fn get_key_last_usage(
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
    let stored = core
        .store
        .key_last_use(&key.key_ref())
        .await
        .map_err(store_error)?;
    let usage = newer(stored, key.last_use.last()).map(|u| KeyLastUsageData {
        operation: KeyLastUsageTrackingOperation::from_wire(u.operation.name()),
        timestamp: Some(timestamp(u.at_ms)),
        kms_request_id: Some(u.request_id),
        cloud_trail_event_id: None,
    });
    Ok(GetKeyLastUsageResponse {
        key_id: Some(key.arn.to_string()),
        key_creation_date: Some(timestamp(key.key.created_ms)),
        tracking_start_date: Some(timestamp(
            key.key.created_ms.max(core.usage_tracking_start_ms),
        )),
        key_last_usage: usage,
    })
}
