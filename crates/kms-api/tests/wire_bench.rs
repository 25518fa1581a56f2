//! Micro-benchmark of the hot path's request decode: today's `parse_body` + `validate_input` +
//! `serde_json::from_value` into `types::EncryptRequest`, against the generated `wire::decode`,
//! on an Encrypt body with a 1 KiB plaintext and a 3-entry encryption context.
//!
//! Run it (release build, ignored by default):
//!
//! ```text
//! cargo test -p kms-api --release --test wire_bench -- --ignored --nocapture
//! ```
//!
//! `WIRE_BENCH_N` sets the iterations per round (default 20000); each path runs five interleaved
//! rounds and the best round counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use kms_api::{parse_body, types, validate_input, wire, Operation};

fn body() -> Vec<u8> {
    let plaintext: Vec<u8> = (0..1024u32).map(|i| (i * 31 % 251) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(plaintext);
    serde_json::to_vec(&serde_json::json!({
        "KeyId": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "Plaintext": b64,
        "EncryptionContext": {
            "tenant": "acme-corp",
            "purpose": "invoice-archive",
            "object": "s3://bucket/2024/06/invoice-000123.pdf"
        },
    }))
    .unwrap()
}

fn today(body: &[u8]) -> types::EncryptRequest {
    let value = parse_body(body).unwrap();
    validate_input(Operation::Encrypt, &value).unwrap();
    serde_json::from_value(value).unwrap()
}

fn generated(body: &[u8]) -> wire::Request {
    wire::decode(Operation::Encrypt, body, &wire::DecodeOptions::STRICT).unwrap()
}

fn round<T>(n: u32, body: &[u8], f: fn(&[u8]) -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        black_box(f(black_box(body)));
    }
    start.elapsed()
}

#[test]
#[ignore = "benchmark: cargo test -p kms-api --release --test wire_bench -- --ignored --nocapture"]
fn encrypt_request_decode() {
    let body = body();
    let n: u32 = std::env::var("WIRE_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    // Both decode the same request.
    let wire::Request::Encrypt(new) = generated(&body) else {
        panic!("not an Encrypt request")
    };
    let old = today(&body);
    assert_eq!(new.plaintext.as_bytes(), old.plaintext.as_bytes());
    assert_eq!(new.encryption_context, old.encryption_context);
    // Warm up, then interleave rounds so both paths see the same machine.
    round(n / 10, &body, today);
    round(n / 10, &body, generated);
    let (mut a, mut b) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        a = a.min(round(n, &body, today));
        b = b.min(round(n, &body, generated));
    }
    let ns = |d: Duration| d.as_nanos() as f64 / f64::from(n);
    let (a, b) = (ns(a), ns(b));
    eprintln!(
        "Encrypt body of {} bytes (1 KiB plaintext, 3-entry context), {n} decodes per round:\n  \
         (a) parse_body + validate_input + from_value: {a:.0} ns/op\n  \
         (b) wire::decode:                             {b:.0} ns/op\n  \
         (b)/(a) = {:.2}",
        body.len(),
        b / a
    );
    assert!(
        b < a,
        "the generated decode is slower: {b:.0} ns vs {a:.0} ns"
    );
}
