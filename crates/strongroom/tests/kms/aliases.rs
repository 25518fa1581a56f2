//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and using them as KeyId.

use std::collections::BTreeSet;

use aws_sdk_kms::operation::create_alias::CreateAliasError;
use aws_sdk_kms::operation::delete_alias::DeleteAliasError;
use aws_sdk_kms::primitives::Blob;

use crate::common::{expect_code, now_secs, secs, Kms};

async fn target_of(kms: &Kms, alias: &str) -> String {
    kms.client
        .describe_key()
        .key_id(alias)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeKey {alias}: {e:?}"))
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string()
}

#[tokio::test]
async fn create_alias_and_encrypt_through_it() {
    let kms = Kms::start().await;
    let account = kms.account().await;
    let key = kms.key().await;
    kms.client
        .create_alias()
        .alias_name("alias/app/data_key-1")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");
    assert_eq!(target_of(&kms, "alias/app/data_key-1").await, key);

    let alias_arn = format!("arn:aws:kms:us-east-1:{account}:alias/app/data_key-1");
    let key_arn = format!("arn:aws:kms:us-east-1:{account}:key/{key}");
    for via in ["alias/app/data_key-1", alias_arn.as_str()] {
        let out = kms
            .client
            .encrypt()
            .key_id(via)
            .plaintext(Blob::new("through an alias"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Encrypt via {via}: {e:?}"));
        assert_eq!(
            out.key_id(),
            Some(key_arn.as_str()),
            "Encrypt names the key"
        );
        let ct = out.ciphertext_blob().expect("CiphertextBlob").clone();
        let back = kms
            .client
            .decrypt()
            .ciphertext_blob(ct.clone())
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(
            back.plaintext().map(|b| b.as_ref()),
            Some(&b"through an alias"[..])
        );
        assert_eq!(back.key_id(), Some(key_arn.as_str()));
        // Decrypt accepts the alias as the expected KeyId.
        kms.client
            .decrypt()
            .ciphertext_blob(ct)
            .key_id(via)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Decrypt with KeyId {via}: {e:?}"));
    }
    // GenerateDataKey through an alias, too.
    let dk = kms
        .client
        .generate_data_key()
        .key_id("alias/app/data_key-1")
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey via alias");
    assert_eq!(dk.key_id(), Some(key_arn.as_str()));

    // An alias is listed with its ARN, target and dates.
    let before = now_secs();
    let list = kms.client.list_aliases().send().await.expect("ListAliases");
    let a = list
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/app/data_key-1"))
        .expect("listed");
    assert_eq!(a.alias_arn(), Some(alias_arn.as_str()));
    assert_eq!(a.target_key_id(), Some(key.as_str()));
    let created = secs(a.creation_date().expect("CreationDate"));
    assert!(
        created <= before + 1.0 && created > before - 120.0,
        "{created}"
    );
    assert!(a.last_updated_date().is_some());
}

#[tokio::test]
async fn create_alias_errors() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let other = kms.key().await;
    kms.client
        .create_alias()
        .alias_name("alias/taken")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");

    let e = kms
        .client
        .create_alias()
        .alias_name("alias/taken")
        .target_key_id(&other)
        .send()
        .await
        .expect_err("duplicate")
        .into_service_error();
    assert!(
        matches!(e, CreateAliasError::AlreadyExistsException(_)),
        "{e:?}"
    );
    assert_eq!(target_of(&kms, "alias/taken").await, key, "unchanged");

    let e = kms
        .client
        .create_alias()
        .alias_name("alias/aws/mine")
        .target_key_id(&key)
        .send()
        .await
        .expect_err("reserved prefix")
        .into_service_error();
    assert!(
        matches!(e, CreateAliasError::InvalidAliasNameException(_)),
        "{e:?}"
    );

    let msg = expect_code(
        kms.client
            .create_alias()
            .alias_name("no-prefix")
            .target_key_id(&key)
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("alias/"), "{msg}");
    for bad in ["alias/has space", "alias/bang!", "alias/dots.are.bad"] {
        expect_code(
            kms.client
                .create_alias()
                .alias_name(bad)
                .target_key_id(&key)
                .send()
                .await,
            "ValidationException",
        );
    }
    let e = kms
        .client
        .create_alias()
        .alias_name("alias/via-alias")
        .target_key_id("alias/taken")
        .send()
        .await
        .expect_err("target by alias")
        .into_service_error();
    assert!(matches!(e, CreateAliasError::NotFoundException(_)), "{e:?}");
    expect_code(
        kms.client
            .create_alias()
            .alias_name("alias/to-nothing")
            .target_key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );

    let names: BTreeSet<String> = kms
        .client
        .list_aliases()
        .send()
        .await
        .expect("ListAliases")
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_string))
        .collect();
    assert_eq!(names, BTreeSet::from(["alias/taken".to_string()]));
}

#[tokio::test]
async fn update_and_delete_alias() {
    let kms = Kms::start().await;
    let a = kms.key().await;
    let b = kms.key().await;
    kms.client
        .create_alias()
        .alias_name("alias/moving")
        .target_key_id(&a)
        .send()
        .await
        .expect("CreateAlias");
    let ct_a = kms.encrypt("alias/moving", b"under a").await;

    kms.client
        .update_alias()
        .alias_name("alias/moving")
        .target_key_id(&b)
        .send()
        .await
        .expect("UpdateAlias");
    assert_eq!(target_of(&kms, "alias/moving").await, b);
    let ct_b = kms.encrypt("alias/moving", b"under b").await;
    // Each ciphertext still decrypts with the key that made it.
    for (ct, key, pt) in [(&ct_a, &a, &b"under a"[..]), (&ct_b, &b, &b"under b"[..])] {
        let out = kms
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(pt));
        assert!(out.key_id().is_some_and(|k| k.ends_with(key.as_str())));
    }
    // The alias ARN of a moved alias points at the new key; the old key has no aliases left.
    let of_a = kms
        .client
        .list_aliases()
        .key_id(&a)
        .send()
        .await
        .expect("ListAliases a");
    assert!(of_a.aliases().is_empty(), "{:?}", of_a.aliases());
    let of_b = kms
        .client
        .list_aliases()
        .key_id(&b)
        .send()
        .await
        .expect("ListAliases b");
    assert_eq!(of_b.aliases().len(), 1);
    assert_eq!(of_b.aliases()[0].target_key_id(), Some(b.as_str()));

    expect_code(
        kms.client
            .update_alias()
            .alias_name("alias/never-made")
            .target_key_id(&a)
            .send()
            .await,
        "NotFoundException",
    );
    expect_code(
        kms.client
            .update_alias()
            .alias_name("alias/moving")
            .target_key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );

    kms.client
        .delete_alias()
        .alias_name("alias/moving")
        .send()
        .await
        .expect("DeleteAlias");
    expect_code(
        kms.client
            .describe_key()
            .key_id("alias/moving")
            .send()
            .await,
        "NotFoundException",
    );
    let e = kms
        .client
        .delete_alias()
        .alias_name("alias/moving")
        .send()
        .await
        .expect_err("deleted twice")
        .into_service_error();
    assert!(matches!(e, DeleteAliasError::NotFoundException(_)), "{e:?}");
    // Deleting an alias leaves the key alone.
    assert_eq!(target_of(&kms, &b).await, b);
    // The name is free again.
    kms.client
        .create_alias()
        .alias_name("alias/moving")
        .target_key_id(&a)
        .send()
        .await
        .expect("CreateAlias after DeleteAlias");
}

/// Follows NextMarker with `limit`, returning page sizes and alias names in order.
async fn page_aliases(kms: &Kms, key: Option<&str>, limit: i32) -> (Vec<usize>, Vec<String>) {
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = kms
            .client
            .list_aliases()
            .set_key_id(key.map(str::to_string))
            .limit(limit)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListAliases page");
        sizes.push(out.aliases().len());
        names.extend(
            out.aliases()
                .iter()
                .map(|a| a.alias_name().expect("AliasName").to_string()),
        );
        if out.truncated() {
            marker = Some(out.next_marker().expect("NextMarker").to_string());
        } else {
            assert_eq!(out.next_marker(), None);
            return (sizes, names);
        }
    }
}

#[tokio::test]
async fn list_aliases_all_and_per_key_with_paging() {
    let kms = Kms::start().await;
    let a = kms.key().await;
    let b = kms.key().await;
    let mut of_a = BTreeSet::new();
    let mut of_b = BTreeSet::new();
    for i in 0..5 {
        let name = format!("alias/a-{i}");
        kms.client
            .create_alias()
            .alias_name(&name)
            .target_key_id(&a)
            .send()
            .await
            .expect("CreateAlias a");
        of_a.insert(name);
    }
    for i in 0..2 {
        let name = format!("alias/b-{i}");
        kms.client
            .create_alias()
            .alias_name(&name)
            .target_key_id(&b)
            .send()
            .await
            .expect("CreateAlias b");
        of_b.insert(name);
    }
    let all: BTreeSet<String> = of_a.union(&of_b).cloned().collect();

    let (sizes, names) = page_aliases(&kms, None, 3).await;
    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), all);
    assert_eq!(names.len(), all.len(), "no alias twice: {names:?}");

    let (sizes, names) = page_aliases(&kms, Some(&a), 2).await;
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), of_a);

    // Per key by key ARN.
    let b_arn = kms
        .client
        .describe_key()
        .key_id(&b)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("Arn")
        .to_string();
    let (sizes, names) = page_aliases(&kms, Some(&b_arn), 50).await;
    assert_eq!(sizes, vec![2]);
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), of_b);

    expect_code(
        kms.client
            .list_aliases()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
    expect_code(
        kms.client.list_aliases().marker("garbage").send().await,
        "InvalidMarkerException",
    );
}
