//! The audit trail end to end: `strongroom dev` writes one CloudTrail-shaped record per request
//! to the file it names in `STRONGROOM_AUDIT_LOG`; `strongroom audit verify` checks it. (Every
//! test's audit files are also verified and searched for secrets when its server stops:
//! `common::check_audit_files`.)

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, OriginType, Tag};
use serde_json::{json, Value};

use crate::common::*;

/// The record lines of the audit files beside `log`.
fn records(log: &std::path::Path) -> Vec<Value> {
    let dir = log.parent().expect("audit dir");
    audit_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read audit file")
                .lines()
                .filter(|l| l.starts_with("{\"eventVersion\""))
                .map(|l| serde_json::from_str::<Value>(l).expect("a record is JSON"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The one record of `request_id`. `dev` writes its trail buffered (flushed within 100 ms), so
/// the record may reach the file shortly after the answer.
fn record_of(log: &std::path::Path, request_id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let found: Vec<Value> = loop {
        let found: Vec<Value> = records(log)
            .into_iter()
            .filter(|r| r["requestID"] == request_id)
            .collect();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(found.len(), 1, "one record for request {request_id}");
    found.into_iter().next().unwrap_or_default()
}

/// Compares a record with CloudTrail's shape member by member: the same members, `expected`'s
/// values, and the members no test can predict checked for their form.
fn assert_cloudtrail(actual: &Value, expected: Value) {
    let mut actual = actual.clone();
    let obj = actual.as_object_mut().expect("a record is an object");
    let time = obj.remove("eventTime").expect("eventTime");
    assert!(
        regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            .unwrap()
            .is_match(time.as_str().unwrap_or_default()),
        "eventTime {time}"
    );
    let event_id = obj.remove("eventID").expect("eventID");
    assert!(uuid::Uuid::parse_str(event_id.as_str().unwrap_or_default()).is_ok());
    let agent = obj.remove("userAgent").expect("userAgent");
    assert!(
        agent.as_str().unwrap_or_default().contains("aws-sdk-rust"),
        "{agent}"
    );
    let who = obj
        .get_mut("userIdentity")
        .and_then(Value::as_object_mut)
        .expect("userIdentity");
    let principal_id = who.remove("principalId").expect("principalId");
    assert!(
        regex::Regex::new("^AIDA[A-Z2-7]{17}$")
            .unwrap()
            .is_match(principal_id.as_str().unwrap_or_default()),
        "{principal_id}"
    );
    let expected_keys: Vec<&String> = expected.as_object().expect("object").keys().collect();
    let actual_keys: Vec<&String> = actual.as_object().expect("object").keys().collect();
    assert_eq!(actual_keys, expected_keys, "members of {actual:#}");
    for (k, v) in expected.as_object().expect("object") {
        assert_eq!(&actual[k], v, "member {k} of {actual:#}");
    }
}

/// The members every record of the dev admin's requests has, in CloudTrail's order, around
/// the operation-specific ones.
#[allow(clippy::too_many_arguments)]
fn expected(
    kms: &Kms,
    account: &str,
    name: &str,
    error: Option<(&str, &str)>,
    request_parameters: Value,
    response_elements: Value,
    additional: Option<Value>,
    request_id: &str,
    read_only: bool,
    keys: &[&str],
) -> Value {
    let mut r = serde_json::Map::new();
    r.insert("eventVersion".into(), json!("1.11"));
    r.insert(
        "userIdentity".into(),
        json!({
            "type": "IAMUser",
            "arn": format!("arn:aws:iam::{account}:user/admin"),
            "accountId": account,
            "accessKeyId": kms.exports.access_key_id,
            "userName": "admin",
        }),
    );
    r.insert("eventSource".into(), json!("kms.amazonaws.com"));
    r.insert("eventName".into(), json!(name));
    r.insert("awsRegion".into(), json!(kms.exports.region));
    r.insert("sourceIPAddress".into(), json!("127.0.0.1"));
    if let Some((code, message)) = error {
        r.insert("errorCode".into(), json!(code));
        r.insert("errorMessage".into(), json!(message));
    }
    r.insert("requestParameters".into(), request_parameters);
    r.insert("responseElements".into(), response_elements);
    if let Some(a) = additional {
        r.insert("additionalEventData".into(), a);
    }
    r.insert("requestID".into(), json!(request_id));
    r.insert("readOnly".into(), json!(read_only));
    if !keys.is_empty() {
        r.insert(
            "resources".into(),
            json!(keys
                .iter()
                .map(|arn| json!({"accountId": account, "type": "AWS::KMS::Key", "ARN": arn}))
                .collect::<Vec<_>>()),
        );
    }
    r.insert("eventType".into(), json!("AwsApiCall"));
    r.insert("managementEvent".into(), json!(true));
    r.insert("recipientAccountId".into(), json!(account));
    r.insert("eventCategory".into(), json!("Management"));
    Value::Object(r)
}

/// One record per request — allowed, denied by policy, failed validation, failed at the
/// external key store — each compared member by member with CloudTrail's KMS records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_request_gets_a_cloudtrail_record() {
    let mut kms = Kms::start().await;
    let xks = kms.xks_exports();
    let account = kms.account().await;
    let log = kms.exports.audit_log.clone();
    assert!(log.exists(), "{} exists", log.display());
    let c = kms.client.clone();

    // Allowed management write: CreateKey logs its parameters and its response.
    let created = c
        .create_key()
        .description("audited")
        .tags(
            Tag::builder()
                .tag_key("Team")
                .tag_value("Blue")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateKey");
    let meta = created.key_metadata().expect("metadata");
    let arn = meta.arn().expect("arn").to_string();
    let key_id = meta.key_id().to_string();
    let material = meta
        .current_key_material_id()
        .expect("material id")
        .to_string();
    let r = record_of(&log, created.request_id().expect("request id"));
    assert_eq!(r["responseElements"]["keyMetadata"]["arn"], json!(arn));
    assert_eq!(
        r["responseElements"]["keyMetadata"]["AWSAccountId"],
        json!(account)
    );
    assert_eq!(
        r["responseElements"]["keyMetadata"]["keyState"],
        json!("Enabled")
    );
    let response = r["responseElements"].clone();
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "CreateKey",
            None,
            json!({"description": "audited", "tags": [{"tagKey": "Team", "tagValue": "Blue"}]}),
            response,
            None,
            created.request_id().unwrap_or_default(),
            false,
            &[&arn],
        ),
    );

    // Allowed cryptographic operations: no plaintext or ciphertext, the material used.
    let plaintext = random_bytes(48);
    let enc = c
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(plaintext.clone()))
        .encryption_context("Department", "Engineering")
        .send()
        .await
        .expect("Encrypt");
    let r = record_of(&log, enc.request_id().expect("request id"));
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "Encrypt",
            None,
            json!({"encryptionContext": {"Department": "Engineering"}, "keyId": key_id}),
            Value::Null,
            Some(json!({"keyMaterialId": material})),
            enc.request_id().unwrap_or_default(),
            true,
            &[&arn],
        ),
    );
    let dec = c
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().expect("ciphertext").clone())
        .encryption_context("Department", "Engineering")
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(
        dec.plaintext().map(|p| p.as_ref().to_vec()),
        Some(plaintext.clone())
    );
    // The search for secrets in the audit files (check_audit_files) knows this plaintext.
    assert!(secret_seen(&b64(&plaintext)));
    let r = record_of(&log, dec.request_id().expect("request id"));
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "Decrypt",
            None,
            json!({"encryptionContext": {"Department": "Engineering"}}),
            Value::Null,
            Some(json!({"keyMaterialId": material})),
            dec.request_id().unwrap_or_default(),
            true,
            &[&arn],
        ),
    );
    let dk = c
        .generate_data_key()
        .key_id(&arn)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    let r = record_of(&log, dk.request_id().expect("request id"));
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "GenerateDataKey",
            None,
            json!({"keyId": arn, "keySpec": "AES_256"}),
            Value::Null,
            Some(json!({"keyMaterialId": material})),
            dk.request_id().unwrap_or_default(),
            true,
            &[&arn],
        ),
    );

    // Denied by the key policy: the record names the key and the refusal.
    let deny_encrypt = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"}
        ]
    })
    .to_string();
    let denied_key = c
        .create_key()
        .policy(&deny_encrypt)
        .send()
        .await
        .expect("CreateKey with a policy");
    let denied_arn = denied_key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("arn")
        .to_string();
    let err = c
        .encrypt()
        .key_id(&denied_arn)
        .plaintext(Blob::new(b"denied plaintext".to_vec()))
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&err), "AccessDeniedException");
    let message = err
        .as_service_error()
        .and_then(|e| e.meta().message())
        .unwrap_or_default()
        .to_string();
    let r = record_of(&log, err.request_id().expect("request id"));
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "Encrypt",
            Some(("AccessDeniedException", &message)),
            json!({"keyId": denied_arn}),
            Value::Null,
            None,
            err.request_id().unwrap_or_default(),
            true,
            &[&denied_arn],
        ),
    );
    assert!(message.contains("explicit deny"), "{message}");
    // The policy a CreateKey sent is logged (it is not a secret), camelCased.
    let r = record_of(&log, denied_key.request_id().expect("request id"));
    assert_eq!(r["requestParameters"]["policy"], json!(deny_encrypt));

    // Failed validation: the body did not decode, so no parameters.
    let err = c
        .generate_random()
        .number_of_bytes(0)
        .send()
        .await
        .expect_err("invalid");
    assert_eq!(code(&err), "ValidationException");
    let message = err
        .as_service_error()
        .and_then(|e| e.meta().message())
        .unwrap_or_default()
        .to_string();
    let r = record_of(&log, err.request_id().expect("request id"));
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "GenerateRandom",
            Some(("ValidationException", &message)),
            Value::Null,
            Value::Null,
            None,
            err.request_id().unwrap_or_default(),
            true,
            &[],
        ),
    );

    // An external key store failure: the proxy refuses to decrypt under a changed context;
    // the record names the external key store and key.
    let store_id = c
        .describe_custom_key_stores()
        .custom_key_store_name("strongroom-dev")
        .send()
        .await
        .expect("the demo store")
        .custom_key_stores()
        .first()
        .and_then(|s| s.custom_key_store_id())
        .expect("its id")
        .to_string();
    let xks_key = c
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(&store_id)
        .xks_key_id(&xks.key_id)
        .send()
        .await
        .expect("CreateKey in the external key store");
    let xks_arn = xks_key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("arn")
        .to_string();
    let sealed = c
        .encrypt()
        .key_id(&xks_arn)
        .plaintext(Blob::new(b"external secret".to_vec()))
        .encryption_context("purpose", "audit")
        .send()
        .await
        .expect("Encrypt under the external key");
    let r = record_of(&log, sealed.request_id().expect("request id"));
    assert_eq!(
        r["additionalEventData"],
        json!({"customKeyStoreId": store_id, "xksKeyId": xks.key_id})
    );
    let err = c
        .decrypt()
        .key_id(&xks_arn)
        .ciphertext_blob(sealed.ciphertext_blob().expect("ciphertext").clone())
        .encryption_context("purpose", "something else")
        .send()
        .await
        .expect_err("wrong context");
    let error_code = code(&err);
    assert!(
        ["KMSInvalidStateException", "InvalidCiphertextException"].contains(&error_code.as_str()),
        "{error_code}"
    );
    let message = err
        .as_service_error()
        .and_then(|e| e.meta().message())
        .unwrap_or_default()
        .to_string();
    let r = record_of(&log, err.request_id().expect("request id"));
    assert_cloudtrail(
        &r,
        expected(
            &kms,
            &account,
            "Decrypt",
            Some((&error_code, &message)),
            json!({"encryptionContext": {"purpose": "something else"}, "keyId": xks_arn}),
            Value::Null,
            Some(json!({"customKeyStoreId": store_id, "xksKeyId": xks.key_id})),
            err.request_id().unwrap_or_default(),
            true,
            &[&xks_arn],
        ),
    );

    // Every record is one request: the SDK's requests plus dev's own setup calls (which do not
    // go through HTTP and are not recorded).
    let all = records(&log);
    let ids: std::collections::HashSet<&str> =
        all.iter().filter_map(|r| r["requestID"].as_str()).collect();
    assert_eq!(ids.len(), all.len(), "one record per request id");
    assert!(check_audit_files(&kms.data_dir(), &[&xks.secret_access_key]) >= 10);
}

/// A request that does not authenticate is recorded too, with only the access key it named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_bad_signature_is_recorded_without_an_identity() {
    let kms = Kms::start().await;
    let wrong = client_for(
        &kms.exports,
        &kms.exports.access_key_id,
        "not-the-secret-key-at-all",
    )
    .await;
    let err = wrong.list_keys().send().await.expect_err("bad signature");
    assert_eq!(code(&err), "InvalidSignatureException");
    let r = record_of(
        &kms.exports.audit_log,
        err.request_id().expect("request id"),
    );
    assert_eq!(
        r["userIdentity"],
        json!({"type": "Unknown", "accessKeyId": kms.exports.access_key_id})
    );
    assert_eq!(r["eventName"], "ListKeys");
    assert_eq!(r["errorCode"], "InvalidSignatureException");
    assert_eq!(r["requestParameters"], Value::Null);
    assert!(r.get("recipientAccountId").is_none());
}

/// `strongroom audit verify` accepts the file dev writes and refuses it once a record is
/// changed (the unit tests of crates/audit cover every kind of tampering).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_checks_the_file_dev_writes() {
    let kms = Kms::start().await;
    // The first node's file: with several nodes, each writes its own.
    let c = kms.node_client(0).await;
    let key = c
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata")
        .key_id;
    c.encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"verify me".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    // Wait for the digest that signs the last record (dev signs within a second).
    let log = kms.exports.audit_log.clone();
    poll_until(
        "the last record signed",
        std::time::Duration::from_secs(5),
        || {
            let log = log.clone();
            async move {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .last()
                    .is_some_and(|l| l.starts_with("{\"strongroomAuditDigest\""))
            }
        },
    )
    .await;
    let copy = tempfile::tempdir().expect("tempdir");
    let file = copy.path().join(log.file_name().expect("name"));
    std::fs::copy(&log, &file).expect("copy");
    let public = log.parent().expect("dir").join("audit-signing-key.pub");
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args(["audit", "verify", "--public-key"])
            .arg(&public)
            .arg(&file)
            .output()
            .expect("run audit verify")
    };
    let ok = verify();
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{out}");
    assert!(out.contains("verified: no tampering found"), "{out}");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, text.replacen("\"Encrypt\"", "\"Decrypt\"", 1)).expect("write");
    let bad = verify();
    let out = String::from_utf8_lossy(&bad.stdout).to_string();
    assert!(!bad.status.success(), "{out}");
    assert!(out.contains("TAMPERED"), "{out}");
}

/// The XKS proxy keeps its own trail: one record per call, keyed by the KMS request that caused
/// it, with who called and on which external key, and nothing of the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_records_each_call_with_the_kms_request_id() {
    let mut kms = Kms::start().await;
    let xks = kms.xks_exports();
    let store = xks.all["STRONGROOM_XKS_URI_PATH"].clone();
    assert!(!store.is_empty());
    let proxy_log = std::path::PathBuf::from(&xks.all["STRONGROOM_XKS_AUDIT_LOG"]);
    // The demo store's id is printed after the XKS lines; find it through the API instead.
    let c = kms.node_client(0).await;
    let stores = c
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    let store_id = stores.custom_key_stores()[0]
        .custom_key_store_id()
        .expect("id")
        .to_string();
    let key = c
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(&store_id)
        .xks_key_id(&xks.key_id)
        .send()
        .await
        .expect("CreateKey in the external key store")
        .key_metadata
        .expect("KeyMetadata")
        .key_id;
    let secret = b"proxy-audit-plaintext-4242";
    let enc = c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(secret.to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let kms_request = enc.request_id().expect("request id").to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let record = loop {
        let text = std::fs::read_to_string(&proxy_log).unwrap_or_default();
        let found = text
            .lines()
            .filter(|l| l.starts_with("{\"eventVersion\""))
            .map(|l| serde_json::from_str::<Value>(l).expect("a record is JSON"))
            .find(|r| r["kmsRequestId"] == kms_request.as_str());
        if let Some(r) = found {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no proxy record for KMS request {kms_request} in {}:\n{text}",
            proxy_log.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(record["eventName"], "Encrypt");
    assert_eq!(record["eventSource"], "xks-proxy.strongroom");
    assert_eq!(record["httpStatus"], 200);
    assert_eq!(record["userIdentity"]["type"], "XksProxyCredential");
    assert_eq!(record["userIdentity"]["accessKeyId"], xks.access_key_id);
    assert_eq!(record["requestParameters"]["keyId"], xks.key_id);
    assert_eq!(record["requestParameters"]["kmsOperation"], "Encrypt");
    assert!(record["requestParameters"]["kmsKeyArn"]
        .as_str()
        .is_some_and(|a| a.ends_with(&key)));
    assert!(record.get("errorCode").is_none());

    // Nothing of the data or the credential's secret is in the proxy's files; they verify.
    let dir = proxy_log.parent().expect("audit dir");
    let text: String = audit_files(dir)
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(!text.contains("proxy-audit-plaintext") && !text.contains(&b64));
    assert!(!text.contains(&xks.secret_access_key));
    let public = dir.join("audit-signing-key.pub");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["audit", "verify", "--public-key"])
        .arg(&public)
        .args(audit_files(dir))
        .output()
        .expect("run audit verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
}
