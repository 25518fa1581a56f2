//! Imported key material across nodes: two services on one database, a token one issued is
//! used on the other, and each sees the other's imports, deletions and expiries through the
//! change feed.

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use serde_json::json;

use super::*;

/// RSA-OAEP (SHA-256) of `plaintext` under a DER SubjectPublicKeyInfo.
pub(super) fn oaep_wrap(public_der: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let public = PublicEncryptingKey::from_der(public_der).expect("wrapping public key");
    let oaep = OaepPublicEncryptingKey::new(public).expect("oaep key");
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let len = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
        .expect("encrypt")
        .len();
    out.truncate(len);
    out
}

pub(super) fn unb64(v: &serde_json::Value, k: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s(v, k))
        .expect("base64")
}

async fn state(kms: &Kms, id: &str) -> String {
    let d = call(kms, Operation::DescribeKey, json!({"KeyId": id}))
        .await
        .expect("describe");
    s(&d["KeyMetadata"], "KeyState")
}

#[tokio::test]
async fn a_token_of_one_node_imports_on_another() {
    let fx = Fixture::new();
    let a = fx.open().await;
    let b = fx.open().await;
    let created = call(&a, Operation::CreateKey, json!({"Origin": "EXTERNAL"}))
        .await
        .expect("create");
    let id = s(&created["KeyMetadata"], "KeyId");
    let params = call(
        &a,
        Operation::GetParametersForImport,
        json!({"KeyId": id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
    )
    .await
    .expect("parameters");
    let material = [7u8; 32];
    let encrypted = oaep_wrap(&unb64(&params, "PublicKey"), &material);

    assert!(b.follow_changes().await.expect("follow") > 0);
    let valid_to = (fx.clock.now_ms() / 1000) + 3600;
    let imported = call(
        &b,
        Operation::ImportKeyMaterial,
        json!({
            "KeyId": id,
            "ImportToken": s(&params, "ImportToken"),
            "EncryptedKeyMaterial": b64(&encrypted),
            "ValidTo": valid_to,
        }),
    )
    .await
    .expect("import on the other node");
    let material_id = s(&imported, "KeyMaterialId");
    let ciphertext = call(
        &b,
        Operation::Encrypt,
        json!({"KeyId": id, "Plaintext": b64(b"across nodes")}),
    )
    .await
    .expect("encrypt");

    assert!(a.follow_changes().await.expect("follow") > 0);
    assert_eq!(state(&a, &id).await, "Enabled");
    let plain = call(
        &a,
        Operation::Decrypt,
        json!({"CiphertextBlob": s(&ciphertext, "CiphertextBlob")}),
    )
    .await
    .expect("decrypt on the first node");
    assert_eq!(unb64(&plain, "Plaintext"), b"across nodes");
    assert_eq!(s(&plain, "KeyMaterialId"), material_id);

    // Expiry: whichever node's sweep deletes the material, both see it gone.
    fx.clock.advance_ms(3600 * 1000 + 1);
    let (ra, rb) = tokio::join!(a.sweep_deletions(), b.sweep_deletions());
    ra.expect("a");
    rb.expect("b");
    a.follow_changes().await.expect("follow");
    b.follow_changes().await.expect("follow");
    assert_eq!(state(&a, &id).await, "PendingImport");
    assert_eq!(state(&b, &id).await, "PendingImport");
    drop((a, b));
    let c = fx.open().await;
    assert_eq!(state(&c, &id).await, "PendingImport");
    let e = call(
        &c,
        Operation::Decrypt,
        json!({"CiphertextBlob": s(&ciphertext, "CiphertextBlob")}),
    )
    .await
    .expect_err("no material");
    assert_eq!(e.code, ErrorCode::KmsInvalidStateException);
}
