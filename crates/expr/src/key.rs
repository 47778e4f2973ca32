//! KeyConditionExpression: a parsed condition checked against the key schema and reduced to what
//! a Query needs — one partition key value and at most one sort key condition.
//!
//! Call `key_condition` after `Resolver::check_unused`: DynamoDB reports unused placeholders
//! before a badly shaped key condition.

use std::cmp::Ordering;

use flywheel_types::{AttributeValue, ValueType};

use crate::ast::{Comparator, Condition, Operand, PathElement};
use crate::error::{self, ExprError};
use crate::eval::compare_ordered;

/// The condition on the sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKeyCondition {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

impl SortKeyCondition {
    /// Whether a sort key value satisfies the condition.
    pub fn matches(&self, value: &AttributeValue) -> bool {
        let le = |a: &AttributeValue, b: &AttributeValue| {
            matches!(compare_ordered(a, b), Some(Ordering::Less | Ordering::Equal))
        };
        match self {
            SortKeyCondition::Eq(v) => value == v,
            SortKeyCondition::Lt(v) => compare_ordered(value, v) == Some(Ordering::Less),
            SortKeyCondition::Le(v) => le(value, v),
            SortKeyCondition::Gt(v) => compare_ordered(value, v) == Some(Ordering::Greater),
            SortKeyCondition::Ge(v) => le(v, value),
            SortKeyCondition::Between(lo, hi) => le(lo, value) && le(value, hi),
            SortKeyCondition::BeginsWith(prefix) => match (value, prefix) {
                (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
                (AttributeValue::B(b), AttributeValue::B(p)) => b.starts_with(p),
                _ => false,
            },
        }
    }

    fn values(&self) -> Vec<&AttributeValue> {
        match self {
            SortKeyCondition::Eq(v)
            | SortKeyCondition::Lt(v)
            | SortKeyCondition::Le(v)
            | SortKeyCondition::Gt(v)
            | SortKeyCondition::Ge(v)
            | SortKeyCondition::BeginsWith(v) => vec![v],
            SortKeyCondition::Between(a, b) => vec![a, b],
        }
    }
}

/// What a Query reads: the items with this partition key whose sort key matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCondition {
    pub partition_key: AttributeValue,
    pub sort_key: Option<SortKeyCondition>,
}

impl KeyCondition {
    /// Checks the values against the key attributes' declared types, as DynamoDB does once it
    /// knows the table (or index) schema.
    pub fn check_types(&self, partition_key: ValueType, sort_key: Option<ValueType>) -> Result<(), ExprError> {
        if self.partition_key.value_type() != partition_key {
            return Err(error::key_type_mismatch());
        }
        if let (Some(condition), Some(t)) = (&self.sort_key, sort_key) {
            if condition.values().iter().any(|v| v.value_type() != t) {
                return Err(error::key_type_mismatch());
            }
        }
        Ok(())
    }
}

/// One leaf of the key condition, reduced to "attribute op values".
struct KeyTerm {
    name: String,
    condition: SortKeyCondition,
}

/// Checks that `condition` is `partition_key = :v`, optionally AND one sort key condition
/// (`= < <= > >=`, BETWEEN or begins_with), and extracts the values.
pub fn key_condition(
    condition: &Condition,
    partition_key: &str,
    sort_key: Option<&str>,
) -> Result<KeyCondition, ExprError> {
    let mut terms: Vec<KeyTerm> = Vec::new();
    collect(condition, &mut terms)?;
    let Some(pk) = terms.iter().position(|t| t.name == partition_key) else {
        return Err(error::key_missed_element(partition_key));
    };
    let pk = terms.remove(pk);
    let partition_value = match pk.condition {
        SortKeyCondition::Eq(v) => v,
        _ => return Err(error::key_condition_not_supported()),
    };
    let sort = match terms.pop() {
        None => None,
        Some(term) => match sort_key {
            Some(sk) if term.name == sk => Some(term.condition),
            Some(sk) => return Err(error::key_missed_element(sk)),
            None => return Err(error::key_condition_not_supported()),
        },
    };
    Ok(KeyCondition { partition_key: partition_value, sort_key: sort })
}

fn collect(mut condition: &Condition, terms: &mut Vec<KeyTerm>) -> Result<(), ExprError> {
    // AND chains nest to the right: walk them in a loop.
    while let Condition::And(l, r) = condition {
        collect(l, terms)?;
        condition = r;
    }
    let term = match condition {
        Condition::And(..) => unreachable!("walked above"),
        Condition::Or(..) => return Err(error::key_invalid_operator("OR")),
        Condition::Not(_) => return Err(error::key_invalid_operator("NOT")),
        Condition::In { .. } => return Err(error::key_invalid_operator("IN")),
        Condition::AttributeExists(_) => return Err(error::key_invalid_operator("attribute_exists")),
        Condition::AttributeNotExists(_) => return Err(error::key_invalid_operator("attribute_not_exists")),
        Condition::AttributeType { .. } => return Err(error::key_invalid_operator("attribute_type")),
        Condition::Contains { .. } => return Err(error::key_invalid_operator("contains")),
        Condition::Compare { op: Comparator::Ne, .. } => return Err(error::key_invalid_operator("<>")),
        Condition::Compare { op, left, right } => {
            let (name, value, flipped) = one_attribute([left, right])?;
            let value = value.clone();
            let op = if flipped == 1 { op.flipped() } else { *op };
            let condition = match op {
                Comparator::Eq => SortKeyCondition::Eq(value),
                Comparator::Lt => SortKeyCondition::Lt(value),
                Comparator::Le => SortKeyCondition::Le(value),
                Comparator::Gt => SortKeyCondition::Gt(value),
                Comparator::Ge => SortKeyCondition::Ge(value),
                Comparator::Ne => unreachable!("rejected above"),
            };
            KeyTerm { name, condition }
        }
        Condition::Between { operand, lower, upper } => {
            no_size([operand, lower, upper])?;
            if !matches!(operand, Operand::Path(_)) {
                return Err(error::key_first_operand("BETWEEN"));
            }
            let (name, lo, hi) = match (operand, lower, upper) {
                (Operand::Path(p), Operand::Value(lo), Operand::Value(hi)) => (key_name(p)?, &lo.value, &hi.value),
                _ => return Err(error::key_multiple_names()),
            };
            KeyTerm { name, condition: SortKeyCondition::Between(lo.clone(), hi.clone()) }
        }
        Condition::BeginsWith { operand, prefix } => {
            no_size([operand, prefix])?;
            if !matches!(operand, Operand::Path(_)) {
                return Err(error::key_first_operand("begins_with"));
            }
            let (name, value, _) = one_attribute([operand, prefix])?;
            KeyTerm { name, condition: SortKeyCondition::BeginsWith(value.clone()) }
        }
    };
    if terms.iter().any(|t| t.name == term.name) {
        return Err(error::key_one_condition_per_key());
    }
    terms.push(term);
    Ok(())
}

fn no_size<const N: usize>(operands: [&Operand; N]) -> Result<(), ExprError> {
    if operands.iter().any(|o| matches!(o, Operand::Size(_))) {
        return Err(error::key_nested_operation());
    }
    Ok(())
}

/// Exactly one of the operands is a path to a top-level attribute, the other a value. Returns the
/// attribute, the value, and the path's position.
fn one_attribute(operands: [&Operand; 2]) -> Result<(String, &AttributeValue, usize), ExprError> {
    no_size(operands)?;
    match operands {
        [Operand::Path(_), Operand::Path(_)] => Err(error::key_multiple_names()),
        [Operand::Path(p), Operand::Value(v)] => Ok((key_name(p)?, &v.value, 0)),
        [Operand::Value(v), Operand::Path(p)] => Ok((key_name(p)?, &v.value, 1)),
        _ => Err(error::key_no_attribute()),
    }
}

fn key_name(path: &crate::ast::DocumentPath) -> Result<String, ExprError> {
    match path.elements.as_slice() {
        [PathElement::Key { name, .. }] => Ok(name.clone()),
        _ => Err(error::key_nested_attribute()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{show, with_fixture};
    use crate::{parse_condition, ExpressionKind};

    fn render(k: &KeyCondition) -> String {
        let sort = match &k.sort_key {
            None => String::new(),
            Some(c) => {
                let (op, values) = match c {
                    SortKeyCondition::Eq(_) => ("=", c.values()),
                    SortKeyCondition::Lt(_) => ("<", c.values()),
                    SortKeyCondition::Le(_) => ("<=", c.values()),
                    SortKeyCondition::Gt(_) => (">", c.values()),
                    SortKeyCondition::Ge(_) => (">=", c.values()),
                    SortKeyCondition::Between(..) => ("BETWEEN", c.values()),
                    SortKeyCondition::BeginsWith(_) => ("begins_with", c.values()),
                };
                format!("; sk {op} {}", values.iter().map(|v| show(v)).collect::<Vec<_>>().join(" "))
            }
        };
        format!("pk = {}{sort}", show(&k.partition_key))
    }

    /// Each case: a KeyConditionExpression and the key condition, or DynamoDB's message, for a
    /// table keyed `pk` (and `sk` when `sort_key` is given).
    fn check(sort_key: Option<&str>, cases: &[(&str, &str)]) {
        for (src, want) in cases {
            let cond = with_fixture(|r| parse_condition(src, r, ExpressionKind::KeyCondition)).unwrap();
            let got = match key_condition(&cond, "pk", sort_key) {
                Ok(k) => render(&k),
                Err(e) => e.message,
            };
            assert_eq!(got, *want, "{src}");
        }
    }

    #[test]
    fn reduces_valid_shapes() {
        check(
            Some("sk"),
            &[
                ("pk = :s", "pk = \"abc\""),
                ("#pk = :s AND #sk > :t", "pk = \"abc\"; sk > \"abd\""),
                ("sk < :t AND pk = :s", "pk = \"abc\"; sk < \"abd\""),
                (":t <= sk AND pk = :s", "pk = \"abc\"; sk >= \"abd\""),
                ("(pk = :s) AND (sk = :t)", "pk = \"abc\"; sk = \"abd\""),
                ("pk = :s AND sk BETWEEN :s AND :t", "pk = \"abc\"; sk BETWEEN \"abc\" \"abd\""),
                ("pk = :s AND begins_with(sk, :ab)", "pk = \"abc\"; sk begins_with \"ab\""),
            ],
        );
    }

    #[test]
    fn rejects_other_shapes_with_dynamodb_messages() {
        check(
            Some("sk"),
            &[
                ("pk = :s OR sk = :s", "Invalid operator used in KeyConditionExpression: OR"),
                ("NOT pk = :s", "Invalid operator used in KeyConditionExpression: NOT"),
                ("pk IN (:s)", "Invalid operator used in KeyConditionExpression: IN"),
                ("pk <> :s", "Invalid operator used in KeyConditionExpression: <>"),
                ("pk = :s AND attribute_exists(sk)", "Invalid operator used in KeyConditionExpression: attribute_exists"),
                ("pk = :s AND contains(sk, :s)", "Invalid operator used in KeyConditionExpression: contains"),
                ("pk = :s AND size(sk) > :n", "KeyConditionExpressions cannot contain nested operations"),
                ("#pk = :s AND #sk.foo = :s", "KeyConditionExpressions cannot have conditions on nested attributes"),
                ("pk = :s AND sk[0] = :s", "KeyConditionExpressions cannot have conditions on nested attributes"),
                ("pk = sk", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
                (":s = :t", "Invalid condition in KeyConditionExpression: No key attribute specified"),
                ("pk = :s AND pk = :t", "KeyConditionExpressions must only contain one condition per key"),
                (":s BETWEEN sk AND :t", "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"),
                ("begins_with(:s, sk)", "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand"),
                ("sk = :s", "Query condition missed key schema element: pk"),
                ("attr1 = :s", "Query condition missed key schema element: pk"),
                ("pk > :s", "Query key condition not supported"),
                ("begins_with(pk, :s)", "Query key condition not supported"),
                ("pk = :s AND attr2 = :t", "Query condition missed key schema element: sk"),
            ],
        );
        check(None, &[("pk = :s AND attr2 = :t", "Query key condition not supported")]);
    }

    #[test]
    fn matches_sort_keys_and_checks_types() {
        let cases: &[(SortKeyCondition, &str, bool)] = &[
            (SortKeyCondition::Between(crate::testutil::v("2"), crate::testutil::v("5")), "5", true),
            (SortKeyCondition::Between(crate::testutil::v("2"), crate::testutil::v("5")), "5.1", false),
            (SortKeyCondition::BeginsWith(crate::testutil::v("\"ab\"")), "\"abc\"", true),
            (SortKeyCondition::BeginsWith(crate::testutil::v("b\"01\"")), "b\"0102\"", true),
            (SortKeyCondition::Lt(crate::testutil::v("\"b\"")), "\"a\"", true),
            (SortKeyCondition::Ge(crate::testutil::v("10")), "9", false),
            (SortKeyCondition::Eq(crate::testutil::v("1")), "1.0", true),
        ];
        for (condition, value, want) in cases {
            assert_eq!(condition.matches(&crate::testutil::v(value)), *want, "{condition:?} {value}");
        }
        let k = KeyCondition {
            partition_key: crate::testutil::v("\"p\""),
            sort_key: Some(SortKeyCondition::Between(crate::testutil::v("1"), crate::testutil::v("\"x\""))),
        };
        assert_eq!(k.check_types(ValueType::S, None), Ok(()));
        assert_eq!(
            k.check_types(ValueType::N, None).unwrap_err().message,
            "One or more parameter values were invalid: Condition parameter type does not match schema type"
        );
        assert!(k.check_types(ValueType::S, Some(ValueType::N)).is_err());
    }
}
