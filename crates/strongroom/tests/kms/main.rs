//! End-to-end tests: a real `strongroom` process on 127.0.0.1, driven with the official AWS SDK for
//! Rust (`aws-sdk-kms`) and, for what the SDK will not send, raw HTTP requests signed with the
//! independent `aws-sigv4` crate. One test binary; every test starts its own server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod aliases;
mod asymmetric;
mod at_rest;
mod audit;
mod authz;
mod cluster;
mod common;
mod concurrency;
mod crypto;
mod data_key_pairs;
mod dev_xks;
mod dry_run;
mod durability;
mod fidelity;
mod hmac;
mod import;
mod keys;
mod limits;
mod metrics;
mod model_walk;
mod multi_region;
mod openssl;
mod policies;
mod pq;
mod protocol;
mod regions;
mod root_key;
mod rotation;
mod security;
mod seed;
mod sigv4;
mod soak;
mod states;
mod tags;
mod tls;
mod upgrade;
mod usage;
mod xks;
