//! Placeholder resolution shared by every expression of one request.
//!
//! DynamoDB resolves `#name` and `:value` placeholders against the request's
//! `ExpressionAttributeNames` and `ExpressionAttributeValues`, and rejects a request that supplies
//! an entry none of its expressions uses. So one `Resolver` is made per request, every expression
//! of the request is parsed through it, and then `check_unused` reports leftovers.

use std::collections::{HashMap, HashSet};

use flywheel_types::{check_attribute_name, validate_value, AttributeValue};

use crate::error::{self, ExprError};

/// A placeholder key may be at most this many bytes ("The maximum length of any single expression
/// attribute name or expression attribute value is 255 bytes", Developer Guide, expression
/// parameter limits).
pub const PLACEHOLDER_BYTES_MAX: usize = 255;

/// All names and values of one request together may be at most 2 MB (same section of the guide).
pub const SUBSTITUTIONS_BYTES_MAX: usize = 2 * 1024 * 1024;

/// Resolves placeholders and remembers which were used.
#[derive(Debug)]
pub struct Resolver<'a> {
    names: Option<&'a HashMap<String, String>>,
    values: Option<&'a HashMap<String, AttributeValue>>,
    used_names: HashSet<&'a str>,
    used_values: HashSet<&'a str>,
}

impl<'a> Resolver<'a> {
    /// Checks the request's `ExpressionAttributeNames` and `ExpressionAttributeValues` as
    /// DynamoDB does before it looks at any expression: not empty, keys spelled `#word`/`:word`
    /// of at most 255 bytes, names non-empty, values valid. Entries are checked in key order so
    /// that the reported one is deterministic.
    pub fn new(
        names: Option<&'a HashMap<String, String>>,
        values: Option<&'a HashMap<String, AttributeValue>>,
    ) -> Result<Resolver<'a>, ExprError> {
        let mut total = 0usize;
        if let Some(names) = names {
            if names.is_empty() {
                return Err(error::names_empty());
            }
            let mut keys: Vec<&String> = names.keys().collect();
            keys.sort();
            for key in keys {
                if !is_placeholder(key, b'#') {
                    return Err(error::names_invalid_key(key));
                }
                if key.len() > PLACEHOLDER_BYTES_MAX {
                    return Err(error::names_key_too_long(key));
                }
                let name = &names[key];
                if name.is_empty() {
                    return Err(error::names_empty_value(key));
                }
                check_attribute_name(name).map_err(|e| ExprError::new(e.0))?;
                total += key.len() + name.len();
            }
        }
        if let Some(values) = values {
            if values.is_empty() {
                return Err(error::values_empty());
            }
            let mut keys: Vec<&String> = values.keys().collect();
            keys.sort();
            for key in &keys {
                if !is_placeholder(key, b':') {
                    return Err(error::values_invalid_key(key));
                }
                if key.len() > PLACEHOLDER_BYTES_MAX {
                    return Err(error::values_key_too_long(key));
                }
            }
            for key in keys {
                let value = &values[key];
                if let Err(e) = validate_value(value) {
                    return Err(error::values_invalid_value(&e.0, key));
                }
                total += key.len() + value.size_bytes();
            }
        }
        if total > SUBSTITUTIONS_BYTES_MAX {
            return Err(error::substitutions_too_large());
        }
        Ok(Resolver { names, values, used_names: HashSet::new(), used_values: HashSet::new() })
    }

    /// A resolver for a request without names or values.
    pub fn empty() -> Resolver<'static> {
        Resolver { names: None, values: None, used_names: HashSet::new(), used_values: HashSet::new() }
    }

    /// The attribute name behind `#placeholder`, marking it used.
    pub(crate) fn name(&mut self, placeholder: &str) -> Option<&'a str> {
        let (key, name) = self.names?.get_key_value(placeholder)?;
        self.used_names.insert(key.as_str());
        Some(name.as_str())
    }

    /// The value behind `:placeholder`, marking it used.
    pub(crate) fn value(&mut self, placeholder: &str) -> Option<&'a AttributeValue> {
        let (key, value) = self.values?.get_key_value(placeholder)?;
        self.used_values.insert(key.as_str());
        Some(value)
    }

    /// After every expression of the request has been parsed: DynamoDB rejects names, then
    /// values, that no expression used. Keys are listed sorted.
    pub fn check_unused(&self) -> Result<(), ExprError> {
        if let Some(names) = self.names {
            let mut unused: Vec<&str> =
                names.keys().map(String::as_str).filter(|k| !self.used_names.contains(k)).collect();
            if !unused.is_empty() {
                unused.sort_unstable();
                return Err(error::unused_names(&unused));
            }
        }
        if let Some(values) = self.values {
            let mut unused: Vec<&str> =
                values.keys().map(String::as_str).filter(|k| !self.used_values.contains(k)).collect();
            if !unused.is_empty() {
                unused.sort_unstable();
                return Err(error::unused_values(&unused));
            }
        }
        Ok(())
    }
}

/// `#word` or `:word`, the word being ASCII letters, digits and `_`.
fn is_placeholder(key: &str, sigil: u8) -> bool {
    let b = key.as_bytes();
    b.len() >= 2 && b[0] == sigil && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables are tuples on purpose
mod tests {
    use super::*;

    fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn values(keys: &[&str]) -> HashMap<String, AttributeValue> {
        keys.iter().map(|k| (k.to_string(), AttributeValue::S("x".into()))).collect()
    }

    /// Outcome of `Resolver::new` as a message, or "ok".
    fn check(n: Option<&HashMap<String, String>>, v: Option<&HashMap<String, AttributeValue>>) -> String {
        match Resolver::new(n, v) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.message,
        }
    }

    #[test]
    fn validates_maps_like_dynamodb() {
        let long = format!("#{}", "a".repeat(255));
        let cases: Vec<(Option<HashMap<String, String>>, Option<HashMap<String, AttributeValue>>, String)> = vec![
            (Some(names(&[])), None, "ExpressionAttributeNames must not be empty".into()),
            (None, Some(values(&[])), "ExpressionAttributeValues must not be empty".into()),
            (
                Some(names(&[("a", "a")])),
                None,
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\"".into(),
            ),
            (
                Some(names(&[("#", "a")])),
                None,
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#\"".into(),
            ),
            (
                Some(names(&[("#a-b", "a")])),
                None,
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#a-b\"".into(),
            ),
            (
                None,
                Some(values(&[":b", "b"])),
                "ExpressionAttributeValues contains invalid key: Syntax error; key: \"b\"".into(),
            ),
            (
                Some(names(&[("#DE", "")])),
                None,
                "ExpressionAttributeNames contains invalid value: Empty attribute name for key #DE".into(),
            ),
            (
                Some(names(&[(long.as_str(), "a")])),
                None,
                format!(
                    "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; key: \"{long}\""
                ),
            ),
            (Some(names(&[("#a_1", "a"), ("#B", "b")])), Some(values(&[":v", ":_"])), "ok".into()),
        ];
        for (n, v, want) in cases {
            assert_eq!(check(n.as_ref(), v.as_ref()), want);
        }
        let bad = HashMap::from([(":s".to_string(), AttributeValue::Ss(vec![]))]);
        assert_eq!(
            check(None, Some(&bad)),
            "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :s"
        );
    }

    #[test]
    fn reports_unused_names_before_values_sorted() {
        let n = names(&[("#b", "b"), ("#a", "a"), ("#c", "c")]);
        let v = values(&[":x", ":y"]);
        let mut r = Resolver::new(Some(&n), Some(&v)).unwrap();
        assert_eq!(r.name("#c"), Some("c"));
        assert_eq!(r.name("#zz"), None);
        assert_eq!(
            r.check_unused().unwrap_err().message,
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}"
        );
        r.name("#a");
        r.name("#b");
        assert_eq!(
            r.check_unused().unwrap_err().message,
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x, :y}"
        );
        r.value(":x");
        r.value(":y");
        assert_eq!(r.check_unused(), Ok(()));
    }
}
