//! The credentials file of `--credentials`: which access keys exist and their secrets.
//!
//! A JSON object from access key id to an entry:
//!
//! ```json
//! {
//!   "AKIDADMIN": { "secret_access_key": "admin-secret" },
//!   "AKIDOTHER": { "secret_access_key": "other-secret" }
//! }
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

/// Every known access key.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: HashMap<String, Key>,
}

/// One access key's entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub secret_access_key: String,
}

impl Credentials {
    /// Reads and checks a credentials file. The error says what is wrong and where.
    pub fn load(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Credentials::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Credentials, String> {
        let keys: HashMap<String, Key> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if keys.is_empty() {
            return Err("no access keys: the file must name at least one".to_string());
        }
        for (id, key) in &keys {
            if id.is_empty() || id.contains('/') {
                return Err(format!("access key id {id:?} cannot be empty or contain '/'"));
            }
            if key.secret_access_key.is_empty() {
                return Err(format!("access key {id} has an empty secret_access_key"));
            }
        }
        Ok(Credentials { keys })
    }

    pub fn find_key(&self, access_key_id: &str) -> Option<&Key> {
        self.keys.get(access_key_id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_files_that_cannot_be_meant() {
        for (text, why) in [
            ("{}", "no access keys"),
            (r#"{"K": {"secret": "s"}}"#, "unknown field"),
            (r#"{"K": {"secret_access_key": ""}}"#, "empty secret_access_key"),
            ("{", "EOF"),
            ("[]", "expected a map"),
        ] {
            let e = Credentials::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
        let creds = Credentials::parse(r#"{"K": {"secret_access_key": "s"}}"#).unwrap();
        assert_eq!(creds.find_key("K").unwrap().secret_access_key, "s");
        assert!(creds.find_key("L").is_none());
    }
}
