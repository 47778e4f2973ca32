//! Attribute values and items, with DynamoDB's size rules and value validation.

use std::collections::BTreeMap;
use std::fmt;

use crate::limits::{ATTRIBUTE_NAME_BYTES_MAX, NESTING_DEPTH_MAX};
use crate::number::Number;

/// An item: attribute name → value. Ordered so that encodings and responses are deterministic.
pub type Item = BTreeMap<String, AttributeValue>;

/// One DynamoDB attribute value.
///
/// Sets keep the order the client sent; duplicate members are rejected at validation, and set
/// equality ignores order.
#[derive(Clone, Debug)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttributeValue>),
    L(Vec<AttributeValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// The ten DynamoDB data types, named as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    S,
    N,
    B,
    Bool,
    Null,
    M,
    L,
    Ss,
    Ns,
    Bs,
}

impl ValueType {
    /// The wire name (`"S"`, `"BOOL"`, `"SS"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::S => "S",
            ValueType::N => "N",
            ValueType::B => "B",
            ValueType::Bool => "BOOL",
            ValueType::Null => "NULL",
            ValueType::M => "M",
            ValueType::L => "L",
            ValueType::Ss => "SS",
            ValueType::Ns => "NS",
            ValueType::Bs => "BS",
        }
    }

    /// Parses a wire name.
    pub fn from_wire(s: &str) -> Option<ValueType> {
        Some(match s {
            "S" => ValueType::S,
            "N" => ValueType::N,
            "B" => ValueType::B,
            "BOOL" => ValueType::Bool,
            "NULL" => ValueType::Null,
            "M" => ValueType::M,
            "L" => ValueType::L,
            "SS" => ValueType::Ss,
            "NS" => ValueType::Ns,
            "BS" => ValueType::Bs,
            _ => return None,
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AttributeValue {
    /// This value's data type.
    pub fn value_type(&self) -> ValueType {
        match self {
            AttributeValue::S(_) => ValueType::S,
            AttributeValue::N(_) => ValueType::N,
            AttributeValue::B(_) => ValueType::B,
            AttributeValue::Bool(_) => ValueType::Bool,
            AttributeValue::Null => ValueType::Null,
            AttributeValue::M(_) => ValueType::M,
            AttributeValue::L(_) => ValueType::L,
            AttributeValue::Ss(_) => ValueType::Ss,
            AttributeValue::Ns(_) => ValueType::Ns,
            AttributeValue::Bs(_) => ValueType::Bs,
        }
    }

    /// DynamoDB's size of the value alone, without its attribute name.
    pub fn size_bytes(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.size_bytes(),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            // Lists and maps cost 3 bytes, plus 1 byte for each element.
            AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size_bytes() + 1).sum::<usize>(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| v.size_bytes() + 1).sum::<usize>(),
            AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
            AttributeValue::Ns(v) => v.iter().map(Number::size_bytes).sum(),
            AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        }
    }

    /// Number of nested list/map levels below this value (0 for a scalar).
    pub fn nesting_depth(&self) -> usize {
        match self {
            AttributeValue::M(m) => 1 + m.values().map(AttributeValue::nesting_depth).max().unwrap_or(0),
            AttributeValue::L(l) => 1 + l.iter().map(AttributeValue::nesting_depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// DynamoDB equality: numbers numerically, sets ignoring member order.
impl PartialEq for AttributeValue {
    fn eq(&self, other: &AttributeValue) -> bool {
        use AttributeValue::*;
        match (self, other) {
            (S(a), S(b)) => a == b,
            (N(a), N(b)) => a == b,
            (B(a), B(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Null, Null) => true,
            (M(a), M(b)) => a == b,
            (L(a), L(b)) => a == b,
            (Ss(a), Ss(b)) => set_eq(a, b),
            (Ns(a), Ns(b)) => set_eq(a, b),
            (Bs(a), Bs(b)) => set_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for AttributeValue {}

/// Set equality in O(n log n): members are compared sorted (numbers by value, as `Number`'s
/// order is numeric; binaries by bytes). Sets come from clients and hold up to ~400 KB of
/// members, and comparisons run under a partition's writer, so a pairwise scan is not an option.
/// Members are distinct (checked when decoded), so equal sorted sequences mean equal sets.
fn set_eq<T: Ord>(a: &[T], b: &[T]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a == b {
        // Same members in the same order: the common case of a set read back and compared.
        return true;
    }
    sorted_refs(a) == sorted_refs(b)
}

/// The members of a set, sorted, without copying them.
pub fn sorted_refs<T: Ord>(members: &[T]) -> Vec<&T> {
    let mut refs: Vec<&T> = members.iter().collect();
    refs.sort_unstable();
    refs
}

/// DynamoDB's size of an item: the sum of attribute-name lengths and value sizes.
pub fn item_size_bytes(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size_bytes()).sum()
}

/// A problem with a value that DynamoDB reports as a ValidationException.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// Checks an attribute name against DynamoDB's 64 KB limit. The message is DynamoDB's, which
/// names the first size refused.
pub fn check_attribute_name(name: &str) -> Result<(), ValueError> {
    if name.len() > ATTRIBUTE_NAME_BYTES_MAX {
        return Err(ValueError(format!(
            "1 validation error detected: Attribute name is too large, must be less than {} bytes",
            ATTRIBUTE_NAME_BYTES_MAX + 1
        )));
    }
    Ok(())
}

/// Checks what DynamoDB checks of every attribute value it is given: non-empty sets without
/// duplicates and nesting within 32 levels. (Number syntax and range are checked when parsed.)
pub fn validate_value(value: &AttributeValue) -> Result<(), ValueError> {
    validate_at_depth(value, 0)
}

fn validate_at_depth(value: &AttributeValue, depth: usize) -> Result<(), ValueError> {
    fn invalid(msg: String) -> Result<(), ValueError> {
        Err(ValueError(format!("One or more parameter values were invalid: {msg}")))
    }
    match value {
        // The item itself is the first of the 32 levels.
        AttributeValue::M(_) | AttributeValue::L(_) if depth + 1 >= NESTING_DEPTH_MAX => Err(ValueError(
            "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
                .to_string(),
        )),
        AttributeValue::M(m) => m.values().try_for_each(|v| validate_at_depth(v, depth + 1)),
        AttributeValue::L(l) => l.iter().try_for_each(|v| validate_at_depth(v, depth + 1)),
        AttributeValue::Ss(v) if v.is_empty() => invalid("An string set  may not be empty".into()),
        AttributeValue::Ns(v) if v.is_empty() => invalid("An number set  may not be empty".into()),
        AttributeValue::Bs(v) if v.is_empty() => invalid("Binary sets should not be empty".into()),
        // DynamoDB words each set type's duplicate error differently.
        AttributeValue::Ss(v) if has_duplicates(v) => {
            let shown: Vec<String> = v.iter().map(|s| format!("\"{s}\"")).collect();
            invalid(format!("Input collection [{}] contains duplicates.", shown.join(", ")))
        }
        AttributeValue::Ns(v) if has_duplicates(v) => invalid("Input collection contains duplicates.".to_string()),
        AttributeValue::Bs(v) if has_duplicates(v) => {
            let shown: Vec<String> = v.iter().map(|b| format!("\"{}\"", base64(b))).collect();
            invalid(format!("Input collection [{}]of type BS contains duplicates.", shown.join(",")))
        }
        _ => Ok(()),
    }
}

/// Standard base64 with padding, for messages that quote binary values.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn has_duplicates<T: Ord>(v: &[T]) -> bool {
    if v.len() < 2 {
        return false;
    }
    sorted_refs(v).windows(2).any(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn sizes_follow_the_developer_guide() {
        let cases: Vec<(AttributeValue, usize)> = vec![
            (AttributeValue::S("héllo".into()), 6),
            (AttributeValue::N(n("12345")), 4),
            (AttributeValue::B(vec![1, 2, 3]), 3),
            (AttributeValue::Bool(true), 1),
            (AttributeValue::Null, 1),
            (AttributeValue::L(vec![]), 3),
            (AttributeValue::M(BTreeMap::new()), 3),
            // 3 + (1 + 1) + (1 + 1)
            (AttributeValue::L(vec![AttributeValue::Null, AttributeValue::Bool(false)]), 7),
            // 3 + ("ab" 2 + "x" 1 + 1)
            (AttributeValue::M(BTreeMap::from([("ab".to_string(), AttributeValue::S("x".into()))])), 7),
            (AttributeValue::Ss(vec!["ab".into(), "c".into()]), 3),
            (AttributeValue::Ns(vec![n("1"), n("123")]), 2 + 3),
        ];
        for (v, want) in cases {
            assert_eq!(v.size_bytes(), want, "{v:?}");
        }
        let item = Item::from([("pk".to_string(), AttributeValue::S("abc".into()))]);
        assert_eq!(item_size_bytes(&item), 5);
    }

    #[test]
    fn set_equality_ignores_order() {
        assert_eq!(AttributeValue::Ss(vec!["a".into(), "b".into()]), AttributeValue::Ss(vec!["b".into(), "a".into()]));
        assert_ne!(AttributeValue::Ss(vec!["a".into()]), AttributeValue::Ss(vec!["a".into(), "b".into()]));
        assert_eq!(AttributeValue::Ns(vec![n("1.0")]), AttributeValue::Ns(vec![n("1")]));
        assert_ne!(AttributeValue::S("1".into()), AttributeValue::N(n("1")));
    }

    #[test]
    fn large_sets_compare_by_sorting() {
        // 40,000 members, as fit in one item: equal in any order, numbers by value. (A pairwise
        // comparison took ~18 s for this; nothing here depends on time.)
        let strings: Vec<String> = (0..40_000).map(|i| format!("member-{i:05}")).collect();
        let mut reversed = strings.clone();
        reversed.reverse();
        assert_eq!(AttributeValue::Ss(strings.clone()), AttributeValue::Ss(reversed.clone()));
        reversed[0] = "other".into();
        assert_ne!(AttributeValue::Ss(strings), AttributeValue::Ss(reversed));
        let numbers: Vec<Number> = (0..40_000).map(|i| n(&i.to_string())).collect();
        let scaled: Vec<Number> = (0..40_000).rev().map(|i| n(&format!("{i}.000e0"))).collect();
        assert_eq!(AttributeValue::Ns(numbers), AttributeValue::Ns(scaled));
        let binaries: Vec<Vec<u8>> = (0..40_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut shuffled = binaries.clone();
        shuffled.rotate_left(12_345);
        assert_eq!(AttributeValue::Bs(binaries), AttributeValue::Bs(shuffled));
    }

    #[test]
    fn attribute_names_up_to_64_kb() {
        assert!(check_attribute_name(&"a".repeat(ATTRIBUTE_NAME_BYTES_MAX)).is_ok());
        assert_eq!(
            check_attribute_name(&"a".repeat(ATTRIBUTE_NAME_BYTES_MAX + 1)),
            Err(ValueError(
                "1 validation error detected: Attribute name is too large, must be less than 65536 bytes".to_string()
            ))
        );
    }

    #[test]
    fn validation_matches_dynamodb_messages() {
        let cases: Vec<(AttributeValue, &str)> = vec![
            (AttributeValue::Ss(vec![]), "One or more parameter values were invalid: An string set  may not be empty"),
            (AttributeValue::Ns(vec![]), "One or more parameter values were invalid: An number set  may not be empty"),
            (AttributeValue::Bs(vec![]), "One or more parameter values were invalid: Binary sets should not be empty"),
            (
                AttributeValue::Ss(vec!["a".into(), "b".into(), "a".into()]),
                "One or more parameter values were invalid: Input collection [\"a\", \"b\", \"a\"] contains duplicates.",
            ),
            (
                AttributeValue::Ns(vec![n("1"), n("1.0")]),
                "One or more parameter values were invalid: Input collection contains duplicates.",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(validate_value(&v), Err(ValueError(want.to_string())), "{v:?}");
        }
        assert_eq!(base64(b"\x01"), "AQ==");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"ab"), "YWI=");
        let mut deep = AttributeValue::Null;
        for _ in 0..31 {
            deep = AttributeValue::L(vec![deep]);
        }
        assert!(validate_value(&deep).is_ok());
        let deeper = AttributeValue::L(vec![deep]);
        assert_eq!(
            validate_value(&deeper),
            Err(ValueError(
                "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
                    .to_string()
            ))
        );
    }
}
