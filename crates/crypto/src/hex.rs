//! Hex encoding and decoding without data-dependent branches or table
//! lookups, so that it is safe to use on secret bytes (the root key file).

/// The lowercase hex digit for `n` (which must be `< 16`), computed with
/// arithmetic only.
fn encode_nibble(n: u8) -> u8 {
    let n = i16::from(n & 0x0f);
    // (9 - n) is negative exactly when n >= 10; shifting the sign down gives
    // an all-ones mask that adds the gap between '9'+1 and 'a'.
    let gap = ((9 - n) >> 8) & (i16::from(b'a') - i16::from(b'0') - 10);
    // The result is always in '0'..='9' or 'a'..='f', so it fits a u8.
    (i16::from(b'0') + n + gap) as u8
}

/// Decodes one hex digit (either case). Returns the value and a mask that is
/// `0` if the digit was valid and non-zero otherwise.
fn decode_nibble(c: u8) -> (u8, u8) {
    let c = i16::from(c);
    // `(lo - 1 - c) & (c - hi - 1)` is negative iff lo <= c <= hi.
    let is_digit = ((i16::from(b'0') - 1 - c) & (c - i16::from(b'9') - 1)) >> 8;
    let lower = c | 0x20;
    let is_alpha = ((i16::from(b'a') - 1 - lower) & (lower - i16::from(b'f') - 1)) >> 8;
    let value = (is_digit & (c - i16::from(b'0'))) | (is_alpha & (lower - i16::from(b'a') + 10));
    let valid = is_digit | is_alpha; // -1 when valid, 0 otherwise
                                     // value is in 0..16; !valid is 0 when valid and -1 (all ones) otherwise.
    ((value & 0x0f) as u8, (!valid & 0xff) as u8)
}

/// Writes `2 * bytes.len()` lowercase hex digits for `bytes` into `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        out.push(char::from(encode_nibble(b >> 4)));
        out.push(char::from(encode_nibble(b & 0x0f)));
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    encode_into(bytes, &mut s);
    s
}

/// Decodes exactly `2 * out.len()` hex digits (either case) from `digits`
/// into `out`. Runs in time that depends only on the lengths. On failure
/// `out` may hold partial data; callers keep it in zeroizing storage.
pub(crate) fn decode_into(digits: &[u8], out: &mut [u8]) -> Result<(), ()> {
    if digits.len() != out.len().saturating_mul(2) {
        return Err(());
    }
    let mut bad = 0u8;
    for (pair, byte) in digits.chunks_exact(2).zip(out.iter_mut()) {
        let [hi, lo] = pair else {
            return Err(());
        };
        let (hi, bad_hi) = decode_nibble(*hi);
        let (lo, bad_lo) = decode_nibble(*lo);
        bad |= bad_hi | bad_lo;
        *byte = (hi << 4) | lo;
    }
    if bad == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// Decodes exactly `2 * N` lowercase hex digits. Uppercase is rejected so
/// that every value has a single text form. Not constant time; use for
/// public identifiers only.
pub(crate) fn decode_lower_array<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if !digits
        .iter()
        .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let mut out = [0u8; N];
    decode_into(digits, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_round_trip() {
        for n in 0u8..16 {
            let c = encode_nibble(n);
            assert_eq!(char::from(c), char::from_digit(u32::from(n), 16).unwrap());
            assert_eq!(decode_nibble(c), (n, 0));
            assert_eq!(decode_nibble(c.to_ascii_uppercase()), (n, 0));
        }
    }

    #[test]
    fn decode_nibble_rejects_everything_else() {
        for c in 0u8..=255 {
            let valid = c.is_ascii_hexdigit();
            let (v, bad) = decode_nibble(c);
            assert_eq!(bad == 0, valid, "byte {c:#04x}");
            if valid {
                assert_eq!(u32::from(v), char::from(c).to_digit(16).unwrap());
            }
        }
    }

    #[test]
    fn encode_decode() {
        let bytes: Vec<u8> = (0..=255).collect();
        let s = encode(&bytes);
        assert_eq!(&s[..8], "00010203");
        assert_eq!(&s[s.len() - 4..], "feff");
        let mut back = vec![0u8; 256];
        decode_into(s.as_bytes(), &mut back).unwrap();
        assert_eq!(back, bytes);
        decode_into(s.to_uppercase().as_bytes(), &mut back).unwrap();
        assert_eq!(back, bytes);
        assert!(decode_into(b"0", &mut [0u8; 1]).is_err());
        assert!(decode_into(b"0g", &mut [0u8; 1]).is_err());
        assert!(decode_into(b"000", &mut [0u8; 1]).is_err());
        assert_eq!(decode_lower_array::<2>(b"abcd"), Some([0xab, 0xcd]));
        assert_eq!(decode_lower_array::<2>(b"ABCD"), None);
        assert_eq!(decode_lower_array::<2>(b"abc"), None);
    }
}
