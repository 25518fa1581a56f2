//! Differential test of the generated decoder (`kms_api::wire::decode`) against the reference
//! path it replaces: `parse_body` then `validate_input_except_patterns`, which walk a
//! `serde_json::Value`. For every operation a deterministic generator builds valid requests from
//! the model, then mutates them (missing, null, wrong-type, too long or short, out-of-range,
//! unknown enum values, broken patterns, bad base64, nested list and map errors, unknown and
//! duplicate members, escapes, malformed JSON) and runs each body through both paths.
//!
//! Both must agree on Ok/Err and, on Err, on the code and the message. The one planned difference:
//! a defect the reference validator lets through because no Value walk can see it as one (a
//! `null` list item or map value, base64 whose only fault is its padding) is a
//! `SerializationException` from the new path, and the test checks the defect is really at the
//! path the message names. On Ok, the typed request must serialize back to the body's known,
//! non-null members. For the hot operations the test also compares with today's full path
//! (`decode_request` into `kms_api::types`).
//!
//! `WIRE_DIFF_SEED` and `WIRE_DIFF_ROUNDS` change the corpus (the seed is printed on failure).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;

use base64::Engine;
use kms_api::{
    decode_request, parse_body, types, validate_input_except_patterns, wire, ErrorCode, KmsError,
    Operation,
};
use regex::Regex;
use serde_json::{json, Map, Value};

const MODEL: &str = include_str!("../model/kms-api-model.json");

/// SplitMix64: small, deterministic, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % ((hi - lo) as u64 + 1)) as i64
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Known-good values of the patterned string shapes, for when a random string will not do.
const SAMPLES: &[(&str, &[&str])] = &[
    ("AccountIdType", &["123456789012"]),
    ("AliasNameType", &["alias/test-key_1", "alias/a:b/c"]),
    (
        "BackingKeyIdType",
        &["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
    ),
    (
        "CloudHsmClusterIdType",
        &["cluster-abcdefghijk", "cluster-234567abcdefXYZ"],
    ),
    (
        "GrantConstraintSourceArnType",
        &["arn:aws:s3:us-east-1:123456789012:bucket/x"],
    ),
    ("GrantNameType", &["grant-name_1"]),
    ("KeyMaterialDescriptionType", &["material 1.0", "v2"]),
    ("MarkerType", &["marker-abc", "é"]),
    ("PolicyNameType", &["default"]),
    ("PolicyType", &["{\"Version\":\"2012-10-17\"}"]),
    (
        "PrincipalIdType",
        &["arn:aws:iam::123456789012:user/alice", "alice@example"],
    ),
    ("RegionType", &["us-east-1", "ap-southeast-2"]),
    ("ServicePrincipalType", &["vpce.amazonaws.com"]),
    ("XksKeyIdType", &["key-123.abc_DEF"]),
    (
        "XksProxyAuthenticationAccessKeyIdType",
        &["ABCDEFGHIJKLMNOPQRST", "AAAABBBBCCCCDDDD2345672"],
    ),
    (
        "XksProxyAuthenticationRawSecretAccessKeyType",
        &[
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "a/b+c=0000000000000000000000000000000000000000",
        ],
    ),
    ("XksProxyUriEndpointType", &["https://xks.example.com"]),
    (
        "XksProxyUriPathType",
        &["/kms/xks/v1", "/prefix/kms/xks/v12"],
    ),
    (
        "XksProxyVpcEndpointServiceNameType",
        &["com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"],
    ),
];

/// Values of the wrong JSON type for any shape (or of the right type for some: both paths decide).
fn wrong_value(rng: &mut Rng) -> Value {
    let pool = [
        json!(5),
        json!(-1.5),
        json!(true),
        json!("s"),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"a": {"b": [null]}}),
        json!(12_345_678_901_234_567_890u64),
        json!(-9_000_000_000i64),
        json!(""),
        json!(0),
    ];
    rng.pick(&pool).clone()
}

const TEXT_CHARS: &[&str] = &[
    "a", "Z", "0", "9", "-", "_", ":", "/", ".", " ", "'", "\"", "\\", "é", "日", "😀", "\t", "=",
    "+", "@",
];

struct Model {
    shapes: Map<String, Value>,
    patterns: BTreeMap<String, Regex>,
    inputs: BTreeMap<String, String>,
}

fn num(s: &Value, k: &str) -> Option<i64> {
    s.get(k).and_then(Value::as_i64)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

impl Model {
    fn load() -> Model {
        let root: Value = serde_json::from_str(MODEL).unwrap();
        let shapes = root["shapes"].as_object().unwrap().clone();
        let patterns = shapes
            .iter()
            .filter_map(|(n, s)| {
                s.get("pattern")
                    .and_then(Value::as_str)
                    .map(|p| (n.clone(), Regex::new(p).unwrap()))
            })
            .collect();
        let inputs = root["operations"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, o)| (n.clone(), o["input"]["shape"].as_str().unwrap().to_string()))
            .collect();
        Model {
            shapes,
            patterns,
            inputs,
        }
    }

    fn shape(&self, name: &str) -> &Value {
        &self.shapes[name]
    }

    fn kind(&self, name: &str) -> &str {
        self.shape(name)["type"].as_str().unwrap()
    }

    fn members(&self, name: &str) -> Vec<(String, String)> {
        self.shape(name)["members"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v["shape"].as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn required(&self, name: &str) -> Vec<String> {
        self.shape(name)
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    fn target(&self, name: &str, k: &str) -> String {
        self.shape(name)[k]["shape"].as_str().unwrap().to_string()
    }

    fn random_text(rng: &mut Rng, len: usize) -> String {
        (0..len).map(|_| *rng.pick(TEXT_CHARS)).collect()
    }

    fn ok_string(&self, name: &str, s: &str) -> bool {
        let shape = self.shape(name);
        let n = s.chars().count() as i64;
        num(shape, "min").is_none_or(|m| n >= m)
            && num(shape, "max").is_none_or(|m| n <= m)
            && self.patterns.get(name).is_none_or(|re| re.is_match(s))
    }

    /// A length within `[min, max]`, usually short, sometimes at a bound.
    fn length(rng: &mut Rng, min: Option<i64>, max: Option<i64>, typical: i64) -> i64 {
        let lo = min.unwrap_or(0);
        let hi = max.unwrap_or(lo + typical);
        match rng.below(10) {
            0 => lo,
            1 if hi - lo < 20_000 => hi,
            _ => rng.between(lo, hi.min(lo + typical)),
        }
    }

    /// A valid value of a shape.
    fn valid(&self, rng: &mut Rng, name: &str, depth: usize) -> Value {
        let shape = self.shape(name);
        match self.kind(name) {
            "structure" => {
                let required = self.required(name);
                let mut obj = Map::new();
                for (m, target) in self.members(name) {
                    if required.contains(&m) || (depth < 4 && rng.chance(55)) {
                        obj.insert(m, self.valid(rng, &target, depth + 1));
                    }
                }
                Value::Object(obj)
            }
            "string" => {
                if let Some(values) = shape.get("enum").and_then(Value::as_array) {
                    return rng.pick(values).clone();
                }
                let len = Self::length(rng, num(shape, "min"), num(shape, "max"), 12) as usize;
                if self.patterns.contains_key(name) {
                    let mut candidates: Vec<String> = (0..3)
                        .map(|_| {
                            (0..len)
                                .map(|_| *rng.pick(&["a", "b", "Z", "0", "7", "-", "_"]))
                                .collect()
                        })
                        .collect();
                    if let Some((_, samples)) = SAMPLES.iter().find(|(n, _)| *n == name) {
                        candidates.extend(samples.iter().map(|s| s.to_string()));
                    }
                    let good: Vec<String> = candidates
                        .into_iter()
                        .filter(|c| self.ok_string(name, c))
                        .collect();
                    assert!(!good.is_empty(), "add a sample of {name} to SAMPLES");
                    return Value::String(rng.pick(&good).clone());
                }
                Value::String(Self::random_text(rng, len))
            }
            "blob" => {
                let len = Self::length(rng, num(shape, "min"), num(shape, "max"), 40) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            "integer" | "long" => {
                let lo = num(shape, "min").unwrap_or(i32::MIN as i64);
                let hi = num(shape, "max").unwrap_or(i32::MAX as i64);
                json!(rng.between(lo, hi))
            }
            "boolean" => json!(rng.chance(50)),
            "timestamp" => match rng.below(3) {
                0 => json!(1_700_000_000 + rng.between(0, 1_000_000)),
                1 => json!(1_700_000_000.25),
                _ => json!(0),
            },
            "list" => {
                let len = Self::length(rng, num(shape, "min"), num(shape, "max"), 3) as usize;
                let member = self.target(name, "member");
                Value::Array(
                    (0..len)
                        .map(|_| self.valid(rng, &member, depth + 1))
                        .collect(),
                )
            }
            "map" => {
                let len = Self::length(rng, num(shape, "min"), num(shape, "max"), 3) as usize;
                let (key, value) = (self.target(name, "key"), self.target(name, "value"));
                let mut obj = Map::new();
                for _ in 0..len {
                    let k = match self.valid(rng, &key, depth + 1) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    obj.insert(k, self.valid(rng, &value, depth + 1));
                }
                Value::Object(obj)
            }
            other => panic!("shape type {other}"),
        }
    }

    /// A value of the right JSON type that breaks a constraint of the shape (if it has any).
    fn invalid(&self, rng: &mut Rng, name: &str) -> Value {
        let shape = self.shape(name);
        let (min, max) = (num(shape, "min"), num(shape, "max"));
        match self.kind(name) {
            "string" => {
                let mut options: Vec<Value> = Vec::new();
                if let Some(min) = min.filter(|m| *m > 0) {
                    options.push(json!(Self::random_text(rng, min as usize - 1)));
                }
                if let Some(max) = max.filter(|m| *m < 10_000 || rng.chance(5)) {
                    options.push(json!(Self::random_text(rng, max as usize + 1)));
                }
                if let Some(values) = shape.get("enum").and_then(Value::as_array) {
                    let v = rng.pick(values).as_str().unwrap().to_string();
                    options.push(json!(v.to_lowercase()));
                    options.push(json!(format!("{v} ")));
                    options.push(json!("NOT_A_VALUE"));
                    options.push(json!(""));
                }
                if self.patterns.contains_key(name) {
                    let good = self.valid(rng, name, 9);
                    let good = good.as_str().unwrap();
                    let cut = rng.below(good.len() + 1);
                    let cut = (0..=cut).rev().find(|c| good.is_char_boundary(*c)).unwrap();
                    let bad = *rng.pick(&[" ", "!", "é", "\u{7}", "\\", "'"]);
                    options.push(json!(format!("{}{bad}{}", &good[..cut], &good[cut..])));
                    options.push(json!(bad));
                }
                if options.is_empty() {
                    return json!(Self::random_text(rng, 3));
                }
                rng.pick(&options).clone()
            }
            "blob" => {
                let b64 = |n: i64| {
                    base64::engine::general_purpose::STANDARD.encode(vec![7u8; n.max(0) as usize])
                };
                let mut options = vec![
                    json!("!!!!"),
                    json!("AAA"),
                    json!("A==="),
                    json!("AB C"),
                    json!("AB=C"),
                    json!("AB=="),
                    json!("AAB="),
                    json!("YQ"),
                    json!("===="),
                    json!(""),
                ];
                if let Some(max) = max.filter(|m| *m < 300_000) {
                    options.push(json!(b64(max + 1)));
                }
                if let Some(min) = min.filter(|m| *m > 0) {
                    options.push(json!(b64(min - 1)));
                }
                rng.pick(&options).clone()
            }
            "integer" | "long" => {
                let mut options = vec![
                    json!(2_147_483_648i64),
                    json!(-2_147_483_649i64),
                    json!(1.5),
                    json!(-0.0),
                    json!(2_147_483_647),
                    json!(-2_147_483_648i64),
                    json!(0),
                ];
                if let Some(min) = min {
                    options.push(json!(min - 1));
                }
                if let Some(max) = max {
                    options.push(json!(max + 1));
                }
                rng.pick(&options).clone()
            }
            "list" => {
                let member = self.target(name, "member");
                let n = max.map_or(4, |m| m + 1).min(12) as usize;
                let mut items: Vec<Value> = (0..n).map(|_| self.valid(rng, &member, 3)).collect();
                match rng.below(4) {
                    0 => items.insert(rng.below(items.len() + 1), Value::Null),
                    1 => items.insert(rng.below(items.len() + 1), wrong_value(rng)),
                    2 => items.push(self.invalid(rng, &member)),
                    _ => {}
                }
                Value::Array(items)
            }
            "map" => {
                let value = self.target(name, "value");
                let mut obj = Map::new();
                obj.insert("a.b".into(), json!("v"));
                obj.insert("".into(), json!("empty key"));
                // Several bad entries, so that which one is reported first matters.
                for key in ["z", "m", "b", "n.x"] {
                    if rng.chance(50) {
                        let bad = match rng.below(3) {
                            0 => Value::Null,
                            1 => wrong_value(rng),
                            _ => self.invalid(rng, &value),
                        };
                        obj.insert(key.into(), bad);
                    }
                }
                Value::Object(obj)
            }
            "structure" => {
                let mut v = self.valid(rng, name, 3);
                let required = self.required(name);
                if let (Some(obj), false) = (v.as_object_mut(), required.is_empty()) {
                    obj.remove(rng.pick(&required));
                }
                v
            }
            "boolean" => rng.pick(&[json!("true"), json!(1), json!(null)]).clone(),
            "timestamp" => rng
                .pick(&[json!("2020-01-01T00:00:00Z"), json!(true), json!(-1)])
                .clone(),
            other => panic!("shape type {other}"),
        }
    }
}

/// One step from a value to a part of it.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A place in a body that a mutation can change, with the shape that belongs there.
struct Site {
    path: Vec<Step>,
    shape: String,
}

fn sites(model: &Model, shape: &str, v: &Value, path: &mut Vec<Step>, out: &mut Vec<Site>) {
    out.push(Site {
        path: path.clone(),
        shape: shape.to_string(),
    });
    match (model.kind(shape), v) {
        ("structure", Value::Object(obj)) => {
            for (m, target) in model.members(shape) {
                if let Some(mv) = obj.get(&m) {
                    path.push(Step::Key(m.clone()));
                    sites(model, &target, mv, path, out);
                    path.pop();
                } else {
                    // An absent member is a site too: mutations may add it.
                    let mut p = path.clone();
                    p.push(Step::Key(m.clone()));
                    out.push(Site {
                        path: p,
                        shape: target,
                    });
                }
            }
        }
        ("list", Value::Array(items)) => {
            let member = model.target(shape, "member");
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                sites(model, &member, item, path, out);
                path.pop();
            }
        }
        ("map", Value::Object(obj)) => {
            let value = model.target(shape, "value");
            for (k, mv) in obj {
                path.push(Step::Key(k.clone()));
                sites(model, &value, mv, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Changes the value at `path` (`None`: removes it), creating an absent member.
fn set(v: &mut Value, path: &[Step], new: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        if let Some(new) = new {
            *v = new;
        }
        return;
    };
    let mut cur = v;
    for step in parents {
        cur = match (step, cur) {
            (Step::Key(k), Value::Object(o)) => match o.get_mut(k) {
                Some(x) => x,
                None => return,
            },
            (Step::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match (last, cur, new) {
        (Step::Key(k), Value::Object(o), Some(new)) => {
            o.insert(k.clone(), new);
        }
        (Step::Key(k), Value::Object(o), None) => {
            o.remove(k);
        }
        (Step::Index(i), Value::Array(a), Some(new)) if *i < a.len() => a[*i] = new,
        (Step::Index(i), Value::Array(a), None) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn random_unknown(rng: &mut Rng) -> Value {
    match rng.below(5) {
        0 => json!({"Nested": [1, {"x": null}], "s": "\u{e9}\u{1F600}"}),
        1 => json!([true, false, null]),
        2 => json!("unknown"),
        3 => json!(1e300),
        _ => Value::Null,
    }
}

fn mutate_value(model: &Model, rng: &mut Rng, input: &str, body: &mut Value) {
    let mut all = Vec::new();
    sites(model, input, body, &mut Vec::new(), &mut all);
    // Any site but the body itself.
    let Site { path: site, shape } = all.swap_remove(1 + rng.below(all.len() - 1));
    match rng.below(10) {
        0 => set(body, &site, None),
        1 => set(body, &site, Some(Value::Null)),
        2 | 3 => set(body, &site, Some(wrong_value(rng))),
        4..=7 => {
            let bad = model.invalid(rng, &shape);
            set(body, &site, Some(bad));
        }
        8 => {
            // An unknown member next to the site (or a member name in the wrong case).
            let mut parent = site.clone();
            parent.pop();
            let name = match site.last() {
                Some(Step::Key(k)) if rng.chance(50) => lower_first(k),
                _ => "UnknownMember".to_string(),
            };
            parent.push(Step::Key(name));
            set(body, &parent, Some(random_unknown(rng)));
        }
        _ => {
            let good = model.valid(rng, &shape, 3);
            set(body, &site, Some(good));
        }
    }
}

/// Mutations of the text itself: what a `Value` cannot hold.
fn mutate_text(rng: &mut Rng, text: String) -> Vec<u8> {
    let inner = text.strip_suffix('}').unwrap_or(&text).to_string();
    let sep = if inner.trim_end().ends_with('{') {
        ""
    } else {
        ","
    };
    let first_key = text.find("\":").and_then(|end| {
        text[..end]
            .rfind('"')
            .map(|start| text[start + 1..end].to_string())
    });
    match rng.below(15) {
        0 => {
            let cut = rng.below(text.len());
            text.as_bytes()[..cut].to_vec()
        }
        1 => {
            // A member sent twice: the last one counts.
            match &first_key {
                Some(k) => format!("{inner}{sep}\"{k}\":{}}}", wrong_value(rng)).into_bytes(),
                None => text.into_bytes(),
            }
        }
        2 => match &first_key {
            Some(k) => format!("{inner}{sep}\"{k}\":null}}").into_bytes(),
            None => text.into_bytes(),
        },
        3 => match &first_key {
            // An escaped member name is the same name.
            Some(k) if k.len() > 1 => {
                let esc = format!("\\u{:04x}{}", k.as_bytes()[0], &k[1..]);
                text.replacen(&format!("\"{k}\""), &format!("\"{esc}\""), 1)
                    .into_bytes()
            }
            _ => text.into_bytes(),
        },
        4 => rng
            .pick(&[
                &b""[..],
                b"  \n\t ",
                b"\x0c",
                b"[]",
                b"null",
                b"1",
                b"\"s\"",
                b"true",
                b"{}",
                b"{} {}",
                b"{,}",
            ])
            .to_vec(),
        5 => {
            let mut b = format!("{inner}{sep}\"Junk\":\"").into_bytes();
            b.extend_from_slice(&[0xff, 0xfe]);
            b.extend_from_slice(b"\"}");
            b
        }
        6 => format!("{inner}{sep}\"Junk\":\"\\ud800\"}}").into_bytes(),
        7 => format!("{inner}{sep}\"Junk\":1e400}}").into_bytes(),
        8 => format!("{text} x").into_bytes(),
        9 => format!("  {text}\n").into_bytes(),
        10 => format!(
            "{inner}{sep}\"Junk\":{}}}",
            "[".repeat(200) + &"]".repeat(200)
        )
        .into_bytes(),
        11 => format!("{inner}{sep}\"Junk\":-0}}").into_bytes(),
        12 => text.replacen('"', "\"\\u0041", 1).into_bytes(),
        13 => {
            // A key sent twice inside a nested object (a map, or a structure where it is unknown):
            // the last one counts.
            let values = ["\"x\"", "\"y\"", "1", "null", "[]"];
            let dup = format!("\"d\":{},\"d\":{},", rng.pick(&values), rng.pick(&values));
            match text.find("\":{\"") {
                Some(at) => format!("{}{dup}{}", &text[..at + 3], &text[at + 3..]).into_bytes(),
                None => text.into_bytes(),
            }
        }
        _ => text.into_bytes(),
    }
}

/// Drops unknown and null members and turns numbers into floats, so a body and the typed
/// request's serialization compare as values.
fn normalize(model: &Model, shape: &str, v: &Value) -> Value {
    match (model.kind(shape), v) {
        ("structure", Value::Object(obj)) => {
            let mut out = Map::new();
            for (m, target) in model.members(shape) {
                if let Some(mv) = obj.get(&m).filter(|x| !x.is_null()) {
                    out.insert(m, normalize(model, &target, mv));
                }
            }
            Value::Object(out)
        }
        ("list", Value::Array(items)) => {
            let member = model.target(shape, "member");
            Value::Array(items.iter().map(|i| normalize(model, &member, i)).collect())
        }
        ("map", Value::Object(obj)) => {
            let value = model.target(shape, "value");
            Value::Object(
                obj.iter()
                    .map(|(k, x)| (k.clone(), normalize(model, &value, x)))
                    .collect(),
            )
        }
        (_, Value::Number(n)) => json!(n.as_f64().unwrap()),
        _ => v.clone(),
    }
}

/// The values a message's path may name (`grantTokens.1.member`, `encryptionContext.some.key`):
/// a map key may hold dots, so every reading is tried.
fn at_path<'a>(v: &'a Value, parts: &[&str], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = parts.split_first() else {
        out.push(v);
        return;
    };
    match v {
        Value::Array(items) => {
            if let Some(item) = first
                .parse::<usize>()
                .ok()
                .and_then(|n| items.get(n.checked_sub(1)?))
            {
                at_path(item, rest.get(1..).unwrap_or_default(), out); // "N.member"
            }
        }
        Value::Object(obj) => {
            if let Some((_, x)) = obj.iter().find(|(k, _)| lower_first(k) == *first) {
                at_path(x, rest, out);
            }
            // A map entry: the rest of the path is the key, dots and all.
            if let Some(x) = obj.get(&parts.join(".")) {
                out.push(x);
            }
        }
        _ => {}
    }
}

/// The new path refused what the reference validator accepted: the defect must be real.
fn assert_deferred_defect(body: &Value, e: &KmsError, ctx: &str) {
    assert_eq!(e.code, ErrorCode::SerializationException, "{ctx}: {e}");
    let (what, path) = e
        .message
        .split_once(" at '")
        .and_then(|(w, p)| Some((w, p.strip_suffix('\'')?)))
        .unwrap_or_else(|| panic!("{ctx}: unexpected message {:?}", e.message));
    let mut found = Vec::new();
    at_path(body, &path.split('.').collect::<Vec<_>>(), &mut found);
    let defect = |v: &&Value| match what {
        "Invalid base64" => v.as_str().is_some_and(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_err()
        }),
        w if w.starts_with("Expected ") => v.is_null(),
        _ => false,
    };
    assert!(
        found.iter().any(defect),
        "{ctx}: no defect {what:?} at {path}: {found:?}"
    );
}

/// Today's full path for the hot operations: validation, then the serde decode into `types`.
fn old_full_path(op: Operation, body: &[u8]) -> Option<Result<(), KmsError>> {
    let r = match op {
        Operation::Encrypt => decode_request::<types::EncryptRequest>(op, body).map(drop),
        Operation::Decrypt => decode_request::<types::DecryptRequest>(op, body).map(drop),
        Operation::ReEncrypt => decode_request::<types::ReEncryptRequest>(op, body).map(drop),
        Operation::GenerateDataKey | Operation::GenerateDataKeyWithoutPlaintext => {
            decode_request::<types::GenerateDataKeyRequest>(op, body).map(drop)
        }
        _ => return None,
    };
    Some(r)
}

/// Whether a message's path starts at a member today's `types` decode strictly (so a defect
/// there failed today's full path too).
fn typed_today(op: Operation, message: &str) -> bool {
    let members: &[&str] = match op {
        Operation::Encrypt => &["keyId", "plaintext", "encryptionContext", "grantTokens"],
        Operation::Decrypt => &["ciphertextBlob", "encryptionContext", "grantTokens"],
        Operation::ReEncrypt => &[
            "ciphertextBlob",
            "sourceEncryptionContext",
            "destinationEncryptionContext",
            "grantTokens",
        ],
        _ => &["encryptionContext", "grantTokens"],
    };
    let path = message.split_once(" at '").map_or("", |(_, p)| p);
    members.iter().any(|m| {
        path.strip_prefix(m)
            .is_some_and(|rest| rest.starts_with(['.', '\'']))
    })
}

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    ok: usize,
    validation: usize,
    multi_violation: usize,
    serialization: usize,
    deferred: usize,
    per_op: BTreeMap<String, (usize, usize, usize)>,
}

fn check_case(
    model: &Model,
    op: Operation,
    body: &[u8],
    skip: &[&str],
    seed: u64,
    tally: &mut Tally,
) {
    let input = &model.inputs[op.name()];
    let shown: String = String::from_utf8_lossy(body).chars().take(600).collect();
    let ctx = format!("seed {seed} {} skip {skip:?} body {shown}", op.name());
    let reference =
        parse_body(body).and_then(|v| validate_input_except_patterns(op, &v, skip).map(|()| v));
    let opts = wire::DecodeOptions {
        skip_patterns: skip,
    };
    let new = wire::decode(op, body, &opts);
    tally.cases += 1;
    let entry = tally.per_op.entry(op.name().to_string()).or_default();
    match (&reference, &new) {
        (Ok(v), Ok(req)) => {
            assert_eq!(req.operation(), op, "{ctx}");
            let back = serde_json::to_value(req).unwrap();
            assert_eq!(
                normalize(model, input, &back),
                normalize(model, input, v),
                "{ctx}: typed request does not round-trip"
            );
            tally.ok += 1;
            entry.0 += 1;
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                (a.code, a.message.as_str()),
                (b.code, b.message.as_str()),
                "{ctx}"
            );
            if a.code == ErrorCode::ValidationException {
                tally.validation += 1;
                entry.1 += 1;
                if !a.message.starts_with("1 validation error") {
                    tally.multi_violation += 1;
                }
            } else {
                tally.serialization += 1;
                entry.2 += 1;
            }
        }
        (Ok(v), Err(b)) => {
            assert_deferred_defect(v, b, &ctx);
            tally.deferred += 1;
        }
        (Err(a), Ok(_)) => panic!("{ctx}: reference refused with {a}, new path accepted"),
    }
    // The hot operations: the same outcome as today's full path, with the reference's wording
    // where today's answer was serde's own.
    if let Some(old) = old_full_path(op, body) {
        match (&old, &new) {
            (Ok(()), Ok(_)) => {}
            (Err(a), Err(b)) if a.message.starts_with("Could not decode the request:") => {
                assert_eq!(a.code, b.code, "{ctx}")
            }
            (Err(a), Err(b)) => assert_eq!(
                (a.code, a.message.as_str()),
                (b.code, b.message.as_str()),
                "{ctx}"
            ),
            // A defect only the new path refuses (checked above) in a member today's types do
            // not decode (`DryRunModifiers`) or keep as a JSON value (`Recipient`).
            (Ok(()), Err(b)) if !typed_today(op, &b.message) => {}
            // Today's types refuse `null` for some members the model has optional
            // (`"CiphertextBlob": null`); the model, the validator and the new path take `null`
            // as absent.
            (Err(a), Ok(_)) if a.message.contains("invalid type: null") => {}
            (a, b) => panic!("{ctx}: today's full path {a:?}, new {b:?}"),
        }
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn generated_decoder_matches_the_reference_validator() {
    let model = Model::load();
    let seed = env_num("WIRE_DIFF_SEED", 0x005E_ED0F_1A71);
    let rounds = env_num("WIRE_DIFF_ROUNDS", 120);
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let started = std::time::Instant::now();
    for op in Operation::ALL {
        let input = model.inputs[op.name()].clone();
        // Patterned top-level members, for the pattern-skipping option.
        let patterned: Vec<String> = model
            .members(&input)
            .into_iter()
            .filter(|(_, t)| model.patterns.contains_key(t))
            .map(|(m, _)| lower_first(&m))
            .collect();
        for round in 0..rounds {
            let case_seed = rng.next();
            let mut r = Rng(case_seed);
            let mut body = model.valid(&mut r, &input, 0);
            // A fifth of the cases stay valid; the rest get one to four mutations.
            if round % 5 != 0 {
                for _ in 0..=r.below(4) {
                    mutate_value(&model, &mut r, &input, &mut body);
                }
            }
            let text = serde_json::to_string(&body).unwrap();
            let bytes = if round % 5 != 0 && r.chance(30) {
                mutate_text(&mut r, text)
            } else {
                text.into_bytes()
            };
            let skip: Vec<&str> = if !patterned.is_empty() && r.chance(30) {
                vec![r.pick(&patterned).as_str()]
            } else {
                Vec::new()
            };
            check_case(&model, *op, &bytes, &skip, case_seed, &mut tally);
        }
    }
    eprintln!(
        "wire differential: {} cases in {:?} (seed {seed}): {} ok, {} validation ({} with several \
         violations), {} serialization, {} refused only by the typed decode",
        tally.cases,
        started.elapsed(),
        tally.ok,
        tally.validation,
        tally.multi_violation,
        tally.serialization,
        tally.deferred
    );
    // The corpus must exercise every outcome, for every operation.
    for (op, (ok, validation, serialization)) in &tally.per_op {
        assert!(
            *ok > 0 && *validation > 0 && *serialization > 0,
            "{op}: {ok} ok, {validation} validation, {serialization} serialization"
        );
    }
    assert_eq!(tally.per_op.len(), Operation::ALL.len());
    assert!(
        tally.multi_violation > 100 && tally.deferred > 20,
        "{tally:?}"
    );
}

/// The reference messages for the shapes the corpus cannot reach by chance, pinned.
#[test]
fn messages_of_nested_paths_match() {
    let cases: &[(Operation, &str)] = &[
        (
            Operation::CreateKey,
            r#"{"Tags":[{"TagKey":"k"},{"TagValue":"v"}]}"#,
        ),
        (
            Operation::CreateKey,
            r#"{"Tags":[{"TagKey":"","TagValue":"v"}]}"#,
        ),
        (Operation::CreateKey, r#"{"Tags":[null]}"#),
        (
            Operation::CreateKey,
            r#"{"Tags":[{"TagKey":5,"TagValue":"v"}]}"#,
        ),
        (
            Operation::Encrypt,
            r#"{"KeyId":"k","Plaintext":"AAAA","EncryptionContext":{"a":1}}"#,
        ),
        (
            Operation::Encrypt,
            r#"{"KeyId":"k","Plaintext":"AAAA","EncryptionContext":{"b":null,"a":"x"}}"#,
        ),
        (
            Operation::Encrypt,
            r#"{"KeyId":"k","Plaintext":"AB=C","GrantTokens":[""]}"#,
        ),
        (Operation::Encrypt, r#"{"KeyId":"k","Plaintext":"AB=C"}"#),
        (
            Operation::Encrypt,
            r#"{"KeyId":"","Plaintext":"","GrantTokens":[null, ""]}"#,
        ),
        (
            Operation::CreateGrant,
            r#"{"KeyId":"k","GranteePrincipal":"p","Operations":["Encrypt","Nope"],"Constraints":{"EncryptionContextEquals":{"x":""}}}"#,
        ),
        (
            Operation::CreateCustomKeyStore,
            r#"{"CustomKeyStoreName":"n","XksProxyAuthenticationCredential":{"AccessKeyId":"short","RawSecretAccessKey":"s"}}"#,
        ),
        (
            Operation::CreateCustomKeyStore,
            r#"{"CustomKeyStoreName":"n","XksProxyUriEndpoint":"http://x:8080"}"#,
        ),
        (
            Operation::ImportKeyMaterial,
            r#"{"KeyId":"k","ImportToken":"AAAA","EncryptedKeyMaterial":"AAAA","ValidTo":"tomorrow"}"#,
        ),
        (Operation::GenerateRandom, r#"{"NumberOfBytes":-0}"#),
        (Operation::GenerateRandom, r#"{"NumberOfBytes":1e2}"#),
    ];
    let model = Model::load();
    let mut tally = Tally::default();
    for (op, body) in cases {
        for skip in [&[][..], &["xksProxyUriEndpoint"][..]] {
            check_case(&model, *op, body.as_bytes(), skip, 0, &mut tally);
        }
    }
    // Pin a few of the reference's exact messages, so a change to both paths shows here too.
    let msg = |op, body: &str| {
        wire::decode(op, body.as_bytes(), &wire::DecodeOptions::STRICT)
            .map(|_| ())
            .unwrap_err()
            .message
    };
    assert_eq!(
        msg(
            Operation::CreateKey,
            r#"{"Tags":[{"TagKey":"k"},{"TagValue":"v"}]}"#
        ),
        "2 validation errors detected: Value null at 'tags.1.member.tagValue' failed to satisfy \
         constraint: Member must not be null; Value null at 'tags.2.member.tagKey' failed to \
         satisfy constraint: Member must not be null"
    );
    assert_eq!(
        msg(
            Operation::Encrypt,
            r#"{"KeyId":"k","Plaintext":"AAAA","EncryptionContext":{"a":1}}"#
        ),
        "Expected a string at 'encryptionContext.a'"
    );
    assert_eq!(
        msg(
            Operation::CreateCustomKeyStore,
            r#"{"CustomKeyStoreName":"n","XksProxyAuthenticationCredential":{"AccessKeyId":"short","RawSecretAccessKey":"s"}}"#
        ),
        "3 validation errors detected: Value at 'xksProxyAuthenticationCredential.accessKeyId' \
         failed to satisfy constraint: Member must have length greater than or equal to 20; Value \
         at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint: Member \
         must satisfy regular expression pattern: ^[A-Z2-7]+$; Value at \
         'xksProxyAuthenticationCredential.rawSecretAccessKey' failed to satisfy constraint: \
         Member must have length greater than or equal to 43"
    );
    assert_eq!(
        msg(Operation::Encrypt, r#"{"KeyId":"k","Plaintext":"AB=C"}"#),
        "Invalid base64 at 'plaintext'"
    );
    assert_eq!(
        msg(Operation::CreateKey, r#"{"Tags":[null]}"#),
        "Expected a JSON object at 'tags.1.member'"
    );
}
