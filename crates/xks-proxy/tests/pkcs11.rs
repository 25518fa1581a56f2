//! The PKCS#11 backend against a real SoftHSMv2 token (a fresh token directory per test).
//!
//! Run with cargo-nextest (one process per test), or with `cargo test`, whose tests of this
//! binary serialize on a lock (SoftHSM's configuration is process-wide):
//!   cargo nextest run -p xks-proxy -E 'binary(/pkcs11/)'
//! Needs SoftHSMv2 (`apt-get install -y softhsm2`); the tests fail without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod pkcs11_support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::types::Ulong;
use pkcs11_support::{aes_key_template, raw_find, raw_session_copies, Hsm};
use xks_proxy::backend::pkcs11::{
    Concurrency, Pkcs11Backend, Pkcs11Config, ATTR_CACHE_TTL, CALIBRATION_PHASE,
    DEFAULT_HEALTH_KEY_LABEL, REINIT_MIN_INTERVAL,
};
use xks_proxy::backend::{BackendError, KeyBackend, KeyStatus};
use xks_proxy::clock::ManualClock;

const TOKEN: &str = "strongroom";
const PIN: &str = "1234";

/// Creates a key outside the backend, through a second handle on the library.
fn raw_generate(hsm: &Hsm, template: &[Attribute]) {
    hsm.generate(TOKEN, PIN, template);
}

/// The backend for `label` on a clock the test moves: time passes only when told.
fn open_on_manual_clock(hsm: &Hsm, label: &str) -> (Pkcs11Backend, ManualClock) {
    let time = ManualClock::new();
    let b = Pkcs11Backend::open_with_clock(&hsm.config(label), time.clock())
        .expect("open the PKCS#11 backend");
    (b, time)
}

fn usage(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn create_list_and_describe_keys() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    assert_eq!(b.create_key("key-1").unwrap(), "key-1");
    assert_eq!(b.create_key("Key_2.prod").unwrap(), "Key_2.prod");

    let info = b.key_info("key-1").unwrap();
    assert_eq!(info.key_id, "key-1");
    assert_eq!(info.key_spec, "AES_256");
    assert_eq!(info.key_usage, usage(&["ENCRYPT", "DECRYPT"]));
    assert_eq!(info.status, KeyStatus::Enabled);

    let ids: Vec<String> = b
        .list_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(ids, vec!["Key_2.prod", "key-1", DEFAULT_HEALTH_KEY_LABEL]);

    // A duplicate label is refused; the token still holds one key of that label.
    let err = b.create_key("key-1").unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(b.list_keys().unwrap().len(), 3);

    // Labels follow the XKS externalKeyId rules.
    for bad in ["", "a b", "a/b", &"x".repeat(129)] {
        assert!(b.create_key(bad).is_err(), "{bad:?} accepted");
    }
    b.create_key(&"x".repeat(128)).unwrap();

    // The generated key has the promised attributes.
    let ctx = hsm.raw();
    let s = hsm.raw_session(&ctx, TOKEN, PIN);
    let attrs = s
        .get_attributes(
            raw_find(&s, "key-1"),
            &[
                AttributeType::Token,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::ValueLen,
            ],
        )
        .unwrap();
    assert!(attrs.contains(&Attribute::Token(true)));
    assert!(attrs.contains(&Attribute::Sensitive(true)));
    assert!(attrs.contains(&Attribute::Extractable(false)));
    assert!(attrs.contains(&Attribute::ValueLen(Ulong::try_from(32usize).unwrap())));
}

#[test]
fn encrypt_decrypt_round_trips() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    b.create_key("k").unwrap();
    let big_aad = vec![0xa5u8; 8192];
    let cases: Vec<(Vec<u8>, &[u8])> = vec![
        (vec![0x42], b"".as_slice()),
        (vec![7u8; 4300], b"aad".as_slice()),
        (b"with a big AAD".to_vec(), big_aad.as_slice()),
        (vec![1u8; 4300], big_aad.as_slice()),
    ];
    for (plaintext, aad) in &cases {
        let sealed = b.encrypt("k", plaintext, aad).unwrap();
        assert_eq!(sealed.ciphertext.len(), plaintext.len());
        assert_eq!(sealed.iv.len(), 12);
        assert_ne!(&sealed.ciphertext, plaintext);
        let opened = b
            .decrypt("k", &sealed.ciphertext, &sealed.iv, &sealed.tag, aad)
            .unwrap();
        assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
    // A fresh IV every time.
    let a = b.encrypt("k", b"same", b"").unwrap();
    let c = b.encrypt("k", b"same", b"").unwrap();
    assert_ne!(a.iv, c.iv);
    assert_ne!(a.ciphertext, c.ciphertext);
}

/// The HSM's output is standard AES-256-GCM: a key imported with a known value decrypts with
/// aws-lc-rs, so the tag split and the AAD handling are right.
#[test]
fn output_is_standard_aes_gcm() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    let key = [0x11u8; 32];
    {
        let ctx = hsm.raw();
        let s = hsm.raw_session(&ctx, TOKEN, PIN);
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Value(key.to_vec()),
            Attribute::Label(b"known".to_vec()),
        ])
        .unwrap();
    }
    let aad = b"some additional data";
    let sealed = b.encrypt("known", b"hello, hsm", aad).unwrap();
    let lk = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let mut in_out = sealed.ciphertext.clone();
    in_out.extend_from_slice(&sealed.tag);
    let nonce = Nonce::try_assume_unique_for_key(&sealed.iv).unwrap();
    let plain = lk
        .open_in_place(nonce, Aad::from(&aad[..]), &mut in_out)
        .unwrap();
    assert_eq!(plain, b"hello, hsm");

    // And the other way round.
    let iv = [9u8; 12];
    let mut buf = b"from software".to_vec();
    let tag = lk
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(&aad[..]),
            &mut buf,
        )
        .unwrap();
    let opened = b.decrypt("known", &buf, &iv, tag.as_ref(), aad).unwrap();
    assert_eq!(opened.as_slice(), b"from software");
}

#[test]
fn tampering_is_invalid_ciphertext() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    b.create_key("k").unwrap();
    b.create_key("other").unwrap();
    let aad = b"aad".to_vec();
    let s = b.encrypt("k", &[3u8; 100], &aad).unwrap();
    let invalid = |r: Result<zeroize::Zeroizing<Vec<u8>>, BackendError>, what: &str| match r {
        Err(BackendError::InvalidCiphertext) => {}
        other => panic!(
            "{what}: expected InvalidCiphertext, got {:?}",
            other.map(|_| ())
        ),
    };
    invalid(
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"aaD"),
        "wrong AAD",
    );
    invalid(
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b""),
        "missing AAD",
    );
    let mut tag = s.tag;
    tag[15] ^= 1;
    invalid(
        b.decrypt("k", &s.ciphertext, &s.iv, &tag, &aad),
        "wrong tag",
    );
    invalid(
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag[..15], &aad),
        "short tag",
    );
    let mut iv = s.iv.clone();
    iv[0] ^= 0x80;
    invalid(b.decrypt("k", &s.ciphertext, &iv, &s.tag, &aad), "wrong IV");
    invalid(
        b.decrypt("k", &s.ciphertext, &[0u8; 16], &s.tag, &aad),
        "16-byte IV",
    );
    let mut ct = s.ciphertext.clone();
    ct[50] ^= 4;
    invalid(b.decrypt("k", &ct, &s.iv, &s.tag, &aad), "wrong ciphertext");
    invalid(
        b.decrypt("k", &s.ciphertext[..99], &s.iv, &s.tag, &aad),
        "truncated ciphertext",
    );
    invalid(
        b.decrypt("other", &s.ciphertext, &s.iv, &s.tag, &aad),
        "other key",
    );
    // The sessions that saw failures are still good.
    for _ in 0..8 {
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, &aad).unwrap();
    }
}

#[test]
fn disable_and_enable() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    b.create_key("k").unwrap();
    let s = b.encrypt("k", b"x", b"").unwrap();

    b.set_enabled("k", false).unwrap();
    let info = b.key_info("k").unwrap();
    assert_eq!(info.status, KeyStatus::Disabled);
    assert_eq!(info.key_usage, usage(&["ENCRYPT", "DECRYPT"]));
    assert!(matches!(b.encrypt("k", b"x", b""), Err(BackendError::KeyDisabled(k)) if k == "k"));
    assert!(matches!(
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b""),
        Err(BackendError::KeyDisabled(_))
    ));
    let listed = b.list_keys().unwrap();
    let k = listed.iter().find(|k| k.key_id == "k").unwrap();
    assert_eq!(k.status, KeyStatus::Disabled);

    // The convention is visible to any PKCS#11 tool: CKA_END_DATE = 1970-01-01. (SoftHSMv2
    // 2.6.1 cannot read back a date of a private object: CKR_GENERAL_ERROR; see the module docs.)
    {
        let ctx = hsm.raw();
        let rs = hsm.raw_session(&ctx, TOKEN, PIN);
        match rs.get_attributes(raw_find(&rs, "k"), &[AttributeType::EndDate]) {
            Ok(attrs) => match &attrs[..] {
                [Attribute::EndDate(d)] => {
                    assert_eq!((d.year, d.month, d.day), (*b"1970", *b"01", *b"01"))
                }
                other => panic!("{other:?}"),
            },
            Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::GeneralError, _)) => {}
            Err(e) => panic!("{e}"),
        }
    }

    b.set_enabled("k", true).unwrap();
    assert_eq!(b.key_info("k").unwrap().status, KeyStatus::Enabled);
    b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"").unwrap();
    b.encrypt("k", b"x", b"").unwrap();
    // Idempotent.
    b.set_enabled("k", true).unwrap();
    assert_eq!(b.key_info("k").unwrap().status, KeyStatus::Enabled);
}

#[test]
fn end_dates_set_by_other_tools() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    let with_end = |label: &str, private: bool, ymd: (&[u8; 4], &[u8; 2], &[u8; 2])| {
        let mut t = aes_key_template(label, 32, true, true);
        t.retain(|a| !matches!(a, Attribute::Private(_)));
        t.push(Attribute::Private(private));
        t.push(Attribute::EndDate(cryptoki::types::Date::new(
            *ymd.0, *ymd.1, *ymd.2,
        )));
        raw_generate(&hsm, &t);
    };
    // Public objects: SoftHSM reads their dates back as written.
    with_end("future", false, (b"2999", b"12", b"31"));
    with_end("past", false, (b"2001", b"02", b"03"));
    assert_eq!(b.key_info("future").unwrap().status, KeyStatus::Enabled);
    b.encrypt("future", b"x", b"").unwrap();
    assert_eq!(b.key_info("past").unwrap().status, KeyStatus::Disabled);
    assert!(matches!(
        b.encrypt("past", b"x", b""),
        Err(BackendError::KeyDisabled(_))
    ));
    // A private key's date is unreadable on SoftHSM: fail closed.
    with_end("private-future", true, (b"2999", b"12", b"31"));
    let info = b.key_info("private-future").unwrap();
    assert_eq!(info.status, KeyStatus::Disabled);
    assert_eq!(info.key_spec, "AES_256");
    // Enabling clears the date, which makes the key usable again.
    b.set_enabled("private-future", true).unwrap();
    assert_eq!(
        b.key_info("private-future").unwrap().status,
        KeyStatus::Enabled
    );
    b.set_enabled("past", true).unwrap();
    b.encrypt("past", b"x", b"").unwrap();
}

#[test]
fn key_usage_is_reported_and_enforced() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    raw_generate(&hsm, &aes_key_template("enc-only", 32, true, false));
    raw_generate(&hsm, &aes_key_template("dec-only", 32, false, true));
    raw_generate(&hsm, &aes_key_template("neither", 32, false, false));

    let info = b.key_info("enc-only").unwrap();
    assert_eq!(info.key_usage, usage(&["ENCRYPT"]));
    assert_eq!(info.key_spec, "AES_256");
    assert_eq!(info.status, KeyStatus::Enabled);
    let s = b.encrypt("enc-only", b"data", b"").unwrap();
    match b.decrypt("enc-only", &s.ciphertext, &s.iv, &s.tag, b"") {
        Err(BackendError::InvalidKeyUsage { key_id, operation }) => {
            assert_eq!((key_id.as_str(), operation), ("enc-only", "decrypt"))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }

    assert_eq!(
        b.key_info("dec-only").unwrap().key_usage,
        usage(&["DECRYPT"])
    );
    assert!(matches!(
        b.encrypt("dec-only", b"data", b""),
        Err(BackendError::InvalidKeyUsage {
            operation: "encrypt",
            ..
        })
    ));
    assert_eq!(
        b.key_info("neither").unwrap().key_usage,
        Vec::<String>::new()
    );
}

#[test]
fn other_key_specs_are_reported_as_found() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    raw_generate(&hsm, &aes_key_template("aes128", 16, true, true));
    raw_generate(&hsm, &aes_key_template("aes192", 24, true, true));
    {
        let ctx = hsm.raw();
        let s = hsm.raw_session(&ctx, TOKEN, PIN);
        s.generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(Ulong::try_from(32usize).unwrap()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sign(true),
                Attribute::Label(b"hmac".to_vec()),
            ],
        )
        .unwrap();
    }
    let info = b.key_info("aes128").unwrap();
    assert_eq!(info.key_spec, "AES_128");
    assert_eq!(info.key_usage, usage(&["ENCRYPT", "DECRYPT"]));
    assert_eq!(b.key_info("aes192").unwrap().key_spec, "AES_192");
    assert_eq!(b.key_info("hmac").unwrap().key_spec, "GENERIC_SECRET_256");
    // Only AES-256 keys are used for XKS encryption.
    assert!(matches!(
        b.encrypt("aes128", b"data", b""),
        Err(BackendError::InvalidKeyUsage { .. })
    ));
    let specs: Vec<(String, String)> = b
        .list_keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.key_id, k.key_spec))
        .collect();
    assert!(
        specs.contains(&("aes128".into(), "AES_128".into())),
        "{specs:?}"
    );
}

#[test]
fn missing_key_is_key_not_found() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    let nf = |e: BackendError| matches!(e, BackendError::KeyNotFound(k) if k == "nope");
    assert!(nf(b.key_info("nope").unwrap_err()));
    assert!(nf(b.encrypt("nope", b"x", b"").map(|_| ()).unwrap_err()));
    assert!(nf(b
        .decrypt("nope", b"x", &[0; 12], &[0; 16], b"")
        .map(|_| ())
        .unwrap_err()));
    assert!(nf(b.set_enabled("nope", false).unwrap_err()));
}

/// Keys found once are remembered by handle; the backend notices when another tool deletes,
/// relabels or recreates them.
#[test]
fn key_handles_follow_changes_by_other_tools() {
    let hsm = Hsm::single();
    let (b, time) = open_on_manual_clock(&hsm, TOKEN);
    b.create_key("k").unwrap();
    let s = b.encrypt("k", b"x", b"").unwrap();
    let ctx = hsm.raw();
    let rs = hsm.raw_session(&ctx, TOKEN, PIN);

    // Relabelled: the old label is gone, the new one works.
    rs.update_attributes(raw_find(&rs, "k"), &[Attribute::Label(b"renamed".to_vec())])
        .unwrap();
    assert!(matches!(b.key_info("k"), Err(BackendError::KeyNotFound(_))));
    b.decrypt("renamed", &s.ciphertext, &s.iv, &s.tag, b"")
        .unwrap();

    // Deleted: noticed once the attribute cache's time passed (the backend computes with its
    // session copy of the key meanwhile).
    rs.destroy_object(raw_find(&rs, "renamed")).unwrap();
    b.encrypt("renamed", b"x", b"").unwrap();
    time.advance(ATTR_CACHE_TTL);
    assert!(matches!(
        b.encrypt("renamed", b"x", b""),
        Err(BackendError::KeyNotFound(_))
    ));

    // Recreated under the old label: a different key.
    raw_generate(&hsm, &aes_key_template("k", 32, true, true));
    assert!(matches!(
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b""),
        Err(BackendError::InvalidCiphertext)
    ));
    let s2 = b.encrypt("k", b"y", b"").unwrap();
    b.decrypt("k", &s2.ciphertext, &s2.iv, &s2.tag, b"")
        .unwrap();
}

/// The backend caches key attributes for `ATTR_CACHE_TTL`: a change made by another tool shows
/// within that time, a change that makes the HSM refuse shows at once (the failed call is
/// retried with fresh attributes), and this backend's own changes show at once.
#[test]
fn cached_key_attributes_follow_other_tools_within_the_ttl() {
    let hsm = Hsm::single();
    let (b, time) = open_on_manual_clock(&hsm, TOKEN);
    b.create_key("k").unwrap();
    let public_key = {
        let mut t = aes_key_template("pub", 32, true, true);
        t.retain(|a| !matches!(a, Attribute::Private(_)));
        t.push(Attribute::Private(false));
        t
    };
    raw_generate(&hsm, &public_key);
    b.encrypt("k", b"x", b"").unwrap();
    b.encrypt("pub", b"x", b"").unwrap();
    let ctx = hsm.raw();
    let rs = hsm.raw_session(&ctx, TOKEN, PIN);

    // Disabled by another tool (an end date in the past): SoftHSM does not enforce end dates,
    // so only the attribute check stops the key, once the cached attributes expire.
    let past = cryptoki::types::Date::new(*b"2001", *b"02", *b"03");
    rs.update_attributes(raw_find(&rs, "pub"), &[Attribute::EndDate(past)])
        .unwrap();
    // What the cache is for: within its time the attributes are not read again.
    time.advance(ATTR_CACHE_TTL - Duration::from_millis(1));
    b.encrypt("pub", b"x", b"").unwrap();
    time.advance(Duration::from_millis(1));
    assert!(matches!(
        b.encrypt("pub", b"x", b""),
        Err(BackendError::KeyDisabled(_))
    ));
    assert_eq!(b.key_info("pub").unwrap().status, KeyStatus::Disabled);
    // Enabled again by the other tool: the cached "disabled" is rechecked at once.
    let future = cryptoki::types::Date::new(*b"2999", *b"12", *b"31");
    rs.update_attributes(raw_find(&rs, "pub"), &[Attribute::EndDate(future)])
        .unwrap();
    b.encrypt("pub", b"x", b"").unwrap();

    // Encryption taken away by another tool: the HSM refuses, the backend rereads and reports
    // the key usage without waiting for the cache.
    rs.update_attributes(raw_find(&rs, "k"), &[Attribute::Encrypt(false)])
        .unwrap();
    assert!(matches!(
        b.encrypt("k", b"x", b""),
        Err(BackendError::InvalidKeyUsage { .. })
    ));
    let s = {
        rs.update_attributes(raw_find(&rs, "k"), &[Attribute::Encrypt(true)])
            .unwrap();
        b.encrypt("k", b"x", b"").unwrap()
    };

    // This backend's own disable is seen at once.
    b.set_enabled("k", false).unwrap();
    assert!(matches!(
        b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b""),
        Err(BackendError::KeyDisabled(_))
    ));
}

/// Calibration measures the module and the backend follows its decision. On an idle machine
/// SoftHSMv2 is found serializing (one call at a time; see `calibration_decision` in the
/// backend's unit tests for the rule and measured cases); under other load two threads may
/// fairly be found to do more, so this test checks the measurement and the plumbing, not the
/// machine's load.
#[test]
fn calibration_measures_and_is_followed() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config(TOKEN);
    cfg.pool_size = 8;
    let b = Pkcs11Backend::open(&cfg).unwrap();
    assert_eq!(b.worker_threads(), 8, "before calibration: the pool");
    assert!(!b.needs_a_core());
    let c = b.calibrate_concurrency().unwrap();
    eprintln!("{c:?}");
    assert!(c.one_thread_per_second > 100.0 && c.two_threads_per_second > 100.0);
    if cfg!(target_os = "linux") {
        assert!(c.one_thread_blocked.is_some() && c.two_threads_blocked.is_some());
    }
    assert!(c.concurrency == 1 || c.concurrency == 8, "{c:?}");
    assert_eq!(b.worker_threads(), c.concurrency);
    assert_eq!(b.needs_a_core(), c.concurrency == 1);
    let summary = KeyBackend::calibrate(&b).unwrap();
    assert!(
        summary.contains("encryptions/s from one thread")
            && summary.ends_with("(concurrency = \"measure\")"),
        "{summary}"
    );
    assert_eq!(b.stats().session_recoveries, 0);

    // A pool of one has nothing to decide.
    cfg.pool_size = 1;
    let one = Pkcs11Backend::open(&cfg).unwrap();
    assert_eq!(one.calibrate_concurrency().unwrap().concurrency, 1);
    assert!(!one.needs_a_core());
}

/// `concurrency = "serial"` and `"pool"` choose without measuring: the backend follows them
/// from the moment it opens, and its log line says the choice was configured, not measured.
#[test]
fn explicit_concurrency_is_followed_without_measuring() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config(TOKEN);
    cfg.pool_size = 8;
    for (setting, calls, needs_a_core) in [
        (Concurrency::Serial, 1, true),
        (Concurrency::Pool, 8, false),
    ] {
        cfg.concurrency = setting;
        let b = Pkcs11Backend::open(&cfg).unwrap();
        assert_eq!(b.worker_threads(), calls, "{setting:?} before calibration");
        let started = std::time::Instant::now();
        let summary = KeyBackend::calibrate(&b).unwrap();
        assert!(
            started.elapsed() < CALIBRATION_PHASE,
            "{setting:?} measured: {summary}"
        );
        assert_eq!(
            summary,
            format!(
                "PKCS#11 token \"{TOKEN}\": {calls} call(s) at a time, as configured \
                 (concurrency = \"{}\"; not measured)",
                setting.as_str()
            )
        );
        assert_eq!(b.worker_threads(), calls, "{setting:?} after calibration");
        assert_eq!(b.needs_a_core(), needs_a_core, "{setting:?}");
    }
}

/// AES-GCM runs on one session copy of the token key, made when the attributes are read and
/// kept while they do not change; a key the token refuses to copy is used as a token object;
/// a recovery starts again with new copies.
#[test]
fn crypto_runs_on_a_session_copy_of_the_key() {
    let hsm = Hsm::single();
    let (b, time) = open_on_manual_clock(&hsm, TOKEN);
    b.create_key("k").unwrap();
    let mut not_copyable = aes_key_template("fixed", 32, true, true);
    not_copyable.push(Attribute::Copyable(false));
    raw_generate(&hsm, &not_copyable);
    let ctx = hsm.raw();
    let rs = hsm.raw_session(&ctx, TOKEN, PIN);

    let s = b.encrypt("k", b"copy", b"aad").unwrap();
    assert_eq!(raw_session_copies(&rs, "k").len(), 1, "one copy made");
    for _ in 0..5 {
        b.encrypt("k", b"x", b"").unwrap();
    }
    // Past the cache time the attributes are read again; unchanged, the copy is kept.
    time.advance(ATTR_CACHE_TTL);
    let opened = b
        .decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"aad")
        .unwrap();
    assert_eq!(opened.as_slice(), b"copy");
    assert_eq!(raw_session_copies(&rs, "k").len(), 1, "the copy was kept");
    // Bad ciphertexts re-read the attributes (the key might have changed) but keep the copy.
    for _ in 0..20 {
        assert!(matches!(
            b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"other aad"),
            Err(BackendError::InvalidCiphertext)
        ));
    }
    assert_eq!(
        raw_session_copies(&rs, "k").len(),
        1,
        "no copy per bad request"
    );

    // Disabled and enabled again: the copy is replaced (the old one waits to be destroyed).
    b.set_enabled("k", false).unwrap();
    assert!(matches!(
        b.encrypt("k", b"x", b""),
        Err(BackendError::KeyDisabled(_))
    ));
    b.set_enabled("k", true).unwrap();
    b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"aad")
        .unwrap();
    let copies = raw_session_copies(&rs, "k").len();
    assert!((1..=3).contains(&copies), "{copies} copies");

    // A key that may not be copied still works, through its token object.
    let f = b.encrypt("fixed", b"fixed", b"").unwrap();
    let opened = b
        .decrypt("fixed", &f.ciphertext, &f.iv, &f.tag, b"")
        .unwrap();
    assert_eq!(opened.as_slice(), b"fixed");
    assert!(raw_session_copies(&rs, "fixed").is_empty());

    // The library torn down under the backend: the copies went with it, new ones are made.
    drop(rs);
    hsm.raw().finalize().unwrap();
    let opened = b
        .decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"aad")
        .unwrap();
    assert_eq!(opened.as_slice(), b"copy");
    let ctx = hsm.raw();
    let rs = hsm.raw_session(&ctx, TOKEN, PIN);
    assert_eq!(raw_session_copies(&rs, "k").len(), 1);
    assert_eq!(b.stats().session_recoveries, 1);

    // The copy destroyed under the backend: the next call makes a new one and succeeds.
    for copy in raw_session_copies(&rs, "k") {
        rs.destroy_object(copy).unwrap();
    }
    b.encrypt("k", b"x", b"").unwrap();
    assert_eq!(raw_session_copies(&rs, "k").len(), 1);

    // The crypto really runs on the copy: with the token object deleted, encryption goes on
    // until the attributes are read again (within the cache time), then the key is not found.
    rs.destroy_object(raw_find(&rs, "k")).unwrap();
    b.encrypt("k", b"x", b"").unwrap();
    time.advance(ATTR_CACHE_TTL);
    assert!(matches!(
        b.encrypt("k", b"x", b""),
        Err(BackendError::KeyNotFound(_))
    ));
}

#[test]
fn token_is_chosen_by_label() {
    let hsm = Hsm::new(&[("alpha", "1111"), ("beta", "2222")]);
    let beta = hsm.open("beta");
    beta.create_key("only-in-beta").unwrap();
    let alpha = hsm.open("alpha");
    assert!(matches!(
        alpha.key_info("only-in-beta"),
        Err(BackendError::KeyNotFound(_))
    ));
    assert_eq!(beta.key_info("only-in-beta").unwrap().key_spec, "AES_256");
    alpha.create_key("only-in-alpha").unwrap();
    assert!(matches!(
        beta.key_info("only-in-alpha"),
        Err(BackendError::KeyNotFound(_))
    ));
    assert_eq!(beta.health().id, "beta");
    assert_eq!(alpha.health().id, "alpha");
    assert_eq!(alpha.health().health_status, "ACTIVE");

    // An unknown label is a clear error naming what exists.
    let mut cfg = hsm.config("alpha");
    cfg.token_label = "gamma".into();
    let err = Pkcs11Backend::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("no PKCS#11 token labelled \"gamma\""), "{err}");
    assert!(err.contains("alpha") && err.contains("beta"), "{err}");

    // Dropping one backend leaves the other working (the library stays initialized).
    drop(alpha);
    beta.encrypt("only-in-beta", b"x", b"").unwrap();
}

#[test]
fn wrong_pin_is_a_clear_error() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config(TOKEN);
    let pin_file = hsm.dir().join("wrong-pin");
    std::fs::write(&pin_file, "987654\n").unwrap();
    cfg.pin_file = Some(pin_file);
    let err = Pkcs11Backend::open(&cfg).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
    assert!(msg.contains("PIN is incorrect"), "{msg}");
    assert!(msg.contains(TOKEN), "{msg}");
    assert!(
        !msg.contains("987654"),
        "the PIN leaked into the error: {msg}"
    );

    // The right PIN still works afterwards (from an environment variable this time).
    let mut cfg = hsm.config(TOKEN);
    cfg.pin_file = None;
    cfg.pin_env = Some("STRONGROOM_TEST_HSM_PIN".into());
    std::env::set_var("STRONGROOM_TEST_HSM_PIN", PIN);
    let b = Pkcs11Backend::open(&cfg).unwrap();
    assert_eq!(b.health().health_status, "ACTIVE");
}

#[test]
fn pin_source_errors() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config(TOKEN);
    cfg.pin_env = Some("X".into());
    let err = Pkcs11Backend::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("only one of pin_file and pin_env"), "{err}");
    cfg.pin_file = None;
    cfg.pin_env = Some("STRONGROOM_TEST_UNSET_PIN_VAR".into());
    let err = Pkcs11Backend::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("STRONGROOM_TEST_UNSET_PIN_VAR"), "{err}");
    cfg.pin_env = None;
    let err = Pkcs11Backend::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("pin_file or pin_env"), "{err}");
    let mut cfg = hsm.config(TOKEN);
    cfg.module = "/nonexistent/libpkcs11.so".into();
    let err = Pkcs11Backend::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("cannot load PKCS#11 module"), "{err}");
}

#[test]
fn pool_exhaustion_waits_then_busy() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config(TOKEN);
    cfg.pool_size = 2;
    cfg.acquire_timeout_ms = 100;
    let b = Arc::new(Pkcs11Backend::open(&cfg).unwrap());
    b.create_key("k").unwrap();

    let held = Arc::new(Barrier::new(3));
    let release = Arc::new(Barrier::new(3));
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let (b, held, release) = (b.clone(), held.clone(), release.clone());
            std::thread::spawn(move || {
                b.hold_session_while(|| {
                    held.wait();
                    release.wait();
                })
                .unwrap()
            })
        })
        .collect();
    held.wait();
    let t0 = Instant::now();
    let r = b.encrypt("k", b"x", b"");
    let waited = t0.elapsed();
    assert!(matches!(r, Err(BackendError::Busy)), "{:?}", r.map(|_| ()));
    assert!(
        waited >= Duration::from_millis(95),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_millis(1000), "waited {waited:?}");
    // A health check that cannot get a session reports DEGRADED.
    assert_eq!(b.health().health_status, "DEGRADED");
    // The pool's figures for the metrics: both sessions held, two waits that timed out (the
    // encrypt and the health check).
    let figures = b
        .session_pool()
        .expect("a PKCS#11 backend has a session pool");
    assert_eq!((figures.size, figures.held), (2, 2));
    assert_eq!((figures.waits, figures.timed_out), (2, 2));
    assert!(figures.waited >= Duration::from_millis(190), "{figures:?}");
    release.wait();
    for h in holders {
        h.join().unwrap();
    }
    b.encrypt("k", b"x", b"").unwrap();

    // A request that waits gets the session freed within its timeout.
    let mut cfg = hsm.config(TOKEN);
    cfg.pool_size = 1;
    cfg.acquire_timeout_ms = 5_000;
    drop(b);
    let b = Arc::new(Pkcs11Backend::open(&cfg).unwrap());
    let held = Arc::new(Barrier::new(2));
    let holder = {
        let (b, held) = (b.clone(), held.clone());
        std::thread::spawn(move || {
            b.hold_session_while(|| {
                held.wait();
                // A request holding its session this long (real work), not a wait for time.
                std::thread::sleep(Duration::from_millis(200));
            })
            .unwrap()
        })
    };
    held.wait();
    let t0 = Instant::now();
    b.encrypt("k", b"x", b"").unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t0.elapsed()
    );
    holder.join().unwrap();
}

#[test]
fn concurrent_use_from_8_threads() {
    let hsm = Hsm::single();
    let mut cfg = hsm.config(TOKEN);
    cfg.pool_size = 4;
    cfg.acquire_timeout_ms = 10_000;
    let b = Arc::new(Pkcs11Backend::open(&cfg).unwrap());
    b.create_key("shared").unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                let own = format!("own-{i}");
                b.create_key(&own).unwrap();
                for j in 0..40u32 {
                    let key = if j % 2 == 0 { "shared" } else { own.as_str() };
                    let msg = format!("thread {i} message {j}").into_bytes();
                    let aad = j.to_be_bytes();
                    let s = b.encrypt(key, &msg, &aad).unwrap();
                    let back = b.decrypt(key, &s.ciphertext, &s.iv, &s.tag, &aad).unwrap();
                    assert_eq!(back.as_slice(), msg.as_slice());
                    if j % 10 == 0 {
                        assert_eq!(b.key_info(key).unwrap().status, KeyStatus::Enabled);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (in_use, idle, size) = b.pool_status();
    assert_eq!((in_use, size), (0, 4));
    assert!((1..=4).contains(&idle), "{idle}");
    assert_eq!(b.list_keys().unwrap().len(), 10);
    assert_eq!(b.stats().session_recoveries, 0);
}

/// Another component of the process finalizes and re-initializes the library: every session
/// handle the backend holds becomes invalid. The next operation fails on its stale session,
/// the backend reopens its sessions and the operation succeeds.
#[test]
fn recovers_when_sessions_are_closed_under_it() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    b.create_key("k").unwrap();
    let s = b.encrypt("k", b"before", b"").unwrap();
    let (_, idle, _) = b.pool_status();
    assert!(idle >= 1);

    let ctx = hsm.raw();
    ctx.clone().finalize().unwrap(); // closes every session of the process
    ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ))
    .unwrap();

    let opened = b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"").unwrap();
    assert_eq!(opened.as_slice(), b"before");
    let st = b.stats();
    assert_eq!(st.session_recoveries, 1, "{st:?}");
    assert_eq!(st.reinit_attempts, 0, "{st:?}");
    b.encrypt("k", b"after", b"").unwrap();
    assert_eq!(b.health().health_status, "ACTIVE");
    assert_eq!(b.stats().session_recoveries, 1);
}

/// Another session of the process logs out (login state is per application): the backend's
/// sessions lose their login, private keys become invisible. "Not found" would be a lie: the
/// backend notices, logs in again and answers.
#[test]
fn recovers_when_logged_out_under_it() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    b.create_key("k").unwrap();
    let ctx = hsm.raw();
    let raw = hsm.raw_session(&ctx, TOKEN, PIN);
    raw.logout().unwrap();
    assert!(raw
        .find_objects(&[Attribute::Label(b"k".to_vec())])
        .unwrap()
        .is_empty());

    assert_eq!(b.key_info("k").unwrap().key_spec, "AES_256");
    assert_eq!(b.stats().session_recoveries, 1);
    assert_eq!(b.list_keys().unwrap().len(), 2);
}

/// The library is finalized under the backend: operations get CKR_CRYPTOKI_NOT_INITIALIZED;
/// the backend initializes the library again, finds the token again, logs in, and the
/// operation succeeds — no process restart.
#[test]
fn recovers_when_the_library_is_finalized() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    b.create_key("k").unwrap();
    let s = b.encrypt("k", b"before", b"aad").unwrap();

    hsm.raw().finalize().unwrap();

    let opened = b
        .decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"aad")
        .unwrap();
    assert_eq!(opened.as_slice(), b"before");
    // The reconnect (C_Initialize, token by label, login) was enough: no C_Finalize needed.
    let st = b.stats();
    assert_eq!(st.session_recoveries, 1, "{st:?}");
    assert_eq!(st.reinit_attempts, 0, "{st:?}");
    assert_eq!(b.health().health_status, "ACTIVE");
    assert_eq!(b.list_keys().unwrap().len(), 2);
}

/// The token is gone while the library is broken: operations fail with Unavailable, health is
/// UNAVAILABLE, re-initialization is attempted at most once per REINIT_MIN_INTERVAL; when the
/// token is back, the next attempt recovers and the same operation succeeds.
#[test]
fn unavailable_token_recovers_with_rate_limited_reinit() {
    let hsm = Hsm::single();
    let (b, time) = open_on_manual_clock(&hsm, TOKEN);
    b.create_key("k").unwrap();
    let s = b.encrypt("k", b"data", b"").unwrap();
    assert_eq!(b.health().health_status, "ACTIVE");

    let tokens = hsm.dir().join("tokens");
    let hidden = hsm.dir().join("tokens-away");
    hsm.raw().finalize().unwrap();
    std::fs::rename(&tokens, &hidden).unwrap();

    let h = b.health();
    assert_eq!(h.health_status, "UNAVAILABLE");
    assert_eq!(h.id, TOKEN);
    assert_eq!(h.model, "SoftHSM v2");
    assert_eq!(b.stats().reinit_attempts, 1);

    let t0 = Instant::now();
    let err = b
        .decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"")
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("rate-limited"), "{err}");
    assert!(t0.elapsed() < Duration::from_millis(200));
    assert_eq!(b.stats().reinit_attempts, 1, "re-init was not rate-limited");

    std::fs::rename(&hidden, &tokens).unwrap();
    // Back, but the next attempt waits for REINIT_MIN_INTERVAL to pass.
    time.advance(REINIT_MIN_INTERVAL - Duration::from_millis(1));
    let err = b
        .decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"")
        .unwrap_err();
    assert!(err.to_string().contains("next attempt in 1 ms"), "{err}");
    time.advance(Duration::from_millis(1));
    let opened = b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"").unwrap();
    assert_eq!(opened.as_slice(), b"data");
    let st = b.stats();
    assert_eq!((st.reinit_attempts, st.reinits), (2, 1), "{st:?}");
    assert_eq!(b.health().health_status, "ACTIVE");
}

/// The token's files go away under the running library (as when SoftHSMv2's token directory is
/// moved while a proxy runs): no call fails, the objects just vanish. A key that cannot be found
/// must then not be answered as KeyNotFound while the health-check key is gone too: the answer
/// is Unavailable, and once the files are back the library is re-initialized and the same key
/// works again (without the fix: KeyNotFound for ever, until a restart).
#[test]
fn token_files_gone_is_unavailable_and_recovers_without_restart() {
    let hsm = Hsm::single();
    let (b, time) = open_on_manual_clock(&hsm, TOKEN);
    b.create_key("k").unwrap();
    let s = b.encrypt("k", b"data", b"").unwrap();

    let tokens = hsm.dir().join("tokens");
    let hidden = hsm.dir().join("tokens-away");
    std::fs::rename(&tokens, &hidden).unwrap();
    // Past the attribute cache: the key is looked for in the token again.
    time.advance(ATTR_CACHE_TTL);
    let err = b
        .decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"")
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
    match b.encrypt("k", b"x", b"") {
        Err(BackendError::Unavailable(_)) => {}
        Err(e) => panic!("Encrypt while the token is gone: {e:?}"),
        Ok(_) => panic!("Encrypt worked while the token is gone"),
    }
    assert_eq!(b.health().health_status, "UNAVAILABLE");

    std::fs::rename(&hidden, &tokens).unwrap();
    time.advance(REINIT_MIN_INTERVAL);
    let opened = b.decrypt("k", &s.ciphertext, &s.iv, &s.tag, b"").unwrap();
    assert_eq!(opened.as_slice(), b"data");
    assert!(b.stats().reinits >= 1, "{:?}", b.stats());
    assert_eq!(b.health().health_status, "ACTIVE");
    // A key that really is missing is still KeyNotFound.
    match b.encrypt("missing", b"x", b"") {
        Err(BackendError::KeyNotFound(_)) => {}
        Err(e) => panic!("Encrypt with a missing key: {e:?}"),
        Ok(_) => panic!("Encrypt with a missing key worked"),
    }
}

/// Two backends (two tenants) on tokens of one module: when one of them re-initializes the
/// library, the other reconnects on its next call, forgets its old sessions (their handle
/// numbers may now name the first one's sessions) and keeps using its own token's keys.
#[test]
fn reinit_by_one_backend_is_safe_for_another_on_the_same_module() {
    let hsm = Hsm::new(&[("alpha", "1111"), ("beta", "2222")]);
    let (a, time) = open_on_manual_clock(&hsm, "alpha");
    let b = hsm.open("beta");
    a.create_key("same").unwrap();
    b.create_key("same").unwrap();
    let sa = a.encrypt("same", b"alpha data", b"").unwrap();
    let sb = b.encrypt("same", b"beta data", b"").unwrap();

    // Make `a` re-initialize the library: finalized under it while its tokens are away, so
    // its reconnect fails; then the tokens come back and its next attempt re-initializes.
    let tokens = hsm.dir().join("tokens");
    let hidden = hsm.dir().join("tokens-away");
    hsm.raw().finalize().unwrap();
    std::fs::rename(&tokens, &hidden).unwrap();
    assert_eq!(a.health().health_status, "UNAVAILABLE");
    std::fs::rename(&hidden, &tokens).unwrap();
    time.advance(REINIT_MIN_INTERVAL);
    assert_eq!(
        a.decrypt("same", &sa.ciphertext, &sa.iv, &sa.tag, b"")
            .unwrap()
            .as_slice(),
        b"alpha data"
    );
    assert_eq!(a.stats().reinits, 1);

    // `b` notices the new library epoch and reconnects without re-initializing.
    assert_eq!(
        b.decrypt("same", &sb.ciphertext, &sb.iv, &sb.tag, b"")
            .unwrap()
            .as_slice(),
        b"beta data"
    );
    let st = b.stats();
    assert_eq!(
        (st.session_recoveries, st.reinit_attempts),
        (1, 0),
        "{st:?}"
    );
    // Each still uses its own token's key.
    assert!(matches!(
        b.decrypt("same", &sa.ciphertext, &sa.iv, &sa.tag, b""),
        Err(BackendError::InvalidCiphertext)
    ));
    assert!(matches!(
        a.decrypt("same", &sb.ciphertext, &sb.iv, &sb.tag, b""),
        Err(BackendError::InvalidCiphertext)
    ));
    for _ in 0..10 {
        a.encrypt("same", b"x", b"").unwrap();
        b.encrypt("same", b"x", b"").unwrap();
    }
    assert_eq!(a.health().health_status, "ACTIVE");
    assert_eq!(b.health().health_status, "ACTIVE");
}

#[test]
fn health_is_a_real_round_trip() {
    let hsm = Hsm::single();
    let b = hsm.open(TOKEN);
    let h = b.health();
    assert_eq!(h.id, TOKEN);
    assert_eq!(h.model, "SoftHSM v2");
    assert_eq!(h.health_status, "ACTIVE");
    // The health-check key was created on open, once.
    let info = b.key_info(DEFAULT_HEALTH_KEY_LABEL).unwrap();
    assert_eq!(info.key_spec, "AES_256");
    drop(b);
    let b = hsm.open(TOKEN);
    assert_eq!(b.list_keys().unwrap().len(), 1);

    // A custom health key label.
    let mut cfg: Pkcs11Config = hsm.config(TOKEN);
    cfg.health_key_label = "hc".into();
    drop(b);
    let b = Pkcs11Backend::open(&cfg).unwrap();
    assert_eq!(b.health().health_status, "ACTIVE");
    assert!(b.key_info("hc").is_ok());

    // A disabled health key makes the check fail.
    b.set_enabled("hc", false).unwrap();
    assert_eq!(b.health().health_status, "UNAVAILABLE");
    b.set_enabled("hc", true).unwrap();
    assert_eq!(b.health().health_status, "ACTIVE");
}
