//! External key stores end to end: `aws-sdk-kms` against a real `strongroom serve` whose keys
//! live behind a real `strongroom xks-proxy serve` process (software keystore, and SoftHSMv2 in
//! `softhsm`), over HTTPS with a per-test CA, plus a misbehaving stand-in proxy inside the test
//! process for the failures a correct proxy never produces.
//!
//! Behaviour reference: docs/research/xks-kms-behaviour.md (the XKS Proxy API specification's
//! KMS table, the KMS API Reference and Developer Guide).

mod fake;
pub(crate) mod harness;

mod connection;
mod crypto_ops;
mod faults;
mod files;
mod keys;
mod metadata;
mod metrics;
mod softhsm;
mod stand_in;
mod stores;
