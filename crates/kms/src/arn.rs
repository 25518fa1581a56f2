//! ARNs of keys and aliases, and parsing the ones callers send.

use crate::KmsConfig;

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
pub(crate) fn key_arn(cfg: &KmsConfig, account: &str, key_id: &str) -> String {
    format!(
        "arn:{}:kms:{}:{account}:key/{key_id}",
        cfg.partition, cfg.region
    )
}

/// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` (alias_name includes `alias/`).
pub(crate) fn alias_arn(cfg: &KmsConfig, account: &str, alias_name: &str) -> String {
    format!(
        "arn:{}:kms:{}:{account}:{alias_name}",
        cfg.partition, cfg.region
    )
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
