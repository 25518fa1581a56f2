use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::chain::{self, PublicKey, SigningKey};
use crate::params::{camel, response_elements, Redacted, SENSITIVE_MEMBERS};
use crate::record::*;
use crate::verify::{verify_file, verify_files};
use crate::writer::{list_files, AuditLog, Durability, WriterConfig};

// ---- requestParameters ----

#[test]
fn member_names_are_camel_cased_as_cloudtrail_does() {
    assert_eq!(camel("KeyId"), "keyId");
    assert_eq!(camel("XksProxyUriEndpoint"), "xksProxyUriEndpoint");
    assert_eq!(
        camel("BypassPolicyLockoutSafetyCheck"),
        "bypassPolicyLockoutSafetyCheck"
    );
    // CloudTrail's CreateKey example keeps the acronym: "AWSAccountId".
    assert_eq!(camel("AWSAccountId"), "AWSAccountId");
    assert_eq!(camel("keyId"), "keyId");
    assert_eq!(camel(""), "");
}

#[derive(Serialize)]
struct Recipient {
    #[serde(rename = "KeyEncryptionAlgorithm")]
    alg: String,
    #[serde(rename = "AttestationDocument")]
    doc: String,
}

#[derive(Serialize)]
struct Tag {
    #[serde(rename = "TagKey")]
    key: String,
    #[serde(rename = "TagValue")]
    value: String,
}

#[derive(Serialize)]
struct FakeRequest {
    #[serde(rename = "KeyId")]
    key_id: String,
    #[serde(rename = "Plaintext")]
    plaintext: String,
    #[serde(rename = "EncryptionContext")]
    context: BTreeMap<String, String>,
    #[serde(rename = "GrantTokens", skip_serializing_if = "Option::is_none")]
    grant_tokens: Option<Vec<String>>,
    #[serde(rename = "Recipient")]
    recipient: Option<Recipient>,
    #[serde(rename = "Tags")]
    tags: Vec<Tag>,
    #[serde(rename = "NumberOfBytes")]
    n: Option<u32>,
}

#[test]
fn request_parameters_drop_secrets_and_keep_the_rest() {
    let req = FakeRequest {
        key_id: "alias/app".into(),
        plaintext: "U0VDUkVU".into(),
        context: BTreeMap::from([("Department".into(), "Engineering".into())]),
        grant_tokens: Some(vec!["TOKEN".into()]),
        recipient: Some(Recipient {
            alg: "RSAES_OAEP_SHA_256".into(),
            doc: "ATTEST".into(),
        }),
        tags: vec![Tag {
            key: "Team".into(),
            value: "Blue".into(),
        }],
        n: Some(32),
    };
    let p = serde_json::to_value(Redacted(&req)).ok();
    assert_eq!(
        p,
        Some(json!({
            "keyId": "alias/app",
            // Encryption context keys are data: unchanged.
            "encryptionContext": {"Department": "Engineering"},
            "tags": [{"tagKey": "Team", "tagValue": "Blue"}],
            "numberOfBytes": 32,
        }))
    );
    let text = serde_json::to_string(&p).unwrap_or_default();
    for secret in ["U0VDUkVU", "TOKEN", "ATTEST", "RSAES"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn response_elements_drop_tokens_and_empty_responses() {
    assert_eq!(response_elements(b"{}"), None);
    assert_eq!(
        response_elements(br#"{"GrantId":"g1","GrantToken":"T0KEN"}"#),
        Some(json!({"grantId": "g1"}))
    );
    assert_eq!(
        response_elements(br#"{"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"k"}}"#),
        Some(json!({"keyMetadata": {"AWSAccountId": "111122223333", "keyId": "k"}}))
    );
}

/// Every member of the API model that holds data, ciphertext, key material or a credential —
/// blob shapes, sensitive shapes, grant tokens — is on the list.
#[test]
fn every_sensitive_model_member_is_redacted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kms-api/model/kms-api-model.json");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let model: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let shapes = model["shapes"].as_object().cloned().unwrap_or_default();
    assert!(shapes.len() > 200, "model not read from {}", path.display());
    let secret_shape = |name: &str| {
        let s = &shapes[name];
        s["type"] == "blob" || s["sensitive"] == true || name.starts_with("GrantToken")
    };
    let mut missing = Vec::new();
    let mut checked = 0;
    for shape in shapes.values() {
        let Some(members) = shape["members"].as_object() else {
            continue;
        };
        for (member, target) in members {
            let target = target["shape"].as_str().unwrap_or_default();
            // Structures are checked member by member (the redaction recurses); a list of
            // secrets is a secret (GrantTokens).
            let list_item = shapes
                .get(target)
                .and_then(|t| t["member"]["shape"].as_str());
            let secret = secret_shape(target) || list_item.is_some_and(secret_shape);
            if secret {
                checked += 1;
                if !crate::params::is_sensitive(member) {
                    missing.push(format!("{member} ({target})"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} sensitive members found");
    assert!(missing.is_empty(), "not redacted: {missing:?}");
    assert!(
        SENSITIVE_MEMBERS.windows(2).all(|w| w[0] < w[1]),
        "SENSITIVE_MEMBERS must stay sorted"
    );
}

// ---- records ----

fn sample_record(i: usize) -> Record {
    Record {
        event_version: EVENT_VERSION.into(),
        user_identity: UserIdentity {
            kind: IdentityType::IamUser,
            principal_id: Some("AIDAEXAMPLE".into()),
            arn: Some("arn:aws:iam::111122223333:user/Alice".into()),
            account_id: Some("111122223333".into()),
            access_key_id: Some("AKIAEXAMPLE".into()),
            user_name: Some("Alice".into()),
            session_context: None,
        },
        event_time: "2025-05-20T20:46:16Z".into(),
        event_source: EVENT_SOURCE.into(),
        event_name: "Encrypt".into(),
        aws_region: "us-east-1".into(),
        source_ip_address: "192.0.2.0".into(),
        user_agent: "test".into(),
        error_code: None,
        error_message: None,
        request_parameters: Some(json!({"keyId": format!("k{i}")})),
        response_elements: None,
        additional_event_data: None,
        request_id: format!("req-{i}"),
        event_id: format!("evt-{i}"),
        read_only: true,
        resources: vec![Resource {
            account_id: "111122223333".into(),
            kind: KEY_RESOURCE_TYPE.into(),
            arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .into(),
        }],
        event_type: EVENT_TYPE.into(),
        management_event: true,
        recipient_account_id: Some("111122223333".into()),
        event_category: EVENT_CATEGORY.into(),
    }
}

#[test]
fn a_record_serializes_in_cloudtrail_order_and_names() {
    let text = serde_json::to_string(&sample_record(1)).unwrap_or_default();
    let order = [
        "\"eventVersion\"",
        "\"userIdentity\"",
        "\"eventTime\"",
        "\"eventSource\"",
        "\"eventName\"",
        "\"awsRegion\"",
        "\"sourceIPAddress\"",
        "\"userAgent\"",
        "\"requestParameters\"",
        "\"responseElements\":null",
        "\"requestID\"",
        "\"eventID\"",
        "\"readOnly\"",
        "\"resources\"",
        "\"eventType\"",
        "\"managementEvent\"",
        "\"recipientAccountId\"",
        "\"eventCategory\"",
    ];
    let mut at = 0;
    for name in order {
        let found = text[at..].find(name).map(|i| i + at);
        assert!(found.is_some(), "{name} missing or out of order in {text}");
        at = found.unwrap_or(at);
    }
    assert!(text.contains(r#""type":"IAMUser""#));
    assert!(text.contains(r#""type":"AWS::KMS::Key","ARN":"#));
    assert!(!text.contains("errorCode"));
    assert_eq!(
        event_time(time::macros::datetime!(2025-05-20 20:46:16.9 UTC)),
        "2025-05-20T20:46:16Z"
    );
    // The per-thread cache of the last second follows the clock, and offsets become UTC.
    assert_eq!(
        event_time(time::macros::datetime!(2025-05-20 20:46:16.1 UTC)),
        "2025-05-20T20:46:16Z"
    );
    assert_eq!(
        event_time(time::macros::datetime!(2025-05-20 20:46:17 UTC)),
        "2025-05-20T20:46:17Z"
    );
    assert_eq!(
        event_time(time::macros::datetime!(2025-05-20 22:46:17 +02:00)),
        "2025-05-20T20:46:17Z"
    );
}

/// The request of [`written_records_read_back_as_records`]: a key id and a secret.
#[derive(Serialize)]
struct EncryptLike {
    #[serde(rename = "KeyId")]
    key_id: String,
    #[serde(rename = "Plaintext")]
    plaintext: String,
}

fn borrowed<'a>(
    identity: &'a RenderedIdentity,
    sample: &'a Record,
    arns: &'a [String],
    req: &'a EncryptLike,
) -> RecordRef<'a, EncryptLike> {
    RecordRef {
        event_version: EVENT_VERSION,
        user_identity: IdentityRef::Rendered(identity),
        event_time: &sample.event_time,
        event_source: EVENT_SOURCE,
        event_name: &sample.event_name,
        aws_region: &sample.aws_region,
        source_ip_address: sample.source_ip_address.parse().ok(),
        user_agent: &sample.user_agent,
        error_code: None,
        error_message: None,
        request_parameters: Some(Redacted(req)),
        response_elements: None,
        additional_event_data: None,
        request_id: &sample.request_id,
        event_id: &sample.event_id,
        read_only: sample.read_only,
        resources: KeyResources {
            arns,
            created: None,
        },
        event_type: EVENT_TYPE,
        management_event: sample.management_event,
        recipient_account_id: sample.recipient_account_id.as_deref(),
        event_category: EVENT_CATEGORY,
    }
}

/// A record's line as the writer takes it, without its newline.
fn encoded<R: serde::Serialize>(record: &R) -> Vec<u8> {
    let line = crate::writer::encode(record).unwrap_or_else(|e| panic!("{e}"));
    assert!(!line.text().contains(&b'\n'));
    line.text().to_vec()
}

#[test]
fn written_records_read_back_as_records() {
    let sample = sample_record(7);
    let identity =
        RenderedIdentity::new(sample.user_identity.clone()).unwrap_or_else(|e| panic!("{e}"));
    let arns: Vec<String> = sample.resources.iter().map(|r| r.arn.clone()).collect();
    let req = EncryptLike {
        key_id: "k7".into(),
        plaintext: "S3CRET-PLAINTEXT".into(),
    };
    let read = |line: &[u8]| -> Record {
        let text = String::from_utf8_lossy(line);
        assert!(!text.contains("S3CRET"), "{text}");
        serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let line = encoded(&borrowed(&identity, &sample, &arns, &req));
    assert_eq!(read(&line), sample);

    // A failure from inside the service, with the external key, and a key named only by the
    // response.
    let response = json!({"keyMetadata": {"arn": arns[0]}});
    let mut r = borrowed(&identity, &sample, &[], &req);
    r.source_ip_address = None;
    r.error_code = Some("KMSInvalidStateException");
    r.error_message = Some("k is pending deletion.");
    r.response_elements = Some(&response);
    r.additional_event_data = Some(AdditionalEventDataRef {
        custom_key_store_id: Some("cks-1234567890abcdef0"),
        xks_key_id: Some("xks-key"),
        key_material_id: Some("m1"),
        ..AdditionalEventDataRef::default()
    });
    r.resources.created = Some(&arns[0]);
    let back = read(&encoded(&r));
    assert_eq!(back.source_ip_address, "AWS Internal");
    assert_eq!(back.error_code.as_deref(), Some("KMSInvalidStateException"));
    assert_eq!(
        back.error_message.as_deref(),
        Some("k is pending deletion.")
    );
    assert_eq!(back.response_elements, Some(response.clone()));
    let extra = back.additional_event_data.unwrap_or_default();
    assert_eq!(
        extra.custom_key_store_id.as_deref(),
        Some("cks-1234567890abcdef0")
    );
    assert_eq!(extra.xks_key_id.as_deref(), Some("xks-key"));
    assert_eq!(extra.key_material_id.as_deref(), Some("m1"));
    assert_eq!(back.resources, sample.resources);

    // Nothing to name: the members CloudTrail leaves out are left out.
    let mut r = borrowed(&identity, &sample, &[], &req);
    r.recipient_account_id = None;
    r.user_identity = IdentityRef::Unauthenticated(Some("AKIAUNKNOWN"));
    let text = String::from_utf8(encoded(&r)).unwrap_or_default();
    for absent in [
        "resources",
        "recipientAccountId",
        "additionalEventData",
        "errorCode",
    ] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    assert!(text.contains(r#""responseElements":null"#), "{text}");
    assert!(
        text.contains(r#""userIdentity":{"type":"Unknown","accessKeyId":"AKIAUNKNOWN"}"#),
        "{text}"
    );
}

// ---- writer and verify ----

fn config(dir: &Path) -> WriterConfig {
    WriterConfig {
        digest_interval: Duration::from_millis(0),
        ..WriterConfig::new(dir.to_path_buf())
    }
}

fn key() -> (SigningKey, PublicKey) {
    let (k, _) = SigningKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let p = k.public_key().clone();
    (k, p)
}

async fn write_log(dir: &Path, cfg: WriterConfig, key: SigningKey, records: usize) {
    let log = AuditLog::open(cfg, key).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.current_file().parent(), Some(dir));
    for i in 0..records {
        log.append(&sample_record(i))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    log.close().await;
}

fn files(dir: &Path) -> Vec<PathBuf> {
    list_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
}

fn record_lines(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|i| lines[*i].starts_with("{\"eventVersion\""))
        .collect()
}

#[tokio::test]
async fn a_written_log_verifies_and_its_records_are_pure_cloudtrail() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, public) = key();
    write_log(dir.path(), config(dir.path()), k, 20).await;
    let paths = files(dir.path());
    assert_eq!(paths.len(), 1);
    let report = verify_files(&paths, std::slice::from_ref(&public));
    assert!(report.is_ok(), "{:?}", report.all_problems());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.files[0].records, 20);
    assert_eq!(report.files[0].signed_records, 20);
    assert!(report.files[0].closed);
    // Every line that is not a header or digest parses back as the record written.
    let lines = read_lines(&paths[0]);
    let records: Vec<Record> = lines
        .iter()
        .filter(|l| matches!(chain::parse_line(l.as_bytes()), chain::Line::Record))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records, (0..20).map(sample_record).collect::<Vec<_>>());
    // Files and the directory are private; the public key sits beside them.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    assert_eq!(mode(&paths[0]), Some(0o600));
    assert_eq!(mode(dir.path()), Some(0o700));
    let pem = std::fs::read_to_string(dir.path().join(crate::writer::PUBLIC_KEY_FILE))
        .unwrap_or_default();
    assert_eq!(PublicKey::from_pem(&pem), Ok(public));
}

#[tokio::test]
async fn a_digest_signed_by_another_key_does_not_verify() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, _) = key();
    let (_, other) = key();
    write_log(dir.path(), config(dir.path()), k, 3).await;
    let report = verify_files(&files(dir.path()), &[other]);
    assert!(!report.is_ok());
    assert!(report.all_problems()[0].contains("key not given"));
}

/// Writes a 3-file sequence (rotation by size) and hands back its paths and key.
async fn three_files(dir: &Path) -> (Vec<PathBuf>, PublicKey) {
    let (k, public) = key();
    let one = serde_json::to_vec(&sample_record(0))
        .unwrap_or_default()
        .len() as u64;
    let cfg = WriterConfig {
        // Room for the header, four records and their digests.
        rotate_bytes: 4 * (one + 1) + 4 * 600,
        ..config(dir)
    };
    write_log(dir, cfg, k, 12).await;
    let paths = files(dir);
    assert_eq!(paths.len(), 3, "{paths:?}");
    let report = verify_files(&paths, std::slice::from_ref(&public));
    assert!(report.is_ok(), "{:?}", report.all_problems());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let total: u64 = report.files.iter().map(|f| f.records).sum();
    assert_eq!(total, 12);
    (paths, public)
}

fn problems_after(paths: &[PathBuf], key: &PublicKey) -> Vec<String> {
    let report = verify_files(paths, std::slice::from_ref(key));
    report.all_problems()
}

#[tokio::test]
async fn verify_detects_a_modified_record() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[1]);
    let r = record_lines(&lines)[1];
    lines[r] = lines[r].replace("\"Encrypt\"", "\"Decrypt\"");
    write_lines(&paths[1], &lines);
    let p = problems_after(&paths, &key);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("do not match the digest"), "{p:?}");
}

#[tokio::test]
async fn verify_detects_a_deleted_record() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[0]);
    let r = record_lines(&lines)[0];
    lines.remove(r);
    write_lines(&paths[0], &lines);
    let p = problems_after(&paths, &key);
    assert!(
        p.iter().any(|p| p.contains("do not match the digest")),
        "{p:?}"
    );
}

#[tokio::test]
async fn verify_detects_an_inserted_record() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[2]);
    let r = record_lines(&lines)[0];
    let forged = serde_json::to_string(&sample_record(99)).unwrap_or_default();
    lines.insert(r, forged);
    write_lines(&paths[2], &lines);
    let p = problems_after(&paths, &key);
    assert!(
        p.iter().any(|p| p.contains("do not match the digest")),
        "{p:?}"
    );
}

#[tokio::test]
async fn verify_detects_reordered_records() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[1]);
    let rs = record_lines(&lines);
    let (a, b) = (rs[0], rs[1]);
    lines.swap(a, b);
    write_lines(&paths[1], &lines);
    let p = problems_after(&paths, &key);
    assert!(
        p.iter().any(|p| p.contains("do not match the digest")),
        "{p:?}"
    );
}

#[tokio::test]
async fn verify_detects_an_altered_digest() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[0]);
    let d = lines
        .iter()
        .position(|l| l.starts_with("{\"strongroomAuditDigest\""))
        .unwrap_or(0);
    lines[d] = lines[d].replace("\"records\":1", "\"records\":2");
    write_lines(&paths[0], &lines);
    let p = problems_after(&paths, &key);
    assert!(p.iter().any(|p| p.contains("bad signature")), "{p:?}");
}

#[tokio::test]
async fn verify_detects_a_truncated_closed_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    // Cut exactly at a digest: what is left is self-consistent; the next file's header
    // tells that the end is gone.
    let lines = read_lines(&paths[1]);
    let digests: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].starts_with("{\"strongroomAuditDigest\""))
        .collect();
    assert!(digests.len() >= 2);
    write_lines(&paths[1], &lines[..=digests[0]]);
    let p = problems_after(&paths, &key);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("was cut"), "{p:?}");
    // Cut in the middle of a line.
    let text = std::fs::read(&paths[0]).unwrap_or_default();
    std::fs::write(&paths[0], &text[..text.len() - 30]).unwrap_or_else(|e| panic!("{e}"));
    let p = problems_after(&paths, &key);
    assert!(p.iter().any(|p| p.contains("was cut")), "{p:?}");
}

#[tokio::test]
async fn verify_detects_a_missing_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let given = [paths[0].clone(), paths[2].clone()];
    let p = problems_after(&given, &key);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("missing file(s): sequence 1..=1"), "{p:?}");
    // Given out of order, the files are still checked in their signed order.
    let shuffled = [paths[2].clone(), paths[0].clone(), paths[1].clone()];
    assert!(problems_after(&shuffled, &key).is_empty());
}

#[tokio::test]
async fn verify_detects_lines_appended_after_the_final_digest() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[2]);
    lines.push(serde_json::to_string(&sample_record(7)).unwrap_or_default());
    write_lines(&paths[2], &lines);
    let p = problems_after(&paths, &key);
    assert!(
        p.iter().any(|p| p.contains("follows the final digest")),
        "{p:?}"
    );
}

#[tokio::test]
async fn verify_detects_an_altered_header() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (paths, key) = three_files(dir.path()).await;
    let mut lines = read_lines(&paths[2]);
    lines[0] = lines[0].replace("\"closed\":true", "\"closed\":false");
    write_lines(&paths[2], &lines);
    let p = problems_after(&paths, &key);
    assert!(
        p.iter().any(|p| p.contains("do not match the digest")),
        "{p:?}"
    );
}

#[tokio::test]
async fn the_sequence_goes_on_across_restarts_and_a_crash_is_a_warning_not_tampering() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, first) = key();
    write_log(dir.path(), config(dir.path()), k, 2).await;
    // A second run, with a key of its own from a key file; then a "crash": the log is never
    // closed and its record was never signed.
    let key_path = dir.path().join("key.pem");
    let k = SigningKey::load_or_create(&key_path).unwrap_or_else(|e| panic!("{e}"));
    let second = k.public_key().clone();
    let crashed = AuditLog::open(
        WriterConfig {
            digest_interval: Duration::from_secs(3600),
            ..config(dir.path())
        },
        k,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    crashed
        .append(&sample_record(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    std::mem::forget(crashed);
    // The key file was created 0600 and loads back as the same key.
    let again = SigningKey::load_or_create(&key_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.public_key(), &second);
    write_log(dir.path(), config(dir.path()), again, 1).await;
    let paths = files(dir.path());
    assert_eq!(paths.len(), 3);
    let report = verify_files(&paths, &[first, second]);
    assert!(report.is_ok(), "{:?}", report.all_problems());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("1 record(s) after its last digest are not signed"),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn files_rotate_by_age() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, public) = key();
    let log = AuditLog::open(
        WriterConfig {
            rotate_age: Duration::from_millis(100),
            ..config(dir.path())
        },
        k,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let first = log.current_file();
    log.append(&sample_record(0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The age timer closes the file even with no record coming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closed = verify_file(&first, std::slice::from_ref(&public));
    assert!(closed.closed, "{closed:?}");
    log.append(&sample_record(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(log.current_file(), first);
    log.close().await;
    let report = verify_files(&files(dir.path()), &[public]);
    assert!(report.is_ok(), "{:?}", report.all_problems());
    assert_eq!(report.files.len(), 2);
}

#[tokio::test]
async fn sync_mode_has_the_record_on_disk_when_append_returns() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, _) = key();
    let log = AuditLog::open(config(dir.path()), k).unwrap_or_else(|e| panic!("{e}"));
    // Many concurrent appends share commits; each is in the file when it returns.
    let log = std::sync::Arc::new(log);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let log = std::sync::Arc::clone(&log);
            tokio::spawn(async move {
                log.append(&sample_record(i)).await?;
                let text = std::fs::read_to_string(log.current_file()).unwrap_or_default();
                Ok::<bool, crate::AuditError>(text.contains(&format!("\"req-{i}\"")))
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.ok().and_then(Result::ok), Some(true));
    }
    let text = std::fs::read_to_string(log.current_file()).unwrap_or_default();
    let digests = text.matches("strongroomAuditDigest").count();
    assert!((1..=64).contains(&digests), "{digests} digests");
    log.close().await;
}

#[tokio::test]
async fn buffered_mode_returns_at_once_and_syncs_within_its_bound() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, public) = key();
    let log = AuditLog::open(
        WriterConfig {
            durability: Durability::Buffered {
                max_records: 1000,
                max_delay: Duration::from_millis(50),
            },
            digest_interval: Duration::from_millis(50),
            ..config(dir.path())
        },
        k,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..10 {
        log.append(&sample_record(i))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Written and signed without a close.
    let r = verify_file(&log.current_file(), std::slice::from_ref(&public));
    assert_eq!((r.records, r.signed_records), (10, 10), "{r:?}");
    log.close().await;
    assert!(log.append(&sample_record(11)).await.is_err());
}

#[tokio::test]
async fn a_full_queue_makes_appends_wait_and_frees_room_as_it_drains() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (k, public) = key();
    let cfg = WriterConfig {
        durability: Durability::Buffered {
            max_records: 1000,
            max_delay: Duration::from_millis(10),
        },
        queue_capacity: 2,
        ..config(dir.path())
    };
    let log = std::sync::Arc::new(AuditLog::open(cfg, k).unwrap_or_else(|e| panic!("{e}")));
    // Far more records than the queue holds, from concurrent tasks: each waits for room, which
    // the writer gives back batch by batch.
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let log = std::sync::Arc::clone(&log);
            tokio::spawn(async move {
                for i in 0..50 {
                    log.append(&sample_record(t * 50 + i)).await?;
                }
                Ok::<(), crate::AuditError>(())
            })
        })
        .collect();
    let all = async {
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(()))));
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .is_ok(),
        "appends still waiting for room"
    );
    log.close().await;
    let r = verify_file(&log.current_file(), std::slice::from_ref(&public));
    assert_eq!((r.records, r.signed_records), (800, 800), "{r:?}");
}

/// The nice value in a `/proc/.../stat` line: fields after the ")" ending the name start at
/// the third; nice is the nineteenth.
fn nice_in_stat(stat: &str) -> Option<i64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// The nice values of this process's audit writer threads.
fn writer_nice_values() -> Vec<i64> {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        if let (true, Some(nice)) = (comm.trim() == "audit-writer", nice_in_stat(&stat)) {
            out.push(nice);
        }
    }
    out
}

#[tokio::test]
async fn a_buffered_writer_yields_the_cpu_and_a_sync_one_does_not() {
    // Writer threads start at the niceness of the thread that opens the log (the test may
    // itself run niced).
    let base = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| nice_in_stat(&s))
        .unwrap_or_else(|| panic!("no nice value for this thread"));
    let (buffered_dir, sync_dir) = (tempfile::tempdir(), tempfile::tempdir());
    let (Ok(buffered_dir), Ok(sync_dir)) = (buffered_dir, sync_dir) else {
        panic!("no temporary directory");
    };
    let buffered = WriterConfig {
        durability: Durability::Buffered {
            max_records: 10,
            max_delay: Duration::from_millis(10),
        },
        ..config(buffered_dir.path())
    };
    let buffered = AuditLog::open(buffered, key().0).unwrap_or_else(|e| panic!("{e}"));
    let sync = AuditLog::open(config(sync_dir.path()), key().0).unwrap_or_else(|e| panic!("{e}"));
    // A sync append returns once its thread has written, so that thread has started.
    sync.append(&sample_record(0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The buffered thread sets its priority as it starts, soon after `open`.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut nice = writer_nice_values();
    while !nice.contains(&19) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        nice = writer_nice_values();
    }
    // (Other tests' writers may share this process under `cargo test`.)
    assert!(nice.contains(&19), "{nice:?}");
    assert!(nice.contains(&base), "base nice {base}: {nice:?}");
    buffered.close().await;
    sync.close().await;
}

#[test]
fn public_keys_round_trip_through_pem_and_refuse_other_text() {
    let (_, public) = key();
    assert_eq!(PublicKey::from_pem(&public.to_pem()), Ok(public));
    assert!(
        PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
    assert!(PublicKey::from_pem("hello").is_err());
}

#[test]
fn a_signing_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("k.pem");
    SigningKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
    let mode = std::fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o600));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(SigningKey::load_or_create(&path).is_err());
}

#[test]
fn identities_follow_cloudtrail_for_users_roles_and_root() {
    let user = UserIdentity::for_principal("arn:aws:iam::111122223333:user/Alice", Some("AKIA1"));
    assert_eq!(user.kind, IdentityType::IamUser);
    assert_eq!(user.user_name.as_deref(), Some("Alice"));
    assert_eq!(user.account_id.as_deref(), Some("111122223333"));
    assert_eq!(user.access_key_id.as_deref(), Some("AKIA1"));
    let id = user.principal_id.clone().unwrap_or_default();
    assert!(id.starts_with("AIDA") && id.len() == 21, "{id}");
    let v = serde_json::to_value(&user).unwrap_or_default();
    assert_eq!(v["type"], "IAMUser");
    assert!(v.get("sessionContext").is_none());

    let role = UserIdentity::for_principal(
        "arn:aws:sts::111122223333:assumed-role/Ops/strongroom",
        Some("ASIA1"),
    );
    assert_eq!(role.kind, IdentityType::AssumedRole);
    let v = serde_json::to_value(&role).unwrap_or_default();
    assert_eq!(v["type"], "AssumedRole");
    let issuer = &v["sessionContext"]["sessionIssuer"];
    assert_eq!(issuer["type"], "Role");
    assert_eq!(issuer["arn"], "arn:aws:iam::111122223333:role/Ops");
    assert_eq!(issuer["userName"], "Ops");
    assert_eq!(
        v["principalId"],
        format!(
            "{}:strongroom",
            issuer["principalId"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(
        v["sessionContext"]["attributes"]["mfaAuthenticated"],
        "false"
    );

    let root = UserIdentity::for_principal("arn:aws:iam::111122223333:root", None);
    assert_eq!(root.kind, IdentityType::Root);
    assert_eq!(root.principal_id.as_deref(), Some("111122223333"));
}

/// Synced records leave the page cache (checked with util-linux's `fincore`): the writer drops
/// whole synced pages, so a busy trail does not fill memory with files nobody reads.
#[tokio::test]
async fn synced_records_leave_the_page_cache() {
    // On the checkout's disk: on a tmpfs the pages are the file and cannot be dropped.
    let near = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    std::fs::create_dir_all(&near).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir_in(&near).unwrap_or_else(|e| panic!("{e}"));
    let (k, _) = key();
    let log = AuditLog::open(config(dir.path()), k).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..3000 {
        log.append(&sample_record(i))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let file = log.current_file();
    log.close().await;
    let size = std::fs::metadata(&file).map_or(0, |m| m.len());
    assert!(size > 1 << 20, "only {size} bytes written");
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("fincore (util-linux): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let resident: u64 = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("fincore said {text:?}: {e}"));
    assert!(
        resident <= 4 * 4096,
        "{resident} of {size} bytes still in the page cache"
    );
}
