//! `strongroom xks-proxy`: an external key store proxy implementing the AWS XKS Proxy API v1.
//!
//! * [`server::start`] runs the proxy (HTTPS by rustls, SigV4, tenants by URI path prefix,
//!   quotas, secondary authorization, cached deep health checks);
//! * [`cli`] holds the clap types the `strongroom` binary mounts as `xks-proxy` and
//!   [`run_cli`] which runs them;
//! * [`request`] decodes and checks the request bodies;
//! * [`backend`] holds the key backends: the sealed software keystore and PKCS#11.
#![deny(unsafe_code)]

mod audit;
pub mod authz;
pub mod backend;
pub mod cli;
pub mod clock;
pub mod config;
mod metrics;
pub mod request;
pub mod server;
pub mod tls;

pub use cli::{run, run_cli, KeysCommand, TenantArgs, XksProxyArgs, XksProxyCommand};
pub use config::Config;
pub use server::{open_backend, start, RunningProxy, ServeOptions};
