//! `parse_authorization`: accepted forms, every malformed form, and properties on garbage and
//! mutated headers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use proptest::prelude::*;
use proptest::sample::Index;
use sigv4::{parse_authorization, Authorization, Error};

const SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

fn good(value: &str) -> Authorization {
    match parse_authorization(value) {
        Ok(a) => a,
        Err(e) => panic!("{value:?} rejected: {e}"),
    }
}

fn incomplete(value: &str) -> String {
    match parse_authorization(value) {
        Err(Error::IncompleteSignature(m)) => m,
        other => panic!("{value:?} gave {other:?}, want IncompleteSignature"),
    }
}

#[test]
fn well_formed_headers() {
    let canonical = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={SIG}"
    );
    let a = good(&canonical);
    assert_eq!(a.access_key_id, "AKIDEXAMPLE");
    assert_eq!(a.date, "20150830");
    assert_eq!(a.region, "us-east-1");
    assert_eq!(a.service, "service");
    assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
    assert_eq!(hex::encode(a.signature), SIG);
    assert_eq!(a.scope(), "20150830/us-east-1/service/aws4_request");

    // Spacing, order, case of names, and unknown parameters do not matter.
    for variant in [
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,SignedHeaders=host;x-amz-date,Signature={SIG}"),
        format!("  AWS4-HMAC-SHA256   Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request ,\tSignedHeaders=host;x-amz-date ,  Signature={SIG}  "),
        format!("AWS4-HMAC-SHA256 Signature={SIG}, SignedHeaders=host;x-amz-date, Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"),
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=Host;X-Amz-Date, Signature={SIG}"),
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, Extra=1, SignedHeaders=host;x-amz-date, Signature={SIG},"),
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={}", SIG.to_uppercase()),
    ] {
        assert_eq!(good(&variant), a, "{variant}");
    }
}

#[test]
fn missing_parameters_are_listed_like_aws() {
    assert_eq!(
        incomplete("AWS4-HMAC-SHA256"),
        "Authorization header requires 'Credential' parameter. Authorization header requires \
         'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
         Authorization=AWS4-HMAC-SHA256"
    );
    let m = incomplete(&format!(
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}"
    ));
    assert!(
        m.starts_with("Authorization header requires 'Credential' parameter. Authorization="),
        "{m}"
    );
    let m = incomplete("Bearer eyJhbGciOi");
    assert!(
        m.contains("requires 'Credential' parameter")
            && m.ends_with("Authorization=Bearer eyJhbGciOi"),
        "{m}"
    );
}

#[test]
fn malformed_headers_are_incomplete_signature() {
    let cred = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "requires 'Credential'"),
        ("   ".into(), "requires 'Credential'"),
        (format!("AWS4-HMAC-SHA512 Credential={cred}, SignedHeaders=host, Signature={SIG}"), "Unsupported AWS 'algorithm'"),
        (format!("aws4-hmac-sha256 Credential={cred}, SignedHeaders=host, Signature={SIG}"), "requires 'Credential'"),
        (format!("AWS4-HMAC-SHA256Credential={cred}, SignedHeaders=host, Signature={SIG}"), "Unsupported AWS 'algorithm'"),
        (format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}"), "requires 'Credential'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, Signature={SIG}"), "requires 'SignedHeaders'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host"), "requires 'Signature'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred} SignedHeaders=host, Signature={SIG}"), "requires 'SignedHeaders'"),
        (format!("AWS4-HMAC-SHA256 Credential {cred}, SignedHeaders=host, Signature={SIG}"), "not a valid key=value pair (missing equal-sign)"),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host, Signature={SIG}"), "exactly 5 slash-delimited"),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x, SignedHeaders=host, Signature={SIG}"), "exactly 5 slash-delimited"),
        (format!("AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature={SIG}"), "exactly 5 slash-delimited"),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//service/aws4_request, SignedHeaders=host, Signature={SIG}"), "exactly 5 slash-delimited"),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws5_request, SignedHeaders=host, Signature={SIG}"), "valid terminator: 'aws4_request', not 'aws5_request'"),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015-08-30/us-east-1/service/aws4_request, SignedHeaders=host, Signature={SIG}"), "Invalid credential date"),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/service/aws4_request, SignedHeaders=host, Signature={SIG}"), "Invalid credential date"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=, Signature={SIG}"), "invalid 'SignedHeaders'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host;;x-amz-date, Signature={SIG}"), "invalid 'SignedHeaders'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host;x amz, Signature={SIG}"), "invalid 'SignedHeaders'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host:x, Signature={SIG}"), "invalid 'SignedHeaders'"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host, Signature={}", &SIG[1..]), "64 hexadecimal"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host, Signature={SIG}0"), "64 hexadecimal"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host, Signature=g{}", &SIG[1..]), "64 hexadecimal"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host, Signature="), "64 hexadecimal"),
        (format!("AWS4-HMAC-SHA256 Credential={cred}, Credential={cred}, SignedHeaders=host, Signature={SIG}"), "duplicate 'Credential'"),
    ];
    for (value, want) in &cases {
        let m = incomplete(value);
        assert!(m.contains(want), "{value:?}: message {m:?} lacks {want:?}");
    }
}

#[test]
fn error_echo_is_bounded() {
    let long = format!("Bearer {}", "x".repeat(100_000));
    assert!(incomplete(&long).len() < 1_000);
    // A message that echoes two pieces of the header (the bad pair and the whole value) cuts
    // each to 512 bytes: found by the fuzz target, whose bound first assumed one echo.
    let two = format!("AWS4-HMAC-SHA256 {}, Signature={SIG}", "x".repeat(5_000));
    let m = incomplete(&two);
    assert!(m.contains("not a valid key=value pair"), "{m}");
    assert!(m.len() > 1_024 && m.len() <= 1_200, "{} bytes", m.len());
}

/// Pieces of the real syntax plus odd characters.
const PIECES: &[&str] = &[
    "AWS4-HMAC-SHA256",
    " ",
    ",",
    ", ",
    "=",
    "/",
    ";",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    "aws4_request",
    "AKIDEXAMPLE",
    "20150830",
    "us-east-1",
    "kms",
    "host",
    "x-amz-date",
    SIG,
    "\t",
    "ሴ",
    "é",
    "\u{0}",
    "\u{7f}",
    "%",
    "0",
    "f",
    "💥",
    "\"",
];

/// Random strings built from the pieces, with any Unicode scalar value among them.
fn garbage() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(PIECES).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// A valid header with a few characters deleted, doubled or replaced.
fn mutated() -> impl Strategy<Value = String> {
    let base = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={SIG}"
    );
    prop::collection::vec(
        (
            any::<Index>(),
            0..3u8,
            prop::sample::select(vec![',', '=', '/', ';', ' ', 'ሴ', 'Z']),
        ),
        1..5,
    )
    .prop_map(move |edits| {
        let mut chars: Vec<char> = base.chars().collect();
        for (at, op, c) in edits {
            if chars.is_empty() {
                break;
            }
            let i = at.index(chars.len());
            match op {
                0 => {
                    chars.remove(i);
                }
                1 => chars.insert(i, chars[i]),
                _ => chars[i] = c,
            }
        }
        chars.into_iter().collect()
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parser is total, every refusal is an `IncompleteSignature` with a bounded message,
/// and what it accepts, written back in the canonical form, parses to the same fields.
fn check_total(input: &str) -> Result<(), TestCaseError> {
    match parse_authorization(input) {
        Ok(a) => {
            let canonical = format!(
                "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                a.access_key_id,
                a.scope(),
                a.signed_headers.join(";"),
                hex(&a.signature)
            );
            prop_assert_eq!(parse_authorization(&canonical), Ok(a));
        }
        Err(Error::IncompleteSignature(m)) => {
            // At most two echoes of the input (512 bytes each) and AWS's sentence.
            prop_assert!(!m.is_empty() && m.len() <= 1_200, "{:?}", m)
        }
        Err(other) => prop_assert!(false, "{:?} gave {:?}", input, other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn parser_is_total_on_garbage(input in garbage()) {
        check_total(&input)?;
    }

    #[test]
    fn parser_is_total_on_mutated_headers(input in mutated()) {
        check_total(&input)?;
    }
}
