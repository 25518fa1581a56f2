//! Multi-Region keys in process: replicas, cross-Region decryption, shared rotation, moving the
//! primary, and deletion waiting for replicas.

use serde_json::json;

use super::*;

async fn describe_in(kms: &Kms, r: &str, id: &str) -> Value {
    call_in(
        kms,
        r,
        &caller(),
        Operation::DescribeKey,
        json!({"KeyId": id}),
    )
    .await
    .expect("describe")["KeyMetadata"]
        .clone()
}

#[tokio::test]
async fn replicas_share_material_and_rotation() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let me = caller();
    let created = call(
        &kms,
        Operation::CreateKey,
        json!({"MultiRegion": true, "Description": "p"}),
    )
    .await
    .expect("create");
    let id = s(&created["KeyMetadata"], "KeyId");
    assert!(id.starts_with("mrk-"), "{id}");
    assert_eq!(created["KeyMetadata"]["MultiRegion"], true);
    let conf = &created["KeyMetadata"]["MultiRegionConfiguration"];
    assert_eq!(conf["MultiRegionKeyType"], "PRIMARY");
    assert_eq!(conf["ReplicaKeys"], json!([]));

    // Errors first: the primary's own Region; a single-Region key.
    let err = call(
        &kms,
        Operation::ReplicateKey,
        json!({"KeyId": id, "ReplicaRegion": "us-east-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "us-east-1 cannot have a replica because it contains the primary."
    );
    let single = new_key(&kms).await;
    let err = call(
        &kms,
        Operation::ReplicateKey,
        json!({"KeyId": single, "ReplicaRegion": "eu-west-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnsupportedOperationException);

    let out = call(
        &kms,
        Operation::ReplicateKey,
        json!({"KeyId": id, "ReplicaRegion": "eu-west-1", "Tags": [{"TagKey": "t", "TagValue": "v"}]}),
    )
    .await
    .expect("replicate");
    let replica = &out["ReplicaKeyMetadata"];
    assert_eq!(replica["KeyState"], "Creating");
    assert_eq!(replica["KeyId"], id);
    assert!(s(replica, "Arn").contains(":eu-west-1:"));
    assert_eq!(
        replica["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    assert_eq!(out["ReplicaTags"][0]["TagKey"], "t");
    let again = call(
        &kms,
        Operation::ReplicateKey,
        json!({"KeyId": id, "ReplicaRegion": "eu-west-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(again.code, ErrorCode::AlreadyExistsException);
    // Creating → Enabled with the next round of the jobs.
    kms.rotate_due_keys().await.expect("jobs");
    let west = describe_in(&kms, "eu-west-1", &id).await;
    assert_eq!(west["KeyState"], "Enabled");
    assert_eq!(west["Description"], "");
    let east = describe_in(&kms, "us-east-1", &id).await;
    assert_eq!(
        east["MultiRegionConfiguration"]["ReplicaKeys"][0]["Region"],
        "eu-west-1"
    );
    assert_eq!(west["CurrentKeyMaterialId"], east["CurrentKeyMaterialId"]);

    // A ciphertext of one Region decrypts with the replica in the other.
    let ct = call(
        &kms,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"both")}),
    )
    .await
    .expect("encrypt");
    let pt = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::Decrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"]}),
    )
    .await
    .expect("decrypt in the other Region");
    assert_eq!(pt["Plaintext"], b64(b"both"));
    assert_eq!(pt["KeyId"], west["Arn"]);

    // Rotation is set on the primary and shared; replicas refuse it.
    let err = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::EnableKeyRotation,
        json!({"KeyId": id}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "{} is a multi-region replica key which is not valid for EnableKeyRotation.",
            s(&west, "Arn")
        )
    );
    call(
        &kms,
        Operation::EnableKeyRotation,
        json!({"KeyId": id, "RotationPeriodInDays": 100}),
    )
    .await
    .expect("enable");
    let status = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::GetKeyRotationStatus,
        json!({"KeyId": id}),
    )
    .await
    .expect("replica status");
    assert_eq!(status["RotationPeriodInDays"], 100);
    fx.clock.advance_ms(100 * DAY_MS);
    assert_eq!(kms.rotate_due_keys().await.expect("rotate"), 1);
    let east2 = describe_in(&kms, "us-east-1", &id).await;
    let west2 = describe_in(&kms, "eu-west-1", &id).await;
    assert_ne!(east2["CurrentKeyMaterialId"], east["CurrentKeyMaterialId"]);
    assert_eq!(west2["CurrentKeyMaterialId"], east2["CurrentKeyMaterialId"]);
    let old = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::Decrypt,
        json!({"CiphertextBlob": ct["CiphertextBlob"]}),
    )
    .await
    .expect("old ciphertext in the replica");
    assert_eq!(old["KeyMaterialId"], east["CurrentKeyMaterialId"]);

    // The primary moves to the replica's Region.
    call(
        &kms,
        Operation::UpdatePrimaryRegion,
        json!({"KeyId": id, "PrimaryRegion": "eu-west-1"}),
    )
    .await
    .expect("update primary");
    let west3 = describe_in(&kms, "eu-west-1", &id).await;
    assert_eq!(
        west3["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    let east3 = describe_in(&kms, "us-east-1", &id).await;
    assert_eq!(
        east3["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    let err = call(
        &kms,
        Operation::UpdatePrimaryRegion,
        json!({"KeyId": id, "PrimaryRegion": "eu-west-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        format!("{} is not a multi-Region primary key.", s(&east3, "Arn"))
    );

    // Deleting the primary waits for its replica.
    let sched = call_in(
        &kms,
        "eu-west-1",
        &me,
        Operation::ScheduleKeyDeletion,
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .await
    .expect("schedule primary");
    assert_eq!(sched["KeyState"], "PendingReplicaDeletion");
    assert!(sched.get("DeletionDate").is_none());
    let p = describe_in(&kms, "eu-west-1", &id).await;
    assert_eq!(p["PendingDeletionWindowInDays"], 7);
    call(
        &kms,
        Operation::ScheduleKeyDeletion,
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .await
    .expect("schedule replica");
    fx.clock.advance_ms(7 * DAY_MS);
    assert_eq!(
        kms.sweep_deletions().await.expect("sweep"),
        1,
        "the replica"
    );
    let p = describe_in(&kms, "eu-west-1", &id).await;
    assert_eq!(p["KeyState"], "PendingDeletion");
    assert!(p.get("DeletionDate").is_some());
    assert_eq!(p["MultiRegionConfiguration"]["ReplicaKeys"], json!([]));
}
