//! Key derivation, string to sign, and the client-side `sign`.

use std::fmt;

use aws_lc_rs::{digest, hmac};
use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};
use zeroize::Zeroizing;

use crate::authorization::{echo, ALGORITHM, SCOPE_TERMINATOR};
use crate::canonical::{canonical_request, Request};
use crate::error::Error;
use crate::key_cache::KeyCache;

/// `20150830T123600Z`: ISO 8601 basic format, UTC, as SigV4 uses it.
const AMZ_DATE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// A derived SigV4 signing key (`kSigning`). Zeroed on drop; `Debug` does not show it. Holds the
/// HMAC state keyed with it, so a signature costs no key setup.
#[derive(Clone)]
pub struct SigningKey {
    bytes: Zeroizing<[u8; 32]>,
    mac: hmac::Key,
}

impl SigningKey {
    /// Wrap raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mac = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        SigningKey {
            bytes: Zeroizing::new(bytes),
            mac,
        }
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// HMAC-SHA256 of `string_to_sign` under this key: the signature.
    pub fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.mac, string_to_sign.as_bytes());
        let mut out = [0u8; 32];
        // HMAC-SHA256 tags are always 32 bytes.
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

fn hmac32(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, data);
    let mut out = [0u8; 32];
    // HMAC-SHA256 tags are always 32 bytes.
    out.copy_from_slice(tag.as_ref());
    out
}

/// Derive `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = Zeroizing::new(hmac32(&k_secret, date.as_bytes()));
    let k_region = Zeroizing::new(hmac32(&k_date[..], region.as_bytes()));
    let k_service = Zeroizing::new(hmac32(&k_region[..], service.as_bytes()));
    SigningKey::from_bytes(hmac32(&k_service[..], SCOPE_TERMINATOR.as_bytes()))
}

/// `AWS4-HMAC-SHA256 \n amz_date \n scope \n hex(sha256(canonical_request))`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    string_to_sign_parts(amz_date, &[scope], canonical_request)
}

/// [`string_to_sign`] with the scope given in pieces (`date`, `/`, `region`, ...), so the verifier
/// need not build the scope string first.
pub(crate) fn string_to_sign_parts(
    amz_date: &str,
    scope: &[&str],
    canonical_request: &str,
) -> String {
    let digest = digest::digest(&digest::SHA256, canonical_request.as_bytes());
    let scope_len: usize = scope.iter().map(|p| p.len()).sum();
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope_len + 67);
    s.push_str(ALGORITHM);
    s.push('\n');
    s.push_str(amz_date);
    s.push('\n');
    for part in scope {
        s.push_str(part);
    }
    s.push('\n');
    push_lower_hex(digest.as_ref(), &mut s);
    s
}

/// Lower-case hex SHA-256 of `data` (the payload hash SigV4 uses).
pub fn sha256_hex(data: &[u8]) -> String {
    lower_hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// Lower-case hex of `bytes`. Two per request are on the hot path; `hex::encode` goes through
/// a `char` iterator and was 1% of the XKS proxy's CPU per request.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_lower_hex(bytes, &mut s);
    s
}

fn push_lower_hex(bytes: &[u8], s: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// Format a time as an `X-Amz-Date` value (`20150830T123600Z`), converting to UTC.
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Only years outside 0..=9999 fail to format; fall back to the Debug form then.
    t.format(AMZ_DATE_FORMAT)
        .unwrap_or_else(|_| format!("{t:?}"))
}

/// Parse an `X-Amz-Date` value (`20150830T123600Z`).
pub fn parse_amz_date(value: &str) -> Result<OffsetDateTime, Error> {
    let bad = || {
        Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            echo(value)
        ))
    };
    // The exact shape is checked first so later slicing by byte offset is safe.
    let shape_ok = value.len() == 16
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    time::PrimitiveDateTime::parse(value, AMZ_DATE_FORMAT)
        .map(|t| t.assume_utc())
        .map_err(|_| bad())
}

/// Sign a request as a client would, returning the full `Authorization` header value.
///
/// `amz_date` must be the request's `X-Amz-Date` value (its first 8 characters are the
/// scope date), and every name in `signed_headers` (lowercase) must be present in
/// `req.headers`, including `host` and `x-amz-date`. The path is normalized (non-S3).
/// Fails if `amz_date` is malformed or a signed header is absent.
#[allow(clippy::too_many_arguments)] // mirrors the inputs SigV4 itself names
pub fn sign(
    secret: &str,
    access_key_id: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    req: &Request,
    signed_headers: &[String],
    payload_hash_hex: &str,
) -> Result<String, Error> {
    let scope = Scope::new(amz_date, region, service)?;
    let key = derive_signing_key(secret, scope.date, region, service);
    authorization(
        &key,
        access_key_id,
        &scope,
        req,
        signed_headers,
        payload_hash_hex,
    )
}

/// A client's signer for one service: [`sign`] with the signing key derived once per (access
/// key, secret, date, region) and kept, so a request costs one HMAC rather than five.
pub struct Signer {
    service: String,
    cache: KeyCache,
}

impl Signer {
    /// A signer for `service` keeping at most `capacity` signing keys (minimum 1).
    pub fn new(service: impl Into<String>, capacity: usize) -> Self {
        Signer {
            service: service.into(),
            cache: KeyCache::new(capacity.max(1)),
        }
    }

    /// As [`sign`], for this signer's service.
    #[allow(clippy::too_many_arguments)] // mirrors the inputs SigV4 itself names
    pub fn sign(
        &self,
        secret: &str,
        access_key_id: &str,
        region: &str,
        amz_date: &str,
        req: &Request,
        signed_headers: &[&str],
        payload_hash_hex: &str,
    ) -> Result<String, Error> {
        let scope = Scope::new(amz_date, region, &self.service)?;
        let key = self
            .cache
            .get_or_derive(access_key_id, secret, scope.date, region, || {
                derive_signing_key(secret, scope.date, region, &self.service)
            });
        authorization(
            &key,
            access_key_id,
            &scope,
            req,
            signed_headers,
            payload_hash_hex,
        )
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cache holds secrets and keys.
        f.debug_struct("Signer")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// A request's credential scope (`date/region/service/aws4_request`).
struct Scope<'a> {
    amz_date: &'a str,
    date: &'a str,
    text: String,
}

impl<'a> Scope<'a> {
    fn new(amz_date: &'a str, region: &str, service: &str) -> Result<Self, Error> {
        parse_amz_date(amz_date)?;
        // parse_amz_date accepted exactly 16 ASCII characters.
        let date = amz_date.get(..8).unwrap_or(amz_date);
        Ok(Scope {
            amz_date,
            date,
            text: format!("{date}/{region}/{service}/{SCOPE_TERMINATOR}"),
        })
    }
}

fn authorization(
    key: &SigningKey,
    access_key_id: &str,
    scope: &Scope<'_>,
    req: &Request,
    signed_headers: &[impl AsRef<str>],
    payload_hash_hex: &str,
) -> Result<String, Error> {
    let creq = canonical_request(req, signed_headers, payload_hash_hex, true)?;
    let sts = string_to_sign(scope.amz_date, &scope.text, &creq);
    let signature = key.sign(&sts);
    let mut out = String::with_capacity(ALGORITHM.len() + access_key_id.len() + 160);
    out.push_str(ALGORITHM);
    out.push_str(" Credential=");
    out.push_str(access_key_id);
    out.push('/');
    out.push_str(&scope.text);
    out.push_str(", SignedHeaders=");
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name.as_ref());
    }
    out.push_str(", Signature=");
    push_lower_hex(&signature, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_hex_matches_the_hex_crate() {
        for bytes in [
            &b""[..],
            &[0x00],
            &[0x0f, 0xf0, 0xff, 0x10],
            &(0u8..=255).collect::<Vec<u8>>(),
        ] {
            assert_eq!(lower_hex(bytes), hex::encode(bytes));
        }
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn signer_matches_sign_and_follows_a_rotated_secret() {
        let headers = [
            ("host", "proxy.example"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let req = Request {
            method: "POST",
            path: "/kms/xks/v1/keys/k/encrypt",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        let names = ["host", "x-amz-date"];
        let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let hash = sha256_hex(b"{}");
        let date = "20150830T123600Z";
        let signer = Signer::new("kms-xks-proxy", 4);
        for secret in ["first", "first", "second", "first"] {
            let expected = sign(
                secret,
                "AKID",
                "r",
                "kms-xks-proxy",
                date,
                &req,
                &owned,
                &hash,
            );
            let got = signer.sign(secret, "AKID", "r", date, &req, &names, &hash);
            assert_eq!(got.ok(), expected.ok());
        }
        assert!(signer
            .sign("s", "AKID", "r", "bad", &req, &names, &hash)
            .is_err());
        assert!(!format!("{signer:?}").contains("first"));
    }

    #[test]
    fn signing_key_debug_is_redacted() {
        let k = derive_signing_key("secret", "20150830", "us-east-1", "kms");
        let d = format!("{k:?}");
        assert_eq!(d, "SigningKey(<redacted>)");
        assert!(!d.contains(&hex::encode(k.as_bytes())));
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // The derivation example in AWS's SigV4 documentation (service "iam").
        let k = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k.as_bytes()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn amz_date_round_trip() {
        let t = parse_amz_date("20150830T123600Z").expect("valid date");
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        for bad in [
            "",
            "20150830T123600",
            "20150830123600Z",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150830T256000Z",
            "２0150830T123600Z",
        ] {
            assert!(
                matches!(parse_amz_date(bad), Err(Error::IncompleteSignature(_))),
                "{bad:?}"
            );
        }
    }
}
