//! What a request touches, for authorisation: the IAM actions it needs and the resource each
//! one applies to, read from the request body.
//!
//! Every [`Operation`] has a [`Rule`] (one exhaustive `match`, so a new operation cannot be
//! added without deciding how it is authorised). DynamoDB authorises most operations as the IAM
//! action of the same name on the table the request names. The exceptions: a Query or Scan of
//! an index is authorised on the index; a batch operation needs its action on every table in
//! `RequestItems`; a transaction needs the action of each of its parts (`Put` → `PutItem`,
//! `Update` → `UpdateItem`, `Delete` → `DeleteItem`, `ConditionCheck` → `ConditionCheckItem`,
//! `Get` → `GetItem`) on that part's table; the tag and resource-policy operations act on the
//! ARN they name; the Streams operations on the stream (GetRecords on the stream its shard
//! iterator reads, which only the engine can decode: [`Resource::ShardIterator`]); backups on
//! the backup's ARN; a restore on its source (backup or table) and on the target table, plus
//! the reads and writes on the target that the Developer Guide's "Using IAM with backup and
//! restore" lists; listing operations act on `*`, and their answers are narrowed by the server
//! to what the key may describe ([`Rule::Listing`]).
//!
//! A member that names the only resource and is missing is DynamoDB's validation error (the
//! request is invalid; nothing is read or written). An operation whose resources Flywheel
//! cannot derive ([`Rule::Underivable`]) yields no access list at all, and the server denies it
//! to every key that has a policy.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::constraints::Constraints;
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
    /// No particular resource (ListTables, DescribeLimits): IAM's `*`.
    All,
    /// A table of the request's region, or one of its indexes.
    Table { name: String, index: Option<String> },
    /// An ARN the request names itself: a table (tags), a stream, a backup.
    Arn(String),
    /// The stream a shard iterator reads; the server asks the engine, which made the iterator.
    ShardIterator(String),
}

/// What a listing shows, narrowed to the entries the caller may describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    /// ListTables: tables the key may `DescribeTable`.
    Tables,
    /// ListStreams: streams the key may `DescribeStream`.
    Streams,
    /// ListBackups: backups the key may `DescribeBackup`.
    Backups,
}

impl Listed {
    /// The action a key needs on an entry for the listing to show it.
    pub fn describe_action(self) -> &'static str {
        match self {
            Listed::Tables => "DescribeTable",
            Listed::Streams => "DescribeStream",
            Listed::Backups => "DescribeBackup",
        }
    }
}

/// How an operation's resources are found in its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The operation's own action on `*` (it names no resource).
    Account,
    /// The operation's own action on `*`; the answer lists only what the key may describe.
    Listing(Listed),
    /// `TableName`.
    Table,
    /// `TableName`, or its index when `IndexName` is given.
    TableOrIndex,
    /// Every table in `RequestItems`.
    RequestItems,
    /// Each part of `TransactItems`, with the part's own action.
    TransactItems,
    /// `ResourceArn`.
    ResourceArn,
    /// `StreamArn`.
    StreamArn,
    /// The stream of `ShardIterator`.
    ShardIterator,
    /// `BackupArn`.
    BackupArn,
    /// `BackupArn`, and `TargetTableName` with the target's reads and writes.
    RestoreFromBackup,
    /// The source table (`SourceTableName` or `SourceTableArn`), and `TargetTableName` with the
    /// target's reads and writes.
    RestoreToPointInTime,
    /// Flywheel cannot tell what the request touches (PartiQL statements, global tables,
    /// exports and imports, none of which it serves): denied to keys with a policy.
    Underivable,
}

/// The rule of each operation. No `_` arm: the compiler makes every new operation choose.
pub fn rule(op: Operation) -> Rule {
    use Operation::*;
    match op {
        DescribeLimits | DescribeEndpoints | ListExports | ListImports | ListGlobalTables | ListContributorInsights => {
            Rule::Account
        }
        ListTables => Rule::Listing(Listed::Tables),
        ListStreams => Rule::Listing(Listed::Streams),
        ListBackups => Rule::Listing(Listed::Backups),
        GetItem
        | PutItem
        | UpdateItem
        | DeleteItem
        | CreateTable
        | DescribeTable
        | UpdateTable
        | DeleteTable
        | CreateBackup
        | DescribeContinuousBackups
        | UpdateContinuousBackups
        | DescribeTimeToLive
        | UpdateTimeToLive
        | DescribeKinesisStreamingDestination
        | EnableKinesisStreamingDestination
        | DisableKinesisStreamingDestination
        | UpdateKinesisStreamingDestination
        | DescribeTableReplicaAutoScaling
        | UpdateTableReplicaAutoScaling => Rule::Table,
        Query | Scan | DescribeContributorInsights | UpdateContributorInsights => Rule::TableOrIndex,
        BatchGetItem | BatchWriteItem => Rule::RequestItems,
        TransactGetItems | TransactWriteItems => Rule::TransactItems,
        TagResource | UntagResource | ListTagsOfResource | GetResourcePolicy | PutResourcePolicy
        | DeleteResourcePolicy => Rule::ResourceArn,
        DescribeStream | GetShardIterator => Rule::StreamArn,
        GetRecords => Rule::ShardIterator,
        DescribeBackup | DeleteBackup => Rule::BackupArn,
        RestoreTableFromBackup => Rule::RestoreFromBackup,
        RestoreTableToPointInTime => Rule::RestoreToPointInTime,
        ExecuteStatement
        | BatchExecuteStatement
        | ExecuteTransaction
        | CreateGlobalTable
        | DescribeGlobalTable
        | DescribeGlobalTableSettings
        | UpdateGlobalTable
        | UpdateGlobalTableSettings
        | DescribeExport
        | ExportTableToPointInTime
        | ImportTable
        | DescribeImport => Rule::Underivable,
    }
}

/// Whether the operation may change data or configuration (IAM's Write, Tagging and
/// Permissions-management access levels), as opposed to only reading or listing. Such a
/// request must have its payload signed.
pub fn changes_data(op: Operation) -> bool {
    use Operation::*;
    match op {
        BatchGetItem
        | DescribeBackup
        | DescribeContinuousBackups
        | DescribeContributorInsights
        | DescribeEndpoints
        | DescribeExport
        | DescribeGlobalTable
        | DescribeGlobalTableSettings
        | DescribeImport
        | DescribeKinesisStreamingDestination
        | DescribeLimits
        | DescribeStream
        | DescribeTable
        | DescribeTableReplicaAutoScaling
        | DescribeTimeToLive
        | GetItem
        | GetRecords
        | GetResourcePolicy
        | GetShardIterator
        | ListBackups
        | ListContributorInsights
        | ListExports
        | ListGlobalTables
        | ListImports
        | ListStreams
        | ListTables
        | ListTagsOfResource
        | Query
        | Scan
        | TransactGetItems => false,
        BatchExecuteStatement
        | BatchWriteItem
        | CreateBackup
        | CreateGlobalTable
        | CreateTable
        | DeleteBackup
        | DeleteItem
        | DeleteResourcePolicy
        | DeleteTable
        | DisableKinesisStreamingDestination
        | EnableKinesisStreamingDestination
        | ExecuteStatement
        | ExecuteTransaction
        | ExportTableToPointInTime
        | ImportTable
        | PutItem
        | PutResourcePolicy
        | RestoreTableFromBackup
        | RestoreTableToPointInTime
        | TagResource
        | TransactWriteItems
        | UntagResource
        | UpdateContinuousBackups
        | UpdateContributorInsights
        | UpdateGlobalTable
        | UpdateGlobalTableSettings
        | UpdateItem
        | UpdateKinesisStreamingDestination
        | UpdateTable
        | UpdateTableReplicaAutoScaling
        | UpdateTimeToLive => true,
    }
}

/// What a restore target needs besides the restore action itself: the Developer Guide's
/// "DynamoDB read and write permissions on the target table are necessary".
pub const RESTORE_TARGET_ACTIONS: [&str; 7] =
    ["PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem"];

/// The members of any request that name what it touches; everything else is ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Targets {
    table_name: Option<String>,
    index_name: Option<String>,
    resource_arn: Option<String>,
    stream_arn: Option<String>,
    shard_iterator: Option<String>,
    backup_arn: Option<String>,
    target_table_name: Option<String>,
    source_table_name: Option<String>,
    source_table_arn: Option<String>,
    request_items: Option<TableNames>,
    transact_items: Option<Vec<TransactTarget>>,
}

/// The keys of `RequestItems`, every one of them: a name repeated in the JSON is authorised
/// each time it appears, whichever occurrence the operation ends up using.
#[derive(Default)]
struct TableNames(Vec<String>);

impl<'de> Deserialize<'de> for TableNames {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = TableNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TableNames, A::Error> {
                let mut names = Vec::new();
                while let Some((name, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    names.push(name);
                }
                Ok(TableNames(names))
            }
        }
        deserializer.deserialize_map(Keys)
    }
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

/// The one member that names the request's resource, or DynamoDB's validation error for its
/// absence.
fn required(path: &str, value: Option<String>) -> Result<String, ApiError> {
    let mut c = Constraints::new();
    c.required(path, &value);
    c.finish()?;
    Ok(value.unwrap_or_default())
}

/// The permissions `op` with this body needs, or `None` when Flywheel cannot derive them
/// ([`Rule::Underivable`]). A body that is not a JSON object of the right shape is a
/// SerializationException, as it would be for the operation itself.
pub fn accesses(op: Operation, body: &[u8]) -> Result<Option<Vec<Access>>, ApiError> {
    let targets: Targets = crate::decode(body)?;
    let action = op.name();
    let one = |resource| Ok(Some(vec![Access { action, resource }]));
    match rule(op) {
        Rule::Underivable => Ok(None),
        Rule::Account | Rule::Listing(_) => one(Resource::All),
        Rule::Table => one(table(required("tableName", targets.table_name)?)),
        Rule::TableOrIndex => {
            one(Resource::Table { name: required("tableName", targets.table_name)?, index: targets.index_name })
        }
        Rule::ResourceArn => one(Resource::Arn(required("resourceArn", targets.resource_arn)?)),
        Rule::StreamArn => one(Resource::Arn(required("streamArn", targets.stream_arn)?)),
        Rule::ShardIterator => one(Resource::ShardIterator(required("shardIterator", targets.shard_iterator)?)),
        Rule::BackupArn => one(Resource::Arn(required("backupArn", targets.backup_arn)?)),
        Rule::RequestItems => Ok(Some(
            targets
                .request_items
                .unwrap_or_default()
                .0
                .into_iter()
                .map(|name| Access { action, resource: table(name) })
                .collect(),
        )),
        Rule::TransactItems => {
            let mut out = Vec::new();
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
            Ok(Some(out))
        }
        Rule::RestoreFromBackup => {
            let mut c = Constraints::new();
            c.required("targetTableName", &targets.target_table_name);
            c.required("backupArn", &targets.backup_arn);
            c.finish()?;
            let (backup, target) =
                (targets.backup_arn.unwrap_or_default(), targets.target_table_name.unwrap_or_default());
            let mut out = vec![Access { action, resource: Resource::Arn(backup) }];
            out.extend(restore_target(action, target));
            Ok(Some(out))
        }
        Rule::RestoreToPointInTime => {
            let source = crate::model::RestoreInput {
                source_table_name: targets.source_table_name,
                source_table_arn: targets.source_table_arn,
                ..Default::default()
            }
            .source_table_name();
            let Some(source) = source else {
                return Err(ApiError::validation("Either SourceTableArn or SourceTableName must be specified"));
            };
            let target = required("targetTableName", targets.target_table_name)?;
            let mut out = vec![Access { action, resource: table(source) }];
            out.extend(restore_target(action, target));
            Ok(Some(out))
        }
    }
}

/// A restore's target table: the restore action itself, then the reads and writes.
fn restore_target(action: &'static str, target: String) -> Vec<Access> {
    std::iter::once(action)
        .chain(RESTORE_TARGET_ACTIONS)
        .map(|action| Access { action, resource: table(target.clone()) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn shown(accesses: Vec<Access>) -> Vec<(String, String)> {
        accesses
            .into_iter()
            .map(|a| {
                let resource = match a.resource {
                    Resource::All => "*".to_string(),
                    Resource::Table { name, index: None } => format!("table/{name}"),
                    Resource::Table { name, index: Some(i) } => format!("table/{name}/index/{i}"),
                    Resource::Arn(arn) => arn,
                    Resource::ShardIterator(it) => format!("iterator {it}"),
                };
                (a.action.to_string(), resource)
            })
            .collect()
    }

    fn check(op: Operation, body: &str, expected: &[(&str, &str)]) {
        let got = accesses(op, body.as_bytes())
            .unwrap_or_else(|e| panic!("{op:?} {body}: {e}"))
            .unwrap_or_else(|| panic!("{op:?} is underivable"));
        let expected: Vec<(String, String)> = expected.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
        assert_eq!(shown(got), expected, "{op:?} {body}");
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
            &[("BatchWriteItem", "table/B"), ("BatchWriteItem", "table/A")],
        );
        check(BatchGetItem, r#"{"RequestItems":{"A":{"Keys":[]}}}"#, &[("BatchGetItem", "table/A")]);
        // A repeated name is authorised as often as it appears.
        check(
            BatchGetItem,
            r#"{"RequestItems":{"A":{},"B":{},"A":{}}}"#,
            &[("BatchGetItem", "table/A"), ("BatchGetItem", "table/B"), ("BatchGetItem", "table/A")],
        );
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
        // A transaction part without a table touches nothing; validation rejects it.
        check(TransactWriteItems, r#"{"TransactItems":[{}]}"#, &[]);
    }

    #[test]
    fn streams_backups_and_restores_name_their_resources() {
        use Operation::*;
        let stream = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2026-01-01T00:00:00.000";
        check(DescribeStream, &format!(r#"{{"StreamArn":"{stream}"}}"#), &[("DescribeStream", stream)]);
        check(
            GetShardIterator,
            &format!(r#"{{"StreamArn":"{stream}","ShardId":"s","ShardIteratorType":"LATEST"}}"#),
            &[("GetShardIterator", stream)],
        );
        check(GetRecords, r#"{"ShardIterator":"it"}"#, &[("GetRecords", "iterator it")]);
        check(ListStreams, r#"{"TableName":"T"}"#, &[("ListStreams", "*")]);
        let backup = "arn:aws:dynamodb:us-east-1:000000000000:table/T/backup/01";
        check(DescribeBackup, &format!(r#"{{"BackupArn":"{backup}"}}"#), &[("DescribeBackup", backup)]);
        check(DeleteBackup, &format!(r#"{{"BackupArn":"{backup}"}}"#), &[("DeleteBackup", backup)]);
        let target = |action: &'static str| -> Vec<(&'static str, &'static str)> {
            std::iter::once(action).chain(RESTORE_TARGET_ACTIONS).map(|a| (a, "table/New")).collect()
        };
        let mut want = vec![("RestoreTableFromBackup", backup)];
        want.extend(target("RestoreTableFromBackup"));
        check(RestoreTableFromBackup, &format!(r#"{{"BackupArn":"{backup}","TargetTableName":"New"}}"#), &want);
        let mut want = vec![("RestoreTableToPointInTime", "table/T")];
        want.extend(target("RestoreTableToPointInTime"));
        check(RestoreTableToPointInTime, r#"{"SourceTableName":"T","TargetTableName":"New"}"#, &want);
        // By ARN, the source is the table the engine restores from: the name in the ARN, in the
        // request's own region (an ARN naming another region cannot widen what is checked).
        let other = "arn:aws:dynamodb:eu-west-1:000000000000:table/T";
        check(RestoreTableToPointInTime, &format!(r#"{{"SourceTableArn":"{other}","TargetTableName":"New"}}"#), &want);
    }

    #[test]
    fn a_missing_resource_member_is_the_validation_error() {
        for (op, member) in [
            (Operation::GetItem, "tableName"),
            (Operation::DescribeStream, "streamArn"),
            (Operation::GetRecords, "shardIterator"),
            (Operation::DeleteBackup, "backupArn"),
            (Operation::TagResource, "resourceArn"),
        ] {
            let e = accesses(op, b"{}").unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation, "{op:?}");
            assert!(e.message.contains(&format!("'{member}'")), "{op:?}: {}", e.message);
        }
    }

    /// Every operation has a rule, and every rule but `Underivable` yields a resource for a
    /// request that names everything. The `match` in [`rule`] is exhaustive, so the compiler
    /// already refuses an operation without one; this pins that no served operation slipped
    /// into `Underivable` and that no rule yields nothing for a well-formed request.
    #[test]
    fn every_operation_has_a_rule_that_yields_its_resources() {
        let everything = r#"{"TableName":"T","IndexName":"I","ResourceArn":"arn:aws:dynamodb:r:1:table/T",
            "StreamArn":"arn:aws:dynamodb:r:1:table/T/stream/L","ShardIterator":"it",
            "BackupArn":"arn:aws:dynamodb:r:1:table/T/backup/B","TargetTableName":"N","SourceTableName":"T",
            "RequestItems":{"T":{}},"TransactItems":[{"Get":{"TableName":"T"}}]}"#;
        let mut underivable = Vec::new();
        for &op in Operation::ALL {
            match accesses(op, everything.as_bytes()).unwrap() {
                None => underivable.push(op.name()),
                Some(list) => assert!(!list.is_empty(), "{op:?} yields no resource"),
            }
            // Defined for every operation (and exhaustive, like `rule`).
            let _ = changes_data(op);
        }
        assert_eq!(
            underivable,
            [
                "BatchExecuteStatement",
                "CreateGlobalTable",
                "DescribeExport",
                "DescribeGlobalTable",
                "DescribeGlobalTableSettings",
                "DescribeImport",
                "ExecuteStatement",
                "ExecuteTransaction",
                "ExportTableToPointInTime",
                "ImportTable",
                "UpdateGlobalTable",
                "UpdateGlobalTableSettings",
            ]
        );
        let mut names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Operation::ALL.len());
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_a_serialization_error() {
        for body in ["[1]", "{\"TableName\":5}", "{", "{\"RequestItems\":[]}"] {
            let e = accesses(Operation::GetItem, body.as_bytes()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Serialization, "{body}");
        }
    }
}
