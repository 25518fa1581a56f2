//! Regions: `dev` answers requests signed for any Region, each Region its own key namespace (as in
//! AWS); `serve` answers the Regions its configuration lists and refuses others as AWS does.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_kms::Client;

use crate::common::{code, Kms, PrincipalSpec, Served};

async fn client_in(endpoint: &str, region: &str, akid: &str, secret: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

#[tokio::test]
async fn dev_keeps_each_regions_keys_apart() {
    let kms = Kms::start().await;
    let e = &kms.exports;
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let mut clients = Vec::new();
    for r in regions {
        clients.push(client_in(&e.endpoint, r, &e.access_key_id, &e.secret_access_key).await);
    }
    let mut keys = Vec::new();
    for (r, c) in regions.iter().zip(&clients) {
        let meta = c
            .create_key()
            .description(format!("key in {r}"))
            .send()
            .await
            .expect("CreateKey")
            .key_metadata
            .expect("KeyMetadata");
        assert!(
            meta.arn()
                .is_some_and(|a| a.contains(&format!(":kms:{r}:"))),
            "{meta:?}"
        );
        c.create_alias()
            .alias_name("alias/same-name")
            .target_key_id(meta.key_id())
            .send()
            .await
            .expect("CreateAlias");
        keys.push(meta.key_id().to_string());
    }
    for (i, c) in clients.iter().enumerate() {
        let listed: Vec<String> = c
            .list_keys()
            .send()
            .await
            .expect("ListKeys")
            .keys()
            .iter()
            .filter_map(|k| k.key_id().map(String::from))
            .collect();
        assert_eq!(listed, [keys[i].clone()], "{}", regions[i]);
        let by_alias = c
            .describe_key()
            .key_id("alias/same-name")
            .send()
            .await
            .expect("DescribeKey by alias");
        assert_eq!(
            by_alias.key_metadata().map(|m| m.key_id()),
            Some(keys[i].as_str())
        );
        for (j, other) in keys.iter().enumerate().filter(|(j, _)| *j != i) {
            let e = c
                .describe_key()
                .key_id(other)
                .send()
                .await
                .expect_err("another Region's key");
            assert_eq!(
                code(&e),
                "NotFoundException",
                "{} from {}",
                regions[j],
                regions[i]
            );
        }
        // A ciphertext of one Region does not decrypt in another.
        let blob = c
            .encrypt()
            .key_id(&keys[i])
            .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
            .send()
            .await
            .expect("Encrypt")
            .ciphertext_blob
            .expect("blob");
        let other = &clients[(i + 1) % clients.len()];
        let e = other
            .decrypt()
            .ciphertext_blob(blob)
            .send()
            .await
            .expect_err("decrypt in another Region");
        assert_eq!(code(&e), "InvalidCiphertextException");
    }
}

#[tokio::test]
async fn serve_answers_its_configured_regions_only() {
    let admin = PrincipalSpec::user("111111111111", "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    );
    let srv = Served::start_configured(
        std::slice::from_ref(&admin),
        "extra_regions = [\"eu-central-1\"]\n",
        "",
    );
    for r in ["us-east-1", "eu-central-1"] {
        client_in(&srv.endpoint, r, &admin.access_key_id, &admin.secret)
            .await
            .create_key()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{r}: {e:?}"));
    }
    let e = client_in(
        &srv.endpoint,
        "eu-west-3",
        &admin.access_key_id,
        &admin.secret,
    )
    .await
    .list_keys()
    .send()
    .await
    .expect_err("a region not served");
    assert_eq!(code(&e), "InvalidSignatureException", "{e:?}");
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::message(&e),
        Some("Credential should be scoped to a valid region, not 'eu-west-3'.")
    );
}
