//! The SQL of each operation, run inside a transaction the caller opened: reads on a snapshot,
//! writes holding the write lock ([`Writer`]).

use std::collections::BTreeMap;

use kms_model::{
    AccountId, Alias, AliasName, CustomKeyStore, CustomKeyStoreId, Grant, GrantId, Key, KeyId,
    KeyRef, KeyVersion, Region, Revision,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{
    Change, ChangeBatch, Entity, KeyBundle, Page, PageRequest, Snapshot, StoreError, Versioned,
    MAX_PAGE,
};

// ---- Encoding

pub(crate) fn encode<T: Serialize>(what: &str, record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record)
        .map_err(|e| StoreError::Invalid(format!("cannot encode the {what}: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(
    what: impl FnOnce() -> String,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(what(), e.to_string()))
}

/// A position or revision as SQLite stores it (positions start at 1 and never reach 2^63).
pub(super) fn to_sql(position: u64) -> Result<i64, StoreError> {
    i64::try_from(position)
        .map_err(|_| StoreError::Database(format!("position {position} out of range")))
}

fn from_sql(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(what.to_string(), format!("negative position {value}")))
}

fn versioned<T: DeserializeOwned>(
    what: impl Fn() -> String,
    (revision, json): (i64, String),
) -> Result<Versioned<T>, StoreError> {
    Ok(Versioned {
        record: decode(&what, &json)?,
        revision: Revision(from_sql(&what(), revision)?),
    })
}

/// `Conflict` unless the record is there at the expected revision.
fn check_revision(found: Option<i64>, expected: Revision) -> Result<(), StoreError> {
    match found {
        None => Err(StoreError::NotFound),
        Some(r) if u64::try_from(r).ok() == Some(expected.0) => Ok(()),
        Some(_) => Err(StoreError::Conflict),
    }
}

/// The items up to `limit` of `rows` (which holds up to one more, to tell whether there is a
/// next page), each with its sort key.
pub(crate) fn page<T>(mut rows: Vec<(String, T)>, limit: usize) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|(sort_key, _)| sort_key.clone())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next,
    }
}

/// The rows to ask for: one more than the page holds.
fn fetch_limit(page: &PageRequest) -> i64 {
    // At most MAX_PAGE + 1, far inside i64.
    i64::try_from(page.effective_limit() + 1).unwrap_or(MAX_PAGE as i64)
}

// ---- Reads

fn key_row(conn: &Connection, key: &KeyRef) -> Result<Option<Versioned<Key>>, StoreError> {
    conn.prepare_cached("SELECT revision, record FROM keys WHERE region = ?1 AND key_id = ?2")?
        .query_row(params![key.region.as_str(), key.id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .map(|row| versioned(|| format!("key {}", key.id), row))
        .transpose()
}

pub(super) fn get_key(conn: &Connection, key: &KeyRef) -> Result<Option<KeyBundle>, StoreError> {
    let Some(record) = key_row(conn, key)? else {
        return Ok(None);
    };
    let versions = conn
        .prepare_cached(
            "SELECT record FROM key_versions WHERE region = ?1 AND key_id = ?2 ORDER BY added",
        )?
        .query_map(params![key.region.as_str(), key.id.as_str()], |r| {
            r.get::<_, String>(0)
        })?
        .map(|json| decode(|| format!("version of key {}", key.id), &json?))
        .collect::<Result<Vec<KeyVersion>, _>>()?;
    let aliases = conn
        .prepare_cached(
            "SELECT revision, record FROM aliases
             WHERE region = ?1 AND target = ?2 AND account = ?3 ORDER BY name",
        )?
        .query_map(
            params![
                key.region.as_str(),
                key.id.as_str(),
                record.record.account.as_str()
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .map(|row| versioned(|| format!("alias of key {}", key.id), row?))
        .collect::<Result<Vec<_>, _>>()?;
    let grants = conn
        .prepare_cached(
            "SELECT revision, record FROM grants
             WHERE region = ?1 AND key_id = ?2 ORDER BY grant_id",
        )?
        .query_map(params![key.region.as_str(), key.id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .map(|row| versioned(|| format!("grant of key {}", key.id), row?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(KeyBundle {
        key: record,
        versions,
        aliases,
        grants,
    }))
}

pub(super) fn load(tx: &Transaction<'_>) -> Result<Snapshot, StoreError> {
    // Read first: the snapshot's position is the clock as of this read transaction.
    let position: i64 =
        tx.query_row("SELECT position FROM clock WHERE id = 1", [], |r| r.get(0))?;
    let mut bundles: BTreeMap<KeyRef, KeyBundle> = BTreeMap::new();
    let mut stmt = tx.prepare("SELECT revision, record FROM keys")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let key: Versioned<Key> = versioned(|| "key".to_string(), row?)?;
        let at = KeyRef {
            region: key.record.region.clone(),
            id: key.record.id.clone(),
        };
        bundles.insert(
            at,
            KeyBundle {
                key,
                versions: Vec::new(),
                aliases: Vec::new(),
                grants: Vec::new(),
            },
        );
    }
    let mut stmt = tx.prepare("SELECT record FROM key_versions ORDER BY added")?;
    for json in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let v: KeyVersion = decode(|| "key version".to_string(), &json?)?;
        let at = KeyRef {
            region: v.region.clone(),
            id: v.key.clone(),
        };
        if let Some(b) = bundles.get_mut(&at) {
            b.versions.push(v);
        }
    }
    let mut stmt = tx.prepare("SELECT revision, record FROM aliases ORDER BY name")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let a: Versioned<Alias> = versioned(|| "alias".to_string(), row?)?;
        let at = KeyRef {
            region: a.record.region.clone(),
            id: a.record.target.clone(),
        };
        if let Some(b) = bundles.get_mut(&at) {
            b.aliases.push(a);
        }
    }
    let mut stmt = tx.prepare("SELECT revision, record FROM grants ORDER BY grant_id")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let g: Versioned<Grant> = versioned(|| "grant".to_string(), row?)?;
        if let Some(b) = bundles.get_mut(&g.record.key) {
            b.grants.push(g);
        }
    }
    let mut stmt = tx.prepare("SELECT revision, record FROM custom_key_stores ORDER BY id")?;
    let custom_key_stores = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .map(|row| versioned(|| "custom key store".to_string(), row?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot {
        keys: bundles.into_values().collect(),
        custom_key_stores,
        position: from_sql("clock", position)?,
    })
}

pub(super) fn list_keys(
    conn: &Connection,
    account: &AccountId,
    region: &Region,
    req: &PageRequest,
) -> Result<Page<Versioned<Key>>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT key_id, revision, record FROM keys
             WHERE account = ?1 AND region = ?2 AND key_id > ?3 ORDER BY key_id LIMIT ?4",
        )?
        .query_map(
            params![
                account.as_str(),
                region.as_str(),
                req.after.as_deref().unwrap_or(""),
                fetch_limit(req)
            ],
            |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))),
        )?
        .map(|row| {
            let (id, rest) = row?;
            let key = versioned(|| format!("key {id}"), rest)?;
            Ok((id, key))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(page(rows, req.effective_limit()))
}

pub(super) fn get_alias(
    conn: &Connection,
    account: &AccountId,
    region: &Region,
    name: &AliasName,
) -> Result<Option<Versioned<Alias>>, StoreError> {
    conn.prepare_cached(
        "SELECT revision, record FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3",
    )?
    .query_row(
        params![account.as_str(), region.as_str(), name.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .map(|row| versioned(|| format!("alias {name}"), row))
    .transpose()
}

pub(super) fn list_aliases(
    conn: &Connection,
    account: &AccountId,
    region: &Region,
    key: Option<&KeyId>,
    req: &PageRequest,
) -> Result<Page<Versioned<Alias>>, StoreError> {
    let after = req.after.as_deref().unwrap_or("");
    let limit = fetch_limit(req);
    let mut stmt;
    let rows = match key {
        None => {
            stmt = conn.prepare_cached(
                "SELECT name, revision, record FROM aliases
                 WHERE account = ?1 AND region = ?2 AND name > ?3 ORDER BY name LIMIT ?4",
            )?;
            stmt.query_map(
                params![account.as_str(), region.as_str(), after, limit],
                alias_row,
            )?
        }
        Some(key) => {
            stmt = conn.prepare_cached(
                "SELECT name, revision, record FROM aliases
                 WHERE account = ?1 AND region = ?2 AND target = ?5 AND name > ?3
                 ORDER BY name LIMIT ?4",
            )?;
            stmt.query_map(
                params![
                    account.as_str(),
                    region.as_str(),
                    after,
                    limit,
                    key.as_str()
                ],
                alias_row,
            )?
        }
    };
    let rows = rows
        .map(|row| {
            let (name, rest) = row?;
            let alias = versioned(|| format!("alias {name}"), rest)?;
            Ok((name, alias))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(page(rows, req.effective_limit()))
}

type SortedRow = (String, (i64, String));

fn alias_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SortedRow> {
    Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
}

pub(super) fn list_grants(
    conn: &Connection,
    key: &KeyRef,
    req: &PageRequest,
) -> Result<Page<Versioned<Grant>>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT grant_id, revision, record FROM grants
             WHERE region = ?1 AND key_id = ?2 AND grant_id > ?3 ORDER BY grant_id LIMIT ?4",
        )?
        .query_map(
            params![
                key.region.as_str(),
                key.id.as_str(),
                req.after.as_deref().unwrap_or(""),
                fetch_limit(req)
            ],
            |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))),
        )?
        .map(|row| {
            let (id, rest) = row?;
            let grant = versioned(|| format!("grant {id}"), rest)?;
            Ok((id, grant))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(page(rows, req.effective_limit()))
}

pub(super) fn get_custom_key_store(
    conn: &Connection,
    id: &CustomKeyStoreId,
) -> Result<Option<Versioned<CustomKeyStore>>, StoreError> {
    conn.prepare_cached("SELECT revision, record FROM custom_key_stores WHERE id = ?1")?
        .query_row(params![id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .map(|row| versioned(|| format!("custom key store {id}"), row))
        .transpose()
}

pub(super) fn changes_since(
    conn: &Connection,
    position: u64,
    limit: usize,
) -> Result<ChangeBatch, StoreError> {
    let (last, pruned_through): (i64, i64) = conn.query_row(
        "SELECT position, pruned_through FROM clock WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (last, pruned_through) = (from_sql("clock", last)?, from_sql("clock", pruned_through)?);
    if position < pruned_through || position > last {
        return Err(StoreError::ResyncNeeded(position));
    }
    let limit = limit.clamp(1, MAX_PAGE);
    let changes = conn
        .prepare_cached(
            "SELECT position, kind, region, account, key_id, name FROM changes
             WHERE position > ?1 ORDER BY position LIMIT ?2",
        )?
        .query_map(
            params![to_sql(position)?, i64::try_from(limit).unwrap_or(1)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )?
        .map(|row| {
            let (at, kind, region, account, key_id, name) = row?;
            let at = from_sql("change", at)?;
            let entity = entity_from_row(&kind, region, account, key_id, name)
                .ok_or_else(|| StoreError::Corrupt(format!("change {at}"), kind.clone()))?;
            Ok(Change {
                position: at,
                entity,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next_position = changes.last().map_or(position, |c| c.position);
    Ok(ChangeBatch {
        changes,
        next_position,
    })
}

// ---- The change table's columns for each entity: (kind, region, account, key_id, name).

pub(crate) type EntityRow<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

pub(crate) fn entity_to_row(e: &Entity) -> EntityRow<'_> {
    match e {
        Entity::Key(k) => (
            "key",
            Some(k.region.as_str()),
            None,
            Some(k.id.as_str()),
            None,
        ),
        Entity::Alias {
            account,
            region,
            name,
        } => (
            "alias",
            Some(region.as_str()),
            Some(account.as_str()),
            None,
            Some(name.as_str()),
        ),
        Entity::Grant { key, id } => (
            "grant",
            Some(key.region.as_str()),
            None,
            Some(key.id.as_str()),
            Some(id.as_str()),
        ),
        Entity::CustomKeyStore(id) => ("custom_key_store", None, None, None, Some(id.as_str())),
    }
}

pub(crate) fn entity_from_row(
    kind: &str,
    region: Option<String>,
    account: Option<String>,
    key_id: Option<String>,
    name: Option<String>,
) -> Option<Entity> {
    let region = region.as_deref().and_then(Region::parse);
    let key = || {
        Some(KeyRef {
            region: region.clone()?,
            id: KeyId::parse(key_id.as_deref()?)?,
        })
    };
    match kind {
        "key" => Some(Entity::Key(key()?)),
        "alias" => Some(Entity::Alias {
            account: AccountId::parse(account.as_deref()?)?,
            region: region.clone()?,
            name: AliasName::parse(name.as_deref()?)?,
        }),
        "grant" => Some(Entity::Grant {
            key: key()?,
            id: GrantId::parse(name.as_deref()?)?,
        }),
        "custom_key_store" => Some(Entity::CustomKeyStore(CustomKeyStoreId::parse(
            name.as_deref()?,
        )?)),
        _ => None,
    }
}

// ---- Writes

/// A write transaction: draws feed positions and records the changes.
pub(super) struct Writer<'a> {
    tx: &'a Transaction<'a>,
    last: Option<u64>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(tx: &'a Transaction<'a>) -> Writer<'a> {
        Writer { tx, last: None }
    }

    /// Draws the next position for a change of `entity` and records it in the feed.
    fn change(&mut self, entity: &Entity) -> Result<i64, StoreError> {
        let position = draw_position(self.tx)?;
        let (kind, region, account, key_id, name) = entity_to_row(entity);
        self.tx
            .prepare_cached(
                "INSERT INTO changes (position, kind, region, account, key_id, name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![position, kind, region, account, key_id, name])?;
        self.last = Some(from_sql("clock", position)?);
        Ok(position)
    }

    /// Keeps the feed's last `kept` changes. Runs in the write that made them, so the table
    /// never holds more than `kept` plus one transaction's changes.
    pub(super) fn prune(&self, kept: u64) -> Result<(), StoreError> {
        let Some(last) = self.last else {
            return Ok(());
        };
        let Some(through) = last.checked_sub(kept).filter(|t| *t > 0) else {
            return Ok(());
        };
        let through = to_sql(through)?;
        self.tx
            .prepare_cached("DELETE FROM changes WHERE position <= ?1")?
            .execute(params![through])?;
        self.tx
            .prepare_cached(
                "UPDATE clock SET pruned_through = ?1 WHERE id = 1 AND pruned_through < ?1",
            )?
            .execute(params![through])?;
        Ok(())
    }

    fn key_revision(&self, key: &KeyRef) -> Result<Option<i64>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT revision FROM keys WHERE region = ?1 AND key_id = ?2")?
            .query_row(params![key.region.as_str(), key.id.as_str()], |r| r.get(0))
            .optional()?)
    }

    fn insert_version(&self, v: &KeyVersion, added: i64) -> Result<(), StoreError> {
        let exists = self
            .tx
            .prepare_cached(
                "SELECT 1 FROM key_versions WHERE region = ?1 AND key_id = ?2 AND version_id = ?3",
            )?
            .exists(params![v.region.as_str(), v.key.as_str(), v.id.to_hex()])?;
        if exists {
            return Err(StoreError::AlreadyExists);
        }
        insert_version(self.tx, v, added)
    }

    pub(super) fn create_key(
        &mut self,
        key: &Key,
        first: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        check_version_of(key, first)?;
        let at = key_ref(key);
        if self.key_revision(&at)?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let position = self.change(&Entity::Key(at))?;
        insert_key(self.tx, key, position)?;
        self.insert_version(first, position)?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn create_key_without_versions(
        &mut self,
        key: &Key,
    ) -> Result<Revision, StoreError> {
        let at = key_ref(key);
        if self.key_revision(&at)?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let position = self.change(&Entity::Key(at))?;
        insert_key(self.tx, key, position)?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn update_key(
        &mut self,
        key: &Key,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        let at = key_ref(key);
        check_revision(self.key_revision(&at)?, expected)?;
        let position = self.change(&Entity::Key(at))?;
        self.write_key(key, position)
    }

    pub(super) fn add_key_version(
        &mut self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        check_version_of(key, version)?;
        let at = key_ref(key);
        check_revision(self.key_revision(&at)?, expected)?;
        let position = self.change(&Entity::Key(at))?;
        self.insert_version(version, position)?;
        self.write_key(key, position)
    }

    pub(super) fn replace_key_version(
        &mut self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        check_version_of(key, version)?;
        let at = key_ref(key);
        check_revision(self.key_revision(&at)?, expected)?;
        let replaced = self
            .tx
            .prepare_cached(
                "UPDATE key_versions SET record = ?4
                 WHERE region = ?1 AND key_id = ?2 AND version_id = ?3",
            )?
            .execute(params![
                version.region.as_str(),
                version.key.as_str(),
                version.id.to_hex(),
                encode("key version", version)?
            ])?;
        if replaced == 0 {
            return Err(StoreError::NotFound);
        }
        let position = self.change(&Entity::Key(at))?;
        self.write_key(key, position)
    }

    fn write_key(&self, key: &Key, position: i64) -> Result<Revision, StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE keys SET account = ?3, revision = ?4, record = ?5
                 WHERE region = ?1 AND key_id = ?2",
            )?
            .execute(params![
                key.region.as_str(),
                key.id.as_str(),
                key.account.as_str(),
                position,
                encode("key", key)?
            ])?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn delete_key(
        &mut self,
        key: &KeyRef,
        expected: Revision,
    ) -> Result<(), StoreError> {
        check_revision(self.key_revision(key)?, expected)?;
        let (region, id) = (key.region.as_str(), key.id.as_str());
        let aliases = self
            .tx
            .prepare_cached("SELECT account, name FROM aliases WHERE region = ?1 AND target = ?2")?
            .query_map(params![region, id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (account, name) in aliases {
            let (Some(account), Some(name)) = (AccountId::parse(&account), AliasName::parse(&name))
            else {
                return Err(StoreError::Corrupt(
                    format!("alias {name} of key {id}"),
                    "malformed account or name".to_string(),
                ));
            };
            self.change(&Entity::Alias {
                account,
                region: key.region.clone(),
                name,
            })?;
        }
        let grants = self
            .tx
            .prepare_cached("SELECT grant_id FROM grants WHERE region = ?1 AND key_id = ?2")?
            .query_map(params![region, id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for grant in grants {
            let gid = GrantId::parse(&grant).ok_or_else(|| {
                StoreError::Corrupt(format!("grant {grant} of key {id}"), "malformed id".into())
            })?;
            self.change(&Entity::Grant {
                key: key.clone(),
                id: gid,
            })?;
        }
        self.change(&Entity::Key(key.clone()))?;
        for sql in [
            "DELETE FROM aliases WHERE region = ?1 AND target = ?2",
            "DELETE FROM grants WHERE region = ?1 AND key_id = ?2",
            "DELETE FROM key_versions WHERE region = ?1 AND key_id = ?2",
            "DELETE FROM keys WHERE region = ?1 AND key_id = ?2",
        ] {
            self.tx.prepare_cached(sql)?.execute(params![region, id])?;
        }
        Ok(())
    }

    fn alias_revision(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT revision FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3",
            )?
            .query_row(
                params![account.as_str(), region.as_str(), name.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// `NotFound` unless the alias's target is a key of its account and Region.
    fn check_target(&self, alias: &Alias) -> Result<(), StoreError> {
        let owner: Option<String> = self
            .tx
            .prepare_cached("SELECT account FROM keys WHERE region = ?1 AND key_id = ?2")?
            .query_row(params![alias.region.as_str(), alias.target.as_str()], |r| {
                r.get(0)
            })
            .optional()?;
        match owner {
            Some(a) if a == alias.account.as_str() => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }

    pub(super) fn create_alias(&mut self, alias: &Alias) -> Result<Revision, StoreError> {
        if self
            .alias_revision(&alias.account, &alias.region, &alias.name)?
            .is_some()
        {
            return Err(StoreError::AlreadyExists);
        }
        self.check_target(alias)?;
        let position = self.change(&alias_entity(alias))?;
        insert_alias(self.tx, alias, position)?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn update_alias(
        &mut self,
        alias: &Alias,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        check_revision(
            self.alias_revision(&alias.account, &alias.region, &alias.name)?,
            expected,
        )?;
        self.check_target(alias)?;
        let position = self.change(&alias_entity(alias))?;
        self.tx
            .prepare_cached(
                "UPDATE aliases SET target = ?4, revision = ?5, record = ?6
                 WHERE account = ?1 AND region = ?2 AND name = ?3",
            )?
            .execute(params![
                alias.account.as_str(),
                alias.region.as_str(),
                alias.name.as_str(),
                alias.target.as_str(),
                position,
                encode("alias", alias)?
            ])?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn delete_alias(
        &mut self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
        expected: Revision,
    ) -> Result<(), StoreError> {
        check_revision(self.alias_revision(account, region, name)?, expected)?;
        self.change(&Entity::Alias {
            account: account.clone(),
            region: region.clone(),
            name: name.clone(),
        })?;
        self.tx
            .prepare_cached("DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3")?
            .execute(params![account.as_str(), region.as_str(), name.as_str()])?;
        Ok(())
    }

    fn grant_exists(&self, key: &KeyRef, id: &GrantId) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT 1 FROM grants WHERE region = ?1 AND key_id = ?2 AND grant_id = ?3",
            )?
            .exists(params![key.region.as_str(), key.id.as_str(), id.as_str()])?)
    }

    pub(super) fn create_grant(&mut self, grant: &Grant) -> Result<Revision, StoreError> {
        if self.key_revision(&grant.key)?.is_none() {
            return Err(StoreError::NotFound);
        }
        if self.grant_exists(&grant.key, &grant.id)? {
            return Err(StoreError::AlreadyExists);
        }
        let position = self.change(&Entity::Grant {
            key: grant.key.clone(),
            id: grant.id.clone(),
        })?;
        insert_grant(self.tx, grant, position)?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn delete_grant(&mut self, key: &KeyRef, id: &GrantId) -> Result<(), StoreError> {
        if !self.grant_exists(key, id)? {
            return Err(StoreError::NotFound);
        }
        self.change(&Entity::Grant {
            key: key.clone(),
            id: id.clone(),
        })?;
        self.tx
            .prepare_cached(
                "DELETE FROM grants WHERE region = ?1 AND key_id = ?2 AND grant_id = ?3",
            )?
            .execute(params![key.region.as_str(), key.id.as_str(), id.as_str()])?;
        Ok(())
    }

    fn store_revision(&self, id: &CustomKeyStoreId) -> Result<Option<i64>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT revision FROM custom_key_stores WHERE id = ?1")?
            .query_row(params![id.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// `AlreadyExists` if another store has `s`'s name in its account and Region.
    fn check_store_name(&self, s: &CustomKeyStore) -> Result<(), StoreError> {
        let taken = self
            .tx
            .prepare_cached(
                "SELECT 1 FROM custom_key_stores
                 WHERE account = ?1 AND region = ?2 AND name = ?3 AND id <> ?4",
            )?
            .exists(params![
                s.account.as_str(),
                s.region.as_str(),
                s.name,
                s.id.as_str()
            ])?;
        if taken {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    pub(super) fn create_custom_key_store(
        &mut self,
        s: &CustomKeyStore,
    ) -> Result<Revision, StoreError> {
        if self.store_revision(&s.id)?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        self.check_store_name(s)?;
        let position = self.change(&Entity::CustomKeyStore(s.id.clone()))?;
        insert_custom_key_store(self.tx, s, position)?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn update_custom_key_store(
        &mut self,
        s: &CustomKeyStore,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        check_revision(self.store_revision(&s.id)?, expected)?;
        self.check_store_name(s)?;
        let position = self.change(&Entity::CustomKeyStore(s.id.clone()))?;
        self.tx
            .prepare_cached(
                "UPDATE custom_key_stores SET account = ?2, region = ?3, name = ?4, revision = ?5,
                 record = ?6 WHERE id = ?1",
            )?
            .execute(params![
                s.id.as_str(),
                s.account.as_str(),
                s.region.as_str(),
                s.name,
                position,
                encode("custom key store", s)?
            ])?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) fn delete_custom_key_store(
        &mut self,
        id: &CustomKeyStoreId,
        expected: Revision,
    ) -> Result<(), StoreError> {
        check_revision(self.store_revision(id)?, expected)?;
        self.change(&Entity::CustomKeyStore(id.clone()))?;
        self.tx
            .prepare_cached("DELETE FROM custom_key_stores WHERE id = ?1")?
            .execute(params![id.as_str()])?;
        Ok(())
    }
}

pub(crate) fn key_ref(key: &Key) -> KeyRef {
    KeyRef {
        region: key.region.clone(),
        id: key.id.clone(),
    }
}

pub(crate) fn alias_entity(alias: &Alias) -> Entity {
    Entity::Alias {
        account: alias.account.clone(),
        region: alias.region.clone(),
        name: alias.name.clone(),
    }
}

/// A version must belong to the key it is written with.
pub(crate) fn check_version_of(key: &Key, version: &KeyVersion) -> Result<(), StoreError> {
    if version.key != key.id || version.region != key.region {
        return Err(StoreError::Invalid(format!(
            "version {} belongs to key {} in {}, not {} in {}",
            version.id, version.key, version.region, key.id, key.region
        )));
    }
    Ok(())
}

// ---- Inserts, shared with the migration (which draws positions without recording changes).

/// Draws the next feed position: the one-row clock, updated under the write lock, so positions
/// are drawn in commit order.
pub(super) fn draw_position(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE clock SET position = position + 1 WHERE id = 1 RETURNING position")?
        .query_row([], |r| r.get(0))?)
}

pub(super) fn insert_key(conn: &Connection, key: &Key, revision: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO keys (region, key_id, account, revision, record) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        key.region.as_str(),
        key.id.as_str(),
        key.account.as_str(),
        revision,
        encode("key", key)?
    ])?;
    Ok(())
}

pub(super) fn insert_version(
    conn: &Connection,
    v: &KeyVersion,
    added: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO key_versions (region, key_id, version_id, added, record)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        v.region.as_str(),
        v.key.as_str(),
        v.id.to_hex(),
        added,
        encode("key version", v)?
    ])?;
    Ok(())
}

pub(super) fn insert_alias(
    conn: &Connection,
    alias: &Alias,
    revision: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO aliases (account, region, name, target, revision, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        alias.account.as_str(),
        alias.region.as_str(),
        alias.name.as_str(),
        alias.target.as_str(),
        revision,
        encode("alias", alias)?
    ])?;
    Ok(())
}

pub(super) fn insert_grant(
    conn: &Connection,
    grant: &Grant,
    revision: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO grants (region, key_id, grant_id, revision, record)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        grant.key.region.as_str(),
        grant.key.id.as_str(),
        grant.id.as_str(),
        revision,
        encode("grant", grant)?
    ])?;
    Ok(())
}

pub(super) fn insert_custom_key_store(
    conn: &Connection,
    s: &CustomKeyStore,
    revision: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO custom_key_stores (id, account, region, name, revision, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        s.id.as_str(),
        s.account.as_str(),
        s.region.as_str(),
        s.name,
        revision,
        encode("custom key store", s)?
    ])?;
    Ok(())
}
