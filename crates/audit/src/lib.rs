//! Strongroom's audit trail (docs/audit.md).
//!
//! - [`record`]: one record per request, in the shape of AWS CloudTrail's KMS records: `Record`
//!   to read one, `RecordRef` (borrowed from the request) to write one.
//! - [`params`]: `requestParameters` and `responseElements` as CloudTrail logs them: camelCased
//!   members, no plaintext, ciphertext, key material, token or credential.
//! - [`writer`]: JSON lines with group commit, a durability policy and rotation.
//! - [`chain`]: the tamper evidence — a SHA-256 chain through every line of a file and Ed25519
//!   signed digest lines; each file's header names the last digest of the file before it.
//! - [`verify`]: checks files against all of that.
#![forbid(unsafe_code)]

pub mod chain;
pub mod config;
pub mod params;
pub mod record;
pub mod verify;
pub mod writer;

pub use chain::{PublicKey, SigningKey};
pub use config::{AuditConfig, DurabilityMode};
pub use record::Record;
pub use verify::{verify_files, Report};
pub use writer::{AuditError, AuditLog, Durability, WriterConfig};

#[cfg(test)]
mod tests;
