//! Tags: TagResource, UntagResource, ListResourceTags.

use kms_api::wire::{
    ListResourceTagsRequest, ListResourceTagsResponse, Tag, TagResourceRequest,
    TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
};
use kms_api::{ErrorCode, KmsError};

use crate::core::paging::{page, PageLimits};
use crate::core::{rules, Access, Core};

pub(crate) async fn tag_resource(
    core: &Core,
    req: &TagResourceRequest,
    access: &Access<'_>,
) -> Result<TagResourceResponse, KmsError> {
    core.mutate_key(&req.key_id, access, |k| {
        k.tags = rules::checked_tags(&req.tags, std::mem::take(&mut k.tags))?;
        Ok(())
    })
    .await?;
    Ok(TagResourceResponse {})
}

pub(crate) async fn untag_resource(
    core: &Core,
    req: &UntagResourceRequest,
    access: &Access<'_>,
) -> Result<UntagResourceResponse, KmsError> {
    if let Some(k) = req
        .tag_keys
        .iter()
        .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(KmsError::new(
            ErrorCode::TagException,
            format!("Tags beginning with aws: are reserved (got '{k}')"),
        ));
    }
    core.mutate_key(&req.key_id, access, |k| {
        k.tags.retain(|t| !req.tag_keys.contains(&t.key));
        Ok(())
    })
    .await?;
    Ok(UntagResourceResponse {})
}

pub(crate) fn list_resource_tags(
    core: &Core,
    req: &ListResourceTagsRequest,
    access: &Access<'_>,
) -> Result<ListResourceTagsResponse, KmsError> {
    let key = core.resolve(&req.key_id, access)?;
    let mut tags: Vec<(String, String)> = key
        .key
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
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
        tags: Some(
            p.items
                .into_iter()
                .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
                .collect(),
        ),
        next_marker: p.next_marker,
        truncated: Some(p.truncated),
    })
}
