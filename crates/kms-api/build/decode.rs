//! The decoder: for each shape an input reaches, a "raw" form that accepts any JSON (so a wrong
//! type is reported in the reference validator's order, not by serde) and a check that turns the
//! raw form into the typed value while collecting AWS's violation messages; then one `decode` per
//! operation and the `Request` enum.
//!
//! The walk follows `crate::validate` exactly: a structure reports its missing required members
//! (in the model's order) before it checks its members (in name order); a string checks length,
//! then enum, then pattern.

use crate::model::Kind;
use crate::{emit, names, Gen};

fn opt(v: Option<i64>) -> String {
    match v {
        Some(n) => format!("Some({n})"),
        None => "None".into(),
    }
}

/// The static holding a shape's constraints.
fn rule(shape: &str) -> String {
    format!("RULE_{}", names::screaming(shape))
}

fn check_fn(shape: &str) -> String {
    format!("check_{}", names::snake(shape))
}

fn fields_fn(shape: &str) -> String {
    format!("fields_{}", names::snake(shape))
}

pub fn emit(gen: &Gen, out: &mut String) -> Result<(), String> {
    emit!(out);
    emit!(
        out,
        "// ---- Decoding: constraints, raw forms and checks of every shape an input reaches."
    );
    for shape in &gen.inputs {
        emit_shape(gen, out, shape)?;
    }
    emit_operations(gen, out)
}

fn emit_shape(gen: &Gen, out: &mut String, shape: &str) -> Result<(), String> {
    let kind = &gen.model.shape(shape)?.kind;
    let raw = gen.raw_type(shape)?;
    let ty = gen.rust_type(shape)?;
    let rule = rule(shape);
    let check = check_fn(shape);
    emit!(out);
    let body = match kind {
        Kind::String {
            min,
            max,
            pattern,
            sensitive,
            enum_values,
            ..
        } => {
            let pattern = match pattern {
                Some(p) => {
                    let re = format!("RE_{}", names::screaming(shape));
                    emit!(
                        out,
                        "static {re}: ::std::sync::LazyLock<Option<::regex::Regex>> ="
                    );
                    emit!(
                        out,
                        "    ::std::sync::LazyLock::new(|| ::regex::Regex::new({p:?}).ok());"
                    );
                    format!("Some(rt::Pattern {{ text: {p:?}, re: &{re} }})")
                }
                None => "None".into(),
            };
            let values = match enum_values {
                Some(v) => format!("Some({:?})", v.join(", ")),
                None => "None".into(),
            };
            emit!(out, "static {rule}: rt::StrRule = rt::StrRule {{");
            emit!(out, "    min: {},", opt(*min));
            emit!(out, "    max: {},", opt(*max));
            emit!(out, "    enum_values: {values},");
            emit!(out, "    pattern: {pattern},");
            emit!(out, "    sensitive: {sensitive},");
            emit!(out, "}};");
            let helper = match (enum_values.is_some(), sensitive) {
                (true, _) => "rt::enumeration",
                (false, true) => "rt::secret",
                (false, false) => "rt::string",
            };
            format!("{helper}(raw, path, &{rule}, cx)")
        }
        Kind::Blob { min, max, .. } => {
            emit!(
                out,
                "static {rule}: rt::LenRule = rt::LenRule {{ min: {}, max: {} }};",
                opt(*min),
                opt(*max)
            );
            format!("rt::blob(raw, path, &{rule}, cx)")
        }
        Kind::Integer { min, max } => {
            emit!(
                out,
                "static {rule}: rt::IntRule = rt::IntRule {{ min: {}, max: {} }};",
                opt(*min),
                opt(*max)
            );
            format!("rt::integer(raw, path, &{rule}, cx)")
        }
        Kind::Boolean => "rt::boolean(raw, path, cx)".into(),
        Kind::Timestamp => "rt::timestamp(raw, path, cx)".into(),
        Kind::List { member, min, max } => {
            emit!(
                out,
                "static {rule}: rt::LenRule = rt::LenRule {{ min: {}, max: {} }};",
                opt(*min),
                opt(*max)
            );
            format!("rt::list(raw, path, &{rule}, cx, {})", check_fn(member))
        }
        Kind::Map {
            key,
            value,
            min,
            max,
        } => {
            emit!(
                out,
                "static {rule}: rt::LenRule = rt::LenRule {{ min: {}, max: {} }};",
                opt(*min),
                opt(*max)
            );
            format!(
                "rt::map(raw, path, &{rule}, cx, {}, {})",
                check_fn(key),
                check_fn(value)
            )
        }
        Kind::Structure { members, required } => {
            emit_structure(gen, out, shape, members, required)?;
            format!("rt::structure(raw, path, cx, {})", fields_fn(shape))
        }
    };
    emit!(out, "fn {check}(raw: {raw}, path: &rt::Path<'_>, cx: &mut rt::Cx<'_>) -> Result<Option<{ty}>, KmsError> {{");
    emit!(out, "    {body}");
    emit!(out, "}}");
    Ok(())
}

fn emit_structure(
    gen: &Gen,
    out: &mut String,
    shape: &str,
    members: &[crate::model::Member],
    required: &[String],
) -> Result<(), String> {
    let name = gen.name(shape)?;
    let raw = format!("Raw{name}");
    let fields: Vec<String> = members
        .iter()
        .map(|m| names::field(&m.name))
        .collect::<Result<_, _>>()?;
    // The raw form.
    emit!(out, "#[derive(Default)]");
    emit!(out, "struct {raw} {{");
    for (m, f) in members.iter().zip(&fields) {
        emit!(out, "    {f}: {},", gen.raw_type(&m.target)?);
    }
    emit!(out, "}}");
    emit!(out);
    emit!(out, "impl rt::RawFields for {raw} {{");
    let list: Vec<String> = members.iter().map(|m| format!("{:?}", m.name)).collect();
    emit!(
        out,
        "    const MEMBERS: &'static [&'static str] = &[{}];",
        list.join(", ")
    );
    emit!(out, "    fn read<'de, A: ::serde::de::MapAccess<'de>>(&mut self, member: usize, map: &mut A) -> Result<(), A::Error> {{");
    emit!(out, "        match member {{");
    for (i, f) in fields.iter().enumerate() {
        emit!(out, "            {i} => self.{f} = map.next_value()?,");
    }
    emit!(out, "            _ => {{");
    emit!(out, "                map.next_value::<rt::Skip>()?;");
    emit!(out, "            }}");
    emit!(out, "        }}");
    emit!(out, "        Ok(())");
    emit!(out, "    }}");
    emit!(out, "}}");
    emit!(out);
    // The check: required members first, in the model's order, then every member by name.
    let (path, cx) = if members.is_empty() {
        ("_path", "_cx")
    } else {
        ("path", "cx")
    };
    let raw_arg = if members.is_empty() { "_raw" } else { "raw" };
    emit!(out, "fn {}({raw_arg}: {raw}, {path}: &rt::Path<'_>, {cx}: &mut rt::Cx<'_>) -> Result<Option<{name}>, KmsError> {{", fields_fn(shape));
    for r in required {
        let i = members
            .iter()
            .position(|m| &m.name == r)
            .ok_or_else(|| format!("{shape}: required `{r}` is not a member"))?;
        emit!(out, "    if rt::RawValue::is_absent(&raw.{}) {{", fields[i]);
        emit!(
            out,
            "        cx.missing(&rt::Path::Member(path, {:?}));",
            names::message_name(r)
        );
        emit!(out, "    }}");
    }
    for (m, f) in members.iter().zip(&fields) {
        emit!(
            out,
            "    let {f} = {}(raw.{f}, &rt::Path::Member(path, {:?}), cx)?;",
            check_fn(&m.target),
            names::message_name(&m.name)
        );
    }
    for (m, f) in members.iter().zip(&fields) {
        if required.contains(&m.name) {
            emit!(out, "    let Some({f}) = {f} else {{");
            emit!(out, "        return Ok(None);");
            emit!(out, "    }};");
        }
    }
    emit!(out, "    Ok(Some({name} {{ {} }}))", fields.join(", "));
    emit!(out, "}}");
    emit!(out);
    Ok(())
}

fn emit_operations(gen: &Gen, out: &mut String) -> Result<(), String> {
    let ops = &gen.model.operations;
    emit!(out);
    emit!(
        out,
        "// ---- Operations: one decode each, and the request of any of them."
    );
    for op in ops {
        let name = gen.name(&op.input)?;
        let (o, input) = (&op.name, &op.input);
        emit!(out);
        emit!(out, "impl {name} {{");
        emit!(
            out,
            "    /// Decodes the body of a `TrentService.{o}` request (see [`decode`])."
        );
        emit!(
            out,
            "    pub fn decode(body: &[u8], opts: &DecodeOptions<'_>) -> Result<Self, KmsError> {{"
        );
        emit!(
            out,
            "        rt::decode_body(body, opts, {})",
            check_fn(input)
        );
        emit!(out, "    }}");
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl WireRequest for {name} {{");
        emit!(out, "    const OPERATION: Operation = Operation::{o};");
        emit!(
            out,
            "    fn decode(body: &[u8], opts: &DecodeOptions<'_>) -> Result<Self, KmsError> {{"
        );
        emit!(out, "        {name}::decode(body, opts)");
        emit!(out, "    }}");
        emit!(out, "}}");
    }
    emit!(out);
    emit!(
        out,
        "/// A decoded request: one variant per operation, holding its typed input."
    );
    emit!(out, "#[derive(Debug, Clone, PartialEq)]");
    emit!(out, "pub enum Request {{");
    for op in ops {
        emit!(out, "    /// `TrentService.{}`", op.name);
        emit!(out, "    {}({}),", op.name, gen.name(&op.input)?);
    }
    emit!(out, "}}");
    emit!(out);
    emit!(out, "impl Request {{");
    emit!(out, "    /// The operation this is a request of.");
    emit!(out, "    pub fn operation(&self) -> Operation {{");
    emit!(out, "        match self {{");
    for op in ops {
        emit!(
            out,
            "            Request::{0}(_) => Operation::{0},",
            op.name
        );
    }
    emit!(out, "        }}");
    emit!(out, "    }}");
    emit!(out, "}}");
    emit!(out);
    emit!(
        out,
        "/// A request serializes as its body (the typed input's members)."
    );
    emit!(out, "impl ::serde::Serialize for Request {{");
    emit!(
        out,
        "    fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{"
    );
    emit!(out, "        match self {{");
    for op in ops {
        emit!(
            out,
            "            Request::{}(r) => r.serialize(s),",
            op.name
        );
    }
    emit!(out, "        }}");
    emit!(out, "    }}");
    emit!(out, "}}");
    emit!(out);
    emit!(
        out,
        "/// Decodes a request body of `op` into its typed request, in one pass over the bytes."
    );
    emit!(out, "///");
    emit!(out, "/// An empty (or whitespace) body is `{{}}`. Malformed JSON, a body that is not an object,");
    emit!(
        out,
        "/// a member of the wrong JSON type and undecodable base64 are `SerializationException`s;"
    );
    emit!(out, "/// the model's constraints are checked together and reported as one `ValidationException`,");
    emit!(
        out,
        "/// with the messages and in the order of [`crate::validate_input`]. Unknown members are"
    );
    emit!(out, "/// ignored and `null` is an absent member.");
    emit!(out, "pub fn decode(op: Operation, body: &[u8], opts: &DecodeOptions<'_>) -> Result<Request, KmsError> {{");
    emit!(out, "    match op {{");
    for op in ops {
        emit!(
            out,
            "        Operation::{0} => {1}::decode(body, opts).map(Request::{0}),",
            op.name,
            gen.name(&op.input)?
        );
    }
    emit!(out, "    }}");
    emit!(out, "}}");
    Ok(())
}
