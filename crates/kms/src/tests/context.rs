//! Encryption context as a table: a ciphertext opens only under exactly the context it was
//! made with (order aside), through Decrypt and through ReEncrypt's source side; otherwise
//! AWS's InvalidCiphertextException, which says nothing more.

use serde_json::json;

use super::*;

#[tokio::test]
async fn a_ciphertext_opens_only_under_its_own_context() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let key = new_key(&kms).await;
    let other = new_key(&kms).await;
    // (row, context at Encrypt, context at Decrypt, opens)
    let rows = [
        ("none, none", json!(null), json!(null), true),
        ("none, empty", json!(null), json!({}), true),
        ("the same pair", json!({"a": "b"}), json!({"a": "b"}), true),
        (
            "the same pairs in another order",
            json!({"a": "b", "c": "d"}),
            json!({"c": "d", "a": "b"}),
            true,
        ),
        ("an empty value", json!({"a": ""}), json!({"a": ""}), true),
        (
            "beyond ASCII",
            json!({"clé": "värde ✓"}),
            json!({"clé": "värde ✓"}),
            true,
        ),
        ("missing at Decrypt", json!({"a": "b"}), json!(null), false),
        ("added at Decrypt", json!(null), json!({"a": "b"}), false),
        (
            "a pair fewer",
            json!({"a": "b", "c": "d"}),
            json!({"a": "b"}),
            false,
        ),
        (
            "a pair more",
            json!({"a": "b"}),
            json!({"a": "b", "c": "d"}),
            false,
        ),
        (
            "the value in capitals",
            json!({"a": "b"}),
            json!({"a": "B"}),
            false,
        ),
        (
            "the key in capitals",
            json!({"a": "b"}),
            json!({"A": "b"}),
            false,
        ),
        (
            "an empty value for a missing one",
            json!({"a": "b"}),
            json!({"a": ""}),
            false,
        ),
        (
            "key and value swapped",
            json!({"a": "b"}),
            json!({"b": "a"}),
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, at_encrypt, at_decrypt, opens) in &rows {
        let mut enc = json!({"KeyId": key, "Plaintext": b64(b"in context")});
        if !at_encrypt.is_null() {
            enc["EncryptionContext"] = at_encrypt.clone();
        }
        let ct = call(&kms, Operation::Encrypt, enc)
            .await
            .unwrap_or_else(|e| panic!("{name}: Encrypt: {e}"));
        let mut dec = json!({"CiphertextBlob": ct["CiphertextBlob"]});
        let mut re = json!({"CiphertextBlob": ct["CiphertextBlob"], "DestinationKeyId": other});
        if !at_decrypt.is_null() {
            dec["EncryptionContext"] = at_decrypt.clone();
            re["SourceEncryptionContext"] = at_decrypt.clone();
        }
        for (op, body) in [(Operation::Decrypt, dec), (Operation::ReEncrypt, re)] {
            let got = call(&kms, op, body).await;
            let ok = match &got {
                Ok(out) if op == Operation::Decrypt => {
                    *opens && out["Plaintext"] == b64(b"in context")
                }
                Ok(_) => *opens,
                Err(e) => {
                    !*opens
                        && e.code == ErrorCode::InvalidCiphertextException
                        && e.message.is_empty()
                }
            };
            if !ok {
                let got = outcome(&got);
                failures.push(format!("{name} ({op:?}): opens {opens}, got {got}"));
            }
        }
    }
    report(&failures, rows.len() * 2, "cells");
}
