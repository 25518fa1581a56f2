//! How model names become Rust names.
//!
//! - Types keep the model's shape names, less a trailing `Type` that is only the model's naming
//!   habit (`KeyUsageType` is `KeyUsage`, `OriginType` is `Origin`). The suffix stays where the enum
//!   is the *kind of* a thing whose own name should stay free (`CustomKeyStoreType`, `MessageType`,
//!   `ImportType`, `RotationType`), and where dropping it would collide with another shape
//!   (`MultiRegionKeyType`, beside the `MultiRegionKey` structure).
//! - Enum variants are the wire names in UpperCamelCase (`RSAES_OAEP_SHA_256` is `RsaesOaepSha256`,
//!   `PendingDeletion` stays), except where that is not an identifier (see [`VARIANT_OVERRIDES`]).
//! - Fields are the member names in snake_case (`AWSAccountId` is `aws_account_id`).

use std::collections::BTreeSet;

/// Enums whose `Type` suffix is part of what they mean.
const KEEP_TYPE_SUFFIX: &[&str] = &[
    "CustomKeyStoreType",
    "MessageType",
    "ImportType",
    "RotationType",
];

/// (shape, wire name, variant) where the rule above gives no usable identifier.
const VARIANT_OVERRIDES: &[(&str, &str, &str)] = &[
    // `Self` is a keyword.
    ("ResourceOwnerType", "SELF", "SelfAccount"),
];

/// Names the generated module defines itself, which no shape may take.
const RESERVED: &[&str] = &[
    "Request",
    "Blob",
    "Timestamp",
    "DecodeOptions",
    "WireEnum",
    "WireRequest",
];

/// The Rust type name of a structure or enum shape.
pub fn type_name(shape: &str, all_shapes: &BTreeSet<&str>) -> String {
    let stripped = shape.strip_suffix("Type").filter(|s| !s.is_empty());
    match stripped {
        Some(s)
            if !KEEP_TYPE_SUFFIX.contains(&shape)
                && !all_shapes.contains(s)
                && !RESERVED.contains(&s) =>
        {
            s.to_string()
        }
        _ => shape.to_string(),
    }
}

/// Whether a type name is free of the generated module's own names.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// `AWSAccountId` → `aws_account_id`, `CloudHsmClusterId` → `cloud_hsm_cluster_id`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|j| chars.get(j));
            let next = chars.get(i + 1);
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(char::is_ascii_lowercase),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `snake` in upper case, for statics.
pub fn screaming(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// A field name: snake_case, never a keyword.
pub fn field(member: &str) -> Result<String, String> {
    let name = snake(member);
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else",
        "enum", "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match",
        "mod", "move", "mut", "priv", "pub", "ref", "return", "self", "static", "struct", "super",
        "trait", "true", "try", "type", "unsafe", "use", "where", "while", "yield",
    ];
    if KEYWORDS.contains(&name.as_str())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!("member `{member}` has no usable field name"));
    }
    Ok(name)
}

/// How messages name a member: its name with a lower-case first letter (`keyId`), as AWS does.
pub fn message_name(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The variant of an enum's wire name.
pub fn variant(shape: &str, wire: &str) -> Result<String, String> {
    if let Some((_, _, v)) = VARIANT_OVERRIDES
        .iter()
        .find(|(s, w, _)| *s == shape && *w == wire)
    {
        return Ok((*v).to_string());
    }
    let mut out = String::new();
    for part in wire.split(['_', '-', '.', ' ']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        let Some(first) = chars.next() else { continue };
        out.push(first.to_ascii_uppercase());
        if part.chars().any(|c| c.is_ascii_lowercase()) {
            // Already camel case (`PendingDeletion`, `GenerateDataKey`).
            out.extend(chars);
        } else {
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    let usable = out.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && out.chars().all(|c| c.is_ascii_alphanumeric())
        && out != "Self";
    if usable {
        Ok(out)
    } else {
        Err(format!(
            "{shape}: wire name `{wire}` needs an entry in VARIANT_OVERRIDES"
        ))
    }
}
