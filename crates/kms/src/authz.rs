//! Authorization of every request, as AWS KMS does it: the key policy, the caller's IAM identity
//! policies and the key's grants, with the condition keys of the request (`policy` crate).

use std::cell::OnceCell;
use std::sync::Arc;

use kms_api::{ErrorCode, KmsError, Operation};
use policy::{authorize, AuthzResult, ContextKeys, ContextValue, Policy, RequestContext};
use serde_json::Value;
use store::legacy::KeyRecord;

use crate::{CachedKey, Kms};

/// An authenticated principal.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's account.
    pub account_id: String,
    /// The caller's principal ARN (`arn:aws:iam::111122223333:user/alice`).
    pub principal_arn: String,
    /// The principal as policies see it (kind, ARN, account, tags).
    pub principal: policy::Principal,
    /// The caller's IAM identity policies, compiled.
    pub identity_policies: Arc<Vec<Policy>>,
}

impl Caller {
    /// An IAM user with the given identity policies.
    pub fn user(account_id: &str, name: &str, identity_policies: Vec<Policy>) -> Caller {
        let arn = format!("arn:aws:iam::{account_id}:user/{name}");
        Caller {
            account_id: account_id.to_string(),
            principal: policy::Principal::user(&arn),
            principal_arn: arn,
            identity_policies: Arc::new(identity_policies),
        }
    }
}

/// One caller doing one operation: what authorization looks at.
pub struct Access<'a> {
    /// The operation.
    pub op: Operation,
    /// The IAM action checked (`kms:Encrypt`; `kms:ReEncryptFrom`/`To` for ReEncrypt).
    pub action: &'static str,
    /// Who.
    pub caller: &'a Caller,
    /// The validated request body, for request condition keys.
    pub request: &'a Value,
    /// The time of the request, for `aws:CurrentTime`.
    pub now_ms: i64,
    /// Where the request came from.
    pub origin: &'a RequestOrigin,
    /// For ReEncrypt: whether source and destination are the same key (`kms:ReEncryptOnSameKey`).
    pub reencrypt_same_key: Option<bool>,
}

/// Facts about the request and the connection it came on.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    /// The client's address, for `aws:SourceIp`.
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS, for `aws:SecureTransport`.
    pub secure_transport: bool,
    /// The request id the caller sees (`x-amzn-RequestId`), passed on to external key store
    /// proxies as `kmsRequestId`.
    pub request_id: String,
}

impl RequestOrigin {
    /// The origin of a call the service makes to itself (`strongroom dev`'s setup of its demo
    /// store): no connection, and a request id of its own, so the external key store proxy it
    /// reaches can log which KMS request caused its calls.
    pub fn internal() -> RequestOrigin {
        RequestOrigin {
            request_id: new_request_id(),
            ..RequestOrigin::default()
        }
    }
}

/// A new KMS request id: a random UUID, as AWS's `x-amzn-RequestId`.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl std::ops::Deref for Access<'_> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        self.caller
    }
}

impl<'a> Access<'a> {
    /// The same access checked as another IAM action.
    pub(crate) fn with_action(&self, action: &'static str) -> Access<'a> {
        Access {
            op: self.op,
            action,
            caller: self.caller,
            request: self.request,
            now_ms: self.now_ms,
            origin: self.origin,
            reencrypt_same_key: self.reencrypt_same_key,
        }
    }

    /// The same access, knowing whether a ReEncrypt stays on one key.
    pub(crate) fn with_same_key(mut self, same: Option<bool>) -> Access<'a> {
        self.reencrypt_same_key = same;
        self
    }
}

/// Operations AWS allows on a key of another account (named by its ARN).
pub(crate) fn allows_cross_account(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        CreateGrant
            | Decrypt
            | DescribeKey
            | Encrypt
            | GenerateDataKey
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | GenerateDataKeyWithoutPlaintext
            | GenerateMac
            | GetKeyRotationStatus
            | GetPublicKey
            | ListGrants
            | ReEncrypt
            | RetireGrant
            | RevokeGrant
            | Sign
            | Verify
            | VerifyMac
            | DeriveSharedSecret
    )
}

/// Whether an operation is authorized with a key policy; the others (no key) by IAM alone,
/// before the operation runs. ListRetirableGrants authorizes on its retiring principal itself.
pub(crate) fn uses_key_policy(op: Operation) -> bool {
    use Operation::*;
    !matches!(
        op,
        CreateKey
            | ListKeys
            | ListAliases
            | GenerateRandom
            | CreateCustomKeyStore
            | DescribeCustomKeyStores
            | ConnectCustomKeyStore
            | DisconnectCustomKeyStore
            | UpdateCustomKeyStore
            | DeleteCustomKeyStore
    )
}

/// Condition keys of one request against one key, computed when a policy asks for them.
struct Conditions<'a> {
    access: &'a Access<'a>,
    key: Option<&'a KeyRecord>,
    kms: &'a Kms,
    request_alias: Option<&'a str>,
    context_keys: OnceCell<Vec<String>>,
    tag_keys: OnceCell<Vec<String>>,
    grant_operations: OnceCell<Vec<String>>,
    resource_aliases: OnceCell<Vec<String>>,
}

fn str_at<'v>(v: &'v Value, member: &str) -> Option<&'v str> {
    v.get(member).and_then(Value::as_str)
}

impl<'a> Conditions<'a> {
    fn new(
        access: &'a Access<'a>,
        key: Option<&'a KeyRecord>,
        kms: &'a Kms,
        request_alias: Option<&'a str>,
    ) -> Self {
        Conditions {
            access,
            key,
            kms,
            request_alias,
            context_keys: OnceCell::new(),
            tag_keys: OnceCell::new(),
            grant_operations: OnceCell::new(),
            resource_aliases: OnceCell::new(),
        }
    }

    /// The encryption context this action is about (ReEncrypt has two).
    fn encryption_context(&self) -> Option<&'a serde_json::Map<String, Value>> {
        let member = match self.access.action {
            "kms:ReEncryptFrom" => "SourceEncryptionContext",
            "kms:ReEncryptTo" => "DestinationEncryptionContext",
            _ if self.access.op == Operation::CreateGrant => {
                let c = self.access.request.get("Constraints")?;
                return c
                    .get("EncryptionContextEquals")
                    .or_else(|| c.get("EncryptionContextSubset"))
                    .and_then(Value::as_object);
            }
            _ => "EncryptionContext",
        };
        self.access.request.get(member).and_then(Value::as_object)
    }

    /// Tags a request adds (CreateKey, TagResource), as (key, value).
    fn request_tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.access
            .request
            .get("Tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| Some((str_at(t, "TagKey")?, str_at(t, "TagValue")?)))
    }

    fn key_or_request(
        &self,
        record_field: impl Fn(&'a KeyRecord) -> &'a str,
        member: &str,
        default: &'static str,
    ) -> Option<ContextValue<'a>> {
        match self.key {
            Some(k) => Some(ContextValue::String(record_field(k))),
            None if self.access.op == Operation::CreateKey => Some(ContextValue::String(
                str_at(self.access.request, member).unwrap_or(default),
            )),
            None => None,
        }
    }
}

impl ContextKeys for Conditions<'_> {
    fn get(&self, name: &str) -> Option<ContextValue<'_>> {
        let req = self.access.request;
        if let Some(k) = name.strip_prefix("kms:encryptioncontext:") {
            let ctx = self.encryption_context()?;
            // Context keys are matched ignoring case, as AWS documents for this condition key.
            return ctx
                .iter()
                .find(|(ck, _)| ck.to_lowercase() == k)
                .and_then(|(_, v)| v.as_str())
                .map(ContextValue::String);
        }
        if let Some(t) = name.strip_prefix("aws:resourcetag/") {
            let key = self.key?;
            return key
                .tags
                .iter()
                .find(|(tk, _)| tk.to_lowercase() == t)
                .map(|(_, v)| ContextValue::String(v.as_str()));
        }
        if let Some(t) = name.strip_prefix("aws:requesttag/") {
            return self
                .request_tags()
                .find(|(tk, _)| tk.to_lowercase() == t)
                .map(|(_, v)| ContextValue::String(v));
        }
        match name {
            "kms:calleraccount" => Some(ContextValue::String(&self.access.caller.account_id)),
            "kms:encryptioncontextkeys" => {
                let ctx = self.encryption_context()?;
                Some(ContextValue::Strings(
                    self.context_keys
                        .get_or_init(|| ctx.keys().cloned().collect()),
                ))
            }
            "kms:encryptionalgorithm" => str_at(req, "EncryptionAlgorithm")
                .or_else(|| str_at(req, "SourceEncryptionAlgorithm"))
                .map(ContextValue::String),
            "kms:keyorigin" => self.key_or_request(|k| k.origin.as_str(), "Origin", "AWS_KMS"),
            "kms:keyspec" | "kms:customermasterkeyspec" => {
                self.key_or_request(|k| k.key_spec.as_str(), "KeySpec", "SYMMETRIC_DEFAULT")
            }
            "kms:keyusage" | "kms:customermasterkeyusage" => {
                self.key_or_request(|k| k.key_usage.as_str(), "KeyUsage", "ENCRYPT_DECRYPT")
            }
            "kms:multiregion" => match self.key {
                Some(_) => Some(ContextValue::Bool(false)),
                None => req
                    .get("MultiRegion")
                    .and_then(Value::as_bool)
                    .map(ContextValue::Bool),
            },
            "kms:bypasspolicylockoutsafetycheck" => req
                .get("BypassPolicyLockoutSafetyCheck")
                .and_then(Value::as_bool)
                .map(ContextValue::Bool),
            "kms:schedulekeydeletionpendingwindowindays"
                if self.access.op == Operation::ScheduleKeyDeletion =>
            {
                Some(ContextValue::Number(
                    req.get("PendingWindowInDays")
                        .and_then(Value::as_f64)
                        .unwrap_or(30.0),
                ))
            }
            "kms:grantoperations" => {
                let ops = req.get("Operations")?.as_array()?;
                Some(ContextValue::Strings(self.grant_operations.get_or_init(
                    || {
                        ops.iter()
                            .filter_map(|o| o.as_str().map(String::from))
                            .collect()
                    },
                )))
            }
            "kms:granteeprincipal" => str_at(req, "GranteePrincipal").map(ContextValue::String),
            "kms:retiringprincipal" => str_at(req, "RetiringPrincipal").map(ContextValue::String),
            "kms:grantisforawsresource" if self.access.op == Operation::CreateGrant => {
                Some(ContextValue::Bool(false))
            }
            "kms:grantconstrainttype" => {
                let c = req.get("Constraints")?;
                if c.get("EncryptionContextEquals").is_some() {
                    Some(ContextValue::String("EncryptionContextEquals"))
                } else if c.get("EncryptionContextSubset").is_some() {
                    Some(ContextValue::String("EncryptionContextSubset"))
                } else {
                    None
                }
            }
            "kms:requestalias" => self.request_alias.map(ContextValue::String),
            "kms:resourcealiases" => {
                let key = self.key?;
                let aliases = self
                    .resource_aliases
                    .get_or_init(|| self.kms.alias_names_of(&key.key_id));
                if aliases.is_empty() {
                    None
                } else {
                    Some(ContextValue::Strings(aliases))
                }
            }
            "kms:datakeypairspec" => str_at(req, "KeyPairSpec").map(ContextValue::String),
            "kms:messagetype" => str_at(req, "MessageType").map(ContextValue::String),
            "kms:reencryptonsamekey" => self.access.reencrypt_same_key.map(ContextValue::Bool),
            "aws:tagkeys" => {
                let keys = self.tag_keys.get_or_init(|| match self.access.op {
                    Operation::UntagResource => req
                        .get("TagKeys")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect(),
                    _ => self.request_tags().map(|(k, _)| k.to_string()).collect(),
                });
                if keys.is_empty()
                    && !matches!(
                        self.access.op,
                        Operation::TagResource | Operation::UntagResource | Operation::CreateKey
                    )
                {
                    None
                } else {
                    Some(ContextValue::Strings(keys))
                }
            }
            "aws:currenttime" => {
                time::OffsetDateTime::from_unix_timestamp(self.access.now_ms / 1000)
                    .ok()
                    .map(ContextValue::Date)
            }
            #[allow(clippy::cast_precision_loss)]
            "aws:epochtime" => Some(ContextValue::Number((self.access.now_ms / 1000) as f64)),
            "aws:sourceip" => self.access.origin.source_ip.map(ContextValue::Ip),
            "aws:securetransport" => Some(ContextValue::Bool(self.access.origin.secure_transport)),
            _ => None,
        }
    }
}

impl Kms {
    /// Authorizes `access` on `key` (key policy, identity policies, grants).
    pub(crate) fn authorize_key(
        &self,
        access: &Access<'_>,
        key: &CachedKey,
        request_alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let arn = self.arn_of(&key.record);
        let conditions = Conditions::new(access, Some(&key.record), self, request_alias);
        let ctx = RequestContext::new(&access.caller.principal, access.action, &arn, &conditions);
        let identity: Vec<&Policy> = access.caller.identity_policies.iter().collect();
        let grants_allow = self.grants_allow(access, key);
        decide(
            authorize(Some(&key.policy), &identity, grants_allow, &ctx),
            &ctx,
        )
    }

    /// Authorizes an operation on no key (CreateKey, ListKeys, GenerateRandom ...): IAM alone.
    pub(crate) fn authorize_without_key(&self, access: &Access<'_>) -> Result<(), KmsError> {
        self.authorize_resource(access, "*")
    }

    /// Authorizes an operation on a resource with no resource policy (an alias, a retiring
    /// principal): the caller's IAM policies alone decide.
    pub(crate) fn authorize_resource(
        &self,
        access: &Access<'_>,
        resource: &str,
    ) -> Result<(), KmsError> {
        let conditions = Conditions::new(access, None, self, None);
        let ctx = RequestContext::new(
            &access.caller.principal,
            access.action,
            resource,
            &conditions,
        );
        let identity: Vec<&Policy> = access.caller.identity_policies.iter().collect();
        decide(authorize(None, &identity, false, &ctx), &ctx)
    }

    /// The policy lockout safety check: refuses a key policy that would stop the caller from
    /// changing it again.
    pub(crate) fn check_lockout(
        &self,
        access: &Access<'_>,
        policy: &Policy,
        key_arn: &str,
    ) -> Result<(), KmsError> {
        let conditions = Conditions::new(access, None, self, None);
        let ctx = RequestContext::new(
            &access.caller.principal,
            "kms:PutKeyPolicy",
            key_arn,
            &conditions,
        );
        if policy::would_lock_out(policy, &ctx) {
            return Err(KmsError::new(
                ErrorCode::MalformedPolicyDocumentException,
                "The new key policy will not allow you to update the key policy in the future.",
            ));
        }
        Ok(())
    }
}

fn decide(result: AuthzResult, ctx: &RequestContext<'_>) -> Result<(), KmsError> {
    if result.is_allowed() {
        return Ok(());
    }
    let message = result
        .access_denied_message(ctx)
        .unwrap_or_else(|| format!("User is not authorized to perform: {}", ctx.action));
    Err(KmsError::new(ErrorCode::AccessDeniedException, message))
}

/// Compiles a key policy document: `MalformedPolicyDocumentException` with the parser's reason.
pub(crate) fn compile_key_policy(text: &str) -> Result<Policy, KmsError> {
    Policy::parse(text, policy::PolicyKind::Resource).map_err(|e| {
        KmsError::new(
            ErrorCode::MalformedPolicyDocumentException,
            e.message().to_string(),
        )
    })
}
