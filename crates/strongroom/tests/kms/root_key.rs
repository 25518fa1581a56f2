//! The root key in an HSM, end to end on SoftHSMv2 (never skipped: the tests fail when it is
//! not installed): `strongroom init --root-key pkcs11`, `serve` on it across restarts, clear
//! start errors, and a deployment moved from a root key file to the HSM and back with
//! `strongroom root-key rewrap` (on SQLite and on PostgreSQL), with ciphertexts and MACs made
//! before each step checked after it, a rewrap stopped midway and run again, and nodes serving
//! while records are moved.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
use aws_sdk_kms::Client;

use crate::common::{random_bytes, render_config, write_private, PrincipalSpec, Served};
use crate::xks::harness::{softhsm, SoftHsm, SOFTHSM_LABEL};

const LOG: &str = "warn,strongroom::setup=info";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strongroom")
}

fn admin() -> PrincipalSpec {
    PrincipalSpec::user("111122223333", "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    )
}

fn hsm_env(hsm: &SoftHsm) -> Vec<(String, String)> {
    vec![hsm.env()]
}

/// Runs `strongroom ARGS` with the token's SoftHSM configuration.
fn run(hsm: &SoftHsm, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .envs(hsm_env(hsm))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run strongroom")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(hsm: &SoftHsm, args: &[&str]) -> String {
    let out = run(hsm, args);
    assert!(
        out.status.success(),
        "strongroom {args:?} failed: {}",
        text(&out)
    );
    text(&out)
}

/// The `[root_key]` table for a key labelled `label` in the test token.
fn pkcs11_table(hsm: &SoftHsm, label: &str) -> toml::Value {
    toml::Value::Table(toml::toml! {
        module = (hsm.module().to_string_lossy().into_owned())
        token_label = (SOFTHSM_LABEL.to_string())
        key_label = label
        pin_file = (hsm.pin_file(SOFTHSM_LABEL).to_string_lossy().into_owned())
    })
}

/// Writes the serving configuration into `dir` with `root_key` as its `[root_key]` table and
/// `extra` (a `[store]` table) appended.
fn write_config(dir: &Path, admin: &PrincipalSpec, root_key: toml::Value, extra: &str) {
    let mut config: toml::Value =
        toml::from_str(&render_config(std::slice::from_ref(admin))).expect("rendered config");
    config
        .as_table_mut()
        .expect("config table")
        .insert("root_key".to_string(), root_key);
    write_private(
        dir.join("strongroom.toml"),
        format!(
            "{}\n{extra}",
            toml::to_string(&config).expect("config TOML")
        ),
    );
}

/// `[root_key]` naming the token key `label`.
fn root_table(hsm: &SoftHsm, label: &str) -> toml::Value {
    pkcs11_root(pkcs11_table(hsm, label))
}

fn pkcs11_root(table: toml::Value) -> toml::Value {
    let mut t = toml::map::Map::new();
    t.insert("pkcs11".to_string(), table);
    toml::Value::Table(t)
}

fn file_root(name: &str) -> toml::Value {
    toml::Value::Table(toml::toml! { file = name })
}

fn with_previous(mut root: toml::Value, previous: toml::Value) -> toml::Value {
    root.as_table_mut()
        .expect("root_key table")
        .insert("previous".to_string(), previous);
    root
}

/// `strongroom serve` on `dir` until it listens (`Ok`, then stopped) or exits (`Err` with its
/// output).
fn try_serve(hsm: &SoftHsm, dir: &Path) -> Result<(), String> {
    let mut child = Command::new(bin())
        .arg("serve")
        .arg("--config")
        .arg(dir.join("strongroom.toml"))
        .envs(hsm_env(hsm))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strongroom serve");
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if rx.try_recv().is_ok() {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return Err(text(&out));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "strongroom serve neither listened nor exited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn new_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("strongroom-root-")
        .tempdir()
        .expect("tempdir")
}

fn write_file_root(path: &Path) {
    let hex: String = random_bytes(32)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write_private(path, format!("strongroom-root-key-v1:{hex}\n"));
}

/// What a test keeps to check after every step: an AES key and its ciphertext, an HMAC key
/// and its MAC.
struct Made {
    aes: String,
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
    hmac: String,
    message: Vec<u8>,
    mac: Vec<u8>,
}

async fn make(c: &Client) -> Made {
    let aes = c
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata")
        .key_id
        .clone();
    let plaintext = random_bytes(40);
    let ciphertext = c
        .encrypt()
        .key_id(&aes)
        .plaintext(Blob::new(plaintext.clone()))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("CiphertextBlob")
        .into_inner();
    let hmac = c
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .expect("CreateKey HMAC")
        .key_metadata
        .expect("KeyMetadata")
        .key_id
        .clone();
    let message = random_bytes(20);
    let mac = c
        .generate_mac()
        .key_id(&hmac)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(message.clone()))
        .send()
        .await
        .expect("GenerateMac")
        .mac
        .expect("Mac")
        .into_inner();
    Made {
        aes,
        ciphertext,
        plaintext,
        hmac,
        message,
        mac,
    }
}

async fn check(c: &Client, made: &[&Made]) {
    for m in made {
        let out = c
            .decrypt()
            .ciphertext_blob(Blob::new(m.ciphertext.clone()))
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(out.plaintext.expect("Plaintext").into_inner(), m.plaintext);
        assert!(out.key_id.expect("KeyId").ends_with(&m.aes));
        let verified = c
            .verify_mac()
            .key_id(&m.hmac)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(m.message.clone()))
            .mac(Blob::new(m.mac.clone()))
            .send()
            .await
            .expect("VerifyMac");
        assert!(verified.mac_valid);
    }
}

#[tokio::test]
async fn init_creates_a_token_key_and_serve_keeps_keys_across_restarts() {
    let hsm = softhsm();
    let kms_dir = new_dir();
    let pin = hsm.pin_file(SOFTHSM_LABEL);
    let pkcs11_args = |label: &'static str| {
        vec![
            "--root-key".to_string(),
            "pkcs11".to_string(),
            "--pkcs11-module".to_string(),
            hsm.module().to_string_lossy().into_owned(),
            "--token-label".to_string(),
            SOFTHSM_LABEL.to_string(),
            "--key-label".to_string(),
            label.to_string(),
            "--pin-file".to_string(),
            pin.to_string_lossy().into_owned(),
        ]
    };
    let mut init = vec![
        "init".to_string(),
        "--dir".to_string(),
        kms_dir.path().to_string_lossy().into_owned(),
    ];
    init.extend(pkcs11_args("kms-root"));
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    let out = run_ok(&hsm, &init);
    assert!(out.contains("Created"), "{out}");
    assert!(
        !kms_dir.path().join("root.key").exists(),
        "no root key file with an HSM root key"
    );
    let written: toml::Value = toml::from_str(
        &std::fs::read_to_string(kms_dir.path().join("strongroom.toml")).expect("read config"),
    )
    .expect("config");
    let root_key = written.get("root_key").expect("[root_key]").clone();
    let mut expected = toml::map::Map::new();
    expected.insert("pkcs11".to_string(), pkcs11_table(&hsm, "kms-root"));
    assert_eq!(root_key, toml::Value::Table(expected));

    // `root-key create` finds the key rather than making another.
    let mut create = vec!["root-key".to_string(), "create".to_string()];
    create.extend(pkcs11_args("kms-root"));
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let out = run_ok(&hsm, &create);
    assert!(out.contains("Found the AES key \"kms-root\""), "{out}");

    // Serve on it (with the test's principals), make keys, restart, use them.
    let admin = admin();
    write_config(kms_dir.path(), &admin, root_key, "");
    let served = Served::spawn_in_env(kms_dir, LOG, hsm_env(&hsm));
    let c = served.client(&admin).await;
    let before = make(&c).await;
    check(&c, &[&before]).await;
    let served = served.restart(LOG);
    let c = served.client(&admin).await;
    check(&c, &[&before]).await;
    let after = make(&c).await;
    check(&c, &[&before, &after]).await;
}

#[tokio::test]
async fn a_wrong_pin_a_missing_key_or_a_shared_pin_file_stop_the_start() {
    let hsm = softhsm();
    let pin = hsm.pin_file(SOFTHSM_LABEL);
    run_ok(
        &hsm,
        &[
            "root-key",
            "create",
            "--root-key",
            "pkcs11",
            "--pkcs11-module",
            hsm.module().to_str().expect("utf-8"),
            "--token-label",
            SOFTHSM_LABEL,
            "--key-label",
            "kms-root",
            "--pin-file",
            pin.to_str().expect("utf-8"),
        ],
    );
    let dir = new_dir();
    let admin = admin();
    write_config(dir.path(), &admin, root_table(&hsm, "kms-root"), "");
    try_serve(&hsm, dir.path()).expect("the right PIN and key start");

    // A wrong PIN.
    let wrong = dir.path().join("wrong-pin");
    write_private(&wrong, "9999\n");
    let mut table = pkcs11_table(&hsm, "kms-root");
    table.as_table_mut().expect("table").insert(
        "pin_file".to_string(),
        toml::Value::String(wrong.to_string_lossy().into_owned()),
    );
    write_config(dir.path(), &admin, pkcs11_root(table), "");
    let err = try_serve(&hsm, dir.path()).expect_err("a wrong PIN stops the start");
    assert!(
        err.contains("the PIN is incorrect (CKR_PIN_INCORRECT)"),
        "{err}"
    );
    assert!(!err.contains("9999"), "the PIN is never shown: {err}");

    // A key label the token does not have.
    write_config(dir.path(), &admin, root_table(&hsm, "no-such-key"), "");
    let err = try_serve(&hsm, dir.path()).expect_err("a missing key stops the start");
    assert!(
        err.contains("there is no AES key \"no-such-key\" in PKCS#11 token \"strongroom\""),
        "{err}"
    );
    assert!(err.contains("strongroom root-key create"), "{err}");

    // A token label no token has.
    let mut table = pkcs11_table(&hsm, "kms-root");
    table.as_table_mut().expect("table").insert(
        "token_label".to_string(),
        toml::Value::String("elsewhere".to_string()),
    );
    write_config(dir.path(), &admin, pkcs11_root(table), "");
    let err = try_serve(&hsm, dir.path()).expect_err("a missing token stops the start");
    assert!(
        err.contains("no PKCS#11 token labelled \"elsewhere\""),
        "{err}"
    );

    // A PIN file others may read.
    write_config(dir.path(), &admin, root_table(&hsm, "kms-root"), "");
    std::fs::set_permissions(&pin, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let err = try_serve(&hsm, dir.path()).expect_err("a shared PIN file stops the start");
    assert!(
        err.contains("PKCS#11 PIN file") && err.contains("mode 644"),
        "{err}"
    );
}

/// Which store a rewrap test runs on.
enum Backing {
    Sqlite,
    Postgres,
}

impl Backing {
    /// The `[store]` table.
    fn table(&self) -> String {
        match self {
            Backing::Sqlite => String::new(),
            Backing::Postgres => format!(
                "[store]\nurl = \"{}\"\nschema = \"{}\"\n",
                store::test_postgres::server_url(),
                store::test_postgres::fresh_schema()
            ),
        }
    }
}

fn rewrap(hsm: &SoftHsm, dir: &Path, extra: &[&str]) -> String {
    let config = dir.join("strongroom.toml");
    let mut args = vec![
        "root-key",
        "rewrap",
        "--config",
        config.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    run_ok(hsm, &args)
}

/// From a root key file to the HSM and back, each step checked: nodes configured with both
/// root keys serve records sealed by either while the rewrap runs beside them; a rewrap
/// stopped midway leaves a store those nodes serve, and runs again to the end; a node with the
/// old root key alone then refuses to start, saying why.
async fn move_to_the_hsm_and_back(backing: Backing) {
    let hsm = softhsm();
    let pin = hsm.pin_file(SOFTHSM_LABEL);
    run_ok(
        &hsm,
        &[
            "root-key",
            "create",
            "--root-key",
            "pkcs11",
            "--pkcs11-module",
            hsm.module().to_str().expect("utf-8"),
            "--token-label",
            SOFTHSM_LABEL,
            "--key-label",
            "kms-root",
            "--pin-file",
            pin.to_str().expect("utf-8"),
        ],
    );
    let store = backing.table();
    let admin = admin();
    let dir = new_dir();
    let path = dir.path().to_path_buf();
    write_file_root(&path.join("root.key"));
    write_config(&path, &admin, file_root("root.key"), &store);
    let served = Served::spawn_in_env(dir, LOG, hsm_env(&hsm));
    let c = served.client(&admin).await;
    let on_file = make(&c).await;
    check(&c, &[&on_file]).await;

    // Step 1: the HSM key current, the file previous. The node reads both.
    let to_hsm = with_previous(root_table(&hsm, "kms-root"), file_root("root.key"));
    write_config(&path, &admin, to_hsm.clone(), &store);
    let served = served.restart(LOG);
    let c = served.client(&admin).await;
    check(&c, &[&on_file]).await;
    let during = make(&c).await; // sealed by the HSM already
    check(&c, &[&on_file, &during]).await;

    // A rewrap stopped after one record (as a crash would leave it: each record moves in one
    // write), while the node serves.
    let out = rewrap(&hsm, &path, &["--limit", "1"]);
    assert!(out.contains("1 key version(s) moved"), "{out}");
    assert!(out.contains("stopped at the limit"), "{out}");
    check(&c, &[&on_file, &during]).await;
    let served = served.restart(LOG);
    let c = served.client(&admin).await;
    check(&c, &[&on_file, &during]).await;
    // Run again: the rest moves; the record moved before and those sealed by the HSM stay.
    let out = rewrap(&hsm, &path, &[]);
    assert!(
        out.contains("1 key version(s) moved, 3 already under the current root key"),
        "{out}"
    );
    assert!(out.contains("remove [root_key.previous]"), "{out}");
    let out = rewrap(&hsm, &path, &[]);
    assert!(
        out.contains("0 key version(s) moved, 4 already under the current root key"),
        "{out}"
    );
    check(&c, &[&on_file, &during]).await;

    // The file root alone no longer opens the store, and says why.
    write_config(&path, &admin, file_root("root.key"), &store);
    let err = try_serve(&hsm, &path).expect_err("the old root key alone cannot start");
    assert!(err.contains("sealed by a `pkcs11` root key"), "{err}");

    // The HSM root key alone opens everything.
    write_config(&path, &admin, root_table(&hsm, "kms-root"), &store);
    let served = served.restart(LOG);
    let c = served.client(&admin).await;
    check(&c, &[&on_file, &during]).await;
    let on_hsm = make(&c).await;

    // Step 2: back to a new root key file, the HSM previous.
    let out = run_ok(
        &hsm,
        &[
            "root-key",
            "create",
            "--file",
            path.join("root2.key").to_str().expect("utf-8"),
        ],
    );
    assert!(out.contains("Created the root key file"), "{out}");
    let to_file = with_previous(file_root("root2.key"), root_table(&hsm, "kms-root"));
    write_config(&path, &admin, to_file, &store);
    let served = served.restart(LOG);
    let c = served.client(&admin).await;
    check(&c, &[&on_file, &during, &on_hsm]).await;
    let back = make(&c).await;
    let out = rewrap(&hsm, &path, &[]);
    assert!(
        out.contains("6 key version(s) moved, 2 already under the current root key"),
        "{out}"
    );
    write_config(&path, &admin, file_root("root2.key"), &store);
    let served = served.restart(LOG);
    let c = served.client(&admin).await;
    check(&c, &[&on_file, &during, &on_hsm, &back]).await;
    // Without the token: the deployment no longer needs it.
    write_config(&path, &admin, file_root("root2.key"), &store);
    let out = Command::new(bin())
        .args(["root-key", "rewrap", "--config"])
        .arg(path.join("strongroom.toml"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rewrap");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("has no [root_key.previous]"),
        "{}",
        text(&out)
    );
    drop(served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_moves_a_sqlite_deployment_to_the_hsm_and_back() {
    move_to_the_hsm_and_back(Backing::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_moves_a_postgres_deployment_to_the_hsm_and_back() {
    move_to_the_hsm_and_back(Backing::Postgres).await;
}
