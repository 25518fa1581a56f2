//! HMAC keys: GenerateMac and VerifyMac. Each HMAC key spec has exactly one MAC algorithm; the
//! crypto layer refuses another with AWS's message, after this module has checked the key.

use kms_api::wire::{
    Blob, GenerateMacRequest, GenerateMacResponse, VerifyMacRequest, VerifyMacResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::KeyUsage;

use crate::core::rules::dry_run;
use crate::core::{Access, Core};

pub(crate) fn generate_mac(
    core: &Core,
    req: &GenerateMacRequest,
    access: &Access<'_>,
) -> Result<GenerateMacResponse, KmsError> {
    let key = core.key_for_use(&req.key_id, access, KeyUsage::GenerateVerifyMac)?;
    let mac = key
        .current_parsed()?
        .generate_mac(req.mac_algorithm, req.message.as_bytes())?;
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(GenerateMacResponse {
        key_id: Some(key.arn.to_string()),
        mac: Some(Blob::new(mac)),
        mac_algorithm: Some(req.mac_algorithm),
    })
}

pub(crate) fn verify_mac(
    core: &Core,
    req: &VerifyMacRequest,
    access: &Access<'_>,
) -> Result<VerifyMacResponse, KmsError> {
    let key = core.key_for_use(&req.key_id, access, KeyUsage::GenerateVerifyMac)?;
    let valid = key.current_parsed()?.verify_mac(
        req.mac_algorithm,
        req.message.as_bytes(),
        req.mac.as_bytes(),
    )?;
    if !valid {
        // AWS never answers MacValid false, and says nothing more.
        return Err(KmsError::new(ErrorCode::KmsInvalidMacException, ""));
    }
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(VerifyMacResponse {
        key_id: Some(key.arn.to_string()),
        mac_valid: Some(true),
        mac_algorithm: Some(req.mac_algorithm),
    })
}
