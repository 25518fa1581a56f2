//! The root key: the root of trust that wraps backing keys for storage.
//!
//! # Wrapped key layout
//!
//! | bytes | field                                          |
//! |-------|------------------------------------------------|
//! | 1     | wrap format version, `0x01`                    |
//! | 12    | random AES-GCM nonce                           |
//! | 32    | encrypted backing key material                 |
//! | 16    | AES-GCM authentication tag                     |
//!
//! 61 bytes in total. The AAD is the version byte followed by the caller's
//! context (for example key id and backing key id), so a wrapped key only
//! unwraps under the exact context it was wrapped with.
//!
//! # Root key file
//!
//! One line: `strongroom-root-key-v1:` followed by the 32 key bytes as 64
//! hex digits and a newline. Surrounding whitespace is ignored when reading;
//! hex digits may be in either case.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::asymmetric::{Material, MaterialKind};
use crate::key::random_array;
use crate::reader::Reader;
use crate::{CryptoError, KeyMaterial, BACKING_KEY_LEN};

/// Version byte at the start of every wrapped key.
const WRAP_VERSION: u8 = 0x01;
const TAG_LEN: usize = 16;

/// Length in bytes of [`RootKey::wrap`]'s output.
pub const WRAPPED_KEY_LEN: usize = 1 + NONCE_LEN + BACKING_KEY_LEN + TAG_LEN;

/// Prefix of the root key file's single line (includes the format version).
pub const ROOT_KEY_FILE_PREFIX: &str = "strongroom-root-key-v1:";
const ROOT_KEY_FILE_FAMILY: &str = "strongroom-root-key-";

/// The root of trust: an AES-256 key that wraps backing keys for storage.
/// Wiped on drop; `Debug` never shows it.
pub struct RootKey(KeyMaterial);

impl RootKey {
    /// A fresh random root key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(KeyMaterial::generate()?))
    }

    /// A root key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        KeyMaterial::from_bytes(bytes).map(Self).map_err(|_| {
            CryptoError::InvalidRootKey(format!(
                "expected {BACKING_KEY_LEN} bytes, got {}",
                bytes.len()
            ))
        })
    }

    /// The root key file contents: [`ROOT_KEY_FILE_PREFIX`], 64 lowercase
    /// hex digits, newline. Held in wiped storage.
    pub fn to_file_contents(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(
            ROOT_KEY_FILE_PREFIX.len() + 2 * BACKING_KEY_LEN + 1,
        ));
        s.push_str(ROOT_KEY_FILE_PREFIX);
        crate::hex::encode_into(self.0.expose(), &mut s);
        s.push('\n');
        s
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

    fn aead(&self) -> Result<LessSafeKey, CryptoError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, self.0.expose()).map_err(|_| CryptoError::Internal)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Encrypts backing key material for storage with a fresh random nonce,
    /// binding `context` (e.g. key id and backing key id) as associated
    /// data. Output layout: see the module documentation.
    pub fn wrap(&self, material: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let aad = wrap_aad(context);
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.resize(WRAPPED_KEY_LEN, 0);
        let body = out.get_mut(1 + NONCE_LEN..).ok_or(CryptoError::Internal)?;
        let (ct, tag) = body
            .split_at_mut_checked(BACKING_KEY_LEN)
            .ok_or(CryptoError::Internal)?;
        self.aead()?
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                material.expose(),
                ct,
                &[],
                tag,
            )
            .map_err(|_| CryptoError::Internal)?;
        Ok(out)
    }

    /// Reverses [`RootKey::wrap`]. Any mismatch (root key, context, length,
    /// version, tampering) is [`CryptoError::Unwrap`].
    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError> {
        let mut r = Reader::new(wrapped);
        let version = r.u8().ok_or(CryptoError::Unwrap)?;
        let nonce = r.array::<NONCE_LEN>().ok_or(CryptoError::Unwrap)?;
        let ct = r.take(BACKING_KEY_LEN).ok_or(CryptoError::Unwrap)?;
        let tag = r.take(TAG_LEN).ok_or(CryptoError::Unwrap)?;
        r.finish().ok_or(CryptoError::Unwrap)?;
        if version != WRAP_VERSION {
            return Err(CryptoError::Unwrap);
        }
        let aad = wrap_aad(context);
        let mut plain = Zeroizing::new([0u8; BACKING_KEY_LEN]);
        self.aead()?
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                ct,
                tag,
                plain.as_mut_slice(),
            )
            .map_err(|_| CryptoError::Unwrap)?;
        KeyMaterial::from_bytes(plain.as_slice())
    }
}

/// Version byte of a sealed secret (variable length, unlike a wrapped key).
const SECRET_VERSION: u8 = 2;

impl RootKey {
    /// Encrypts a secret of any length (a proxy credential, say) for storage: `0x02 || nonce ||
    /// ciphertext || tag`, with `context` bound as associated data.
    pub fn seal_secret(&self, secret: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let mut aad = Vec::with_capacity(1 + context.len());
        aad.push(SECRET_VERSION);
        aad.extend_from_slice(context);
        let mut body = secret.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                &mut body,
            )
            .map_err(|_| CryptoError::Internal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(SECRET_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reverses [`RootKey::seal_secret`]; any mismatch is [`CryptoError::Unwrap`].
    pub fn open_secret(
        &self,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut r = Reader::new(sealed);
        let version = r.u8().ok_or(CryptoError::Unwrap)?;
        let nonce = r.array::<NONCE_LEN>().ok_or(CryptoError::Unwrap)?;
        if version != SECRET_VERSION {
            return Err(CryptoError::Unwrap);
        }
        let mut body = Zeroizing::new(r.rest().to_vec());
        let mut aad = Vec::with_capacity(1 + context.len());
        aad.push(SECRET_VERSION);
        aad.extend_from_slice(context);
        let len = self
            .aead()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                body.as_mut_slice(),
            )
            .map_err(|_| CryptoError::Unwrap)?
            .len();
        body.truncate(len);
        Ok(body)
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
    /// version-1 layout), so rows written before other kinds existed still
    /// open. Other kinds are sealed as [`RootKey::seal_secret`] does
    /// (`0x02 || nonce || ciphertext || tag`), with the kind in the AAD.
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

fn wrap_aad(context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + context.len());
    aad.push(WRAP_VERSION);
    aad.extend_from_slice(context);
    aad
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
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
        assert_eq!(wrapped.first(), Some(&WRAP_VERSION));
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
        let text = root.to_file_contents();
        assert_eq!(
            text.as_str(),
            format!("strongroom-root-key-v1:{}\n", "ab".repeat(32))
        );
        let back = RootKey::from_file_contents(&text).unwrap();
        assert_eq!(back.0, root.0);
        // Tolerated variations.
        let upper = format!("strongroom-root-key-v1:{}", "AB".repeat(32));
        assert_eq!(RootKey::from_file_contents(&upper).unwrap().0, root.0);
        let crlf = format!("  {}\r\n\n", text.trim_end());
        assert_eq!(RootKey::from_file_contents(&crlf).unwrap().0, root.0);
        // Random keys too.
        let r = RootKey::generate().unwrap();
        assert_eq!(
            RootKey::from_file_contents(&r.to_file_contents())
                .unwrap()
                .0,
            r.0
        );
    }

    #[test]
    fn garbage_file_contents() {
        let good = RootKey::generate().unwrap().to_file_contents();
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

    #[test]
    fn debug_is_redacted() {
        let root = RootKey::from_bytes(&[0x5a; 32]).unwrap();
        let shown = format!("{root:?}");
        assert_eq!(shown, "RootKey(<redacted>)");
    }
}
