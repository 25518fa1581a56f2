//! Key usage × operation: each cryptographic operation against a key of each usage, with AWS's
//! exact refusal. Key usage is checked before the algorithm and the operation's own checks, so
//! a key of the wrong usage is refused for what it is whatever else the request says.

use serde_json::{json, Value};

use super::*;

/// The table's columns: (name, KeySpec, KeyUsage).
const KEYS: [(&str, &str, &str); 6] = [
    ("symmetric", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("rsa", "RSA_2048", "ENCRYPT_DECRYPT"),
    ("sign", "ECC_NIST_P256", "SIGN_VERIFY"),
    ("mac", "HMAC_256", "GENERATE_VERIFY_MAC"),
    ("agreement", "ECC_NIST_P256", "KEY_AGREEMENT"),
    ("kem", "ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
];

#[derive(Clone, Copy, Debug)]
enum Want {
    Ok,
    /// `InvalidKeyUsageException`: "<arn> key usage is <USAGE> which is not valid for <Op>."
    Usage,
    /// Another answer, exactly.
    Err(ErrorCode, &'static str),
}

use Want::{Ok as Y, Usage as U};

const NO_DATA_KEY: Want = Want::Err(
    ErrorCode::InvalidKeyUsageException,
    "You cannot generate a data key with an asymmetric CMK",
);
const NO_PAIR: Want = Want::Err(
    ErrorCode::InvalidKeyUsageException,
    "You cannot generate a data key pair with an asymmetric CMK",
);
const NO_PUBLIC_KEY: Want = Want::Err(ErrorCode::UnsupportedOperationException, "");

/// (operation, body given the key id and a P-256 public key, expectation per column of [`KEYS`]).
type Row = (Operation, fn(&str, &str) -> Value, [Want; 6]);

fn table() -> Vec<Row> {
    vec![
        (
            Operation::Encrypt,
            |k, _| json!({"KeyId": k, "Plaintext": "eA=="}),
            [
                Y,
                // No algorithm named is SYMMETRIC_DEFAULT.
                Want::Err(
                    ErrorCode::InvalidKeyUsageException,
                    "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
                ),
                U,
                U,
                U,
                U,
            ],
        ),
        (
            Operation::Encrypt,
            |k, _| json!({"KeyId": k, "Plaintext": "eA==", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
            [
                Want::Err(
                    ErrorCode::InvalidKeyUsageException,
                    "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.",
                ),
                Y,
                U,
                U,
                U,
                U,
            ],
        ),
        (
            Operation::GenerateDataKey,
            |k, _| json!({"KeyId": k, "NumberOfBytes": 32}),
            [Y, NO_DATA_KEY, U, U, U, U],
        ),
        (
            Operation::GenerateDataKeyWithoutPlaintext,
            |k, _| json!({"KeyId": k, "KeySpec": "AES_128"}),
            [Y, NO_DATA_KEY, U, U, U, U],
        ),
        (
            Operation::GenerateDataKeyPair,
            |k, _| json!({"KeyId": k, "KeyPairSpec": "ECC_NIST_P256"}),
            [Y, NO_PAIR, U, U, U, U],
        ),
        (
            Operation::GenerateDataKeyPairWithoutPlaintext,
            |k, _| json!({"KeyId": k, "KeyPairSpec": "ECC_NIST_P256"}),
            [Y, NO_PAIR, U, U, U, U],
        ),
        (
            Operation::Sign,
            |k, _| json!({"KeyId": k, "Message": "bWVzc2FnZQ==", "SigningAlgorithm": "ECDSA_SHA_256"}),
            [U, U, Y, U, U, U],
        ),
        (
            Operation::Verify,
            |k, _| {
                json!({"KeyId": k, "Message": "bWVzc2FnZQ==", "Signature": "MAYCAQECAQE=",
                       "SigningAlgorithm": "ECDSA_SHA_256"})
            },
            [
                U,
                U,
                Want::Err(ErrorCode::KmsInvalidSignatureException, ""),
                U,
                U,
                U,
            ],
        ),
        (
            Operation::GenerateMac,
            |k, _| json!({"KeyId": k, "Message": "bWVzc2FnZQ==", "MacAlgorithm": "HMAC_SHA_256"}),
            [U, U, U, Y, U, U],
        ),
        (
            Operation::VerifyMac,
            |k, _| {
                json!({"KeyId": k, "Message": "bWVzc2FnZQ==", "MacAlgorithm": "HMAC_SHA_256",
                       "Mac": b64(&[0u8; 32])})
            },
            [
                U,
                U,
                U,
                Want::Err(ErrorCode::KmsInvalidMacException, ""),
                U,
                U,
            ],
        ),
        (
            Operation::DeriveSharedSecret,
            |k, public| json!({"KeyId": k, "KeyAgreementAlgorithm": "ECDH", "PublicKey": public}),
            [U, U, U, U, Y, U],
        ),
        (
            Operation::Encapsulate,
            |k, _| json!({"KeyId": k, "EncapsulationAlgorithm": "ML_KEM"}),
            [U, U, U, U, U, Y],
        ),
        // ML-KEM rejects a bad ciphertext implicitly (FIPS 203): a secret, not an error.
        (
            Operation::Decapsulate,
            |k, _| {
                json!({"KeyId": k, "EncapsulationAlgorithm": "ML_KEM",
                       "SharedSecretCiphertextBlob": b64(&[0u8; 1088])})
            },
            [U, U, U, U, U, Y],
        ),
        (
            Operation::GetPublicKey,
            |k, _| json!({"KeyId": k}),
            [NO_PUBLIC_KEY, Y, Y, NO_PUBLIC_KEY, Y, Y],
        ),
    ]
}

#[tokio::test]
async fn every_usage_against_every_cryptographic_operation() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let mut keys = Vec::new();
    for (name, spec, usage) in KEYS {
        let created = call(
            &kms,
            Operation::CreateKey,
            json!({"KeySpec": spec, "KeyUsage": usage}),
        )
        .await
        .unwrap_or_else(|e| panic!("CreateKey {name}: {e}"));
        let m = &created["KeyMetadata"];
        keys.push((name, usage, s(m, "KeyId"), s(m, "Arn")));
    }
    // A peer public key for ECDH: the agreement key's own.
    let public = s(
        &call(&kms, Operation::GetPublicKey, json!({"KeyId": keys[4].2}))
            .await
            .expect("public key"),
        "PublicKey",
    );
    let mut failures = Vec::new();
    let mut cells = 0;
    for (op, body, wants) in table() {
        for ((name, usage, id, arn), want) in keys.iter().zip(wants) {
            let got = call(&kms, op, body(id, &public)).await;
            let expected = match want {
                Y => None,
                U => Some((
                    ErrorCode::InvalidKeyUsageException,
                    format!(
                        "{arn} key usage is {usage} which is not valid for {}.",
                        op.name()
                    ),
                )),
                Want::Err(code, message) => Some((code, message.to_string())),
            };
            cells += 1;
            let ok = match (&got, &expected) {
                (Ok(_), None) => true,
                (Err(e), Some((code, message))) => e.code == *code && e.message == *message,
                _ => false,
            };
            if !ok {
                let got = outcome(&got);
                failures.push(format!("{op:?} on {name}: want {expected:?}, got {got}"));
            }
        }
    }
    report(&failures, cells, "cells");
}
