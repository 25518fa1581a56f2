use serde_json::json;

use super::*;
use crate::types::{EncryptRequest, GenerateDataKeyRequest};

#[test]
fn operation_enum_matches_the_model() {
    let ours: Vec<String> = Operation::ALL
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    assert_eq!(ours, model_operation_names());
    for op in Operation::ALL {
        assert_eq!(
            Operation::from_target(&format!("TrentService.{}", op.name())),
            Some(*op)
        );
        assert_eq!(op.iam_action(), format!("kms:{}", op.name()));
    }
    assert_eq!(Operation::from_target("TrentService.encrypt"), None);
    assert_eq!(Operation::from_target("Encrypt"), None);
    assert_eq!(Operation::from_target("OtherService.Encrypt"), None);
}

#[test]
fn error_codes_have_aws_names_and_statuses() {
    assert_eq!(
        ErrorCode::KmsInternalException.name(),
        "KMSInternalException"
    );
    assert_eq!(ErrorCode::KmsInternalException.http_status(), 500);
    assert_eq!(ErrorCode::KmsInvalidStateException.http_status(), 400);
    assert_eq!(ErrorCode::NotFoundException.http_status(), 400);
    let names: std::collections::HashSet<_> = ALL_ERROR_CODES.iter().map(|c| c.name()).collect();
    assert_eq!(names.len(), ALL_ERROR_CODES.len());
}

fn validation(op: Operation, body: serde_json::Value) -> Result<(), KmsError> {
    validate_input(op, &body)
}

#[test]
fn validation_table() {
    use ErrorCode::*;
    let p = "AAAA"; // 3 bytes
    let big = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![0u8; 4097]);
    let cases: Vec<(Operation, serde_json::Value, Option<ErrorCode>, &str)> = vec![
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": p}),
            None,
            "",
        ),
        (
            Operation::Encrypt,
            json!({"Plaintext": p}),
            Some(ValidationException),
            "Value null at 'keyId' failed to satisfy constraint: Member must not be null",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": big}),
            Some(ValidationException),
            "Member must have length less than or equal to 4096",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "", "Plaintext": p}),
            Some(ValidationException),
            "Member must have length greater than or equal to 1",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": 5, "Plaintext": p}),
            Some(SerializationException),
            "",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": "!!notbase64"}),
            Some(SerializationException),
            "",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": p, "EncryptionAlgorithm": "AES"}),
            Some(ValidationException),
            "Member must satisfy enum value set",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": p, "EncryptionContext": {"a": 1}}),
            Some(SerializationException),
            "",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": p, "Unknown": 1}),
            None,
            "",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": "k", "Plaintext": p, "GrantTokens": vec!["t"; 11]}),
            Some(ValidationException),
            "less than or equal to 10",
        ),
        (
            Operation::Encrypt,
            json!({"KeyId": null, "Plaintext": null}),
            Some(ValidationException),
            "2 validation errors detected",
        ),
        (
            Operation::GenerateRandom,
            json!({"NumberOfBytes": 0}),
            Some(ValidationException),
            "Member must have value greater than or equal to 1",
        ),
        (
            Operation::GenerateRandom,
            json!({"NumberOfBytes": 1025}),
            Some(ValidationException),
            "Member must have value less than or equal to 1024",
        ),
        (
            Operation::GenerateRandom,
            json!({"NumberOfBytes": 1.5}),
            Some(SerializationException),
            "",
        ),
        (
            Operation::GenerateRandom,
            json!({"NumberOfBytes": 10_000_000_000i64}),
            Some(SerializationException),
            "",
        ),
        (
            Operation::CreateAlias,
            json!({"AliasName": "alias/ok_name-1:/", "TargetKeyId": "k"}),
            None,
            "",
        ),
        (
            Operation::CreateAlias,
            json!({"AliasName": "alias/bad name", "TargetKeyId": "k"}),
            Some(ValidationException),
            "regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ),
        (Operation::CreateKey, json!({}), None, ""),
        (
            Operation::CreateKey,
            json!({"Tags": [{"TagKey": "k"}]}),
            Some(ValidationException),
            "Value null at 'tags.1.member.tagValue'",
        ),
        (
            Operation::CreateKey,
            json!({"KeySpec": "AES_256"}),
            Some(ValidationException),
            "enum value set",
        ),
        (
            Operation::CreateKey,
            json!({"MultiRegion": "yes"}),
            Some(SerializationException),
            "",
        ),
        (
            Operation::ListKeys,
            json!({"Limit": 0}),
            Some(ValidationException),
            "",
        ),
        (Operation::ListKeys, json!({"Limit": 1000}), None, ""),
        (
            Operation::ListKeys,
            json!({"Limit": 1001}),
            Some(ValidationException),
            "",
        ),
        (
            Operation::ScheduleKeyDeletion,
            json!({"KeyId": "k", "PendingWindowInDays": 366}),
            Some(ValidationException),
            "",
        ),
    ];
    for (op, body, want, msg) in cases {
        let got = validation(op, body.clone());
        match (want, got) {
            (None, Ok(())) => {}
            (Some(code), Err(e)) => {
                assert_eq!(e.code, code, "{op:?} {body}: {e}");
                assert!(
                    e.message.contains(msg),
                    "{op:?} {body}: message {:?} lacks {msg:?}",
                    e.message
                );
            }
            (w, g) => panic!("{op:?} {body}: wanted {w:?}, got {g:?}"),
        }
    }
}

#[test]
fn base64_lengths_without_decoding() {
    use base64::Engine;
    for n in 0..20 {
        let text = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        assert_eq!(
            crate::validate::base64_decoded_len(&text),
            Some(n),
            "{text}"
        );
    }
    for bad in ["A", "AB=", "A===", "AB C", "AB*=", "====", "AB=C"] {
        let valid = base64::engine::general_purpose::STANDARD
            .decode(bad)
            .is_ok();
        assert!(!valid, "{bad} decodes");
        if crate::validate::base64_decoded_len(bad).is_some() {
            // Only padding placement escapes the cheap check; the typed decode refuses it.
            assert!(bad.contains('='), "{bad}");
        }
    }
}

#[test]
fn decode_typed_requests() {
    let r: EncryptRequest = decode_request(
        Operation::Encrypt,
        br#"{"KeyId":"alias/x","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"b"}}"#,
    )
    .expect("valid");
    assert_eq!(r.plaintext.as_bytes(), b"hello");
    assert_eq!(r.key_id, "alias/x");
    let r: GenerateDataKeyRequest = decode_request(
        Operation::GenerateDataKey,
        br#"{"KeyId":"k","KeySpec":"AES_256"}"#,
    )
    .expect("valid");
    assert_eq!(r.key_spec.as_deref(), Some("AES_256"));
    assert_eq!(
        decode_request::<EncryptRequest>(Operation::Encrypt, b"{not json")
            .map(|_| ())
            .unwrap_err()
            .code,
        ErrorCode::SerializationException
    );
    assert_eq!(
        decode_request::<EncryptRequest>(Operation::Encrypt, b"[1]")
            .map(|_| ())
            .unwrap_err()
            .code,
        ErrorCode::SerializationException
    );
    // An empty body is an empty object: required members then fail validation.
    assert_eq!(
        decode_request::<EncryptRequest>(Operation::Encrypt, b"")
            .map(|_| ())
            .unwrap_err()
            .code,
        ErrorCode::ValidationException
    );
}

#[test]
fn every_pattern_in_the_model_compiles() {
    let m = crate::model::model();
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("../model/kms-api-model.json")).expect("model");
    for (name, shape) in raw["shapes"].as_object().expect("shapes") {
        if shape.get("pattern").is_some() {
            match m.shapes.get(name) {
                Some(crate::model::Shape::String {
                    pattern: Some(_), ..
                }) => {}
                other => panic!("pattern of {name} did not compile: {other:?}"),
            }
        }
    }
}
