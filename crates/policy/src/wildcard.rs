//! Compiled text patterns with `*` and `?` wildcards and policy variables, and a small
//! backtracking matcher for them (no regular expressions, no allocation unless the pattern holds
//! variables).

use std::borrow::Cow;

use crate::variables::{has_vars, resolve, tokenize, Token, VarSource};

/// A pattern compiled from policy text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    kind: Kind,
    /// Compare characters ignoring case.
    fold: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `*`: matches everything.
    Any,
    /// No wildcard, no variable.
    Exact(String),
    /// `literal*` (the literal ASCII when folding): a prefix comparison.
    Prefix(String),
    /// Wildcards and/or variables.
    General { tokens: Vec<Token>, vars: bool },
}

/// How to read pattern text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards.
    pub wildcards: bool,
    /// `${...}` are policy variables.
    pub variables: bool,
    /// Matching ignores case.
    pub fold: bool,
}

/// The result of matching a pattern that may hold variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The text matches.
    Match,
    /// The text does not match.
    NoMatch,
    /// A variable of the pattern has no value in the request: the pattern cannot be used.
    Unresolved,
}

impl Outcome {
    pub(crate) fn from_bool(b: bool) -> Self {
        if b {
            Outcome::Match
        } else {
            Outcome::NoMatch
        }
    }
}

impl Pattern {
    /// Compiles `text`.
    pub(crate) fn new(text: &str, syntax: Syntax) -> Self {
        Self::from_tokens(
            tokenize(text, syntax.wildcards, syntax.variables),
            syntax.fold,
        )
    }

    /// Compiles already split tokens.
    pub(crate) fn from_tokens(mut tokens: Vec<Token>, fold: bool) -> Self {
        let kind = if tokens.len() == 1 && tokens[0] == Token::Star {
            Kind::Any
        } else if tokens.is_empty() {
            Kind::Exact(String::new())
        } else if tokens.len() == 1 && matches!(tokens[0], Token::Lit(_)) {
            match tokens.pop() {
                Some(Token::Lit(s)) => Kind::Exact(s),
                _ => Kind::Exact(String::new()),
            }
        } else if tokens.len() == 2
            && tokens[1] == Token::Star
            && matches!(&tokens[0], Token::Lit(l) if !fold || l.is_ascii())
        {
            match tokens.swap_remove(0) {
                Token::Lit(s) => Kind::Prefix(s),
                _ => Kind::Exact(String::new()),
            }
        } else {
            let vars = has_vars(&tokens);
            Kind::General { tokens, vars }
        };
        Pattern { kind, fold }
    }

    /// Whether the pattern is `*`.
    #[cfg(test)]
    pub(crate) fn is_any(&self) -> bool {
        matches!(self.kind, Kind::Any)
    }

    /// Matches `text`; variables come from `vars`.
    pub(crate) fn matches(&self, text: &str, vars: &dyn VarSource) -> Outcome {
        match &self.kind {
            Kind::Any => Outcome::Match,
            Kind::Exact(s) => Outcome::from_bool(eq_text(s, text, self.fold)),
            Kind::Prefix(p) => Outcome::from_bool(has_prefix(text, p, self.fold)),
            Kind::General {
                tokens,
                vars: false,
            } => Outcome::from_bool(match_tokens(tokens, text, self.fold)),
            Kind::General { tokens, vars: true } => {
                let mut resolved: Vec<Cow<'_, str>> = Vec::with_capacity(tokens.len());
                for t in tokens {
                    let piece = match t {
                        Token::Lit(s) => Cow::Borrowed(s.as_str()),
                        Token::Var(v) => match resolve(v, vars) {
                            Some(v) => v,
                            None => return Outcome::Unresolved,
                        },
                        // Wildcards are taken from the tokens below.
                        Token::Star | Token::Quest => Cow::Borrowed(""),
                    };
                    resolved.push(piece);
                }
                Outcome::from_bool(wild_match(
                    tokens.len(),
                    |i| match &tokens[i] {
                        Token::Star => Piece::Star,
                        Token::Quest => Piece::Quest,
                        _ => Piece::Lit(&resolved[i]),
                    },
                    text,
                    self.fold,
                ))
            }
        }
    }

    /// Matches `text` when the pattern has no variables (actions); a pattern with variables
    /// never matches here.
    pub(crate) fn matches_plain(&self, text: &str) -> bool {
        match &self.kind {
            Kind::Any => true,
            Kind::Exact(s) => eq_text(s, text, self.fold),
            Kind::Prefix(p) => has_prefix(text, p, self.fold),
            Kind::General {
                tokens,
                vars: false,
            } => match_tokens(tokens, text, self.fold),
            Kind::General { vars: true, .. } => false,
        }
    }
}

/// Matches tokens without variables.
fn match_tokens(tokens: &[Token], text: &str, fold: bool) -> bool {
    if let Some(Token::Lit(first)) = tokens.first() {
        if !may_start_with(text, first, fold) {
            return false;
        }
    }
    wild_match(tokens.len(), |i| piece_of(&tokens[i]), text, fold)
}

#[derive(Clone, Copy)]
enum Piece<'a> {
    Lit(&'a str),
    Star,
    Quest,
}

fn piece_of(t: &Token) -> Piece<'_> {
    match t {
        Token::Lit(s) => Piece::Lit(s),
        Token::Star => Piece::Star,
        Token::Quest => Piece::Quest,
        // Not reached: patterns with variables go through the resolving path.
        Token::Var(_) => Piece::Lit(""),
    }
}

fn eq_char(a: char, b: char, fold: bool) -> bool {
    if a == b {
        return true;
    }
    if !fold {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(&b);
    }
    a.to_lowercase().eq(b.to_lowercase())
}

/// Whether `text` starts with `prefix`; when folding, `prefix` is ASCII.
fn has_prefix(text: &str, prefix: &str, fold: bool) -> bool {
    match text.as_bytes().get(..prefix.len()) {
        Some(head) if fold => head.eq_ignore_ascii_case(prefix.as_bytes()),
        Some(head) => head == prefix.as_bytes(),
        None => false,
    }
}

/// Whether `text` can match a pattern whose first piece is the literal `lit`: a cheap
/// rejection before the general matcher (exact only for ASCII literals; others pass).
fn may_start_with(text: &str, lit: &str, fold: bool) -> bool {
    if fold && !lit.is_ascii() {
        return true;
    }
    has_prefix(text, lit, fold)
}

/// Text equality, optionally ignoring case.
pub(crate) fn eq_text(a: &str, b: &str, fold: bool) -> bool {
    if !fold {
        return a == b;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    let mut ai = a.chars();
    let mut bi = b.chars();
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if eq_char(x, y, true) => {}
            _ => return false,
        }
    }
}

/// Matches `text` against `n` pieces. Linear-time two-pointer matching with a single backtrack
/// point (the last `*` seen), which is exact for `*`/`?` patterns.
fn wild_match<'p>(n: usize, piece: impl Fn(usize) -> Piece<'p>, text: &str, fold: bool) -> bool {
    // Pattern position: piece index and byte offset within a literal piece.
    let mut pi = 0usize;
    let mut po = 0usize;
    let mut t = 0usize;
    // Where to resume after a mismatch: the pattern position after the last `*`, and the text
    // position that `*` has absorbed up to.
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        // Skip literal pieces that are used up (or empty, like a variable resolved to "").
        while pi < n {
            match piece(pi) {
                Piece::Lit(s) if po >= s.len() => {
                    pi += 1;
                    po = 0;
                }
                _ => break,
            }
        }
        let rest = text.get(t..).unwrap_or("");
        let advanced = if pi == n {
            if rest.is_empty() {
                return true;
            }
            false
        } else {
            match piece(pi) {
                Piece::Star => {
                    pi += 1;
                    po = 0;
                    backtrack = Some((pi, t));
                    continue;
                }
                Piece::Quest => match rest.chars().next() {
                    Some(c) => {
                        t += c.len_utf8();
                        pi += 1;
                        po = 0;
                        true
                    }
                    None => false,
                },
                Piece::Lit(s) => {
                    match (
                        s.get(po..).and_then(|r| r.chars().next()),
                        rest.chars().next(),
                    ) {
                        (Some(pc), Some(tc)) if eq_char(pc, tc, fold) => {
                            po += pc.len_utf8();
                            t += tc.len_utf8();
                            true
                        }
                        _ => false,
                    }
                }
            }
        };
        if advanced {
            continue;
        }
        // Mismatch: let the last `*` absorb one more character, or fail.
        match backtrack {
            Some((bp, bt)) => match text.get(bt..).and_then(|r| r.chars().next()) {
                Some(c) => {
                    let nt = bt + c.len_utf8();
                    backtrack = Some((bp, nt));
                    pi = bp;
                    po = 0;
                    t = nt;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::NoVars;

    const LIKE: Syntax = Syntax {
        wildcards: true,
        variables: false,
        fold: false,
    };
    const LIKE_FOLD: Syntax = Syntax {
        wildcards: true,
        variables: false,
        fold: true,
    };

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a", "a", true),
            ("a", "A", false),
            ("a", "ab", false),
            ("?", "", false),
            ("?", "a", true),
            ("?", "ab", false),
            ("??", "ab", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbcd", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("*ab*ab*", "xxabyyab", true),
            ("*ab*ab*", "xxabyyaXb", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*?", "", false),
            ("*?", "x", true),
            ("?*?", "x", false),
            ("?*?", "xy", true),
            ("kms:Generate*", "kms:GenerateDataKey", true),
            ("kms:Generate*", "kms:GenerateRandom", true),
            ("kms:Generate*", "kms:Encrypt", false),
            ("kms:*Key*", "kms:DescribeKey", true),
            ("kms:*Key*", "kms:Decrypt", false),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:us-east-1:111122223333:key/abc",
                true,
            ),
            ("ü?é", "üxé", true),
            ("ü?é", "üééé", false),
            ("*é", "日本é", true),
            ("a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
        ];
        for &(p, t, want) in cases {
            assert_eq!(
                Pattern::new(p, LIKE).matches(t, &NoVars),
                Outcome::from_bool(want),
                "{p:?} vs {t:?}"
            );
            assert_eq!(
                Pattern::new(p, LIKE).matches_plain(t),
                want,
                "{p:?} vs {t:?}"
            );
        }
    }

    #[test]
    fn case_folding() {
        let cases: &[(&str, &str, bool)] = &[
            ("kms:encrypt", "KMS:Encrypt", true),
            ("KMS:ENCRYPT", "kms:encrypt", true),
            ("kms:gen*", "kms:GenerateDataKey", true),
            ("kms:?ncrypt", "kms:Encrypt", true),
            ("kms:decrypt", "kms:Encrypt", false),
            ("ÄB", "äb", true),
            ("ä*", "ÄRGER", true),
        ];
        for &(p, t, want) in cases {
            assert_eq!(
                Pattern::new(p, LIKE_FOLD).matches_plain(t),
                want,
                "{p:?} vs {t:?}"
            );
        }
    }

    #[test]
    fn literal_syntax_ignores_wildcards() {
        let s = Syntax {
            wildcards: false,
            variables: false,
            fold: false,
        };
        assert!(Pattern::new("a*", s).matches_plain("a*"));
        assert!(!Pattern::new("a*", s).matches_plain("ab"));
        assert!(Pattern::new("a?", s).matches_plain("a?"));
        assert!(!Pattern::new("*", s).matches_plain("x"));
    }

    /// The obvious exponential matcher, as a reference.
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            Some('?') => !t.is_empty() && reference(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && reference(&p[1..], &t[1..]),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// `*` and `?` mean what the exponential reference matcher says, on any text.
        #[test]
        fn agrees_with_the_reference_matcher(p in "[ab*?é]{0,8}", t in "[abé]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            proptest::prop_assert_eq!(
                Pattern::new(&p, LIKE).matches_plain(&t),
                reference(&pc, &tc),
                "{:?} vs {:?}", p, t
            );
        }

        /// Folding: the same as matching lower-cased text with a lower-cased pattern.
        #[test]
        fn folding_is_matching_lower_cased(p in "[aB*?Ék]{0,8}", t in "[AbéK]{0,10}") {
            let pc: Vec<char> = p.to_lowercase().chars().collect();
            let tc: Vec<char> = t.to_lowercase().chars().collect();
            proptest::prop_assert_eq!(
                Pattern::new(&p, LIKE_FOLD).matches_plain(&t),
                reference(&pc, &tc),
                "{:?} vs {:?}", p, t
            );
        }
    }

    #[test]
    fn any() {
        assert!(Pattern::new("*", LIKE).is_any());
        assert!(Pattern::new("**", LIKE).is_any());
        assert!(!Pattern::new("*a", LIKE).is_any());
    }
}
