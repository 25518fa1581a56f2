//! Throughput of the PKCS#11 backend over SoftHSMv2: 1 KiB AES-GCM encryptions (and
//! decryptions) in a tight loop from 1, 2 and 8 threads, 3 seconds each. Ignored by default; run:
//!   cargo nextest run -p xks-proxy -E 'binary(pkcs11_bench)' --run-ignored only --no-capture

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod pkcs11_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pkcs11_support::Hsm;
use xks_proxy::backend::pkcs11::Pkcs11Backend;
use xks_proxy::backend::KeyBackend;

const RUN: Duration = Duration::from_secs(3);

fn measure(b: &Arc<Pkcs11Backend>, threads: usize, decrypt: bool) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let plaintext = vec![0x5au8; 1024];
    let aad = b"bench aad".to_vec();
    let sealed = b.encrypt("bench", &plaintext, &aad).unwrap();
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (b, stop, plaintext, aad) =
                (b.clone(), stop.clone(), plaintext.clone(), aad.clone());
            let (ct, iv, tag) = (sealed.ciphertext.clone(), sealed.iv.clone(), sealed.tag);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if decrypt {
                        b.decrypt("bench", &ct, &iv, &tag, &aad).unwrap();
                    } else {
                        b.encrypt("bench", &plaintext, &aad).unwrap();
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    // The benchmark's measuring window: real work during real time, not a wait for time.
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "benchmark (3 s per case); run with --run-ignored only --no-capture"]
fn pkcs11_throughput_1kib() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config("strongroom");
    cfg.pool_size = 8;
    cfg.acquire_timeout_ms = 10_000;
    let b = Arc::new(Pkcs11Backend::open(&cfg).unwrap());
    b.create_key("bench").unwrap();
    for (op, decrypt) in [("encrypt", false), ("decrypt", true)] {
        for threads in [1, 2, 8] {
            let rate = measure(&b, threads, decrypt);
            println!("pkcs11 {op} 1 KiB, {threads} thread(s), pool 8: {rate:.0} ops/s");
        }
    }
    assert_eq!(b.stats().session_recoveries, 0);
}
