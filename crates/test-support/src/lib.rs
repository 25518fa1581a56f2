//! The one test harness of the workspace: what the end-to-end tests of `strongroom` and
//! `xks-proxy` share instead of each keeping a copy.
//!
//! - [`sigv4`]: requests signed by AWS's own `aws-sigv4` crate (never by our verifier's code), for
//!   the KMS API (`kms`) and the XKS Proxy API (`kms-xks-proxy`).
//! - [`pki`]: a CA and the server and client certificates it issues (rcgen), written as PEM
//!   files whose keys only their owner may read.
//! - [`http`]: an HTTP/1.1 client on hyper 1, over TCP or rustls, for the requests the SDK cannot
//!   send (malformed, unsigned, odd headers).
//! - [`process`]: `strongroom serve`, `strongroom dev` and `strongroom xks-proxy serve` started
//!   as child processes, each behind a guard that kills it on drop, and their log lines.
//! - [`softhsm`]: SoftHSMv2 tokens in a temporary directory of their own.
//!
//! A harness fails the test it serves by panicking, with what went wrong: every function here
//! panics rather than return an error the test could only unwrap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

pub mod http;
pub mod pki;
pub mod process;
pub mod sigv4;
pub mod softhsm;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes a file only its owner may read (0600): Strongroom refuses secret files
/// (configurations, keys, credentials, PINs) open to others. Replaces the file's contents but
/// not its mode if it exists: write a new name and rename to change a mode too.
pub fn write_private(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
    let path = path.as_ref();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(contents.as_ref())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes `contents` to `path` through a private temporary file renamed over it, so a reader
/// (a server reloading its files) sees the old file or the new one, never half of one.
pub fn write_private_atomically(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
    let path = path.as_ref();
    let tmp = path.with_extension("new");
    write_private(&tmp, contents);
    std::fs::rename(&tmp, path)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", tmp.display(), path.display()));
}
