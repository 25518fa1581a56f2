//! The `[limits]` configuration section: every bound a client can otherwise stretch.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bound of `max_connections` (the shutdown drain counts connections as `u32`).
pub const MAX_CONNECTIONS_CEILING: usize = 1_000_000;

/// Connection, time and size limits of one listener. Every field has a default, so a
/// configuration names only what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections open at once; past it a new connection is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections open at once from one client IP address; past it, likewise.
    pub max_connections_per_ip: usize,
    /// Time for the TLS handshake, and for a request's head (request line and headers) from its
    /// first byte; the first request of a connection must arrive within it too.
    pub header_read_timeout_ms: u64,
    /// Time from a request's first byte to the last byte of its body; past it the connection
    /// (HTTP/1) or the stream (HTTP/2) is closed without an answer.
    pub request_timeout_ms: u64,
    /// Time a connection may stay open with no request in progress.
    pub idle_timeout_ms: u64,
    /// Interval of HTTP/2 PING frames to a client.
    pub http2_keep_alive_interval_ms: u64,
    /// Time the client has to answer a PING before its connection is closed.
    pub http2_keep_alive_timeout_ms: u64,
    /// Requests in progress at once on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest request body read. A `Content-Length` above it is refused before the body is read.
    pub max_body_bytes: usize,
    /// After an answer given without reading the whole body (wrong path, method, too large),
    /// up to this many body bytes are read and dropped so the client can read the answer.
    pub drain_max_bytes: usize,
    /// Time allowed for that.
    pub drain_timeout_ms: u64,
    /// At shutdown, time open connections get to finish their requests.
    pub shutdown_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_ip: 128,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            http2_keep_alive_interval_ms: 20_000,
            http2_keep_alive_timeout_ms: 10_000,
            http2_max_concurrent_streams: 32,
            max_body_bytes: 256 * 1024,
            drain_max_bytes: 1024 * 1024,
            drain_timeout_ms: 5_000,
            shutdown_grace_ms: 5_000,
        }
    }
}

impl Limits {
    /// Whether these are the defaults (to leave the section out of a written configuration).
    pub fn is_default(&self) -> bool {
        *self == Limits::default()
    }

    /// Checks that every limit is usable: nothing is zero, and the per-client cap fits in the
    /// global one.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_connections", self.max_connections as u64),
            ("max_connections_per_ip", self.max_connections_per_ip as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            (
                "http2_keep_alive_interval_ms",
                self.http2_keep_alive_interval_ms,
            ),
            (
                "http2_keep_alive_timeout_ms",
                self.http2_keep_alive_timeout_ms,
            ),
            (
                "http2_max_concurrent_streams",
                u64::from(self.http2_max_concurrent_streams),
            ),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("drain_timeout_ms", self.drain_timeout_ms),
            ("shutdown_grace_ms", self.shutdown_grace_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("limits.{name} must be greater than zero"));
        }
        if self.max_connections > MAX_CONNECTIONS_CEILING {
            return Err(format!(
                "limits.max_connections must be at most {MAX_CONNECTIONS_CEILING}"
            ));
        }
        if self.max_connections_per_ip > self.max_connections {
            return Err("limits.max_connections_per_ip must be at most max_connections".into());
        }
        Ok(())
    }

    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub(crate) fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_a_section_names_only_what_it_changes() {
        Limits::default().validate().unwrap();
        #[derive(Deserialize)]
        struct File {
            limits: Limits,
        }
        let f: File = toml::from_str("[limits]\nidle_timeout_ms = 5\n").unwrap();
        assert_eq!(f.limits.idle_timeout_ms, 5);
        assert_eq!(f.limits.max_body_bytes, Limits::default().max_body_bytes);
        assert!(toml::from_str::<File>("[limits]\nidle_timeout = 5\n").is_err());
    }

    /// The example in docs/limits.md lists every key with its default.
    #[test]
    fn documented_defaults_are_the_defaults() {
        #[derive(Deserialize)]
        struct File {
            limits: Limits,
        }
        let doc = include_str!("../../../docs/limits.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("its end");
        let block = &doc[start..end];
        let f: File = toml::from_str(block).unwrap();
        assert_eq!(f.limits, Limits::default());
        let keys = block.lines().filter(|l| l.contains(" = ")).count();
        let table = toml::Value::try_from(Limits::default()).unwrap();
        assert_eq!(keys, table.as_table().unwrap().len(), "every key is shown");
    }

    #[test]
    fn refuses_zero_and_inverted_caps() {
        let zero = Limits {
            request_timeout_ms: 0,
            ..Limits::default()
        };
        assert!(zero.validate().unwrap_err().contains("request_timeout_ms"));
        let inverted = Limits {
            max_connections: 4,
            max_connections_per_ip: 5,
            ..Limits::default()
        };
        assert!(inverted.validate().unwrap_err().contains("per_ip"));
    }
}
