//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh key pair of any
//! `KeyPairSpec`, the private key (PKCS#8 DER) encrypted under a symmetric encryption key of
//! Strongroom's own key store, the public key as DER SubjectPublicKeyInfo.

use crypto::asymmetric::{data_key_pair_kind, generate_data_key_pair as new_pair, DataKeyPair};
use kms_api::wire::{
    Blob, DataKeyPairSpec, GenerateDataKeyPairRequest, GenerateDataKeyPairResponse,
    GenerateDataKeyPairWithoutPlaintextRequest, GenerateDataKeyPairWithoutPlaintextResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{KeySpec, KeyUsage, VersionId};

use super::{material_id, seal, Context};
use crate::core::optable::Naming;
use crate::core::resolve::wrong_usage;
use crate::core::rules::{dry_run, no_recipient};
use crate::core::states::StateRule;
use crate::core::{Access, CachedKey, Core};

/// A data key pair and its private key's ciphertext, made under the key a request names.
struct Made {
    key: std::sync::Arc<CachedKey>,
    pair: DataKeyPair,
    private_key_ciphertext: Vec<u8>,
    version: VersionId,
}

/// The request's members both operations share.
struct Asked<'r> {
    key_id: &'r str,
    spec: DataKeyPairSpec,
    context: Option<&'r Context>,
    dry_run: Option<bool>,
}

async fn make(core: &Core, asked: Asked<'_>, access: &Access<'_>) -> Result<Made, KmsError> {
    let key = core.resolve_as(asked.key_id, access, Naming::KeyOrAlias)?;
    core.check_state(&key, StateRule::Enabled)?;
    if key.key.usage() != KeyUsage::EncryptDecrypt {
        return Err(wrong_usage(&key, access.op));
    }
    if key.key.external.is_some() {
        // AWS generates no data key pairs under keys in custom key stores.
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!(
                "{} origin is {} which is not valid for this operation.",
                key.arn, key.key.origin
            ),
        ));
    }
    if key.key.spec() != KeySpec::SymmetricDefault {
        return Err(KmsError::new(
            ErrorCode::InvalidKeyUsageException,
            "You cannot generate a data key pair with an asymmetric CMK",
        ));
    }
    if asked.spec == DataKeyPairSpec::Sm2 {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            "KeyPairSpec SM2 is not supported in this Region",
        ));
    }
    let spec = asked.spec;
    let pair = core
        .pools
        .generating(data_key_pair_kind(spec), move || new_pair(spec))
        .await?;
    let empty = Context::new();
    let (private_key_ciphertext, version) = seal(
        core,
        &key,
        &pair.private_key,
        asked.context.unwrap_or(&empty),
        access,
    )
    .await?;
    dry_run(asked.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(Made {
        key,
        pair,
        private_key_ciphertext,
        version,
    })
}

pub(crate) async fn generate_data_key_pair(
    core: &Core,
    req: &GenerateDataKeyPairRequest,
    access: &Access<'_>,
) -> Result<GenerateDataKeyPairResponse, KmsError> {
    no_recipient(req.recipient.as_ref())?;
    let asked = Asked {
        key_id: &req.key_id,
        spec: req.key_pair_spec,
        context: req.encryption_context.as_ref(),
        dry_run: req.dry_run,
    };
    let made = make(core, asked, access).await?;
    Ok(GenerateDataKeyPairResponse {
        key_id: Some(made.key.arn.to_string()),
        key_pair_spec: Some(req.key_pair_spec),
        key_material_id: material_id(access, &made.key, Some(&made.version)),
        private_key_ciphertext_blob: Some(Blob::new(made.private_key_ciphertext)),
        public_key: Some(Blob::new(made.pair.public_key)),
        private_key_plaintext: Some(Blob(made.pair.private_key)),
        ciphertext_for_recipient: None,
    })
}

pub(crate) async fn generate_data_key_pair_without_plaintext(
    core: &Core,
    req: &GenerateDataKeyPairWithoutPlaintextRequest,
    access: &Access<'_>,
) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
    let asked = Asked {
        key_id: &req.key_id,
        spec: req.key_pair_spec,
        context: req.encryption_context.as_ref(),
        dry_run: req.dry_run,
    };
    let made = make(core, asked, access).await?;
    Ok(GenerateDataKeyPairWithoutPlaintextResponse {
        key_id: Some(made.key.arn.to_string()),
        key_pair_spec: Some(req.key_pair_spec),
        key_material_id: material_id(access, &made.key, Some(&made.version)),
        private_key_ciphertext_blob: Some(Blob::new(made.private_key_ciphertext)),
        public_key: Some(Blob::new(made.pair.public_key)),
    })
}
