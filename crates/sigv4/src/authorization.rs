//! Parsing of the `Authorization: AWS4-HMAC-SHA256 ...` header.

use std::borrow::Cow;

use crate::error::Error;

/// The only signing algorithm this crate speaks.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The fixed last element of every SigV4 credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// AWS's sentence for a request with neither `X-Amz-Date` nor `Date`.
pub(crate) const MISSING_DATE_SENTENCE: &str =
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";

/// Longest slice of client input echoed back in an error message; keeps error bodies small.
const MAX_ECHO_BYTES: usize = 512;

/// A parsed SigV4 `Authorization` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id from the credential scope.
    pub access_key_id: String,
    /// Scope date, `YYYYMMDD`.
    pub date: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signed header names, lowercased, in the order given.
    pub signed_headers: Vec<String>,
    /// The 32-byte signature.
    pub signature: [u8; 32],
}

impl Authorization {
    /// The credential scope without the access key id: `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, SCOPE_TERMINATOR
        )
    }
}

/// Parse an `Authorization` header value. Every malformation is an
/// [`Error::IncompleteSignature`] with an AWS-like message; this never panics.
pub fn parse_authorization(header_value: &str) -> Result<Authorization, Error> {
    let a = parse(header_value, false)?;
    Ok(Authorization {
        access_key_id: a.access_key_id.to_owned(),
        date: a.date.to_owned(),
        region: a.region.to_owned(),
        service: a.service.to_owned(),
        signed_headers: a.signed_headers.into_iter().map(Cow::into_owned).collect(),
        signature: a.signature,
    })
}

/// [`Authorization`] borrowing from the header (what the verifier uses on every request).
#[derive(Debug)]
pub(crate) struct ParsedAuthorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// Lowercase; borrowed unless the client sent a name with capitals.
    pub signed_headers: Vec<Cow<'a, str>>,
    pub signature: [u8; 32],
}

/// The parser behind [`parse_authorization`]. AWS reports a missing date header in the
/// same message as missing parameters, so the verifier tells us whether it is missing.
pub(crate) fn parse(
    header_value: &str,
    date_missing: bool,
) -> Result<ParsedAuthorization<'_>, Error> {
    let value = header_value.trim_matches(is_ows);
    let (algorithm, params) = value.split_once(is_ows).unwrap_or((value, ""));

    if algorithm != ALGORITHM {
        // Something that looks like another SigV4 flavour gets a pointed answer;
        // anything else is answered like a header lacking every parameter.
        if algorithm.starts_with("AWS4-") {
            return Err(incomplete(format!(
                "Unsupported AWS 'algorithm': '{}'.",
                echo(algorithm)
            )));
        }
        return Err(missing_params(&[true, true, true], date_missing, value));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in params.split(',') {
        let part = part.trim_matches(is_ows);
        if part.is_empty() {
            continue;
        }
        let Some((key, val)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: '{}'.",
                echo(part),
                echo(value)
            )));
        };
        let slot = match key.trim_matches(is_ows) {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // Unknown parameters are not ours to judge; they are not part of the signature.
            _ => continue,
        };
        if slot.is_some() {
            return Err(incomplete(format!(
                "Authorization header has a duplicate '{}' parameter. Authorization={}",
                key.trim_matches(is_ows),
                echo(value)
            )));
        }
        *slot = Some(val.trim_matches(is_ows));
    }

    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(missing_params(
            &[
                credential.is_none(),
                signature.is_none(),
                signed_headers.is_none(),
            ],
            date_missing,
            value,
        ));
    };

    let (access_key_id, date, region, service) = parse_credential(credential)?;
    let signed_headers = parse_signed_headers(signed_headers)?;
    let signature = parse_signature(signature)?;

    Ok(ParsedAuthorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// Split `AKID/YYYYMMDD/region/service/aws4_request`.
fn parse_credential(credential: &str) -> Result<(&str, &str, &str, &str), Error> {
    let mut parts = credential.split('/');
    let (Some(akid), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad_credential_shape(credential));
    };
    if [akid, date, region, service].iter().any(|p| p.is_empty()) {
        return Err(bad_credential_shape(credential));
    }
    if terminator != SCOPE_TERMINATOR {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not '{}'.",
            echo(terminator)
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!(
            "Invalid credential date '{}'. Date is not the required format: yyyyMMdd.",
            echo(date)
        )));
    }
    Ok((akid, date, region, service))
}

fn bad_credential_shape(credential: &str) -> Error {
    incomplete(format!(
        "Credential must have exactly 5 slash-delimited elements, e.g. \
         keyid/date/region/service/term, got '{}'",
        echo(credential)
    ))
}

/// `host;x-amz-date;...` into lowercase names. Names must be HTTP tokens so that
/// nothing odd (a ':' say) can reach the canonical request.
fn parse_signed_headers(list: &str) -> Result<Vec<Cow<'_, str>>, Error> {
    let valid = |n: &str| !n.is_empty() && n.bytes().all(is_token_byte);
    if list.split(';').all(valid) {
        Ok(list
            .split(';')
            .map(|n| {
                if n.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(n.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(n)
                }
            })
            .collect())
    } else {
        Err(incomplete(format!(
            "Authorization header has an invalid 'SignedHeaders' value: '{}'.",
            echo(list)
        )))
    }
}

fn parse_signature(sig: &str) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    match hex::decode_to_slice(sig, &mut out) {
        Ok(()) => Ok(out),
        Err(_) => Err(incomplete(format!(
            "Authorization header 'Signature' must be 64 hexadecimal characters, got '{}'.",
            echo(sig)
        ))),
    }
}

/// AWS lists every missing parameter (and a missing date header), then echoes the header.
fn missing_params(missing: &[bool; 3], date_missing: bool, header: &str) -> Error {
    let mut msg = String::new();
    for (name, is_missing) in ["Credential", "Signature", "SignedHeaders"]
        .iter()
        .zip(missing)
    {
        if *is_missing {
            msg.push_str("Authorization header requires '");
            msg.push_str(name);
            msg.push_str("' parameter. ");
        }
    }
    if date_missing {
        msg.push_str(MISSING_DATE_SENTENCE);
        msg.push(' ');
    }
    msg.push_str("Authorization=");
    msg.push_str(echo(header));
    incomplete(msg)
}

fn incomplete(msg: String) -> Error {
    Error::IncompleteSignature(msg)
}

/// Optional whitespace as HTTP defines it.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// At most [`MAX_ECHO_BYTES`] of `s`, cut on a char boundary.
pub(crate) fn echo(s: &str) -> &str {
    if s.len() <= MAX_ECHO_BYTES {
        return s;
    }
    let mut end = MAX_ECHO_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_cuts_on_char_boundary() {
        let s = "ሴ".repeat(400);
        let e = echo(&s);
        assert!(e.len() <= MAX_ECHO_BYTES);
        assert!(s.starts_with(e));
    }

    #[test]
    fn token_bytes() {
        assert!(is_token_byte(b'-'));
        assert!(!is_token_byte(b':'));
        assert!(!is_token_byte(b' '));
    }
}
