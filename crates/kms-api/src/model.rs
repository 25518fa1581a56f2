//! The AWS KMS API model, embedded at build time and compiled once into shapes the validator walks.
//!
//! The model is AWS's own description of every operation (members, types, lengths, ranges, enums and
//! patterns), so validation follows it instead of restating each limit by hand.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

const MODEL_JSON: &str = include_str!("../model/kms-api-model.json");

/// A compiled shape of the model.
#[derive(Debug)]
pub(crate) enum Shape {
    Structure {
        members: Vec<(String, String)>,
        required: Vec<String>,
    },
    String {
        min: Option<i64>,
        max: Option<i64>,
        enum_values: Option<Vec<String>>,
        pattern: Option<(String, Regex)>,
        sensitive: bool,
    },
    Blob {
        min: Option<i64>,
        max: Option<i64>,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Timestamp,
    List {
        member: String,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        key: String,
        value: String,
        min: Option<i64>,
        max: Option<i64>,
    },
}

/// The compiled model: shapes by name and each operation's input shape.
#[derive(Debug)]
pub(crate) struct Model {
    pub shapes: HashMap<String, Shape>,
    pub inputs: HashMap<String, String>,
}

pub(crate) fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| compile(MODEL_JSON))
}

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn shape_ref(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(|r| r.get("shape"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Compiles the embedded model. The model is a build-time constant checked by this crate's tests, so
/// a shape this code does not understand is compiled as a permissive shape rather than a panic.
fn compile(json: &str) -> Model {
    let root: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let mut shapes = HashMap::new();
    if let Some(all) = root.get("shapes").and_then(Value::as_object) {
        for (name, s) in all {
            let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
            let shape = match ty {
                "structure" => Shape::Structure {
                    members: s
                        .get("members")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    let target = v.get("shape").and_then(Value::as_str);
                                    (k.clone(), target.unwrap_or_default().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    required: s
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| {
                            r.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                },
                "string" => Shape::String {
                    min: int(s, "min"),
                    max: int(s, "max"),
                    enum_values: s.get("enum").and_then(Value::as_array).map(|e| {
                        e.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    }),
                    pattern: s
                        .get("pattern")
                        .and_then(Value::as_str)
                        .and_then(|p| Regex::new(p).ok().map(|r| (p.to_string(), r))),
                    sensitive: s.get("sensitive").and_then(Value::as_bool).unwrap_or(false),
                },
                "blob" => Shape::Blob {
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                "integer" | "long" => Shape::Integer {
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                "boolean" => Shape::Boolean,
                "timestamp" => Shape::Timestamp,
                "list" => Shape::List {
                    member: shape_ref(s, "member"),
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                "map" => Shape::Map {
                    key: shape_ref(s, "key"),
                    value: shape_ref(s, "value"),
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                _ => continue,
            };
            shapes.insert(name.clone(), shape);
        }
    }
    let mut inputs = HashMap::new();
    if let Some(ops) = root.get("operations").and_then(Value::as_object) {
        for (name, op) in ops {
            inputs.insert(name.clone(), shape_ref(op, "input"));
        }
    }
    Model { shapes, inputs }
}

/// Names of every operation in the embedded model (for tests that keep [`crate::Operation`] in step).
pub fn model_operation_names() -> Vec<String> {
    let mut names: Vec<String> = model().inputs.keys().cloned().collect();
    names.sort();
    names
}
