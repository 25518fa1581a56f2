//! SoftHSMv2 tokens for the PKCS#11 tests: a temporary directory with its own `softhsm2.conf`
//! and token directory, tokens made with `softhsm2-util --init-token`, and a PIN file per token
//! (0600, as the proxy requires). Removed with the guard. Point a process at the tokens with
//! `SOFTHSM2_CONF=`[`SoftHsm::conf`].
//!
//! The tests that use it fail, never skip, without SoftHSMv2 (`apt-get install -y softhsm2`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The security officer's PIN of every token made here.
pub const SO_PIN: &str = "12345678";

/// The SoftHSMv2 module: `STRONGROOM_TEST_PKCS11_MODULE`, or Debian's path. Panics when it is
/// missing.
#[track_caller]
pub fn module() -> PathBuf {
    let path = std::env::var_os("STRONGROOM_TEST_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    assert!(
        path.exists(),
        "SoftHSMv2 is not installed ({} is missing): install it with `apt-get install -y softhsm2`",
        path.display()
    );
    path
}

/// A token directory; removed on drop.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    module: PathBuf,
}

impl SoftHsm {
    /// Tokens as `(label, user PIN)`.
    #[track_caller]
    pub fn new(tokens: &[(&str, &str)]) -> SoftHsm {
        let module = module();
        let dir = tempfile::Builder::new()
            .prefix("strongroom-hsm-")
            .tempdir()
            .expect("a temporary directory");
        let token_dir = dir.path().join("tokens");
        std::fs::create_dir(&token_dir).expect("create the token directory");
        let hsm = SoftHsm { dir, module };
        std::fs::write(
            hsm.conf(),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                token_dir.display()
            ),
        )
        .expect("write softhsm2.conf");
        for (label, pin) in tokens {
            let out = Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", hsm.conf())
                .args(["--init-token", "--free", "--label", label])
                .args(["--so-pin", SO_PIN, "--pin", pin])
                .output()
                .unwrap_or_else(|e| {
                    panic!("run softhsm2-util (`apt-get install -y softhsm2`): {e}")
                });
            assert!(
                out.status.success(),
                "softhsm2-util --init-token --label {label}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            crate::write_private(hsm.pin_file(label), format!("{pin}\n"));
        }
        hsm
    }

    /// One token `strongroom` with user PIN `1234`.
    pub fn single() -> SoftHsm {
        SoftHsm::new(&[("strongroom", "1234")])
    }

    /// The directory the tokens live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file to name in `SOFTHSM2_CONF`.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// `("SOFTHSM2_CONF", conf)`, for a child's environment.
    pub fn env(&self) -> (String, String) {
        (
            "SOFTHSM2_CONF".to_string(),
            self.conf().display().to_string(),
        )
    }

    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The file holding the user PIN of token `label`.
    pub fn pin_file(&self, label: &str) -> PathBuf {
        self.dir.path().join(format!("pin-{label}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_are_made_in_a_directory_of_their_own() {
        let hsm = SoftHsm::new(&[("one", "1111"), ("two", "2222")]);
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", hsm.conf())
            .arg("--show-slots")
            .output()
            .unwrap();
        let slots = String::from_utf8_lossy(&out.stdout);
        // Slots are listed by slot id, not in the order the tokens were made.
        let mut labels: Vec<&str> = slots
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Label:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        labels.sort_unstable();
        assert_eq!(labels, ["one", "two"], "{slots}");
        let pin = hsm.pin_file("two");
        assert_eq!(std::fs::read_to_string(&pin).unwrap(), "2222\n");
        assert_eq!(
            std::fs::metadata(&pin).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let dir = hsm.dir().to_path_buf();
        drop(hsm);
        assert!(!dir.exists());
    }
}
