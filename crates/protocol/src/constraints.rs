//! DynamoDB's request-shape validation messages: "1 validation error detected: Value null at
//! 'tableName' failed to satisfy constraint: Member must not be null", several joined by "; ".

use crate::ApiError;

/// Collects constraint violations in the order DynamoDB checks members, then reports them all.
#[derive(Default)]
pub struct Constraints {
    errors: Vec<String>,
}

impl Constraints {
    pub fn new() -> Constraints {
        Constraints::default()
    }

    fn push(&mut self, value: &str, path: &str, constraint: &str) {
        self.errors.push(format!("Value {value} at '{path}' failed to satisfy constraint: Member must {constraint}"));
    }

    /// The member must be present.
    pub fn required<T>(&mut self, path: &str, value: &Option<T>) {
        if value.is_none() {
            self.push("null", path, "not be null");
        }
    }

    /// A table or index name: 3..=255 characters of `[a-zA-Z0-9_.-]`.
    pub fn table_name(&mut self, path: &str, name: &Option<String>) {
        match name {
            None => self.push("null", path, "not be null"),
            Some(n) => {
                let shown = format!("'{n}'");
                if !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') {
                    self.push(&shown, path, "satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
                }
                let len = n.chars().count();
                if len < 3 {
                    self.push(&shown, path, "have length greater than or equal to 3");
                }
                if len > 255 {
                    self.push(&shown, path, "have length less than or equal to 255");
                }
            }
        }
    }

    /// An optional table name (present ⇒ well formed).
    pub fn optional_table_name(&mut self, path: &str, name: &Option<String>) {
        if name.is_some() {
            self.table_name(path, name);
        }
    }

    /// A string member limited to an enumeration.
    pub fn one_of(&mut self, path: &str, value: &Option<String>, allowed: &[&str]) {
        if let Some(v) = value {
            if !allowed.contains(&v.as_str()) {
                self.push(&format!("'{v}'"), path, &format!("satisfy enum value set: [{}]", allowed.join(", ")));
            }
        }
    }

    /// A number at least `min`.
    pub fn at_least(&mut self, path: &str, value: Option<i64>, min: i64) {
        if let Some(v) = value {
            if v < min {
                self.push(&format!("'{v}'"), path, &format!("have value greater than or equal to {min}"));
            }
        }
    }

    /// A number at most `max`.
    pub fn at_most(&mut self, path: &str, value: Option<i64>, max: i64) {
        if let Some(v) = value {
            if v > max {
                self.push(&format!("'{v}'"), path, &format!("have value less than or equal to {max}"));
            }
        }
    }

    /// A list or string length within bounds; `shown` is how DynamoDB prints the value.
    pub fn length(&mut self, path: &str, shown: &str, len: usize, min: usize, max: usize) {
        if len < min {
            self.push(shown, path, &format!("have length greater than or equal to {min}"));
        }
        if len > max {
            self.push(shown, path, &format!("have length less than or equal to {max}"));
        }
    }

    /// Every member of a list of strings within length bounds; `shown` is how DynamoDB prints
    /// the list. Reported once for the list, naming the member constraint.
    pub fn members(&mut self, path: &str, shown: &str, min: usize, max: usize) {
        self.push(
            shown,
            path,
            &format!(
                "satisfy constraint: [Member must have length less than or equal to {max}, Member must have length greater than or equal to {min}]"
            ),
        );
    }

    /// Any collected violations as one ValidationException.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(ApiError::validation(format!("1 validation error detected: {}", self.errors[0]))),
            n => Err(ApiError::validation(format!("{n} validation errors detected: {}", self.errors.join("; ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_dynamodb() {
        let mut c = Constraints::new();
        c.table_name("tableName", &None);
        assert_eq!(
            c.finish().unwrap_err().message,
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
        );
        let mut c = Constraints::new();
        c.table_name("tableName", &Some("a b".into()));
        c.one_of("returnValues", &Some("X".into()), &["NONE", "ALL_OLD"]);
        assert_eq!(
            c.finish().unwrap_err().message,
            "2 validation errors detected: Value 'a b' at 'tableName' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: [a-zA-Z0-9_.-]+; Value 'X' at 'returnValues' failed to satisfy constraint: \
             Member must satisfy enum value set: [NONE, ALL_OLD]"
        );
    }
}
