//! Key material in memory: a key version unwrapped from under the root key and parsed once, ready
//! for every operation of its kind; and the bounded pools that run the slow cryptography (key
//! generation, RSA private-key operations) away from the async workers.

use std::sync::Arc;

use crypto::asymmetric::{KeyOpError, Material as Parsed};
use crypto::{CryptoError, KeyMaterial, PreparedKey, RootKey, RootKind};
use kms_api::KmsError;
use kms_model::{KeyId, KeyVersion, MaterialKind, VersionId};
use tokio::sync::Semaphore;

/// A version's material, ready for the operations of its kind.
pub(crate) enum Material {
    /// A 256-bit AES-GCM key with its schedule built (symmetric encryption keys).
    Aes256Gcm(PreparedKey),
    /// HMAC, asymmetric and post-quantum material, parsed once (parsing an RSA key costs far
    /// more than using it); shared with the blocking threads that use it.
    Parsed(Arc<Parsed>),
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Material::Aes256Gcm(_) => f.write_str("Material::Aes256Gcm(<redacted>)"),
            Material::Parsed(m) => write!(f, "Material::Parsed({m:?})"),
        }
    }
}

impl Material {
    /// The AES-GCM key, for the symmetric operations.
    pub fn aes(&self) -> Option<&PreparedKey> {
        match self {
            Material::Aes256Gcm(k) => Some(k),
            Material::Parsed(_) => None,
        }
    }

    /// HMAC, asymmetric or post-quantum material.
    pub fn parsed(&self) -> Option<&Arc<Parsed>> {
        match self {
            Material::Aes256Gcm(_) => None,
            Material::Parsed(m) => Some(m),
        }
    }
}

/// What binds wrapped material to its key and version: unwrapping it as another's fails.
pub(crate) fn wrap_context(key: &KeyId, version: &VersionId) -> Vec<u8> {
    format!("strongroom/backing-key/v1/{key}/{}", version.to_hex()).into_bytes()
}

/// Unwraps and parses a stored version.
pub(crate) fn unwrap(root: &RootKey, v: &KeyVersion) -> Result<Material, KmsError> {
    let failed = |e: CryptoError| unwrap_failure(root, v, e);
    let context = wrap_context(&v.key, &v.id);
    match v.kind {
        MaterialKind::Aes256Gcm => {
            let material = root.unwrap(&v.wrapped, &context).map_err(failed)?;
            let prepared = PreparedKey::new(&material)
                .map_err(|_| KmsError::internal("Key material could not be prepared."))?;
            Ok(Material::Aes256Gcm(prepared))
        }
        kind => root
            .open_material(kind, &v.wrapped, &context)
            .map(|m| Material::Parsed(Arc::new(m)))
            .map_err(failed),
    }
}

/// Why `v` did not unwrap, in words an operator can act on: an HSM that cannot be used, a
/// record sealed by a kind of root key that is not configured (a move between root keys not
/// finished), or damage (another root key of the same kind).
fn unwrap_failure(root: &RootKey, v: &KeyVersion, e: CryptoError) -> KmsError {
    if let CryptoError::RootKeyUnavailable(why) = e {
        return KmsError::internal(format!(
            "Key material of {} cannot be unwrapped: {why}",
            v.key
        ));
    }
    let configured: Vec<RootKind> = std::iter::once(root.kind())
        .chain(root.previous().map(RootKey::kind))
        .collect();
    match crypto::sealed_by(&v.wrapped) {
        Some(kind) if !configured.contains(&kind) => KmsError::internal(format!(
            "Key material of {} is sealed by a `{kind}` root key, and none is configured: \
             finish the move between root keys with that key as [root_key.previous] and \
             `strongroom root-key rewrap`.",
            v.key
        )),
        _ => KmsError::internal(format!(
            "Key material of {} does not unwrap under the root key.",
            v.key
        )),
    }
}

/// Imported material of `key`, sealed under the root key for storage as version `id`, and its
/// in-memory form.
pub(crate) fn seal_imported(
    root: &RootKey,
    key: &KeyId,
    id: &VersionId,
    material: Parsed,
) -> Result<(Vec<u8>, Material), KmsError> {
    let sealed = root
        .seal_material(&material, &wrap_context(key, id))
        .map_err(|_| KmsError::internal("Key material could not be wrapped."))?;
    let ready = match material.as_aes() {
        Some(aes) => Material::Aes256Gcm(
            PreparedKey::new(aes)
                .map_err(|_| KmsError::internal("Key material could not be prepared."))?,
        ),
        None => Material::Parsed(Arc::new(material)),
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

/// Material made by [`Pools::generate`] sealed for `key` under a new version
/// id: the id, the sealed bytes to store, and the in-memory form.
pub(crate) fn seal_new(
    root: &RootKey,
    key: &KeyId,
    material: Parsed,
) -> Result<(VersionId, Vec<u8>, Material), KmsError> {
    let id = VersionId(
        crypto::new_backing_key_id().map_err(|_| KmsError::internal("Key generation failed."))?,
    );
    let sealed = root
        .seal_material(&material, &wrap_context(key, &id))
        .map_err(|_| KmsError::internal("Key material could not be wrapped."))?;
    Ok((id, sealed, Material::Parsed(Arc::new(material))))
}

/// Bounded pools for cryptography too slow for an async worker (tokio's rule of thumb: more than
/// about 100 µs): generating RSA key pairs (RSA_4096 takes up to seconds) and private-key
/// operations of a millisecond or more (RSA, ML-DSA signing). They run on tokio's blocking
/// threads, at most as many at a time per pool as the machine has cores, so a burst of requests
/// waits its turn instead of starting threads without end. Quick work runs in place.
pub(crate) struct Pools {
    generation: Arc<Semaphore>,
    private_ops: Arc<Semaphore>,
}

impl Default for Pools {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Pools {
            generation: Arc::new(Semaphore::new(cores)),
            private_ops: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl Pools {
    /// Runs `work`, which generates material of `kind`: on the generation pool for RSA, in
    /// place for the rest (ECC, Ed25519, ML-DSA, ML-KEM and HMAC keys take microseconds).
    pub async fn generating<T: Send + 'static>(
        &self,
        kind: MaterialKind,
        work: impl FnOnce() -> Result<T, KeyOpError> + Send + 'static,
    ) -> Result<T, KmsError> {
        let out = if matches!(kind, MaterialKind::Rsa(_)) {
            run_blocking(&self.generation, work).await?
        } else {
            work()
        };
        out.map_err(KmsError::from)
    }

    /// Fresh material of `kind` (not AES: see [`generate_aes`]).
    pub async fn generate(&self, kind: MaterialKind) -> Result<Parsed, KmsError> {
        self.generating(kind, move || Parsed::generate(kind)).await
    }

    /// Runs `op` with the private key of `material`: on the private-operation pool when that is
    /// slow (RSA, ML-DSA), in place otherwise.
    pub async fn with_private<T: Send + 'static>(
        &self,
        material: &Arc<Parsed>,
        op: impl FnOnce(&Parsed) -> Result<T, KeyOpError> + Send + 'static,
    ) -> Result<T, KmsError> {
        let out = if is_slow_private_op(material.kind()) {
            let m = Arc::clone(material);
            run_blocking(&self.private_ops, move || op(&m)).await?
        } else {
            op(material)
        };
        out.map_err(KmsError::from)
    }
}

async fn run_blocking<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KmsError> {
    let lost = || KmsError::internal("A cryptographic task was lost.");
    // The permit travels with the task: a client that gives up does not free it early.
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(|_| lost())?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .map_err(|_| lost())
}

/// Whether a private-key operation with material of `kind` is slow enough (a millisecond or
/// more) to leave the async workers.
fn is_slow_private_op(kind: MaterialKind) -> bool {
    matches!(kind, MaterialKind::Rsa(_) | MaterialKind::MlDsa(_))
}
