//! Printing any valid AST and parsing the text gives the same AST back: the printer and the
//! parser agree on precedence, associativity and spelling.

use std::collections::{BTreeMap, HashMap};

use flywheel_expr::*;
use flywheel_types::{AttributeValue, Number};
use proptest::prelude::*;

const BARE_NAMES: &[&str] = &["a", "b", "c1", "foo_bar", "x9", "Zz"];
const NAME_REFS: &[(&str, &str)] = &[("#s", "status"), ("#dot", "x.y"), ("#c", "c"), ("#e", "é")];

fn n(s: &str) -> AttributeValue {
    AttributeValue::N(Number::parse(s).unwrap())
}

fn fixture_values() -> Vec<(&'static str, AttributeValue)> {
    vec![
        (":s", AttributeValue::S("abc".into())),
        (":t", AttributeValue::S("abd".into())),
        (":n", n("1")),
        (":m", n("2")),
        (":bin", AttributeValue::B(vec![1, 2])),
        (":l", AttributeValue::L(vec![n("1"), AttributeValue::S("x".into())])),
        (":map", AttributeValue::M(BTreeMap::from([("k".to_string(), n("1"))]))),
        (":ss", AttributeValue::Ss(vec!["a".into(), "b".into()])),
        (":ns", AttributeValue::Ns(vec![Number::from(1), Number::from(2)])),
        (":bool", AttributeValue::Bool(true)),
        (":null", AttributeValue::Null),
        (":S", AttributeValue::S("S".into())),
        (":N", AttributeValue::S("N".into())),
        (":L", AttributeValue::S("L".into())),
    ]
}

fn value(placeholder: &'static str) -> Value {
    let value = fixture_values().into_iter().find(|(p, _)| *p == placeholder).expect("fixture value").1;
    Value { placeholder: placeholder.to_string(), value }
}

fn value_of(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::sample::select(pool).prop_map(value)
}

fn key() -> impl Strategy<Value = PathElement> {
    prop_oneof![
        prop::sample::select(BARE_NAMES).prop_map(PathElement::key),
        prop::sample::select(NAME_REFS)
            .prop_map(|(p, name)| PathElement::Key { name: name.to_string(), placeholder: Some(p.to_string()) }),
    ]
}

fn path() -> impl Strategy<Value = DocumentPath> {
    (key(), prop::collection::vec(prop_oneof![key(), (0u32..20).prop_map(PathElement::Index)], 0..3)).prop_map(
        |(first, rest)| {
            let mut elements = vec![first];
            elements.extend(rest);
            DocumentPath { elements }
        },
    )
}

const ORDERABLE: &[&str] = &[":s", ":t", ":n", ":m", ":bin"];
const ANY: &[&str] = &[":s", ":n", ":bin", ":l", ":map", ":ss", ":ns", ":bool", ":null"];

fn orderable_operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        path().prop_map(Operand::Path),
        value_of(ORDERABLE).prop_map(Operand::Value),
        path().prop_map(|p| Operand::Size(Box::new(Operand::Path(p)))),
    ]
}

fn any_operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        path().prop_map(Operand::Path),
        value_of(ANY).prop_map(Operand::Value),
        prop_oneof![path().prop_map(Operand::Path), value_of(&[":l", ":s", ":map"]).prop_map(Operand::Value)]
            .prop_map(|o| Operand::Size(Box::new(o))),
    ]
}

fn comparator() -> impl Strategy<Value = Comparator> {
    prop::sample::select(
        &[Comparator::Eq, Comparator::Ne, Comparator::Lt, Comparator::Le, Comparator::Gt, Comparator::Ge][..],
    )
}

fn leaf() -> impl Strategy<Value = Condition> {
    prop_oneof![
        (comparator(), orderable_operand(), orderable_operand()).prop_map(|(op, left, right)| Condition::Compare {
            op,
            left,
            right
        }),
        (prop::sample::select(&[Comparator::Eq, Comparator::Ne][..]), any_operand(), any_operand())
            .prop_map(|(op, left, right)| Condition::Compare { op, left, right }),
        (orderable_operand(), path(), path()).prop_map(|(operand, lo, hi)| Condition::Between {
            operand,
            lower: Operand::Path(lo),
            upper: Operand::Path(hi)
        }),
        (orderable_operand(), prop::sample::select(&[(":n", ":m"), (":s", ":t"), (":n", ":n")][..])).prop_map(
            |(operand, (lo, hi))| Condition::Between {
                operand,
                lower: Operand::Value(value(lo)),
                upper: Operand::Value(value(hi))
            }
        ),
        (any_operand(), prop::collection::vec(any_operand(), 1..4))
            .prop_map(|(operand, list)| Condition::In { operand, list }),
        path().prop_map(Condition::AttributeExists),
        path().prop_map(Condition::AttributeNotExists),
        (any_operand(), value_of(&[":S", ":N", ":L"]))
            .prop_map(|(operand, type_name)| Condition::AttributeType { operand, type_name }),
        (
            prop_oneof![path().prop_map(Operand::Path), value_of(&[":s", ":bin"]).prop_map(Operand::Value)],
            prop_oneof![path().prop_map(Operand::Path), value_of(&[":t", ":bin"]).prop_map(Operand::Value)]
        )
            .prop_map(|(operand, prefix)| Condition::BeginsWith { operand, prefix }),
        (path(), any_operand()).prop_map(|(p, value)| Condition::Contains { operand: Operand::Path(p), value }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    leaf().prop_recursive(4, 32, 2, |inner| {
        prop_oneof![
            // The parser folds `NOT NOT c` into `c`, so trees never nest NOT directly.
            inner.clone().prop_map(|c| match c {
                Condition::Not(inner) => *inner,
                c => Condition::Not(Box::new(c)),
            }),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Condition::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| Condition::Or(Box::new(l), Box::new(r))),
        ]
    })
}

/// DynamoDB refuses `op(x, x)` for two-operand operators and functions.
fn distinct_operands(c: &Condition) -> bool {
    let same = |a: &Operand, b: &Operand| matches!((a, b), (Operand::Path(p), Operand::Path(q)) if p.to_string() == q.to_string() || same_resolved(p, q));
    match c {
        Condition::Compare { left, right, .. } => !same(left, right),
        Condition::BeginsWith { operand, prefix } => !same(operand, prefix),
        Condition::Contains { operand, value } => !same(operand, value),
        Condition::Not(c) => distinct_operands(c),
        Condition::And(l, r) | Condition::Or(l, r) => distinct_operands(l) && distinct_operands(r),
        _ => true,
    }
}

fn same_resolved(p: &DocumentPath, q: &DocumentPath) -> bool {
    p.elements.len() == q.elements.len()
        && p.elements.iter().zip(&q.elements).all(|(a, b)| match (a, b) {
            (PathElement::Key { name: x, .. }, PathElement::Key { name: y, .. }) => x == y,
            (PathElement::Index(x), PathElement::Index(y)) => x == y,
            _ => false,
        })
}

fn update_operand() -> impl Strategy<Value = UpdateOperand> {
    let leaf = prop_oneof![path().prop_map(UpdateOperand::Path), value_of(ANY).prop_map(UpdateOperand::Value)];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (path(), inner.clone()).prop_map(|(p, o)| UpdateOperand::IfNotExists(p, Box::new(o))),
            (
                prop_oneof![path().prop_map(UpdateOperand::Path), value_of(&[":l"]).prop_map(UpdateOperand::Value)],
                prop_oneof![path().prop_map(UpdateOperand::Path), value_of(&[":l"]).prop_map(UpdateOperand::Value)]
            )
                .prop_map(|(a, b)| UpdateOperand::ListAppend(Box::new(a), Box::new(b))),
        ]
    })
}

fn number_operand() -> impl Strategy<Value = UpdateOperand> {
    prop_oneof![
        path().prop_map(UpdateOperand::Path),
        value_of(&[":n", ":m"]).prop_map(UpdateOperand::Value),
        (path(), value_of(&[":n"])).prop_map(|(p, v)| UpdateOperand::IfNotExists(p, Box::new(UpdateOperand::Value(v)))),
    ]
}

fn set_value() -> impl Strategy<Value = SetValue> {
    prop_oneof![
        update_operand().prop_map(SetValue::Operand),
        (number_operand(), number_operand()).prop_map(|(a, b)| SetValue::Plus(a, b)),
        (number_operand(), number_operand()).prop_map(|(a, b)| SetValue::Minus(a, b)),
    ]
}

fn clause(kind: u8) -> BoxedStrategy<UpdateClause> {
    match kind {
        0 => prop::collection::vec((path(), set_value()).prop_map(|(path, value)| SetAction { path, value }), 1..4)
            .prop_map(UpdateClause::Set)
            .boxed(),
        1 => prop::collection::vec(path(), 1..4).prop_map(UpdateClause::Remove).boxed(),
        2 => prop::collection::vec(
            (path(), value_of(&[":n", ":ss", ":ns"])).prop_map(|(path, value)| ValueAction { path, value }),
            1..4,
        )
        .prop_map(UpdateClause::Add)
        .boxed(),
        _ => prop::collection::vec(
            (path(), value_of(&[":ss", ":ns"])).prop_map(|(path, value)| ValueAction { path, value }),
            1..4,
        )
        .prop_map(UpdateClause::Delete)
        .boxed(),
    }
}

/// Target paths may not overlap: give each its own top-level attribute.
fn unique_targets(mut update: UpdateExpression) -> UpdateExpression {
    let mut i = 0;
    let mut rename = |p: &mut DocumentPath| {
        p.elements[0] = PathElement::key(format!("t{i}"));
        i += 1;
    };
    for clause in &mut update.clauses {
        match clause {
            UpdateClause::Set(actions) => actions.iter_mut().for_each(|a| rename(&mut a.path)),
            UpdateClause::Remove(paths) => paths.iter_mut().for_each(&mut rename),
            UpdateClause::Add(actions) | UpdateClause::Delete(actions) => {
                actions.iter_mut().for_each(|a| rename(&mut a.path))
            }
        }
    }
    update
}

fn update() -> impl Strategy<Value = UpdateExpression> {
    Just(vec![0u8, 1, 2, 3])
        .prop_shuffle()
        .prop_flat_map(|order| (1..=4usize).prop_map(move |n| order[..n].to_vec()))
        .prop_flat_map(|kinds| kinds.into_iter().map(clause).collect::<Vec<_>>())
        .prop_map(|clauses| unique_targets(UpdateExpression { clauses, origin: UpdateOrigin::Expression }))
}

fn with_resolver<T>(f: impl FnOnce(&mut Resolver<'_>) -> T) -> T {
    let names: HashMap<String, String> = NAME_REFS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let values: HashMap<String, AttributeValue> =
        fixture_values().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let mut resolver = Resolver::new(Some(&names), Some(&values)).unwrap();
    f(&mut resolver)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn conditions_round_trip(c in condition().prop_filter("distinct operands", distinct_operands)) {
        let text = c.to_string();
        let parsed = with_resolver(|r| parse_condition(&text, r, ExpressionKind::Condition));
        prop_assert_eq!(parsed, Ok(c), "{}", text);
    }

    #[test]
    fn updates_round_trip(u in update()) {
        let text = u.to_string();
        let parsed = with_resolver(|r| parse_update(&text, r));
        prop_assert_eq!(parsed, Ok(u), "{}", text);
    }

    #[test]
    fn projections_round_trip(paths in prop::collection::vec(path(), 1..6)) {
        let paths: Vec<DocumentPath> = paths
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                p.elements[0] = PathElement::key(format!("p{i}"));
                p
            })
            .collect();
        let projection = Projection { paths };
        let text = projection.to_string();
        let parsed = with_resolver(|r| parse_projection(&text, r));
        prop_assert_eq!(parsed, Ok(projection), "{}", text);
    }
}
