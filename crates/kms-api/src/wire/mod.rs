//! The typed protocol edge: every operation's request decoded once, from the body bytes, into its
//! typed input, generated from AWS's API model (`model/kms-api-model.json`) by this crate's
//! build script (`build/`).
//!
//! What is generated:
//!
//! - **Enums**, one per enum shape of the model (`KeySpec`, `KeyUsage`, `Origin`, `KeyState`,
//!   `KeyManager`, `ConnectionState`, `EncryptionAlgorithmSpec`, `SigningAlgorithmSpec`,
//!   `MacAlgorithmSpec`, `GrantOperation`, ...): the one place each wire name is spelled, with
//!   `as_str`, `from_wire`, `ALL` and serde. The model's trailing `Type` is dropped where it is
//!   only its naming habit (`KeyUsageType` is [`KeyUsage`]) and kept where the enum is the kind of
//!   a thing (`CustomKeyStoreType`, `MessageType`, `ImportType`, `RotationType`) or dropping it
//!   would collide (`MultiRegionKeyType`); structures follow the same rule
//!   (`XksProxyAuthenticationCredentialType` is [`XksProxyAuthenticationCredential`]).
//! - **Structures**: `<Op>Request` and `<Op>Response` for all operations and what they nest.
//!   Required members are plain fields, optional ones `Option`s; blobs are [`Blob`] (wiped on
//!   drop), sensitive strings `Zeroizing<String>`, timestamps [`Timestamp`]. All serialize with the
//!   model's member names, leaving out `None`.
//! - **Decoding**: [`decode`] (into the [`Request`] of any operation) and `<Op>Request::decode`
//!   (also through [`WireRequest`]). They read the bytes once, with no `serde_json::Value` tree,
//!   and answer exactly as [`crate::parse_body`] followed by [`crate::validate_input`] does,
//!   message for message (`tests/wire_differential.rs` holds them to it).
//!
//! Where the two paths differ on purpose, the reference validator let a value through that its
//! typed decode then refused with serde's own wording, or that no typed value can hold: a `null`
//! list item or map value, and base64 whose only fault is its padding. [`decode`] refuses them as
//! a `SerializationException` in the reference's words (`Expected a string at
//! 'grantTokens.1.member'`, `Invalid base64 at 'plaintext'`), after any validation errors, as the
//! typed decode came after validation.

mod support;

pub use crate::types::{Blob, Timestamp};
pub use support::{DecodeOptions, WireEnum, WireRequest};

/// The generated code (see the module documentation).
mod generated {
    use super::support as rt;
    use super::{DecodeOptions, WireEnum, WireRequest};
    use crate::{KmsError, Operation};

    include!(concat!(env!("OUT_DIR"), "/wire.rs"));
}

pub use generated::*;
