//! The tamper evidence of an audit file (docs/audit.md): a header line, a SHA-256 chain through
//! every line after it, and digest lines that sign the chain with the server's Ed25519 key.
//!
//! Header and digest lines are single-member objects (`{"strongroomAuditHeader": ...}`,
//! `{"strongroomAuditDigest": ...}`), so a reader of CloudTrail records skips them by their one
//! key; every other line is a record.

use std::path::Path;

use aws_lc_rs::digest::{self, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The member naming a header line.
pub const HEADER_TAG: &str = "strongroomAuditHeader";
/// The member naming a digest line.
pub const DIGEST_TAG: &str = "strongroomAuditDigest";
/// The format version in headers.
pub const FORMAT_VERSION: u32 = 1;

const CHAIN_DOMAIN: &[u8] = b"strongroom-audit-chain-v1\n";
const DIGEST_DOMAIN: &str = "strongroom-audit-digest-v1";

/// The first line of every file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Header {
    pub format_version: u32,
    /// The file's place in the sequence: one more than the file before it.
    pub sequence: u64,
    /// When the file was started (`eventTime` form).
    pub created: String,
    /// The signing key's fingerprint ([`PublicKey::fingerprint`]).
    pub key_fingerprint: String,
    /// The file before this one, as its last digest left it; `None` for the first file.
    pub previous: Option<Previous>,
}

/// What a file's header says of the file before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Previous {
    pub sequence: u64,
    /// Whether that file was closed with a final digest (false: the writer stopped without
    /// closing it, a crash; records after its last digest are unsigned).
    pub closed: bool,
    /// Its last digest's record count, chain hash and signature; `None` if it has none.
    pub last_digest: Option<DigestRef>,
}

/// A digest, named by what it signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigestRef {
    pub records: u64,
    pub chain_hash: String,
    pub signature: String,
}

/// A signed digest line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Digest {
    /// The file's sequence number.
    pub sequence: u64,
    /// Records in the file before this line.
    pub records: u64,
    /// The chain hash after the line before this one (hex).
    pub chain_hash: String,
    /// When it was written (`eventTime` form).
    pub time: String,
    /// The file's last digest: the writer closed the file here.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub key_fingerprint: String,
    /// Ed25519 over [`Digest::signed_bytes`], base64.
    pub signature: String,
}

impl Digest {
    /// The bytes the signature covers: every member but the signature, in a fixed text form.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "{DIGEST_DOMAIN}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.sequence,
            self.records,
            self.chain_hash,
            self.time,
            self.is_final,
            self.key_fingerprint
        )
        .into_bytes()
    }

    /// This digest as a header's reference to it.
    pub fn as_ref(&self) -> DigestRef {
        DigestRef {
            records: self.records,
            chain_hash: self.chain_hash.clone(),
            signature: self.signature.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderLine {
    #[serde(rename = "strongroomAuditHeader")]
    header: Header,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestLine {
    #[serde(rename = "strongroomAuditDigest")]
    digest: Digest,
}

/// A header as its line (no newline).
pub fn header_line(h: &Header) -> Vec<u8> {
    serde_json::to_vec(&HeaderLine { header: h.clone() }).unwrap_or_default()
}

/// A digest as its line (no newline).
pub fn digest_line(d: &Digest) -> Vec<u8> {
    serde_json::to_vec(&DigestLine { digest: d.clone() }).unwrap_or_default()
}

/// What a line of a file is.
#[derive(Debug)]
pub enum Line {
    Header(Header),
    Digest(Digest),
    /// Anything else: a record (or garbage, which the chain catches).
    Record,
}

/// Classifies a line by its leading member.
pub fn parse_line(line: &[u8]) -> Line {
    let starts =
        |tag: &str| line.starts_with(b"{\"") && line.get(2..2 + tag.len()) == Some(tag.as_bytes());
    if starts(HEADER_TAG) {
        if let Ok(h) = serde_json::from_slice::<HeaderLine>(line) {
            return Line::Header(h.header);
        }
    } else if starts(DIGEST_TAG) {
        if let Ok(d) = serde_json::from_slice::<DigestLine>(line) {
            return Line::Digest(d.digest);
        }
    }
    Line::Record
}

/// The running SHA-256 chain of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain([u8; 32]);

impl Chain {
    /// The chain after a file's header line.
    pub fn start(header_line: &[u8]) -> Chain {
        let mut ctx = digest::Context::new(&SHA256);
        ctx.update(CHAIN_DOMAIN);
        ctx.update(header_line);
        Chain::from_digest(ctx.finish())
    }

    fn from_digest(d: digest::Digest) -> Chain {
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Chain(out)
    }

    /// Takes in the next line (without its newline).
    pub fn push(&mut self, line: &[u8]) {
        let mut ctx = digest::Context::new(&SHA256);
        ctx.update(&self.0);
        ctx.update(line);
        *self = Chain::from_digest(ctx.finish());
    }

    /// A chain at a signed value (to go on verifying after a section that did not match).
    pub fn from_hex(s: &str) -> Option<Chain> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Chain(out))
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

const PRIVATE_PEM: &str = "PRIVATE KEY";
const PUBLIC_PEM: &str = "PUBLIC KEY";
/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unpem(label: &str, text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let b64: Zeroizing<String> = Zeroizing::new(
        text.get(start..stop)?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    );
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// The server's audit signing key (Ed25519). Its private half never leaves this type.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.public.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key (for tests, and [`SigningKey::load_or_create`]).
    pub fn generate() -> Result<(SigningKey, Zeroizing<Vec<u8>>), String> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| "cannot generate the audit signing key".to_string())?;
        let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
        Ok((SigningKey::from_pkcs8(&pkcs8)?, pkcs8))
    }

    fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|_| "the audit signing key is not an Ed25519 PKCS#8 key".to_string())?;
        let public = PublicKey::from_raw(pair.public_key().as_ref())?;
        Ok(SigningKey { pair, public })
    }

    /// Reads the key at `path` (PEM PKCS#8, refused if others may read it), or creates it
    /// there (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                secret_files::check_secret_file(path, "audit signing key", false)?;
                let der = unpem(PRIVATE_PEM, &text)
                    .ok_or_else(|| format!("{} is not a PEM private key", path.display()))?;
                SigningKey::from_pkcs8(&der).map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, der) = SigningKey::generate()?;
                let text = Zeroizing::new(pem(PRIVATE_PEM, &der));
                write_new_file(path, text.as_bytes(), 0o600)?;
                Ok(key)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.sign(message).as_ref())
    }

    /// Signs a digest whose other members are set.
    pub fn sign_digest(&self, d: &mut Digest) {
        d.key_fingerprint = self.public.fingerprint.clone();
        d.signature = self.sign(&d.signed_bytes());
    }
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// An audit signing key's public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    raw: [u8; 32],
    /// SHA-256 of the raw key, hex: how digests name the key that signed them.
    pub fingerprint: String,
}

impl PublicKey {
    fn from_raw(raw: &[u8]) -> Result<PublicKey, String> {
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| "an Ed25519 public key is 32 bytes".to_string())?;
        Ok(PublicKey {
            raw,
            fingerprint: hex::encode(digest::digest(&SHA256, &raw)),
        })
    }

    /// From PEM SubjectPublicKeyInfo, as [`PublicKey::to_pem`] writes it (and OpenSSL reads).
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let der = unpem(PUBLIC_PEM, text).ok_or("not a PEM public key")?;
        match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            Some(raw) => PublicKey::from_raw(raw),
            None => Err("not an Ed25519 public key".to_string()),
        }
    }

    pub fn to_pem(&self) -> String {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.raw);
        pem(PUBLIC_PEM, &der)
    }

    /// Whether `d`'s signature is this key's over its members.
    pub fn verifies(&self, d: &Digest) -> bool {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(&d.signature) else {
            return false;
        };
        d.key_fingerprint == self.fingerprint
            && UnparsedPublicKey::new(&signature::ED25519, &self.raw)
                .verify(&d.signed_bytes(), &sig)
                .is_ok()
    }
}
