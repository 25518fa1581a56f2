//! The operation table: for each TrentService operation, the IAM action it needs, what it is
//! authorized against, whether it reaches keys of other accounts, which forms of `KeyId` it
//! accepts and the key states it works in. Dispatch and authorization read it; nothing else
//! restates these facts. (The condition keys of a request come from its typed body, see
//! [`super::facts`].)

use kms_api::Operation;

use super::states::StateRule;

/// What an operation is authorized against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authz {
    /// Its key: key policy, the caller's IAM policies and the key's grants.
    Key,
    /// No resource: the caller's IAM policies alone, before the operation runs.
    IamOnly,
    /// Resources of its own the operation authorizes itself: an alias and its keys (alias
    /// operations), the retiring principal (ListRetirableGrants).
    OwnResources,
}

/// Which forms of `KeyId` an operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// Key id or key ARN.
    KeyOnly,
    /// Key id, key ARN, alias name or alias ARN.
    KeyOrAlias,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpInfo {
    /// The IAM action (`kms:Encrypt`).
    pub action: &'static str,
    pub authz: Authz,
    /// Whether the operation may use a key of another account (named by its ARN).
    pub cross_account: bool,
    pub naming: Naming,
    /// The key states it works in.
    pub states: StateRule,
}

/// The row of `op`.
pub(crate) fn info(op: Operation) -> OpInfo {
    use Authz::*;
    use Naming::*;
    use Operation as O;
    use StateRule::*;
    let row = |authz, cross_account, naming, states| OpInfo {
        action: op.iam_action(),
        authz,
        cross_account,
        naming,
        states,
    };
    match op {
        // Cryptographic operations: Enabled keys, named by alias too, across accounts.
        O::Encrypt
        | O::Decrypt
        | O::ReEncrypt
        | O::GenerateDataKey
        | O::GenerateDataKeyWithoutPlaintext
        | O::GenerateDataKeyPair
        | O::GenerateDataKeyPairWithoutPlaintext
        | O::Sign
        | O::Verify
        | O::GenerateMac
        | O::VerifyMac
        | O::DeriveSharedSecret => row(Key, true, KeyOrAlias, Enabled),
        // AWS hands out the public key of a Disabled key too.
        O::GetPublicKey => row(Key, true, KeyOrAlias, Manageable),
        O::Encapsulate | O::Decapsulate => row(Key, false, KeyOrAlias, Enabled),
        O::DescribeKey => row(Key, true, KeyOrAlias, Any),
        // Management of one key, in its own account only.
        O::EnableKey | O::DisableKey => row(Key, false, KeyOnly, Toggle),
        O::UpdateKeyDescription | O::ScheduleKeyDeletion | O::TagResource | O::UntagResource => {
            row(Key, false, KeyOnly, Manageable)
        }
        // Imported material: also while the key awaits it; its deletion also while the key is
        // pending deletion.
        O::ImportKeyMaterial | O::GetParametersForImport => row(Key, false, KeyOnly, Import),
        O::DeleteImportedKeyMaterial => row(Key, false, KeyOnly, DeleteImport),
        O::CancelKeyDeletion => row(Key, false, KeyOnly, PendingDeletion),
        // Rotation settings change only on Enabled keys (a Disabled key is DisabledException).
        O::EnableKeyRotation | O::DisableKeyRotation | O::RotateKeyOnDemand => {
            row(Key, false, KeyOnly, Enabled)
        }
        // AWS lets a key's policy change in any state, pending deletion included.
        O::PutKeyPolicy => row(Key, false, KeyOnly, Any),
        // Multi-Region keys: the primary must be Enabled.
        O::ReplicateKey | O::UpdatePrimaryRegion => row(Key, false, KeyOnly, Enabled),
        O::GetKeyPolicy
        | O::ListKeyPolicies
        | O::ListResourceTags
        | O::ListKeyRotations
        | O::GetKeyLastUsage => row(Key, false, KeyOnly, Any),
        O::GetKeyRotationStatus => row(Key, true, KeyOnly, Any),
        // Grants: CreateGrant needs an Enabled key; the others work in any state.
        O::CreateGrant => row(Key, true, KeyOnly, Enabled),
        O::ListGrants | O::RetireGrant | O::RevokeGrant => row(Key, true, KeyOnly, Any),
        O::ListRetirableGrants => row(OwnResources, false, KeyOnly, Any),
        // Aliases: the alias (IAM) and every key it names or will name (key policies).
        O::CreateAlias | O::UpdateAlias | O::DeleteAlias => {
            row(OwnResources, false, KeyOnly, Manageable)
        }
        // No key: the caller's IAM policies alone.
        O::CreateKey
        | O::ListKeys
        | O::ListAliases
        | O::GenerateRandom
        | O::CreateCustomKeyStore
        | O::DescribeCustomKeyStores
        | O::ConnectCustomKeyStore
        | O::DisconnectCustomKeyStore
        | O::UpdateCustomKeyStore
        | O::DeleteCustomKeyStore => row(IamOnly, false, KeyOnly, Any),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_row() {
        for op in Operation::ALL {
            let i = info(*op);
            assert!(i.action.starts_with("kms:"), "{op:?}");
            if i.authz == Authz::IamOnly {
                assert!(!i.cross_account, "{op:?}");
            }
        }
    }

    #[test]
    fn rows_agree_with_aws_documentation() {
        // Cross-account use as the API reference states it for each operation.
        let cross: Vec<Operation> = Operation::ALL
            .iter()
            .copied()
            .filter(|o| info(*o).cross_account)
            .collect();
        for op in [
            Operation::Encrypt,
            Operation::Decrypt,
            Operation::DescribeKey,
            Operation::CreateGrant,
            Operation::RetireGrant,
            Operation::GetKeyRotationStatus,
        ] {
            assert!(cross.contains(&op), "{op:?}");
        }
        for op in [
            Operation::EnableKey,
            Operation::PutKeyPolicy,
            Operation::TagResource,
            Operation::CreateAlias,
            Operation::ListKeyRotations,
        ] {
            assert!(!cross.contains(&op), "{op:?}");
        }
        assert_eq!(info(Operation::Decrypt).states, StateRule::Enabled);
        assert_eq!(
            info(Operation::CancelKeyDeletion).states,
            StateRule::PendingDeletion
        );
    }
}
