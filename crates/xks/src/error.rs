//! The specification's error names, their HTTP statuses and the error body.

use std::fmt;

use crate::types::ErrorResponse;

/// `errorMessage` must be shorter than 512 characters.
pub const MAX_ERROR_MESSAGE_LEN: usize = 511;

/// Every `errorName` of the specification's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorName {
    /// 400: one or more input parameters is invalid (not GetHealthStatus).
    ValidationException,
    /// 400: the external key or key store is disabled, deactivated or blocked.
    InvalidStateException,
    /// 400: ciphertext, IV, AAD or tag corrupted, missing or otherwise invalid (Decrypt).
    InvalidCiphertextException,
    /// 400: the key does not support the requested operation (Encrypt, Decrypt).
    InvalidKeyUsageException,
    /// 401: invalid SigV4 signature.
    AuthenticationFailedException,
    /// 403: secondary authorization denied the request (not GetHealthStatus).
    AccessDeniedException,
    /// 404: the external key is not found (not GetHealthStatus).
    KeyNotFoundException,
    /// 404: the URI path is not valid.
    InvalidUriPathException,
    /// 429: the request rate is too high.
    ThrottlingException,
    /// 501: operation not implemented, or a parameter exceeds this implementation's maximum.
    UnsupportedOperationException,
    /// 503: a dependency timed out.
    DependencyTimeoutException,
    /// 500: generic server error.
    InternalException,
}

impl ErrorName {
    /// Every error name, in the specification's table order.
    pub const ALL: [ErrorName; 12] = [
        ErrorName::ValidationException,
        ErrorName::InvalidStateException,
        ErrorName::InvalidCiphertextException,
        ErrorName::InvalidKeyUsageException,
        ErrorName::AuthenticationFailedException,
        ErrorName::AccessDeniedException,
        ErrorName::KeyNotFoundException,
        ErrorName::InvalidUriPathException,
        ErrorName::ThrottlingException,
        ErrorName::UnsupportedOperationException,
        ErrorName::DependencyTimeoutException,
        ErrorName::InternalException,
    ];

    /// The `errorName` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorName::ValidationException => "ValidationException",
            ErrorName::InvalidStateException => "InvalidStateException",
            ErrorName::InvalidCiphertextException => "InvalidCiphertextException",
            ErrorName::InvalidKeyUsageException => "InvalidKeyUsageException",
            ErrorName::AuthenticationFailedException => "AuthenticationFailedException",
            ErrorName::AccessDeniedException => "AccessDeniedException",
            ErrorName::KeyNotFoundException => "KeyNotFoundException",
            ErrorName::InvalidUriPathException => "InvalidUriPathException",
            ErrorName::ThrottlingException => "ThrottlingException",
            ErrorName::UnsupportedOperationException => "UnsupportedOperationException",
            ErrorName::DependencyTimeoutException => "DependencyTimeoutException",
            ErrorName::InternalException => "InternalException",
        }
    }

    /// The HTTP status the specification pairs with this name.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorName::ValidationException
            | ErrorName::InvalidStateException
            | ErrorName::InvalidCiphertextException
            | ErrorName::InvalidKeyUsageException => 400,
            ErrorName::AuthenticationFailedException => 401,
            ErrorName::AccessDeniedException => 403,
            ErrorName::KeyNotFoundException | ErrorName::InvalidUriPathException => 404,
            ErrorName::ThrottlingException => 429,
            ErrorName::UnsupportedOperationException => 501,
            ErrorName::DependencyTimeoutException => 503,
            ErrorName::InternalException => 500,
        }
    }

    /// Parses an `errorName` (exact spelling).
    pub fn parse(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the proxy answers it: a name (hence a status) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksError {
    /// The error name.
    pub name: ErrorName,
    /// Printable ASCII, under 512 characters (see [`sanitize_error_message`]).
    pub message: String,
}

impl XksError {
    /// An error with `message` made to fit the specification's rules.
    pub fn new(name: ErrorName, message: impl AsRef<str>) -> Self {
        XksError {
            name,
            message: sanitize_error_message(message.as_ref()),
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        self.name.http_status()
    }

    /// The JSON body `{"errorName": ..., "errorMessage": ...}`.
    pub fn to_body(&self) -> Vec<u8> {
        let body = ErrorResponse {
            error_name: self.name.as_str().to_owned(),
            error_message: Some(self.message.clone()),
        };
        // Serializing two strings cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Reads an error body; `None` if it is not one or names an unknown error.
    pub fn from_body(body: &[u8]) -> Option<XksError> {
        let parsed: ErrorResponse = serde_json::from_slice(body).ok()?;
        Some(XksError {
            name: ErrorName::parse(&parsed.error_name)?,
            message: parsed.error_message.unwrap_or_default(),
        })
    }
}

impl fmt::Display for XksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for XksError {}

/// Makes `message` a valid `errorMessage`: every character outside printable ASCII
/// (0x20..=0x7e) becomes `?`, and the result is cut to [`MAX_ERROR_MESSAGE_LEN`].
pub fn sanitize_error_message(message: &str) -> String {
    message
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(MAX_ERROR_MESSAGE_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_specification() {
        let expected = [
            ("ValidationException", 400),
            ("InvalidStateException", 400),
            ("InvalidCiphertextException", 400),
            ("InvalidKeyUsageException", 400),
            ("AuthenticationFailedException", 401),
            ("AccessDeniedException", 403),
            ("KeyNotFoundException", 404),
            ("InvalidUriPathException", 404),
            ("ThrottlingException", 429),
            ("UnsupportedOperationException", 501),
            ("DependencyTimeoutException", 503),
            ("InternalException", 500),
        ];
        assert_eq!(ErrorName::ALL.len(), expected.len());
        for (name, (s, status)) in ErrorName::ALL.iter().zip(expected) {
            assert_eq!(name.as_str(), s);
            assert_eq!(name.http_status(), status, "{s}");
            assert_eq!(ErrorName::parse(s), Some(*name));
        }
        assert_eq!(ErrorName::parse("validationexception"), None);
    }

    #[test]
    fn messages_are_printable_ascii_and_short() {
        let m = sanitize_error_message("caf\u{e9}\n\t~");
        assert_eq!(m, "caf???~");
        let long = "x".repeat(2000);
        assert_eq!(sanitize_error_message(&long).len(), 511);
    }

    #[test]
    fn body_round_trip() {
        let e = XksError::new(ErrorName::InvalidCiphertextException, "bad tag\u{0}");
        let body = e.to_body();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["errorName"], "InvalidCiphertextException");
        assert_eq!(v["errorMessage"], "bad tag?");
        assert_eq!(XksError::from_body(&body), Some(e));
        assert_eq!(
            XksError::from_body(br#"{"errorName":"KeyNotFoundException"}"#),
            Some(XksError {
                name: ErrorName::KeyNotFoundException,
                message: String::new()
            })
        );
        assert_eq!(XksError::from_body(b"{}"), None);
    }
}
