//! Just enough DER to read the outer layers of PKCS#8 private keys and X.509
//! SubjectPublicKeyInfo structures (which algorithm, which curve), and to
//! write the few structures aws-lc-rs does not produce itself (ML-KEM keys).
//!
//! Reading is total: any input gives `None` or a value, never a panic. Only
//! definite, minimally encoded lengths are accepted, as DER requires.

use crate::reader::Reader;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0] IMPLICIT` primitive, as used for the ML-KEM / ML-DSA seed choice.
pub(crate) const TAG_CONTEXT_0: u8 = 0x80;

/// Object identifiers (content bytes only) that name the algorithms we know.
pub(crate) mod oid {
    /// rsaEncryption, 1.2.840.113549.1.1.1
    pub(crate) const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// id-ecPublicKey, 1.2.840.10045.2.1
    pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// prime256v1 (P-256), 1.2.840.10045.3.1.7
    pub(crate) const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// secp384r1, 1.3.132.0.34
    pub(crate) const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// secp521r1, 1.3.132.0.35
    pub(crate) const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    /// secp256k1, 1.3.132.0.10
    pub(crate) const SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
    /// id-Ed25519, 1.3.101.112
    pub(crate) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    /// id-ml-dsa-44, 2.16.840.1.101.3.4.3.17 (65 and 87 follow)
    pub(crate) const ML_DSA_44: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11];
    pub(crate) const ML_DSA_65: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12];
    pub(crate) const ML_DSA_87: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13];
    /// id-alg-ml-kem-512, 2.16.840.1.101.3.4.4.1 (768 and 1024 follow)
    pub(crate) const ML_KEM_512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x01];
    pub(crate) const ML_KEM_768: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02];
    pub(crate) const ML_KEM_1024: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x03];
}

/// Reads one TLV, returning its tag and contents.
pub(crate) fn read_tlv<'a>(r: &mut Reader<'a>) -> Option<(u8, &'a [u8])> {
    let tag = r.u8()?;
    // Multi-byte tags never occur in the structures we read.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = r.u8()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        // 0x80 is BER's indefinite length; more than 3 length bytes would
        // describe more than 16 MiB, far beyond any key.
        if n == 0 || n > 3 {
            return None;
        }
        let bytes = r.take(n)?;
        if bytes.first() == Some(&0) {
            return None; // not minimal
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return None; // should have used the short form
        }
        len
    };
    Some((tag, r.take(len)?))
}

/// Reads one TLV that must carry `tag`.
pub(crate) fn expect<'a>(r: &mut Reader<'a>, tag: u8) -> Option<&'a [u8]> {
    match read_tlv(r)? {
        (t, v) if t == tag => Some(v),
        _ => None,
    }
}

/// The contents of `input`, which must be exactly one TLV with `tag`.
pub(crate) fn whole(input: &[u8], tag: u8) -> Option<&[u8]> {
    let mut r = Reader::new(input);
    let v = expect(&mut r, tag)?;
    r.finish()?;
    Some(v)
}

/// An AlgorithmIdentifier: the algorithm's OID and, when the parameters are
/// themselves an OID (a named curve), that OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlgorithmId<'a> {
    pub(crate) oid: &'a [u8],
    pub(crate) param_oid: Option<&'a [u8]>,
}

fn algorithm_id<'a>(r: &mut Reader<'a>) -> Option<AlgorithmId<'a>> {
    let mut alg = Reader::new(expect(r, TAG_SEQUENCE)?);
    let oid = expect(&mut alg, TAG_OID)?;
    let param_oid = match read_tlv(&mut alg) {
        None => None,
        Some((TAG_OID, p)) => Some(p),
        Some((TAG_NULL, [])) => None,
        Some(_) => return None,
    };
    alg.finish()?;
    Some(AlgorithmId { oid, param_oid })
}

/// The outer layer of a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pkcs8<'a> {
    pub(crate) algorithm: AlgorithmId<'a>,
    /// The contents of the `privateKey` OCTET STRING.
    pub(crate) private_key: &'a [u8],
}

/// Parses the outer layer of PKCS#8 (v1 or v2); the trailing optional
/// attributes and public key of v2 are allowed but not read.
pub(crate) fn pkcs8(input: &[u8]) -> Option<Pkcs8<'_>> {
    let mut r = Reader::new(whole(input, TAG_SEQUENCE)?);
    let version = expect(&mut r, TAG_INTEGER)?;
    if version != [0] && version != [1] {
        return None;
    }
    let algorithm = algorithm_id(&mut r)?;
    let private_key = expect(&mut r, TAG_OCTET_STRING)?;
    // Attributes [0] and publicKey [1] may follow; each must still be a
    // well-formed TLV.
    while read_tlv(&mut r).is_some() {}
    r.finish()?;
    Some(Pkcs8 {
        algorithm,
        private_key,
    })
}

/// A parsed SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spki<'a> {
    pub(crate) algorithm: AlgorithmId<'a>,
    /// The key bytes (the BIT STRING without its unused-bits byte).
    #[allow(dead_code)] // only the algorithm is checked outside tests
    pub(crate) key: &'a [u8],
}

/// Parses an X.509 SubjectPublicKeyInfo; nothing may follow it.
pub(crate) fn spki(input: &[u8]) -> Option<Spki<'_>> {
    let mut r = Reader::new(whole(input, TAG_SEQUENCE)?);
    let algorithm = algorithm_id(&mut r)?;
    let bits = expect(&mut r, TAG_BIT_STRING)?;
    r.finish()?;
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    Some(Spki { algorithm, key })
}

/// Appends a TLV with `tag` and `contents`.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
}

/// A TLV as a fresh buffer.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    write_tlv(&mut out, tag, contents);
    out
}

/// A SubjectPublicKeyInfo for an algorithm whose identifier has no
/// parameters (ML-KEM, as RFC 9935 section 4 defines it).
pub(crate) fn write_spki(algorithm_oid: &[u8], key: &[u8]) -> Vec<u8> {
    let alg = tlv(TAG_SEQUENCE, &tlv(TAG_OID, algorithm_oid));
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    let mut body = alg;
    write_tlv(&mut body, TAG_BIT_STRING, &bits);
    tlv(TAG_SEQUENCE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_and_reject_non_der() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000] {
            let body = vec![7u8; len];
            let enc = tlv(TAG_OCTET_STRING, &body);
            assert_eq!(whole(&enc, TAG_OCTET_STRING), Some(&body[..]), "{len}");
            assert_eq!(whole(&enc, TAG_SEQUENCE), None);
            let mut longer = enc.clone();
            longer.push(0);
            assert_eq!(whole(&longer, TAG_OCTET_STRING), None, "trailing byte");
            for cut in 0..enc.len() {
                assert_eq!(
                    whole(&enc[..cut], TAG_OCTET_STRING),
                    None,
                    "{len} cut {cut}"
                );
            }
        }
        // Indefinite, non-minimal and oversized lengths.
        assert_eq!(whole(&[0x04, 0x80, 0, 0], TAG_OCTET_STRING), None);
        assert_eq!(
            whole(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], TAG_OCTET_STRING),
            None
        );
        assert_eq!(whole(&[0x04, 0x82, 0x00, 0x80], TAG_OCTET_STRING), None);
        assert_eq!(whole(&[0x04, 0x84, 1, 0, 0, 0], TAG_OCTET_STRING), None);
        assert_eq!(whole(&[0x1f, 0x01, 0x00], 0x1f), None);
    }

    #[test]
    fn spki_and_pkcs8_shapes() {
        let spki_bytes = write_spki(oid::ML_KEM_512, &[1, 2, 3]);
        let parsed = spki(&spki_bytes).expect("spki");
        assert_eq!(parsed.algorithm.oid, oid::ML_KEM_512);
        assert_eq!(parsed.algorithm.param_oid, None);
        assert_eq!(parsed.key, &[1, 2, 3]);

        let mut body = tlv(TAG_INTEGER, &[0]);
        let mut alg = tlv(TAG_OID, oid::EC_PUBLIC_KEY);
        alg.extend(tlv(TAG_OID, oid::P256));
        body.extend(tlv(TAG_SEQUENCE, &alg));
        body.extend(tlv(TAG_OCTET_STRING, &[9, 9]));
        let p8 = tlv(TAG_SEQUENCE, &body);
        let parsed = pkcs8(&p8).expect("pkcs8");
        assert_eq!(parsed.algorithm.oid, oid::EC_PUBLIC_KEY);
        assert_eq!(parsed.algorithm.param_oid, Some(oid::P256));
        assert_eq!(parsed.private_key, &[9, 9]);
        for cut in 0..p8.len() {
            assert!(pkcs8(&p8[..cut]).is_none());
        }
    }
}
