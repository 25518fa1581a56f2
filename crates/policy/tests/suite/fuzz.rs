//! A deterministic fuzz loop: garbage and mutated policies must be refused or accepted, never
//! panic, and whatever parses must evaluate without panicking.

use policy::{
    authorize, would_lock_out, ContextMap, Policy, PolicyKind, Principal, RequestContext, Value,
};
use serde_json::{json, Value as Json};

use crate::common::*;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Strings that exercise the parsers' corners.
const ATOMS: &[&str] = &[
    "",
    "*",
    "?",
    "**",
    "${",
    "}",
    "${*}",
    "${?}",
    "${$}",
    "${aws:username}",
    "${aws:username, 'x'}",
    "${k, 'a''b'}",
    "${ }",
    "$",
    "'",
    ":",
    "::",
    "arn:",
    "arn:aws:kms:*:111122223333:key/*",
    "arn:aws:iam::111122223333:root",
    "111122223333",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/KeyAdmin",
    "arn:aws:sts::111122223333:assumed-role/KeyAdmin/s",
    "kms:*",
    "kms:Encrypt",
    "kms:Gen*",
    "kms:?ncrypt",
    "Allow",
    "Deny",
    "2012-10-17",
    "2008-10-17",
    "StringEquals",
    "StringLike",
    "ForAnyValue:StringLike",
    "ForAllValues:StringNotEquals",
    "NumericLessThan",
    "DateGreaterThanIfExists",
    "Bool",
    "Null",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "BinaryEquals",
    "StringEqualsIgnoreCase",
    "true",
    "false",
    "TRUE",
    "10",
    "-1.5e3",
    "1e999",
    "NaN",
    "2020-01-01T00:00:00Z",
    "2020-02-30",
    "1577836800",
    "203.0.113.0/24",
    "2001:db8::/32",
    "::ffff:1.2.3.4",
    "1.2.3.4/99",
    "QQ==",
    "Q",
    "ü",
    "日本",
    "\u{0}",
    "\u{10FFFF}",
    "aws:SourceIp",
    "kms:ViaService",
    "kms:EncryptionContext:App",
    "aws:PrincipalTag/team",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Statement",
    "Sid",
    "Effect",
    "Version",
    "Id",
    "AWS",
    "Service",
    "Federated",
];

fn random_json(rng: &mut Rng, depth: u32) -> Json {
    match rng.below(if depth > 3 { 5 } else { 8 }) {
        0 => Json::Null,
        1 => Json::Bool(rng.below(2) == 0),
        2 => json!(rng.next() as i64 % 100_000),
        3 => json!((rng.next() % 1000) as f64 / 7.0),
        4 => Json::String(rng.pick(ATOMS).to_string()),
        5 => Json::String(format!(
            "{}{}{}",
            rng.pick(ATOMS),
            rng.pick(ATOMS),
            rng.pick(ATOMS)
        )),
        6 => Json::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                m.insert(rng.pick(ATOMS).to_string(), random_json(rng, depth + 1));
            }
            Json::Object(m)
        }
    }
}

/// Replaces, inserts or removes one node somewhere in `v`.
fn mutate_tree(rng: &mut Rng, v: &mut Json, depth: u32) {
    let stop = rng.below(4) == 0 || depth > 6;
    match v {
        Json::Object(m) if !m.is_empty() && !stop => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = rng.pick(&keys).clone();
            match rng.below(6) {
                0 => {
                    m.remove(&k);
                }
                1 => {
                    m.insert(rng.pick(ATOMS).to_string(), random_json(rng, depth));
                }
                _ => {
                    if let Some(child) = m.get_mut(&k) {
                        mutate_tree(rng, child, depth + 1);
                    }
                }
            }
        }
        Json::Array(items) if !items.is_empty() && !stop => {
            let i = rng.below(items.len());
            match rng.below(6) {
                0 => {
                    items.remove(i);
                }
                1 => items.push(random_json(rng, depth)),
                2 => {
                    let dup = items[i].clone();
                    items.push(dup);
                }
                _ => mutate_tree(rng, &mut items[i], depth + 1),
            }
        }
        _ => *v = random_json(rng, depth),
    }
}

/// Replaces some string leaves (never keys) with strings built from atoms, keeping the shape.
fn mutate_leaves(rng: &mut Rng, v: &mut Json) {
    match v {
        Json::Object(m) => m.values_mut().for_each(|c| mutate_leaves(rng, c)),
        Json::Array(items) => items.iter_mut().for_each(|c| mutate_leaves(rng, c)),
        Json::String(s) if rng.below(6) == 0 => {
            *s = match rng.below(3) {
                0 => rng.pick(ATOMS).to_string(),
                1 => format!("{s}{}", rng.pick(ATOMS)),
                _ => format!("{}{}", rng.pick(ATOMS), rng.pick(ATOMS)),
            }
        }
        _ => {}
    }
}

/// Byte-level damage to a document's text.
fn mutate_text(rng: &mut Rng, text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let len = b.len();
        match rng.below(5) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                let j = (i + rng.below(16)).min(len);
                b.drain(i..j);
            }
            2 => {
                let i = rng.below(len + 1);
                let atom = rng.pick(ATOMS).as_bytes();
                b.splice(i..i, atom.iter().copied());
            }
            3 => {
                let i = rng.below(len + 1);
                let c = *rng.pick(b"{}[]\",:\\*$");
                b.insert(i, c);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                let j = (i + rng.below(32)).min(len);
                let piece = b[i..j].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, piece);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn seeds() -> Vec<Json> {
    vec![
        json!({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}),
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"A","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/KeyAdmin","arn:aws:iam::111122223333:user/alice"]},"Action":["kms:Create*","kms:Describe*","kms:Put*"],"Resource":"*"},
            {"Sid":"B","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root"]},"NotAction":"kms:Describe*","NotResource":"arn:aws:kms:*:111122223333:key/*",
             "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"},
                          "ForAllValues:StringLike":{"kms:EncryptionContextKeys":["App*","${aws:username}"]},
                          "NumericLessThanIfExists":{"test:n":["10","1e3"]},
                          "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
                          "IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},
                          "Bool":{"aws:SecureTransport":true},
                          "Null":{"aws:TokenIssueTime":"true"},
                          "ArnLike":{"aws:SourceArn":"arn:aws:iam::${aws:PrincipalAccount}:role/*"},
                          "BinaryEquals":{"test:b":"QmluYXJ5"}}}
        ]}),
        json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":["arn:aws:kms:*:*:alias/${aws:PrincipalTag/team, 'none'}-*","*"]}}),
    ]
}

fn contexts() -> Vec<(Principal, ContextMap)> {
    let full = ContextMap::new()
        .with("kms:CallerAccount", ACCT)
        .with("kms:ViaService", "ec2.us-west-2.amazonaws.com")
        .with("kms:EncryptionContextKeys", vec!["App", "alice"])
        .with("test:n", 5i64)
        .with(
            "aws:CurrentTime",
            Value::String("2021-01-01T00:00:00Z".into()),
        )
        .with(
            "aws:SourceIp",
            Value::Ip("203.0.113.9".parse().expect("ip")),
        )
        .with("aws:SecureTransport", true)
        .with("aws:SourceArn", "arn:aws:iam::111122223333:role/R")
        .with("test:b", Value::Binary(b"Binary".to_vec()))
        .with("StringEquals", "x")
        .with("*", vec!["", "*", "ü"]);
    vec![
        (alice().with_tag("team", "blue"), full.clone()),
        (admin_session(), ContextMap::new()),
        (Principal::root(ACCT), full),
        (
            Principal::service("ec2.amazonaws.com"),
            ContextMap::new().with("test:n", "x"),
        ),
        (
            Principal::anonymous(),
            ContextMap::new().with("aws:SourceIp", "not an ip"),
        ),
        (
            Principal::user(CAROL),
            ContextMap::new().with("aws:CurrentTime", 1.5e9),
        ),
    ]
}

fn exercise(policy: &Policy, ctxs: &[(Principal, ContextMap)]) {
    for (who, keys) in ctxs {
        for action in [
            "kms:Encrypt",
            "kms:PutKeyPolicy",
            "KMS:describekey",
            "",
            "*",
        ] {
            for resource in [KEY, "*", "", "arn:aws:kms:r:444455556666:key/k"] {
                let ctx = RequestContext::new(who, action, resource, keys);
                let _ = policy.evaluate(&ctx);
                let _ = would_lock_out(policy, &ctx);
                let _ = authorize(Some(policy), &[policy], false, &ctx);
            }
        }
    }
}

#[test]
fn garbage_and_mutations_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = seeds();
    let ctxs = contexts();
    let texts: Vec<String> = seeds.iter().map(Json::to_string).collect();
    for t in &texts {
        for kind in [PolicyKind::Resource, PolicyKind::Identity] {
            let _ = Policy::parse(t, kind);
        }
        assert!(
            Policy::parse(t, PolicyKind::Resource).is_ok(),
            "seed {t} parses"
        );
    }
    let mut parsed = 0usize;
    let rounds = 20_000;
    for round in 0..rounds {
        let kind = if round % 2 == 0 {
            PolicyKind::Resource
        } else {
            PolicyKind::Identity
        };
        let doc = match round % 4 {
            // Leaves replaced, structure kept: mostly valid documents with odd values.
            3 => {
                let mut v = seed_for(&mut rng, &seeds, kind);
                mutate_leaves(&mut rng, &mut v);
                v.to_string()
            }
            // Pure garbage built from atoms and punctuation.
            0 => {
                let mut s = String::new();
                for _ in 0..rng.below(24) {
                    let atom: &&str = rng.pick(ATOMS);
                    s.push_str(atom);
                    s.push(*rng.pick(&['{', '}', '[', ']', '"', ',', ':', ' ', '\\']));
                }
                s
            }
            // A structurally mutated seed.
            1 => {
                let mut v = seed_for(&mut rng, &seeds, kind);
                for _ in 0..=rng.below(2) {
                    mutate_tree(&mut rng, &mut v, 0);
                }
                v.to_string()
            }
            // A textually damaged seed.
            _ => {
                let text = rng_pick_text(&mut rng, &texts);
                mutate_text(&mut rng, text)
            }
        };
        if let Ok(p) = Policy::parse(&doc, kind) {
            parsed += 1;
            exercise(&p, &ctxs);
        }
    }
    eprintln!("fuzz: {parsed} of {rounds} documents parsed");
    // The mutations must reach the evaluator, not only the parser's error paths.
    assert!(
        parsed > rounds / 20,
        "only {parsed} of {rounds} mutated documents parsed"
    );
}

/// A seed, without principals for identity policies.
fn seed_for(rng: &mut Rng, seeds: &[Json], kind: PolicyKind) -> Json {
    let mut v = rng.pick(seeds).clone();
    if kind == PolicyKind::Identity {
        let strip = |s: &mut Json| {
            if let Json::Object(m) = s {
                m.remove("Principal");
                m.remove("NotPrincipal");
            }
        };
        match v.get_mut("Statement") {
            Some(Json::Array(items)) => items.iter_mut().for_each(strip),
            Some(one) => strip(one),
            None => {}
        }
    }
    v
}

fn rng_pick_text<'a>(rng: &mut Rng, texts: &'a [String]) -> &'a str {
    rng.pick(texts).as_str()
}

#[test]
fn deep_and_large_documents_are_refused_or_parsed_without_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(Policy::parse(&deep, PolicyKind::Resource).is_err());
    let nested = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000));
    let deep_obj = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{nested}}}]}}"#
    );
    assert!(Policy::parse(&deep_obj, PolicyKind::Resource).is_err());
    // Many statements and long patterns.
    let stmts: Vec<Json> = (0..500)
        .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Principal": "*", "Action": format!("kms:{}*", "a".repeat(i % 50)), "Resource": "*"}))
        .collect();
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": stmts}),
        PolicyKind::Resource,
    );
    assert_eq!(p.statement_count(), 500);
    let a = alice();
    let ctx = RequestContext::new(&a, "kms:Encrypt", KEY, &policy::NoKeys);
    assert!(p.evaluate(&ctx).is_allow());
    let nasty = format!("kms:{}b", "*a".repeat(200));
    let p = parse(
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": nasty, "Resource": "*"}]}),
        PolicyKind::Identity,
    );
    let action = format!("kms:{}", "a".repeat(5000));
    let ctx = RequestContext::new(&a, &action, KEY, &policy::NoKeys);
    assert!(!p.evaluate(&ctx).is_allow());
}
