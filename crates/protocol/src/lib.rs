//! The wire protocol of DynamoDB's JSON 1.0 API, and nothing else.
//!
//! What it owns: the `X-Amz-Target` → [`Operation`] table, the typed request/response model
//! ([`model`]), decoding request bodies once into typed values (structure errors become
//! SerializationException, value errors ValidationException), the request-shape constraint
//! messages ([`constraints`]), the single [`ApiError`] with DynamoDB's `__type` and status, and
//! which IAM actions on which tables a request needs ([`access`], for the server's policies).
//!
//! What it does not know: tables, storage, expressions' meaning, HTTP framing.

pub mod access;
pub mod constraints;
pub mod error;
pub mod model;
pub mod wire;

pub use error::{ApiError, ErrorKind};

/// The DynamoDB JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// Every DynamoDB operation Flywheel recognises.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Operation { $($name),* }

        impl Operation {
            /// Parses the part of `X-Amz-Target` after `DynamoDB_20120810.`.
            pub fn from_name(name: &str) -> Option<Operation> {
                match name { $(stringify!($name) => Some(Operation::$name),)* _ => None }
            }

            /// The operation's name.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),* }
            }

            /// Every operation.
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];
        }
    };
}

operations!(
    BatchExecuteStatement,
    BatchGetItem,
    BatchWriteItem,
    CreateBackup,
    CreateGlobalTable,
    CreateTable,
    DeleteBackup,
    DeleteItem,
    DeleteResourcePolicy,
    DeleteTable,
    DescribeBackup,
    DescribeContinuousBackups,
    DescribeContributorInsights,
    DescribeEndpoints,
    DescribeExport,
    DescribeGlobalTable,
    DescribeGlobalTableSettings,
    DescribeImport,
    DescribeKinesisStreamingDestination,
    DescribeLimits,
    DescribeStream,
    DescribeTable,
    DescribeTableReplicaAutoScaling,
    DescribeTimeToLive,
    DisableKinesisStreamingDestination,
    EnableKinesisStreamingDestination,
    ExecuteStatement,
    ExecuteTransaction,
    ExportTableToPointInTime,
    GetItem,
    GetRecords,
    GetResourcePolicy,
    GetShardIterator,
    ImportTable,
    ListBackups,
    ListContributorInsights,
    ListExports,
    ListGlobalTables,
    ListImports,
    ListStreams,
    ListTables,
    ListTagsOfResource,
    PutItem,
    PutResourcePolicy,
    Query,
    RestoreTableFromBackup,
    RestoreTableToPointInTime,
    Scan,
    TagResource,
    TransactGetItems,
    TransactWriteItems,
    UntagResource,
    UpdateContinuousBackups,
    UpdateContributorInsights,
    UpdateGlobalTable,
    UpdateGlobalTableSettings,
    UpdateItem,
    UpdateKinesisStreamingDestination,
    UpdateTable,
    UpdateTableReplicaAutoScaling,
    UpdateTimeToLive,
);

/// The `X-Amz-Target` prefix of the DynamoDB API.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// The `X-Amz-Target` prefix of the DynamoDB Streams API (same endpoint, same signing name).
pub const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";

impl Operation {
    /// Whether the operation belongs to the DynamoDB Streams API rather than DynamoDB's.
    pub fn is_streams(self) -> bool {
        matches!(
            self,
            Operation::DescribeStream | Operation::GetRecords | Operation::GetShardIterator | Operation::ListStreams
        )
    }
}

/// Parses an `X-Amz-Target` header: `DynamoDB_20120810.<op>` or `DynamoDBStreams_20120810.<op>`.
pub fn parse_target(target: &str) -> Result<Operation, ApiError> {
    let found = if let Some(name) = target.strip_prefix(TARGET_PREFIX) {
        Operation::from_name(name).filter(|op| !op.is_streams())
    } else if let Some(name) = target.strip_prefix(STREAMS_TARGET_PREFIX) {
        Operation::from_name(name).filter(|op| op.is_streams())
    } else {
        None
    };
    found.ok_or_else(|| ApiError::new(ErrorKind::UnknownOperation, ""))
}

/// Decodes a request body into its typed request.
pub fn decode<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    decode_inner(body, false)
}

/// Like [`decode`], for operations where DynamoDB wraps attribute-value errors in its
/// "1 validation error detected: " envelope (PutItem).
pub fn decode_enveloped<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    decode_inner(body, true)
}

fn decode_inner<'a, T: serde::Deserialize<'a>>(body: &'a [u8], envelope: bool) -> Result<T, ApiError> {
    // An empty body is an empty request object, as DynamoDB treats it.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        if let Some(start) = msg.find(wire::VALIDATION_MARKER) {
            let rest = &msg[start + wire::VALIDATION_MARKER.len()..];
            // serde_json appends " at line L column C"; DynamoDB's message has no position.
            let end = rest.rfind(" at line ").unwrap_or(rest.len());
            // Some messages carry the envelope in every operation (attribute names too long).
            if envelope && !rest.starts_with("1 validation error detected: ") {
                ApiError::validation(format!("1 validation error detected: {}", &rest[..end]))
            } else {
                ApiError::validation(&rest[..end])
            }
        } else {
            ApiError::serialization(serialization_message(&e))
        }
    })
}

/// DynamoDB-style wording for a structural JSON problem.
fn serialization_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if e.is_syntax() || e.is_eof() {
        return "Unexpected character or end of input in request body".to_string();
    }
    let found = |what: &str| msg.contains(&format!("invalid type: {what}"));
    if found("map") {
        "Start of structure or map found where not expected.".to_string()
    } else if found("sequence") {
        "Start of list found where not expected".to_string()
    } else if found("integer") || found("floating point") {
        if msg.contains("expected a boolean") {
            "NUMBER_VALUE cannot be converted to Boolean".to_string()
        } else {
            "NUMBER_VALUE cannot be converted to String".to_string()
        }
    } else if found("string") {
        if msg.contains("expected a boolean") {
            "STRING_VALUE can not be converted to a Boolean".to_string()
        } else if msg.contains("expected i64") || msg.contains("expected u64") || msg.contains("expected f64") {
            "STRING_VALUE can not be converted to a Long".to_string()
        } else {
            "Unexpected field type".to_string()
        }
    } else if found("boolean") {
        if msg.contains("expected a string") {
            "TRUE_VALUE cannot be converted to String".to_string()
        } else {
            "Unexpected field type".to_string()
        }
    } else {
        let end = msg.rfind(" at line ").unwrap_or(msg.len());
        msg[..end].to_string()
    }
}

/// Encodes a response.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own model cannot fail: no maps with non-string keys, no foreign types.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// The `x-amz-crc32` header value for a response body.
pub fn crc32(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_types::AttributeValue;

    fn decode_put(body: &str) -> Result<model::PutItemInput, ApiError> {
        decode(body.as_bytes())
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("DynamoDB_20120810.PutItem").unwrap(), Operation::PutItem);
        assert_eq!(parse_target("DynamoDB_20120810.Nope").unwrap_err().kind, ErrorKind::UnknownOperation);
        assert_eq!(parse_target("Other.PutItem").unwrap_err().kind, ErrorKind::UnknownOperation);
    }

    #[test]
    fn decodes_every_value_type() {
        let body = r#"{"TableName":"t","Item":{"s":{"S":"x"},"n":{"N":"1.50"},"b":{"B":"AAE="},"t":{"BOOL":true},
            "z":{"NULL":true},"m":{"M":{"a":{"L":[{"S":"y"}]}}},"ss":{"SS":["a","b"]},"ns":{"NS":["1","2"]},
            "bs":{"BS":["AA=="]}}}"#;
        let input = decode_put(body).unwrap();
        let item = input.item.unwrap();
        assert_eq!(item.len(), 9);
        assert_eq!(item["n"], AttributeValue::N("1.5".parse().unwrap()));
        assert_eq!(item["b"], AttributeValue::B(vec![0, 1]));
        let out = String::from_utf8(encode(&model::ItemOutput { item: Some(item), ..Default::default() })).unwrap();
        assert!(out.contains(r#""n":{"N":"1.5"}"#), "{out}");
        assert!(out.contains(r#""b":{"B":"AAE="}"#), "{out}");
    }

    #[test]
    fn value_errors_are_validation_errors() {
        let cases = [
            (r#"{"Item":{"a":{}}}"#, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
            (
                r#"{"Item":{"a":{"S":"x","N":"1"}}}"#,
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ),
            (r#"{"Item":{"a":{"N":"abc"}}}"#, "The parameter cannot be converted to a numeric value: abc"),
            (
                r#"{"Item":{"a":{"N":"1e126"}}}"#,
                "Number overflow. Attempting to store a number with magnitude larger than supported range",
            ),
            (r#"{"Item":{"a":{"SS":[]}}}"#, "One or more parameter values were invalid: An string set  may not be empty"),
            (
                r#"{"Item":{"a":{"NULL":false}}}"#,
                "One or more parameter values were invalid: Null attribute value types must have the value of true",
            ),
        ];
        for (body, want) in cases {
            let e = decode_put(body).unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Validation, want), "{body}");
        }
    }

    #[test]
    fn attribute_names_are_at_most_65535_bytes() {
        // Item names at any depth; placeholders in ExpressionAttributeValues are not names. The
        // message carries DynamoDB's envelope once, in PutItem's enveloped decoding too.
        let ok = "n".repeat(65_535);
        let long = "n".repeat(65_536);
        let want = "1 validation error detected: Attribute name is too large, must be less than 65536 bytes";
        assert!(decode_put(&format!(r#"{{"Item":{{"{ok}":{{"M":{{"{ok}":{{"S":"x"}}}}}}}}}}"#)).is_ok());
        for body in [
            format!(r#"{{"Item":{{"{long}":{{"S":"x"}}}}}}"#),
            format!(r#"{{"Item":{{"m":{{"M":{{"{long}":{{"S":"x"}}}}}}}}}}"#),
        ] {
            let e = decode_put(&body).unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Validation, want));
            let e = decode_enveloped::<model::PutItemInput>(body.as_bytes()).unwrap_err();
            assert_eq!(e.message, want);
        }
        let key = format!(r#"{{"Key":{{"{long}":{{"S":"x"}}}}}}"#);
        assert_eq!(decode::<model::GetItemInput>(key.as_bytes()).unwrap_err().message, want);
        let values = format!(r#"{{"ExpressionAttributeValues":{{":{long}":{{"S":"x"}}}}}}"#);
        assert!(decode::<model::PutItemInput>(values.as_bytes()).is_ok());
    }

    #[test]
    fn structure_errors_are_serialization_errors() {
        for body in [r#"{"TableName":5}"#, r#"{"Item":{"a":{"S":5}}}"#, "{not json", r#"{"Item":[]}"#] {
            assert_eq!(decode_put(body).unwrap_err().kind, ErrorKind::Serialization, "{body}");
        }
        assert_eq!(
            decode_put(r#"{"TableName":{}}"#).unwrap_err().message,
            "Start of structure or map found where not expected."
        );
    }

    #[test]
    fn crc_matches_known_value() {
        assert_eq!(crc32(b"{}"), 0xa3a6_bf43);
    }
}
