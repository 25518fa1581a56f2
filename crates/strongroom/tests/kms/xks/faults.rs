//! XKS faults under load: while several SDK clients run Encrypt/Decrypt on keys in an external
//! key store — the real `strongroom xks-proxy` on a SoftHSMv2 token — the proxy is killed and
//! restarted, stopped (SIGSTOP) past the 250 ms deadline, its credentials rotated away from the
//! KMS's, its TLS certificate replaced (by another valid one, and by one the KMS does not trust),
//! and the token removed and restored. Every request must get the right plaintext or the
//! KMSInvalidStateException AWS gives for that fault (never a wrong plaintext, an unexpected
//! error or a hang), and traffic must recover after each fault without restarting the KMS.
//!
//! One pass over the faults by default; `STRONGROOM_XKS_FAULT_CYCLES` for more (see
//! docs/reliability.md).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;

use super::harness::*;
use crate::common::{random_bytes, with_operation_timeout};

/// An answer later than this is a hang: the KMS waits 250 ms for the proxy and retries a
/// timed-out call once, so its answers come well within it even on a busy machine.
const HANG: Duration = Duration::from_secs(3);
/// How long each fault lasts under traffic.
const HOLD: Duration = Duration::from_millis(1200);
/// How long traffic may take to recover after a fault is repaired.
const RECOVERY: Duration = Duration::from_secs(15);
const WORKERS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ProxyKilled,
    ProxyStopped,
    CredentialsRotated,
    CertificateReplaced,
    CertificateUntrusted,
    TokenRemoved,
}

const FAULTS: [Fault; 6] = [
    Fault::ProxyKilled,
    Fault::ProxyStopped,
    Fault::CredentialsRotated,
    Fault::CertificateReplaced,
    Fault::CertificateUntrusted,
    Fault::TokenRemoved,
];

impl Fault {
    /// The KMSInvalidStateException messages AWS answers with during this fault.
    fn messages(self) -> &'static [&'static str] {
        match self {
            // Refused connections; a call cut by the kill; calls queued in the dying process.
            Fault::ProxyKilled => &[MSG_UNREACHABLE, MSG_TIMEOUT],
            Fault::ProxyStopped => &[MSG_TIMEOUT],
            Fault::CredentialsRotated => &[MSG_AUTH],
            // A certificate from the same CA: nothing may fail.
            Fault::CertificateReplaced => &[],
            Fault::CertificateUntrusted => &[MSG_TLS],
            // The proxy's 500 InternalException: it cannot reach its key manager.
            Fault::TokenRemoved => &[MSG_INTERNAL],
        }
    }
}

fn message_name(m: &str) -> &'static str {
    [
        (MSG_UNREACHABLE, "unreachable"),
        (MSG_TIMEOUT, "timeout"),
        (MSG_AUTH, "authentication"),
        (MSG_TLS, "tls"),
        (MSG_INTERNAL, "internal"),
        (MSG_NOT_CONNECTED, "not-connected"),
        (MSG_CANNOT_INTERPRET, "cannot-interpret"),
        (MSG_KEY_NOT_FOUND, "key-not-found"),
        (MSG_DEPENDENCY_TIMEOUT, "dependency-timeout"),
    ]
    .into_iter()
    .find(|(msg, _)| *msg == m)
    .map_or("other", |(_, n)| n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Healthy,
    /// The fault is on (or being repaired: its answers are still expected until traffic recovers).
    Fault(Fault),
}

#[derive(Default)]
struct Board {
    phase: Option<Phase>,
    /// Bumped when a fault is repaired; successes of requests started in this epoch count.
    epoch: u64,
    fresh_ok: u64,
    ok: u64,
    /// Per fault: exception (code/message name) → count.
    by_fault: BTreeMap<String, BTreeMap<String, u64>>,
    wrong: Vec<String>,
    unexpected: Vec<String>,
    hangs: Vec<String>,
    max_latency: Duration,
}

impl Board {
    fn allowed(p: Option<Phase>) -> &'static [&'static str] {
        match p {
            Some(Phase::Fault(f)) => f.messages(),
            _ => &[],
        }
    }

    fn label(p: Option<Phase>) -> String {
        match p {
            Some(Phase::Fault(f)) => format!("{f:?}"),
            _ => "Healthy".to_string(),
        }
    }
}

/// What one request gave.
enum Outcome {
    Ok,
    Wrong(String),
    Refused {
        code: String,
        message: String,
    },
    Hang(String),
    /// The SDK could not reach the KMS (never expected: the KMS keeps running).
    Transport(String),
}

fn outcome<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> Outcome {
    match &e {
        SdkError::ServiceError(s) => Outcome::Refused {
            code: s.err().code().unwrap_or("<no code>").to_string(),
            message: s.err().message().unwrap_or_default().to_string(),
        },
        SdkError::TimeoutError(_) => Outcome::Hang(format!("{e:?}")),
        _ => Outcome::Transport(format!("{e:?}")),
    }
}

struct Sealed {
    key: String,
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
    context: String,
}

async fn decrypt_once(c: &Client, s: &Sealed) -> Outcome {
    match c
        .decrypt()
        .ciphertext_blob(Blob::new(s.ciphertext.clone()))
        .encryption_context("fault", &s.context)
        .send()
        .await
    {
        Ok(o) if o.plaintext().map(|p| p.as_ref()) == Some(s.plaintext.as_slice()) => {
            if o.key_id().is_some_and(|k| k.ends_with(&s.key)) {
                Outcome::Ok
            } else {
                Outcome::Wrong(format!("Decrypt named key {:?}, not {}", o.key_id(), s.key))
            }
        }
        Ok(o) => Outcome::Wrong(format!(
            "Decrypt gave {} bytes that are not the plaintext ({} bytes)",
            o.plaintext().map_or(0, |p| p.as_ref().len()),
            s.plaintext.len()
        )),
        Err(e) => outcome(e),
    }
}

fn record(
    board: &Mutex<Board>,
    started: (Option<Phase>, u64),
    op: &str,
    latency: Duration,
    o: Outcome,
) {
    let mut b = board.lock().expect("board");
    b.max_latency = b.max_latency.max(latency);
    let now = b.phase;
    match o {
        Outcome::Ok => {
            b.ok += 1;
            if started.1 == b.epoch {
                b.fresh_ok += 1;
            }
        }
        Outcome::Wrong(w) => b.wrong.push(format!("{op}: {w}")),
        Outcome::Hang(h) => b.hangs.push(format!("{op} after {latency:?}: {h}")),
        Outcome::Transport(t) => b.unexpected.push(format!("{op}: transport failure {t}")),
        Outcome::Refused { code, message } => {
            let allowed = code == "KMSInvalidStateException"
                && (Board::allowed(started.0).contains(&message.as_str())
                    || Board::allowed(now).contains(&message.as_str()));
            if allowed {
                let label = Board::label(if matches!(started.0, Some(Phase::Fault(_))) {
                    started.0
                } else {
                    now
                });
                *b.by_fault
                    .entry(label)
                    .or_default()
                    .entry(format!("{code}/{}", message_name(&message)))
                    .or_default() += 1;
            } else {
                b.unexpected.push(format!(
                    "{op} during {} → {}: {code}: {message}",
                    Board::label(started.0),
                    Board::label(now)
                ));
            }
        }
    }
}

async fn worker(
    id: usize,
    c: Client,
    keys: Vec<String>,
    board: Arc<Mutex<Board>>,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut sealed: Vec<Sealed> = Vec::new();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let started = {
            let b = board.lock().expect("board");
            (b.phase, b.epoch)
        };
        let t0 = Instant::now();
        if sealed.is_empty() || n.is_multiple_of(2) {
            let key = keys[(n as usize / 2) % keys.len()].clone();
            let plaintext = random_bytes(1 + (n as usize * 7) % 200);
            let context = format!("w{id}-{n}");
            let r = c
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(plaintext.clone()))
                .encryption_context("fault", &context)
                .send()
                .await;
            match r {
                Ok(o) => {
                    let s = Sealed {
                        key,
                        ciphertext: o
                            .ciphertext_blob()
                            .map(|b| b.as_ref().to_vec())
                            .unwrap_or_default(),
                        plaintext,
                        context,
                    };
                    record(&board, started, "Encrypt", t0.elapsed(), Outcome::Ok);
                    // Read it back at once; later it is one of the old ciphertexts.
                    let t1 = Instant::now();
                    let o = decrypt_once(&c, &s).await;
                    record(&board, started, "Decrypt (fresh)", t1.elapsed(), o);
                    if sealed.len() < 64 {
                        sealed.push(s);
                    } else {
                        let i = n as usize % sealed.len();
                        sealed[i] = s;
                    }
                }
                Err(e) => record(&board, started, "Encrypt", t0.elapsed(), outcome(e)),
            }
        } else {
            let s = &sealed[n as usize % sealed.len()];
            let o = decrypt_once(&c, s).await;
            record(&board, started, "Decrypt (old)", t0.elapsed(), o);
        }
    }
    n
}

fn hsm_tokens(proxy: &Proxy) -> std::path::PathBuf {
    match &proxy.backend {
        Backend::SoftHsm(hsm) => hsm.dir().join("tokens"),
        Backend::Software => panic!("the token fault needs the SoftHSM backend"),
    }
}

/// Puts `fault` on (`repair` takes it off).
fn inject(fault: Fault, proxy: &mut Proxy, pki: &Ca) {
    match fault {
        Fault::ProxyKilled => proxy.kill(),
        Fault::ProxyStopped => proxy.signal(Signal::Stop),
        Fault::CredentialsRotated => proxy.set_creds(vec![Cred::random()]),
        Fault::CertificateReplaced => {
            proxy.leaf = pki.localhost();
            proxy.reload();
        }
        Fault::CertificateUntrusted => {
            proxy.leaf = Ca::new("untrusted").localhost();
            proxy.reload();
        }
        Fault::TokenRemoved => {
            let tokens = hsm_tokens(proxy);
            std::fs::rename(&tokens, tokens.with_file_name("tokens-away"))
                .expect("remove the token");
        }
    }
}

async fn repair(fault: Fault, proxy: &mut Proxy, pki: &Ca, kms: &KmsServer, store: &str) {
    match fault {
        Fault::ProxyKilled => proxy.start(),
        Fault::ProxyStopped => proxy.signal(Signal::Cont),
        // The operator gives the KMS the proxy's new credential (no disconnect).
        Fault::CredentialsRotated => {
            kms.client
                .update_custom_key_store()
                .custom_key_store_id(store)
                .xks_proxy_authentication_credential(proxy.cred().sdk())
                .send()
                .await
                .expect("UpdateCustomKeyStore with the proxy's new credential");
        }
        Fault::CertificateReplaced => {}
        Fault::CertificateUntrusted => {
            proxy.leaf = pki.localhost();
            proxy.reload();
        }
        Fault::TokenRemoved => {
            let tokens = hsm_tokens(proxy);
            std::fs::rename(tokens.with_file_name("tokens-away"), &tokens)
                .expect("restore the token");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xks_faults_under_load_get_right_answers_or_aws_exceptions() {
    let cycles: u64 = match std::env::var("STRONGROOM_XKS_FAULT_CYCLES") {
        Ok(v) => v.parse().expect("STRONGROOM_XKS_FAULT_CYCLES is a number"),
        Err(_) => 1,
    };
    let pki = Ca::new("faults");
    let mut proxy = Proxy::new(&pki, &["faults"], Backend::SoftHsm(softhsm()));
    proxy.create_key("f-1");
    proxy.create_key("f-2");
    proxy.start();
    let kms = KmsServer::start_with(
        &pki,
        XksSection {
            // Health checks run during the faults too (they never change a connection state).
            health_check_seconds: 1,
            ..XksSection::default()
        },
        vec![admin()],
    )
    .await;
    let c = &kms.client;
    let store = connected_store(c, "faults", &proxy).await;
    let keys = vec![
        xks_key(c, &store, "f-1").await,
        xks_key(c, &store, "f-2").await,
    ];
    let old = Sealed {
        key: keys[0].clone(),
        ciphertext: Vec::new(),
        plaintext: b"made before any fault".to_vec(),
        context: "old".to_string(),
    };
    let old = Sealed {
        ciphertext: c
            .encrypt()
            .key_id(&old.key)
            .plaintext(Blob::new(old.plaintext.clone()))
            .encryption_context("fault", "old")
            .send()
            .await
            .expect("Encrypt before the faults")
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec(),
        ..old
    };

    let board = Arc::new(Mutex::new(Board {
        phase: Some(Phase::Healthy),
        ..Board::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let client = with_operation_timeout(&kms.client_for(&kms.principals[0]).await, HANG);
    let tasks: Vec<_> = (0..WORKERS)
        .map(|id| {
            tokio::spawn(worker(
                id,
                client.clone(),
                keys.clone(),
                Arc::clone(&board),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut recoveries: BTreeMap<String, Duration> = BTreeMap::new();
    let mut faults_run = 0u64;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for cycle in 1..=cycles {
        for fault in FAULTS {
            board.lock().expect("board").phase = Some(Phase::Fault(fault));
            inject(fault, &mut proxy, &pki);
            tokio::time::sleep(HOLD).await;
            repair(fault, &mut proxy, &pki, &kms, &store).await;
            let repaired = Instant::now();
            {
                let mut b = board.lock().expect("board");
                b.epoch += 1;
                b.fresh_ok = 0;
            }
            // Recovered: requests started after the repair succeed, with nothing restarted.
            loop {
                if board.lock().expect("board").fresh_ok >= 2 * WORKERS as u64 {
                    break;
                }
                assert!(
                    repaired.elapsed() < RECOVERY,
                    "traffic did not recover within {RECOVERY:?} after {fault:?} (cycle {cycle})"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let took = repaired.elapsed();
            let e = recoveries.entry(format!("{fault:?}")).or_default();
            *e = (*e).max(took);
            board.lock().expect("board").phase = Some(Phase::Healthy);
            faults_run += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        eprintln!("xks faults: cycle {cycle}/{cycles} done");
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("worker");
    }

    // Nothing was restarted: the store is still connected and the first ciphertext decrypts.
    assert_eq!(state(c, &store).await, ("CONNECTED".to_string(), None));
    assert!(matches!(decrypt_once(c, &old).await, Outcome::Ok));

    let b = board.lock().expect("board");
    let refused: u64 = b.by_fault.values().flat_map(|m| m.values()).sum();
    println!(
        "xks fault report: cycles={cycles} faults={faults_run} seconds={} requests={} correct={} aws_exceptions={refused} wrong_answers={} unexpected_errors={} hangs={} max_latency_ms={}",
        started.elapsed().as_secs(),
        b.ok + refused + b.wrong.len() as u64 + b.unexpected.len() as u64 + b.hangs.len() as u64,
        b.ok,
        b.wrong.len(),
        b.unexpected.len(),
        b.hangs.len(),
        b.max_latency.as_millis()
    );
    for (fault, counts) in &b.by_fault {
        println!(
            "xks fault report: {fault}: {counts:?}, recovered in {:?}",
            recoveries.get(fault)
        );
    }
    for (fault, took) in &recoveries {
        if !b.by_fault.contains_key(fault) {
            println!("xks fault report: {fault}: no exception, recovered in {took:?}");
        }
    }
    assert!(b.wrong.is_empty(), "wrong answers: {:#?}", b.wrong);
    assert!(b.hangs.is_empty(), "hangs: {:#?}", b.hangs);
    assert!(
        b.unexpected.is_empty(),
        "unexpected errors: {:#?}",
        b.unexpected
    );
}
