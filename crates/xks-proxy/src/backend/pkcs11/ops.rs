//! What runs on one session: key lookup, attributes, AES-GCM, key generation, and the
//! classification of PKCS#11 failures.

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};
use cryptoki::types::{Date, Ulong};
use zeroize::Zeroizing;

use super::cache::{lookup_key, lookup_key_fresh, FoundKey, HandleCache};
use super::util;
use crate::backend::{BackendError, KeyInfo, KeyStatus, Sealed};

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// How an operation on a session failed.
pub(super) enum OpError {
    /// A final answer (key not found, disabled, …); the session stays usable.
    Backend(BackendError),
    /// The PKCS#11 call failed.
    Ck(CkError),
    /// The session is not (any more) logged in.
    NotLoggedIn,
    /// An ambiguous failure, after which the session itself failed a probe.
    Broken(String),
}

impl From<CkError> for OpError {
    fn from(e: CkError) -> OpError {
        OpError::Ck(e)
    }
}

impl From<BackendError> for OpError {
    fn from(e: BackendError) -> OpError {
        OpError::Backend(e)
    }
}

/// Return values that mean the session, token or library broke, not the request.
pub(super) fn rv_is_recoverable(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::DeviceError
            | RvError::DeviceRemoved
            | RvError::DeviceMemory
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::CryptokiNotInitialized
            | RvError::UserNotLoggedIn
            | RvError::SlotIdInvalid
    )
}

/// Return values that may mean a broken library or just a failed operation: SoftHSMv2 returns
/// `CKR_GENERAL_ERROR` for a failed GCM tag check and for transient object-store conflicts.
/// [`probe_after`] tells them apart.
pub(super) fn rv_is_ambiguous(rv: RvError) -> bool {
    matches!(rv, RvError::GeneralError | RvError::FunctionFailed)
}

pub(super) fn is_ambiguous(e: &CkError) -> bool {
    matches!(e, CkError::Pkcs11(rv, _) if rv_is_ambiguous(*rv))
}

/// After an ambiguous failure `e`: `Ok(())` when the session still works and is logged in (the
/// operation failed, not the session); otherwise the error to recover from.
pub(super) fn probe_after(session: &Session, e: &CkError) -> Result<(), OpError> {
    match session.get_session_info() {
        Ok(info) => match info.session_state() {
            SessionState::RwUser | SessionState::RoUser => Ok(()),
            _ => Err(OpError::NotLoggedIn),
        },
        Err(probe) => Err(OpError::Broken(format!(
            "PKCS#11: {e}; then C_GetSessionInfo: {probe}"
        ))),
    }
}

impl OpError {
    pub(super) fn is_recoverable(&self) -> bool {
        match self {
            OpError::Backend(_) => false,
            OpError::Ck(CkError::Pkcs11(rv, _)) => rv_is_recoverable(*rv),
            OpError::Ck(_) => false,
            OpError::NotLoggedIn | OpError::Broken(_) => true,
        }
    }

    pub(super) fn into_backend(self) -> BackendError {
        match self {
            OpError::Backend(e) => e,
            OpError::Ck(e) => ck_error(e),
            OpError::NotLoggedIn => {
                BackendError::Unavailable("the PKCS#11 session is not logged in".to_string())
            }
            OpError::Broken(msg) => BackendError::Unavailable(msg),
        }
    }
}

pub(super) fn ck_error(e: CkError) -> BackendError {
    match &e {
        CkError::Pkcs11(rv, _) if rv_is_recoverable(*rv) => {
            BackendError::Unavailable(format!("PKCS#11: {e}"))
        }
        _ => BackendError::Internal(format!("PKCS#11: {e}")),
    }
}

pub(super) struct KeyAttrs {
    pub(super) label: Option<String>,
    spec: String,
    aes256: bool,
    encrypt: bool,
    decrypt: bool,
    disabled: bool,
}

impl KeyAttrs {
    pub(super) fn info(&self, key_id: &str) -> KeyInfo {
        let mut key_usage = Vec::new();
        if self.encrypt {
            key_usage.push("ENCRYPT".to_string());
        }
        if self.decrypt {
            key_usage.push("DECRYPT".to_string());
        }
        KeyInfo {
            key_id: key_id.to_string(),
            key_spec: self.spec.clone(),
            key_usage,
            status: if self.disabled {
                KeyStatus::Disabled
            } else {
                KeyStatus::Enabled
            },
        }
    }

    /// Whether `other` describes the key the same way (the label aside): type, length, usage
    /// and state.
    pub(super) fn same_key(&self, other: &KeyAttrs) -> bool {
        (
            &self.spec,
            self.aes256,
            self.encrypt,
            self.decrypt,
            self.disabled,
        ) == (
            &other.spec,
            other.aes256,
            other.encrypt,
            other.decrypt,
            other.disabled,
        )
    }

    /// Whether the key is worth a session copy (see `cache`): an enabled AES-256 key that may
    /// encrypt (the copy's value check encrypts). Other keys are refused before any crypto.
    pub(super) fn worth_a_copy(&self) -> bool {
        self.encrypt && self.aes256 && !self.disabled
    }

    /// Whether `operation` may run: enabled, allowed by the attributes, an AES-256 key.
    pub(super) fn check(&self, key_id: &str, operation: &'static str) -> Result<(), BackendError> {
        if self.disabled {
            return Err(BackendError::KeyDisabled(key_id.to_string()));
        }
        let allowed = match operation {
            "encrypt" => self.encrypt,
            _ => self.decrypt,
        };
        if !allowed || !self.aes256 {
            return Err(BackendError::InvalidKeyUsage {
                key_id: key_id.to_string(),
                operation,
            });
        }
        Ok(())
    }
}

pub(super) fn key_spec(key_type: Option<KeyType>, value_len: Option<usize>) -> String {
    match (key_type, value_len) {
        (Some(kt), Some(len)) => format!("{}_{}", key_type_name(kt), len.saturating_mul(8)),
        (Some(kt), None) => key_type_name(kt),
        (None, _) => "UNKNOWN".to_string(),
    }
}

pub(super) fn key_type_name(kt: KeyType) -> String {
    let name = kt.to_string();
    match name.strip_prefix("CKK_") {
        Some(n) => n.to_string(),
        None => name,
    }
}

/// Whether a `CKA_END_DATE` value makes the key disabled (see the module docs).
pub(super) fn end_date_disables(date: &Date) -> bool {
    if date.is_empty() {
        return false;
    }
    let mut ymd = [0u8; 8];
    ymd[..4].copy_from_slice(&date.year);
    ymd[4..6].copy_from_slice(&date.month);
    ymd[6..].copy_from_slice(&date.day);
    if !ymd.iter().all(u8::is_ascii_digit) {
        return true;
    }
    ymd < util::today_utc()
}

pub(super) fn read_key_attrs(
    session: &Session,
    key: ObjectHandle,
    with_label: bool,
) -> Result<KeyAttrs, OpError> {
    let mut types = vec![
        AttributeType::KeyType,
        AttributeType::ValueLen,
        AttributeType::Encrypt,
        AttributeType::Decrypt,
        AttributeType::EndDate,
    ];
    if with_label {
        types.push(AttributeType::Label);
    }
    let (attrs, end_date_unreadable) = match session.get_attributes(key, &types) {
        Ok(attrs) => (attrs, false),
        // The end date could not be read (SoftHSMv2 with any non-empty date on a private key:
        // CKR_GENERAL_ERROR) or not parsed (cryptoki: InvalidValue), while it is the only
        // free-form attribute asked for. Read the rest without it; if that works, the end date
        // is set but unreadable: fail closed (see the module docs).
        Err(CkError::InvalidValue | CkError::Pkcs11(RvError::GeneralError, _)) => {
            types.retain(|t| *t != AttributeType::EndDate);
            (session.get_attributes(key, &types)?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let mut key_type = None;
    let mut value_len = None;
    let mut encrypt = false;
    let mut decrypt = false;
    let mut disabled = end_date_unreadable;
    let mut label = None;
    for attr in attrs {
        match attr {
            Attribute::KeyType(kt) => key_type = Some(kt),
            Attribute::ValueLen(len) => value_len = Some(usize::from(len)),
            Attribute::Encrypt(b) => encrypt = b,
            Attribute::Decrypt(b) => decrypt = b,
            Attribute::EndDate(date) => disabled = end_date_disables(&date),
            Attribute::Label(bytes) => label = String::from_utf8(bytes).ok(),
            _ => {}
        }
    }
    Ok(KeyAttrs {
        label,
        aes256: key_type == Some(KeyType::AES) && value_len == Some(32),
        spec: key_spec(key_type, value_len),
        encrypt,
        decrypt,
        disabled,
    })
}

/// Fails with [`OpError::NotLoggedIn`] when the session lost its login (private objects are
/// then invisible, so "not found" would be a lie).
pub(super) fn ensure_logged_in(session: &Session) -> Result<(), OpError> {
    match session.get_session_info()?.session_state() {
        SessionState::RwUser | SessionState::RoUser => Ok(()),
        _ => Err(OpError::NotLoggedIn),
    }
}

/// The one token secret key labelled `label`.
pub(super) fn find_key(session: &Session, label: &str) -> Result<ObjectHandle, OpError> {
    let found = session.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    match found.as_slice() {
        [key] => Ok(*key),
        [] => {
            ensure_logged_in(session)?;
            Err(BackendError::KeyNotFound(label.to_string()).into())
        }
        many => Err(BackendError::Internal(format!(
            "{} secret keys in the token are labelled {label:?}; labels must be unique",
            many.len()
        ))
        .into()),
    }
}

/// Runs `op` with the key labelled `label`; when it fails with cached attributes (the key may
/// have changed meanwhile: disabled or enabled, deleted, recreated, usage changed), reads the
/// attributes afresh and runs it once more. The key's session copy is kept when the failure
/// was a final answer and the token object turns out unchanged (a bad ciphertext must not
/// cost a new copy each time), and dropped when the module refused the key. Failures of the
/// session itself are not retried here (the pool recovers from them).
fn with_key<T>(
    cache: &HandleCache,
    session: &Session,
    label: &str,
    mut op: impl FnMut(&FoundKey) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let found = lookup_key(cache, session, label)?;
    match op(&found) {
        Err(e) if found.cached && !e.is_recoverable() => {
            // The module refused the key itself (its copy gone or unusable): start afresh. A
            // final answer (bad ciphertext, disabled, usage) keeps the copy.
            if !matches!(e, OpError::Backend(_)) {
                cache.invalidate(label);
            }
            let fresh = lookup_key_fresh(cache, session, label)?;
            op(&fresh)
        }
        other => other,
    }
}

/// Whether the keys `a` and `b` (a token object and its session copy) hold the same value: both
/// encrypt one fixed block under one fixed IV to the same output. It is only a key check value
/// (one block of zeros, as KCVs are), and a random 96-bit IV of a real encryption equals the
/// fixed one with probability 2^-96.
pub(super) fn same_key_material(session: &Session, a: ObjectHandle, b: ObjectHandle) -> bool {
    const CHECK_AAD: &[u8] = b"strongroom: is this the same key";
    let Ok(tag_bits) = gcm_tag_bits() else {
        return false;
    };
    let run = |key| {
        let mut iv = [0u8; IV_LEN];
        let params = GcmParams::new(&mut iv, CHECK_AAD, tag_bits).ok()?;
        session
            .encrypt(&Mechanism::AesGcm(params), key, &[0u8; 16])
            .ok()
    };
    match (run(a), run(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

pub(super) fn gcm_tag_bits() -> Result<Ulong, OpError> {
    Ulong::try_from(TAG_LEN * 8).map_err(|e| OpError::Backend(internal(e)))
}

pub(super) fn internal(e: impl std::fmt::Display) -> BackendError {
    BackendError::Internal(format!("PKCS#11 backend: {e}"))
}

pub(super) fn encrypt_on(
    cache: &HandleCache,
    session: &Session,
    key_id: &str,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Sealed, OpError> {
    with_key(cache, session, key_id, |found| {
        encrypt_with(session, found, key_id, plaintext, aad)
    })
}

fn encrypt_with(
    session: &Session,
    found: &FoundKey,
    key_id: &str,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Sealed, OpError> {
    found.attrs.check(key_id, "encrypt")?;
    let key = found.handle;
    let mut iv = [0u8; IV_LEN];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| internal("the CSPRNG failed"))?;
    let mut ciphertext = {
        let params = GcmParams::new(&mut iv, aad, gcm_tag_bits()?).map_err(internal)?;
        session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?
    };
    if ciphertext.len() != plaintext.len() + TAG_LEN {
        return Err(internal(format!(
            "AES-GCM returned {} bytes for {} bytes of plaintext",
            ciphertext.len(),
            plaintext.len()
        ))
        .into());
    }
    let tag_bytes = ciphertext.split_off(plaintext.len());
    let tag: [u8; TAG_LEN] = tag_bytes.as_slice().try_into().map_err(internal)?;
    Ok(Sealed {
        ciphertext,
        iv: iv.to_vec(),
        tag,
    })
}

pub(super) fn decrypt_on(
    cache: &HandleCache,
    session: &Session,
    key_id: &str,
    ciphertext: &[u8],
    iv: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpError> {
    with_key(cache, session, key_id, |found| {
        decrypt_with(session, found, key_id, ciphertext, iv, tag, aad)
    })
}

fn decrypt_with(
    session: &Session,
    found: &FoundKey,
    key_id: &str,
    ciphertext: &[u8],
    iv: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpError> {
    found.attrs.check(key_id, "decrypt")?;
    let key = found.handle;
    let (Ok(iv), true) = (<[u8; IV_LEN]>::try_from(iv), tag.len() == TAG_LEN) else {
        return Err(BackendError::InvalidCiphertext.into());
    };
    let mut iv = iv;
    let mut input = Vec::with_capacity(ciphertext.len() + TAG_LEN);
    input.extend_from_slice(ciphertext);
    input.extend_from_slice(tag);
    let params = GcmParams::new(&mut iv, aad, gcm_tag_bits()?).map_err(internal)?;
    match session.decrypt(&Mechanism::AesGcm(params), key, &input) {
        Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
        Err(CkError::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange, _)) => {
            Err(BackendError::InvalidCiphertext.into())
        }
        // SoftHSMv2 reports a failed tag check as CKR_GENERAL_ERROR: when the session is fine,
        // that is what it was.
        Err(e @ CkError::Pkcs11(_, Function::Decrypt)) if is_ambiguous(&e) => {
            probe_after(session, &e)?;
            Err(BackendError::InvalidCiphertext.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Generates an AES-256 token key labelled `label` (the caller checked the label is free).
pub(super) fn generate_key_on(session: &Session, label: &str) -> Result<ObjectHandle, OpError> {
    let value_len = Ulong::try_from(32usize).map_err(internal)?;
    Ok(session.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(value_len),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Modifiable(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ],
    )?)
}

/// Creates `label` unless a secret key already has it; `Ok(true)` when created.
pub(super) fn create_key_on(
    session: &Session,
    label: &str,
    refuse_existing: bool,
) -> Result<bool, OpError> {
    match find_key(session, label) {
        Ok(_) if refuse_existing => Err(BackendError::Internal(format!(
            "a key labelled {label:?} already exists in the token"
        ))
        .into()),
        Ok(_) => Ok(false),
        Err(OpError::Backend(BackendError::KeyNotFound(_))) => {
            generate_key_on(session, label)?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_and_dates() {
        assert_eq!(key_spec(Some(KeyType::AES), Some(32)), "AES_256");
        assert_eq!(key_spec(Some(KeyType::AES), Some(16)), "AES_128");
        assert_eq!(
            key_spec(Some(KeyType::GENERIC_SECRET), Some(32)),
            "GENERIC_SECRET_256"
        );
        assert_eq!(key_spec(Some(KeyType::DES3), None), "DES3");
        assert!(!end_date_disables(&Date::new_empty()));
        assert!(end_date_disables(&Date::new(*b"1970", *b"01", *b"01")));
        assert!(!end_date_disables(&Date::new(*b"2999", *b"12", *b"31")));
        assert!(end_date_disables(&Date::new(*b"20x1", *b"01", *b"01")));
        let t = util::today_utc();
        let today = Date::new([t[0], t[1], t[2], t[3]], [t[4], t[5]], [t[6], t[7]]);
        assert!(
            !end_date_disables(&today),
            "the end date itself is still valid"
        );
    }
}
