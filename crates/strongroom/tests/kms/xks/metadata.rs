//! The request metadata KMS sends the proxy is true: the proxy's secondary authorization, which
//! decides on awsPrincipalArn and kmsOperation, allows and denies exactly the callers and
//! operations it should, and the proxy's request log shows the kmsRequestId each caller got back
//! as `x-amzn-RequestId`, with the operation, principal and key ARN.

use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use super::harness::*;
use crate::common::PrincipalSpec;

#[tokio::test]
async fn proxy_authorization_sees_the_true_caller_and_operation() {
    let pki = Ca::new("metadata");
    let admin = admin();
    let alice = PrincipalSpec::user(ACCOUNT, "alice").policy(allow_all());
    let app = PrincipalSpec::role(ACCOUNT, "app").policy(allow_all());
    let bob = PrincipalSpec::user(ACCOUNT, "bob").policy(allow_all());
    let mut proxy = Proxy::new(&pki, &["tenant"], Backend::Software);
    proxy.tenant_extra = format!(
        "\n[[tenants.authorization]]\nname = \"named-callers\"\nkeys = [\"ext-*\"]\nprincipals = [{:?}, {:?}, {:?}]\noperations = [\"CreateKey\", \"Encrypt\", \"Decrypt\", \"GenerateDataKey\"]\n",
        admin.arn(),
        alice.arn(),
        app.arn()
    );
    proxy.create_key("ext-1");
    proxy.start();
    let kms = KmsServer::start_with(
        &pki,
        XksSection::default(),
        vec![admin.clone(), alice.clone(), app.clone(), bob.clone()],
    )
    .await;
    let store = connected_store(&kms.client, "s", &proxy).await;
    let key = xks_key(&kms.client, &store, "ext-1").await;
    let key_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}");
    let (alice_c, app_c, bob_c) = (
        kms.client_for(&alice).await,
        kms.client_for(&app).await,
        kms.client_for(&bob).await,
    );

    // Allowed: alice and the role's session, for the listed operations.
    let from = proxy.log.len();
    let out = alice_c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("alice"))
        .send()
        .await
        .expect("alice Encrypt");
    let request_id = out.request_id().expect("x-amzn-RequestId").to_string();
    let ct = out.ciphertext_blob().expect("CiphertextBlob").clone();
    let line = proxy
        .log
        .wait_for(from, Duration::from_secs(5), "alice's Encrypt", |l| {
            l.contains("xks request")
                && log_field(l, "kms_request_id").as_deref() == Some(&request_id)
        });
    assert_eq!(
        log_field(&line, "operation").as_deref(),
        Some("Encrypt"),
        "{line}"
    );
    assert_eq!(
        log_field(&line, "kms_operation").as_deref(),
        Some("Encrypt"),
        "{line}"
    );
    assert_eq!(log_field(&line, "principal"), Some(alice.arn()), "{line}");
    assert_eq!(
        log_field(&line, "kms_key_arn"),
        Some(key_arn.clone()),
        "{line}"
    );
    assert_eq!(
        log_field(&line, "key_id").as_deref(),
        Some("ext-1"),
        "{line}"
    );
    assert_eq!(log_field(&line, "status").as_deref(), Some("200"), "{line}");

    let out = app_c
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .expect("the role's Decrypt");
    assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(&b"alice"[..]));
    let request_id = out.request_id().expect("x-amzn-RequestId").to_string();
    let line = proxy
        .log
        .wait_for(from, Duration::from_secs(5), "the role's Decrypt", |l| {
            l.contains("xks request")
                && log_field(l, "kms_request_id").as_deref() == Some(&request_id)
        });
    assert_eq!(
        log_field(&line, "kms_operation").as_deref(),
        Some("Decrypt"),
        "{line}"
    );
    assert_eq!(
        log_field(&line, "principal").as_deref(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/strongroom").as_str()),
        "{line}"
    );
    let out = alice_c
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("alice GenerateDataKey");
    let request_id = out.request_id().expect("x-amzn-RequestId").to_string();
    let line = proxy
        .log
        .wait_for(from, Duration::from_secs(5), "GenerateDataKey", |l| {
            l.contains("xks request")
                && log_field(l, "kms_request_id").as_deref() == Some(&request_id)
        });
    assert_eq!(
        log_field(&line, "kms_operation").as_deref(),
        Some("GenerateDataKey"),
        "{line}"
    );

    // Denied by principal: bob (KMS itself allows him).
    let err = bob_c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("bob"))
        .send()
        .await
        .expect_err("bob Encrypt");
    let svc = err.into_service_error();
    assert!(svc.is_kms_invalid_state_exception(), "{svc:?}");
    assert_eq!(svc.message(), Some(MSG_DENIED));
    let request_id = svc
        .request_id()
        .expect("x-amzn-RequestId on errors")
        .to_string();
    let line = proxy
        .log
        .wait_for(from, Duration::from_secs(5), "bob's refusal", |l| {
            l.contains("secondary authorization denied")
                && log_field(l, "kms_request_id").as_deref() == Some(&request_id)
        });
    assert_eq!(log_field(&line, "principal"), Some(bob.arn()), "{line}");
    assert_eq!(
        log_field(&line, "rule").as_deref(),
        Some("named-callers"),
        "{line}"
    );
    assert!(bob_c
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .is_err_and(|e| e.into_service_error().is_kms_invalid_state_exception()));

    // Denied by operation: alice, but an operation the rule does not list.
    for (what, result) in [
        (
            "GenerateDataKeyWithoutPlaintext",
            alice_c
                .generate_data_key_without_plaintext()
                .key_id(&key)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(String::from), e.message().map(String::from))),
        ),
        (
            "ReEncrypt",
            alice_c
                .re_encrypt()
                .ciphertext_blob(ct.clone())
                .destination_key_id(&key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (e.code().map(String::from), e.message().map(String::from))),
        ),
    ] {
        let err = result.expect_err(what);
        assert_eq!(
            err,
            (
                Some("KMSInvalidStateException".to_string()),
                Some(MSG_DENIED.to_string())
            ),
            "{what}"
        );
        proxy.log.wait_for(from, Duration::from_secs(5), what, |l| {
            l.contains("secondary authorization denied")
                && log_field(l, "kms_operation").as_deref() == Some(what)
                && log_field(l, "principal") == Some(alice.arn())
        });
    }
}
