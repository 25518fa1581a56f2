//! Asymmetric keys seen from outside and signing with them: GetPublicKey, Sign, Verify. The
//! rules on algorithms, message types and lengths are the crypto layer's
//! (`crypto::asymmetric::sign`); this module checks the key (state, usage) first, as AWS does.

use kms_api::wire::{
    Blob, CustomerMasterKeySpec, GetPublicKeyRequest, GetPublicKeyResponse, MessageType,
    SignRequest, SignResponse, VerifyRequest, VerifyResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::KeyUsage;
use zeroize::Zeroizing;

use crate::core::rules::dry_run;
use crate::core::{Access, Core};

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

pub(crate) fn get_public_key(
    core: &Core,
    req: &GetPublicKeyRequest,
    access: &Access<'_>,
) -> Result<GetPublicKeyResponse, KmsError> {
    let key = core.resolve_for_op(&req.key_id, access)?;
    let public = key
        .current()
        .and_then(|v| v.material.parsed())
        .and_then(|m| m.public_key_der())
        // Symmetric and HMAC keys have no public key; AWS gives no message.
        .ok_or_else(|| KmsError::new(ErrorCode::UnsupportedOperationException, ""))?;
    let t = key.key.key_type;
    Ok(GetPublicKeyResponse {
        key_id: Some(key.arn.to_string()),
        public_key: Some(Blob::new(public.to_vec())),
        customer_master_key_spec: CustomerMasterKeySpec::from_wire(t.spec().as_str()),
        key_spec: Some(t.spec()),
        key_usage: Some(t.usage()),
        encryption_algorithms: non_empty(t.encryption_algorithms().to_vec()),
        signing_algorithms: non_empty(t.signing_algorithms().to_vec()),
        key_agreement_algorithms: non_empty(t.key_agreement_algorithms().to_vec()),
        encapsulation_algorithms: non_empty(t.encapsulation_algorithms().to_vec()),
    })
}

pub(crate) async fn sign(
    core: &Core,
    req: &SignRequest,
    access: &Access<'_>,
) -> Result<SignResponse, KmsError> {
    let key = core.key_for_use(&req.key_id, access, KeyUsage::SignVerify)?;
    let material = key.current_parsed()?;
    let alg = req.signing_algorithm;
    let message_type = req.message_type.unwrap_or(MessageType::Raw);
    let message = Zeroizing::new(req.message.as_bytes().to_vec());
    let signature = core
        .pools
        .with_private(material, move |m| m.sign(alg, message_type, &message))
        .await?;
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(SignResponse {
        key_id: Some(key.arn.to_string()),
        signature: Some(Blob::new(signature)),
        signing_algorithm: Some(alg),
    })
}

pub(crate) fn verify(
    core: &Core,
    req: &VerifyRequest,
    access: &Access<'_>,
) -> Result<VerifyResponse, KmsError> {
    let key = core.key_for_use(&req.key_id, access, KeyUsage::SignVerify)?;
    let material = key.current_parsed()?;
    let alg = req.signing_algorithm;
    let message_type = req.message_type.unwrap_or(MessageType::Raw);
    // Verifying takes the public key only: quick, done in place.
    let valid = material.verify(
        alg,
        message_type,
        req.message.as_bytes(),
        req.signature.as_bytes(),
    )?;
    if !valid {
        // AWS never answers SignatureValid false, and says nothing more.
        return Err(KmsError::new(ErrorCode::KmsInvalidSignatureException, ""));
    }
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(VerifyResponse {
        key_id: Some(key.arn.to_string()),
        signature_valid: Some(true),
        signing_algorithm: Some(alg),
    })
}
