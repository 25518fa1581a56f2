//! XKS responses as the KMS's client reads them (`xks_client::decode_answer`): the first byte
//! picks the HTTP status, the rest is the body, read as each operation's response.
//!
//! Properties: nothing panics; a 200 is a response or `InvalidResponse`, never an XKS error;
//! any other status is never a response; a decoded response serializes to a body that decodes
//! to the same response.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use xks_client::{
    decode_answer, DecryptResponse, EncryptResponse, GetHealthStatusResponse,
    GetKeyMetadataResponse, ProxyError,
};

const STATUSES: [u16; 8] = [200, 400, 401, 403, 404, 429, 500, 503];

fn check<R: DeserializeOwned + Serialize + Debug>(
    status: u16,
    body: &[u8],
    eq: fn(&R, &R) -> bool,
) {
    match decode_answer::<R>(status, body) {
        Ok(r) => {
            assert_eq!(status, 200, "a {status} answer decoded as a response");
            let again = serde_json::to_vec(&r).unwrap_or_default();
            match decode_answer::<R>(200, &again) {
                Ok(r2) => assert!(eq(&r, &r2), "{r:?} does not round-trip"),
                Err(e) => panic!("{r:?} serialized to a body that does not decode: {e:?}"),
            }
        }
        Err(ProxyError::Xks { status: s, .. }) => {
            assert_ne!(status, 200, "a 200 answer decoded as an error");
            assert_eq!(s, status);
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(pick) % STATUSES.len()];
    check::<GetHealthStatusResponse>(status, body, |a, b| a == b);
    check::<GetKeyMetadataResponse>(status, body, |a, b| a == b);
    check::<EncryptResponse>(status, body, |a, b| a == b);
    check::<DecryptResponse>(status, body, |a, b| *a.plaintext == *b.plaintext);
});
