//! Canonical byte encoding of an encryption context.
//!
//! The encoding is the concatenation, in ascending order of key bytes, of
//! `u16 BE key length || key || u16 BE value length || value` for every
//! entry. An empty context encodes to no bytes at all. Because every field
//! carries its length, two different maps never share an encoding.

use std::collections::BTreeMap;

use crate::CryptoError;

/// Largest key or value length that fits the length prefix.
const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// The exact encoded length, or an error if some key or value is too long.
pub(crate) fn encoded_len(ctx: &BTreeMap<String, String>) -> Result<usize, CryptoError> {
    ctx.iter().try_fold(0usize, |acc, (k, v)| {
        if k.len() > MAX_FIELD_LEN || v.len() > MAX_FIELD_LEN {
            return Err(CryptoError::ContextTooLarge);
        }
        acc.checked_add(4 + k.len() + v.len())
            .ok_or(CryptoError::ContextTooLarge)
    })
}

/// Appends the encoding to `out`. Callers must have validated lengths with
/// [`encoded_len`].
pub(crate) fn encode_into(
    ctx: &BTreeMap<String, String>,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    // `BTreeMap<String, _>` iterates in `str` order, which is byte order.
    for (k, v) in ctx {
        for field in [k, v] {
            let len = u16::try_from(field.len()).map_err(|_| CryptoError::ContextTooLarge)?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
    }
    Ok(())
}

/// Canonical, unambiguous encoding of an encryption context.
///
/// Entries in ascending order of key bytes, each written as
/// `u16 BE key length || key || u16 BE value length || value`; an empty
/// context gives no bytes. Distinct maps always encode differently.
/// Fails with [`CryptoError::ContextTooLarge`] if a key or value is longer
/// than 65535 bytes.
pub fn encode_encryption_context(ctx: &BTreeMap<String, String>) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(encoded_len(ctx)?);
    encode_into(ctx, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_is_empty() {
        assert_eq!(
            encode_encryption_context(&ctx(&[])).unwrap(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn known_encoding() {
        let e = encode_encryption_context(&ctx(&[("b", "2"), ("a", "")])).unwrap();
        assert_eq!(e, [0, 1, b'a', 0, 0, 0, 1, b'b', 0, 1, b'2']);
    }

    #[test]
    fn injective_on_tricky_cases() {
        let cases = [
            ctx(&[]),
            ctx(&[("", "")]),
            ctx(&[("a", "")]),
            ctx(&[("", "a")]),
            ctx(&[("a", "bc")]),
            ctx(&[("ab", "c")]),
            ctx(&[("abc", "")]),
            ctx(&[("", "abc")]),
            ctx(&[("a", "b"), ("c", "d")]),
            ctx(&[("a", "bcd")]),
            ctx(&[("a", "b\u{0}\u{1}c\u{0}\u{1}d")]),
            ctx(&[("", ""), ("a", "")]),
            ctx(&[("\u{0}", "")]),
            ctx(&[("é", "x")]),
            ctx(&[("e\u{301}", "x")]),
        ];
        let encodings: Vec<Vec<u8>> = cases
            .iter()
            .map(|c| encode_encryption_context(c).unwrap())
            .collect();
        for (i, a) in encodings.iter().enumerate() {
            for (j, b) in encodings.iter().enumerate() {
                if i != j {
                    assert_ne!(a, b, "cases {i} and {j} collide");
                }
            }
        }
    }

    #[test]
    fn length_limits() {
        let max = "k".repeat(MAX_FIELD_LEN);
        let c = ctx(&[(&max, &max)]);
        assert_eq!(
            encode_encryption_context(&c).unwrap().len(),
            4 + 2 * MAX_FIELD_LEN
        );
        let too_long = "k".repeat(MAX_FIELD_LEN + 1);
        assert_eq!(
            encode_encryption_context(&ctx(&[(&too_long, "v")])),
            Err(CryptoError::ContextTooLarge)
        );
        assert_eq!(
            encode_encryption_context(&ctx(&[("k", &too_long)])),
            Err(CryptoError::ContextTooLarge)
        );
    }
}
