//! Serde helpers for the API's binary fields: standard Base64 (RFC 4648 section 4, padded).
//!
//! Decoding goes straight from the JSON string to bytes without an intermediate `String`
//! where the JSON parser can lend the string.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use zeroize::Zeroizing;

/// Base64-encodes `bytes` with the standard alphabet and padding.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded Base64.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}

struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Base64 string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        decode(v).map_err(|_| E::custom("invalid Base64"))
    }
}

/// `#[serde(with = "xks::b64::bytes")]` for `Vec<u8>`.
pub mod bytes {
    use super::*;

    /// Serializes as Base64.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(v))
    }

    /// Deserializes from Base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_str(BytesVisitor)
    }
}

/// `#[serde(with = "xks::b64::option")]` for `Option<Vec<u8>>` (`null` reads as `None`).
pub mod option {
    use super::*;

    /// Serializes `Some` as Base64 (pair with `skip_serializing_if = "Option::is_none"`).
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&encode(b)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from Base64 or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        struct OptVisitor;
        impl<'de> Visitor<'de> for OptVisitor {
            type Value = Option<Vec<u8>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Base64 string or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_str(BytesVisitor).map(Some)
            }
        }
        d.deserialize_option(OptVisitor)
    }
}

/// `#[serde(with = "xks::b64::secret")]` for plaintext held in `Zeroizing<Vec<u8>>`.
pub mod secret {
    use super::*;

    /// Serializes as Base64; the encoded text is wiped after it has been written.
    pub fn serialize<S: Serializer>(v: &Zeroizing<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(encode(v));
        s.serialize_str(&text)
    }

    /// Deserializes from Base64 into wiped-on-drop memory.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        d.deserialize_str(BytesVisitor).map(Zeroizing::new)
    }
}
