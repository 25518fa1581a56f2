//! Parameter validation as tables: CreateKey's key spec × key usage pairs and other
//! parameters, and the bounds of the numbers and lengths other operations take, each with
//! AWS's exact answer. A refused CreateKey creates nothing.

use serde_json::json;

use super::*;

/// One row: a name, the request and the answer (`None` for success).
type Row = (String, Operation, Value, Option<(ErrorCode, String)>);

fn err(code: ErrorCode, message: &str) -> Option<(ErrorCode, String)> {
    Some((code, message.to_string()))
}

const BAD_MARKER: &str = "The request was rejected because the marker that specifies where pagination should next begin is not valid.";

/// The model's message for a number out of its range.
fn range_error(value: i64, field: &str, bound: &str) -> String {
    format!("1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have value {bound}")
}

fn limit_error(value: i64, bound: &str) -> String {
    range_error(value, "limit", bound)
}

fn bytes_error(value: i64, bound: &str) -> String {
    range_error(value, "numberOfBytes", bound)
}

fn period_error(value: i64, bound: &str) -> String {
    range_error(value, "rotationPeriodInDays", bound)
}

/// The model's message for a description of 8193 characters (it quotes the value).
fn too_long_description() -> String {
    format!(
        "1 validation error detected: Value '{}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192",
        "d".repeat(8193)
    )
}

/// Runs the rows; an expected message ending in `…` is a prefix (the rest is a parser's words).
async fn run(kms: &Kms, rows: &[Row]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, op, body, want) in rows {
        let got = call(kms, *op, body.clone()).await;
        let ok = match (&got, want) {
            (Ok(_), None) => true,
            (Err(e), Some((code, message))) => {
                e.code == *code
                    && match message.strip_suffix('…') {
                        Some(prefix) => e.message.starts_with(prefix),
                        None => e.message == *message,
                    }
            }
            _ => false,
        };
        if !ok {
            let got = outcome(&got);
            failures.push(format!("{name}: want {want:?}, got {got}"));
        }
    }
    failures
}

/// Which key usages each key spec takes (AWS's key spec reference), every pair tried.
#[tokio::test]
async fn create_key_spec_and_usage_pairs() {
    const USAGES: [&str; 5] = [
        "ENCRYPT_DECRYPT",
        "SIGN_VERIFY",
        "GENERATE_VERIFY_MAC",
        "KEY_AGREEMENT",
        "ENCAPSULATE_DECAPSULATE",
    ];
    let specs: [(&str, &[&str]); 17] = [
        ("SYMMETRIC_DEFAULT", &["ENCRYPT_DECRYPT"]),
        ("RSA_2048", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
        ("RSA_3072", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
        ("RSA_4096", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
        ("ECC_NIST_P256", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
        ("ECC_NIST_P384", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
        ("ECC_NIST_P521", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
        ("ECC_SECG_P256K1", &["SIGN_VERIFY"]),
        ("ECC_NIST_EDWARDS25519", &["SIGN_VERIFY"]),
        ("HMAC_224", &["GENERATE_VERIFY_MAC"]),
        ("HMAC_256", &["GENERATE_VERIFY_MAC"]),
        ("HMAC_384", &["GENERATE_VERIFY_MAC"]),
        ("HMAC_512", &["GENERATE_VERIFY_MAC"]),
        ("ML_DSA_44", &["SIGN_VERIFY"]),
        ("ML_DSA_65", &["SIGN_VERIFY"]),
        ("ML_DSA_87", &["SIGN_VERIFY"]),
        ("ML_KEM_768", &["ENCAPSULATE_DECAPSULATE"]),
    ];
    let mut rows: Vec<Row> = Vec::new();
    for (spec, valid) in specs {
        for usage in USAGES {
            let want = if valid.contains(&usage) {
                None
            } else {
                err(
                    ErrorCode::ValidationException,
                    &format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
                )
            };
            rows.push((
                format!("{spec} {usage}"),
                Operation::CreateKey,
                json!({"KeySpec": spec, "KeyUsage": usage}),
                want,
            ));
        }
    }
    let fx = Fixture::new();
    let kms = fx.open().await;
    let failures = run(&kms, &rows).await;
    report(&failures, rows.len(), "pairs");
    let made = rows.iter().filter(|r| r.3.is_none()).count();
    assert_eq!(key_count(&kms).await, made, "one key per accepted pair");
}

#[tokio::test]
async fn create_key_parameters() {
    let no_usage =
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.";
    let rows: Vec<Row> = vec![
        ("no parameters".into(), Operation::CreateKey, json!({}), None),
        (
            "usage without a spec".into(),
            Operation::CreateKey,
            json!({"KeyUsage": "SIGN_VERIFY"}),
            err(
                ErrorCode::ValidationException,
                "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT",
            ),
        ),
        (
            "an asymmetric spec without a usage".into(),
            Operation::CreateKey,
            json!({"KeySpec": "RSA_2048"}),
            err(ErrorCode::ValidationException, no_usage),
        ),
        (
            "an HMAC spec without a usage".into(),
            Operation::CreateKey,
            json!({"KeySpec": "HMAC_256"}),
            err(ErrorCode::ValidationException, no_usage),
        ),
        (
            "SM2 (China Regions only)".into(),
            Operation::CreateKey,
            json!({"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}),
            err(
                ErrorCode::UnsupportedOperationException,
                "KeySpec SM2 is not supported in this Region",
            ),
        ),
        (
            "the deprecated CustomerMasterKeySpec".into(),
            Operation::CreateKey,
            json!({"CustomerMasterKeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
            None,
        ),
        (
            "KeySpec and CustomerMasterKeySpec".into(),
            Operation::CreateKey,
            json!({"KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"}),
            err(
                ErrorCode::ValidationException,
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
            ),
        ),
        (
            "a spec not in the model".into(),
            Operation::CreateKey,
            json!({"KeySpec": "AES_256"}),
            err(ErrorCode::ValidationException, "1 validation error detected: Value 'AES_256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, ML_KEM_1024]"),
        ),
        (
            "the longest description".into(),
            Operation::CreateKey,
            json!({"Description": "d".repeat(8192)}),
            None,
        ),
        (
            "a description one too long".into(),
            Operation::CreateKey,
            json!({"Description": "d".repeat(8193)}),
            err(ErrorCode::ValidationException, &too_long_description()),
        ),
        (
            "a policy that is not JSON".into(),
            Operation::CreateKey,
            json!({"Policy": "not json"}),
            err(ErrorCode::MalformedPolicyDocumentException, "The policy is not valid JSON: …"),
        ),
        (
            "a policy over 32 KiB".into(),
            Operation::CreateKey,
            json!({"Policy": format!("{{\"Version\":\"2012-10-17\",\"Statement\":[],\"Id\":\"{}\"}}", "x".repeat(32 * 1024))}),
            err(ErrorCode::LimitExceededException, "The key policy is 32815 bytes; the limit is 32768."),
        ),
        (
            "XksKeyId without an external key store".into(),
            Operation::CreateKey,
            json!({"XksKeyId": "k"}),
            err(
                ErrorCode::ValidationException,
                "XksKeyId is valid only for keys with Origin EXTERNAL_KEY_STORE.",
            ),
        ),
        (
            "an external key store key without its store".into(),
            Operation::CreateKey,
            json!({"Origin": "EXTERNAL_KEY_STORE"}),
            err(
                ErrorCode::ValidationException,
                "Origin EXTERNAL_KEY_STORE requires CustomKeyStoreId and XksKeyId.",
            ),
        ),
        (
            "an asymmetric external key store key".into(),
            Operation::CreateKey,
            json!({"Origin": "EXTERNAL_KEY_STORE", "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}),
            err(
                ErrorCode::UnsupportedOperationException,
                "KeySpec RSA_2048 is not supported for Origin EXTERNAL_KEY_STORE",
            ),
        ),
        (
            "CloudHSM".into(),
            Operation::CreateKey,
            json!({"Origin": "AWS_CLOUDHSM"}),
            err(ErrorCode::UnsupportedOperationException, "Origin AWS_CLOUDHSM is not supported by Strongroom yet."),
        ),
    ];
    let fx = Fixture::new();
    let kms = fx.open().await;
    let failures = run(&kms, &rows).await;
    report(&failures, rows.len(), "rows");
    let made = rows.iter().filter(|r| r.3.is_none()).count();
    assert_eq!(
        key_count(&kms).await,
        made,
        "refused requests created nothing"
    );
}

/// The bounds of the numbers and lengths that operations on a key take.
#[tokio::test]
async fn bounds_of_operation_parameters() {
    let fx = Fixture::new();
    let kms = fx.open().await;
    let key = new_key(&kms).await;
    let window = |days: i64| json!({"KeyId": key, "PendingWindowInDays": days});
    let window_error = |days: i64, bound: &str| {
        err(
            ErrorCode::ValidationException,
            &range_error(days, "pendingWindowInDays", bound),
        )
    };
    // The model's range (1 to 365) is checked when the body is decoded, AWS's (7 to 30) after.
    let rows: Vec<Row> = vec![
        ("deletion window 6".into(), Operation::ScheduleKeyDeletion, window(6), window_error(6, "greater than or equal to 7")),
        ("deletion window 0".into(), Operation::ScheduleKeyDeletion, window(0), window_error(0, "greater than or equal to 1")),
        ("deletion window 31".into(), Operation::ScheduleKeyDeletion, window(31), window_error(31, "less than or equal to 30")),
        ("deletion window 365".into(), Operation::ScheduleKeyDeletion, window(365), window_error(365, "less than or equal to 30")),
        (
            "a description of 8193".into(),
            Operation::UpdateKeyDescription,
            json!({"KeyId": key, "Description": "d".repeat(8193)}),
            err(ErrorCode::ValidationException, &too_long_description()),
        ),
        (
            "a description of 8192".into(),
            Operation::UpdateKeyDescription,
            json!({"KeyId": key, "Description": "d".repeat(8192)}),
            None,
        ),
        ("an empty description".into(), Operation::UpdateKeyDescription, json!({"KeyId": key, "Description": ""}), None),
        ("ListKeys limit 0".into(), Operation::ListKeys, json!({"Limit": 0}), err(ErrorCode::ValidationException, &limit_error(0, "greater than or equal to 1"))),
        ("ListKeys limit 1000".into(), Operation::ListKeys, json!({"Limit": 1000}), None),
        ("ListKeys limit 1001".into(), Operation::ListKeys, json!({"Limit": 1001}), err(ErrorCode::ValidationException, &limit_error(1001, "less than or equal to 1000"))),
        ("ListKeys bad marker".into(), Operation::ListKeys, json!({"Marker": "nope"}), err(ErrorCode::InvalidMarkerException, BAD_MARKER)),
        ("ListAliases bad marker".into(), Operation::ListAliases, json!({"Marker": "nope"}), err(ErrorCode::InvalidMarkerException, BAD_MARKER)),
        (
            "ListResourceTags bad marker".into(),
            Operation::ListResourceTags,
            json!({"KeyId": key, "Marker": "nope"}),
            err(ErrorCode::InvalidMarkerException, BAD_MARKER),
        ),
        ("1 data key byte".into(), Operation::GenerateDataKey, json!({"KeyId": key, "NumberOfBytes": 1}), None),
        ("1024 data key bytes".into(), Operation::GenerateDataKey, json!({"KeyId": key, "NumberOfBytes": 1024}), None),
        (
            "0 data key bytes".into(),
            Operation::GenerateDataKey,
            json!({"KeyId": key, "NumberOfBytes": 0}),
            err(ErrorCode::ValidationException, &bytes_error(0, "greater than or equal to 1")),
        ),
        (
            "1025 data key bytes".into(),
            Operation::GenerateDataKey,
            json!({"KeyId": key, "NumberOfBytes": 1025}),
            err(ErrorCode::ValidationException, &bytes_error(1025, "less than or equal to 1024")),
        ),
        (
            "a data key spec and a length".into(),
            Operation::GenerateDataKey,
            json!({"KeyId": key, "NumberOfBytes": 32, "KeySpec": "AES_256"}),
            err(ErrorCode::ValidationException, "Please specify either number of bytes or key spec, not both."),
        ),
        (
            "neither a data key spec nor a length".into(),
            Operation::GenerateDataKey,
            json!({"KeyId": key}),
            err(ErrorCode::ValidationException, "Please specify either number of bytes or key spec."),
        ),
        ("4096 bytes to encrypt".into(), Operation::Encrypt, json!({"KeyId": key, "Plaintext": b64(&[1u8; 4096])}), None),
        (
            "4097 bytes to encrypt".into(),
            Operation::Encrypt,
            json!({"KeyId": key, "Plaintext": b64(&[1u8; 4097])}),
            err(ErrorCode::ValidationException, "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"),
        ),
        (
            "nothing to encrypt".into(),
            Operation::Encrypt,
            json!({"KeyId": key, "Plaintext": ""}),
            err(ErrorCode::ValidationException, "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        ),
        ("1 random byte".into(), Operation::GenerateRandom, json!({"NumberOfBytes": 1}), None),
        ("1024 random bytes".into(), Operation::GenerateRandom, json!({"NumberOfBytes": 1024}), None),
        ("0 random bytes".into(), Operation::GenerateRandom, json!({"NumberOfBytes": 0}), err(ErrorCode::ValidationException, &bytes_error(0, "greater than or equal to 1"))),
        ("1025 random bytes".into(), Operation::GenerateRandom, json!({"NumberOfBytes": 1025}), err(ErrorCode::ValidationException, &bytes_error(1025, "less than or equal to 1024"))),
        (
            "rotation period 89".into(),
            Operation::EnableKeyRotation,
            json!({"KeyId": key, "RotationPeriodInDays": 89}),
            err(ErrorCode::ValidationException, &period_error(89, "greater than or equal to 90")),
        ),
        (
            "rotation period 2561".into(),
            Operation::EnableKeyRotation,
            json!({"KeyId": key, "RotationPeriodInDays": 2561}),
            err(ErrorCode::ValidationException, &period_error(2561, "less than or equal to 2560")),
        ),
        ("rotation period 90".into(), Operation::EnableKeyRotation, json!({"KeyId": key, "RotationPeriodInDays": 90}), None),
        ("rotation period 2560".into(), Operation::EnableKeyRotation, json!({"KeyId": key, "RotationPeriodInDays": 2560}), None),
        ("a malformed key id".into(), Operation::DescribeKey, json!({"KeyId": "fake-key-id"}), err(ErrorCode::NotFoundException, "Invalid keyId 'fake-key-id'")),
        (
            "an unknown key id".into(),
            Operation::DescribeKey,
            json!({"KeyId": "11111111-2222-3333-4444-555555555555"}),
            err(
                ErrorCode::NotFoundException,
                "Key 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555' does not exist",
            ),
        ),
        (
            "an unknown alias".into(),
            Operation::DescribeKey,
            json!({"KeyId": "alias/nope"}),
            err(ErrorCode::NotFoundException, "Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found."),
        ),
        (
            "an alias where only keys are named".into(),
            Operation::GetKeyRotationStatus,
            json!({"KeyId": "alias/nope"}),
            err(
                ErrorCode::InvalidArnException,
                "Key Aliases are not supported for this operation.",
            ),
        ),
    ];
    let failures = run(&kms, &rows).await;
    report(&failures, rows.len(), "rows");
}
