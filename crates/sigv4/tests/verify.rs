//! Verifier behaviour: round trips, every rejection AWS makes, and error metadata.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use sigv4::{
    canonical_request, sha256_hex, sign, Error, Request, Verified, Verifier,
    SIGNATURE_MISMATCH_MESSAGE,
};
use time::macros::datetime;
use time::OffsetDateTime;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const AMZ_DATE: &str = "20150830T123600Z";
const T0: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);
const KMS_SIGNED: &[&str] = &["content-type", "host", "x-amz-date", "x-amz-target"];

/// An owned request that can lend itself out as a [`Request`].
#[derive(Clone)]
struct Owned {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Owned {
    /// The shape AWS KMS clients send: AWS JSON 1.1, POST /.
    fn kms(amz_date: &str) -> Self {
        Owned {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![
                ("Host".into(), "kms.us-east-1.amazonaws.com".into()),
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
                ("X-Amz-Date".into(), amz_date.into()),
                ("X-Amz-Target".into(), "TrentService.Encrypt".into()),
            ],
            body: br#"{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"#.to_vec(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    fn with_request<R>(&self, f: impl FnOnce(&Request) -> R) -> R {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        f(&Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }

    /// Sign as a client would and attach the Authorization header.
    fn signed(
        self,
        secret: &str,
        region: &str,
        service: &str,
        amz_date: &str,
        names: &[&str],
    ) -> Self {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let auth = self.with_request(|r| {
            sign(
                secret,
                AKID,
                region,
                service,
                amz_date,
                r,
                &names,
                &sha256_hex(r.body),
            )
            .expect("sign")
        });
        self.header("Authorization", &auth)
    }

    fn kms_signed() -> Self {
        Owned::kms(AMZ_DATE).signed(SECRET, REGION, "kms", AMZ_DATE, KMS_SIGNED)
    }

    fn verify_with(&self, v: &Verifier, now: OffsetDateTime) -> Result<Verified, Error> {
        self.with_request(|r| v.verify(r, now, |k| (k == AKID).then_some(SECRET)))
    }

    fn verify(&self, now: OffsetDateTime) -> Result<Verified, Error> {
        self.verify_with(&kms_verifier(), now)
    }

    fn authorization(&self) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .map(|(_, v)| v.clone())
            .expect("signed")
    }

    fn replace_authorization(self, f: impl FnOnce(&str) -> String) -> Self {
        let new = f(&self.authorization());
        self.without("authorization").header("Authorization", &new)
    }
}

fn kms_verifier() -> Verifier {
    Verifier::new(REGION, "kms", Duration::from_secs(300))
}

fn ok(r: Result<Verified, Error>) {
    match r {
        Ok(v) => assert_eq!(v.access_key_id, AKID),
        Err(e) => panic!("rejected: {e:?}"),
    }
}

fn invalid(r: Result<Verified, Error>) -> String {
    match r {
        Err(Error::InvalidSignature(m)) => m,
        other => panic!("got {other:?}, want InvalidSignature"),
    }
}

fn incomplete(r: Result<Verified, Error>) -> String {
    match r {
        Err(Error::IncompleteSignature(m)) => m,
        other => panic!("got {other:?}, want IncompleteSignature"),
    }
}

#[test]
fn kms_round_trip() {
    let req = Owned::kms_signed();
    ok(req.verify(T0));
    // An unsigned header added on the way (a proxy's, say) does not matter.
    ok(req.clone().header("User-Agent", "proxy/1.0").verify(T0));
    // Header name case is irrelevant.
    let lower = Owned {
        headers: req
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect(),
        ..req.clone()
    };
    ok(lower.verify(T0));
}

#[test]
fn xks_shaped_round_trip() {
    let mut req = Owned::kms(AMZ_DATE).without("x-amz-target").signed(
        SECRET,
        REGION,
        "kms-xks-proxy",
        AMZ_DATE,
        &["content-type", "host", "x-amz-date"],
    );
    req.path = "/prefix/kms/xks/v1/keys/abc/encrypt".into();
    // Signed for "/" — moving the request to another path must fail.
    let v = Verifier::new(REGION, "kms-xks-proxy", Duration::from_secs(300));
    assert_eq!(invalid(req.verify_with(&v, T0)), SIGNATURE_MISMATCH_MESSAGE);

    let mut base = Owned::kms(AMZ_DATE).without("x-amz-target");
    base.path = "/prefix/kms/xks/v1/keys/abc/encrypt".into();
    let req = base.signed(
        SECRET,
        REGION,
        "kms-xks-proxy",
        AMZ_DATE,
        &["content-type", "host", "x-amz-date"],
    );
    ok(req.verify_with(&v, T0));
}

#[test]
fn tampering_is_detected() {
    let req = Owned::kms_signed();
    let mut body = req.clone();
    body.body = br#"{"KeyId":"alias/other","Plaintext":"aGVsbG8="}"#.to_vec();
    assert_eq!(invalid(body.verify(T0)), SIGNATURE_MISMATCH_MESSAGE);

    let target = req
        .clone()
        .without("x-amz-target")
        .header("X-Amz-Target", "TrentService.Decrypt");
    assert_eq!(invalid(target.verify(T0)), SIGNATURE_MISMATCH_MESSAGE);

    let mut method = req.clone();
    method.method = "PUT".into();
    assert_eq!(invalid(method.verify(T0)), SIGNATURE_MISMATCH_MESSAGE);

    let mut query = req.clone();
    query.query = "a=b".into();
    assert_eq!(invalid(query.verify(T0)), SIGNATURE_MISMATCH_MESSAGE);

    // A signed header that has gone missing cannot verify either.
    let gone = req.without("content-type");
    assert_eq!(invalid(gone.verify(T0)), SIGNATURE_MISMATCH_MESSAGE);
}

#[test]
fn wrong_secret_is_signature_mismatch() {
    let req = Owned::kms(AMZ_DATE).signed("not-the-secret", REGION, "kms", AMZ_DATE, KMS_SIGNED);
    assert_eq!(invalid(req.verify(T0)), SIGNATURE_MISMATCH_MESSAGE);
}

#[test]
fn clock_skew_both_directions() {
    let req = Owned::kms_signed();
    let five = time::Duration::minutes(5);
    let second = time::Duration::seconds(1);

    ok(req.verify(T0 + five));
    ok(req.verify(T0 - five));

    let late = req.verify(T0 + five + second);
    assert_eq!(
        late,
        Err(Error::SignatureExpired(
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
             (20150830T124101Z - 5 min.)"
                .into()
        ))
    );
    let early = req.verify(T0 - five - second);
    assert_eq!(
        early,
        Err(Error::SignatureExpired(
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
             (20150830T123059Z + 5 min.)"
                .into()
        ))
    );
    let e = late.expect_err("expired");
    assert_eq!(e.aws_code(), "InvalidSignatureException");
    assert_eq!(e.http_status(), 400);

    // The skew is configurable.
    let strict = Verifier::new(REGION, "kms", Duration::from_secs(30));
    ok(req.verify_with(&strict, T0 + time::Duration::seconds(30)));
    let m = match req.verify_with(&strict, T0 + time::Duration::seconds(31)) {
        Err(Error::SignatureExpired(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(m.ends_with("(20150830T123631Z - 30 sec.)"), "{m}");
}

#[test]
fn skew_is_checked_before_the_key_lookup() {
    let req = Owned::kms_signed();
    let v = kms_verifier();
    let r = req.with_request(|r| {
        v.verify(r, T0 + time::Duration::hours(1), |_| -> Option<&str> {
            panic!("lookup must not run for an expired request")
        })
    });
    assert!(matches!(r, Err(Error::SignatureExpired(_))));
}

#[test]
fn scope_must_match_region_service_and_date() {
    let region = Owned::kms(AMZ_DATE).signed(SECRET, "us-west-2", "kms", AMZ_DATE, KMS_SIGNED);
    assert_eq!(
        invalid(region.verify(T0)),
        "Credential should be scoped to a valid region, not 'us-west-2'."
    );

    let service = Owned::kms(AMZ_DATE).signed(SECRET, REGION, "s3", AMZ_DATE, KMS_SIGNED);
    assert_eq!(
        invalid(service.verify(T0)),
        "Credential should be scoped to correct service: 'kms'."
    );

    let date = Owned::kms_signed().replace_authorization(|a| a.replace("/20150830/", "/20150829/"));
    assert_eq!(
        invalid(date.verify(T0)),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20150829' != '20150830', from '20150830T123600Z'."
    );
}

#[test]
fn unknown_access_key() {
    let req = Owned::kms_signed();
    let v = kms_verifier();
    let mut asked = None;
    let r = req.with_request(|r| {
        v.verify(r, T0, |k| {
            asked = Some(k.to_owned());
            None
        })
    });
    assert_eq!(r, Err(Error::UnrecognizedClient));
    assert_eq!(asked.as_deref(), Some(AKID));
    let e = r.expect_err("unknown");
    assert_eq!(e.aws_code(), "UnrecognizedClientException");
    assert_eq!(
        e.to_string(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn content_sha256_header_must_match_body() {
    let names = [
        "content-type",
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-target",
    ];
    let base = Owned::kms(AMZ_DATE);
    let good_hash = sha256_hex(&base.body);
    ok(base
        .clone()
        .header("x-amz-content-sha256", &good_hash)
        .signed(SECRET, REGION, "kms", AMZ_DATE, &names)
        .verify(T0));

    // Claims the hash of another body, and signs that claim: still rejected.
    let lie = base
        .clone()
        .header("x-amz-content-sha256", &sha256_hex(b"something else"))
        .signed(SECRET, REGION, "kms", AMZ_DATE, &names);
    assert_eq!(
        invalid(lie.verify(T0)),
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    );

    // KMS does not take unsigned payloads.
    let unsigned = base
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .signed(SECRET, REGION, "kms", AMZ_DATE, &names);
    assert!(invalid(unsigned.verify(T0)).contains("x-amz-content-sha256"));
}

#[test]
fn long_and_odd_secrets() {
    let long: String = (0..64)
        .map(|i| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i]))
        .collect();
    assert_eq!(long.len(), 64);
    for secret in [long.as_str(), "x", "ሴ-unicode/+=secret"] {
        let req = Owned::kms(AMZ_DATE).signed(secret, REGION, "kms", AMZ_DATE, KMS_SIGNED);
        let r = req.with_request(|r| kms_verifier().verify(r, T0, |_| Some(secret)));
        assert!(r.is_ok(), "secret {secret:?}: {r:?}");
    }
}

#[test]
fn host_must_be_signed() {
    let req = Owned::kms(AMZ_DATE).signed(
        SECRET,
        REGION,
        "kms",
        AMZ_DATE,
        &["content-type", "x-amz-date", "x-amz-target"],
    );
    assert_eq!(
        incomplete(req.verify(T0)),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn date_must_be_present_signed_and_well_formed() {
    // No X-Amz-Date and no Date.
    let req = Owned::kms_signed().without("x-amz-date");
    let m = incomplete(req.verify(T0));
    assert!(
        m.starts_with("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential="),
        "{m}"
    );

    // X-Amz-Date present but not signed.
    let req = Owned::kms(AMZ_DATE).signed(
        SECRET,
        REGION,
        "kms",
        AMZ_DATE,
        &["content-type", "host", "x-amz-target"],
    );
    assert_eq!(
        incomplete(req.verify(T0)),
        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
    );

    // Malformed X-Amz-Date.
    let req = Owned::kms_signed()
        .without("x-amz-date")
        .header("X-Amz-Date", "2015-08-30T12:36:00Z");
    assert!(incomplete(req.verify(T0)).starts_with("Date must be in ISO-8601 'basic format'"));

    // Two X-Amz-Date headers.
    let req = Owned::kms_signed().header("X-Amz-Date", AMZ_DATE);
    assert!(incomplete(req.verify(T0)).starts_with("Date must be in ISO-8601 'basic format'"));
}

#[test]
fn http_date_header_is_accepted_without_x_amz_date() {
    let req = Owned::kms(AMZ_DATE)
        .without("x-amz-date")
        .header("Date", "Sun, 30 Aug 2015 12:36:00 GMT")
        .signed(
            SECRET,
            REGION,
            "kms",
            AMZ_DATE,
            &["content-type", "date", "host", "x-amz-target"],
        );
    ok(req.verify(T0));
    assert!(matches!(
        req.verify(T0 + time::Duration::minutes(6)),
        Err(Error::SignatureExpired(_))
    ));
}

#[test]
fn missing_authentication() {
    let req = Owned::kms(AMZ_DATE);
    let r = req.verify(T0);
    assert_eq!(r, Err(Error::MissingAuthenticationToken));
    let e = r.expect_err("missing");
    assert_eq!(e.aws_code(), "MissingAuthenticationTokenException");
    assert_eq!(e.to_string(), "Missing Authentication Token");
    assert_eq!(e.http_status(), 400);

    // Presigned query authentication is not supported: it counts as none.
    let mut presigned = Owned::kms(AMZ_DATE);
    presigned.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Signature=00".into();
    assert_eq!(presigned.verify(T0), Err(Error::MissingAuthenticationToken));
}

#[test]
fn malformed_authorization_header_reaches_the_client() {
    let req = Owned::kms(AMZ_DATE).header("Authorization", "AWS4-HMAC-SHA256 Credential=x");
    let r = req.verify(T0);
    let e = r.expect_err("malformed");
    assert_eq!(e.aws_code(), "IncompleteSignatureException");
    assert_eq!(e.http_status(), 400);

    let twice = Owned::kms_signed().header("Authorization", "AWS4-HMAC-SHA256 x=y");
    assert!(matches!(
        twice.verify(T0),
        Err(Error::IncompleteSignature(_))
    ));
}

#[test]
fn error_codes_and_messages() {
    let cases = [
        (
            Error::MissingAuthenticationToken,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (
            Error::IncompleteSignature("m1".into()),
            "IncompleteSignatureException",
            "m1",
        ),
        (
            Error::signature_mismatch(),
            "InvalidSignatureException",
            SIGNATURE_MISMATCH_MESSAGE,
        ),
        (
            Error::SignatureExpired("m2".into()),
            "InvalidSignatureException",
            "m2",
        ),
        (
            Error::UnrecognizedClient,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    ];
    for (e, code, msg) in cases {
        assert_eq!(e.aws_code(), code);
        assert_eq!(e.to_string(), msg);
        assert_eq!(e.http_status(), 400);
    }
    assert_eq!(
        SIGNATURE_MISMATCH_MESSAGE,
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for details."
    );
}

#[test]
fn concurrent_verification_shares_the_key_cache() {
    let v = Arc::new(kms_verifier().with_cache_capacity(4));
    let req = Arc::new(Owned::kms_signed());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (v, req) = (Arc::clone(&v), Arc::clone(&req));
            std::thread::spawn(move || {
                for _ in 0..50 {
                    ok(req.verify_with(&v, T0));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    // A rotated secret must not be served by the cached key of the old one.
    let r = req.with_request(|r| v.verify(r, T0, |_| Some("rotated-secret")));
    assert_eq!(invalid(r), SIGNATURE_MISMATCH_MESSAGE);
    ok(req.verify_with(&v, T0));
}

#[test]
fn canonical_request_reports_missing_signed_header() {
    let req = Owned::kms(AMZ_DATE);
    let r = req.with_request(|r| {
        canonical_request(r, &["host".to_string(), "x-absent".to_string()], "00", true)
    });
    assert_eq!(r, Err(Error::signature_mismatch()));
}

const PATHS: &[&str] = &[
    "/",
    "",
    "//",
    "/./..",
    "/%",
    "/%zz/ሴ",
    "/a/../../..",
    "*",
    "/a b",
];
const QUERIES: &[&str] = &["", "&", "=", "a=%", "%%%%=&&==", "ሴ=ሴ", "X-Amz-Algorithm=x"];
const NAMES: &[&str] = &[
    "Authorization",
    "X-Amz-Date",
    "Date",
    "Host",
    "x-amz-content-sha256",
    "content-type",
];
const VALUES: &[&str] = &[
    "",
    " ",
    AMZ_DATE,
    "Sun, 30 Aug 2015 12:36:00 GMT",
    "Sun, 99 Foo 2015 99:99:99 GMT",
    "20150830T123600",
    "99999999T999999Z",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    "ሴሴሴ",
];
const TIMES: [OffsetDateTime; 4] = [
    T0,
    OffsetDateTime::UNIX_EPOCH,
    datetime!(9999-12-31 23:59:59 UTC),
    datetime!(-9999-01-01 0:00 UTC),
];

/// Header values a client may send and sign: visible ASCII and inner spaces.
fn header_value() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Requests assembled from odd pieces are answered (never a panic), and never verified:
    /// none carries a signature made with the secret.
    #[test]
    fn verifier_is_total_on_garbage_requests(
        method in prop::sample::select(vec!["GET", "POST", "", "ሴ"]),
        path in prop::sample::select(PATHS),
        query in prop::sample::select(QUERIES),
        headers in prop::collection::vec(
            (prop::sample::select(NAMES), prop::sample::select(VALUES)),
            0..6,
        ),
        body in prop::sample::select(vec![&b""[..], &b"\xff\x00body"[..]]),
        now in prop::sample::select(&TIMES[..]),
    ) {
        let req = Request { method, path, query, headers: &headers, body };
        let v = kms_verifier();
        prop_assert!(v.verify(&req, now, |k| (k == AKID).then_some(SECRET)).is_err());
    }

    /// What a client signs, the verifier accepts, whatever the path, query, extra signed
    /// headers and body; and any change to the body or a signed header value is refused.
    #[test]
    fn signed_requests_verify_and_changes_do_not(
        path in "/[a-zA-Z0-9._~/%-]{0,24}",
        query in "([a-z]{1,4}=[a-zA-Z0-9]{0,4}(&[a-z]{1,4}=[a-zA-Z0-9]{0,4}){0,3})?",
        extra in prop::collection::btree_map("x-amz-meta-[a-z]{1,6}", header_value(), 0..3),
        body in prop::collection::vec(any::<u8>(), 0..64),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut owned = Owned::kms(AMZ_DATE);
        owned.path = path;
        owned.query = query;
        owned.body = body;
        let mut names: Vec<&str> = KMS_SIGNED.to_vec();
        for (n, v) in &extra {
            owned = owned.header(n, v);
            names.push(n);
        }
        names.sort_unstable();
        let signed = owned.clone().signed(SECRET, REGION, "kms", AMZ_DATE, &names);
        let v = kms_verifier();
        prop_assert!(signed.verify_with(&v, T0).is_ok(), "refused: {:?}", signed.verify_with(&v, T0));
        let mut changed = signed.clone();
        if changed.body.is_empty() {
            changed.body.push(b'x');
        } else {
            let i = flip.index(changed.body.len());
            changed.body[i] ^= 1;
        }
        prop_assert!(changed.verify_with(&v, T0).is_err(), "a changed body verified");
        let changed = signed.without("x-amz-target").header("X-Amz-Target", "TrentService.Decrypt");
        prop_assert!(changed.verify_with(&v, T0).is_err(), "a changed signed header verified");
    }
}
