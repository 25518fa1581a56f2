//! The hand-written runtime of the generated decoder (`build/decode.rs` writes the per-shape code).
//!
//! A body is read in one pass with `serde_json::from_slice` into *raw* forms that accept any JSON
//! value, so that a member of the wrong type is noted rather than aborting the parse: the
//! reference validator (`crate::validate`) parses the whole body before it reports anything, so a
//! later syntax error must still win, and its type errors come in its walk order, not the body's.
//! Then the generated checks walk the raw forms in the validator's order, collect its messages,
//! and move the values into the typed request.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::types::{Blob, Timestamp};
use crate::validate::base64_decoded_len;
use crate::{ErrorCode, KmsError, Operation};

/// How a body is decoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions<'a> {
    /// Members whose pattern is not checked, named by their path as messages name them
    /// (`xksProxyUriEndpoint`): for callers that check those members themselves under a
    /// documented relaxation, as [`crate::validate_input_except_patterns`] allows.
    pub skip_patterns: &'a [&'a str],
}

impl DecodeOptions<'static> {
    /// Every constraint of the model.
    pub const STRICT: DecodeOptions<'static> = DecodeOptions { skip_patterns: &[] };
}

/// An enum of the model: the one place its wire names are spelled.
pub trait WireEnum:
    Copy + Eq + Ord + std::hash::Hash + fmt::Debug + fmt::Display + 'static
{
    /// The model's name of the enum shape (`KeySpec`).
    const SHAPE: &'static str;
    /// Every value, in the model's order.
    const ALL: &'static [Self];
    /// The wire name.
    fn as_str(self) -> &'static str;
    /// The value of a wire name; `None` for anything else.
    fn from_wire(wire: &str) -> Option<Self>;
}

/// The typed input of one operation.
pub trait WireRequest: Sized {
    /// The operation whose input this is.
    const OPERATION: Operation;
    /// Decodes a request body (see [`crate::wire::decode`]).
    fn decode(body: &[u8], opts: &DecodeOptions<'_>) -> Result<Self, KmsError>;
}

// Kept word for word with `crate::parse_body`; the differential test holds them equal.
const MALFORMED: &str =
    "Start of structure or map found where not expected, or the body is not valid JSON.";
const NOT_AN_OBJECT: &str = "The request body must be a JSON object.";

/// Decodes a whole body: the entry of every generated `decode`.
pub(crate) fn decode_body<S: RawFields, T>(
    body: &[u8],
    opts: &DecodeOptions<'_>,
    check: impl Fn(RawStruct<S>, &Path<'_>, &mut Cx<'_>) -> Result<Option<T>, KmsError>,
) -> Result<T, KmsError> {
    let raw = if body.iter().all(u8::is_ascii_whitespace) {
        RawStruct::Fields(S::default())
    } else {
        serde_json::from_slice::<RawStruct<S>>(body)
            .map_err(|_| KmsError::new(ErrorCode::SerializationException, MALFORMED))?
    };
    if !matches!(raw, RawStruct::Fields(_)) {
        return Err(KmsError::new(
            ErrorCode::SerializationException,
            NOT_AN_OBJECT,
        ));
    }
    let mut cx = Cx {
        violations: Vec::new(),
        deferred: None,
        skip: opts.skip_patterns,
    };
    let value = check(raw, &Path::Root, &mut cx)?;
    cx.finish(value)
}

// ---- Paths: built on the stack as the walk descends, rendered only for a message.

/// Where a value is, as messages name it: `tags.1.member.tagKey`, `encryptionContext.key`.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The body itself.
    Root,
    /// A member of a structure, by its message name (`keyId`).
    Member(&'a Path<'a>, &'static str),
    /// An item of a list, counted from 1.
    Item(&'a Path<'a>, usize),
    /// The keys of a map (AWS names them all `.key`).
    Key(&'a Path<'a>),
    /// The value of a map entry, named by its key as sent.
    Entry(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Path::Root => Ok(()),
            Path::Member(Path::Root, name) => f.write_str(name),
            Path::Member(parent, name) => write!(f, "{parent}.{name}"),
            Path::Item(parent, n) => write!(f, "{parent}.{n}.member"),
            Path::Key(parent) => write!(f, "{parent}.key"),
            Path::Entry(parent, key) => write!(f, "{parent}.{key}"),
        }
    }
}

fn serialization(what: &str, path: &Path<'_>) -> KmsError {
    let message = match path {
        Path::Root => what.to_string(),
        _ => format!("{what} at '{path}'"),
    };
    KmsError::new(ErrorCode::SerializationException, message)
}

// ---- The walk's state and the constraint checks.

/// What the walk has found so far.
pub(crate) struct Cx<'o> {
    /// Constraint violations, reported together.
    violations: Vec<String>,
    /// The first defect the reference validator lets through but no typed value can hold (a
    /// `null` list item or map value, base64 whose only fault is its padding): reported after the
    /// violations, as the typed decode that followed the validator reported it.
    deferred: Option<KmsError>,
    skip: &'o [&'o str],
}

/// How a message shows the offending value: sensitive strings, blobs and collections are not shown.
#[derive(Clone, Copy)]
enum Shown<'a> {
    Hidden,
    Text(&'a str),
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Hidden => f.write_str("Value"),
            Shown::Text(s) => write!(f, "Value '{s}'"),
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Cx<'_> {
    /// A required member is absent (or `null`).
    pub(crate) fn missing(&mut self, path: &Path<'_>) {
        self.violations.push(format!(
            "Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ));
    }

    fn violation(&mut self, shown: Shown<'_>, path: &Path<'_>, constraint: fmt::Arguments<'_>) {
        self.violations.push(format!(
            "{shown} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    fn defer(&mut self, error: KmsError) {
        self.deferred.get_or_insert(error);
    }

    fn lengths(
        &mut self,
        len: i64,
        min: Option<i64>,
        max: Option<i64>,
        shown: Shown<'_>,
        path: &Path<'_>,
    ) {
        if let Some(min) = min.filter(|m| len < *m) {
            self.violation(
                shown,
                path,
                format_args!("Member must have length greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|m| len > *m) {
            self.violation(
                shown,
                path,
                format_args!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// Length (in characters), enum membership (`known`) and pattern, in that order.
    fn text(&mut self, s: &str, known: bool, rule: &StrRule, path: &Path<'_>) {
        let shown = if rule.sensitive {
            Shown::Hidden
        } else {
            Shown::Text(s)
        };
        if rule.min.is_some() || rule.max.is_some() {
            self.lengths(count(s.chars().count()), rule.min, rule.max, shown, path);
        }
        if let Some(values) = rule.enum_values.filter(|_| !known) {
            self.violation(
                shown,
                path,
                format_args!("Member must satisfy enum value set: [{values}]"),
            );
        }
        if let Some(pattern) = &rule.pattern {
            let re: &Option<Regex> = pattern.re;
            if re.as_ref().is_some_and(|re| !re.is_match(s)) && !self.skips(path) {
                self.violation(
                    shown,
                    path,
                    format_args!(
                        "Member must satisfy regular expression pattern: {}",
                        pattern.text
                    ),
                );
            }
        }
    }

    fn skips(&self, path: &Path<'_>) -> bool {
        !self.skip.is_empty() && {
            let path = path.to_string();
            self.skip.contains(&path.as_str())
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, KmsError> {
        if !self.violations.is_empty() {
            let n = self.violations.len();
            let noun = if n == 1 { "error" } else { "errors" };
            return Err(KmsError::new(
                ErrorCode::ValidationException,
                format!(
                    "{n} validation {noun} detected: {}",
                    self.violations.join("; ")
                ),
            ));
        }
        if let Some(error) = self.deferred {
            return Err(error);
        }
        // Every way a check yields no value records a violation or a deferred error first.
        value.ok_or_else(|| KmsError::internal("A request decoded to no value."))
    }
}

/// The constraints of a string shape.
pub(crate) struct StrRule {
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// The wire names, joined as the message lists them.
    pub enum_values: Option<&'static str>,
    pub pattern: Option<Pattern>,
    pub sensitive: bool,
}

/// A model pattern, compiled on first use. One that does not compile is not checked, as in the
/// reference validator; a test keeps every pattern of the model compiling.
pub(crate) struct Pattern {
    pub text: &'static str,
    pub re: &'static LazyLock<Option<Regex>>,
}

/// The length constraints of a blob (bytes), list (items) or map (entries).
pub(crate) struct LenRule {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// The range of an integer shape.
pub(crate) struct IntRule {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

type Checked<T> = Result<Option<T>, KmsError>;

pub(crate) fn string(
    raw: RawStr,
    path: &Path<'_>,
    rule: &StrRule,
    cx: &mut Cx<'_>,
) -> Checked<String> {
    match raw {
        RawStr::Absent => Ok(None),
        RawStr::Wrong => Err(serialization(RawStr::EXPECTED, path)),
        RawStr::Str(s) => {
            cx.text(&s, true, rule, path);
            Ok(Some(s))
        }
    }
}

pub(crate) fn secret(
    raw: RawSecret,
    path: &Path<'_>,
    rule: &StrRule,
    cx: &mut Cx<'_>,
) -> Checked<Zeroizing<String>> {
    match raw {
        RawSecret::Absent => Ok(None),
        RawSecret::Wrong => Err(serialization(RawSecret::EXPECTED, path)),
        RawSecret::Str(s) => {
            cx.text(&s, true, rule, path);
            Ok(Some(s))
        }
    }
}

pub(crate) fn enumeration<E: WireEnum>(
    raw: RawEnum<E>,
    path: &Path<'_>,
    rule: &StrRule,
    cx: &mut Cx<'_>,
) -> Checked<E> {
    match raw {
        RawEnum::Absent => Ok(None),
        RawEnum::Wrong => Err(serialization(RawEnum::<E>::EXPECTED, path)),
        RawEnum::Known(e) => {
            cx.text(e.as_str(), true, rule, path);
            Ok(Some(e))
        }
        RawEnum::Unknown(s) => {
            cx.text(&s, false, rule, path);
            Ok(None)
        }
    }
}

pub(crate) fn blob(
    raw: RawBlob,
    path: &Path<'_>,
    rule: &LenRule,
    cx: &mut Cx<'_>,
) -> Checked<Blob> {
    match raw {
        RawBlob::Absent => Ok(None),
        RawBlob::Wrong => Err(serialization(RawBlob::EXPECTED, path)),
        RawBlob::NotBase64 => Err(serialization("Invalid base64", path)),
        RawBlob::Bytes(bytes) => {
            cx.lengths(count(bytes.len()), rule.min, rule.max, Shown::Hidden, path);
            Ok(Some(Blob(bytes)))
        }
        RawBlob::BadPadding(len) => {
            cx.lengths(count(len), rule.min, rule.max, Shown::Hidden, path);
            cx.defer(serialization("Invalid base64", path));
            Ok(None)
        }
    }
}

pub(crate) fn integer(
    raw: RawInt,
    path: &Path<'_>,
    rule: &IntRule,
    cx: &mut Cx<'_>,
) -> Checked<i32> {
    match raw {
        RawInt::Absent => Ok(None),
        RawInt::Wrong => Err(serialization(RawInt::EXPECTED, path)),
        RawInt::Int(n) => {
            let wide = i64::from(n);
            if let Some(min) = rule.min.filter(|m| wide < *m) {
                cx.violations.push(format!("Value '{n}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {min}"));
            }
            if let Some(max) = rule.max.filter(|m| wide > *m) {
                cx.violations.push(format!("Value '{n}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {max}"));
            }
            Ok(Some(n))
        }
    }
}

pub(crate) fn boolean(raw: RawBool, path: &Path<'_>, _cx: &mut Cx<'_>) -> Checked<bool> {
    match raw {
        RawBool::Absent => Ok(None),
        RawBool::Wrong => Err(serialization(RawBool::EXPECTED, path)),
        RawBool::Bool(b) => Ok(Some(b)),
    }
}

pub(crate) fn timestamp(raw: RawTime, path: &Path<'_>, _cx: &mut Cx<'_>) -> Checked<Timestamp> {
    match raw {
        RawTime::Absent => Ok(None),
        RawTime::Wrong => Err(serialization(RawTime::EXPECTED, path)),
        RawTime::Secs(s) => Ok(Some(Timestamp(s))),
    }
}

pub(crate) fn list<R: RawValue, T>(
    raw: RawList<R>,
    path: &Path<'_>,
    rule: &LenRule,
    cx: &mut Cx<'_>,
    item: impl Fn(R, &Path<'_>, &mut Cx<'_>) -> Checked<T>,
) -> Checked<Vec<T>> {
    let items = match raw {
        RawList::Absent => return Ok(None),
        RawList::Wrong => return Err(serialization(RawList::<R>::EXPECTED, path)),
        RawList::Items(items) => items,
    };
    cx.lengths(count(items.len()), rule.min, rule.max, Shown::Hidden, path);
    let mut out = Vec::with_capacity(items.len());
    let mut whole = true;
    for (i, raw) in items.into_iter().enumerate() {
        let at = Path::Item(path, i + 1);
        if raw.is_absent() {
            cx.defer(serialization(R::EXPECTED, &at));
            whole = false;
            continue;
        }
        match item(raw, &at, cx)? {
            Some(v) => out.push(v),
            None => whole = false,
        }
    }
    Ok(whole.then_some(out))
}

pub(crate) fn map<R: RawValue, T>(
    raw: RawMap<R>,
    path: &Path<'_>,
    rule: &LenRule,
    cx: &mut Cx<'_>,
    key: impl Fn(RawStr, &Path<'_>, &mut Cx<'_>) -> Checked<String>,
    value: impl Fn(R, &Path<'_>, &mut Cx<'_>) -> Checked<T>,
) -> Checked<BTreeMap<String, T>> {
    let entries = match raw {
        RawMap::Absent => return Ok(None),
        RawMap::Wrong => return Err(serialization(RawMap::<R>::EXPECTED, path)),
        RawMap::Entries(entries) => entries,
    };
    cx.lengths(
        count(entries.len()),
        rule.min,
        rule.max,
        Shown::Hidden,
        path,
    );
    let mut out = BTreeMap::new();
    let mut whole = true;
    for (k, v) in entries {
        let Some(k) = key(RawStr::Str(k), &Path::Key(path), cx)? else {
            whole = false;
            continue;
        };
        let at = Path::Entry(path, &k);
        if v.is_absent() {
            cx.defer(serialization(R::EXPECTED, &at));
            whole = false;
            continue;
        }
        match value(v, &at, cx)? {
            Some(v) => {
                out.insert(k, v);
            }
            None => whole = false,
        }
    }
    Ok(whole.then_some(out))
}

pub(crate) fn structure<S, T>(
    raw: RawStruct<S>,
    path: &Path<'_>,
    cx: &mut Cx<'_>,
    fields: impl Fn(S, &Path<'_>, &mut Cx<'_>) -> Checked<T>,
) -> Checked<T> {
    match raw {
        RawStruct::Absent => Ok(None),
        RawStruct::Wrong => Err(serialization(RawStruct::<S>::EXPECTED, path)),
        RawStruct::Fields(s) => fields(s, path, cx),
    }
}

/// Deserializes a generated enum from its wire name.
pub(crate) fn deserialize_enum<'de, D: Deserializer<'de>, E: WireEnum>(
    d: D,
) -> Result<E, D::Error> {
    struct WireName<E>(PhantomData<E>);
    impl<E: WireEnum> Visitor<'_> for WireName<E> {
        type Value = E;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} wire name", E::SHAPE)
        }
        fn visit_str<Er: de::Error>(self, v: &str) -> Result<E, Er> {
            E::from_wire(v).ok_or_else(|| Er::invalid_value(Unexpected::Str(v), &self))
        }
    }
    d.deserialize_str(WireName(PhantomData))
}

// ---- Raw forms: what a member was, before its shape's checks.

/// A raw form: absent (missing or `null`), of the wrong JSON type, or a value to check.
pub(crate) trait RawValue {
    /// The serialization message when it is of the wrong JSON type.
    const EXPECTED: &'static str;
    fn is_absent(&self) -> bool;
}

/// The members of a generated raw structure.
pub(crate) trait RawFields: Default {
    /// Wire names; a member's index here is its number in [`RawFields::read`].
    const MEMBERS: &'static [&'static str];
    /// Reads the value of member `member` from the map.
    fn read<'de, A: MapAccess<'de>>(&mut self, member: usize, map: &mut A) -> Result<(), A::Error>;
}

/// Reads and checks any JSON value, keeping nothing. Unknown members go through this rather than
/// `serde::de::IgnoredAny`, which skips strings without checking their UTF-8: a body the
/// reference path rejects as malformed must be rejected here too.
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key::<Skip>()?.is_some() {
        map.next_value::<Skip>()?;
    }
    Ok(())
}

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Skip, A::Error> {
        drain_seq(seq).map(|()| Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Skip, A::Error> {
        drain_map(map).map(|()| Skip)
    }
}

/// A JSON value read where a scalar is expected: the scalar, or that it was something else.
enum Leaf<'de> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Borrowed from the body unless it had escapes.
    Str(Cow<'de, str>),
    Compound,
}

struct LeafVisitor;

impl<'de> Visitor<'de> for LeafVisitor {
    type Value = Leaf<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Leaf<'de>, E> {
        Ok(Leaf::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Leaf<'de>, A::Error> {
        drain_seq(seq).map(|()| Leaf::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Leaf<'de>, A::Error> {
        drain_map(map).map(|()| Leaf::Compound)
    }
}

fn leaf<'de, D: Deserializer<'de>>(d: D) -> Result<Leaf<'de>, D::Error> {
    d.deserialize_any(LeafVisitor)
}

/// Declares a raw scalar form: its variants, its wrong-type message, and how a [`Leaf`] maps to it.
macro_rules! raw_scalar {
    ($(#[$doc:meta])* $name:ident { $($variant:ident $(($ty:ty))?),* } $expected:literal, |$leaf:ident| $convert:expr) => {
        $(#[$doc])*
        #[derive(Default)]
        pub(crate) enum $name {
            #[default]
            Absent,
            Wrong,
            $($variant $(($ty))?,)*
        }
        impl RawValue for $name {
            const EXPECTED: &'static str = $expected;
            fn is_absent(&self) -> bool {
                matches!(self, $name::Absent)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(match leaf(d)? {
                    Leaf::Null => $name::Absent,
                    $leaf => $convert,
                })
            }
        }
    };
}

raw_scalar!(
    /// A string member.
    RawStr { Str(String) } "Expected a string",
    |l| match l { Leaf::Str(s) => RawStr::Str(s.into_owned()), _ => RawStr::Wrong }
);

raw_scalar!(
    /// A sensitive string member: wiped on drop from the moment it is read.
    RawSecret { Str(Zeroizing<String>) } "Expected a string",
    |l| match l {
        Leaf::Str(s) => RawSecret::Str(Zeroizing::new(s.into_owned())),
        _ => RawSecret::Wrong,
    }
);

raw_scalar!(
    /// An integer member: a JSON integer that fits in 32 bits (anything else is the wrong type).
    RawInt { Int(i32) } "Expected an integer",
    |l| match l {
        Leaf::Int(n) => i32::try_from(n).map_or(RawInt::Wrong, RawInt::Int),
        Leaf::UInt(n) => i32::try_from(n).map_or(RawInt::Wrong, RawInt::Int),
        _ => RawInt::Wrong,
    }
);

raw_scalar!(
    /// A boolean member.
    RawBool { Bool(bool) } "Expected a boolean",
    |l| match l { Leaf::Bool(b) => RawBool::Bool(b), _ => RawBool::Wrong }
);

raw_scalar!(
    /// A timestamp member: any JSON number, seconds since the epoch.
    RawTime { Secs(f64) } "Expected a timestamp",
    |l| match l {
        Leaf::Int(n) => RawTime::Secs(n as f64),
        Leaf::UInt(n) => RawTime::Secs(n as f64),
        Leaf::Float(n) => RawTime::Secs(n),
        _ => RawTime::Wrong,
    }
);

raw_scalar!(
    /// A blob member, decoded from base64 as it is read (no copy of the text is kept).
    RawBlob {
        Bytes(Zeroizing<Vec<u8>>),
        NotBase64,
        BadPadding(usize)
    } "Expected a base64 string",
    |l| match l {
        Leaf::Str(text) => {
            let blob = decode_base64(&text);
            if let Cow::Owned(mut text) = text {
                text.zeroize();
            }
            blob
        }
        _ => RawBlob::Wrong,
    }
);

/// Decodes standard padded base64 into a buffer of the exact size that is wiped on drop. Text that
/// is not base64 at all (`NotBase64`) is told apart from text whose only fault is its padding or
/// trailing bits (`BadPadding`), which the reference validator lets through to the typed decode.
fn decode_base64(text: &str) -> RawBlob {
    // The size follows from the length and the padding; the decode checks the characters, and
    // only text it refuses is scanned again to tell the two faults apart.
    let b = text.as_bytes();
    let padding = b.iter().rev().take_while(|c| **c == b'=').count();
    if !b.len().is_multiple_of(4) || padding > 2 {
        return RawBlob::NotBase64;
    }
    let len = b.len() / 4 * 3 - padding;
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    match base64::engine::general_purpose::STANDARD.decode_slice(b, &mut bytes) {
        Ok(n) if n == len => RawBlob::Bytes(bytes),
        _ => match base64_decoded_len(text) {
            None => RawBlob::NotBase64,
            Some(len) => RawBlob::BadPadding(len),
        },
    }
}

/// An enum member: a known wire name, or the unknown string (for the message).
#[derive(Default)]
pub(crate) enum RawEnum<E> {
    #[default]
    Absent,
    Wrong,
    Known(E),
    Unknown(String),
}

impl<E> RawValue for RawEnum<E> {
    const EXPECTED: &'static str = "Expected a string";
    fn is_absent(&self) -> bool {
        matches!(self, RawEnum::Absent)
    }
}

impl<'de, E: WireEnum> Deserialize<'de> for RawEnum<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match leaf(d)? {
            Leaf::Null => RawEnum::Absent,
            Leaf::Str(s) => match E::from_wire(&s) {
                Some(e) => RawEnum::Known(e),
                None => RawEnum::Unknown(s.into_owned()),
            },
            _ => RawEnum::Wrong,
        })
    }
}

/// Visitor methods that make every scalar the wrong type (for lists, maps and structures).
macro_rules! scalars_are_wrong {
    ($value:ty) => {
        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok(<$value>::Wrong)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$value, E> {
            Ok(<$value>::Wrong)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$value, E> {
            Ok(<$value>::Wrong)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok(<$value>::Wrong)
        }
        fn visit_str<E>(self, _: &str) -> Result<$value, E> {
            Ok(<$value>::Wrong)
        }
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok(<$value>::Absent)
        }
    };
}

/// A list member; an item that is `null` is kept as an absent item.
#[derive(Default)]
pub(crate) enum RawList<R> {
    #[default]
    Absent,
    Wrong,
    Items(Vec<R>),
}

impl<R> RawValue for RawList<R> {
    const EXPECTED: &'static str = "Expected a JSON array";
    fn is_absent(&self) -> bool {
        matches!(self, RawList::Absent)
    }
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for RawList<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<R>(PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for V<R> {
            type Value = RawList<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_are_wrong!(RawList<R>);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawList<R>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<R>()? {
                    items.push(item);
                }
                Ok(RawList::Items(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawList<R>, A::Error> {
                drain_map(map).map(|()| RawList::Wrong)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A map member: entries in key order, the last of duplicate keys winning (as a JSON object
/// parsed into `serde_json::Value` has them).
#[derive(Default)]
pub(crate) enum RawMap<R> {
    #[default]
    Absent,
    Wrong,
    Entries(Vec<(String, R)>),
}

impl<R> RawValue for RawMap<R> {
    const EXPECTED: &'static str = "Expected a JSON object";
    fn is_absent(&self) -> bool {
        matches!(self, RawMap::Absent)
    }
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for RawMap<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<R>(PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for V<R> {
            type Value = RawMap<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_are_wrong!(RawMap<R>);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawMap<R>, A::Error> {
                drain_seq(seq).map(|()| RawMap::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMap<R>, A::Error> {
                let mut entries: Vec<(String, R)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<R>()?;
                    entries.push((key, value));
                }
                // A stable sort keeps duplicates in body order; the merge keeps the last one's
                // value in the first one's place.
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|later, kept| {
                    let same = later.0 == kept.0;
                    if same {
                        std::mem::swap(&mut later.1, &mut kept.1);
                    }
                    same
                });
                Ok(RawMap::Entries(entries))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A structure member (or the body): its raw members.
#[derive(Default)]
pub(crate) enum RawStruct<S> {
    #[default]
    Absent,
    Wrong,
    Fields(S),
}

impl<S> RawValue for RawStruct<S> {
    const EXPECTED: &'static str = "Expected a JSON object";
    fn is_absent(&self) -> bool {
        matches!(self, RawStruct::Absent)
    }
}

/// Finds a member's index by its wire name without allocating (`None`: not a member).
struct MemberIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for MemberIndex {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for MemberIndex {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|m| *m == v))
    }
}

impl<'de, S: RawFields> Deserialize<'de> for RawStruct<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(PhantomData<S>);
        impl<'de, S: RawFields> Visitor<'de> for V<S> {
            type Value = RawStruct<S>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            scalars_are_wrong!(RawStruct<S>);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawStruct<S>, A::Error> {
                drain_seq(seq).map(|()| RawStruct::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStruct<S>, A::Error> {
                let mut fields = S::default();
                // A member sent twice takes its last value, as in a parsed JSON object.
                while let Some(member) = map.next_key_seed(MemberIndex(S::MEMBERS))? {
                    match member {
                        Some(i) => fields.read(i, &mut map)?,
                        None => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(RawStruct::Fields(fields))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
