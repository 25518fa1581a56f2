//! XKS requests as the proxy reads them (`xks_proxy::request`, `xks::parse_api_path`): the first
//! line is the request path, the rest the JSON body. The path picks the operation; the body is
//! decoded as that operation's in the server's order (JSON, `requestMetadata`, key id,
//! algorithm, then the Base64 fields after authorization).
//!
//! Properties: nothing panics; what is accepted is within the limits the proxy promises (data
//! size, IV and tag lengths, the AAD construction's length).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xks::{KeyOperation, Route};
use xks_proxy::request::{
    check_key_id, check_metadata, DecryptBody, EncryptBody, MetadataBody, Required, MAX_DATA_BYTES,
};

fn metadata(body: &[u8], required: Required) {
    if let Ok(b) = MetadataBody::parse(body) {
        let _ = check_metadata(b.request_metadata.as_ref(), required);
    }
}

fn encrypt(body: &[u8]) {
    let Ok(b) = EncryptBody::parse(body) else {
        return;
    };
    let _ = check_metadata(b.request_metadata.as_ref(), Required::Crypto);
    if b.check().is_err() {
        return;
    }
    if let Ok(input) = b.input() {
        assert!(input.plaintext.len() <= MAX_DATA_BYTES);
        // u16be(len(aad)) || aad || u8(len(metadata)) || metadata, with one byte of metadata.
        assert_eq!(input.gcm_aad.len(), 2 + input.aad.len() + 1 + 1);
    }
}

fn decrypt(body: &[u8]) {
    let Ok(b) = DecryptBody::parse(body) else {
        return;
    };
    let _ = check_metadata(b.request_metadata.as_ref(), Required::Crypto);
    if b.check().is_err() {
        return;
    }
    if let Ok(input) = b.input() {
        assert!(input.ciphertext.len() <= MAX_DATA_BYTES);
        assert!(matches!(input.iv.len(), 12 | 16));
        assert_eq!(input.tag.len(), 16);
        assert!(input.gcm_aad.len() <= 2 + xks::MAX_AAD_LEN + 1 + xks::MAX_CIPHERTEXT_METADATA_LEN);
    }
}

fuzz_target!(|data: &[u8]| {
    let (path, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let path = String::from_utf8_lossy(path);
    match xks::parse_api_path(&path).map(|a| a.route) {
        Some(Route::Health) => metadata(body, Required::Health),
        Some(Route::Key { key_id, op }) => {
            let _ = check_key_id(key_id);
            match op {
                KeyOperation::GetKeyMetadata => metadata(body, Required::KeyMetadata),
                KeyOperation::Encrypt => encrypt(body),
                KeyOperation::Decrypt => decrypt(body),
            }
        }
        // Not an API path: the proxy answers without reading the body; the body is still
        // run through every decoder, so the corpus needs no path to reach them.
        None => {
            metadata(body, Required::Health);
            encrypt(body);
            decrypt(body);
        }
    }
});
