//! The `Condition` element: operators, their compiled values, and their evaluation.
//!
//! Within one statement every operator, and every key under an operator, must be true (AND);
//! the values listed for one key are alternatives (OR). A negated operator (`StringNotEquals`,
//! `NotIpAddress`, `ArnNotLike`...) is true when the request value matches none of the values.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::Value as Json;

use crate::arn::ArnPattern;
use crate::context::{ContextValue, RequestContext};
use crate::error::{ErrorKind, PolicyError};
use crate::values::{
    decode_base64, nanos_of, nanos_of_epoch, parse_bool, parse_date, parse_number, Cidr, Nanos,
};
use crate::variables::{has_vars, tokenize, VarSource};
use crate::wildcard::{Outcome, Pattern, Syntax};

/// `ForAnyValue:` / `ForAllValues:`, for multivalued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    /// No qualifier.
    Single,
    /// `ForAnyValue:`: some request value satisfies the operator.
    Any,
    /// `ForAllValues:`: every request value satisfies the operator (true for none).
    All,
}

/// A comparison of a request value with a policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The operator family, without negation, `IfExists` or set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// The base operator names: (name, family, negated).
const OPERATORS: &[(&str, Op, bool)] = &[
    ("StringEquals", Op::StringEquals, false),
    ("StringNotEquals", Op::StringEquals, true),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase, false),
    (
        "StringNotEqualsIgnoreCase",
        Op::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Op::StringLike, false),
    ("StringNotLike", Op::StringLike, true),
    ("NumericEquals", Op::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Op::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Op::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Op::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Op::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Op::Numeric(Cmp::Ge), false),
    ("DateEquals", Op::Date(Cmp::Eq), false),
    ("DateNotEquals", Op::Date(Cmp::Eq), true),
    ("DateLessThan", Op::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Op::Date(Cmp::Le), false),
    ("DateGreaterThan", Op::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Op::Date(Cmp::Ge), false),
    ("Bool", Op::Bool, false),
    ("BinaryEquals", Op::Binary, false),
    ("IpAddress", Op::Ip, false),
    ("NotIpAddress", Op::Ip, true),
    ("ArnEquals", Op::Arn, false),
    ("ArnLike", Op::Arn, false),
    ("ArnNotEquals", Op::Arn, true),
    ("ArnNotLike", Op::Arn, true),
    ("Null", Op::Null, false),
];

/// The compiled policy values of one condition.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Text(Vec<Pattern>),
    Arns(Vec<ArnPattern>),
    Numbers(Vec<f64>),
    Dates(Vec<Nanos>),
    Bools(Vec<bool>),
    Binaries(Vec<Vec<u8>>),
    Cidrs(Vec<Cidr>),
}

/// One operator applied to one key, with its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// The context key, lower-cased.
    key: String,
    op: Op,
    negated: bool,
    if_exists: bool,
    set: SetOp,
    values: Values,
    /// Whether some value holds a policy variable.
    vars: bool,
}

/// Parses an operator name such as `ForAllValues:StringNotLikeIfExists`. Names are matched
/// ignoring case.
fn parse_operator(name: &str) -> Option<(SetOp, Op, bool, bool)> {
    let (set, base) = match name.split_once(':') {
        None => (SetOp::Single, name),
        Some((q, base)) if q.eq_ignore_ascii_case("ForAnyValue") => (SetOp::Any, base),
        Some((q, base)) if q.eq_ignore_ascii_case("ForAllValues") => (SetOp::All, base),
        Some(_) => return None,
    };
    let lookup = |n: &str| {
        OPERATORS
            .iter()
            .find(|(known, _, _)| known.eq_ignore_ascii_case(n))
            .map(|&(_, op, neg)| (op, neg))
    };
    if let Some((op, negated)) = lookup(base) {
        return Some((set, op, negated, false));
    }
    let suffix = "IfExists";
    let cut = base.len().checked_sub(suffix.len())?;
    let (stem, tail) = (base.get(..cut)?, base.get(cut..)?);
    if !tail.eq_ignore_ascii_case(suffix) {
        return None;
    }
    match lookup(stem)? {
        (Op::Null, _) => None,
        (op, negated) => Some((set, op, negated, true)),
    }
}

/// The text of a condition value: a string, or a boolean or number written without quotes.
fn value_texts(v: &Json) -> Option<Vec<String>> {
    let one = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Json::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Json::Array(_) => None,
        other => one(other).map(|s| vec![s]),
    }
}

/// Parses a statement's `Condition` element. `variables` says whether the policy version
/// supports policy variables; `at` locates the statement for messages.
pub(crate) fn parse_conditions(
    element: &Json,
    variables: bool,
    at: &str,
) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(ops) = element else {
        return Err(PolicyError::new(
            ErrorKind::InvalidCondition,
            format!("{at}: Condition must be an object that maps condition operators to {{key: value}} objects"),
        ));
    };
    let mut out = Vec::new();
    for (name, keys) in ops {
        let (set, op, negated, if_exists) = parse_operator(name).ok_or_else(|| {
            PolicyError::new(
                ErrorKind::UnknownConditionOperator,
                format!("{at}: unknown condition operator \"{name}\""),
            )
        })?;
        let Json::Object(keys) = keys else {
            return Err(PolicyError::new(
                ErrorKind::InvalidCondition,
                format!("{at}: the value of condition operator {name} must be an object of condition keys"),
            ));
        };
        for (key, raw) in keys {
            if key.is_empty() {
                return Err(PolicyError::new(
                    ErrorKind::InvalidCondition,
                    format!("{at}: condition operator {name} has an empty condition key"),
                ));
            }
            let texts = value_texts(raw).ok_or_else(|| {
                PolicyError::new(
                    ErrorKind::InvalidConditionValue,
                    format!("{at}: the value of {name} for key {key} must be a string, a boolean, a number or a non-empty list of them"),
                )
            })?;
            let bad = |t: &str, what: &str| {
                PolicyError::new(
                    ErrorKind::InvalidConditionValue,
                    format!("{at}: {name} for key {key}: \"{t}\" is not {what}"),
                )
            };
            let text_syntax = |wildcards: bool, fold: bool| Syntax {
                wildcards,
                variables,
                fold,
            };
            let mut vars = false;
            let values = match op {
                Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike => {
                    let syntax = text_syntax(
                        op == Op::StringLike,
                        op == Op::StringEqualsIgnoreCase,
                    );
                    let patterns = texts
                        .iter()
                        .map(|t| {
                            let tokens = tokenize(t, syntax.wildcards, syntax.variables);
                            vars |= has_vars(&tokens);
                            Pattern::from_tokens(tokens, syntax.fold)
                        })
                        .collect();
                    Values::Text(patterns)
                }
                Op::Arn => {
                    vars = variables && texts.iter().any(|t| has_vars(&tokenize(t, true, true)));
                    Values::Arns(texts.iter().map(|t| ArnPattern::new(t, variables)).collect())
                }
                Op::Numeric(_) => Values::Numbers(
                    texts
                        .iter()
                        .map(|t| parse_number(t).ok_or_else(|| bad(t, "a number")))
                        .collect::<Result<_, _>>()?,
                ),
                Op::Date(_) => Values::Dates(
                    texts
                        .iter()
                        .map(|t| {
                            parse_date(t).ok_or_else(|| {
                                bad(t, "a date (ISO 8601 such as 2020-01-01T00:00:00Z, or epoch seconds)")
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Op::Bool | Op::Null => Values::Bools(
                    texts
                        .iter()
                        .map(|t| parse_bool(t).ok_or_else(|| bad(t, "true or false")))
                        .collect::<Result<_, _>>()?,
                ),
                Op::Binary => Values::Binaries(
                    texts
                        .iter()
                        .map(|t| decode_base64(t).ok_or_else(|| bad(t, "base64")))
                        .collect::<Result<_, _>>()?,
                ),
                Op::Ip => Values::Cidrs(
                    texts
                        .iter()
                        .map(|t| {
                            Cidr::parse(t).ok_or_else(|| {
                                bad(t, "an IP address or CIDR range such as 203.0.113.0/24")
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
            };
            out.push(Condition {
                key: key.to_lowercase(),
                op,
                negated,
                if_exists,
                set,
                values,
                vars,
            });
        }
    }
    Ok(out)
}

/// The values of a request key, one at a time.
enum Each<'a> {
    One(Option<ContextValue<'a>>),
    Many(std::slice::Iter<'a, String>),
}

impl<'a> Iterator for Each<'a> {
    type Item = ContextValue<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Each::One(v) => v.take(),
            Each::Many(it) => it.next().map(|s| ContextValue::String(s)),
        }
    }
}

fn each(v: ContextValue<'_>) -> Each<'_> {
    match v {
        ContextValue::Strings(list) => Each::Many(list.iter()),
        other => Each::One(Some(other)),
    }
}

fn as_text(v: ContextValue<'_>) -> Option<Cow<'_, str>> {
    match v {
        ContextValue::String(s) => Some(Cow::Borrowed(s)),
        ContextValue::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        ContextValue::Number(n) => Some(Cow::Owned(n.to_string())),
        ContextValue::Date(d) => d
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
            .map(Cow::Owned),
        ContextValue::Ip(ip) => Some(Cow::Owned(ip.to_string())),
        ContextValue::Strings(_) | ContextValue::Binary(_) => None,
    }
}

fn as_number(v: ContextValue<'_>) -> Option<f64> {
    match v {
        ContextValue::Number(n) => Some(n),
        ContextValue::String(s) => parse_number(s),
        _ => None,
    }
}

fn as_date(v: ContextValue<'_>) -> Option<Nanos> {
    match v {
        ContextValue::Date(d) => Some(nanos_of(d)),
        ContextValue::Number(n) => nanos_of_epoch(n),
        ContextValue::String(s) => parse_date(s),
        _ => None,
    }
}

fn as_bool(v: ContextValue<'_>) -> Option<bool> {
    match v {
        ContextValue::Bool(b) => Some(b),
        ContextValue::String(s) => parse_bool(s),
        _ => None,
    }
}

fn as_bytes(v: ContextValue<'_>) -> Option<Cow<'_, [u8]>> {
    match v {
        ContextValue::Binary(b) => Some(Cow::Borrowed(b)),
        ContextValue::String(s) => decode_base64(s).map(Cow::Owned),
        _ => None,
    }
}

fn as_ip(v: ContextValue<'_>) -> Option<IpAddr> {
    match v {
        ContextValue::Ip(ip) => Some(ip),
        ContextValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// OR over the policy values, as a match outcome. When patterns hold variables every value is
/// looked at, so that an unresolved variable makes the condition fail whatever the order.
fn any_outcome<T>(items: &[T], vars: bool, f: impl Fn(&T) -> Outcome) -> Outcome {
    let mut hit = false;
    for item in items {
        match f(item) {
            Outcome::Match if !vars => return Outcome::Match,
            Outcome::Match => hit = true,
            Outcome::NoMatch => {}
            Outcome::Unresolved => return Outcome::Unresolved,
        }
    }
    Outcome::from_bool(hit)
}

impl Condition {
    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &RequestContext<'_>) -> bool {
        let value = ctx.lookup(&self.key);
        let absent = match value {
            None | Some(ContextValue::Strings([])) => true,
            // For the set operators an empty string is an empty set.
            Some(ContextValue::String("")) => self.set != SetOp::Single,
            Some(_) => false,
        };
        if self.op == Op::Null {
            let Values::Bools(wanted) = &self.values else {
                return false;
            };
            // `Null: true` asks for the key to be absent.
            return wanted.contains(&absent);
        }
        let value = match value {
            Some(v) if !absent => v,
            _ => {
                return self.if_exists
                    || match self.set {
                        SetOp::All => true,
                        SetOp::Any => false,
                        SetOp::Single => self.negated,
                    }
            }
        };
        let mut any_hit = false;
        let mut any_sat = false;
        let mut all_sat = true;
        for v in each(value) {
            let hit = match self.hit(v, ctx) {
                Outcome::Match => true,
                Outcome::NoMatch => false,
                // A variable without value, or a request value of the wrong type: the
                // condition cannot hold.
                Outcome::Unresolved => return false,
            };
            let sat = hit != self.negated;
            any_hit |= hit;
            any_sat |= sat;
            all_sat &= sat;
        }
        match self.set {
            SetOp::Any => any_sat,
            SetOp::All => all_sat,
            SetOp::Single => any_hit != self.negated,
        }
    }

    /// Whether one request value matches one of the policy values (before negation).
    /// `Unresolved` when it cannot be compared.
    fn hit(&self, v: ContextValue<'_>, ctx: &RequestContext<'_>) -> Outcome {
        let src: &dyn VarSource = ctx;
        let plain = |b: Option<bool>| b.map_or(Outcome::Unresolved, Outcome::from_bool);
        match &self.values {
            Values::Text(patterns) => match as_text(v) {
                Some(text) => any_outcome(patterns, self.vars, |p| p.matches(&text, src)),
                None => Outcome::Unresolved,
            },
            Values::Arns(patterns) => match as_text(v) {
                Some(text) => any_outcome(patterns, self.vars, |p| p.matches(&text, src)),
                None => Outcome::Unresolved,
            },
            Values::Numbers(ns) => {
                let cmp = match self.op {
                    Op::Numeric(c) => c,
                    _ => Cmp::Eq,
                };
                plain(as_number(v).map(|r| ns.iter().any(|&p| cmp.holds(r, p))))
            }
            Values::Dates(ds) => {
                let cmp = match self.op {
                    Op::Date(c) => c,
                    _ => Cmp::Eq,
                };
                plain(as_date(v).map(|r| ds.iter().any(|&p| cmp.holds(r, p))))
            }
            Values::Bools(bs) => plain(as_bool(v).map(|r| bs.contains(&r))),
            Values::Binaries(bins) => {
                plain(as_bytes(v).map(|r| bins.iter().any(|b| b.as_slice() == r.as_ref())))
            }
            Values::Cidrs(cidrs) => plain(as_ip(v).map(|ip| cidrs.iter().any(|c| c.contains(ip)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let ok: &[(&str, SetOp, Op, bool, bool)] = &[
            (
                "StringEquals",
                SetOp::Single,
                Op::StringEquals,
                false,
                false,
            ),
            (
                "stringequals",
                SetOp::Single,
                Op::StringEquals,
                false,
                false,
            ),
            (
                "StringNotEqualsIfExists",
                SetOp::Single,
                Op::StringEquals,
                true,
                true,
            ),
            (
                "ForAnyValue:StringLike",
                SetOp::Any,
                Op::StringLike,
                false,
                false,
            ),
            (
                "ForAllValues:StringNotLikeIfExists",
                SetOp::All,
                Op::StringLike,
                true,
                true,
            ),
            ("foranyvalue:ArnLike", SetOp::Any, Op::Arn, false, false),
            (
                "NumericLessThanEqualsIfExists",
                SetOp::Single,
                Op::Numeric(Cmp::Le),
                false,
                true,
            ),
            (
                "DateGreaterThan",
                SetOp::Single,
                Op::Date(Cmp::Gt),
                false,
                false,
            ),
            ("NotIpAddressIfExists", SetOp::Single, Op::Ip, true, true),
            ("BoolIfExists", SetOp::Single, Op::Bool, false, true),
            (
                "BinaryEqualsIfExists",
                SetOp::Single,
                Op::Binary,
                false,
                true,
            ),
            ("Null", SetOp::Single, Op::Null, false, false),
        ];
        for &(name, set, op, neg, ife) in ok {
            assert_eq!(parse_operator(name), Some((set, op, neg, ife)), "{name}");
        }
        for name in [
            "",
            "StringEq",
            "NullIfExists",
            "IfExists",
            "StringEqualsIfExistsIfExists",
            "ForSomeValues:StringEquals",
            "ForAnyValue:",
            "ForAnyValue:ForAllValues:StringEquals",
            "StringEquals:",
            "BinaryNotEquals",
            "StringéIfExists",
        ] {
            assert_eq!(parse_operator(name), None, "{name:?}");
        }
    }
}
