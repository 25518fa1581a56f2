//! Authentication (SigV4 by an independent signer, rotation, reload), tenants, quotas, TLS
//! and mutual TLS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_badly_signed_requests_are_refused() {
    let h = Harness::start(Setup::default()).await;
    let mut c = h.client().await;
    let body = serde_json::to_vec(&json!({"requestMetadata": metadata("DescribeKey")})).unwrap();
    let path = "/kms/xks/v1/keys/key-1/metadata";
    let ten_minutes = Duration::from_secs(600);
    let cases: Vec<(&str, Option<Signer>)> = vec![
        ("unsigned", None),
        ("wrong secret", Some(Signer::xks(AKID_1, SECRET_2))),
        ("unknown access key", Some(Signer::xks(AKID_3, SECRET_3))),
        (
            "expired",
            Some(Signer::xks(AKID_1, SECRET_1).at(SystemTime::now() - ten_minutes)),
        ),
        (
            "from the future",
            Some(Signer::xks(AKID_1, SECRET_1).at(SystemTime::now() + ten_minutes)),
        ),
        (
            "other region",
            Some(Signer {
                region: "eu-west-1".into(),
                ..Signer::xks(AKID_1, SECRET_1)
            }),
        ),
        (
            "other service",
            Some(Signer {
                service: Service::Kms,
                ..Signer::xks(AKID_1, SECRET_1)
            }),
        ),
    ];
    for (what, signer) in cases {
        let r = c.request("POST", path, body.clone(), signer.as_ref()).await;
        assert_eq!(
            r.status,
            401,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.assert_error(401, "AuthenticationFailedException");
    }
    // Health is authenticated too.
    let r = c
        .request("POST", "/kms/xks/v1/health", health_body(), None)
        .await;
    r.assert_error(401, "AuthenticationFailedException");
    // A body changed after signing.
    let headers = Signer::xks(AKID_1, SECRET_1).sign(
        "POST",
        &h.host(),
        path,
        &[("content-type".into(), "application/json".into())],
        &body,
    );
    let mut tampered = body.clone();
    tampered[2] ^= 0x20;
    send_with_headers(&h, path, &headers, tampered)
        .await
        .assert_error(401, "AuthenticationFailedException");
    // Within the allowed skew is fine.
    let r = c
        .request(
            "POST",
            path,
            body,
            Some(&Signer::xks(AKID_1, SECRET_1).at(SystemTime::now() - Duration::from_secs(200))),
        )
        .await;
    assert_eq!(r.status, 200);
}

async fn send_with_headers(
    h: &Harness,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Resp {
    let tls = test_support::http::Tls {
        config: h.client_config(),
        server_name: "localhost".to_string(),
    };
    let mut conn =
        test_support::http::Connection::open(&h.addr().to_string(), &h.host(), Some(&tls))
            .await
            .unwrap();
    conn.send("POST", path, headers, body).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_credential_sets_work_at_once() {
    let mut t = TenantSpec::new("");
    t.credentials = vec![(AKID_1, SECRET_1), (AKID_2, SECRET_2)];
    let h = Harness::start(Setup {
        tenants: vec![t],
        ..Default::default()
    })
    .await;
    let mut api = h.api("").await;
    assert_eq!(api.metadata("key-1").await.status, 200);
    api.signer = Signer::xks(AKID_2, SECRET_2);
    assert_eq!(api.metadata("key-1").await.status, 200);
    // On the same keep-alive connection, alternating.
    for i in 0..6 {
        api.signer = if i % 2 == 0 {
            Signer::xks(AKID_1, SECRET_1)
        } else {
            Signer::xks(AKID_2, SECRET_2)
        };
        assert_eq!(api.health().await.status, 200);
    }
}

fn write_creds(h: &Harness, name: &str, creds: &[(&str, &str)]) {
    let text: String = creds
        .iter()
        .map(|(a, s)| {
            format!("[[credentials]]\naccess_key_id = \"{a}\"\nsecret_access_key = \"{s}\"\n")
        })
        .collect();
    // Written atomically, as an operator's tooling should.
    xks_proxy::backend::software::write_atomically(&h.dir.path().join(name), text.as_bytes())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_rotation_by_reload() {
    let mut t = TenantSpec::new("");
    t.credentials = vec![];
    t.credentials_file = Some(vec![(AKID_1, SECRET_1)]);
    let h = Harness::start(Setup {
        tenants: vec![t],
        ..Default::default()
    })
    .await;
    let mut old = h.api("").await;
    let mut new = h.api("").await;
    new.signer = Signer::xks(AKID_2, SECRET_2);
    assert_eq!(old.metadata("key-1").await.status, 200);
    new.metadata("key-1")
        .await
        .assert_error(401, "AuthenticationFailedException");

    // Step 1: add the new set; both work, on connections opened before the reload too.
    write_creds(
        &h,
        "root.credentials",
        &[(AKID_1, SECRET_1), (AKID_2, SECRET_2)],
    );
    h.proxy.reload().unwrap();
    assert_eq!(old.metadata("key-1").await.status, 200);
    assert_eq!(new.metadata("key-1").await.status, 200);

    // Step 4: remove the old set.
    write_creds(&h, "root.credentials", &[(AKID_2, SECRET_2)]);
    h.proxy.reload().unwrap();
    old.metadata("key-1")
        .await
        .assert_error(401, "AuthenticationFailedException");
    assert_eq!(new.metadata("key-1").await.status, 200);

    // A broken credentials file is refused and the running credentials stay.
    write_private(
        h.dir.path().join("root.credentials"),
        "[[credentials]]\naccess_key_id = 1\n",
    );
    assert!(h.proxy.reload().is_err());
    assert_eq!(new.metadata("key-1").await.status, 200);
    // So is a credential that KMS could not use.
    write_creds(&h, "root.credentials", &[("short", SECRET_1)]);
    assert!(h.proxy.reload().is_err());
    assert_eq!(new.metadata("key-1").await.status, 200);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_credentials() {
    let mut t = TenantSpec::new("");
    t.credentials = vec![];
    t.credentials_file = Some(vec![(AKID_1, SECRET_1)]);
    let h = Harness::start(Setup {
        tenants: vec![t],
        sighup: true,
        ..Default::default()
    })
    .await;
    let mut api = h.api("").await;
    api.signer = Signer::xks(AKID_3, SECRET_3);
    api.metadata("key-1")
        .await
        .assert_error(401, "AuthenticationFailedException");
    write_creds(
        &h,
        "root.credentials",
        &[(AKID_1, SECRET_1), (AKID_3, SECRET_3)],
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut ok = false;
    for _ in 0..50 {
        if api.metadata("key-1").await.status == 200 {
            ok = true;
            break;
        }
        // Polls for the signal's reload (another task), with a deadline.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "SIGHUP reloaded the credentials file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_are_isolated_tenants() {
    let mut a = TenantSpec::new("tenant-a");
    a.keys = vec![key("a-key")];
    let mut b = TenantSpec::new("keystores/tenant_b");
    b.credentials = vec![(AKID_2, SECRET_2)];
    b.keys = vec![key("b-key")];
    let h = Harness::start(Setup {
        tenants: vec![a, b],
        ..Default::default()
    })
    .await;
    let mut api_a = h.api("tenant-a").await;
    let mut api_b = h.api("keystores/tenant_b").await;
    api_b.signer = Signer::xks(AKID_2, SECRET_2);
    assert_eq!(api_a.metadata("a-key").await.status, 200);
    assert_eq!(api_b.metadata("b-key").await.status, 200);
    // Each tenant sees only its keys.
    api_a
        .metadata("b-key")
        .await
        .assert_error(404, "KeyNotFoundException");
    api_b
        .metadata("a-key")
        .await
        .assert_error(404, "KeyNotFoundException");
    // And accepts only its credentials.
    api_a.signer = Signer::xks(AKID_2, SECRET_2);
    api_a
        .metadata("a-key")
        .await
        .assert_error(401, "AuthenticationFailedException");
    api_b.signer = Signer::xks(AKID_1, SECRET_1);
    api_b
        .metadata("b-key")
        .await
        .assert_error(401, "AuthenticationFailedException");
    // Health names each tenant's own keystore.
    api_a.signer = Signer::xks(AKID_1, SECRET_1);
    api_b.signer = Signer::xks(AKID_2, SECRET_2);
    assert_eq!(
        api_a.health().await.ok()["ekmFleetDetails"][0]["id"],
        "tenant-a.keystore"
    );
    assert_eq!(
        api_b.health().await.ok()["ekmFleetDetails"][0]["id"],
        "keystores_tenant_b.keystore"
    );
    // No tenant at the bare path.
    let mut root = h.api("").await;
    root.health()
        .await
        .assert_error(404, "InvalidUriPathException");
    // Ciphertext of one tenant does not decrypt under the other's key of the same name.
    let enc = api_a.encrypt("a-key", b"x", None, false).await.ok();
    api_b
        .decrypt("a-key", &Api::decrypt_body(&enc, None))
        .await
        .assert_error(404, "KeyNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_gives_throttling() {
    let mut limited = TenantSpec::new("limited");
    limited.quota = Some((1, 3));
    let free = TenantSpec::new("free");
    let h = Harness::start(Setup {
        tenants: vec![limited, free],
        ..Default::default()
    })
    .await;
    let mut api = h.api("limited").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(api.metadata("key-1").await.status);
    }
    // The proxy's clock stands still: the burst of 3, then nothing.
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    api.metadata("key-1")
        .await
        .assert_error(429, "ThrottlingException");
    // One request per second comes back as the clock moves, and no more.
    h.clock.advance(Duration::from_millis(999));
    assert_eq!(api.metadata("key-1").await.status, 429);
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(api.metadata("key-1").await.status, 200);
    assert_eq!(api.metadata("key-1").await.status, 429);
    // Health is not counted against the quota.
    assert_eq!(api.health().await.status, 200);
    // The other tenant has its own (no) quota.
    let mut other = h.api("free").await;
    for _ in 0..10 {
        assert_eq!(other.metadata("key-1").await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_versions_and_cipher_suites() {
    let h = Harness::start(Setup::default()).await;
    use rustls::crypto::aws_lc_rs as p;
    // TLS 1.2 with ECDHE-ECDSA-AES256-GCM-SHA384 (the test server key is ECDSA; RSA below).
    assert_eq!(
        tls12_health(&h, p::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384).await,
        200
    );
    // Each TLS 1.3 suite of the specification.
    for suite in [
        p::cipher_suite::TLS13_AES_256_GCM_SHA384,
        p::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ] {
        let mut prov = p::default_provider();
        prov.cipher_suites = vec![suite];
        let cfg = client_config(&h.pki, None, Some(Arc::new(prov)));
        assert!(Client::connect(h.addr(), h.host(), Some(cfg)).await.is_ok());
    }
    // Suites outside the specification's list are refused.
    for suite in [
        p::cipher_suite::TLS13_AES_128_GCM_SHA256,
        p::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ] {
        let mut prov = p::default_provider();
        prov.cipher_suites = vec![suite];
        let cfg = client_config(&h.pki, None, Some(Arc::new(prov)));
        assert!(Client::connect(h.addr(), h.host(), Some(cfg))
            .await
            .is_err());
    }
    // Plain HTTP to the HTTPS port gets nowhere.
    let mut plain = Client::connect(h.addr(), h.host(), None).await.unwrap();
    assert!(plain
        .try_request("POST", "/kms/xks/v1/health", health_body(), None)
        .await
        .is_err());

    // With an RSA certificate: TLS 1.2 with ECDHE-RSA-AES256-GCM-SHA384.
    let (cert, key) = h.pki.rsa_server();
    write_private(h.dir.path().join("server.pem"), cert);
    write_private(h.dir.path().join("server.key"), key);
    h.proxy.reload().unwrap();
    assert_eq!(
        tls12_health(&h, p::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384).await,
        200
    );
}

/// The status of a signed GetHealthStatus over TLS 1.2 with only `suite` offered.
async fn tls12_health(h: &Harness, suite: rustls::SupportedCipherSuite) -> u16 {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites = vec![suite];
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(h.pki.roots())
        .with_no_client_auth();
    let mut c = Client::connect(h.addr(), h.host(), Some(Arc::new(cfg)))
        .await
        .unwrap();
    c.request(
        "POST",
        "/kms/xks/v1/health",
        health_body(),
        Some(&Signer::xks(AKID_1, SECRET_1)),
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_only_when_asked() {
    let h = Harness::start(Setup {
        insecure_http: true,
        ..Default::default()
    })
    .await;
    assert!(!h.proxy.is_tls());
    let mut api = h.api("").await;
    assert_eq!(api.metadata("key-1").await.status, 200);
}

const KMS_SUBJECT: &str = "cks.kms.us-east-1.amazonaws.com";

async fn mtls_request(h: &Harness, identity: Option<&ClientIdentity>) -> Result<Resp, String> {
    let cfg = client_config(&h.pki, identity, None);
    let mut c = Client::connect(h.addr(), h.host(), Some(cfg)).await?;
    c.try_request(
        "POST",
        "/kms/xks/v1/health",
        health_body(),
        Some(&Signer::xks(AKID_1, SECRET_1)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_the_configured_ca_and_subject() {
    let h = Harness::start(Setup {
        mtls_subject: Some(KMS_SUBJECT),
        ..Default::default()
    })
    .await;
    // The right CA and common name.
    let kms = h.pki.client(KMS_SUBJECT, &[]);
    assert_eq!(mtls_request(&h, Some(&kms)).await.unwrap().status, 200);
    // The subject as a DNS alternative name (any case) is accepted too.
    let by_san = h
        .pki
        .client("someone", &["CKS.kms.us-east-1.amazonaws.com"]);
    assert_eq!(mtls_request(&h, Some(&by_san)).await.unwrap().status, 200);
    // No client certificate: refused.
    assert!(mtls_request(&h, None).await.is_err());
    // Another subject: refused.
    let other = h
        .pki
        .client("cks.kms.eu-west-1.amazonaws.com", &["x.example"]);
    assert!(mtls_request(&h, Some(&other)).await.is_err());
    // The right subject from another CA: refused.
    let stranger = Pki::new("other").client(KMS_SUBJECT, &[]);
    assert!(mtls_request(&h, Some(&stranger)).await.is_err());
}

/// A metadata call over a new HTTPS connection that trusts only `pki`'s CA.
async fn metadata_trusting(h: &Harness, pki: &Pki) -> Result<Resp, String> {
    let mut c = Client::connect(h.addr(), h.host(), Some(client_config(pki, None, None))).await?;
    let body = serde_json::to_vec(&json!({"requestMetadata": metadata("DescribeKey")})).unwrap();
    c.try_request(
        "POST",
        "/kms/xks/v1/keys/key-1/metadata",
        body,
        Some(&Signer::xks(AKID_1, SECRET_1)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_replaces_the_server_certificate() {
    let h = Harness::start(Setup::default()).await;
    let mut before = h.api("").await;
    assert_eq!(metadata_trusting(&h, &h.pki).await.unwrap().status, 200);

    // The certificate is renewed under another CA: new connections get the new one.
    let renewed = Pki::new("renewed");
    write_private(h.dir.path().join("server.pem"), &renewed.server.cert_pem);
    write_private(h.dir.path().join("server.key"), &renewed.server.key_pem);
    h.proxy.reload().unwrap();
    assert_eq!(metadata_trusting(&h, &renewed).await.unwrap().status, 200);
    let refused = metadata_trusting(&h, &h.pki).await;
    assert!(
        refused.is_err(),
        "a client trusting only the old CA must refuse the new certificate: {:?}",
        refused.map(|r| r.status)
    );
    // A connection opened before the reload keeps working.
    assert_eq!(before.metadata("key-1").await.status, 200);

    // A broken certificate or a key that does not match is refused; the renewed one stays.
    write_private(h.dir.path().join("server.pem"), "not a certificate");
    assert!(h.proxy.reload().is_err());
    write_private(h.dir.path().join("server.pem"), &renewed.server.cert_pem);
    write_private(h.dir.path().join("server.key"), &h.pki.server.key_pem);
    assert!(h.proxy.reload().is_err());
    assert_eq!(metadata_trusting(&h, &renewed).await.unwrap().status, 200);
}
