//! ARNs of keys, aliases and custom key stores, and taking apart the ones callers send.

use kms_model::{AccountId, AliasName, KeyId, Region};

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
pub(crate) fn key_arn(partition: &str, region: &Region, account: &AccountId, id: &KeyId) -> String {
    format!("arn:{partition}:kms:{region}:{account}:key/{id}")
}

/// `arn:aws:kms:REGION:ACCOUNT:alias/NAME`.
pub(crate) fn alias_arn(
    partition: &str,
    region: &Region,
    account: &AccountId,
    name: &AliasName,
) -> String {
    format!("arn:{partition}:kms:{region}:{account}:{name}")
}

/// A KMS ARN taken apart: region, account and resource (`key/ID` or `alias/NAME`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KmsArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub(crate) fn parse_kms_arn(s: &str) -> Option<KmsArn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || service != "kms" || partition.is_empty() || resource.is_empty() {
        return None;
    }
    Some(KmsArn {
        partition,
        region,
        account,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_and_alias_arns() {
        let a = parse_kms_arn("arn:aws:kms:us-east-1:111122223333:key/abc").expect("arn");
        assert_eq!(
            (a.region, a.account, a.resource),
            ("us-east-1", "111122223333", "key/abc")
        );
        let a = parse_kms_arn("arn:aws:kms:us-east-1:111122223333:alias/x/y:z").expect("arn");
        assert_eq!(a.resource, "alias/x/y:z");
        for bad in [
            "",
            "arn",
            "arn:aws:s3:us-east-1:1:key/a",
            "arn:aws:kms:r:1:",
            "nope:aws:kms:r:1:key/a",
        ] {
            assert!(parse_kms_arn(bad).is_none(), "{bad}");
        }
    }
}
