//! The proxy's server, by job:
//!
//! * `lifecycle`: [`start`], [`RunningProxy`] (reload, SIGHUP, shutdown);
//! * `connection`: the listener's TLS configuration and the handler `http_serve` calls
//!   (connections, TLS handshakes, timeouts, caps and body limits are `http_serve`'s;
//!   docs/limits.md);
//! * `pipeline`: one request from routing to its audit record and log line;
//! * `operations`: GetKeyMetadata, Encrypt, Decrypt and GetHealthStatus, with
//!   `authorize`'s checks of the caller;
//! * `health`: the cached deep health checks GetHealthStatus and the load-balancer check
//!   answer from;
//! * `state` and `outcome`: what the others share (tenants and their reloadable settings;
//!   answers, refusals and the mapping of backend errors).
//!
//! Dependencies run one way, each module using only those after it in: lifecycle,
//! connection, pipeline, operations, authorize, outcome, state, health.

mod authorize;
mod connection;
mod health;
mod lifecycle;
mod operations;
mod outcome;
mod pipeline;
mod state;

pub use lifecycle::{open_backend, start, RunningProxy, ServeOptions};

pub use crate::request::{CIPHERTEXT_METADATA_V1, MAX_DATA_BYTES};
/// `xksProxyVendor`.
pub const PROXY_VENDOR: &str = "Strongroom";
