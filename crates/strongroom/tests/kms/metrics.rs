//! The admin listener: Prometheus metrics of requests, keys and grants; health and readiness.
//! (The external key store figures are in `xks::metrics`.)

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::GrantOperation;

use crate::common::Kms;

/// GET `url` (`http://HOST:PORT/PATH`): the status and body.
pub fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let r = test_support::http::request_blocking(host, None, "GET", path, &[], b"")
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (r.status, r.text())
}

/// The value of the sample of `name` whose labels include `labels`, if there is one, as an
/// independent parser of the Prometheus text format reads the scrape (it must parse whole).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::{Scrape, Value};
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn requests_keys_and_grants_are_counted() {
    let kms = Kms::start().await;
    let url = kms
        .exports
        .metrics_url
        .clone()
        .expect("dev prints STRONGROOM_METRICS_URL");
    // The first node's client: the admin listener is the first node's.
    let c = kms.node_client(0).await;
    let key = c
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    c.encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"counted".to_vec()))
        .send()
        .await
        .unwrap();
    let missing = c
        .encrypt()
        .key_id("00000000-0000-0000-0000-000000000000")
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert!(missing.is_err());
    c.create_grant()
        .key_id(&key)
        .grantee_principal(format!("arn:aws:iam::{}:root", kms.account().await))
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    c.disable_key().key_id(&key).send().await.unwrap();

    let (status, text) = http_get(&url);
    assert_eq!(status, 200, "{text}");
    let get = |name: &str, labels: &[(&str, &str)]| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    let encrypt_ok = [("operation", "Encrypt"), ("outcome", "Success")];
    assert_eq!(get("strongroom_requests_total", &encrypt_ok), 1.0);
    let not_found = [("operation", "Encrypt"), ("outcome", "NotFoundException")];
    assert_eq!(get("strongroom_requests_total", &not_found), 1.0);
    assert_eq!(
        get(
            "strongroom_request_duration_seconds_count",
            &[("operation", "Encrypt")]
        ),
        2.0
    );
    let disabled = [("key_state", "Disabled"), ("key_spec", "SYMMETRIC_DEFAULT")];
    assert_eq!(get("strongroom_keys", &disabled), 1.0);
    assert_eq!(get("strongroom_grants", &[]), 1.0);
    assert!(get("strongroom_state_age_seconds", &[]) >= 0.0);

    // Scraped while traffic runs: every scrape parses, and the count only grows.
    let traffic = {
        let c = c.clone();
        let key = key.clone();
        c.enable_key().key_id(&key).send().await.unwrap();
        tokio::spawn(async move {
            for _ in 0..100 {
                c.encrypt()
                    .key_id(&key)
                    .plaintext(Blob::new(b"traffic".to_vec()))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let mut last = 1.0;
    while !traffic.is_finished() {
        let (status, text) = http_get(&url);
        assert_eq!(status, 200);
        let now = sample(&text, "strongroom_requests_total", &encrypt_ok).unwrap_or(0.0);
        assert!(now >= last, "{now} after {last}");
        last = now;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    traffic.await.unwrap();
    let (_, text) = http_get(&url);
    assert_eq!(
        sample(&text, "strongroom_requests_total", &encrypt_ok),
        Some(101.0)
    );

    let base = url.trim_end_matches("/metrics");
    assert_eq!(http_get(&format!("{base}/healthz")).0, 200);
    assert_eq!(http_get(&format!("{base}/readyz")).0, 200);
    assert_eq!(http_get(&format!("{base}/elsewhere")).0, 404);
}
