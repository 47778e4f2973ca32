//! Glue between request parameters and the expression crate: which expression and legacy
//! parameters a request may combine, placeholder resolution across all of a request's
//! expressions, and conversion of the legacy `Expected` / `AttributeUpdates` forms.

use std::collections::HashMap;

use flywheel_expr::legacy::{self, parameters, AttributeAction, ComparisonOperator, ConditionalOperator};
use flywheel_expr::{ExprError, ExpressionKind, Resolver, UpdateExpression};
use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{AttributeValueUpdate, ExpectedAttributeValue, Names, Values};
use flywheel_protocol::ApiError;
use flywheel_types::{check_attribute_name, Item};

pub use flywheel_expr::Condition;

/// Expression errors are ValidationExceptions with DynamoDB's message.
pub fn expr_error(e: ExprError) -> ApiError {
    ApiError::validation(e.message)
}

/// The legacy ComparisonOperator enumeration, in DynamoDB's order.
pub(crate) const COMPARISON_OPERATORS: &[&str] = &[
    "EQ",
    "NE",
    "IN",
    "LE",
    "LT",
    "GE",
    "GT",
    "BETWEEN",
    "NOT_NULL",
    "NULL",
    "CONTAINS",
    "NOT_CONTAINS",
    "BEGINS_WITH",
];

pub(crate) fn parse_conditional_operator(c: &mut Constraints, op: &Option<String>) -> Option<ConditionalOperator> {
    c.one_of("conditionalOperator", op, &["AND", "OR"]);
    match op.as_deref() {
        Some("OR") => Some(ConditionalOperator::Or),
        Some("AND") => Some(ConditionalOperator::And),
        _ => None,
    }
}

fn convert_expected(
    expected: &HashMap<String, ExpectedAttributeValue>,
) -> Result<HashMap<String, legacy::ExpectedAttributeValue>, ApiError> {
    let mut c = Constraints::new();
    let mut out = HashMap::with_capacity(expected.len());
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort();
    for name in names {
        let e = &expected[name];
        c.one_of(&format!("expected.{name}.member.comparisonOperator"), &e.comparison_operator, COMPARISON_OPERATORS);
        out.insert(
            name.clone(),
            legacy::ExpectedAttributeValue {
                value: e.value.clone(),
                exists: e.exists,
                comparison_operator: e.comparison_operator.as_deref().and_then(ComparisonOperator::from_wire),
                attribute_value_list: e.attribute_value_list.clone(),
            },
        );
    }
    c.finish()?;
    Ok(out)
}

fn present<'a>(list: &[(&'a str, bool)]) -> Vec<&'a str> {
    list.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect()
}

/// The condition of a PutItem or DeleteItem, from `ConditionExpression` or legacy `Expected`.
pub fn for_write(
    condition_expression: &Option<String>,
    expected: &Option<HashMap<String, ExpectedAttributeValue>>,
    conditional_operator: &Option<String>,
    names: &Option<Names>,
    values: &Option<Values>,
) -> Result<Option<Condition>, ApiError> {
    let mut c = Constraints::new();
    let op = parse_conditional_operator(&mut c, conditional_operator);
    c.finish()?;
    let expression = present(&[("ConditionExpression", condition_expression.is_some())]);
    let legacy_params =
        present(&[("Expected", expected.is_some()), ("ConditionalOperator", conditional_operator.is_some())]);
    debug_assert_eq!(parameters::PUT_ITEM_EXPRESSION, parameters::DELETE_ITEM_EXPRESSION);
    legacy::check_parameters(&expression, &legacy_params, names.is_some(), values.is_some()).map_err(expr_error)?;
    let mut resolver = Resolver::new(names.as_ref(), values.as_ref()).map_err(expr_error)?;
    if let Some(text) = condition_expression {
        let cond =
            flywheel_expr::parse_condition(text, &mut resolver, ExpressionKind::Condition).map_err(expr_error)?;
        resolver.check_unused().map_err(expr_error)?;
        return Ok(Some(cond));
    }
    match expected {
        Some(e) => {
            let converted = convert_expected(e)?;
            legacy::expected_condition(converted.iter(), op).map_err(expr_error)
        }
        None => Ok(None),
    }
}

/// The condition and update of an UpdateItem.
pub fn for_update(
    update_expression: &Option<String>,
    attribute_updates: &Option<HashMap<String, AttributeValueUpdate>>,
    condition_expression: &Option<String>,
    expected: &Option<HashMap<String, ExpectedAttributeValue>>,
    conditional_operator: &Option<String>,
    names: &Option<Names>,
    values: &Option<Values>,
) -> Result<(Option<Condition>, Option<UpdateExpression>), ApiError> {
    let mut c = Constraints::new();
    let op = parse_conditional_operator(&mut c, conditional_operator);
    if let Some(updates) = attribute_updates {
        let mut names: Vec<&String> = updates.keys().collect();
        names.sort();
        for name in names {
            c.one_of(
                &format!("attributeUpdates.{name}.member.action"),
                &updates[name].action,
                &["ADD", "PUT", "DELETE"],
            );
        }
    }
    c.finish()?;
    // Legacy updates name the attributes they write directly: the same 64 KB rule as an item's.
    for name in attribute_updates.iter().flat_map(HashMap::keys) {
        check_attribute_name(name).map_err(|e| ApiError::validation(e.0))?;
    }
    let expression = present(&[
        ("UpdateExpression", update_expression.is_some()),
        ("ConditionExpression", condition_expression.is_some()),
    ]);
    let legacy_params = present(&[
        ("AttributeUpdates", attribute_updates.is_some()),
        ("Expected", expected.is_some()),
        ("ConditionalOperator", conditional_operator.is_some()),
    ]);
    legacy::check_parameters(&expression, &legacy_params, names.is_some(), values.is_some()).map_err(expr_error)?;
    let mut resolver = Resolver::new(names.as_ref(), values.as_ref()).map_err(expr_error)?;
    if !expression.is_empty() {
        let update = match update_expression {
            Some(text) => Some(flywheel_expr::parse_update(text, &mut resolver).map_err(expr_error)?),
            None => None,
        };
        let condition = match condition_expression {
            Some(text) => Some(
                flywheel_expr::parse_condition(text, &mut resolver, ExpressionKind::Condition).map_err(expr_error)?,
            ),
            None => None,
        };
        resolver.check_unused().map_err(expr_error)?;
        return Ok((condition, update));
    }
    let condition = match expected {
        Some(e) => {
            let converted = convert_expected(e)?;
            legacy::expected_condition(converted.iter(), op).map_err(expr_error)?
        }
        None => None,
    };
    let update = match attribute_updates {
        Some(updates) => {
            let converted: HashMap<String, legacy::AttributeValueUpdate> = updates
                .iter()
                .map(|(k, u)| {
                    let action = match u.action.as_deref() {
                        Some("ADD") => Some(AttributeAction::Add),
                        Some("DELETE") => Some(AttributeAction::Delete),
                        Some("PUT") => Some(AttributeAction::Put),
                        _ => None,
                    };
                    (k.clone(), legacy::AttributeValueUpdate { action, value: u.value.clone() })
                })
                .collect();
            Some(legacy::attribute_updates(converted.iter()).map_err(expr_error)?)
        }
        None => None,
    };
    Ok((condition, update))
}

/// Evaluates a condition against the current item (absent for a new item).
pub fn evaluate(condition: &Condition, item: Option<&Item>) -> Result<bool, ApiError> {
    flywheel_expr::evaluate(condition, item).map_err(expr_error)
}
