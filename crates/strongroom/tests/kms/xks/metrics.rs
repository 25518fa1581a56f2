//! The external key store figures AWS KMS publishes in CloudWatch, on the admin listener:
//! proxy latency and errors, throttled requests, external key manager states, certificate and
//! credential age.

use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;

use super::fake::{good, FakeProxy, Reply};
use super::harness::*;
use crate::metrics::{http_get, sample};

async fn encrypt(kms: &KmsServer, key: &str) -> bool {
    kms.client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_figures_are_published() {
    let pki = Ca::new("xks-metrics");
    let fake = FakeProxy::start(0, &pki.localhost()).await;
    let section = XksSection {
        health_check_seconds: 1,
        ..XksSection::default()
    };
    let kms = KmsServer::start_with(&pki, section, vec![admin()]).await;
    let store = create_store(
        &kms.client,
        "m",
        &fake.endpoint(),
        "/fake/kms/xks/v1",
        &Cred::random(),
    )
    .await
    .expect("CreateCustomKeyStore")
    .custom_key_store_id()
    .expect("id")
    .to_string();
    connect(&kms.client, &store).await;
    let key = xks_key(&kms.client, &store, "ext-1").await;
    assert!(encrypt(&kms, &key).await);
    fake.fail("encrypt", Reply::error(500, "InternalException"));
    assert!(!encrypt(&kms, &key).await);
    fake.fail("encrypt", Reply::error(400, "InvalidStateException"));
    assert!(!encrypt(&kms, &key).await);

    // The periodic health check (every second here) reports the key managers' states.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = http_get(&kms.metrics_url);
        assert_eq!(status, 200, "{text}");
        if sample(&text, "strongroom_xks_external_key_manager_states", &[]).is_some() {
            break text;
        }
        assert!(Instant::now() < deadline, "no health figures in\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let get = |name: &str, labels: &[(&str, &str)]| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    let store_label = ("custom_key_store_id", store.as_str());
    let encrypts = [
        store_label,
        ("kms_operation", "Encrypt"),
        ("xks_operation", "Encrypt"),
    ];
    assert_eq!(
        get("strongroom_xks_proxy_latency_seconds_count", &encrypts),
        3.0
    );
    let metadata = [store_label, ("xks_operation", "GetKeyMetadata")];
    assert_eq!(
        get("strongroom_xks_proxy_latency_seconds_count", &metadata),
        1.0
    );
    let internal = [
        store_label,
        ("kms_operation", "Encrypt"),
        ("error_type", "Retryable"),
        ("exception_name", "InternalException"),
    ];
    assert_eq!(get("strongroom_xks_proxy_errors_total", &internal), 1.0);
    let invalid = [
        store_label,
        ("error_type", "NonRetryable"),
        ("exception_name", "InvalidStateException"),
    ];
    assert_eq!(get("strongroom_xks_proxy_errors_total", &invalid), 1.0);
    let active = [store_label, ("state", "ACTIVE")];
    assert_eq!(
        get("strongroom_xks_external_key_manager_states", &active),
        1.0
    );
    // rcgen's default certificates run to 4096-01-01.
    let until_4096 = (time::macros::datetime!(4096-01-01 0:00 UTC)
        - time::OffsetDateTime::now_utc())
    .as_seconds_f64()
        / 86_400.0;
    let days = get(
        "strongroom_xks_proxy_certificate_days_to_expire",
        &[store_label],
    );
    assert!((days - until_4096).abs() < 1.0, "{days} vs {until_4096}");
    let age = get("strongroom_xks_proxy_credential_age_days", &[store_label]);
    assert!((0.0..0.01).contains(&age), "{age}");

    // A slowed proxy moves the latency figure by its delay.
    let latency_sum = "strongroom_xks_proxy_latency_seconds_sum";
    let before = get(latency_sum, &encrypts);
    fake.set(|op, req| {
        let reply = good(op, req);
        if op == "encrypt" {
            reply.after(Duration::from_millis(150))
        } else {
            reply
        }
    });
    assert!(encrypt(&kms, &key).await);
    let (_, text) = http_get(&kms.metrics_url);
    let after = sample(&text, latency_sum, &encrypts).expect("latency sum");
    assert!(after - before >= 0.15, "{before} -> {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_counted() {
    let pki = Ca::new("xks-throttle");
    let fake = FakeProxy::start(0, &pki.localhost()).await;
    let section = XksSection {
        requests_per_second: 1,
        ..XksSection::default()
    };
    let kms = KmsServer::start_with(&pki, section, vec![admin()]).await;
    let store = create_store(
        &kms.client,
        "t",
        &fake.endpoint(),
        "/fake/kms/xks/v1",
        &Cred::random(),
    )
    .await
    .expect("CreateCustomKeyStore")
    .custom_key_store_id()
    .expect("id")
    .to_string();
    connect(&kms.client, &store).await;
    let key = xks_key(&kms.client, &store, "ext-1").await;
    let mut refused = 0;
    for _ in 0..3 {
        if !encrypt(&kms, &key).await {
            refused += 1;
        }
    }
    assert!(refused >= 1, "a quota of 1/s let 3 requests through");
    let (_, text) = http_get(&kms.metrics_url);
    let throttled = [
        ("custom_key_store_id", store.as_str()),
        ("kms_operation", "Encrypt"),
    ];
    assert_eq!(
        sample(
            &text,
            "strongroom_external_key_store_throttle_total",
            &throttled
        ),
        Some(f64::from(refused)),
        "{text}"
    );
}
