//! The TrentService operations, one variant each (names from the AWS KMS API model).

/// One TrentService operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `TrentService.CancelKeyDeletion`
    CancelKeyDeletion,
    /// `TrentService.ConnectCustomKeyStore`
    ConnectCustomKeyStore,
    /// `TrentService.CreateAlias`
    CreateAlias,
    /// `TrentService.CreateCustomKeyStore`
    CreateCustomKeyStore,
    /// `TrentService.CreateGrant`
    CreateGrant,
    /// `TrentService.CreateKey`
    CreateKey,
    /// `TrentService.Decapsulate`
    Decapsulate,
    /// `TrentService.Decrypt`
    Decrypt,
    /// `TrentService.DeleteAlias`
    DeleteAlias,
    /// `TrentService.DeleteCustomKeyStore`
    DeleteCustomKeyStore,
    /// `TrentService.DeleteImportedKeyMaterial`
    DeleteImportedKeyMaterial,
    /// `TrentService.DeriveSharedSecret`
    DeriveSharedSecret,
    /// `TrentService.DescribeCustomKeyStores`
    DescribeCustomKeyStores,
    /// `TrentService.DescribeKey`
    DescribeKey,
    /// `TrentService.DisableKey`
    DisableKey,
    /// `TrentService.DisableKeyRotation`
    DisableKeyRotation,
    /// `TrentService.DisconnectCustomKeyStore`
    DisconnectCustomKeyStore,
    /// `TrentService.EnableKey`
    EnableKey,
    /// `TrentService.EnableKeyRotation`
    EnableKeyRotation,
    /// `TrentService.Encapsulate`
    Encapsulate,
    /// `TrentService.Encrypt`
    Encrypt,
    /// `TrentService.GenerateDataKey`
    GenerateDataKey,
    /// `TrentService.GenerateDataKeyPair`
    GenerateDataKeyPair,
    /// `TrentService.GenerateDataKeyPairWithoutPlaintext`
    GenerateDataKeyPairWithoutPlaintext,
    /// `TrentService.GenerateDataKeyWithoutPlaintext`
    GenerateDataKeyWithoutPlaintext,
    /// `TrentService.GenerateMac`
    GenerateMac,
    /// `TrentService.GenerateRandom`
    GenerateRandom,
    /// `TrentService.GetKeyLastUsage`
    GetKeyLastUsage,
    /// `TrentService.GetKeyPolicy`
    GetKeyPolicy,
    /// `TrentService.GetKeyRotationStatus`
    GetKeyRotationStatus,
    /// `TrentService.GetParametersForImport`
    GetParametersForImport,
    /// `TrentService.GetPublicKey`
    GetPublicKey,
    /// `TrentService.ImportKeyMaterial`
    ImportKeyMaterial,
    /// `TrentService.ListAliases`
    ListAliases,
    /// `TrentService.ListGrants`
    ListGrants,
    /// `TrentService.ListKeyPolicies`
    ListKeyPolicies,
    /// `TrentService.ListKeyRotations`
    ListKeyRotations,
    /// `TrentService.ListKeys`
    ListKeys,
    /// `TrentService.ListResourceTags`
    ListResourceTags,
    /// `TrentService.ListRetirableGrants`
    ListRetirableGrants,
    /// `TrentService.PutKeyPolicy`
    PutKeyPolicy,
    /// `TrentService.ReEncrypt`
    ReEncrypt,
    /// `TrentService.ReplicateKey`
    ReplicateKey,
    /// `TrentService.RetireGrant`
    RetireGrant,
    /// `TrentService.RevokeGrant`
    RevokeGrant,
    /// `TrentService.RotateKeyOnDemand`
    RotateKeyOnDemand,
    /// `TrentService.ScheduleKeyDeletion`
    ScheduleKeyDeletion,
    /// `TrentService.Sign`
    Sign,
    /// `TrentService.TagResource`
    TagResource,
    /// `TrentService.UntagResource`
    UntagResource,
    /// `TrentService.UpdateAlias`
    UpdateAlias,
    /// `TrentService.UpdateCustomKeyStore`
    UpdateCustomKeyStore,
    /// `TrentService.UpdateKeyDescription`
    UpdateKeyDescription,
    /// `TrentService.UpdatePrimaryRegion`
    UpdatePrimaryRegion,
    /// `TrentService.Verify`
    Verify,
    /// `TrentService.VerifyMac`
    VerifyMac,
}

impl Operation {
    /// Every operation of the model, in name order.
    pub const ALL: &'static [Operation] = &[
        Operation::CancelKeyDeletion,
        Operation::ConnectCustomKeyStore,
        Operation::CreateAlias,
        Operation::CreateCustomKeyStore,
        Operation::CreateGrant,
        Operation::CreateKey,
        Operation::Decapsulate,
        Operation::Decrypt,
        Operation::DeleteAlias,
        Operation::DeleteCustomKeyStore,
        Operation::DeleteImportedKeyMaterial,
        Operation::DeriveSharedSecret,
        Operation::DescribeCustomKeyStores,
        Operation::DescribeKey,
        Operation::DisableKey,
        Operation::DisableKeyRotation,
        Operation::DisconnectCustomKeyStore,
        Operation::EnableKey,
        Operation::EnableKeyRotation,
        Operation::Encapsulate,
        Operation::Encrypt,
        Operation::GenerateDataKey,
        Operation::GenerateDataKeyPair,
        Operation::GenerateDataKeyPairWithoutPlaintext,
        Operation::GenerateDataKeyWithoutPlaintext,
        Operation::GenerateMac,
        Operation::GenerateRandom,
        Operation::GetKeyLastUsage,
        Operation::GetKeyPolicy,
        Operation::GetKeyRotationStatus,
        Operation::GetParametersForImport,
        Operation::GetPublicKey,
        Operation::ImportKeyMaterial,
        Operation::ListAliases,
        Operation::ListGrants,
        Operation::ListKeyPolicies,
        Operation::ListKeyRotations,
        Operation::ListKeys,
        Operation::ListResourceTags,
        Operation::ListRetirableGrants,
        Operation::PutKeyPolicy,
        Operation::ReEncrypt,
        Operation::ReplicateKey,
        Operation::RetireGrant,
        Operation::RevokeGrant,
        Operation::RotateKeyOnDemand,
        Operation::ScheduleKeyDeletion,
        Operation::Sign,
        Operation::TagResource,
        Operation::UntagResource,
        Operation::UpdateAlias,
        Operation::UpdateCustomKeyStore,
        Operation::UpdateKeyDescription,
        Operation::UpdatePrimaryRegion,
        Operation::Verify,
        Operation::VerifyMac,
    ];

    /// The operation's name as it appears after `TrentService.` in `X-Amz-Target`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::CancelKeyDeletion => "CancelKeyDeletion",
            Operation::ConnectCustomKeyStore => "ConnectCustomKeyStore",
            Operation::CreateAlias => "CreateAlias",
            Operation::CreateCustomKeyStore => "CreateCustomKeyStore",
            Operation::CreateGrant => "CreateGrant",
            Operation::CreateKey => "CreateKey",
            Operation::Decapsulate => "Decapsulate",
            Operation::Decrypt => "Decrypt",
            Operation::DeleteAlias => "DeleteAlias",
            Operation::DeleteCustomKeyStore => "DeleteCustomKeyStore",
            Operation::DeleteImportedKeyMaterial => "DeleteImportedKeyMaterial",
            Operation::DeriveSharedSecret => "DeriveSharedSecret",
            Operation::DescribeCustomKeyStores => "DescribeCustomKeyStores",
            Operation::DescribeKey => "DescribeKey",
            Operation::DisableKey => "DisableKey",
            Operation::DisableKeyRotation => "DisableKeyRotation",
            Operation::DisconnectCustomKeyStore => "DisconnectCustomKeyStore",
            Operation::EnableKey => "EnableKey",
            Operation::EnableKeyRotation => "EnableKeyRotation",
            Operation::Encapsulate => "Encapsulate",
            Operation::Encrypt => "Encrypt",
            Operation::GenerateDataKey => "GenerateDataKey",
            Operation::GenerateDataKeyPair => "GenerateDataKeyPair",
            Operation::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
            Operation::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            Operation::GenerateMac => "GenerateMac",
            Operation::GenerateRandom => "GenerateRandom",
            Operation::GetKeyLastUsage => "GetKeyLastUsage",
            Operation::GetKeyPolicy => "GetKeyPolicy",
            Operation::GetKeyRotationStatus => "GetKeyRotationStatus",
            Operation::GetParametersForImport => "GetParametersForImport",
            Operation::GetPublicKey => "GetPublicKey",
            Operation::ImportKeyMaterial => "ImportKeyMaterial",
            Operation::ListAliases => "ListAliases",
            Operation::ListGrants => "ListGrants",
            Operation::ListKeyPolicies => "ListKeyPolicies",
            Operation::ListKeyRotations => "ListKeyRotations",
            Operation::ListKeys => "ListKeys",
            Operation::ListResourceTags => "ListResourceTags",
            Operation::ListRetirableGrants => "ListRetirableGrants",
            Operation::PutKeyPolicy => "PutKeyPolicy",
            Operation::ReEncrypt => "ReEncrypt",
            Operation::ReplicateKey => "ReplicateKey",
            Operation::RetireGrant => "RetireGrant",
            Operation::RevokeGrant => "RevokeGrant",
            Operation::RotateKeyOnDemand => "RotateKeyOnDemand",
            Operation::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            Operation::Sign => "Sign",
            Operation::TagResource => "TagResource",
            Operation::UntagResource => "UntagResource",
            Operation::UpdateAlias => "UpdateAlias",
            Operation::UpdateCustomKeyStore => "UpdateCustomKeyStore",
            Operation::UpdateKeyDescription => "UpdateKeyDescription",
            Operation::UpdatePrimaryRegion => "UpdatePrimaryRegion",
            Operation::Verify => "Verify",
            Operation::VerifyMac => "VerifyMac",
        }
    }

    /// The IAM action a caller needs for this operation (`kms:Encrypt`, ...).
    pub fn iam_action(self) -> &'static str {
        match self {
            Operation::CancelKeyDeletion => "kms:CancelKeyDeletion",
            Operation::ConnectCustomKeyStore => "kms:ConnectCustomKeyStore",
            Operation::CreateAlias => "kms:CreateAlias",
            Operation::CreateCustomKeyStore => "kms:CreateCustomKeyStore",
            Operation::CreateGrant => "kms:CreateGrant",
            Operation::CreateKey => "kms:CreateKey",
            Operation::Decapsulate => "kms:Decapsulate",
            Operation::Decrypt => "kms:Decrypt",
            Operation::DeleteAlias => "kms:DeleteAlias",
            Operation::DeleteCustomKeyStore => "kms:DeleteCustomKeyStore",
            Operation::DeleteImportedKeyMaterial => "kms:DeleteImportedKeyMaterial",
            Operation::DeriveSharedSecret => "kms:DeriveSharedSecret",
            Operation::DescribeCustomKeyStores => "kms:DescribeCustomKeyStores",
            Operation::DescribeKey => "kms:DescribeKey",
            Operation::DisableKey => "kms:DisableKey",
            Operation::DisableKeyRotation => "kms:DisableKeyRotation",
            Operation::DisconnectCustomKeyStore => "kms:DisconnectCustomKeyStore",
            Operation::EnableKey => "kms:EnableKey",
            Operation::EnableKeyRotation => "kms:EnableKeyRotation",
            Operation::Encapsulate => "kms:Encapsulate",
            Operation::Encrypt => "kms:Encrypt",
            Operation::GenerateDataKey => "kms:GenerateDataKey",
            Operation::GenerateDataKeyPair => "kms:GenerateDataKeyPair",
            Operation::GenerateDataKeyPairWithoutPlaintext => {
                "kms:GenerateDataKeyPairWithoutPlaintext"
            }
            Operation::GenerateDataKeyWithoutPlaintext => "kms:GenerateDataKeyWithoutPlaintext",
            Operation::GenerateMac => "kms:GenerateMac",
            Operation::GenerateRandom => "kms:GenerateRandom",
            Operation::GetKeyLastUsage => "kms:GetKeyLastUsage",
            Operation::GetKeyPolicy => "kms:GetKeyPolicy",
            Operation::GetKeyRotationStatus => "kms:GetKeyRotationStatus",
            Operation::GetParametersForImport => "kms:GetParametersForImport",
            Operation::GetPublicKey => "kms:GetPublicKey",
            Operation::ImportKeyMaterial => "kms:ImportKeyMaterial",
            Operation::ListAliases => "kms:ListAliases",
            Operation::ListGrants => "kms:ListGrants",
            Operation::ListKeyPolicies => "kms:ListKeyPolicies",
            Operation::ListKeyRotations => "kms:ListKeyRotations",
            Operation::ListKeys => "kms:ListKeys",
            Operation::ListResourceTags => "kms:ListResourceTags",
            Operation::ListRetirableGrants => "kms:ListRetirableGrants",
            Operation::PutKeyPolicy => "kms:PutKeyPolicy",
            Operation::ReEncrypt => "kms:ReEncrypt",
            Operation::ReplicateKey => "kms:ReplicateKey",
            Operation::RetireGrant => "kms:RetireGrant",
            Operation::RevokeGrant => "kms:RevokeGrant",
            Operation::RotateKeyOnDemand => "kms:RotateKeyOnDemand",
            Operation::ScheduleKeyDeletion => "kms:ScheduleKeyDeletion",
            Operation::Sign => "kms:Sign",
            Operation::TagResource => "kms:TagResource",
            Operation::UntagResource => "kms:UntagResource",
            Operation::UpdateAlias => "kms:UpdateAlias",
            Operation::UpdateCustomKeyStore => "kms:UpdateCustomKeyStore",
            Operation::UpdateKeyDescription => "kms:UpdateKeyDescription",
            Operation::UpdatePrimaryRegion => "kms:UpdatePrimaryRegion",
            Operation::Verify => "kms:Verify",
            Operation::VerifyMac => "kms:VerifyMac",
        }
    }

    /// Looks an operation up by its name (case-sensitive, as AWS routes it).
    pub fn from_name(name: &str) -> Option<Operation> {
        // A binary search over the sorted list keeps this allocation-free.
        Operation::ALL
            .binary_search_by(|op| op.name().cmp(name))
            .ok()
            .and_then(|i| Operation::ALL.get(i).copied())
    }

    /// The operation named by an `X-Amz-Target` header value (`TrentService.Encrypt`).
    pub fn from_target(target: &str) -> Option<Operation> {
        target
            .strip_prefix("TrentService.")
            .and_then(Operation::from_name)
    }
}
