//! Key usage records: each key's last cryptographic use (GetKeyLastUsage), kept beside the key
//! but outside the change feed. A use changes no revision and wakes no follower; nodes write
//! their uses in batches, and the newest use wins.

use kms_model::KeyRef;

/// The cryptographic operations whose use of a key is tracked (AWS's
/// `KeyLastUsageTrackingOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageOperation {
    /// `Decrypt`.
    Decrypt,
    /// `DeriveSharedSecret`.
    DeriveSharedSecret,
    /// `Encrypt`.
    Encrypt,
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `GenerateDataKeyPair`.
    GenerateDataKeyPair,
    /// `GenerateDataKeyPairWithoutPlaintext`.
    GenerateDataKeyPairWithoutPlaintext,
    /// `GenerateDataKeyWithoutPlaintext`.
    GenerateDataKeyWithoutPlaintext,
    /// `GenerateMac`.
    GenerateMac,
    /// `ReEncrypt` (a use of both its keys).
    ReEncrypt,
    /// `Sign`.
    Sign,
    /// `Verify`.
    Verify,
    /// `VerifyMac`.
    VerifyMac,
    /// `Encapsulate`.
    Encapsulate,
    /// `Decapsulate`.
    Decapsulate,
}

impl UsageOperation {
    /// Every operation.
    pub const ALL: [UsageOperation; 14] = [
        UsageOperation::Decrypt,
        UsageOperation::DeriveSharedSecret,
        UsageOperation::Encrypt,
        UsageOperation::GenerateDataKey,
        UsageOperation::GenerateDataKeyPair,
        UsageOperation::GenerateDataKeyPairWithoutPlaintext,
        UsageOperation::GenerateDataKeyWithoutPlaintext,
        UsageOperation::GenerateMac,
        UsageOperation::ReEncrypt,
        UsageOperation::Sign,
        UsageOperation::Verify,
        UsageOperation::VerifyMac,
        UsageOperation::Encapsulate,
        UsageOperation::Decapsulate,
    ];

    /// The operation's name, as AWS spells it (and the store keeps it).
    pub fn name(self) -> &'static str {
        match self {
            UsageOperation::Decrypt => "Decrypt",
            UsageOperation::DeriveSharedSecret => "DeriveSharedSecret",
            UsageOperation::Encrypt => "Encrypt",
            UsageOperation::GenerateDataKey => "GenerateDataKey",
            UsageOperation::GenerateDataKeyPair => "GenerateDataKeyPair",
            UsageOperation::GenerateDataKeyPairWithoutPlaintext => {
                "GenerateDataKeyPairWithoutPlaintext"
            }
            UsageOperation::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            UsageOperation::GenerateMac => "GenerateMac",
            UsageOperation::ReEncrypt => "ReEncrypt",
            UsageOperation::Sign => "Sign",
            UsageOperation::Verify => "Verify",
            UsageOperation::VerifyMac => "VerifyMac",
            UsageOperation::Encapsulate => "Encapsulate",
            UsageOperation::Decapsulate => "Decapsulate",
        }
    }

    /// The operation named `name`; `None` for any other name.
    pub fn parse(name: &str) -> Option<UsageOperation> {
        UsageOperation::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// A key's last cryptographic use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// The key.
    pub key: KeyRef,
    /// What it was used for.
    pub operation: UsageOperation,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
    /// The id of the request that used it.
    pub request_id: String,
}

/// The newest use of each key in `uses` (a later one wins a tie), ordered by key: a backend
/// writes them in this order, so that writers racing on the same keys lock them in one order.
pub(crate) fn newest_per_key(uses: &[KeyUse]) -> Vec<&KeyUse> {
    let mut newest: std::collections::BTreeMap<(&str, &str), &KeyUse> =
        std::collections::BTreeMap::new();
    for u in uses {
        let slot = newest
            .entry((u.key.region.as_str(), u.key.id.as_str()))
            .or_insert(u);
        if u.at_ms >= slot.at_ms {
            *slot = u;
        }
    }
    newest.into_values().collect()
}

/// The name under which a database keeps since when it tracks key usage (milliseconds since
/// the epoch, as text): when its usage table was made.
pub(crate) const TRACKING_START: &str = "usage_tracking_start_ms";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in UsageOperation::ALL {
            assert_eq!(UsageOperation::parse(op.name()), Some(op));
        }
        assert_eq!(UsageOperation::parse("DescribeKey"), None);
        assert_eq!(UsageOperation::parse("encrypt"), None);
    }
}
