//! The proxy's admin listener: requests by tenant, operation and outcome, their latency, and
//! backend errors, in the Prometheus text format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use common::*;

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let r = test_support::http::request_blocking(&addr.to_string(), None, "GET", path, &[], b"")
        .unwrap();
    (r.status, r.text())
}

/// The value of the sample of `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse().ok())
            .flatten()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_backend_errors_are_counted_per_tenant() {
    let mut tenant = TenantSpec::new("t1");
    tenant.keys = vec![key("k1")];
    let h = Harness::start(Setup {
        tenants: vec![tenant],
        global_extra: "[admin]\nlisten = \"127.0.0.1:0\"\n".to_owned(),
        ..Default::default()
    })
    .await;
    let admin = h.proxy.metrics_addr().expect("an admin listener");
    let mut api = h.api("t1").await;
    api.encrypt("k1", b"counted", None, false).await.ok();
    api.encrypt("k1", b"counted again", None, false).await.ok();
    api.encrypt("no-such-key", b"x", None, false)
        .await
        .assert_error(404, "KeyNotFoundException");
    api.health().await.ok();

    let (status, text) = get(admin, "/metrics");
    assert_eq!(status, 200, "{text}");
    let tenant = ("tenant", "/t1/kms/xks/v1");
    let n = |name: &str, labels: &[(&str, &str)]| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    let ok = [tenant, ("operation", "Encrypt"), ("outcome", "Success")];
    assert_eq!(n("xks_proxy_requests_total", &ok), 2.0);
    let missing = [
        tenant,
        ("operation", "Encrypt"),
        ("outcome", "KeyNotFoundException"),
    ];
    assert_eq!(n("xks_proxy_requests_total", &missing), 1.0);
    let health = [
        tenant,
        ("operation", "GetHealthStatus"),
        ("outcome", "Success"),
    ];
    assert_eq!(n("xks_proxy_requests_total", &health), 1.0);
    let timed = [tenant, ("operation", "Encrypt")];
    assert_eq!(n("xks_proxy_request_duration_seconds_count", &timed), 3.0);
    let not_found = [tenant, ("kind", "KeyNotFound")];
    assert_eq!(n("xks_proxy_backend_errors_total", &not_found), 1.0);
    assert_eq!(get(admin, "/healthz").0, 200);
    assert_eq!(get(admin, "/other").0, 404);
}
