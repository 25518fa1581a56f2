//! Identifiers that can only hold well-formed values: parsing is the one way in.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements the string face of an identifier: `as_str`, `Display`, `Debug` and serde (which
/// refuses what `parse` refuses).
macro_rules! string_id {
    ($name:ident, $what:literal) => {
        impl $name {
            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s)
                    .ok_or_else(|| serde::de::Error::custom(format!("not {}: {s:?}", $what)))
            }
        }
    };
}

fn hex_of(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A KMS key id: a UUID (`1234abcd-12ab-34cd-56ef-1234567890ab`), or a multi-Region key id
/// (`mrk-` and 32 hex digits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// `None` for anything that is not a key id's form.
    pub fn parse(s: &str) -> Option<KeyId> {
        let ok = match s.strip_prefix("mrk-") {
            Some(rest) => hex_of(rest, 32),
            None => {
                let mut parts = s.split('-');
                [8, 4, 4, 4, 12]
                    .iter()
                    .all(|len| parts.next().is_some_and(|p| hex_of(p, *len)))
                    && parts.next().is_none()
            }
        };
        ok.then(|| KeyId(s.to_string()))
    }

    /// A new single-Region key id (a random UUID) or multi-Region one, from 16 random bytes.
    pub fn from_random(bytes: [u8; 16], multi_region: bool) -> KeyId {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if multi_region {
            return KeyId(format!("mrk-{hex}"));
        }
        let mut b = bytes;
        // RFC 4122 version 4, variant 1.
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        KeyId(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// Whether this is a multi-Region key's id.
    pub fn is_multi_region(&self) -> bool {
        self.0.starts_with("mrk-")
    }
}
string_id!(KeyId, "a key id");

/// A 12-digit AWS account id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// `None` unless exactly 12 ASCII digits.
    pub fn parse(s: &str) -> Option<AccountId> {
        (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(s.to_string()))
    }
}
string_id!(AccountId, "an account id");

/// An AWS Region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// `None` unless lower-case words joined by `-`, the first of two letters, the last a number.
    pub fn parse(s: &str) -> Option<Region> {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = parts.len() >= 3
            && parts.len() <= 4
            && parts[0].len() == 2
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
            && !parts[parts.len() - 1].is_empty()
            && s.len() <= 32;
        ok.then(|| Region(s.to_string()))
    }
}
string_id!(Region, "a region");

/// An alias name: `alias/` then letters, digits, `/`, `_` and `-`, at most 256 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    /// `None` for anything AWS would not accept as the name of a customer's alias (the
    /// service reports which rule was broken; see [`AliasName::check`]).
    pub fn parse(s: &str) -> Option<AliasName> {
        AliasName::check(s).ok()
    }

    /// The rule `s` breaks, if any.
    pub fn check(s: &str) -> Result<AliasName, AliasNameError> {
        let rest = s.strip_prefix("alias/").ok_or(AliasNameError::NoPrefix)?;
        if rest.is_empty() {
            return Err(AliasNameError::Empty);
        }
        if s.len() > 256
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
        {
            return Err(AliasNameError::InvalidCharacters);
        }
        if rest.starts_with("aws/") {
            return Err(AliasNameError::Reserved);
        }
        Ok(AliasName(s.to_string()))
    }
}
string_id!(AliasName, "an alias name");

/// Why a text is not an alias name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasNameError {
    /// It does not start with `alias/`.
    NoPrefix,
    /// Nothing follows `alias/`.
    Empty,
    /// A character outside letters, digits, `/`, `_` and `-`, or longer than 256.
    InvalidCharacters,
    /// `alias/aws/` is for AWS managed keys.
    Reserved,
}

/// A grant id: 64 hex digits (the ids Strongroom issues).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId(String);

impl GrantId {
    /// `None` unless 64 hex digits.
    pub fn parse(s: &str) -> Option<GrantId> {
        hex_of(s, 64).then(|| GrantId(s.to_string()))
    }
}
string_id!(GrantId, "a grant id");

/// A custom key store id: `cks-` and 17 hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomKeyStoreId(String);

impl CustomKeyStoreId {
    /// `None` unless `cks-` and 17 hex digits.
    pub fn parse(s: &str) -> Option<CustomKeyStoreId> {
        s.strip_prefix("cks-")
            .is_some_and(|h| hex_of(h, 17))
            .then(|| CustomKeyStoreId(s.to_string()))
    }
}
string_id!(CustomKeyStoreId, "a custom key store id");

/// A key version's id (AWS's `KeyMaterialId`): 32 bytes, 64 hex digits on the wire. The
/// ciphertext blob carries it, so a ciphertext names the version that made it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId(pub [u8; 32]);

impl VersionId {
    /// From 64 hex digits.
    pub fn parse(s: &str) -> Option<VersionId> {
        if !hex_of(s, 64) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(VersionId(out))
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VersionId({})", self.to_hex())
    }
}

impl Serialize for VersionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for VersionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VersionId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a version id: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            assert_eq!(KeyId::parse(ok).map(|k| k.to_string()).as_deref(), Some(ok));
        }
        for bad in [
            "fake-key-id",
            "134f2428cec14b25a1ae9048164dba47",
            "mrk-fake-key-id",
            "",
            "1234abcd-12ab-34cd-56ef-1234567890ab-",
        ] {
            assert!(KeyId::parse(bad).is_none(), "{bad}");
        }
        let k = KeyId::from_random([7; 16], false);
        assert!(KeyId::parse(k.as_str()).is_some(), "{k}");
        assert_eq!(k.as_str().as_bytes()[14], b'4', "version 4: {k}");
        let m = KeyId::from_random([7; 16], true);
        assert!(m.is_multi_region() && KeyId::parse(m.as_str()).is_some());
    }

    #[test]
    fn regions_accounts_and_others() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-1",
        ] {
            assert!(Region::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-east-1",
            "us-east-x",
            "u-east-1",
            "us--1",
        ] {
            assert!(Region::parse(bad).is_none(), "{bad}");
        }
        assert!(AccountId::parse("111122223333").is_some());
        assert!(AccountId::parse("11112222333").is_none());
        assert!(CustomKeyStoreId::parse("cks-1234567890abcdef0").is_some());
        assert!(CustomKeyStoreId::parse("cks-1234567890abcdef").is_none());
        let v = VersionId([0xab; 32]);
        assert_eq!(VersionId::parse(&v.to_hex()), Some(v));
    }

    #[test]
    fn alias_names() {
        assert!(AliasName::parse("alias/a/b_c-1").is_some());
        assert_eq!(AliasName::check("x"), Err(AliasNameError::NoPrefix));
        assert_eq!(AliasName::check("alias/"), Err(AliasNameError::Empty));
        assert_eq!(
            AliasName::check("alias/my:alias"),
            Err(AliasNameError::InvalidCharacters)
        );
        assert_eq!(
            AliasName::check("alias/aws/x"),
            Err(AliasNameError::Reserved)
        );
        let long = format!("alias/{}", "a".repeat(250));
        assert!(AliasName::parse(&long).is_some());
        assert!(AliasName::parse(&format!("{long}a")).is_none());
    }

    #[test]
    fn serde_refuses_malformed_ids() {
        let ok: Result<KeyId, _> = serde_json::from_str("\"1234abcd-12ab-34cd-56ef-1234567890ab\"");
        assert!(ok.is_ok());
        let bad: Result<KeyId, _> = serde_json::from_str("\"fake\"");
        assert!(bad.is_err());
        let v: Result<VersionId, _> = serde_json::from_str("\"00\"");
        assert!(v.is_err());
    }
}
