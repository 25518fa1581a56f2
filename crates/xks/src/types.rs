//! Request and response bodies. Field names are the specification's (camelCase); binary
//! fields are standard Base64 on the wire and bytes here. Unknown fields are ignored, so
//! fields KMS adds later (Appendix B) never break parsing.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// `requestMetadata`. Which fields are required depends on the operation, so all are
/// optional here and the proxy checks them per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMetadata {
    /// The principal that called KMS (required for key operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_principal_arn: Option<String>,
    /// The VPC the KMS call came from, for calls through a VPC endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_source_vpc: Option<String>,
    /// The VPC endpoint the KMS call came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_source_vpce: Option<String>,
    /// The KMS key (required for Encrypt and Decrypt; absent for GetKeyMetadata from CreateKey).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// The KMS API that led to this call; any value is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_operation: Option<String>,
    /// The KMS request id, opaque; logged for correlation with CloudTrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_request_id: Option<String>,
    /// The AWS service that called KMS on the customer's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_via_service: Option<String>,
}

/// GetKeyMetadata request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetKeyMetadataRequest {
    /// Request metadata.
    pub request_metadata: RequestMetadata,
}

/// GetKeyMetadata response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetKeyMetadataResponse {
    /// `AES_256`.
    pub key_spec: String,
    /// At most ten values; `ENCRYPT` and `DECRYPT` for a key KMS can use.
    pub key_usage: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub key_status: String,
}

/// Encrypt request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptRequest {
    /// Request metadata.
    pub request_metadata: RequestMetadata,
    /// The plaintext (never logged).
    #[serde(with = "crate::b64::secret")]
    pub plaintext: Zeroizing<Vec<u8>>,
    /// `AES_GCM`.
    pub encryption_algorithm: String,
    /// Optional AAD.
    #[serde(
        default,
        with = "crate::b64::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_authenticated_data: Option<Vec<u8>>,
    /// Optional `SHA_256`: asks for a `ciphertextDataIntegrityValue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_data_integrity_value_algorithm: Option<String>,
}

/// Encrypt response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    /// The ciphertext, as long as the plaintext.
    #[serde(with = "crate::b64::bytes")]
    pub ciphertext: Vec<u8>,
    /// Up to 20 bytes of vendor data, authenticated through the AAD.
    #[serde(
        default,
        with = "crate::b64::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ciphertext_metadata: Option<Vec<u8>>,
    /// 12 or 16 bytes.
    #[serde(with = "crate::b64::bytes")]
    pub initialization_vector: Vec<u8>,
    /// 16 bytes.
    #[serde(with = "crate::b64::bytes")]
    pub authentication_tag: Vec<u8>,
    /// The CDIV, present whenever the request asked for it.
    #[serde(
        default,
        with = "crate::b64::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ciphertext_data_integrity_value: Option<Vec<u8>>,
}

/// Decrypt request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptRequest {
    /// Request metadata.
    pub request_metadata: RequestMetadata,
    /// The ciphertext.
    #[serde(with = "crate::b64::bytes")]
    pub ciphertext: Vec<u8>,
    /// The metadata Encrypt returned, if any.
    #[serde(
        default,
        with = "crate::b64::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ciphertext_metadata: Option<Vec<u8>>,
    /// `AES_GCM`.
    pub encryption_algorithm: String,
    /// The AAD given to Encrypt, if any.
    #[serde(
        default,
        with = "crate::b64::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_authenticated_data: Option<Vec<u8>>,
    /// The tag.
    #[serde(with = "crate::b64::bytes")]
    pub authentication_tag: Vec<u8>,
    /// The IV.
    #[serde(with = "crate::b64::bytes")]
    pub initialization_vector: Vec<u8>,
}

/// Decrypt response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptResponse {
    /// The plaintext (never logged).
    #[serde(with = "crate::b64::secret")]
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// GetHealthStatus request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetHealthStatusRequest {
    /// Only `kmsRequestId` and `kmsOperation` are sent.
    #[serde(default)]
    pub request_metadata: RequestMetadata,
}

/// One external key manager in GetHealthStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EkmFleetDetail {
    /// Unique id of the key manager in its cluster.
    pub id: String,
    /// Product, version and anything useful for troubleshooting.
    pub model: String,
    /// `ACTIVE`, `DEGRADED` or `UNAVAILABLE`.
    pub health_status: String,
}

/// GetHealthStatus response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetHealthStatusResponse {
    /// Proxies in the fleet, greater than zero.
    pub xks_proxy_fleet_size: u32,
    /// The proxy's vendor.
    pub xks_proxy_vendor: String,
    /// The proxy's product name and version.
    pub xks_proxy_model: String,
    /// The key manager's vendor.
    pub ekm_vendor: String,
    /// One to ten key managers.
    pub ekm_fleet_details: Vec<EkmFleetDetail>,
}

/// An error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// One of the names in [`crate::ErrorName`].
    pub error_name: String,
    /// Optional detail: printable ASCII, under 512 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's examples (with its missing commas restored).

    #[test]
    fn get_key_metadata_examples() {
        let req: GetKeyMetadataRequest = serde_json::from_str(
            r#"{
                "requestMetadata": {
                    "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                    "kmsKeyArn": "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    "kmsOperation": "DescribeKey",
                    "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
                    "kmsViaService": "ebs"
                }
            }"#,
        )
        .unwrap();
        let m = &req.request_metadata;
        assert_eq!(m.kms_operation.as_deref(), Some("DescribeKey"));
        assert_eq!(m.kms_via_service.as_deref(), Some("ebs"));
        assert_eq!(m.aws_source_vpc, None);

        let resp = GetKeyMetadataResponse {
            key_spec: "AES_256".into(),
            key_usage: vec!["ENCRYPT".into(), "DECRYPT".into()],
            key_status: "ENABLED".into(),
        };
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            serde_json::json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"})
        );
    }

    #[test]
    fn encrypt_examples() {
        let req: EncryptRequest = serde_json::from_str(
            r#"{
                "requestMetadata": {
                    "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                    "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    "kmsOperation": "Encrypt",
                    "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
                    "kmsViaService": "ebs"
                },
                "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
                "plaintext": "SGVsbG8gV29ybGQh",
                "encryptionAlgorithm": "AES_GCM",
                "ciphertextDataIntegrityValueAlgorithm": "SHA_256"
            }"#,
        )
        .unwrap();
        assert_eq!(req.plaintext.as_slice(), b"Hello World!");
        assert_eq!(
            req.additional_authenticated_data.as_deref(),
            Some(&b"project=nile,department=marketing"[..])
        );
        assert_eq!(req.encryption_algorithm, "AES_GCM");
        assert_eq!(
            req.ciphertext_data_integrity_value_algorithm.as_deref(),
            Some("SHA_256")
        );

        let resp: EncryptResponse = serde_json::from_str(
            r#"{
                "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ==",
                "ciphertext": "ghxkK1txeDNn3q8Y",
                "ciphertextDataIntegrityValue": "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",
                "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
                "initializationVector": "HMrlRw85cAJUd5Ax"
            }"#,
        )
        .unwrap();
        assert_eq!(
            resp.ciphertext_metadata.as_deref(),
            Some(&b"key_version=1"[..])
        );
        assert_eq!(resp.initialization_vector.len(), 12);
        assert_eq!(resp.authentication_tag.len(), 16);
        let cdiv = crate::cdiv_sha256(
            req.additional_authenticated_data
                .as_deref()
                .unwrap_or_default(),
            resp.ciphertext_metadata.as_deref().unwrap_or_default(),
            &resp.initialization_vector,
            &resp.ciphertext,
            &resp.authentication_tag,
        );
        assert_eq!(
            resp.ciphertext_data_integrity_value.as_deref(),
            Some(&cdiv[..])
        );

        // Optional fields are left out, not sent as null.
        let bare = EncryptResponse {
            ciphertext_metadata: None,
            ciphertext_data_integrity_value: None,
            ..resp
        };
        let v = serde_json::to_value(&bare).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
        assert_eq!(v["ciphertext"], "ghxkK1txeDNn3q8Y");
    }

    #[test]
    fn decrypt_examples() {
        let req: DecryptRequest = serde_json::from_str(
            r#"{
                "requestMetadata": {
                    "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                    "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    "kmsOperation": "Decrypt",
                    "kmsRequestId": "5112f4d6-db54-4af4-ae30-c55a22a8dfae",
                    "kmsViaService": "ebs"
                },
                "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
                "encryptionAlgorithm": "AES_GCM",
                "ciphertext": "ghxkK1txeDNn3q8Y",
                "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
                "initializationVector": "HMrlRw85cAJUd5Ax",
                "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ=="
            }"#,
        )
        .unwrap();
        assert_eq!(req.ciphertext.len(), 12);
        assert_eq!(
            req.ciphertext_metadata.as_deref(),
            Some(&b"key_version=1"[..])
        );
        let resp = DecryptResponse {
            plaintext: Zeroizing::new(b"Hello World!".to_vec()),
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"plaintext":"SGVsbG8gV29ybGQh"}"#
        );
    }

    #[test]
    fn health_examples() {
        let req: GetHealthStatusRequest = serde_json::from_str(
            r#"{"requestMetadata": {"kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae", "kmsOperation": "CreateCustomKeyStore"}}"#,
        )
        .unwrap();
        assert_eq!(
            req.request_metadata.kms_operation.as_deref(),
            Some("CreateCustomKeyStore")
        );
        let resp: GetHealthStatusResponse = serde_json::from_str(
            r#"{
                "xksProxyFleetSize": 2,
                "xksProxyVendor": "Acme Corp",
                "xksProxyModel": "Acme XKS Proxy 1.0",
                "ekmVendor": "Thales Group",
                "ekmFleetDetails": [
                    {"id": "hsm-id-1", "model": "Luna 5.0", "healthStatus": "DEGRADED"},
                    {"id": "hsm-id-2", "model": "Luna 5.1", "healthStatus": "ACTIVE"}
                ]
            }"#,
        )
        .unwrap();
        assert_eq!(resp.xks_proxy_fleet_size, 2);
        assert_eq!(resp.ekm_fleet_details[0].health_status, "DEGRADED");
    }

    #[test]
    fn unknown_fields_are_ignored_and_bad_base64_refused() {
        let req: DecryptRequest = serde_json::from_str(
            r#"{"requestMetadata": {"kmsOperation": "BulkDecrypt", "kmsRequestId": "x", "tags": {"a": 1}},
                "ciphertext": "", "encryptionAlgorithm": "AES_GCM", "authenticationTag": "AAAAAAAAAAAAAAAAAAAAAA==",
                "initializationVector": "AAAAAAAAAAAAAAAA", "future": true}"#,
        )
        .unwrap();
        assert!(req.ciphertext.is_empty());
        assert_eq!(req.additional_authenticated_data, None);
        // Escaped slashes are still Base64 once unescaped.
        let req: DecryptRequest = serde_json::from_str(
            r#"{"requestMetadata": {}, "ciphertext": "ab\/d", "encryptionAlgorithm": "AES_GCM",
                "authenticationTag": "", "initializationVector": "", "ciphertextMetadata": null}"#,
        )
        .unwrap();
        assert_eq!(req.ciphertext, crate::b64::decode("ab/d").unwrap());
        assert_eq!(req.ciphertext_metadata, None);
        for bad in ["ab-d", "abc", "a b=", "YQ"] {
            let body = format!(
                r#"{{"requestMetadata": {{}}, "ciphertext": "{bad}", "encryptionAlgorithm": "AES_GCM",
                    "authenticationTag": "", "initializationVector": ""}}"#
            );
            assert!(
                serde_json::from_str::<DecryptRequest>(&body).is_err(),
                "{bad}"
            );
        }
    }
}
