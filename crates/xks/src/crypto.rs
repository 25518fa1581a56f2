//! The AES-GCM AAD the key manager sees, and the ciphertext data integrity value.

use std::fmt;

use aws_lc_rs::digest;

use crate::{MAX_AAD_LEN, MAX_CIPHERTEXT_METADATA_LEN};

/// Why [`gcm_aad`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AadError {
    /// The AAD is longer than a 2-byte length can say (65535 bytes).
    AadTooLong(usize),
    /// The ciphertext metadata is longer than the specification's 20 bytes.
    MetadataTooLong(usize),
}

impl fmt::Display for AadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AadError::AadTooLong(n) => write!(
                f,
                "additionalAuthenticatedData is {n} bytes; at most {MAX_AAD_LEN} are supported"
            ),
            AadError::MetadataTooLong(n) => write!(
                f,
                "ciphertextMetadata is {n} bytes; at most {MAX_CIPHERTEXT_METADATA_LEN} are allowed"
            ),
        }
    }
}

impl std::error::Error for AadError {}

/// The AAD given to AES-GCM in the key manager:
/// `u16be(len(aad)) || aad || u8(len(metadata)) || metadata`.
///
/// An absent field is passed as empty, so its length is zero, as the specification
/// requires. The explicit lengths keep "AAD = X, no metadata" and "no AAD, metadata = X"
/// (and every other split) from authenticating as each other.
pub fn gcm_aad(aad: &[u8], metadata: &[u8]) -> Result<Vec<u8>, AadError> {
    let aad_len = u16::try_from(aad.len()).map_err(|_| AadError::AadTooLong(aad.len()))?;
    if metadata.len() > MAX_CIPHERTEXT_METADATA_LEN {
        return Err(AadError::MetadataTooLong(metadata.len()));
    }
    let mut out = Vec::with_capacity(3 + aad.len() + metadata.len());
    out.extend_from_slice(&aad_len.to_be_bytes());
    out.extend_from_slice(aad);
    // At most 20, checked above.
    out.push(metadata.len() as u8);
    out.extend_from_slice(metadata);
    Ok(out)
}

/// The `SHA_256` ciphertext data integrity value of Appendix C: SHA-256 over
/// `aad || ciphertextMetadata || initializationVector || ciphertext || authenticationTag`,
/// the decoded bytes simply concatenated (no lengths; an absent field is empty).
///
/// `aad` is the request's `additionalAuthenticatedData`, the rest come from the response.
pub fn cdiv_sha256(
    aad: &[u8],
    metadata: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [aad, metadata, iv, ciphertext, tag] {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;

    /// Appendix C's worked example, from the Encrypt request and response examples.
    #[test]
    fn appendix_c_example() {
        let aad = b64::decode("cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n").unwrap();
        let metadata = b64::decode("a2V5X3ZlcnNpb249MQ==").unwrap();
        let iv = b64::decode("HMrlRw85cAJUd5Ax").unwrap();
        let ciphertext = b64::decode("ghxkK1txeDNn3q8Y").unwrap();
        let tag = b64::decode("vBxN2ncH1oEkR8WVXpmyYQ==").unwrap();

        // The byte listing of the appendix, field by field.
        assert_eq!(aad, b"project=nile,department=marketing");
        assert_eq!(aad.len(), 33);
        assert_eq!(metadata, b"key_version=1");
        assert_eq!(hex::encode(&iv), "1ccae5470f39700254779031");
        assert_eq!(hex::encode(&ciphertext), "821c642b5b71783367deaf18");
        assert_eq!(hex::encode(&tag), "bc1c4dda7707d6812447c5955e99b261");
        assert_eq!(
            aad.len() + metadata.len() + iv.len() + ciphertext.len() + tag.len(),
            86
        );

        let cdiv = cdiv_sha256(&aad, &metadata, &iv, &ciphertext, &tag);
        assert_eq!(
            hex::encode(cdiv),
            "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7"
        );
        assert_eq!(
            b64::encode(&cdiv),
            "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="
        );
    }

    #[test]
    fn cdiv_skips_absent_fields() {
        // "A || '' = A": an absent metadata is the same as none at all.
        let whole = cdiv_sha256(b"aad", b"", b"iv", b"ct", b"tag");
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"aadivcttag");
        assert_eq!(whole.as_slice(), ctx.finish().as_ref());
    }

    #[test]
    fn aad_construction() {
        assert_eq!(gcm_aad(b"", b"").unwrap(), vec![0, 0, 0]);
        assert_eq!(
            gcm_aad(b"ab", b"\x01").unwrap(),
            vec![0, 2, b'a', b'b', 1, 1]
        );
        let big = vec![7u8; 8192];
        let out = gcm_aad(&big, b"").unwrap();
        assert_eq!(&out[..2], &[0x20, 0x00]);
        assert_eq!(out.len(), 8192 + 3);
        // The specification's pitfall: metadata passed back as AAD must not authenticate.
        assert_ne!(gcm_aad(b"", b"m").unwrap(), gcm_aad(b"m", b"").unwrap());
        assert_eq!(
            gcm_aad(&vec![0; 65536], b""),
            Err(AadError::AadTooLong(65536))
        );
        assert!(gcm_aad(&vec![0; 65535], b"").is_ok());
        assert_eq!(gcm_aad(b"", &[0; 21]), Err(AadError::MetadataTooLong(21)));
        assert!(gcm_aad(b"", &[0; 20]).is_ok());
    }
}
