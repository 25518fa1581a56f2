//! A walk through the API model: every operation of `crates/kms-api/model/kms-api-model.json`
//! is called with a valid request, in an order that gives each the resources it needs, and
//! succeeds. An operation that answered UnsupportedOperationException, or that the walk
//! forgot, fails the test.

use std::collections::BTreeSet;

use aws_sdk_kms::types::AlgorithmSpec;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::{b64, Kms, RawResponse};

/// The operations the model defines.
fn model_operations() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kms-api/model/kms-api-model.json"
    );
    let model: Value = serde_json::from_slice(&std::fs::read(path).expect("read the API model"))
        .expect("the model is JSON");
    model["operations"]
        .as_object()
        .expect("model operations")
        .keys()
        .cloned()
        .collect()
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .expect("Base64")
}

/// Calls operations and remembers which answered.
struct Walk<'a> {
    kms: &'a Kms,
    called: BTreeSet<String>,
}

impl Walk<'_> {
    /// Calls `op` with `body` and expects success.
    #[track_caller]
    fn call(&mut self, op: &str, body: Value) -> Value {
        let region = self.kms.exports.region.clone();
        self.call_in(&region, op, body)
    }

    /// [`Walk::call`] in `region`.
    #[track_caller]
    fn call_in(&mut self, region: &str, op: &str, body: Value) -> Value {
        let mut signer = self.kms.signer();
        signer.region = region.to_string();
        let bytes = body.to_string().into_bytes();
        let headers = signer.sign_kms(
            &self.kms.exports.addr,
            &format!("TrentService.{op}"),
            &bytes,
        );
        let r: RawResponse = self.kms.raw(&headers, &bytes);
        assert_eq!(
            r.status,
            200,
            "{op} {body}: {} {}",
            r.error_type(),
            r.message()
        );
        self.called.insert(op.to_string());
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// [`Walk::call`], once the resources `op` needs have left a transitional state (a new
    /// replica is Creating for a moment, as on AWS).
    async fn call_when_ready(&mut self, op: &str, body: Value) -> Value {
        let target = format!("TrentService.{op}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let r = self.kms.signed(&target, body.to_string().as_bytes());
            let transitional = r.status == 400 && r.error_type() == "KMSInvalidStateException";
            if !transitional || std::time::Instant::now() > deadline {
                assert_eq!(
                    r.status,
                    200,
                    "{op} {body}: {} {}",
                    r.error_type(),
                    r.message()
                );
                self.called.insert(op.to_string());
                return r.json();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A new key made with `body`; its id.
    fn key(&mut self, body: Value) -> String {
        let made = self.call("CreateKey", body);
        made["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("KeyId")
            .to_string()
    }
}

/// The other Region `strongroom dev` serves.
const WEST: &str = "eu-west-1";

#[tokio::test]
async fn every_model_operation_answers() {
    let mut kms = Kms::start().await;
    let xks = kms.xks_exports();
    let account = kms.account().await;
    let principal = format!("arn:aws:iam::{account}:root");
    let mut w = Walk {
        kms: &kms,
        called: BTreeSet::new(),
    };

    // Symmetric keys: the data-plane and management operations.
    let key = w.key(json!({ "Description": "walk" }));
    let other = w.key(json!({}));
    w.call("DescribeKey", json!({ "KeyId": key }));
    w.call("ListKeys", json!({}));
    let sealed = w.call(
        "Encrypt",
        json!({ "KeyId": key, "Plaintext": b64(b"walk") }),
    );
    let blob = sealed["CiphertextBlob"].clone();
    let opened = w.call("Decrypt", json!({ "CiphertextBlob": blob }));
    assert_eq!(unb64(&opened["Plaintext"]), b"walk");
    w.call(
        "ReEncrypt",
        json!({ "CiphertextBlob": blob, "DestinationKeyId": other }),
    );
    w.call(
        "GenerateDataKey",
        json!({ "KeyId": key, "KeySpec": "AES_256" }),
    );
    w.call(
        "GenerateDataKeyWithoutPlaintext",
        json!({ "KeyId": key, "NumberOfBytes": 16 }),
    );
    w.call("GenerateRandom", json!({ "NumberOfBytes": 32 }));
    w.call("GetKeyLastUsage", json!({ "KeyId": key }));

    w.call(
        "CreateAlias",
        json!({ "AliasName": "alias/walk", "TargetKeyId": key }),
    );
    w.call("ListAliases", json!({ "KeyId": key }));
    w.call(
        "UpdateAlias",
        json!({ "AliasName": "alias/walk", "TargetKeyId": other }),
    );
    w.call("DeleteAlias", json!({ "AliasName": "alias/walk" }));

    let grant = w.call(
        "CreateGrant",
        json!({ "KeyId": key, "GranteePrincipal": principal, "RetiringPrincipal": principal,
                "Operations": ["Decrypt"] }),
    );
    let grant_id = grant["GrantId"].as_str().expect("GrantId").to_string();
    let second = w.call(
        "CreateGrant",
        json!({ "KeyId": key, "GranteePrincipal": principal, "Operations": ["Encrypt"] }),
    );
    w.call("ListGrants", json!({ "KeyId": key }));
    w.call(
        "ListRetirableGrants",
        json!({ "RetiringPrincipal": principal }),
    );
    w.call("RetireGrant", json!({ "KeyId": key, "GrantId": grant_id }));
    w.call(
        "RevokeGrant",
        json!({ "KeyId": key, "GrantId": second["GrantId"] }),
    );

    w.call("ListKeyPolicies", json!({ "KeyId": key }));
    let policy = w.call(
        "GetKeyPolicy",
        json!({ "KeyId": key, "PolicyName": "default" }),
    );
    w.call(
        "PutKeyPolicy",
        json!({ "KeyId": key, "PolicyName": "default", "Policy": policy["Policy"] }),
    );
    w.call(
        "TagResource",
        json!({ "KeyId": key, "Tags": [{ "TagKey": "walk", "TagValue": "yes" }] }),
    );
    w.call("ListResourceTags", json!({ "KeyId": key }));
    w.call(
        "UntagResource",
        json!({ "KeyId": key, "TagKeys": ["walk"] }),
    );
    w.call(
        "UpdateKeyDescription",
        json!({ "KeyId": key, "Description": "walked" }),
    );
    w.call("EnableKeyRotation", json!({ "KeyId": key }));
    w.call("GetKeyRotationStatus", json!({ "KeyId": key }));
    w.call("DisableKeyRotation", json!({ "KeyId": key }));
    w.call("RotateKeyOnDemand", json!({ "KeyId": key }));
    w.call("ListKeyRotations", json!({ "KeyId": key }));
    w.call("DisableKey", json!({ "KeyId": other }));
    w.call("EnableKey", json!({ "KeyId": other }));
    w.call(
        "ScheduleKeyDeletion",
        json!({ "KeyId": other, "PendingWindowInDays": 7 }),
    );
    w.call("CancelKeyDeletion", json!({ "KeyId": other }));

    // Data key pairs under the symmetric key.
    w.call(
        "GenerateDataKeyPair",
        json!({ "KeyId": key, "KeyPairSpec": "ECC_NIST_P256" }),
    );
    w.call(
        "GenerateDataKeyPairWithoutPlaintext",
        json!({ "KeyId": key, "KeyPairSpec": "ECC_NIST_P256" }),
    );

    // Asymmetric, key agreement, post-quantum and HMAC keys.
    let signer = w.key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }));
    let message = b64(b"walk");
    let signed = w.call(
        "Sign",
        json!({ "KeyId": signer, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256" }),
    );
    let verified = w.call(
        "Verify",
        json!({ "KeyId": signer, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256",
                "Signature": signed["Signature"] }),
    );
    assert_eq!(verified["SignatureValid"], json!(true));
    let agree = w.key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT" }));
    let public = w.call("GetPublicKey", json!({ "KeyId": signer }));
    w.call(
        "DeriveSharedSecret",
        json!({ "KeyId": agree, "KeyAgreementAlgorithm": "ECDH",
                "PublicKey": public["PublicKey"] }),
    );
    let kem = w.key(json!({ "KeySpec": "ML_KEM_768", "KeyUsage": "ENCAPSULATE_DECAPSULATE" }));
    let encapsulated = w.call(
        "Encapsulate",
        json!({ "KeyId": kem, "EncapsulationAlgorithm": "ML_KEM" }),
    );
    let decapsulated = w.call(
        "Decapsulate",
        json!({ "KeyId": kem, "EncapsulationAlgorithm": "ML_KEM",
                "SharedSecretCiphertextBlob": encapsulated["SharedSecretCiphertextBlob"] }),
    );
    assert_eq!(decapsulated["SharedSecret"], encapsulated["SharedSecret"]);
    let mac_key = w.key(json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }));
    let mac = w.call(
        "GenerateMac",
        json!({ "KeyId": mac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256" }),
    );
    let checked = w.call(
        "VerifyMac",
        json!({ "KeyId": mac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256",
                "Mac": mac["Mac"] }),
    );
    assert_eq!(checked["MacValid"], json!(true));

    // Imported key material, wrapped by OpenSSL.
    let external = w.key(json!({ "Origin": "EXTERNAL" }));
    let params = w.call(
        "GetParametersForImport",
        json!({ "KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                "WrappingKeySpec": "RSA_2048" }),
    );
    let material = crate::common::random_bytes(32);
    let wrapped = crate::import::wrap(
        &unb64(&params["PublicKey"]),
        &AlgorithmSpec::RsaesOaepSha256,
        &material,
    );
    w.call(
        "ImportKeyMaterial",
        json!({ "KeyId": external, "ImportToken": params["ImportToken"],
                "EncryptedKeyMaterial": b64(&wrapped),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE" }),
    );
    w.call("DeleteImportedKeyMaterial", json!({ "KeyId": external }));

    // Multi-Region keys: a replica in the other Region this server serves.
    let primary = w.key(json!({ "MultiRegion": true }));
    w.call(
        "ReplicateKey",
        json!({ "KeyId": primary, "ReplicaRegion": WEST }),
    );
    w.call_when_ready(
        "UpdatePrimaryRegion",
        json!({ "KeyId": primary, "PrimaryRegion": WEST }),
    )
    .await;

    // An external key store on the proxy `strongroom dev` runs (in the other Region: dev's demo
    // store holds that proxy URI in its own).
    let store = w.call_in(
        WEST,
        "CreateCustomKeyStore",
        json!({
            "CustomKeyStoreName": "walk",
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
            "XksProxyUriEndpoint": xks.endpoint,
            "XksProxyUriPath": xks.uri_path,
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": xks.access_key_id,
                "RawSecretAccessKey": xks.secret_access_key,
            },
        }),
    );
    let store_id = store["CustomKeyStoreId"].clone();
    w.call_in(
        WEST,
        "UpdateCustomKeyStore",
        json!({ "CustomKeyStoreId": store_id, "NewCustomKeyStoreName": "walked" }),
    );
    w.call_in(
        WEST,
        "ConnectCustomKeyStore",
        json!({ "CustomKeyStoreId": store_id }),
    );
    w.call_in(
        WEST,
        "DescribeCustomKeyStores",
        json!({ "CustomKeyStoreId": store_id }),
    );
    w.call_in(
        WEST,
        "DisconnectCustomKeyStore",
        json!({ "CustomKeyStoreId": store_id }),
    );
    w.call_in(
        WEST,
        "DeleteCustomKeyStore",
        json!({ "CustomKeyStoreId": store_id }),
    );

    let missing: Vec<_> = model_operations().difference(&w.called).cloned().collect();
    assert!(
        missing.is_empty(),
        "operations the walk did not call: {missing:?}"
    );
    assert_eq!(w.called.len(), 56, "the model has 56 operations");
}
