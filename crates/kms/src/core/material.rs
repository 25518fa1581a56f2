//! Key material in memory: a key version unwrapped from under the root key and prepared for use.

use crypto::{KeyMaterial, PreparedKey, RootKey};
use kms_api::KmsError;
use kms_model::{KeyId, KeyVersion, MaterialKind, VersionId};

/// A version's material, ready for the operations of its kind.
pub(crate) enum Material {
    /// A 256-bit AES-GCM key with its schedule built.
    Aes256Gcm(PreparedKey),
    /// HMAC and key-pair material (imported so far; their operations use it through
    /// `crypto::asymmetric`).
    Other(crypto::asymmetric::Material),
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Material::Aes256Gcm(_) => f.write_str("Material::Aes256Gcm(<redacted>)"),
            Material::Other(m) => write!(f, "Material::Other({m:?})"),
        }
    }
}

impl Material {
    /// The AES-GCM key, for the symmetric operations.
    pub fn aes(&self) -> Option<&PreparedKey> {
        match self {
            Material::Aes256Gcm(k) => Some(k),
            Material::Other(_) => None,
        }
    }
}

/// What binds wrapped material to its key and version: unwrapping it as another's fails.
pub(crate) fn wrap_context(key: &KeyId, version: &VersionId) -> Vec<u8> {
    format!("strongroom/backing-key/v1/{key}/{}", version.to_hex()).into_bytes()
}

fn does_not_unwrap(v: &KeyVersion) -> KmsError {
    KmsError::internal(format!(
        "Key material of {} does not unwrap under the root key.",
        v.key
    ))
}

/// Unwraps a stored version (one that holds its material).
pub(crate) fn unwrap(root: &RootKey, v: &KeyVersion) -> Result<Material, KmsError> {
    match v.kind {
        MaterialKind::Aes256Gcm => {
            let material = root
                .unwrap(&v.wrapped, &wrap_context(&v.key, &v.id))
                .map_err(|_| does_not_unwrap(v))?;
            let prepared = PreparedKey::new(&material)
                .map_err(|_| KmsError::internal("Key material could not be prepared."))?;
            Ok(Material::Aes256Gcm(prepared))
        }
        kind => root
            .open_material(kind, &v.wrapped, &wrap_context(&v.key, &v.id))
            .map(Material::Other)
            .map_err(|_| does_not_unwrap(v)),
    }
}

/// Imported material of `key`, sealed under the root key for storage as version `id`, and its
/// in-memory form.
pub(crate) fn seal_imported(
    root: &RootKey,
    key: &KeyId,
    id: &VersionId,
    material: crypto::asymmetric::Material,
) -> Result<(Vec<u8>, Material), KmsError> {
    let sealed = root
        .seal_material(&material, &wrap_context(key, id))
        .map_err(|_| KmsError::internal("Key material could not be wrapped."))?;
    let ready = match material.as_aes() {
        Some(aes) => Material::Aes256Gcm(
            PreparedKey::new(aes)
                .map_err(|_| KmsError::internal("Key material could not be prepared."))?,
        ),
        None => Material::Other(material),
    };
    Ok((sealed, ready))
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
