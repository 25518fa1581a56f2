//! `strongroom xks-proxy`: an external key store proxy implementing the AWS XKS Proxy API v1.
#![deny(unsafe_code)]

pub mod backend;
