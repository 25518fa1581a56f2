//! The parts of the `strongroom` binary that read files from outside: the configuration
//! ([`config`]) with its `[store]`, `[tls]` and `[seed]` tables and the seed file. A library so
//! that the fuzz targets (`fuzz/`) and tests reach the same parsers the server runs.
#![forbid(unsafe_code)]

pub mod config;
pub mod seed;
pub mod store_config;
pub mod tls;
