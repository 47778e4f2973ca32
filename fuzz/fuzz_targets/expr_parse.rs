//! Feeds arbitrary text to every expression parser and exercises whatever parses: evaluation,
//! updates, projections, key conditions and printing. User input must never panic, and printing
//! a parsed tree must give text that parses back to the same tree.

#![no_main]

use std::collections::{BTreeMap, HashMap};

use flywheel_expr::*;
use flywheel_types::{AttributeValue, Item, Number};
use libfuzzer_sys::fuzz_target;

fn n(s: &str) -> AttributeValue {
    AttributeValue::N(Number::parse(s).unwrap())
}

/// Short placeholders, so that random input hits defined ones often.
fn names() -> HashMap<String, String> {
    [("#a", "a"), ("#b", "status"), ("#c", "c.d"), ("#k", "pk"), ("#1", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values() -> HashMap<String, AttributeValue> {
    let values = [
        (":a", AttributeValue::S("a".into())),
        (":s", AttributeValue::S("abc".into())),
        (":n", n("1")),
        (":m", n("-2.5")),
        (":h", n("9.9999999999999999999999999999999999999E+125")),
        (":b", AttributeValue::B(vec![0, 255])),
        (":t", AttributeValue::Bool(true)),
        (":z", AttributeValue::Null),
        (":l", AttributeValue::L(vec![n("1"), AttributeValue::S("x".into())])),
        (":e", AttributeValue::L(vec![])),
        (":o", AttributeValue::M(BTreeMap::from([("k".to_string(), n("1"))]))),
        (":ss", AttributeValue::Ss(vec!["a".into(), "b".into()])),
        (":ns", AttributeValue::Ns(vec![Number::from(1), Number::from(2)])),
        (":bs", AttributeValue::Bs(vec![vec![1]])),
        (":S", AttributeValue::S("S".into())),
        (":N", AttributeValue::S("N".into())),
    ];
    values.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn item() -> Item {
    Item::from([
        ("pk".to_string(), AttributeValue::S("k".into())),
        ("a".to_string(), n("3")),
        ("b".to_string(), AttributeValue::S("abcdef".into())),
        ("c".to_string(), AttributeValue::L(vec![n("1"), AttributeValue::L(vec![n("2")]), AttributeValue::Null])),
        (
            "m".to_string(),
            AttributeValue::M(BTreeMap::from([
                ("a".to_string(), n("1")),
                ("b".to_string(), AttributeValue::M(BTreeMap::new())),
            ])),
        ),
        ("ss".to_string(), AttributeValue::Ss(vec!["a".into()])),
        ("ns".to_string(), AttributeValue::Ns(vec![Number::from(1)])),
        ("status".to_string(), AttributeValue::Bool(false)),
    ])
}

fn reparses<T: PartialEq + std::fmt::Debug + std::fmt::Display>(
    tree: &T,
    parse: impl FnOnce(&str, &mut Resolver<'_>) -> Result<T, ExprError>,
) {
    let text = tree.to_string();
    if text.len() > EXPRESSION_BYTES_MAX {
        return; // printing adds spaces; the text may no longer fit the limit
    }
    let (names, values) = (names(), values());
    let mut resolver = Resolver::new(Some(&names), Some(&values)).unwrap();
    match parse(&text, &mut resolver) {
        Ok(again) => assert_eq!(&again, tree, "printed as {text:?}"),
        Err(e) => panic!("printed form {text:?} does not parse: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (names, values) = (names(), values());
    let mut resolver = Resolver::new(Some(&names), Some(&values)).unwrap();
    let it = item();

    for kind in [ExpressionKind::Condition, ExpressionKind::Filter, ExpressionKind::KeyCondition] {
        if let Ok(condition) = parse_condition(text, &mut resolver, kind) {
            let _ = evaluate(&condition, Some(&it));
            let _ = evaluate(&condition, None);
            let _ = key_condition(&condition, "pk", Some("a"));
            let _ = key_condition(&condition, "pk", None);
            reparses(&condition, |t, r| parse_condition(t, r, kind));
        }
    }
    if let Ok(update) = parse_update(text, &mut resolver) {
        let mut updated = it.clone();
        if let Ok(outcome) = apply_update(&update, &mut updated, &["pk"]) {
            let _ = outcome.updated_old(&it);
            let _ = outcome.updated_new(&updated);
        }
        let mut fresh = Item::new();
        let _ = apply_update(&update, &mut fresh, &[]);
        reparses(&update, parse_update);
    }
    if let Ok(projection) = parse_projection(text, &mut resolver) {
        let _ = project_paths(&it, &projection.paths);
        reparses(&projection, parse_projection);
    }
    let _ = resolver.check_unused();
});
