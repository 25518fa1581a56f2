//! AWS KMS (TrentService) on the wire: the operations, the error codes, the request and response
//! types of the operations Strongroom serves, and input validation driven by AWS's API model.
//!
//! [`wire`] is the typed protocol edge generated from that model: an enum per enum shape, typed
//! requests and responses of every operation, and a decoder from body bytes to the typed request
//! that answers exactly as [`parse_body`] with [`validate_input`] does.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error_code;
pub mod json;
mod model;
mod operation;
pub mod types;
mod validate;
pub mod wire;

pub use error_code::{ErrorCode, ALL_ERROR_CODES};
pub use model::model_operation_names;
pub use operation::Operation;
pub use validate::{validate_input, validate_input_except_patterns};

use serde_json::Value;

/// An error as a KMS client sees it: an exception name and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// The exception (`__type`).
    pub code: ErrorCode,
    /// The human-readable message.
    pub message: String,
}

impl KmsError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KmsError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of this error's response.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The JSON body of this error's response, as AWS JSON 1.1 writes it.
    pub fn to_body(&self) -> Vec<u8> {
        // AWS leaves `message` out when there is none (InvalidCiphertextException, for one).
        let v = if self.message.is_empty() {
            serde_json::json!({ "__type": self.code.name() })
        } else {
            serde_json::json!({ "__type": self.code.name(), "message": self.message })
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// Shorthand for an internal error; the message must not carry secrets.
    pub fn internal(message: impl Into<String>) -> Self {
        KmsError::new(ErrorCode::KmsInternalException, message)
    }
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for KmsError {}

/// Parses a request body as JSON (an empty body is an empty object, as AWS accepts) and validates it
/// against the operation's input shape, then decodes it into the typed request.
pub fn decode_request<T: serde::de::DeserializeOwned>(
    op: Operation,
    body: &[u8],
) -> Result<T, KmsError> {
    let value = parse_body(body)?;
    validate_input(op, &value)?;
    serde_json::from_value(value).map_err(|e| {
        KmsError::new(
            ErrorCode::SerializationException,
            format!("Could not decode the request: {e}"),
        )
    })
}

/// Parses a request body into JSON; malformed JSON is a `SerializationException`.
pub fn parse_body(body: &[u8]) -> Result<Value, KmsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        KmsError::new(
            ErrorCode::SerializationException,
            "Start of structure or map found where not expected, or the body is not valid JSON.",
        )
    })?;
    if !value.is_object() {
        return Err(KmsError::new(
            ErrorCode::SerializationException,
            "The request body must be a JSON object.",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
