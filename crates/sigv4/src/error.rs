//! Errors, shaped like the ones AWS returns for SigV4 failures.

/// The message AWS uses for a signature that does not match.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match \
the signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
service documentation for details.";

/// The message AWS uses for an access key id it does not know.
pub const UNRECOGNIZED_CLIENT_MESSAGE: &str =
    "The security token included in the request is invalid.";

/// The message AWS uses when a request carries no authentication at all.
pub const MISSING_AUTHENTICATION_TOKEN_MESSAGE: &str = "Missing Authentication Token";

/// Why a request failed authentication. `Display` gives the message to send to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No `Authorization` header at all.
    #[error("{}", MISSING_AUTHENTICATION_TOKEN_MESSAGE)]
    MissingAuthenticationToken,
    /// The `Authorization` header (or the date it depends on) is not well formed.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The signature is well formed but wrong, or its scope does not fit this service.
    #[error("{0}")]
    InvalidSignature(String),
    /// The request time is outside the allowed clock skew (reported as `InvalidSignatureException`).
    #[error("{0}")]
    SignatureExpired(String),
    /// The access key id is not known.
    #[error("{}", UNRECOGNIZED_CLIENT_MESSAGE)]
    UnrecognizedClient,
}

impl Error {
    /// The AWS error type (`__type` in AWS JSON responses).
    pub fn aws_code(&self) -> &'static str {
        match self {
            Error::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Error::IncompleteSignature(_) => "IncompleteSignatureException",
            Error::InvalidSignature(_) | Error::SignatureExpired(_) => "InvalidSignatureException",
            Error::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// The HTTP status AWS JSON services answer with: 400 for every authentication failure.
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The error for a signature that does not match, with AWS's message.
    pub fn signature_mismatch() -> Self {
        Error::InvalidSignature(SIGNATURE_MISMATCH_MESSAGE.to_owned())
    }
}
