//! Why a policy document was rejected.

use std::fmt;

/// The class of problem that made a policy document invalid. The KMS maps every one of them to
/// `MalformedPolicyDocumentException`; the kind lets callers and tests tell them apart without
/// matching on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The document is not JSON, or not a JSON object.
    NotJson,
    /// A top-level element other than `Version`, `Id` and `Statement`.
    UnknownElement,
    /// `Version` is not `2012-10-17` or `2008-10-17`, or not a string.
    InvalidVersion,
    /// `Id` is not a string.
    InvalidId,
    /// No `Statement` element.
    MissingStatement,
    /// `Statement` is not an object or a list of objects.
    InvalidStatement,
    /// An element of a statement that the policy language does not know.
    UnknownStatementElement,
    /// `Sid` is not a string.
    InvalidSid,
    /// Two statements with the same `Sid`.
    DuplicateSid,
    /// A statement without `Effect`.
    MissingEffect,
    /// `Effect` other than `Allow` or `Deny`.
    InvalidEffect,
    /// A statement with neither `Action` nor `NotAction`.
    MissingAction,
    /// A statement with both `Action` and `NotAction`.
    ActionConflict,
    /// An action that is not `*` or `service:action`.
    InvalidAction,
    /// A statement with neither `Resource` nor `NotResource`.
    MissingResource,
    /// A statement with both `Resource` and `NotResource`.
    ResourceConflict,
    /// A resource that is not `*` or an ARN.
    InvalidResource,
    /// A statement of a resource-based policy with neither `Principal` nor `NotPrincipal`.
    MissingPrincipal,
    /// A statement with both `Principal` and `NotPrincipal`.
    PrincipalConflict,
    /// `Principal` or `NotPrincipal` in an identity-based policy.
    PrincipalNotAllowed,
    /// A principal that is not `*`, an account, or an IAM/STS ARN, or a malformed element.
    InvalidPrincipal,
    /// A `Condition` element that is not a map of operators to maps of keys to values.
    InvalidCondition,
    /// A condition operator the policy language does not know.
    UnknownConditionOperator,
    /// A condition value the operator cannot use (not a number, date, IP range, base64...).
    InvalidConditionValue,
}

/// A policy document that cannot be used, with a message that says what and where. The message
/// is meant to be returned to the client (as the `MalformedPolicyDocumentException` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    kind: ErrorKind,
    message: String,
}

impl PolicyError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PolicyError {
            kind,
            message: message.into(),
        }
    }

    /// The class of the problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as it should be shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Where in the document a statement is, for messages: `Statement 2 (Sid "Admins")`.
pub(crate) fn locate(index: usize, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("Statement {} (Sid \"{}\")", index + 1, sid),
        None => format!("Statement {}", index + 1),
    }
}
