//! Callers ([`Principal`]) and the `Principal` / `NotPrincipal` elements that name them.

use serde_json::Value as Json;

use crate::error::{ErrorKind, PolicyError};

/// What kind of identity made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// An unauthenticated caller.
    Anonymous,
    /// The root user of an account (`arn:aws:iam::111122223333:root`).
    Root,
    /// An IAM user (`arn:aws:iam::111122223333:user/alice`).
    User,
    /// A session of an IAM role (`arn:aws:sts::111122223333:assumed-role/Admin/session`).
    Role,
    /// An STS federated user (`arn:aws:sts::111122223333:federated-user/bob`).
    FederatedUser,
    /// An AWS service principal (`ec2.amazonaws.com`).
    Service,
}

/// The identity that made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// What kind of identity this is.
    pub kind: PrincipalKind,
    /// The caller's ARN: the user, root, assumed-role session or federated user ARN; the
    /// service name for [`PrincipalKind::Service`]; empty for anonymous callers.
    pub arn: String,
    /// The caller's 12-digit account; empty for services and anonymous callers.
    pub account: String,
    /// For a role session, the role's ARN (`arn:aws:iam::111122223333:role/path/Admin`), which
    /// key policies name to cover every session of the role.
    pub role_arn: Option<String>,
    /// The principal's tags (`aws:PrincipalTag/<key>`), keys compared ignoring case.
    pub tags: Vec<(String, String)>,
}

impl Principal {
    /// The root user of `account` in the `aws` partition.
    pub fn root(account: &str) -> Self {
        Principal {
            kind: PrincipalKind::Root,
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            role_arn: None,
            tags: Vec::new(),
        }
    }

    /// An IAM user, from its ARN (`arn:aws:iam::111122223333:user/path/alice`).
    pub fn user(arn: &str) -> Self {
        Principal {
            kind: PrincipalKind::User,
            arn: arn.to_string(),
            account: account_in_arn(arn).to_string(),
            role_arn: None,
            tags: Vec::new(),
        }
    }

    /// A session of a role: the session ARN
    /// (`arn:aws:sts::111122223333:assumed-role/Admin/session`) and the role ARN
    /// (`arn:aws:iam::111122223333:role/Admin`, with its path if it has one).
    pub fn role_session(session_arn: &str, role_arn: &str) -> Self {
        Principal {
            kind: PrincipalKind::Role,
            arn: session_arn.to_string(),
            account: account_in_arn(role_arn).to_string(),
            role_arn: Some(role_arn.to_string()),
            tags: Vec::new(),
        }
    }

    /// An STS federated user, from its ARN.
    pub fn federated_user(arn: &str) -> Self {
        Principal {
            kind: PrincipalKind::FederatedUser,
            arn: arn.to_string(),
            account: account_in_arn(arn).to_string(),
            role_arn: None,
            tags: Vec::new(),
        }
    }

    /// An AWS service (`ec2.amazonaws.com`).
    pub fn service(name: &str) -> Self {
        Principal {
            kind: PrincipalKind::Service,
            arn: name.to_string(),
            account: String::new(),
            role_arn: None,
            tags: Vec::new(),
        }
    }

    /// An unauthenticated caller.
    pub fn anonymous() -> Self {
        Principal {
            kind: PrincipalKind::Anonymous,
            arn: String::new(),
            account: String::new(),
            role_arn: None,
            tags: Vec::new(),
        }
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }

    /// The value of `aws:PrincipalArn`: the role ARN for a role session, else the caller's ARN.
    pub fn principal_arn(&self) -> Option<&str> {
        match self.kind {
            PrincipalKind::Anonymous | PrincipalKind::Service => None,
            PrincipalKind::Role => Some(self.role_arn.as_deref().unwrap_or(&self.arn)),
            _ => Some(&self.arn),
        }
    }

    /// The value of `aws:PrincipalType`.
    pub fn principal_type(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Anonymous => "Anonymous",
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::Role => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::Service => "Service",
        }
    }

    /// The value of `aws:username`: the friendly name of an IAM user.
    pub fn user_name(&self) -> Option<&str> {
        match self.kind {
            PrincipalKind::User => self.arn.rsplit('/').next(),
            _ => None,
        }
    }

    /// The tag `key` (compared ignoring case).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| crate::wildcard::eq_text(k, key, true))
            .map(|(_, v)| v.as_str())
    }
}

/// The account part of an ARN, or "" when there is none.
fn account_in_arn(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or("")
}

/// One principal named by a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    /// `"*"`, `{"AWS": "*"}`: everyone.
    Everyone,
    /// `"111122223333"` or `"arn:aws:iam::111122223333:root"`: the account, which covers every
    /// principal of that account.
    Account(String),
    /// `arn:aws:iam::…:user/…`.
    User(String),
    /// `arn:aws:iam::…:role/…`: the role and all its sessions.
    Role(String),
    /// Any other identity ARN (`assumed-role`, `federated-user`), matched exactly.
    Session(String),
    /// `{"Service": "…"}`.
    Service(String),
    /// `{"Federated": "…"}` or `{"CanonicalUser": "…"}`: identities this service never sees as
    /// callers, kept so that policies naming them parse.
    Other(String),
}

/// How a principal matched a `Principal` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// The element names the principal itself (or everyone).
    Direct,
    /// The element names the principal's account: the account's IAM policies decide.
    Account,
}

/// The parsed `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrincipalSet {
    named: Vec<Named>,
}

impl PrincipalSet {
    /// Parses the element's JSON; `at` locates the statement for messages.
    pub(crate) fn parse(value: &Json, element: &str, at: &str) -> Result<Self, PolicyError> {
        let invalid = |why: String| {
            PolicyError::new(
                ErrorKind::InvalidPrincipal,
                format!("{at}: {element} {why}"),
            )
        };
        let mut named = Vec::new();
        match value {
            Json::String(s) if s == "*" => named.push(Named::Everyone),
            Json::String(s) => {
                return Err(invalid(format!(
                    "must be \"*\" or an object such as {{\"AWS\": \"{s}\"}}"
                )))
            }
            Json::Object(map) => {
                if map.is_empty() {
                    return Err(invalid("names no principal".into()));
                }
                for (kind, ids) in map {
                    let ids = string_list(ids).ok_or_else(|| {
                        invalid(format!(
                            "\"{kind}\" must be a string or a non-empty list of strings"
                        ))
                    })?;
                    for id in ids {
                        let n = match kind.as_str() {
                            "AWS" => parse_aws(id).ok_or_else(|| {
                                invalid(format!("contains an invalid principal: \"{id}\""))
                            })?,
                            "Service" if valid_id(id) => Named::Service(id.to_string()),
                            "Federated" | "CanonicalUser" if valid_id(id) => {
                                Named::Other(id.to_string())
                            }
                            "Service" | "Federated" | "CanonicalUser" => {
                                return Err(invalid(format!(
                                    "contains an invalid principal: \"{id}\""
                                )))
                            }
                            other => {
                                return Err(invalid(format!(
                                    "has an unknown principal type \"{other}\" (expected AWS, Service, Federated or CanonicalUser)"
                                )))
                            }
                        };
                        named.push(n);
                    }
                }
            }
            _ => return Err(invalid("must be \"*\" or an object".into())),
        }
        Ok(PrincipalSet { named })
    }

    /// How `p` matches the element, if it does; a direct match wins over an account match.
    pub(crate) fn matches(&self, p: &Principal) -> Option<Match> {
        let mut best = None;
        for n in &self.named {
            match n {
                Named::Everyone => return Some(Match::Direct),
                Named::Account(a) if !p.account.is_empty() && *a == p.account => {
                    if p.kind == PrincipalKind::Root {
                        return Some(Match::Direct);
                    }
                    best = Some(Match::Account);
                }
                Named::User(arn) if p.kind == PrincipalKind::User && *arn == p.arn => {
                    return Some(Match::Direct)
                }
                Named::Role(arn)
                    if p.kind == PrincipalKind::Role
                        && (p.role_arn.as_deref() == Some(arn.as_str()) || *arn == p.arn) =>
                {
                    return Some(Match::Direct)
                }
                Named::Session(arn)
                    if matches!(p.kind, PrincipalKind::Role | PrincipalKind::FederatedUser)
                        && *arn == p.arn =>
                {
                    return Some(Match::Direct)
                }
                Named::Service(s)
                    if p.kind == PrincipalKind::Service && s.eq_ignore_ascii_case(&p.arn) =>
                {
                    return Some(Match::Direct)
                }
                Named::Other(s) if !p.arn.is_empty() && *s == p.arn => return Some(Match::Direct),
                _ => {}
            }
        }
        best
    }

    /// Whether `p` is excepted by a `NotPrincipal` element. AWS checks the principal's account
    /// first, then the role, then the session (or the user): each must be named for the
    /// principal to be excepted.
    pub(crate) fn excepts(&self, p: &Principal) -> bool {
        let named =
            |f: &dyn Fn(&Named) -> bool| self.named.iter().any(|n| *n == Named::Everyone || f(n));
        let account = || named(&|n| matches!(n, Named::Account(a) if *a == p.account));
        match p.kind {
            PrincipalKind::Anonymous => named(&|_| false),
            PrincipalKind::Service => {
                named(&|n| matches!(n, Named::Service(s) if s.eq_ignore_ascii_case(&p.arn)))
            }
            PrincipalKind::Root => account(),
            PrincipalKind::User => {
                account() && named(&|n| matches!(n, Named::User(a) if *a == p.arn))
            }
            PrincipalKind::FederatedUser => {
                account() && named(&|n| matches!(n, Named::Session(a) if *a == p.arn))
            }
            PrincipalKind::Role => {
                let role = p.role_arn.as_deref().unwrap_or(&p.arn);
                let role_named = named(&|n| matches!(n, Named::Role(a) if a == role));
                let session_named = p.role_arn.is_none()
                    || p.arn == role
                    || named(&|n| matches!(n, Named::Session(a) if *a == p.arn));
                account() && role_named && session_named
            }
        }
    }
}

/// A JSON string, or a non-empty list of them.
pub(crate) fn string_list(v: &Json) -> Option<Vec<&str>> {
    match v {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) if !items.is_empty() => items.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && !s.contains('*') && !s.chars().any(char::is_whitespace)
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An `AWS` principal: `*`, an account id, or an IAM/STS ARN. Wildcards inside a name are not
/// allowed.
fn parse_aws(id: &str) -> Option<Named> {
    if id == "*" {
        return Some(Named::Everyone);
    }
    if is_account_id(id) {
        return Some(Named::Account(id.to_string()));
    }
    if id.contains('*') || id.contains('?') || id.chars().any(char::is_whitespace) {
        return None;
    }
    let mut parts = id.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if partition.is_empty() || !is_account_id(account) || resource.is_empty() {
        return None;
    }
    let (kind, name) = resource.split_once('/').unwrap_or((resource, ""));
    match (service, kind) {
        ("iam", "root") if name.is_empty() => Some(Named::Account(account.to_string())),
        ("iam", "user") if !name.is_empty() => Some(Named::User(id.to_string())),
        ("iam", "role") if !name.is_empty() => Some(Named::Role(id.to_string())),
        ("sts", "assumed-role") if name.contains('/') => Some(Named::Session(id.to_string())),
        ("sts", "federated-user") if !name.is_empty() => Some(Named::Session(id.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_principals() {
        let ok: &[(&str, Named)] = &[
            ("*", Named::Everyone),
            ("111122223333", Named::Account("111122223333".into())),
            (
                "arn:aws:iam::111122223333:root",
                Named::Account("111122223333".into()),
            ),
            (
                "arn:aws-cn:iam::111122223333:root",
                Named::Account("111122223333".into()),
            ),
            (
                "arn:aws:iam::111122223333:user/alice",
                Named::User("arn:aws:iam::111122223333:user/alice".into()),
            ),
            (
                "arn:aws:iam::111122223333:user/path/alice",
                Named::User("arn:aws:iam::111122223333:user/path/alice".into()),
            ),
            (
                "arn:aws:iam::111122223333:role/Admin",
                Named::Role("arn:aws:iam::111122223333:role/Admin".into()),
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/Admin/s1",
                Named::Session("arn:aws:sts::111122223333:assumed-role/Admin/s1".into()),
            ),
        ];
        for (id, want) in ok {
            assert_eq!(parse_aws(id).as_ref(), Some(want), "{id}");
        }
        for id in [
            "",
            "11112222333",
            "1111222233334",
            "alice",
            "arn:aws:iam::111122223333:user/*",
            "arn:aws:iam::*:root",
            "arn:aws:iam::111122223333:group/devs",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:s3:::bucket",
            "arn:aws:sts::111122223333:assumed-role/Admin",
            "arn::iam::111122223333:root",
            "arn:aws:iam::abc:root",
        ] {
            assert_eq!(parse_aws(id), None, "{id:?}");
        }
    }
}
