//! Generates `kms_api::wire` (written to `$OUT_DIR/wire.rs`) from AWS's KMS API model,
//! `model/kms-api-model.json`:
//!
//! - an enum per enum string shape, the one place its wire names are spelled ([`enums`]);
//! - a typed struct per structure shape: each operation's `<Op>Request` and `<Op>Response` and
//!   what they nest ([`types`]);
//! - the decoder of every request body, straight from the bytes into the typed request, applying
//!   the model's constraints with AWS's messages ([`decode`]). Its hand-written runtime is
//!   `src/wire/support.rs`;
//! - the `WriteJson` response writer of every structure and enum, and a test holding it to
//!   `serde_json`'s output ([`samples`]).
//!
//! Plain string generation: no proc-macro machinery to compile. A model this generator does not
//! understand fails the build with a message rather than generating something approximate.

mod decode;
mod enums;
mod model;
mod names;
mod samples;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use model::{Kind, Model};

/// Appends one formatted line to the generated text.
macro_rules! emit {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}
pub(crate) use emit;

/// The model with what the emitters share: Rust names and which shapes each direction reaches.
pub struct Gen<'m> {
    pub model: &'m Model,
    /// Rust type names of the structure and enum shapes.
    names: BTreeMap<&'m str, String>,
    /// Shapes reachable from some operation's input (these get a decoder).
    pub inputs: BTreeSet<&'m str>,
    /// Shapes reachable from some operation's input or output (these get a type).
    pub typed: BTreeSet<&'m str>,
}

impl<'m> Gen<'m> {
    fn new(model: &'m Model) -> Result<Self, String> {
        let all: BTreeSet<&str> = model.shapes.keys().map(String::as_str).collect();
        let mut names = BTreeMap::new();
        let mut taken = BTreeSet::new();
        for (name, shape) in &model.shapes {
            let named = matches!(shape.kind, Kind::Structure { .. })
                || matches!(
                    shape.kind,
                    Kind::String {
                        enum_values: Some(_),
                        ..
                    }
                );
            if !named || shape.exception {
                continue;
            }
            let rust = names::type_name(name, &all);
            if names::is_reserved(&rust) || !taken.insert(rust.clone()) {
                return Err(format!("{name}: Rust name `{rust}` is taken"));
            }
            names.insert(name.as_str(), rust);
        }
        let inputs = model.reachable(model.operations.iter().map(|o| o.input.as_str()));
        let typed = model.reachable(
            model
                .operations
                .iter()
                .flat_map(|o| std::iter::once(&o.input).chain(o.output.as_ref()))
                .map(String::as_str),
        );
        // Enums used by no operation are still the wire names of their values: type them all.
        let typed = typed
            .into_iter()
            .chain(names.keys().copied().filter(|n| {
                matches!(
                    model.shapes.get(*n).map(|s| &s.kind),
                    Some(Kind::String { .. })
                )
            }))
            .collect();
        Ok(Gen {
            model,
            names,
            inputs,
            typed,
        })
    }

    /// The Rust name of a structure or enum shape.
    pub fn name(&self, shape: &str) -> Result<&str, String> {
        self.names
            .get(shape)
            .map(String::as_str)
            .ok_or_else(|| format!("`{shape}` has no Rust type"))
    }

    /// The Rust type a member of this shape has in the typed structs.
    pub fn rust_type(&self, shape: &str) -> Result<String, String> {
        Ok(match &self.model.shape(shape)?.kind {
            Kind::String {
                enum_values: Some(_),
                ..
            } => self.name(shape)?.to_string(),
            Kind::String {
                sensitive: true, ..
            } => "::zeroize::Zeroizing<String>".into(),
            Kind::String { .. } => "String".into(),
            Kind::Blob { .. } => "crate::types::Blob".into(),
            Kind::Integer { .. } => "i32".into(),
            Kind::Boolean => "bool".into(),
            Kind::Timestamp => "crate::types::Timestamp".into(),
            Kind::List { member, .. } => format!("Vec<{}>", self.rust_type(member)?),
            Kind::Map { value, .. } => format!(
                "::std::collections::BTreeMap<String, {}>",
                self.rust_type(value)?
            ),
            Kind::Structure { .. } => self.name(shape)?.to_string(),
        })
    }

    /// The form a member of this shape is first read into (any JSON accepted).
    pub fn raw_type(&self, shape: &str) -> Result<String, String> {
        Ok(match &self.model.shape(shape)?.kind {
            Kind::String {
                enum_values: Some(_),
                ..
            } => format!("rt::RawEnum<{}>", self.name(shape)?),
            Kind::String {
                sensitive: true, ..
            } => "rt::RawSecret".into(),
            Kind::String { .. } => "rt::RawStr".into(),
            Kind::Blob { .. } => "rt::RawBlob".into(),
            Kind::Integer { .. } => "rt::RawInt".into(),
            Kind::Boolean => "rt::RawBool".into(),
            Kind::Timestamp => "rt::RawTime".into(),
            Kind::List { member, .. } => format!("rt::RawList<{}>", self.raw_type(member)?),
            Kind::Map { value, .. } => format!("rt::RawMap<{}>", self.raw_type(value)?),
            Kind::Structure { .. } => format!("rt::RawStruct<Raw{}>", self.name(shape)?),
        })
    }
}

const HEADER: &str = "\
// Generated by crates/kms-api/build/main.rs from crates/kms-api/model/kms-api-model.json.
// Do not edit: change the model or the generator. See `kms_api::wire` for what is here.
";

fn run() -> Result<(), String> {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let model_path = dir.join("model/kms-api-model.json");
    println!("cargo::rerun-if-changed={}", model_path.display());
    println!("cargo::rerun-if-changed={}", dir.join("build").display());
    let text = std::fs::read_to_string(&model_path)
        .map_err(|e| format!("{}: {e}", model_path.display()))?;
    let model = Model::parse(&text)?;
    let gen = Gen::new(&model)?;
    let mut out = String::from(HEADER);
    enums::emit(&gen, &mut out)?;
    types::emit(&gen, &mut out)?;
    decode::emit(&gen, &mut out)?;
    samples::emit(&gen, &mut out)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    std::fs::write(out_dir.join("wire.rs"), out).map_err(|e| e.to_string())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("kms-api build: {e}");
        std::process::exit(1);
    }
}
