//! The SQL of key usage records (see `Store::record_key_uses`).

use kms_model::KeyRef;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::usage::{newest_per_key, TRACKING_START};
use crate::{KeyUse, StoreError, UsageOperation};

/// Writes each key's newest use unless its record is as new, skipping keys that are gone.
pub(super) fn record(tx: &Transaction<'_>, uses: &[KeyUse]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO key_usage (region, key_id, operation, at_ms, request_id)
         SELECT ?1, ?2, ?3, ?4, ?5
         WHERE EXISTS (SELECT 1 FROM keys WHERE region = ?1 AND key_id = ?2)
         ON CONFLICT (region, key_id) DO UPDATE SET operation = excluded.operation,
             at_ms = excluded.at_ms, request_id = excluded.request_id
         WHERE key_usage.at_ms < excluded.at_ms",
    )?;
    for u in newest_per_key(uses) {
        stmt.execute(params![
            u.key.region.as_str(),
            u.key.id.as_str(),
            u.operation.name(),
            u.at_ms,
            u.request_id
        ])?;
    }
    Ok(())
}

pub(super) fn last_use(conn: &Connection, key: &KeyRef) -> Result<Option<KeyUse>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT operation, at_ms, request_id FROM key_usage WHERE region = ?1 AND key_id = ?2",
        )?
        .query_row(params![key.region.as_str(), key.id.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((operation, at_ms, request_id)) = row else {
        return Ok(None);
    };
    let operation = UsageOperation::parse(&operation).ok_or_else(|| {
        StoreError::Corrupt(
            format!("last use of key {}", key.id),
            format!("unknown operation {operation:?}"),
        )
    })?;
    Ok(Some(KeyUse {
        key: key.clone(),
        operation,
        at_ms,
        request_id,
    }))
}

pub(super) fn tracking_start(conn: &Connection) -> Result<i64, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row(params![TRACKING_START], |r| r.get(0))
        .optional()?;
    let text = text.ok_or_else(|| {
        StoreError::Corrupt("usage tracking start".to_string(), "missing".to_string())
    })?;
    text.parse()
        .map_err(|_| StoreError::Corrupt("usage tracking start".to_string(), text.clone()))
}
