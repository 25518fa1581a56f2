//! The root key file (`strongroom init` writes it; `serve` reads it, or the same text from an
//! environment variable): `crypto::RootKey::from_file_contents`.
//!
//! Properties: reading never panics; a key that reads writes back to a file that reads as the
//! same key (the same wrapping).
#![no_main]

use crypto::RootKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = RootKey::from_file_contents(text) else {
        return;
    };
    let Some(written) = key.to_file_contents() else {
        panic!("a root key read from a file has no file contents");
    };
    let again = match RootKey::from_file_contents(&written) {
        Ok(k) => k,
        Err(e) => panic!("a written root key file does not read back: {e:?}"),
    };
    // Same key: what one wraps, the other unwraps.
    if let Ok(material) = crypto::KeyMaterial::from_bytes(&[9u8; 32]) {
        if let Ok(wrapped) = key.wrap(&material, b"fuzz") {
            assert!(
                again.unwrap(&wrapped, b"fuzz").is_ok(),
                "round trip changed the key"
            );
        }
    }
});
