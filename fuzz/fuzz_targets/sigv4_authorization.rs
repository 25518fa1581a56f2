//! The SigV4 `Authorization` header value (`sigv4::parse_authorization`).
//!
//! Properties: parsing never panics; a refusal is an `IncompleteSignature` with a message of
//! bounded length (two echoes of at most 512 bytes of input and a sentence); an accepted header, written back in the canonical form, parses to the same
//! fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigv4::{parse_authorization, Error, ALGORITHM};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    match parse_authorization(value) {
        Ok(a) => {
            let canonical = format!(
                "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
                a.access_key_id,
                a.scope(),
                a.signed_headers.join(";"),
                hex(&a.signature)
            );
            match parse_authorization(&canonical) {
                Ok(b) => assert_eq!(a, b, "{canonical:?} parses differently"),
                Err(e) => panic!(
                    "{value:?} parsed, but its canonical form {canonical:?} is refused: {e:?}"
                ),
            }
        }
        Err(Error::IncompleteSignature(m)) => {
            // At most two echoes of the input (512 bytes each) and AWS's sentence.
            assert!(!m.is_empty() && m.len() <= 1200, "message {m:?}");
        }
        Err(other) => panic!("{value:?} gave {other:?}"),
    }
});
