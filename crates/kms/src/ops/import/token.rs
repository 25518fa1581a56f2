//! The import token of GetParametersForImport: the wrapping key pair's private half and the
//! wrapping parameters, sealed under the root key and bound to one key's ARN.
//!
//! Nothing is kept server-side: any node holding the root key opens a token it or another
//! node issued, before or after a restart, and a token may be used any number of times
//! until it expires (as AWS allows). The AEAD makes it unforgeable, and its associated data
//! (the key's ARN) makes a token of one key useless for another.
//!
//! Sealed payload: `1 || len || WrappingAlgorithm || len || WrappingKeySpec || valid_to_ms
//! (i64, big-endian) || PKCS#8 of the wrapping private key`.

use crypto::asymmetric::WrappingKey;
use crypto::RootKey;
use kms_api::wire::{AlgorithmSpec, WrappingKeySpec};
use zeroize::Zeroizing;

const PAYLOAD_VERSION: u8 = 1;

/// An opened import token.
pub(super) struct Opened {
    pub algorithm: AlgorithmSpec,
    pub wrapping_key: WrappingKey,
    pub valid_to_ms: i64,
}

/// Why a token does not open.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TokenError {
    /// Not a token of this key (another key's, damaged, forged, or not a token at all).
    Invalid,
}

fn context(key_arn: &str) -> Vec<u8> {
    format!("strongroom/import-token/v1\0{key_arn}").into_bytes()
}

fn push_name(out: &mut Vec<u8>, name: &str) -> Result<(), TokenError> {
    out.push(u8::try_from(name.len()).map_err(|_| TokenError::Invalid)?);
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

/// Seals a token for `key_arn`.
pub(super) fn seal(
    root: &RootKey,
    key_arn: &str,
    algorithm: AlgorithmSpec,
    wrapping_key: &WrappingKey,
    valid_to_ms: i64,
) -> Result<Vec<u8>, TokenError> {
    let pkcs8 = wrapping_key.pkcs8();
    // Sized up front so the private key is never left behind by a reallocation.
    let mut payload = Zeroizing::new(Vec::with_capacity(64 + pkcs8.len()));
    payload.push(PAYLOAD_VERSION);
    push_name(&mut payload, algorithm.as_str())?;
    push_name(&mut payload, wrapping_key.spec().as_str())?;
    payload.extend_from_slice(&valid_to_ms.to_be_bytes());
    payload.extend_from_slice(pkcs8);
    root.seal_secret(&payload, &context(key_arn))
        .map_err(|_| TokenError::Invalid)
}

/// A length-prefixed name at the front of `rest`.
fn take_name<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let (len, tail) = rest.split_first()?;
    let (name, tail) = tail.split_at_checked(usize::from(*len))?;
    *rest = tail;
    std::str::from_utf8(name).ok()
}

/// Opens a token presented for `key_arn`; expiry is the caller's to check.
pub(super) fn open(root: &RootKey, key_arn: &str, token: &[u8]) -> Result<Opened, TokenError> {
    let payload = root
        .open_secret(token, &context(key_arn))
        .map_err(|_| TokenError::Invalid)?;
    let parse = || -> Option<Opened> {
        let (version, mut rest) = payload.split_first()?;
        if *version != PAYLOAD_VERSION {
            return None;
        }
        let algorithm = AlgorithmSpec::from_wire(take_name(&mut rest)?)?;
        let spec = WrappingKeySpec::from_wire(take_name(&mut rest)?)?;
        let (valid_to, pkcs8) = rest.split_first_chunk::<8>()?;
        let wrapping_key = WrappingKey::from_pkcs8(spec, pkcs8).ok()?;
        Some(Opened {
            algorithm,
            wrapping_key,
            valid_to_ms: i64::from_be_bytes(*valid_to),
        })
    };
    parse().ok_or(TokenError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_token_opens_for_its_key_only_and_resists_tampering() {
        let root = RootKey::generate().expect("root");
        let wk = WrappingKey::generate(WrappingKeySpec::Rsa2048).expect("wrapping key");
        let token = seal(&root, ARN, AlgorithmSpec::RsaesOaepSha256, &wk, 1234).expect("seal");
        let secret_tail = &wk.pkcs8()[wk.pkcs8().len() - 64..];
        assert!(!token.windows(64).any(|w| w == secret_tail));
        let opened = open(&root, ARN, &token).expect("open");
        assert_eq!(opened.algorithm, AlgorithmSpec::RsaesOaepSha256);
        assert_eq!(opened.valid_to_ms, 1234);
        assert_eq!(opened.wrapping_key.public_key_der(), wk.public_key_der());

        let other = ARN.replace("1234abcd", "5678abcd");
        assert_eq!(open(&root, &other, &token).err(), Some(TokenError::Invalid));
        let other_root = RootKey::generate().expect("root");
        assert_eq!(
            open(&other_root, ARN, &token).err(),
            Some(TokenError::Invalid)
        );
        for i in (0..token.len()).step_by(7) {
            let mut bad = token.clone();
            bad[i] ^= 0x40;
            assert_eq!(
                open(&root, ARN, &bad).err(),
                Some(TokenError::Invalid),
                "{i}"
            );
        }
        for cut in [0, 1, 13, token.len() - 1] {
            assert_eq!(
                open(&root, ARN, &token[..cut]).err(),
                Some(TokenError::Invalid)
            );
        }
    }
}
