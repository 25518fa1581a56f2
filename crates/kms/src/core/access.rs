//! Who is asking, for what, from where: the [`Access`] every operation and authorization
//! decision takes, and the [`Trace`] of what was decided (for the request's outcome).

use std::sync::Arc;

use kms_api::Operation;
use kms_model::{AccountId, GrantId, Region};
use policy::{AllowedVia, Policy};

use super::facts::RequestFacts;

/// An authenticated principal.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's account.
    pub account: AccountId,
    /// The caller's principal ARN (`arn:aws:iam::111122223333:user/alice`).
    pub principal_arn: String,
    /// The principal as policies see it (kind, ARN, account, tags).
    pub principal: policy::Principal,
    /// The caller's IAM identity policies, compiled.
    pub identity_policies: Arc<Vec<Policy>>,
}

impl Caller {
    /// An IAM user with the given identity policies.
    pub fn user(account: AccountId, name: &str, identity_policies: Vec<Policy>) -> Caller {
        let arn = format!("arn:aws:iam::{account}:user/{name}");
        Caller {
            account,
            principal: policy::Principal::user(&arn),
            principal_arn: arn,
            identity_policies: Arc::new(identity_policies),
        }
    }
}

/// Facts about the request and the connection it came on.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    /// The Region the request was signed for (the SigV4 credential scope).
    pub region: Region,
    /// The client's address, for `aws:SourceIp`.
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS, for `aws:SecureTransport`.
    pub secure_transport: bool,
    /// The request id the caller sees (`x-amzn-RequestId`), passed on to external key store
    /// proxies as `kmsRequestId`.
    pub request_id: String,
}

impl RequestOrigin {
    /// A request Strongroom makes of itself (`dev`'s setup): a fresh request id.
    pub fn internal(region: Region) -> RequestOrigin {
        RequestOrigin {
            region,
            source_ip: None,
            secure_transport: false,
            request_id: super::new_request_id(),
        }
    }
}

/// What authorization decided, for the request's outcome (and its audit record). A request is
/// one task, so the lock is never contended; it only makes the trace shareable across awaits.
#[derive(Debug, Default)]
pub(crate) struct Trace(std::sync::Mutex<Decisions>);

/// The decisions of one request.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    /// How the last authorization allowed the request.
    pub allowed_via: Option<AllowedVia>,
    /// The grant that allowed it, when one did.
    pub grant: Option<GrantId>,
    /// The ARNs of the keys authorized on, in order.
    pub keys: Vec<Arc<str>>,
    /// The external key store and external key of the first key in one.
    pub external: Option<(String, String)>,
    /// The key materials used, in order (ReEncrypt: source, then destination).
    pub key_materials: Vec<String>,
}

impl Trace {
    pub(crate) fn record(&self, f: impl FnOnce(&mut Decisions)) {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// What was decided.
    pub fn into_decisions(self) -> Decisions {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One caller doing one operation: what authorization looks at.
pub(crate) struct Access<'a> {
    /// The operation.
    pub op: Operation,
    /// The IAM action checked (`kms:Encrypt`; `kms:ReEncryptFrom`/`To` for ReEncrypt).
    pub action: &'static str,
    /// Who.
    pub caller: &'a Caller,
    /// What the request says.
    pub facts: RequestFacts<'a>,
    /// The time of the request, for `aws:CurrentTime`.
    pub now_ms: i64,
    /// Where the request came from (and its Region).
    pub origin: &'a RequestOrigin,
    /// For ReEncrypt: whether source and destination are the same key (`kms:ReEncryptOnSameKey`).
    pub reencrypt_same_key: Option<bool>,
    /// Decisions made, for the outcome.
    pub trace: &'a Trace,
}

impl std::ops::Deref for Access<'_> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        self.caller
    }
}

impl<'a> Access<'a> {
    /// The Region of the request.
    pub fn region(&self) -> &'a Region {
        &self.origin.region
    }

    /// The same access checked as another IAM action.
    pub fn with_action(&self, action: &'static str) -> Access<'a> {
        Access {
            op: self.op,
            action,
            caller: self.caller,
            facts: self.facts,
            now_ms: self.now_ms,
            origin: self.origin,
            reencrypt_same_key: self.reencrypt_same_key,
            trace: self.trace,
        }
    }

    /// The same access, knowing whether a ReEncrypt stays on one key.
    pub fn with_same_key(mut self, same: Option<bool>) -> Access<'a> {
        self.reencrypt_same_key = same;
        self
    }
}
