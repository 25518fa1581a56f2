//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), server side first.
//!
//! Pure code: no I/O, no async. The KMS front end (service `kms`, AWS JSON 1.1) and
//! the XKS proxy (service `kms-xks-proxy`) verify requests with [`Verifier`]; tests,
//! benchmarks and the XKS client sign with [`sign`].
//!
//! Path handling follows SigV4 for every service but S3: the raw wire path is
//! normalized (dot segments and empty segments removed) and URI-encoded once more.
//! Presigned (query-string) authentication is not supported and counts as no
//! authentication at all.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authorization;
mod canonical;
mod error;
mod key_cache;
mod signing;
mod verify;

pub use authorization::{parse_authorization, Authorization, ALGORITHM, SCOPE_TERMINATOR};
pub use canonical::{canonical_request, uri_encode, Request};
pub use error::{
    Error, MISSING_AUTHENTICATION_TOKEN_MESSAGE, SIGNATURE_MISMATCH_MESSAGE,
    UNRECOGNIZED_CLIENT_MESSAGE,
};
pub use signing::{
    derive_signing_key, format_amz_date, parse_amz_date, sha256_hex, sign, string_to_sign, Signer,
    SigningKey,
};
pub use verify::{Regions, Verified, Verifier};
