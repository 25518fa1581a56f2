//! Key material in memory: a key version unwrapped from under the root key and prepared for use.

use crypto::{KeyMaterial, PreparedKey, RootKey};
use kms_api::KmsError;
use kms_model::{KeyId, KeyVersion, MaterialKind, VersionId};

/// A version's material, ready for the operations of its kind. Only AES-GCM is held today; the
/// other kinds of [`MaterialKind`] (HMAC, RSA, ECC, ML-DSA, ML-KEM) come with their operations.
pub(crate) enum Material {
    /// A 256-bit AES-GCM key with its schedule built.
    Aes256Gcm(PreparedKey),
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Material::Aes256Gcm(_) => f.write_str("Material::Aes256Gcm(<redacted>)"),
        }
    }
}

impl Material {
    /// The AES-GCM key, for the symmetric operations.
    pub fn aes(&self) -> Option<&PreparedKey> {
        match self {
            Material::Aes256Gcm(k) => Some(k),
        }
    }
}

/// What binds wrapped material to its key and version: unwrapping it as another's fails.
pub(crate) fn wrap_context(key: &KeyId, version: &VersionId) -> Vec<u8> {
    format!("strongroom/backing-key/v1/{key}/{}", version.to_hex()).into_bytes()
}

/// Unwraps a stored version.
pub(crate) fn unwrap(root: &RootKey, v: &KeyVersion) -> Result<Material, KmsError> {
    match v.kind {
        MaterialKind::Aes256Gcm => {
            let material = root
                .unwrap(&v.wrapped, &wrap_context(&v.key, &v.id))
                .map_err(|_| {
                    KmsError::internal(format!(
                        "Key material of {} does not unwrap under the root key.",
                        v.key
                    ))
                })?;
            let prepared = PreparedKey::new(&material)
                .map_err(|_| KmsError::internal("Key material could not be prepared."))?;
            Ok(Material::Aes256Gcm(prepared))
        }
        other => Err(KmsError::internal(format!(
            "Key material of kind {other:?} ({}) is not supported by this version of Strongroom.",
            v.key
        ))),
    }
}

/// New AES-256 material for `key`, wrapped for storage, and its in-memory form.
pub(crate) fn generate_aes(
    root: &RootKey,
    key: &KeyId,
) -> Result<(VersionId, Vec<u8>, Material), KmsError> {
    let failed = |_| KmsError::internal("Key generation failed.");
    let material = KeyMaterial::generate().map_err(failed)?;
    let id = VersionId(crypto::new_backing_key_id().map_err(failed)?);
    let wrapped = root
        .wrap(&material, &wrap_context(key, &id))
        .map_err(|_| KmsError::internal("Key material could not be wrapped."))?;
    let prepared = PreparedKey::new(&material).map_err(failed)?;
    Ok((id, wrapped, Material::Aes256Gcm(prepared)))
}
