//! The XKS proxy's software keystore file (`xks_proxy::backend::software::read_keystore`): the
//! JSON envelope, then the sealed document inside it. The first byte picks what the rest is:
//! the whole file as found on disk (even), or the document, which the target seals under a
//! fixed KEK with the keystore's nonce and AAD conventions (odd) so the fuzzer reaches the
//! inner parser through the real envelope.
//!
//! Properties: reading never panics; a file read under one KEK is refused under another.
#![no_main]

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use libfuzzer_sys::fuzz_target;
use xks_proxy::backend::software::{read_keystore, FORMAT, VERSION};

const KEK: [u8; 32] = [0x42; 32];

fn b64(bytes: &[u8]) -> String {
    xks::b64::encode(bytes)
}

/// A keystore file holding `document`, sealed as the proxy seals one.
fn seal(document: &[u8]) -> Option<Vec<u8>> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEK).ok()?);
    let nonce = [7u8; 12];
    let mut sealed = document.to_vec();
    let aad = format!("{FORMAT} v{VERSION}");
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut sealed,
    )
    .ok()?;
    let envelope = serde_json::json!({
        "format": FORMAT,
        "version": VERSION,
        "nonce": b64(&nonce),
        "sealed": b64(&sealed),
    });
    serde_json::to_vec(&envelope).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let file = if pick & 1 == 0 {
        rest.to_vec()
    } else {
        match seal(rest) {
            Some(f) => f,
            None => return,
        }
    };
    if let Ok(keys) = read_keystore(&file, &KEK) {
        assert!(keys.windows(2).all(|w| w[0].key_id < w[1].key_id));
        assert!(
            read_keystore(&file, &[0x43; 32]).is_err(),
            "a keystore opened under a wrong KEK"
        );
    }
});
