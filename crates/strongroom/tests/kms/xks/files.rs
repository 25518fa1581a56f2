//! The proxy refuses secret files (KEK, credentials, TLS private key, configuration) that the
//! group or others may read, as a running `strongroom xks-proxy serve` process.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::harness::*;

/// Starts the proxy on its configuration and returns what it wrote to stderr when it exits;
/// panics if it is still running after 10 s (it started).
fn serve_until_exit(proxy: &Proxy) -> String {
    let mut child = proxy
        .command()
        .args(["xks-proxy", "serve", "--config"])
        .arg(proxy.config_path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the proxy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the proxy started on a secret file others may read");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
}

#[test]
fn the_proxy_refuses_secret_files_others_may_read() {
    let pki = Ca::new("files");
    let proxy = Proxy::new(&pki, &["t"], Backend::Software);
    let dir = proxy.config_path().parent().expect("dir").to_path_buf();
    for (file, what) in [
        ("kek", "KEK file"),
        ("credentials.toml", "credentials file"),
        ("tls/key.pem", "TLS private key file"),
        ("xks-proxy.toml", "configuration file"),
    ] {
        let path = dir.join(file);
        chmod(&path, 0o644);
        let err = serve_until_exit(&proxy);
        assert!(
            err.contains(&format!("the {what} {} has mode 644", path.display())),
            "{file}: {err}"
        );
        chmod(&path, 0o600);
    }
}
