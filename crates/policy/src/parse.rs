//! Reading a policy document: JSON to validated, compiled statements.

use std::collections::HashSet;

use serde_json::{Map, Value as Json};

use crate::arn::ArnPattern;
use crate::condition::{parse_conditions, Condition};
use crate::error::{locate, ErrorKind, PolicyError};
use crate::principal::{string_list, PrincipalSet};
use crate::wildcard::{Pattern, Syntax};

/// Whether a policy is attached to a resource (a key policy: statements name their principals)
/// or to an identity (an IAM policy: statements apply to the identity and name no principal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A resource-based policy, such as a KMS key policy: `Principal` or `NotPrincipal` is
    /// required in every statement.
    Resource,
    /// An identity-based policy: `Principal` and `NotPrincipal` are forbidden.
    Identity,
}

/// The policy language version (`Version` element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`, or no `Version` element: `${...}` is literal text.
    V2008_10_17,
}

impl Version {
    /// The version as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// Whom a statement is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Principals {
    /// Identity-based policy: the identity it is attached to.
    Holder,
    /// `Principal`.
    Only(PrincipalSet),
    /// `NotPrincipal`.
    AllBut(PrincipalSet),
}

/// A compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principals: Principals,
    /// `NotAction` when true.
    pub(crate) not_action: bool,
    pub(crate) actions: Vec<Pattern>,
    /// `NotResource` when true.
    pub(crate) not_resource: bool,
    pub(crate) resources: Vec<ArnPattern>,
    pub(crate) conditions: Vec<Condition>,
}

/// A parsed, validated and compiled policy document. Cheap to evaluate, immutable, and safe to
/// share between threads.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

const TOP_LEVEL: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// A policy with no statements: it allows nothing.
    pub fn empty(kind: PolicyKind) -> Policy {
        Policy {
            kind,
            version: Version::V2012_10_17,
            id: None,
            statements: Vec::new(),
        }
    }

    /// Parses and validates `text` as a policy of `kind`, compiling every pattern.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let doc: Json = serde_json::from_str(text).map_err(|e| {
            PolicyError::new(
                ErrorKind::NotJson,
                format!("The policy is not valid JSON: {e}"),
            )
        })?;
        let Json::Object(doc) = doc else {
            return Err(PolicyError::new(
                ErrorKind::NotJson,
                "The policy must be a JSON object",
            ));
        };
        if let Some(unknown) = doc.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
            return Err(PolicyError::new(
                ErrorKind::UnknownElement,
                format!("The policy has an unknown element \"{unknown}\" (expected Version, Id and Statement)"),
            ));
        }
        let version = match doc.get("Version") {
            None => Version::V2008_10_17,
            Some(Json::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
            Some(Json::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
            Some(v) => {
                return Err(PolicyError::new(
                    ErrorKind::InvalidVersion,
                    format!("The policy Version {v} is not supported; use \"2012-10-17\""),
                ))
            }
        };
        let id = match doc.get("Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(PolicyError::new(
                    ErrorKind::InvalidId,
                    "The policy Id must be a string",
                ))
            }
        };
        let raw: Vec<&Json> = match doc.get("Statement") {
            None => {
                return Err(PolicyError::new(
                    ErrorKind::MissingStatement,
                    "The policy has no Statement element",
                ))
            }
            Some(Json::Array(list)) => list.iter().collect(),
            Some(obj @ Json::Object(_)) => vec![obj],
            Some(_) => {
                return Err(PolicyError::new(
                    ErrorKind::InvalidStatement,
                    "The policy Statement must be an object or a list of objects",
                ))
            }
        };
        let variables = version == Version::V2012_10_17;
        let mut sids = HashSet::new();
        let mut statements = Vec::with_capacity(raw.len());
        for (i, s) in raw.into_iter().enumerate() {
            let Json::Object(s) = s else {
                return Err(PolicyError::new(
                    ErrorKind::InvalidStatement,
                    format!("{}: a statement must be an object", locate(i, None)),
                ));
            };
            let st = parse_statement(s, i, kind, variables)?;
            if let Some(sid) = &st.sid {
                if !sids.insert(sid.clone()) {
                    return Err(PolicyError::new(
                        ErrorKind::DuplicateSid,
                        format!(
                            "{}: the Sid \"{sid}\" is used by another statement; statement IDs must be unique",
                            locate(i, Some(sid))
                        ),
                    ));
                }
            }
            statements.push(st);
        }
        Ok(Policy {
            kind,
            version,
            id,
            statements,
        })
    }

    /// Whether this is a resource-based or an identity-based policy.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The language version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// The `Sid`s of the statements that have one, in document order.
    pub fn sids(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().filter_map(|s| s.sid.as_deref())
    }
}

fn err(kind: ErrorKind, at: &str, msg: impl std::fmt::Display) -> PolicyError {
    PolicyError::new(kind, format!("{at}: {msg}"))
}

fn parse_statement(
    s: &Map<String, Json>,
    index: usize,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let sid = match s.get("Sid") {
        None => None,
        Some(Json::String(sid)) => Some(sid.clone()),
        Some(_) => {
            return Err(err(
                ErrorKind::InvalidSid,
                &locate(index, None),
                "Sid must be a string",
            ))
        }
    };
    let at = locate(index, sid.as_deref());
    if let Some(unknown) = s.keys().find(|k| !STATEMENT_ELEMENTS.contains(&k.as_str())) {
        return Err(err(
            ErrorKind::UnknownStatementElement,
            &at,
            format!("unknown element \"{unknown}\""),
        ));
    }
    let effect = match s.get("Effect") {
        None => return Err(err(ErrorKind::MissingEffect, &at, "missing Effect")),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => {
            return Err(err(
                ErrorKind::InvalidEffect,
                &at,
                format!("Effect must be \"Allow\" or \"Deny\", not {e}"),
            ))
        }
    };
    let principals = match (s.get("Principal"), s.get("NotPrincipal"), kind) {
        (Some(_), Some(_), _) => {
            return Err(err(
                ErrorKind::PrincipalConflict,
                &at,
                "a statement cannot have both Principal and NotPrincipal",
            ))
        }
        (Some(_), None, PolicyKind::Identity) | (None, Some(_), PolicyKind::Identity) => {
            return Err(err(
                ErrorKind::PrincipalNotAllowed,
                &at,
                "an identity-based policy must not specify a Principal or NotPrincipal",
            ))
        }
        (None, None, PolicyKind::Identity) => Principals::Holder,
        (None, None, PolicyKind::Resource) => {
            return Err(err(
                ErrorKind::MissingPrincipal,
                &at,
                "a key policy statement must have a Principal or NotPrincipal",
            ))
        }
        (Some(p), None, PolicyKind::Resource) => {
            Principals::Only(PrincipalSet::parse(p, "Principal", &at)?)
        }
        (None, Some(p), PolicyKind::Resource) => {
            Principals::AllBut(PrincipalSet::parse(p, "NotPrincipal", &at)?)
        }
    };
    let (not_action, raw_actions) = match (s.get("Action"), s.get("NotAction")) {
        (Some(_), Some(_)) => {
            return Err(err(
                ErrorKind::ActionConflict,
                &at,
                "a statement cannot have both Action and NotAction",
            ))
        }
        (None, None) => {
            return Err(err(
                ErrorKind::MissingAction,
                &at,
                "a statement must have an Action or NotAction",
            ))
        }
        (Some(a), None) => (false, a),
        (None, Some(a)) => (true, a),
    };
    let element = if not_action { "NotAction" } else { "Action" };
    let actions = string_list(raw_actions)
        .ok_or_else(|| {
            err(
                ErrorKind::InvalidAction,
                &at,
                format!("{element} must be a string or a non-empty list of strings"),
            )
        })?
        .into_iter()
        .map(|a| compile_action(a, &at))
        .collect::<Result<Vec<_>, _>>()?;
    let (not_resource, raw_resources) = match (s.get("Resource"), s.get("NotResource")) {
        (Some(_), Some(_)) => {
            return Err(err(
                ErrorKind::ResourceConflict,
                &at,
                "a statement cannot have both Resource and NotResource",
            ))
        }
        (None, None) => {
            return Err(err(
                ErrorKind::MissingResource,
                &at,
                "a statement must have a Resource or NotResource",
            ))
        }
        (Some(r), None) => (false, r),
        (None, Some(r)) => (true, r),
    };
    let element = if not_resource {
        "NotResource"
    } else {
        "Resource"
    };
    let resources = string_list(raw_resources)
        .ok_or_else(|| {
            err(
                ErrorKind::InvalidResource,
                &at,
                format!("{element} must be a string or a non-empty list of strings"),
            )
        })?
        .into_iter()
        .map(|r| {
            if r == "*" || r.starts_with("arn:") {
                Ok(ArnPattern::new(r, variables))
            } else {
                Err(err(
                    ErrorKind::InvalidResource,
                    &at,
                    format!("{element} \"{r}\" must be \"*\" or an ARN"),
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c, variables, &at)?,
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        not_action,
        actions,
        not_resource,
        resources,
        conditions,
    })
}

/// `*`, or `service:action` where the service prefix is letters, digits and hyphens and the
/// action may hold `*` and `?`. Matching ignores case.
fn compile_action(a: &str, at: &str) -> Result<Pattern, PolicyError> {
    let syntax = Syntax {
        wildcards: true,
        variables: false,
        fold: true,
    };
    if a == "*" {
        return Ok(Pattern::new(a, syntax));
    }
    let valid = match a.split_once(':') {
        Some((service, action)) => {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !action.is_empty()
                && !action.contains(':')
                && !action.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        return Err(err(
            ErrorKind::InvalidAction,
            at,
            format!("invalid action \"{a}\": actions are \"*\" or \"service:Action\", such as \"kms:Encrypt\" or \"kms:*\""),
        ));
    }
    Ok(Pattern::new(a, syntax))
}
