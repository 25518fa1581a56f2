//! Imported key material (Origin EXTERNAL) end to end, with aws-sdk-kms against `strongroom dev`:
//! the material is wrapped in the test by the OpenSSL command line (RSA-OAEP with `pkeyutl`, AES
//! key wrap with padding with `enc -id-aes256-wrap-pad`) under the wrapping public key
//! GetParametersForImport returns, never by Strongroom's code. Covers the whole flow, AWS's
//! errors and messages, expiry through the movable clock, restarts, rotation to new imported
//! material, HMAC and key-pair material, and multi-Region keys.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportState, ImportType, IncludeKeyMaterial,
    KeyMaterialState, KeySpec, KeyState, KeyUsageType, OriginType, RotationType, WrappingKeySpec,
};
use aws_sdk_kms::Client;

use crate::common::{client_for, expect_code, now_secs, poll_until, random_bytes, secs, Kms};

const HOUR_MS: i64 = 60 * 60 * 1000;

/// A scratch directory for OpenSSL's input and output files.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().expect("tempdir"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write scratch file");
        p
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (the tests need the OpenSSL command line)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The wrapping algorithm's hash, as OpenSSL names it.
fn oaep_hash(alg: &AlgorithmSpec) -> &'static str {
    match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    }
}

/// RSA-OAEP of `plaintext` under the DER public key, by OpenSSL.
fn oaep_encrypt(dir: &Scratch, public_der: &[u8], hash: &str, plaintext: &[u8]) -> Vec<u8> {
    let public = dir.write("wrapping.der", public_der);
    let input = dir.write("plain.bin", plaintext);
    let output = dir.path("oaep.bin");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        path_str(&public),
        "-in",
        path_str(&input),
        "-out",
        path_str(&output),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        &format!("rsa_oaep_md:{hash}"),
        "-pkeyopt",
        &format!("rsa_mgf1_md:{hash}"),
    ]);
    std::fs::read(output).expect("read OpenSSL output")
}

/// `material` wrapped for import as `alg` says, by OpenSSL alone: RSA-OAEP of the material, or
/// RSA-OAEP of a fresh AES-256 key followed by the material under AES key wrap with padding
/// (RFC 5649).
pub(crate) fn wrap(public_der: &[u8], alg: &AlgorithmSpec, material: &[u8]) -> Vec<u8> {
    let dir = Scratch::new();
    let hash = oaep_hash(alg);
    match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256 => {
            oaep_encrypt(&dir, public_der, hash, material)
        }
        AlgorithmSpec::RsaAesKeyWrapSha1 | AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let aes = random_bytes(32);
            let mut out = oaep_encrypt(&dir, public_der, hash, &aes);
            let input = dir.write("material.bin", material);
            let wrapped = dir.path("wrapped.bin");
            openssl(&[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &hex(&aes),
                "-iv",
                "A65959A6",
                "-in",
                path_str(&input),
                "-out",
                path_str(&wrapped),
            ]);
            out.extend(std::fs::read(wrapped).expect("read wrapped material"));
            out
        }
        other => panic!("no wrapping for {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A private key made by OpenSSL, as PKCS#8 DER.
fn openssl_private_key(args: &[&str]) -> Vec<u8> {
    let dir = Scratch::new();
    let pem = dir.path("key.pem");
    let der = dir.path("key.der");
    let mut gen = vec!["genpkey"];
    gen.extend_from_slice(args);
    gen.extend_from_slice(&["-out", path_str(&pem)]);
    openssl(&gen);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    std::fs::read(der).expect("read private key")
}

/// An EC private key (PKCS#8 DER) re-encoded by OpenSSL without its public key.
fn without_public_key(pkcs8: &[u8]) -> Vec<u8> {
    let dir = Scratch::new();
    let input = dir.write("full.der", pkcs8);
    let bare = dir.path("bare.pem");
    let out = dir.path("bare.der");
    openssl(&[
        "ec",
        "-inform",
        "DER",
        "-in",
        path_str(&input),
        "-no_public",
        "-out",
        path_str(&bare),
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        path_str(&bare),
        "-outform",
        "DER",
        "-out",
        path_str(&out),
    ]);
    std::fs::read(out).expect("read re-encoded key")
}

/// The bit length OpenSSL reads off a DER RSA public key.
fn rsa_public_bits(public_der: &[u8]) -> u32 {
    let dir = Scratch::new();
    let p = dir.write("pub.der", public_der);
    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&p)
        .output()
        .expect("openssl pkey");
    assert!(out.status.success(), "the wrapping public key parses");
    let text = String::from_utf8_lossy(&out.stdout);
    let bits = text
        .split('(')
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no key size in {text}"));
    bits
}

async fn create_external(c: &Client, spec: KeySpec, usage: Option<KeyUsageType>) -> String {
    let mut req = c.create_key().origin(OriginType::External).key_spec(spec);
    if let Some(u) = usage {
        req = req.key_usage(u);
    }
    req.send()
        .await
        .expect("CreateKey EXTERNAL")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string()
}

/// GetParametersForImport: the wrapping public key and the import token.
async fn parameters(
    c: &Client,
    key: &str,
    alg: AlgorithmSpec,
    spec: WrappingKeySpec,
) -> (Vec<u8>, Vec<u8>) {
    let p = c
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(alg)
        .wrapping_key_spec(spec)
        .send()
        .await
        .expect("GetParametersForImport");
    (
        p.public_key().expect("PublicKey").as_ref().to_vec(),
        p.import_token().expect("ImportToken").as_ref().to_vec(),
    )
}

/// Imports `material` into `key` with fresh parameters (RSAES_OAEP_SHA_256 and RSA_2048 unless
/// the material needs others), never expiring; returns the response's `KeyMaterialId`.
async fn import(c: &Client, key: &str, material: &[u8]) -> Option<String> {
    import_with(
        c,
        key,
        material,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await
}

async fn import_with(
    c: &Client,
    key: &str,
    material: &[u8],
    alg: AlgorithmSpec,
    spec: WrappingKeySpec,
) -> Option<String> {
    let (public, token) = parameters(c, key, alg.clone(), spec).await;
    c.import_key_material()
        .key_id(key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(&public, &alg, material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("ImportKeyMaterial")
        .key_material_id()
        .map(str::to_string)
}

async fn describe(c: &Client, key: &str) -> aws_sdk_kms::types::KeyMetadata {
    c.describe_key()
        .key_id(key)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .expect("KeyMetadata")
        .clone()
}

async fn encrypt(c: &Client, key: &str, plaintext: &[u8]) -> Vec<u8> {
    c.encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec()
}

/// Decrypts and returns the plaintext and the `KeyMaterialId` that made the ciphertext.
async fn decrypt(c: &Client, ciphertext: &[u8]) -> (Vec<u8>, Option<String>) {
    let d = c
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext))
        .send()
        .await
        .expect("Decrypt");
    (
        d.plaintext().expect("Plaintext").as_ref().to_vec(),
        d.key_material_id().map(str::to_string),
    )
}

async fn rotations(
    c: &Client,
    key: &str,
    include: IncludeKeyMaterial,
) -> Vec<aws_sdk_kms::types::RotationsListEntry> {
    c.list_key_rotations()
        .key_id(key)
        .include_key_material(include)
        .send()
        .await
        .expect("ListKeyRotations")
        .rotations()
        .to_vec()
}

#[tokio::test]
async fn symmetric_material_imports_decrypts_and_comes_back_after_deletion() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let created = c
        .create_key()
        .origin(OriginType::External)
        .description("imported")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .clone();
    let key = created.key_id().to_string();
    let arn = created.arn().expect("Arn").to_string();
    assert_eq!(created.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(created.origin(), Some(&OriginType::External));
    assert!(!created.enabled());
    assert_eq!(created.current_key_material_id(), None);
    assert_eq!(created.expiration_model(), None);
    assert_eq!(created.valid_to(), None);
    let r = c
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending import.")
    );

    let p = c
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport");
    assert_eq!(p.key_id(), Some(arn.as_str()));
    let public = p.public_key().expect("PublicKey").as_ref().to_vec();
    assert_eq!(rsa_public_bits(&public), 2048);
    let valid_to = secs(p.parameters_valid_to().expect("ParametersValidTo"));
    assert!(
        (valid_to - (now_secs() + 86_400.0)).abs() < 60.0,
        "valid for 24 hours: {valid_to}"
    );
    let token = p.import_token().expect("ImportToken").as_ref().to_vec();
    let material = random_bytes(32);
    let imported = c
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token.clone()))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &material,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("ImportKeyMaterial");
    assert_eq!(imported.key_id(), Some(arn.as_str()));
    let id = imported
        .key_material_id()
        .expect("KeyMaterialId")
        .to_string();
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));

    let m = describe(c, &key).await;
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert!(m.enabled());
    assert_eq!(m.current_key_material_id(), Some(id.as_str()));
    assert_eq!(
        m.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    assert_eq!(m.valid_to(), None);
    let ciphertext = encrypt(c, &key, b"under imported material").await;
    assert_eq!(
        decrypt(c, &ciphertext).await,
        (b"under imported material".to_vec(), Some(id.clone()))
    );
    let listed = rotations(c, &key, IncludeKeyMaterial::AllKeyMaterial).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_material_id(), Some(id.as_str()));
    assert_eq!(
        listed[0].key_material_state(),
        Some(&KeyMaterialState::Current)
    );
    assert_eq!(listed[0].import_state(), Some(&ImportState::Imported));
    assert_eq!(
        listed[0].expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    assert!(rotations(c, &key, IncludeKeyMaterial::RotationsOnly)
        .await
        .is_empty());

    // The same material again, under other wrapping parameters: the same id.
    let again = import_with(
        c,
        &key,
        &material,
        AlgorithmSpec::RsaesOaepSha1,
        WrappingKeySpec::Rsa3072,
    )
    .await;
    assert_eq!(again.as_deref(), Some(id.as_str()));

    // Deleted: the key awaits its material, which still has its id.
    let deleted = c
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    assert_eq!(deleted.key_id(), Some(arn.as_str()));
    assert_eq!(deleted.key_material_id(), Some(id.as_str()));
    let m = describe(c, &key).await;
    assert_eq!(m.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(m.current_key_material_id(), Some(id.as_str()));
    assert_eq!(m.expiration_model(), None);
    let r = c
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext.clone()))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending import.")
    );
    let listed = rotations(c, &key, IncludeKeyMaterial::AllKeyMaterial).await;
    assert_eq!(listed[0].import_state(), Some(&ImportState::PendingImport));
    assert_eq!(listed[0].expiration_model(), None);
    // Deleting it again answers the same.
    let deleted = c
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial again");
    assert_eq!(deleted.key_material_id(), Some(id.as_str()));

    // Other material is refused; the same material, with the first token (a token may be
    // used again within its 24 hours), brings the key and its ciphertexts back.
    let r = c
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token.clone()))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &random_bytes(32),
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "IncorrectKeyMaterialException"),
        format!("Imported key material does not have the expected identifier ({id}).")
    );
    let back = c
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &material,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("re-import");
    assert_eq!(back.key_material_id(), Some(id.as_str()));
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::Enabled)
    );
    assert_eq!(
        decrypt(c, &ciphertext).await.0,
        b"under imported material".to_vec()
    );
}

#[tokio::test]
async fn import_requests_get_aws_errors() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = create_external(c, KeySpec::SymmetricDefault, None).await;
    let arn = describe(c, &key).await.arn().expect("Arn").to_string();
    let other = create_external(c, KeySpec::SymmetricDefault, None).await;
    let (public, token) = parameters(
        c,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let material = random_bytes(32);
    let wrapped = wrap(&public, &AlgorithmSpec::RsaesOaepSha256, &material);
    let attempt = |key: &str, token: Vec<u8>, encrypted: Vec<u8>| {
        c.import_key_material()
            .key_id(key)
            .import_token(Blob::new(token))
            .encrypted_key_material(Blob::new(encrypted))
    };

    // Expiration: the default model expires, so a ValidTo is needed.
    let r = attempt(&key, token.clone(), wrapped.clone()).send().await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
    );
    let r = attempt(&key, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .valid_to(DateTime::from_secs(now_secs() as i64 + 3600))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
    );
    let r = attempt(&key, token.clone(), wrapped.clone())
        .valid_to(DateTime::from_secs(now_secs() as i64 - 10))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "ValidTo must be in the future"
    );
    let r = attempt(&key, token.clone(), wrapped.clone())
        .valid_to(DateTime::from_secs(now_secs() as i64 + 366 * 86_400))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "ValidTo must be less than 365 days in the future"
    );

    // Tokens: another key's, and damaged ones, are invalid (AWS says no more).
    let r = attempt(&other, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(expect_code(r, "InvalidImportTokenException"), "");
    let mut damaged = token.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    for bad in [damaged, b"not a token".to_vec(), token[..40].to_vec()] {
        let r = attempt(&key, bad, wrapped.clone())
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await;
        assert_eq!(expect_code(r, "InvalidImportTokenException"), "");
    }
    // Material that does not unwrap, or is not 32 bytes, is not a valid ciphertext.
    let mut corrupt = wrapped.clone();
    corrupt[10] ^= 1;
    for bad in [
        corrupt,
        wrap(&public, &AlgorithmSpec::RsaesOaepSha256, &material[..31]),
        wrap(&public, &AlgorithmSpec::RsaesOaepSha256, &random_bytes(33)),
        wrap(&public, &AlgorithmSpec::RsaesOaepSha1, &material),
    ] {
        let r = attempt(&key, token.clone(), bad)
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await;
        assert_eq!(expect_code(r, "InvalidCiphertextException"), "");
    }
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::PendingImport),
        "nothing was imported"
    );

    // Wrapping parameters AWS does not allow for the key.
    for (alg, spec, key_spec) in [
        (
            AlgorithmSpec::RsaesPkcs1V15,
            WrappingKeySpec::Rsa2048,
            "SYMMETRIC_DEFAULT",
        ),
        (
            AlgorithmSpec::RsaAesKeyWrapSha256,
            WrappingKeySpec::Rsa2048,
            "SYMMETRIC_DEFAULT",
        ),
    ] {
        let r = c
            .get_parameters_for_import()
            .key_id(&key)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(spec.clone())
            .send()
            .await;
        assert_eq!(
            expect_code(r, "ValidationException"),
            format!(
                "Wrapping algorithm {} and wrapping key spec {} cannot be used to import a {key_spec} key.",
                alg.as_str(),
                spec.as_str()
            )
        );
    }
    // Keys whose material Strongroom makes take no imports.
    let own = kms.key().await;
    let own_arn = describe(c, &own).await.arn().expect("Arn").to_string();
    let r = c
        .get_parameters_for_import()
        .key_id(&own)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "UnsupportedOperationException"),
        format!("{own_arn} origin is AWS_KMS which is not valid for this operation.")
    );
    let r = c.delete_imported_key_material().key_id(&own).send().await;
    assert_eq!(
        expect_code(r, "UnsupportedOperationException"),
        format!("{own_arn} origin is AWS_KMS which is not valid for this operation.")
    );
    let r = c
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::MlDsa44)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "KeySpec ML_DSA_44 is not supported for Origin EXTERNAL"
    );

    // A key that never had material: nothing to delete, and no id to name.
    let d = c
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial without material");
    assert_eq!(d.key_id(), Some(arn.as_str()));
    assert_eq!(d.key_material_id(), None);
    let unknown = "ab".repeat(32);
    let r = c
        .delete_imported_key_material()
        .key_id(&key)
        .key_material_id(&unknown)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        format!("Key material (id: {unknown}) has never been imported into KMS key {arn}.")
    );

    // Import type and material id rules.
    let id = attempt(&key, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("import")
        .key_material_id()
        .expect("KeyMaterialId")
        .to_string();
    let r = attempt(&key, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(ImportType::NewKeyMaterial)
        .key_material_id(&id)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Input parameter keyMaterialId cannot be used with NEW_KEY_MATERIAL importType."
    );
    let r = attempt(&key, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "IncorrectKeyMaterialException"),
        format!(
            "Key material (id: {id}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {arn}."
        )
    );
    let r = attempt(&key, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .key_material_id(&unknown)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "IncorrectKeyMaterialException"),
        format!("Imported key material does not have the expected identifier ({unknown}).")
    );

    // Pending deletion: no imports; the material may still be deleted, the state stays; a
    // cancelled deletion leaves a key without material waiting for it.
    c.schedule_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let r = c
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending deletion.")
    );
    let r = attempt(&key, token.clone(), wrapped.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending deletion.")
    );
    c.delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial while pending deletion");
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );
    c.cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::PendingImport)
    );
    // Keys with imported material do not rotate automatically: the origin is refused first.
    let r = c.enable_key_rotation().key_id(&key).send().await;
    assert_eq!(
        expect_code(r, "UnsupportedOperationException"),
        format!("{arn} origin is EXTERNAL which is not valid for this operation.")
    );
    let status = c
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(!status.key_rotation_enabled());
}

#[tokio::test]
async fn tokens_expire_after_24_hours() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = create_external(c, KeySpec::SymmetricDefault, None).await;
    let (public, token) = parameters(
        c,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let material = random_bytes(32);
    let send = |token: Vec<u8>| {
        c.import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token))
            .encrypted_key_material(Blob::new(wrap(
                &public,
                &AlgorithmSpec::RsaesOaepSha256,
                &material,
            )))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
    };
    kms.advance_clock(23 * HOUR_MS);
    send(token.clone()).await.expect("a token of 23 hours");
    kms.advance_clock(HOUR_MS + 1000);
    let r = send(token).await;
    assert_eq!(expect_code(r, "ExpiredImportTokenException"), "");
}

#[tokio::test]
async fn imported_material_expires_at_valid_to() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = create_external(c, KeySpec::SymmetricDefault, None).await;
    let (public, token) = parameters(
        c,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let material = random_bytes(32);
    // Whole seconds are kept.
    let valid_to = (now_secs() + 3600.0).floor();
    let id = c
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &material,
        )))
        .valid_to(DateTime::from_secs_f64(valid_to + 0.75))
        .send()
        .await
        .expect("ImportKeyMaterial")
        .key_material_id()
        .expect("KeyMaterialId")
        .to_string();
    let m = describe(c, &key).await;
    assert_eq!(
        m.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(m.valid_to().map(secs), Some(valid_to));
    let listed = rotations(c, &key, IncludeKeyMaterial::AllKeyMaterial).await;
    assert_eq!(listed[0].valid_to().map(secs), Some(valid_to));
    let ciphertext = encrypt(c, &key, b"until it expires").await;

    kms.advance_clock(30 * 60 * 1000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::Enabled),
        "not before its time"
    );
    kms.advance_clock(31 * 60 * 1000);
    poll_until(
        "the material to expire",
        Duration::from_secs(10),
        || async { describe(c, &key).await.key_state() == Some(&KeyState::PendingImport) },
    )
    .await;
    let m = describe(c, &key).await;
    assert!(!m.enabled());
    assert_eq!(m.expiration_model(), None);
    assert_eq!(m.valid_to(), None);
    assert_eq!(m.current_key_material_id(), Some(id.as_str()));
    let r = c
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext.clone()))
        .send()
        .await;
    expect_code(r, "KMSInvalidStateException");

    // The same material, imported again (the token is still within its day), for good.
    assert_eq!(
        import(c, &key, &material).await.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        decrypt(c, &ciphertext).await.0,
        b"until it expires".to_vec()
    );
}

#[tokio::test]
async fn imports_survive_restarts_and_tokens_outlive_them() {
    let mut kms = Kms::start().await;
    let key = create_external(&kms.client, KeySpec::SymmetricDefault, None).await;
    let (public, token) = parameters(
        &kms.client,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa4096,
    )
    .await;
    // The token was sealed by the process that is now gone.
    kms.kill_and_restart().await;
    let material = random_bytes(32);
    let id = kms
        .client
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &material,
        )))
        .valid_to(DateTime::from_secs(now_secs() as i64 + 7200))
        .send()
        .await
        .expect("import with a token from before the restart")
        .key_material_id()
        .expect("KeyMaterialId")
        .to_string();
    let ciphertext = encrypt(&kms.client, &key, b"durable").await;

    kms.kill_and_restart().await;
    let c = kms.client.clone();
    let m = describe(&c, &key).await;
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert_eq!(m.current_key_material_id(), Some(id.as_str()));
    assert_eq!(
        m.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(decrypt(&c, &ciphertext).await.0, b"durable".to_vec());

    c.delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    kms.kill_and_restart().await;
    let c = kms.client.clone();
    assert_eq!(
        describe(&c, &key).await.key_state(),
        Some(&KeyState::PendingImport),
        "deleted material stays deleted"
    );
    assert_eq!(
        import(&c, &key, &material).await.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(decrypt(&c, &ciphertext).await.0, b"durable".to_vec());
}

#[tokio::test]
async fn new_material_rotates_in_on_demand() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = create_external(c, KeySpec::SymmetricDefault, None).await;
    let arn = describe(c, &key).await.arn().expect("Arn").to_string();
    let first = random_bytes(32);
    let first_id = import(c, &key, &first).await.expect("KeyMaterialId");
    let old = encrypt(c, &key, b"before rotation").await;
    let r = c.rotate_key_on_demand().key_id(&key).send().await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("No available key material pending rotation for the key: {arn}.")
    );

    let (public, token) = parameters(
        c,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let second = random_bytes(32);
    let new = |material: &[u8]| {
        c.import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token.clone()))
            .encrypted_key_material(Blob::new(wrap(
                &public,
                &AlgorithmSpec::RsaesOaepSha256,
                material,
            )))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .import_type(ImportType::NewKeyMaterial)
    };
    let second_id = new(&second)
        .key_material_description("second one")
        .send()
        .await
        .expect("import new material")
        .key_material_id()
        .expect("KeyMaterialId")
        .to_string();
    assert_ne!(second_id, first_id);
    assert_eq!(
        describe(c, &key).await.current_key_material_id(),
        Some(first_id.as_str()),
        "new material waits for the rotation"
    );
    let listed = rotations(c, &key, IncludeKeyMaterial::AllKeyMaterial).await;
    let states: Vec<_> = listed
        .iter()
        .map(|e| {
            (
                e.key_material_id().unwrap_or_default().to_string(),
                e.key_material_state().cloned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (first_id.clone(), Some(KeyMaterialState::Current)),
            (second_id.clone(), Some(KeyMaterialState::PendingRotation)),
        ]
    );
    assert_eq!(listed[1].key_material_description(), Some("second one"));
    let r = new(&random_bytes(32)).send().await;
    let message = expect_code(r, "KMSInvalidStateException");
    assert!(
        message.starts_with("New key material (id: ")
            && message.ends_with(&format!(
                "cannot be imported into KMS key {arn}, because another key material (id: {second_id}) is pending rotation."
            )),
        "{message}"
    );

    let rotated = c
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    assert_eq!(rotated.key_id(), Some(arn.as_str()));
    assert_eq!(
        describe(c, &key).await.current_key_material_id(),
        Some(second_id.as_str())
    );
    let fresh = encrypt(c, &key, b"after rotation").await;
    assert_eq!(
        decrypt(c, &fresh).await.1.as_deref(),
        Some(second_id.as_str())
    );
    assert_eq!(
        decrypt(c, &old).await,
        (b"before rotation".to_vec(), Some(first_id.clone()))
    );
    let listed = rotations(c, &key, IncludeKeyMaterial::RotationsOnly).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_material_id(), Some(second_id.as_str()));
    assert_eq!(listed[0].rotation_type(), Some(&RotationType::OnDemand));
    assert!(listed[0].rotation_date().is_some());
    let all = rotations(c, &key, IncludeKeyMaterial::AllKeyMaterial).await;
    assert_eq!(
        all[0].key_material_state(),
        Some(&KeyMaterialState::NonCurrent)
    );

    // Deleting material that is no longer current still leaves the key waiting for it; the
    // old material comes back under its own id.
    c.delete_imported_key_material()
        .key_id(&key)
        .key_material_id(&first_id)
        .send()
        .await
        .expect("delete the older material");
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::PendingImport)
    );
    let (public, token) = parameters(
        c,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let again = c
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &first,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .key_material_id(&first_id)
        .send()
        .await
        .expect("re-import the older material");
    assert_eq!(again.key_material_id(), Some(first_id.as_str()));
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::Enabled)
    );
    assert_eq!(decrypt(c, &old).await.0, b"before rotation".to_vec());
}

#[tokio::test]
async fn hmac_and_key_pair_material_imports() {
    let kms = Kms::start().await;
    let c = &kms.client;

    // HMAC: the key's length rules; no material id in the answer.
    let hmac = create_external(c, KeySpec::Hmac256, Some(KeyUsageType::GenerateVerifyMac)).await;
    let m = describe(c, &hmac).await;
    assert_eq!(m.key_state(), Some(&KeyState::PendingImport));
    assert!(!m.mac_algorithms().is_empty());
    let (public, token) = parameters(
        c,
        &hmac,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let send = |material: &[u8]| {
        c.import_key_material()
            .key_id(&hmac)
            .import_token(Blob::new(token.clone()))
            .encrypted_key_material(Blob::new(wrap(
                &public,
                &AlgorithmSpec::RsaesOaepSha256,
                material,
            )))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
    };
    let r = send(&random_bytes(31)).send().await;
    assert_eq!(expect_code(r, "InvalidCiphertextException"), "");
    let r = send(&random_bytes(32))
        .import_type(ImportType::ExistingKeyMaterial)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Input parameter importType cannot be used with HMAC_256 imported keys."
    );
    let r = send(&random_bytes(32))
        .key_material_description("no")
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Input parameter keyMaterialDescription cannot be used with HMAC_256 imported keys."
    );
    let hmac_material = random_bytes(48);
    let answer = send(&hmac_material)
        .send()
        .await
        .expect("import HMAC material");
    assert_eq!(answer.key_material_id(), None);
    let m = describe(c, &hmac).await;
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert_eq!(m.current_key_material_id(), None);
    assert_eq!(
        m.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    send(&hmac_material).send().await.expect("the same again");
    let r = send(&random_bytes(48)).send().await;
    assert!(expect_code(r, "IncorrectKeyMaterialException")
        .starts_with("Imported key material does not have the expected identifier ("));
    let r = c
        .list_key_rotations()
        .key_id(&hmac)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Input parameter includeKeyMaterial can only be used with symmetric keys."
    );

    // Key pairs, made by OpenSSL, under each wrapping AWS allows for them.
    let cases: Vec<(
        KeySpec,
        KeyUsageType,
        Vec<&str>,
        AlgorithmSpec,
        WrappingKeySpec,
    )> = vec![
        (
            KeySpec::EccNistP256,
            KeyUsageType::SignVerify,
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048,
        ),
        (
            KeySpec::EccNistP521,
            KeyUsageType::SignVerify,
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            AlgorithmSpec::RsaAesKeyWrapSha256,
            WrappingKeySpec::Rsa3072,
        ),
        (
            KeySpec::EccSecgP256K1,
            KeyUsageType::SignVerify,
            vec![
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ],
            AlgorithmSpec::RsaAesKeyWrapSha1,
            WrappingKeySpec::Rsa2048,
        ),
        (
            KeySpec::EccNistEdwards25519,
            KeyUsageType::SignVerify,
            vec!["-algorithm", "ED25519"],
            AlgorithmSpec::RsaesOaepSha1,
            WrappingKeySpec::Rsa3072,
        ),
        (
            KeySpec::Rsa2048,
            KeyUsageType::EncryptDecrypt,
            vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            AlgorithmSpec::RsaAesKeyWrapSha256,
            WrappingKeySpec::Rsa4096,
        ),
    ];
    for (spec, usage, gen, alg, wrapping) in cases {
        let key = create_external(c, spec.clone(), Some(usage)).await;
        let private = openssl_private_key(&gen);
        assert_eq!(
            import_with(c, &key, &private, alg.clone(), wrapping.clone()).await,
            None,
            "{spec:?}: no material id for key pairs"
        );
        let m = describe(c, &key).await;
        assert_eq!(m.key_state(), Some(&KeyState::Enabled), "{spec:?}");
        assert_eq!(m.current_key_material_id(), None, "{spec:?}");
        // The same key again is accepted; another key of the spec is not.
        import_with(c, &key, &private, alg.clone(), wrapping.clone()).await;
        let (public, token) = parameters(c, &key, alg.clone(), wrapping.clone()).await;
        let r = c
            .import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token))
            .encrypted_key_material(Blob::new(wrap(&public, &alg, &openssl_private_key(&gen))))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await;
        assert!(
            expect_code(r, "IncorrectKeyMaterialException")
                .starts_with("Imported key material does not have the expected identifier ("),
            "{spec:?}"
        );
    }

    // The same EC key in another PKCS#8 encoding (without its optional public key) is the same
    // material.
    let encodings = create_external(c, KeySpec::EccNistP256, Some(KeyUsageType::SignVerify)).await;
    let full = openssl_private_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let bare = without_public_key(&full);
    assert_ne!(full, bare);
    import_with(
        c,
        &encodings,
        &full,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    import_with(
        c,
        &encodings,
        &bare,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;

    // A key of another spec is not material of this key's spec.
    let p256 = create_external(c, KeySpec::EccNistP256, Some(KeyUsageType::SignVerify)).await;
    let (public, token) = parameters(
        c,
        &p256,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        WrappingKeySpec::Rsa3072,
    )
    .await;
    let p384 = openssl_private_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    let r = c
        .import_key_material()
        .key_id(&p256)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaAesKeyWrapSha256,
            &p384,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(expect_code(r, "InvalidCiphertextException"), "");

    // Wrappings AWS refuses for key pairs.
    let rsa = create_external(c, KeySpec::Rsa3072, Some(KeyUsageType::SignVerify)).await;
    let ed = create_external(
        c,
        KeySpec::EccNistEdwards25519,
        Some(KeyUsageType::SignVerify),
    )
    .await;
    for (key, spec, alg, wrapping) in [
        (
            &rsa,
            "RSA_3072",
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa4096,
        ),
        (
            &ed,
            "ECC_NIST_EDWARDS25519",
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa2048,
        ),
    ] {
        let r = c
            .get_parameters_for_import()
            .key_id(key)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(wrapping.clone())
            .send()
            .await;
        assert_eq!(
            expect_code(r, "ValidationException"),
            format!(
                "Wrapping algorithm {} and wrapping key spec {} cannot be used to import a {spec} key.",
                alg.as_str(),
                wrapping.as_str()
            )
        );
    }
}

/// A client of the same server for another Region.
async fn client_in(kms: &Kms, region: &str) -> Client {
    let mut exports = kms.exports.clone();
    exports.region = region.to_string();
    client_for(&exports, &exports.access_key_id, &exports.secret_access_key).await
}

#[tokio::test]
async fn multi_region_keys_import_and_expire_per_region() {
    let kms = Kms::start().await;
    let primary = &kms.client;
    let replica = client_in(&kms, "eu-west-1").await;
    let created = primary
        .create_key()
        .origin(OriginType::External)
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .clone();
    let key = created.key_id().to_string();
    assert!(key.starts_with("mrk-"));
    assert_eq!(created.key_state(), Some(&KeyState::PendingImport));
    let material = random_bytes(32);
    let id = import(primary, &key, &material)
        .await
        .expect("KeyMaterialId");
    let ciphertext = encrypt(primary, &key, b"one key, two regions").await;

    primary
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .expect("ReplicateKey");
    poll_until(
        "the replica to be made",
        Duration::from_secs(10),
        || async { describe(&replica, &key).await.key_state() == Some(&KeyState::PendingImport) },
    )
    .await;
    let r = describe(&replica, &key).await;
    assert_eq!(r.current_key_material_id(), Some(id.as_str()));
    assert_eq!(r.expiration_model(), None, "no material in the replica yet");
    let replica_arn = r.arn().expect("Arn").to_string();

    // The replica takes the same material, with its own expiry; not new material or a
    // description of its own.
    let (public, token) = parameters(
        &replica,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let send = |material: &[u8]| {
        replica
            .import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token.clone()))
            .encrypted_key_material(Blob::new(wrap(
                &public,
                &AlgorithmSpec::RsaesOaepSha256,
                material,
            )))
    };
    let r = send(&material)
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys"
    );
    let r = send(&material)
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .key_material_description("mine")
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Key material description can only be specified on primary Multi-Region keys"
    );
    let r = send(&random_bytes(32))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(
        expect_code(r, "IncorrectKeyMaterialException"),
        format!("Imported key material does not have the expected identifier ({id}).")
    );
    let answer = send(&material)
        .valid_to(DateTime::from_secs(now_secs() as i64 + 3600))
        .send()
        .await
        .expect("import into the replica");
    assert_eq!(answer.key_id(), Some(replica_arn.as_str()));
    assert_eq!(answer.key_material_id(), Some(id.as_str()));
    assert_eq!(
        describe(&replica, &key).await.key_state(),
        Some(&KeyState::Enabled)
    );
    assert_eq!(
        decrypt(&replica, &ciphertext).await,
        (b"one key, two regions".to_vec(), Some(id.clone()))
    );
    // The primary's token is no token of the replica.
    let (p_public, p_token) = parameters(
        primary,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let r = replica
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(p_token))
        .encrypted_key_material(Blob::new(wrap(
            &p_public,
            &AlgorithmSpec::RsaesOaepSha256,
            &material,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    assert_eq!(expect_code(r, "InvalidImportTokenException"), "");

    // Expiry is each Region's own.
    kms.advance_clock(HOUR_MS + 1000);
    poll_until(
        "the replica's material to expire",
        Duration::from_secs(10),
        || async { describe(&replica, &key).await.key_state() == Some(&KeyState::PendingImport) },
    )
    .await;
    let p = describe(primary, &key).await;
    assert_eq!(p.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        p.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    assert_eq!(
        decrypt(primary, &ciphertext).await.0,
        b"one key, two regions".to_vec()
    );
    assert_eq!(
        import(&replica, &key, &material).await.as_deref(),
        Some(id.as_str())
    );

    // New material on the primary: every Region must hold it before the rotation.
    let second = random_bytes(32);
    let (public, token) = parameters(
        primary,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let second_id = primary
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &second,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await
        .expect("new material on the primary")
        .key_material_id()
        .expect("KeyMaterialId")
        .to_string();
    for c in [primary, &replica] {
        let listed = rotations(c, &key, IncludeKeyMaterial::AllKeyMaterial).await;
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].key_material_id(), Some(second_id.as_str()));
        assert_eq!(
            listed[1].key_material_state(),
            Some(&KeyMaterialState::PendingMultiRegionImportAndRotation)
        );
    }
    let r = primary.rotate_key_on_demand().key_id(&key).send().await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        "Cannot perform key material rotation: Key material has not been imported for replicas of the Multi-Region key."
    );
    let (public, token) = parameters(
        &replica,
        &key,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    replica
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &second,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .key_material_id(&second_id)
        .send()
        .await
        .expect("the new material into the replica");
    assert_eq!(
        rotations(primary, &key, IncludeKeyMaterial::AllKeyMaterial).await[1].key_material_state(),
        Some(&KeyMaterialState::PendingRotation)
    );
    primary
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    for c in [primary, &replica] {
        assert_eq!(
            describe(c, &key).await.current_key_material_id(),
            Some(second_id.as_str())
        );
    }
    let fresh = encrypt(&replica, &key, b"rotated everywhere").await;
    assert_eq!(
        decrypt(primary, &fresh).await,
        (b"rotated everywhere".to_vec(), Some(second_id))
    );
}

/// AWS's key-state table for a key awaiting its material: it is managed (description, tags,
/// aliases, deletion) but neither enabled nor disabled.
#[tokio::test]
async fn a_key_awaiting_material_is_managed_but_not_enabled() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = create_external(c, KeySpec::SymmetricDefault, None).await;
    let arn = describe(c, &key).await.arn().expect("Arn").to_string();
    let r = c.enable_key().key_id(&key).send().await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending import.")
    );
    let r = c.disable_key().key_id(&key).send().await;
    assert_eq!(
        expect_code(r, "KMSInvalidStateException"),
        format!("{arn} is pending import.")
    );
    c.update_key_description()
        .key_id(&key)
        .description("awaiting material")
        .send()
        .await
        .expect("UpdateKeyDescription");
    c.tag_resource()
        .key_id(&key)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("k")
                .tag_value("v")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("TagResource");
    c.create_alias()
        .alias_name("alias/awaiting")
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");
    let m = describe(c, "alias/awaiting").await;
    assert_eq!(m.description(), Some("awaiting material"));
    assert_eq!(m.key_state(), Some(&KeyState::PendingImport));
    c.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    c.cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::PendingImport),
        "back to waiting for its material, not Disabled"
    );
}

/// A disabled key with imported material takes new parameters and its material again, and
/// is enabled by the import, as observed on AWS.
#[tokio::test]
async fn a_disabled_key_imported_again_is_enabled() {
    let kms = Kms::start().await;
    let c = &kms.client;
    let key = create_external(c, KeySpec::SymmetricDefault, None).await;
    let material = random_bytes(32);
    let id = import(c, &key, &material).await;
    c.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::Disabled)
    );
    assert_eq!(import(c, &key, &material).await, id);
    assert_eq!(
        describe(c, &key).await.key_state(),
        Some(&KeyState::Enabled)
    );
}
