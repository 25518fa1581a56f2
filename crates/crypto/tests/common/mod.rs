//! Helpers for the interoperability tests: a scratch directory and the
//! `openssl` command-line tool, an implementation independent of AWS-LC.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::Command;

/// A scratch directory, removed when dropped.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self, name: &str) -> String {
        let p: PathBuf = self.0.path().join(name);
        p.to_str().expect("utf-8 path").to_owned()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read")
    }
}

/// Runs `openssl` with `args`; returns stdout, or panics with stderr.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().expect(
        "the openssl command-line tool is required for these tests (apt-get install openssl)",
    );
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `openssl` and reports only whether it succeeded.
pub fn openssl_ok(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command-line tool is required for these tests")
        .status
        .success()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
