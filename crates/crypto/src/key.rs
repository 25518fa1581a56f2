//! Key material, prepared AEAD keys, randomness and backing key ids.

use std::fmt;

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::CryptoError;

/// Length in bytes of backing key material (AES-256).
pub const BACKING_KEY_LEN: usize = 32;

/// Length in bytes of a backing key id (64 hex digits in text form).
pub const BACKING_KEY_ID_LEN: usize = 32;

/// 256-bit secret key material.
///
/// The bytes are wiped when the value is dropped. `Debug` never shows them.
/// Equality is checked in constant time.
#[derive(Clone)]
pub struct KeyMaterial(Zeroizing<[u8; BACKING_KEY_LEN]>);

impl KeyMaterial {
    /// Fresh key material from the system's secure random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; BACKING_KEY_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut_slice()).map_err(|_| CryptoError::Rng)?;
        Ok(Self(bytes))
    }

    /// Key material from exactly [`BACKING_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != BACKING_KEY_LEN {
            return Err(CryptoError::InvalidKeyLength {
                expected: BACKING_KEY_LEN,
                actual: bytes.len(),
            });
        }
        let mut out = Zeroizing::new([0u8; BACKING_KEY_LEN]);
        out.copy_from_slice(bytes);
        Ok(Self(out))
    }

    /// The raw secret bytes. Keep the borrow short and do not copy them into
    /// storage that is not wiped.
    pub fn expose(&self) -> &[u8; BACKING_KEY_LEN] {
        &self.0
    }

    /// Builds the AES-256-GCM key schedule for this material, for repeated
    /// use (see [`PreparedKey`]).
    pub fn prepare(&self) -> Result<PreparedKey, CryptoError> {
        PreparedKey::new(self)
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackingKeyMaterial(<redacted>)")
    }
}

impl ConstantTimeEq for KeyMaterial {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

impl PartialEq for KeyMaterial {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for KeyMaterial {}

/// An AES-256-GCM key built once from [`KeyMaterial`] and reusable for any
/// number of encryptions and decryptions, from any thread.
///
/// Cache one per backing key on hot paths instead of passing
/// [`KeyMaterial`] to every call. `Debug` never shows the key.
pub struct PreparedKey {
    key: LessSafeKey,
}

impl PreparedKey {
    /// Builds the key schedule for `material`.
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, material.expose()).map_err(|_| CryptoError::Internal)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.key
    }
}

impl fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreparedKey(<redacted>)")
    }
}

/// `n` bytes from the system's secure random generator, in storage that is
/// wiped on drop (suitable for data keys and GenerateRandom).
pub fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(out.as_mut_slice()).map_err(|_| CryptoError::Rng)?;
    Ok(out)
}

/// Fills a fixed-size array with secure random bytes.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Rng)?;
    Ok(out)
}

/// A fresh, random backing key id (32 bytes). Ids are public; they name
/// which backing key a ciphertext was made with.
pub fn new_backing_key_id() -> Result<[u8; BACKING_KEY_ID_LEN], CryptoError> {
    random_array()
}

/// The text form of a backing key id: 64 lowercase hex digits.
pub fn backing_key_id_hex(id: &[u8; BACKING_KEY_ID_LEN]) -> String {
    crate::hex::encode(id)
}

/// Parses the text form of a backing key id. Exactly 64 lowercase hex
/// digits are accepted, so each id has one text form.
pub fn parse_backing_key_id_hex(s: &str) -> Result<[u8; BACKING_KEY_ID_LEN], CryptoError> {
    crate::hex::decode_lower_array(s.as_bytes()).ok_or(CryptoError::InvalidBackingKeyId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_basics() {
        let a = KeyMaterial::generate().unwrap();
        let b = KeyMaterial::generate().unwrap();
        assert_ne!(a, b, "two random keys collided");
        assert_eq!(a.clone(), a);
        let c = KeyMaterial::from_bytes(a.expose()).unwrap();
        assert_eq!(c, a);
        assert_eq!(format!("{a:?}"), "BackingKeyMaterial(<redacted>)");
        assert_eq!(
            KeyMaterial::from_bytes(&[0u8; 31]),
            Err(CryptoError::InvalidKeyLength {
                expected: 32,
                actual: 31
            })
        );
        assert!(KeyMaterial::from_bytes(&[0u8; 33]).is_err());
        assert!(KeyMaterial::from_bytes(&[]).is_err());
    }

    #[test]
    fn prepared_key_is_shareable_and_redacted() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PreparedKey>();
        assert_send_sync::<KeyMaterial>();
        let k = KeyMaterial::from_bytes(&[7u8; 32])
            .unwrap()
            .prepare()
            .unwrap();
        let shown = format!("{k:?}");
        assert_eq!(shown, "PreparedKey(<redacted>)");
    }

    #[test]
    fn randomness() {
        assert_eq!(random_bytes(0).unwrap().len(), 0);
        let r = random_bytes(1024).unwrap();
        assert_eq!(r.len(), 1024);
        assert!(r.iter().any(|&b| b != 0));
        assert_ne!(new_backing_key_id().unwrap(), new_backing_key_id().unwrap());
    }

    #[test]
    fn backing_key_id_text_form() {
        let id = new_backing_key_id().unwrap();
        let s = backing_key_id_hex(&id);
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(parse_backing_key_id_hex(&s).unwrap(), id);
        assert_eq!(
            parse_backing_key_id_hex(&s.to_uppercase()),
            Err(CryptoError::InvalidBackingKeyId)
        );
        assert!(parse_backing_key_id_hex(&s[1..]).is_err());
        assert!(parse_backing_key_id_hex("").is_err());
        assert!(parse_backing_key_id_hex(&format!("{s}0")).is_err());
        assert!(parse_backing_key_id_hex(&"é".repeat(32)).is_err());
    }
}
