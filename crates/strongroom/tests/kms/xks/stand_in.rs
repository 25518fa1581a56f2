//! What KMS makes of a misbehaving proxy, with the stand-in proxy of `fake`: every outcome of
//! GetHealthStatus on Connect (ConnectionErrorCode) and on Create/Update (exceptions), of
//! GetKeyMetadata on CreateKey, and of Encrypt/Decrypt on cryptographic operations — the
//! specification's KMS table, row by row — plus the request metadata KMS sends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use serde_json::{json, Value};

use super::fake::{b64, good, good_encrypt, healthy, unb64, FakeProxy, Reply};
use super::harness::*;
use crate::common::expect_code;

/// A change to a well-formed Encrypt answer.
type Mangle = fn(&mut Value);

const SLOW: Duration = Duration::from_secs(1);
const UNHEALTHY: &str = "The external key store proxy is in an unhealthy state. If you see this message repeatedly, notify your external key store proxy administrator.";

fn health_with(statuses: &[&str]) -> Value {
    let mut h = healthy();
    h["ekmFleetDetails"] = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"id": format!("ekm-{i}"), "model": "Stand-in", "healthStatus": s}))
        .collect();
    h
}

/// The same as `good` for every operation, `delay` later.
fn slow(delay: Duration) -> impl Fn(&str, &Value) -> Reply {
    move |op, req| good(op, req).after(delay)
}

async fn setup(name: &str) -> (Ca, FakeProxy, KmsServer) {
    let pki = Ca::new(name);
    let fake = FakeProxy::start(0, &pki.localhost()).await;
    let kms = KmsServer::start(&pki).await;
    (pki, fake, kms)
}

async fn fake_store(kms: &KmsServer, fake: &FakeProxy, name: &str) -> String {
    let id = create_store(
        &kms.client,
        name,
        &fake.endpoint(),
        "/fake/kms/xks/v1",
        &Cred::random(),
    )
    .await
    .expect("CreateCustomKeyStore on the stand-in")
    .custom_key_store_id()
    .expect("id")
    .to_string();
    connect(&kms.client, &id).await;
    assert_eq!(state(&kms.client, &id).await.0, "CONNECTED");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_records_each_health_outcome() {
    let (_pki, fake, kms) = setup("connect-codes").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;

    let cases: Vec<(&str, Reply, Option<&str>)> = vec![
        (
            "truncated JSON",
            Reply::raw(200, r#"{"xksProxyFleetSize": 1,"#),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "not JSON",
            Reply::raw(200, "hello"),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "500 without a body",
            Reply::raw(500, ""),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "502 HTML",
            Reply::raw(502, "<html>bad gateway</html>"),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "no EKM",
            Reply::json(200, health_with(&[])),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "fields missing",
            Reply::json(200, json!({"xksProxyFleetSize": 1})),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "400 ValidationException",
            Reply::error(400, "ValidationException"),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "500 InternalException",
            Reply::error(500, "InternalException"),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "501 UnsupportedOperationException",
            Reply::error(501, "UnsupportedOperationException"),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "unknown error name",
            Reply::error(418, "TeapotException"),
            Some("XKS_PROXY_INVALID_RESPONSE"),
        ),
        (
            "401",
            Reply::error(401, "AuthenticationFailedException"),
            Some("INVALID_CREDENTIALS"),
        ),
        (
            "403",
            Reply::error(403, "AccessDeniedException"),
            Some("XKS_PROXY_ACCESS_DENIED"),
        ),
        (
            "404 path",
            Reply::error(404, "InvalidUriPathException"),
            Some("XKS_PROXY_INVALID_CONFIGURATION"),
        ),
        (
            "503",
            Reply::error(503, "DependencyTimeoutException"),
            Some("XKS_PROXY_TIMED_OUT"),
        ),
        (
            "429",
            Reply::error(429, "ThrottlingException"),
            Some("XKS_PROXY_NOT_REACHABLE"),
        ),
        (
            "all EKMs UNAVAILABLE",
            Reply::json(200, health_with(&["UNAVAILABLE", "UNAVAILABLE"])),
            Some("XKS_PROXY_NOT_REACHABLE"),
        ),
        (
            "slow",
            Reply::json(200, healthy()).after(SLOW),
            Some("XKS_PROXY_TIMED_OUT"),
        ),
        (
            "one EKM left",
            Reply::json(200, health_with(&["UNAVAILABLE", "ACTIVE"])),
            None,
        ),
        (
            "DEGRADED",
            Reply::json(200, health_with(&["DEGRADED"])),
            None,
        ),
    ];
    for (what, reply, code) in cases {
        fake.fail("health", reply);
        let started = Instant::now();
        let got = reconnect(c, &store).await;
        let want = match code {
            Some(code) => ("FAILED".to_string(), Some(code.to_string())),
            None => ("CONNECTED".to_string(), None),
        };
        assert_eq!(got, want, "{what}");
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{what}: Connect waited {:?}",
            started.elapsed()
        );
    }

    fake.heal();
    assert_eq!(reconnect(c, &store).await, ("CONNECTED".to_string(), None));

    // Connect's health check carries only kmsRequestId and kmsOperation.
    let (path, body) = fake
        .requests()
        .into_iter()
        .rev()
        .find(|(p, _)| p.ends_with("/health"))
        .expect("a health request");
    assert_eq!(path, "/fake/kms/xks/v1/health");
    let meta = body["requestMetadata"]
        .as_object()
        .expect("requestMetadata");
    assert_eq!(meta["kmsOperation"], "ConnectCustomKeyStore", "{body}");
    assert!(
        meta["kmsRequestId"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        meta.keys()
            .all(|k| k == "kmsRequestId" || k == "kmsOperation"),
        "{body}"
    );
}

/// The stand-in answers the next `n` calls of `slow_op` late (after [`SLOW`], past the KMS's
/// deadline), later ones and every other operation on time.
fn slow_calls(fake: &FakeProxy, slow_op: &'static str, n: usize) {
    let left = Arc::new(AtomicUsize::new(n));
    fake.set(move |op, req| {
        let late = op == slow_op
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| k.checked_sub(1))
                .is_ok();
        good(op, req).after(if late { SLOW } else { Duration::ZERO })
    });
}

fn slow_health(fake: &FakeProxy, n: usize) {
    slow_calls(fake, "health", n);
}

/// How many requests for `op` the stand-in received from request number `from` on.
fn calls_of(fake: &FakeProxy, op: &str, from: usize) -> usize {
    let suffix = format!("/{op}");
    fake.requests()[from..]
        .iter()
        .filter(|(path, _)| path.ends_with(&suffix))
        .count()
}

/// GetKeyMetadata (CreateKey), Encrypt and Decrypt that time out once are retried once and
/// succeed, like GetHealthStatus (above): every proxy call gets exactly one retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proxy_operation_is_retried_once_after_a_timeout() {
    let (_pki, fake, kms) = setup("retry-each").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;

    slow_calls(&fake, "metadata", 1);
    let from = fake.requests().len();
    let key = xks_key(c, &store, "ext-1").await;
    assert_eq!(calls_of(&fake, "metadata", from), 2, "CreateKey");

    slow_calls(&fake, "encrypt", 1);
    let from = fake.requests().len();
    let ct = encrypt(c, &key, b"retried").await;
    assert_eq!(calls_of(&fake, "encrypt", from), 2, "Encrypt");

    slow_calls(&fake, "decrypt", 1);
    let from = fake.requests().len();
    assert_eq!(decrypt(c, &ct).await, b"retried");
    assert_eq!(calls_of(&fake, "decrypt", from), 2, "Decrypt");
}

/// (kmsRequestId, kmsOperation) of each GetHealthStatus the stand-in received from request
/// number `from` on.
fn health_calls(fake: &FakeProxy, from: usize) -> Vec<(String, String)> {
    fake.requests()[from..]
        .iter()
        .filter(|(path, _)| path.ends_with("/health"))
        .map(|(_, body)| {
            let m = &body["requestMetadata"];
            let field = |name: &str| m[name].as_str().unwrap_or_default().to_string();
            (field("kmsRequestId"), field("kmsOperation"))
        })
        .collect()
}

/// The GetHealthStatus of CreateCustomKeyStore, UpdateCustomKeyStore and ConnectCustomKeyStore
/// carries the request id the caller got back (x-amzn-RequestId) as kmsRequestId. A call that
/// times out is retried once with the same request id (developer guide, external key store
/// monitoring, Latency): a proxy slow once serves, slow twice fails after two attempts with the
/// timeout error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_health_checks_carry_the_request_id_and_retry_a_timeout_once() {
    let (_pki, fake, kms) = setup("health-request-ids").await;
    let c = &kms.client;
    let mut store = String::new();
    for late in [0, 1] {
        let attempts = late + 1;
        slow_health(&fake, late);
        let from = fake.requests().len();
        let out = create_store(
            c,
            &format!("s{late}"),
            &fake.endpoint(),
            &format!("/p{late}/kms/xks/v1"),
            &Cred::random(),
        )
        .await
        .expect("CreateCustomKeyStore");
        let id = out.request_id().expect("x-amzn-RequestId").to_string();
        assert_eq!(
            health_calls(&fake, from),
            vec![(id, "CreateCustomKeyStore".to_string()); attempts],
            "Create, {late} late"
        );
        store = out.custom_key_store_id().expect("id").to_string();

        slow_health(&fake, late);
        let from = fake.requests().len();
        let out = c
            .connect_custom_key_store()
            .custom_key_store_id(&store)
            .send()
            .await
            .expect("ConnectCustomKeyStore");
        assert_eq!(state(c, &store).await, ("CONNECTED".to_string(), None));
        let id = out.request_id().expect("x-amzn-RequestId").to_string();
        assert_eq!(
            health_calls(&fake, from),
            vec![(id, "ConnectCustomKeyStore".to_string()); attempts],
            "Connect, {late} late"
        );

        disconnect(c, &store).await;
        slow_health(&fake, late);
        let from = fake.requests().len();
        let out = c
            .update_custom_key_store()
            .custom_key_store_id(&store)
            .xks_proxy_authentication_credential(Cred::random().sdk())
            .send()
            .await
            .expect("UpdateCustomKeyStore");
        let id = out.request_id().expect("x-amzn-RequestId").to_string();
        assert_eq!(
            health_calls(&fake, from),
            vec![(id, "UpdateCustomKeyStore".to_string()); attempts],
            "Update, {late} late"
        );
    }

    // Late twice: two attempts of one deadline (250 ms) each, then AWS's timeout error.
    let twice_late = |what: &str, from: usize, started: Instant, op: &str| {
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(500) && waited < Duration::from_millis(950),
            "{what}: {waited:?}"
        );
        let calls = health_calls(&fake, from);
        assert_eq!(calls.len(), 2, "{what}: {calls:?}");
        assert_eq!(calls[0], calls[1], "{what}: the retry is the same request");
        assert_eq!(calls[0].1, op, "{what}");
        assert!(
            uuid::Uuid::parse_str(&calls[0].0).is_ok(),
            "{what}: {calls:?}"
        );
    };
    slow_health(&fake, 2);
    let (from, started) = (fake.requests().len(), Instant::now());
    let msg = expect_code(
        create_store(
            c,
            "late",
            &fake.endpoint(),
            "/late/kms/xks/v1",
            &Cred::random(),
        )
        .await,
        "XksProxyUriUnreachableException",
    );
    assert_eq!(msg, MSG_TIMEOUT);
    twice_late("Create", from, started, "CreateCustomKeyStore");

    slow_health(&fake, 2);
    let (from, started) = (fake.requests().len(), Instant::now());
    let msg = expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&store)
            .xks_proxy_authentication_credential(Cred::random().sdk())
            .send()
            .await,
        "XksProxyUriUnreachableException",
    );
    assert_eq!(msg, MSG_TIMEOUT);
    twice_late("Update", from, started, "UpdateCustomKeyStore");

    slow_health(&fake, 2);
    let (from, started) = (fake.requests().len(), Instant::now());
    connect(c, &store).await;
    twice_late("Connect", from, started, "ConnectCustomKeyStore");
    assert_eq!(
        state(c, &store).await,
        (
            "FAILED".to_string(),
            Some("XKS_PROXY_TIMED_OUT".to_string())
        )
    );
}

/// A proxy that dies mid-request (the connection closed after the request, no answer) could
/// not be communicated with: MSG_UNREACHABLE, not "cannot interpret the response" (found by the
/// fault loop under load, xks::faults, when the proxy was SIGKILLed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_hanging_up_mid_request_is_unreachable() {
    let (_pki, fake, kms) = setup("hang-up").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;
    let key = xks_key(c, &store, "ext-1").await;
    let ct = encrypt(c, &key, b"before").await;
    for op in ["encrypt", "decrypt"] {
        fake.fail(op, Reply::hang_up());
        let r: Result<(), (Option<String>, Option<String>)> = match op {
            "encrypt" => c
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new("x"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(String::from), e.message().map(String::from))),
            _ => c
                .decrypt()
                .ciphertext_blob(Blob::new(ct.clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(String::from), e.message().map(String::from))),
        };
        let msg = match r {
            Ok(()) => panic!("{op} succeeded through a proxy that hangs up"),
            Err((code, msg)) => {
                assert_eq!(code.as_deref(), Some("KMSInvalidStateException"), "{op}");
                msg.unwrap_or_default()
            }
        };
        assert_eq!(msg, MSG_UNREACHABLE, "{op}");
    }
    fake.heal();
    assert_eq!(decrypt(c, &ct).await, b"before");
}

/// TLS failures: a certificate for another name, or from a CA the KMS does not trust. Connect
/// records XKS_PROXY_INVALID_TLS_CONFIGURATION; Create, Update and crypto say it is TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures() {
    let (pki, fake, kms) = setup("tls-codes").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;
    let key = xks_key(c, &store, "ext-1").await;
    for (what, leaf) in [
        ("another name", pki.server(&["xks.example.com"])),
        ("untrusted CA", Ca::new("untrusted").localhost()),
    ] {
        // New handshakes from now on (open connections are closed).
        fake.set_certificate(&leaf);
        let msg = expect_code(
            c.encrypt()
                .key_id(&key)
                .plaintext(Blob::new("x"))
                .send()
                .await,
            "KMSInvalidStateException",
        );
        assert_eq!(msg, MSG_TLS, "Encrypt, {what}");
        let msg = expect_code(
            create_store(
                c,
                "new",
                &fake.endpoint(),
                "/other/kms/xks/v1",
                &Cred::random(),
            )
            .await,
            "XksProxyUriUnreachableException",
        );
        assert_eq!(msg, MSG_TLS, "Create, {what}");
        assert_eq!(
            reconnect(c, &store).await,
            (
                "FAILED".to_string(),
                Some("XKS_PROXY_INVALID_TLS_CONFIGURATION".to_string())
            ),
            "Connect, {what}"
        );
        disconnect(c, &store).await;
        let msg = expect_code(
            c.update_custom_key_store()
                .custom_key_store_id(&store)
                .xks_proxy_authentication_credential(Cred::random().sdk())
                .send()
                .await,
            "XksProxyUriUnreachableException",
        );
        assert_eq!(msg, MSG_TLS, "Update, {what}");
        fake.set_certificate(&pki.localhost());
        assert_eq!(reconnect(c, &store).await, ("CONNECTED".to_string(), None));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_map_health_failures() {
    let (_pki, fake, kms) = setup("create-map").await;
    let c = &kms.client;
    let cases: Vec<(&str, Reply, &str, &str)> = vec![
        (
            "401",
            Reply::error(401, "AuthenticationFailedException"),
            "XksProxyIncorrectAuthenticationCredentialException",
            MSG_AUTH,
        ),
        (
            "404 path",
            Reply::error(404, "InvalidUriPathException"),
            "XksProxyInvalidConfigurationException",
            MSG_URI_PATH,
        ),
        (
            "503",
            Reply::error(503, "DependencyTimeoutException"),
            "XksProxyUriUnreachableException",
            MSG_DEPENDENCY_TIMEOUT,
        ),
        (
            "429",
            Reply::error(429, "ThrottlingException"),
            "XksProxyUriUnreachableException",
            MSG_PROXY_THROTTLED,
        ),
        (
            "500 InternalException",
            Reply::error(500, "InternalException"),
            "XksProxyInvalidResponseException",
            MSG_INTERNAL,
        ),
        (
            "400 ValidationException",
            Reply::error(400, "ValidationException"),
            "XksProxyInvalidResponseException",
            MSG_CANNOT_INTERPRET,
        ),
        (
            "truncated JSON",
            Reply::raw(200, r#"{"xksProxyFleetSize""#),
            "XksProxyInvalidResponseException",
            MSG_CANNOT_INTERPRET,
        ),
        (
            "500 without a body",
            Reply::raw(500, ""),
            "XksProxyInvalidResponseException",
            MSG_CANNOT_INTERPRET,
        ),
        (
            "all EKMs UNAVAILABLE",
            Reply::json(200, health_with(&["UNAVAILABLE"])),
            "XksProxyUriUnreachableException",
            UNHEALTHY,
        ),
        (
            "slow",
            Reply::json(200, healthy()).after(SLOW),
            "XksProxyUriUnreachableException",
            MSG_TIMEOUT,
        ),
    ];
    // A healthy, disconnected store to update.
    let store = fake_store(&kms, &fake, "updated").await;
    disconnect(c, &store).await;
    for (what, reply, exception, message) in cases {
        fake.fail("health", reply);
        let msg = expect_code(
            create_store(
                c,
                "new",
                &fake.endpoint(),
                "/other/kms/xks/v1",
                &Cred::random(),
            )
            .await,
            exception,
        );
        assert_eq!(msg, message, "Create, {what}");
        let msg = expect_code(
            c.update_custom_key_store()
                .custom_key_store_id(&store)
                .xks_proxy_authentication_credential(Cred::random().sdk())
                .send()
                .await,
            exception,
        );
        assert_eq!(msg, message, "Update, {what}");
    }
    // Nothing was created; a name-only update does not ask the proxy.
    fake.fail("health", Reply::raw(500, ""));
    c.update_custom_key_store()
        .custom_key_store_id(&store)
        .new_custom_key_store_name("renamed")
        .send()
        .await
        .expect("rename without a health check");
    let stores = c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    assert_eq!(stores.custom_key_stores().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_key_maps_get_key_metadata() {
    let (_pki, fake, kms) = setup("metadata-map").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;
    let meta = |spec: &str, usage: Value, status: &str| {
        Reply::json(
            200,
            json!({"keySpec": spec, "keyUsage": usage, "keyStatus": status}),
        )
    };
    let cases: Vec<(&str, Reply, &str, &str)> = vec![
        ("AES_128", meta("AES_128", json!(["ENCRYPT", "DECRYPT"]), "ENABLED"), "XksKeyInvalidConfigurationException",
         "The key spec of the external key must be AES_256. The key spec of specified external key is AES_128."),
        ("DISABLED", meta("AES_256", json!(["ENCRYPT", "DECRYPT"]), "DISABLED"), "XksKeyInvalidConfigurationException",
         "The status of the external key must be ENABLED. The status of specified external key is DISABLED."),
        ("ENCRYPT only", meta("AES_256", json!(["ENCRYPT"]), "ENABLED"), "XksKeyInvalidConfigurationException",
         "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of specified external key is [\"ENCRYPT\"]."),
        ("404 key", Reply::error(404, "KeyNotFoundException"), "XksKeyNotFoundException", MSG_KEY_NOT_FOUND),
        ("400 InvalidStateException", Reply::error(400, "InvalidStateException"), "XksKeyInvalidConfigurationException", MSG_NOT_ENABLED),
        ("400 InvalidKeyUsageException", Reply::error(400, "InvalidKeyUsageException"), "XksKeyInvalidConfigurationException", MSG_KEY_USAGE),
        ("403", Reply::error(403, "AccessDeniedException"), "CustomKeyStoreInvalidStateException", MSG_DENIED),
        ("401", Reply::error(401, "AuthenticationFailedException"), "CustomKeyStoreInvalidStateException", MSG_AUTH),
        ("404 path", Reply::error(404, "InvalidUriPathException"), "CustomKeyStoreInvalidStateException", MSG_URI_PATH),
        ("400 ValidationException", Reply::error(400, "ValidationException"), "CustomKeyStoreInvalidStateException", MSG_CANNOT_INTERPRET),
        ("500", Reply::error(500, "InternalException"), "CustomKeyStoreInvalidStateException", MSG_INTERNAL),
        ("503", Reply::error(503, "DependencyTimeoutException"), "CustomKeyStoreInvalidStateException", MSG_DEPENDENCY_TIMEOUT),
        ("429", Reply::error(429, "ThrottlingException"), "CustomKeyStoreInvalidStateException", MSG_PROXY_THROTTLED),
        ("501", Reply::error(501, "UnsupportedOperationException"), "CustomKeyStoreInvalidStateException", MSG_UNSUPPORTED),
        ("malformed", Reply::raw(200, "{"), "CustomKeyStoreInvalidStateException", MSG_CANNOT_INTERPRET),
        ("slow", meta("AES_256", json!(["ENCRYPT", "DECRYPT"]), "ENABLED").after(SLOW), "CustomKeyStoreInvalidStateException", MSG_TIMEOUT),
    ];
    for (what, reply, exception, message) in cases {
        fake.fail("metadata", reply);
        let msg = expect_code(try_xks_key(c, &store, "ext-1").await, exception);
        assert_eq!(msg, message, "{what}");
    }
    let keys = c.list_keys().send().await.expect("ListKeys");
    assert!(keys.keys().is_empty(), "no key was created: {keys:?}");

    // A healthy answer: the key exists; GetKeyMetadata named the caller, CreateKey, no key ARN.
    fake.heal();
    let out = try_xks_key(c, &store, "ext-1").await.expect("CreateKey");
    let request_id = out.request_id().expect("x-amzn-RequestId").to_string();
    let (path, body) = fake
        .requests()
        .into_iter()
        .rev()
        .find(|(p, _)| p.ends_with("/metadata"))
        .expect("a metadata request");
    assert_eq!(path, "/fake/kms/xks/v1/keys/ext-1/metadata");
    let m = &body["requestMetadata"];
    assert_eq!(m["kmsOperation"], "CreateKey", "{body}");
    assert_eq!(m["awsPrincipalArn"], admin_arn(&kms), "{body}");
    assert_eq!(m["kmsRequestId"], request_id.as_str(), "{body}");
    assert!(m.get("kmsKeyArn").is_none(), "{body}");
}

fn admin_arn(kms: &KmsServer) -> String {
    kms.principals[0].arn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_outcomes_become_kms_invalid_state() {
    let (_pki, fake, kms) = setup("crypto-map").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;
    let key = xks_key(c, &store, "ext-1").await;
    let key_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}");
    let ct = encrypt(c, &key, b"stand-in").await;
    assert_eq!(decrypt(c, &ct).await, b"stand-in");

    // What Encrypt sent: the metadata, AES_GCM, an AAD, a CDIV request.
    let out = c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("meta"))
        .send()
        .await
        .expect("Encrypt");
    let (path, body) = fake
        .requests()
        .into_iter()
        .rev()
        .find(|(p, _)| p.ends_with("/encrypt"))
        .expect("an encrypt request");
    assert_eq!(path, "/fake/kms/xks/v1/keys/ext-1/encrypt");
    let m = &body["requestMetadata"];
    assert_eq!(m["kmsOperation"], "Encrypt", "{body}");
    assert_eq!(m["kmsKeyArn"], key_arn.as_str(), "{body}");
    assert_eq!(m["awsPrincipalArn"], admin_arn(&kms), "{body}");
    assert_eq!(
        m["kmsRequestId"],
        out.request_id().expect("x-amzn-RequestId"),
        "{body}"
    );
    assert_eq!(body["encryptionAlgorithm"], "AES_GCM", "{body}");
    assert_eq!(
        body["ciphertextDataIntegrityValueAlgorithm"], "SHA_256",
        "{body}"
    );
    assert!(
        !unb64(&body["additionalAuthenticatedData"]).is_empty(),
        "{body}"
    );
    // The caller's plaintext never reaches the proxy: it gets the inner ciphertext.
    assert_ne!(unb64(&body["plaintext"]), b"meta");

    // Encrypt answers KMS must reject.
    let tweak = |f: fn(&mut Value)| {
        move |op: &str, req: &Value| {
            if op == "encrypt" {
                let mut v = good_encrypt(req);
                f(&mut v);
                Reply::json(200, v)
            } else {
                good(op, req)
            }
        }
    };
    let mangled: Vec<(&str, Mangle)> = vec![
        ("wrong CDIV", |v| {
            v["ciphertextDataIntegrityValue"] = json!(b64(&[0u8; 32]))
        }),
        ("no CDIV", |v| {
            v.as_object_mut()
                .expect("object")
                .remove("ciphertextDataIntegrityValue");
        }),
        ("8-byte IV", |v| {
            v["initializationVector"] = json!(b64(&[1u8; 8]))
        }),
        ("15-byte tag", |v| {
            v["authenticationTag"] = json!(b64(&[1u8; 15]))
        }),
        ("short ciphertext", |v| {
            let mut ct = unb64(&v["ciphertext"]);
            ct.pop();
            v["ciphertext"] = json!(b64(&ct));
        }),
        ("21 bytes of metadata", |v| {
            v["ciphertextMetadata"] = json!(b64(&[7u8; 21]))
        }),
        ("ciphertext not Base64", |v| v["ciphertext"] = json!("***")),
    ];
    for (what, f) in mangled {
        fake.set(tweak(f));
        let msg = expect_code(
            c.encrypt()
                .key_id(&key)
                .plaintext(Blob::new("x"))
                .send()
                .await,
            "KMSInvalidStateException",
        );
        assert_eq!(msg, MSG_CANNOT_INTERPRET, "{what}");
    }

    // Every error the proxy can answer, on Encrypt and GenerateDataKey.
    let errors: Vec<(Reply, &str)> = vec![
        (Reply::raw(200, "{\"ciphertext\":"), MSG_CANNOT_INTERPRET),
        (Reply::raw(500, ""), MSG_CANNOT_INTERPRET),
        (
            Reply::error(400, "ValidationException"),
            MSG_CANNOT_INTERPRET,
        ),
        (Reply::error(400, "InvalidStateException"), MSG_NOT_ENABLED),
        (Reply::error(400, "InvalidKeyUsageException"), MSG_KEY_USAGE),
        (Reply::error(401, "AuthenticationFailedException"), MSG_AUTH),
        (Reply::error(403, "AccessDeniedException"), MSG_DENIED),
        (Reply::error(404, "KeyNotFoundException"), MSG_KEY_NOT_FOUND),
        (Reply::error(404, "InvalidUriPathException"), MSG_URI_PATH),
        (
            Reply::error(429, "ThrottlingException"),
            MSG_PROXY_THROTTLED,
        ),
        (Reply::error(500, "InternalException"), MSG_INTERNAL),
        (
            Reply::error(501, "UnsupportedOperationException"),
            MSG_UNSUPPORTED,
        ),
        (
            Reply::error(503, "DependencyTimeoutException"),
            MSG_DEPENDENCY_TIMEOUT,
        ),
    ];
    for (reply, message) in errors {
        let what = String::from_utf8_lossy(&reply.body).into_owned();
        fake.fail("encrypt", reply);
        let msg = expect_code(
            c.encrypt()
                .key_id(&key)
                .plaintext(Blob::new("x"))
                .send()
                .await,
            "KMSInvalidStateException",
        );
        assert_eq!(msg, message, "Encrypt, {what}");
        let msg = expect_code(
            c.generate_data_key()
                .key_id(&key)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await,
            "KMSInvalidStateException",
        );
        assert_eq!(msg, message, "GenerateDataKey, {what}");
    }

    // Slow once: KMS retries a call that timed out, once, and the retry's answer counts.
    let encrypts = |fake: &FakeProxy| {
        fake.requests()
            .iter()
            .filter(|(path, _)| path.ends_with("/encrypt"))
            .count()
    };
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    fake.set(move |op, req| {
        let first = op == "encrypt" && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        good(op, req).after(if first { SLOW } else { Duration::ZERO })
    });
    let before = encrypts(&fake);
    c.encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect("Encrypt after one timed-out attempt");
    assert_eq!(encrypts(&fake) - before, 2, "one attempt and one retry");

    // Too slow: KMS gives up at its deadline (250 ms) twice, well before the answer.
    fake.set(slow(SLOW));
    let before = encrypts(&fake);
    let started = Instant::now();
    let msg = expect_code(
        c.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_TIMEOUT);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(950),
        "{waited:?}"
    );
    assert_eq!(encrypts(&fake) - before, 2, "one attempt and one retry");
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_TIMEOUT);

    // Decrypt: the proxy's InvalidCiphertextException, and a plaintext the inner layer rejects.
    fake.fail("decrypt", Reply::error(400, "InvalidCiphertextException"));
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INVALID_CIPHERTEXT);
    let aws_key = c
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string();
    let msg = expect_code(
        c.re_encrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .destination_key_id(&aws_key)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INVALID_CIPHERTEXT);
    fake.set(|op, req| {
        if op == "decrypt" {
            let mut inner = unb64(&req["ciphertext"]);
            inner[0] ^= 1;
            Reply::json(200, json!({"plaintext": b64(&inner)}))
        } else {
            good(op, req)
        }
    });
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INNER_REJECTED);
    for bad in [Reply::raw(200, "{}"), Reply::raw(200, "[")] {
        fake.fail("decrypt", bad);
        let msg = expect_code(
            c.decrypt()
                .ciphertext_blob(Blob::new(ct.clone()))
                .send()
                .await,
            "KMSInvalidStateException",
        );
        assert_eq!(msg, MSG_CANNOT_INTERPRET);
    }

    // Healed: the old ciphertext decrypts; Decrypt and ReEncrypt said who they were.
    fake.heal();
    let out = c
        .decrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(&b"stand-in"[..]));
    let decrypt_id = out.request_id().expect("request id").to_string();
    let out = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .destination_key_id(&aws_key)
        .send()
        .await
        .expect("ReEncrypt");
    let reencrypt_id = out.request_id().expect("request id").to_string();
    let decrypts: Vec<Value> = fake
        .requests()
        .into_iter()
        .filter(|(p, _)| p.ends_with("/decrypt"))
        .map(|(_, b)| b["requestMetadata"].clone())
        .collect();
    let n = decrypts.len();
    assert!(n >= 2, "{decrypts:?}");
    assert_eq!(decrypts[n - 2]["kmsOperation"], "Decrypt");
    assert_eq!(decrypts[n - 2]["kmsRequestId"], decrypt_id.as_str());
    assert_eq!(decrypts[n - 1]["kmsOperation"], "ReEncrypt");
    assert_eq!(decrypts[n - 1]["kmsRequestId"], reencrypt_id.as_str());
    assert_eq!(decrypts[n - 1]["kmsKeyArn"], key_arn.as_str());
}

/// At most 10 custom key stores per account (AWS's resource quota), whatever their state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_stores_per_account() {
    let (_pki, fake, kms) = setup("store-quota").await;
    let c = &kms.client;
    for i in 0..10 {
        create_store(
            c,
            &format!("s{i}"),
            &fake.endpoint(),
            &format!("/p{i}/kms/xks/v1"),
            &Cred::random(),
        )
        .await
        .expect("CreateCustomKeyStore");
    }
    expect_code(
        create_store(
            c,
            "s10",
            &fake.endpoint(),
            "/p10/kms/xks/v1",
            &Cred::random(),
        )
        .await,
        "LimitExceededException",
    );
    let first = c
        .describe_custom_key_stores()
        .custom_key_store_name("s0")
        .send()
        .await
        .expect("DescribeCustomKeyStores")
        .custom_key_stores()[0]
        .custom_key_store_id()
        .expect("id")
        .to_string();
    c.delete_custom_key_store()
        .custom_key_store_id(&first)
        .send()
        .await
        .expect("DeleteCustomKeyStore");
    create_store(
        c,
        "s10",
        &fake.endpoint(),
        "/p10/kms/xks/v1",
        &Cred::random(),
    )
    .await
    .expect("room again after a delete");
}

/// DryRun is the last check: a DryRun request on an external key goes through the proxy, and a
/// proxy failure is the answer, not DryRunOperationException (AWS runs the whole operation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_answers_only_after_the_proxy() {
    let (_pki, fake, kms) = setup("dry-run").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;
    let key = xks_key(c, &store, "ext-1").await;
    let ct = encrypt(c, &key, b"dry").await;
    let own = c
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata")
        .key_id()
        .to_string();
    let own_ct = encrypt(c, &own, b"dry").await;

    fake.set(|op, req| match op {
        "encrypt" | "decrypt" => Reply::error(500, "InternalException"),
        _ => good(op, req),
    });
    let msg = expect_code(
        c.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .dry_run(true)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INTERNAL, "Encrypt");
    let msg = expect_code(
        c.generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .dry_run(true)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INTERNAL, "GenerateDataKey");
    let msg = expect_code(
        c.decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .dry_run(true)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INTERNAL, "Decrypt");
    let msg = expect_code(
        c.re_encrypt()
            .ciphertext_blob(Blob::new(own_ct.clone()))
            .destination_key_id(&key)
            .dry_run(true)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(msg, MSG_INTERNAL, "ReEncrypt");
    fake.heal();
    let r = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(own_ct))
        .destination_key_id(&key)
        .dry_run(true)
        .send()
        .await;
    expect_code(r, "DryRunOperationException");
    let r = c
        .decrypt()
        .ciphertext_blob(Blob::new(ct))
        .dry_run(true)
        .send()
        .await;
    expect_code(r, "DryRunOperationException");
}

/// Keys in external key stores are symmetric encryption keys: the other key types and the
/// operations of other key usages get AWS's refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_keys_refuse_asymmetric_operations() {
    use aws_sdk_kms::types::{
        DataKeyPairSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, OriginType, SigningAlgorithmSpec,
    };

    let (_pki, fake, kms) = setup("asymmetric").await;
    let c = &kms.client;
    let store = fake_store(&kms, &fake, "s").await;
    let key = xks_key(c, &store, "ext-1").await;
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}");

    let r = c
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(&store)
        .xks_key_id("ext-2")
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "UnsupportedOperationException"),
        "KeySpec ECC_NIST_P256 is not supported for Origin EXTERNAL_KEY_STORE"
    );
    let r = c
        .sign()
        .key_id(&key)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .message(Blob::new("m"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign.")
    );
    let r = c
        .generate_mac()
        .key_id(&key)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new("m"))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "InvalidKeyUsageException"),
        format!("{arn} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.")
    );
    let r = c.get_public_key().key_id(&key).send().await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), "");
    let not_valid =
        format!("{arn} origin is EXTERNAL_KEY_STORE which is not valid for this operation.");
    let r = c
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), not_valid);
    let r = c
        .generate_data_key_pair_without_plaintext()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await;
    assert_eq!(expect_code(r, "UnsupportedOperationException"), not_valid);
}
