//! The response writer: compact JSON written straight into one buffer by the `WriteJson` impls
//! the build script generates for every structure and enum of the model. Blobs are base64-encoded
//! in place (no intermediate string, no escape scan of text that cannot need escaping); text is
//! copied as is unless it holds a character JSON must escape, which then goes through
//! `serde_json`'s escaper, so the bytes are the ones `serde_json::to_vec` writes.

use std::collections::BTreeMap;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::types::{Blob, Timestamp};

/// A value that writes itself as JSON.
pub trait WriteJson {
    /// Appends this value's JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// The JSON of `value`.
pub fn to_vec<T: WriteJson + ?Sized>(value: &T) -> Vec<u8> {
    // Most responses fit; a larger one grows once or twice.
    let mut out = Vec::with_capacity(512);
    value.write_json(&mut out);
    out
}

/// An object being written: `{`, then members separated by commas, then `}`.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Opens an object.
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Writes one member. `name` is a model member name: plain ASCII, never escaped.
    pub fn member<T: WriteJson + ?Sized>(&mut self, name: &str, value: &T) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        value.write_json(self.out);
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes text known to need no escaping (enum wire names; the build script checks them).
pub fn write_plain_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

impl WriteJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        if !self.bytes().any(needs_escape) {
            write_plain_str(out, self);
        } else if serde_json::to_writer(&mut *out, self).is_err() {
            // Writing into a Vec cannot fail; an empty string keeps the JSON well formed.
            out.extend_from_slice(b"\"\"");
        }
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_str().write_json(out);
    }
}

impl WriteJson for Zeroizing<String> {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_str().write_json(out);
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl WriteJson for i32 {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
    }
}

impl WriteJson for Timestamp {
    fn write_json(&self, out: &mut Vec<u8>) {
        // serde_json's number formatting (and `null` for what is not finite), to the byte.
        if serde_json::to_writer(&mut *out, &self.0).is_err() {
            out.extend_from_slice(b"null");
        }
    }
}

impl WriteJson for Blob {
    fn write_json(&self, out: &mut Vec<u8>) {
        let engine = &base64::engine::general_purpose::STANDARD;
        let bytes = self.as_bytes();
        let Some(len) = base64::encoded_len(bytes.len(), true) else {
            out.extend_from_slice(b"\"\"");
            return;
        };
        out.push(b'"');
        let start = out.len();
        out.resize(start + len, 0);
        // The slice has exactly the encoded length, so encoding into it cannot fail.
        if engine.encode_slice(bytes, &mut out[start..]).is_err() {
            out.truncate(start);
        }
        out.push(b'"');
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out);
        }
        out.push(b']');
    }
}

impl<V: WriteJson> WriteJson for BTreeMap<String, V> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            k.write_json(out);
            out.push(b':');
            v.write_json(out);
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours<T: WriteJson + ?Sized>(v: &T) -> String {
        String::from_utf8(to_vec(v)).unwrap()
    }

    #[test]
    fn strings_match_serde_json_byte_for_byte() {
        let mut cases: Vec<String> = vec![
            String::new(),
            "plain ascii / with slash".into(),
            "quote \" backslash \\ end".into(),
            "unicode é 漢字 🦀 and DEL \u{7f}".into(),
            "\u{2028}\u{2029}".into(),
        ];
        for c in 0u8..0x20 {
            cases.push(format!("a{}b", char::from(c)));
        }
        for s in &cases {
            assert_eq!(ours(s.as_str()), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn scalars_lists_maps_and_blobs_match_serde_json() {
        for t in [0.0, 1.5, 1_700_000_000.123, -3.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                ours(&Timestamp(t)),
                serde_json::to_string(&Timestamp(t)).unwrap()
            );
        }
        for n in [0, -1, i32::MAX, i32::MIN] {
            assert_eq!(ours(&n), serde_json::to_string(&n).unwrap());
        }
        assert_eq!(ours(&true), "true");
        let v = vec!["a".to_string(), "b\"".to_string()];
        assert_eq!(ours(&v), serde_json::to_string(&v).unwrap());
        let empty: Vec<String> = Vec::new();
        assert_eq!(ours(&empty), "[]");
        let m: BTreeMap<String, String> = [
            ("k\n".to_string(), "v".to_string()),
            ("a".into(), "".into()),
        ]
        .into();
        assert_eq!(ours(&m), serde_json::to_string(&m).unwrap());
        for len in 0..70 {
            let b = Blob::new((0..len).map(|i| (i * 37 % 256) as u8).collect());
            assert_eq!(ours(&b), serde_json::to_string(&b).unwrap(), "{len}");
        }
    }
}
