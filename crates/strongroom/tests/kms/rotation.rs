//! Key rotation end to end, with aws-sdk-kms against `strongroom dev`, whose clock the tests move
//! (`Kms::advance_clock`) to cross rotation dates: automatic and on-demand rotation, old
//! ciphertexts decrypting with the version that made them, the status and list operations,
//! AWS's limits and refusals, and all of it surviving a restart.

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{IncludeKeyMaterial, KeyMaterialState, OriginType, RotationType};

use crate::common::{expect_code, poll_until, Kms};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

async fn material_id(kms: &Kms, key: &str) -> String {
    kms.client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.current_key_material_id())
        .expect("CurrentKeyMaterialId")
        .to_string()
}

/// Waits (the rotator runs every 100 ms here) until the key's material is not `old`.
async fn wait_for_new_material(kms: &Kms, key: &str, old: &str) -> String {
    poll_until("a rotation", Duration::from_secs(10), || async {
        material_id(kms, key).await != old
    })
    .await;
    material_id(kms, key).await
}

async fn arn_of(kms: &Kms, key: &str) -> String {
    kms.client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("Arn")
        .to_string()
}

#[tokio::test]
async fn automatic_rotation_on_its_date_keeps_old_ciphertexts_readable() {
    let mut kms = Kms::start().await;
    let key = kms.key().await;
    let c = kms.client.clone();
    let first = material_id(&kms, &key).await;
    let old = kms.encrypt(&key, b"written before").await;

    c.enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");
    let status = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert_eq!(status.key_id(), Some(arn_of(&kms, &key).await.as_str()));
    let next = status
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();
    let in_90_days = crate::common::now_secs() + 90.0 * 86_400.0;
    assert!(
        (next as f64 - in_90_days).abs() < 60.0,
        "{next} vs {in_90_days}"
    );

    // Not yet due: nothing rotates.
    kms.advance_clock(89 * DAY_MS);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(material_id(&kms, &key).await, first);
    // Due: the rotator makes a new version, once.
    kms.advance_clock(DAY_MS + 60_000);
    let second = wait_for_new_material(&kms, &key, &first).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        material_id(&kms, &key).await,
        second,
        "one rotation, not more"
    );

    let decrypted = c
        .decrypt()
        .ciphertext_blob(Blob::new(old.clone()))
        .send()
        .await
        .expect("Decrypt of a ciphertext made before the rotation");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref()),
        Some(&b"written before"[..])
    );
    assert_eq!(decrypted.key_material_id(), Some(first.as_str()));
    let data_key = c
        .generate_data_key()
        .key_id(&key)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(data_key.key_material_id(), Some(second.as_str()));

    let rotations = c
        .list_key_rotations()
        .key_id(&key)
        .send()
        .await
        .expect("ListKeyRotations");
    assert_eq!(rotations.rotations().len(), 1);
    let r = &rotations.rotations()[0];
    assert_eq!(r.rotation_type(), Some(&RotationType::Automatic));
    assert_eq!(r.key_material_id(), Some(second.as_str()));
    assert_eq!(r.key_material_state(), Some(&KeyMaterialState::Current));
    let all = c
        .list_key_rotations()
        .key_id(&key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .expect("ListKeyRotations ALL_KEY_MATERIAL");
    assert_eq!(all.rotations().len(), 2);
    assert_eq!(all.rotations()[0].key_material_id(), Some(first.as_str()));
    assert_eq!(
        all.rotations()[0].rotation_type(),
        None,
        "the first material"
    );
    assert_eq!(
        all.rotations()[0].key_material_state(),
        Some(&KeyMaterialState::NonCurrent)
    );

    // The next date moved on by one period.
    let status = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    let next2 = status
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();
    assert!((next2 - next - 90 * 86_400).abs() <= 1, "{next2} vs {next}");

    // A restart keeps versions and settings; old ciphertexts still decrypt.
    kms.kill_and_restart().await;
    assert_eq!(material_id(&kms, &key).await, second);
    kms.client
        .decrypt()
        .ciphertext_blob(Blob::new(old))
        .send()
        .await
        .expect("Decrypt after a restart");
    let status = kms
        .client
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert_eq!(status.rotation_period_in_days(), Some(90));

    kms.client
        .disable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKeyRotation");
    let status = kms
        .client
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(!status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), None);
    assert!(status.next_rotation_date().is_none());
}

#[tokio::test]
async fn on_demand_rotation_limits_and_conflicts() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = kms.key().await;
    let arn = arn_of(&kms, &key).await;
    c.enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");
    let next = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status")
        .next_rotation_date()
        .expect("next")
        .secs();

    let mut current = material_id(&kms, &key).await;
    for n in 1..=25 {
        let out = c
            .rotate_key_on_demand()
            .key_id(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("on-demand rotation {n}: {e:?}"));
        assert_eq!(out.key_id(), Some(arn.as_str()));
        current = wait_for_new_material(&kms, &key, &current).await;
    }
    let msg = expect_code(
        c.rotate_key_on_demand().key_id(&key).send().await,
        "LimitExceededException",
    );
    assert_eq!(
        msg,
        format!("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}")
    );
    let list = c
        .list_key_rotations()
        .key_id(&key)
        .limit(10)
        .send()
        .await
        .expect("ListKeyRotations");
    assert_eq!(list.rotations().len(), 10);
    assert!(list.truncated());
    let rest = c
        .list_key_rotations()
        .key_id(&key)
        .marker(list.next_marker().expect("NextMarker"))
        .send()
        .await
        .expect("ListKeyRotations page 2");
    assert_eq!(rest.rotations().len(), 15);
    assert!(!rest.truncated());
    assert!(rest
        .rotations()
        .iter()
        .all(|r| r.rotation_type() == Some(&RotationType::OnDemand)));
    // On-demand rotations leave the automatic schedule alone.
    let status = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status");
    assert_eq!(status.next_rotation_date().map(|d| d.secs()), Some(next));

    // Within 20 minutes of an automatic rotation, another key's on-demand rotation conflicts.
    let soon = kms.key().await;
    c.enable_key_rotation()
        .key_id(&soon)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");
    kms.advance_clock(90 * DAY_MS - 10 * 60 * 1000);
    expect_code(
        c.rotate_key_on_demand().key_id(&soon).send().await,
        "ConflictException",
    );
}

#[tokio::test]
async fn rotation_refusals_are_aws_own() {
    let mut kms = Kms::start().await;
    let xks = kms.xks_exports();
    let c = kms.client.clone();

    // An alias is refused by every rotation operation.
    let key = kms.key().await;
    c.create_alias()
        .alias_name("alias/rotating")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");
    let aliases = "Key Aliases are not supported for this operation.";
    assert_eq!(
        expect_code(
            c.enable_key_rotation()
                .key_id("alias/rotating")
                .send()
                .await,
            "InvalidArnException"
        ),
        aliases
    );
    assert_eq!(
        expect_code(
            c.rotate_key_on_demand()
                .key_id("alias/rotating")
                .send()
                .await,
            "InvalidArnException"
        ),
        aliases
    );

    // Period bounds: the model's.
    assert_eq!(
        expect_code(
            c.enable_key_rotation()
                .key_id(&key)
                .rotation_period_in_days(2561)
                .send()
                .await,
            "ValidationException"
        ),
        "1 validation error detected: Value '2561' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 2560"
    );
    expect_code(
        c.enable_key_rotation()
            .key_id(&key)
            .rotation_period_in_days(89)
            .send()
            .await,
        "ValidationException",
    );

    // A disabled key, a key pending deletion.
    let arn = arn_of(&kms, &key).await;
    c.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    assert_eq!(
        expect_code(
            c.enable_key_rotation().key_id(&key).send().await,
            "DisabledException"
        ),
        format!("{arn} is disabled.")
    );
    assert_eq!(
        expect_code(
            c.disable_key_rotation().key_id(&key).send().await,
            "DisabledException"
        ),
        format!("{arn} is disabled.")
    );
    assert_eq!(
        expect_code(
            c.rotate_key_on_demand().key_id(&key).send().await,
            "DisabledException"
        ),
        format!("{arn} is disabled.")
    );
    c.enable_key().key_id(&key).send().await.expect("EnableKey");
    c.enable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .expect("EnableKeyRotation with the default period");
    c.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(
        expect_code(
            c.rotate_key_on_demand().key_id(&key).send().await,
            "KMSInvalidStateException"
        ),
        format!("{arn} is pending deletion.")
    );
    let status = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status");
    assert!(
        !status.key_rotation_enabled(),
        "reads as off while pending deletion"
    );
    c.cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("CancelKeyDeletion");
    let status = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status");
    assert!(status.key_rotation_enabled(), "comes back when cancelled");
    assert_eq!(status.rotation_period_in_days(), Some(365));

    // A key in an external key store cannot rotate; its status reads as off.
    let stores = c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    let store = stores.custom_key_stores()[0]
        .custom_key_store_id()
        .expect("store id")
        .to_string();
    let external = c
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(store)
        .xks_key_id(xks.key_id.clone())
        .send()
        .await
        .expect("CreateKey in the external key store")
        .key_metadata
        .expect("KeyMetadata");
    let external_arn = external.arn().expect("Arn").to_string();
    let not_valid = format!(
        "{external_arn} origin is EXTERNAL_KEY_STORE which is not valid for this operation."
    );
    assert_eq!(
        expect_code(
            c.enable_key_rotation()
                .key_id(external.key_id())
                .send()
                .await,
            "UnsupportedOperationException"
        ),
        not_valid
    );
    assert_eq!(
        expect_code(
            c.rotate_key_on_demand()
                .key_id(external.key_id())
                .send()
                .await,
            "UnsupportedOperationException"
        ),
        not_valid
    );
    let status = c
        .get_key_rotation_status()
        .key_id(external.key_id())
        .send()
        .await
        .expect("status of an external key");
    assert!(!status.key_rotation_enabled());
    let list = c
        .list_key_rotations()
        .key_id(external.key_id())
        .send()
        .await
        .expect("ListKeyRotations of an external key");
    assert!(list.rotations().is_empty());

    // A key that does not exist.
    expect_code(
        c.rotate_key_on_demand()
            .key_id("00000000-0000-0000-0000-000000000000")
            .send()
            .await,
        "NotFoundException",
    );
    kms.kill_and_restart().await;
}
