//! File-system hygiene for secrets, shared by the KMS and the XKS proxy: a file holding a secret
//! (a root key, a KEK, credentials, a PIN, a TLS private key, a configuration with secret keys)
//! must not be open to the group or to others; directories and databases the programs create for
//! themselves are private to their owner.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Permission bits that give the group or others any access.
const SHARED_BITS: u32 = 0o077;

/// Checks that the secret file at `path` (`what` names it in messages: "root key file") gives
/// no access to the group or to others. With `allow_shared` (an explicit choice in the
/// configuration) such a file is accepted with a warning.
pub fn check_secret_file(path: &Path, what: &str, allow_shared: bool) -> Result<(), String> {
    let meta = fs::metadata(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & SHARED_BITS == 0 {
        return Ok(());
    }
    if allow_shared {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:03o}"),
            "the {what} is accessible to its group or to others (allowed by the configuration)"
        );
        return Ok(());
    }
    Err(format!(
        "the {what} {} has mode {mode:03o}: its group and others may access it; \
         run `chmod 600 {}`, or set allow_insecure_file_permissions = true in the configuration",
        path.display(),
        path.display()
    ))
}

/// Creates `dir` (and its parents) if needed and makes it private to its owner (0700): a
/// directory created with the process's umask would let others list and read what is inside.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    restrict(dir, 0o700)
}

/// Makes the existing file or directory at `path` private to its owner (`mode`, 0600 or 0700)
/// if it is open to the group or to others; a missing path is left alone.
pub fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & SHARED_BITS != 0 => {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the empty file at `path` with mode 0600 if it does not exist, so that a library
/// creating it later (SQLite and its `-wal`/`-shm` files take the database file's mode) never
/// makes it readable by others; an existing one is restricted to 0600.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict(path, 0o600),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secret_files_open_to_others_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("root.key");
        fs::write(&f, "x").unwrap();
        for (m, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false)] {
            fs::set_permissions(&f, fs::Permissions::from_mode(m)).unwrap();
            let r = check_secret_file(&f, "root key file", false);
            assert_eq!(r.is_ok(), ok, "{m:o}: {r:?}");
            if let Err(e) = r {
                assert!(
                    e.contains(&format!("{m:03o}")) && e.contains("chmod 600"),
                    "{e}"
                );
            }
            assert!(check_secret_file(&f, "root key file", true).is_ok());
        }
        assert!(check_secret_file(&dir.path().join("absent"), "x", true).is_err());
    }

    #[test]
    fn private_dirs_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        create_private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        let f = d.join("db");
        create_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        create_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        restrict(&d.join("absent"), 0o600).unwrap();
    }
}
