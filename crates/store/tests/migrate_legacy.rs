//! Opening a database the legacy store wrote migrates it: every record, with its key material
//! byte for byte under the same ids, so the ciphertexts made before still decrypt. The upgrade
//! fixture (`crates/strongroom/tests/fixtures/store-v1`, written by the legacy code) is the
//! main subject; small legacy databases made with `store::legacy` cover the edges.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use kms_model::{
    AccountId, ConnectionState, CustomKeyStoreId, Deletion, ExternalKey, GrantOperation, KeyId,
    KeyRef, KeyState, KeyType, MaterialKind, Origin, Region, Tag, VersionId,
};
use serde_json::Value;
use store::legacy::{self, Store as _};
use store::{SqliteStore, Store, StoreError};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../strongroom/tests/fixtures/store-v1"
);

fn region() -> Region {
    Region::parse("us-east-1").expect("region")
}

/// A private copy of the fixture's database.
fn fixture_copy(dir: &Path) -> PathBuf {
    let to = dir.join("strongroom.db");
    std::fs::copy(Path::new(FIXTURE).join("data/strongroom.db"), &to).expect("copy the fixture");
    to
}

fn manifest() -> Value {
    let text = std::fs::read(Path::new(FIXTURE).join("manifest.json")).expect("manifest");
    serde_json::from_slice(&text).expect("manifest JSON")
}

fn root_key() -> crypto::RootKey {
    let text = std::fs::read_to_string(Path::new(FIXTURE).join("root.key")).expect("root key");
    crypto::RootKey::from_file_contents(&text).expect("root key file")
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

fn key_ref(id: &str) -> KeyRef {
    KeyRef {
        region: region(),
        id: KeyId::parse(id).expect("key id"),
    }
}

/// What the kms binds a wrapped backing key to.
fn wrap_context(key_id: &KeyId, version: &VersionId) -> Vec<u8> {
    format!("strongroom/backing-key/v1/{key_id}/{}", version.to_hex()).into_bytes()
}

fn table_names(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names")
}

#[tokio::test]
async fn the_upgrade_fixture_migrates_with_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture_copy(dir.path());
    // What the legacy store reads from it, from a second copy.
    let legacy_dir = tempfile::tempdir().expect("tempdir");
    let old = legacy::SqliteStore::open(&fixture_copy(legacy_dir.path()))
        .expect("legacy open")
        .load()
        .expect("legacy load");
    let manifest = manifest();
    let account = AccountId::parse(manifest["account"].as_str().expect("account")).expect("id");

    let s = SqliteStore::open(&db, &region()).await.expect("migrate");
    let snap = s.load().await.expect("load");
    assert_eq!(snap.keys.len(), old.keys.len());
    assert_eq!(
        old.keys.len(),
        6,
        "the fixture's five keys and its probe key"
    );

    // Every legacy key, field by field.
    for o in &old.keys {
        let b = s
            .get_key(&key_ref(&o.key_id))
            .await
            .expect("get")
            .expect("a migrated key");
        let k = &b.key.record;
        assert_eq!(k.id.as_str(), o.key_id);
        assert_eq!(k.account, account);
        assert_eq!(k.region, region());
        assert_eq!(k.created_ms, o.created_ms);
        assert_eq!(k.description, o.description);
        assert_eq!(k.key_type, KeyType::SYMMETRIC_DEFAULT);
        assert_eq!(k.state.as_str(), o.state.as_str());
        assert_eq!(k.policy, o.policy);
        let tags: Vec<(String, String)> = k
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        assert_eq!(tags, o.tags);
        assert_eq!(
            k.current_version.map(|v| v.to_hex()),
            Some(o.current_backing_key_id.clone())
        );
        assert_eq!(k.rotation, Default::default());
        // Each backing key is a version under the same id, its material byte for byte.
        let backing: Vec<_> = old
            .backing_keys
            .iter()
            .filter(|bk| bk.key_id == o.key_id)
            .collect();
        assert_eq!(b.versions.len(), backing.len());
        for (v, bk) in b.versions.iter().zip(&backing) {
            assert_eq!(v.id.to_hex(), bk.backing_key_id);
            assert_eq!(v.key, k.id);
            assert_eq!(v.region, region());
            assert_eq!(v.wrapped, bk.wrapped, "material byte for byte");
            assert_eq!(v.created_ms, bk.created_ms);
            assert_eq!(v.kind, MaterialKind::Aes256Gcm);
            assert_eq!((v.rotation, v.expires_ms), (None, None));
        }
    }

    // The manifest's view: states, descriptions, tags, the alias, the grant.
    for mk in manifest["keys"].as_array().expect("keys") {
        let id = mk["key"].as_str().expect("key");
        let k = s.get_key(&key_ref(id)).await.expect("get").expect("key");
        assert_eq!(Some(k.key.record.state.as_str()), mk["state"].as_str());
        assert_eq!(
            Some(k.key.record.description.as_str()),
            mk["description"].as_str()
        );
    }
    for (id, tags) in manifest["tags"].as_object().expect("tags") {
        let k = s.get_key(&key_ref(id)).await.expect("get").expect("key");
        let want: Vec<Tag> = tags
            .as_object()
            .expect("tag map")
            .iter()
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: value.as_str().expect("value").to_string(),
            })
            .collect();
        assert_eq!(k.key.record.tags, want);
    }
    let doomed = old
        .keys
        .iter()
        .find(|k| k.state == legacy::KeyState::PendingDeletion)
        .expect("the pending deletion key");
    let migrated = s
        .get_key(&key_ref(&doomed.key_id))
        .await
        .expect("get")
        .expect("key");
    assert_eq!(migrated.key.record.state, KeyState::PendingDeletion);
    assert_eq!(
        migrated.key.record.deletion,
        Some(Deletion {
            at_ms: doomed.deletion_ms.expect("deletion date"),
            window_days: 30
        })
    );
    let external = old
        .keys
        .iter()
        .find(|k| k.origin == "EXTERNAL_KEY_STORE")
        .expect("the external key");
    let migrated = s
        .get_key(&key_ref(&external.key_id))
        .await
        .expect("get")
        .expect("key");
    assert_eq!(migrated.key.record.origin, Origin::ExternalKeyStore);
    assert_eq!(
        migrated.key.record.external,
        Some(ExternalKey {
            store: CustomKeyStoreId::parse(external.custom_key_store_id.as_deref().expect("cks"))
                .expect("cks id"),
            xks_key_id: external.xks_key_id.clone().expect("xks key id"),
        })
    );

    for ma in manifest["aliases"].as_array().expect("aliases") {
        let target = ma["target"].as_str().expect("target");
        let k = s
            .get_key(&key_ref(target))
            .await
            .expect("get")
            .expect("key");
        let names: Vec<&str> = k.aliases.iter().map(|a| a.record.name.as_str()).collect();
        assert_eq!(names, vec![ma["name"].as_str().expect("name")]);
        assert_eq!(k.aliases[0].record.account, account);
        assert_eq!(k.aliases[0].record.region, region());
    }
    for mg in manifest["grants"].as_array().expect("grants") {
        let k = s
            .get_key(&key_ref(mg["key"].as_str().expect("key")))
            .await
            .expect("get")
            .expect("key");
        assert_eq!(k.grants.len(), 1);
        let g = &k.grants[0].record;
        assert_eq!(Some(g.id.as_str()), mg["grant_id"].as_str());
        assert_eq!(g.name.as_deref(), Some("fixture-grant"));
        assert_eq!(
            g.operations,
            vec![GrantOperation::Encrypt, GrantOperation::Decrypt]
        );
        assert_eq!(g.constraints, None);
        assert_eq!(g.issuing_account, account);
    }

    // The custom key store, with its sealed proxy secret still opening where the kms opens it.
    assert_eq!(snap.custom_key_stores.len(), 1);
    let cks = &snap.custom_key_stores[0].record;
    let old_cks = &old.custom_key_stores[0];
    assert_eq!(cks.id.as_str(), old_cks.id);
    assert_eq!(cks.region, region());
    assert_eq!(cks.name, old_cks.name);
    assert_eq!(cks.uri_endpoint, old_cks.uri_endpoint);
    assert_eq!(cks.uri_path, old_cks.uri_path);
    assert_eq!(cks.access_key_id, old_cks.access_key_id);
    assert_eq!(cks.connection_state, ConnectionState::Connected);
    assert_eq!(cks.sealed_secret_hex, old_cks.wrapped_secret_hex);
    let root = root_key();
    let sealed = (0..cks.sealed_secret_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cks.sealed_secret_hex[i..i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>();
    root.open_secret(
        &sealed,
        format!("strongroom/xks-credential/v1/{}", cks.id).as_bytes(),
    )
    .expect("the proxy secret opens");

    // The ciphertexts made before the upgrade decrypt with the migrated material (the
    // external key's need its external key manager too: its material unwraps).
    let mut decrypted = 0;
    for mc in manifest["ciphertexts"].as_array().expect("ciphertexts") {
        let blob = b64(mc["ciphertext"].as_str().expect("ciphertext"));
        let parsed = crypto::parse_blob(&blob).expect("blob");
        let k = s
            .get_key(&key_ref(parsed.key_id()))
            .await
            .expect("get")
            .expect("the blob's key");
        let v = k
            .versions
            .iter()
            .find(|v| &v.id.0 == parsed.backing_key_id())
            .expect("the blob's version");
        let material = root
            .unwrap(&v.wrapped, &wrap_context(&v.key, &v.id))
            .expect("the material unwraps under its key and version");
        if *parsed.layer() != crypto::Layer::Single {
            continue;
        }
        let ctx: BTreeMap<String, String> = mc["context"]
            .as_object()
            .expect("context")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("value").to_string()))
            .collect();
        let plain = crypto::decrypt_blob(&parsed, &material, &ctx).expect("decrypts");
        assert_eq!(
            plain.as_slice(),
            b64(mc["plaintext"].as_str().expect("plaintext"))
        );
        decrypted += 1;
    }
    assert_eq!(decrypted, 5, "every AWS_KMS key's ciphertext");

    // The legacy tables are gone; the schema version is recorded.
    assert_eq!(
        table_names(&db),
        [
            "aliases",
            "changes",
            "clock",
            "custom_key_stores",
            "grants",
            "key_usage",
            "key_versions",
            "keys",
            "leases",
            "meta"
        ]
    );
    let version: String = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("schema version");
    assert_eq!(version, "2");

    // The feed starts after the migrated records: an earlier reader must load.
    assert!(matches!(
        s.changes_since(0, 10).await,
        Err(StoreError::ResyncNeeded(0))
    ));
    assert!(s
        .changes_since(snap.position, 10)
        .await
        .expect("changes")
        .changes
        .is_empty());

    // Opening it again finds it migrated: same records, same revisions.
    drop(s);
    let s = SqliteStore::open(&db, &region()).await.expect("reopen");
    let again = s.load().await.expect("load");
    assert_eq!(again.keys, snap.keys);
    assert_eq!(again.custom_key_stores, snap.custom_key_stores);
    assert_eq!(again.position, snap.position);
    // And takes writes.
    let mut k = again.keys[0].key.record.clone();
    k.description = "after the upgrade".to_string();
    let r = s
        .update_key(&k, again.keys[0].key.revision)
        .await
        .expect("update");
    assert!(r.0 > snap.position);
}

/// A legacy database with one key, made by the legacy store.
fn legacy_db(dir: &Path) -> (PathBuf, legacy::SqliteStore) {
    let path = dir.join("strongroom.db");
    let s = legacy::SqliteStore::open(&path).expect("legacy open");
    (path, s)
}

fn legacy_key(id: &str, backing: &str) -> (legacy::KeyRecord, legacy::BackingKeyRecord) {
    let key = legacy::KeyRecord {
        key_id: id.to_string(),
        account_id: "111122223333".to_string(),
        created_ms: 1,
        description: String::new(),
        key_usage: "ENCRYPT_DECRYPT".to_string(),
        key_spec: "SYMMETRIC_DEFAULT".to_string(),
        origin: "AWS_KMS".to_string(),
        state: legacy::KeyState::Enabled,
        deletion_ms: None,
        pending_window_days: None,
        policy: "{}".to_string(),
        tags: Vec::new(),
        current_backing_key_id: backing.to_string(),
        custom_key_store_id: None,
        xks_key_id: None,
    };
    let bk = legacy::BackingKeyRecord {
        key_id: id.to_string(),
        backing_key_id: backing.to_string(),
        wrapped: vec![9; 61],
        created_ms: 1,
    };
    (key, bk)
}

const KEY_A: &str = "11111111-1111-4111-8111-111111111111";
const KEY_B: &str = "22222222-2222-4222-8222-222222222222";

fn backing_id(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn legacy_grant(id: u8, key: &str) -> legacy::GrantRecord {
    legacy::GrantRecord {
        grant_id: format!("{id:02x}").repeat(32),
        key_id: key.to_string(),
        name: None,
        grantee_principal: "arn:aws:iam::111122223333:role/app".to_string(),
        retiring_principal: None,
        operations: vec!["Decrypt".to_string()],
        context_equals: None,
        context_subset: None,
        issuing_account: "111122223333".to_string(),
        created_ms: 1,
    }
}

#[tokio::test]
async fn a_failed_migration_leaves_the_legacy_database_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, old) = legacy_db(dir.path());
    let (a, ba) = legacy_key(KEY_A, &backing_id(1));
    old.create_key(&a, &ba).expect("create");
    let (mut b, bb) = legacy_key(KEY_B, &backing_id(2));
    old.create_key(&b, &bb).expect("create");
    b.key_spec = "NOT_A_SPEC".to_string();
    old.update_key(&b).expect("update");
    let before = old.load().expect("load");
    drop(old);

    let err = SqliteStore::open(&path, &region())
        .await
        .err()
        .expect("a record that does not convert fails the open");
    assert!(
        matches!(&err, StoreError::Corrupt(what, why) if what.contains(KEY_B) && why.contains("NOT_A_SPEC")),
        "{err}"
    );
    assert!(table_names(&path).contains(&"backing_keys".to_string()));
    let after = legacy::SqliteStore::open(&path)
        .expect("legacy open")
        .load()
        .expect("legacy load");
    assert_eq!(after.keys, before.keys);
    assert_eq!(after.backing_keys, before.backing_keys);
}

#[tokio::test]
async fn migration_drops_what_a_deleted_key_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, old) = legacy_db(dir.path());
    let (a, ba) = legacy_key(KEY_A, &backing_id(1));
    let (b, bb) = legacy_key(KEY_B, &backing_id(2));
    old.create_key(&a, &ba).expect("create");
    old.create_key(&b, &bb).expect("create");
    old.put_grant(&legacy_grant(1, KEY_A)).expect("grant");
    old.put_grant(&legacy_grant(2, KEY_B)).expect("grant");
    old.delete_key(KEY_A).expect("delete");
    // The legacy store's delete left key A's grant behind.
    assert_eq!(old.load().expect("load").grants.len(), 2);
    drop(old);

    let s = SqliteStore::open(&path, &region()).await.expect("migrate");
    let snap = s.load().await.expect("load");
    assert_eq!(snap.keys.len(), 1);
    let kept = &snap.keys[0];
    assert_eq!(kept.key.record.id.as_str(), KEY_B);
    let grants: Vec<&str> = kept.grants.iter().map(|g| g.record.id.as_str()).collect();
    assert_eq!(grants, vec![legacy_grant(2, KEY_B).grant_id.as_str()]);
}

#[tokio::test]
async fn two_handles_opening_a_legacy_database_at_once_migrate_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fixture_copy(dir.path());
    let r = region();
    let (one, two) = tokio::join!(SqliteStore::open(&db, &r), SqliteStore::open(&db, &r));
    let (one, two) = (one.expect("open"), two.expect("open"));
    let (a, b) = (
        one.load().await.expect("load"),
        two.load().await.expect("load"),
    );
    assert_eq!(a.keys.len(), 6);
    assert_eq!(a.keys, b.keys);
    assert_eq!(a.position, b.position);
}

#[tokio::test]
async fn a_database_of_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("strongroom.db");
    drop(SqliteStore::open(&db, &region()).await.expect("create"));
    rusqlite::Connection::open(&db)
        .expect("open")
        .execute(
            "UPDATE meta SET value = '3' WHERE name = 'schema_version'",
            [],
        )
        .expect("update");
    let err = SqliteStore::open(&db, &region())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("schema version 3"), "{err}");
}
