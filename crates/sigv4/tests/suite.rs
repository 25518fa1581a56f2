//! AWS SigV4 test suite vectors (see tests/vectors/README.md), run through every
//! stage: canonical request, string to sign, signature/Authorization, and the
//! server-side verifier (accepting the right signature, rejecting a flipped one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sigv4::{
    canonical_request, derive_signing_key, parse_authorization, sha256_hex, sign, string_to_sign,
    Error, Request, Verified, Verifier, SIGNATURE_MISMATCH_MESSAGE,
};
use time::macros::datetime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const AMZ_DATE: &str = "20150830T123600Z";

/// A raw HTTP/1.1 request as written in the suite's files.
struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Tolerant parser for the suite's request files: the request target may hold a
/// space (`GET /example space/ HTTP/1.1`), and a line starting with whitespace
/// continues the previous header, which the suite expects to become another value
/// of that header (`get-header-value-multiline`).
fn parse_raw(text: &str) -> RawRequest {
    let text = text.replace("\r\n", "\n");
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h.to_owned(), b.as_bytes().to_vec()),
        None => (text.trim_end_matches('\n').to_owned(), Vec::new()),
    };
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method");
    let (target, _version) = rest.rsplit_once(' ').expect("HTTP version");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let name = headers
                .last()
                .expect("continuation after a header")
                .0
                .clone();
            headers.push((name, line.trim().to_owned()));
        } else {
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    RawRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body,
    }
}

fn read_opt(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok()
}

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/vectors")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("request.txt").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Everything checked for one case; returns the number of files compared exactly.
fn run_case(dir: &Path) -> Result<usize, String> {
    let raw = parse_raw(&read_opt(dir, "request.txt").ok_or("no request.txt")?);
    let expected_authz = read_opt(dir, "authorization.txt").ok_or("no authorization.txt")?;
    let expected_authz = expected_authz.trim_end();
    let normalize = !read_opt(dir, "context.json")
        .unwrap_or_default()
        .contains("\"normalize\": false");
    let mut compared = 1;

    let parsed = parse_authorization(expected_authz).map_err(|e| format!("parse authz: {e}"))?;
    if parsed.access_key_id != AKID || parsed.region != REGION || parsed.service != SERVICE {
        return Err("unexpected credential scope in vector".into());
    }

    // Signed headers only: the Authorization header the file may carry is the answer.
    let headers: Vec<(&str, &str)> = raw
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Some((_, v)) = raw
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        if v.trim() != expected_authz {
            return Err("request.txt Authorization differs from authorization.txt".into());
        }
    }
    let req = Request {
        method: &raw.method,
        path: &raw.path,
        query: &raw.query,
        headers: &headers,
        body: &raw.body,
    };

    let payload_hash = sha256_hex(&raw.body);
    let creq = canonical_request(&req, &parsed.signed_headers, &payload_hash, normalize)
        .map_err(|e| format!("canonical_request: {e}"))?;
    if let Some(want) = read_opt(dir, "canonical-request.txt") {
        if creq != want.trim_end_matches('\n') {
            return Err(format!(
                "canonical request differs:\n--- got\n{creq}\n--- want\n{want}"
            ));
        }
        compared += 1;
    }

    let sts = string_to_sign(AMZ_DATE, &parsed.scope(), &creq);
    if let Some(want) = read_opt(dir, "string-to-sign.txt") {
        if sts != want.trim_end_matches('\n') {
            return Err(format!(
                "string to sign differs:\n--- got\n{sts}\n--- want\n{want}"
            ));
        }
        compared += 1;
    }

    let key = derive_signing_key(SECRET, &AMZ_DATE[..8], REGION, SERVICE);
    let signature = key.sign(&sts);
    if signature != parsed.signature {
        return Err(format!(
            "signature differs: got {}, want {}",
            hex::encode(signature),
            hex::encode(parsed.signature)
        ));
    }

    // `sign` is the non-S3 signer, so it always normalizes; the unnormalized cases
    // are checked through the pieces above.
    let computed_authz = if normalize {
        let a = sign(
            SECRET,
            AKID,
            REGION,
            SERVICE,
            AMZ_DATE,
            &req,
            &parsed.signed_headers,
            &payload_hash,
        )
        .map_err(|e| format!("sign: {e}"))?;
        if a != expected_authz {
            return Err(format!(
                "Authorization differs:\n got  {a}\n want {expected_authz}"
            ));
        }
        a
    } else {
        expected_authz.to_owned()
    };

    let verifier =
        Verifier::new(REGION, SERVICE, Duration::from_secs(300)).with_path_normalization(normalize);
    let now = datetime!(2015-08-30 12:36:00 UTC);
    let lookup = |k: &str| (k == AKID).then_some(SECRET);

    let mut with_auth = headers.clone();
    with_auth.push(("Authorization", computed_authz.as_str()));
    let signed = Request {
        headers: &with_auth,
        ..req
    };
    match verifier.verify(&signed, now, lookup) {
        Ok(Verified { access_key_id, .. }) if access_key_id == AKID => {}
        other => return Err(format!("verify of a correct signature gave {other:?}")),
    }

    // Flip the last hex digit of the signature.
    let mut flipped = computed_authz.clone();
    let last = flipped.pop().ok_or("empty authz")?;
    flipped.push(if last == '0' { '1' } else { '0' });
    let mut with_bad = headers.clone();
    with_bad.push(("Authorization", flipped.as_str()));
    let tampered = Request {
        headers: &with_bad,
        ..req
    };
    match verifier.verify(&tampered, now, lookup) {
        Err(Error::InvalidSignature(m)) if m == SIGNATURE_MISMATCH_MESSAGE => {}
        other => return Err(format!("verify of a flipped signature gave {other:?}")),
    }
    Ok(compared)
}

#[test]
fn aws_sigv4_test_suite() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 20, "only {} vector cases found", dirs.len());
    let mut failures = Vec::new();
    let mut files = 0;
    for dir in &dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        match run_case(dir) {
            Ok(n) => files += n,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "{} suite cases passed, {files} expected files matched exactly",
        dirs.len()
    );
}

#[test]
fn form_body_hash_matches_suite_constant() {
    // The suite's form cases hash this body; guards the rebuilt request files.
    assert_eq!(
        sha256_hex(b"Param1=value1"),
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
}
