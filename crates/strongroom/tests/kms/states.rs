//! Key states: what each operation does on a Disabled key and on a key pending deletion.

use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::operation::encrypt::EncryptError;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError;
use aws_sdk_kms::operation::generate_data_key_without_plaintext::GenerateDataKeyWithoutPlaintextError;
use aws_sdk_kms::operation::re_encrypt::ReEncryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};

use crate::common::{expect_code, Kms};

/// Encrypt, GenerateDataKey(WithoutPlaintext), Decrypt and ReEncrypt (either side) on `bad`, each
/// expected to fail with `code`; `good` is an enabled key and `ct` a ciphertext under `bad`.
async fn crypto_fails(kms: &Kms, bad: &str, good: &str, ct: &[u8], code: &str) {
    let c = &kms.client;
    let e = c
        .encrypt()
        .key_id(bad)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect_err("Encrypt")
        .into_service_error();
    match code {
        "DisabledException" => assert!(matches!(e, EncryptError::DisabledException(_)), "{e:?}"),
        _ => assert!(
            matches!(e, EncryptError::KmsInvalidStateException(_)),
            "{e:?}"
        ),
    }
    let e = c
        .generate_data_key()
        .key_id(bad)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect_err("GenerateDataKey")
        .into_service_error();
    match code {
        "DisabledException" => assert!(
            matches!(e, GenerateDataKeyError::DisabledException(_)),
            "{e:?}"
        ),
        _ => assert!(
            matches!(e, GenerateDataKeyError::KmsInvalidStateException(_)),
            "{e:?}"
        ),
    }
    let e = c
        .generate_data_key_without_plaintext()
        .key_id(bad)
        .number_of_bytes(16)
        .send()
        .await
        .expect_err("GenerateDataKeyWithoutPlaintext")
        .into_service_error();
    match code {
        "DisabledException" => assert!(
            matches!(
                e,
                GenerateDataKeyWithoutPlaintextError::DisabledException(_)
            ),
            "{e:?}"
        ),
        _ => assert!(
            matches!(
                e,
                GenerateDataKeyWithoutPlaintextError::KmsInvalidStateException(_)
            ),
            "{e:?}"
        ),
    }
    let e = c
        .decrypt()
        .ciphertext_blob(Blob::new(ct))
        .send()
        .await
        .expect_err("Decrypt")
        .into_service_error();
    match code {
        "DisabledException" => assert!(matches!(e, DecryptError::DisabledException(_)), "{e:?}"),
        _ => assert!(
            matches!(e, DecryptError::KmsInvalidStateException(_)),
            "{e:?}"
        ),
    }
    // ReEncrypt from the key...
    let e = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct))
        .destination_key_id(good)
        .send()
        .await
        .expect_err("ReEncrypt from")
        .into_service_error();
    match code {
        "DisabledException" => assert!(matches!(e, ReEncryptError::DisabledException(_)), "{e:?}"),
        _ => assert!(
            matches!(e, ReEncryptError::KmsInvalidStateException(_)),
            "{e:?}"
        ),
    }
    // ...and to it.
    let good_ct = kms.encrypt(good, b"to the bad key").await;
    let r = c
        .re_encrypt()
        .ciphertext_blob(Blob::new(good_ct))
        .destination_key_id(bad)
        .send()
        .await;
    expect_code(r, code);
    // Data-key pairs are not built; the state error is not what to test there.
}

#[tokio::test]
async fn disabled_key_refuses_cryptography_with_disabled_exception() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let good = kms.key().await;
    let ct = kms.encrypt(&key, b"made while enabled").await;
    kms.client
        .disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    crypto_fails(&kms, &key, &good, &ct, "DisabledException").await;
    let msg = expect_code(
        kms.client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException",
    );
    assert!(msg.contains(&key), "the message names the key: {msg}");

    // Re-enabled, everything works again, including the old ciphertext.
    kms.client
        .enable_key()
        .key_id(&key)
        .send()
        .await
        .expect("EnableKey");
    let out = kms
        .client
        .decrypt()
        .ciphertext_blob(Blob::new(ct))
        .send()
        .await
        .expect("Decrypt after EnableKey");
    assert_eq!(
        out.plaintext().map(|b| b.as_ref()),
        Some(&b"made while enabled"[..])
    );
}

#[tokio::test]
async fn pending_deletion_key_refuses_cryptography_with_invalid_state() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let good = kms.key().await;
    let ct = kms.encrypt(&key, b"made while enabled").await;
    kms.client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    crypto_fails(&kms, &key, &good, &ct, "KMSInvalidStateException").await;
    let msg = expect_code(
        kms.client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert!(msg.contains("pending deletion"), "{msg}");

    // A disabled key scheduled for deletion is PendingDeletion too.
    let disabled = kms.key().await;
    let dct = kms.encrypt(&disabled, b"d").await;
    kms.client
        .disable_key()
        .key_id(&disabled)
        .send()
        .await
        .expect("DisableKey");
    kms.client
        .schedule_key_deletion()
        .key_id(&disabled)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion of a disabled key");
    crypto_fails(&kms, &disabled, &good, &dct, "KMSInvalidStateException").await;
}

#[tokio::test]
async fn pending_deletion_key_refuses_management() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let other = kms.key().await;
    kms.client
        .create_alias()
        .alias_name("alias/points-elsewhere")
        .target_key_id(&other)
        .send()
        .await
        .expect("CreateAlias");
    kms.client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let c = &kms.client;
    const S: &str = "KMSInvalidStateException";
    expect_code(c.enable_key().key_id(&key).send().await, S);
    expect_code(c.disable_key().key_id(&key).send().await, S);
    expect_code(
        c.tag_resource()
            .key_id(&key)
            .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
            .send()
            .await,
        S,
    );
    expect_code(
        c.untag_resource().key_id(&key).tag_keys("k").send().await,
        S,
    );
    expect_code(
        c.update_key_description()
            .key_id(&key)
            .description("nope")
            .send()
            .await,
        S,
    );
    expect_code(
        c.create_alias()
            .alias_name("alias/to-doomed")
            .target_key_id(&key)
            .send()
            .await,
        S,
    );
    expect_code(
        c.update_alias()
            .alias_name("alias/points-elsewhere")
            .target_key_id(&key)
            .send()
            .await,
        S,
    );
    // AWS lets the key policy change while the key waits for deletion (recorded against AWS).
    let policy = c
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy")
        .policy
        .expect("Policy");
    c.put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .expect("PutKeyPolicy on a key pending deletion");
    // Nothing else changed.
    let m = c
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    let m = m.key_metadata().expect("KeyMetadata");
    assert_eq!(m.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(m.description(), Some(""));
    let aliases = c
        .list_aliases()
        .send()
        .await
        .expect("ListAliases")
        .aliases()
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap_or_default().to_string(),
                a.target_key_id().unwrap_or_default().to_string(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(aliases, vec![("alias/points-elsewhere".to_string(), other)]);
}

#[tokio::test]
async fn reads_work_in_every_state() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
        .send()
        .await
        .expect("TagResource");
    kms.client
        .create_alias()
        .alias_name("alias/every-state")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");
    let check = |expected: KeyState| {
        let kms = &kms;
        let key = key.clone();
        async move {
            let c = &kms.client;
            let m = c
                .describe_key()
                .key_id(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeKey in {expected:?}: {e:?}"));
            assert_eq!(
                m.key_metadata().and_then(|m| m.key_state()),
                Some(&expected)
            );
            let m = c
                .describe_key()
                .key_id("alias/every-state")
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeKey by alias in {expected:?}: {e:?}"));
            assert_eq!(m.key_metadata().map(|m| m.key_id()), Some(key.as_str()));
            let p = c
                .get_key_policy()
                .key_id(&key)
                .policy_name("default")
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetKeyPolicy in {expected:?}: {e:?}"));
            assert!(p.policy().is_some_and(|p| p.contains("kms:*")));
            let t = c
                .list_resource_tags()
                .key_id(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListResourceTags in {expected:?}: {e:?}"));
            assert_eq!(t.tags().len(), 1);
            let p = c
                .list_key_policies()
                .key_id(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListKeyPolicies in {expected:?}: {e:?}"));
            assert_eq!(p.policy_names(), &["default".to_string()]);
            let a = c
                .list_aliases()
                .key_id(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListAliases in {expected:?}: {e:?}"));
            assert_eq!(a.aliases().len(), 1);
            let l = c
                .list_keys()
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListKeys in {expected:?}: {e:?}"));
            assert!(l.keys().iter().any(|k| k.key_id() == Some(key.as_str())));
        }
    };
    check(KeyState::Enabled).await;
    kms.client
        .disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    check(KeyState::Disabled).await;
    kms.client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    check(KeyState::PendingDeletion).await;
}
