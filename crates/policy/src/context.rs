//! The request context: who asks, to do what, on which resource, and the condition keys of the
//! request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::principal::{Principal, PrincipalKind};
use crate::variables::VarSource;

/// A request the policies are evaluated against.
#[derive(Clone, Copy)]
pub struct RequestContext<'a> {
    /// Who makes the request.
    pub principal: &'a Principal,
    /// The action, `service:Operation` (`kms:Encrypt`); matched ignoring case.
    pub action: &'a str,
    /// The resource ARN (the key ARN), or `*` for operations on no resource (`kms:ListKeys`).
    pub resource: &'a str,
    /// The condition keys of the request (`kms:ViaService`, `aws:SourceIp`...). Keys about the
    /// principal (`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`,
    /// `aws:username`, `aws:PrincipalTag/<key>`, `aws:PrincipalIsAWSService`,
    /// `aws:PrincipalServiceName`) are derived from [`RequestContext::principal`] when these
    /// keys do not hold them.
    pub keys: &'a dyn ContextKeys,
}

impl<'a> RequestContext<'a> {
    /// A context.
    pub fn new(
        principal: &'a Principal,
        action: &'a str,
        resource: &'a str,
        keys: &'a dyn ContextKeys,
    ) -> Self {
        RequestContext {
            principal,
            action,
            resource,
            keys,
        }
    }

    /// The value of a condition key; `name` must be lower-cased (as [`Policy::parse`] stores
    /// them).
    ///
    /// [`Policy::parse`]: crate::Policy::parse
    pub(crate) fn lookup(&self, name: &str) -> Option<ContextValue<'a>> {
        if let Some(v) = self.keys.get(name) {
            return Some(v);
        }
        principal_key(self.principal, name)
    }
}

/// The principal's own condition keys.
fn principal_key<'p>(p: &'p Principal, name: &str) -> Option<ContextValue<'p>> {
    let rest = name.strip_prefix("aws:")?;
    let text = |s: Option<&'p str>| s.filter(|s| !s.is_empty()).map(ContextValue::String);
    match rest {
        "principalarn" => text(p.principal_arn()),
        "principalaccount" => text(Some(&p.account)),
        "principaltype" => Some(ContextValue::String(p.principal_type())),
        "username" => text(p.user_name()),
        "principalisawsservice" => Some(ContextValue::Bool(p.kind == PrincipalKind::Service)),
        "principalservicename" if p.kind == PrincipalKind::Service => text(Some(&p.arn)),
        _ => {
            let tag = rest.strip_prefix("principaltag/")?;
            p.tag(tag).map(ContextValue::String)
        }
    }
}

/// The value of a condition key in a request, borrowed from where it is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ContextValue<'a> {
    /// A string.
    String(&'a str),
    /// A multivalued key (`aws:TagKeys`, `kms:EncryptionContextKeys`...).
    Strings(&'a [String]),
    /// A boolean (`aws:SecureTransport`).
    Bool(bool),
    /// A number.
    Number(f64),
    /// A date (`aws:CurrentTime`).
    Date(OffsetDateTime),
    /// An IP address (`aws:SourceIp`).
    Ip(IpAddr),
    /// Bytes, for `BinaryEquals`.
    Binary(&'a [u8]),
}

/// Where condition keys are looked up. Key names are case-insensitive: `get` receives the name
/// lower-cased (with [`str::to_lowercase`]) and should compare it with keys lower-cased the same
/// way, as [`ContextMap`] does.
pub trait ContextKeys {
    /// The value of the key `name` (lower-cased), if the request has it.
    fn get(&self, name: &str) -> Option<ContextValue<'_>>;
}

/// A request without condition keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

impl ContextKeys for NoKeys {
    fn get(&self, _name: &str) -> Option<ContextValue<'_>> {
        None
    }
}

/// An owned condition key value, as kept by [`ContextMap`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    String(String),
    /// A multivalued key.
    Strings(Vec<String>),
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A date.
    Date(OffsetDateTime),
    /// An IP address.
    Ip(IpAddr),
    /// Bytes.
    Binary(Vec<u8>),
}

impl Value {
    /// The borrowed view.
    pub fn as_context_value(&self) -> ContextValue<'_> {
        match self {
            Value::String(s) => ContextValue::String(s),
            Value::Strings(v) => ContextValue::Strings(v),
            Value::Bool(b) => ContextValue::Bool(*b),
            Value::Number(n) => ContextValue::Number(*n),
            Value::Date(d) => ContextValue::Date(*d),
            Value::Ip(ip) => ContextValue::Ip(*ip),
            Value::Binary(b) => ContextValue::Binary(b),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::Strings(v)
    }
}

impl From<Vec<&str>> for Value {
    fn from(v: Vec<&str>) -> Self {
        Value::Strings(v.into_iter().map(str::to_string).collect())
    }
}

impl From<&[&str]> for Value {
    fn from(v: &[&str]) -> Self {
        Value::Strings(v.iter().map(|s| s.to_string()).collect())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n as f64)
    }
}

impl From<OffsetDateTime> for Value {
    fn from(d: OffsetDateTime) -> Self {
        Value::Date(d)
    }
}

impl From<IpAddr> for Value {
    fn from(ip: IpAddr) -> Self {
        Value::Ip(ip)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Binary(b)
    }
}

/// Condition keys in a hash map, names lower-cased on insertion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextMap {
    entries: HashMap<String, Value>,
}

impl ContextMap {
    /// An empty map.
    pub fn new() -> Self {
        ContextMap::default()
    }

    /// Sets `name` (any case) to `value`, replacing an earlier value.
    pub fn insert(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.entries.insert(name.to_lowercase(), value.into());
        self
    }

    /// Builder form of [`ContextMap::insert`].
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.insert(name, value);
        self
    }

    /// Removes `name` (any case).
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.entries.remove(&name.to_lowercase())
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl ContextKeys for ContextMap {
    fn get(&self, name: &str) -> Option<ContextValue<'_>> {
        self.entries.get(name).map(Value::as_context_value)
    }
}

impl VarSource for RequestContext<'_> {
    fn var(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.lookup(key)? {
            ContextValue::String(s) => Some(Cow::Borrowed(s)),
            // A multivalued key cannot be a variable, except when it holds one value.
            ContextValue::Strings([one]) => Some(Cow::Borrowed(one.as_str())),
            ContextValue::Strings(_) | ContextValue::Binary(_) => None,
            ContextValue::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            ContextValue::Number(n) => Some(Cow::Owned(n.to_string())),
            ContextValue::Date(d) => d
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
                .map(Cow::Owned),
            ContextValue::Ip(ip) => Some(Cow::Owned(ip.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keys_are_case_insensitive() {
        let m = ContextMap::new().with("kms:ViaService", "ec2.us-east-1.amazonaws.com");
        assert_eq!(
            m.get("kms:viaservice"),
            Some(ContextValue::String("ec2.us-east-1.amazonaws.com"))
        );
        assert_eq!(
            m.get("kms:ViaService"),
            None,
            "callers pass lower-cased names"
        );
    }

    #[test]
    fn principal_keys() {
        let p =
            Principal::user("arn:aws:iam::111122223333:user/path/alice").with_tag("Team", "blue");
        let keys = NoKeys;
        let ctx = RequestContext::new(&p, "kms:Encrypt", "*", &keys);
        fn s(v: &str) -> Option<ContextValue<'_>> {
            Some(ContextValue::String(v))
        }
        let cases: &[(&str, Option<ContextValue<'_>>)] = &[
            (
                "aws:principalarn",
                s("arn:aws:iam::111122223333:user/path/alice"),
            ),
            ("aws:principalaccount", s("111122223333")),
            ("aws:principaltype", s("User")),
            ("aws:username", s("alice")),
            ("aws:principaltag/team", s("blue")),
            ("aws:principaltag/other", None),
            ("aws:principalisawsservice", Some(ContextValue::Bool(false))),
            ("aws:principalservicename", None),
            ("aws:sourceip", None),
        ];
        for (k, want) in cases {
            assert_eq!(ctx.lookup(k), *want, "{k}");
        }
        let role = Principal::role_session(
            "arn:aws:sts::111122223333:assumed-role/Admin/s",
            "arn:aws:iam::111122223333:role/ops/Admin",
        );
        let ctx = RequestContext::new(&role, "kms:Encrypt", "*", &keys);
        assert_eq!(
            ctx.lookup("aws:principalarn"),
            s("arn:aws:iam::111122223333:role/ops/Admin")
        );
        assert_eq!(ctx.lookup("aws:principaltype"), s("AssumedRole"));
        assert_eq!(ctx.lookup("aws:username"), None);
        let root = Principal::root("111122223333");
        let ctx = RequestContext::new(&root, "kms:Encrypt", "*", &keys);
        assert_eq!(ctx.lookup("aws:principaltype"), s("Account"));
        let svc = Principal::service("ec2.amazonaws.com");
        let ctx = RequestContext::new(&svc, "kms:Encrypt", "*", &keys);
        assert_eq!(
            ctx.lookup("aws:principalservicename"),
            s("ec2.amazonaws.com")
        );
        assert_eq!(ctx.lookup("aws:principalaccount"), None);
        // Explicit keys win.
        let keys = ContextMap::new().with("aws:PrincipalType", "Custom");
        let ctx = RequestContext::new(&svc, "kms:Encrypt", "*", &keys);
        assert_eq!(ctx.lookup("aws:principaltype"), s("Custom"));
    }
}
