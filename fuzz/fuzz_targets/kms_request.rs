//! The KMS request edge: a body as it arrives, decoded and validated into the typed request of
//! one operation (`kms_api::wire::decode`). The first byte picks the operation.
//!
//! Property: decoding never panics, and a decoded request serializes to a body that decodes to
//! the same request.
#![no_main]

use kms_api::wire::{decode, DecodeOptions};
use kms_api::Operation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[usize::from(pick) % Operation::ALL.len()];
    // The target header is outside input too.
    let _ = Operation::from_target(&String::from_utf8_lossy(body));
    let Ok(request) = decode(op, body, &DecodeOptions::STRICT) else {
        return;
    };
    assert_eq!(request.operation(), op);
    let again = match serde_json::to_vec(&request) {
        Ok(bytes) => bytes,
        Err(e) => panic!("a decoded {op:?} request does not serialize: {e}"),
    };
    match decode(op, &again, &DecodeOptions::STRICT) {
        Ok(second) => assert_eq!(second, request, "{op:?} does not round-trip"),
        Err(e) => panic!(
            "{op:?}: the serialized request {} is refused: {e:?}",
            String::from_utf8_lossy(&again)
        ),
    }
});
