//! The few AWS-LC calls that aws-lc-rs 1.19 does not wrap, behind safe
//! functions over fixed-size buffers. This is the crate's only `unsafe`.
//!
//! * Ed25519ph (RFC 8032 HashEdDSA over a SHA-512 digest): AWS's
//!   `ED25519_PH_SHA_512`. aws-lc-rs offers only pure Ed25519.
//! * ML-DSA signing and verification of an external μ (FIPS 204 section 6.2,
//!   AWS's `EXTERNAL_MU`): AWS-LC's `EVP_PKEY_sign`/`EVP_PKEY_verify` on an
//!   ML-DSA key take μ; aws-lc-rs only signs whole messages.
//! * Expanding an ML-KEM private key given as PKCS#8 in RFC 9935's seed form:
//!   aws-lc-rs can only load the expanded decapsulation key.
//!
//! Every pointer handed to AWS-LC points into a live Rust buffer of the
//! length AWS-LC is told (or, for the fixed-size Ed25519 calls, of the length
//! its header documents), and every object AWS-LC allocates is freed by a
//! guard's `Drop`.

#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

use aws_lc_sys as ffi;
use zeroize::Zeroizing;

/// Length of an Ed25519 signature, seed, public key and SHA-512 digest.
pub(crate) const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of ML-DSA's μ.
pub(crate) const ML_DSA_MU_LEN: usize = 64;

/// Owns an `EVP_PKEY`.
struct Pkey(*mut ffi::EVP_PKEY);

impl Pkey {
    fn new(ptr: *mut ffi::EVP_PKEY) -> Option<Self> {
        (!ptr.is_null()).then_some(Pkey(ptr))
    }
}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from an AWS-LC allocator and is freed once.
        unsafe { ffi::EVP_PKEY_free(self.0) }
    }
}

/// Owns an `EVP_PKEY_CTX`.
struct PkeyCtx(*mut ffi::EVP_PKEY_CTX);

impl PkeyCtx {
    fn for_key(key: &Pkey) -> Option<Self> {
        // SAFETY: `key.0` is a live EVP_PKEY; the context takes its own reference.
        let ctx = unsafe { ffi::EVP_PKEY_CTX_new(key.0, null_mut()) };
        (!ctx.is_null()).then_some(PkeyCtx(ctx))
    }
}

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from EVP_PKEY_CTX_new and is freed once.
        unsafe { ffi::EVP_PKEY_CTX_free(self.0) }
    }
}

/// Clears AWS-LC's thread-local error queue after a failed call, so a stale
/// entry cannot confuse a later caller that inspects it.
fn failed<T>() -> Option<T> {
    // SAFETY: no arguments; only touches this thread's error queue.
    unsafe { ffi::ERR_clear_error() };
    None
}

/// Ed25519ph signature of a SHA-512 `digest` with the empty context.
/// `private_key` is the 32-byte seed followed by the 32-byte public key.
pub(crate) fn ed25519ph_sign_digest(
    digest: &[u8; 64],
    private_key: &[u8; 64],
) -> Option<[u8; ED25519_SIGNATURE_LEN]> {
    let mut sig = [0u8; ED25519_SIGNATURE_LEN];
    // SAFETY: the three buffers are 64 bytes each, as ED25519ph_sign_digest
    // reads and writes; the context is empty.
    let ok = unsafe {
        ffi::ED25519ph_sign_digest(
            sig.as_mut_ptr(),
            digest.as_ptr(),
            private_key.as_ptr(),
            null(),
            0,
        )
    };
    if ok == 1 {
        Some(sig)
    } else {
        failed()
    }
}

/// Whether `signature` is a valid Ed25519ph signature of the SHA-512 `digest`
/// (empty context) under the 32-byte `public_key`.
pub(crate) fn ed25519ph_verify_digest(
    digest: &[u8; 64],
    signature: &[u8; ED25519_SIGNATURE_LEN],
    public_key: &[u8; 32],
) -> bool {
    // SAFETY: digest and signature are 64 bytes and the public key 32, as
    // ED25519ph_verify_digest reads; the context is empty.
    let ok = unsafe {
        ffi::ED25519ph_verify_digest(
            digest.as_ptr(),
            signature.as_ptr(),
            public_key.as_ptr(),
            null(),
            0,
        )
    };
    if ok != 1 {
        failed::<()>();
    }
    ok == 1
}

/// The ML-DSA parameter sets, by their AWS-LC NIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MlDsa {
    P44,
    P65,
    P87,
}

impl MlDsa {
    fn nid(self) -> i32 {
        match self {
            MlDsa::P44 => ffi::NID_MLDSA44,
            MlDsa::P65 => ffi::NID_MLDSA65,
            MlDsa::P87 => ffi::NID_MLDSA87,
        }
    }
}

/// ML-DSA signature of the message representative `mu`. `raw_private_key`
/// is the expanded private key or the 32-byte seed.
pub(crate) fn ml_dsa_sign_mu(
    set: MlDsa,
    raw_private_key: &[u8],
    mu: &[u8; ML_DSA_MU_LEN],
) -> Option<Vec<u8>> {
    // SAFETY: AWS-LC reads exactly `len` bytes of the live slice.
    let key = Pkey::new(unsafe {
        ffi::EVP_PKEY_pqdsa_new_raw_private_key(
            set.nid(),
            raw_private_key.as_ptr(),
            raw_private_key.len(),
        )
    })
    .or_else(failed)?;
    let ctx = PkeyCtx::for_key(&key).or_else(failed)?;
    // SAFETY: ctx is live.
    if unsafe { ffi::EVP_PKEY_sign_init(ctx.0) } != 1 {
        return failed();
    }
    let mut len = 0usize;
    // SAFETY: a null output asks for the signature length only.
    if unsafe { ffi::EVP_PKEY_sign(ctx.0, null_mut(), &mut len, mu.as_ptr(), mu.len()) } != 1 {
        return failed();
    }
    let mut sig = vec![0u8; len];
    // SAFETY: `sig` has the `len` bytes AWS-LC asked for, and it writes at
    // most `len`, updating `len` to what it wrote.
    if unsafe { ffi::EVP_PKEY_sign(ctx.0, sig.as_mut_ptr(), &mut len, mu.as_ptr(), mu.len()) } != 1
    {
        return failed();
    }
    sig.truncate(len);
    Some(sig)
}

/// Whether `signature` is a valid ML-DSA signature of `mu` under the raw
/// public key.
pub(crate) fn ml_dsa_verify_mu(
    set: MlDsa,
    raw_public_key: &[u8],
    mu: &[u8; ML_DSA_MU_LEN],
    signature: &[u8],
) -> bool {
    let verified = (|| {
        // SAFETY: AWS-LC reads exactly `len` bytes of the live slice.
        let key = Pkey::new(unsafe {
            ffi::EVP_PKEY_pqdsa_new_raw_public_key(
                set.nid(),
                raw_public_key.as_ptr(),
                raw_public_key.len(),
            )
        })?;
        let ctx = PkeyCtx::for_key(&key)?;
        // SAFETY: ctx is live; both buffers are read for their own lengths.
        unsafe {
            (ffi::EVP_PKEY_verify_init(ctx.0) == 1
                && ffi::EVP_PKEY_verify(
                    ctx.0,
                    signature.as_ptr(),
                    signature.len(),
                    mu.as_ptr(),
                    mu.len(),
                ) == 1)
                .then_some(())
        }
    })()
    .is_some();
    if !verified {
        failed::<()>();
    }
    verified
}

/// An ML-KEM private key expanded from PKCS#8.
pub(crate) struct ExpandedMlKem {
    /// The FIPS 203 decapsulation key, as aws-lc-rs loads it.
    pub(crate) decapsulation_key: Zeroizing<Vec<u8>>,
}

/// Parses an ML-KEM PKCS#8 private key (seed or expanded form) with AWS-LC
/// and returns the expanded decapsulation key. `None` for anything that is
/// not an ML-KEM key AWS-LC accepts.
pub(crate) fn ml_kem_expand_pkcs8(der: &[u8]) -> Option<ExpandedMlKem> {
    let mut cbs = ffi::CBS {
        data: der.as_ptr(),
        len: der.len(),
    };
    // SAFETY: `cbs` points into `der`, which outlives the call; AWS-LC only reads it.
    let key = Pkey::new(unsafe { ffi::EVP_parse_private_key(&mut cbs) }).or_else(failed)?;
    // SAFETY: key is live.
    if unsafe { ffi::EVP_PKEY_id(key.0) } != ffi::EVP_PKEY_KEM || cbs.len != 0 {
        return failed();
    }
    Some(ExpandedMlKem {
        decapsulation_key: raw_private_key(&key)?,
    })
}

/// The raw private key of `key`, in wiped storage.
fn raw_private_key(key: &Pkey) -> Option<Zeroizing<Vec<u8>>> {
    let get = |out: *mut u8, len: *mut usize| {
        // SAFETY: key is live; `out` is null (length query) or has `*len` bytes.
        unsafe { ffi::EVP_PKEY_get_raw_private_key(key.0, out, len) }
    };
    let mut len = 0usize;
    if get(null_mut(), &mut len) != 1 {
        return failed();
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    if get(out.as_mut_ptr(), &mut len) != 1 {
        return failed();
    }
    out.truncate(len);
    Some(out)
}
