//! The cryptographic operations of encryption keys: Encrypt, Decrypt, ReEncrypt,
//! GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair(WithoutPlaintext) (in
//! [`data_key_pairs`]), GenerateRandom. They read only the in-memory cache: no database on this
//! path.
//!
//! Symmetric keys encrypt into Strongroom's ciphertext blob. Keys in external key stores get a
//! second, outer layer from their proxy (double encryption): the proxy's IV, tag and metadata
//! travel in the ciphertext blob, the AAD sent to the proxy is the blob's fixed header, and the
//! CDIV the proxy returns is recomputed and checked. RSA keys encrypt with RSAES-OAEP, as AWS
//! does: the ciphertext is OAEP's alone (anyone with the public key can make one), so Decrypt
//! needs the key and the algorithm named.

mod data_key_pairs;

pub(crate) use data_key_pairs::{generate_data_key_pair, generate_data_key_pair_without_plaintext};

use std::collections::BTreeMap;
use std::sync::Arc;

use crypto::{ExternalLayer, Layer, ParsedBlob, PreparedKey};
use kms_api::wire::{
    Blob, DataKeySpec, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
    EncryptionAlgorithmSpec, GenerateDataKeyRequest, GenerateDataKeyResponse,
    GenerateDataKeyWithoutPlaintextRequest, GenerateDataKeyWithoutPlaintextResponse,
    GenerateRandomRequest, GenerateRandomResponse, ReEncryptRequest, ReEncryptResponse,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{KeyRef, KeySpec, KeyUsage, VersionId};
use zeroize::Zeroizing;

use crate::core::cache::CachedVersion;
use crate::core::optable::Naming;
use crate::core::rules::{dry_run, no_recipient};
use crate::core::states::StateRule;
use crate::core::{Access, CachedKey, Core};
use crate::external::{proxy_message, ProxyError, RequestMetadata};
use crate::metrics::XksOperation;

type Context = BTreeMap<String, String>;

/// A decrypted ciphertext: its key, the version that made it (symmetric keys), the algorithm
/// and the plaintext.
struct Opened {
    key: Arc<CachedKey>,
    version: Option<VersionId>,
    algorithm: EncryptionAlgorithmSpec,
    plaintext: Zeroizing<Vec<u8>>,
}

/// A ciphertext made under a key: the blob and its version (symmetric keys), or RSA-OAEP's.
struct Sealed {
    ciphertext: Vec<u8>,
    version: Option<VersionId>,
    algorithm: EncryptionAlgorithmSpec,
}

/// The algorithm of a request on a symmetric key: SYMMETRIC_DEFAULT, named or not.
fn check_algorithm(alg: Option<EncryptionAlgorithmSpec>) -> Result<(), KmsError> {
    match alg {
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => Ok(()),
        Some(other) => Err(KmsError::new(
            ErrorCode::InvalidKeyUsageException,
            format!("Algorithm {other} is incompatible with key spec SYMMETRIC_DEFAULT."),
        )),
    }
}

/// RSA keys take no encryption context (an empty one is accepted).
fn no_context(ctx: &Context) -> Result<(), KmsError> {
    if !ctx.is_empty() {
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.",
        ));
    }
    Ok(())
}

fn bad_ciphertext() -> KmsError {
    KmsError::new(ErrorCode::InvalidCiphertextException, "")
}

fn external_invalid_state(msg: &str) -> KmsError {
    KmsError::new(ErrorCode::KmsInvalidStateException, msg)
}

fn proxy_failure(e: &ProxyError) -> KmsError {
    tracing::info!(error = %e, "external key store proxy call failed");
    external_invalid_state(proxy_message(e))
}

fn uninterpretable(why: &str) -> KmsError {
    tracing::info!(why, "external key store proxy answer rejected");
    proxy_failure(&ProxyError::InvalidResponse(why.to_string()))
}

/// The key an encrypting operation names, checked for state, quota and usage.
fn encrypting_key(
    core: &Core,
    key_ref: &str,
    access: &Access<'_>,
) -> Result<Arc<CachedKey>, KmsError> {
    let key = core.resolve_as(key_ref, access, Naming::KeyOrAlias)?;
    core.check_state(&key, StateRule::Enabled)?;
    core.external_quota(&key.key, access.op)?;
    if key.key.usage() != KeyUsage::EncryptDecrypt {
        return Err(crate::core::resolve::wrong_usage(&key, access.op));
    }
    Ok(key)
}

fn aes(v: &CachedVersion) -> Result<&PreparedKey, KmsError> {
    v.material
        .aes()
        .ok_or_else(|| KmsError::internal("The key's material is not an AES key."))
}

fn request_metadata(access: &Access<'_>, key: &CachedKey) -> RequestMetadata {
    RequestMetadata {
        aws_principal_arn: Some(access.principal_arn.clone()),
        kms_key_arn: Some(key.arn.to_string()),
        kms_operation: Some(access.op.name().to_string()),
        kms_request_id: Some(access.origin.request_id.clone()),
        ..RequestMetadata::default()
    }
}

/// Encrypts under the key's current version (and its external key, for keys in an external key
/// store); answers the blob and the version used.
async fn seal(
    core: &Core,
    key: &CachedKey,
    plaintext: &[u8],
    ctx: &Context,
    access: &Access<'_>,
) -> Result<(Vec<u8>, VersionId), KmsError> {
    let current = key
        .current()
        .ok_or_else(|| KmsError::internal("The key's current version is missing."))?;
    let prepared = aes(current)?;
    let id = key.key.id.as_str();
    let blob = if key.key.external.is_some() {
        seal_external(core, key, prepared, &current.id, plaintext, ctx, access).await?
    } else {
        crypto::encrypt_blob_with(prepared, id, &current.id.0, plaintext, ctx)
            .map_err(|_| KmsError::internal("Encryption failed."))?
    };
    Ok((blob, current.id))
}

async fn seal_external(
    core: &Core,
    key: &CachedKey,
    prepared: &PreparedKey,
    version: &VersionId,
    plaintext: &[u8],
    ctx: &Context,
    access: &Access<'_>,
) -> Result<Vec<u8>, KmsError> {
    let store = core.connected_store(&key.key)?;
    let xks_key = key
        .key
        .external
        .as_ref()
        .map(|e| e.xks_key_id.as_str())
        .unwrap_or_default();
    let inner =
        crypto::seal_external_inner_with(prepared, key.key.id.as_str(), &version.0, plaintext, ctx)
            .map_err(|_| KmsError::internal("Encryption failed."))?;
    let aad = inner.fixed_header().to_vec();
    let request = xks_client::EncryptRequest {
        request_metadata: request_metadata(access, key),
        plaintext: Zeroizing::new(inner.inner_ciphertext().to_vec()),
        encryption_algorithm: xks::AES_GCM.to_string(),
        additional_authenticated_data: Some(aad.clone()),
        ciphertext_data_integrity_value_algorithm: Some(xks::SHA_256.to_string()),
    };
    let started = std::time::Instant::now();
    let resp = core.xks.encrypt(&store.target, xks_key, &request).await;
    core.metrics.proxy_call(
        &store.record.id,
        access.op.name(),
        XksOperation::Encrypt,
        started.elapsed(),
        resp.as_ref().err(),
    );
    let resp = resp.map_err(|e| proxy_failure(&e))?;
    let metadata = resp.ciphertext_metadata.clone().unwrap_or_default();
    if !matches!(
        resp.initialization_vector.len(),
        xks::IV_LEN_12 | xks::IV_LEN_16
    ) {
        return Err(uninterpretable(
            "initialization vector of an invalid length",
        ));
    }
    let tag: [u8; xks::TAG_LEN] = resp
        .authentication_tag
        .as_slice()
        .try_into()
        .map_err(|_| uninterpretable("authentication tag of an invalid length"))?;
    if metadata.len() > xks::MAX_CIPHERTEXT_METADATA_LEN {
        return Err(uninterpretable("ciphertext metadata longer than 20 bytes"));
    }
    if resp.ciphertext.len() != inner.inner_ciphertext().len() {
        return Err(uninterpretable(
            "ciphertext length differs from the plaintext's",
        ));
    }
    let expected = xks::cdiv_sha256(
        &aad,
        &metadata,
        &resp.initialization_vector,
        &resp.ciphertext,
        &tag,
    );
    match &resp.ciphertext_data_integrity_value {
        Some(cdiv)
            if bool::from(subtle::ConstantTimeEq::ct_eq(
                cdiv.as_slice(),
                expected.as_slice(),
            )) => {}
        Some(_) => {
            return Err(uninterpretable(
                "ciphertext data integrity value does not match",
            ))
        }
        None => {
            return Err(uninterpretable(
                "no ciphertext data integrity value although one was requested",
            ))
        }
    }
    let layer = ExternalLayer {
        iv: resp.initialization_vector,
        metadata,
        tag,
    };
    inner
        .into_blob(&layer, &resp.ciphertext)
        .map_err(|_| uninterpretable("the proxy's answer does not fit the ciphertext blob"))
}

async fn open_external(
    core: &Core,
    key: &CachedKey,
    prepared: &PreparedKey,
    parsed: &ParsedBlob<'_>,
    ctx: &Context,
    access: &Access<'_>,
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let Layer::External(layer) = parsed.layer() else {
        return Err(bad_ciphertext());
    };
    let store = core.connected_store(&key.key)?;
    let xks_key = key
        .key
        .external
        .as_ref()
        .map(|e| e.xks_key_id.as_str())
        .unwrap_or_default();
    let request = xks_client::DecryptRequest {
        request_metadata: request_metadata(access, key),
        ciphertext: parsed.payload().to_vec(),
        ciphertext_metadata: (!layer.metadata.is_empty()).then(|| layer.metadata.clone()),
        encryption_algorithm: xks::AES_GCM.to_string(),
        additional_authenticated_data: Some(parsed.fixed_header().to_vec()),
        authentication_tag: layer.tag.to_vec(),
        initialization_vector: layer.iv.clone(),
    };
    let started = std::time::Instant::now();
    let resp = core.xks.decrypt(&store.target, xks_key, &request).await;
    core.metrics.proxy_call(
        &store.record.id,
        access.op.name(),
        XksOperation::Decrypt,
        started.elapsed(),
        resp.as_ref().err(),
    );
    let resp = resp.map_err(|e| proxy_failure(&e))?;
    crypto::open_external_inner_with(prepared, parsed, &resp.plaintext, ctx).map_err(|_| {
        external_invalid_state(
            "The ciphertext that the external key store proxy submitted for decryption, or the encryption context, is corrupted, missing, or otherwise invalid.",
        )
    })
}

/// Opens a ciphertext blob: finds its key, checks it against `expected` (a `KeyId` the caller
/// named), its state and the caller, then decrypts with the version the blob names.
async fn open_blob(
    core: &Core,
    blob: &[u8],
    ctx: &Context,
    expected: Option<&str>,
    access: &Access<'_>,
) -> Result<Opened, KmsError> {
    let parsed = crypto::parse_blob(blob).map_err(|_| bad_ciphertext())?;
    let key_id = parsed.key_id();
    if let Some(expected) = expected {
        let incorrect = || {
            KmsError::new(
                ErrorCode::IncorrectKeyException,
                "The key ID in the request does not identify a CMK that can perform this operation.",
            )
        };
        // A key ARN of another Region (a multi-Region key's primary, say) cannot decrypt here:
        // AWS answers that it is the wrong key, not that it is missing.
        if crate::core::arn::parse_kms_arn(expected)
            .is_some_and(|arn| arn.region != access.region().as_str())
        {
            return Err(incorrect());
        }
        let named = core.lookup(expected, access, Naming::KeyOrAlias)?;
        if named.key.id.as_str() != key_id {
            return Err(incorrect());
        }
    }
    // The key id inside the blob is not authenticated until decryption: a blob naming no key we
    // have is a bad ciphertext, not a missing key the caller asked for.
    let key = kms_model::KeyId::parse(key_id)
        .and_then(|id| {
            core.cache.key(&KeyRef {
                region: access.region().clone(),
                id,
            })
        })
        .ok_or_else(bad_ciphertext)?;
    let alias = expected.filter(|e| e.starts_with("alias/"));
    core.authorize_key(access, &key, alias)?;
    core.check_state(&key, StateRule::Enabled)?;
    core.external_quota(&key.key, access.op)?;
    let version_id = VersionId(*parsed.backing_key_id());
    let version = key.version(&version_id).ok_or_else(bad_ciphertext)?;
    let prepared = aes(version)?;
    let plaintext = match (parsed.layer(), key.key.external.is_some()) {
        (Layer::Single, false) => {
            crypto::decrypt_blob_with(prepared, &parsed, ctx).map_err(|_| bad_ciphertext())?
        }
        (Layer::External(_), true) => {
            open_external(core, &key, prepared, &parsed, ctx, access).await?
        }
        // A blob whose layering does not match its key's kind was not made by that key.
        _ => return Err(bad_ciphertext()),
    };
    Ok(Opened {
        key: Arc::clone(&key),
        version: Some(version_id),
        algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
        plaintext,
    })
}

/// Opens an RSA-OAEP ciphertext: the caller must name the key (the ciphertext does not), which
/// must be an RSA key that takes `alg`.
async fn open_asymmetric(
    core: &Core,
    ciphertext: &[u8],
    ctx: &Context,
    alg: EncryptionAlgorithmSpec,
    key_ref: Option<&str>,
    access: &Access<'_>,
) -> Result<Opened, KmsError> {
    let key_ref = key_ref
        .ok_or_else(|| KmsError::new(ErrorCode::ValidationException, "KeyId must not be null"))?;
    let key = encrypting_key(core, key_ref, access)?;
    if key.key.spec() == KeySpec::SymmetricDefault {
        check_algorithm(Some(alg))?;
    }
    let material = key.current_parsed()?;
    // The algorithm first: AWS refuses one the key spec does not take before anything else.
    material.max_plaintext_len(alg)?;
    no_context(ctx)?;
    let ciphertext = ciphertext.to_vec();
    let plaintext = core
        .pools
        .with_private(material, move |m| m.decrypt(alg, &ciphertext))
        .await?;
    Ok(Opened {
        key,
        version: None,
        algorithm: alg,
        plaintext,
    })
}

/// Opens a ciphertext of either kind: the blob of a symmetric key unless the request names an
/// asymmetric algorithm.
async fn open_any(
    core: &Core,
    ciphertext: &[u8],
    ctx: &Context,
    alg: Option<EncryptionAlgorithmSpec>,
    key_ref: Option<&str>,
    access: &Access<'_>,
) -> Result<Opened, KmsError> {
    match alg {
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => {
            open_blob(core, ciphertext, ctx, key_ref, access).await
        }
        Some(alg) => open_asymmetric(core, ciphertext, ctx, alg, key_ref, access).await,
    }
}

/// Encrypts under `key` with `alg` (absent: SYMMETRIC_DEFAULT): into the blob for a symmetric
/// key, with RSAES-OAEP for an RSA key.
async fn seal_any(
    core: &Core,
    key: &CachedKey,
    alg: Option<EncryptionAlgorithmSpec>,
    plaintext: &[u8],
    ctx: &Context,
    access: &Access<'_>,
) -> Result<Sealed, KmsError> {
    if key.key.spec() == KeySpec::SymmetricDefault {
        check_algorithm(alg)?;
        let (blob, version) = seal(core, key, plaintext, ctx, access).await?;
        return Ok(Sealed {
            ciphertext: blob,
            version: Some(version),
            algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
        });
    }
    let alg = alg.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    let material = key.current_parsed()?;
    material.max_plaintext_len(alg)?;
    no_context(ctx)?;
    // Encrypting takes the public key only: quick, done in place.
    let ciphertext = material.encrypt(alg, plaintext)?;
    Ok(Sealed {
        ciphertext,
        version: None,
        algorithm: alg,
    })
}

/// The `KeyMaterialId` a response names (none for a key in an external key store), noted for
/// the request's audit record.
pub(crate) fn material_id(
    access: &Access<'_>,
    key: &CachedKey,
    version: Option<&VersionId>,
) -> Option<String> {
    let id = version
        .filter(|_| key.key.external.is_none())
        .map(VersionId::to_hex);
    if let Some(id) = &id {
        access.trace.record(|d| d.key_materials.push(id.clone()));
    }
    id
}

pub(crate) async fn encrypt(
    core: &Core,
    req: &EncryptRequest,
    access: &Access<'_>,
) -> Result<EncryptResponse, KmsError> {
    let key = encrypting_key(core, &req.key_id, access)?;
    let empty = Context::new();
    let ctx = req.encryption_context.as_ref().unwrap_or(&empty);
    let sealed = seal_any(
        core,
        &key,
        req.encryption_algorithm,
        req.plaintext.as_bytes(),
        ctx,
        access,
    )
    .await?;
    // Encrypt's response does not name the material; its audit record does.
    material_id(access, &key, sealed.version.as_ref());
    dry_run(req.dry_run)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok(EncryptResponse {
        ciphertext_blob: Some(Blob::new(sealed.ciphertext)),
        key_id: Some(key.arn.to_string()),
        encryption_algorithm: Some(sealed.algorithm),
    })
}

pub(crate) async fn decrypt(
    core: &Core,
    req: &DecryptRequest,
    access: &Access<'_>,
) -> Result<DecryptResponse, KmsError> {
    no_recipient(req.recipient.as_ref())?;
    let empty = Context::new();
    let ctx = req.encryption_context.as_ref().unwrap_or(&empty);
    let blob = req
        .ciphertext_blob
        .as_ref()
        .map(Blob::as_bytes)
        .unwrap_or_default();
    let opened = open_any(
        core,
        blob,
        ctx,
        req.encryption_algorithm,
        req.key_id.as_deref(),
        access,
    )
    .await?;
    dry_run(req.dry_run)?;
    core.usage.note(
        &opened.key,
        access.op,
        access.now_ms,
        &access.origin.request_id,
    );
    Ok(DecryptResponse {
        key_id: Some(opened.key.arn.to_string()),
        key_material_id: material_id(access, &opened.key, opened.version.as_ref()),
        plaintext: Some(Blob(opened.plaintext)),
        encryption_algorithm: Some(opened.algorithm),
        ciphertext_for_recipient: None,
    })
}

pub(crate) async fn re_encrypt(
    core: &Core,
    req: &ReEncryptRequest,
    access: &Access<'_>,
) -> Result<ReEncryptResponse, KmsError> {
    let empty = Context::new();
    let src_ctx = req.source_encryption_context.as_ref().unwrap_or(&empty);
    let blob = req
        .ciphertext_blob
        .as_ref()
        .map(Blob::as_bytes)
        .unwrap_or_default();
    // `kms:ReEncryptOnSameKey` is known before either key is authorized. An RSA ciphertext
    // names no key: its key is the one the request names.
    let source_id = match req.source_encryption_algorithm {
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => crypto::parse_blob(blob)
            .ok()
            .map(|p| p.key_id().to_string()),
        Some(_) => req
            .source_key_id
            .as_deref()
            .and_then(|r| core.lookup(r, access, Naming::KeyOrAlias).ok())
            .map(|k| k.key.id.to_string()),
    };
    let dest_id = core
        .lookup(&req.destination_key_id, access, Naming::KeyOrAlias)
        .ok()
        .map(|k| k.key.id.to_string());
    let same_key = source_id.zip(dest_id).map(|(a, b)| a == b);
    let from = access
        .with_action("kms:ReEncryptFrom")
        .with_same_key(same_key);
    let source = open_any(
        core,
        blob,
        src_ctx,
        req.source_encryption_algorithm,
        req.source_key_id.as_deref(),
        &from,
    )
    .await?;
    let to = access.with_action("kms:ReEncryptTo");
    let dest = encrypting_key(core, &req.destination_key_id, &to)?;
    let dest_ctx = req
        .destination_encryption_context
        .as_ref()
        .unwrap_or(&empty);
    let sealed = seal_any(
        core,
        &dest,
        req.destination_encryption_algorithm,
        &source.plaintext,
        dest_ctx,
        &to,
    )
    .await?;
    dry_run(req.dry_run)?;
    for k in [&source.key, &dest] {
        core.usage
            .note(k, access.op, access.now_ms, &access.origin.request_id);
    }
    Ok(ReEncryptResponse {
        ciphertext_blob: Some(Blob::new(sealed.ciphertext)),
        source_key_id: Some(source.key.arn.to_string()),
        key_id: Some(dest.arn.to_string()),
        source_encryption_algorithm: Some(source.algorithm),
        destination_encryption_algorithm: Some(sealed.algorithm),
        source_key_material_id: material_id(access, &source.key, source.version.as_ref()),
        destination_key_material_id: material_id(access, &dest, sealed.version.as_ref()),
    })
}

/// The symmetric encryption key a data key is encrypted under: AWS refuses an asymmetric one
/// after the key-usage check (no period in its message).
fn symmetric_key(
    core: &Core,
    key_ref: &str,
    access: &Access<'_>,
) -> Result<Arc<CachedKey>, KmsError> {
    let key = encrypting_key(core, key_ref, access)?;
    if key.key.spec() != KeySpec::SymmetricDefault {
        return Err(KmsError::new(
            ErrorCode::InvalidKeyUsageException,
            "You cannot generate a data key with an asymmetric CMK",
        ));
    }
    Ok(key)
}

/// The length of a data key: `KeySpec` or `NumberOfBytes`, exactly one.
fn data_key_len(spec: Option<DataKeySpec>, bytes: Option<i32>) -> Result<usize, KmsError> {
    match (spec, bytes) {
        (Some(_), Some(_)) => Err(KmsError::new(
            ErrorCode::ValidationException,
            "Please specify either number of bytes or key spec, not both.",
        )),
        (None, None) => Err(KmsError::new(
            ErrorCode::ValidationException,
            "Please specify either number of bytes or key spec.",
        )),
        (Some(DataKeySpec::Aes128), None) => Ok(16),
        (Some(_), None) => Ok(32),
        (None, Some(n)) => Ok(usize::try_from(n).unwrap_or(0)),
    }
}

/// A data key and its ciphertext under the key a request names.
async fn data_key(
    core: &Core,
    key_ref: &str,
    len: usize,
    ctx: Option<&Context>,
    dry: Option<bool>,
    access: &Access<'_>,
) -> Result<(Arc<CachedKey>, Zeroizing<Vec<u8>>, Vec<u8>, VersionId), KmsError> {
    let key = symmetric_key(core, key_ref, access)?;
    let data_key =
        crypto::random_bytes(len).map_err(|_| KmsError::internal("Random generation failed."))?;
    let empty = Context::new();
    let (blob, version) = seal(core, &key, &data_key, ctx.unwrap_or(&empty), access).await?;
    dry_run(dry)?;
    core.usage
        .note(&key, access.op, access.now_ms, &access.origin.request_id);
    Ok((key, data_key, blob, version))
}

pub(crate) async fn generate_data_key(
    core: &Core,
    req: &GenerateDataKeyRequest,
    access: &Access<'_>,
) -> Result<GenerateDataKeyResponse, KmsError> {
    let len = data_key_len(req.key_spec, req.number_of_bytes)?;
    no_recipient(req.recipient.as_ref())?;
    let (key, plaintext, blob, version) = data_key(
        core,
        &req.key_id,
        len,
        req.encryption_context.as_ref(),
        req.dry_run,
        access,
    )
    .await?;
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob::new(blob)),
        plaintext: Some(Blob(plaintext)),
        key_id: Some(key.arn.to_string()),
        key_material_id: material_id(access, &key, Some(&version)),
        ciphertext_for_recipient: None,
    })
}

pub(crate) async fn generate_data_key_without_plaintext(
    core: &Core,
    req: &GenerateDataKeyWithoutPlaintextRequest,
    access: &Access<'_>,
) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
    let len = data_key_len(req.key_spec, req.number_of_bytes)?;
    let (key, _, blob, version) = data_key(
        core,
        &req.key_id,
        len,
        req.encryption_context.as_ref(),
        req.dry_run,
        access,
    )
    .await?;
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob::new(blob)),
        key_id: Some(key.arn.to_string()),
        key_material_id: material_id(access, &key, Some(&version)),
    })
}

pub(crate) fn generate_random(
    core: &Core,
    req: &GenerateRandomRequest,
    access: &Access<'_>,
) -> Result<GenerateRandomResponse, KmsError> {
    no_recipient(req.recipient.as_ref())?;
    if let Some(id) = &req.custom_key_store_id {
        // Another account's store is not found, as in every custom key store operation.
        core.own_store(id, access)?;
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            format!("GenerateRandom does not support {id}: it is an external key store."),
        ));
    }
    let Some(n) = req.number_of_bytes else {
        // The model leaves it optional; AWS answers in its own words.
        return Err(KmsError::new(
            ErrorCode::ValidationException,
            "NumberOfBytes is required.",
        ));
    };
    let bytes = crypto::random_bytes(usize::try_from(n).unwrap_or(0))
        .map_err(|_| KmsError::internal("Random generation failed."))?;
    Ok(GenerateRandomResponse {
        plaintext: Some(Blob(bytes)),
        ciphertext_for_recipient: None,
    })
}
