//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, any `${key}` of the request
//! context, with an optional default (`${key, 'fallback'}`), and the escapes `${*}`, `${?}` and
//! `${$}` for a literal `*`, `?` and `$`.
//!
//! Text is split into [`Token`]s once, when the policy is parsed; a variable is looked up in the
//! request context when the policy is evaluated.

use std::borrow::Cow;

/// A piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// Characters matched as they are.
    Lit(String),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    Quest,
    /// `${key}`: the value of a request context key, matched as literal text.
    Var(Var),
}

/// A policy variable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Var {
    /// The context key, lower-cased (key names are case-insensitive).
    pub key: String,
    /// The text used when the key has no single value in the request.
    pub default: Option<String>,
}

/// Where variables get their values: the request context, with keys looked up lower-cased.
pub(crate) trait VarSource {
    /// The single value of `key` (lower-cased), as text; `None` when the key is absent or
    /// multivalued.
    fn var(&self, key: &str) -> Option<Cow<'_, str>>;
}

/// A source without any value: every variable is unresolved.
#[cfg(test)]
pub(crate) struct NoVars;

#[cfg(test)]
impl VarSource for NoVars {
    fn var(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }
}

/// Splits `text` into tokens. With `wildcards`, `*` and `?` are wildcards; with `variables`,
/// `${...}` is a variable or an escape. Anything else, including a `${` without its `}` or with
/// content that is not a key, is literal text.
pub(crate) fn tokenize(text: &str, wildcards: bool, variables: bool) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if variables && rest.starts_with("${") {
            if let Some((piece, used)) = parse_braced(&rest[2..]) {
                match piece {
                    Braced::Literal(c) => lit.push(c),
                    Braced::Var(var) => {
                        flush(&mut lit, &mut tokens);
                        tokens.push(Token::Var(var));
                    }
                }
                rest = &rest[2 + used..];
                continue;
            }
        }
        match c {
            '*' if wildcards => {
                flush(&mut lit, &mut tokens);
                // `**` means the same as `*`.
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' if wildcards => {
                flush(&mut lit, &mut tokens);
                tokens.push(Token::Quest);
            }
            c => lit.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut lit, &mut tokens);
    tokens
}

fn flush(lit: &mut String, tokens: &mut Vec<Token>) {
    if !lit.is_empty() {
        tokens.push(Token::Lit(std::mem::take(lit)));
    }
}

enum Braced {
    Literal(char),
    Var(Var),
}

/// Parses what follows `${`: the escape or variable and the bytes it used, closing brace included.
fn parse_braced(s: &str) -> Option<(Braced, usize)> {
    // Find the closing brace, skipping a quoted default value, in which `''` is one quote.
    let mut in_quote = false;
    let mut close = None;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if in_quote && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            b'\'' => in_quote = !in_quote,
            b'}' if !in_quote => {
                close = Some(i);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let close = close?;
    let inner = s[..close].trim();
    let used = close + 1;
    match inner {
        "*" => return Some((Braced::Literal('*'), used)),
        "?" => return Some((Braced::Literal('?'), used)),
        "$" => return Some((Braced::Literal('$'), used)),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        None => (inner, None),
        Some((key, default)) => (key.trim(), Some(parse_default(default.trim())?)),
    };
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || "${}'".contains(c)) {
        return None;
    }
    Some((
        Braced::Var(Var {
            key: key.to_lowercase(),
            default,
        }),
        used,
    ))
}

/// `'text'` with `''` standing for one quote.
fn parse_default(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // Inside, a quote only appears doubled.
            if chars.next() != Some('\'') {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// Whether any token is a variable.
pub(crate) fn has_vars(tokens: &[Token]) -> bool {
    tokens.iter().any(|t| matches!(t, Token::Var(_)))
}

/// The value of a variable in `src`, or its default; `None` when neither exists.
pub(crate) fn resolve<'s>(var: &'s Var, src: &'s dyn VarSource) -> Option<Cow<'s, str>> {
    match src.var(&var.key) {
        Some(v) => Some(v),
        None => var.default.as_deref().map(Cow::Borrowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Token {
        Token::Lit(s.to_string())
    }

    fn var(k: &str, d: Option<&str>) -> Token {
        Token::Var(Var {
            key: k.to_string(),
            default: d.map(str::to_string),
        })
    }

    #[test]
    fn tokenizes() {
        let cases: Vec<(&str, bool, bool, Vec<Token>)> = vec![
            ("", true, true, vec![]),
            ("abc", true, true, vec![lit("abc")]),
            (
                "a*b?c",
                true,
                true,
                vec![lit("a"), Token::Star, lit("b"), Token::Quest, lit("c")],
            ),
            ("a*b?c", false, true, vec![lit("a*b?c")]),
            ("a**b", true, false, vec![lit("a"), Token::Star, lit("b")]),
            ("${*}${?}${$}", true, true, vec![lit("*?$")]),
            ("${*}", true, false, vec![lit("${"), Token::Star, lit("}")]),
            (
                "home/${aws:username}/*",
                true,
                true,
                vec![
                    lit("home/"),
                    var("aws:username", None),
                    lit("/"),
                    Token::Star,
                ],
            ),
            (
                "${AWS:PrincipalTag/Team}",
                false,
                true,
                vec![var("aws:principaltag/team", None)],
            ),
            (
                "${ aws:username , 'nobody' }",
                false,
                true,
                vec![var("aws:username", Some("nobody"))],
            ),
            ("${k, 'it''s}'}", false, true, vec![var("k", Some("it's}"))]),
            (
                "${k, 'bad'quote'}",
                false,
                true,
                vec![lit("${k, 'bad'quote'}")],
            ),
            ("${k, nodefault}", false, true, vec![lit("${k, nodefault}")]),
            ("${unclosed", false, true, vec![lit("${unclosed")]),
            ("${}", false, true, vec![lit("${}")]),
            ("${a b}", false, true, vec![lit("${a b}")]),
            ("$x${y}", false, true, vec![lit("$x"), var("y", None)]),
            ("ü*é", true, false, vec![lit("ü"), Token::Star, lit("é")]),
        ];
        for (text, w, v, want) in cases {
            assert_eq!(
                tokenize(text, w, v),
                want,
                "{text:?} wildcards={w} variables={v}"
            );
        }
    }

    #[test]
    fn resolves_with_default() {
        let v = Var {
            key: "k".into(),
            default: Some("d".into()),
        };
        assert_eq!(resolve(&v, &NoVars).as_deref(), Some("d"));
        let v = Var {
            key: "k".into(),
            default: None,
        };
        assert_eq!(resolve(&v, &NoVars), None);
    }
}
