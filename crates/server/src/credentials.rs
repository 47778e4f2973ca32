//! The credentials file of `--credentials`: which access keys exist, their secrets, and what
//! each may do.
//!
//! A JSON object from access key id to an entry:
//!
//! ```json
//! {
//!   "AKIDADMIN": { "secret_access_key": "admin-secret" },
//!   "AKIDREADER": {
//!     "secret_access_key": "reader-secret",
//!     "allow": [
//!       { "actions": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Describe*"],
//!         "resources": ["arn:aws:dynamodb:*:*:table/Music", "arn:aws:dynamodb:*:*:table/Music/index/*"] }
//!     ]
//!   }
//! }
//! ```
//!
//! A key without `allow` may do everything. A key with `allow` may do only what one of its
//! statements allows: an action matching one of the statement's `actions` on a resource
//! matching one of its `resources`. Matching follows IAM: `*` stands for any run of characters
//! (`/` included) and `?` for one; actions compare without regard to case, ARNs exactly. There
//! is no `Deny` and there are no conditions.

use std::collections::HashMap;
use std::path::Path;

use flywheel_protocol::access::{accesses, Resource};
use flywheel_protocol::{ApiError, ErrorKind, Operation};
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
    /// `None`: everything is allowed.
    #[serde(default)]
    pub allow: Option<Vec<Statement>>,
}

/// One allow statement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
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
            for statement in key.allow.iter().flatten() {
                if let Some(a) =
                    statement.actions.iter().find(|a| !a.to_ascii_lowercase().starts_with("dynamodb:") && *a != "*")
                {
                    return Err(format!(
                        "access key {id}: action {a:?} is not a dynamodb action (dynamodb:NAME, wildcards allowed)"
                    ));
                }
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

impl Key {
    /// Whether this key may perform `action` (`dynamodb:PutItem`) on `resource` (an ARN, or `*`).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let Some(statements) = &self.allow else { return true };
        statements.iter().any(|s| {
            s.actions.iter().any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && s.resources.iter().any(|pattern| wildcard_match(pattern, resource))
        })
    }
}

/// Who is asking: a verified access key, in the region and account it addresses.
pub struct Principal<'a> {
    pub access_key_id: &'a str,
    pub key: &'a Key,
    pub region: &'a str,
    pub account_id: &'a str,
}

impl Principal<'_> {
    /// Checks every permission `op` with this body needs against the key's policy; the first
    /// one missing is DynamoDB's AccessDeniedException.
    pub fn authorize(&self, op: Operation, body: &[u8]) -> Result<(), ApiError> {
        if self.key.allow.is_none() {
            return Ok(());
        }
        let (region, account) = (self.region, self.account_id);
        for access in accesses(op, body)? {
            let action = format!("dynamodb:{}", access.action);
            let resource = match access.resource {
                Resource::All => "*".to_string(),
                Resource::Table { name, index: None } => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
                Resource::Table { name, index: Some(index) } => {
                    format!("arn:aws:dynamodb:{region}:{account}:table/{name}/index/{index}")
                }
                Resource::Arn(arn) => arn,
            };
            if !self.key.allows(&action, &resource) {
                return Err(ApiError::new(
                    ErrorKind::AccessDenied,
                    format!(
                        "User: arn:aws:iam::{account}:user/{} is not authorized to perform: {action} on resource: \
                         {resource} because no identity-based policy allows the {action} action",
                        self.access_key_id
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// IAM's wildcard match: `*` matches any run of characters, `?` exactly one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            // Let the last `*` swallow one more character and retry from there.
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_does() {
        let cases = [
            ("dynamodb:*", "dynamodb:GetItem", true),
            ("dynamodb:Get*", "dynamodb:GetItem", true),
            ("dynamodb:Get*", "dynamodb:BatchGetItem", false),
            ("dynamodb:?etItem", "dynamodb:GetItem", true),
            ("dynamodb:GetItem", "dynamodb:GetItems", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("arn:aws:dynamodb:*:*:table/Music", "arn:aws:dynamodb:us-east-1:000000000000:table/Music", true),
            ("arn:aws:dynamodb:*:*:table/Music", "arn:aws:dynamodb:us-east-1:000000000000:table/Musical", false),
            ("arn:aws:dynamodb:*:*:table/*", "arn:aws:dynamodb:eu-west-1:1:table/T/index/I", true),
            ("arn:aws:dynamodb:*:*:table/T/index/*", "arn:aws:dynamodb:eu-west-1:1:table/T", false),
            ("a*b*c", "aXXbYYbc", true),
            ("a*b*c", "aXXbYYbcd", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(wildcard_match(pattern, text), expected, "{pattern} vs {text}");
        }
    }

    #[test]
    fn policies_allow_only_what_a_statement_names() {
        let creds = Credentials::parse(
            r#"{
              "ADMIN": {"secret_access_key": "s"},
              "READER": {"secret_access_key": "s", "allow": [
                {"actions": ["dynamodb:GetItem", "dynamodb:query"], "resources": ["arn:aws:dynamodb:*:*:table/T"]},
                {"actions": ["dynamodb:ListTables"], "resources": ["*"]}
              ]},
              "NOTHING": {"secret_access_key": "s", "allow": []}
            }"#,
        )
        .unwrap();
        let table = "arn:aws:dynamodb:us-east-1:000000000000:table/T";
        let admin = creds.find_key("ADMIN").unwrap();
        assert!(admin.allows("dynamodb:PutItem", table));
        let reader = creds.find_key("READER").unwrap();
        assert!(reader.allows("dynamodb:GetItem", table));
        assert!(reader.allows("dynamodb:Query", table), "actions compare without case");
        assert!(!reader.allows("dynamodb:PutItem", table));
        assert!(!reader.allows("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:000000000000:table/U"));
        assert!(reader.allows("dynamodb:ListTables", "*"));
        assert!(!creds.find_key("NOTHING").unwrap().allows("dynamodb:ListTables", "*"));
        assert!(creds.find_key("OTHER").is_none());
    }

    #[test]
    fn denials_read_like_iams() {
        let creds = Credentials::parse(
            r#"{"R": {"secret_access_key": "s", "allow": [
                {"actions": ["dynamodb:Get*", "dynamodb:Query"],
                 "resources": ["arn:aws:dynamodb:*:*:table/T", "arn:aws:dynamodb:*:*:table/T/index/*"]}]}}"#,
        )
        .unwrap();
        let principal = Principal {
            access_key_id: "R",
            key: creds.find_key("R").unwrap(),
            region: "eu-west-1",
            account_id: "000000000000",
        };
        assert!(principal.authorize(Operation::GetItem, br#"{"TableName":"T"}"#).is_ok());
        assert!(principal.authorize(Operation::Query, br#"{"TableName":"T","IndexName":"byDate"}"#).is_ok());
        let e = principal.authorize(Operation::PutItem, br#"{"TableName":"T"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        assert_eq!(
            e.message,
            "User: arn:aws:iam::000000000000:user/R is not authorized to perform: dynamodb:PutItem on resource: \
             arn:aws:dynamodb:eu-west-1:000000000000:table/T because no identity-based policy allows the dynamodb:PutItem action"
        );
        // A transaction needs each part's own action: the Get is allowed, the Put is not.
        let e = principal
            .authorize(Operation::TransactWriteItems, br#"{"TransactItems":[{"Put":{"TableName":"T"}}]}"#)
            .unwrap_err();
        assert!(e.message.contains("dynamodb:PutItem on resource"), "{}", e.message);
        assert!(principal
            .authorize(Operation::TransactGetItems, br#"{"TransactItems":[{"Get":{"TableName":"T"}}]}"#)
            .is_ok());
        let e = principal.authorize(Operation::ListTables, b"{}").unwrap_err();
        assert!(e.message.contains("dynamodb:ListTables on resource: * because"), "{}", e.message);
    }

    #[test]
    fn rejects_files_that_cannot_be_meant() {
        for (text, why) in [
            ("{}", "no access keys"),
            (r#"{"K": {"secret": "s"}}"#, "unknown field"),
            (r#"{"K": {"secret_access_key": ""}}"#, "empty secret_access_key"),
            (
                r#"{"K": {"secret_access_key": "s", "allow": [{"actions": ["s3:*"], "resources": ["*"]}]}}"#,
                "not a dynamodb action",
            ),
            ("{", "EOF"),
            ("[]", "expected a map"),
        ] {
            let e = Credentials::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
