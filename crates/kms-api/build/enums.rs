//! One Rust enum per enum string shape: the single place its wire names are spelled.

use crate::model::Kind;
use crate::{emit, names, Gen};

pub fn emit(gen: &Gen, out: &mut String) -> Result<(), String> {
    emit!(out, "// ---- Enums: one per enum shape of the model.");
    for (shape, s) in &gen.model.shapes {
        let Kind::String {
            enum_values: Some(values),
            deprecated,
            ..
        } = &s.kind
        else {
            continue;
        };
        if !gen.typed.contains(shape.as_str()) {
            continue;
        }
        let name = gen.name(shape)?;
        let mut variants = Vec::new();
        for wire in values {
            // The response writer copies wire names without escaping them.
            if wire.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
                return Err(format!(
                    "{shape}: wire name {wire:?} would need JSON escaping"
                ));
            }
            let v = names::variant(shape, wire)?;
            if variants.iter().any(|(x, _): &(String, &String)| *x == v) {
                return Err(format!("{shape}: two wire names give variant `{v}`"));
            }
            variants.push((v, wire));
        }
        emit!(out);
        emit!(out, "/// The model's `{shape}`: one variant per wire name.");
        if *deprecated {
            emit!(out, "///");
            emit!(out, "/// The model marks this shape deprecated.");
        }
        emit!(
            out,
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
        );
        emit!(out, "pub enum {name} {{");
        for (v, wire) in &variants {
            emit!(out, "    /// `{wire}`");
            emit!(out, "    {v},");
        }
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl {name} {{");
        emit!(out, "    /// Every value, in the model's order.");
        emit!(out, "    pub const ALL: &'static [{name}] = &[");
        for (v, _) in &variants {
            emit!(out, "        {name}::{v},");
        }
        emit!(out, "    ];");
        emit!(out);
        emit!(out, "    /// The wire name.");
        emit!(out, "    pub const fn as_str(self) -> &'static str {{");
        emit!(out, "        match self {{");
        for (v, wire) in &variants {
            emit!(out, "            {name}::{v} => {wire:?},");
        }
        emit!(out, "        }}");
        emit!(out, "    }}");
        emit!(out);
        emit!(out, "    /// The value of a wire name; `None` for anything else (names are case-sensitive).");
        emit!(out, "    pub fn from_wire(wire: &str) -> Option<Self> {{");
        emit!(out, "        match wire {{");
        for (v, wire) in &variants {
            emit!(out, "            {wire:?} => Some({name}::{v}),");
        }
        emit!(out, "            _ => None,");
        emit!(out, "        }}");
        emit!(out, "    }}");
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl WireEnum for {name} {{");
        emit!(out, "    const SHAPE: &'static str = {shape:?};");
        emit!(out, "    const ALL: &'static [Self] = {name}::ALL;");
        emit!(out, "    fn as_str(self) -> &'static str {{");
        emit!(out, "        {name}::as_str(self)");
        emit!(out, "    }}");
        emit!(out, "    fn from_wire(wire: &str) -> Option<Self> {{");
        emit!(out, "        {name}::from_wire(wire)");
        emit!(out, "    }}");
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl ::std::fmt::Display for {name} {{");
        emit!(
            out,
            "    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{"
        );
        emit!(out, "        f.write_str(self.as_str())");
        emit!(out, "    }}");
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl ::serde::Serialize for {name} {{");
        emit!(
            out,
            "    fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{"
        );
        emit!(out, "        s.serialize_str(self.as_str())");
        emit!(out, "    }}");
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl crate::json::WriteJson for {name} {{");
        emit!(out, "    fn write_json(&self, out: &mut Vec<u8>) {{");
        emit!(
            out,
            "        crate::json::write_plain_str(out, self.as_str())"
        );
        emit!(out, "    }}");
        emit!(out, "}}");
        emit!(out);
        emit!(out, "impl<'de> ::serde::Deserialize<'de> for {name} {{");
        emit!(
            out,
            "    fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {{"
        );
        emit!(out, "        rt::deserialize_enum(d)");
        emit!(out, "    }}");
        emit!(out, "}}");
    }
    Ok(())
}
