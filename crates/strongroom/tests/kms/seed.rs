//! Seeded keys: a seed file creates keys at start with given ids, specs, policies, tags, aliases
//! and material, so that a fixture's ciphertexts decrypt on another machine (another root key,
//! another data directory) and after restarts; `serve` uses material only when allowed.

use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec, SigningAlgorithmSpec};

use test_support::process::{Dev, DevOptions};

use crate::common::{b64, client_for, write_private, Exports, LogLines, PrincipalSpec, Served};
use crate::openssl::{openssl, public_of_private, Scratch};

const SYMMETRIC_ID: &str = "0f8e4c52-7c1a-4c43-9f1e-2b2a7e41c9d1";
const HMAC_ID: &str = "1a2b3c4d-0000-4000-8000-00000000a001";
const EC_ID: &str = "1a2b3c4d-0000-4000-8000-00000000a002";
const GENERATED_ID: &str = "1a2b3c4d-0000-4000-8000-00000000a003";
const ACCOUNT: &str = "111122223333";

/// Fixed material, as a fixture in a repository would hold it.
const AES_KEY: [u8; 32] = [7; 32];
const HMAC_KEY: [u8; 32] = [9; 32];

fn admin() -> PrincipalSpec {
    PrincipalSpec::user(ACCOUNT, "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    )
}

/// A seed file and the EC private key (PKCS#8 DER) it names, in `dir`.
fn write_seed(dir: &std::path::Path) -> Vec<u8> {
    let scratch = Scratch::new();
    let pem_path = scratch.path("ec.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &pem_path,
    ]);
    let der = openssl(&["pkey", "-in", &pem_path, "-outform", "DER"]);
    write_private(dir.join("ec.pem"), std::fs::read(&pem_path).unwrap());
    let seed = format!(
        r#"
[[keys]]
key_id = "{SYMMETRIC_ID}"
description = "fixture key"
tags = {{ team = "payments" }}
aliases = ["alias/fixture", "alias/fixture-2"]
material = "{aes}"

[[keys]]
key_id = "{HMAC_ID}"
key_spec = "HMAC_256"
key_usage = "GENERATE_VERIFY_MAC"
material = "{hmac}"
enabled = false

[[keys]]
key_id = "{EC_ID}"
key_spec = "ECC_NIST_P256"
key_usage = "SIGN_VERIFY"
material_file = "ec.pem"
policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}'''

[[keys]]
key_id = "{GENERATED_ID}"
description = "material made here"
"#,
        aes = b64(&AES_KEY),
        hmac = b64(&HMAC_KEY),
    );
    write_private(dir.join("seed.toml"), seed);
    der
}

/// `serve` with `[seed]` on a fresh directory (its own root key).
fn serve_seeded(p: &PrincipalSpec, seed_dir: &std::path::Path, allow: bool) -> Served {
    Served::start_with(
        std::slice::from_ref(p),
        &format!(
            "[seed]\nfile = \"{}\"\nallow_material = {allow}\n",
            seed_dir.join("seed.toml").display()
        ),
    )
}

#[tokio::test]
async fn seeded_keys_are_the_same_on_every_machine_and_restart() {
    let seed_dir = tempfile::tempdir().unwrap();
    let ec_private = write_seed(seed_dir.path());
    let p = admin();
    let first = serve_seeded(&p, seed_dir.path(), true);
    let c = first.client(&p).await;

    // What the file says.
    let meta = c
        .describe_key()
        .key_id("alias/fixture")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_id, SYMMETRIC_ID);
    assert_eq!(meta.description.as_deref(), Some("fixture key"));
    assert_eq!(meta.key_state, Some(KeyState::Enabled));
    let tags = c
        .list_resource_tags()
        .key_id(SYMMETRIC_ID)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(
        (tags[0].tag_key(), tags[0].tag_value()),
        ("team", "payments")
    );
    let aliases = c
        .list_aliases()
        .key_id(SYMMETRIC_ID)
        .send()
        .await
        .unwrap()
        .aliases
        .unwrap();
    let mut names: Vec<_> = aliases.iter().filter_map(|a| a.alias_name()).collect();
    names.sort();
    assert_eq!(names, ["alias/fixture", "alias/fixture-2"]);
    let hmac = c
        .describe_key()
        .key_id(HMAC_ID)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(hmac.key_spec, Some(KeySpec::Hmac256));
    assert_eq!(hmac.key_usage, Some(KeyUsageType::GenerateVerifyMac));
    assert_eq!(hmac.key_state, Some(KeyState::Disabled));
    let policy = c
        .get_key_policy()
        .key_id(EC_ID)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert!(
        policy.contains(&format!("arn:aws:iam::{ACCOUNT}:root")),
        "{policy}"
    );

    // The material is the file's, as independent implementations see it.
    c.enable_key().key_id(HMAC_ID).send().await.unwrap();
    let mac = c
        .generate_mac()
        .key_id(HMAC_ID)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"fixture".to_vec()))
        .send()
        .await
        .unwrap()
        .mac
        .unwrap();
    let scratch = Scratch::new();
    let msg = scratch.write("msg", b"fixture");
    let hexkey = format!("hexkey:{}", "09".repeat(32));
    let expected = openssl(&[
        "dgst", "-sha256", "-mac", "HMAC", "-macopt", &hexkey, "-binary", &msg,
    ]);
    assert_eq!(mac.as_ref(), expected.as_slice());
    let public = c
        .get_public_key()
        .key_id(EC_ID)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap();
    assert_eq!(
        public.as_ref(),
        public_of_private(&scratch, &ec_private).as_slice()
    );

    // A ciphertext made here decrypts on another machine seeded with the same file.
    let ct = c
        .encrypt()
        .key_id("alias/fixture")
        .plaintext(Blob::new(b"fixture secret".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let signature = c
        .sign()
        .key_id(EC_ID)
        .message(Blob::new(b"signed here".to_vec()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap()
        .signature
        .unwrap();
    let second = serve_seeded(&p, seed_dir.path(), true);
    let c2 = second.client(&p).await;
    let pt = c2
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext.unwrap().as_ref(), b"fixture secret");
    assert_eq!(
        pt.key_id.as_deref().map(|a| a.ends_with(SYMMETRIC_ID)),
        Some(true)
    );
    let valid = c2
        .verify()
        .key_id(EC_ID)
        .message(Blob::new(b"signed here".to_vec()))
        .signature(signature)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap()
        .signature_valid;
    assert!(valid);
    // Generated material is each machine's own.
    let generated = c
        .encrypt()
        .key_id(GENERATED_ID)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let err = c2
        .decrypt()
        .ciphertext_blob(generated.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::common::code(&err), "InvalidCiphertextException");

    // A restart seeds nothing twice and changes nothing (the HMAC key seeded disabled stays as
    // the caller left it: enabled), and earlier ciphertexts decrypt.
    let first = first.restart("warn");
    let c = first.client(&p).await;
    let keys = c.list_keys().send().await.unwrap().keys.unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let hmac = c
        .describe_key()
        .key_id(HMAC_ID)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(hmac.key_state, Some(KeyState::Enabled));
    for blob in [ct, generated] {
        c.decrypt().ciphertext_blob(blob).send().await.unwrap();
    }
}

#[test]
fn serve_refuses_material_unless_allowed() {
    let seed_dir = tempfile::tempdir().unwrap();
    write_seed(seed_dir.path());
    let p = admin();
    let dir = tempfile::tempdir().unwrap();
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
        format!(
            "{}\n[seed]\nfile = \"{}\"\n",
            crate::common::render_config(&[p]),
            seed_dir.path().join("seed.toml").display()
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .arg("serve")
        .arg("--config")
        .arg(dir.path().join("strongroom.toml"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gives key material, which the configuration does not allow"),
        "{stderr}"
    );
}

/// `strongroom dev --seed SEED` (no demo store) and a client for it, once it printed its exports.
async fn dev_seeded(seed: &std::path::Path) -> (Dev, aws_sdk_kms::Client) {
    let mut options = DevOptions::temporary().arg("--seed").arg(seed);
    options.demo_store = false;
    let dev = Dev::start(
        std::path::Path::new(crate::common::bin()),
        &options,
        &LogLines::default(),
    );
    let exports = Exports::of(&dev);
    let c = client_for(&exports, &exports.access_key_id, &exports.secret_access_key).await;
    (dev, c)
}

#[tokio::test]
async fn dev_seeds_from_a_fixture_file() {
    let seed_dir = tempfile::tempdir().unwrap();
    write_seed(seed_dir.path());
    // Fixtures checked into a repository are not private files: dev accepts them.
    for f in ["seed.toml", "ec.pem"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            seed_dir.path().join(f),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let (dev, c) = dev_seeded(&seed_dir.path().join("seed.toml")).await;
    let ct = c
        .encrypt()
        .key_id("alias/fixture")
        .plaintext(Blob::new(b"dev fixture".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    // The dev account is random; a seed entry without `account` lands in it.
    let meta = c
        .describe_key()
        .key_id(SYMMETRIC_ID)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_id, SYMMETRIC_ID);
    let pt = c.decrypt().ciphertext_blob(ct).send().await.unwrap();
    assert_eq!(pt.plaintext.unwrap().as_ref(), b"dev fixture");
    drop(dev);
}

/// A ciphertext made once and committed (tests/fixtures/seed/ciphertext.bin) decrypts on this
/// machine, under a fresh root key, with the committed seed file.
#[tokio::test]
async fn a_committed_fixture_ciphertext_decrypts() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed");
    let (dev, c) = dev_seeded(&fixtures.join("seed.toml")).await;
    let blob = std::fs::read(fixtures.join("ciphertext.bin")).unwrap();
    let out = c
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .encryption_context("fixture", "seed")
        .send()
        .await
        .expect("Decrypt of the committed fixture");
    assert_eq!(
        out.plaintext.unwrap().as_ref(),
        b"committed fixture plaintext"
    );
    assert!(out
        .key_id
        .unwrap()
        .ends_with("key/5eed0000-0000-4000-8000-000000000001"));
    drop(dev);
}
