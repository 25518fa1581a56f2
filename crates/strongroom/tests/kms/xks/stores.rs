//! The custom key store API for EXTERNAL_KEY_STORE against a real proxy: create (and what it
//! checks), describe (by id, by name, all, paging), connect/disconnect, update, delete, and the
//! stores' persistence across a restart of the KMS.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_kms::types::{ConnectionStateType, CustomKeyStoreType, XksProxyConnectivityType};
use serde_json::json;

use super::harness::*;
use crate::common::{expect_code, now_secs, raw_request, secs, signer_for};

const VPC_SERVICE: &str = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";

/// The DescribeCustomKeyStores response body as sent on the wire (the SDK's types could not
/// show a secret that should not be there).
fn raw_describe(kms: &KmsServer, body: serde_json::Value) -> serde_json::Value {
    let p = &kms.principals[0];
    let addr = kms.endpoint.strip_prefix("http://").expect("http endpoint");
    let body = body.to_string().into_bytes();
    let headers = signer_for(p).sign_kms(addr, "TrentService.DescribeCustomKeyStores", &body);
    let resp = raw_request(addr, &headers, &body);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()
}

#[tokio::test]
async fn create_describe_page_and_uniqueness() {
    let pki = Ca::new("stores");
    let mut proxy = Proxy::new(
        &pki,
        &["alpha", "beta", "gamma", "delta"],
        Backend::Software,
    );
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let cred = proxy.cred();
    let before = proxy.log.len();

    let id_pattern = regex::Regex::new("^cks-[0-9a-f]{17}$").expect("regex");
    let mut ids = Vec::new();
    for (i, name) in ["store-a", "store-b", "store-c"].iter().enumerate() {
        let id = create_store(c, name, &proxy.endpoint(), &proxy.uri_path_of(i), &cred)
            .await
            .expect("CreateCustomKeyStore")
            .custom_key_store_id()
            .expect("CustomKeyStoreId")
            .to_string();
        assert!(id_pattern.is_match(&id), "{id}");
        ids.push(id);
    }
    // Create checked the proxy: one GetHealthStatus per store, kmsOperation CreateCustomKeyStore.
    // (The proxy's log lines reach the test through a reader thread: wait for the last.)
    let health = || -> Vec<String> {
        proxy.log.lines()[before..]
            .iter()
            .filter(|l| {
                l.contains("xks request")
                    && log_field(l, "operation").as_deref() == Some("GetHealthStatus")
            })
            .cloned()
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut health_lines = health();
    while health_lines.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        health_lines = health();
    }
    assert_eq!(health_lines.len(), 3, "{health_lines:#?}");
    assert!(
        health_lines
            .iter()
            .all(|l| is_request_for(l, "CreateCustomKeyStore")),
        "{health_lines:#?}"
    );

    // By id: a new store is DISCONNECTED, with its proxy configuration.
    let e = describe_store(c, &ids[0]).await;
    assert_eq!(e.custom_key_store_id(), Some(ids[0].as_str()));
    assert_eq!(e.custom_key_store_name(), Some("store-a"));
    assert_eq!(
        e.custom_key_store_type(),
        Some(&CustomKeyStoreType::ExternalKeyStore)
    );
    assert_eq!(
        e.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );
    assert_eq!(e.connection_error_code(), None);
    assert!(e.cloud_hsm_cluster_id().is_none() && e.trust_anchor_certificate().is_none());
    let created = secs(e.creation_date().expect("CreationDate"));
    assert!((now_secs() - created).abs() < 60.0, "{created}");
    let x = e.xks_proxy_configuration().expect("XksProxyConfiguration");
    assert_eq!(
        x.connectivity(),
        Some(&XksProxyConnectivityType::PublicEndpoint)
    );
    assert_eq!(x.access_key_id(), Some(cred.access_key_id.as_str()));
    assert_eq!(x.uri_endpoint(), Some(proxy.endpoint().as_str()));
    assert_eq!(x.uri_path(), Some(proxy.uri_path_of(0).as_str()));
    assert_eq!(x.vpc_endpoint_service_name(), None);
    assert_eq!(x.vpc_endpoint_service_owner(), None);

    // On the wire: no secret anywhere, and only the four PUBLIC_ENDPOINT members.
    let raw = raw_describe(&kms, json!({}));
    let text = raw.to_string();
    assert!(!text.contains(&cred.secret), "the secret leaked: {text}");
    for entry in raw["CustomKeyStores"].as_array().expect("CustomKeyStores") {
        let keys: BTreeSet<&str> = entry["XksProxyConfiguration"]
            .as_object()
            .expect("XksProxyConfiguration")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["AccessKeyId", "Connectivity", "UriEndpoint", "UriPath"]),
            "{entry}"
        );
        assert!(entry.get("ConnectionErrorCode").is_none(), "{entry}");
    }
    assert_eq!(raw["Truncated"], json!(false), "{raw}");

    // By name.
    let by_name = c
        .describe_custom_key_stores()
        .custom_key_store_name("store-b")
        .send()
        .await
        .expect("DescribeCustomKeyStores by name");
    assert_eq!(by_name.custom_key_stores().len(), 1);
    assert_eq!(
        by_name.custom_key_stores()[0].custom_key_store_id(),
        Some(ids[1].as_str())
    );

    // All, then page by page with Limit 1.
    let all = c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    let all_ids: BTreeSet<String> = all
        .custom_key_stores()
        .iter()
        .filter_map(|s| s.custom_key_store_id().map(str::to_string))
        .collect();
    assert_eq!(all_ids, ids.iter().cloned().collect::<BTreeSet<_>>());
    assert!(!all.truncated());
    let mut paged = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let page = c
            .describe_custom_key_stores()
            .limit(1)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("DescribeCustomKeyStores page");
        assert_eq!(page.custom_key_stores().len(), 1, "{page:?}");
        paged.push(
            page.custom_key_stores()[0]
                .custom_key_store_id()
                .expect("id")
                .to_string(),
        );
        if page.truncated() {
            marker = Some(
                page.next_marker()
                    .expect("NextMarker when truncated")
                    .to_string(),
            );
        } else {
            assert_eq!(page.next_marker(), None);
            marker = None;
            break;
        }
    }
    assert!(marker.is_none(), "paging did not end");
    assert_eq!(paged.len(), 3, "{paged:?}");
    assert_eq!(paged.iter().cloned().collect::<BTreeSet<_>>(), all_ids);

    // A marker that was never issued; a Limit out of 1..=1000.
    expect_code(
        c.describe_custom_key_stores()
            .marker("not-a-marker")
            .send()
            .await,
        "InvalidMarkerException",
    );
    for limit in [0, 1001] {
        expect_code(
            c.describe_custom_key_stores().limit(limit).send().await,
            "ValidationException",
        );
    }

    // Unknown id or name.
    expect_code(
        c.describe_custom_key_stores()
            .custom_key_store_id("cks-00000000000000000")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        c.describe_custom_key_stores()
            .custom_key_store_name("no-such-store")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );

    // A name in use (even with a free, valid proxy path).
    expect_code(
        create_store(
            c,
            "store-a",
            &proxy.endpoint(),
            &proxy.uri_path_of(3),
            &cred,
        )
        .await,
        "CustomKeyStoreNameInUseException",
    );
    // Endpoint + path in use.
    expect_code(
        create_store(
            c,
            "store-d",
            &proxy.endpoint(),
            &proxy.uri_path_of(0),
            &cred,
        )
        .await,
        "XksProxyUriInUseException",
    );
    // The same path on another endpoint (the same proxy by its IP address) is another URI.
    let other_endpoint = format!("https://127.0.0.1:{}", proxy.port);
    create_store(c, "store-ip", &other_endpoint, &proxy.uri_path_of(0), &cred)
        .await
        .expect("same path, other endpoint");

    // Endpoint shape.
    for bad in [
        format!("http://localhost:{}", proxy.port),
        format!("https://localhost:{}/path", proxy.port),
        "https://".to_string(),
        "https://local_host".to_string(),
    ] {
        expect_code(
            create_store(c, "store-bad", &bad, &proxy.uri_path_of(3), &cred).await,
            "ValidationException",
        );
    }

    // VPC_ENDPOINT_SERVICE: no PrivateLink here.
    let vpc = c
        .create_custom_key_store()
        .custom_key_store_name("store-vpc")
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_connectivity(XksProxyConnectivityType::VpcEndpointService)
        .xks_proxy_uri_endpoint(proxy.endpoint())
        .xks_proxy_uri_path(proxy.uri_path_of(3))
        .xks_proxy_authentication_credential(cred.sdk())
        .xks_proxy_vpc_endpoint_service_name(VPC_SERVICE)
        .send()
        .await;
    expect_code(vpc, "XksProxyVpcEndpointServiceNotFoundException");
    let vpc_without_name = c
        .create_custom_key_store()
        .custom_key_store_name("store-vpc")
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_connectivity(XksProxyConnectivityType::VpcEndpointService)
        .xks_proxy_uri_endpoint(proxy.endpoint())
        .xks_proxy_uri_path(proxy.uri_path_of(3))
        .xks_proxy_authentication_credential(cred.sdk())
        .send()
        .await;
    expect_code(vpc_without_name, "ValidationException");

    // None of the refused creates left a store behind.
    let n = c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores")
        .custom_key_stores()
        .len();
    assert_eq!(n, 4);
}

#[tokio::test]
async fn create_checks_the_proxy_first() {
    let pki = Ca::new("create-checks");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let good = proxy.cred();

    // The proxy's 401 AuthenticationFailedException: wrong secret, unknown access key id.
    let wrong_secret = Cred {
        access_key_id: good.access_key_id.clone(),
        secret: Cred::random().secret,
    };
    for cred in [wrong_secret, Cred::random()] {
        let msg = expect_code(
            create_store(c, "s", &proxy.endpoint(), &proxy.uri_path(), &cred).await,
            "XksProxyIncorrectAuthenticationCredentialException",
        );
        assert_eq!(msg, MSG_AUTH);
    }
    // The proxy's 404 InvalidUriPathException: no tenant at that path.
    let msg = expect_code(
        create_store(c, "s", &proxy.endpoint(), "/nobody/kms/xks/v1", &good).await,
        "XksProxyInvalidConfigurationException",
    );
    assert_eq!(msg, MSG_URI_PATH);
    // Nothing listening.
    let msg = expect_code(
        create_store(
            c,
            "s",
            &format!("https://localhost:{}", free_port()),
            &proxy.uri_path(),
            &good,
        )
        .await,
        "XksProxyUriUnreachableException",
    );
    assert_eq!(msg, MSG_UNREACHABLE);
    // The proxy down.
    proxy.kill();
    let msg = expect_code(
        create_store(c, "s", &proxy.endpoint(), &proxy.uri_path(), &good).await,
        "XksProxyUriUnreachableException",
    );
    assert_eq!(msg, MSG_UNREACHABLE);
    assert!(c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores")
        .custom_key_stores()
        .is_empty());
    // Back up: the same request works.
    proxy.start();
    store_for(c, "s", &proxy).await;
}

/// A KMS that follows AWS's endpoint pattern (no port) refuses `https://host:port`.
#[tokio::test]
async fn endpoint_port_refused_unless_allowed() {
    let pki = Ca::new("no-port");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.start();
    let kms = KmsServer::start_with(
        &pki,
        XksSection {
            allow_endpoint_port: false,
            ..XksSection::default()
        },
        vec![admin()],
    )
    .await;
    let msg = expect_code(
        create_store(
            &kms.client,
            "s",
            &proxy.endpoint(),
            &proxy.uri_path(),
            &proxy.cred(),
        )
        .await,
        "ValidationException",
    );
    assert!(msg.contains("xksProxyUriEndpoint"), "{msg}");
    assert!(kms
        .client
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores")
        .custom_key_stores()
        .is_empty());
}

#[tokio::test]
async fn connect_disconnect_and_update() {
    let pki = Ca::new("update");
    let mut proxy = Proxy::new(&pki, &["one", "two"], Backend::Software);
    proxy.start();
    let kms = KmsServer::start(&pki).await;
    let c = &kms.client;
    let id = store_for(c, "store-1", &proxy).await;
    let other = create_store(
        c,
        "store-2",
        &proxy.endpoint(),
        &proxy.uri_path_of(1),
        &proxy.cred(),
    )
    .await
    .expect("second store")
    .custom_key_store_id()
    .expect("id")
    .to_string();

    // Connect → CONNECTED (the health check says kmsOperation ConnectCustomKeyStore).
    let before = proxy.log.len();
    connect(c, &id).await;
    assert_eq!(state(c, &id).await, ("CONNECTED".to_string(), None));
    proxy.log.wait_for(
        before,
        Duration::from_secs(5),
        "Connect's health check",
        |l| is_request_for(l, "ConnectCustomKeyStore"),
    );
    // Connect again: nothing changes (ours; AWS documents Connect as valid when CONNECTED).
    connect(c, &id).await;
    assert_eq!(state(c, &id).await.0, "CONNECTED");

    // While connected: the name and the credential may change; the endpoint may not.
    c.update_custom_key_store()
        .custom_key_store_id(&id)
        .new_custom_key_store_name("store-1-renamed")
        .send()
        .await
        .expect("rename while connected");
    assert_eq!(
        describe_store(c, &id).await.custom_key_store_name(),
        Some("store-1-renamed")
    );
    expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .new_custom_key_store_name("store-2")
            .send()
            .await,
        "CustomKeyStoreNameInUseException",
    );
    let msg = expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_uri_endpoint(format!("https://127.0.0.1:{}", proxy.port))
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    assert!(!msg.is_empty());
    expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );

    // Credential rotation, the specification's way: the proxy accepts both, KMS switches, the
    // proxy drops the old one.
    let old = proxy.cred();
    let new = Cred::random();
    // A credential the proxy does not know yet is refused by the update's health check.
    let msg = expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_authentication_credential(new.sdk())
            .send()
            .await,
        "XksProxyIncorrectAuthenticationCredentialException",
    );
    assert_eq!(msg, MSG_AUTH);
    proxy.set_creds(vec![old.clone(), new.clone()]);
    let before = proxy.log.len();
    c.update_custom_key_store()
        .custom_key_store_id(&id)
        .xks_proxy_authentication_credential(new.sdk())
        .send()
        .await
        .expect("update the credential while connected");
    let line = proxy.log.wait_for(
        before,
        Duration::from_secs(5),
        "Update's health check",
        |l| is_request_for(l, "UpdateCustomKeyStore"),
    );
    assert_eq!(
        log_field(&line, "access_key_id"),
        Some(new.access_key_id.clone()),
        "{line}"
    );
    let e = describe_store(c, &id).await;
    assert_eq!(
        e.xks_proxy_configuration().and_then(|x| x.access_key_id()),
        Some(new.access_key_id.as_str())
    );
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Connected));
    proxy.set_creds(vec![new.clone()]);
    // The other store still has the old credential: it can no longer connect.
    connect(c, &other).await;
    assert_eq!(
        state(c, &other).await,
        (
            "FAILED".to_string(),
            Some("INVALID_CREDENTIALS".to_string())
        )
    );
    // This one reconnects with the new credential only.
    assert_eq!(reconnect(c, &id).await, ("CONNECTED".to_string(), None));

    // Delete needs DISCONNECTED.
    expect_code(
        c.delete_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );

    // Disconnect → DISCONNECTED; again → CustomKeyStoreInvalidStateException.
    disconnect(c, &id).await;
    expect_code(
        c.disconnect_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );

    // While disconnected the endpoint may change, after a health check with the new values.
    let msg = expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_uri_endpoint(format!("https://localhost:{}", free_port()))
            .send()
            .await,
        "XksProxyUriUnreachableException",
    );
    assert_eq!(msg, MSG_UNREACHABLE);
    expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_uri_endpoint("http://localhost")
            .send()
            .await,
        "ValidationException",
    );
    let msg = expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_uri_path("/elsewhere/kms/xks/v1")
            .send()
            .await,
        "XksProxyInvalidConfigurationException",
    );
    assert_eq!(msg, MSG_URI_PATH);
    // Onto the other store's URI: in use.
    expect_code(
        c.update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_uri_path(proxy.uri_path_of(1))
            .send()
            .await,
        "XksProxyUriInUseException",
    );
    let ip_endpoint = format!("https://127.0.0.1:{}", proxy.port);
    c.update_custom_key_store()
        .custom_key_store_id(&id)
        .xks_proxy_uri_endpoint(&ip_endpoint)
        .send()
        .await
        .expect("update the endpoint while disconnected");
    // None of the refused updates changed anything; the accepted ones did.
    let x = describe_store(c, &id).await;
    assert_eq!(x.custom_key_store_name(), Some("store-1-renamed"));
    let x = x
        .xks_proxy_configuration()
        .expect("XksProxyConfiguration")
        .clone();
    assert_eq!(x.uri_endpoint(), Some(ip_endpoint.as_str()));
    assert_eq!(x.uri_path(), Some(proxy.uri_path_of(0).as_str()));
    assert_eq!(x.access_key_id(), Some(new.access_key_id.as_str()));
    connect(c, &id).await;
    assert_eq!(state(c, &id).await, ("CONNECTED".to_string(), None));

    // An empty, disconnected store can be deleted; then it is gone.
    disconnect(c, &id).await;
    c.delete_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .expect("DeleteCustomKeyStore");
    expect_code(
        c.describe_custom_key_stores()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        c.connect_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        c.delete_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    // The deleted store's name is free again.
    create_store(
        c,
        "store-1-renamed",
        &proxy.endpoint(),
        &proxy.uri_path(),
        &new,
    )
    .await
    .expect("reuse the name of a deleted store");
}

#[tokio::test]
async fn stores_and_keys_survive_a_kms_restart() {
    let pki = Ca::new("restart");
    let mut proxy = Proxy::new(&pki, &["one", "two"], Backend::Software);
    proxy.create_key("restart-key");
    proxy.start();
    let mut kms = KmsServer::start(&pki).await;
    let connected = connected_store(&kms.client, "connected", &proxy).await;
    let idle = create_store(
        &kms.client,
        "idle",
        &proxy.endpoint(),
        &proxy.uri_path_of(1),
        &proxy.cred(),
    )
    .await
    .expect("second store")
    .custom_key_store_id()
    .expect("id")
    .to_string();
    let key = xks_key(&kms.client, &connected, "restart-key").await;
    let ct = encrypt(&kms.client, &key, b"across restarts").await;
    let before_connected = describe_store(&kms.client, &connected).await;
    let before_idle = describe_store(&kms.client, &idle).await;

    kms.restart().await;
    let c = &kms.client;
    assert_eq!(describe_store(c, &connected).await, before_connected);
    assert_eq!(describe_store(c, &idle).await, before_idle);
    // The sealed proxy credential opens again under the root key: crypto works at once.
    assert_eq!(decrypt(c, &ct).await, b"across restarts");
    assert_eq!(key_state(c, &key).await, "Enabled");
    // The disconnected store connects.
    connect(c, &idle).await;
    assert_eq!(state(c, &idle).await.0, "CONNECTED");
    // And a FAILED state with its code persists too.
    proxy.set_creds(vec![Cred::random()]);
    assert_eq!(
        reconnect(c, &idle).await,
        (
            "FAILED".to_string(),
            Some("INVALID_CREDENTIALS".to_string())
        )
    );
    kms.restart().await;
    assert_eq!(
        state(&kms.client, &idle).await,
        (
            "FAILED".to_string(),
            Some("INVALID_CREDENTIALS".to_string())
        )
    );
}

/// Custom key stores belong to their account: another account neither sees nor uses them.
#[tokio::test]
async fn stores_belong_to_their_account() {
    let pki = Ca::new("accounts");
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.create_key("ext-1");
    proxy.start();
    let other = crate::common::PrincipalSpec::user("444455556666", "other").policy(allow_all());
    let kms =
        KmsServer::start_with(&pki, XksSection::default(), vec![admin(), other.clone()]).await;
    let store = connected_store(&kms.client, "shared-name", &proxy).await;
    let o = kms.client_for(&other).await;

    let listed = o
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    assert!(listed.custom_key_stores().is_empty(), "{listed:?}");
    expect_code(
        o.describe_custom_key_stores()
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        o.describe_custom_key_stores()
            .custom_key_store_name("shared-name")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        o.disconnect_custom_key_store()
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        o.update_custom_key_store()
            .custom_key_store_id(&store)
            .new_custom_key_store_name("mine")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        o.delete_custom_key_store()
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        try_xks_key(&o, &store, "ext-1").await,
        "CustomKeyStoreNotFoundException",
    );
    // GenerateRandom must not tell another account's store from a missing one.
    expect_code(
        o.generate_random()
            .number_of_bytes(16)
            .custom_key_store_id(&store)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    // Names are unique per account only.
    create_store(
        &o,
        "shared-name",
        &format!("https://127.0.0.1:{}", proxy.port),
        &proxy.uri_path(),
        &proxy.cred(),
    )
    .await
    .expect("the same name in another account");
    assert_eq!(state(&kms.client, &store).await.0, "CONNECTED");
}
