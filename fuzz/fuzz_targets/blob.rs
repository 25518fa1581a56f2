//! The ciphertext blob (`crypto::parse_blob`): what Decrypt, ReEncrypt and the other
//! ciphertext-taking operations read from the caller before any key is touched.
//!
//! Properties: parsing never panics; a parsed blob re-encodes (`encode_blob`) to exactly the
//! bytes it came from; decryption of a parsed blob under an unrelated key fails cleanly.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crypto::{decrypt_blob_with, encode_blob, parse_blob, KeyMaterial, PreparedKey};
use libfuzzer_sys::fuzz_target;

fn key() -> Option<&'static PreparedKey> {
    static KEY: OnceLock<Option<PreparedKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let material = KeyMaterial::from_bytes(&[7u8; 32]).ok()?;
        PreparedKey::new(&material).ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_blob(data) else {
        return;
    };
    let header = parsed.header().clone();
    match encode_blob(&header, parsed.payload()) {
        Ok(again) => assert_eq!(again, data, "a parsed blob does not re-encode to its bytes"),
        Err(e) => panic!("a parsed blob does not re-encode: {e:?}"),
    }
    if let Some(key) = key() {
        let _ = decrypt_blob_with(key, &parsed, &BTreeMap::new());
    }
});
