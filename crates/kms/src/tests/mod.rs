//! In-process tests of what the HTTP suite cannot reach quickly: jobs with a clock that moves
//! (deletion, rotation), two services on one database racing (at most one rotation), the cache
//! rebuilt from the store, Regions kept apart, and every operation routed. The table modules
//! (`states`, `key_usage`, `aliases`, `tags`, `grants`, `context`, `cross_account`,
//! `validation`) run AWS's rules cell by cell through [`Kms::handle`], each failure naming its
//! row, and report every failing row at once.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use kms_api::{ErrorCode, KmsError, Operation};
use kms_model::{AccountId, Region};
use serde_json::{json, Value};

use super::*;
use crate::external::{ProxyError, ProxyTarget, RequestMetadata};

mod aliases;
mod context;
mod cross_account;
mod external;
mod grants;
mod import;
mod key_usage;
mod root_key;
mod states;
mod tags;
mod validation;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// No external key store is reachable in these tests.
struct NoProxy;

#[async_trait]
impl ExternalKeyStore for NoProxy {
    async fn health(
        &self,
        _: &ProxyTarget,
        _: RequestMetadata,
    ) -> Result<xks_client::GetHealthStatusResponse, ProxyError> {
        Err(ProxyError::Unreachable("no proxy in this test".into()))
    }
    async fn key_metadata(
        &self,
        _: &ProxyTarget,
        _: &str,
        _: RequestMetadata,
    ) -> Result<xks_client::GetKeyMetadataResponse, ProxyError> {
        Err(ProxyError::Unreachable("no proxy in this test".into()))
    }
    async fn encrypt(
        &self,
        _: &ProxyTarget,
        _: &str,
        _: &xks_client::EncryptRequest,
    ) -> Result<xks_client::EncryptResponse, ProxyError> {
        Err(ProxyError::Unreachable("no proxy in this test".into()))
    }
    async fn decrypt(
        &self,
        _: &ProxyTarget,
        _: &str,
        _: &xks_client::DecryptRequest,
    ) -> Result<xks_client::DecryptResponse, ProxyError> {
        Err(ProxyError::Unreachable("no proxy in this test".into()))
    }
}

fn region(r: &str) -> Region {
    Region::parse(r).expect("region")
}

fn caller() -> Caller {
    let admin = policy::Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        policy::PolicyKind::Identity,
    )
    .expect("policy");
    Caller::user(
        AccountId::parse("111122223333").expect("account"),
        "test",
        vec![admin],
    )
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
            .expect("a root key in memory")
            .to_string();
        Fixture {
            _dir: dir,
            db,
            root,
            clock: Arc::new(ManualClock::new(1_700_000_000_000)),
        }
    }

    async fn try_open(&self, root: RootKey) -> Result<Kms, KmsError> {
        self.open_with(root, Arc::new(NoProxy)).await
    }

    async fn open_with(
        &self,
        root: RootKey,
        xks: Arc<dyn ExternalKeyStore>,
    ) -> Result<Kms, KmsError> {
        let store = store::SqliteStore::open(&self.db, &region("us-east-1"))
            .await
            .expect("store");
        let config = KmsConfig {
            any_region: true,
            ..KmsConfig::single_region(region("us-east-1"))
        };
        Kms::open(config, Arc::new(store), root, self.clock.clone(), xks).await
    }

    async fn open(&self) -> Kms {
        self.try_open(RootKey::from_file_contents(&self.root).expect("root"))
            .await
            .expect("open")
    }
}

async fn call_in(
    kms: &Kms,
    r: &str,
    as_: &Caller,
    op: Operation,
    body: Value,
) -> Result<Value, KmsError> {
    let origin = RequestOrigin::internal(region(r));
    let out = kms
        .handle(op, body.to_string().as_bytes(), as_, &origin)
        .await?;
    Ok(serde_json::from_slice(&out.body).expect("json"))
}

async fn call(kms: &Kms, op: Operation, body: Value) -> Result<Value, KmsError> {
    call_in(kms, "us-east-1", &caller(), op, body).await
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

/// A table row's answer for its failure line: `success`, or the error's code and message.
fn outcome<T>(got: &Result<T, KmsError>) -> String {
    match got {
        Ok(_) => "success".to_string(),
        Err(e) => format!("{:?}: {}", e.code, e.message),
    }
}

/// Whether an answer is what a table row wants: success (`None`) or exactly that error.
fn answers<T>(got: &Result<T, KmsError>, want: &Option<(ErrorCode, String)>) -> bool {
    match (got, want) {
        (Ok(_), None) => true,
        (Err(e), Some((code, message))) => e.code == *code && e.message == *message,
        _ => false,
    }
}

/// Records a row whose answer is not the one it wants.
fn compare<T>(
    row: &str,
    got: &Result<T, KmsError>,
    want: &Option<(ErrorCode, String)>,
    failures: &mut Vec<String>,
) {
    if !answers(got, want) {
        failures.push(format!("{row}: want {want:?}, got {}", outcome(got)));
    }
}

/// Fails with every failing row of a table at once; `unit` names what `total` counts.
fn report(failures: &[String], total: usize, unit: &str) {
    assert!(
        failures.is_empty(),
        "{} of {total} {unit}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// How many keys the caller's account has in the Region.
async fn key_count(kms: &Kms) -> usize {
    call(kms, Operation::ListKeys, json!({"Limit": 1000}))
        .await
        .expect("list keys")["Keys"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn new_key(kms: &Kms) -> String {
    let key = call(kms, Operation::CreateKey, json!({}))
        .await
        .expect("create");
    s(&key["KeyMetadata"], "KeyId")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn sweep_deletes_only_when_the_window_has_ended() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let id = new_key(&kms).await;
    call(
        &kms,
        Operation::CreateAlias,
        json!({"AliasName": "alias/doomed", "TargetKeyId": id}),
    )
    .await
    .expect("alias");
    let other_id = new_key(&kms).await;
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

    // The deletion reached the store: key, versions and alias are gone after a reopen.
    drop(kms);
    let kms = fx.open().await;
    let listed = call(&kms, Operation::ListKeys, json!({}))
        .await
        .expect("list");
    assert_eq!(listed["Keys"].as_array().map(Vec::len), Some(1));
    let aliases = call(&kms, Operation::ListAliases, json!({}))
        .await
        .expect("list");
    assert_eq!(aliases["Aliases"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn cancelled_deletion_survives_the_sweep() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let id = new_key(&kms).await;
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
    let kms = fx.open().await;
    let key = call(
        &kms,
        Operation::CreateKey,
        json!({"Description": "d", "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
    )
    .await
    .expect("create");
    let id = s(&key["KeyMetadata"], "KeyId");
    let pt = b64(b"hello");
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

    let kms = fx.open().await;
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
    let kms = fx.open().await;
    new_key(&kms).await;
    drop(kms);
    let wrong = fx.try_open(RootKey::generate().expect("root")).await;
    assert_eq!(
        wrong.err().map(|e| e.code),
        Some(ErrorCode::KmsInternalException)
    );
}

#[tokio::test]
async fn every_model_operation_is_routed() {
    let fx = Fixture::new();
    let kms = fx.open().await;
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
    let kms = fx.open().await;
    let identity = policy::Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kms:*","Resource":"*"},
            {"Effect":"Deny","Action":["kms:ReEncryptFrom","kms:ReEncryptTo"],"Resource":"*",
             "Condition":{"Bool":{"kms:ReEncryptOnSameKey":"true"}}}]}"#,
        policy::PolicyKind::Identity,
    )
    .expect("policy");
    let user = Caller::user(
        AccountId::parse("111122223333").expect("account"),
        "rotator",
        vec![identity],
    );
    let a = s(
        &call_in(&kms, "us-east-1", &user, Operation::CreateKey, json!({}))
            .await
            .expect("a")["KeyMetadata"],
        "KeyId",
    );
    let b = s(
        &call_in(&kms, "us-east-1", &user, Operation::CreateKey, json!({}))
            .await
            .expect("b")["KeyMetadata"],
        "KeyId",
    );
    let ct = call_in(
        &kms,
        "us-east-1",
        &user,
        Operation::Encrypt,
        json!({"KeyId": a, "Plaintext": b64(b"x")}),
    )
    .await
    .expect("encrypt");
    call_in(
        &kms,
        "us-east-1",
        &user,
        Operation::ReEncrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"], "DestinationKeyId": b}),
    )
    .await
    .expect("to another key is allowed");
    let same = call_in(
        &kms,
        "us-east-1",
        &user,
        Operation::ReEncrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"], "DestinationKeyId": a}),
    )
    .await
    .unwrap_err();
    assert_eq!(same.code, ErrorCode::AccessDeniedException, "{same}");
}

async fn material_id(kms: &Kms, id: &str) -> String {
    let d = call(kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    s(&d["KeyMetadata"], "CurrentKeyMaterialId")
}

#[tokio::test]
async fn automatic_rotation_follows_the_clock_and_old_ciphertexts_decrypt() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let id = new_key(&kms).await;
    let first = material_id(&kms, &id).await;
    let before = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"old")}),
    )
    .await
    .expect("encrypt");
    call(
        &kms,
        Operation::EnableKeyRotation,
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    )
    .await
    .expect("enable");
    let status = call(&kms, Operation::GetKeyRotationStatus, json!({"KeyId": id}))
        .await
        .expect("status");
    assert_eq!(status["KeyRotationEnabled"], true);
    assert_eq!(status["RotationPeriodInDays"], 90);
    let next = status["NextRotationDate"].as_f64().expect("next");
    #[allow(clippy::cast_precision_loss)]
    let expected = (1_700_000_000_000 + 90 * DAY_MS) as f64 / 1000.0;
    assert!((next - expected).abs() < 0.001, "{next} vs {expected}");

    fx.clock.advance_ms(90 * DAY_MS - 1);
    assert_eq!(kms.rotate_due_keys().await.expect("rotate"), 0);
    assert_eq!(material_id(&kms, &id).await, first);
    fx.clock.advance_ms(1);
    assert_eq!(kms.rotate_due_keys().await.expect("rotate"), 1);
    assert_eq!(kms.rotate_due_keys().await.expect("rotate"), 0, "once");
    let second = material_id(&kms, &id).await;
    assert_ne!(second, first);

    // New ciphertexts use the new version; old ones still decrypt and name theirs.
    let after = call(
        &kms,
        Operation::GenerateDataKey,
        json!({"KeyId": id, "KeySpec": "AES_256"}),
    )
    .await
    .expect("data key");
    assert_eq!(s(&after, "KeyMaterialId"), second);
    let old = call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": before["CiphertextBlob"]}),
    )
    .await
    .expect("old ciphertext");
    assert_eq!(old["Plaintext"], b64(b"old"));
    assert_eq!(s(&old, "KeyMaterialId"), first);

    let rotations = call(&kms, Operation::ListKeyRotations, json!({"KeyId": id}))
        .await
        .expect("list");
    assert_eq!(rotations["Rotations"].as_array().map(Vec::len), Some(1));
    assert_eq!(rotations["Rotations"][0]["RotationType"], "AUTOMATIC");
    let all = call(
        &kms,
        Operation::ListKeyRotations,
        json!({"KeyId": id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}),
    )
    .await
    .expect("list all");
    assert_eq!(all["Rotations"].as_array().map(Vec::len), Some(2));
    assert_eq!(all["Rotations"][0]["KeyMaterialId"], first);
    assert_eq!(all["Rotations"][0]["KeyMaterialState"], "NON_CURRENT");
    assert_eq!(all["Rotations"][1]["KeyMaterialState"], "CURRENT");

    // The next date moved by one period; a reopened service has all of it.
    let status = call(&kms, Operation::GetKeyRotationStatus, json!({"KeyId": id}))
        .await
        .expect("status");
    let next2 = status["NextRotationDate"].as_f64().expect("next");
    assert!((next2 - next - 90.0 * 86_400.0).abs() < 0.001);
    drop(kms);
    let kms = fx.open().await;
    assert_eq!(material_id(&kms, &id).await, second);
    call(
        &kms,
        Operation::Decrypt,
        json!({"CiphertextBlob": before["CiphertextBlob"]}),
    )
    .await
    .expect("old ciphertext after reopen");
}

#[tokio::test]
async fn two_services_on_one_database_rotate_once() {
    let fx = Fixture::new();
    let a = fx.open().await;
    let b = fx.open().await;
    let id = new_key(&a).await;
    call(&a, Operation::EnableKeyRotation, json!({"KeyId": id}))
        .await
        .expect("enable");
    // b learns of the setting from the change feed.
    assert!(b.follow_changes().await.expect("follow") > 0);
    fx.clock.advance_ms(365 * DAY_MS);
    let (ra, rb) = tokio::join!(a.rotate_due_keys(), b.rotate_due_keys());
    let total = ra.expect("a") + rb.expect("b");
    assert_eq!(total, 1, "exactly one rotator rotated");
    drop((a, b));
    let kms = fx.open().await;
    let all = call(
        &kms,
        Operation::ListKeyRotations,
        json!({"KeyId": id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}),
    )
    .await
    .expect("list");
    assert_eq!(all["Rotations"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn on_demand_rotation_starts_then_completes() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let id = new_key(&kms).await;
    let first = material_id(&kms, &id).await;
    let out = call(&kms, Operation::RotateKeyOnDemand, json!({"KeyId": id}))
        .await
        .expect("rotate");
    assert!(s(&out, "KeyId").ends_with(&id));
    let status = call(&kms, Operation::GetKeyRotationStatus, json!({"KeyId": id}))
        .await
        .expect("status");
    assert!(
        status.get("OnDemandRotationStartDate").is_some(),
        "{status}"
    );
    assert_eq!(status["KeyRotationEnabled"], false);
    // A second request while it runs joins it.
    call(&kms, Operation::RotateKeyOnDemand, json!({"KeyId": id}))
        .await
        .expect("joins");
    assert_eq!(kms.rotate_due_keys().await.expect("rotate"), 1);
    assert_ne!(material_id(&kms, &id).await, first);
    let status = call(&kms, Operation::GetKeyRotationStatus, json!({"KeyId": id}))
        .await
        .expect("status");
    assert!(
        status.get("OnDemandRotationStartDate").is_none(),
        "{status}"
    );
    let list = call(&kms, Operation::ListKeyRotations, json!({"KeyId": id}))
        .await
        .expect("list");
    assert_eq!(list["Rotations"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["Rotations"][0]["RotationType"], "ON_DEMAND");
}

#[tokio::test]
async fn regions_are_separate_key_namespaces() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let me = caller();
    let east = call_in(&kms, "us-east-1", &me, Operation::CreateKey, json!({}))
        .await
        .expect("east");
    let east_id = s(&east["KeyMetadata"], "KeyId");
    assert!(s(&east["KeyMetadata"], "Arn").contains(":us-east-1:"));
    let west = call_in(&kms, "eu-west-1", &me, Operation::CreateKey, json!({}))
        .await
        .expect("west");
    let west_id = s(&west["KeyMetadata"], "KeyId");
    assert!(s(&west["KeyMetadata"], "Arn").contains(":eu-west-1:"));
    let err = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::DescribeKey,
        json!({"KeyId": east_id}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFoundException);
    assert_eq!(
        err.message,
        format!("Key 'arn:aws:kms:eu-west-1:111122223333:key/{east_id}' does not exist")
    );
    let err = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::DescribeKey,
        json!({"KeyId": s(&east["KeyMetadata"], "Arn")}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.message, "Invalid arn us-east-1");
    let listed = call_in(&kms, "eu-west-1", &me, Operation::ListKeys, json!({}))
        .await
        .expect("list");
    let ids: Vec<&str> = listed["Keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["KeyId"].as_str())
        .collect();
    assert_eq!(ids, [west_id.as_str()]);
    // The same alias name in two Regions names two keys.
    for (r, id) in [("us-east-1", &east_id), ("eu-west-1", &west_id)] {
        call_in(
            &kms,
            r,
            &me,
            Operation::CreateAlias,
            json!({"AliasName": "alias/app", "TargetKeyId": id}),
        )
        .await
        .expect("alias");
    }
    let d = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::DescribeKey,
        json!({"KeyId": "alias/app"}),
    )
    .await
    .expect("describe");
    assert_eq!(s(&d["KeyMetadata"], "KeyId"), west_id);
}

mod multi_region;

/// Key uses reach the store by flushes: another service on the database sees a use once the
/// service that made it flushed. A failed flush keeps the uses (requests go on meanwhile) and
/// the next one writes them, the newest of each key.
#[tokio::test]
async fn key_uses_reach_the_store_by_flushes_that_retry() {
    let fx = Fixture::new();
    let (a, b) = (fx.open().await, fx.open().await);
    let id = new_key(&a).await;
    b.follow_changes().await.expect("follow");
    async fn last(kms: &Kms, id: &str) -> Value {
        call(kms, Operation::GetKeyLastUsage, json!({ "KeyId": id }))
            .await
            .expect("GetKeyLastUsage")["KeyLastUsage"]
            .clone()
    }
    let enc = call(
        &a,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"used")}),
    )
    .await
    .expect("encrypt");
    assert_eq!(last(&a, &id).await["Operation"], "Encrypt", "a's own use");
    assert_eq!(last(&b, &id).await, Value::Null, "not flushed yet");

    // The store cannot take uses: the flush fails and keeps them.
    let side = rusqlite::Connection::open(&fx.db).expect("open");
    side.execute_batch("ALTER TABLE key_usage RENAME TO key_usage_away")
        .expect("rename");
    assert!(a.flush_key_usage().await.is_err());
    assert_eq!(a.core.usage.pending(), 1);
    fx.clock.advance_ms(1000);
    call(
        &a,
        Operation::Decrypt,
        json!({"CiphertextBlob": enc["CiphertextBlob"]}),
    )
    .await
    .expect("requests go on while uses cannot be written");
    assert_eq!(a.core.usage.pending(), 1, "one entry per key");

    side.execute_batch("ALTER TABLE key_usage_away RENAME TO key_usage")
        .expect("rename back");
    assert_eq!(a.flush_key_usage().await.expect("flush"), 1);
    assert_eq!(a.core.usage.pending(), 0);
    let seen = last(&b, &id).await;
    assert_eq!(seen["Operation"], "Decrypt");
    assert_eq!(seen, last(&a, &id).await, "both answer the same use");
    assert_eq!(a.flush_key_usage().await.expect("nothing new"), 0);
}
