//! Evaluating conditions against an item, with DynamoDB's semantics:
//!
//! - a path to a missing attribute (or through a value of the wrong type) is undefined, and any
//!   comparison with an undefined side is false — except `<>`, which is then true;
//! - numbers compare numerically, strings by their UTF-8 bytes, binaries as unsigned bytes; only
//!   these three types order, and comparing values of different types is false, not an error;
//! - sets are equal regardless of member order; lists and maps compare element-wise.
//!
//! Everything that can be an error was rejected when parsing, so evaluation cannot fail; it still
//! returns `Result` so that the engine's call sites need not change if that ever stops being true.

use std::borrow::Cow;
use std::cmp::Ordering;

use flywheel_types::{AttributeValue, Item, Number, ValueType};

use crate::ast::{Comparator, Condition, DocumentPath, Operand, PathElement};
use crate::error::ExprError;

/// Evaluates `condition` against `item`; `None` (no item, as for a condition on a put of a new
/// key) has no attributes at all.
pub fn evaluate(condition: &Condition, item: Option<&Item>) -> Result<bool, ExprError> {
    Ok(eval(condition, item))
}

/// NOT chains and AND/OR chains (which nest to the right) are walked in a loop, so that long ones
/// cannot exhaust the stack; recursion follows only left operands, which nest through
/// parentheses.
fn eval(mut condition: &Condition, item: Option<&Item>) -> bool {
    // The result is `negate XOR value(condition)`.
    let mut negate = false;
    loop {
        match condition {
            Condition::Not(c) => {
                negate = !negate;
                condition = c;
            }
            Condition::And(l, r) => {
                if !eval(l, item) {
                    return negate;
                }
                condition = r;
            }
            Condition::Or(l, r) => {
                if eval(l, item) {
                    return !negate;
                }
                condition = r;
            }
            leaf => return negate != eval_leaf(leaf, item),
        }
    }
}

#[inline(never)]
fn eval_leaf(condition: &Condition, item: Option<&Item>) -> bool {
    match condition {
        Condition::Compare { op, left, right } => {
            let (Some(l), Some(r)) = (operand(left, item), operand(right, item)) else {
                return *op == Comparator::Ne;
            };
            match op {
                Comparator::Eq => *l == *r,
                Comparator::Ne => *l != *r,
                Comparator::Lt => compare_ordered(&l, &r) == Some(Ordering::Less),
                Comparator::Le => matches!(compare_ordered(&l, &r), Some(Ordering::Less | Ordering::Equal)),
                Comparator::Gt => compare_ordered(&l, &r) == Some(Ordering::Greater),
                Comparator::Ge => matches!(compare_ordered(&l, &r), Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Condition::Between { operand: x, lower, upper } => {
            let (Some(x), Some(lo), Some(hi)) = (operand(x, item), operand(lower, item), operand(upper, item)) else {
                return false;
            };
            matches!(compare_ordered(&lo, &x), Some(Ordering::Less | Ordering::Equal))
                && matches!(compare_ordered(&x, &hi), Some(Ordering::Less | Ordering::Equal))
        }
        Condition::In { operand: x, list } => match operand(x, item) {
            None => false,
            Some(x) => list.iter().any(|o| operand(o, item).is_some_and(|v| *v == *x)),
        },
        Condition::AttributeExists(path) => lookup(item, path).is_some(),
        Condition::AttributeNotExists(path) => lookup(item, path).is_none(),
        Condition::AttributeType { operand: x, type_name } => {
            let wanted = match &type_name.value {
                AttributeValue::S(s) => ValueType::from_wire(s),
                _ => None,
            };
            operand(x, item).is_some_and(|v| Some(v.value_type()) == wanted)
        }
        Condition::BeginsWith { operand: x, prefix } => {
            let (Some(x), Some(p)) = (operand(x, item), operand(prefix, item)) else {
                return false;
            };
            match (&*x, &*p) {
                (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
                (AttributeValue::B(b), AttributeValue::B(p)) => b.starts_with(p),
                _ => false,
            }
        }
        Condition::Contains { operand: x, value } => {
            let (Some(x), Some(v)) = (operand(x, item), operand(value, item)) else {
                return false;
            };
            contains(&x, &v)
        }
        Condition::Not(_) | Condition::And(..) | Condition::Or(..) => unreachable!("handled by eval"),
    }
}

/// `contains(x, v)`: a substring of a string, a byte run of a binary, a member of a set of the
/// value's type, or an element of a list.
pub(crate) fn contains(x: &AttributeValue, v: &AttributeValue) -> bool {
    match (x, v) {
        (AttributeValue::S(s), AttributeValue::S(sub)) => s.contains(sub.as_str()),
        (AttributeValue::B(b), AttributeValue::B(sub)) => contains_bytes(b, sub),
        (AttributeValue::Ss(set), AttributeValue::S(s)) => set.contains(s),
        (AttributeValue::Ns(set), AttributeValue::N(n)) => set.contains(n),
        (AttributeValue::Bs(set), AttributeValue::B(b)) => set.contains(b),
        (AttributeValue::L(list), v) => list.contains(v),
        _ => false,
    }
}

/// Whether `needle` occurs in `haystack`, in O(n + m) (Knuth–Morris–Pratt). Both may be hundreds
/// of kilobytes from one item, and a window-by-window comparison is O(n·m) on inputs like
/// `aaa…ab` in `aaa…a`. (Strings need no such help: `str::contains` is already linear.)
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > haystack.len() {
        return false;
    }
    // fallback[i]: length of the longest proper prefix of needle[..=i] that is also its suffix.
    let mut fallback = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fallback[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fallback[i] = k;
    }
    let mut matched = 0;
    for &byte in haystack {
        while matched > 0 && byte != needle[matched] {
            matched = fallback[matched - 1];
        }
        if byte == needle[matched] {
            matched += 1;
            if matched == needle.len() {
                return true;
            }
        }
    }
    false
}

/// Order of two values of the same orderable type (S, N, B); `None` when they do not order.
pub(crate) fn compare_ordered(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// An operand's value, `None` when undefined.
fn operand<'v>(operand: &'v Operand, item: Option<&'v Item>) -> Option<Cow<'v, AttributeValue>> {
    match operand {
        Operand::Path(path) => lookup(item, path).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(&v.value)),
        Operand::Size(inner) => {
            let v = self::operand(inner, item)?;
            size(&v).map(|n| Cow::Owned(AttributeValue::N(Number::from(n as i64))))
        }
    }
}

/// `size()`: bytes of a string or binary, members of a set, elements of a list or map; numbers,
/// booleans and nulls have no size.
pub(crate) fn size(value: &AttributeValue) -> Option<usize> {
    Some(match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(v) => v.len(),
        AttributeValue::Ns(v) => v.len(),
        AttributeValue::Bs(v) => v.len(),
        AttributeValue::L(v) => v.len(),
        AttributeValue::M(m) => m.len(),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => return None,
    })
}

/// The value at `path`, if every step exists and has the right type.
pub(crate) fn lookup<'i>(item: Option<&'i Item>, path: &DocumentPath) -> Option<&'i AttributeValue> {
    lookup_elements(item, &path.elements)
}

/// [`lookup`] of a path's leading steps, without building a path of them.
pub(crate) fn lookup_elements<'i>(item: Option<&'i Item>, elements: &[PathElement]) -> Option<&'i AttributeValue> {
    let mut elements = elements.iter();
    let mut current = match elements.next()? {
        PathElement::Key { name, .. } => item?.get(name)?,
        PathElement::Index(_) => return None,
    };
    for element in elements {
        current = step(current, element)?;
    }
    Some(current)
}

pub(crate) fn step<'v>(value: &'v AttributeValue, element: &PathElement) -> Option<&'v AttributeValue> {
    match (value, element) {
        (AttributeValue::M(m), PathElement::Key { name, .. }) => m.get(name),
        (AttributeValue::L(l), PathElement::Index(i)) => l.get(*i as usize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{item, with_fixture};
    use crate::{parse_condition, ExpressionKind};

    /// Each case: a condition and whether it holds for `on` (`None`: no item at all).
    fn check(on: Option<&Item>, cases: &[(&str, bool)]) {
        for (src, want) in cases {
            let cond = with_fixture(|r| parse_condition(src, r, ExpressionKind::Condition)).unwrap();
            assert_eq!(evaluate(&cond, on), Ok(*want), "{src}");
        }
    }

    #[test]
    fn follows_dynamodb_semantics() {
        let it = item(
            "{a: 1, b: \"abc\", c: b\"0102\", d: true, e: null, l: [1, \"x\", [2]], m: {k: 1, n: {o: \"p\"}}, \
             ss: SS[\"a\", \"b\"], ns: NS[1, 2], bs: BS[b\"01\"], z: 2, u: \"\u{e9}\"}",
        );
        check(
            Some(&it),
            &[
                // Equality across types; a missing attribute is unequal to everything.
                ("a = :n", true),
                ("a <> :n", false),
                ("a = :s", false),
                ("a <> :s", true),
                ("q = :n", false),
                ("q <> :n", true),
                ("q = r", false),
                ("q <> r", true),
                ("ss = :ss", true),
                ("l[2] = :l", false),
                ("m.k = a", true),
                ("e = :null", true),
                ("d = :bool", true),
                // Ordering: numbers, strings bytewise, binaries unsigned; other types never order.
                ("a < :m", true),
                ("a < :s", false),
                (":s < a", false),
                ("b < :t", true),
                ("b >= :s", true),
                ("u > :s", true),
                ("c < :bin", false),
                ("c <= :bin", true),
                ("c > :bin1", true),
                ("l < l[2]", false),
                ("q < r", false),
                ("q >= r", false),
                ("a BETWEEN :n AND :m", true),
                ("a BETWEEN z AND :big", false),
                ("z BETWEEN a AND :big", true),
                ("q BETWEEN :n AND :m", false),
                ("b BETWEEN :n AND :m", false),
                ("a BETWEEN z AND a", false),
                ("a IN (:s, :n)", true),
                ("a IN (:s)", false),
                ("q IN (:n)", false),
                ("ss IN (:ns, :ss)", true),
                // Functions.
                ("attribute_exists(m.n.o)", true),
                ("attribute_exists(l[2][0])", true),
                ("attribute_exists(l[3])", false),
                ("attribute_exists(m.k.x)", false),
                ("attribute_exists(m[0])", false),
                ("attribute_exists(e)", true),
                ("attribute_not_exists(q)", true),
                ("attribute_type(ss, :SS)", true),
                ("attribute_type(a, :N)", true),
                ("attribute_type(a, :S)", false),
                ("attribute_type(q, :S)", false),
                ("attribute_type(m, :M)", true),
                ("attribute_type(:l, :L)", true),
                ("begins_with(b, :ab)", true),
                ("begins_with(c, :bin1)", true),
                ("begins_with(a, :ab)", false),
                ("begins_with(b, :empty)", true),
                ("begins_with(:s, b)", true),
                ("begins_with(b, c)", false),
                ("contains(b, :ab)", true),
                ("contains(ss, :a)", true),
                ("contains(ss, :s)", false),
                ("contains(ns, :n)", true),
                ("contains(ns, :s)", false),
                ("contains(l, :n)", true),
                ("contains(l, :l)", false),
                ("contains(l, :bool)", false),
                ("contains(c, :bin1)", true),
                ("contains(bs, :bin1)", true),
                ("contains(a, :n)", false),
                ("contains(q, :n)", false),
                ("size(b) > :m", true),
                ("size(u) = :m", true),
                ("size(m) = :m", true),
                ("size(ss) = :m", true),
                ("size(l) > :m", true),
                ("size(c) = :m", true),
                ("size(a) = :n", false),
                ("size(a) <> :n", true),
                ("size(q) < :big", false),
                ("size(:l) = z", true),
                // Precedence: NOT, then AND, then OR.
                ("a = :n OR b = :s AND d = :n", true),
                ("NOT a = :n AND q = :n", false),
                ("NOT (a = :m OR b = :t)", true),
                ("a = :m AND b = :s OR z = :m", true),
                ("NOT NOT a = :n", true),
                ("NOT NOT NOT a = :n", false),
            ],
        );
        check(None, &[("attribute_not_exists(a)", true), ("a <> :n", true), ("a = :n", false), ("NOT a = :n", true)]);
    }

    #[test]
    fn byte_search_is_linear_and_exact() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"abc", b"", true),
            (b"", b"a", false),
            (b"abc", b"abc", true),
            (b"abc", b"abcd", false),
            (b"aabaabaaa", b"aabaaa", true),
            (b"abababc", b"ababc", true),
            (b"abababd", b"ababc", false),
            (b"xyz\x00\xff", b"\x00\xff", true),
        ];
        for (haystack, needle, want) in cases {
            assert_eq!(contains_bytes(haystack, needle), *want, "{haystack:?} {needle:?}");
        }
        // The quadratic worst case for a window scan: answered in linear steps.
        let mut haystack = vec![b'a'; 200_000];
        let mut needle = vec![b'a'; 100_000];
        needle.push(b'b');
        assert!(!contains_bytes(&haystack, &needle));
        haystack.push(b'b');
        assert!(contains_bytes(&haystack, &needle));
    }
}
