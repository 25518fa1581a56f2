//! Persistence for Strongroom.
//!
//! [`legacy`] is the store the `kms` crate uses today: string-typed records, loaded whole.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod legacy;
