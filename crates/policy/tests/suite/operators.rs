//! The string condition operators, IfExists, the set operators, and how conditions combine.

use serde_json::json;

use crate::common::*;

#[test]
fn string_operators() {
    run_table(&[
        // StringEquals: exact, case-sensitive, no wildcards.
        ("StringEquals", json!("abc"), s("abc"), true),
        ("StringEquals", json!("abc"), s("ABC"), false),
        ("StringEquals", json!("abc"), s("abcd"), false),
        ("StringEquals", json!("abc"), s(""), false),
        ("StringEquals", json!(""), s(""), true),
        ("StringEquals", json!("abc"), None, false),
        ("StringEquals", json!("a*"), s("abc"), false),
        ("StringEquals", json!("a*"), s("a*"), true),
        ("StringEquals", json!("a?c"), s("abc"), false),
        ("StringEquals", json!(["x", "abc"]), s("abc"), true),
        ("StringEquals", json!(["x", "y"]), s("abc"), false),
        ("StringEquals", json!("true"), boolean(true), true),
        ("StringEquals", json!("10"), num(10.0), true),
        (
            "StringEquals",
            json!("203.0.113.7"),
            ip("203.0.113.7"),
            true,
        ),
        ("StringEquals", json!(true), s("true"), true),
        ("StringEquals", json!(5), s("5"), true),
        ("StringEquals", json!("ü"), s("ü"), true),
        ("StringEquals", json!("ü"), s("Ü"), false),
        // StringNotEquals: true when no value matches, and when the key is missing.
        ("StringNotEquals", json!("abc"), s("abc"), false),
        ("StringNotEquals", json!("abc"), s("abd"), true),
        ("StringNotEquals", json!("abc"), s("ABC"), true),
        ("StringNotEquals", json!("abc"), None, true),
        ("StringNotEquals", json!(["a", "b"]), s("b"), false),
        ("StringNotEquals", json!(["a", "b"]), s("c"), true),
        // StringEqualsIgnoreCase.
        ("StringEqualsIgnoreCase", json!("ABC"), s("abc"), true),
        ("StringEqualsIgnoreCase", json!("abc"), s("AbC"), true),
        ("StringEqualsIgnoreCase", json!("abc"), s("abd"), false),
        ("StringEqualsIgnoreCase", json!("a*"), s("abc"), false),
        ("StringEqualsIgnoreCase", json!("abc"), None, false),
        ("StringEqualsIgnoreCase", json!("ÄÖ"), s("äö"), true),
        ("StringNotEqualsIgnoreCase", json!("ABC"), s("abc"), false),
        ("StringNotEqualsIgnoreCase", json!("ABC"), s("xyz"), true),
        ("StringNotEqualsIgnoreCase", json!("ABC"), None, true),
        // StringLike: `*` and `?`, case-sensitive.
        ("StringLike", json!("a*"), s("abc"), true),
        ("StringLike", json!("a*"), s("a"), true),
        ("StringLike", json!("a*"), s("ba"), false),
        ("StringLike", json!("A*"), s("abc"), false),
        ("StringLike", json!("*c"), s("abc"), true),
        ("StringLike", json!("a?c"), s("abc"), true),
        ("StringLike", json!("a?c"), s("ac"), false),
        ("StringLike", json!("*"), s(""), true),
        ("StringLike", json!("*"), None, false),
        ("StringLike", json!(""), s(""), true),
        ("StringLike", json!(["x*", "a*"]), s("abc"), true),
        (
            "StringLike",
            json!("home/*/docs"),
            s("home/alice/docs"),
            true,
        ),
        (
            "StringLike",
            json!("home/*/docs"),
            s("home/alice/pics"),
            false,
        ),
        ("StringLike", json!("t1.*"), s("t1.micro"), true),
        ("StringLike", json!("t1.*"), s("t2.micro"), false),
        // StringNotLike.
        ("StringNotLike", json!("a*"), s("abc"), false),
        ("StringNotLike", json!("a*"), s("xyz"), true),
        ("StringNotLike", json!("a*"), None, true),
        ("StringNotLike", json!(["a*", "x*"]), s("xyz"), false),
        ("StringNotLike", json!(["a*", "x*"]), s("mno"), true),
    ]);
}

#[test]
fn if_exists() {
    run_table(&[
        ("StringEqualsIfExists", json!("a"), None, true),
        ("StringEqualsIfExists", json!("a"), s("a"), true),
        ("StringEqualsIfExists", json!("a"), s("b"), false),
        ("StringNotEqualsIfExists", json!("a"), None, true),
        ("StringNotEqualsIfExists", json!("a"), s("a"), false),
        ("StringNotEqualsIfExists", json!("a"), s("b"), true),
        (
            "StringLikeIfExists",
            json!(["t1.*", "t2.*", "m3.*"]),
            None,
            true,
        ),
        (
            "StringLikeIfExists",
            json!(["t1.*", "t2.*", "m3.*"]),
            s("t2.nano"),
            true,
        ),
        (
            "StringLikeIfExists",
            json!(["t1.*", "t2.*", "m3.*"]),
            s("c5.large"),
            false,
        ),
        ("StringNotLikeIfExists", json!("a*"), None, true),
        ("StringEqualsIgnoreCaseIfExists", json!("A"), None, true),
        ("StringEqualsIgnoreCaseIfExists", json!("A"), s("a"), true),
        ("NumericLessThanIfExists", json!("10"), None, true),
        ("NumericLessThanIfExists", json!("10"), num(11.0), false),
        ("NumericLessThanIfExists", json!("10"), num(9.0), true),
        (
            "DateGreaterThanIfExists",
            json!("2020-01-01T00:00:00Z"),
            None,
            true,
        ),
        (
            "DateGreaterThanIfExists",
            json!("2020-01-01T00:00:00Z"),
            date("2019-01-01T00:00:00Z"),
            false,
        ),
        ("BoolIfExists", json!("true"), None, true),
        ("BoolIfExists", json!("true"), boolean(false), false),
        ("BinaryEqualsIfExists", json!("QQ=="), None, true),
        ("IpAddressIfExists", json!("10.0.0.0/8"), None, true),
        (
            "IpAddressIfExists",
            json!("10.0.0.0/8"),
            ip("11.0.0.1"),
            false,
        ),
        ("NotIpAddressIfExists", json!("10.0.0.0/8"), None, true),
        (
            "NotIpAddressIfExists",
            json!("10.0.0.0/8"),
            ip("10.0.0.1"),
            false,
        ),
        (
            "ArnLikeIfExists",
            json!("arn:aws:iam::*:role/*"),
            None,
            true,
        ),
        (
            "ArnNotLikeIfExists",
            json!("arn:aws:iam::*:role/*"),
            None,
            true,
        ),
        (
            "ArnEqualsIfExists",
            json!("arn:aws:iam::111122223333:role/R"),
            s("arn:aws:iam::111122223333:role/Q"),
            false,
        ),
        // Without IfExists a missing key fails positive operators.
        ("StringEquals", json!("a"), None, false),
        ("NumericLessThan", json!("10"), None, false),
        (
            "DateGreaterThan",
            json!("2020-01-01T00:00:00Z"),
            None,
            false,
        ),
        ("Bool", json!("true"), None, false),
        ("BinaryEquals", json!("QQ=="), None, false),
        ("IpAddress", json!("10.0.0.0/8"), None, false),
        ("ArnLike", json!("arn:aws:iam::*:role/*"), None, false),
        // ...and satisfies negated ones.
        ("NumericNotEquals", json!("10"), None, true),
        ("DateNotEquals", json!("2020-01-01T00:00:00Z"), None, true),
        ("NotIpAddress", json!("10.0.0.0/8"), None, true),
        (
            "ArnNotEquals",
            json!("arn:aws:iam::111122223333:role/R"),
            None,
            true,
        ),
    ]);
}

#[test]
fn set_operators() {
    run_table(&[
        // Without a set operator a multivalued key matches when any value does; a negated
        // operator when none does.
        ("StringEquals", json!("a"), list(&["a", "b"]), true),
        ("StringEquals", json!("a"), list(&["b", "c"]), false),
        ("StringNotEquals", json!("a"), list(&["a", "b"]), false),
        ("StringNotEquals", json!("a"), list(&["b", "c"]), true),
        ("StringEquals", json!("a"), list(&[]), false),
        ("StringNotEquals", json!("a"), list(&[]), true),
        ("StringEqualsIfExists", json!("a"), list(&[]), true),
        // ForAnyValue: some request value matches some policy value.
        (
            "ForAnyValue:StringEquals",
            json!(["a", "b"]),
            list(&["x", "a"]),
            true,
        ),
        (
            "ForAnyValue:StringEquals",
            json!(["a", "b"]),
            list(&["x", "y"]),
            false,
        ),
        (
            "ForAnyValue:StringEquals",
            json!(["a", "b"]),
            list(&[]),
            false,
        ),
        ("ForAnyValue:StringEquals", json!(["a", "b"]), None, false),
        ("ForAnyValue:StringEquals", json!(["a", "b"]), s("a"), true),
        ("ForAnyValue:StringEquals", json!(["a", "b"]), s(""), false),
        ("ForAnyValue:StringEqualsIfExists", json!("a"), None, true),
        (
            "ForAnyValue:StringLike",
            json!(["ID", "PostDateTime"]),
            list(&["UserName", "Message", "PostDateTime"]),
            true,
        ),
        (
            "ForAnyValue:StringLike",
            json!(["ID", "PostDateTime"]),
            list(&["UserName"]),
            false,
        ),
        (
            "ForAnyValue:StringNotEquals",
            json!("a"),
            list(&["a", "b"]),
            true,
        ),
        (
            "ForAnyValue:StringNotEquals",
            json!("a"),
            list(&["a"]),
            false,
        ),
        ("ForAnyValue:StringNotEquals", json!("a"), None, false),
        (
            "ForAnyValue:StringEqualsIgnoreCase",
            json!("A"),
            list(&["x", "a"]),
            true,
        ),
        (
            "ForAnyValue:ArnLike",
            json!("arn:aws:iam::*:role/*"),
            list(&["arn:aws:iam::1:user/u", "arn:aws:iam::1:role/r"]),
            true,
        ),
        // ForAllValues: every request value matches some policy value; true for none.
        (
            "ForAllValues:StringEquals",
            json!(["a", "b"]),
            list(&["a", "b"]),
            true,
        ),
        (
            "ForAllValues:StringEquals",
            json!(["a", "b"]),
            list(&["b"]),
            true,
        ),
        (
            "ForAllValues:StringEquals",
            json!(["a", "b"]),
            list(&["a", "x"]),
            false,
        ),
        (
            "ForAllValues:StringEquals",
            json!(["a", "b"]),
            list(&[]),
            true,
        ),
        ("ForAllValues:StringEquals", json!(["a", "b"]), None, true),
        ("ForAllValues:StringEquals", json!(["a", "b"]), s(""), true),
        ("ForAllValues:StringEquals", json!(["a", "b"]), s("a"), true),
        (
            "ForAllValues:StringEquals",
            json!(["a", "b"]),
            s("c"),
            false,
        ),
        (
            "ForAllValues:StringLike",
            json!(["PostDateTime", "Message", "Tags"]),
            list(&["PostDateTime", "Message"]),
            true,
        ),
        (
            "ForAllValues:StringLike",
            json!(["PostDateTime", "Message", "Tags"]),
            list(&["PostDateTime", "UserName"]),
            false,
        ),
        (
            "ForAllValues:StringLike",
            json!("key1*"),
            list(&["key1:legal", "key1:hr"]),
            true,
        ),
        // The AWS documentation's ForAllValues:StringNotLike table.
        (
            "ForAllValues:StringNotLike",
            json!("key1*"),
            list(&["key1:legal"]),
            false,
        ),
        (
            "ForAllValues:StringNotLike",
            json!("key1*"),
            list(&["key1:hr", "key1:personnel"]),
            false,
        ),
        (
            "ForAllValues:StringNotLike",
            json!("key1*"),
            list(&["key2:audit"]),
            true,
        ),
        ("ForAllValues:StringNotLike", json!("key1*"), None, true),
        (
            "ForAllValues:StringNotEquals",
            json!(["a", "b"]),
            list(&["c", "d"]),
            true,
        ),
        (
            "ForAllValues:StringNotEquals",
            json!(["a", "b"]),
            list(&["c", "a"]),
            false,
        ),
        (
            "ForAllValues:StringEqualsIfExists",
            json!("a"),
            list(&["a", "b"]),
            false,
        ),
        (
            "ForAllValues:StringEqualsIgnoreCase",
            json!("A"),
            list(&["a", "A"]),
            true,
        ),
        (
            "ForAllValues:ArnLike",
            json!("arn:aws:iam::*:role/*"),
            list(&["arn:aws:iam::1:user/u", "arn:aws:iam::1:role/r"]),
            false,
        ),
        (
            "ForAllValues:Bool",
            json!("true"),
            list(&["true", "TRUE"]),
            true,
        ),
        (
            "ForAllValues:IpAddress",
            json!("10.0.0.0/8"),
            list(&["10.0.0.1", "10.2.3.4"]),
            true,
        ),
        (
            "ForAllValues:IpAddress",
            json!("10.0.0.0/8"),
            list(&["10.0.0.1", "11.2.3.4"]),
            false,
        ),
        (
            "ForAnyValue:NotIpAddress",
            json!("10.0.0.0/8"),
            list(&["10.0.0.1", "11.2.3.4"]),
            true,
        ),
    ]);
}

#[test]
fn several_keys_and_operators_are_all_required() {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"test:A": "a", "test:B": ["b1", "b2"]},
                "NumericLessThan": {"test:N": "10"}
            }
        }]
    });
    let policy = parse(&doc, policy::PolicyKind::Identity);
    let p = alice();
    let rows: &[(&[(&str, &str)], bool)] = &[
        (&[("test:A", "a"), ("test:B", "b1"), ("test:N", "5")], true),
        (&[("test:A", "a"), ("test:B", "b2"), ("test:N", "5")], true),
        (&[("test:A", "a"), ("test:B", "b3"), ("test:N", "5")], false),
        (&[("test:A", "x"), ("test:B", "b1"), ("test:N", "5")], false),
        (
            &[("test:A", "a"), ("test:B", "b1"), ("test:N", "50")],
            false,
        ),
        (&[("test:A", "a"), ("test:B", "b1")], false),
        (&[("TEST:a", "a"), ("Test:B", "b1"), ("test:n", "5")], true),
        (&[], false),
    ];
    for (keys, want) in rows {
        let mut m = policy::ContextMap::new();
        for (k, v) in *keys {
            m.insert(k, *v);
        }
        let ctx = policy::RequestContext::new(&p, "kms:Encrypt", KEY, &m);
        assert_eq!(policy.evaluate(&ctx).is_allow(), *want, "{keys:?}");
    }
}

#[test]
fn condition_values_may_be_json_booleans_and_numbers() {
    run_table(&[
        ("Bool", json!([true]), boolean(true), true),
        ("StringEquals", json!([1, "1.5", true]), s("1.5"), true),
        ("NumericGreaterThan", json!([1.5]), num(2.0), true),
    ]);
}
