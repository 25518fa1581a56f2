//! The AWS JSON 1.1 protocol, with raw requests: routing by X-Amz-Target, body decoding, the shape
//! of error responses and the request id header.

use std::collections::BTreeSet;

use aws_sdk_kms::operation::RequestId;

use crate::common::Kms;

fn unsigned(target: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![(
        "content-type".to_string(),
        "application/x-amz-json-1.1".to_string(),
    )];
    if let Some(t) = target {
        h.push(("x-amz-target".to_string(), t.to_string()));
    }
    h
}

#[tokio::test]
async fn unknown_target_is_unknown_operation() {
    let kms = Kms::start().await;
    for target in [
        Some("TrentService.NoSuchThing"),
        Some("TrentService.encrypt"),
        Some("OtherService.Encrypt"),
        Some("TrentService."),
        None,
    ] {
        let r = kms.raw(&unsigned(target), b"{}");
        r.expect_error(400, "UnknownOperationException");
    }
    // Signed, too.
    let r = kms.signed("TrentService.NoSuchThing", b"{}");
    r.expect_error(400, "UnknownOperationException");
}

#[tokio::test]
async fn undecodable_bodies_are_serialization_exceptions() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("TrentService.DescribeKey", b"{\"KeyId\":".to_vec()),
        ("TrentService.DescribeKey", b"not json at all".to_vec()),
        ("TrentService.DescribeKey", b"[1,2]".to_vec()),
        ("TrentService.DescribeKey", b"{\"KeyId\": 5}".to_vec()),
        ("TrentService.ListKeys", b"{\"Limit\": \"ten\"}".to_vec()),
        (
            "TrentService.Encrypt",
            format!("{{\"KeyId\":\"{key}\",\"Plaintext\":\"!!not base64!!\"}}").into_bytes(),
        ),
        (
            "TrentService.Encrypt",
            format!("{{\"KeyId\":\"{key}\",\"Plaintext\":\"eA==\",\"EncryptionContext\":[\"a\"]}}")
                .into_bytes(),
        ),
        (
            "TrentService.Encrypt",
            format!("{{\"KeyId\":\"{key}\",\"Plaintext\":\"eA==\",\"DryRun\":\"yes\"}}")
                .into_bytes(),
        ),
    ];
    for (target, body) in cases {
        let r = kms.signed(target, &body);
        r.expect_error(400, "SerializationException");
    }
    // And missing required members are a ValidationException naming the member.
    let r = kms.signed("TrentService.DescribeKey", b"{}");
    let msg = r.expect_error(400, "ValidationException");
    assert!(
        msg.contains("Value null at 'keyId' failed to satisfy constraint: Member must not be null"),
        "{msg}"
    );
}

#[tokio::test]
async fn successful_responses_are_json_with_a_request_id() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let mut ids = BTreeSet::new();
    let r = kms.signed("TrentService.ListKeys", b"{}");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    ids.insert(
        r.header("x-amzn-RequestId")
            .expect("request id")
            .to_string(),
    );
    let v = r.json();
    assert_eq!(v["Keys"][0]["KeyId"], key.as_str());

    // An empty body is an empty object.
    let r = kms.signed("TrentService.ListKeys", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    ids.insert(
        r.header("x-amzn-RequestId")
            .expect("request id")
            .to_string(),
    );

    let body = serde_json::json!({"KeyId": key}).to_string();
    let r = kms.signed("TrentService.DescribeKey", body.as_bytes());
    assert_eq!(r.status, 200);
    ids.insert(
        r.header("x-amzn-RequestId")
            .expect("request id")
            .to_string(),
    );
    let m = &r.json()["KeyMetadata"];
    // Timestamps are epoch seconds as JSON numbers in AWS JSON 1.1.
    assert!(m["CreationDate"].is_number(), "{m}");
    assert_eq!(m["KeyState"], "Enabled");
    assert_eq!(m["Enabled"], true);
    assert_eq!(m["MultiRegion"], false);
    assert_eq!(m["KeyManager"], "CUSTOMER");

    // Operations without output answer `{}`.
    let body = serde_json::json!({"KeyId": key}).to_string();
    let r = kms.signed("TrentService.EnableKey", body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({}));
    ids.insert(
        r.header("x-amzn-RequestId")
            .expect("request id")
            .to_string(),
    );

    // Errors carry one too (checked by expect_error), all distinct.
    let r = kms.raw(&unsigned(Some("TrentService.Nope")), b"{}");
    r.expect_error(400, "UnknownOperationException");
    ids.insert(
        r.header("x-amzn-RequestId")
            .expect("request id")
            .to_string(),
    );
    let r = kms.raw(&unsigned(Some("TrentService.ListKeys")), b"{}");
    r.expect_error(400, "MissingAuthenticationTokenException");
    ids.insert(
        r.header("x-amzn-RequestId")
            .expect("request id")
            .to_string(),
    );
    assert_eq!(ids.len(), 6, "request ids are unique: {ids:?}");

    // The SDK reads it.
    let out = kms.client.list_keys().send().await.expect("ListKeys");
    assert!(out.request_id().is_some_and(|id| !id.is_empty()));
    let e = kms
        .client
        .describe_key()
        .key_id("alias/missing")
        .send()
        .await
        .expect_err("missing alias");
    assert!(e.request_id().is_some_and(|id| !id.is_empty()), "{e:?}");
}

#[tokio::test]
async fn sdk_error_metadata_matches_the_wire() {
    let kms = Kms::start().await;
    let body = serde_json::json!({"KeyId": "alias/missing"}).to_string();
    let r = kms.signed("TrentService.DescribeKey", body.as_bytes());
    let wire = r.expect_error(400, "NotFoundException");
    let e = kms
        .client
        .describe_key()
        .key_id("alias/missing")
        .send()
        .await
        .expect_err("missing alias");
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::message(&e),
        Some(wire.as_str())
    );
}

/// AWS always sends the list and `Truncated` in List* responses, `"Truncated": false` and `[]`
/// included; SDKs that do not default missing members (or hand-written clients) rely on it.
#[tokio::test]
async fn list_responses_carry_truncated_and_empty_lists() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let by_key = serde_json::json!({"KeyId": key}).to_string();
    for (target, body, list) in [
        ("TrentService.ListKeys", "{}".to_string(), "Keys"),
        ("TrentService.ListAliases", "{}".to_string(), "Aliases"),
        ("TrentService.ListResourceTags", by_key.clone(), "Tags"),
        ("TrentService.ListKeyPolicies", by_key, "PolicyNames"),
    ] {
        let r = kms.signed(target, body.as_bytes());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["Truncated"], false, "{target}: {v}");
        assert!(v[list].is_array(), "{target}: {list} is a list: {v}");
        assert!(v.get("NextMarker").is_none(), "{target}: {v}");
    }
}
