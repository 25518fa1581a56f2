//! The XKS proxy's configuration file (TOML, `xks_proxy::config::Config::parse`) and its
//! credentials file (`CredentialsFile`, each credential checked as the proxy checks it).
//!
//! Properties: parsing and checking never panic, and an accepted configuration has the
//! tenants it promises (`tenant` finds each by its URI path).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xks_proxy::config::{Config, CredentialsFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = Config::parse(text, Path::new("/etc/strongroom")) {
        for t in &cfg.tenants {
            let path = t.uri_path();
            match cfg.tenant(Some(&path)) {
                Ok(found) => assert_eq!(found.uri_path(), path),
                Err(e) => panic!("tenant {path} of an accepted configuration: {e}"),
            }
        }
    }
    if let Ok(file) = toml::from_str::<CredentialsFile>(text) {
        for c in &file.credentials {
            let _ = c.validate();
        }
    }
});
