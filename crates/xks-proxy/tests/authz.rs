//! Secondary authorization over the running proxy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use serde_json::json;

use common::*;

const RULES: &str = r#"
[[tenants.authorization]]
name = "app-role-only"
keys = ["app-*"]
principals = ["arn:aws:iam::123456789012:role/app"]
operations = ["Encrypt", "Decrypt", "GenerateDataKey*", "DescribeKey", "CreateKey"]

[[tenants.authorization]]
name = "no-s3"
effect = "deny"
via_services = ["s3"]
"#;

fn md(principal: &str, op: &str, via: Option<&str>) -> serde_json::Value {
    let mut m = metadata(op);
    m["awsPrincipalArn"] = json!(principal);
    match via {
        Some(v) => m["kmsViaService"] = json!(v),
        None => {
            m.as_object_mut().unwrap().remove("kmsViaService");
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_allow_and_deny() {
    let mut t = TenantSpec::new("");
    t.keys = vec![key("app-1"), key("other")];
    t.extra = RULES.into();
    let h = Harness::start(Setup {
        tenants: vec![t],
        ..Default::default()
    })
    .await;
    let mut api = h.api("").await;
    let app = "arn:aws:iam::123456789012:role/app";
    let alice = "arn:aws:iam::123456789012:user/Alice";

    // Allowed: the app role, for its operations.
    let enc = api
        .call(
            "/keys/app-1/encrypt",
            &json!({"requestMetadata": md(app, "GenerateDataKey", None),
                    "plaintext": b64(b"dk"), "encryptionAlgorithm": "AES_GCM"}),
        )
        .await
        .ok();
    let mut dec = Api::decrypt_body(&enc, None);
    dec["requestMetadata"] = md(app, "Decrypt", None);
    assert_eq!(api.decrypt("app-1", &dec).await.status, 200);

    // Denied: another principal, on every key operation including GetKeyMetadata.
    let r = api
        .call(
            "/keys/app-1/metadata",
            &json!({"requestMetadata": md(alice, "DescribeKey", None)}),
        )
        .await;
    r.assert_error(403, "AccessDeniedException");
    assert!(r.json()["errorMessage"]
        .as_str()
        .unwrap()
        .contains("app-role-only"));
    dec["requestMetadata"] = md(alice, "Decrypt", None);
    api.decrypt("app-1", &dec)
        .await
        .assert_error(403, "AccessDeniedException");
    // Denied: the app role, for an operation not listed (ReEncrypt).
    dec["requestMetadata"] = md(app, "ReEncrypt", None);
    api.decrypt("app-1", &dec)
        .await
        .assert_error(403, "AccessDeniedException");
    // Denied by the deny rule, which applies to every key.
    dec["requestMetadata"] = md(app, "Decrypt", Some("s3"));
    let r = api.decrypt("app-1", &dec).await;
    r.assert_error(403, "AccessDeniedException");
    assert!(r.json()["errorMessage"].as_str().unwrap().contains("no-s3"));
    let r = api
        .call(
            "/keys/other/metadata",
            &json!({"requestMetadata": md(alice, "DescribeKey", Some("s3"))}),
        )
        .await;
    r.assert_error(403, "AccessDeniedException");

    // Keys no allow rule covers are open to any authenticated caller (deny rules aside).
    let r = api
        .call(
            "/keys/other/metadata",
            &json!({"requestMetadata": md(alice, "DescribeKey", None)}),
        )
        .await;
    assert_eq!(r.status, 200);

    // Health is never subject to secondary authorization.
    assert_eq!(api.health().await.status, 200);
    let r = api
        .call(
            "/health",
            &json!({"requestMetadata": {"kmsRequestId": "x", "kmsOperation": "KmsHealthCheck",
                    "kmsViaService": "s3", "awsPrincipalArn": alice}}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reload_with_the_configuration() {
    let mut t = TenantSpec::new("");
    t.keys = vec![key("app-1")];
    let h = Harness::start(Setup {
        tenants: vec![t],
        ..Default::default()
    })
    .await;
    let mut api = h.api("").await;
    assert_eq!(api.metadata("app-1").await.status, 200);
    let mut text = std::fs::read_to_string(&h.config_path).unwrap();
    text.push_str(RULES);
    write_private(&h.config_path, text);
    h.proxy.reload().unwrap();
    // The harness's metadata comes from Alice, whom the new rule does not allow.
    api.metadata("app-1")
        .await
        .assert_error(403, "AccessDeniedException");
}

/// Rules on `kmsKeyArn` (only the named KMS keys may use a key) and on the source VPC endpoint,
/// which KMS sends only for calls through one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_on_the_kms_key_arn_and_the_source_vpc_endpoint() {
    let mut t = TenantSpec::new("");
    t.keys = vec![key("bound"), key("private")];
    t.extra = r#"
[[tenants.authorization]]
name = "bound-to-one-kms-key"
keys = ["bound"]
kms_key_arns = ["arn:aws:kms:us-east-1:123456789012:key/1234abcd-*"]

[[tenants.authorization]]
name = "through-our-endpoint"
keys = ["private"]
source_vpces = ["vpce-0123*"]
"#
    .into();
    let h = Harness::start(Setup {
        tenants: vec![t],
        ..Default::default()
    })
    .await;
    let mut api = h.api("").await;
    let describe = |m: serde_json::Value| json!({ "requestMetadata": m });

    // The harness's metadata names the KMS key 1234abcd-…: allowed.
    assert_eq!(api.metadata("bound").await.status, 200);
    let mut m = metadata("DescribeKey");
    m["kmsKeyArn"] = json!("arn:aws:kms:us-east-1:123456789012:key/ffffffff-0000");
    let r = api.call("/keys/bound/metadata", &describe(m)).await;
    r.assert_error(403, "AccessDeniedException");
    assert!(r.json()["errorMessage"]
        .as_str()
        .unwrap()
        .contains("bound-to-one-kms-key"));
    // CreateKey sends no kmsKeyArn: a rule that requires one does not match.
    let mut m = metadata("CreateKey");
    m.as_object_mut().unwrap().remove("kmsKeyArn");
    api.call("/keys/bound/metadata", &describe(m))
        .await
        .assert_error(403, "AccessDeniedException");

    // No awsSourceVpce (a call not through a VPC endpoint), then the wrong one, then ours.
    api.metadata("private")
        .await
        .assert_error(403, "AccessDeniedException");
    let mut m = metadata("DescribeKey");
    m["awsSourceVpce"] = json!("vpce-9999aaaa");
    api.call("/keys/private/metadata", &describe(m.clone()))
        .await
        .assert_error(403, "AccessDeniedException");
    m["awsSourceVpce"] = json!("vpce-0123abcd");
    assert_eq!(
        api.call("/keys/private/metadata", &describe(m))
            .await
            .status,
        200
    );
}
