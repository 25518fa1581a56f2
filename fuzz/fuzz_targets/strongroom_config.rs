//! The strongroom configuration file (TOML, `strongroom::config::Config::parse`): its tables
//! (`[tls]`, `[store]`, `[seed]`, `[xks]`, `[limits]`), the accounts, users, roles and access
//! keys, and the identity policies they carry.
//!
//! Properties: parsing never panics; an accepted configuration written back as TOML (as
//! `strongroom init` writes one) parses again, to a configuration that writes the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = Config::parse(text) else {
        return;
    };
    let Ok(written) = toml::to_string(&cfg) else {
        // TOML cannot hold everything serde can (a table before a value); nothing to compare.
        return;
    };
    match Config::parse(&written) {
        Ok(again) => assert_eq!(toml::to_string(&again).ok(), Some(written)),
        Err(e) => panic!("a written configuration does not read back: {e}\n{written}"),
    }
});
