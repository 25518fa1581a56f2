//! The API model as the generator sees it: shapes by name, each operation's input and output.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A shape of the model.
pub struct Shape {
    pub kind: Kind,
    /// An exception shape (an error body): not generated, `ErrorCode` covers them.
    pub exception: bool,
}

/// A member of a structure.
pub struct Member {
    /// The wire name (`KeyId`).
    pub name: String,
    /// The shape it targets.
    pub target: String,
    pub deprecated: bool,
}

/// What a shape is, with the constraints the validator applies.
pub enum Kind {
    Structure {
        /// In name order: the order the reference validator walks them (a sorted JSON map).
        members: Vec<Member>,
        /// In the model's order: the order "must not be null" violations are reported.
        required: Vec<String>,
    },
    String {
        min: Option<i64>,
        max: Option<i64>,
        pattern: Option<String>,
        sensitive: bool,
        enum_values: Option<Vec<String>>,
        deprecated: bool,
    },
    Blob {
        min: Option<i64>,
        max: Option<i64>,
        sensitive: bool,
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

/// An operation: its name and the shapes of its input and (when it has one) output.
pub struct Operation {
    pub name: String,
    pub input: String,
    pub output: Option<String>,
}

pub struct Model {
    pub shapes: BTreeMap<String, Shape>,
    /// In name order.
    pub operations: Vec<Operation>,
}

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn target(v: &Value, k: &str, within: &str) -> Result<String, String> {
    v.get(k)
        .and_then(|r| r.get("shape"))
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("{within}: no target shape for `{k}`"))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Model {
    pub fn parse(text: &str) -> Result<Model, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("model: {e}"))?;
        let all = root
            .get("shapes")
            .and_then(Value::as_object)
            .ok_or("model: no shapes")?;
        let mut shapes = BTreeMap::new();
        for (name, s) in all {
            let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
            let kind = match ty {
                "structure" => {
                    let members = s
                        .get("members")
                        .and_then(Value::as_object)
                        .ok_or_else(|| format!("{name}: no members"))?;
                    let mut list = Vec::new();
                    for (m, v) in members {
                        list.push(Member {
                            name: m.clone(),
                            target: v
                                .get("shape")
                                .and_then(Value::as_str)
                                .map(String::from)
                                .ok_or_else(|| format!("{name}.{m}: no target shape"))?,
                            deprecated: flag(v, "deprecated"),
                        });
                    }
                    list.sort_by(|a, b| a.name.cmp(&b.name));
                    Kind::Structure {
                        members: list,
                        required: strings(s.get("required")),
                    }
                }
                "string" => Kind::String {
                    min: int(s, "min"),
                    max: int(s, "max"),
                    pattern: s.get("pattern").and_then(Value::as_str).map(String::from),
                    sensitive: flag(s, "sensitive"),
                    enum_values: s.get("enum").map(|e| strings(Some(e))),
                    deprecated: flag(s, "deprecated"),
                },
                "blob" => Kind::Blob {
                    min: int(s, "min"),
                    max: int(s, "max"),
                    sensitive: flag(s, "sensitive"),
                },
                "integer" | "long" => Kind::Integer {
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                "boolean" => Kind::Boolean,
                "timestamp" => Kind::Timestamp,
                "list" => Kind::List {
                    member: target(s, "member", name)?,
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                "map" => Kind::Map {
                    key: target(s, "key", name)?,
                    value: target(s, "value", name)?,
                    min: int(s, "min"),
                    max: int(s, "max"),
                },
                other => return Err(format!("{name}: unsupported shape type `{other}`")),
            };
            shapes.insert(
                name.clone(),
                Shape {
                    kind,
                    exception: flag(s, "exception"),
                },
            );
        }
        let ops = root
            .get("operations")
            .and_then(Value::as_object)
            .ok_or("model: no operations")?;
        let mut operations = Vec::new();
        for (name, op) in ops {
            operations.push(Operation {
                name: name.clone(),
                input: target(op, "input", name)?,
                output: target(op, "output", name).ok(),
            });
        }
        let model = Model { shapes, operations };
        model.check()?;
        Ok(model)
    }

    pub fn shape(&self, name: &str) -> Result<&Shape, String> {
        self.shapes
            .get(name)
            .ok_or_else(|| format!("unknown shape `{name}`"))
    }

    /// Every reference resolves, structures' required members exist, map keys are plain strings
    /// (the only kind the decoder reads keys as), and no collection holds sensitive strings.
    fn check(&self) -> Result<(), String> {
        for (name, shape) in &self.shapes {
            match &shape.kind {
                Kind::Structure { members, required } => {
                    for m in members {
                        self.shape(&m.target)?;
                    }
                    for r in required {
                        if !members.iter().any(|m| &m.name == r) {
                            return Err(format!("{name}: required `{r}` is not a member"));
                        }
                    }
                }
                Kind::List { member: item, .. } | Kind::Map { value: item, .. }
                    if matches!(
                        self.shape(item)?.kind,
                        Kind::String {
                            sensitive: true,
                            ..
                        }
                    ) =>
                {
                    // The generated `Debug` hides sensitive members, not items of collections.
                    return Err(format!("{name}: a collection of sensitive strings"));
                }
                Kind::List { member, .. } => {
                    self.shape(member)?;
                }
                Kind::Map { key, value, .. } => {
                    self.shape(value)?;
                    match &self.shape(key)?.kind {
                        Kind::String {
                            enum_values: None,
                            sensitive: false,
                            ..
                        } => {}
                        _ => return Err(format!("{name}: map keys must be plain strings")),
                    }
                }
                _ => {}
            }
        }
        for op in &self.operations {
            self.shape(&op.input)?;
            if let Some(out) = &op.output {
                self.shape(out)?;
            }
        }
        Ok(())
    }

    /// The shapes reachable from the given roots (the roots included).
    pub fn reachable<'a>(&'a self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = roots.into_iter().collect();
        while let Some(name) = todo.pop() {
            let Some((key, shape)) = self.shapes.get_key_value(name) else {
                continue;
            };
            if !seen.insert(key.as_str()) {
                continue;
            }
            match &shape.kind {
                Kind::Structure { members, .. } => {
                    todo.extend(members.iter().map(|m| m.target.as_str()));
                }
                Kind::List { member, .. } => todo.push(member),
                Kind::Map { key, value, .. } => {
                    todo.push(key);
                    todo.push(value);
                }
                _ => {}
            }
        }
        seen
    }
}
