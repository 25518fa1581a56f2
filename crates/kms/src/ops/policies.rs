//! Key policies: stored and returned (GetKeyPolicy, PutKeyPolicy, ListKeyPolicies). Their
//! evaluation belongs to authorization.

use kms_api::wire::{
    GetKeyPolicyRequest, GetKeyPolicyResponse, ListKeyPoliciesRequest, ListKeyPoliciesResponse,
    PutKeyPolicyRequest, PutKeyPolicyResponse,
};
use kms_api::{ErrorCode, KmsError};

use crate::core::{rules, Access, Core};

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::new(
            ErrorCode::NotFoundException,
            "No such policy exists",
        )),
    }
}

pub(crate) fn get_key_policy(
    core: &Core,
    req: &GetKeyPolicyRequest,
    access: &Access<'_>,
) -> Result<GetKeyPolicyResponse, KmsError> {
    check_policy_name(req.policy_name.as_deref())?;
    let key = core.resolve(&req.key_id, access)?;
    Ok(GetKeyPolicyResponse {
        policy: Some(key.key.policy.clone()),
        policy_name: Some("default".to_string()),
    })
}

pub(crate) async fn put_key_policy(
    core: &Core,
    req: &PutKeyPolicyRequest,
    access: &Access<'_>,
) -> Result<PutKeyPolicyResponse, KmsError> {
    check_policy_name(req.policy_name.as_deref())?;
    let compiled = rules::checked_policy(&req.policy)?;
    let bypass = req.bypass_policy_lockout_safety_check == Some(true);
    core.mutate_key(&req.key_id, access, |k| {
        if !bypass {
            core.check_lockout(access, &compiled, &core.key_arn(k))?;
        }
        k.policy = req.policy.clone();
        Ok(())
    })
    .await?;
    Ok(PutKeyPolicyResponse {})
}

pub(crate) fn list_key_policies(
    core: &Core,
    req: &ListKeyPoliciesRequest,
    access: &Access<'_>,
) -> Result<ListKeyPoliciesResponse, KmsError> {
    core.resolve(&req.key_id, access)?;
    Ok(ListKeyPoliciesResponse {
        policy_names: Some(vec!["default".to_string()]),
        next_marker: None,
        truncated: Some(false),
    })
}
