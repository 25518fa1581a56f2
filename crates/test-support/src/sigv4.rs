//! SigV4 by AWS's `aws-sigv4` crate: the signer of every raw request the tests send, so that a
//! request our verifier accepts was signed by an implementation other than ours.
//!
//! One signer for both APIs Strongroom verifies: the KMS API (service `kms`, always `POST /`
//! with `X-Amz-Target`) and the XKS Proxy API (service `kms-xks-proxy`, `POST` under the URI
//! prefix). The signature covers `host`, `x-amz-date`, the given headers and, for temporary
//! credentials, `x-amz-security-token`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

/// The services whose requests the tests sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The KMS API.
    Kms,
    /// The XKS Proxy API, which KMS signs for `kms-xks-proxy`.
    XksProxy,
}

impl Service {
    /// The signing name in the credential scope.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Kms => "kms",
            Service::XksProxy => "kms-xks-proxy",
        }
    }
}

/// Who signs, for which region and service, at what time (now, unless set).
#[derive(Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    /// Temporary credentials' session token, signed as `x-amz-security-token`.
    pub session_token: Option<String>,
    pub region: String,
    pub service: Service,
    /// The signing time; `None`: the time of each signature.
    pub time: Option<SystemTime>,
}

impl std::fmt::Debug for Signer {
    // The secret and the token stay out of test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// `Content-Type` and `X-Amz-Target` of an AWS JSON 1.1 request to `target`.
pub fn kms_json_headers(target: &str) -> Vec<(String, String)> {
    vec![
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), target.to_string()),
    ]
}

/// `Content-Type` of an XKS Proxy API request.
pub fn xks_json_headers() -> Vec<(String, String)> {
    vec![("content-type".to_string(), "application/json".to_string())]
}

impl Signer {
    /// A signer of KMS API requests.
    pub fn kms(access_key_id: &str, secret: &str, region: &str) -> Signer {
        Signer::new(Service::Kms, access_key_id, secret, region)
    }

    /// A signer of XKS Proxy API requests for `us-east-1`, the region the tests' proxies serve.
    pub fn xks(access_key_id: &str, secret: &str) -> Signer {
        Signer::new(Service::XksProxy, access_key_id, secret, "us-east-1")
    }

    pub fn new(service: Service, access_key_id: &str, secret: &str, region: &str) -> Signer {
        Signer {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            session_token: None,
            region: region.to_string(),
            service,
            time: None,
        }
    }

    /// Signs as of `time` instead of now.
    pub fn at(mut self, time: SystemTime) -> Signer {
        self.time = Some(time);
        self
    }

    /// Signs for `region`.
    pub fn in_region(mut self, region: &str) -> Signer {
        self.region = region.to_string();
        self
    }

    /// Signs with a session token (`None`: without one).
    pub fn with_session_token(mut self, token: Option<&str>) -> Signer {
        self.session_token = token.map(str::to_string);
        self
    }

    /// `headers` followed by the headers the signature adds (`x-amz-date`, the token if any,
    /// `authorization`), for a request `method host path` (path may carry a query) of `body`.
    /// The signature covers `host`, which is not returned: the client sends it.
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let identity = Credentials::new(
            self.access_key_id.clone(),
            self.secret.clone(),
            self.session_token.clone(),
            None,
            "test-support",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service.signing_name())
            .time(self.time.unwrap_or_else(SystemTime::now))
            .settings(SigningSettings::default())
            .build()
            .expect("SigV4 signing parameters")
            .into();
        // The scheme is not signed; the authority is, as the `host` header.
        let uri = format!("https://{host}{path}");
        let signable = SignableRequest::new(
            method,
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap_or_else(|e| panic!("cannot sign {method} {uri}: {e}"));
        let (instructions, _signature) = sign(signable, &params)
            .unwrap_or_else(|e| panic!("cannot sign {method} {uri}: {e}"))
            .into_parts();
        let (added, _params) = instructions.into_parts();
        let mut out = headers.to_vec();
        out.extend(
            added
                .into_iter()
                .map(|h| (h.name().to_string(), h.value().to_string())),
        );
        out
    }

    /// A KMS request to `target` (`TrentService.X`) as the SDK signs it: `POST /` over `host`,
    /// `content-type` and `x-amz-target`.
    pub fn sign_kms(&self, host: &str, target: &str, body: &[u8]) -> Vec<(String, String)> {
        self.sign("POST", host, "/", &kms_json_headers(target), body)
    }

    /// An XKS Proxy API request as KMS signs it: `POST path` over `host` and `content-type`.
    pub fn sign_xks(&self, host: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
        self.sign("POST", host, path, &xks_json_headers(), body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_service_and_the_headers_given() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let kms = Signer::kms("AKIDEXAMPLE", "secret", "us-east-1").at(t);
        let h = kms.sign_kms("127.0.0.1:1", "TrentService.ListKeys", b"{}");
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(auth.contains("/us-east-1/kms/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"),
            "{auth}"
        );
        let xks = Signer::xks("AKIDEXAMPLE", "secret")
            .at(t)
            .with_session_token(Some("token"));
        let h = xks.sign_xks("localhost:1", "/kms/xks/v1/health", b"{}");
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(
            auth.contains("/us-east-1/kms-xks-proxy/aws4_request"),
            "{auth}"
        );
        assert!(auth.contains("x-amz-security-token"), "{auth}");
        // The same request signed at the same time signs the same; another body does not.
        assert_eq!(h, xks.sign_xks("localhost:1", "/kms/xks/v1/health", b"{}"));
        assert_ne!(h, xks.sign_xks("localhost:1", "/kms/xks/v1/health", b"{ }"));
        assert!(!format!("{xks:?}").contains("secret"));
    }
}
