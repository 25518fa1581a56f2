//! The KMS's audit trail (docs/audit.md): the `[audit]` configuration, and the CloudTrail record
//! of one request built from what the HTTP front and [`kms::Kms::handle_audited`] know of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit::record::{self as ct, AdditionalEventDataRef, IdentityRef, KeyResources, RecordRef};
use kms_api::{wire, KmsError, Operation};

pub use audit::config::AuditConfig;

/// Whether CloudTrail marks an operation read-only: reads, lists and every cryptographic
/// operation (they change no resource).
pub fn read_only(op: Operation) -> bool {
    use Operation as O;
    let name = op.name();
    name.starts_with("Describe")
        || name.starts_with("Get")
        || name.starts_with("List")
        || matches!(
            op,
            O::Encrypt
                | O::Decrypt
                | O::ReEncrypt
                | O::GenerateDataKey
                | O::GenerateDataKeyWithoutPlaintext
                | O::GenerateDataKeyPair
                | O::GenerateDataKeyPairWithoutPlaintext
                | O::GenerateMac
                | O::VerifyMac
                | O::GenerateRandom
                | O::Sign
                | O::Verify
                | O::DeriveSharedSecret
                | O::Encapsulate
                | O::Decapsulate
        )
}

/// What the HTTP front learnt of a request, for its record.
#[derive(Debug, Default)]
pub struct Noted {
    /// The operation, once routed.
    pub op: Option<Operation>,
    /// The caller, once authenticated, with the access key it signed with.
    pub caller: Option<(Arc<crate::config::Principal>, String)>,
    /// The Region the request was signed for.
    pub region: Option<String>,
    /// What the service knew of it.
    pub facts: Option<kms::AuditFacts>,
}

/// The request as the connection and its headers show it.
pub struct Seen<'a> {
    pub request_id: &'a str,
    pub source_ip: Option<std::net::IpAddr>,
    pub user_agent: &'a str,
    /// `X-Amz-Target` (the event name of a request that names no operation we know).
    pub target: &'a str,
    /// The `Authorization` header: for a request that did not authenticate, the record names
    /// the access key id it claims (never more of it).
    pub authorization: &'a str,
    /// The Region to name when the request's own is unknown.
    pub default_region: &'a str,
}

/// The access key id of an `Authorization: AWS4-HMAC-SHA256 Credential=AKID/...` header.
fn claimed_access_key(authorization: &str) -> Option<&str> {
    let rest = &authorization[authorization.find("Credential=")? + "Credential=".len()..];
    let akid = rest.split('/').next()?;
    (!akid.is_empty() && akid.len() <= 128 && akid.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(akid)
}

fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The event name of a request that named no operation we know: the letters and digits of the
/// target's last part.
fn unknown_event_name(target: &str) -> String {
    let name = target.rsplit('.').next().unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    if clean.is_empty() {
        "Unknown".to_string()
    } else {
        clean
    }
}

/// What a record owns rather than borrows from the request; made by [`Owned::new`] before
/// [`record`] borrows from it.
pub struct Owned {
    event_time: String,
    /// Hyphenated, lowercase.
    event_id: [u8; 36],
    /// For a request that named no operation we know (empty otherwise).
    unknown_event_name: String,
    read_only: bool,
    response_elements: Option<serde_json::Value>,
}

impl Owned {
    pub fn new(seen: &Seen<'_>, noted: &Noted, result: Result<&[u8], &KmsError>) -> Owned {
        let mut event_id = [0u8; 36];
        uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut event_id);
        let read_only = noted.op.is_some_and(read_only);
        Owned {
            event_time: ct::event_time(time::OffsetDateTime::now_utc()),
            event_id,
            unknown_event_name: match noted.op {
                Some(_) => String::new(),
                None => unknown_event_name(seen.target),
            },
            response_elements: match result {
                Ok(body) if !read_only => audit::params::response_elements(body),
                _ => None,
            },
            read_only,
        }
    }
}

/// The record of one request; `result` is the response body or the error answered.
pub fn record<'a>(
    seen: &'a Seen<'a>,
    noted: &'a Noted,
    owned: &'a Owned,
    result: Result<&'a [u8], &'a KmsError>,
) -> RecordRef<'a, wire::Request> {
    let user_identity = match &noted.caller {
        Some((p, _)) => IdentityRef::Rendered(&p.audit_identity),
        // Parsed only here: an authenticated caller's key is known.
        None => IdentityRef::Unauthenticated(claimed_access_key(seen.authorization)),
    };
    let event_name = noted
        .op
        .map_or(owned.unknown_event_name.as_str(), |op| op.name());
    let facts = noted.facts.as_ref();
    let arns: &[String] = facts.map_or(&[], |f| f.keys.as_slice());
    let resources = KeyResources {
        arns,
        // A created key is named by the response (CreateKey authorizes no key).
        created: if arns.is_empty() {
            owned
                .response_elements
                .as_ref()
                .and_then(|r| r["keyMetadata"]["arn"].as_str())
        } else {
            None
        },
    };
    let mut extra = AdditionalEventDataRef::default();
    if let Some(f) = facts {
        if let Some((store, xks_key)) = &f.external {
            extra.custom_key_store_id = Some(store);
            extra.xks_key_id = Some(xks_key);
        }
        match (noted.op, f.key_materials.as_slice()) {
            (Some(Operation::ReEncrypt), [source, destination, ..]) => {
                extra.source_key_material_id = Some(source);
                extra.destination_key_material_id = Some(destination);
            }
            (_, [one, ..]) => extra.key_material_id = Some(one),
            _ => {}
        }
    }
    let recipient_account_id = resources.first_account().or(user_identity.account_id());
    RecordRef {
        event_version: ct::EVENT_VERSION,
        user_identity,
        event_time: &owned.event_time,
        event_source: ct::EVENT_SOURCE,
        event_name,
        aws_region: noted.region.as_deref().unwrap_or(seen.default_region),
        source_ip_address: seen.source_ip,
        user_agent: truncated(seen.user_agent, 1024),
        error_code: result.err().map(|e| e.code.name()),
        error_message: result.err().map(|e| e.message.as_str()),
        request_parameters: facts
            .and_then(|f| f.request.as_ref())
            .map(audit::params::Redacted),
        response_elements: owned.response_elements.as_ref(),
        additional_event_data: (!extra.is_empty()).then_some(extra),
        request_id: seen.request_id,
        event_id: std::str::from_utf8(&owned.event_id).unwrap_or_default(),
        read_only: owned.read_only,
        resources,
        event_type: ct::EVENT_TYPE,
        management_event: true,
        recipient_account_id,
        event_category: ct::EVENT_CATEGORY,
    }
}

/// `strongroom audit verify [--public-key FILE]... FILE...`: prints what each file came to;
/// `Err` when anything shows tampering.
pub fn verify_command(public_keys: &[PathBuf], files: &[PathBuf]) -> Result<(), String> {
    if files.is_empty() {
        return Err("name the audit files to verify".to_string());
    }
    let key_files: Vec<PathBuf> = if public_keys.is_empty() {
        // The key the writer left beside the files; a copy kept elsewhere is better evidence.
        let dir = files[0].parent().unwrap_or(Path::new("."));
        let beside = dir.join(audit::writer::PUBLIC_KEY_FILE);
        println!(
            "# trusting the public key beside the files, {} (pass --public-key with a copy kept elsewhere for independent assurance)",
            beside.display()
        );
        vec![beside]
    } else {
        public_keys.to_vec()
    };
    let keys = key_files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
                .and_then(|t| {
                    audit::PublicKey::from_pem(&t).map_err(|e| format!("{}: {e}", p.display()))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let report = audit::verify_files(files, &keys);
    for f in &report.files {
        let state = if f.closed { "closed" } else { "open" };
        println!(
            "{}: sequence {}, {} records, {} signed, {state}",
            f.path.display(),
            f.header
                .as_ref()
                .map_or_else(|| "?".to_string(), |h| h.sequence.to_string()),
            f.records,
            f.signed_records
        );
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    let problems = report.all_problems();
    for p in &problems {
        println!("TAMPERED: {p}");
    }
    if problems.is_empty() {
        println!("verified: no tampering found");
        Ok(())
    } else {
        Err(format!(
            "{} problem(s): the audit trail was altered",
            problems.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_come_from_the_credential_scope_only() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(claimed_access_key(h), Some("AKIAEXAMPLE"));
        assert_eq!(claimed_access_key("Bearer x"), None);
        assert_eq!(claimed_access_key("Credential=/x"), None);
        assert_eq!(claimed_access_key("Credential=AK\"IA/x"), None);
    }

    #[test]
    fn read_only_operations_are_reads_and_cryptography() {
        assert!(read_only(Operation::Encrypt));
        assert!(read_only(Operation::ReEncrypt));
        assert!(read_only(Operation::DescribeKey));
        assert!(read_only(Operation::ListAliases));
        assert!(read_only(Operation::GetKeyPolicy));
        assert!(!read_only(Operation::CreateKey));
        assert!(!read_only(Operation::PutKeyPolicy));
        assert!(!read_only(Operation::CreateGrant));
        assert!(!read_only(Operation::ScheduleKeyDeletion));
    }

    #[test]
    fn a_request_for_no_known_operation_is_named_by_its_target() {
        let seen = Seen {
            request_id: "r",
            source_ip: None,
            user_agent: "",
            target: "TrentService.Frobnicate\"<x>",
            authorization: "",
            default_region: "us-east-1",
        };
        let noted = Noted::default();
        let owned = Owned::new(&seen, &noted, Ok(b"{}"));
        assert_eq!(
            record(&seen, &noted, &owned, Ok(b"{}")).event_name,
            "Frobnicatex"
        );
        let seen = Seen {
            target: "...",
            ..seen
        };
        let owned = Owned::new(&seen, &noted, Ok(b"{}"));
        assert_eq!(
            record(&seen, &noted, &owned, Ok(b"{}")).event_name,
            "Unknown"
        );
        let noted = Noted {
            op: Some(Operation::Encrypt),
            ..Noted::default()
        };
        let owned = Owned::new(&seen, &noted, Ok(b"{}"));
        assert_eq!(
            record(&seen, &noted, &owned, Ok(b"{}")).event_name,
            "Encrypt"
        );
    }
}
