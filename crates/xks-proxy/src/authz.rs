//! Secondary authorization: per-key rules over the request metadata (the specification's
//! Authorization section). Never applied to GetHealthStatus.
//!
//! A rule applies to the keys its `keys` patterns match (all keys by default). For a request
//! on a key:
//! 1. no rule applies: allowed (secondary authorization is off for that key);
//! 2. an applicable `deny` rule whose conditions all hold: denied by that rule;
//! 3. applicable `allow` rules exist and none has all its conditions hold: denied, naming
//!    each allow rule and the condition it failed on;
//! 4. otherwise allowed.
//!
//! A condition is a list of patterns for one metadata field; it holds when the field is
//! present and matches one of them. Patterns match whole strings, case-sensitively, with `*`
//! for any run of characters and `?` for one character. A rule without a condition on a field
//! does not look at it.

use serde::Deserialize;

use xks::RequestMetadata;

/// Whether a matching rule allows or denies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Requests matching the rule are allowed (the default).
    #[default]
    Allow,
    /// Requests matching the rule are denied.
    Deny,
}

/// One `[[tenants.authorization]]` rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Named in logs when it denies.
    pub name: String,
    /// `allow` (default) or `deny`.
    #[serde(default)]
    pub effect: Effect,
    /// External key id patterns the rule applies to (default `["*"]`).
    #[serde(default = "all_keys")]
    pub keys: Vec<String>,
    /// `awsPrincipalArn` patterns.
    #[serde(default)]
    pub principals: Option<Vec<String>>,
    /// `kmsKeyArn` patterns.
    #[serde(default)]
    pub kms_key_arns: Option<Vec<String>>,
    /// `kmsOperation` patterns (e.g. `Encrypt`, `GenerateDataKey*`).
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    /// `kmsViaService` patterns.
    #[serde(default)]
    pub via_services: Option<Vec<String>>,
    /// `awsSourceVpc` patterns.
    #[serde(default)]
    pub source_vpcs: Option<Vec<String>>,
    /// `awsSourceVpce` patterns.
    #[serde(default)]
    pub source_vpces: Option<Vec<String>>,
}

fn all_keys() -> Vec<String> {
    vec!["*".to_owned()]
}

/// A denial: the rule responsible and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The deny rule that matched, or the allow rules that did not (comma-separated).
    pub rule: String,
    /// A sentence for the log.
    pub reason: String,
}

impl Rule {
    /// Checks the rule is usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("an authorization rule needs a name".into());
        }
        if self.keys.is_empty() {
            return Err(format!("authorization rule '{}' has no keys", self.name));
        }
        for (field, list) in self.conditions() {
            if list.is_some_and(|l| l.is_empty()) {
                return Err(format!(
                    "authorization rule '{}': {field} is an empty list (it could never match)",
                    self.name
                ));
            }
        }
        Ok(())
    }

    fn applies_to(&self, key_id: &str) -> bool {
        self.keys.iter().any(|p| wildcard_match(p, key_id))
    }

    fn conditions(&self) -> [(&'static str, Option<&Vec<String>>); 6] {
        [
            ("principals", self.principals.as_ref()),
            ("kms_key_arns", self.kms_key_arns.as_ref()),
            ("operations", self.operations.as_ref()),
            ("via_services", self.via_services.as_ref()),
            ("source_vpcs", self.source_vpcs.as_ref()),
            ("source_vpces", self.source_vpces.as_ref()),
        ]
    }

    /// `None` if every condition holds, else the first that fails, described.
    fn first_failure(&self, m: &RequestMetadata) -> Option<String> {
        let fields = [
            ("awsPrincipalArn", m.aws_principal_arn.as_deref()),
            ("kmsKeyArn", m.kms_key_arn.as_deref()),
            ("kmsOperation", m.kms_operation.as_deref()),
            ("kmsViaService", m.kms_via_service.as_deref()),
            ("awsSourceVpc", m.aws_source_vpc.as_deref()),
            ("awsSourceVpce", m.aws_source_vpce.as_deref()),
        ];
        for ((cond, patterns), (field, value)) in self.conditions().into_iter().zip(fields) {
            let Some(patterns) = patterns else { continue };
            match value {
                None => return Some(format!("{field} is absent but {cond} requires one")),
                Some(v) if !patterns.iter().any(|p| wildcard_match(p, v)) => {
                    return Some(format!("{field} '{v}' matches none of {cond}"))
                }
                Some(_) => {}
            }
        }
        None
    }
}

/// Decides a request on `key_id` with metadata `m` under `rules`.
pub fn authorize(rules: &[Rule], key_id: &str, m: &RequestMetadata) -> Result<(), Denial> {
    let mut allow_failures: Vec<(&str, String)> = Vec::new();
    let mut any_allow = false;
    let mut allowed = false;
    for rule in rules.iter().filter(|r| r.applies_to(key_id)) {
        let failure = rule.first_failure(m);
        match rule.effect {
            Effect::Deny => {
                if failure.is_none() {
                    return Err(Denial {
                        rule: rule.name.clone(),
                        reason: format!("deny rule '{}' matched", rule.name),
                    });
                }
            }
            Effect::Allow => {
                any_allow = true;
                match failure {
                    None => allowed = true,
                    Some(why) => allow_failures.push((&rule.name, why)),
                }
            }
        }
    }
    if !any_allow || allowed {
        return Ok(());
    }
    Err(Denial {
        rule: allow_failures
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(","),
        reason: format!(
            "no allow rule matched: {}",
            allow_failures
                .iter()
                .map(|(n, why)| format!("'{n}': {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    })
}

/// Whole-string match with `*` (any run, possibly empty) and `?` (any one character).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position of the last '*' and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(principal: &str, op: &str, via: Option<&str>) -> RequestMetadata {
        RequestMetadata {
            aws_principal_arn: Some(principal.into()),
            kms_key_arn: Some("arn:aws:kms:us-east-1:111122223333:key/k1".into()),
            kms_operation: Some(op.into()),
            kms_request_id: Some("r".into()),
            kms_via_service: via.map(Into::into),
            ..Default::default()
        }
    }

    fn rule(toml_text: &str) -> Rule {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(wildcard_match("a*c", "ac"));
        assert!(!wildcard_match("a*c", "acb"));
        assert!(wildcard_match(
            "GenerateDataKey*",
            "GenerateDataKeyWithoutPlaintext"
        ));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*:role/app-*", "arn:aws:iam::1:role/app-x"));
        assert!(!wildcard_match("Encrypt", "encrypt"));
        assert!(wildcard_match("*a*b*", "xxaxxbxx"));
        assert!(!wildcard_match("*a*b", "xxaxxbxxc"));
    }

    #[test]
    fn no_rules_or_unrelated_keys_allow() {
        let m = md("p", "Encrypt", None);
        assert!(authorize(&[], "k", &m).is_ok());
        let r = rule("name = 'r'\nkeys = ['other-*']\nprincipals = ['nobody']");
        assert!(authorize(&[r], "k", &m).is_ok());
    }

    #[test]
    fn allow_rules() {
        let rules = vec![
            rule("name = 'app'\nkeys = ['app-*']\nprincipals = ['arn:aws:iam::111122223333:role/app']\noperations = ['Encrypt', 'Decrypt', 'GenerateDataKey*']"),
            rule("name = 'ebs'\nkeys = ['app-*']\nvia_services = ['ebs']"),
        ];
        let app = "arn:aws:iam::111122223333:role/app";
        assert!(authorize(&rules, "app-1", &md(app, "Encrypt", None)).is_ok());
        assert!(authorize(&rules, "app-1", &md(app, "GenerateDataKeyPair", None)).is_ok());
        assert!(authorize(&rules, "app-1", &md("other", "Encrypt", Some("ebs"))).is_ok());
        let d = authorize(&rules, "app-1", &md("other", "Encrypt", None)).unwrap_err();
        assert_eq!(d.rule, "app,ebs");
        assert!(
            d.reason
                .contains("awsPrincipalArn 'other' matches none of principals"),
            "{}",
            d.reason
        );
        assert!(d.reason.contains("kmsViaService is absent"), "{}", d.reason);
        let d = authorize(&rules, "app-1", &md(app, "ReEncrypt", None)).unwrap_err();
        assert!(
            d.reason.contains("kmsOperation 'ReEncrypt'"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn deny_rules_win() {
        let rules = vec![
            rule("name = 'everyone'"),
            rule("name = 'no-s3'\neffect = 'deny'\nvia_services = ['s3']"),
        ];
        assert!(authorize(&rules, "k", &md("p", "Decrypt", None)).is_ok());
        let d = authorize(&rules, "k", &md("p", "Decrypt", Some("s3"))).unwrap_err();
        assert_eq!(d.rule, "no-s3");
    }

    #[test]
    fn validation() {
        assert!(rule("name = 'x'").validate().is_ok());
        assert!(rule("name = ''").validate().is_err());
        assert!(rule("name = 'x'\nkeys = []").validate().is_err());
        assert!(rule("name = 'x'\nprincipals = []").validate().is_err());
        assert!(toml::from_str::<Rule>("name = 'x'\nbogus = 1").is_err());
    }
}
