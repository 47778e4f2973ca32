//! `ApiError`: the one error type that reaches a client, with DynamoDB's `__type` and status.

use std::fmt;

/// Every error kind Flywheel sends, named as DynamoDB names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Validation,
    Serialization,
    UnknownOperation,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
    AccessDenied,
    ResourceNotFound,
    ResourceInUse,
    TableNotFound,
    ConditionalCheckFailed,
    TransactionCanceled,
    TransactionConflict,
    TransactionInProgress,
    IdempotentParameterMismatch,
    LimitExceeded,
    ProvisionedThroughputExceeded,
    Throttling,
    ItemCollectionSizeLimitExceeded,
    RequestLimitExceeded,
    InternalServerError,
    ServiceUnavailable,
    TableAlreadyExists,
    TableInUse,
    InvalidRestoreTime,
    PointInTimeRecoveryUnavailable,
    ContinuousBackupsUnavailable,
    BackupNotFound,
    BackupInUse,
    /// DynamoDB Streams: a shard iterator older than 15 minutes.
    ExpiredIterator,
    /// DynamoDB Streams: a position older than the stream's retention.
    TrimmedDataAccess,
}

impl ErrorKind {
    /// The full `__type` DynamoDB sends: coral service errors and validation errors carry their
    /// own namespaces, DynamoDB's own exceptions the service's.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::Validation => "com.amazon.coral.validate#ValidationException",
            ErrorKind::Serialization => "com.amazon.coral.service#SerializationException",
            ErrorKind::UnknownOperation => "com.amazon.coral.service#UnknownOperationException",
            ErrorKind::MissingAuthenticationToken => "com.amazon.coral.service#MissingAuthenticationTokenException",
            ErrorKind::IncompleteSignature => "com.amazon.coral.service#IncompleteSignatureException",
            ErrorKind::InvalidSignature => "com.amazon.coral.service#InvalidSignatureException",
            ErrorKind::UnrecognizedClient => "com.amazon.coral.service#UnrecognizedClientException",
            ErrorKind::AccessDenied => "com.amazon.coral.service#AccessDeniedException",
            ErrorKind::Throttling => "com.amazon.coral.availability#ThrottlingException",
            ErrorKind::ResourceNotFound => "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            ErrorKind::ResourceInUse => "com.amazonaws.dynamodb.v20120810#ResourceInUseException",
            ErrorKind::TableNotFound => "com.amazonaws.dynamodb.v20120810#TableNotFoundException",
            ErrorKind::ConditionalCheckFailed => "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            ErrorKind::TransactionCanceled => "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            ErrorKind::TransactionConflict => "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
            ErrorKind::TransactionInProgress => "com.amazonaws.dynamodb.v20120810#TransactionInProgressException",
            ErrorKind::IdempotentParameterMismatch => {
                "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"
            }
            ErrorKind::LimitExceeded => "com.amazonaws.dynamodb.v20120810#LimitExceededException",
            ErrorKind::ProvisionedThroughputExceeded => {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            }
            ErrorKind::ItemCollectionSizeLimitExceeded => {
                "com.amazonaws.dynamodb.v20120810#ItemCollectionSizeLimitExceededException"
            }
            ErrorKind::RequestLimitExceeded => "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded",
            ErrorKind::InternalServerError => "com.amazonaws.dynamodb.v20120810#InternalServerError",
            ErrorKind::ServiceUnavailable => "com.amazonaws.dynamodb.v20120810#ServiceUnavailableException",
            ErrorKind::TableAlreadyExists => "com.amazonaws.dynamodb.v20120810#TableAlreadyExistsException",
            ErrorKind::TableInUse => "com.amazonaws.dynamodb.v20120810#TableInUseException",
            ErrorKind::InvalidRestoreTime => "com.amazonaws.dynamodb.v20120810#InvalidRestoreTimeException",
            ErrorKind::PointInTimeRecoveryUnavailable => {
                "com.amazonaws.dynamodb.v20120810#PointInTimeRecoveryUnavailableException"
            }
            ErrorKind::ContinuousBackupsUnavailable => {
                "com.amazonaws.dynamodb.v20120810#ContinuousBackupsUnavailableException"
            }
            ErrorKind::BackupNotFound => "com.amazonaws.dynamodb.v20120810#BackupNotFoundException",
            ErrorKind::BackupInUse => "com.amazonaws.dynamodb.v20120810#BackupInUseException",
            ErrorKind::ExpiredIterator => "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
            ErrorKind::TrimmedDataAccess => "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException",
        }
    }

    /// The short name after `#`.
    pub fn short_name(self) -> &'static str {
        let full = self.type_name();
        &full[full.find('#').map_or(0, |i| i + 1)..]
    }

    /// HTTP status DynamoDB answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InternalServerError => 500,
            ErrorKind::ServiceUnavailable => 503,
            _ => 400,
        }
    }

    /// DynamoDB spells the message member `message`, except in AccessDeniedException, which
    /// comes from the IAM authoriser and says `Message` (as error bodies recorded from the live
    /// service show). The SDKs read either spelling.
    pub fn message_member(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "Message",
            _ => "message",
        }
    }
}

/// An error as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// Extra top-level members (e.g. `Item` for a failed condition with ALL_OLD,
    /// `CancellationReasons` for a cancelled transaction), already encoded as JSON members.
    pub extra_json: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into(), extra_json: None }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Validation, message)
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Serialization, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::ResourceNotFound, message)
    }

    pub fn in_use(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::ResourceInUse, message)
    }

    pub fn internal() -> ApiError {
        ApiError::new(ErrorKind::InternalServerError, "Internal server error")
    }

    /// The table-not-found error of item operations.
    pub fn table_not_found() -> ApiError {
        ApiError::not_found("Requested resource not found")
    }

    pub fn conditional_check_failed() -> ApiError {
        ApiError::new(ErrorKind::ConditionalCheckFailed, "The conditional request failed")
    }

    /// The JSON body DynamoDB sends for this error.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::with_capacity(96 + self.message.len());
        out.push_str("{\"__type\":");
        out.push_str(&serde_json::to_string(self.kind.type_name()).unwrap_or_default());
        out.push_str(",\"");
        out.push_str(self.kind.message_member());
        out.push_str("\":");
        out.push_str(&serde_json::to_string(&self.message).unwrap_or_default());
        if let Some(extra) = &self.extra_json {
            out.push(',');
            out.push_str(extra);
        }
        out.push('}');
        out.into_bytes()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.short_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_dynamodb_error_shapes() {
        let e = ApiError::validation("bad \"x\"");
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad \"x\""}"#
        );
        let e = ApiError::new(ErrorKind::UnknownOperation, "");
        assert!(String::from_utf8(e.to_json()).unwrap().contains(r#""message":"""#));
        assert_eq!(ErrorKind::ConditionalCheckFailed.short_name(), "ConditionalCheckFailedException");
        assert_eq!(ErrorKind::InternalServerError.status(), 500);
        let e = ApiError::new(ErrorKind::AccessDenied, "no");
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"no"}"#
        );
    }
}
