//! The glue between the connection layer (`http_serve`: accept, TLS handshakes, HTTP/1.1 and
//! HTTP/2, timeouts, connection caps and body limits; docs/limits.md) and this proxy: the
//! listener's TLS configuration, and the handler every request goes through.
//!
//! Invariant: plain HTTP is served only when the configuration or the caller asked for it;
//! otherwise a `[tls]` section is required, at start and at every reload.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use http_serve::{Body, Parts};
use hyper::Response;

use crate::config::Config;

use super::pipeline;
use super::state::Shared;

/// The listener's TLS configuration, or `None` for plain HTTP.
pub(super) fn listener_tls(
    config: &Config,
    plain_http: bool,
) -> Result<Option<Arc<http_serve::Tls>>, String> {
    if plain_http {
        tracing::warn!("serving plain HTTP: for local development only, never for AWS KMS");
        return Ok(None);
    }
    let tls_cfg = config
        .tls
        .as_ref()
        .ok_or("a [tls] section is required unless insecure_http is set")?;
    Ok(Some(Arc::new(http_serve::Tls::new(
        crate::tls::server_config(tls_cfg)?,
    ))))
}

/// The TLS configuration a reload puts in force (`None` when serving plain HTTP).
pub(super) fn reloaded_tls(
    new: &Config,
    plain_http: bool,
) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    if plain_http {
        return Ok(None);
    }
    let tls_cfg = new
        .tls
        .as_ref()
        .ok_or("the new configuration has no [tls] section")?;
    crate::tls::server_config(tls_cfg).map(Some)
}

impl http_serve::Handler for Shared {
    async fn handle(
        &self,
        head: Parts,
        body: &mut Body,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        pipeline::handle(self, head, body, peer).await
    }
}
