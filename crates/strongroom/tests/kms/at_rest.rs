//! Files at rest, against real `strongroom init`, `serve` and `dev` processes: secret files
//! others may read are refused, the data directory and the database are private, and a
//! database that cannot be written stops the start instead of failing every later write.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{render_config, write_private, PrincipalSpec};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strongroom")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
}

/// A `serve` directory: a configuration for one admin and a root key, both 0600.
fn serve_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("strongroom-files-")
        .tempdir()
        .expect("tempdir");
    let root: String = crate::common::random_bytes(32)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write_private(
        dir.path().join("root.key"),
        format!("strongroom-root-key-v1:{root}\n"),
    );
    write_private(
        dir.path().join("strongroom.toml"),
        render_config(&[PrincipalSpec::user("111111111111", "admin")]),
    );
    dir
}

/// Runs `strongroom serve` on `dir` until it listens (then stops it: `Ok`) or exits (`Err`
/// with what it wrote to stderr).
fn try_serve(dir: &Path, as_uid: Option<u32>) -> Result<(), String> {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("--config")
        .arg(dir.join("strongroom.toml"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(uid) = as_uid {
        cmd.uid(uid).gid(uid);
    }
    let mut child = cmd.spawn().expect("start strongroom serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("KMS listening on") {
                let _ = tx.send(());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if rx.try_recv().is_ok() {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        if child.try_wait().expect("try_wait").is_some() {
            let out: Output = child.wait_with_output().expect("output");
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        assert!(
            Instant::now() < deadline,
            "serve neither listened nor exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_refuses_secret_files_others_may_read() {
    let dir = serve_dir();
    let config = dir.path().join("strongroom.toml");
    let root = dir.path().join("root.key");

    chmod(&config, 0o644);
    let err = try_serve(dir.path(), None).expect_err("a world-readable configuration");
    assert!(
        err.contains(&format!(
            "the configuration file {} has mode 644",
            config.display()
        )),
        "{err}"
    );
    chmod(&config, 0o600);

    for m in [0o640, 0o604] {
        chmod(&root, m);
        let err = try_serve(dir.path(), None).expect_err("a root key others may read");
        assert!(
            err.contains(&format!(
                "the root key file {} has mode {m:03o}",
                root.display()
            )),
            "{err}"
        );
    }

    // An explicit choice in the configuration accepts both.
    let text = std::fs::read_to_string(&config).expect("read config");
    write_private(
        &config,
        format!("allow_insecure_file_permissions = true\n{text}"),
    );
    chmod(&config, 0o644);
    try_serve(dir.path(), None).expect("allowed by the configuration");
}

#[test]
fn serve_init_and_dev_keep_the_data_private() {
    // serve: the data directory and the database it creates.
    let dir = serve_dir();
    try_serve(dir.path(), None).expect("serve starts");
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    let db = data.join("strongroom.db");
    assert_eq!(mode(&db), 0o600);
    for f in ["strongroom.db-wal", "strongroom.db-shm"] {
        let p = data.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    // Files an older version left open are restricted at the next start.
    chmod(&data, 0o755);
    chmod(&db, 0o644);
    try_serve(dir.path(), None).expect("serve starts again");
    assert_eq!((mode(&data), mode(&db)), (0o700, 0o600));

    // init.
    let parent = tempfile::tempdir().expect("tempdir");
    let target = parent.path().join("kms");
    let out = Command::new(bin())
        .args(["init", "--dir"])
        .arg(&target)
        .output()
        .expect("run init");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&target.join("data")), 0o700);
    assert_eq!(mode(&target.join("root.key")), 0o600);
    assert_eq!(mode(&target.join("strongroom.toml")), 0o600);

    // dev, with a kept data directory: its database and files once it is up.
    let dev_dir = parent.path().join("dev");
    let mut options = test_support::process::DevOptions::new(&dev_dir);
    options.demo_store = false;
    let dev = test_support::process::Dev::start(
        Path::new(bin()),
        &options,
        &test_support::process::LogLines::default(),
    );
    let dev_data = dev_dir.join("data");
    let checked = [
        (dev_data.clone(), 0o700),
        (dev_data.join("strongroom.db"), 0o600),
        (dev_dir.join("root.key"), 0o600),
        (dev_dir.join("strongroom.toml"), 0o600),
    ];
    drop(dev);
    for (p, m) in checked {
        assert_eq!(mode(&p), m, "{}", p.display());
    }
}

/// The effective user of this test process (the owner of its `/proc/self`).
fn euid() -> u32 {
    std::fs::metadata("/proc/self")
        .expect("stat /proc/self")
        .uid()
}

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).expect("chown");
    if p.is_dir() {
        for e in std::fs::read_dir(p).expect("read_dir") {
            chown_tree(&e.expect("entry").path(), uid);
        }
    }
}

#[test]
fn a_database_that_cannot_be_written_stops_the_start() {
    let dir = serve_dir();
    try_serve(dir.path(), None).expect("serve creates its database");
    let db: PathBuf = dir.path().join("data/strongroom.db");
    // As root, file modes do not stop writes: the server runs as an unprivileged user then.
    let uid = (euid() == 0).then_some(65534);
    if let Some(u) = uid {
        chown_tree(dir.path(), u);
        // The temporary directory's parent must let that user in.
        chmod(dir.path(), 0o700);
    }
    chmod(&db, 0o400);
    let err = try_serve(dir.path(), uid).expect_err("a read-only database");
    assert!(
        err.contains(&format!("cannot open {}", db.display()))
            && err.contains("the database cannot be written"),
        "{err}"
    );
    chmod(&db, 0o600);
    try_serve(dir.path(), uid).expect("writable again");
}
