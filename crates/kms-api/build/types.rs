//! The typed structs: every operation's `<Op>Request` and `<Op>Response` and the structures they
//! nest. Required members are plain fields, the others `Option`s; responses serialize with the
//! model's member names and leave out what is `None`.

use crate::model::{Kind, Member};
use crate::{emit, names, Gen};

fn bounds(min: Option<i64>, max: Option<i64>, unit: &str) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("; {a} to {b} {unit}"),
        (Some(a), None) => format!("; at least {a} {unit}"),
        (None, Some(b)) => format!("; at most {b} {unit}"),
        (None, None) => String::new(),
    }
}

/// A one-line description of a member's shape for its doc comment.
fn describe(gen: &Gen, target: &str) -> Result<String, String> {
    Ok(match &gen.model.shape(target)?.kind {
        Kind::String {
            enum_values: Some(_),
            ..
        } => format!("`{target}`"),
        Kind::String {
            min,
            max,
            pattern,
            sensitive,
            ..
        } => {
            let mut d = format!("`{target}`{}", bounds(*min, *max, "characters"));
            if let Some(p) = pattern {
                d.push_str(&format!("; pattern `{p}`"));
            }
            if *sensitive {
                d.push_str("; sensitive: wiped on drop, never shown");
            }
            d
        }
        Kind::Blob { min, max, .. } => {
            format!(
                "`{target}`, base64 on the wire{}",
                bounds(*min, *max, "bytes")
            )
        }
        Kind::Integer { min, max } => format!("`{target}`{}", bounds(*min, *max, "inclusive")),
        Kind::List { min, max, .. } => format!("`{target}`{}", bounds(*min, *max, "items")),
        Kind::Map { min, max, .. } => format!("`{target}`{}", bounds(*min, *max, "entries")),
        Kind::Boolean | Kind::Timestamp | Kind::Structure { .. } => format!("`{target}`"),
    })
}

fn is_sensitive_string(gen: &Gen, shape: &str) -> Result<bool, String> {
    Ok(matches!(
        gen.model.shape(shape)?.kind,
        Kind::String {
            sensitive: true,
            ..
        }
    ))
}

/// Whether a required member of this shape has a `Default` (so the struct can derive it).
fn has_default(gen: &Gen, shape: &str) -> Result<bool, String> {
    Ok(!matches!(
        &gen.model.shape(shape)?.kind,
        Kind::String {
            enum_values: Some(_),
            ..
        } | Kind::Structure { .. }
            | Kind::Timestamp
    ))
}

pub fn emit(gen: &Gen, out: &mut String) -> Result<(), String> {
    emit!(out);
    emit!(
        out,
        "// ---- Structures: requests, responses and what they nest."
    );
    let mut roles = std::collections::BTreeMap::new();
    for op in &gen.model.operations {
        roles.insert(
            op.input.as_str(),
            format!("Input of `TrentService.{}`.", op.name),
        );
        if let Some(o) = &op.output {
            roles
                .entry(o.as_str())
                .or_insert_with(|| format!("Output of `TrentService.{}`.", op.name));
        }
    }
    for (shape, s) in &gen.model.shapes {
        let Kind::Structure { members, required } = &s.kind else {
            continue;
        };
        if s.exception || !gen.typed.contains(shape.as_str()) {
            continue;
        }
        let doc = roles
            .get(shape.as_str())
            .cloned()
            .unwrap_or_else(|| format!("The model's `{shape}` structure."));
        emit_struct(gen, out, gen.name(shape)?, &doc, members, required)?;
    }
    // Operations without an output answer `{}`; one shares another's output. Both get their
    // `<Op>Response` name all the same, so every operation has one.
    for op in &gen.model.operations {
        let want = format!("{}Response", op.name);
        match &op.output {
            None => emit_struct(
                gen,
                out,
                &want,
                &format!("Output of `TrentService.{}`: an empty object.", op.name),
                &[],
                &[],
            )?,
            Some(o) if *o != want => {
                emit!(out);
                emit!(
                    out,
                    "/// Output of `TrentService.{}`: the model's `{o}`.",
                    op.name
                );
                emit!(out, "pub type {want} = {};", gen.name(o)?);
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn emit_struct(
    gen: &Gen,
    out: &mut String,
    name: &str,
    doc: &str,
    members: &[Member],
    required: &[String],
) -> Result<(), String> {
    let mut fields = Vec::new();
    let mut redact = false;
    let mut default = true;
    for m in members {
        let req = required.contains(&m.name);
        let ty = gen.rust_type(&m.target)?;
        let secret = is_sensitive_string(gen, &m.target)?;
        redact |= secret;
        if req && !has_default(gen, &m.target)? {
            default = false;
        }
        fields.push((names::field(&m.name)?, m, req, ty, secret));
    }
    emit!(out);
    emit!(out, "/// {doc}");
    let mut derives = vec!["Clone", "PartialEq", "::serde::Serialize"];
    if !redact {
        derives.push("Debug");
    }
    if default {
        derives.push("Default");
    }
    emit!(out, "#[derive({})]", derives.join(", "));
    emit!(out, "pub struct {name} {{");
    for (field, m, req, ty, _) in &fields {
        let mut d = format!(
            "`{}`{}: {}",
            m.name,
            if *req { " (required)" } else { "" },
            describe(gen, &m.target)?
        );
        if m.deprecated {
            d.push_str(". Deprecated by the model");
        }
        emit!(out, "    /// {d}.");
        if *req {
            emit!(out, "    #[serde(rename = {:?})]", m.name);
            emit!(out, "    pub {field}: {ty},");
        } else {
            emit!(
                out,
                "    #[serde(rename = {:?}, skip_serializing_if = \"Option::is_none\")]",
                m.name
            );
            emit!(out, "    pub {field}: Option<{ty}>,");
        }
    }
    emit!(out, "}}");
    emit!(out);
    emit!(out, "impl crate::json::WriteJson for {name} {{");
    emit!(out, "    fn write_json(&self, out: &mut Vec<u8>) {{");
    if fields.is_empty() {
        emit!(out, "        out.extend_from_slice(b\"{{}}\");");
    } else {
        emit!(out, "        let mut o = crate::json::Object::begin(out);");
        for (field, m, req, _, _) in &fields {
            if *req {
                emit!(out, "        o.member({:?}, &self.{field});", m.name);
            } else {
                emit!(
                    out,
                    "        if let Some(v) = &self.{field} {{ o.member({:?}, v); }}",
                    m.name
                );
            }
        }
        emit!(out, "        o.end();");
    }
    emit!(out, "    }}");
    emit!(out, "}}");
    if redact {
        emit!(out);
        emit!(out, "impl ::std::fmt::Debug for {name} {{");
        emit!(
            out,
            "    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{"
        );
        emit!(out, "        f.debug_struct({name:?})");
        for (field, _, req, _, secret) in &fields {
            if !*secret {
                emit!(out, "            .field({field:?}, &self.{field})");
            } else if *req {
                emit!(out, "            .field({field:?}, &\"<redacted>\")");
            } else {
                emit!(
                    out,
                    "            .field({field:?}, &self.{field}.as_ref().map(|_| \"<redacted>\"))"
                );
            }
        }
        emit!(out, "            .finish()");
        emit!(out, "    }}");
        emit!(out, "}}");
    }
    Ok(())
}
