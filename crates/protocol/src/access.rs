//! What a request touches, for authorisation: the IAM actions it needs and the table, index or
//! ARN each one applies to, read from the request body.
//!
//! DynamoDB authorises most operations as the IAM action of the same name on the table the
//! request names. The exceptions: a Query or Scan of an index is authorised on the index; a
//! batch operation needs its action on every table in `RequestItems`; a transaction needs the
//! action of each of its parts (`Put` → `PutItem`, `Update` → `UpdateItem`, `Delete` →
//! `DeleteItem`, `ConditionCheck` → `ConditionCheckItem`, `Get` → `GetItem`) on that part's table;
//! the tag operations act on the ARN they name; listing operations act on `*`.
//!
//! A member that is missing yields no access: the request is then invalid and validation, which
//! DynamoDB runs before authorisation, rejects it before anything is read or written.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::{ApiError, Operation};

/// One permission a request needs: an IAM action of the `dynamodb` service on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// The action's name without the `dynamodb:` prefix, e.g. `PutItem`.
    pub action: &'static str,
    pub resource: Resource,
}

/// What an action applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// No particular table (ListTables, DescribeLimits): IAM's `*`.
    All,
    /// A table, or one of its indexes.
    Table { name: String, index: Option<String> },
    /// An ARN the request names itself (TagResource and friends).
    Arn(String),
}

/// The members of any request that name what it touches; everything else is ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Targets {
    table_name: Option<String>,
    index_name: Option<String>,
    resource_arn: Option<String>,
    request_items: Option<BTreeMap<String, IgnoredAny>>,
    transact_items: Option<Vec<TransactTarget>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TransactTarget {
    put: Option<Named>,
    update: Option<Named>,
    delete: Option<Named>,
    condition_check: Option<Named>,
    get: Option<Named>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Named {
    table_name: Option<String>,
}

fn table(name: String) -> Resource {
    Resource::Table { name, index: None }
}

/// The permissions `op` with this body needs. A body that is not a JSON object of the right
/// shape is a SerializationException, as it would be for the operation itself.
pub fn accesses(op: Operation, body: &[u8]) -> Result<Vec<Access>, ApiError> {
    use Operation::*;
    let targets: Targets = crate::decode(body)?;
    let action = op.name();
    let mut out = Vec::new();
    match op {
        ListTables
        | DescribeLimits
        | DescribeEndpoints
        | ListBackups
        | ListExports
        | ListImports
        | ListGlobalTables
        | ListContributorInsights => out.push(Access { action, resource: Resource::All }),
        // PartiQL is authorised per statement kind (PartiQLSelect, …), which needs the statement
        // parsed; Flywheel does not serve PartiQL, so the operation's own name on `*` stands in.
        ExecuteStatement | BatchExecuteStatement | ExecuteTransaction => {
            out.push(Access { action, resource: Resource::All })
        }
        TagResource | UntagResource | ListTagsOfResource | GetResourcePolicy | PutResourcePolicy
        | DeleteResourcePolicy => {
            if let Some(arn) = targets.resource_arn {
                out.push(Access { action, resource: Resource::Arn(arn) });
            }
        }
        Query | Scan => {
            if let Some(name) = targets.table_name {
                out.push(Access { action, resource: Resource::Table { name, index: targets.index_name } });
            }
        }
        BatchGetItem | BatchWriteItem => {
            for name in targets.request_items.unwrap_or_default().into_keys() {
                out.push(Access { action, resource: table(name) });
            }
        }
        TransactWriteItems | TransactGetItems => {
            for item in targets.transact_items.unwrap_or_default() {
                let parts = [
                    ("PutItem", item.put),
                    ("UpdateItem", item.update),
                    ("DeleteItem", item.delete),
                    ("ConditionCheckItem", item.condition_check),
                    ("GetItem", item.get),
                ];
                for (action, part) in parts {
                    if let Some(name) = part.and_then(|p| p.table_name) {
                        out.push(Access { action, resource: table(name) });
                    }
                }
            }
        }
        _ => {
            if let Some(name) = targets.table_name {
                out.push(Access { action, resource: table(name) });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn check(op: Operation, body: &str, expected: &[(&str, &str)]) {
        let got: Vec<(String, String)> = accesses(op, body.as_bytes())
            .unwrap_or_else(|e| panic!("{op:?} {body}: {e}"))
            .into_iter()
            .map(|a| {
                let resource = match a.resource {
                    Resource::All => "*".to_string(),
                    Resource::Table { name, index: None } => format!("table/{name}"),
                    Resource::Table { name, index: Some(i) } => format!("table/{name}/index/{i}"),
                    Resource::Arn(arn) => arn,
                };
                (a.action.to_string(), resource)
            })
            .collect();
        let expected: Vec<(String, String)> = expected.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
        assert_eq!(got, expected, "{op:?} {body}");
    }

    #[test]
    fn names_the_tables_each_operation_touches() {
        use Operation::*;
        check(GetItem, r#"{"TableName":"T","Key":{"pk":{"S":"a"}}}"#, &[("GetItem", "table/T")]);
        check(PutItem, r#"{"TableName":"T","Item":{}}"#, &[("PutItem", "table/T")]);
        check(CreateTable, r#"{"TableName":"New"}"#, &[("CreateTable", "table/New")]);
        check(ListTables, "", &[("ListTables", "*")]);
        check(ListTables, r#"{"Limit":3}"#, &[("ListTables", "*")]);
        check(Query, r#"{"TableName":"T"}"#, &[("Query", "table/T")]);
        check(Query, r#"{"TableName":"T","IndexName":"byDate"}"#, &[("Query", "table/T/index/byDate")]);
        check(Scan, r#"{"TableName":"T","IndexName":"g"}"#, &[("Scan", "table/T/index/g")]);
        check(
            BatchWriteItem,
            r#"{"RequestItems":{"B":[],"A":[{"PutRequest":{}}]}}"#,
            &[("BatchWriteItem", "table/A"), ("BatchWriteItem", "table/B")],
        );
        check(BatchGetItem, r#"{"RequestItems":{"A":{"Keys":[]}}}"#, &[("BatchGetItem", "table/A")]);
        check(
            TransactWriteItems,
            r#"{"TransactItems":[{"Put":{"TableName":"A"}},{"Update":{"TableName":"B"}},
                {"Delete":{"TableName":"C"}},{"ConditionCheck":{"TableName":"D"}}]}"#,
            &[
                ("PutItem", "table/A"),
                ("UpdateItem", "table/B"),
                ("DeleteItem", "table/C"),
                ("ConditionCheckItem", "table/D"),
            ],
        );
        check(TransactGetItems, r#"{"TransactItems":[{"Get":{"TableName":"A"}}]}"#, &[("GetItem", "table/A")]);
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/T";
        check(TagResource, &format!(r#"{{"ResourceArn":"{arn}","Tags":[]}}"#), &[("TagResource", arn)]);
        // Missing members: validation rejects the request before anything is touched.
        check(GetItem, "{}", &[]);
        check(TransactWriteItems, r#"{"TransactItems":[{}]}"#, &[]);
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_a_serialization_error() {
        for body in ["[1]", "{\"TableName\":5}", "{", "{\"RequestItems\":[]}"] {
            let e = accesses(Operation::GetItem, body.as_bytes()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Serialization, "{body}");
        }
    }
}
