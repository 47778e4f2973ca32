//! The one error type, and every message text this crate can produce.
//!
//! Every message is DynamoDB's observable behaviour, copied character for character (including its
//! stray semicolons and double spaces); `MESSAGES.md` beside `Cargo.toml` lists each with its
//! source. Keeping the texts in one file makes that table checkable.

use std::fmt;

use flywheel_types::{AttributeValue, ValueType};

/// A request DynamoDB rejects with a `ValidationException`; `message` is DynamoDB's text exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(message: impl Into<String>) -> ExprError {
        ExprError { message: message.into() }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

/// Which request parameter an expression came from: it names the expression in error messages
/// (`Invalid FilterExpression: …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpressionKind {
    Condition,
    Filter,
    KeyCondition,
    Update,
    Projection,
}

impl ExpressionKind {
    /// The request parameter's name, as DynamoDB spells it in messages.
    pub fn parameter_name(self) -> &'static str {
        match self {
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Update => "UpdateExpression",
            ExpressionKind::Projection => "ProjectionExpression",
        }
    }

    /// An error about this expression: DynamoDB prefixes the detail with `Invalid <Parameter>: `.
    pub(crate) fn error(self, detail: impl fmt::Display) -> ExprError {
        ExprError::new(format!("Invalid {}: {detail}", self.parameter_name()))
    }
}

// ---- Expression-level details (always behind `Invalid <Parameter>: `) ----

pub(crate) fn empty_expression() -> String {
    "The expression can not be empty;".to_string()
}

pub(crate) fn expression_too_long(bytes: usize) -> String {
    format!("Expression size has exceeded the maximum allowed size; expression size: {bytes}")
}

pub(crate) fn syntax_error(token: &str, near: &str) -> String {
    format!("Syntax error; token: \"{token}\", near: \"{near}\"")
}

pub(crate) fn redundant_parentheses() -> String {
    "The expression has redundant parentheses;".to_string()
}

pub(crate) fn reserved_keyword(word: &str) -> String {
    format!("Attribute name is a reserved keyword; reserved keyword: {word}")
}

pub(crate) fn undefined_name(placeholder: &str) -> String {
    format!("An expression attribute name used in the document path is not defined; attribute name: {placeholder}")
}

pub(crate) fn undefined_value(placeholder: &str) -> String {
    format!("An expression attribute value used in expression is not defined; attribute value: {placeholder}")
}

pub(crate) fn invalid_function(name: &str) -> String {
    format!("Invalid function name; function: {name}")
}

pub(crate) fn function_not_allowed_in_condition(name: &str) -> String {
    format!("The function is not allowed in a condition expression; function: {name}")
}

pub(crate) fn function_not_allowed_in_update(name: &str) -> String {
    format!("The function is not allowed in an update expression; function: {name}")
}

pub(crate) fn function_misused(name: &str) -> String {
    format!("The function is not allowed to be used this way in an expression; function: {name}")
}

pub(crate) fn operand_count(function: &str, count: usize) -> String {
    format!(
        "Incorrect number of operands for operator or function; operator or function: {function}, number of operands: {count}"
    )
}

pub(crate) fn operand_type(function: &str, type_name: &str) -> String {
    format!(
        "Incorrect operand type for operator or function; operator or function: {function}, operand type: {type_name}"
    )
}

/// ADD and DELETE name their operand's type in long form (`STRING`), unlike functions (`S`).
pub(crate) fn action_operand_type(action: &str, value_type: ValueType) -> String {
    let long = match value_type {
        ValueType::S => "STRING",
        ValueType::N => "NUMBER",
        ValueType::B => "BINARY",
        ValueType::Bool => "BOOLEAN",
        ValueType::Null => "NULL",
        ValueType::M => "MAP",
        ValueType::L => "LIST",
        ValueType::Ss => "STRING_SET",
        ValueType::Ns => "NUMBER_SET",
        ValueType::Bs => "BINARY_SET",
    };
    format!("Incorrect operand type for operator or function; operator: {action}, operand type: {long}")
}

pub(crate) fn requires_path(function: &str) -> String {
    format!("Operator or function requires a document path; operator or function: {function}")
}

pub(crate) fn operands_not_distinct(operator: &str, path: &str) -> String {
    format!(
        "The first operand must be distinct from the remaining operands for this operator or function; operator: {operator}, first operand: {path}"
    )
}

pub(crate) fn invalid_type_name(name: &str) -> String {
    format!("Invalid attribute type name found; type: {name}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}")
}

pub(crate) fn between_types_differ(lower: &AttributeValue, upper: &AttributeValue) -> String {
    format!(
        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
        short_value(lower),
        short_value(upper)
    )
}

pub(crate) fn between_bounds_reversed(lower: &AttributeValue, upper: &AttributeValue) -> String {
    format!(
        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
        short_value(lower),
        short_value(upper)
    )
}

pub(crate) fn too_many_operators(count: usize) -> String {
    format!("The expression contains too many operators; operator count: {count}")
}

pub(crate) fn too_many_in_operands(count: usize) -> String {
    format!("The IN operator is provided with too many operands; number of operands: {count}")
}

pub(crate) fn path_too_deep(levels: usize) -> String {
    format!("The document path has too many nesting levels; nesting levels: {levels}")
}

pub(crate) fn list_index_out_of_range() -> String {
    "List index is not within the allowable range;".to_string()
}

pub(crate) fn section_repeated(section: &str) -> String {
    format!("The \"{section}\" section can only be used once in an update expression;")
}

pub(crate) fn paths_overlap(one: &str, two: &str) -> String {
    format!(
        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )
}

pub(crate) fn paths_conflict(one: &str, two: &str) -> String {
    format!(
        "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )
}

// ---- Messages DynamoDB sends without an expression prefix ----

pub(crate) fn unused_names(keys: &[&str]) -> ExprError {
    ExprError::new(format!(
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
        keys.join(", ")
    ))
}

pub(crate) fn unused_values(keys: &[&str]) -> ExprError {
    ExprError::new(format!(
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
        keys.join(", ")
    ))
}

pub(crate) fn names_empty() -> ExprError {
    ExprError::new("ExpressionAttributeNames must not be empty")
}

pub(crate) fn values_empty() -> ExprError {
    ExprError::new("ExpressionAttributeValues must not be empty")
}

pub(crate) fn names_invalid_key(key: &str) -> ExprError {
    ExprError::new(format!("ExpressionAttributeNames contains invalid key: Syntax error; key: \"{key}\""))
}

pub(crate) fn values_invalid_key(key: &str) -> ExprError {
    ExprError::new(format!("ExpressionAttributeValues contains invalid key: Syntax error; key: \"{key}\""))
}

pub(crate) fn names_key_too_long(key: &str) -> ExprError {
    ExprError::new(format!(
        "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; key: \"{key}\""
    ))
}

pub(crate) fn values_key_too_long(key: &str) -> ExprError {
    ExprError::new(format!(
        "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long; key: \"{key}\""
    ))
}

pub(crate) fn names_empty_value(key: &str) -> ExprError {
    ExprError::new(format!("ExpressionAttributeNames contains invalid value: Empty attribute name for key {key}"))
}

pub(crate) fn values_invalid_value(detail: &str, key: &str) -> ExprError {
    ExprError::new(format!("ExpressionAttributeValues contains invalid value: {detail} for key {key}"))
}

pub(crate) fn substitutions_too_large() -> ExprError {
    ExprError::new("Expression size has exceeded the maximum allowed size;")
}

pub(crate) fn update_key_attribute(name: &str) -> ExprError {
    ExprError::new(format!(
        "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
    ))
}

pub(crate) fn update_path_invalid() -> ExprError {
    ExprError::new("The document path provided in the update expression is invalid for update")
}

/// The same text as the engine's check of the updated item, which this check anticipates.
pub(crate) fn update_item_too_large() -> ExprError {
    ExprError::new("Item size to update has exceeded the maximum allowed size")
}

pub(crate) fn update_operand_type() -> ExprError {
    ExprError::new("An operand in the update expression has an incorrect data type")
}

pub(crate) fn update_missing_attribute() -> ExprError {
    ExprError::new("The provided expression refers to an attribute that does not exist in the item")
}

pub(crate) fn legacy_update_type_mismatch() -> ExprError {
    ExprError::new("Type mismatch for attribute to update")
}

// Key conditions: DynamoDB sends these bare, the operator name inside the text says where.

pub(crate) fn key_invalid_operator(operator: &str) -> ExprError {
    ExprError::new(format!("Invalid operator used in KeyConditionExpression: {operator}"))
}

pub(crate) fn key_nested_operation() -> ExprError {
    ExprError::new("KeyConditionExpressions cannot contain nested operations")
}

pub(crate) fn key_first_operand(operator: &str) -> ExprError {
    ExprError::new(format!(
        "Invalid condition in KeyConditionExpression: {operator} operator must have the key attribute as its first operand"
    ))
}

pub(crate) fn key_multiple_names() -> ExprError {
    ExprError::new("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition")
}

pub(crate) fn key_nested_attribute() -> ExprError {
    ExprError::new("KeyConditionExpressions cannot have conditions on nested attributes")
}

pub(crate) fn key_no_attribute() -> ExprError {
    ExprError::new("Invalid condition in KeyConditionExpression: No key attribute specified")
}

pub(crate) fn key_one_condition_per_key() -> ExprError {
    ExprError::new("KeyConditionExpressions must only contain one condition per key")
}

pub(crate) fn key_missed_element(name: &str) -> ExprError {
    ExprError::new(format!("Query condition missed key schema element: {name}"))
}

pub(crate) fn key_condition_not_supported() -> ExprError {
    ExprError::new("Query key condition not supported")
}

pub(crate) fn key_type_mismatch() -> ExprError {
    ExprError::new("One or more parameter values were invalid: Condition parameter type does not match schema type")
}

// Legacy (pre-expression) parameters.

pub(crate) fn invalid_parameter(detail: impl fmt::Display) -> ExprError {
    ExprError::new(format!("One or more parameter values were invalid: {detail}"))
}

pub(crate) fn legacy_not_indexable() -> ExprError {
    ExprError::new("Attempted conditional constraint is not an indexable operation")
}

pub(crate) fn legacy_condition_count() -> ExprError {
    ExprError::new("Conditions can be of length 1 or 2 only")
}

pub(crate) fn legacy_between_reversed() -> ExprError {
    ExprError::new("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
}

pub(crate) fn mixed_parameters(non_expression: &[&str], expression: &[&str]) -> ExprError {
    ExprError::new(format!(
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
        non_expression.join(", "),
        expression.join(", ")
    ))
}

pub(crate) fn names_without_expression() -> ExprError {
    ExprError::new("1 validation error detected: ExpressionAttributeNames can only be specified when using expressions")
}

pub(crate) fn values_without_expression() -> ExprError {
    ExprError::new(
        "1 validation error detected: ExpressionAttributeValues can only be specified when using expressions",
    )
}

/// DynamoDB's short rendering of a value inside messages: `{N:5}`, `{S:abc}`, binaries in base64.
pub(crate) fn short_value(value: &AttributeValue) -> String {
    let body = match value {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        AttributeValue::B(b) => base64(b),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null => "true".to_string(),
        AttributeValue::Ss(v) => format!("[{}]", v.join(", ")),
        AttributeValue::Ns(v) => format!("[{}]", v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")),
        AttributeValue::Bs(v) => format!("[{}]", v.iter().map(|b| base64(b)).collect::<Vec<_>>().join(", ")),
        AttributeValue::L(v) => format!("[{}]", v.iter().map(short_value).collect::<Vec<_>>().join(", ")),
        AttributeValue::M(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}={}", short_value(v))).collect::<Vec<_>>().join(", "))
        }
    };
    format!("{{{}:{body}}}", value.value_type())
}

/// Standard base64 with padding: DynamoDB shows binaries this way in messages. Small enough that a
/// dependency would cost more than it saves.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input), want);
        }
    }
}
