//! Key policies: stored and returned (GetKeyPolicy, PutKeyPolicy, ListKeyPolicies). Their evaluation
//! belongs to the authorization layer.

use kms_api::types::{
    Empty, GetKeyPolicyRequest, GetKeyPolicyResponse, KeyPagingRequest, ListKeyPoliciesResponse,
    PutKeyPolicyRequest,
};
use kms_api::{ErrorCode, KmsError};

use crate::authz::compile_key_policy;
use crate::keys::StateRule;
use crate::resolve::Naming;
use crate::{Access, Kms, KmsConfig};
use policy::Policy;

/// AWS's limit on a key policy document.
const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The policy CreateKey gives a key when the caller names none: the account may do everything,
/// which delegates access to the account's IAM policies.
pub(crate) fn default_policy(cfg: &KmsConfig, account: &str) -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:{}:iam::{account}:root", cfg.partition) },
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Checks a key policy document (size, then the policy language) and compiles it.
pub(crate) fn checked_policy(policy: String) -> Result<(String, Policy), KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(KmsError::new(
            ErrorCode::LimitExceededException,
            format!(
                "The key policy is {} bytes; the limit is {MAX_POLICY_BYTES}.",
                policy.len()
            ),
        ));
    }
    let compiled = compile_key_policy(&policy)?;
    Ok((policy, compiled))
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::new(
            ErrorCode::NotFoundException,
            "No such policy exists",
        )),
    }
}

impl Kms {
    pub(crate) fn get_key_policy(
        &self,
        req: GetKeyPolicyRequest,
        caller: &Access<'_>,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let key = self.resolve(&req.key_id, caller, Naming::KeyOnly)?;
        Ok(GetKeyPolicyResponse {
            policy: key.record.policy.clone(),
            policy_name: "default".to_string(),
        })
    }

    pub(crate) async fn put_key_policy(
        &self,
        req: PutKeyPolicyRequest,
        caller: &Access<'_>,
    ) -> Result<Empty, KmsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let (text, compiled) = checked_policy(req.policy)?;
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        self.mutate_key(&req.key_id, caller, StateRule::NotPendingDeletion, |r| {
            if !bypass {
                self.check_lockout(caller, &compiled, &self.arn_of(r))?;
            }
            r.policy = text;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) fn list_key_policies(
        &self,
        req: KeyPagingRequest,
        caller: &Access<'_>,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.resolve(&req.key_id, caller, Naming::KeyOnly)?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec!["default".to_string()],
            next_marker: None,
            truncated: false,
        })
    }
}
