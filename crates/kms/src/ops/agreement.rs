//! Shared secrets: DeriveSharedSecret (ECDH with a KEY_AGREEMENT key and a peer's public key)
//! and Encapsulate / Decapsulate (ML-KEM keys).

use kms_api::wire::{
    Blob, DecapsulateRequest, DecapsulateResponse, DeriveSharedSecretRequest,
    DeriveSharedSecretResponse, EncapsulateRequest, EncapsulateResponse,
};
use kms_api::KmsError;
use kms_model::KeyUsage;

use crate::core::rules::{dry_run, no_recipient};
use crate::core::{Access, Core};

pub(crate) fn derive_shared_secret(
    core: &Core,
    req: &DeriveSharedSecretRequest,
    access: &Access<'_>,
) -> Result<DeriveSharedSecretResponse, KmsError> {
    no_recipient(req.recipient.as_ref())?;
    let key = core.key_for_use(&req.key_id, access, KeyUsage::KeyAgreement)?;
    let secret = key
        .current_parsed()?
        .derive_shared_secret(req.key_agreement_algorithm, req.public_key.as_bytes())?;
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(DeriveSharedSecretResponse {
        key_id: Some(key.arn.to_string()),
        shared_secret: Some(Blob(secret)),
        key_agreement_algorithm: Some(req.key_agreement_algorithm),
        key_origin: Some(key.key.origin),
        ciphertext_for_recipient: None,
    })
}

pub(crate) fn encapsulate(
    core: &Core,
    req: &EncapsulateRequest,
    access: &Access<'_>,
) -> Result<EncapsulateResponse, KmsError> {
    let key = core.key_for_use(&req.key_id, access, KeyUsage::EncapsulateDecapsulate)?;
    let (ciphertext, secret) = key
        .current_parsed()?
        .encapsulate(req.encapsulation_algorithm)?;
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(EncapsulateResponse {
        key_id: Some(key.arn.to_string()),
        shared_secret: Some(Blob(secret)),
        shared_secret_ciphertext_blob: Some(Blob::new(ciphertext)),
        encapsulation_algorithm: Some(req.encapsulation_algorithm),
    })
}

pub(crate) fn decapsulate(
    core: &Core,
    req: &DecapsulateRequest,
    access: &Access<'_>,
) -> Result<DecapsulateResponse, KmsError> {
    let key = core.key_for_use(&req.key_id, access, KeyUsage::EncapsulateDecapsulate)?;
    // A ciphertext of the right length always decapsulates (ML-KEM's implicit rejection): only
    // its length can make this fail.
    let secret = key.current_parsed()?.decapsulate(
        req.encapsulation_algorithm,
        req.shared_secret_ciphertext_blob.as_bytes(),
    )?;
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(DecapsulateResponse {
        key_id: Some(key.arn.to_string()),
        shared_secret: Some(Blob(secret)),
        encapsulation_algorithm: Some(req.encapsulation_algorithm),
    })
}
