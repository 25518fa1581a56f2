//! A whole SigV4-signed request through the verifier (`sigv4::Verifier::verify`): the
//! `Authorization` header, the date headers, the canonical request built from the method, path,
//! query and signed headers, the string to sign and the signature check.
//!
//! The input is an HTTP/1.1 request as the AWS SigV4 test suite writes it (request line,
//! `Name:value` header lines, a blank line, the body); the seeds are that suite's vectors with
//! their `Authorization` header, so the fuzzer starts from requests that verify.
//!
//! Properties: verification never panics; a request verifies only under the access key id and
//! secret it was signed with; the canonical request of the accepted signed headers is
//! computed without panicking as well.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sigv4::{canonical_request, parse_authorization, sha256_hex, Request, Verifier};
use time::macros::datetime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// The request line, the header lines and the body; tolerant, as the suite's files are.
fn split(text: &str) -> Option<(&str, &str, &str, Vec<(&str, &str)>, &str)> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let (method, rest) = lines.next()?.split_once(' ')?;
    let target = rest.rsplit_once(' ').map_or(rest, |(t, _)| t);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines.filter_map(|l| l.split_once(':')).collect();
    Some((method, path, query, headers, body))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((method, path, query, headers, body)) = split(text) else {
        return;
    };
    let req = Request {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let now = datetime!(2015-08-30 12:36:00 UTC);
    for normalize in [true, false] {
        let v = Verifier::new("us-east-1", "service", Duration::from_secs(300))
            .with_path_normalization(normalize);
        let verified = v.verify(&req, now, |k| (k == AKID).then_some(SECRET));
        if let Ok(ok) = &verified {
            assert_eq!(ok.access_key_id, AKID);
            // Another secret must not verify the same request.
            let other = v.verify(&req, now, |k| (k == AKID).then_some("another secret"));
            assert!(other.is_err(), "verified under a wrong secret");
        }
    }
    let auth = req.header_values("authorization").next();
    if let Some(Ok(a)) = auth.map(parse_authorization) {
        let _ = canonical_request(&req, &a.signed_headers, &sha256_hex(req.body), true);
    }
});
