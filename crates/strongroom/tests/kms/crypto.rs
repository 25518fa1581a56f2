//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateRandom.

use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::operation::encrypt::EncryptError;
use aws_sdk_kms::operation::re_encrypt::ReEncryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};

use crate::common::{expect_code, Kms};

async fn key_arn(kms: &Kms, id: &str) -> String {
    kms.client
        .describe_key()
        .key_id(id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("Arn")
        .to_string()
}

async fn decrypt(kms: &Kms, ct: &[u8]) -> Vec<u8> {
    kms.client
        .decrypt()
        .ciphertext_blob(Blob::new(ct))
        .send()
        .await
        .expect("Decrypt")
        .plaintext()
        .expect("Plaintext")
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn encrypt_decrypt_round_trip_and_size_limits() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let arn = key_arn(&kms, &key).await;
    let big: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    for pt in [vec![0x42u8], big.clone()] {
        let out = kms
            .client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(pt.clone()))
            .send()
            .await
            .expect("Encrypt");
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(
            out.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
        let ct = out
            .ciphertext_blob()
            .expect("CiphertextBlob")
            .as_ref()
            .to_vec();
        assert!(ct.len() > pt.len());
        if pt.len() > 1 {
            assert!(
                !ct.windows(16).any(|w| w == &pt[..16]),
                "the plaintext does not appear in the ciphertext"
            );
        }
        let back = kms
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await
            .expect("Decrypt");
        assert_eq!(back.plaintext().map(|b| b.as_ref()), Some(&pt[..]));
        assert_eq!(back.key_id(), Some(arn.as_str()));
        assert_eq!(
            back.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
    }
    // Two encryptions of the same plaintext differ (random nonce).
    let a = kms.encrypt(&key, b"same").await;
    let b = kms.encrypt(&key, b"same").await;
    assert_ne!(a, b);

    let mut too_big = big;
    too_big.push(0);
    let msg = expect_code(
        kms.client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(too_big))
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("plaintext"), "{msg}");
    expect_code(
        kms.client
            .encrypt()
            .key_id("11111111-2222-3333-4444-555555555555")
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn encryption_context_must_match() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let ct = kms
        .client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("bound"))
        .encryption_context("purpose", "test")
        .encryption_context("tenant", "t-1")
        .send()
        .await
        .expect("Encrypt with context")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .clone();
    // Same pairs (map order is irrelevant): decrypts.
    let out = kms
        .client
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("tenant", "t-1")
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("Decrypt with the context");
    assert_eq!(out.plaintext().map(|b| b.as_ref()), Some(&b"bound"[..]));

    let wrong_value = kms
        .client
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "test")
        .encryption_context("tenant", "t-2")
        .send()
        .await;
    let e = wrong_value.expect_err("wrong context").into_service_error();
    assert!(
        matches!(e, DecryptError::InvalidCiphertextException(_)),
        "{e:?}"
    );
    let missing = kms
        .client
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await;
    expect_code(missing, "InvalidCiphertextException");
    let partial = kms
        .client
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "test")
        .send()
        .await;
    expect_code(partial, "InvalidCiphertextException");
    let extra = kms
        .client
        .decrypt()
        .ciphertext_blob(ct)
        .encryption_context("purpose", "test")
        .encryption_context("tenant", "t-1")
        .encryption_context("more", "x")
        .send()
        .await;
    expect_code(extra, "InvalidCiphertextException");

    // No context at encryption, a context at decryption.
    let plain = kms.encrypt(&key, b"unbound").await;
    let r = kms
        .client
        .decrypt()
        .ciphertext_blob(Blob::new(plain))
        .encryption_context("purpose", "test")
        .send()
        .await;
    expect_code(r, "InvalidCiphertextException");
}

#[tokio::test]
async fn tampered_and_random_ciphertexts_are_invalid() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let ct = kms.encrypt(&key, b"do not touch").await;
    assert_eq!(decrypt(&kms, &ct).await, b"do not touch");

    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    let mut last = ct.clone();
    *last.last_mut().unwrap() ^= 0x01;
    variants.push(("last byte flipped".into(), last));
    let mid = ct.len() - 20;
    let mut m = ct.clone();
    m[mid] ^= 0x80;
    variants.push(("ciphertext byte flipped".into(), m));
    let mut first = ct.clone();
    first[0] ^= 0xff;
    variants.push(("first byte flipped".into(), first));
    variants.push(("truncated".into(), ct[..ct.len() - 1].to_vec()));
    let mut longer = ct.clone();
    longer.push(0);
    variants.push(("one byte appended".into(), longer));
    variants.push(("random bytes".into(), crate::common::random_bytes(128)));
    variants.push(("one byte".into(), vec![7]));
    for (what, bad) in variants {
        let e = kms
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(bad))
            .send()
            .await
            .expect_err(&what)
            .into_service_error();
        assert!(
            matches!(e, DecryptError::InvalidCiphertextException(_)),
            "{what}: {e:?}"
        );
    }
    // The original is still fine.
    assert_eq!(decrypt(&kms, &ct).await, b"do not touch");
}

/// Every single-bit change anywhere in a ciphertext blob, including the bytes that say which key
/// made it, is reported as a corrupt ciphertext (AWS: InvalidCiphertextException), never as a
/// missing key.
#[tokio::test]
async fn ciphertext_with_any_byte_flipped_is_invalid_ciphertext() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let ct = kms.encrypt(&key, b"x").await;
    let mut failures = Vec::new();
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        let r = kms
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(bad))
            .send()
            .await;
        match r {
            Ok(_) => failures.push(format!("byte {i}: decrypted")),
            Err(e) => {
                let c = crate::common::code(&e);
                if c != "InvalidCiphertextException" {
                    failures.push(format!("byte {i}: {c}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[tokio::test]
async fn decrypt_with_key_id_checks_the_key() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let other = kms.key().await;
    let arn = key_arn(&kms, &key).await;
    let ct = kms.encrypt(&key, b"whose?").await;
    for expected in [key.as_str(), arn.as_str()] {
        let out = kms
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .key_id(expected)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Decrypt with KeyId {expected}: {e:?}"));
        assert_eq!(out.plaintext().map(|b| b.as_ref()), Some(&b"whose?"[..]));
    }
    let e = kms
        .client
        .decrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .key_id(&other)
        .send()
        .await
        .expect_err("another key")
        .into_service_error();
    assert!(matches!(e, DecryptError::IncorrectKeyException(_)), "{e:?}");
    expect_code(
        kms.client
            .decrypt()
            .ciphertext_blob(Blob::new(ct))
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn re_encrypt_to_another_key_and_context() {
    let kms = Kms::start().await;
    let src = kms.key().await;
    let dst = kms.key().await;
    let src_arn = key_arn(&kms, &src).await;
    let dst_arn = key_arn(&kms, &dst).await;
    let ct = kms
        .client
        .encrypt()
        .key_id(&src)
        .plaintext(Blob::new("moving"))
        .encryption_context("v", "1")
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .clone();

    let out = kms
        .client
        .re_encrypt()
        .ciphertext_blob(ct.clone())
        .source_encryption_context("v", "1")
        .source_key_id(&src)
        .destination_key_id(&dst)
        .destination_encryption_context("v", "2")
        .send()
        .await
        .expect("ReEncrypt");
    assert_eq!(out.source_key_id(), Some(src_arn.as_str()));
    assert_eq!(out.key_id(), Some(dst_arn.as_str()));
    assert_eq!(
        out.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    assert_eq!(
        out.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let new_ct = out.ciphertext_blob().expect("CiphertextBlob").clone();
    assert_ne!(new_ct.as_ref(), ct.as_ref());
    let back = kms
        .client
        .decrypt()
        .ciphertext_blob(new_ct.clone())
        .encryption_context("v", "2")
        .send()
        .await
        .expect("Decrypt the re-encrypted blob");
    assert_eq!(back.plaintext().map(|b| b.as_ref()), Some(&b"moving"[..]));
    assert_eq!(back.key_id(), Some(dst_arn.as_str()));
    expect_code(
        kms.client
            .decrypt()
            .ciphertext_blob(new_ct.clone())
            .encryption_context("v", "1")
            .send()
            .await,
        "InvalidCiphertextException",
    );
    expect_code(
        kms.client
            .decrypt()
            .ciphertext_blob(new_ct)
            .key_id(&src)
            .encryption_context("v", "2")
            .send()
            .await,
        "IncorrectKeyException",
    );

    // Same key, new context only.
    let same = kms
        .client
        .re_encrypt()
        .ciphertext_blob(ct.clone())
        .source_encryption_context("v", "1")
        .destination_key_id(&src)
        .send()
        .await
        .expect("ReEncrypt under the same key without context");
    let same_ct = same.ciphertext_blob().expect("CiphertextBlob").as_ref();
    assert_eq!(decrypt(&kms, same_ct).await, b"moving");

    // SourceKeyId naming another key.
    let e = kms
        .client
        .re_encrypt()
        .ciphertext_blob(ct.clone())
        .source_encryption_context("v", "1")
        .source_key_id(&dst)
        .destination_key_id(&dst)
        .send()
        .await
        .expect_err("SourceKeyId mismatch")
        .into_service_error();
    assert!(
        matches!(e, ReEncryptError::IncorrectKeyException(_)),
        "{e:?}"
    );
    // Wrong source context.
    let e = kms
        .client
        .re_encrypt()
        .ciphertext_blob(ct.clone())
        .source_encryption_context("v", "9")
        .destination_key_id(&dst)
        .send()
        .await
        .expect_err("wrong source context")
        .into_service_error();
    assert!(
        matches!(e, ReEncryptError::InvalidCiphertextException(_)),
        "{e:?}"
    );
    // Unknown destination.
    expect_code(
        kms.client
            .re_encrypt()
            .ciphertext_blob(ct)
            .source_encryption_context("v", "1")
            .destination_key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn generate_data_key_sizes_and_errors() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let arn = key_arn(&kms, &key).await;
    let cases: Vec<(Option<DataKeySpec>, Option<i32>, usize)> = vec![
        (Some(DataKeySpec::Aes256), None, 32),
        (Some(DataKeySpec::Aes128), None, 16),
        (None, Some(1), 1),
        (None, Some(1024), 1024),
    ];
    for (spec, n, len) in cases {
        let out = kms
            .client
            .generate_data_key()
            .key_id(&key)
            .set_key_spec(spec.clone())
            .set_number_of_bytes(n)
            .encryption_context("use", "dek")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKey {spec:?} {n:?}: {e:?}"));
        assert_eq!(out.key_id(), Some(arn.as_str()));
        let pt = out.plaintext().expect("Plaintext").as_ref().to_vec();
        assert_eq!(pt.len(), len);
        let blob = out.ciphertext_blob().expect("CiphertextBlob").clone();
        let back = kms
            .client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("use", "dek")
            .send()
            .await
            .expect("Decrypt the data key");
        assert_eq!(back.plaintext().map(|b| b.as_ref()), Some(&pt[..]));
        expect_code(
            kms.client.decrypt().ciphertext_blob(blob).send().await,
            "InvalidCiphertextException",
        );
    }
    let a = kms
        .client
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    let b = kms
        .client
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    assert_ne!(a.plaintext(), b.plaintext(), "data keys are random");

    let both = kms
        .client
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .number_of_bytes(32)
        .send()
        .await;
    expect_code(both, "ValidationException");
    let neither = kms.client.generate_data_key().key_id(&key).send().await;
    expect_code(neither, "ValidationException");
    for n in [0, 1025] {
        let r = kms
            .client
            .generate_data_key()
            .key_id(&key)
            .number_of_bytes(n)
            .send()
            .await;
        let msg = expect_code(r, "ValidationException");
        assert!(msg.contains("numberOfBytes"), "{n}: {msg}");
    }
    let r = kms
        .client
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::from("AES_512"))
        .send()
        .await;
    expect_code(r, "ValidationException");
}

#[tokio::test]
async fn generate_data_key_without_plaintext() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let arn = key_arn(&kms, &key).await;
    let out = kms
        .client
        .generate_data_key_without_plaintext()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    assert_eq!(out.key_id(), Some(arn.as_str()));
    let blob = out.ciphertext_blob().expect("CiphertextBlob").as_ref();
    assert_eq!(decrypt(&kms, blob).await.len(), 32);

    let out = kms
        .client
        .generate_data_key_without_plaintext()
        .key_id(&key)
        .number_of_bytes(7)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext 7");
    let blob = out.ciphertext_blob().expect("CiphertextBlob").as_ref();
    assert_eq!(decrypt(&kms, blob).await.len(), 7);

    expect_code(
        kms.client
            .generate_data_key_without_plaintext()
            .key_id(&key)
            .send()
            .await,
        "ValidationException",
    );
    expect_code(
        kms.client
            .generate_data_key_without_plaintext()
            .key_id(&key)
            .number_of_bytes(1025)
            .send()
            .await,
        "ValidationException",
    );
}

#[tokio::test]
async fn generate_data_key_without_plaintext_has_no_plaintext_on_the_wire() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let body = serde_json::json!({"KeyId": key, "KeySpec": "AES_256"}).to_string();
    let resp = kms.signed(
        "TrentService.GenerateDataKeyWithoutPlaintext",
        body.as_bytes(),
    );
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert!(v.get("Plaintext").is_none(), "{v}");
    assert!(v["CiphertextBlob"].is_string());
}

#[tokio::test]
async fn generate_random_bounds() {
    let kms = Kms::start().await;
    for n in [1, 32, 1024] {
        let out = kms
            .client
            .generate_random()
            .number_of_bytes(n)
            .send()
            .await
            .expect("GenerateRandom");
        assert_eq!(
            out.plaintext().expect("Plaintext").as_ref().len(),
            n as usize
        );
    }
    let a = kms
        .client
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    let b = kms
        .client
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    assert_ne!(a.plaintext(), b.plaintext());
    for n in [0, 1025, -1] {
        let msg = expect_code(
            kms.client.generate_random().number_of_bytes(n).send().await,
            "ValidationException",
        );
        assert!(msg.contains("numberOfBytes"), "{n}: {msg}");
    }
}

#[tokio::test]
async fn dry_run_and_wrong_algorithm() {
    let kms = Kms::start().await;
    let key = kms.key().await;
    let e = kms
        .client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .dry_run(true)
        .send()
        .await
        .expect_err("DryRun")
        .into_service_error();
    assert!(
        matches!(e, EncryptError::DryRunOperationException(_)),
        "{e:?}"
    );
    // DryRun false is an ordinary call.
    kms.client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .dry_run(false)
        .send()
        .await
        .expect("DryRun false");
    expect_code(
        kms.client
            .generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
    );
    let ct = kms.encrypt(&key, b"y").await;
    expect_code(
        kms.client
            .decrypt()
            .ciphertext_blob(Blob::new(ct))
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
    );

    let e = kms
        .client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect_err("RSA on a symmetric key")
        .into_service_error();
    assert!(
        matches!(e, EncryptError::InvalidKeyUsageException(_)),
        "{e:?}"
    );
    // Naming SYMMETRIC_DEFAULT explicitly is fine.
    kms.client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
        .send()
        .await
        .expect("SYMMETRIC_DEFAULT");
}
