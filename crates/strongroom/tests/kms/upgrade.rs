//! Upgrades keep every key and ciphertext: a `dev` data directory written by an earlier version
//! (`tests/fixtures/store-v1`, made by `scripts/make-upgrade-fixture.py`) is opened by this one,
//! which must find its keys, states, aliases, tags and grants and decrypt its ciphertexts.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use serde_json::Value;

use crate::common::Kms;

/// Copies the fixture; git keeps no file modes, and Strongroom refuses secret files others
/// may read, so everything is made private.
fn copy_private(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).expect("chmod dir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_private(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
    }
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

#[tokio::test]
async fn a_store_written_by_the_previous_version_is_read_and_decrypts() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let dir = tempfile::Builder::new()
        .prefix("strongroom-upgrade-")
        .tempdir()
        .expect("tempdir");
    copy_private(&fixture, dir.path());
    let kms = Kms::start_in(dir, "warn").await;
    let c = &kms.client;

    for k in manifest["keys"].as_array().expect("keys") {
        let id = k["key"].as_str().expect("key");
        let meta = c
            .describe_key()
            .key_id(id)
            .send()
            .await
            .expect("DescribeKey")
            .key_metadata
            .expect("KeyMetadata");
        assert_eq!(
            meta.key_state().map(|s| s.as_str()),
            k["state"].as_str(),
            "{id}"
        );
        assert_eq!(meta.description(), k["description"].as_str(), "{id}");
    }
    // Disabled and pending-deletion keys cannot decrypt until they are usable again.
    let disabled: Vec<&str> = manifest["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["state"] == "Disabled")
        .filter_map(|k| k["key"].as_str())
        .collect();
    for id in &disabled {
        c.enable_key().key_id(*id).send().await.expect("EnableKey");
    }
    for ct in manifest["ciphertexts"].as_array().expect("ciphertexts") {
        let ctx: HashMap<String, String> =
            serde_json::from_value(ct["context"].clone()).expect("context");
        let out = c
            .decrypt()
            .ciphertext_blob(Blob::new(b64(ct["ciphertext"].as_str().expect("ct"))))
            .set_encryption_context(Some(ctx))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Decrypt of a ciphertext of {}: {e:?}", ct["key"]));
        assert_eq!(
            out.plaintext().expect("Plaintext").as_ref(),
            b64(ct["plaintext"].as_str().expect("pt")).as_slice()
        );
        assert!(out
            .key_id()
            .is_some_and(|k| k.ends_with(ct["key"].as_str().expect("key"))));
    }
    for a in manifest["aliases"].as_array().expect("aliases") {
        let aliases = c.list_aliases().send().await.expect("ListAliases");
        let found = aliases
            .aliases()
            .iter()
            .find(|x| x.alias_name() == a["name"].as_str())
            .expect("the alias survived");
        assert_eq!(found.target_key_id(), a["target"].as_str());
    }
    for (key, tags) in manifest["tags"].as_object().expect("tags") {
        let out = c
            .list_resource_tags()
            .key_id(key)
            .send()
            .await
            .expect("ListResourceTags");
        for (k, v) in tags.as_object().expect("tag map") {
            assert!(
                out.tags()
                    .iter()
                    .any(|t| t.tag_key() == k && Some(t.tag_value()) == v.as_str()),
                "{key}: tag {k}"
            );
        }
    }
    for g in manifest["grants"].as_array().expect("grants") {
        let out = c
            .list_grants()
            .key_id(g["key"].as_str().expect("key"))
            .send()
            .await
            .expect("ListGrants");
        assert!(out
            .grants()
            .iter()
            .any(|x| x.grant_id() == g["grant_id"].as_str()));
    }
    // New keys and ciphertexts work beside the old ones.
    let fresh = kms.key().await;
    let blob = kms.encrypt(&fresh, b"after the upgrade").await;
    let out = c
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(
        out.plaintext().expect("Plaintext").as_ref(),
        b"after the upgrade"
    );
}
