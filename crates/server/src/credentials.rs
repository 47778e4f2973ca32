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
//! A key without `allow` or `deny` has no policy and may do everything. A key with a policy is
//! evaluated as IAM evaluates one: a `deny` statement matching the request refuses it (explicit
//! deny wins); otherwise an `allow` statement must match (a key with `deny` but no `allow`
//! allows everything not denied); otherwise it is refused. A statement matches an action on a
//! resource when one of its `actions` matches the action (without regard to case) and one of its
//! `resources` matches the resource's ARN. In both, `*` stands for any run of characters and `?`
//! for one; a resource pattern is `*` or an ARN, matched segment by segment (the five
//! colon-separated parts `arn:aws:dynamodb:REGION:ACCOUNT`, where a wildcard never crosses a
//! colon, then the resource path `table/T/...`, where `*` matches anything, `/` and `:`
//! included, as IAM's does). There are no conditions.
//!
//! What a request needs is [`flywheel_protocol::access`]'s: every operation has a rule; an
//! operation whose resources cannot be derived is refused to any key with a policy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use flywheel_engine::ListingFilter;
use flywheel_protocol::access::{accesses, rule, Listed, Resource, Rule};
use flywheel_protocol::{ApiError, ErrorKind, Operation};
use serde::Deserialize;

/// Every known access key.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: HashMap<String, Arc<Key>>,
}

/// One access key's entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub secret_access_key: String,
    /// `None`: everything not denied is allowed.
    #[serde(default)]
    pub allow: Option<Vec<Statement>>,
    /// Explicit denials; they win over any allow.
    #[serde(default)]
    pub deny: Vec<Statement>,
}

/// One allow or deny statement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Statement {
    fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && self.resources.iter().any(|pattern| resource_match(pattern, resource))
    }
}

/// What a policy decides for one action on one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No allow statement matches.
    NotAllowed,
    /// A deny statement matches.
    Denied,
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
            for statement in key.allow.iter().flatten().chain(&key.deny) {
                if let Some(a) =
                    statement.actions.iter().find(|a| !a.to_ascii_lowercase().starts_with("dynamodb:") && *a != "*")
                {
                    return Err(format!(
                        "access key {id}: action {a:?} is not a dynamodb action (dynamodb:NAME, wildcards allowed)"
                    ));
                }
                // IAM refuses a malformed ARN; so do we, rather than let it match nothing.
                if let Some(r) = statement.resources.iter().find(|r| *r != "*" && r.splitn(6, ':').count() != 6) {
                    return Err(format!(
                        "access key {id}: resource {r:?} is neither * nor an ARN \
                         (arn:aws:dynamodb:REGION:ACCOUNT:RESOURCE, wildcards allowed)"
                    ));
                }
            }
        }
        Ok(Credentials { keys: keys.into_iter().map(|(id, key)| (id, Arc::new(key))).collect() })
    }

    pub fn find_key(&self, access_key_id: &str) -> Option<&Arc<Key>> {
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
    /// Whether the key has a policy at all (keys without one may do everything).
    pub fn has_policy(&self) -> bool {
        self.allow.is_some() || !self.deny.is_empty()
    }

    /// IAM's evaluation of `action` (`dynamodb:PutItem`) on `resource` (an ARN, or `*`):
    /// explicit deny, then allow, else not allowed.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        if self.deny.iter().any(|s| s.matches(action, resource)) {
            return Decision::Denied;
        }
        match &self.allow {
            None => Decision::Allowed,
            Some(statements) if statements.iter().any(|s| s.matches(action, resource)) => Decision::Allowed,
            Some(_) => Decision::NotAllowed,
        }
    }

    /// Whether this key may perform `action` on `resource`.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.decide(action, resource) == Decision::Allowed
    }
}

/// Who is asking: a verified access key, in the region and account it addresses.
pub struct Principal<'a> {
    pub access_key_id: &'a str,
    pub key: &'a Arc<Key>,
    pub region: &'a str,
    pub account_id: &'a str,
}

impl Principal<'_> {
    fn table_arn(&self, name: &str) -> String {
        format!("arn:aws:dynamodb:{}:{}:table/{name}", self.region, self.account_id)
    }

    fn denied(&self, action: &str, resource: &str, why: &str) -> ApiError {
        ApiError::new(
            ErrorKind::AccessDenied,
            format!(
                "User: arn:aws:iam::{}:user/{} is not authorized to perform: {action} on resource: {resource} {why}",
                self.account_id, self.access_key_id
            ),
        )
    }

    /// Checks every permission `op` with this body needs against the key's policy; the first
    /// one missing is DynamoDB's AccessDeniedException. `stream_of_iterator` is the engine's
    /// reading of a shard iterator (the stream it reads), `None` if it is not one.
    pub fn authorize(
        &self,
        op: Operation,
        body: &[u8],
        stream_of_iterator: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ApiError> {
        if !self.key.has_policy() {
            return Ok(());
        }
        let Some(needed) = accesses(op, body)? else {
            let action = format!("dynamodb:{}", op.name());
            return Err(self.denied(
                &action,
                "*",
                "because Flywheel cannot tell which resources this request touches, so no key with a policy may \
                 perform it",
            ));
        };
        for access in needed {
            let action = format!("dynamodb:{}", access.action);
            let resource = match access.resource {
                Resource::All => "*".to_string(),
                Resource::Table { name, index: None } => self.table_arn(&name),
                Resource::Table { name, index: Some(index) } => format!("{}/index/{index}", self.table_arn(&name)),
                Resource::Arn(arn) => arn,
                // GetRecords on a text that is no iterator: the engine's own answer to it.
                Resource::ShardIterator(it) => {
                    stream_of_iterator(&it).ok_or_else(|| ApiError::validation("Invalid ShardIterator"))?
                }
            };
            match self.key.decide(&action, &resource) {
                Decision::Allowed => {}
                Decision::NotAllowed => {
                    let why = format!("because no identity-based policy allows the {action} action");
                    return Err(self.denied(&action, &resource, &why));
                }
                Decision::Denied => {
                    return Err(self.denied(&action, &resource, "with an explicit deny in an identity-based policy"))
                }
            }
        }
        Ok(())
    }

    /// For a listing operation and a key with a policy: the predicate on entries' ARNs that
    /// shows only what the key may describe. `None` when nothing is to be filtered.
    pub fn listing_filter(&self, op: Operation) -> Option<ListingFilter> {
        let Rule::Listing(listed) = rule(op) else { return None };
        if !self.key.has_policy() {
            return None;
        }
        let key = self.key.clone();
        let action = format!("dynamodb:{}", Listed::describe_action(listed));
        Some(ListingFilter(Arc::new(move |arn: &str| key.allows(&action, arn))))
    }
}

/// IAM's resource match: `*` matches every resource; otherwise pattern and ARN are compared
/// segment by segment, the first five (`arn`, partition, service, region, account) each on its
/// own so that no wildcard crosses a colon, the sixth (the resource path, colons and slashes
/// included) as a whole.
pub fn resource_match(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let resource: Vec<&str> = resource.splitn(6, ':').collect();
    pattern.len() == 6 && resource.len() == 6 && pattern.iter().zip(&resource).all(|(p, r)| wildcard_match(p, r))
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
        let authorize = |op, body: &[u8]| principal.authorize(op, body, |_| None);
        assert!(authorize(Operation::GetItem, br#"{"TableName":"T"}"#).is_ok());
        assert!(authorize(Operation::Query, br#"{"TableName":"T","IndexName":"byDate"}"#).is_ok());
        let e = authorize(Operation::PutItem, br#"{"TableName":"T"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        assert_eq!(
            e.message,
            "User: arn:aws:iam::000000000000:user/R is not authorized to perform: dynamodb:PutItem on resource: \
             arn:aws:dynamodb:eu-west-1:000000000000:table/T because no identity-based policy allows the dynamodb:PutItem action"
        );
        // A transaction needs each part's own action: the Get is allowed, the Put is not.
        let e =
            authorize(Operation::TransactWriteItems, br#"{"TransactItems":[{"Put":{"TableName":"T"}}]}"#).unwrap_err();
        assert!(e.message.contains("dynamodb:PutItem on resource"), "{}", e.message);
        assert!(authorize(Operation::TransactGetItems, br#"{"TransactItems":[{"Get":{"TableName":"T"}}]}"#).is_ok());
        let e = authorize(Operation::ListTables, b"{}").unwrap_err();
        assert!(e.message.contains("dynamodb:ListTables on resource: * because"), "{}", e.message);
    }

    #[test]
    fn resources_match_segment_by_segment() {
        let cases = [
            ("*", "arn:aws:dynamodb:r:1:table/T", true),
            ("*", "*", true),
            ("arn:aws:dynamodb:*:*:table/*", "*", false),
            ("arn:aws:dynamodb:us-east-1:*:table/*", "arn:aws:dynamodb:us-east-1:1:table/T", true),
            // The path is one segment: `*` matches slashes and the colons of a stream label.
            ("arn:aws:dynamodb:*:*:table/T*", "arn:aws:dynamodb:r:1:table/T/stream/2026-01-01T00:00:00.000", true),
            (
                "arn:aws:dynamodb:*:*:table/T/stream/*",
                "arn:aws:dynamodb:r:1:table/T/stream/2026-01-01T00:00:00.000",
                true,
            ),
            ("arn:aws:dynamodb:*:*:table/T/backup/*", "arn:aws:dynamodb:r:1:table/T/backup/0001-ab", true),
            ("arn:aws:dynamodb:*:*:table/T/backup/*", "arn:aws:dynamodb:r:1:table/U/backup/0001-ab", false),
            // No wildcard crosses a colon before the path: a region pattern stays a region.
            ("arn:aws:dynamodb:us-*:1:table/T", "arn:aws:dynamodb:us-east-1:1:table/T", true),
            ("arn:aws:dynamodb:*:1:table/T", "arn:aws:dynamodb:r:2:1:table/T", false),
            ("arn:aws:dynamodb:*", "arn:aws:dynamodb:r:1:table/T", false),
            ("arn:aws:dynamodb:r*:table/T", "arn:aws:dynamodb:r:1:table/T", false),
        ];
        for (pattern, resource, expected) in cases {
            assert_eq!(resource_match(pattern, resource), expected, "{pattern} vs {resource}");
        }
    }

    #[test]
    fn an_explicit_deny_wins() {
        let creds = Credentials::parse(
            r#"{"K": {"secret_access_key": "s",
                "allow": [{"actions": ["dynamodb:*"], "resources": ["arn:aws:dynamodb:*:*:table/*"]}],
                "deny": [{"actions": ["dynamodb:Delete*"], "resources": ["arn:aws:dynamodb:*:*:table/Keep"]}]},
               "D": {"secret_access_key": "s",
                "deny": [{"actions": ["dynamodb:GetItem"], "resources": ["*"]}]}}"#,
        )
        .unwrap();
        let key = creds.find_key("K").unwrap();
        let keep = "arn:aws:dynamodb:r:1:table/Keep";
        assert_eq!(key.decide("dynamodb:GetItem", keep), Decision::Allowed);
        assert_eq!(key.decide("dynamodb:DeleteItem", keep), Decision::Denied);
        assert_eq!(key.decide("dynamodb:DeleteItem", "arn:aws:dynamodb:r:1:table/Other"), Decision::Allowed);
        assert_eq!(key.decide("dynamodb:ListTables", "*"), Decision::NotAllowed);
        // Deny without allow: everything but what is denied.
        let deny_only = creds.find_key("D").unwrap();
        assert!(deny_only.has_policy());
        assert_eq!(deny_only.decide("dynamodb:PutItem", keep), Decision::Allowed);
        assert_eq!(deny_only.decide("dynamodb:GetItem", keep), Decision::Denied);
        let principal = Principal { access_key_id: "K", key, region: "r", account_id: "1" };
        let e = principal.authorize(Operation::DeleteTable, br#"{"TableName":"Keep"}"#, |_| None).unwrap_err();
        assert_eq!(
            e.message,
            "User: arn:aws:iam::1:user/K is not authorized to perform: dynamodb:DeleteTable on resource: \
             arn:aws:dynamodb:r:1:table/Keep with an explicit deny in an identity-based policy"
        );
    }

    #[test]
    fn streams_backups_and_underivable_operations() {
        let creds = Credentials::parse(
            r#"{"K": {"secret_access_key": "s", "allow": [{"actions": ["dynamodb:*"],
                "resources": ["arn:aws:dynamodb:*:*:table/Mine", "arn:aws:dynamodb:*:*:table/Mine/*", "*"]}]},
               "M": {"secret_access_key": "s", "allow": [{"actions": ["dynamodb:*"],
                "resources": ["arn:aws:dynamodb:*:*:table/Mine", "arn:aws:dynamodb:*:*:table/Mine/*"]}]}}"#,
        )
        .unwrap();
        let key = creds.find_key("M").unwrap();
        let principal = Principal { access_key_id: "M", key, region: "r", account_id: "1" };
        let mine = "arn:aws:dynamodb:r:1:table/Mine/stream/2026-01-01T00:00:00.000";
        let theirs = "arn:aws:dynamodb:r:1:table/Theirs/stream/2026-01-01T00:00:00.000";
        let iterator = |it: &str| Some(if it == "mine" { mine } else { theirs }.to_string());
        let body = |arn: &str| format!(r#"{{"StreamArn":"{arn}"}}"#).into_bytes();
        assert!(principal.authorize(Operation::DescribeStream, &body(mine), iterator).is_ok());
        assert!(principal.authorize(Operation::DescribeStream, &body(theirs), iterator).is_err());
        assert!(principal.authorize(Operation::GetRecords, br#"{"ShardIterator":"mine"}"#, iterator).is_ok());
        let e = principal.authorize(Operation::GetRecords, br#"{"ShardIterator":"theirs"}"#, iterator).unwrap_err();
        assert!(e.message.contains(&format!("dynamodb:GetRecords on resource: {theirs} ")), "{}", e.message);
        let e = principal.authorize(Operation::GetRecords, br#"{"ShardIterator":"x"}"#, |_| None).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Validation, "Invalid ShardIterator"));
        let backup = |t: &str| format!(r#"{{"BackupArn":"arn:aws:dynamodb:r:1:table/{t}/backup/01"}}"#).into_bytes();
        assert!(principal.authorize(Operation::DeleteBackup, &backup("Mine"), |_| None).is_ok());
        assert!(principal.authorize(Operation::DeleteBackup, &backup("Theirs"), |_| None).is_err());
        // Restoring needs the target table too.
        let restore = br#"{"SourceTableName":"Mine","TargetTableName":"Elsewhere"}"#;
        let e = principal.authorize(Operation::RestoreTableToPointInTime, restore, |_| None).unwrap_err();
        assert!(e.message.contains("table/Elsewhere"), "{}", e.message);
        // Listings show what the key may describe.
        let filter = principal.listing_filter(Operation::ListTables).unwrap();
        assert!((filter.0)("arn:aws:dynamodb:r:1:table/Mine"));
        assert!(!(filter.0)("arn:aws:dynamodb:r:1:table/Theirs"));
        assert!(principal.listing_filter(Operation::GetItem).is_none());
        // Whatever the policy, an operation whose resources cannot be derived is refused.
        let everything = creds.find_key("K").unwrap();
        let principal = Principal { access_key_id: "K", key: everything, region: "r", account_id: "1" };
        let e = principal.authorize(Operation::ExecuteStatement, b"{}", |_| None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AccessDenied);
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
            (
                r#"{"K": {"secret_access_key": "s", "allow": [{"actions": ["*"], "resources": ["arn:aws:dynamodb:*"]}]}}"#,
                "neither * nor an ARN",
            ),
            ("{", "EOF"),
            ("[]", "expected a map"),
        ] {
            let e = Credentials::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
