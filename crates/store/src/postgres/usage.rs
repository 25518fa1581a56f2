//! The SQL of key usage records (see `Store::record_key_uses`).

use deadpool_postgres::ClientWrapper;
use kms_model::KeyRef;

use crate::usage::{newest_per_key, TRACKING_START};
use crate::{KeyUse, StoreError, UsageOperation};

/// Writes each key's newest use unless its record is as new, in one statement. The keys' rows
/// are share-locked in key order: a key being deleted is waited for and then skipped (no use
/// outlives its key), and writers racing on the same keys lock them in one order.
pub(super) async fn record(c: &ClientWrapper, uses: &[KeyUse]) -> Result<(), StoreError> {
    let newest = newest_per_key(uses);
    let regions: Vec<&str> = newest.iter().map(|u| u.key.region.as_str()).collect();
    let ids: Vec<&str> = newest.iter().map(|u| u.key.id.as_str()).collect();
    let operations: Vec<&str> = newest.iter().map(|u| u.operation.name()).collect();
    let at: Vec<i64> = newest.iter().map(|u| u.at_ms).collect();
    let requests: Vec<&str> = newest.iter().map(|u| u.request_id.as_str()).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO key_usage (region, key_id, operation, at_ms, request_id)
             SELECT u.region, u.key_id, u.operation, u.at_ms, u.request_id
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
                 AS u (region, key_id, operation, at_ms, request_id)
             JOIN keys k ON k.region = u.region AND k.key_id = u.key_id
             ORDER BY u.region, u.key_id
             FOR KEY SHARE OF k
             ON CONFLICT (region, key_id) DO UPDATE SET operation = excluded.operation,
                 at_ms = excluded.at_ms, request_id = excluded.request_id
             WHERE key_usage.at_ms < excluded.at_ms",
        )
        .await?;
    c.execute(&stmt, &[&regions, &ids, &operations, &at, &requests])
        .await?;
    Ok(())
}

pub(super) async fn last_use(
    c: &ClientWrapper,
    key: &KeyRef,
) -> Result<Option<KeyUse>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT operation, at_ms, request_id FROM key_usage WHERE region = $1 AND key_id = $2",
        )
        .await?;
    let Some(row) = c
        .query_opt(&stmt, &[&key.region.as_str(), &key.id.as_str()])
        .await?
    else {
        return Ok(None);
    };
    let operation: String = row.try_get(0)?;
    let operation = UsageOperation::parse(&operation).ok_or_else(|| {
        StoreError::Corrupt(
            format!("last use of key {}", key.id),
            format!("unknown operation {operation:?}"),
        )
    })?;
    Ok(Some(KeyUse {
        key: key.clone(),
        operation,
        at_ms: row.try_get(1)?,
        request_id: row.try_get(2)?,
    }))
}

pub(super) async fn tracking_start(c: &ClientWrapper) -> Result<i64, StoreError> {
    let stmt = c
        .prepare_cached("SELECT value FROM strongroom_meta WHERE name = $1")
        .await?;
    let row = c
        .query_opt(&stmt, &[&TRACKING_START])
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt("usage tracking start".to_string(), "missing".to_string())
        })?;
    let text: String = row.try_get(0)?;
    text.parse()
        .map_err(|_| StoreError::Corrupt("usage tracking start".to_string(), text.clone()))
}
