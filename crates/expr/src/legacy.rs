//! The legacy (pre-expression) request parameters, converted into the same AST as expressions so
//! that the engine evaluates one thing: `Expected` + `ConditionalOperator`, `QueryFilter`,
//! `ScanFilter`, `KeyConditions`, `AttributeUpdates` and `AttributesToGet`.
//!
//! The input types are plain data; the protocol crate maps wire JSON onto them. Maps are taken as
//! iterators of `(name, entry)` and processed in name order, so that which entry an error names is
//! deterministic. Converted trees use generated placeholders (`#n0`, `:v0`, …) so that they still
//! print as expressions; those placeholders mean nothing outside the tree.
//!
//! Two legacy behaviours differ from expressions and are preserved: `NOT_CONTAINS` is false for a
//! missing attribute (it becomes `attribute_exists(a) AND NOT contains(a, :v)`), and `ADD` of a
//! list to an attribute appends (it becomes `SET a = list_append(if_not_exists(a, :empty), :v)`).

use flywheel_types::{AttributeValue, ValueType};

use crate::ast::*;
use crate::error::{self, ExprError};
use crate::eval::compare_ordered;
use crate::key::{KeyCondition, SortKeyCondition};

/// A legacy `ComparisonOperator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComparisonOperator {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
    In,
    Between,
}

impl ComparisonOperator {
    /// Parses the wire name (`"EQ"`, `"NOT_NULL"`, …).
    pub fn from_wire(name: &str) -> Option<ComparisonOperator> {
        use ComparisonOperator::*;
        Some(match name {
            "EQ" => Eq,
            "NE" => Ne,
            "LE" => Le,
            "LT" => Lt,
            "GE" => Ge,
            "GT" => Gt,
            "NOT_NULL" => NotNull,
            "NULL" => Null,
            "CONTAINS" => Contains,
            "NOT_CONTAINS" => NotContains,
            "BEGINS_WITH" => BeginsWith,
            "IN" => In,
            "BETWEEN" => Between,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        use ComparisonOperator::*;
        match self {
            Eq => "EQ",
            Ne => "NE",
            Le => "LE",
            Lt => "LT",
            Ge => "GE",
            Gt => "GT",
            NotNull => "NOT_NULL",
            Null => "NULL",
            Contains => "CONTAINS",
            NotContains => "NOT_CONTAINS",
            BeginsWith => "BEGINS_WITH",
            In => "IN",
            Between => "BETWEEN",
        }
    }
}

/// `ConditionalOperator`: how several legacy conditions combine (AND when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConditionalOperator {
    #[default]
    And,
    Or,
}

/// One entry of `Expected`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpectedAttributeValue {
    pub value: Option<AttributeValue>,
    pub exists: Option<bool>,
    pub comparison_operator: Option<ComparisonOperator>,
    pub attribute_value_list: Option<Vec<AttributeValue>>,
}

/// One entry of `QueryFilter`, `ScanFilter` or `KeyConditions` (the API's `Condition`).
#[derive(Clone, Debug, PartialEq)]
pub struct LegacyCondition {
    pub comparison_operator: ComparisonOperator,
    pub attribute_value_list: Vec<AttributeValue>,
}

/// `AttributeUpdates` actions (PUT when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AttributeAction {
    #[default]
    Put,
    Add,
    Delete,
}

/// One entry of `AttributeUpdates`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeValueUpdate {
    pub action: Option<AttributeAction>,
    pub value: Option<AttributeValue>,
}

/// Generates placeholders for converted trees.
#[derive(Default)]
struct Placeholders {
    names: usize,
    values: usize,
}

impl Placeholders {
    fn path(&mut self, name: &str) -> DocumentPath {
        let placeholder = format!("#n{}", self.names);
        self.names += 1;
        DocumentPath { elements: vec![PathElement::Key { name: name.to_string(), placeholder: Some(placeholder) }] }
    }

    fn value(&mut self, value: &AttributeValue) -> Value {
        let placeholder = format!(":v{}", self.values);
        self.values += 1;
        Value { placeholder, value: value.clone() }
    }
}

fn sorted<'m, T: 'm>(entries: impl IntoIterator<Item = (&'m String, &'m T)>) -> Vec<(&'m String, &'m T)> {
    let mut v: Vec<_> = entries.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn combine(mut conditions: Vec<Condition>, operator: ConditionalOperator) -> Option<Condition> {
    let mut acc = conditions.pop()?;
    while let Some(prev) = conditions.pop() {
        acc = match operator {
            ConditionalOperator::And => Condition::And(Box::new(prev), Box::new(acc)),
            ConditionalOperator::Or => Condition::Or(Box::new(prev), Box::new(acc)),
        };
    }
    Some(acc)
}

/// Checks an `AttributeValueList` against its operator: the number of values, one type for all,
/// a type the operator supports, and BETWEEN bounds in order.
fn check_values(op: ComparisonOperator, values: &[AttributeValue]) -> Result<(), ExprError> {
    use ComparisonOperator::*;
    let count_ok = match op {
        Null | NotNull => values.is_empty(),
        In => !values.is_empty(),
        Between => values.len() == 2,
        _ => values.len() == 1,
    };
    if !count_ok {
        return Err(error::invalid_parameter(format!(
            "Invalid number of argument(s) for the {} ComparisonOperator",
            op.as_str()
        )));
    }
    if let Some(first) = values.first() {
        if values.iter().any(|v| v.value_type() != first.value_type()) {
            return Err(error::invalid_parameter("AttributeValues inside AttributeValueList must be of same type"));
        }
        let t = first.value_type();
        let type_ok = match op {
            Eq | Ne | Null | NotNull => true,
            BeginsWith => matches!(t, ValueType::S | ValueType::B),
            _ => matches!(t, ValueType::S | ValueType::N | ValueType::B),
        };
        if !type_ok {
            return Err(error::invalid_parameter(format!(
                "ComparisonOperator {} is not valid for {} AttributeValue type",
                op.as_str(),
                t
            )));
        }
    }
    if op == Between && compare_ordered(&values[0], &values[1]) == Some(std::cmp::Ordering::Greater) {
        return Err(error::legacy_between_reversed());
    }
    Ok(())
}

/// The condition `attribute op values` means.
fn operator_condition(
    p: &mut Placeholders,
    attribute: &str,
    op: ComparisonOperator,
    values: &[AttributeValue],
) -> Condition {
    use ComparisonOperator::*;
    let path = p.path(attribute);
    let operand = Operand::Path(path.clone());
    let mut value = |i: usize| Operand::Value(p.value(&values[i]));
    let compare = |op: Comparator, right: Operand| Condition::Compare { op, left: operand.clone(), right };
    match op {
        Eq => compare(Comparator::Eq, value(0)),
        Ne => compare(Comparator::Ne, value(0)),
        Lt => compare(Comparator::Lt, value(0)),
        Le => compare(Comparator::Le, value(0)),
        Gt => compare(Comparator::Gt, value(0)),
        Ge => compare(Comparator::Ge, value(0)),
        NotNull => Condition::AttributeExists(path),
        Null => Condition::AttributeNotExists(path),
        Contains => Condition::Contains { operand, value: value(0) },
        // Unlike `NOT contains(…)`, NOT_CONTAINS is false when the attribute is missing.
        NotContains => Condition::And(
            Box::new(Condition::AttributeExists(path)),
            Box::new(Condition::Not(Box::new(Condition::Contains { operand, value: value(0) }))),
        ),
        BeginsWith => Condition::BeginsWith { operand, prefix: value(0) },
        In => Condition::In { operand, list: (0..values.len()).map(value).collect() },
        Between => Condition::Between { operand, lower: value(0), upper: value(1) },
    }
}

/// `Expected` (+ `ConditionalOperator`) as a condition; `None` for an empty map.
pub fn expected_condition<'m>(
    expected: impl IntoIterator<Item = (&'m String, &'m ExpectedAttributeValue)>,
    operator: Option<ConditionalOperator>,
) -> Result<Option<Condition>, ExprError> {
    let mut p = Placeholders::default();
    let mut conditions = Vec::new();
    for (name, e) in sorted(expected) {
        if e.value.is_some() && e.attribute_value_list.is_some() {
            return Err(error::invalid_parameter(format!(
                "Value and AttributeValueList cannot be used together for Attribute: {name}"
            )));
        }
        let condition = if let Some(op) = e.comparison_operator {
            if e.exists.is_some() {
                return Err(error::invalid_parameter(format!(
                    "Exists and ComparisonOperator cannot be used together for Attribute: {name}"
                )));
            }
            let values: Vec<AttributeValue> = match (&e.attribute_value_list, &e.value) {
                (Some(list), _) => list.clone(),
                (None, Some(v)) => vec![v.clone()],
                (None, None) if matches!(op, ComparisonOperator::Null | ComparisonOperator::NotNull) => vec![],
                (None, None) => {
                    return Err(error::invalid_parameter(format!(
                        "Value or AttributeValueList must be used with ComparisonOperator: {} for Attribute: {name}",
                        op.as_str()
                    )))
                }
            };
            check_values(op, &values)?;
            operator_condition(&mut p, name, op, &values)
        } else if e.attribute_value_list.is_some() {
            return Err(error::invalid_parameter(format!(
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
            )));
        } else {
            match (e.exists, &e.value) {
                (None, None) => {
                    return Err(error::invalid_parameter(format!(
                        "Value must be provided when Exists is null for Attribute: {name}"
                    )))
                }
                (Some(true), None) => {
                    return Err(error::invalid_parameter(format!(
                        "Value must be provided when Exists is true for Attribute: {name}"
                    )))
                }
                (Some(false), Some(_)) => {
                    return Err(error::invalid_parameter(format!(
                        "Value cannot be used when Exists is false for Attribute: {name}"
                    )))
                }
                (Some(false), None) => Condition::AttributeNotExists(p.path(name)),
                (_, Some(v)) => operator_condition(&mut p, name, ComparisonOperator::Eq, std::slice::from_ref(v)),
            }
        };
        conditions.push(condition);
    }
    Ok(combine(conditions, operator.unwrap_or_default()))
}

/// `QueryFilter` or `ScanFilter` (+ `ConditionalOperator`) as a condition; `None` for an empty map.
pub fn filter_condition<'m>(
    filter: impl IntoIterator<Item = (&'m String, &'m LegacyCondition)>,
    operator: Option<ConditionalOperator>,
) -> Result<Option<Condition>, ExprError> {
    let mut p = Placeholders::default();
    let mut conditions = Vec::new();
    for (name, c) in sorted(filter) {
        check_values(c.comparison_operator, &c.attribute_value_list)?;
        conditions.push(operator_condition(&mut p, name, c.comparison_operator, &c.attribute_value_list));
    }
    Ok(combine(conditions, operator.unwrap_or_default()))
}

/// `KeyConditions` checked against the key schema, as [`crate::key_condition`] does for a
/// KeyConditionExpression.
pub fn key_conditions<'m>(
    conditions: impl IntoIterator<Item = (&'m String, &'m LegacyCondition)>,
    partition_key: &str,
    sort_key: Option<&str>,
) -> Result<KeyCondition, ExprError> {
    use ComparisonOperator::*;
    let conditions = sorted(conditions);
    for (_, c) in &conditions {
        check_values(c.comparison_operator, &c.attribute_value_list)?;
    }
    if conditions.is_empty() || conditions.len() > 2 {
        return Err(error::legacy_condition_count());
    }
    let mut partition = None;
    let mut sort = None;
    for (name, c) in &conditions {
        let v = &c.attribute_value_list;
        let condition = match c.comparison_operator {
            Eq => SortKeyCondition::Eq(v[0].clone()),
            Lt => SortKeyCondition::Lt(v[0].clone()),
            Le => SortKeyCondition::Le(v[0].clone()),
            Gt => SortKeyCondition::Gt(v[0].clone()),
            Ge => SortKeyCondition::Ge(v[0].clone()),
            BeginsWith => SortKeyCondition::BeginsWith(v[0].clone()),
            Between => SortKeyCondition::Between(v[0].clone(), v[1].clone()),
            Ne | NotNull | Null | Contains | NotContains | In => return Err(error::legacy_not_indexable()),
        };
        if name.as_str() == partition_key {
            partition = Some(condition);
        } else {
            sort = Some((name.as_str(), condition));
        }
    }
    let partition_key_value = match partition {
        None => return Err(error::key_missed_element(partition_key)),
        Some(SortKeyCondition::Eq(v)) => v,
        Some(_) => return Err(error::key_condition_not_supported()),
    };
    let sort_key = match (sort, sort_key) {
        (None, _) => None,
        (Some((name, condition)), Some(sk)) if name == sk => Some(condition),
        (Some(_), Some(sk)) => return Err(error::key_missed_element(sk)),
        (Some(_), None) => return Err(error::key_condition_not_supported()),
    };
    Ok(KeyCondition { partition_key: partition_key_value, sort_key })
}

/// `AttributeUpdates` as an update expression.
pub fn attribute_updates<'m>(
    updates: impl IntoIterator<Item = (&'m String, &'m AttributeValueUpdate)>,
) -> Result<UpdateExpression, ExprError> {
    let mut p = Placeholders::default();
    let (mut set, mut remove, mut add, mut delete) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let no_value = || error::invalid_parameter("Only DELETE action is allowed when no attribute value is specified");
    for (name, u) in sorted(updates) {
        match (u.action.unwrap_or_default(), &u.value) {
            (AttributeAction::Put, None) | (AttributeAction::Add, None) => return Err(no_value()),
            (AttributeAction::Put, Some(v)) => {
                set.push(SetAction { path: p.path(name), value: SetValue::Operand(UpdateOperand::Value(p.value(v))) })
            }
            (AttributeAction::Delete, None) => remove.push(p.path(name)),
            (AttributeAction::Delete, Some(v)) => {
                if !matches!(v.value_type(), ValueType::Ss | ValueType::Ns | ValueType::Bs) {
                    return Err(error::invalid_parameter(format!(
                        "DELETE action with value is not supported for the type {}",
                        v.value_type()
                    )));
                }
                delete.push(ValueAction { path: p.path(name), value: p.value(v) });
            }
            (AttributeAction::Add, Some(v)) => match v.value_type() {
                ValueType::N | ValueType::Ss | ValueType::Ns | ValueType::Bs => {
                    add.push(ValueAction { path: p.path(name), value: p.value(v) })
                }
                ValueType::L => {
                    // Legacy ADD appends to a list, creating it if missing.
                    let path = p.path(name);
                    let empty = p.value(&AttributeValue::L(vec![]));
                    let appended = UpdateOperand::ListAppend(
                        Box::new(UpdateOperand::IfNotExists(path.clone(), Box::new(UpdateOperand::Value(empty)))),
                        Box::new(UpdateOperand::Value(p.value(v))),
                    );
                    set.push(SetAction { path, value: SetValue::Operand(appended) });
                }
                t => {
                    return Err(error::invalid_parameter(format!("ADD action is not supported for the type {t}")));
                }
            },
        }
    }
    let mut clauses = Vec::new();
    if !set.is_empty() {
        clauses.push(UpdateClause::Set(set));
    }
    if !remove.is_empty() {
        clauses.push(UpdateClause::Remove(remove));
    }
    if !add.is_empty() {
        clauses.push(UpdateClause::Add(add));
    }
    if !delete.is_empty() {
        clauses.push(UpdateClause::Delete(delete));
    }
    Ok(UpdateExpression { clauses, origin: UpdateOrigin::AttributeUpdates })
}

/// `AttributesToGet` as a projection.
pub fn attributes_to_get(names: &[String]) -> Result<Projection, ExprError> {
    // The first name seen before is reported. A set, not a scan of the earlier names: a 16 MB
    // body holds over a million names.
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for name in names {
        if !seen.insert(name.as_str()) {
            return Err(error::invalid_parameter(format!("Duplicate value in attribute name: {name}")));
        }
    }
    let mut p = Placeholders::default();
    Ok(Projection { paths: names.iter().map(|n| p.path(n)).collect() })
}

/// Request parameters per operation, in the order DynamoDB lists them in the mixing error.
pub mod parameters {
    pub const PUT_ITEM_EXPRESSION: &[&str] = &["ConditionExpression"];
    pub const PUT_ITEM_LEGACY: &[&str] = &["Expected", "ConditionalOperator"];
    pub const DELETE_ITEM_EXPRESSION: &[&str] = &["ConditionExpression"];
    pub const DELETE_ITEM_LEGACY: &[&str] = &["Expected", "ConditionalOperator"];
    pub const UPDATE_ITEM_EXPRESSION: &[&str] = &["UpdateExpression", "ConditionExpression"];
    pub const UPDATE_ITEM_LEGACY: &[&str] = &["AttributeUpdates", "Expected", "ConditionalOperator"];
    pub const GET_ITEM_EXPRESSION: &[&str] = &["ProjectionExpression"];
    pub const GET_ITEM_LEGACY: &[&str] = &["AttributesToGet"];
    pub const QUERY_EXPRESSION: &[&str] = &["ProjectionExpression", "FilterExpression", "KeyConditionExpression"];
    pub const QUERY_LEGACY: &[&str] = &["AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"];
    pub const SCAN_EXPRESSION: &[&str] = &["ProjectionExpression", "FilterExpression"];
    pub const SCAN_LEGACY: &[&str] = &["AttributesToGet", "ScanFilter", "ConditionalOperator"];
}

/// DynamoDB's checks on which parameters a request combines. `expression` and `legacy` are the
/// present parameters' names, in the order of the [`parameters`] lists. Legacy and expression
/// parameters may not mix (except that a Query may pair `KeyConditions` with expression
/// parameters other than `KeyConditionExpression`), and `ExpressionAttributeNames`/`Values` need
/// an expression that can use them.
pub fn check_parameters(
    expression: &[&str],
    legacy: &[&str],
    has_attribute_names: bool,
    has_attribute_values: bool,
) -> Result<(), ExprError> {
    if !expression.is_empty() {
        let key_conditions_allowed = !expression.contains(&"KeyConditionExpression");
        let legacy: Vec<&str> =
            legacy.iter().copied().filter(|p| !(key_conditions_allowed && *p == "KeyConditions")).collect();
        if !legacy.is_empty() {
            return Err(error::mixed_parameters(&legacy, expression));
        }
    }
    if has_attribute_names && expression.is_empty() {
        return Err(error::names_without_expression());
    }
    if has_attribute_values && expression.iter().all(|p| *p == "ProjectionExpression") {
        return Err(error::values_without_expression());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables are tuples on purpose
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::testutil::{item, show_item, v};
    use crate::{apply_update, evaluate};

    fn values(list: &[&str]) -> Vec<AttributeValue> {
        list.iter().map(|s| v(s)).collect()
    }

    fn op(name: &str) -> Option<ComparisonOperator> {
        Some(ComparisonOperator::from_wire(name).expect("operator"))
    }

    /// An `Expected` entry: `value`, `exists`, `operator`, `list`.
    fn exp(
        value: Option<&str>,
        exists: Option<bool>,
        operator: Option<&str>,
        list: Option<&[&str]>,
    ) -> ExpectedAttributeValue {
        ExpectedAttributeValue {
            value: value.map(v),
            exists,
            comparison_operator: operator.and_then(op),
            attribute_value_list: list.map(values),
        }
    }

    /// Each case: entries, ConditionalOperator, the printed condition or DynamoDB's message, and
    /// items (`None` for no item) with whether the condition holds for them.
    fn check_expected(
        cases: &[(Vec<(&str, ExpectedAttributeValue)>, Option<ConditionalOperator>, &str, &[(Option<&str>, bool)])],
    ) {
        for (entries, operator, want, evaluations) in cases {
            let map: BTreeMap<String, ExpectedAttributeValue> =
                entries.iter().map(|(k, e)| (k.to_string(), e.clone())).collect();
            match expected_condition(&map, *operator) {
                Ok(Some(cond)) => {
                    assert_eq!(cond.to_string(), *want, "{entries:?}");
                    for (on, holds) in *evaluations {
                        let it = on.map(item);
                        assert_eq!(evaluate(&cond, it.as_ref()), Ok(*holds), "{want} on {on:?}");
                    }
                }
                Ok(None) => assert_eq!("", *want),
                Err(e) => assert_eq!(e.message, *want, "{entries:?}"),
            }
        }
    }

    #[test]
    fn expected_converts_and_validates() {
        let invalid = |s: &str| format!("One or more parameter values were invalid: {s}");
        check_expected(&[
            (
                vec![("a", exp(Some("1"), None, None, None))],
                None,
                "#n0 = :v0",
                &[(Some("{a: 1}"), true), (None, false)],
            ),
            (vec![("a", exp(Some("1"), Some(true), None, None))], None, "#n0 = :v0", &[(Some("{a: 2}"), false)]),
            (vec![("a", exp(None, Some(false), None, None))], None, "attribute_not_exists(#n0)", &[(None, true)]),
            (
                vec![("a", exp(None, None, Some("NOT_NULL"), None))],
                None,
                "attribute_exists(#n0)",
                &[(Some("{a: null}"), true)],
            ),
            (vec![("a", exp(None, None, Some("NULL"), None))], None, "attribute_not_exists(#n0)", &[]),
            (
                vec![("a", exp(None, None, Some("NOT_CONTAINS"), Some(&["\"x\""])))],
                None,
                "attribute_exists(#n0) AND NOT contains(#n0, :v0)",
                &[(None, false), (Some("{a: \"y\"}"), true), (Some("{a: \"xy\"}"), false), (Some("{a: [1]}"), true)],
            ),
            (
                vec![("a", exp(None, None, Some("NE"), Some(&["1"])))],
                None,
                "#n0 <> :v0",
                &[(None, true), (Some("{a: \"1\"}"), true)],
            ),
            (
                vec![("a", exp(Some("1"), None, Some("GE"), None))],
                None,
                "#n0 >= :v0",
                &[(Some("{a: 1}"), true), (Some("{a: 0}"), false)],
            ),
            (
                vec![("a", exp(None, None, Some("IN"), Some(&["2", "3", "8"])))],
                None,
                "#n0 IN (:v0, :v1, :v2)",
                &[(Some("{a: 3}"), true), (Some("{a: NS[2]}"), false)],
            ),
            (
                vec![
                    ("a", exp(None, None, Some("BETWEEN"), Some(&["1", "3"]))),
                    ("b", exp(None, None, Some("BEGINS_WITH"), Some(&["\"he\""]))),
                ],
                Some(ConditionalOperator::Or),
                "#n0 BETWEEN :v0 AND :v1 OR begins_with(#n1, :v2)",
                &[(Some("{a: 9, b: \"hello\"}"), true), (Some("{a: 9, b: \"x\"}"), false)],
            ),
            (
                vec![
                    ("a", exp(Some("1"), None, None, None)),
                    ("b", exp(None, Some(false), None, None)),
                    ("c", exp(None, None, Some("CONTAINS"), Some(&["2"]))),
                ],
                None,
                "#n0 = :v0 AND attribute_not_exists(#n1) AND contains(#n2, :v1)",
                &[(Some("{a: 1, c: NS[1, 2]}"), true), (Some("{a: 1, b: 1, c: NS[2]}"), false)],
            ),
            (
                vec![("a", exp(None, None, None, None))],
                None,
                &invalid("Value must be provided when Exists is null for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(None, Some(true), None, None))],
                None,
                &invalid("Value must be provided when Exists is true for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(Some("1"), Some(false), None, None))],
                None,
                &invalid("Value cannot be used when Exists is false for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("LT"), None))],
                None,
                &invalid("Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(None, Some(true), Some("LT"), None))],
                None,
                &invalid("Exists and ComparisonOperator cannot be used together for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(Some("\"a\""), None, Some("LT"), Some(&["\"a\""])))],
                None,
                &invalid("Value and AttributeValueList cannot be used together for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(None, None, None, Some(&["\"a\""])))],
                None,
                &invalid("AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(None, Some(true), None, Some(&["\"a\""])))],
                None,
                &invalid("AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("EQ"), Some(&[])))],
                None,
                &invalid("Invalid number of argument(s) for the EQ ComparisonOperator"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("NULL"), Some(&["\"a\""])))],
                None,
                &invalid("Invalid number of argument(s) for the NULL ComparisonOperator"),
                &[],
            ),
            (
                vec![("a", exp(Some("\"a\""), None, Some("NULL"), None))],
                None,
                &invalid("Invalid number of argument(s) for the NULL ComparisonOperator"),
                &[],
            ),
            (
                vec![("a", exp(Some("\"a\""), None, Some("BETWEEN"), None))],
                None,
                &invalid("Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("IN"), Some(&[])))],
                None,
                &invalid("Invalid number of argument(s) for the IN ComparisonOperator"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("IN"), Some(&["3", "\"dog\""])))],
                None,
                &invalid("AttributeValues inside AttributeValueList must be of same type"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("IN"), Some(&["[1]", "[2]"])))],
                None,
                &invalid("ComparisonOperator IN is not valid for L AttributeValue type"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("CONTAINS"), Some(&["[1]"])))],
                None,
                &invalid("ComparisonOperator CONTAINS is not valid for L AttributeValue type"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("BEGINS_WITH"), Some(&["3"])))],
                None,
                &invalid("ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("BETWEEN"), Some(&["NS[1]", "NS[2]"])))],
                None,
                &invalid("ComparisonOperator BETWEEN is not valid for NS AttributeValue type"),
                &[],
            ),
            (
                vec![("a", exp(None, None, Some("BETWEEN"), Some(&["4", "3"])))],
                None,
                "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
                &[],
            ),
            (vec![], None, "", &[]),
        ]);
    }

    fn cond(operator: &str, list: &[&str]) -> LegacyCondition {
        LegacyCondition { comparison_operator: op(operator).unwrap(), attribute_value_list: values(list) }
    }

    #[test]
    fn filters_convert_like_expected() {
        let filter: BTreeMap<String, LegacyCondition> =
            [("tag".to_string(), cond("CONTAINS", &["\"hello\""])), ("val".to_string(), cond("GT", &["1"]))]
                .into_iter()
                .collect();
        let c = filter_condition(&filter, None).unwrap().unwrap();
        assert_eq!(c.to_string(), "contains(#n0, :v0) AND #n1 > :v1");
        assert_eq!(evaluate(&c, Some(&item("{tag: \"hello-world\", val: 2}"))), Ok(true));
        assert_eq!(evaluate(&c, Some(&item("{tag: \"goodbye\", val: 2}"))), Ok(false));
        let bad: BTreeMap<String, LegacyCondition> = [("a".to_string(), cond("GT", &["true"]))].into_iter().collect();
        assert_eq!(
            filter_condition(&bad, None).unwrap_err().message,
            "One or more parameter values were invalid: ComparisonOperator GT is not valid for BOOL AttributeValue type"
        );
        let eq_bool: BTreeMap<String, LegacyCondition> =
            [("flag".to_string(), cond("EQ", &["true"]))].into_iter().collect();
        let c = filter_condition(&eq_bool, Some(ConditionalOperator::Or)).unwrap().unwrap();
        assert_eq!(evaluate(&c, Some(&item("{flag: true}"))), Ok(true));
    }

    #[test]
    fn key_conditions_reduce_and_validate() {
        let run = |entries: &[(&str, LegacyCondition)], sk: Option<&str>| -> String {
            let map: BTreeMap<String, LegacyCondition> =
                entries.iter().map(|(k, c)| (k.to_string(), c.clone())).collect();
            match key_conditions(&map, "pk", sk) {
                Ok(k) => format!("{:?} {:?}", k.partition_key, k.sort_key),
                Err(e) => e.message,
            }
        };
        let cases: Vec<(Vec<(&str, LegacyCondition)>, Option<&str>, &str)> = vec![
            (vec![("pk", cond("EQ", &["\"p\""]))], Some("sk"), "S(\"p\") None"),
            (
                vec![("pk", cond("EQ", &["\"p\""])), ("sk", cond("BEGINS_WITH", &["\"al\""]))],
                Some("sk"),
                "S(\"p\") Some(BeginsWith(S(\"al\")))",
            ),
            (vec![], Some("sk"), "Conditions can be of length 1 or 2 only"),
            (
                vec![("pk", cond("EQ", &["\"p\""])), ("sk", cond("EQ", &["\"s\""])), ("x", cond("EQ", &["1"]))],
                Some("sk"),
                "Conditions can be of length 1 or 2 only",
            ),
            (vec![("pk", cond("EQ", &[]))], Some("sk"), "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator"),
            (vec![("pk", cond("EQ", &["\"p\""])), ("sk", cond("NE", &["\"s\""]))], Some("sk"), "Attempted conditional constraint is not an indexable operation"),
            (vec![("sk", cond("EQ", &["\"s\""]))], Some("sk"), "Query condition missed key schema element: pk"),
            (vec![("pk", cond("GT", &["\"p\""]))], Some("sk"), "Query key condition not supported"),
            (vec![("pk", cond("EQ", &["\"p\""])), ("x", cond("EQ", &["1"]))], Some("sk"), "Query condition missed key schema element: sk"),
            (vec![("pk", cond("EQ", &["\"p\""])), ("x", cond("EQ", &["1"]))], None, "Query key condition not supported"),
        ];
        for (entries, sk, want) in cases {
            assert_eq!(run(&entries, sk), want, "{entries:?}");
        }
    }

    fn upd(action: Option<AttributeAction>, value: Option<&str>) -> AttributeValueUpdate {
        AttributeValueUpdate { action, value: value.map(v) }
    }

    #[test]
    fn attribute_updates_apply_with_legacy_semantics() {
        use AttributeAction::*;
        let start = "{l: [1], n: 1, pk: \"k\", s: \"x\", ss: SS[\"a\", \"b\"]}";
        let cases: Vec<(Vec<(&str, AttributeValueUpdate)>, &str)> = vec![
            (vec![("s", upd(None, Some("\"y\"")))], "{l: [1], n: 1, pk: \"k\", s: \"y\", ss: SS[\"a\", \"b\"]}"),
            (vec![("s", upd(Some(Delete), None)), ("q", upd(Some(Delete), None))], "{l: [1], n: 1, pk: \"k\", ss: SS[\"a\", \"b\"]}"),
            (vec![("ss", upd(Some(Delete), Some("SS[\"a\"]")))], "{l: [1], n: 1, pk: \"k\", s: \"x\", ss: SS[\"b\"]}"),
            (vec![("ss", upd(Some(Delete), Some("SS[\"a\", \"b\"]")))], "{l: [1], n: 1, pk: \"k\", s: \"x\"}"),
            (vec![("n", upd(Some(Add), Some("3"))), ("m", upd(Some(Add), Some("5")))], "{l: [1], m: 5, n: 4, pk: \"k\", s: \"x\", ss: SS[\"a\", \"b\"]}"),
            (vec![("l", upd(Some(Add), Some("[\"b\", 2]"))), ("l2", upd(Some(Add), Some("[3]")))], "{l: [1, \"b\", 2], l2: [3], n: 1, pk: \"k\", s: \"x\", ss: SS[\"a\", \"b\"]}"),
            (vec![("ss", upd(Some(Add), Some("SS[\"b\", \"c\"]")))], "{l: [1], n: 1, pk: \"k\", s: \"x\", ss: SS[\"a\", \"b\", \"c\"]}"),
            (vec![("ss", upd(Some(Add), Some("NS[1]")))], "Type mismatch for attribute to update"),
            (vec![("s", upd(Some(Add), Some("[1]")))], "Type mismatch for attribute to update"),
            (vec![("n", upd(Some(Delete), Some("NS[1]")))], "Type mismatch for attribute to update"),
            (vec![("s", upd(Some(Add), Some("\"1\"")))], "One or more parameter values were invalid: ADD action is not supported for the type S"),
            (vec![("s", upd(Some(Add), Some("{}")))], "One or more parameter values were invalid: ADD action is not supported for the type M"),
            (vec![("s", upd(Some(Delete), Some("1")))], "One or more parameter values were invalid: DELETE action with value is not supported for the type N"),
            (vec![("s", upd(Some(Put), None))], "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified"),
            (vec![("pk", upd(None, Some("\"z\"")))], "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
        ];
        for (entries, want) in cases {
            let map: BTreeMap<String, AttributeValueUpdate> =
                entries.iter().map(|(k, u)| (k.to_string(), u.clone())).collect();
            let mut it = item(start);
            let got = attribute_updates(&map)
                .and_then(|u| apply_update(&u, &mut it, &["pk"]))
                .map(|_| show_item(&it))
                .unwrap_or_else(|e| e.message);
            assert_eq!(got, want, "{entries:?}");
        }
        let printed = attribute_updates(&BTreeMap::from([
            ("l".to_string(), upd(Some(Add), Some("[1]"))),
            ("z".to_string(), upd(Some(Delete), None)),
        ]))
        .unwrap()
        .to_string();
        assert_eq!(printed, "SET #n0 = list_append(if_not_exists(#n0, :v0), :v1) REMOVE #n1");
    }

    #[test]
    fn attributes_to_get_and_parameter_mixing() {
        let projection = attributes_to_get(&["a".into(), "b.c".into()]).unwrap();
        assert_eq!(projection.to_string(), "#n0, #n1");
        assert_eq!(projection.paths[1].top_level_name(), "b.c");
        assert_eq!(
            attributes_to_get(&["a".into(), "b".into(), "a".into()]).unwrap_err().message,
            "One or more parameter values were invalid: Duplicate value in attribute name: a"
        );
        // A million names (a 16 MB body holds that many): the first repeated one is reported.
        let mut many: Vec<String> = (0..1_000_000).map(|i| format!("a{i}")).collect();
        many.push("a17".into());
        many.push("a3".into());
        assert_eq!(
            attributes_to_get(&many).unwrap_err().message,
            "One or more parameter values were invalid: Duplicate value in attribute name: a17"
        );
        let cases: &[(&[&str], &[&str], bool, bool, &str)] = &[
            (&["ConditionExpression"], &["Expected"], false, false,
             "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
            (&["UpdateExpression", "ConditionExpression"], &["AttributeUpdates", "Expected"], true, true,
             "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributeUpdates, Expected} Expression parameters: {UpdateExpression, ConditionExpression}"),
            (&["FilterExpression"], &["KeyConditions"], false, true, "ok"),
            (&["KeyConditionExpression"], &["KeyConditions"], false, true,
             "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}"),
            (&[], &["Expected"], true, false, "1 validation error detected: ExpressionAttributeNames can only be specified when using expressions"),
            (&[], &[], false, true, "1 validation error detected: ExpressionAttributeValues can only be specified when using expressions"),
            (&["ProjectionExpression"], &[], true, true, "1 validation error detected: ExpressionAttributeValues can only be specified when using expressions"),
            (&["ProjectionExpression"], &[], true, false, "ok"),
        ];
        for (expression, legacy, names, values, want) in cases {
            let got = check_parameters(expression, legacy, *names, *values)
                .map(|_| "ok".to_string())
                .unwrap_or_else(|e| e.message);
            assert_eq!(got, *want, "{expression:?} {legacy:?}");
        }
    }
}
