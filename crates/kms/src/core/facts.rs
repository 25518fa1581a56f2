//! What a typed request says that authorization looks at: the encryption contexts (condition
//! keys and grant constraints), the tags it adds or removes, CreateKey's and CreateGrant's
//! parameters. Taken once from the decoded request, borrowed, never re-parsed.

use std::collections::BTreeMap;

use kms_api::wire::{
    self, DataKeyPairSpec, EncryptionAlgorithmSpec, KeySpec, KeyUsage, MessageType, Origin, Request,
};

/// An encryption context.
pub(crate) type Context = BTreeMap<String, String>;

/// The facts of one request.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RequestFacts<'a> {
    /// `EncryptionContext` (Encrypt, Decrypt, GenerateDataKey*, GenerateDataKeyPair*).
    pub context: Option<&'a Context>,
    /// ReEncrypt's `SourceEncryptionContext`.
    pub source_context: Option<&'a Context>,
    /// ReEncrypt's `DestinationEncryptionContext`.
    pub destination_context: Option<&'a Context>,
    /// CreateGrant's request.
    pub grant: Option<&'a wire::CreateGrantRequest>,
    /// Tags a request adds (CreateKey, TagResource).
    pub tags: &'a [wire::Tag],
    /// Tag keys UntagResource removes.
    pub untag_keys: &'a [String],
    /// CreateKey's spec, usage and origin as asked (defaults applied) and `MultiRegion`.
    pub new_key: Option<NewKey>,
    /// `BypassPolicyLockoutSafetyCheck` (CreateKey, PutKeyPolicy).
    pub bypass_lockout: Option<bool>,
    /// ScheduleKeyDeletion's `PendingWindowInDays`.
    pub pending_window_days: Option<i32>,
    /// `EncryptionAlgorithm` (or ReEncrypt's source algorithm).
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    /// Sign and Verify's `MessageType`.
    pub message_type: Option<MessageType>,
    /// GenerateDataKeyPair's `KeyPairSpec`.
    pub key_pair_spec: Option<DataKeyPairSpec>,
    /// EnableKeyRotation's `RotationPeriodInDays`.
    pub rotation_period_days: Option<i32>,
    /// ReplicateKey's `ReplicaRegion` (`kms:ReplicaRegion`).
    pub replica_region: Option<&'a str>,
    /// UpdatePrimaryRegion's `PrimaryRegion` (`kms:PrimaryRegion`).
    pub primary_region: Option<&'a str>,
}

/// The request's `GrantTokens`, for the operations that take them.
pub(crate) fn grant_tokens(request: &Request) -> Option<&[String]> {
    let tokens = match request {
        Request::CreateGrant(r) => &r.grant_tokens,
        Request::Decapsulate(r) => &r.grant_tokens,
        Request::Decrypt(r) => &r.grant_tokens,
        Request::DeriveSharedSecret(r) => &r.grant_tokens,
        Request::DescribeKey(r) => &r.grant_tokens,
        Request::Encapsulate(r) => &r.grant_tokens,
        Request::Encrypt(r) => &r.grant_tokens,
        Request::GenerateDataKeyPair(r) => &r.grant_tokens,
        Request::GenerateDataKeyPairWithoutPlaintext(r) => &r.grant_tokens,
        Request::GenerateDataKey(r) => &r.grant_tokens,
        Request::GenerateDataKeyWithoutPlaintext(r) => &r.grant_tokens,
        Request::GenerateMac(r) => &r.grant_tokens,
        Request::GetPublicKey(r) => &r.grant_tokens,
        Request::ReEncrypt(r) => &r.grant_tokens,
        Request::Sign(r) => &r.grant_tokens,
        Request::VerifyMac(r) => &r.grant_tokens,
        Request::Verify(r) => &r.grant_tokens,
        _ => return None,
    };
    tokens.as_deref()
}

/// What CreateKey asks for, for `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin`, `kms:MultiRegion`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewKey {
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub origin: Origin,
    pub multi_region: Option<bool>,
}

impl<'a> RequestFacts<'a> {
    /// The facts of `request`.
    pub fn of(request: &'a Request) -> RequestFacts<'a> {
        let none = RequestFacts::default();
        match request {
            Request::Encrypt(r) => RequestFacts {
                context: r.encryption_context.as_ref(),
                encryption_algorithm: r.encryption_algorithm,
                ..none
            },
            Request::Decrypt(r) => RequestFacts {
                context: r.encryption_context.as_ref(),
                encryption_algorithm: r.encryption_algorithm,
                ..none
            },
            Request::GenerateDataKey(r) => RequestFacts {
                context: r.encryption_context.as_ref(),
                ..none
            },
            Request::GenerateDataKeyWithoutPlaintext(r) => RequestFacts {
                context: r.encryption_context.as_ref(),
                ..none
            },
            Request::GenerateDataKeyPair(r) => RequestFacts {
                context: r.encryption_context.as_ref(),
                key_pair_spec: Some(r.key_pair_spec),
                ..none
            },
            Request::GenerateDataKeyPairWithoutPlaintext(r) => RequestFacts {
                context: r.encryption_context.as_ref(),
                key_pair_spec: Some(r.key_pair_spec),
                ..none
            },
            Request::ReEncrypt(r) => RequestFacts {
                source_context: r.source_encryption_context.as_ref(),
                destination_context: r.destination_encryption_context.as_ref(),
                encryption_algorithm: r.source_encryption_algorithm,
                ..none
            },
            Request::Sign(r) => RequestFacts {
                message_type: r.message_type,
                ..none
            },
            Request::Verify(r) => RequestFacts {
                message_type: r.message_type,
                ..none
            },
            Request::CreateGrant(r) => RequestFacts {
                grant: Some(r),
                ..none
            },
            Request::TagResource(r) => RequestFacts {
                tags: &r.tags,
                ..none
            },
            Request::UntagResource(r) => RequestFacts {
                untag_keys: &r.tag_keys,
                ..none
            },
            Request::CreateKey(r) => RequestFacts {
                tags: r.tags.as_deref().unwrap_or_default(),
                bypass_lockout: r.bypass_policy_lockout_safety_check,
                new_key: Some(NewKey {
                    spec: r
                        .key_spec
                        .or_else(|| {
                            r.customer_master_key_spec
                                .and_then(|s| KeySpec::from_wire(s.as_str()))
                        })
                        .unwrap_or(KeySpec::SymmetricDefault),
                    usage: r.key_usage.unwrap_or(KeyUsage::EncryptDecrypt),
                    origin: r.origin.unwrap_or(Origin::AwsKms),
                    multi_region: r.multi_region,
                }),
                ..none
            },
            Request::PutKeyPolicy(r) => RequestFacts {
                bypass_lockout: r.bypass_policy_lockout_safety_check,
                ..none
            },
            Request::ScheduleKeyDeletion(r) => RequestFacts {
                pending_window_days: Some(r.pending_window_in_days.unwrap_or(30)),
                ..none
            },
            Request::EnableKeyRotation(r) => RequestFacts {
                // AWS evaluates `kms:RotationPeriodInDays` as the default when the request names none.
                rotation_period_days: Some(r.rotation_period_in_days.unwrap_or(365)),
                ..none
            },
            Request::ReplicateKey(r) => RequestFacts {
                replica_region: Some(&r.replica_region),
                tags: r.tags.as_deref().unwrap_or_default(),
                bypass_lockout: r.bypass_policy_lockout_safety_check,
                ..none
            },
            Request::UpdatePrimaryRegion(r) => RequestFacts {
                primary_region: Some(&r.primary_region),
                ..none
            },
            _ => none,
        }
    }

    /// The encryption context an IAM action is about (ReEncrypt has two; CreateGrant's is its
    /// constraint's).
    pub fn context_for(&self, action: &str) -> Option<&'a Context> {
        match action {
            "kms:ReEncryptFrom" => self.source_context,
            "kms:ReEncryptTo" => self.destination_context,
            _ => match self.grant {
                Some(g) => g.constraints.as_ref().and_then(|c| {
                    c.encryption_context_equals
                        .as_ref()
                        .or(c.encryption_context_subset.as_ref())
                }),
                None => self.context,
            },
        }
    }
}
