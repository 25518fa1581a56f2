//! Limit/Marker paging shared by the List operations. A marker is the sort key of the last item
//! returned, made opaque; the next page starts after it, so deletions between pages lose nothing.
//! Lists the store keeps (keys, aliases, grants) are paged by the store (keyset pagination); the
//! short lists inside one record (tags, rotations) are paged here.

use kms_api::{ErrorCode, KmsError};

pub(crate) struct PageLimits {
    pub default: i32,
    pub max: i32,
}

pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
    pub truncated: bool,
}

const MARKER_PREFIX: &str = "sr1.";

pub(crate) fn encode_marker(key: &str) -> String {
    format!("{MARKER_PREFIX}{}", hex::encode(key))
}

fn decode_marker(marker: &str) -> Result<String, KmsError> {
    let invalid = || {
        KmsError::new(ErrorCode::InvalidMarkerException, "The request was rejected because the marker that specifies where pagination should next begin is not valid.")
    };
    let hex_part = marker.strip_prefix(MARKER_PREFIX).ok_or_else(invalid)?;
    let bytes = hex::decode(hex_part).map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// The store's page request for a List operation's `Limit` and `Marker`.
pub(crate) fn store_page(
    limit: Option<i32>,
    marker: Option<&str>,
    limits: PageLimits,
) -> Result<store::PageRequest, KmsError> {
    Ok(store::PageRequest {
        after: marker.map(decode_marker).transpose()?,
        limit: clamp(limit, &limits),
    })
}

fn clamp(limit: Option<i32>, limits: &PageLimits) -> usize {
    usize::try_from(limit.unwrap_or(limits.default).clamp(1, limits.max)).unwrap_or(1)
}

/// One page of `sorted` (sorted by `key`), after `marker`, at most `limit` long.
pub(crate) fn page<T>(
    sorted: Vec<T>,
    key: impl Fn(&T) -> String,
    limit: Option<i32>,
    marker: Option<&str>,
    limits: PageLimits,
) -> Result<Page<T>, KmsError> {
    let limit = clamp(limit, &limits);
    let after = marker.map(decode_marker).transpose()?;
    let mut rest = sorted
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|a| key(item) > *a));
    let items: Vec<T> = rest.by_ref().take(limit).collect();
    let truncated = rest.next().is_some();
    let next_marker = if truncated {
        items.last().map(|i| encode_marker(&key(i)))
    } else {
        None
    };
    Ok(Page {
        items,
        next_marker,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_through_everything_once() {
        let all: Vec<String> = (0..7).map(|i| format!("k{i}")).collect();
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let p = page(
                all.clone(),
                |s| s.clone(),
                Some(3),
                marker.as_deref(),
                PageLimits {
                    default: 100,
                    max: 1000,
                },
            )
            .expect("page");
            seen.extend(p.items);
            if !p.truncated {
                assert!(p.next_marker.is_none());
                break;
            }
            marker = p.next_marker;
        }
        assert_eq!(seen, all);
        let bad = page(
            all,
            |s| s.clone(),
            None,
            Some("garbage"),
            PageLimits {
                default: 100,
                max: 1000,
            },
        );
        assert_eq!(
            bad.err().map(|e| e.code),
            Some(ErrorCode::InvalidMarkerException)
        );
    }
}
