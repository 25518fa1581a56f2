//! Tags: TagResource, UntagResource, ListResourceTags.

use std::collections::BTreeMap;

use aws_sdk_kms::operation::tag_resource::TagResourceError;
use aws_sdk_kms::types::Tag;

use crate::common::{expect_code, Kms};

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().expect("tag")
}

async fn tags_of(kms: &Kms, key: &str) -> BTreeMap<String, String> {
    let out = kms
        .client
        .list_resource_tags()
        .key_id(key)
        .send()
        .await
        .expect("ListResourceTags");
    assert!(!out.truncated());
    out.tags()
        .iter()
        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tag_overwrite_untag_and_list() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    assert!(tags_of(&kms, &key).await.is_empty());
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(tag("owner", "alice"))
        .tags(tag("env", "dev"))
        .tags(tag("empty", ""))
        .send()
        .await
        .expect("TagResource");
    assert_eq!(
        tags_of(&kms, &key).await,
        map(&[("owner", "alice"), ("env", "dev"), ("empty", "")])
    );
    // Overwrite one value, add one.
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(tag("owner", "bob"))
        .tags(tag("cost", "42"))
        .send()
        .await
        .expect("TagResource overwrite");
    assert_eq!(
        tags_of(&kms, &key).await,
        map(&[
            ("owner", "bob"),
            ("env", "dev"),
            ("empty", ""),
            ("cost", "42")
        ])
    );
    // Untag two, one of them absent (not an error).
    kms.client
        .untag_resource()
        .key_id(&key)
        .tag_keys("env")
        .tag_keys("never-there")
        .send()
        .await
        .expect("UntagResource");
    assert_eq!(
        tags_of(&kms, &key).await,
        map(&[("owner", "bob"), ("empty", ""), ("cost", "42")])
    );
    // Tag keys are case-sensitive.
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(tag("Owner", "carol"))
        .send()
        .await
        .expect("TagResource case");
    assert_eq!(tags_of(&kms, &key).await.len(), 4);

    // By key ARN.
    let arn = kms
        .client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("Arn")
        .to_string();
    kms.client
        .untag_resource()
        .key_id(&arn)
        .tag_keys("Owner")
        .send()
        .await
        .expect("UntagResource by ARN");
    assert_eq!(tags_of(&kms, &arn).await.len(), 3);

    let missing = "11111111-2222-3333-4444-555555555555";
    expect_code(
        kms.client
            .tag_resource()
            .key_id(missing)
            .tags(tag("a", "b"))
            .send()
            .await,
        "NotFoundException",
    );
    expect_code(
        kms.client.list_resource_tags().key_id(missing).send().await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn list_resource_tags_pages() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let mut req = kms.client.tag_resource().key_id(&key);
    let mut want = BTreeMap::new();
    for i in 0..7 {
        req = req.tags(tag(&format!("k{i}"), &format!("v{i}")));
        want.insert(format!("k{i}"), format!("v{i}"));
    }
    req.send().await.expect("TagResource");

    let mut got = BTreeMap::new();
    let mut sizes = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = kms
            .client
            .list_resource_tags()
            .key_id(&key)
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListResourceTags page");
        sizes.push(out.tags().len());
        for t in out.tags() {
            let dup = got.insert(t.tag_key().to_string(), t.tag_value().to_string());
            assert!(dup.is_none(), "{} twice", t.tag_key());
        }
        if out.truncated() {
            marker = Some(out.next_marker().expect("NextMarker").to_string());
        } else {
            assert_eq!(out.next_marker(), None);
            break;
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(got, want);
    expect_code(
        kms.client
            .list_resource_tags()
            .key_id(&key)
            .marker("nope")
            .send()
            .await,
        "InvalidMarkerException",
    );
}

#[tokio::test]
async fn reserved_prefix_is_a_tag_exception() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    for reserved in ["aws:created-by", "AWS:x", "aws:"] {
        let e = kms
            .client
            .tag_resource()
            .key_id(&key)
            .tags(tag(reserved, "v"))
            .send()
            .await
            .expect_err("reserved tag key")
            .into_service_error();
        assert!(matches!(e, TagResourceError::TagException(_)), "{e:?}");
    }
    expect_code(
        kms.client.create_key().tags(tag("aws:x", "v")).send().await,
        "TagException",
    );
    let keys = kms.client.list_keys().send().await.expect("ListKeys");
    assert_eq!(
        keys.keys().len(),
        1,
        "the refused CreateKey created nothing"
    );
    // `aws` without the colon is an ordinary key.
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(tag("awsome", "v"))
        .send()
        .await
        .expect("TagResource awsome");
}

#[tokio::test]
async fn more_than_fifty_tags_is_a_tag_exception() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let mut req = kms.client.tag_resource().key_id(&key);
    for i in 0..51 {
        req = req.tags(tag(&format!("t{i:02}"), "v"));
    }
    let e = req.send().await.expect_err("51 tags").into_service_error();
    assert!(matches!(e, TagResourceError::TagException(_)), "{e:?}");
    assert_eq!(e.meta().message(), Some("Too many tags"));
    assert!(tags_of(&kms, &key).await.is_empty(), "all or nothing");

    // 40 then 10 more is exactly 50; then one more is too many; overwriting is not adding.
    let mut req = kms.client.tag_resource().key_id(&key);
    for i in 0..40 {
        req = req.tags(tag(&format!("t{i:02}"), "v"));
    }
    req.send().await.expect("40 tags");
    let mut req = kms.client.tag_resource().key_id(&key);
    for i in 40..50 {
        req = req.tags(tag(&format!("t{i:02}"), "v"));
    }
    req.send().await.expect("50 tags");
    expect_code(
        kms.client
            .tag_resource()
            .key_id(&key)
            .tags(tag("t50", "v"))
            .send()
            .await,
        "TagException",
    );
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(tag("t00", "overwritten"))
        .send()
        .await
        .expect("overwrite at the limit");
    let all = tags_of(&kms, &key).await;
    assert_eq!(all.len(), 50);
    assert_eq!(all["t00"], "overwritten");

    let mut req = kms.client.create_key();
    for i in 0..51 {
        req = req.tags(tag(&format!("t{i:02}"), "v"));
    }
    assert_eq!(
        expect_code(req.send().await, "TagException"),
        "Too many tags"
    );
}

#[tokio::test]
async fn tag_key_and_value_lengths_are_validated() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    kms.client
        .tag_resource()
        .key_id(&key)
        .tags(tag(&"k".repeat(128), &"v".repeat(256)))
        .send()
        .await
        .expect("longest key and value");
    for (k, v) in [
        ("k".repeat(129), "v".to_string()),
        ("".to_string(), "v".to_string()),
        ("k".to_string(), "v".repeat(257)),
    ] {
        expect_code(
            kms.client
                .tag_resource()
                .key_id(&key)
                .tags(tag(&k, &v))
                .send()
                .await,
            "ValidationException",
        );
    }
    assert_eq!(tags_of(&kms, &key).await.len(), 1);
}
