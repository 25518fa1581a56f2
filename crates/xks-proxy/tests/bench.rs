//! Throughput of 1 KiB Encrypt (with CDIV) over HTTPS keep-alive, software backend.
//! Not run by default: `cargo test --release -p xks-proxy --test bench -- --ignored --nocapture`
//! (XKS_BENCH_SECS, XKS_BENCH_CONNS to change the defaults of 5 s and 8 connections).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use common::*;

#[test]
#[ignore]
fn encrypt_1k_throughput() {
    let secs: u64 = std::env::var("XKS_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let conns: usize = std::env::var("XKS_BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    if std::env::var("XKS_BENCH_LOG").is_ok() {
        // As the strongroom binary logs: INFO to stderr.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::stderr)
            .init();
    }
    // The proxy gets a runtime of its own, as in its own process.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = server_rt.block_on(Harness::start(Setup::default()));
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let body = serde_json::to_vec(&json!({
        "requestMetadata": metadata("GenerateDataKey"),
        "plaintext": b64(&[7u8; 1024]),
        "encryptionAlgorithm": "AES_GCM",
        "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
    }))
    .unwrap();
    let path = "/kms/xks/v1/keys/key-1/encrypt";
    // Signed once: a signature stays valid within the clock skew, and the load generator's
    // signing cost is not the proxy's.
    let headers = Signer::xks(AKID_1, SECRET_1).sign(
        "POST",
        &h.host(),
        path,
        &[("content-type".into(), "application/json".into())],
        &body,
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    client_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let done = done.clone();
            let headers = headers.clone();
            let body = Bytes::from(body.clone());
            let addr = h.addr();
            let host = h.host();
            let cfg = h.client_config();
            tasks.push(tokio::spawn(async move {
                let mut c = Client::connect(addr, host, Some(cfg)).await.unwrap();
                while Instant::now() < deadline {
                    let resp = c.send("POST", path, &headers, body.clone()).await.unwrap();
                    assert_eq!(resp.status, 200);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let n = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "1 KiB Encrypt+CDIV, {conns} HTTPS keep-alive connections, software backend: {n} requests in {elapsed:.1} s = {:.0} req/s",
        n as f64 / elapsed
    );
    server_rt.block_on(h.proxy.shutdown());
}
