//! The ciphertext blob: Strongroom's own, versioned wire format for
//! `CiphertextBlob` values.
//!
//! # Layout
//!
//! All integers are big-endian. Offsets assume a key id in one of the two
//! compact forms (16 bytes); see "Key id field" for the general case.
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 2    | magic, the ASCII bytes `S` `R` (`0x53 0x52`)           |
//! | 2      | 1    | format version, `0x01`                                 |
//! | 3      | 1    | key id form / length byte `F` (see below)              |
//! | 4      | k    | key id body (`k` = 16 in the compact forms)            |
//! | 4+k    | 32   | backing key id (which key version encrypted this)      |
//! | 36+k   | 1    | algorithm, `0x01` = SYMMETRIC_DEFAULT (AES-256-GCM)    |
//! | 37+k   | 1    | layer kind: `0x00` single, `0x01` external key store   |
//! | 38+k   | 12   | nonce of the inner AES-256-GCM encryption              |
//!
//! Bytes `0 .. 50+k` are the *fixed header*. What follows depends on the
//! layer kind.
//!
//! **Single layer** (`0x00`, keys whose material lives in Strongroom): the
//! rest of the blob is the inner ciphertext (as long as the plaintext)
//! followed by its 16-byte tag. There is no length field: the blob ends
//! where the tag ends, so appended bytes make the tag check fail.
//!
//! **External layer** (`0x01`, external-key-store keys): the inner
//! ciphertext-and-tag was encrypted again by the external proxy, and only
//! that outer result is stored:
//!
//! | size | field                                                        |
//! |------|--------------------------------------------------------------|
//! | 1    | outer IV length, 12 or 16                                    |
//! | n    | outer IV                                                     |
//! | 1    | proxy ciphertext metadata length, 0 ..= 20                   |
//! | m    | proxy ciphertext metadata                                    |
//! | 2    | outer ciphertext length `L`, 16 ..= 65535                    |
//! | L    | outer ciphertext (the proxy's encryption of inner ct + tag)  |
//! | 16   | outer authentication tag                                     |
//!
//! Nothing may follow the outer tag.
//!
//! # Key id field
//!
//! The form byte `F` selects how the KMS key id is stored:
//!
//! * `0x81`: a key id of the canonical UUID form
//!   `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lowercase hex), stored as its
//!   16 raw bytes.
//! * `0x82`: a multi-Region key id `mrk-` + 32 lowercase hex digits, stored
//!   as the 16 bytes those digits encode.
//! * `0x01 ..= 0x40`: any other key id, stored as `F` bytes of printable
//!   ASCII (`0x21 ..= 0x7e`). A key id that fits one of the compact forms is
//!   always stored compactly, so each key id has exactly one encoding; the
//!   parser rejects the text form of a compactable id.
//! * any other value is invalid.
//!
//! Every key id used by the KMS today is compact, which keeps the single
//! layer overhead at 82 bytes (fixed header 66 + tag 16). The longest text
//! form key id (64 bytes) gives 130 bytes.
//!
//! # Authentication
//!
//! The inner AES-256-GCM encryption uses as associated data the fixed
//! header followed by the canonical encoding of the encryption context
//! ([`crate::encode_encryption_context`]). The fixed header is
//! self-delimiting, so the concatenation is unambiguous. Changing any header
//! field, or decrypting with a different context, fails the tag check. The
//! external layer's fields are protected by the proxy's own encryption.
//!
//! Nonces are 96 random bits per encryption, so one backing key should not
//! encrypt more than about 2^32 messages (NIST SP 800-38D). A very busy KMS
//! key needs a new backing key (rotation) before it gets there.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{Aad, Nonce};
use zeroize::Zeroizing;

use crate::key::random_array;
use crate::reader::Reader;
use crate::{context, hex, CryptoError, KeyMaterial, PreparedKey, BACKING_KEY_ID_LEN};

/// The two magic bytes at the start of every blob.
pub const BLOB_MAGIC: [u8; 2] = *b"SR";
/// The blob format version this crate writes and reads.
pub const BLOB_FORMAT_VERSION: u8 = 0x01;
/// Longest key id accepted in text form.
pub const MAX_KEY_ID_LEN: usize = 64;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length (inner and outer layer).
pub const TAG_LEN: usize = 16;
/// Longest external-key-store ciphertext metadata.
pub const MAX_EXTERNAL_METADATA_LEN: usize = 20;

const KEY_ID_UUID: u8 = 0x81;
const KEY_ID_MRK: u8 = 0x82;
const LAYER_SINGLE: u8 = 0x00;
const LAYER_EXTERNAL: u8 = 0x01;
/// Highest form byte meaning "text key id of this many bytes".
const MAX_TEXT_KEY_ID_FORM: u8 = 64;
const _: () = assert!(MAX_TEXT_KEY_ID_FORM as usize == MAX_KEY_ID_LEN);
const MRK_PREFIX: &str = "mrk-";
/// Raw length of a compact key id.
const COMPACT_KEY_ID_LEN: usize = 16;
/// Text length of both compact key id forms.
const COMPACT_KEY_ID_TEXT_LEN: usize = 36;

/// The symmetric algorithm of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SYMMETRIC_DEFAULT: AES-256-GCM with a 96-bit random nonce.
    SymmetricDefault,
}

impl Algorithm {
    const fn wire(self) -> u8 {
        match self {
            Self::SymmetricDefault => 0x01,
        }
    }

    const fn from_wire(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(Self::SymmetricDefault),
            _ => None,
        }
    }
}

/// How the inner ciphertext is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// Only Strongroom's AES-256-GCM layer (AWS_KMS origin keys).
    Single,
    /// The inner ciphertext was encrypted again by an external key store
    /// proxy; the blob stores that outer ciphertext.
    External(ExternalLayer),
}

/// The external key store proxy's parameters for the outer layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLayer {
    /// The proxy's IV, 12 or 16 bytes.
    pub iv: Vec<u8>,
    /// The proxy's ciphertext metadata, 0 to 20 bytes.
    pub metadata: Vec<u8>,
    /// The proxy's authentication tag.
    pub tag: [u8; TAG_LEN],
}

impl ExternalLayer {
    fn validate(&self) -> Result<(), CryptoError> {
        let iv_ok = matches!(self.iv.len(), 12 | 16);
        if iv_ok && self.metadata.len() <= MAX_EXTERNAL_METADATA_LEN {
            Ok(())
        } else {
            Err(CryptoError::InvalidExternalLayer)
        }
    }
}

/// Everything a blob says about itself, readable without any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// The KMS key id (not an ARN or alias).
    pub key_id: String,
    /// The backing key (key material version) that encrypted the blob.
    pub backing_key_id: [u8; BACKING_KEY_ID_LEN],
    /// The algorithm of the inner layer.
    pub algorithm: Algorithm,
    /// The protection layer and, for external keys, the outer layer fields.
    pub layer: Layer,
    /// The inner layer's nonce.
    pub nonce: [u8; NONCE_LEN],
}

/// A parsed blob: its header plus borrowed views of the authenticated
/// header bytes and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBlob<'a> {
    header: BlobHeader,
    fixed_header: &'a [u8],
    payload: &'a [u8],
}

impl<'a> ParsedBlob<'a> {
    /// The decoded header.
    pub fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// Takes the decoded header.
    pub fn into_header(self) -> BlobHeader {
        self.header
    }

    /// The KMS key id named by the blob.
    pub fn key_id(&self) -> &str {
        &self.header.key_id
    }

    /// The backing key id named by the blob.
    pub fn backing_key_id(&self) -> &[u8; BACKING_KEY_ID_LEN] {
        &self.header.backing_key_id
    }

    /// The protection layer.
    pub fn layer(&self) -> &Layer {
        &self.header.layer
    }

    /// The fixed header bytes (magic through nonce), which are bound into
    /// the inner layer's associated data.
    pub fn fixed_header(&self) -> &'a [u8] {
        self.fixed_header
    }

    /// For a single-layer blob, the inner ciphertext followed by its tag;
    /// for an external-layer blob, the outer ciphertext (without the outer
    /// tag, which is in [`ExternalLayer::tag`]).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// How a key id is written into the header.
enum KeyIdRepr<'a> {
    Compact(u8, [u8; COMPACT_KEY_ID_LEN]),
    Text(&'a [u8]),
}

impl<'a> KeyIdRepr<'a> {
    /// Chooses the canonical representation, or rejects the key id.
    fn of(key_id: &'a str) -> Result<Self, CryptoError> {
        if let Some(raw) = compact_uuid(key_id) {
            return Ok(Self::Compact(KEY_ID_UUID, raw));
        }
        if let Some(raw) = compact_mrk(key_id) {
            return Ok(Self::Compact(KEY_ID_MRK, raw));
        }
        let bytes = key_id.as_bytes();
        if (1..=MAX_KEY_ID_LEN).contains(&bytes.len()) && bytes.iter().all(|&b| is_key_id_char(b)) {
            Ok(Self::Text(bytes))
        } else {
            Err(CryptoError::InvalidKeyId)
        }
    }

    /// Encoded size including the form byte.
    fn encoded_len(&self) -> usize {
        1 + match self {
            Self::Compact(..) => COMPACT_KEY_ID_LEN,
            Self::Text(t) => t.len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Compact(form, raw) => {
                out.push(*form);
                out.extend_from_slice(raw);
            }
            Self::Text(t) => {
                // `of` limits text ids to MAX_KEY_ID_LEN (64) bytes.
                out.push(u8::try_from(t.len()).unwrap_or(0));
                out.extend_from_slice(t);
            }
        }
    }
}

fn is_key_id_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// The 16 bytes of a canonical lowercase UUID string.
fn compact_uuid(s: &str) -> Option<[u8; COMPACT_KEY_ID_LEN]> {
    let b = s.as_bytes();
    if b.len() != COMPACT_KEY_ID_TEXT_LEN {
        return None;
    }
    let mut digits = [0u8; 2 * COMPACT_KEY_ID_LEN];
    let mut n = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
        } else {
            *digits.get_mut(n)? = c;
            n += 1;
        }
    }
    hex::decode_lower_array(&digits)
}

/// The 16 bytes of `mrk-` + 32 lowercase hex digits.
fn compact_mrk(s: &str) -> Option<[u8; COMPACT_KEY_ID_LEN]> {
    hex::decode_lower_array(s.strip_prefix(MRK_PREFIX)?.as_bytes())
}

fn uuid_text(raw: &[u8; COMPACT_KEY_ID_LEN]) -> String {
    let mut s = String::with_capacity(COMPACT_KEY_ID_TEXT_LEN);
    for (i, byte) in raw.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        hex::encode_into(std::slice::from_ref(byte), &mut s);
    }
    s
}

fn mrk_text(raw: &[u8; COMPACT_KEY_ID_LEN]) -> String {
    let mut s = String::with_capacity(COMPACT_KEY_ID_TEXT_LEN);
    s.push_str(MRK_PREFIX);
    hex::encode_into(raw, &mut s);
    s
}

fn fixed_header_len(key_id: &KeyIdRepr<'_>) -> usize {
    BLOB_MAGIC.len() + 1 + key_id.encoded_len() + BACKING_KEY_ID_LEN + 1 + 1 + NONCE_LEN
}

fn write_fixed_header(
    out: &mut Vec<u8>,
    key_id: &KeyIdRepr<'_>,
    backing_key_id: &[u8; BACKING_KEY_ID_LEN],
    algorithm: Algorithm,
    layer_kind: u8,
    nonce: &[u8; NONCE_LEN],
) {
    out.extend_from_slice(&BLOB_MAGIC);
    out.push(BLOB_FORMAT_VERSION);
    key_id.write(out);
    out.extend_from_slice(backing_key_id);
    out.push(algorithm.wire());
    out.push(layer_kind);
    out.extend_from_slice(nonce);
}

/// Length of the external layer's fields after the fixed header.
fn external_tail_len(layer: &ExternalLayer, outer_ciphertext: &[u8]) -> usize {
    1 + layer.iv.len() + 1 + layer.metadata.len() + 2 + outer_ciphertext.len() + TAG_LEN
}

fn write_external_tail(
    out: &mut Vec<u8>,
    layer: &ExternalLayer,
    outer_ciphertext: &[u8],
) -> Result<(), CryptoError> {
    layer.validate()?;
    let iv_len = u8::try_from(layer.iv.len()).map_err(|_| CryptoError::InvalidExternalLayer)?;
    let md_len =
        u8::try_from(layer.metadata.len()).map_err(|_| CryptoError::InvalidExternalLayer)?;
    let ct_len =
        u16::try_from(outer_ciphertext.len()).map_err(|_| CryptoError::InvalidExternalLayer)?;
    if outer_ciphertext.len() < TAG_LEN {
        return Err(CryptoError::InvalidExternalLayer);
    }
    out.push(iv_len);
    out.extend_from_slice(&layer.iv);
    out.push(md_len);
    out.extend_from_slice(&layer.metadata);
    out.extend_from_slice(&ct_len.to_be_bytes());
    out.extend_from_slice(outer_ciphertext);
    out.extend_from_slice(&layer.tag);
    Ok(())
}

/// Serializes a header and payload without any cryptography: for a single
/// layer, `payload` is the inner ciphertext and tag (at least 16 bytes);
/// for an external layer, it is the outer ciphertext (16 to 65535 bytes).
/// `parse_blob(&encode_blob(h, p)?)` gives back `h` and `p`.
pub fn encode_blob(header: &BlobHeader, payload: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key_id = KeyIdRepr::of(&header.key_id)?;
    let (kind, tail_len) = match &header.layer {
        Layer::Single => {
            if payload.len() < TAG_LEN {
                return Err(CryptoError::InvalidCiphertext);
            }
            (LAYER_SINGLE, payload.len())
        }
        Layer::External(ext) => (LAYER_EXTERNAL, external_tail_len(ext, payload)),
    };
    let mut out = Vec::with_capacity(fixed_header_len(&key_id).saturating_add(tail_len));
    write_fixed_header(
        &mut out,
        &key_id,
        &header.backing_key_id,
        header.algorithm,
        kind,
        &header.nonce,
    );
    match &header.layer {
        Layer::Single => out.extend_from_slice(payload),
        Layer::External(ext) => write_external_tail(&mut out, ext, payload)?,
    }
    Ok(out)
}

/// Parses any byte string as a blob. Never panics. Anything that is not a
/// well-formed blob of a version this crate knows is
/// [`CryptoError::InvalidCiphertext`]. No key is needed, so the key id and
/// backing key id can be read before looking up the key.
pub fn parse_blob(blob: &[u8]) -> Result<ParsedBlob<'_>, CryptoError> {
    parse(blob).ok_or(CryptoError::InvalidCiphertext)
}

fn parse(blob: &[u8]) -> Option<ParsedBlob<'_>> {
    let mut r = Reader::new(blob);
    if r.array::<2>()? != BLOB_MAGIC || r.u8()? != BLOB_FORMAT_VERSION {
        return None;
    }
    let key_id = parse_key_id(&mut r)?;
    let backing_key_id = r.array::<BACKING_KEY_ID_LEN>()?;
    let algorithm = Algorithm::from_wire(r.u8()?)?;
    let layer_kind = r.u8()?;
    let nonce = r.array::<NONCE_LEN>()?;
    let fixed_header = blob.get(..r.consumed())?;
    let (layer, payload) = match layer_kind {
        LAYER_SINGLE => {
            let payload = r.rest();
            if payload.len() < TAG_LEN {
                return None;
            }
            (Layer::Single, payload)
        }
        LAYER_EXTERNAL => {
            let iv_len = r.u8()?;
            if !matches!(iv_len, 12 | 16) {
                return None;
            }
            let iv = r.take(usize::from(iv_len))?.to_vec();
            let md_len = usize::from(r.u8()?);
            if md_len > MAX_EXTERNAL_METADATA_LEN {
                return None;
            }
            let metadata = r.take(md_len)?.to_vec();
            let ct_len = usize::from(r.u16_be()?);
            if ct_len < TAG_LEN {
                return None;
            }
            let payload = r.take(ct_len)?;
            let tag = r.array::<TAG_LEN>()?;
            let ext = ExternalLayer { iv, metadata, tag };
            (Layer::External(ext), payload)
        }
        _ => return None,
    };
    r.finish()?;
    Some(ParsedBlob {
        header: BlobHeader {
            key_id,
            backing_key_id,
            algorithm,
            layer,
            nonce,
        },
        fixed_header,
        payload,
    })
}

fn parse_key_id(r: &mut Reader<'_>) -> Option<String> {
    match r.u8()? {
        KEY_ID_UUID => Some(uuid_text(&r.array()?)),
        KEY_ID_MRK => Some(mrk_text(&r.array()?)),
        len @ 1..=MAX_TEXT_KEY_ID_FORM => {
            let bytes = r.take(usize::from(len))?;
            if !bytes.iter().all(|&b| is_key_id_char(b)) {
                return None;
            }
            let text = std::str::from_utf8(bytes).ok()?;
            // Only ids with no compact form may use the text form.
            if compact_uuid(text).is_some() || compact_mrk(text).is_some() {
                return None;
            }
            Some(text.to_owned())
        }
        _ => None,
    }
}

/// The inner layer's associated data: the fixed header, then the canonical
/// encryption context. Borrows the header when the context is empty.
fn inner_aad<'b>(
    fixed_header: &'b [u8],
    ctx: &BTreeMap<String, String>,
    scratch: &'b mut Vec<u8>,
) -> Result<&'b [u8], CryptoError> {
    if ctx.is_empty() {
        return Ok(fixed_header);
    }
    let ctx_len = context::encoded_len(ctx)?;
    scratch.reserve_exact(fixed_header.len().saturating_add(ctx_len));
    scratch.extend_from_slice(fixed_header);
    context::encode_into(ctx, scratch)?;
    Ok(scratch.as_slice())
}

/// Builds fixed header + inner ciphertext + tag in one buffer.
fn seal_inner(
    key: &PreparedKey,
    key_id: &str,
    backing_key_id: &[u8; BACKING_KEY_ID_LEN],
    layer_kind: u8,
    plaintext: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, usize), CryptoError> {
    let key_id = KeyIdRepr::of(key_id)?;
    // Validate the context before doing any work.
    context::encoded_len(ctx)?;
    let nonce: [u8; NONCE_LEN] = random_array()?;
    let header_len = fixed_header_len(&key_id);
    let total = header_len
        .checked_add(plaintext.len())
        .and_then(|n| n.checked_add(TAG_LEN))
        .ok_or(CryptoError::PlaintextTooLarge)?;
    let mut out = Vec::with_capacity(total);
    write_fixed_header(
        &mut out,
        &key_id,
        backing_key_id,
        Algorithm::SymmetricDefault,
        layer_kind,
        &nonce,
    );
    out.resize(total, 0);
    let (header, body) = out
        .split_at_mut_checked(header_len)
        .ok_or(CryptoError::Internal)?;
    let (ct, tag) = body
        .split_at_mut_checked(plaintext.len())
        .ok_or(CryptoError::Internal)?;
    let mut scratch = Vec::new();
    let aad = inner_aad(header, ctx, &mut scratch)?;
    key.aead()
        .seal_out_of_place_scatter(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            plaintext,
            ct,
            &[],
            tag,
        )
        .map_err(|_| CryptoError::Internal)?;
    Ok((out, header_len))
}

/// Opens inner ciphertext + tag under the given fixed header and context.
fn open_inner(
    key: &PreparedKey,
    fixed_header: &[u8],
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let ct_len = ciphertext_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CryptoError::InvalidCiphertext)?;
    let (ct, tag) = ciphertext_and_tag
        .split_at_checked(ct_len)
        .ok_or(CryptoError::InvalidCiphertext)?;
    let mut scratch = Vec::new();
    let aad = inner_aad(fixed_header, ctx, &mut scratch)?;
    let mut out = Zeroizing::new(vec![0u8; ct_len]);
    key.aead()
        .open_separate_gather(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            ct,
            tag,
            out.as_mut_slice(),
        )
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    Ok(out)
}

/// Encrypts `plaintext` into a single-layer blob under `material`, naming
/// `key_id` and `backing_key_id` in the header and binding the encryption
/// context. Builds the AES key schedule for this call only; hot paths should
/// cache a [`PreparedKey`] and use [`encrypt_blob_with`].
pub fn encrypt_blob(
    key_id: &str,
    backing_key_id: &[u8; BACKING_KEY_ID_LEN],
    material: &KeyMaterial,
    plaintext: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Result<Vec<u8>, CryptoError> {
    encrypt_blob_with(
        &PreparedKey::new(material)?,
        key_id,
        backing_key_id,
        plaintext,
        ctx,
    )
}

/// [`encrypt_blob`] with a prepared key. The output is exactly one
/// allocation of `plaintext.len() + overhead` bytes (overhead 82 for
/// compact key ids).
pub fn encrypt_blob_with(
    key: &PreparedKey,
    key_id: &str,
    backing_key_id: &[u8; BACKING_KEY_ID_LEN],
    plaintext: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Result<Vec<u8>, CryptoError> {
    seal_inner(key, key_id, backing_key_id, LAYER_SINGLE, plaintext, ctx).map(|(blob, _)| blob)
}

/// Decrypts a single-layer blob with the backing key material it names.
/// A wrong key, a different encryption context or any alteration gives
/// [`CryptoError::InvalidCiphertext`]; an external-layer blob gives
/// [`CryptoError::LayerMismatch`].
pub fn decrypt_blob(
    parsed: &ParsedBlob<'_>,
    material: &KeyMaterial,
    ctx: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    decrypt_blob_with(&PreparedKey::new(material)?, parsed, ctx)
}

/// [`decrypt_blob`] with a prepared key. Decrypts straight into the
/// returned buffer (one allocation; a second, small one for the associated
/// data only when the encryption context is not empty).
pub fn decrypt_blob_with(
    key: &PreparedKey,
    parsed: &ParsedBlob<'_>,
    ctx: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if parsed.header.layer != Layer::Single {
        return Err(CryptoError::LayerMismatch);
    }
    open_inner(
        key,
        parsed.fixed_header,
        &parsed.header.nonce,
        parsed.payload,
        ctx,
    )
}

/// The inner layer of an external-key-store ciphertext, made before the
/// proxy adds the outer layer. Send [`ExternalInner::inner_ciphertext`] to
/// the proxy, then assemble the blob with [`ExternalInner::into_blob`].
#[derive(Debug, Clone)]
pub struct ExternalInner {
    /// Fixed header followed by inner ciphertext and tag.
    buf: Vec<u8>,
    header_len: usize,
}

impl ExternalInner {
    /// The fixed header (bound into the inner layer's associated data).
    pub fn fixed_header(&self) -> &[u8] {
        self.buf.get(..self.header_len).unwrap_or_default()
    }

    /// The inner ciphertext followed by its tag: the plaintext for the
    /// proxy's encryption.
    pub fn inner_ciphertext(&self) -> &[u8] {
        self.buf.get(self.header_len..).unwrap_or_default()
    }

    /// Assembles the final blob from the proxy's result. The outer
    /// ciphertext must be as long as [`ExternalInner::inner_ciphertext`]
    /// (AES-GCM preserves length).
    pub fn into_blob(
        self,
        layer: &ExternalLayer,
        outer_ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if outer_ciphertext.len() != self.inner_ciphertext().len() {
            return Err(CryptoError::InvalidExternalLayer);
        }
        let mut out = self.buf;
        out.truncate(self.header_len);
        out.reserve_exact(external_tail_len(layer, outer_ciphertext));
        write_external_tail(&mut out, layer, outer_ciphertext)?;
        Ok(out)
    }
}

/// Makes the inner layer of an external-key-store blob (layer kind
/// external), to be encrypted again by the proxy.
pub fn seal_external_inner_with(
    key: &PreparedKey,
    key_id: &str,
    backing_key_id: &[u8; BACKING_KEY_ID_LEN],
    plaintext: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Result<ExternalInner, CryptoError> {
    if plaintext.len() > usize::from(u16::MAX) - TAG_LEN {
        return Err(CryptoError::PlaintextTooLarge);
    }
    let (buf, header_len) =
        seal_inner(key, key_id, backing_key_id, LAYER_EXTERNAL, plaintext, ctx)?;
    Ok(ExternalInner { buf, header_len })
}

/// Opens the inner layer of an external-key-store blob, given the inner
/// ciphertext and tag that the proxy recovered from
/// [`ParsedBlob::payload`].
pub fn open_external_inner_with(
    key: &PreparedKey,
    parsed: &ParsedBlob<'_>,
    inner_ciphertext: &[u8],
    ctx: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if !matches!(parsed.header.layer, Layer::External(_)) {
        return Err(CryptoError::LayerMismatch);
    }
    if inner_ciphertext.len() != parsed.payload.len() {
        return Err(CryptoError::InvalidCiphertext);
    }
    open_inner(
        key,
        parsed.fixed_header,
        &parsed.header.nonce,
        inner_ciphertext,
        ctx,
    )
}
