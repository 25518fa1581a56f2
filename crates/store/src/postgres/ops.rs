//! The SQL of each operation. Reads are one statement each (one snapshot) or run in a
//! repeatable-read transaction; writes run in a [`Writer`], which holds the clock row's lock
//! from its first statement to commit.

use std::collections::BTreeMap;

use deadpool_postgres::ClientWrapper;
use deadpool_postgres::Transaction;
use kms_model::{
    AccountId, Alias, AliasName, CustomKeyStore, CustomKeyStoreId, Grant, GrantId, Key, KeyId,
    KeyRef, KeyVersion, Region, Revision,
};
use serde::de::DeserializeOwned;
use tokio_postgres::Row;

use crate::sqlite::ops::{
    alias_entity, check_version_of, decode, encode, entity_from_row, entity_to_row, key_ref, page,
};
use crate::{
    Change, ChangeBatch, Entity, KeyBundle, Page, PageRequest, Snapshot, StoreError, Versioned,
    MAX_PAGE,
};

fn to_sql(position: u64) -> Result<i64, StoreError> {
    i64::try_from(position)
        .map_err(|_| StoreError::Database(format!("position {position} out of range")))
}

fn from_sql(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(what.to_string(), format!("negative position {value}")))
}

fn versioned<T: DeserializeOwned>(
    what: impl Fn() -> String,
    revision: i64,
    json: &str,
) -> Result<Versioned<T>, StoreError> {
    Ok(Versioned {
        record: decode(&what, json)?,
        revision: Revision(from_sql(&what(), revision)?),
    })
}

/// A `(revision, record)` row at columns `at` and `at + 1`.
fn versioned_at<T: DeserializeOwned>(
    what: impl Fn() -> String,
    row: &Row,
    at: usize,
) -> Result<Versioned<T>, StoreError> {
    let revision: i64 = row.try_get(at)?;
    let json: &str = row.try_get(at + 1)?;
    versioned(what, revision, json)
}

fn check_revision(found: Option<i64>, expected: Revision) -> Result<(), StoreError> {
    match found {
        None => Err(StoreError::NotFound),
        Some(r) if u64::try_from(r).ok() == Some(expected.0) => Ok(()),
        Some(_) => Err(StoreError::Conflict),
    }
}

fn fetch_limit(page: &PageRequest) -> i64 {
    i64::try_from(page.effective_limit() + 1).unwrap_or(MAX_PAGE as i64)
}

// ---- Reads

/// One statement, so one snapshot: the key with its versions, aliases and grants as JSON arrays
/// of their stored text.
const GET_KEY: &str = r#"
SELECT k.revision, k.record,
  (SELECT coalesce(json_agg(v.record ORDER BY v.added), '[]'::json)::text
     FROM key_versions v WHERE v.region = k.region AND v.key_id = k.key_id),
  (SELECT coalesce(json_agg(json_build_array(a.revision, a.record) ORDER BY a.name), '[]'::json)::text
     FROM aliases a WHERE a.region = k.region AND a.target = k.key_id AND a.account = k.account),
  (SELECT coalesce(json_agg(json_build_array(g.revision, g.record) ORDER BY g.grant_id), '[]'::json)::text
     FROM grants g WHERE g.region = k.region AND g.key_id = k.key_id)
FROM keys k WHERE k.region = $1 AND k.key_id = $2
"#;

fn versioned_list<T: DeserializeOwned>(
    what: impl Fn() -> String,
    json: &str,
) -> Result<Vec<Versioned<T>>, StoreError> {
    let rows: Vec<(i64, String)> = decode(&what, json)?;
    rows.iter()
        .map(|(revision, record)| versioned(&what, *revision, record))
        .collect()
}

pub(super) async fn get_key(
    c: &ClientWrapper,
    key: &KeyRef,
) -> Result<Option<KeyBundle>, StoreError> {
    let stmt = c.prepare_cached(GET_KEY).await?;
    let Some(row) = c
        .query_opt(&stmt, &[&key.region.as_str(), &key.id.as_str()])
        .await?
    else {
        return Ok(None);
    };
    let what = || format!("key {}", key.id);
    let record = versioned_at(what, &row, 0)?;
    let versions: Vec<String> = decode(what, row.try_get(2)?)?;
    let versions = versions
        .iter()
        .map(|json| decode(|| format!("version of key {}", key.id), json))
        .collect::<Result<Vec<KeyVersion>, _>>()?;
    Ok(Some(KeyBundle {
        key: record,
        versions,
        aliases: versioned_list(|| format!("aliases of key {}", key.id), row.try_get(3)?)?,
        grants: versioned_list(|| format!("grants of key {}", key.id), row.try_get(4)?)?,
    }))
}

/// Everything, read in one repeatable-read transaction (one snapshot).
pub(super) async fn load(tx: &Transaction<'_>) -> Result<Snapshot, StoreError> {
    let position: i64 = tx
        .query_one("SELECT position FROM clock WHERE id = 1", &[])
        .await?
        .try_get(0)?;
    let mut bundles: BTreeMap<KeyRef, KeyBundle> = BTreeMap::new();
    for row in tx.query("SELECT revision, record FROM keys", &[]).await? {
        let key: Versioned<Key> = versioned_at(|| "key".to_string(), &row, 0)?;
        bundles.insert(
            key_ref(&key.record),
            KeyBundle {
                key,
                versions: Vec::new(),
                aliases: Vec::new(),
                grants: Vec::new(),
            },
        );
    }
    for row in tx
        .query("SELECT record FROM key_versions ORDER BY added", &[])
        .await?
    {
        let v: KeyVersion = decode(|| "key version".to_string(), row.try_get(0)?)?;
        let at = KeyRef {
            region: v.region.clone(),
            id: v.key.clone(),
        };
        if let Some(b) = bundles.get_mut(&at) {
            b.versions.push(v);
        }
    }
    for row in tx
        .query("SELECT revision, record FROM aliases ORDER BY name", &[])
        .await?
    {
        let a: Versioned<Alias> = versioned_at(|| "alias".to_string(), &row, 0)?;
        let at = KeyRef {
            region: a.record.region.clone(),
            id: a.record.target.clone(),
        };
        if let Some(b) = bundles.get_mut(&at) {
            b.aliases.push(a);
        }
    }
    for row in tx
        .query("SELECT revision, record FROM grants ORDER BY grant_id", &[])
        .await?
    {
        let g: Versioned<Grant> = versioned_at(|| "grant".to_string(), &row, 0)?;
        if let Some(b) = bundles.get_mut(&g.record.key) {
            b.grants.push(g);
        }
    }
    let custom_key_stores = tx
        .query(
            "SELECT revision, record FROM custom_key_stores ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|row| versioned_at(|| "custom key store".to_string(), row, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot {
        keys: bundles.into_values().collect(),
        custom_key_stores,
        position: from_sql("clock", position)?,
    })
}

/// `(sort key, revision, record)` rows into a page.
fn sorted_page<T: DeserializeOwned>(
    what: &str,
    rows: &[Row],
    req: &PageRequest,
) -> Result<Page<Versioned<T>>, StoreError> {
    let rows = rows
        .iter()
        .map(|row| {
            let sort: String = row.try_get(0)?;
            let item = versioned_at(|| format!("{what} {sort}"), row, 1)?;
            Ok((sort, item))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(page(rows, req.effective_limit()))
}

pub(super) async fn list_keys(
    c: &ClientWrapper,
    account: &AccountId,
    region: &Region,
    req: &PageRequest,
) -> Result<Page<Versioned<Key>>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT key_id, revision, record FROM keys
             WHERE account = $1 AND region = $2 AND key_id > $3 ORDER BY key_id LIMIT $4",
        )
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &account.as_str(),
                &region.as_str(),
                &req.after.as_deref().unwrap_or(""),
                &fetch_limit(req),
            ],
        )
        .await?;
    sorted_page("key", &rows, req)
}

pub(super) async fn get_alias(
    c: &ClientWrapper,
    account: &AccountId,
    region: &Region,
    name: &AliasName,
) -> Result<Option<Versioned<Alias>>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT revision, record FROM aliases
             WHERE account = $1 AND region = $2 AND name = $3",
        )
        .await?;
    c.query_opt(
        &stmt,
        &[&account.as_str(), &region.as_str(), &name.as_str()],
    )
    .await?
    .map(|row| versioned_at(|| format!("alias {name}"), &row, 0))
    .transpose()
}

pub(super) async fn list_aliases(
    c: &ClientWrapper,
    account: &AccountId,
    region: &Region,
    key: Option<&KeyId>,
    req: &PageRequest,
) -> Result<Page<Versioned<Alias>>, StoreError> {
    let after = req.after.as_deref().unwrap_or("");
    let limit = fetch_limit(req);
    let rows = match key {
        None => {
            let stmt = c
                .prepare_cached(
                    "SELECT name, revision, record FROM aliases
                     WHERE account = $1 AND region = $2 AND name > $3 ORDER BY name LIMIT $4",
                )
                .await?;
            c.query(
                &stmt,
                &[&account.as_str(), &region.as_str(), &after, &limit],
            )
            .await?
        }
        Some(key) => {
            let stmt = c
                .prepare_cached(
                    "SELECT name, revision, record FROM aliases
                     WHERE account = $1 AND region = $2 AND target = $5 AND name > $3
                     ORDER BY name LIMIT $4",
                )
                .await?;
            c.query(
                &stmt,
                &[
                    &account.as_str(),
                    &region.as_str(),
                    &after,
                    &limit,
                    &key.as_str(),
                ],
            )
            .await?
        }
    };
    sorted_page("alias", &rows, req)
}

pub(super) async fn list_grants(
    c: &ClientWrapper,
    key: &KeyRef,
    req: &PageRequest,
) -> Result<Page<Versioned<Grant>>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT grant_id, revision, record FROM grants
             WHERE region = $1 AND key_id = $2 AND grant_id > $3 ORDER BY grant_id LIMIT $4",
        )
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &key.region.as_str(),
                &key.id.as_str(),
                &req.after.as_deref().unwrap_or(""),
                &fetch_limit(req),
            ],
        )
        .await?;
    sorted_page("grant", &rows, req)
}

pub(super) async fn get_custom_key_store(
    c: &ClientWrapper,
    id: &CustomKeyStoreId,
) -> Result<Option<Versioned<CustomKeyStore>>, StoreError> {
    let stmt = c
        .prepare_cached("SELECT revision, record FROM custom_key_stores WHERE id = $1")
        .await?;
    c.query_opt(&stmt, &[&id.as_str()])
        .await?
        .map(|row| versioned_at(|| format!("custom key store {id}"), &row, 0))
        .transpose()
}

/// One statement (one snapshot): the clock, then the changes after `position`. Reading the
/// clock and the changes apart could miss changes pruned in between.
const CHANGES_SINCE: &str = "
SELECT c.position, c.pruned_through, ch.position, ch.kind, ch.region, ch.account, ch.key_id,
       ch.name
FROM clock c
LEFT JOIN LATERAL (
    SELECT * FROM changes WHERE position > $1 ORDER BY position LIMIT $2
) ch ON true
WHERE c.id = 1
ORDER BY ch.position
";

pub(super) async fn changes_since(
    c: &ClientWrapper,
    position: u64,
    limit: usize,
) -> Result<ChangeBatch, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let stmt = c.prepare_cached(CHANGES_SINCE).await?;
    let rows = c
        .query(
            &stmt,
            &[&to_sql(position)?, &i64::try_from(limit).unwrap_or(1)],
        )
        .await?;
    let first = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("clock".to_string(), "no row".to_string()))?;
    let last = from_sql("clock", first.try_get(0)?)?;
    let pruned_through = from_sql("clock", first.try_get(1)?)?;
    if position < pruned_through || position > last {
        return Err(StoreError::ResyncNeeded(position));
    }
    let mut changes = Vec::new();
    for row in &rows {
        let Some(at) = row.try_get::<_, Option<i64>>(2)? else {
            continue;
        };
        let at = from_sql("change", at)?;
        let kind: String = row.try_get(3)?;
        let entity = entity_from_row(
            &kind,
            row.try_get(4)?,
            row.try_get(5)?,
            row.try_get(6)?,
            row.try_get(7)?,
        )
        .ok_or_else(|| StoreError::Corrupt(format!("change {at}"), kind.clone()))?;
        changes.push(Change {
            position: at,
            entity,
        });
    }
    let next_position = changes.last().map_or(position, |c| c.position);
    Ok(ChangeBatch {
        changes,
        next_position,
    })
}

// ---- Writes

/// A write transaction. It locks the clock row first: every check it makes after that sees
/// every write committed before it (READ COMMITTED reads each statement's own snapshot), and no
/// other writer runs until it commits, so its compare-and-swap holds and its positions are
/// drawn in commit order.
pub(super) struct Writer<'a> {
    tx: &'a Transaction<'a>,
    start: i64,
    position: i64,
}

impl<'a> Writer<'a> {
    pub(super) async fn begin(tx: &'a Transaction<'a>) -> Result<Writer<'a>, StoreError> {
        let stmt = tx
            .prepare_cached("SELECT position FROM clock WHERE id = 1 FOR UPDATE")
            .await?;
        let position: i64 = tx.query_one(&stmt, &[]).await?.try_get(0)?;
        Ok(Writer {
            tx,
            start: position,
            position,
        })
    }

    /// Moves the clock to the last position drawn and keeps the feed's last `kept` changes.
    pub(super) async fn finish(self, kept: u64) -> Result<(), StoreError> {
        if self.position == self.start {
            return Ok(());
        }
        let through = self.position.saturating_sub(to_sql(kept)?).max(0);
        let stmt = self
            .tx
            .prepare_cached(
                "UPDATE clock SET position = $1, pruned_through = GREATEST(pruned_through, $2)
                 WHERE id = 1",
            )
            .await?;
        self.tx.execute(&stmt, &[&self.position, &through]).await?;
        if through > 0 {
            let stmt = self
                .tx
                .prepare_cached("DELETE FROM changes WHERE position <= $1")
                .await?;
            self.tx.execute(&stmt, &[&through]).await?;
        }
        Ok(())
    }

    async fn exec(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.execute(&stmt, params).await?)
    }

    async fn one_i64(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<i64>, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        match self.tx.query_opt(&stmt, params).await? {
            Some(row) => Ok(Some(row.try_get(0)?)),
            None => Ok(None),
        }
    }

    /// Draws the next position for a change of `entity` and records it in the feed.
    async fn change(&mut self, entity: &Entity) -> Result<i64, StoreError> {
        self.position += 1;
        let (kind, region, account, key_id, name) = entity_to_row(entity);
        self.exec(
            "INSERT INTO changes (position, kind, region, account, key_id, name)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&self.position, &kind, &region, &account, &key_id, &name],
        )
        .await?;
        Ok(self.position)
    }

    async fn key_revision(&self, key: &KeyRef) -> Result<Option<i64>, StoreError> {
        self.one_i64(
            "SELECT revision FROM keys WHERE region = $1 AND key_id = $2",
            &[&key.region.as_str(), &key.id.as_str()],
        )
        .await
    }

    async fn insert_version(&self, v: &KeyVersion, added: i64) -> Result<(), StoreError> {
        let exists = self
            .one_i64(
                "SELECT 1::bigint FROM key_versions
                 WHERE region = $1 AND key_id = $2 AND version_id = $3",
                &[&v.region.as_str(), &v.key.as_str(), &v.id.to_hex()],
            )
            .await?
            .is_some();
        if exists {
            return Err(StoreError::AlreadyExists);
        }
        self.exec(
            "INSERT INTO key_versions (region, key_id, version_id, added, record)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &v.region.as_str(),
                &v.key.as_str(),
                &v.id.to_hex(),
                &added,
                &encode("key version", v)?,
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn create_key(
        &mut self,
        key: &Key,
        first: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        check_version_of(key, first)?;
        let at = key_ref(key);
        if self.key_revision(&at).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let position = self.change(&Entity::Key(at)).await?;
        self.insert_key(key, position).await?;
        self.insert_version(first, position).await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn create_key_without_versions(
        &mut self,
        key: &Key,
    ) -> Result<Revision, StoreError> {
        let at = key_ref(key);
        if self.key_revision(&at).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let position = self.change(&Entity::Key(at)).await?;
        self.insert_key(key, position).await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    async fn insert_key(&self, key: &Key, position: i64) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO keys (region, key_id, account, revision, record)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &key.region.as_str(),
                &key.id.as_str(),
                &key.account.as_str(),
                &position,
                &encode("key", key)?,
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn update_key(
        &mut self,
        key: &Key,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        let at = key_ref(key);
        check_revision(self.key_revision(&at).await?, expected)?;
        let position = self.change(&Entity::Key(at)).await?;
        self.write_key(key, position).await
    }

    pub(super) async fn add_key_version(
        &mut self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        check_version_of(key, version)?;
        let at = key_ref(key);
        check_revision(self.key_revision(&at).await?, expected)?;
        let position = self.change(&Entity::Key(at)).await?;
        self.insert_version(version, position).await?;
        self.write_key(key, position).await
    }

    pub(super) async fn replace_key_version(
        &mut self,
        key: &Key,
        expected: Revision,
        version: &KeyVersion,
    ) -> Result<Revision, StoreError> {
        check_version_of(key, version)?;
        let at = key_ref(key);
        check_revision(self.key_revision(&at).await?, expected)?;
        let replaced = self
            .exec(
                "UPDATE key_versions SET record = $4
                 WHERE region = $1 AND key_id = $2 AND version_id = $3",
                &[
                    &version.region.as_str(),
                    &version.key.as_str(),
                    &version.id.to_hex(),
                    &encode("key version", version)?,
                ],
            )
            .await?;
        if replaced == 0 {
            return Err(StoreError::NotFound);
        }
        let position = self.change(&Entity::Key(at)).await?;
        self.write_key(key, position).await
    }

    async fn write_key(&self, key: &Key, position: i64) -> Result<Revision, StoreError> {
        self.exec(
            "UPDATE keys SET account = $3, revision = $4, record = $5
             WHERE region = $1 AND key_id = $2",
            &[
                &key.region.as_str(),
                &key.id.as_str(),
                &key.account.as_str(),
                &position,
                &encode("key", key)?,
            ],
        )
        .await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn delete_key(
        &mut self,
        key: &KeyRef,
        expected: Revision,
    ) -> Result<(), StoreError> {
        check_revision(self.key_revision(key).await?, expected)?;
        let (region, id) = (key.region.as_str(), key.id.as_str());
        let stmt = self
            .tx
            .prepare_cached(
                "SELECT account, name FROM aliases WHERE region = $1 AND target = $2 ORDER BY name",
            )
            .await?;
        for row in self.tx.query(&stmt, &[&region, &id]).await? {
            let (account, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
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
            })
            .await?;
        }
        let stmt = self
            .tx
            .prepare_cached(
                "SELECT grant_id FROM grants WHERE region = $1 AND key_id = $2 ORDER BY grant_id",
            )
            .await?;
        for row in self.tx.query(&stmt, &[&region, &id]).await? {
            let grant: String = row.try_get(0)?;
            let gid = GrantId::parse(&grant).ok_or_else(|| {
                StoreError::Corrupt(format!("grant {grant} of key {id}"), "malformed id".into())
            })?;
            self.change(&Entity::Grant {
                key: key.clone(),
                id: gid,
            })
            .await?;
        }
        self.change(&Entity::Key(key.clone())).await?;
        for sql in [
            "DELETE FROM aliases WHERE region = $1 AND target = $2",
            "DELETE FROM grants WHERE region = $1 AND key_id = $2",
            "DELETE FROM key_versions WHERE region = $1 AND key_id = $2",
            "DELETE FROM keys WHERE region = $1 AND key_id = $2",
        ] {
            self.exec(sql, &[&region, &id]).await?;
        }
        Ok(())
    }

    async fn alias_revision(
        &self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
    ) -> Result<Option<i64>, StoreError> {
        self.one_i64(
            "SELECT revision FROM aliases WHERE account = $1 AND region = $2 AND name = $3",
            &[&account.as_str(), &region.as_str(), &name.as_str()],
        )
        .await
    }

    /// `NotFound` unless the alias's target is a key of its account and Region.
    async fn check_target(&self, alias: &Alias) -> Result<(), StoreError> {
        let stmt = self
            .tx
            .prepare_cached("SELECT account FROM keys WHERE region = $1 AND key_id = $2")
            .await?;
        let owner: Option<String> = match self
            .tx
            .query_opt(&stmt, &[&alias.region.as_str(), &alias.target.as_str()])
            .await?
        {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
        match owner {
            Some(a) if a == alias.account.as_str() => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }

    pub(super) async fn create_alias(&mut self, alias: &Alias) -> Result<Revision, StoreError> {
        if self
            .alias_revision(&alias.account, &alias.region, &alias.name)
            .await?
            .is_some()
        {
            return Err(StoreError::AlreadyExists);
        }
        self.check_target(alias).await?;
        let position = self.change(&alias_entity(alias)).await?;
        self.exec(
            "INSERT INTO aliases (account, region, name, target, revision, record)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &alias.account.as_str(),
                &alias.region.as_str(),
                &alias.name.as_str(),
                &alias.target.as_str(),
                &position,
                &encode("alias", alias)?,
            ],
        )
        .await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn update_alias(
        &mut self,
        alias: &Alias,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        check_revision(
            self.alias_revision(&alias.account, &alias.region, &alias.name)
                .await?,
            expected,
        )?;
        self.check_target(alias).await?;
        let position = self.change(&alias_entity(alias)).await?;
        self.exec(
            "UPDATE aliases SET target = $4, revision = $5, record = $6
             WHERE account = $1 AND region = $2 AND name = $3",
            &[
                &alias.account.as_str(),
                &alias.region.as_str(),
                &alias.name.as_str(),
                &alias.target.as_str(),
                &position,
                &encode("alias", alias)?,
            ],
        )
        .await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn delete_alias(
        &mut self,
        account: &AccountId,
        region: &Region,
        name: &AliasName,
        expected: Revision,
    ) -> Result<(), StoreError> {
        check_revision(self.alias_revision(account, region, name).await?, expected)?;
        self.change(&Entity::Alias {
            account: account.clone(),
            region: region.clone(),
            name: name.clone(),
        })
        .await?;
        self.exec(
            "DELETE FROM aliases WHERE account = $1 AND region = $2 AND name = $3",
            &[&account.as_str(), &region.as_str(), &name.as_str()],
        )
        .await?;
        Ok(())
    }

    async fn grant_exists(&self, key: &KeyRef, id: &GrantId) -> Result<bool, StoreError> {
        Ok(self
            .one_i64(
                "SELECT 1::bigint FROM grants WHERE region = $1 AND key_id = $2 AND grant_id = $3",
                &[&key.region.as_str(), &key.id.as_str(), &id.as_str()],
            )
            .await?
            .is_some())
    }

    pub(super) async fn create_grant(&mut self, grant: &Grant) -> Result<Revision, StoreError> {
        if self.key_revision(&grant.key).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        if self.grant_exists(&grant.key, &grant.id).await? {
            return Err(StoreError::AlreadyExists);
        }
        let position = self
            .change(&Entity::Grant {
                key: grant.key.clone(),
                id: grant.id.clone(),
            })
            .await?;
        self.exec(
            "INSERT INTO grants (region, key_id, grant_id, revision, record)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &grant.key.region.as_str(),
                &grant.key.id.as_str(),
                &grant.id.as_str(),
                &position,
                &encode("grant", grant)?,
            ],
        )
        .await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn delete_grant(
        &mut self,
        key: &KeyRef,
        id: &GrantId,
    ) -> Result<(), StoreError> {
        if !self.grant_exists(key, id).await? {
            return Err(StoreError::NotFound);
        }
        self.change(&Entity::Grant {
            key: key.clone(),
            id: id.clone(),
        })
        .await?;
        self.exec(
            "DELETE FROM grants WHERE region = $1 AND key_id = $2 AND grant_id = $3",
            &[&key.region.as_str(), &key.id.as_str(), &id.as_str()],
        )
        .await?;
        Ok(())
    }

    async fn store_revision(&self, id: &CustomKeyStoreId) -> Result<Option<i64>, StoreError> {
        self.one_i64(
            "SELECT revision FROM custom_key_stores WHERE id = $1",
            &[&id.as_str()],
        )
        .await
    }

    /// `AlreadyExists` if another store has `s`'s name in its account and Region.
    async fn check_store_name(&self, s: &CustomKeyStore) -> Result<(), StoreError> {
        let taken = self
            .one_i64(
                "SELECT 1::bigint FROM custom_key_stores
                 WHERE account = $1 AND region = $2 AND name = $3 AND id <> $4",
                &[
                    &s.account.as_str(),
                    &s.region.as_str(),
                    &s.name,
                    &s.id.as_str(),
                ],
            )
            .await?
            .is_some();
        if taken {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    pub(super) async fn create_custom_key_store(
        &mut self,
        s: &CustomKeyStore,
    ) -> Result<Revision, StoreError> {
        if self.store_revision(&s.id).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        self.check_store_name(s).await?;
        let position = self.change(&Entity::CustomKeyStore(s.id.clone())).await?;
        self.exec(
            "INSERT INTO custom_key_stores (id, account, region, name, revision, record)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &s.id.as_str(),
                &s.account.as_str(),
                &s.region.as_str(),
                &s.name,
                &position,
                &encode("custom key store", s)?,
            ],
        )
        .await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn update_custom_key_store(
        &mut self,
        s: &CustomKeyStore,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        check_revision(self.store_revision(&s.id).await?, expected)?;
        self.check_store_name(s).await?;
        let position = self.change(&Entity::CustomKeyStore(s.id.clone())).await?;
        self.exec(
            "UPDATE custom_key_stores SET account = $2, region = $3, name = $4, revision = $5,
             record = $6 WHERE id = $1",
            &[
                &s.id.as_str(),
                &s.account.as_str(),
                &s.region.as_str(),
                &s.name,
                &position,
                &encode("custom key store", s)?,
            ],
        )
        .await?;
        Ok(Revision(from_sql("clock", position)?))
    }

    pub(super) async fn delete_custom_key_store(
        &mut self,
        id: &CustomKeyStoreId,
        expected: Revision,
    ) -> Result<(), StoreError> {
        check_revision(self.store_revision(id).await?, expected)?;
        self.change(&Entity::CustomKeyStore(id.clone())).await?;
        self.exec(
            "DELETE FROM custom_key_stores WHERE id = $1",
            &[&id.as_str()],
        )
        .await?;
        Ok(())
    }
}
