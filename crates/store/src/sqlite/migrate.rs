//! From the legacy store's layout (string-typed JSON records, no revisions) to this one, inside
//! the transaction that opened the database: it all happens, or nothing does and the legacy
//! tables are untouched.
//!
//! Key material is carried over byte for byte, and each backing key becomes a version with the
//! same id: ciphertexts name the version that made them, and the material is bound to the key
//! id and that id.

use std::collections::{BTreeMap, HashSet};

use kms_model::{
    AccountId, Alias, AliasName, ConnectionErrorCode, ConnectionState, CustomKeyStore,
    CustomKeyStoreId, CustomKeyStoreType, Deletion, ExternalKey, Grant, GrantConstraints, GrantId,
    GrantOperation, Key, KeyId, KeyRef, KeySpec, KeyState, KeyType, KeyUsage, KeyVersion,
    MaterialKind, Origin, Region, Rotation, Tag, VersionId, XksProxyConnectivity,
};
use rusqlite::{params, Connection};
use serde::de::DeserializeOwned;

use super::{ops, schema};
use crate::legacy::{AliasRecord, BackingKeyRecord, CustomKeyStoreRecord, GrantRecord, KeyRecord};
use crate::StoreError;

/// Converts the legacy tables' records (every one a record of `region`), drops the tables and
/// writes the records in this version's tables. Records that hung off a key that is gone (the
/// legacy store left a deleted key's grants behind) are dropped: nothing could reach them.
pub(super) fn from_legacy(conn: &Connection, region: &Region) -> Result<(), StoreError> {
    let old = read_legacy(conn)?;
    let keys = old
        .keys
        .iter()
        .map(|k| key(k, region))
        .collect::<Result<Vec<_>, _>>()?;
    let key_ids: HashSet<&KeyId> = keys.iter().map(|k| &k.id).collect();

    let mut versions: BTreeMap<KeyId, Vec<KeyVersion>> = BTreeMap::new();
    for b in &old.backing_keys {
        let v = version(b, region)?;
        if key_ids.contains(&v.key) {
            versions.entry(v.key.clone()).or_default().push(v);
        }
    }
    for k in &keys {
        let has_current = versions
            .get(&k.id)
            .is_some_and(|vs| vs.iter().any(|v| Some(v.id) == k.current_version));
        if !has_current {
            return Err(StoreError::Corrupt(
                format!("legacy key {}", k.id),
                format!(
                    "its current backing key {} is missing",
                    k.current_version.map(|v| v.to_hex()).unwrap_or_default()
                ),
            ));
        }
    }
    let aliases = old
        .aliases
        .iter()
        .map(|a| alias(a, region))
        .filter(|a| a.as_ref().map_or(true, |a| key_ids.contains(&a.target)))
        .collect::<Result<Vec<_>, _>>()?;
    let grants = old
        .grants
        .iter()
        .map(|g| grant(g, region))
        .filter(|g| g.as_ref().map_or(true, |g| key_ids.contains(&g.key.id)))
        .collect::<Result<Vec<_>, _>>()?;
    let stores = old
        .custom_key_stores
        .iter()
        .map(|s| custom_key_store(s, region))
        .collect::<Result<Vec<_>, _>>()?;

    for table in LEGACY_TABLES {
        conn.execute(&format!("DROP TABLE IF EXISTS {table}"), [])?;
    }
    schema::create(conn)?;
    // Every record gets its own position as its revision. The feed starts after them: a reader
    // from an earlier position is told to load everything.
    for k in &keys {
        ops::insert_key(conn, k, ops::draw_position(conn)?)?;
        let mut vs = versions.remove(&k.id).unwrap_or_default();
        vs.sort_by_key(|v| (v.created_ms, v.id));
        for v in &vs {
            ops::insert_version(conn, v, ops::draw_position(conn)?)?;
        }
    }
    for a in &aliases {
        ops::insert_alias(conn, a, ops::draw_position(conn)?)?;
    }
    for g in &grants {
        ops::insert_grant(conn, g, ops::draw_position(conn)?)?;
    }
    for s in &stores {
        ops::insert_custom_key_store(conn, s, ops::draw_position(conn)?)?;
    }
    conn.execute(
        "UPDATE clock SET pruned_through = position WHERE id = 1",
        params![],
    )?;
    Ok(())
}

/// The legacy store's tables (its `meta` stays: this version keeps its own rows there).
const LEGACY_TABLES: [&str; 5] = [
    "keys",
    "backing_keys",
    "grants",
    "custom_key_stores",
    "aliases",
];

struct Legacy {
    keys: Vec<KeyRecord>,
    backing_keys: Vec<BackingKeyRecord>,
    aliases: Vec<AliasRecord>,
    grants: Vec<GrantRecord>,
    custom_key_stores: Vec<CustomKeyStoreRecord>,
}

fn read_legacy(conn: &Connection) -> Result<Legacy, StoreError> {
    let mut stmt =
        conn.prepare("SELECT key_id, backing_key_id, wrapped, created_ms FROM backing_keys")?;
    let backing_keys = stmt
        .query_map([], |r| {
            Ok(BackingKeyRecord {
                key_id: r.get(0)?,
                backing_key_id: r.get(1)?,
                wrapped: r.get(2)?,
                created_ms: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Legacy {
        keys: json_records(conn, "keys", "key_id")?,
        backing_keys,
        aliases: json_records(conn, "aliases", "alias_name")?,
        grants: json_records(conn, "grants", "grant_id")?,
        custom_key_stores: json_records(conn, "custom_key_stores", "id")?,
    })
}

/// The records of a legacy table of JSON records (none if an older legacy store never made
/// the table).
fn json_records<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    id_column: &str,
) -> Result<Vec<T>, StoreError> {
    let exists = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists(params![table])?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(&format!("SELECT {id_column}, record FROM {table}"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, json)| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("legacy {table} {id}"), e.to_string()))
        })
        .collect()
}

/// A legacy value that does not convert.
fn bad(what: &str, id: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("legacy {what} {id}"), why.to_string())
}

fn parse<T>(
    what: &str,
    id: &str,
    field: &str,
    value: &str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    f(value).ok_or_else(|| bad(what, id, format!("{field} {value:?}")))
}

fn key(k: &KeyRecord, region: &Region) -> Result<Key, StoreError> {
    let id = &k.key_id;
    let spec = parse("key", id, "key_spec", &k.key_spec, KeySpec::from_wire)?;
    let usage = parse("key", id, "key_usage", &k.key_usage, KeyUsage::from_wire)?;
    let key_type = KeyType::new(spec, usage)
        .ok_or_else(|| bad("key", id, format!("key usage {usage} with key spec {spec}")))?;
    let deletion = match (k.deletion_ms, k.pending_window_days) {
        (None, None) => None,
        (Some(at_ms), Some(days)) => Some(Deletion {
            at_ms,
            window_days: u8::try_from(days)
                .map_err(|_| bad("key", id, format!("pending window of {days} days")))?,
        }),
        _ => {
            return Err(bad(
                "key",
                id,
                "a deletion date without its window, or a window without its date",
            ))
        }
    };
    let external = match (&k.custom_key_store_id, &k.xks_key_id) {
        (None, None) => None,
        (Some(store), Some(xks_key_id)) => Some(ExternalKey {
            store: parse(
                "key",
                id,
                "custom_key_store_id",
                store,
                CustomKeyStoreId::parse,
            )?,
            xks_key_id: xks_key_id.clone(),
        }),
        _ => {
            return Err(bad(
                "key",
                id,
                "a custom key store without an external key, or the reverse",
            ))
        }
    };
    Ok(Key {
        id: parse("key", id, "key_id", id, KeyId::parse)?,
        account: parse("key", id, "account_id", &k.account_id, AccountId::parse)?,
        region: region.clone(),
        created_ms: k.created_ms,
        description: k.description.clone(),
        key_type,
        origin: parse("key", id, "origin", &k.origin, Origin::from_wire)?,
        state: parse("key", id, "state", k.state.as_str(), KeyState::from_wire)?,
        deletion,
        policy: k.policy.clone(),
        tags: k
            .tags
            .iter()
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        current_version: Some(parse(
            "key",
            id,
            "current_backing_key_id",
            &k.current_backing_key_id,
            VersionId::parse,
        )?),
        external,
        rotation: Rotation::default(),
        primary_region: None,
    })
}

/// The legacy store held only symmetric keys: every backing key is AES-256-GCM material.
fn version(b: &BackingKeyRecord, region: &Region) -> Result<KeyVersion, StoreError> {
    let id = &b.backing_key_id;
    Ok(KeyVersion {
        key: parse("backing key", id, "key_id", &b.key_id, KeyId::parse)?,
        region: region.clone(),
        id: parse("backing key", id, "backing_key_id", id, VersionId::parse)?,
        kind: MaterialKind::Aes256Gcm,
        created_ms: b.created_ms,
        expires_ms: None,
        rotation: None,
        wrapped: b.wrapped.clone(),
        description: None,
    })
}

fn alias(a: &AliasRecord, region: &Region) -> Result<Alias, StoreError> {
    let name = &a.alias_name;
    Ok(Alias {
        account: parse("alias", name, "account_id", &a.account_id, AccountId::parse)?,
        region: region.clone(),
        name: parse("alias", name, "alias_name", name, AliasName::parse)?,
        target: parse(
            "alias",
            name,
            "target_key_id",
            &a.target_key_id,
            KeyId::parse,
        )?,
        created_ms: a.created_ms,
        updated_ms: a.updated_ms,
    })
}

fn grant(g: &GrantRecord, region: &Region) -> Result<Grant, StoreError> {
    let id = &g.grant_id;
    let operations = g
        .operations
        .iter()
        .map(|o| parse("grant", id, "operation", o, GrantOperation::from_wire))
        .collect::<Result<Vec<_>, _>>()?;
    let constraints =
        match (&g.context_equals, &g.context_subset) {
            (None, None) => None,
            (Some(eq), None) => Some(GrantConstraints::Equals(eq.clone())),
            (None, Some(sub)) => Some(GrantConstraints::Subset(sub.clone())),
            // The legacy store checked both. A context equal to `eq` includes `sub` exactly when
            // `eq` does, so then "equals" alone allows the same requests.
            (Some(eq), Some(sub)) if sub.iter().all(|(k, v)| eq.get(k) == Some(v)) => {
                Some(GrantConstraints::Equals(eq.clone()))
            }
            (Some(_), Some(_)) => return Err(bad(
                "grant",
                id,
                "both context constraints, the subset not within the equals (it allows nothing)",
            )),
        };
    Ok(Grant {
        id: parse("grant", id, "grant_id", id, GrantId::parse)?,
        key: KeyRef {
            region: region.clone(),
            id: parse("grant", id, "key_id", &g.key_id, KeyId::parse)?,
        },
        name: g.name.clone(),
        grantee: g.grantee_principal.clone(),
        retiring: g.retiring_principal.clone(),
        operations,
        constraints,
        issuing_account: parse(
            "grant",
            id,
            "issuing_account",
            &g.issuing_account,
            AccountId::parse,
        )?,
        created_ms: g.created_ms,
    })
}

fn custom_key_store(
    s: &CustomKeyStoreRecord,
    region: &Region,
) -> Result<CustomKeyStore, StoreError> {
    let id = &s.id;
    let what = "custom key store";
    Ok(CustomKeyStore {
        id: parse(what, id, "id", id, CustomKeyStoreId::parse)?,
        account: parse(what, id, "account_id", &s.account_id, AccountId::parse)?,
        region: region.clone(),
        name: s.name.clone(),
        store_type: parse(
            what,
            id,
            "store_type",
            &s.store_type,
            CustomKeyStoreType::from_wire,
        )?,
        created_ms: s.created_ms,
        uri_endpoint: s.uri_endpoint.clone(),
        uri_path: s.uri_path.clone(),
        connectivity: parse(
            what,
            id,
            "connectivity",
            &s.connectivity,
            XksProxyConnectivity::from_wire,
        )?,
        vpc_endpoint_service_name: s.vpc_endpoint_service_name.clone(),
        access_key_id: s.access_key_id.clone(),
        sealed_secret_hex: s.wrapped_secret_hex.clone(),
        connection_state: parse(
            what,
            id,
            "connection_state",
            &s.connection_state,
            ConnectionState::from_wire,
        )?,
        connection_error: s
            .connection_error_code
            .as_deref()
            .map(|c| {
                parse(
                    what,
                    id,
                    "connection_error_code",
                    c,
                    ConnectionErrorCode::from_wire,
                )
            })
            .transpose()?,
        credential_updated_ms: None,
    })
}
