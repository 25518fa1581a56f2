//! A test in the generated code: one sample of every typed structure, every member present and
//! text that needs escaping, written by the generated `WriteJson` and by `serde_json` (through the
//! derived `Serialize`); the two must give the same bytes.

use crate::model::Kind;
use crate::{emit, names, Gen};

/// A Rust expression building a sample value of `shape`.
fn sample(gen: &Gen, shape: &str) -> Result<String, String> {
    Ok(match &gen.model.shape(shape)?.kind {
        Kind::String {
            enum_values: Some(values),
            ..
        } => {
            let last = values
                .last()
                .ok_or_else(|| format!("{shape}: an enum without values"))?;
            format!("{}::{}", gen.name(shape)?, names::variant(shape, last)?)
        }
        Kind::String {
            sensitive: true, ..
        } => format!("::zeroize::Zeroizing::new(String::from({:?}))", "s\u{1}\"é"),
        Kind::String { .. } => format!("String::from({:?})", "text \"q\" \\ \n\u{7f} é 🦀"),
        Kind::Blob { .. } => "crate::types::Blob::new(vec![0, 1, 2, 250, 251, 255, 62])".into(),
        Kind::Integer { .. } => "-7".into(),
        Kind::Boolean => "true".into(),
        Kind::Timestamp => "crate::types::Timestamp(1_700_000_000.25)".into(),
        Kind::List { member, .. } => {
            let s = sample(gen, member)?;
            format!("vec![{s}, {s}]")
        }
        Kind::Map { value, .. } => {
            let s = sample(gen, value)?;
            format!(
                "[(String::from(\"k1\"), {s}), (String::from(\"k\\t2\"), {s})].into_iter().collect()"
            )
        }
        Kind::Structure { .. } => format!("sample_{}()", gen.name(shape)?),
    })
}

pub fn emit(gen: &Gen, out: &mut String) -> Result<(), String> {
    emit!(out);
    emit!(out, "#[cfg(test)]");
    emit!(out, "#[allow(non_snake_case)]");
    emit!(out, "mod writer_samples {{");
    emit!(out, "    use super::*;");
    let mut names = Vec::new();
    for (shape, s) in &gen.model.shapes {
        let Kind::Structure { members, required } = &s.kind else {
            continue;
        };
        if s.exception || !gen.typed.contains(shape.as_str()) {
            continue;
        }
        let name = gen.name(shape)?;
        emit!(out);
        emit!(out, "    pub(super) fn sample_{name}() -> {name} {{");
        emit!(out, "        {name} {{");
        for m in members {
            let field = names::field(&m.name)?;
            let value = sample(gen, &m.target)?;
            if required.contains(&m.name) {
                emit!(out, "            {field}: {value},");
            } else {
                emit!(out, "            {field}: Some({value}),");
            }
        }
        emit!(out, "        }}");
        emit!(out, "    }}");
        names.push(name.to_string());
    }
    emit!(out);
    emit!(out, "    #[test]");
    emit!(
        out,
        "    fn every_structure_writes_what_serde_json_writes() {{"
    );
    for name in &names {
        emit!(out, "        let v = sample_{name}();");
        emit!(
            out,
            "        assert_eq!(String::from_utf8(crate::json::to_vec(&v)).unwrap(), \
             serde_json::to_string(&v).unwrap(), \"{name}\");"
        );
    }
    emit!(out, "    }}");
    emit!(out, "}}");
    Ok(())
}
