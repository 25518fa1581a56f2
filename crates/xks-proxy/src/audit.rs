//! The proxy's audit trail (`[audit]`): one record per request, in the same tamper-evident files
//! as the KMS's (crates/audit, docs/audit.md), keyed by the KMS request id that AWS KMS (or
//! Strongroom) sends in `requestMetadata`, so a KMS record and the proxy call it caused can be
//! matched. Records carry no plaintext, ciphertext, tag, IV or secret: only who called, on which
//! key, for which KMS request, and how it ended.

use std::net::SocketAddr;

use serde::Serialize;
use xks::{RequestMetadata, XksError};

/// What a record says of the request (filled in as the request is routed).
#[derive(Default)]
pub(crate) struct Seen {
    pub tenant: Option<String>,
    pub operation: &'static str,
    pub key_id: Option<String>,
    pub access_key_id: Option<String>,
    pub metadata: Option<RequestMetadata>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    /// `XksProxyCredential` once the SigV4 signature verified, `Unknown` before.
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Parameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_principal_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_via_service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_source_vpc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_source_vpce: Option<&'a str>,
}

/// One proxy request, in the CloudTrail-like shape of the KMS's records.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record<'a> {
    event_version: &'static str,
    user_identity: Identity<'a>,
    event_time: String,
    event_source: &'static str,
    /// The XKS Proxy API operation (`Encrypt`), or `-` for a path that names none.
    event_name: &'static str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Parameters<'a>,
    /// The KMS request that caused this call (`requestMetadata.kmsRequestId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_request_id: Option<&'a str>,
    http_status: u16,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    event_type: &'static str,
}

/// A random (version 4) UUID; from a thread-local generator seeded by the OS, because the
/// system generator costs a busy proxy a measurable share of each request.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The record of one answered request.
pub(crate) fn record<'a>(
    seen: &'a Seen,
    peer: SocketAddr,
    status: u16,
    error: Option<&'a XksError>,
) -> Record<'a> {
    let m = seen.metadata.as_ref();
    let field = |f: fn(&RequestMetadata) -> &Option<String>| m.and_then(|m| f(m).as_deref());
    let request_id = new_id();
    Record {
        event_version: "1.0",
        user_identity: Identity {
            kind: if seen.access_key_id.is_some() {
                "XksProxyCredential"
            } else {
                "Unknown"
            },
            access_key_id: seen.access_key_id.as_deref(),
        },
        event_time: audit::record::event_time(time::OffsetDateTime::now_utc()),
        event_source: "xks-proxy.strongroom",
        event_name: seen.operation,
        source_ip_address: peer.ip().to_string(),
        error_code: error.map(|e| e.name.as_str()),
        error_message: error.map(|e| e.message.as_str()),
        request_parameters: Parameters {
            uri_path: seen.tenant.as_deref(),
            key_id: seen.key_id.as_deref(),
            kms_operation: field(|m| &m.kms_operation),
            aws_principal_arn: field(|m| &m.aws_principal_arn),
            kms_key_arn: field(|m| &m.kms_key_arn),
            kms_via_service: field(|m| &m.kms_via_service),
            aws_source_vpc: field(|m| &m.aws_source_vpc),
            aws_source_vpce: field(|m| &m.aws_source_vpce),
        },
        kms_request_id: field(|m| &m.kms_request_id),
        http_status: status,
        event_id: new_id(),
        request_id,
        read_only: true,
        event_type: "XksProxyApiCall",
    }
}
