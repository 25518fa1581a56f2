//! Input validation driven by the model: types first (`SerializationException`), then constraints
//! (`ValidationException`) with AWS's message shape.

use serde_json::Value;

use crate::model::{model, Shape};
use crate::{ErrorCode, KmsError, Operation};

/// Validates a request body against the operation's input shape.
///
/// Wrong JSON types and undecodable base64 are `SerializationException`; constraint violations are
/// collected and reported together as one `ValidationException`, as AWS does.
pub fn validate_input(op: Operation, body: &Value) -> Result<(), KmsError> {
    validate_input_except_patterns(op, body, &[])
}

/// [`validate_input`], leaving out the pattern check of the members at the given paths (as
/// messages name them: `xksProxyUriEndpoint`), for callers that check those members themselves
/// under a documented relaxation.
pub fn validate_input_except_patterns(
    op: Operation,
    body: &Value,
    skip: &[&str],
) -> Result<(), KmsError> {
    let m = model();
    let Some(input) = m.inputs.get(op.name()) else {
        return Ok(());
    };
    let mut violations = Vec::new();
    check(input, body, "", skip, &mut violations)?;
    if violations.is_empty() {
        return Ok(());
    }
    let n = violations.len();
    let noun = if n == 1 { "error" } else { "errors" };
    Err(KmsError::new(
        ErrorCode::ValidationException,
        format!("{n} validation {noun} detected: {}", violations.join("; ")),
    ))
}

fn serialization(msg: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::SerializationException, msg)
}

/// AWS names members in messages with a lower-case first letter (`keyId`, `encryptionContext`).
fn member_path(parent: &str, member: &str) -> String {
    let mut chars = member.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_lowercase().collect())
        .unwrap_or_default();
    let name = format!("{first}{}", chars.as_str());
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

fn length_violations(
    len: i64,
    min: Option<i64>,
    max: Option<i64>,
    shown: &str,
    path: &str,
    out: &mut Vec<String>,
) {
    if let Some(min) = min {
        if len < min {
            out.push(format!(
                "{shown} at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
            ));
        }
    }
    if let Some(max) = max {
        if len > max {
            out.push(format!(
                "{shown} at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            ));
        }
    }
}

fn check(
    shape_name: &str,
    v: &Value,
    path: &str,
    skip: &[&str],
    out: &mut Vec<String>,
) -> Result<(), KmsError> {
    let Some(shape) = model().shapes.get(shape_name) else {
        return Ok(());
    };
    match shape {
        Shape::Structure { members, required } => {
            let Some(obj) = v.as_object() else {
                return Err(serialization(format!("Expected a JSON object{}", at(path))));
            };
            for req in required {
                if obj.get(req).is_none_or(Value::is_null) {
                    out.push(format!(
                        "Value null at '{}' failed to satisfy constraint: Member must not be null",
                        member_path(path, req)
                    ));
                }
            }
            for (name, target) in members {
                if let Some(mv) = obj.get(name).filter(|x| !x.is_null()) {
                    check(target, mv, &member_path(path, name), skip, out)?;
                }
            }
        }
        Shape::String {
            min,
            max,
            enum_values,
            pattern,
            sensitive,
        } => {
            let Some(s) = v.as_str() else {
                return Err(serialization(format!("Expected a string{}", at(path))));
            };
            let shown = if *sensitive {
                "Value".to_string()
            } else {
                format!("Value '{s}'")
            };
            let len = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
            length_violations(len, *min, *max, &shown, path, out);
            if let Some(values) = enum_values {
                if !values.iter().any(|e| e == s) {
                    out.push(format!(
                        "{shown} at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        values.join(", ")
                    ));
                }
            }
            if let Some((text, re)) = pattern.as_ref().filter(|_| !skip.contains(&path)) {
                if !re.is_match(s) {
                    out.push(format!(
                        "{shown} at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {text}"
                    ));
                }
            }
        }
        Shape::Blob { min, max } => {
            let Some(s) = v.as_str() else {
                return Err(serialization(format!(
                    "Expected a base64 string{}",
                    at(path)
                )));
            };
            // The decoded length follows from the text; decoding it here and again in the typed
            // request would double the work on the hot path. The characters are checked here
            // without allocating; padding mistakes are caught by the decode that follows.
            let len = base64_decoded_len(s)
                .ok_or_else(|| serialization(format!("Invalid base64{}", at(path))))?;
            let len = i64::try_from(len).unwrap_or(i64::MAX);
            length_violations(len, *min, *max, "Value", path, out);
        }
        Shape::Integer { min, max } => {
            let Some(n) = v.as_i64().filter(|n| i32::try_from(*n).is_ok()) else {
                return Err(serialization(format!("Expected an integer{}", at(path))));
            };
            if let Some(min) = min {
                if n < *min {
                    out.push(format!("Value '{n}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {min}"));
                }
            }
            if let Some(max) = max {
                if n > *max {
                    out.push(format!("Value '{n}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {max}"));
                }
            }
        }
        Shape::Boolean => {
            if !v.is_boolean() {
                return Err(serialization(format!("Expected a boolean{}", at(path))));
            }
        }
        Shape::Timestamp => {
            if !v.is_number() {
                return Err(serialization(format!("Expected a timestamp{}", at(path))));
            }
        }
        Shape::List { member, min, max } => {
            let Some(items) = v.as_array() else {
                return Err(serialization(format!("Expected a JSON array{}", at(path))));
            };
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            length_violations(len, *min, *max, "Value", path, out);
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    continue;
                }
                check(member, item, &format!("{path}.{}.member", i + 1), skip, out)?;
            }
        }
        Shape::Map {
            key,
            value,
            min,
            max,
        } => {
            let Some(obj) = v.as_object() else {
                return Err(serialization(format!("Expected a JSON object{}", at(path))));
            };
            let len = i64::try_from(obj.len()).unwrap_or(i64::MAX);
            length_violations(len, *min, *max, "Value", path, out);
            for (k, mv) in obj {
                check(
                    key,
                    &Value::String(k.clone()),
                    &format!("{path}.key"),
                    skip,
                    out,
                )?;
                if mv.is_null() {
                    continue;
                }
                check(value, mv, &format!("{path}.{k}"), skip, out)?;
            }
        }
    }
    Ok(())
}

/// The length of what a standard, padded base64 text decodes to; `None` when it is not such a text.
pub(crate) fn base64_decoded_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let padding = b.iter().rev().take_while(|c| **c == b'=').count();
    if padding > 2 {
        return None;
    }
    let body = b.get(..b.len() - padding)?;
    if !body
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
    {
        return None;
    }
    Some(b.len() / 4 * 3 - padding)
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at '{path}'")
    }
}
