//! The policy crate's table-driven test suite (one binary, several modules).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod authorize;
mod common;
mod kms;
mod operators;
mod operators_typed;
mod parse_errors;
mod properties;
mod statements;
mod variables;
