//! ConnectionErrorCode through ConnectCustomKeyStore with the real proxy made wrong in each way it
//! can be: credentials rotated away, process gone, certificate for another name or from an
//! untrusted CA, tenant moved to another path. Each time: Connect → FAILED + code, the fix,
//! Disconnect → Connect → CONNECTED, and old ciphertexts still decrypt.

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;

use super::harness::*;
use crate::common::expect_code;

async fn encrypt_fails(kms: &KmsServer, key: &str, message: &str) {
    let msg = expect_code(
        kms.client
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, message);
}

fn failed(code: &str) -> (String, Option<String>) {
    ("FAILED".to_string(), Some(code.to_string()))
}

fn connected() -> (String, Option<String>) {
    ("CONNECTED".to_string(), None)
}

#[tokio::test]
async fn invalid_credentials_after_the_proxy_rotates() {
    let pki = Ca::new("creds");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("k1");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let key = xks_key(c, &store, "k1").await;
    let ct = encrypt(c, &key, b"before rotation").await;

    // The proxy now accepts only a new credential (file rewritten, SIGHUP).
    let new = Cred::random();
    proxy.set_creds(vec![new.clone()]);
    // A connected store keeps its state; its keys fail with the proxy's 401 message.
    encrypt_fails(&kms, &key, MSG_AUTH).await;
    assert_eq!(state(c, &store).await, connected());

    // Connecting again records INVALID_CREDENTIALS.
    assert_eq!(reconnect(c, &store).await, failed("INVALID_CREDENTIALS"));
    assert_eq!(key_state(c, &key).await, "Unavailable");
    encrypt_fails(&kms, &key, MSG_NOT_CONNECTED).await;
    // FAILED: Connect must wait for a Disconnect; Update and Delete refuse too.
    expect_code(
        c.connect_custom_key_store()
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&store)
            .xks_proxy_authentication_credential(new.sdk())
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    expect_code(
        c.delete_custom_key_store()
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );

    // The fix: Disconnect (the code goes away), give KMS the new credential, Connect.
    disconnect(c, &store).await;
    c.update_custom_key_store()
        .custom_key_store_id(&store)
        .xks_proxy_authentication_credential(new.sdk())
        .send()
        .await
        .expect("UpdateCustomKeyStore credential");
    connect(c, &store).await;
    assert_eq!(state(c, &store).await, connected());
    assert_eq!(key_state(c, &key).await, "Enabled");
    assert_eq!(decrypt(c, &ct).await, b"before rotation");
}

#[tokio::test]
async fn proxy_not_reachable_then_back() {
    let pki = Ca::new("down");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("k1");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let key = xks_key(c, &store, "k1").await;
    let ct = encrypt(c, &key, b"while up").await;

    proxy.kill();
    encrypt_fails(&kms, &key, MSG_UNREACHABLE).await;
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_UNREACHABLE);
    assert_eq!(
        reconnect(c, &store).await,
        failed("XKS_PROXY_NOT_REACHABLE")
    );

    proxy.start();
    assert_eq!(reconnect(c, &store).await, connected());
    assert_eq!(decrypt(c, &ct).await, b"while up");
}

#[tokio::test]
async fn invalid_tls_configuration() {
    let pki = Ca::new("tls");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("k1");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let key = xks_key(c, &store, "k1").await;
    let ct = encrypt(c, &key, b"tls").await;
    let good = proxy.leaf.clone();

    // A certificate from the trusted CA, for another name.
    proxy.leaf = pki.server(&["xks.example.com"]);
    proxy.restart();
    encrypt_fails(&kms, &key, MSG_TLS).await;
    assert_eq!(
        reconnect(c, &store).await,
        failed("XKS_PROXY_INVALID_TLS_CONFIGURATION")
    );

    // A certificate for localhost, from a CA the KMS does not trust.
    proxy.leaf = Ca::new("untrusted").localhost();
    proxy.restart();
    assert_eq!(
        reconnect(c, &store).await,
        failed("XKS_PROXY_INVALID_TLS_CONFIGURATION")
    );
    // An update with a credential runs the health check: refused the same way.
    let msg = expect_code(
        {
            disconnect(c, &store).await;
            c.update_custom_key_store()
                .custom_key_store_id(&store)
                .xks_proxy_authentication_credential(proxy.cred().sdk())
                .send()
                .await
        },
        "XksProxyUriUnreachableException",
    );
    assert_eq!(msg, MSG_TLS);

    // Fixed.
    proxy.leaf = good;
    proxy.restart();
    assert_eq!(reconnect(c, &store).await, connected());
    assert_eq!(decrypt(c, &ct).await, b"tls");
}

#[tokio::test]
async fn invalid_configuration_when_the_proxy_path_changes() {
    let pki = Ca::new("path");
    let mut proxy = Proxy::new(&pki, &["alpha"], Backend::Software);
    proxy.create_key("k1");
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let key = xks_key(c, &store, "k1").await;
    let ct = encrypt(c, &key, b"path").await;

    // The proxy's tenant moves to /beta/kms/xks/v1 (same keystore file).
    proxy.prefixes = vec!["beta".to_string()];
    proxy.restart();
    encrypt_fails(&kms, &key, MSG_URI_PATH).await;
    assert_eq!(
        reconnect(c, &store).await,
        failed("XKS_PROXY_INVALID_CONFIGURATION")
    );

    // The fix: point the store at the new path (checked against the proxy first).
    disconnect(c, &store).await;
    let msg = expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&store)
            .xks_proxy_uri_path("/gamma/kms/xks/v1")
            .send()
            .await,
        "XksProxyInvalidConfigurationException",
    );
    assert_eq!(msg, MSG_URI_PATH);
    c.update_custom_key_store()
        .custom_key_store_id(&store)
        .xks_proxy_uri_path(proxy.uri_path())
        .send()
        .await
        .expect("UpdateCustomKeyStore path");
    connect(c, &store).await;
    assert_eq!(state(c, &store).await, connected());
    assert_eq!(decrypt(c, &ct).await, b"path");
}

/// The periodic KmsHealthCheck asks the proxy (kmsOperation KmsHealthCheck, a fresh kmsRequestId
/// each time) and never changes a connection state: with the proxy gone the store stays
/// CONNECTED and its keys Enabled; only the cryptographic calls fail.
#[tokio::test]
async fn periodic_health_check_changes_no_state() {
    let pki = Ca::new("periodic");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("k1");
    proxy.start();
    let kms = KmsServer::start_with(
        &pki,
        XksSection {
            health_check_seconds: 1,
            ..XksSection::default()
        },
        vec![admin()],
    )
    .await;
    let c = &kms.client;
    let store = connected_store(c, "s", &proxy).await;
    let key = xks_key(c, &store, "k1").await;
    let line = proxy
        .log
        .wait_for(0, Duration::from_secs(5), "a KmsHealthCheck", |l| {
            is_request_for(l, "KmsHealthCheck")
        });
    assert_eq!(
        log_field(&line, "operation").as_deref(),
        Some("GetHealthStatus")
    );
    // Each check is a request of its own, with a fresh request id.
    let first = log_field(&line, "kms_request_id").unwrap_or_default();
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{line}");
    let next = proxy
        .log
        .wait_for(0, Duration::from_secs(5), "a second KmsHealthCheck", |l| {
            is_request_for(l, "KmsHealthCheck")
                && log_field(l, "kms_request_id").as_deref() != Some(&first)
        });
    let second = log_field(&next, "kms_request_id").unwrap_or_default();
    assert!(uuid::Uuid::parse_str(&second).is_ok(), "{next}");

    proxy.kill();
    let from = kms.log.len();
    kms.log.wait_for(
        from,
        Duration::from_secs(5),
        "a failed KmsHealthCheck",
        |l| l.contains("KmsHealthCheck failed"),
    );
    assert_eq!(state(c, &store).await, connected());
    assert_eq!(key_state(c, &key).await, "Enabled");
    encrypt_fails(&kms, &key, MSG_UNREACHABLE).await;
}
