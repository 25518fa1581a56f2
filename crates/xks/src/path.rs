//! URIs: `[/<prefix>]/kms/xks/v1/health` and `[/<prefix>]/kms/xks/v1/keys/<id>/<op>`.

use crate::{MAX_EXTERNAL_KEY_ID_LEN, MAX_URI_PATH_LEN};

/// The fixed tail of every `XksProxyUriPath`.
pub const API_BASE_PATH: &str = "/kms/xks/v1";

/// The four operations of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST .../health`
    GetHealthStatus,
    /// `POST .../keys/<id>/metadata`
    GetKeyMetadata,
    /// `POST .../keys/<id>/encrypt`
    Encrypt,
    /// `POST .../keys/<id>/decrypt`
    Decrypt,
}

impl Operation {
    /// The operation's name in the specification.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::GetHealthStatus => "GetHealthStatus",
            Operation::GetKeyMetadata => "GetKeyMetadata",
            Operation::Encrypt => "Encrypt",
            Operation::Decrypt => "Decrypt",
        }
    }
}

/// The operations that name a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyOperation {
    /// `metadata`
    GetKeyMetadata,
    /// `encrypt`
    Encrypt,
    /// `decrypt`
    Decrypt,
}

impl KeyOperation {
    /// The last path segment.
    pub const fn path_segment(self) -> &'static str {
        match self {
            KeyOperation::GetKeyMetadata => "metadata",
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
        }
    }

    /// The operation.
    pub const fn operation(self) -> Operation {
        match self {
            KeyOperation::GetKeyMetadata => Operation::GetKeyMetadata,
            KeyOperation::Encrypt => Operation::Encrypt,
            KeyOperation::Decrypt => Operation::Decrypt,
        }
    }

    fn from_segment(s: &str) -> Option<KeyOperation> {
        match s {
            "metadata" => Some(KeyOperation::GetKeyMetadata),
            "encrypt" => Some(KeyOperation::Encrypt),
            "decrypt" => Some(KeyOperation::Decrypt),
            _ => None,
        }
    }
}

/// Where a request path leads below its `XksProxyUriPath`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/health`
    Health,
    /// `/keys/<externalKeyId>/<op>`; the key id is as on the wire, not yet validated.
    Key {
        /// The `externalKeyId` segment.
        key_id: &'a str,
        /// The operation.
        op: KeyOperation,
    },
}

impl Route<'_> {
    /// The operation this route calls.
    pub fn operation(&self) -> Operation {
        match self {
            Route::Health => Operation::GetHealthStatus,
            Route::Key { op, .. } => op.operation(),
        }
    }
}

/// A request path split into its `XksProxyUriPath` and route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiPath<'a> {
    /// `[/<prefix>]/kms/xks/v1`, exactly as in the request.
    pub uri_path: &'a str,
    /// The rest.
    pub route: Route<'a>,
}

/// Splits a request path (without query) into `XksProxyUriPath` and route; `None` if it is
/// not shaped like an API path at all. The key id is returned unvalidated (see
/// [`is_valid_external_key_id`]); the `XksProxyUriPath` is only known to end in
/// `/kms/xks/v1`, not to be a configured one.
pub fn parse_api_path(path: &str) -> Option<ApiPath<'_>> {
    let (uri_path, route) = if let Some(base) = path.strip_suffix("/health") {
        (base, Route::Health)
    } else {
        let (rest, op) = path.rsplit_once('/')?;
        let op = KeyOperation::from_segment(op)?;
        let (rest, key_id) = rest.rsplit_once('/')?;
        let base = rest.strip_suffix("/keys")?;
        (base, Route::Key { key_id, op })
    };
    if !uri_path.ends_with(API_BASE_PATH) {
        return None;
    }
    let prefix = &uri_path[..uri_path.len() - API_BASE_PATH.len()];
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return None;
    }
    Some(ApiPath { uri_path, route })
}

/// Whether `id` is a valid `externalKeyId`: 1 to 128 characters of `A-Za-z0-9-._`.
pub fn is_valid_external_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_EXTERNAL_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Whether `uri_path` is a valid `XksProxyUriPath`: at most 128 characters of
/// `a-zA-Z0-9/-_`, `/kms/xks/v1` optionally preceded by `/<prefix>` (no empty segment).
pub fn is_valid_uri_path(uri_path: &str) -> bool {
    uri_path.len() <= MAX_URI_PATH_LEN
        && uri_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'))
        && uri_path.ends_with(API_BASE_PATH)
        && uri_path.starts_with('/')
        && !uri_path.contains("//")
}

/// The `XksProxyUriPath` for a path prefix: `/<prefix>/kms/xks/v1`, or `/kms/xks/v1` for an
/// empty prefix. Leading and trailing slashes of `prefix` are ignored. The result is not
/// validated (see [`is_valid_uri_path`]).
pub fn uri_path_for_prefix(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        API_BASE_PATH.to_owned()
    } else {
        format!("/{p}{API_BASE_PATH}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_route() {
        assert_eq!(
            parse_api_path("/kms/xks/v1/health"),
            Some(ApiPath {
                uri_path: "/kms/xks/v1",
                route: Route::Health
            })
        );
        assert_eq!(
            parse_api_path("/a/b-c/kms/xks/v1/keys/k.1_x-y/encrypt"),
            Some(ApiPath {
                uri_path: "/a/b-c/kms/xks/v1",
                route: Route::Key {
                    key_id: "k.1_x-y",
                    op: KeyOperation::Encrypt
                }
            })
        );
        for (seg, op) in [
            ("metadata", KeyOperation::GetKeyMetadata),
            ("decrypt", KeyOperation::Decrypt),
        ] {
            let p = format!("/p/kms/xks/v1/keys/k/{seg}");
            assert_eq!(
                parse_api_path(&p).unwrap().route,
                Route::Key { key_id: "k", op }
            );
        }
        // Key ids come back unvalidated.
        assert_eq!(
            parse_api_path("/kms/xks/v1/keys/a%20b/decrypt")
                .unwrap()
                .route,
            Route::Key {
                key_id: "a%20b",
                op: KeyOperation::Decrypt
            }
        );
    }

    #[test]
    fn rejects_other_shapes() {
        for p in [
            "/",
            "/kms/xks/v1",
            "/kms/xks/v1/",
            "/kms/xks/v1/health/",
            "/kms/xks/v2/health",
            "/kms/xks/v1/keys/k/sign",
            "/kms/xks/v1/keys/k",
            "/kms/xks/v1/keys/a/b/encrypt",
            "/kms/xks/v1/key/k/encrypt",
            "xkms/xks/v1/health",
            "/pkms/xks/v1/health",
        ] {
            assert_eq!(parse_api_path(p), None, "{p}");
        }
    }

    #[test]
    fn key_ids() {
        assert!(is_valid_external_key_id("abc-DEF.123_x"));
        assert!(is_valid_external_key_id(&"a".repeat(128)));
        assert!(!is_valid_external_key_id(&"a".repeat(129)));
        assert!(!is_valid_external_key_id(""));
        for bad in ["a b", "a/b", "a%2F", "a~", "é"] {
            assert!(!is_valid_external_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn uri_paths() {
        assert!(is_valid_uri_path("/kms/xks/v1"));
        assert!(is_valid_uri_path(
            "/keystores/4a0d79d6-1d1b-49fd-9dbe-799cb9c0fb3f/kms/xks/v1"
        ));
        assert!(!is_valid_uri_path("/a.b/kms/xks/v1"));
        assert!(!is_valid_uri_path("//kms/xks/v1"));
        assert!(!is_valid_uri_path("/kms/xks/v2"));
        let long = format!("/{}{}", "a".repeat(116), API_BASE_PATH);
        assert_eq!(long.len(), 128);
        assert!(is_valid_uri_path(&long));
        let too_long = format!("/{}{}", "a".repeat(117), API_BASE_PATH);
        assert!(!is_valid_uri_path(&too_long));
        assert_eq!(uri_path_for_prefix(""), "/kms/xks/v1");
        assert_eq!(uri_path_for_prefix("/t1/"), "/t1/kms/xks/v1");
        assert_eq!(uri_path_for_prefix("a/b"), "/a/b/kms/xks/v1");
    }
}
