//! The SigV4 canonical request.

use percent_encoding::percent_decode_str;

use crate::error::Error;

/// An HTTP request as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Raw request path as it was on the wire (not percent-decoded).
    pub path: &'a str,
    /// Raw query string without the leading `?` (empty if none).
    pub query: &'a str,
    /// Header (name, value) pairs as received: any case, duplicates allowed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// Values of every header called `name` (ASCII case-insensitive), in arrival order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Build the canonical request:
/// `method \n uri \n query \n headers \n signed-headers \n payload-hash`.
///
/// `normalize_path` removes `.`/`..` segments and empty segments, as every AWS
/// service but S3 does. The path is always URI-encoded once more (the raw, already
/// encoded, wire path is encoded again), which is SigV4's rule for non-S3 services.
///
/// A signed header absent from the request makes the signature unverifiable, so it
/// is reported as [`Error::InvalidSignature`] with AWS's mismatch message.
pub fn canonical_request(
    req: &Request,
    signed_headers: &[impl AsRef<str>],
    payload_hash_hex: &str,
    normalize_path: bool,
) -> Result<String, Error> {
    let mut out = String::with_capacity(256 + req.path.len() + req.query.len());
    out.push_str(req.method);
    out.push('\n');
    canonical_uri(req.path, normalize_path, &mut out);
    out.push('\n');
    canonical_query(req.query, &mut out);
    out.push('\n');
    for name in signed_headers {
        let name = name.as_ref();
        let mut values = req.header_values(name).peekable();
        if values.peek().is_none() {
            return Err(Error::signature_mismatch());
        }
        out.push_str(name);
        out.push(':');
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_trimmed_value(v, &mut out);
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name.as_ref());
    }
    out.push('\n');
    out.push_str(payload_hash_hex);
    Ok(out)
}

/// Trim leading/trailing whitespace and squeeze runs of spaces into one
/// (SigV4's "Trimall").
fn push_trimmed_value(v: &str, out: &mut String) {
    let mut prev_space = false;
    for c in v.trim_matches(|c| c == ' ' || c == '\t').chars() {
        if c == ' ' {
            if !prev_space {
                out.push(' ');
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
}

/// Canonical URI of a raw path.
fn canonical_uri(path: &str, normalize: bool, out: &mut String) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    if !normalize {
        uri_encode(path.as_bytes(), false, out);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    // A trailing slash, or a trailing "." / "..", leaves the result ending in '/'.
    let mut trailing_slash = false;
    for seg in path.split('/') {
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    out.push('/');
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(seg.as_bytes(), true, out);
    }
    if trailing_slash && !segments.is_empty() {
        out.push('/');
    }
}

/// Canonical query string: each name and value percent-decoded then strictly
/// re-encoded, pairs sorted by encoded name then value. `+` is a literal plus,
/// not a space (the suite's get-query-plus case).
fn canonical_query(query: &str, out: &mut String) {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode_component(k), encode_component(v))
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

fn encode_component(raw: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(raw).collect();
    let mut s = String::with_capacity(decoded.len() * 3);
    uri_encode(&decoded, true, &mut s);
    s
}

/// RFC 3986 encoding as SigV4 wants it: unreserved bytes (`A-Za-z0-9-_.~`) pass,
/// everything else becomes `%XX` with upper-case hex. `/` passes unless `encode_slash`.
pub fn uri_encode(bytes: &[u8], encode_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        let pass = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash);
        if pass {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str, normalize: bool) -> String {
        let mut s = String::new();
        canonical_uri(path, normalize, &mut s);
        s
    }

    fn query(q: &str) -> String {
        let mut s = String::new();
        canonical_query(q, &mut s);
        s
    }

    #[test]
    fn uri_normalization() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../a", "/a"),
            ("/example space/", "/example%20space/"),
            ("/ሴ", "/%E1%88%B4"),
            // A path already percent-encoded on the wire is encoded once more.
            ("/%E1%88%B4", "/%25E1%2588%25B4"),
            (
                "/kms/xks/v1/keys/abc/encrypt",
                "/kms/xks/v1/keys/abc/encrypt",
            ),
        ] {
            assert_eq!(uri(raw, true), want, "path {raw:?}");
        }
    }

    #[test]
    fn uri_without_normalization_keeps_dots() {
        assert_eq!(uri("/./example/..", false), "/./example/..");
        assert_eq!(uri("//", false), "//");
        assert_eq!(uri("/a b", false), "/a%20b");
    }

    #[test]
    fn query_canonicalization() {
        for (raw, want) in [
            ("", ""),
            ("Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
            ("Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2"),
            ("c+d", "c%2Bd="),
            ("a=b=c", "a=b%3Dc"),
            ("a&&b&", "a=&b="),
            ("%e1%88%b4=x", "%E1%88%B4=x"),
            ("ሴ=bar", "%E1%88%B4=bar"),
            ("bad=%zz", "bad=%25zz"),
            (
                "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
                "%E1%88%B4=Value1&Param=Value2&Param-3=Value3",
            ),
        ] {
            assert_eq!(query(raw), want, "query {raw:?}");
        }
    }

    #[test]
    fn header_value_trimall() {
        let mut s = String::new();
        push_trimmed_value("  \"a   b   c\"  ", &mut s);
        assert_eq!(s, "\"a b c\"");
    }
}
