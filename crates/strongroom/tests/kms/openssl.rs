//! The `openssl` command-line tool, an implementation independent of Strongroom's (AWS-LC), for
//! the interoperability tests; and a scratch directory for the files it reads and writes.

use std::process::Command;

/// A scratch directory, removed when dropped.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(tempfile::tempdir().expect("temp dir"))
    }

    /// The path of `name` in the directory.
    pub fn path(&self, name: &str) -> String {
        self.0
            .path()
            .join(name)
            .to_str()
            .expect("utf-8 path")
            .to_owned()
    }

    /// Writes `bytes` to `name`; its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read")
    }
}

/// Runs `openssl` with `args`; its stdout, or a panic with its stderr.
#[track_caller]
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command-line tool is required (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `openssl`; whether it succeeded.
pub fn openssl_ok(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command-line tool is required (apt-get install openssl)")
        .status
        .success()
}

/// The DER SubjectPublicKeyInfo of the private key in `private_der` (PKCS#8 DER), as OpenSSL
/// derives it.
pub fn public_of_private(dir: &Scratch, private_der: &[u8]) -> Vec<u8> {
    let private = dir.write("derive-private.der", private_der);
    openssl(&[
        "pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER",
    ])
}

/// OpenSSL's text description of a DER public key (it fails on one it cannot parse).
pub fn describe_public(dir: &Scratch, public_der: &[u8]) -> String {
    let public = dir.write("describe-public.der", public_der);
    String::from_utf8(openssl(&[
        "pkey", "-pubin", "-inform", "DER", "-in", &public, "-text", "-noout",
    ]))
    .expect("utf-8")
}
