//! Authorization of every request, as AWS KMS does it: the key policy, the caller's IAM identity
//! policies and the key's grants, with the condition keys of the request (`policy` crate),
//! computed from the typed request's facts.

use std::cell::OnceCell;
use std::sync::Arc;

use kms_api::{ErrorCode, KmsError, Operation};
use kms_model::Key;
use policy::{
    authorize, AllowedVia, AuthzResult, ContextKeys, ContextValue, Policy, RequestContext,
};

use super::access::Access;
use super::cache::CachedKey;
use super::rules;
use super::Core;

/// Condition keys of one request against one key, computed when a policy asks for them.
struct Conditions<'a> {
    access: &'a Access<'a>,
    key: Option<&'a CachedKey>,
    request_alias: Option<&'a str>,
    context_keys: OnceCell<Vec<String>>,
    tag_keys: OnceCell<Vec<String>>,
    grant_operations: OnceCell<Vec<String>>,
}

impl<'a> Conditions<'a> {
    fn new(
        access: &'a Access<'a>,
        key: Option<&'a CachedKey>,
        request_alias: Option<&'a str>,
    ) -> Self {
        Conditions {
            access,
            key,
            request_alias,
            context_keys: OnceCell::new(),
            tag_keys: OnceCell::new(),
            grant_operations: OnceCell::new(),
        }
    }

    fn record(&self) -> Option<&'a Key> {
        self.key.map(|k| &k.key)
    }

    /// Tags a request adds (CreateKey, TagResource), as (key, value).
    fn request_tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.access
            .facts
            .tags
            .iter()
            .map(|t| (t.tag_key.as_str(), t.tag_value.as_str()))
    }
}

fn text(s: &str) -> Option<ContextValue<'_>> {
    Some(ContextValue::String(s))
}

impl ContextKeys for Conditions<'_> {
    fn get(&self, name: &str) -> Option<ContextValue<'_>> {
        let facts = &self.access.facts;
        if let Some(k) = name.strip_prefix("kms:encryptioncontext:") {
            let ctx = facts.context_for(self.access.action)?;
            // Context keys are matched ignoring case, as AWS documents for this condition key.
            return ctx
                .iter()
                .find(|(ck, _)| ck.to_lowercase() == k)
                .map(|(_, v)| ContextValue::String(v));
        }
        if let Some(t) = name.strip_prefix("aws:resourcetag/") {
            let key = self.record()?;
            return key
                .tags
                .iter()
                .find(|tag| tag.key.to_lowercase() == t)
                .map(|tag| ContextValue::String(&tag.value));
        }
        if let Some(t) = name.strip_prefix("aws:requesttag/") {
            return self
                .request_tags()
                .find(|(tk, _)| tk.to_lowercase() == t)
                .map(|(_, v)| ContextValue::String(v));
        }
        let new_key = facts.new_key.filter(|_| self.key.is_none());
        match name {
            "kms:calleraccount" => text(self.access.caller.account.as_str()),
            "kms:encryptioncontextkeys" => {
                let ctx = facts.context_for(self.access.action)?;
                Some(ContextValue::Strings(
                    self.context_keys
                        .get_or_init(|| ctx.keys().cloned().collect()),
                ))
            }
            "kms:encryptionalgorithm" => facts.encryption_algorithm.and_then(|a| text(a.as_str())),
            "kms:keyorigin" => match (self.record(), new_key) {
                (Some(k), _) => text(k.origin.as_str()),
                (None, Some(n)) => text(n.origin.as_str()),
                _ => None,
            },
            "kms:keyspec" | "kms:customermasterkeyspec" => match (self.record(), new_key) {
                (Some(k), _) => text(k.spec().as_str()),
                (None, Some(n)) => text(n.spec.as_str()),
                _ => None,
            },
            "kms:keyusage" | "kms:customermasterkeyusage" => match (self.record(), new_key) {
                (Some(k), _) => text(k.usage().as_str()),
                (None, Some(n)) => text(n.usage.as_str()),
                _ => None,
            },
            "kms:multiregion" => match (self.record(), new_key) {
                (Some(k), _) => Some(ContextValue::Bool(k.id.is_multi_region())),
                (None, Some(n)) => n.multi_region.map(ContextValue::Bool),
                _ => None,
            },
            "kms:bypasspolicylockoutsafetycheck" => facts.bypass_lockout.map(ContextValue::Bool),
            "kms:schedulekeydeletionpendingwindowindays" => facts
                .pending_window_days
                .map(|d| ContextValue::Number(f64::from(d))),
            "kms:rotationperiodindays" => facts
                .rotation_period_days
                .map(|d| ContextValue::Number(f64::from(d))),
            "kms:grantoperations" => {
                let g = facts.grant?;
                Some(ContextValue::Strings(self.grant_operations.get_or_init(
                    || {
                        g.operations
                            .iter()
                            .map(|o| o.as_str().to_string())
                            .collect()
                    },
                )))
            }
            "kms:granteeprincipal" => facts.grant?.grantee_principal.as_deref().and_then(text),
            "kms:retiringprincipal" => facts.grant?.retiring_principal.as_deref().and_then(text),
            "kms:grantisforawsresource" if self.access.op == Operation::CreateGrant => {
                Some(ContextValue::Bool(false))
            }
            "kms:grantconstrainttype" => {
                let c = facts.grant?.constraints.as_ref()?;
                if c.encryption_context_equals.is_some() {
                    text("EncryptionContextEquals")
                } else if c.encryption_context_subset.is_some() {
                    text("EncryptionContextSubset")
                } else {
                    None
                }
            }
            "kms:requestalias" => self.request_alias.map(ContextValue::String),
            "kms:resourcealiases" => {
                let key = self.key?;
                if key.aliases.is_empty() {
                    None
                } else {
                    Some(ContextValue::Strings(&key.aliases))
                }
            }
            "kms:replicaregion" => facts.replica_region.and_then(text),
            "kms:primaryregion" => facts.primary_region.and_then(text),
            "kms:datakeypairspec" => facts.key_pair_spec.and_then(|s| text(s.as_str())),
            "kms:messagetype" => facts.message_type.and_then(|m| text(m.as_str())),
            "kms:reencryptonsamekey" => self.access.reencrypt_same_key.map(ContextValue::Bool),
            "aws:tagkeys" => {
                let keys = self.tag_keys.get_or_init(|| match self.access.op {
                    Operation::UntagResource => facts.untag_keys.to_vec(),
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

impl Core {
    /// Authorizes `access` on `key` (key policy, identity policies, grants).
    pub fn authorize_key(
        &self,
        access: &Access<'_>,
        key: &CachedKey,
        request_alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let arn = &key.arn;
        access.trace.record(|d| {
            d.keys.push(Arc::clone(arn));
            if let (None, Some(ext)) = (&d.external, &key.key.external) {
                d.external = Some((ext.store.to_string(), ext.xks_key_id.clone()));
            }
        });
        let conditions = Conditions::new(access, Some(key), request_alias);
        let ctx = RequestContext::new(&access.caller.principal, access.action, arn, &conditions);
        let identity: Vec<&Policy> = access.caller.identity_policies.iter().collect();
        let grant = rules::matching_grant(access, key);
        let result = authorize(Some(&key.policy), &identity, grant.is_some(), &ctx);
        if result == AuthzResult::Allowed(AllowedVia::Grant) {
            access.trace.record(|d| d.grant = grant);
        }
        decide(result, &ctx, access)
    }

    /// Authorizes an operation on no key (CreateKey, ListKeys, GenerateRandom ...): IAM alone.
    pub fn authorize_without_key(&self, access: &Access<'_>) -> Result<(), KmsError> {
        self.authorize_resource(access, "*")
    }

    /// Authorizes an operation on a resource with no resource policy (an alias, a retiring
    /// principal): the caller's IAM policies alone decide.
    pub fn authorize_resource(&self, access: &Access<'_>, resource: &str) -> Result<(), KmsError> {
        let conditions = Conditions::new(access, None, None);
        let ctx = RequestContext::new(
            &access.caller.principal,
            access.action,
            resource,
            &conditions,
        );
        let identity: Vec<&Policy> = access.caller.identity_policies.iter().collect();
        decide(authorize(None, &identity, false, &ctx), &ctx, access)
    }

    /// The policy lockout safety check: refuses a key policy that would stop the caller from
    /// changing it again.
    pub fn check_lockout(
        &self,
        access: &Access<'_>,
        policy: &Policy,
        key_arn: &str,
    ) -> Result<(), KmsError> {
        let conditions = Conditions::new(access, None, None);
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

fn decide(
    result: AuthzResult,
    ctx: &RequestContext<'_>,
    access: &Access<'_>,
) -> Result<(), KmsError> {
    if let AuthzResult::Allowed(via) = result {
        access.trace.record(|d| d.allowed_via = Some(via));
        return Ok(());
    }
    let message = result
        .access_denied_message(ctx)
        .unwrap_or_else(|| format!("User is not authorized to perform: {}", ctx.action));
    Err(KmsError::new(ErrorCode::AccessDeniedException, message))
}
