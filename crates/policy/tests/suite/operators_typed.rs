//! The typed condition operators: numeric, date, Bool, BinaryEquals, IP address, ARN, Null.

use serde_json::json;

use crate::common::*;

#[test]
fn numeric_operators() {
    run_table(&[
        ("NumericEquals", json!("10"), num(10.0), true),
        ("NumericEquals", json!("10"), s("10"), true),
        ("NumericEquals", json!("10"), s("10.0"), true),
        ("NumericEquals", json!("10"), s("1e1"), true),
        ("NumericEquals", json!("10"), num(11.0), false),
        ("NumericEquals", json!(10), num(10.0), true),
        ("NumericEquals", json!(10.5), num(10.5), true),
        ("NumericEquals", json!("1e3"), num(1000.0), true),
        ("NumericEquals", json!("-5"), num(-5.0), true),
        ("NumericEquals", json!([1, 2, 3]), num(2.0), true),
        ("NumericEquals", json!([1, 2, 3]), num(4.0), false),
        ("NumericEquals", json!("10"), None, false),
        ("NumericEquals", json!("10"), s("ten"), false),
        ("NumericEquals", json!("10"), boolean(true), false),
        ("NumericNotEquals", json!("10"), num(11.0), true),
        ("NumericNotEquals", json!("10"), num(10.0), false),
        ("NumericNotEquals", json!(["1", "2"]), num(2.0), false),
        ("NumericNotEquals", json!(["1", "2"]), num(3.0), true),
        ("NumericNotEquals", json!("10"), None, true),
        ("NumericLessThan", json!("10"), num(9.0), true),
        ("NumericLessThan", json!("10"), num(9.999), true),
        ("NumericLessThan", json!("10"), num(10.0), false),
        ("NumericLessThan", json!("10"), num(11.0), false),
        ("NumericLessThan", json!("-5"), num(-6.0), true),
        ("NumericLessThan", json!("1.5"), num(1.25), true),
        ("NumericLessThan", json!("1.5"), s("1.75"), false),
        ("NumericLessThanEquals", json!("10"), num(10.0), true),
        ("NumericLessThanEquals", json!("10"), num(9.0), true),
        ("NumericLessThanEquals", json!("10"), num(10.01), false),
        ("NumericGreaterThan", json!("10"), num(11.0), true),
        ("NumericGreaterThan", json!("10"), num(10.0), false),
        ("NumericGreaterThan", json!("10"), num(-11.0), false),
        ("NumericGreaterThanEquals", json!("10"), num(10.0), true),
        ("NumericGreaterThanEquals", json!("10"), num(9.0), false),
        ("NumericGreaterThanEquals", json!("0"), s("0.0"), true),
        // Several policy values: any of them.
        ("NumericLessThan", json!(["5", "100"]), num(50.0), true),
        ("NumericGreaterThan", json!(["5", "100"]), num(3.0), false),
        // Multivalued request.
        (
            "ForAllValues:NumericLessThan",
            json!("10"),
            list(&["1", "2"]),
            true,
        ),
        (
            "ForAllValues:NumericLessThan",
            json!("10"),
            list(&["1", "20"]),
            false,
        ),
        (
            "ForAnyValue:NumericLessThan",
            json!("10"),
            list(&["1", "20"]),
            true,
        ),
        (
            "ForAnyValue:NumericLessThan",
            json!("10"),
            list(&["11", "20"]),
            false,
        ),
    ]);
}

#[test]
fn date_operators() {
    let t = "2020-01-01T00:00:00Z";
    run_table(&[
        ("DateEquals", json!(t), date("2020-01-01T00:00:00Z"), true),
        ("DateEquals", json!(t), date("2020-01-01T00:00:01Z"), false),
        (
            "DateEquals",
            json!("2020-01-01T01:00:00+01:00"),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            "DateEquals",
            json!("2020-01-01"),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            "DateEquals",
            json!("1577836800"),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            "DateEquals",
            json!(1577836800),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        ("DateEquals", json!(t), num(1577836800.0), true),
        ("DateEquals", json!(t), s("1577836800"), true),
        ("DateEquals", json!(t), s("2020-01-01T00:00:00Z"), true),
        ("DateEquals", json!(t), s("2019-12-31T19:00:00-05:00"), true),
        ("DateEquals", json!(t), s("not a date"), false),
        ("DateEquals", json!(t), None, false),
        (
            "DateNotEquals",
            json!(t),
            date("2020-01-01T00:00:00Z"),
            false,
        ),
        (
            "DateNotEquals",
            json!(t),
            date("2021-01-01T00:00:00Z"),
            true,
        ),
        ("DateNotEquals", json!(t), None, true),
        ("DateLessThan", json!(t), date("2019-12-31T23:59:59Z"), true),
        (
            "DateLessThan",
            json!(t),
            date("2020-01-01T00:00:00Z"),
            false,
        ),
        (
            "DateLessThan",
            json!(t),
            date("2020-06-01T00:00:00Z"),
            false,
        ),
        ("DateLessThan", json!(t), num(1577836799.5), true),
        (
            "DateLessThanEquals",
            json!(t),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            "DateLessThanEquals",
            json!(t),
            date("2020-01-01T00:00:00.001Z"),
            false,
        ),
        (
            "DateGreaterThan",
            json!(t),
            date("2020-01-01T00:00:00.001Z"),
            true,
        ),
        (
            "DateGreaterThan",
            json!(t),
            date("2020-01-01T00:00:00Z"),
            false,
        ),
        (
            "DateGreaterThan",
            json!("2020-01-01T00:00:01Z"),
            date("2020-06-01T00:00:00Z"),
            true,
        ),
        (
            "DateGreaterThanEquals",
            json!(t),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            "DateGreaterThanEquals",
            json!(t),
            date("2019-01-01T00:00:00Z"),
            false,
        ),
        (
            "DateGreaterThan",
            json!(["2030-01-01", "2010-01-01"]),
            date("2020-01-01T00:00:00Z"),
            true,
        ),
        (
            "DateLessThan",
            json!("2020-01-01T00:00:00.5Z"),
            date("2020-01-01T00:00:00.25Z"),
            true,
        ),
    ]);
}

#[test]
fn bool_operator() {
    run_table(&[
        ("Bool", json!("true"), boolean(true), true),
        ("Bool", json!("true"), boolean(false), false),
        ("Bool", json!("false"), boolean(false), true),
        ("Bool", json!("false"), boolean(true), false),
        ("Bool", json!(true), boolean(true), true),
        ("Bool", json!(false), boolean(true), false),
        ("Bool", json!("TRUE"), boolean(true), true),
        ("Bool", json!("True"), s("true"), true),
        ("Bool", json!("true"), s("TRUE"), true),
        ("Bool", json!("true"), s("yes"), false),
        ("Bool", json!("true"), num(1.0), false),
        ("Bool", json!("true"), None, false),
        ("Bool", json!(["true", "false"]), boolean(false), true),
        ("Bool", json!("false"), None, false),
    ]);
}

#[test]
fn binary_operator() {
    let b = |bytes: &[u8]| Some(policy::Value::Binary(bytes.to_vec()));
    run_table(&[
        (
            "BinaryEquals",
            json!("QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
            b(b"BinaryValueInBase64"),
            true,
        ),
        (
            "BinaryEquals",
            json!("QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
            b(b"BinaryValueInBase65"),
            false,
        ),
        (
            "BinaryEquals",
            json!("QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
            s("QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
            true,
        ),
        (
            "BinaryEquals",
            json!("QmluYXJ5VmFsdWVJbkJhc2U2NA"),
            b(b"BinaryValueInBase64"),
            true,
        ),
        ("BinaryEquals", json!("QQ=="), b(b"A"), true),
        ("BinaryEquals", json!("QQ=="), b(b"a"), false),
        ("BinaryEquals", json!(["QQ==", "Qg=="]), b(b"B"), true),
        ("BinaryEquals", json!("QQ=="), None, false),
        ("BinaryEquals", json!("QQ=="), s("not base64!"), false),
        ("BinaryEquals", json!(""), b(b""), true),
    ]);
}

#[test]
fn ip_operators() {
    run_table(&[
        (
            "IpAddress",
            json!("203.0.113.0/24"),
            ip("203.0.113.7"),
            true,
        ),
        (
            "IpAddress",
            json!("203.0.113.0/24"),
            ip("203.0.113.255"),
            true,
        ),
        (
            "IpAddress",
            json!("203.0.113.0/24"),
            ip("203.0.114.1"),
            false,
        ),
        ("IpAddress", json!("203.0.113.0/24"), s("203.0.113.9"), true),
        ("IpAddress", json!("203.0.113.0/24"), s("not-an-ip"), false),
        ("IpAddress", json!("203.0.113.7"), ip("203.0.113.7"), true),
        ("IpAddress", json!("203.0.113.7"), ip("203.0.113.8"), false),
        ("IpAddress", json!("203.0.113.0/24"), None, false),
        (
            "IpAddress",
            json!("2001:DB8:1234:5678::/64"),
            ip("2001:db8:1234:5678::1"),
            true,
        ),
        (
            "IpAddress",
            json!("2001:DB8:1234:5678::/64"),
            ip("2001:db8:1234:5679::1"),
            false,
        ),
        (
            "IpAddress",
            json!("2001:DB8:1234:5678::/64"),
            ip("203.0.113.7"),
            false,
        ),
        (
            "IpAddress",
            json!("203.0.113.0/24"),
            ip("2001:db8::1"),
            false,
        ),
        (
            "IpAddress",
            json!(["203.0.113.0/24", "2001:DB8:1234:5678::/64"]),
            ip("2001:db8:1234:5678::9"),
            true,
        ),
        (
            "IpAddress",
            json!(["203.0.113.0/24", "2001:DB8:1234:5678::/64"]),
            ip("203.0.113.1"),
            true,
        ),
        (
            "IpAddress",
            json!(["203.0.113.0/24", "2001:DB8:1234:5678::/64"]),
            ip("198.51.100.1"),
            false,
        ),
        ("IpAddress", json!("0.0.0.0/0"), ip("192.0.2.1"), true),
        ("IpAddress", json!("::/0"), ip("2001:db8::1"), true),
        (
            "IpAddress",
            json!("10.0.0.0/8"),
            ip("::ffff:10.1.2.3"),
            true,
        ),
        (
            "NotIpAddress",
            json!("203.0.113.0/24"),
            ip("203.0.113.7"),
            false,
        ),
        (
            "NotIpAddress",
            json!("203.0.113.0/24"),
            ip("198.51.100.7"),
            true,
        ),
        ("NotIpAddress", json!("203.0.113.0/24"), None, true),
        (
            "NotIpAddress",
            json!(["203.0.113.0/24", "198.51.100.0/24"]),
            ip("198.51.100.7"),
            false,
        ),
    ]);
}

#[test]
fn arn_operators() {
    let role = "arn:aws:iam::111122223333:role/Admin";
    let doc_pattern = "arn:aws:someservice:*:111122223333:finance/*";
    let doc_value =
        "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
    run_table(&[
        ("ArnEquals", json!(role), s(role), true),
        (
            "ArnEquals",
            json!(role),
            s("arn:aws:iam::111122223333:role/admin"),
            false,
        ),
        (
            "ArnEquals",
            json!("arn:aws:iam::111122223333:role/*"),
            s(role),
            true,
        ),
        (
            "ArnLike",
            json!("arn:aws:iam::111122223333:role/*"),
            s(role),
            true,
        ),
        (
            "ArnLike",
            json!("arn:aws:iam::111122223333:role/*"),
            s("arn:aws:iam::111122223333:user/Admin"),
            false,
        ),
        ("ArnLike", json!("arn:aws:iam::*:role/Admin"), s(role), true),
        (
            "ArnLike",
            json!("arn:aws:iam::444455556666:role/*"),
            s(role),
            false,
        ),
        (
            "ArnLike",
            json!("arn:aws:iam::11112222333?:role/Adm?n"),
            s(role),
            true,
        ),
        (
            "ArnLike",
            json!("arn:aws:sns:us-east-2:123456789012:*"),
            s("arn:aws:sns:us-east-2:123456789012:topic"),
            true,
        ),
        ("ArnLike", json!("arn:*:*:*:*:*"), s(role), true),
        ("ArnLike", json!("*"), s(role), true),
        ("ArnLike", json!(role), None, false),
        ("ArnLike", json!(role), s("not an arn"), false),
        // A wildcard of an ARN operator does not cross the colons between ARN parts...
        ("ArnLike", json!(doc_pattern), s(doc_value), false),
        // ...but the same pattern as a string matches.
        ("StringLike", json!(doc_pattern), s(doc_value), true),
        ("ArnNotEquals", json!(role), s(role), false),
        (
            "ArnNotEquals",
            json!(role),
            s("arn:aws:iam::111122223333:role/Other"),
            true,
        ),
        ("ArnNotLike", json!("arn:aws:iam::*:role/*"), s(role), false),
        ("ArnNotLike", json!("arn:aws:iam::*:user/*"), s(role), true),
        ("ArnNotLike", json!("arn:aws:iam::*:user/*"), None, true),
        (
            "ArnLike",
            json!(["arn:aws:iam::*:user/*", "arn:aws:iam::*:role/*"]),
            s(role),
            true,
        ),
    ]);
}

#[test]
fn null_operator() {
    run_table(&[
        ("Null", json!("true"), None, true),
        ("Null", json!("true"), s("x"), false),
        ("Null", json!("true"), s(""), false),
        ("Null", json!("true"), list(&[]), true),
        ("Null", json!("true"), list(&["a"]), false),
        ("Null", json!("false"), None, false),
        ("Null", json!("false"), s("x"), true),
        ("Null", json!("false"), boolean(false), true),
        ("Null", json!(true), None, true),
        ("Null", json!(false), num(0.0), true),
        ("Null", json!("TRUE"), None, true),
        ("Null", json!(["true", "false"]), None, true),
        ("Null", json!(["true", "false"]), s("x"), true),
    ]);
}
