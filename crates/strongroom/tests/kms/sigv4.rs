//! SigV4 authentication, with raw requests signed by the independent `aws-sigv4` crate and with the
//! SDK given wrong credentials.

use std::time::{Duration, SystemTime};

use crate::common::{client_for, code, Kms};

const LIST_KEYS: &str = "TrentService.ListKeys";

#[tokio::test]
async fn a_correctly_signed_raw_request_is_accepted() {
    let kms = Kms::start().await;
    let r = kms.signed(LIST_KEYS, b"{}");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn no_authorization_is_missing_authentication_token() {
    let kms = Kms::start().await;
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), LIST_KEYS.to_string()),
    ];
    let r = kms.raw(&headers, b"{}");
    r.expect_error(400, "MissingAuthenticationTokenException");
    // A signed request with its Authorization header removed.
    let mut signed = kms.signer().sign_kms(&kms.exports.addr, LIST_KEYS, b"{}");
    signed.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
    let r = kms.raw(&signed, b"{}");
    r.expect_error(400, "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn unknown_access_key_is_unrecognized_client() {
    let kms = Kms::start().await;
    let mut s = kms.signer();
    s.access_key_id = "AKIAIOSFODNN7EXAMPLE".to_string();
    let headers = s.sign_kms(&kms.exports.addr, LIST_KEYS, b"{}");
    let msg = kms
        .raw(&headers, b"{}")
        .expect_error(400, "UnrecognizedClientException");
    assert_eq!(
        msg,
        "The security token included in the request is invalid."
    );

    let client = client_for(&kms.exports, "AKIAIOSFODNN7EXAMPLE", "whatever").await;
    let e = client.list_keys().send().await.expect_err("unknown key");
    assert_eq!(code(&e), "UnrecognizedClientException", "{e:?}");
}

#[tokio::test]
async fn wrong_secret_is_invalid_signature() {
    let kms = Kms::start().await;
    let mut s = kms.signer();
    s.secret = format!("{}x", s.secret);
    let headers = s.sign_kms(&kms.exports.addr, LIST_KEYS, b"{}");
    let msg = kms
        .raw(&headers, b"{}")
        .expect_error(400, "InvalidSignatureException");
    assert!(
        msg.contains(
            "The request signature we calculated does not match the signature you provided"
        ),
        "{msg}"
    );

    let client = client_for(&kms.exports, &kms.exports.access_key_id, "not-the-secret").await;
    let e = client.list_keys().send().await.expect_err("wrong secret");
    assert_eq!(code(&e), "InvalidSignatureException", "{e:?}");
}

#[tokio::test]
async fn request_time_must_be_within_five_minutes() {
    let kms = Kms::start().await;
    let sign_at = |t: SystemTime| {
        let mut s = kms.signer();
        s.time = Some(t);
        s.sign_kms(&kms.exports.addr, LIST_KEYS, b"{}")
    };
    let now = SystemTime::now();
    let old = sign_at(now - Duration::from_secs(6 * 60));
    let msg = kms
        .raw(&old, b"{}")
        .expect_error(400, "InvalidSignatureException");
    assert!(msg.contains("Signature expired"), "{msg}");

    let future = sign_at(now + Duration::from_secs(6 * 60));
    let msg = kms
        .raw(&future, b"{}")
        .expect_error(400, "InvalidSignatureException");
    assert!(msg.contains("Signature not yet current"), "{msg}");

    for skew in [
        now - Duration::from_secs(4 * 60),
        now + Duration::from_secs(4 * 60),
    ] {
        let r = kms.raw(&sign_at(skew), b"{}");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

#[tokio::test]
async fn scope_for_another_region_is_invalid_signature() {
    // `dev` serves every Region (regions.rs has `serve`'s configured ones): only a scope that is
    // no Region at all is refused.
    let kms = Kms::start().await;
    let mut s = kms.signer();
    s.region = "eu-west-1".to_string();
    let headers = s.sign_kms(&kms.exports.addr, LIST_KEYS, b"{}");
    let r = kms.raw(&headers, b"{}");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    s.region = "not-a-region".to_string();
    let headers = s.sign_kms(&kms.exports.addr, LIST_KEYS, b"{}");
    let msg = kms
        .raw(&headers, b"{}")
        .expect_error(400, "InvalidSignatureException");
    assert_eq!(
        msg,
        "Credential should be scoped to a valid region, not 'not-a-region'."
    );
}

#[tokio::test]
async fn changing_the_request_after_signing_is_invalid_signature() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let signed_body = serde_json::json!({"KeyId": key}).to_string();
    let headers = kms.signer().sign_kms(
        &kms.exports.addr,
        "TrentService.DisableKey",
        signed_body.as_bytes(),
    );
    let other = kms.key().await;
    let sent_body = serde_json::json!({"KeyId": other}).to_string();
    let msg = kms
        .raw(&headers, sent_body.as_bytes())
        .expect_error(400, "InvalidSignatureException");
    assert!(msg.contains("does not match"), "{msg}");

    // A signed header changed: the target.
    let mut retargeted = headers.clone();
    for (k, v) in &mut retargeted {
        if k == "x-amz-target" {
            *v = "TrentService.ScheduleKeyDeletion".to_string();
        }
    }
    kms.raw(&retargeted, signed_body.as_bytes())
        .expect_error(400, "InvalidSignatureException");

    // Neither key was touched; the original request, unaltered, works.
    for id in [&key, &other] {
        let m = kms
            .client
            .describe_key()
            .key_id(id)
            .send()
            .await
            .expect("DescribeKey");
        assert_eq!(m.key_metadata().map(|m| m.enabled()), Some(true));
    }
    let r = kms.raw(&headers, signed_body.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
