//! The PKCS#11 backend's settings (`backend = { type = "pkcs11", … }` of a tenant) and their
//! defaults.
//!
//! Invariant: every setting has a documented default (here and in docs/xks-proxy.md), and
//! unknown settings are refused, so a misspelt one is an error at start, never ignored.

use std::path::PathBuf;

use serde::Deserialize;

/// Default number of pooled sessions.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// Default time a request waits for a free session before [`BackendError::Busy`].
///
/// [`BackendError::Busy`]: crate::backend::BackendError::Busy
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 100;
/// Default label of the health-check key.
pub const DEFAULT_HEALTH_KEY_LABEL: &str = "strongroom-health-check";

/// How many calls the proxy makes into the module at once (`concurrency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Concurrency {
    /// Decide at start by measuring (the default): 1 KiB encryptions with the health-check
    /// key from one thread, then from two; a module that gets no more done from two threads,
    /// or whose threads block on each other, is called one call at a time, any other
    /// `pool_size` calls at a time (see `calibration`).
    #[default]
    Measure,
    /// One call at a time, without measuring: for a module known to serialize its work in this
    /// process (SoftHSMv2). Like a measured serializing module, it leaves that call a core.
    Serial,
    /// `pool_size` calls at a time, without measuring: for a module whose calls overlap (a
    /// network HSM), or to keep start-up free of the measurement.
    Pool,
}

impl Concurrency {
    /// The setting as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Measure => "measure",
            Concurrency::Serial => "serial",
            Concurrency::Pool => "pool",
        }
    }
}

/// Configuration of the PKCS#11 backend (`[pkcs11]` in the proxy's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// Label of the token holding the keys.
    pub token_label: String,
    /// File holding the user PIN (one trailing newline ignored). Exclusive with `pin_env`.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Name of an environment variable holding the user PIN. Exclusive with `pin_file`.
    #[serde(default)]
    pub pin_env: Option<String>,
    /// Number of pooled sessions (concurrent HSM operations). Default 8.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long a request waits for a free session before failing as busy. Default 100 ms.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// Label of the AES-256 key the health check uses (created when missing). Default
    /// `strongroom-health-check`.
    #[serde(default = "default_health_key_label")]
    pub health_key_label: String,
    /// How many calls run in the module at once. Default `measure`.
    #[serde(default)]
    pub concurrency: Concurrency,
}

fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}

fn default_acquire_timeout_ms() -> u64 {
    DEFAULT_ACQUIRE_TIMEOUT_MS
}

fn default_health_key_label() -> String {
    DEFAULT_HEALTH_KEY_LABEL.to_string()
}

impl Pkcs11Config {
    /// A configuration with the defaults and no PIN source set yet.
    pub fn new(module: impl Into<PathBuf>, token_label: impl Into<String>) -> Pkcs11Config {
        Pkcs11Config {
            module: module.into(),
            token_label: token_label.into(),
            pin_file: None,
            pin_env: None,
            pool_size: DEFAULT_POOL_SIZE,
            acquire_timeout_ms: DEFAULT_ACQUIRE_TIMEOUT_MS,
            health_key_label: DEFAULT_HEALTH_KEY_LABEL.to_string(),
            concurrency: Concurrency::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as DeError, MapDeserializer};

    fn parse(fields: Vec<(&'static str, &'static str)>) -> Result<Pkcs11Config, DeError> {
        Pkcs11Config::deserialize(MapDeserializer::<_, DeError>::new(fields.into_iter()))
    }

    #[test]
    fn config_defaults() {
        let cfg = parse(vec![
            ("module", "/usr/lib/softhsm/libsofthsm2.so"),
            ("token_label", "strongroom"),
        ])
        .unwrap();
        assert_eq!(
            cfg,
            Pkcs11Config::new("/usr/lib/softhsm/libsofthsm2.so", "strongroom")
        );
        assert_eq!(cfg.pool_size, 8);
        assert_eq!(cfg.acquire_timeout_ms, 100);
        assert_eq!(cfg.health_key_label, "strongroom-health-check");
        assert_eq!(cfg.concurrency, Concurrency::Measure);
        assert!(parse(vec![("module", "/m.so")]).is_err());
        assert!(parse(vec![
            ("module", "/m.so"),
            ("token_label", "t"),
            ("pin", "1234")
        ])
        .is_err());
    }

    #[test]
    fn concurrency_is_one_of_three_words() {
        for (word, want) in [
            ("measure", Concurrency::Measure),
            ("serial", Concurrency::Serial),
            ("pool", Concurrency::Pool),
        ] {
            let cfg = parse(vec![
                ("module", "/m.so"),
                ("token_label", "t"),
                ("concurrency", word),
            ])
            .unwrap();
            assert_eq!(cfg.concurrency, want);
            assert_eq!(want.as_str(), word);
        }
        for bad in ["auto", "Serial", "1", ""] {
            assert!(
                parse(vec![
                    ("module", "/m.so"),
                    ("token_label", "t"),
                    ("concurrency", bad),
                ])
                .is_err(),
                "{bad:?}"
            );
        }
    }
}
