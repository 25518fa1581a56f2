//! Key policies: stored and returned (GetKeyPolicy, PutKeyPolicy, ListKeyPolicies). Their evaluation
//! belongs to the authorization layer.

use kms_api::types::{
    Empty, GetKeyPolicyRequest, GetKeyPolicyResponse, KeyPagingRequest, ListKeyPoliciesResponse,
    PutKeyPolicyRequest,
};
use kms_api::{ErrorCode, KmsError, Operation};

use crate::keys::StateRule;
use crate::resolve::Naming;
use crate::{Caller, Kms, KmsConfig};

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

/// Checks what can be checked of a policy without evaluating it: size, JSON, a statement list.
pub(crate) fn checked_policy(policy: String) -> Result<String, KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(KmsError::new(
            ErrorCode::LimitExceededException,
            format!(
                "The key policy is {} bytes; the limit is {MAX_POLICY_BYTES}.",
                policy.len()
            ),
        ));
    }
    let malformed =
        |why: &str| KmsError::new(ErrorCode::MalformedPolicyDocumentException, why.to_string());
    let doc: serde_json::Value = serde_json::from_str(&policy)
        .map_err(|_| malformed("The new key policy is not valid JSON."))?;
    let statement = doc
        .get("Statement")
        .ok_or_else(|| malformed("The policy has no Statement."))?;
    if !(statement.is_array() || statement.is_object()) {
        return Err(malformed(
            "The policy's Statement must be an object or a list of objects.",
        ));
    }
    Ok(policy)
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
        caller: &Caller,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let key = self.resolve(
            &req.key_id,
            caller,
            Naming::KeyOnly,
            Operation::GetKeyPolicy,
        )?;
        Ok(GetKeyPolicyResponse {
            policy: key.record.policy.clone(),
            policy_name: "default".to_string(),
        })
    }

    pub(crate) async fn put_key_policy(
        &self,
        req: PutKeyPolicyRequest,
        caller: &Caller,
    ) -> Result<Empty, KmsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let policy = checked_policy(req.policy)?;
        self.mutate_key(
            &req.key_id,
            caller,
            Operation::PutKeyPolicy,
            StateRule::NotPendingDeletion,
            |r| {
                r.policy = policy;
                Ok(())
            },
        )
        .await?;
        Ok(Empty {})
    }

    pub(crate) fn list_key_policies(
        &self,
        req: KeyPagingRequest,
        caller: &Caller,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.resolve(
            &req.key_id,
            caller,
            Naming::KeyOnly,
            Operation::ListKeyPolicies,
        )?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec!["default".to_string()],
            next_marker: None,
            truncated: false,
        })
    }
}
