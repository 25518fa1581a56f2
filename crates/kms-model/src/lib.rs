//! Strongroom's domain model: what a KMS key, a key version, an alias, a grant and a custom key
//! store are, as typed records; and AWS's rules that follow from a key's type (which usages a
//! key spec allows, which algorithms a key supports, what material it holds).
//!
//! The closed sets are the API model's enums (`kms_api::wire`), re-exported here: their wire
//! names are spelled in one place. Records are built from them, and from identifiers that can
//! only hold well-formed values ([`KeyId`], [`AccountId`], [`Region`], ...). The store persists
//! these records; the service keeps them in memory; neither defines them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ids;
mod key;
mod records;
mod spec;

pub use ids::{
    AccountId, AliasName, AliasNameError, CustomKeyStoreId, GrantId, KeyId, Region, VersionId,
};
pub use key::{Deletion, ExternalKey, Key, KeyVersion, Rotation, Tag};
pub use records::{Alias, CustomKeyStore, Grant, GrantConstraints, KeyRef};
pub use spec::{KeyType, MaterialKind};

pub use kms_api::wire::{
    ConnectionErrorCode, ConnectionState, CustomKeyStoreType, CustomerMasterKeySpec,
    EncryptionAlgorithmSpec, ExpirationModel, GrantOperation, KeyAgreementAlgorithmSpec,
    KeyManager, KeySpec, KeyState, KeyUsage, MacAlgorithmSpec, Origin, RotationType,
    SigningAlgorithmSpec, XksProxyConnectivity,
};

/// A record's revision: it grows with every change of the record, and a write that names the
/// revision it read fails if another write came in between (compare-and-swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub u64);
