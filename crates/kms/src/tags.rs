//! Tags: TagResource, UntagResource, ListResourceTags, and the checks CreateKey shares.

use std::collections::HashSet;

use kms_api::types::{
    Empty, KeyPagingRequest, ListResourceTagsResponse, Tag, TagResourceRequest,
    UntagResourceRequest,
};
use kms_api::{ErrorCode, KmsError};

use crate::keys::StateRule;
use crate::paging::{page, PageLimits};
use crate::resolve::Naming;
use crate::{Access, Kms};

/// AWS's quota of tags on one key.
const MAX_TAGS_PER_KEY: usize = 50;

/// Adds `new` to `existing` (overwriting values of existing keys), with AWS's rules.
pub(crate) fn checked_tags(
    new: Vec<Tag>,
    mut existing: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, KmsError> {
    let mut seen = HashSet::new();
    for t in &new {
        if t.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(KmsError::new(
                ErrorCode::TagException,
                "Tags beginning with aws: are reserved",
            ));
        }
        if !seen.insert(t.tag_key.as_str()) {
            return Err(KmsError::new(ErrorCode::TagException, "Duplicate tag keys"));
        }
    }
    for t in new {
        match existing.iter_mut().find(|(k, _)| *k == t.tag_key) {
            Some(slot) => slot.1 = t.tag_value,
            None => existing.push((t.tag_key, t.tag_value)),
        }
    }
    if existing.len() > MAX_TAGS_PER_KEY {
        return Err(KmsError::new(ErrorCode::TagException, "Too many tags"));
    }
    Ok(existing)
}

impl Kms {
    pub(crate) async fn tag_resource(
        &self,
        req: TagResourceRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        self.mutate_key(&req.key_id, caller, StateRule::NotPendingDeletion, |r| {
            r.tags = checked_tags(req.tags, std::mem::take(&mut r.tags))?;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn untag_resource(
        &self,
        req: UntagResourceRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        if let Some(k) = req
            .tag_keys
            .iter()
            .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
        {
            return Err(KmsError::new(
                ErrorCode::TagException,
                format!("Tag key '{k}' is reserved: tag keys may not begin with 'aws:'."),
            ));
        }
        self.mutate_key(&req.key_id, caller, StateRule::NotPendingDeletion, |r| {
            r.tags.retain(|(k, _)| !req.tag_keys.contains(k));
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) fn list_resource_tags(
        &self,
        req: KeyPagingRequest,
        caller: &Access<'_>,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let key = self.resolve(&req.key_id, caller, Naming::KeyOnly)?;
        let mut tags = key.record.tags.clone();
        tags.sort();
        let p = page(
            tags,
            |(k, _)| k.clone(),
            req.limit,
            req.marker.as_deref(),
            PageLimits {
                default: 50,
                max: 50,
            },
        )?;
        Ok(ListResourceTagsResponse {
            tags: p
                .items
                .into_iter()
                .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
                .collect(),
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }
}
