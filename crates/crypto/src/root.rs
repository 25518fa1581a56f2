//! The root key: the root of trust that wraps backing keys for storage.
//!
//! A root key is either held in this process's memory (read from a root key file or variable)
//! or held in a hardware token that never lets it out, where AES-256-GCM runs
//! ([`ExternalRootCipher`], implemented outside this crate over PKCS#11). Both seal the same way;
//! the first byte of what they seal says which kind of root sealed it ([`sealed_by`]), so a
//! deployment moving from one kind to the other can read both while it moves.
//!
//! # Wrapped key layout
//!
//! | bytes | field                                                         |
//! |-------|---------------------------------------------------------------|
//! | 1     | format version: `0x01` (root in memory), `0x03` (root in HSM) |
//! | 12    | random AES-GCM nonce                                          |
//! | 32    | encrypted backing key material                                |
//! | 16    | AES-GCM authentication tag                                    |
//!
//! 61 bytes in total. The AAD is the version byte followed by the caller's
//! context (for example key id and backing key id), so a wrapped key only
//! unwraps under the exact context it was wrapped with.
//!
//! Sealed secrets (any length) are `version || nonce || ciphertext || tag` with version `0x02`
//! (root in memory) or `0x04` (root in HSM), the AAD again the version byte and the context.
//!
//! # Root key file
//!
//! One line: `strongroom-root-key-v1:` followed by the 32 key bytes as 64
//! hex digits and a newline. Surrounding whitespace is ignored when reading;
//! hex digits may be in either case.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::asymmetric::{Material, MaterialKind};
use crate::key::random_array;
use crate::reader::Reader;
use crate::{CryptoError, KeyMaterial, BACKING_KEY_LEN};

/// Length of the AES-GCM tag of everything a root key seals.
pub const ROOT_TAG_LEN: usize = 16;
/// Length of the AES-GCM nonce of everything a root key seals.
pub const ROOT_NONCE_LEN: usize = NONCE_LEN;

/// Length in bytes of [`RootKey::wrap`]'s output.
pub const WRAPPED_KEY_LEN: usize = 1 + NONCE_LEN + BACKING_KEY_LEN + ROOT_TAG_LEN;

/// Prefix of the root key file's single line (includes the format version).
pub const ROOT_KEY_FILE_PREFIX: &str = "strongroom-root-key-v1:";
const ROOT_KEY_FILE_FAMILY: &str = "strongroom-root-key-";

/// Where a root key is held, as the first byte of what it sealed tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootKind {
    /// In this process's memory (a root key file or environment variable).
    Software,
    /// In a hardware token that never lets it out (PKCS#11).
    Hsm,
}

impl RootKind {
    /// How operators name it: `file` or `pkcs11`.
    pub fn name(self) -> &'static str {
        match self {
            RootKind::Software => "file",
            RootKind::Hsm => "pkcs11",
        }
    }
}

impl fmt::Display for RootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The two shapes a root key seals: a 32-byte backing key, or a secret of any length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Wrapped,
    Secret,
}

/// The version byte of what a root of `kind` seals in `shape`.
fn version_byte(kind: RootKind, shape: Shape) -> u8 {
    match (kind, shape) {
        (RootKind::Software, Shape::Wrapped) => 0x01,
        (RootKind::Software, Shape::Secret) => 0x02,
        (RootKind::Hsm, Shape::Wrapped) => 0x03,
        (RootKind::Hsm, Shape::Secret) => 0x04,
    }
}

fn parse_version(byte: u8) -> Option<(RootKind, Shape)> {
    match byte {
        0x01 => Some((RootKind::Software, Shape::Wrapped)),
        0x02 => Some((RootKind::Software, Shape::Secret)),
        0x03 => Some((RootKind::Hsm, Shape::Wrapped)),
        0x04 => Some((RootKind::Hsm, Shape::Secret)),
        _ => None,
    }
}

/// Which kind of root key sealed `sealed` (anything [`RootKey::wrap`], [`RootKey::seal_secret`]
/// or [`RootKey::seal_material`] returned), by its first byte; `None` when it is in no format of
/// ours.
pub fn sealed_by(sealed: &[u8]) -> Option<RootKind> {
    sealed
        .first()
        .and_then(|b| parse_version(*b))
        .map(|(k, _)| k)
}

/// What an [`ExternalRootCipher`] returns from sealing.
pub struct ExternalSealed {
    /// The nonce it used (fresh for every call).
    pub nonce: [u8; ROOT_NONCE_LEN],
    /// The ciphertext, as long as the plaintext.
    pub ciphertext: Vec<u8>,
    /// The GCM tag.
    pub tag: [u8; ROOT_TAG_LEN],
}

/// AES-256-GCM under a root key held outside this process (an HSM), which never leaves it.
///
/// Calls may block (a hardware token, a network HSM): the implementation is responsible for not
/// blocking an async runtime's workers. Errors: a ciphertext that does not authenticate is
/// [`CryptoError::Unwrap`]; a token that cannot be reached is
/// [`CryptoError::RootKeyUnavailable`].
pub trait ExternalRootCipher: Send + Sync {
    /// Encrypts `plaintext` with a fresh random 96-bit nonce, `aad` as associated data.
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<ExternalSealed, CryptoError>;
    /// Decrypts and authenticates.
    fn open(
        &self,
        nonce: &[u8; ROOT_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; ROOT_TAG_LEN],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
    /// Names the key for messages (module, token and key labels); never a secret.
    fn describe(&self) -> String;
}

/// Where a root key's AES-256-GCM runs.
enum Cipher {
    Software(KeyMaterial),
    Hsm(Arc<dyn ExternalRootCipher>),
}

impl Cipher {
    fn kind(&self) -> RootKind {
        match self {
            Cipher::Software(_) => RootKind::Software,
            Cipher::Hsm(_) => RootKind::Hsm,
        }
    }

    /// Seals `plaintext` as `version || nonce || ciphertext || tag`, the AAD being the version
    /// byte and `context`.
    fn seal(&self, shape: Shape, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let version = version_byte(self.kind(), shape);
        let aad = aad(version, context);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + ROOT_TAG_LEN);
        out.push(version);
        match self {
            Cipher::Software(key) => {
                let nonce: [u8; NONCE_LEN] = random_array()?;
                out.extend_from_slice(&nonce);
                let start = out.len();
                out.extend_from_slice(plaintext);
                let body = out.get_mut(start..).ok_or(CryptoError::Internal)?;
                let tag = software_aead(key)?
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        body,
                    )
                    .map_err(|_| CryptoError::Internal)?;
                out.extend_from_slice(tag.as_ref());
            }
            Cipher::Hsm(hsm) => {
                let sealed = hsm.seal(&aad, plaintext)?;
                if sealed.ciphertext.len() != plaintext.len() {
                    return Err(CryptoError::Internal);
                }
                out.extend_from_slice(&sealed.nonce);
                out.extend_from_slice(&sealed.ciphertext);
                out.extend_from_slice(&sealed.tag);
            }
        }
        Ok(out)
    }

    /// Reverses [`Cipher::seal`] for a record whose version byte is `version` (already
    /// checked to be this cipher's kind); `body` is what follows the version byte.
    fn open(
        &self,
        version: u8,
        body: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut r = Reader::new(body);
        let nonce = r.array::<NONCE_LEN>().ok_or(CryptoError::Unwrap)?;
        let rest = r.rest();
        let ct_len = rest
            .len()
            .checked_sub(ROOT_TAG_LEN)
            .ok_or(CryptoError::Unwrap)?;
        let (ct, tag) = rest.split_at_checked(ct_len).ok_or(CryptoError::Unwrap)?;
        let tag: &[u8; ROOT_TAG_LEN] = tag.try_into().map_err(|_| CryptoError::Unwrap)?;
        let aad = aad(version, context);
        match self {
            Cipher::Software(key) => {
                let mut plain = Zeroizing::new(vec![0u8; ct.len()]);
                software_aead(key)?
                    .open_separate_gather(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        ct,
                        tag,
                        plain.as_mut_slice(),
                    )
                    .map_err(|_| CryptoError::Unwrap)?;
                Ok(plain)
            }
            Cipher::Hsm(hsm) => hsm.open(&nonce, &aad, ct, tag),
        }
    }
}

fn software_aead(key: &KeyMaterial) -> Result<LessSafeKey, CryptoError> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| CryptoError::Internal)?;
    Ok(LessSafeKey::new(unbound))
}

fn aad(version: u8, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + context.len());
    aad.push(version);
    aad.extend_from_slice(context);
    aad
}

/// The root of trust: an AES-256 key that wraps backing keys for storage, held in memory
/// (wiped on drop) or in an HSM. `Debug` never shows key material.
///
/// During a move from one root key to another, it also holds the *previous* root key: what
/// it seals, it seals under the current one; what it opens may have been sealed by either
/// (the record's first byte says which kind of root sealed it; two roots of one kind are
/// tried in turn, the current one first).
pub struct RootKey {
    cipher: Cipher,
    previous: Option<Box<RootKey>>,
}

/// What [`RootKey::reseal_material`] and [`RootKey::reseal_secret`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resealed {
    /// Sealed by the current root key already: nothing to do.
    Current,
    /// Sealed by the previous root key: here it is sealed by the current one.
    Moved(Vec<u8>),
}

impl RootKey {
    /// A fresh random root key, held in memory.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::software(KeyMaterial::generate()?))
    }

    fn software(key: KeyMaterial) -> Self {
        RootKey {
            cipher: Cipher::Software(key),
            previous: None,
        }
    }

    /// A root key held in memory, from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        KeyMaterial::from_bytes(bytes)
            .map(Self::software)
            .map_err(|_| {
                CryptoError::InvalidRootKey(format!(
                    "expected {BACKING_KEY_LEN} bytes, got {}",
                    bytes.len()
                ))
            })
    }

    /// A root key held in an HSM, used through `cipher`.
    pub fn external(cipher: Arc<dyn ExternalRootCipher>) -> Self {
        RootKey {
            cipher: Cipher::Hsm(cipher),
            previous: None,
        }
    }

    /// This root key, able to open what `previous` sealed too (while a deployment moves from
    /// `previous` to this one). Only one previous root key is kept: `previous`'s own previous
    /// key is dropped.
    pub fn with_previous(mut self, mut previous: RootKey) -> Self {
        previous.previous = None;
        self.previous = Some(Box::new(previous));
        self
    }

    /// Where this root key is held.
    pub fn kind(&self) -> RootKind {
        self.cipher.kind()
    }

    /// The previous root key, when this one has one (see [`RootKey::with_previous`]).
    pub fn previous(&self) -> Option<&RootKey> {
        self.previous.as_deref()
    }

    /// Names this root key for messages: `a root key file` or the HSM key; never a secret.
    pub fn describe(&self) -> String {
        match &self.cipher {
            Cipher::Software(_) => "the root key in memory (file or variable)".to_string(),
            Cipher::Hsm(hsm) => hsm.describe(),
        }
    }

    /// The root key file contents: [`ROOT_KEY_FILE_PREFIX`], 64 lowercase
    /// hex digits, newline. Held in wiped storage. `None` for a root key in an HSM, which
    /// never leaves it.
    pub fn to_file_contents(&self) -> Option<Zeroizing<String>> {
        let Cipher::Software(key) = &self.cipher else {
            return None;
        };
        let mut s = Zeroizing::new(String::with_capacity(
            ROOT_KEY_FILE_PREFIX.len() + 2 * BACKING_KEY_LEN + 1,
        ));
        s.push_str(ROOT_KEY_FILE_PREFIX);
        crate::hex::encode_into(key.expose(), &mut s);
        s.push('\n');
        Some(s)
    }

    /// Parses root key file contents. Never panics; anything malformed is
    /// [`CryptoError::InvalidRootKey`] with a message that does not quote
    /// the input.
    pub fn from_file_contents(contents: &str) -> Result<Self, CryptoError> {
        let bad = |why: &str| CryptoError::InvalidRootKey(why.to_owned());
        let line = contents.trim_ascii();
        let Some(digits) = line.strip_prefix(ROOT_KEY_FILE_PREFIX) else {
            return Err(if line.starts_with(ROOT_KEY_FILE_FAMILY) {
                bad("unsupported root key file version")
            } else {
                bad("not a strongroom root key file (missing 'strongroom-root-key-v1:' prefix)")
            });
        };
        if digits.len() != 2 * BACKING_KEY_LEN {
            return Err(CryptoError::InvalidRootKey(format!(
                "expected {} hex digits after the prefix, found {} bytes",
                2 * BACKING_KEY_LEN,
                digits.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; BACKING_KEY_LEN]);
        crate::hex::decode_into(digits.as_bytes(), bytes.as_mut_slice())
            .map_err(|()| bad("key contains a character that is not a hex digit"))?;
        Self::from_bytes(bytes.as_slice())
    }

    /// This key, then the previous one.
    fn roots(&self) -> impl Iterator<Item = &RootKey> {
        std::iter::once(self).chain(self.previous.as_deref())
    }

    /// Opens a record of `shape` with this root key alone (not the previous one).
    fn open_here(
        &self,
        shape: Shape,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (&version, body) = sealed.split_first().ok_or(CryptoError::Unwrap)?;
        let (kind, found) = parse_version(version).ok_or(CryptoError::Unwrap)?;
        if found != shape || kind != self.kind() {
            return Err(CryptoError::Unwrap);
        }
        if shape == Shape::Wrapped && body.len() != WRAPPED_KEY_LEN - 1 {
            return Err(CryptoError::Unwrap);
        }
        self.cipher.open(version, body, context)
    }

    /// Opens a record of `shape` with whichever root key of the record's kind opens it. A
    /// root that could not be reached is reported as such rather than as damage.
    fn open_any(
        &self,
        shape: Shape,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let kind = sealed_by(sealed).ok_or(CryptoError::Unwrap)?;
        let mut failure = CryptoError::Unwrap;
        for root in self.roots().filter(|r| r.kind() == kind) {
            match root.open_here(shape, sealed, context) {
                Ok(plain) => return Ok(plain),
                Err(e @ CryptoError::RootKeyUnavailable(_)) => failure = e,
                Err(_) => {}
            }
        }
        Err(failure)
    }

    /// Encrypts backing key material for storage with a fresh random nonce,
    /// binding `context` (e.g. key id and backing key id) as associated
    /// data. Output layout: see the module documentation.
    pub fn wrap(&self, material: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.cipher.seal(Shape::Wrapped, material.expose(), context)
    }

    /// Reverses [`RootKey::wrap`] (of this root key or of the previous one). Any mismatch
    /// (root key, context, length, version, tampering) is [`CryptoError::Unwrap`]; an HSM that
    /// cannot be reached is [`CryptoError::RootKeyUnavailable`].
    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError> {
        let plain = self.open_any(Shape::Wrapped, wrapped, context)?;
        KeyMaterial::from_bytes(&plain).map_err(|_| CryptoError::Unwrap)
    }

    /// Encrypts a secret of any length (a proxy credential, say) for storage: `version ||
    /// nonce || ciphertext || tag`, with `context` bound as associated data.
    pub fn seal_secret(&self, secret: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.cipher.seal(Shape::Secret, secret, context)
    }

    /// Reverses [`RootKey::seal_secret`] (of this root key or of the previous one); any
    /// mismatch is [`CryptoError::Unwrap`].
    pub fn open_secret(
        &self,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.open_any(Shape::Secret, sealed, context)
    }

    /// Moves a record of `shape` from the previous root key to this one: [`Resealed::Current`]
    /// when this root key opens it already.
    fn reseal(&self, shape: Shape, sealed: &[u8], context: &[u8]) -> Result<Resealed, CryptoError> {
        let previous = self.previous.as_deref().ok_or_else(|| {
            CryptoError::InvalidRootKey("there is no previous root key to move from".to_string())
        })?;
        match self.open_here(shape, sealed, context) {
            Ok(_) => return Ok(Resealed::Current),
            Err(e @ CryptoError::RootKeyUnavailable(_)) => return Err(e),
            Err(_) => {}
        }
        let plain = previous.open_here(shape, sealed, context)?;
        Ok(Resealed::Moved(self.cipher.seal(shape, &plain, context)?))
    }

    /// Moves a sealed secret from the previous root key to this one (see [`Resealed`]).
    /// [`CryptoError::Unwrap`] when neither opens it.
    pub fn reseal_secret(&self, sealed: &[u8], context: &[u8]) -> Result<Resealed, CryptoError> {
        self.reseal(Shape::Secret, sealed, context)
    }

    /// Moves key material of `kind` sealed by [`RootKey::seal_material`] from the previous
    /// root key to this one (see [`Resealed`]). [`CryptoError::Unwrap`] when neither opens it.
    pub fn reseal_material(
        &self,
        kind: MaterialKind,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Resealed, CryptoError> {
        if kind == MaterialKind::Aes256Gcm {
            self.reseal(Shape::Wrapped, sealed, context)
        } else {
            self.reseal(Shape::Secret, sealed, &material_context(kind, context))
        }
    }
}

/// Domain separation for sealed key material of kinds other than AES, so it
/// can never be opened as a proxy secret or as another kind.
const MATERIAL_CONTEXT_PREFIX: &[u8] = b"strongroom-key-material\0";

fn material_context(kind: MaterialKind, context: &[u8]) -> Vec<u8> {
    let label = crate::asymmetric::kind_label(kind);
    let mut out =
        Vec::with_capacity(MATERIAL_CONTEXT_PREFIX.len() + label.len() + 1 + context.len());
    out.extend_from_slice(MATERIAL_CONTEXT_PREFIX);
    out.extend_from_slice(label.as_bytes());
    out.push(0);
    out.extend_from_slice(context);
    out
}

impl RootKey {
    /// Encrypts key material of any kind for storage, binding `context` (key
    /// id, version id, ...) and the material's kind as associated data.
    ///
    /// AES material is wrapped exactly as [`RootKey::wrap`] does (the 61-byte
    /// layout), so rows written before other kinds existed still
    /// open. Other kinds are sealed as [`RootKey::seal_secret`] does
    /// (`version || nonce || ciphertext || tag`), with the kind in the AAD.
    pub fn seal_material(
        &self,
        material: &Material,
        context: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        match material.as_aes() {
            Some(aes) => self.wrap(aes, context),
            None => self.seal_secret(
                material.expose_storage(),
                &material_context(material.kind(), context),
            ),
        }
    }

    /// Reverses [`RootKey::seal_material`] for material of `kind`. Any
    /// mismatch (root key, kind, context, tampering, damaged material) is
    /// [`CryptoError::Unwrap`].
    pub fn open_material(
        &self,
        kind: MaterialKind,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Material, CryptoError> {
        let stored = if kind == MaterialKind::Aes256Gcm {
            let aes = self.unwrap(sealed, context)?;
            Zeroizing::new(aes.expose().to_vec())
        } else {
            self.open_secret(sealed, &material_context(kind, context))?
        };
        Material::load(kind, stored).map_err(|_| CryptoError::Unwrap)
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.cipher, &self.previous) {
            (Cipher::Software(_), None) => f.write_str("RootKey(<redacted>)"),
            _ => f
                .debug_struct("RootKey")
                .field("kind", &self.kind())
                .field("key", &self.describe())
                .field("previous", &self.previous)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_bind_their_context() {
        let root = RootKey::generate().expect("root");
        let sealed = root
            .seal_secret(b"a proxy secret of some length", b"cks-1")
            .expect("seal");
        assert_eq!(
            root.open_secret(&sealed, b"cks-1")
                .expect("open")
                .as_slice(),
            b"a proxy secret of some length"
        );
        assert!(root.open_secret(&sealed, b"cks-2").is_err());
        for cut in 0..sealed.len() {
            assert!(root.open_secret(&sealed[..cut], b"cks-1").is_err());
        }
        let other = RootKey::generate().expect("root");
        assert!(other.open_secret(&sealed, b"cks-1").is_err());
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let root = RootKey::generate().unwrap();
        let material = KeyMaterial::generate().unwrap();
        let wrapped = root.wrap(&material, b"key-1/backing-1").unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert_eq!(wrapped.first(), Some(&0x01));
        assert!(!wrapped.windows(32).any(|w| w == material.expose()));
        assert_eq!(root.unwrap(&wrapped, b"key-1/backing-1").unwrap(), material);
        // Fresh nonce each time.
        assert_ne!(root.wrap(&material, b"key-1/backing-1").unwrap(), wrapped);
        // Empty context works too.
        let w2 = root.wrap(&material, b"").unwrap();
        assert_eq!(root.unwrap(&w2, b"").unwrap(), material);
        assert_eq!(root.unwrap(&w2, b"x"), Err(CryptoError::Unwrap));
    }

    #[test]
    fn unwrap_rejects_wrong_context_key_and_tampering() {
        let root = RootKey::generate().unwrap();
        let material = KeyMaterial::generate().unwrap();
        let wrapped = root.wrap(&material, b"key-1").unwrap();
        assert_eq!(root.unwrap(&wrapped, b"key-2"), Err(CryptoError::Unwrap));
        assert_eq!(root.unwrap(&wrapped, b"key-1\0"), Err(CryptoError::Unwrap));
        let other = RootKey::generate().unwrap();
        assert_eq!(other.unwrap(&wrapped, b"key-1"), Err(CryptoError::Unwrap));
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            if let Some(b) = bad.get_mut(i) {
                *b ^= 0x01;
            }
            assert_eq!(
                root.unwrap(&bad, b"key-1"),
                Err(CryptoError::Unwrap),
                "byte {i}"
            );
        }
        for len in 0..wrapped.len() {
            assert_eq!(
                root.unwrap(&wrapped[..len], b"key-1"),
                Err(CryptoError::Unwrap)
            );
        }
        let mut longer = wrapped.clone();
        longer.push(0);
        assert_eq!(root.unwrap(&longer, b"key-1"), Err(CryptoError::Unwrap));
    }

    #[test]
    fn from_bytes_length() {
        assert!(RootKey::from_bytes(&[1u8; 32]).is_ok());
        assert!(matches!(
            RootKey::from_bytes(&[1u8; 16]),
            Err(CryptoError::InvalidRootKey(_))
        ));
        assert!(matches!(
            RootKey::from_bytes(&[]),
            Err(CryptoError::InvalidRootKey(_))
        ));
    }

    #[test]
    fn file_contents_round_trip() {
        let root = RootKey::from_bytes(&[0xab; 32]).unwrap();
        let text = root.to_file_contents().unwrap();
        assert_eq!(
            text.as_str(),
            format!("strongroom-root-key-v1:{}\n", "ab".repeat(32))
        );
        let back = RootKey::from_file_contents(&text).unwrap();
        assert_eq!(back.to_file_contents(), root.to_file_contents());
        // Tolerated variations.
        let upper = format!("strongroom-root-key-v1:{}", "AB".repeat(32));
        assert_eq!(
            RootKey::from_file_contents(&upper)
                .unwrap()
                .to_file_contents(),
            root.to_file_contents()
        );
        let crlf = format!("  {}\r\n\n", text.trim_end());
        assert_eq!(
            RootKey::from_file_contents(&crlf)
                .unwrap()
                .to_file_contents(),
            root.to_file_contents()
        );
        // Random keys too.
        let r = RootKey::generate().unwrap();
        assert_eq!(
            RootKey::from_file_contents(&r.to_file_contents().unwrap())
                .unwrap()
                .to_file_contents(),
            r.to_file_contents()
        );
    }

    #[test]
    fn garbage_file_contents() {
        let good = RootKey::generate().unwrap().to_file_contents().unwrap();
        let hex = good
            .trim_end()
            .strip_prefix(ROOT_KEY_FILE_PREFIX)
            .unwrap()
            .to_owned();
        let cases: Vec<String> = vec![
            String::new(),
            "\n".into(),
            hex.clone(),
            format!("strongroom-root-key-v2:{hex}"),
            format!("strongroom-root-key-v1: {hex}"),
            format!("strongroom-root-key-v1:{hex}00"),
            format!("strongroom-root-key-v1:{}", &hex[..62]),
            format!("strongroom-root-key-v1:{}zz", &hex[..62]),
            format!("strongroom-root-key-v1:{}é", &hex[..62]),
            format!("strongroom-root-key-v1:{hex}\nstrongroom-root-key-v1:{hex}"),
            format!("STRONGROOM-ROOT-KEY-V1:{hex}"),
            "strongroom-root-key-v1:".into(),
            "\u{0}\u{ffff}garbage".into(),
        ];
        for case in &cases {
            match RootKey::from_file_contents(case) {
                Err(CryptoError::InvalidRootKey(msg)) => {
                    assert!(!msg.contains(&hex[..8]), "message leaks key: {msg}");
                }
                other => panic!("expected InvalidRootKey for {case:?}, got {other:?}"),
            }
        }
    }

    /// An HSM stand-in: AES-256-GCM in memory behind the external interface, or a token that
    /// cannot be reached.
    struct FakeHsm {
        key: Option<KeyMaterial>,
    }

    impl ExternalRootCipher for FakeHsm {
        fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<ExternalSealed, CryptoError> {
            let key = self
                .key
                .as_ref()
                .ok_or_else(|| CryptoError::RootKeyUnavailable("token gone".into()))?;
            let nonce: [u8; NONCE_LEN] = random_array()?;
            let mut ciphertext = plaintext.to_vec();
            let tag = software_aead(key)?
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut ciphertext,
                )
                .map_err(|_| CryptoError::Internal)?;
            Ok(ExternalSealed {
                nonce,
                ciphertext,
                tag: tag.as_ref().try_into().map_err(|_| CryptoError::Internal)?,
            })
        }

        fn open(
            &self,
            nonce: &[u8; ROOT_NONCE_LEN],
            aad: &[u8],
            ciphertext: &[u8],
            tag: &[u8; ROOT_TAG_LEN],
        ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
            let key = self
                .key
                .as_ref()
                .ok_or_else(|| CryptoError::RootKeyUnavailable("token gone".into()))?;
            let mut plain = Zeroizing::new(vec![0u8; ciphertext.len()]);
            software_aead(key)?
                .open_separate_gather(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    ciphertext,
                    tag,
                    plain.as_mut_slice(),
                )
                .map_err(|_| CryptoError::Unwrap)?;
            Ok(plain)
        }

        fn describe(&self) -> String {
            "fake HSM key".to_string()
        }
    }

    fn hsm_root() -> RootKey {
        RootKey::external(Arc::new(FakeHsm {
            key: Some(KeyMaterial::generate().unwrap()),
        }))
    }

    #[test]
    fn hsm_records_carry_their_own_version_bytes() {
        let hsm = hsm_root();
        assert_eq!(hsm.kind(), RootKind::Hsm);
        assert!(hsm.to_file_contents().is_none());
        let material = KeyMaterial::generate().unwrap();
        let wrapped = hsm.wrap(&material, b"k/v").unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert_eq!(wrapped.first(), Some(&0x03));
        assert_eq!(sealed_by(&wrapped), Some(RootKind::Hsm));
        assert_eq!(hsm.unwrap(&wrapped, b"k/v").unwrap(), material);
        assert_eq!(hsm.unwrap(&wrapped, b"k/w"), Err(CryptoError::Unwrap));
        let secret = hsm.seal_secret(b"proxy secret", b"cks").unwrap();
        assert_eq!(secret.first(), Some(&0x04));
        assert_eq!(
            hsm.open_secret(&secret, b"cks").unwrap().as_slice(),
            b"proxy secret"
        );
        // A wrapped key is not a secret, and the other way round.
        assert!(hsm.open_secret(&wrapped, b"k/v").is_err());
        assert!(hsm.unwrap(&secret, b"cks").is_err());
        // The version byte is authenticated: relabelling a record as the other kind fails.
        let software = RootKey::generate().unwrap();
        let both = hsm_root().with_previous(RootKey::generate().unwrap());
        let mut relabelled = wrapped.clone();
        relabelled[0] = 0x01;
        assert_eq!(both.unwrap(&relabelled, b"k/v"), Err(CryptoError::Unwrap));
        assert_eq!(software.unwrap(&wrapped, b"k/v"), Err(CryptoError::Unwrap));
        assert_eq!(sealed_by(&[0x05, 1, 2]), None);
        assert_eq!(sealed_by(&[]), None);
        for cut in 0..wrapped.len() {
            assert!(hsm.unwrap(&wrapped[..cut], b"k/v").is_err());
        }
    }

    #[test]
    fn a_root_with_its_previous_opens_both_and_seals_under_itself() {
        let file = RootKey::generate().unwrap();
        let file_text = file.to_file_contents().unwrap();
        let material = KeyMaterial::generate().unwrap();
        let old_wrapped = file.wrap(&material, b"ctx").unwrap();
        let old_secret = file.seal_secret(b"s3cret", b"cks").unwrap();

        let hsm = Arc::new(FakeHsm {
            key: Some(KeyMaterial::generate().unwrap()),
        });
        let moving = RootKey::external(hsm.clone()).with_previous(file);
        assert_eq!(
            moving.previous().map(RootKey::kind),
            Some(RootKind::Software)
        );
        assert_eq!(moving.unwrap(&old_wrapped, b"ctx").unwrap(), material);
        assert_eq!(
            moving.open_secret(&old_secret, b"cks").unwrap().as_slice(),
            b"s3cret"
        );
        let new_wrapped = moving.wrap(&material, b"ctx").unwrap();
        assert_eq!(sealed_by(&new_wrapped), Some(RootKind::Hsm));

        // Resealing: the old records move, the new ones stay.
        assert_eq!(
            moving.reseal_material(MaterialKind::Aes256Gcm, &new_wrapped, b"ctx"),
            Ok(Resealed::Current)
        );
        let Ok(Resealed::Moved(moved)) =
            moving.reseal_material(MaterialKind::Aes256Gcm, &old_wrapped, b"ctx")
        else {
            panic!("the old record should move");
        };
        let Ok(Resealed::Moved(moved_secret)) = moving.reseal_secret(&old_secret, b"cks") else {
            panic!("the old secret should move");
        };
        // What moved opens under the HSM root alone; the file root alone opens none of it.
        let hsm_only = RootKey::external(hsm);
        assert_eq!(hsm_only.unwrap(&moved, b"ctx").unwrap(), material);
        assert_eq!(
            hsm_only
                .open_secret(&moved_secret, b"cks")
                .unwrap()
                .as_slice(),
            b"s3cret"
        );
        assert!(hsm_only.unwrap(&old_wrapped, b"ctx").is_err());
        let file_again = RootKey::from_file_contents(&file_text).unwrap();
        assert!(file_again.unwrap(&moved, b"ctx").is_err());
        // A record neither opens (wrong context) is an error, not "current".
        assert_eq!(
            moving.reseal_material(MaterialKind::Aes256Gcm, &old_wrapped, b"other"),
            Err(CryptoError::Unwrap)
        );
        // Without a previous root there is nothing to move from.
        assert!(matches!(
            hsm_only.reseal_secret(&old_secret, b"cks"),
            Err(CryptoError::InvalidRootKey(_))
        ));

        // And back: from the HSM to a new file root.
        let back = RootKey::generate().unwrap().with_previous(hsm_only);
        let Ok(Resealed::Moved(home)) =
            back.reseal_material(MaterialKind::Aes256Gcm, &moved, b"ctx")
        else {
            panic!("should move back");
        };
        assert_eq!(sealed_by(&home), Some(RootKind::Software));
        assert_eq!(back.unwrap(&home, b"ctx").unwrap(), material);
    }

    #[test]
    fn two_roots_of_one_kind_are_tried_in_turn() {
        let old = RootKey::generate().unwrap();
        let material = KeyMaterial::generate().unwrap();
        let old_wrapped = old.wrap(&material, b"ctx").unwrap();
        let new = RootKey::generate().unwrap().with_previous(old);
        assert_eq!(new.unwrap(&old_wrapped, b"ctx").unwrap(), material);
        let Ok(Resealed::Moved(moved)) =
            new.reseal_material(MaterialKind::Aes256Gcm, &old_wrapped, b"ctx")
        else {
            panic!("should move");
        };
        assert_eq!(
            new.reseal_material(MaterialKind::Aes256Gcm, &moved, b"ctx"),
            Ok(Resealed::Current)
        );
    }

    #[test]
    fn an_unreachable_hsm_is_not_reported_as_damage() {
        let good = hsm_root();
        let material = KeyMaterial::generate().unwrap();
        let wrapped = good.wrap(&material, b"ctx").unwrap();
        let gone = RootKey::external(Arc::new(FakeHsm { key: None }));
        assert!(matches!(
            gone.unwrap(&wrapped, b"ctx"),
            Err(CryptoError::RootKeyUnavailable(_))
        ));
        assert!(matches!(
            gone.wrap(&material, b"ctx"),
            Err(CryptoError::RootKeyUnavailable(_))
        ));
        let moving = RootKey::generate()
            .unwrap()
            .with_previous(RootKey::external(Arc::new(FakeHsm { key: None })));
        assert!(matches!(
            moving.reseal_material(MaterialKind::Aes256Gcm, &wrapped, b"ctx"),
            Err(CryptoError::RootKeyUnavailable(_))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let root = RootKey::from_bytes(&[0x5a; 32]).unwrap();
        let shown = format!("{root:?}");
        assert_eq!(shown, "RootKey(<redacted>)");
        let moving = hsm_root().with_previous(root);
        let shown = format!("{moving:?}");
        assert!(
            shown.contains("fake HSM key") && !shown.contains("5a5a"),
            "{shown}"
        );
    }
}
