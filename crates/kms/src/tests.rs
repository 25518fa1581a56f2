//! In-process tests of what the HTTP suite cannot reach quickly: the deletion sweep with a clock
//! that moves, and the cache rebuilt from the store.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn caller() -> Caller {
    let admin = policy::Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        policy::PolicyKind::Identity,
    )
    .expect("policy");
    Caller::user("111122223333", "test", vec![admin])
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    root: String,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("s.db");
        let root = RootKey::generate()
            .expect("root")
            .to_file_contents()
            .to_string();
        Fixture {
            _dir: dir,
            db,
            root,
            clock: Arc::new(ManualClock::new(1_700_000_000_000)),
        }
    }

    fn open(&self) -> Kms {
        let store = store::legacy::SqliteStore::open(&self.db).expect("store");
        Kms::open(
            KmsConfig {
                region: "us-east-1".into(),
                partition: "aws".into(),
                xks: XksSettings::default(),
            },
            Arc::new(store),
            RootKey::from_file_contents(&self.root).expect("root"),
            self.clock.clone(),
        )
        .expect("open")
    }
}

async fn call(kms: &Kms, op: Operation, body: Value) -> Result<Value, KmsError> {
    let out = kms
        .handle(op, body.to_string().as_bytes(), &caller())
        .await?;
    Ok(serde_json::from_slice(&out).expect("json"))
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().expect(k).to_string()
}

#[tokio::test]
async fn sweep_deletes_only_when_the_window_has_ended() {
    let fx = Fixture::new();
    let kms = fx.open();
    let key = call(&kms, Operation::CreateKey, json!({}))
        .await
        .expect("create");
    let id = s(&key["KeyMetadata"], "KeyId");
    call(
        &kms,
        Operation::CreateAlias,
        json!({"AliasName": "alias/doomed", "TargetKeyId": id}),
    )
    .await
    .expect("alias");
    let other = call(&kms, Operation::CreateKey, json!({}))
        .await
        .expect("create");
    let other_id = s(&other["KeyMetadata"], "KeyId");
    call(
        &kms,
        Operation::ScheduleKeyDeletion,
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .await
    .expect("schedule");

    fx.clock.advance_ms(7 * DAY_MS - 1);
    assert_eq!(kms.sweep_deletions().await.expect("sweep"), 0);
    fx.clock.advance_ms(1);
    assert_eq!(kms.sweep_deletions().await.expect("sweep"), 1);

    let gone = call(&kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFoundException);
    let gone = call(
        &kms,
        Operation::DescribeKey,
        json!({"KeyId": "alias/doomed"}),
    )
    .await
    .unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFoundException);
    call(&kms, Operation::DescribeKey, json!({"KeyId": other_id}))
        .await
        .expect("other key untouched");

    // The deletion reached the store: key, material and alias are gone after a reopen.
    drop(kms);
    let snap =
        store::legacy::Store::load(&store::legacy::SqliteStore::open(&fx.db).expect("store"))
            .expect("load");
    assert_eq!(snap.keys.len(), 1);
    assert_eq!(snap.backing_keys.len(), 1);
    assert!(snap.aliases.is_empty());
}

#[tokio::test]
async fn cancelled_deletion_survives_the_sweep() {
    let fx = Fixture::new();
    let kms = fx.open();
    let key = call(&kms, Operation::CreateKey, json!({}))
        .await
        .expect("create");
    let id = s(&key["KeyMetadata"], "KeyId");
    call(&kms, Operation::ScheduleKeyDeletion, json!({"KeyId": id}))
        .await
        .expect("schedule");
    call(&kms, Operation::CancelKeyDeletion, json!({"KeyId": id}))
        .await
        .expect("cancel");
    fx.clock.advance_ms(31 * DAY_MS);
    assert_eq!(kms.sweep_deletions().await.expect("sweep"), 0);
    let d = call(&kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
    assert!(d["KeyMetadata"].get("DeletionDate").is_none());
}

#[tokio::test]
async fn reopened_service_decrypts_and_keeps_state() {
    let fx = Fixture::new();
    let kms = fx.open();
    let key = call(
        &kms,
        Operation::CreateKey,
        json!({"Description": "d", "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
    )
    .await
    .expect("create");
    let id = s(&key["KeyMetadata"], "KeyId");
    let pt = base64::engine::general_purpose::STANDARD.encode(b"hello");
    let enc = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": pt, "EncryptionContext": {"p": "q"}}),
    )
    .await
    .expect("encrypt");
    call(&kms, Operation::DisableKey, json!({"KeyId": id}))
        .await
        .expect("disable");
    drop(kms);

    let kms = fx.open();
    let d = call(&kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
    assert_eq!(d["KeyMetadata"]["Description"], "d");
    let err = call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": enc["CiphertextBlob"], "EncryptionContext": {"p": "q"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::DisabledException);
    call(&kms, Operation::EnableKey, json!({"KeyId": id}))
        .await
        .expect("enable");
    let dec = call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": enc["CiphertextBlob"], "EncryptionContext": {"p": "q"}}),
    )
    .await
    .expect("decrypt");
    assert_eq!(dec["Plaintext"], pt);
}

#[tokio::test]
async fn another_root_key_refuses_to_open_the_store() {
    let fx = Fixture::new();
    let kms = fx.open();
    call(&kms, Operation::CreateKey, json!({}))
        .await
        .expect("create");
    drop(kms);
    let store = store::legacy::SqliteStore::open(&fx.db).expect("store");
    let wrong = Kms::open(
        KmsConfig {
            region: "us-east-1".into(),
            partition: "aws".into(),
            xks: XksSettings::default(),
        },
        Arc::new(store),
        RootKey::generate().expect("root"),
        fx.clock.clone(),
    );
    assert_eq!(
        wrong.err().map(|e| e.code),
        Some(ErrorCode::KmsInternalException)
    );
}

#[tokio::test]
async fn every_model_operation_is_routed() {
    let fx = Fixture::new();
    let kms = fx.open();
    for op in Operation::ALL {
        // An empty body: either a validation error, a real answer, or UnsupportedOperation naming the op.
        match call(&kms, *op, json!({})).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::UnsupportedOperationException => {
                assert!(e.message.contains(op.name()), "{e}");
            }
            Err(e) => assert_ne!(e.code, ErrorCode::KmsInternalException, "{op:?}: {e}"),
        }
    }
}

#[tokio::test]
async fn reencrypt_on_same_key_is_a_condition_key() {
    let fx = Fixture::new();
    let kms = fx.open();
    let identity = policy::Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kms:*","Resource":"*"},
            {"Effect":"Deny","Action":["kms:ReEncryptFrom","kms:ReEncryptTo"],"Resource":"*",
             "Condition":{"Bool":{"kms:ReEncryptOnSameKey":"true"}}}]}"#,
        policy::PolicyKind::Identity,
    )
    .expect("policy");
    let user = Caller::user("111122223333", "rotator", vec![identity]);
    let call_as = |op: Operation, body: Value| {
        let kms = &kms;
        let user = user.clone();
        async move {
            let out = kms.handle(op, body.to_string().as_bytes(), &user).await?;
            Ok::<Value, KmsError>(serde_json::from_slice(&out).expect("json"))
        }
    };
    let a = s(
        &call_as(Operation::CreateKey, json!({})).await.expect("a")["KeyMetadata"],
        "KeyId",
    );
    let b = s(
        &call_as(Operation::CreateKey, json!({})).await.expect("b")["KeyMetadata"],
        "KeyId",
    );
    let pt = base64::engine::general_purpose::STANDARD.encode(b"x");
    let ct = call_as(Operation::Encrypt, json!({"KeyId": a, "Plaintext": pt}))
        .await
        .expect("encrypt");
    call_as(
        Operation::ReEncrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"], "DestinationKeyId": b}),
    )
    .await
    .expect("to another key is allowed");
    let same = call_as(
        Operation::ReEncrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"], "DestinationKeyId": a}),
    )
    .await
    .unwrap_err();
    assert_eq!(same.code, ErrorCode::AccessDeniedException, "{same}");
}
