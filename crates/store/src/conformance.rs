//! What every [`Store`] backend must do, as async test functions over a [`Backend`] (a source
//! of fresh databases and of handles on them). A backend's tests run them all with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! store::conformance_tests!(MyBackend::new());
//! ```
//!
//! The functions panic on the first failed expectation, as tests do.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;

use kms_model::{
    AccountId, Alias, AliasName, ConnectionState, CustomKeyStore, CustomKeyStoreId,
    CustomKeyStoreType, Grant, GrantConstraints, GrantId, GrantOperation, Key, KeyId, KeyRef,
    KeyState, KeyType, KeyVersion, MaterialKind, Origin, Region, Revision, RotationType, Tag,
    VersionId, XksProxyConnectivity,
};

use crate::{Entity, KeyUse, Page, PageRequest, Store, StoreError, UsageOperation, Versioned};

/// A backend under test.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// What names one database (a file, a schema); dropping it may remove the database.
    type Database: Send + Sync;
    /// A new, empty database.
    async fn create(&self) -> Self::Database;
    /// A new handle on `db`, with its own connections, as another process would open it.
    async fn open(&self, db: &Self::Database) -> Arc<dyn Store>;
    /// How many of the latest changes the handles this backend opens keep in their feed: at
    /// least 150, and small (a few hundred), as one test writes more than this.
    fn changes_kept(&self) -> u64;
    /// Takes `db` (no handle open on it) back to the layout before key usage was tracked, as
    /// the version before left it: no usage table, no tracking start.
    async fn remove_usage_tracking(&self, db: &Self::Database);
}

/// Expands to one `#[tokio::test]` per function of the suite, each running it on `$backend`
/// (an expression, evaluated once per test). The calling crate needs tokio with its `macros`
/// and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@each $backend;
            keys_round_trip,
            key_writes_check_revisions,
            add_key_version_rotates,
            imported_material_versions,
            delete_key_cascades,
            aliases_round_trip,
            grants_round_trip,
            custom_key_stores_round_trip,
            load_returns_everything_with_its_position,
            list_keys_pages,
            list_aliases_pages,
            list_grants_pages,
            change_feed_reports_every_write_in_order,
            change_feed_catch_up,
            change_feed_tells_a_lagging_reader_to_reload,
            racing_writers_lose_no_update,
            racing_creates_and_deletes,
            writes_survive_reopening,
            leases_are_exclusive_and_expire,
            followers_miss_no_concurrent_write,
            key_uses_keep_the_newest,
            racing_key_uses_keep_the_newest,
            deleting_a_key_deletes_its_use,
            usage_tracking_starts_with_the_database,
            usage_tracking_is_added_to_an_existing_database,
        );
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::conformance::$name(&$backend).await;
            }
        )*
    };
}

// ---- Records to write

/// The account most records belong to.
pub fn account() -> AccountId {
    AccountId::parse("111122223333").expect("account id")
}

/// Another account.
pub fn other_account() -> AccountId {
    AccountId::parse("444455556666").expect("account id")
}

/// The Region most records live in.
pub fn region() -> Region {
    Region::parse("us-east-1").expect("region")
}

/// Another Region.
pub fn other_region() -> Region {
    Region::parse("eu-west-1").expect("region")
}

/// The key id numbered `n`: ids sort as their numbers do.
pub fn key_id(n: u16) -> KeyId {
    let mut bytes = [0x5a; 16];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    KeyId::from_random(bytes, false)
}

fn version_id(key: u16, v: u8) -> VersionId {
    // The version number comes first and inverted: a later version's id sorts before an
    // earlier one's, so that "oldest first" cannot pass by sorting ids.
    let mut bytes = [0xa5; 32];
    bytes[0] = 0xff - v;
    bytes[1..3].copy_from_slice(&key.to_be_bytes());
    VersionId(bytes)
}

/// Key `n` of `account` in `region`, with its first version current.
pub fn key(n: u16, account: &AccountId, region: &Region) -> Key {
    Key {
        id: key_id(n),
        account: account.clone(),
        region: region.clone(),
        created_ms: 1_700_000_000_000 + i64::from(n),
        description: format!("key {n}"),
        key_type: KeyType::SYMMETRIC_DEFAULT,
        origin: Origin::AwsKms,
        state: KeyState::Enabled,
        deletion: None,
        policy: r#"{"Version":"2012-10-17","Statement":[]}"#.to_string(),
        tags: vec![Tag {
            key: "n".to_string(),
            value: n.to_string(),
        }],
        current_version: Some(version_id(n, 1)),
        external: None,
        rotation: Default::default(),
        primary_region: None,
    }
}

/// Version `v` of key `n` (made with [`key`]): wrapped bytes that differ per key and version.
pub fn version(key: &Key, n: u16, v: u8) -> KeyVersion {
    let mut wrapped: Vec<u8> = (0..61u8)
        .map(|i| i.wrapping_mul(v).wrapping_add(7))
        .collect();
    wrapped.extend_from_slice(&n.to_be_bytes());
    KeyVersion {
        key: key.id.clone(),
        region: key.region.clone(),
        id: version_id(n, v),
        kind: MaterialKind::Aes256Gcm,
        created_ms: key.created_ms + i64::from(v),
        expires_ms: None,
        rotation: (v > 1).then_some(RotationType::OnDemand),
        wrapped,
        description: None,
    }
}

fn key_ref(k: &Key) -> KeyRef {
    KeyRef {
        region: k.region.clone(),
        id: k.id.clone(),
    }
}

/// An alias `alias/<name>` for `target` in the target's account and Region.
pub fn alias(name: &str, target: &Key) -> Alias {
    Alias {
        account: target.account.clone(),
        region: target.region.clone(),
        name: AliasName::parse(&format!("alias/{name}")).expect("alias name"),
        target: target.id.clone(),
        created_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_000,
    }
}

/// Grant `n` on `key`: ids sort as their numbers do.
pub fn grant(n: u32, key: &KeyRef) -> Grant {
    Grant {
        id: GrantId::parse(&format!("{n:064x}")).expect("grant id"),
        key: key.clone(),
        name: Some(format!("grant-{n}")),
        grantee: "arn:aws:iam::111122223333:role/app".to_string(),
        retiring: None,
        operations: vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
        constraints: Some(GrantConstraints::Subset(
            [("app".to_string(), n.to_string())].into_iter().collect(),
        )),
        issuing_account: account(),
        created_ms: 1_700_000_000_000,
    }
}

/// Custom key store `n` of `account` in `region`, named `name`.
pub fn custom_key_store(
    n: u32,
    name: &str,
    account: &AccountId,
    region: &Region,
) -> CustomKeyStore {
    CustomKeyStore {
        id: CustomKeyStoreId::parse(&format!("cks-{n:017x}")).expect("custom key store id"),
        account: account.clone(),
        region: region.clone(),
        name: name.to_string(),
        store_type: CustomKeyStoreType::ExternalKeyStore,
        created_ms: 1_700_000_000_000,
        uri_endpoint: "https://xks.example.com".to_string(),
        uri_path: "/kms/xks/v1".to_string(),
        connectivity: XksProxyConnectivity::PublicEndpoint,
        vpc_endpoint_service_name: None,
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_string(),
        sealed_secret_hex: "00ff".repeat(20),
        connection_state: ConnectionState::Disconnected,
        connection_error: None,
        credential_updated_ms: None,
    }
}

// ---- Helpers

async fn fresh<B: Backend>(b: &B) -> (B::Database, Arc<dyn Store>) {
    let db = b.create().await;
    let store = b.open(&db).await;
    (db, store)
}

/// Creates key `n` (in `account` and `region`) with its first version; returns it and its
/// revision.
async fn new_key(s: &dyn Store, n: u16, account: &AccountId, region: &Region) -> (Key, Revision) {
    let k = key(n, account, region);
    let rev = s
        .create_key(&k, &version(&k, n, 1))
        .await
        .expect("create_key");
    (k, rev)
}

/// Asserts that a result is the error matching a pattern.
macro_rules! assert_err {
    ($result:expr, $want:pat $(,)?) => {{
        let result = $result;
        assert!(
            matches!(result, Err($want)),
            "expected {}, got {result:?}",
            stringify!($want)
        );
    }};
}

/// The last feed position (the end of the feed).
async fn end_of_feed(s: &dyn Store) -> u64 {
    s.load().await.expect("load").position
}

/// Every change after `from`, read in batches of `batch`.
async fn changes_after(s: &dyn Store, from: u64, batch: usize) -> Vec<crate::Change> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let b = s.changes_since(at, batch).await.expect("changes_since");
        assert!(b.changes.len() <= batch.max(1), "batch over its limit");
        if b.changes.is_empty() {
            assert_eq!(b.next_position, at, "an empty batch stays at its position");
            return out;
        }
        assert_eq!(
            b.next_position,
            b.changes.last().map(|c| c.position).unwrap_or(at),
            "next_position is the last change's"
        );
        at = b.next_position;
        out.extend(b.changes);
    }
}

fn entities(changes: &[crate::Change]) -> Vec<Entity> {
    changes.iter().map(|c| c.entity.clone()).collect()
}

fn alias_entity(a: &Alias) -> Entity {
    Entity::Alias {
        account: a.account.clone(),
        region: a.region.clone(),
        name: a.name.clone(),
    }
}

fn grant_entity(g: &Grant) -> Entity {
    Entity::Grant {
        key: g.key.clone(),
        id: g.id.clone(),
    }
}

/// Reads every page of a list with `limit`, checking each page's `next` against its items;
/// returns the pages.
async fn all_pages<T, F, Fut>(limit: usize, sort_key: impl Fn(&T) -> String, list: F) -> Vec<Vec<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut pages = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let page = list(PageRequest {
            after: after.clone(),
            limit,
        })
        .await
        .expect("list");
        assert!(page.items.len() <= limit.max(1), "page over its limit");
        let last = page.items.last().map(&sort_key);
        match &page.next {
            Some(next) => {
                assert_eq!(
                    Some(next),
                    last.as_ref(),
                    "next is the last item's sort key"
                );
                after = Some(next.clone());
                pages.push(page.items);
            }
            None => {
                pages.push(page.items);
                return pages;
            }
        }
    }
    panic!("the list never ended");
}

/// A record as read at `revision`.
fn rec<T>(record: T, revision: Revision) -> Versioned<T> {
    Versioned { record, revision }
}

fn sizes<T>(pages: &[Vec<T>]) -> Vec<usize> {
    pages.iter().map(Vec::len).collect()
}

// ---- Keys

/// Create, get and update keys; a key id is per Region; a duplicate is refused.
pub async fn keys_round_trip<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let k = key(1, &account(), &region());
    assert!(s.get_key(&key_ref(&k)).await.expect("get").is_none());

    let v1 = version(&k, 1, 1);
    let r1 = s.create_key(&k, &v1).await.expect("create_key");
    assert!(r1 > Revision(0));
    let bundle = s
        .get_key(&key_ref(&k))
        .await
        .expect("get")
        .expect("the key");
    assert_eq!(bundle.key, rec(k.clone(), r1));
    assert_eq!(bundle.versions, vec![v1.clone()]);
    assert!(bundle.aliases.is_empty() && bundle.grants.is_empty());

    let mut k2 = k.clone();
    k2.description = "changed".to_string();
    k2.state = KeyState::Disabled;
    let r2 = s.update_key(&k2, r1).await.expect("update_key");
    assert!(r2 > r1, "an update gives a new, larger revision");
    let bundle = s
        .get_key(&key_ref(&k))
        .await
        .expect("get")
        .expect("the key");
    assert_eq!(bundle.key, rec(k2.clone(), r2));
    assert_eq!(
        bundle.versions,
        vec![v1.clone()],
        "an update keeps the versions"
    );

    assert_err!(s.create_key(&k, &v1).await, StoreError::AlreadyExists);
    let after = s
        .get_key(&key_ref(&k))
        .await
        .expect("get")
        .expect("the key");
    assert_eq!(after.key.revision, r2, "a refused create changes nothing");
    assert_eq!(after.key.record, k2);

    // The same id in another Region is another key (a multi-Region replica).
    let replica = key(1, &account(), &other_region());
    let rr = s
        .create_key(&replica, &version(&replica, 1, 1))
        .await
        .expect("create the replica");
    assert!(rr > r2);
    let got = s
        .get_key(&key_ref(&replica))
        .await
        .expect("get")
        .expect("replica");
    assert_eq!(got.key.record, replica);
    assert_eq!(
        s.get_key(&key_ref(&k))
            .await
            .expect("get")
            .expect("key")
            .key
            .record,
        k2
    );

    // A first version of another key is refused, and nothing is written.
    let k3 = key(3, &account(), &region());
    assert_err!(
        s.create_key(&k3, &version(&k, 1, 2)).await,
        StoreError::Invalid(_)
    );
    assert!(s.get_key(&key_ref(&k3)).await.expect("get").is_none());
}

/// Every conditional key write refuses a stale revision, and one of a missing key.
pub async fn key_writes_check_revisions<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k, r1) = new_key(&*s, 1, &account(), &region()).await;
    let mut changed = k.clone();
    changed.description = "second".to_string();
    let r2 = s.update_key(&changed, r1).await.expect("update");
    let end = end_of_feed(&*s).await;

    let mut stale = k.clone();
    stale.description = "lost".to_string();
    assert_err!(s.update_key(&stale, r1).await, StoreError::Conflict);
    assert_err!(
        s.update_key(&stale, Revision(r2.0 + 1000)).await,
        StoreError::Conflict,
    );
    let mut rotated = changed.clone();
    rotated.current_version = Some(version_id(1, 2));
    assert_err!(
        s.add_key_version(&rotated, r1, &version(&k, 1, 2)).await,
        StoreError::Conflict,
    );
    assert_err!(s.delete_key(&key_ref(&k), r1).await, StoreError::Conflict);

    let bundle = s.get_key(&key_ref(&k)).await.expect("get").expect("key");
    assert_eq!(bundle.key, rec(changed, r2));
    assert_eq!(
        bundle.versions.len(),
        1,
        "a refused rotation adds no version"
    );
    assert!(
        changes_after(&*s, end, 10).await.is_empty(),
        "refused writes are not in the feed"
    );

    let missing = key(9, &account(), &region());
    assert_err!(s.update_key(&missing, r2).await, StoreError::NotFound);
    assert_err!(
        s.add_key_version(&missing, r2, &version(&missing, 9, 2))
            .await,
        StoreError::NotFound,
    );
    assert_err!(
        s.delete_key(&key_ref(&missing), r2).await,
        StoreError::NotFound
    );
    assert!(s.get_key(&key_ref(&missing)).await.expect("get").is_none());
}

/// A rotation adds a version and moves the key at once; versions stay oldest first.
pub async fn add_key_version_rotates<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k, r1) = new_key(&*s, 1, &account(), &region()).await;
    let (v1, v2, v3) = (version(&k, 1, 1), version(&k, 1, 2), version(&k, 1, 3));

    let mut k2 = k.clone();
    k2.current_version = Some(v2.id);
    k2.rotation.on_demand_started_ms = Some(5);
    let r2 = s.add_key_version(&k2, r1, &v2).await.expect("rotate");
    assert!(r2 > r1);
    let mut k3 = k2.clone();
    k3.current_version = Some(v3.id);
    k3.rotation.on_demand_started_ms = None;
    let r3 = s.add_key_version(&k3, r2, &v3).await.expect("rotate again");
    assert!(r3 > r2);

    let bundle = s.get_key(&key_ref(&k)).await.expect("get").expect("key");
    assert_eq!(bundle.key, rec(k3.clone(), r3));
    assert_eq!(bundle.versions, vec![v1.clone(), v2.clone(), v3.clone()]);
    assert_eq!(
        bundle.versions[0].wrapped, v1.wrapped,
        "material kept byte for byte"
    );

    assert_err!(
        s.add_key_version(&k3, r3, &v2).await,
        StoreError::AlreadyExists
    );
    let other = key(2, &account(), &region());
    assert_err!(
        s.add_key_version(&k3, r3, &version(&other, 2, 2)).await,
        StoreError::Invalid(_),
    );
    let bundle = s.get_key(&key_ref(&k)).await.expect("get").expect("key");
    assert_eq!(bundle.key.revision, r3, "refused rotations change nothing");
    assert_eq!(bundle.versions.len(), 3);
}

/// A key whose material is to be imported starts with no versions; a version's material is
/// put in, and taken out again, in place (the version keeps its place among the others).
pub async fn imported_material_versions<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let mut k = key(1, &account(), &region());
    k.origin = Origin::External;
    k.state = KeyState::PendingImport;
    k.current_version = None;
    let from = end_of_feed(&*s).await;
    let r1 = s.create_key_without_versions(&k).await.expect("create");
    let bundle = s.get_key(&key_ref(&k)).await.expect("get").expect("key");
    assert_eq!(bundle.key, rec(k.clone(), r1));
    assert!(bundle.versions.is_empty());
    assert_eq!(
        entities(&changes_after(&*s, from, 100).await),
        vec![Entity::Key(key_ref(&k))]
    );
    assert_err!(
        s.create_key_without_versions(&k).await,
        StoreError::AlreadyExists
    );

    let (v1, v2) = (version(&k, 1, 1), version(&k, 1, 2));
    let mut k2 = k.clone();
    k2.state = KeyState::Enabled;
    k2.current_version = Some(v1.id);
    let r2 = s.add_key_version(&k2, r1, &v1).await.expect("first import");
    let r3 = s
        .add_key_version(&k2, r2, &v2)
        .await
        .expect("second material");

    // The first material is deleted: its version stays, without the material.
    let mut emptied = v1.clone();
    emptied.wrapped.clear();
    emptied.description = Some("deleted".to_string());
    let mut k3 = k2.clone();
    k3.state = KeyState::PendingImport;
    let from = end_of_feed(&*s).await;
    let r4 = s
        .replace_key_version(&k3, r3, &emptied)
        .await
        .expect("delete material");
    assert!(r4 > r3);
    let bundle = s.get_key(&key_ref(&k)).await.expect("get").expect("key");
    assert_eq!(bundle.key, rec(k3.clone(), r4));
    assert_eq!(
        bundle.versions,
        vec![emptied.clone(), v2.clone()],
        "order kept"
    );
    assert!(!bundle.versions[0].has_material());
    assert_eq!(
        entities(&changes_after(&*s, from, 100).await),
        vec![Entity::Key(key_ref(&k))]
    );

    assert_err!(
        s.replace_key_version(&k3, r3, &v1).await,
        StoreError::Conflict
    );
    assert_err!(
        s.replace_key_version(&k3, r4, &version(&k, 1, 3)).await,
        StoreError::NotFound
    );
    let other = key(2, &account(), &region());
    assert_err!(
        s.replace_key_version(&k3, r4, &version(&other, 2, 1)).await,
        StoreError::Invalid(_),
    );
    let bundle = s.get_key(&key_ref(&k)).await.expect("get").expect("key");
    assert_eq!(bundle.key.revision, r4, "refused writes change nothing");
    assert_eq!(bundle.versions, vec![emptied, v2]);

    // Put back: the same version id, its material again.
    let r5 = s
        .replace_key_version(&k2, r4, &v1)
        .await
        .expect("re-import");
    let loaded = s.load().await.expect("load");
    let b = loaded
        .keys
        .iter()
        .find(|b| b.key.record.id == k.id)
        .expect("loaded");
    assert_eq!(b.key.revision, r5);
    assert_eq!(b.versions, vec![v1, version(&k, 1, 2)]);
}

/// Deleting a key deletes its versions, its grants and the aliases naming it, and the feed
/// reports each; other keys keep theirs.
pub async fn delete_key_cascades<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k1, r1) = new_key(&*s, 1, &account(), &region()).await;
    let (k2, _) = new_key(&*s, 2, &account(), &region()).await;
    let mut k1b = k1.clone();
    k1b.current_version = Some(version_id(1, 2));
    let r1 = s
        .add_key_version(&k1b, r1, &version(&k1, 1, 2))
        .await
        .expect("rotate");
    let (a, bb, c) = (alias("a", &k1), alias("b", &k1), alias("c", &k2));
    for x in [&a, &bb, &c] {
        s.create_alias(x).await.expect("alias");
    }
    let (g1, g2, g3) = (
        grant(1, &key_ref(&k1)),
        grant(2, &key_ref(&k1)),
        grant(3, &key_ref(&k2)),
    );
    for g in [&g1, &g2, &g3] {
        s.create_grant(g).await.expect("grant");
    }
    let cks = custom_key_store(1, "ext", &account(), &region());
    s.create_custom_key_store(&cks).await.expect("store");
    let before = end_of_feed(&*s).await;

    s.delete_key(&key_ref(&k1), r1).await.expect("delete");
    assert!(s.get_key(&key_ref(&k1)).await.expect("get").is_none());
    for x in [&a, &bb] {
        assert!(s
            .get_alias(&x.account, &x.region, &x.name)
            .await
            .expect("get_alias")
            .is_none());
    }
    let names: Vec<AliasName> = s
        .list_aliases(&account(), &region(), None, &PageRequest::first(100))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|a| a.record.name)
        .collect();
    assert_eq!(names, vec![c.name.clone()]);
    let grants = s
        .list_grants(&key_ref(&k1), &PageRequest::first(100))
        .await
        .expect("list");
    assert!(grants.items.is_empty());
    let kept = s.get_key(&key_ref(&k2)).await.expect("get").expect("k2");
    assert_eq!(kept.aliases.len(), 1);
    assert_eq!(kept.grants.len(), 1);
    assert!(s
        .get_custom_key_store(&cks.id)
        .await
        .expect("get")
        .is_some());

    let changes = changes_after(&*s, before, 100).await;
    let got: HashSet<Entity> = entities(&changes).into_iter().collect();
    let want: HashSet<Entity> = [
        Entity::Key(key_ref(&k1)),
        alias_entity(&a),
        alias_entity(&bb),
        grant_entity(&g1),
        grant_entity(&g2),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(changes.len(), want.len(), "each change once");

    // A key made again under the id starts bare.
    new_key(&*s, 1, &account(), &region()).await;
    let again = s.get_key(&key_ref(&k1)).await.expect("get").expect("k1");
    assert_eq!(again.versions, vec![version(&k1, 1, 1)]);
    assert!(again.aliases.is_empty() && again.grants.is_empty());
    assert_err!(
        s.delete_key(&key_ref(&k2), Revision(1)).await,
        StoreError::Conflict
    );
}

// ---- Aliases, grants, custom key stores

/// Create, read, retarget and delete aliases, with their checks.
pub async fn aliases_round_trip<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k1, _) = new_key(&*s, 1, &account(), &region()).await;
    let (k2, _) = new_key(&*s, 2, &account(), &region()).await;
    let (foreign, _) = new_key(&*s, 3, &other_account(), &region()).await;
    let a = alias("app", &k1);

    assert!(s
        .get_alias(&a.account, &a.region, &a.name)
        .await
        .expect("get")
        .is_none());
    let r1 = s.create_alias(&a).await.expect("create_alias");
    assert_eq!(
        s.get_alias(&a.account, &a.region, &a.name)
            .await
            .expect("get"),
        Some(rec(a.clone(), r1))
    );
    let bundle = s.get_key(&key_ref(&k1)).await.expect("get").expect("k1");
    assert_eq!(bundle.aliases, vec![rec(a.clone(), r1)]);
    assert_err!(s.create_alias(&a).await, StoreError::AlreadyExists);

    // The target must be a key of the alias's account and Region.
    let mut to_missing = alias("missing", &k1);
    to_missing.target = key_id(99);
    assert_err!(s.create_alias(&to_missing).await, StoreError::NotFound);
    let mut cross_account = alias("cross", &foreign);
    cross_account.account = account();
    assert_err!(s.create_alias(&cross_account).await, StoreError::NotFound);
    let mut cross_region = alias("elsewhere", &k1);
    cross_region.region = other_region();
    assert_err!(s.create_alias(&cross_region).await, StoreError::NotFound);

    // The same name in another account is another alias.
    let theirs = alias("app", &foreign);
    s.create_alias(&theirs)
        .await
        .expect("same name, other account");

    let mut moved = a.clone();
    moved.target = k2.id.clone();
    moved.updated_ms += 1;
    let r2 = s.update_alias(&moved, r1).await.expect("retarget");
    assert!(r2 > r1);
    assert!(s
        .get_key(&key_ref(&k1))
        .await
        .expect("get")
        .expect("k1")
        .aliases
        .is_empty());
    assert_eq!(
        s.get_key(&key_ref(&k2))
            .await
            .expect("get")
            .expect("k2")
            .aliases,
        vec![rec(moved.clone(), r2)]
    );
    assert_err!(s.update_alias(&a, r1).await, StoreError::Conflict);
    let mut nowhere = moved.clone();
    nowhere.target = key_id(99);
    assert_err!(s.update_alias(&nowhere, r2).await, StoreError::NotFound);
    assert_eq!(
        s.get_alias(&a.account, &a.region, &a.name)
            .await
            .expect("get"),
        Some(rec(moved.clone(), r2)),
        "refused updates change nothing"
    );

    assert_err!(
        s.delete_alias(&a.account, &a.region, &a.name, r1).await,
        StoreError::Conflict,
    );
    s.delete_alias(&a.account, &a.region, &a.name, r2)
        .await
        .expect("delete_alias");
    assert!(s
        .get_alias(&a.account, &a.region, &a.name)
        .await
        .expect("get")
        .is_none());
    assert_err!(
        s.delete_alias(&a.account, &a.region, &a.name, r2).await,
        StoreError::NotFound,
    );
    assert_err!(s.update_alias(&moved, r2).await, StoreError::NotFound);
    assert!(s
        .get_alias(&theirs.account, &theirs.region, &theirs.name)
        .await
        .expect("get")
        .is_some());
}

/// Create, list and delete grants, with their checks.
pub async fn grants_round_trip<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k, _) = new_key(&*s, 1, &account(), &region()).await;
    let g = grant(7, &key_ref(&k));
    let r = s.create_grant(&g).await.expect("create_grant");
    let listed = s
        .list_grants(&key_ref(&k), &PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(listed.items, vec![rec(g.clone(), r)]);
    assert_eq!(listed.next, None);
    assert_eq!(
        s.get_key(&key_ref(&k))
            .await
            .expect("get")
            .expect("key")
            .grants,
        listed.items
    );
    assert_err!(s.create_grant(&g).await, StoreError::AlreadyExists);
    let orphan = grant(
        8,
        &KeyRef {
            region: region(),
            id: key_id(99),
        },
    );
    assert_err!(s.create_grant(&orphan).await, StoreError::NotFound);

    s.delete_grant(&key_ref(&k), &g.id)
        .await
        .expect("delete_grant");
    assert!(s
        .list_grants(&key_ref(&k), &PageRequest::first(10))
        .await
        .expect("list")
        .items
        .is_empty());
    assert_err!(
        s.delete_grant(&key_ref(&k), &g.id).await,
        StoreError::NotFound
    );
}

/// Create, read, update and delete custom key stores; names are unique per account and Region.
pub async fn custom_key_stores_round_trip<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let c = custom_key_store(1, "ext", &account(), &region());
    assert!(s.get_custom_key_store(&c.id).await.expect("get").is_none());
    let r1 = s.create_custom_key_store(&c).await.expect("create");
    assert_eq!(
        s.get_custom_key_store(&c.id).await.expect("get"),
        Some(rec(c.clone(), r1))
    );
    assert_err!(
        s.create_custom_key_store(&c).await,
        StoreError::AlreadyExists
    );
    let same_name = custom_key_store(2, "ext", &account(), &region());
    assert_err!(
        s.create_custom_key_store(&same_name).await,
        StoreError::AlreadyExists
    );
    let elsewhere = custom_key_store(3, "ext", &other_account(), &region());
    s.create_custom_key_store(&elsewhere)
        .await
        .expect("same name, other account");
    let other = custom_key_store(4, "other", &account(), &region());
    let r4 = s.create_custom_key_store(&other).await.expect("create");

    let mut connected = c.clone();
    connected.connection_state = ConnectionState::Connected;
    let r2 = s
        .update_custom_key_store(&connected, r1)
        .await
        .expect("update");
    assert!(r2 > r1);
    assert_err!(
        s.update_custom_key_store(&c, r1).await,
        StoreError::Conflict
    );
    let mut renamed = other.clone();
    renamed.name = "ext".to_string();
    assert_err!(
        s.update_custom_key_store(&renamed, r4).await,
        StoreError::AlreadyExists,
    );
    assert_eq!(
        s.get_custom_key_store(&c.id).await.expect("get"),
        Some(rec(connected.clone(), r2))
    );

    assert_err!(
        s.delete_custom_key_store(&c.id, r1).await,
        StoreError::Conflict
    );
    s.delete_custom_key_store(&c.id, r2).await.expect("delete");
    assert!(s.get_custom_key_store(&c.id).await.expect("get").is_none());
    assert_err!(
        s.delete_custom_key_store(&c.id, r2).await,
        StoreError::NotFound
    );
    assert_err!(
        s.update_custom_key_store(&connected, r2).await,
        StoreError::NotFound
    );
    // The name is free again.
    s.create_custom_key_store(&same_name)
        .await
        .expect("the freed name");
}

/// `load` returns every record with the feed position it reflects.
pub async fn load_returns_everything_with_its_position<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let empty = s.load().await.expect("load");
    assert!(empty.keys.is_empty() && empty.custom_key_stores.is_empty());
    assert!(changes_after(&*s, empty.position, 10).await.is_empty());

    let (k1, r1) = new_key(&*s, 1, &account(), &region()).await;
    let mut k1b = k1.clone();
    k1b.current_version = Some(version_id(1, 2));
    s.add_key_version(&k1b, r1, &version(&k1, 1, 2))
        .await
        .expect("rotate");
    new_key(&*s, 2, &other_account(), &region()).await;
    new_key(&*s, 1, &account(), &other_region()).await;
    s.create_alias(&alias("a", &k1)).await.expect("alias");
    s.create_grant(&grant(1, &key_ref(&k1)))
        .await
        .expect("grant");
    let c = custom_key_store(1, "ext", &account(), &region());
    let rc = s.create_custom_key_store(&c).await.expect("store");

    let snap = s.load().await.expect("load");
    let refs: Vec<KeyRef> = snap.keys.iter().map(|b| key_ref(&b.key.record)).collect();
    let mut sorted = refs.clone();
    sorted.sort();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs, sorted, "bundles by Region and key id");
    for bundle in &snap.keys {
        let got = s
            .get_key(&key_ref(&bundle.key.record))
            .await
            .expect("get")
            .expect("key");
        assert_eq!(&got, bundle, "a snapshot bundle is what get_key returns");
    }
    assert_eq!(snap.custom_key_stores, vec![rec(c, rc)]);
    let all = changes_after(&*s, empty.position, 100).await;
    assert_eq!(
        all.last().map(|c| c.position),
        Some(snap.position),
        "the snapshot reflects the last change"
    );

    let mut k1c = k1b.clone();
    k1c.description = "after the snapshot".to_string();
    let rev = s
        .get_key(&key_ref(&k1))
        .await
        .expect("get")
        .expect("k1")
        .key
        .revision;
    s.update_key(&k1c, rev).await.expect("update");
    assert_eq!(
        entities(&changes_after(&*s, snap.position, 100).await),
        vec![Entity::Key(key_ref(&k1))],
        "following the feed from the snapshot misses nothing"
    );
}

// ---- Lists

/// Keys page by key id, per account and Region.
pub async fn list_keys_pages<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let list = |req: PageRequest| {
        let s = Arc::clone(&s);
        async move { s.list_keys(&account(), &region(), &req).await }
    };
    let id_of = |k: &Versioned<Key>| k.record.id.to_string();
    assert_eq!(all_pages(3, id_of, list).await, vec![Vec::new()], "empty");

    // Made out of order; keys of another account or Region are not listed.
    let mut want = Vec::new();
    for n in [4u16, 1, 6, 3, 2, 5] {
        want.push(new_key(&*s, n, &account(), &region()).await.0);
    }
    want.sort_by(|a, b| a.id.cmp(&b.id));
    new_key(&*s, 7, &other_account(), &region()).await;
    new_key(&*s, 8, &account(), &other_region()).await;

    for (limit, expect) in [
        (3, vec![3, 3]),
        (1, vec![1; 6]),
        (4, vec![4, 2]),
        (6, vec![6]),
        (100, vec![6]),
        (0, vec![1; 6]),
    ] {
        let pages = all_pages(limit, id_of, list).await;
        assert_eq!(sizes(&pages), expect, "limit {limit}");
        let got: Vec<Key> = pages.into_iter().flatten().map(|k| k.record).collect();
        assert_eq!(got, want, "limit {limit}");
    }
    let last = want.last().map(|k| k.id.to_string());
    let tail = s
        .list_keys(
            &account(),
            &region(),
            &PageRequest {
                after: last,
                limit: 3,
            },
        )
        .await
        .expect("list");
    assert!(
        tail.items.is_empty() && tail.next.is_none(),
        "after the last key"
    );
}

/// Aliases page by name, per account and Region, optionally for one key.
pub async fn list_aliases_pages<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k1, _) = new_key(&*s, 1, &account(), &region()).await;
    let (k2, _) = new_key(&*s, 2, &account(), &region()).await;
    let name_of = |a: &Versioned<Alias>| a.record.name.to_string();
    let all = |key: Option<KeyId>| {
        let s = Arc::clone(&s);
        move |req: PageRequest| {
            let s = Arc::clone(&s);
            let key = key.clone();
            async move {
                s.list_aliases(&account(), &region(), key.as_ref(), &req)
                    .await
            }
        }
    };
    assert_eq!(
        all_pages(2, name_of, all(None)).await,
        vec![Vec::new()],
        "empty"
    );

    let mut want = Vec::new();
    for (name, target) in [
        ("e", &k1),
        ("a", &k2),
        ("d", &k1),
        ("c", &k2),
        ("b", &k1),
        ("f", &k2),
    ] {
        let a = alias(name, target);
        s.create_alias(&a).await.expect("alias");
        want.push(a);
    }
    want.sort_by(|a, b| a.name.cmp(&b.name));
    let (foreign, _) = new_key(&*s, 3, &other_account(), &region()).await;
    s.create_alias(&alias("a", &foreign))
        .await
        .expect("other account");

    for (limit, expect) in [
        (2, vec![2, 2, 2]),
        (1, vec![1; 6]),
        (4, vec![4, 2]),
        (6, vec![6]),
    ] {
        let pages = all_pages(limit, name_of, all(None)).await;
        assert_eq!(sizes(&pages), expect, "limit {limit}");
        let got: Vec<Alias> = pages.into_iter().flatten().map(|a| a.record).collect();
        assert_eq!(got, want, "limit {limit}");
    }
    let of_k1: Vec<Alias> = want.iter().filter(|a| a.target == k1.id).cloned().collect();
    for (limit, expect) in [(1, vec![1, 1, 1]), (3, vec![3]), (2, vec![2, 1])] {
        let pages = all_pages(limit, name_of, all(Some(k1.id.clone()))).await;
        assert_eq!(sizes(&pages), expect, "key's aliases, limit {limit}");
        let got: Vec<Alias> = pages.into_iter().flatten().map(|a| a.record).collect();
        assert_eq!(got, of_k1);
    }
    let none = all_pages(5, name_of, all(Some(key_id(99)))).await;
    assert_eq!(none, vec![Vec::new()]);
}

/// Grants page by grant id, per key.
pub async fn list_grants_pages<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k1, _) = new_key(&*s, 1, &account(), &region()).await;
    let (k2, _) = new_key(&*s, 2, &account(), &region()).await;
    let id_of = |g: &Versioned<Grant>| g.record.id.to_string();
    let list = |key: KeyRef| {
        let s = Arc::clone(&s);
        move |req: PageRequest| {
            let s = Arc::clone(&s);
            let key = key.clone();
            async move { s.list_grants(&key, &req).await }
        }
    };
    assert_eq!(
        all_pages(2, id_of, list(key_ref(&k1))).await,
        vec![Vec::new()]
    );

    let mut want = Vec::new();
    for n in [30u32, 10, 50, 20, 60, 40] {
        let g = grant(n, &key_ref(&k1));
        s.create_grant(&g).await.expect("grant");
        want.push(g);
    }
    want.sort_by(|a, b| a.id.cmp(&b.id));
    s.create_grant(&grant(15, &key_ref(&k2)))
        .await
        .expect("grant");
    for (limit, expect) in [
        (3, vec![3, 3]),
        (1, vec![1; 6]),
        (5, vec![5, 1]),
        (1000, vec![6]),
    ] {
        let pages = all_pages(limit, id_of, list(key_ref(&k1))).await;
        assert_eq!(sizes(&pages), expect, "limit {limit}");
        let got: Vec<Grant> = pages.into_iter().flatten().map(|g| g.record).collect();
        assert_eq!(got, want, "limit {limit}");
    }
}

// ---- The change feed

/// Every write is one change per record it touched, in order, with growing positions; a
/// position gives exactly what came after it.
pub async fn change_feed_reports_every_write_in_order<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let start = end_of_feed(&*s).await;
    let mut want = Vec::new();
    let mut revisions = Vec::new();

    let (k, r) = new_key(&*s, 1, &account(), &region()).await;
    want.push(Entity::Key(key_ref(&k)));
    revisions.push(r);
    let a = alias("a", &k);
    revisions.push(s.create_alias(&a).await.expect("alias"));
    want.push(alias_entity(&a));
    let g = grant(1, &key_ref(&k));
    revisions.push(s.create_grant(&g).await.expect("grant"));
    want.push(grant_entity(&g));
    let mut k2 = k.clone();
    k2.description = "two".to_string();
    let r = s.update_key(&k2, r).await.expect("update");
    revisions.push(r);
    want.push(Entity::Key(key_ref(&k)));
    k2.current_version = Some(version_id(1, 2));
    let r = s
        .add_key_version(&k2, r, &version(&k, 1, 2))
        .await
        .expect("rotate");
    revisions.push(r);
    want.push(Entity::Key(key_ref(&k)));
    let c = custom_key_store(1, "ext", &account(), &region());
    let rc = s.create_custom_key_store(&c).await.expect("store");
    revisions.push(rc);
    want.push(Entity::CustomKeyStore(c.id.clone()));
    let rc = s
        .update_custom_key_store(&c, rc)
        .await
        .expect("store update");
    revisions.push(rc);
    want.push(Entity::CustomKeyStore(c.id.clone()));
    let ra = s
        .get_alias(&a.account, &a.region, &a.name)
        .await
        .expect("get")
        .expect("alias")
        .revision;
    revisions.push(s.update_alias(&a, ra).await.expect("alias update"));
    want.push(alias_entity(&a));

    // Refused writes leave no trace.
    let end = end_of_feed(&*s).await;
    assert_err!(s.update_key(&k, Revision(1)).await, StoreError::Conflict);
    assert_err!(s.create_alias(&a).await, StoreError::AlreadyExists);
    assert_err!(
        s.delete_grant(&key_ref(&k), &grant(9, &key_ref(&k)).id)
            .await,
        StoreError::NotFound,
    );
    assert!(changes_after(&*s, end, 10).await.is_empty());

    s.delete_grant(&key_ref(&k), &g.id)
        .await
        .expect("delete grant");
    want.push(grant_entity(&g));
    let ra = s
        .get_alias(&a.account, &a.region, &a.name)
        .await
        .expect("get")
        .expect("alias")
        .revision;
    s.delete_alias(&a.account, &a.region, &a.name, ra)
        .await
        .expect("delete alias");
    want.push(alias_entity(&a));
    s.delete_custom_key_store(&c.id, rc)
        .await
        .expect("delete store");
    want.push(Entity::CustomKeyStore(c.id.clone()));
    s.delete_key(&key_ref(&k), r).await.expect("delete key");
    want.push(Entity::Key(key_ref(&k)));

    let changes = changes_after(&*s, start, 1000).await;
    assert_eq!(entities(&changes), want);
    assert!(
        changes.windows(2).all(|w| w[0].position < w[1].position),
        "positions grow"
    );
    assert!(changes.iter().all(|c| c.position > start));
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "every write's revision is larger than the one before: {revisions:?}"
    );

    // A position gives what came after it, and no more than the limit.
    for (i, c) in changes.iter().enumerate() {
        let rest = changes_after(&*s, c.position, 3).await;
        assert_eq!(
            rest,
            changes[i + 1..].to_vec(),
            "after position {}",
            c.position
        );
    }
    let first_two = s.changes_since(start, 2).await.expect("changes");
    assert_eq!(first_two.changes, changes[..2].to_vec());
    assert_eq!(first_two.next_position, changes[1].position);
    let last = changes.last().map(|c| c.position).unwrap_or(start);
    let none = s.changes_since(last, 10).await.expect("changes");
    assert!(none.changes.is_empty());
    assert_eq!(none.next_position, last);
    assert_eq!(end_of_feed(&*s).await, last);
}

/// A reader that follows the feed in small batches while a writer writes sees every change,
/// in order, exactly once.
pub async fn change_feed_catch_up<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    // Fewer than the feed keeps: the reader may lag by all of them.
    let writes = 150;
    assert!(
        b.changes_kept() >= 150,
        "the suite needs changes_kept >= 150"
    );
    let start = end_of_feed(&*s).await;
    let writer = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let mut want = Vec::new();
            let mut keys = Vec::new();
            for n in 1..=10u16 {
                let (k, r) = new_key(&*s, n, &account(), &region()).await;
                want.push(Entity::Key(key_ref(&k)));
                keys.push((k, r));
            }
            for i in 10..writes {
                let (k, r) = &mut keys[i % 10];
                k.description = format!("write {i}");
                *r = s.update_key(k, *r).await.expect("update");
                want.push(Entity::Key(key_ref(k)));
            }
            want
        })
    };
    let mut seen = Vec::new();
    let mut at = start;
    let mut polls = 0;
    while !writer.is_finished() {
        let batch = s.changes_since(at, 7).await.expect("changes");
        assert!(batch.changes.len() <= 7);
        at = batch.next_position;
        seen.extend(batch.changes);
        polls += 1;
        assert!(polls < 1_000_000, "the writer never finished");
        tokio::task::yield_now().await;
    }
    let want = writer.await.expect("writer");
    seen.extend(changes_after(&*s, at, 7).await);
    assert_eq!(entities(&seen), want);
    assert!(seen.windows(2).all(|w| w[0].position < w[1].position));
}

/// The feed keeps a bounded tail: a reader behind it, or past its end, is told to reload;
/// one within it reads on.
pub async fn change_feed_tells_a_lagging_reader_to_reload<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let kept = b.changes_kept();
    let start = end_of_feed(&*s).await;
    let (mut k, mut r) = new_key(&*s, 1, &account(), &region()).await;
    for i in 0..kept + 20 {
        k.description = format!("write {i}");
        r = s.update_key(&k, r).await.expect("update");
    }
    let end = end_of_feed(&*s).await;
    assert!(end >= start + kept + 21);

    assert_err!(
        s.changes_since(start, 10).await,
        StoreError::ResyncNeeded(_)
    );
    // Within the kept tail: readable to the end.
    let from = end - kept;
    let tail = changes_after(&*s, from, 64).await;
    assert_eq!(tail.len() as u64, kept);
    assert_eq!(tail.last().map(|c| c.position), Some(end));
    assert!(changes_after(&*s, end, 10).await.is_empty());
    // A position the store never reached: another database's.
    assert_err!(
        s.changes_since(end + 1, 10).await,
        StoreError::ResyncNeeded(_)
    );

    // What a reader does when told: load, then follow from the snapshot.
    let snap = s.load().await.expect("load");
    assert_eq!(snap.position, end);
    k.description = "after reload".to_string();
    s.update_key(&k, r).await.expect("update");
    assert_eq!(
        entities(&changes_after(&*s, snap.position, 10).await),
        vec![Entity::Key(key_ref(&k))]
    );
}

// ---- Concurrency and durability

/// Two handles on one database (as two processes), several writers on each, doing
/// read-modify-write on one key with retry on `Conflict`: every acknowledged write is in the
/// final record, none lost.
pub async fn racing_writers_lose_no_update<B: Backend>(b: &B) {
    const WRITERS: usize = 4;
    const LOCKSTEP_ROUNDS: usize = 10;
    const FREE_APPENDS: usize = 8;
    let db = b.create().await;
    let handles = [b.open(&db).await, b.open(&db).await];
    let (k, _) = new_key(&*handles[0], 1, &account(), &region()).await;
    let at = key_ref(&k);
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));

    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let s = Arc::clone(&handles[w % 2]);
        let barrier = Arc::clone(&barrier);
        let at = at.clone();
        tasks.spawn(async move {
            let append = |bundle: &crate::KeyBundle, tag: &str| {
                let mut key = bundle.key.record.clone();
                key.tags.push(Tag {
                    key: tag.to_string(),
                    value: w.to_string(),
                });
                key
            };
            let mut acked = Vec::new();
            let mut lockstep_conflicts = 0;
            // Lockstep: every writer reads the same revision, then all write: one must win
            // and the others must be refused.
            for round in 0..LOCKSTEP_ROUNDS {
                let bundle = s.get_key(&at).await.expect("get").expect("key");
                barrier.wait().await;
                let tag = format!("lockstep-{round}-{w}");
                match s
                    .update_key(&append(&bundle, &tag), bundle.key.revision)
                    .await
                {
                    Ok(_) => acked.push(tag),
                    Err(StoreError::Conflict) => lockstep_conflicts += 1,
                    Err(e) => panic!("writer {w}: {e}"),
                }
                barrier.wait().await;
            }
            // Free for all: retry each append until it lands.
            for i in 0..FREE_APPENDS {
                let tag = format!("free-{i}-{w}");
                let mut tries = 0;
                loop {
                    tries += 1;
                    assert!(tries < 10_000, "writer {w} never got through");
                    let bundle = s.get_key(&at).await.expect("get").expect("key");
                    match s
                        .update_key(&append(&bundle, &tag), bundle.key.revision)
                        .await
                    {
                        Ok(_) => {
                            acked.push(tag);
                            break;
                        }
                        Err(StoreError::Conflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
            }
            (acked, lockstep_conflicts)
        });
    }
    let mut acked = Vec::new();
    let mut conflicts = 0;
    while let Some(done) = tasks.join_next().await {
        let (a, c) = done.expect("writer task");
        acked.extend(a);
        conflicts += c;
    }
    let lockstep_wins = acked.iter().filter(|t| t.starts_with("lockstep-")).count();
    assert_eq!(
        lockstep_wins, LOCKSTEP_ROUNDS,
        "one winner per lockstep round"
    );
    assert_eq!(conflicts, LOCKSTEP_ROUNDS * (WRITERS - 1));
    assert_eq!(acked.len(), LOCKSTEP_ROUNDS + WRITERS * FREE_APPENDS);

    for s in &handles {
        let key = s.get_key(&at).await.expect("get").expect("key").key.record;
        let tags: Vec<&str> = key.tags.iter().map(|t| t.key.as_str()).skip(1).collect();
        let unique: BTreeSet<&str> = tags.iter().copied().collect();
        assert_eq!(unique.len(), tags.len(), "no append twice");
        let want: BTreeSet<&str> = acked.iter().map(String::as_str).collect();
        assert_eq!(unique, want, "every acknowledged append, and only those");
    }
}

/// Creates and deletes racing on one record from two handles: exactly one wins.
pub async fn racing_creates_and_deletes<B: Backend>(b: &B) {
    let db = b.create().await;
    let (s1, s2) = (b.open(&db).await, b.open(&db).await);
    for round in 0..8u16 {
        let k = key(100 + round, &account(), &region());
        let v = version(&k, 100 + round, 1);
        let (a, b2) = tokio::join!(s1.create_key(&k, &v), s2.create_key(&k, &v));
        let (won, lost) = match (a, b2) {
            (Ok(r), Err(e)) | (Err(e), Ok(r)) => (r, e),
            other => panic!("round {round}: one create must win, got {other:?}"),
        };
        assert!(matches!(lost, StoreError::AlreadyExists), "{lost:?}");
        // The other handle sees the write at once.
        assert_eq!(
            s2.get_key(&key_ref(&k))
                .await
                .expect("get")
                .expect("key")
                .key
                .revision,
            won
        );

        let at = key_ref(&k);
        let mut changed = k.clone();
        changed.description = "updated".to_string();
        let (u, d) = tokio::join!(s1.update_key(&changed, won), s2.delete_key(&at, won));
        match (u, d) {
            (Ok(_), Err(StoreError::Conflict)) => {
                let now = s1.get_key(&key_ref(&k)).await.expect("get").expect("key");
                assert_eq!(now.key.record, changed);
                s1.delete_key(&key_ref(&k), now.key.revision)
                    .await
                    .expect("delete");
            }
            (Err(StoreError::NotFound), Ok(())) => {}
            other => panic!("round {round}: update or delete must win, got {other:?}"),
        }
        assert!(s2.get_key(&key_ref(&k)).await.expect("get").is_none());

        let (k2, r2) = new_key(&*s1, 200 + round, &account(), &region()).await;
        let at2 = key_ref(&k2);
        let (d1, d2) = tokio::join!(s1.delete_key(&at2, r2), s2.delete_key(&at2, r2));
        match (d1, d2) {
            (Ok(()), Err(StoreError::NotFound)) | (Err(StoreError::NotFound), Ok(())) => {}
            other => panic!("round {round}: one delete must win, got {other:?}"),
        }
    }
}

/// What a handle wrote is there, at the same revisions, for a handle opened after it is
/// dropped; the feed goes on from where it was.
pub async fn writes_survive_reopening<B: Backend>(b: &B) {
    let db = b.create().await;
    let before = {
        let s = b.open(&db).await;
        let (k, r) = new_key(&*s, 1, &account(), &region()).await;
        let mut k2 = k.clone();
        k2.current_version = Some(version_id(1, 2));
        s.add_key_version(&k2, r, &version(&k, 1, 2))
            .await
            .expect("rotate");
        s.create_alias(&alias("a", &k)).await.expect("alias");
        s.create_grant(&grant(1, &key_ref(&k)))
            .await
            .expect("grant");
        s.create_custom_key_store(&custom_key_store(1, "ext", &account(), &region()))
            .await
            .expect("store");
        s.load().await.expect("load")
    };
    let s = b.open(&db).await;
    let after = s.load().await.expect("load after reopening");
    assert_eq!(after.keys, before.keys);
    assert_eq!(after.custom_key_stores, before.custom_key_stores);
    assert_eq!(after.position, before.position);
    assert!(changes_after(&*s, before.position, 10).await.is_empty());

    let (k, r) = new_key(&*s, 2, &account(), &region()).await;
    assert!(r.0 > before.position, "revisions go on growing");
    assert_eq!(
        entities(&changes_after(&*s, before.position, 10).await),
        vec![Entity::Key(key_ref(&k))]
    );
}

/// A lease has one holder at a time across handles; its holder renews it; it passes to another
/// holder when released or once it expires unrenewed; leases of different names are apart.
pub async fn leases_are_exclusive_and_expire<B: Backend>(b: &B) {
    use std::time::Duration;
    let db = b.create().await;
    let (s1, s2) = (b.open(&db).await, b.open(&db).await);
    let long = Duration::from_secs(60);
    assert!(s1.try_lease("sweep", "node-1", long).await.expect("lease"));
    assert!(!s2.try_lease("sweep", "node-2", long).await.expect("lease"));
    assert!(s1.try_lease("sweep", "node-1", long).await.expect("renew"));
    assert!(s2
        .try_lease("rotate", "node-2", long)
        .await
        .expect("other name"));
    assert!(!s1.try_lease("rotate", "node-1", long).await.expect("lease"));

    // Releasing someone else's lease does nothing; releasing one's own frees it.
    s2.release_lease("sweep", "node-2").await.expect("release");
    assert!(!s2.try_lease("sweep", "node-2", long).await.expect("lease"));
    s1.release_lease("sweep", "node-1").await.expect("release");
    assert!(s2.try_lease("sweep", "node-2", long).await.expect("freed"));

    // An unrenewed lease expires and passes on; its old holder cannot renew it then.
    let short = Duration::from_millis(300);
    assert!(s1
        .try_lease("health", "node-1", short)
        .await
        .expect("lease"));
    assert!(!s2.try_lease("health", "node-2", short).await.expect("held"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(s2
        .try_lease("health", "node-2", long)
        .await
        .expect("expired"));
    assert!(!s1
        .try_lease("health", "node-1", short)
        .await
        .expect("taken over"));

    // Racing takers of a free lease: exactly one wins.
    let (a, b2) = tokio::join!(
        s1.try_lease("race", "node-1", long),
        s2.try_lease("race", "node-2", long)
    );
    assert!(
        a.expect("lease") ^ b2.expect("lease"),
        "exactly one of two racing takers holds the lease"
    );
}

/// Writers on several handles at once while a follower reads the feed as it grows: the
/// follower sees every write, each once, in position order (positions become visible in
/// commit order, so a follower never steps past one that commits later).
pub async fn followers_miss_no_concurrent_write<B: Backend>(b: &B) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = b.create().await;
    let writers: Vec<Arc<dyn Store>> =
        vec![b.open(&db).await, b.open(&db).await, b.open(&db).await];
    let reader = b.open(&db).await;
    let start = end_of_feed(&*reader).await;
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let (reader, done) = (Arc::clone(&reader), Arc::clone(&done));
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut at = start;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = reader.changes_since(at, 7).await.expect("changes_since");
                for c in &batch.changes {
                    assert!(c.position > at, "positions grow along the feed");
                    at = c.position;
                    seen.push(c.entity.clone());
                }
                if finished && batch.changes.is_empty() {
                    return seen;
                }
            }
        })
    };
    let per_writer: u16 = 40;
    let mut tasks = Vec::new();
    for (w, s) in writers.iter().enumerate() {
        let s = Arc::clone(s);
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..per_writer {
                let n = u16::try_from(w).expect("few writers") * 1000 + i;
                let (k, _) = new_key(&*s, n, &account(), &region()).await;
                made.push(Entity::Key(key_ref(&k)));
            }
            made
        }));
    }
    let mut written = HashSet::new();
    for t in tasks {
        written.extend(t.await.expect("writer"));
    }
    done.store(true, Ordering::SeqCst);
    let seen = follower.await.expect("follower");
    assert_eq!(seen.len(), written.len(), "each write seen once");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), written);
}

// ---- Key usage

/// A use of key `k`.
fn key_use(k: &Key, operation: UsageOperation, at_ms: i64, request_id: &str) -> KeyUse {
    KeyUse {
        key: key_ref(k),
        operation,
        at_ms,
        request_id: request_id.to_string(),
    }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    i64::try_from(since.as_millis()).expect("in range")
}

/// A key's record holds its newest use whatever order uses arrive in (an older one, or one as
/// old, changes nothing); in a batch, each key's newest counts; a use of a key that is not
/// there is dropped; recording changes no revision and no feed position; every handle sees it.
pub async fn key_uses_keep_the_newest<B: Backend>(b: &B) {
    let (db, s) = fresh(b).await;
    let (k1, r1) = new_key(&*s, 1, &account(), &region()).await;
    let (k2, _) = new_key(&*s, 2, &account(), &region()).await;
    assert_eq!(s.key_last_use(&key_ref(&k1)).await.expect("read"), None);
    let position = end_of_feed(&*s).await;

    let first = key_use(&k1, UsageOperation::Encrypt, 2_000, "req-1");
    s.record_key_uses(std::slice::from_ref(&first))
        .await
        .expect("record");
    assert_eq!(
        s.key_last_use(&key_ref(&k1)).await.expect("read"),
        Some(first.clone())
    );
    for stale in [
        key_use(&k1, UsageOperation::Decrypt, 1_999, "older"),
        key_use(&k1, UsageOperation::Sign, 2_000, "as-old"),
    ] {
        s.record_key_uses(&[stale]).await.expect("record");
        assert_eq!(
            s.key_last_use(&key_ref(&k1)).await.expect("read"),
            Some(first.clone()),
            "an older use does not replace a newer one"
        );
    }

    // One batch: several uses of k1 (the newest is not last), one of k2, one of a key that
    // does not exist.
    let gone = key(9, &account(), &region());
    let newest = key_use(&k1, UsageOperation::ReEncrypt, 3_000, "req-3");
    let batch = vec![
        key_use(&k1, UsageOperation::Decrypt, 2_500, "req-2"),
        newest.clone(),
        key_use(&k2, UsageOperation::GenerateDataKey, 2_700, "req-k2"),
        key_use(&gone, UsageOperation::Encrypt, 2_800, "req-gone"),
        key_use(&k1, UsageOperation::Verify, 2_900, "req-4"),
    ];
    s.record_key_uses(&batch).await.expect("record a batch");
    s.record_key_uses(&[]).await.expect("record nothing");
    assert_eq!(
        s.key_last_use(&key_ref(&k1)).await.expect("read"),
        Some(newest.clone())
    );
    assert_eq!(
        s.key_last_use(&key_ref(&k2)).await.expect("read"),
        Some(batch[2].clone())
    );
    assert_eq!(s.key_last_use(&key_ref(&gone)).await.expect("read"), None);
    let mut elsewhere = k1.clone();
    elsewhere.region = other_region();
    assert_eq!(
        s.key_last_use(&key_ref(&elsewhere)).await.expect("read"),
        None,
        "a use is of the key in its Region"
    );

    // Uses are not changes: no revision moved, no change fed.
    assert_eq!(end_of_feed(&*s).await, position);
    assert!(changes_after(&*s, position, 10).await.is_empty());
    let bundle = s.get_key(&key_ref(&k1)).await.expect("get").expect("there");
    assert_eq!(bundle.key.revision, r1);

    // Another handle (node) reads what this one recorded, and every operation round-trips.
    let other = b.open(&db).await;
    assert_eq!(
        other.key_last_use(&key_ref(&k1)).await.expect("read"),
        Some(newest)
    );
    for (i, op) in UsageOperation::ALL.into_iter().enumerate() {
        let u = key_use(&k2, op, 10_000 + i64::try_from(i).expect("small"), "req");
        other
            .record_key_uses(std::slice::from_ref(&u))
            .await
            .expect("record");
        assert_eq!(s.key_last_use(&key_ref(&k2)).await.expect("read"), Some(u));
    }
}

/// Handles racing to record uses of the same keys, each batch in its own order: every key ends
/// with the newest use any of them recorded.
pub async fn racing_key_uses_keep_the_newest<B: Backend>(b: &B) {
    let db = b.create().await;
    let handles: Vec<Arc<dyn Store>> =
        vec![b.open(&db).await, b.open(&db).await, b.open(&db).await];
    let keys: Vec<Key> = {
        let mut keys = Vec::new();
        for n in 1..=8 {
            keys.push(new_key(&*handles[0], n, &account(), &region()).await.0);
        }
        keys
    };
    let tasks = handles.iter().enumerate().map(|(h, s)| {
        let (s, keys) = (Arc::clone(s), keys.clone());
        tokio::spawn(async move {
            for round in 0..20_i64 {
                let mut batch: Vec<KeyUse> = keys
                    .iter()
                    .map(|k| {
                        // Handle h's times interleave with the others'; handle 1 writes the
                        // newest of all in round 7 and then goes back in time.
                        let h64 = i64::try_from(h).expect("small");
                        let at = if h == 1 && round == 7 {
                            1_000_000
                        } else {
                            round * 10 + h64
                        };
                        key_use(k, UsageOperation::Encrypt, at, &format!("h{h}-r{round}"))
                    })
                    .collect();
                if (round + i64::try_from(h).expect("small")) % 2 == 1 {
                    batch.reverse();
                }
                // The backend orders its writes: racing batches do not deadlock.
                s.record_key_uses(&batch).await.expect("record");
            }
        })
    });
    for t in tasks.collect::<Vec<_>>() {
        t.await.expect("writer");
    }
    for k in &keys {
        let u = handles[2]
            .key_last_use(&key_ref(k))
            .await
            .expect("read")
            .expect("used");
        assert_eq!((u.at_ms, u.request_id.as_str()), (1_000_000, "h1-r7"));
    }
}

/// Deleting a key deletes its use: a key made again with the same id and Region (a replica
/// made again) starts unused.
pub async fn deleting_a_key_deletes_its_use<B: Backend>(b: &B) {
    let (_db, s) = fresh(b).await;
    let (k, r) = new_key(&*s, 1, &account(), &region()).await;
    let (other, _) = new_key(&*s, 2, &account(), &region()).await;
    s.record_key_uses(&[
        key_use(&k, UsageOperation::Encrypt, 5_000, "req-1"),
        key_use(&other, UsageOperation::Decrypt, 5_000, "req-2"),
    ])
    .await
    .expect("record");
    s.delete_key(&key_ref(&k), r).await.expect("delete");
    assert_eq!(s.key_last_use(&key_ref(&k)).await.expect("read"), None);
    assert!(
        s.key_last_use(&key_ref(&other))
            .await
            .expect("read")
            .is_some(),
        "another key keeps its use"
    );
    new_key(&*s, 1, &account(), &region()).await;
    assert_eq!(s.key_last_use(&key_ref(&k)).await.expect("read"), None);
    // A node's late flush of a use of the deleted key does not bring the old use back either.
    s.record_key_uses(&[key_use(&k, UsageOperation::Sign, 6_000, "req-3")])
        .await
        .expect("record");
    assert_eq!(
        s.key_last_use(&key_ref(&k))
            .await
            .expect("read")
            .map(|u| u.at_ms),
        Some(6_000),
        "the new key's own use is recorded"
    );
}

/// A new database tracks usage from when it was made; every handle, then and later, says the
/// same.
pub async fn usage_tracking_starts_with_the_database<B: Backend>(b: &B) {
    let before = now_ms();
    let db = b.create().await;
    let s = b.open(&db).await;
    let after = now_ms();
    let start = s.usage_tracking_start_ms().await.expect("tracking start");
    // The database's clock may be another host's: a little slack.
    assert!(
        (before - 1_000..=after + 1_000).contains(&start),
        "{before} <= {start} <= {after}"
    );
    drop(s);
    let again = b.open(&db).await;
    assert_eq!(again.usage_tracking_start_ms().await.expect("again"), start);
    let other = b.open(&db).await;
    assert_eq!(other.usage_tracking_start_ms().await.expect("other"), start);
}

/// A database from before usage tracking gets its usage table when opened, with the keys it
/// had, and tracks usage from then on (not from before, when nothing was recorded).
pub async fn usage_tracking_is_added_to_an_existing_database<B: Backend>(b: &B) {
    let db = b.create().await;
    let (k, snapshot) = {
        let s = b.open(&db).await;
        let (k, _) = new_key(&*s, 1, &account(), &region()).await;
        s.record_key_uses(&[key_use(&k, UsageOperation::Encrypt, 1_000, "req-old")])
            .await
            .expect("record");
        (k, s.load().await.expect("load"))
    };
    b.remove_usage_tracking(&db).await;

    let before = now_ms();
    let s = b.open(&db).await;
    let after = now_ms();
    let migrated = s.load().await.expect("load");
    assert_eq!(migrated.keys, snapshot.keys, "the records are untouched");
    assert_eq!(migrated.position, snapshot.position);
    let start = s.usage_tracking_start_ms().await.expect("tracking start");
    assert!(
        (before - 1_000..=after + 1_000).contains(&start),
        "tracked from the migration: {before} <= {start} <= {after}"
    );
    assert_eq!(s.key_last_use(&key_ref(&k)).await.expect("read"), None);
    let u = key_use(&k, UsageOperation::Decrypt, 2_000, "req-new");
    s.record_key_uses(std::slice::from_ref(&u))
        .await
        .expect("record");
    drop(s);

    let s = b.open(&db).await;
    assert_eq!(s.usage_tracking_start_ms().await.expect("again"), start);
    assert_eq!(s.key_last_use(&key_ref(&k)).await.expect("read"), Some(u));
}
