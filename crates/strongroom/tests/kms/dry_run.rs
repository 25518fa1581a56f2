//! DryRun on every operation that has it: the last check, after the whole operation ran (a
//! request that would fail fails as it would without DryRun), and nothing is recorded or
//! written (GetKeyLastUsage, grants). A real call of each cryptographic operation is recorded.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, EncryptionAlgorithmSpec as Enc, GrantOperation,
    KeyAgreementAlgorithmSpec, KeyLastUsageTrackingOperation as Op, KeySpec, KeyUsageType,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec as Sign,
};

use crate::asymmetric::{create, public_key};
use crate::common::{expect_code, Kms, NODES_VAR};

const DRY: &str = "The request would have succeeded, but the DryRun option is set.";

async fn last_use(kms: &Kms, key: &str) -> Option<Op> {
    kms.client
        .get_key_last_usage()
        .key_id(key)
        .send()
        .await
        .expect("GetKeyLastUsage")
        .key_last_usage()
        .and_then(|u| u.operation().cloned())
}

/// The key's last use once it is `want`: across nodes (`STRONGROOM_TEST_NODES`) a use made
/// through another node arrives with that node's next write of its uses, so the answer is
/// polled for up to 3 s; on one node the first answer must have it.
async fn last_use_becomes(kms: &Kms, key: &str, want: Option<Op>) -> Option<Op> {
    // Requests alternate between the nodes: the answer counts once every node has given it
    // (a use noted on one node reaches the others with its next flush).
    let nodes: usize = std::env::var(NODES_VAR)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut agreeing = 0;
    loop {
        let last = last_use(kms, key).await;
        agreeing = if last == want { agreeing + 1 } else { 0 };
        if agreeing >= nodes || std::time::Instant::now() >= deadline {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Runs `call` with DryRun (must answer DryRunOperationException and record nothing), then
/// without (must succeed and be recorded as `op`).
macro_rules! dry_then_real {
    ($kms:expr, $key:expr, $op:expr, |$dry:ident| $call:expr) => {{
        let before = last_use($kms, $key).await;
        let $dry = Some(true);
        let r = $call.send().await;
        assert_eq!(expect_code(r, "DryRunOperationException"), DRY, "{:?}", $op);
        assert_eq!(
            last_use($kms, $key).await,
            before,
            "a DryRun of {:?} is no use",
            $op
        );
        let $dry: Option<bool> = None;
        let out = $call
            .send()
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", $op));
        assert_eq!(last_use_becomes($kms, $key, Some($op)).await, Some($op));
        out
    }};
}

#[tokio::test]
async fn dry_run_comes_last_and_records_nothing() {
    let kms = Kms::start().await;
    let c = &kms.client;

    // Sign and Verify.
    let signer = create(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let sk = signer.key_id();
    assert_eq!(last_use(&kms, sk).await, None);
    let signed = dry_then_real!(&kms, sk, Op::Sign, |dry| c
        .sign()
        .key_id(sk)
        .signing_algorithm(Sign::EcdsaSha256)
        .message(Blob::new("m"))
        .set_dry_run(dry));
    let signature = signed.signature().expect("Signature").clone();
    dry_then_real!(&kms, sk, Op::Verify, |dry| c
        .verify()
        .key_id(sk)
        .signing_algorithm(Sign::EcdsaSha256)
        .message(Blob::new("m"))
        .signature(signature.clone())
        .set_dry_run(dry));
    // What would fail fails the same way with DryRun.
    let r = c
        .sign()
        .key_id(sk)
        .signing_algorithm(Sign::EcdsaSha256)
        .message_type(MessageType::Digest)
        .message(Blob::new("short"))
        .dry_run(true)
        .send()
        .await;
    expect_code(r, "ValidationException");
    let r = c
        .verify()
        .key_id(sk)
        .signing_algorithm(Sign::EcdsaSha256)
        .message(Blob::new("another"))
        .signature(signature.clone())
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "KMSInvalidSignatureException"), "");

    // GenerateMac and VerifyMac.
    let mac_key = create(&kms, KeySpec::Hmac384, KeyUsageType::GenerateVerifyMac).await;
    let mk = mac_key.key_id();
    let mac = dry_then_real!(&kms, mk, Op::GenerateMac, |dry| c
        .generate_mac()
        .key_id(mk)
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .message(Blob::new("m"))
        .set_dry_run(dry));
    let tag = mac.mac().expect("Mac").clone();
    dry_then_real!(&kms, mk, Op::VerifyMac, |dry| c
        .verify_mac()
        .key_id(mk)
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .message(Blob::new("m"))
        .mac(tag.clone())
        .set_dry_run(dry));

    // DeriveSharedSecret.
    let agree = create(&kms, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let ak = agree.key_id();
    let peer = public_key(&kms, ak).await;
    dry_then_real!(&kms, ak, Op::DeriveSharedSecret, |dry| c
        .derive_shared_secret()
        .key_id(ak)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer.clone()))
        .set_dry_run(dry));

    // Encapsulate and Decapsulate.
    let kem = create(
        &kms,
        KeySpec::MlKem512,
        KeyUsageType::EncapsulateDecapsulate,
    )
    .await;
    let kk = kem.key_id();
    let enc = dry_then_real!(&kms, kk, Op::Encapsulate, |dry| c
        .encapsulate()
        .key_id(kk)
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .set_dry_run(dry));
    let kem_ct = enc
        .shared_secret_ciphertext_blob()
        .expect("SharedSecretCiphertextBlob")
        .clone();
    dry_then_real!(&kms, kk, Op::Decapsulate, |dry| c
        .decapsulate()
        .key_id(kk)
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .shared_secret_ciphertext_blob(kem_ct.clone())
        .set_dry_run(dry));
    let r = c
        .decapsulate()
        .key_id(kk)
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .shared_secret_ciphertext_blob(Blob::new(vec![1u8; 100]))
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "InvalidCiphertextException"), "");

    // RSA Encrypt and Decrypt.
    let rsa = create(&kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let rk = rsa.key_id();
    let encrypted = dry_then_real!(&kms, rk, Op::Encrypt, |dry| c
        .encrypt()
        .key_id(rk)
        .encryption_algorithm(Enc::RsaesOaepSha1)
        .plaintext(Blob::new("x"))
        .set_dry_run(dry));
    let rsa_ct = encrypted.ciphertext_blob().expect("blob").clone();
    dry_then_real!(&kms, rk, Op::Decrypt, |dry| c
        .decrypt()
        .key_id(rk)
        .encryption_algorithm(Enc::RsaesOaepSha1)
        .ciphertext_blob(rsa_ct.clone())
        .set_dry_run(dry));
    let r = c
        .decrypt()
        .key_id(rk)
        .encryption_algorithm(Enc::RsaesOaepSha1)
        .ciphertext_blob(Blob::new(vec![5u8; 256]))
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "InvalidCiphertextException"), "");

    // GenerateDataKeyPair(WithoutPlaintext) and ReEncrypt on a symmetric key.
    let sym = kms.key().await;
    dry_then_real!(&kms, &sym, Op::GenerateDataKeyPair, |dry| c
        .generate_data_key_pair()
        .key_id(&sym)
        .key_pair_spec(DataKeyPairSpec::EccNistP384)
        .set_dry_run(dry));
    dry_then_real!(&kms, &sym, Op::GenerateDataKeyPairWithoutPlaintext, |dry| c
        .generate_data_key_pair_without_plaintext()
        .key_id(&sym)
        .key_pair_spec(DataKeyPairSpec::EccNistEdwards25519)
        .set_dry_run(dry));
    let sym_ct = Blob::new(kms.encrypt(&sym, b"again").await);
    // The Encrypt is the last use every node reports before the DryRun below.
    assert_eq!(
        last_use_becomes(&kms, &sym, Some(Op::Encrypt)).await,
        Some(Op::Encrypt)
    );
    dry_then_real!(&kms, &sym, Op::ReEncrypt, |dry| c
        .re_encrypt()
        .ciphertext_blob(sym_ct.clone())
        .destination_key_id(&sym)
        .set_dry_run(dry));

    // Grants: a DryRun CreateGrant creates nothing, and one that would be refused is refused.
    let grantee = format!("arn:aws:iam::{}:user/grantee", kms.account().await);
    let grant = |op: GrantOperation, dry: Option<bool>| {
        c.create_grant()
            .key_id(sk)
            .grantee_principal(&grantee)
            .operations(op)
            .set_dry_run(dry)
            .send()
    };
    assert_eq!(
        expect_code(
            grant(GrantOperation::Sign, Some(true)).await,
            "DryRunOperationException"
        ),
        DRY
    );
    let r = grant(GrantOperation::Encrypt, Some(true)).await;
    assert_eq!(
        expect_code(r, "ValidationException"),
        "Grant operation Encrypt is not valid for a ECC_NIST_P256 key."
    );
    let grants = |key: &str| c.list_grants().key_id(key).send();
    assert!(grants(sk).await.expect("ListGrants").grants().is_empty());
    let id = grant(GrantOperation::Sign, None)
        .await
        .expect("CreateGrant")
        .grant_id()
        .expect("GrantId")
        .to_string();
    let r = c
        .revoke_grant()
        .key_id(sk)
        .grant_id(&id)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "DryRunOperationException"), DRY);
    let r = c
        .retire_grant()
        .key_id(sk)
        .grant_id(&id)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(expect_code(r, "DryRunOperationException"), DRY);
    assert_eq!(grants(sk).await.expect("ListGrants").grants().len(), 1);
    let unknown = "0".repeat(64);
    let r = c
        .revoke_grant()
        .key_id(sk)
        .grant_id(&unknown)
        .dry_run(true)
        .send()
        .await;
    expect_code(r, "NotFoundException");
}
