//! ARN patterns, as in `Resource` and the `Arn*` condition operators: the six colon-separated
//! parts of an ARN (`arn:partition:service:region:account:resource`) are matched one by one, so
//! a wildcard never spans a colon of the first five; the resource part may itself hold colons.
//! Matching is case-sensitive.

use crate::variables::{tokenize, Token, VarSource};
use crate::wildcard::{Outcome, Pattern};

/// The number of parts of an ARN.
const PARTS: usize = 6;

/// A compiled ARN pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArnPattern {
    /// `*`: every resource.
    Any,
    /// A pattern of six parts, matched part by part.
    Parts(Box<[Pattern; PARTS]>),
    /// Anything else (fewer parts): matched as one string.
    Whole(Pattern),
}

impl ArnPattern {
    /// Compiles `text`; `variables` says whether `${...}` are policy variables.
    pub(crate) fn new(text: &str, variables: bool) -> Self {
        let tokens = tokenize(text, true, variables);
        if tokens == [Token::Star] {
            return ArnPattern::Any;
        }
        let parts = split_parts(&tokens);
        if parts.len() == PARTS {
            let mut it = parts.into_iter().map(|p| Pattern::from_tokens(p, false));
            if let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) = (
                it.next(),
                it.next(),
                it.next(),
                it.next(),
                it.next(),
                it.next(),
            ) {
                return ArnPattern::Parts(Box::new([a, b, c, d, e, f]));
            }
        }
        ArnPattern::Whole(Pattern::from_tokens(tokens, false))
    }

    /// Matches the ARN (or `*`, or other text) `value`.
    pub(crate) fn matches(&self, value: &str, vars: &dyn VarSource) -> Outcome {
        match self {
            ArnPattern::Any => Outcome::Match,
            ArnPattern::Whole(p) => p.matches(value, vars),
            ArnPattern::Parts(parts) => {
                let mut values = value.splitn(PARTS, ':');
                let mut outcome = Outcome::Match;
                for part in parts.iter() {
                    let Some(v) = values.next() else {
                        return Outcome::NoMatch;
                    };
                    match part.matches(v, vars) {
                        Outcome::Match => {}
                        Outcome::NoMatch => outcome = Outcome::NoMatch,
                        Outcome::Unresolved => return Outcome::Unresolved,
                    }
                }
                outcome
            }
        }
    }
}

/// Splits tokens at the first five colons of literal text.
fn split_parts(tokens: &[Token]) -> Vec<Vec<Token>> {
    let mut parts: Vec<Vec<Token>> = vec![Vec::new()];
    for t in tokens {
        match t {
            Token::Lit(s) => {
                let mut rest = s.as_str();
                while parts.len() < PARTS {
                    let Some((head, tail)) = rest.split_once(':') else {
                        break;
                    };
                    push_lit(&mut parts, head);
                    parts.push(Vec::new());
                    rest = tail;
                }
                push_lit(&mut parts, rest);
            }
            other => {
                if let Some(last) = parts.last_mut() {
                    last.push(other.clone());
                }
            }
        }
    }
    parts
}

fn push_lit(parts: &mut [Vec<Token>], s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(last) = parts.last_mut() {
        if let Some(Token::Lit(prev)) = last.last_mut() {
            prev.push_str(s);
        } else {
            last.push(Token::Lit(s.to_string()));
        }
    }
}

/// The account part of an ARN (`arn:aws:kms:us-east-1:111122223333:key/...` → `111122223333`),
/// if `value` is an ARN and the part is not empty.
pub(crate) fn account_of(value: &str) -> Option<&str> {
    let mut parts = value.splitn(PARTS, ':');
    if parts.next() != Some("arn") {
        return None;
    }
    let account = parts.nth(3)?;
    // The resource part must exist too.
    parts.next()?;
    (!account.is_empty()).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::NoVars;

    #[test]
    fn arn_table() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let cases: &[(&str, &str, bool)] = &[
            ("*", key, true),
            ("*", "*", true),
            (key, key, true),
            ("arn:aws:kms:*:111122223333:key/*", key, true),
            ("arn:aws:kms:*:*:*", key, true),
            ("arn:aws:kms:us-*:111122223333:*", key, true),
            ("arn:aws:kms:eu-*:111122223333:*", key, false),
            ("arn:aws:kms:*:444455556666:key/*", key, false),
            ("arn:aws:kms:*:111122223333:alias/*", key, false),
            ("arn:aws:KMS:*:111122223333:key/*", key, false),
            ("arn:aws:kms:us-east-?:111122223333:key/*", key, true),
            ("arn:aws:kms:*", key, true),
            ("arn:aws:kms:*:111122223333:key/*", "*", false),
            // A wildcard does not span the colons of the first five parts...
            ("arn:aws:someservice:*:111122223333:finance/*", "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", false),
            // ...but does inside the resource part.
            ("arn:aws:svc:r:1:a*", "arn:aws:svc:r:1:a:b:c", true),
            ("arn:aws:svc:r:1:a:*", "arn:aws:svc:r:1:a:b:c", true),
            ("arn:aws:svc:r:1:a:?:c", "arn:aws:svc:r:1:a:b:c", true),
            ("arn:aws:svc:::x", "arn:aws:svc:::x", true),
            ("arn:aws:svc:::x", "arn:aws:svc:r::x", false),
        ];
        for &(p, v, want) in cases {
            assert_eq!(
                ArnPattern::new(p, true).matches(v, &NoVars),
                Outcome::from_bool(want),
                "{p:?} vs {v:?}"
            );
        }
    }

    #[test]
    fn colon_in_variable_does_not_split() {
        let p = ArnPattern::new("arn:aws:kms:*:111122223333:key/${aws:username}", true);
        assert!(matches!(p, ArnPattern::Parts(_)));
        assert_eq!(
            p.matches("arn:aws:kms:r:111122223333:key/x", &NoVars),
            Outcome::Unresolved
        );
    }

    #[test]
    fn accounts() {
        assert_eq!(
            account_of("arn:aws:kms:us-east-1:111122223333:key/k"),
            Some("111122223333")
        );
        assert_eq!(account_of("arn:aws:s3:::bucket"), None);
        assert_eq!(account_of("*"), None);
        assert_eq!(account_of("arn:aws:kms:r:1"), None);
    }
}
