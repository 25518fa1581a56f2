//! The key-state table end to end: every operation that takes a key, on a key in each state
//! reachable in process (Enabled, Disabled, PendingDeletion, PendingImport, and Unavailable: a
//! key of an external key store that is disconnected), with the exact answer AWS gives. Each cell gets a fresh key, so an operation that changes the state (EnableKey,
//! ScheduleKeyDeletion) cannot leak into the next cell.

use serde_json::{json, Value};

use super::external::InProcessProxy;
use super::import::oaep_wrap;
use super::*;

/// The states of the table's columns, in order.
const STATES: [&str; 5] = [
    "Enabled",
    "Disabled",
    "PendingDeletion",
    "PendingImport",
    "Unavailable",
];

/// What one cell expects.
#[derive(Clone, Copy, Debug)]
enum Want {
    Ok,
    /// `DisabledException`: "<arn> is disabled."
    Disabled,
    /// `KMSInvalidStateException`: "<arn> is <words>." (`{arn}` is the key's ARN).
    Invalid(&'static str),
    /// Any other refusal, with its exact message.
    Err(ErrorCode, &'static str),
}

use Want::{Disabled as D, Invalid as I, Ok as Y};
const PD: Want = I("pending deletion");
const PI: Want = I("pending import");
/// Imported-material operations on a key whose material KMS made.
const NOT_IMPORTED: Want = Want::Err(
    ErrorCode::UnsupportedOperationException,
    "{arn} origin is AWS_KMS which is not valid for this operation.",
);
/// A key whose external key store is disconnected: AWS's words name no key.
const NC: Want = Want::Err(
    ErrorCode::KmsInvalidStateException,
    "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.",
);

/// What a row's request needs: the key under test, a ciphertext under it (made while it could
/// encrypt), an Enabled key and a ciphertext under that, and a name unique to the cell.
struct Cell {
    key: String,
    ct: String,
    good: String,
    good_ct: String,
    alias: String,
    /// An alias of an Enabled key, for UpdateAlias to move onto the key under test.
    moving: String,
    grantee: String,
}

type Request = fn(&Cell) -> (Operation, Value);

/// The table: (row name, request, expectation per state of [`STATES`]).
fn table() -> Vec<(&'static str, Request, [Want; 5])> {
    vec![
        (
            "Encrypt",
            |c| {
                (
                    Operation::Encrypt,
                    json!({"KeyId": c.key, "Plaintext": "eA=="}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "Decrypt",
            |c| (Operation::Decrypt, json!({"CiphertextBlob": c.ct})),
            [Y, D, PD, PI, NC],
        ),
        (
            "ReEncrypt from",
            |c| {
                (
                    Operation::ReEncrypt,
                    json!({"CiphertextBlob": c.ct, "DestinationKeyId": c.good}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "ReEncrypt to",
            |c| {
                (
                    Operation::ReEncrypt,
                    json!({"CiphertextBlob": c.good_ct, "DestinationKeyId": c.key}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "GenerateDataKey",
            |c| {
                (
                    Operation::GenerateDataKey,
                    json!({"KeyId": c.key, "KeySpec": "AES_256"}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            |c| {
                (
                    Operation::GenerateDataKeyWithoutPlaintext,
                    json!({"KeyId": c.key, "NumberOfBytes": 16}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "GenerateDataKeyPairWithoutPlaintext",
            |c| {
                (
                    Operation::GenerateDataKeyPairWithoutPlaintext,
                    json!({"KeyId": c.key, "KeyPairSpec": "ECC_NIST_P256"}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "DescribeKey",
            |c| (Operation::DescribeKey, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "EnableKey",
            |c| (Operation::EnableKey, json!({"KeyId": c.key})),
            [Y, Y, PD, PI, Y],
        ),
        (
            "DisableKey",
            |c| (Operation::DisableKey, json!({"KeyId": c.key})),
            [Y, Y, PD, PI, Y],
        ),
        (
            "UpdateKeyDescription",
            |c| {
                (
                    Operation::UpdateKeyDescription,
                    json!({"KeyId": c.key, "Description": "d"}),
                )
            },
            [Y, Y, PD, Y, Y],
        ),
        (
            "TagResource",
            |c| {
                (
                    Operation::TagResource,
                    json!({"KeyId": c.key, "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
                )
            },
            [Y, Y, PD, Y, Y],
        ),
        (
            "UntagResource",
            |c| {
                (
                    Operation::UntagResource,
                    json!({"KeyId": c.key, "TagKeys": ["k"]}),
                )
            },
            [Y, Y, PD, Y, Y],
        ),
        (
            "CreateAlias",
            |c| {
                (
                    Operation::CreateAlias,
                    json!({"AliasName": c.alias, "TargetKeyId": c.key}),
                )
            },
            [Y, Y, PD, Y, Y],
        ),
        (
            "UpdateAlias onto the key",
            |c| {
                (
                    Operation::UpdateAlias,
                    json!({"AliasName": c.moving, "TargetKeyId": c.key}),
                )
            },
            [Y, Y, PD, Y, Y],
        ),
        (
            "ScheduleKeyDeletion",
            |c| {
                (
                    Operation::ScheduleKeyDeletion,
                    json!({"KeyId": c.key, "PendingWindowInDays": 7}),
                )
            },
            [Y, Y, PD, Y, Y],
        ),
        (
            "CancelKeyDeletion",
            |c| (Operation::CancelKeyDeletion, json!({"KeyId": c.key})),
            [
                I("not pending deletion"),
                I("not pending deletion"),
                Y,
                I("not pending deletion"),
                I("not pending deletion"),
            ],
        ),
        (
            "EnableKeyRotation",
            |c| (Operation::EnableKeyRotation, json!({"KeyId": c.key})),
            [
                Y,
                D,
                PD,
                Want::Err(
                    ErrorCode::UnsupportedOperationException,
                    "{arn} origin is EXTERNAL which is not valid for this operation.",
                ),
                NC,
            ],
        ),
        (
            "DisableKeyRotation",
            |c| (Operation::DisableKeyRotation, json!({"KeyId": c.key})),
            [
                Y,
                D,
                PD,
                Want::Err(
                    ErrorCode::UnsupportedOperationException,
                    "{arn} origin is EXTERNAL which is not valid for this operation.",
                ),
                NC,
            ],
        ),
        (
            "RotateKeyOnDemand",
            |c| (Operation::RotateKeyOnDemand, json!({"KeyId": c.key})),
            // On-demand rotation takes imported material, so the state refuses it here.
            [Y, D, PD, PI, NC],
        ),
        (
            "DeleteImportedKeyMaterial",
            |c| {
                (
                    Operation::DeleteImportedKeyMaterial,
                    json!({"KeyId": c.key}),
                )
            },
            // The origin decides before the state; deleting it again is not an error.
            [
                NOT_IMPORTED,
                NOT_IMPORTED,
                NOT_IMPORTED,
                Y,
                Want::Err(
                    ErrorCode::UnsupportedOperationException,
                    "{arn} origin is EXTERNAL_KEY_STORE which is not valid for this operation.",
                ),
            ],
        ),
        (
            "GetKeyRotationStatus",
            |c| (Operation::GetKeyRotationStatus, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "ListKeyRotations",
            |c| (Operation::ListKeyRotations, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "GetKeyPolicy",
            |c| (Operation::GetKeyPolicy, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "ListKeyPolicies",
            |c| (Operation::ListKeyPolicies, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "PutKeyPolicy",
            |c| {
                (
                    Operation::PutKeyPolicy,
                    json!({"KeyId": c.key, "PolicyName": "default", "Policy": ADMIN_POLICY}),
                )
            },
            [Y, Y, Y, Y, Y],
        ),
        (
            "ListResourceTags",
            |c| (Operation::ListResourceTags, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "GetKeyLastUsage",
            |c| (Operation::GetKeyLastUsage, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
        (
            "CreateGrant",
            |c| {
                (
                    Operation::CreateGrant,
                    json!({"KeyId": c.key, "GranteePrincipal": c.grantee, "Operations": ["Encrypt"]}),
                )
            },
            [Y, D, PD, PI, NC],
        ),
        (
            "ListGrants",
            |c| (Operation::ListGrants, json!({"KeyId": c.key})),
            [Y, Y, Y, Y, Y],
        ),
    ]
}

/// The operation a row's request calls.
fn op_of(request: Request) -> Operation {
    let blank = Cell {
        key: String::new(),
        ct: String::new(),
        good: String::new(),
        good_ct: String::new(),
        alias: String::new(),
        moving: String::new(),
        grantee: String::new(),
    };
    request(&blank).0
}

/// A key policy that lets the account's IAM policies decide (what CreateKey gives by default).
const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

/// An external key store, disconnected (each Unavailable cell connects it for a moment).
async fn external_store(kms: &Kms) -> String {
    let store = call(
        kms,
        Operation::CreateCustomKeyStore,
        json!({
            "CustomKeyStoreName": "states",
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
            "XksProxyUriEndpoint": "https://proxy.example",
            "XksProxyUriPath": "/kms/xks/v1",
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "RawSecretAccessKey": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG="
            }
        }),
    )
    .await
    .expect("CreateCustomKeyStore");
    s(&store, "CustomKeyStoreId")
}

/// A fresh key in `state`, with a ciphertext made under it while it could encrypt. `store` is
/// the external key store of Unavailable keys and `n` numbers the cell (their external key).
async fn key_in(kms: &Kms, state: &str, store: &str, n: usize) -> (String, String) {
    let encrypt = |id: String| async move {
        let out = call(
            kms,
            Operation::Encrypt,
            json!({"KeyId": id, "Plaintext": "eA=="}),
        )
        .await
        .expect("encrypt");
        (id, s(&out, "CiphertextBlob"))
    };
    match state {
        "Enabled" => encrypt(new_key(kms).await).await,
        "Disabled" => {
            let (id, ct) = encrypt(new_key(kms).await).await;
            call(kms, Operation::DisableKey, json!({"KeyId": id}))
                .await
                .expect("disable");
            (id, ct)
        }
        "PendingDeletion" => {
            let (id, ct) = encrypt(new_key(kms).await).await;
            call(kms, Operation::ScheduleKeyDeletion, json!({"KeyId": id}))
                .await
                .expect("schedule");
            (id, ct)
        }
        // Imported, used, then its material deleted: back to PendingImport with a ciphertext.
        "PendingImport" => {
            let created = call(kms, Operation::CreateKey, json!({"Origin": "EXTERNAL"}))
                .await
                .expect("create");
            let id = s(&created["KeyMetadata"], "KeyId");
            let params = call(
                kms,
                Operation::GetParametersForImport,
                json!({"KeyId": id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
            )
            .await
            .expect("parameters");
            let wrapped = oaep_wrap(&super::import::unb64(&params, "PublicKey"), &[5u8; 32]);
            call(
                kms,
                Operation::ImportKeyMaterial,
                json!({
                    "KeyId": id,
                    "ImportToken": s(&params, "ImportToken"),
                    "EncryptedKeyMaterial": b64(&wrapped),
                    "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
                }),
            )
            .await
            .expect("import");
            let (id, ct) = encrypt(id).await;
            call(
                kms,
                Operation::DeleteImportedKeyMaterial,
                json!({"KeyId": id}),
            )
            .await
            .expect("delete material");
            (id, ct)
        }
        // In an external key store, used, then the store disconnected.
        "Unavailable" => {
            let store = json!({"CustomKeyStoreId": store});
            call(kms, Operation::ConnectCustomKeyStore, store.clone())
                .await
                .expect("connect");
            let created = call(
                kms,
                Operation::CreateKey,
                json!({"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": store["CustomKeyStoreId"],
                       "XksKeyId": format!("ext-many-{n}")}),
            )
            .await
            .expect("create in the external key store");
            let (id, ct) = encrypt(s(&created["KeyMetadata"], "KeyId")).await;
            call(kms, Operation::DisconnectCustomKeyStore, store)
                .await
                .expect("disconnect");
            (id, ct)
        }
        other => panic!("no recipe for {other}"),
    }
}

async fn key_arn(kms: &Kms, id: &str) -> String {
    let d = call(kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    s(&d["KeyMetadata"], "Arn")
}

#[tokio::test]
async fn every_operation_in_every_reachable_state() {
    let fx = Fixture::new();
    let kms = fx
        .open_with(
            RootKey::from_file_contents(&fx.root).expect("root"),
            InProcessProxy::new(),
        )
        .await
        .expect("open");
    let store = external_store(&kms).await;
    let good = new_key(&kms).await;
    let good_ct = s(
        &call(
            &kms,
            Operation::Encrypt,
            json!({"KeyId": good, "Plaintext": "eA=="}),
        )
        .await
        .expect("encrypt"),
        "CiphertextBlob",
    );
    let mut failures = Vec::new();
    let mut cells = 0;
    for (row, (name, request, wants)) in table().into_iter().enumerate() {
        for (state, want) in STATES.iter().zip(wants) {
            cells += 1;
            let (key, ct) = key_in(&kms, state, &store, cells).await;
            let arn = key_arn(&kms, &key).await;
            let moving = format!("alias/moving-{cells}");
            if op_of(request) == Operation::UpdateAlias {
                let home = new_key(&kms).await;
                call(
                    &kms,
                    Operation::CreateAlias,
                    json!({"AliasName": moving, "TargetKeyId": home}),
                )
                .await
                .expect("alias of an Enabled key");
            }
            let cell = Cell {
                moving,
                key,
                ct,
                good: good.clone(),
                good_ct: good_ct.clone(),
                alias: format!("alias/state-{row}-{state}"),
                grantee: "arn:aws:iam::111122223333:user/grantee".to_string(),
            };
            let (op, body) = request(&cell);
            let got = call(&kms, op, body).await;
            let expected = match want {
                Y => None,
                D => Some((ErrorCode::DisabledException, format!("{arn} is disabled."))),
                I(words) => Some((
                    ErrorCode::KmsInvalidStateException,
                    format!("{arn} is {words}."),
                )),
                Want::Err(code, message) => Some((code, message.replace("{arn}", &arn))),
            };
            let ok = match (&got, &expected) {
                (Ok(_), None) => true,
                (Err(e), Some((code, message))) => e.code == *code && e.message == *message,
                _ => false,
            };
            if !ok {
                let got = outcome(&got);
                failures.push(format!("{name} on {state}: want {expected:?}, got {got}"));
            }
        }
    }
    report(&failures, cells, "cells");
    assert_eq!(cells, table().len() * STATES.len());
}
