//! The generated types of `kms_api::wire`: enums carry the model's wire names, responses
//! serialize as AWS JSON 1.1 does, secrets stay out of `Debug`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use kms_api::wire::{self, Blob, DecodeOptions, Timestamp, WireEnum, WireRequest};
use kms_api::Operation;
use serde_json::{json, Value};

const MODEL: &str = include_str!("../model/kms-api-model.json");

/// An enum has exactly the model's values, in order, and each round-trips through every form.
fn check_enum<E: WireEnum + serde::Serialize + serde::de::DeserializeOwned>() {
    let model: Value = serde_json::from_str(MODEL).unwrap();
    let want: Vec<&str> = model["shapes"][E::SHAPE]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{} is not an enum shape", E::SHAPE))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let got: Vec<&str> = E::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(got, want, "{}", E::SHAPE);
    for e in E::ALL {
        assert_eq!(E::from_wire(e.as_str()), Some(*e));
        assert_eq!(e.to_string(), e.as_str());
        let text = serde_json::to_string(e).unwrap();
        assert_eq!(text, format!("\"{}\"", e.as_str()));
        assert_eq!(serde_json::from_str::<E>(&text).unwrap(), *e);
        // Wire names are case-sensitive.
        let other = e.as_str().to_ascii_lowercase();
        if other != e.as_str() {
            assert_eq!(E::from_wire(&other), None);
        }
    }
    assert_eq!(E::from_wire(""), None);
    assert!(serde_json::from_str::<E>("\"NOT_A_VALUE\"").is_err());
}

#[test]
fn domain_enums_have_the_models_wire_names() {
    check_enum::<wire::KeySpec>();
    check_enum::<wire::KeyUsage>();
    check_enum::<wire::Origin>();
    check_enum::<wire::KeyState>();
    check_enum::<wire::KeyManager>();
    check_enum::<wire::ConnectionState>();
    check_enum::<wire::ConnectionErrorCode>();
    check_enum::<wire::CustomKeyStoreType>();
    check_enum::<wire::EncryptionAlgorithmSpec>();
    check_enum::<wire::SigningAlgorithmSpec>();
    check_enum::<wire::MacAlgorithmSpec>();
    check_enum::<wire::DataKeySpec>();
    check_enum::<wire::DataKeyPairSpec>();
    check_enum::<wire::GrantOperation>();
    check_enum::<wire::XksProxyConnectivity>();
    check_enum::<wire::ResourceOwner>();
    check_enum::<wire::MultiRegionKeyType>();
    assert_eq!(
        wire::KeySpec::SymmetricDefault.as_str(),
        "SYMMETRIC_DEFAULT"
    );
    assert_eq!(wire::KeyState::PendingDeletion.as_str(), "PendingDeletion");
    assert_eq!(wire::ResourceOwner::SelfAccount.as_str(), "SELF");
    assert_eq!(
        wire::SigningAlgorithmSpec::from_wire("RSASSA_PSS_SHA_256"),
        Some(wire::SigningAlgorithmSpec::RsassaPssSha256)
    );
}

#[test]
fn responses_serialize_as_aws_json() {
    let r = wire::EncryptResponse {
        ciphertext_blob: Some(Blob::new(b"hi".to_vec())),
        key_id: Some("arn:aws:kms:eu-west-1:111122223333:key/k".into()),
        encryption_algorithm: Some(wire::EncryptionAlgorithmSpec::SymmetricDefault),
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({
            "CiphertextBlob": "aGk=",
            "KeyId": "arn:aws:kms:eu-west-1:111122223333:key/k",
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"
        })
    );
    let meta = wire::KeyMetadata {
        key_id: "k".into(),
        creation_date: Some(Timestamp(1_700_000_000.5)),
        key_state: Some(wire::KeyState::Enabled),
        encryption_algorithms: Some(vec![wire::EncryptionAlgorithmSpec::SymmetricDefault]),
        ..Default::default()
    };
    let v = serde_json::to_value(wire::DescribeKeyResponse {
        key_metadata: Some(meta),
    })
    .unwrap();
    assert_eq!(
        v,
        json!({"KeyMetadata": {
            "KeyId": "k",
            "CreationDate": 1_700_000_000.5,
            "KeyState": "Enabled",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]
        }})
    );
    // Operations without an output in the model answer `{}`; ListRetirableGrants shares
    // ListGrants' output.
    assert_eq!(
        serde_json::to_string(&wire::DeleteAliasResponse {}).unwrap(),
        "{}"
    );
    let grants: wire::ListRetirableGrantsResponse = wire::ListGrantsResponse {
        truncated: Some(false),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(grants).unwrap(),
        json!({"Truncated": false})
    );
}

#[test]
fn requests_are_typed_and_secrets_stay_hidden() {
    let body = br#"{"CustomKeyStoreName":"s","CustomKeyStoreType":"EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint":"http://127.0.0.1:8080","XksProxyUriPath":"/kms/xks/v1",
        "XksProxyConnectivity":"PUBLIC_ENDPOINT",
        "XksProxyAuthenticationCredential":{"AccessKeyId":"ABCDEFGHIJKLMNOPQRST",
        "RawSecretAccessKey":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}"#;
    // The endpoint's pattern wants https; the caller may check it itself.
    assert_eq!(
        wire::CreateCustomKeyStoreRequest::decode(body, &DecodeOptions::STRICT)
            .unwrap_err()
            .code,
        kms_api::ErrorCode::ValidationException
    );
    let skip = DecodeOptions {
        skip_patterns: &["xksProxyUriEndpoint"],
    };
    let r = wire::CreateCustomKeyStoreRequest::decode(body, &skip).unwrap();
    assert_eq!(
        r.custom_key_store_type,
        Some(wire::CustomKeyStoreType::ExternalKeyStore)
    );
    let cred = r.xks_proxy_authentication_credential.as_ref().unwrap();
    let secret: &zeroize::Zeroizing<String> = &cred.raw_secret_access_key;
    assert_eq!(secret.len(), 43);
    let shown = format!("{r:?}");
    assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
    assert!(!shown.contains("ABCDEFGHIJKLMNOPQRST"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");

    // The same through the operation-generic entry points.
    assert_eq!(
        <wire::EncryptRequest as WireRequest>::OPERATION,
        Operation::Encrypt
    );
    let req = wire::decode(
        Operation::Encrypt,
        br#"{"KeyId":"alias/a","Plaintext":"aGVsbG8=","EncryptionContext":{"b":"2","a":"1"},
            "EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#,
        &DecodeOptions::STRICT,
    )
    .unwrap();
    let wire::Request::Encrypt(e) = req else {
        panic!("{req:?}")
    };
    assert_eq!(e.plaintext.as_bytes(), b"hello");
    assert_eq!(format!("{:?}", e.plaintext), "Blob(5 bytes)");
    assert_eq!(
        e.encryption_context
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    assert_eq!(
        e.encryption_algorithm,
        Some(wire::EncryptionAlgorithmSpec::SymmetricDefault)
    );
}
