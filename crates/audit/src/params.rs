//! `requestParameters` and `responseElements`: a typed request (or response) as CloudTrail logs
//! it — member names camelCased the way CloudTrail does (`KeyId` → `keyId`, `AWSAccountId`
//! unchanged), and every member that carries data, key material or a credential left out.
//!
//! The request is serialized through [`Redacted`], a serializer adapter that drops the
//! [`SENSITIVE_MEMBERS`] by name before their values are ever read: a plaintext never leaves the
//! wiped buffer it was decoded into, not even into a temporary JSON tree.

use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// Members (the API model's names) never logged, wherever they appear: data, ciphertexts,
/// signatures and MACs, key material and import tokens, grant tokens, attestation documents and
/// key store credentials. `tests::every_sensitive_model_member_is_redacted` holds this list to
/// the model: every blob member and every member of a sensitive shape is here.
/// Sorted, for [`is_sensitive`]'s binary search.
pub const SENSITIVE_MEMBERS: &[&str] = &[
    // The credential's own members, should they ever appear outside its structure.
    "AccessKeyId",
    "AttestationDocument",
    "CiphertextBlob",
    "CiphertextForRecipient",
    "EncryptedKeyMaterial",
    "GrantToken",
    "GrantTokens",
    "ImportToken",
    "KeyStorePassword",
    "Mac",
    "Message",
    "Plaintext",
    "PrivateKeyCiphertextBlob",
    "PrivateKeyPlaintext",
    "PublicKey",
    "RawSecretAccessKey",
    "Recipient",
    "SharedSecret",
    "SharedSecretCiphertextBlob",
    "Signature",
    "SourceCiphertextBlob",
    "XksProxyAuthenticationCredential",
];

/// Whether a member is never logged.
pub fn is_sensitive(member: &str) -> bool {
    SENSITIVE_MEMBERS.binary_search(&member).is_ok()
}

/// A member name as CloudTrail writes it: the first letter lowercased, unless the name starts
/// with an acronym (two capitals), which stays as it is.
pub fn camel(member: &str) -> std::borrow::Cow<'_, str> {
    let mut chars = member.chars();
    match (chars.next(), chars.next()) {
        (Some(first), second)
            if first.is_ascii_uppercase() && !second.is_some_and(|c| c.is_ascii_uppercase()) =>
        {
            let mut out = String::with_capacity(member.len());
            out.push(first.to_ascii_lowercase());
            out.push_str(&member[first.len_utf8()..]);
            std::borrow::Cow::Owned(out)
        }
        _ => std::borrow::Cow::Borrowed(member),
    }
}

/// The CloudTrail form of a JSON response body of ours (AWS JSON 1.1): structure members
/// camelCased, sensitive ones dropped; `None` for an empty response (`{}`), which CloudTrail
/// logs as `null`. Responses of management operations hold no maps whose keys are data, so
/// every object's keys are member names.
pub fn response_elements(body: &[u8]) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match redact_value(value) {
        serde_json::Value::Object(o) if o.is_empty() => None,
        v => Some(v),
    }
}

fn redact_value(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.into_iter()
                .filter(|(k, _)| !is_sensitive(k))
                .map(|(k, v)| (camel(&k).into_owned(), redact_value(v)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(redact_value).collect())
        }
        v => v,
    }
}

/// Serializes `T` with its structures' members camelCased and the sensitive ones left out.
/// Maps (an encryption context) keep their keys: those are data, not member names.
pub struct Redacted<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Serialize for Redacted<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Adapter(s))
    }
}

struct Adapter<S>(S);

/// A compound serializer of the inner serializer, each value wrapped in [`Redacted`].
struct Compound<C>(C);

impl<S: Serializer> Serializer for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeMap>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.0.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.0.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.0.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.0.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.0.serialize_i64(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.0.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.0.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.0.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.0.serialize_u64(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.0.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        self.0.serialize_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.0.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.0.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Redacted(v))
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Redacted(v))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Redacted(v))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Compound)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Compound)
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Compound)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Compound)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(Compound)
    }
    // A structure becomes a map so that its members can take their camelCased names (a
    // struct's field names must be `'static`); JSON cannot tell the two apart.
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_map(None).map(Compound)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(Compound)
    }
}

impl<C: SerializeSeq> SerializeSeq for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_element(&Redacted(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_element(&Redacted(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_field(&Redacted(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: SerializeTupleVariant> SerializeTupleVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_field(&Redacted(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: SerializeMap> SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), C::Error> {
        self.0.serialize_key(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_value(&Redacted(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: SerializeMap> SerializeStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), C::Error> {
        if is_sensitive(key) {
            return Ok(());
        }
        self.0.serialize_entry(&camel(key), &Redacted(v))
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), C::Error> {
        Ok(())
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: SerializeStructVariant> SerializeStructVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), C::Error> {
        if is_sensitive(key) {
            return self.0.skip_field(key);
        }
        self.0.serialize_field(key, &Redacted(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}
