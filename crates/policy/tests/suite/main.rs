//! The policy crate's table-driven test suite (one binary, several modules).

mod authorize;
mod common;
mod fuzz;
mod kms;
mod operators;
mod operators_typed;
mod parse_errors;
mod statements;
mod variables;
