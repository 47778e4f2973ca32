//! DynamoDB Streams: the change log of a table, and the `DynamoDBStreams_20120810` API over it.
//!
//! A stream is one storage tree. Each of the table's partitions is one shard: a change's record
//! is keyed `shard (u16) ‖ sequence number (u64)`, both big-endian, and written by the
//! partition's writer in the same batch as the change, so a shard holds exactly the partition's
//! changes in the order they were made, each once. Sequence numbers come from one counter per
//! stream (seeded from the stream's creation time, so a later stream's numbers are higher) and
//! increase within every shard. The value is the record's creation time in milliseconds (u64),
//! then the record's JSON exactly as GetRecords returns it.
//!
//! Records older than the retention period (24 hours unless configured) are trimmed by the
//! maintenance task; each shard remembers the first sequence number it still holds, so a reader
//! asking for older data gets TrimmedDataAccessException rather than a silent gap. A disabled
//! stream's shards are closed (they get an ending sequence number) and the stream stays readable
//! until its records age out.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{
    DescribeStreamInput, GetRecordsInput, GetShardIteratorInput, KeySchemaElement, ListStreamsInput,
};
use flywheel_protocol::wire::WireItem;
use flywheel_protocol::{ApiError, ErrorKind};
use flywheel_storage::{TreeHandle, WriteBatch};
use flywheel_types::{item_size_bytes, Item};
use serde::{Deserialize, Serialize};

use crate::catalog::{stream_trim_key, KeySchema, TableRef, PARTITIONS_PER_TABLE};
use crate::{storage_error, Engine, RequestContext};

/// How long an iterator stays valid, as in DynamoDB Streams.
pub const SHARD_ITERATOR_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Most records GetRecords returns.
const GET_RECORDS_LIMIT_MAX: i64 = 1000;

/// Most bytes of records GetRecords returns.
const GET_RECORDS_BYTES_MAX: usize = 1024 * 1024;

/// Most streams ListStreams and shards DescribeStream return per page.
const LIST_LIMIT_MAX: i64 = 100;

const ITERATOR_TYPES: &[&str] = &["TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"];

/// Who made a change, for the record's `userIdentity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client request.
    Client,
    /// The TTL sweeper deleting an expired item.
    TimeToLive,
}

/// The durable description of one stream of a table, inside the table's metadata. On disk as
/// JSON; fields may be added with `#[serde(default)]`, never renamed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamMeta {
    pub label: String,
    pub view_type: String,
    pub tree: String,
    /// Seconds since the epoch.
    pub created: f64,
    #[serde(default)]
    pub disabled_at: Option<f64>,
    /// Per shard, the last sequence number it holds; set when the stream is disabled.
    #[serde(default)]
    pub ending: Option<Vec<u64>>,
}

/// A live stream.
pub struct Stream {
    pub meta: parking_lot::RwLock<StreamMeta>,
    pub arn: String,
    pub tree: TreeHandle,
    /// The first sequence number of every shard.
    pub start: u64,
    pub next_seq: AtomicU64,
    /// Per shard: the first sequence number not trimmed away.
    pub trimmed: Vec<AtomicU64>,
    pub shard_ids: Vec<String>,
    /// Shard indexes in ShardId order, the order DescribeStream lists them in.
    listing: Vec<usize>,
}

impl Stream {
    /// Opens a stream over its tree, recovering the sequence counter from the records.
    pub fn open(
        meta: StreamMeta,
        table_arn: &str,
        tree: TreeHandle,
        trimmed: &[u64],
    ) -> Result<Stream, flywheel_storage::StorageError> {
        let start = (meta.created * 1000.0) as u64 * 1_000_000;
        let mut next = start;
        for shard in 0..PARTITIONS_PER_TABLE {
            let (lo, hi) = shard_range(shard, start);
            if let Some(entry) = tree.range(Bound::Included(&lo), Bound::Excluded(&hi), true).next() {
                let (k, _) = entry?;
                next = next.max(seq_of(&k) + 1);
            }
        }
        // Trimming may have removed every record of a shard, and the trim point it left can lie
        // above every record still stored: new records must be numbered from there, or they
        // would fall below the trim point and never be read.
        next = trimmed.iter().fold(next, |n, &t| n.max(t));
        let created_ms = (meta.created * 1000.0) as u64;
        let shard_ids = (0..PARTITIONS_PER_TABLE)
            .map(|i| {
                let h = flywheel_types::key::hash_bytes(format!("{}/{}", meta.label, i).as_bytes());
                format!("shardId-{created_ms:020}-{h:08x}")
            })
            .collect::<Vec<String>>();
        let mut listing: Vec<usize> = (0..PARTITIONS_PER_TABLE).collect();
        listing.sort_by(|a, b| shard_ids[*a].cmp(&shard_ids[*b]));
        Ok(Stream {
            arn: format!("{table_arn}/stream/{}", meta.label),
            meta: parking_lot::RwLock::new(meta),
            tree,
            start,
            next_seq: AtomicU64::new(next),
            trimmed: (0..PARTITIONS_PER_TABLE).map(|i| AtomicU64::new(trimmed.get(i).copied().unwrap_or(0))).collect(),
            shard_ids,
            listing,
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.meta.read().disabled_at.is_none()
    }

    fn shard_of(&self, shard_id: &str) -> Option<usize> {
        self.shard_ids.iter().position(|s| s == shard_id)
    }

    /// The last sequence number a closed shard holds; `None` while the stream is enabled.
    fn ending(&self, shard: usize) -> Option<u64> {
        self.meta.read().ending.as_ref().map(|e| e.get(shard).copied().unwrap_or(self.start))
    }

    /// The last sequence number written to a shard so far.
    pub fn last_seq(&self, shard: usize) -> Result<Option<u64>, flywheel_storage::StorageError> {
        let (lo, hi) = shard_range(shard, self.start);
        match self.tree.range(Bound::Included(&lo), Bound::Excluded(&hi), true).next() {
            Some(entry) => Ok(Some(seq_of(&entry?.0))),
            None => Ok(None),
        }
    }
}

/// The key range of one shard, from sequence number `from`.
fn shard_range(shard: usize, from: u64) -> (Vec<u8>, Vec<u8>) {
    let mut lo = (shard as u16).to_be_bytes().to_vec();
    lo.extend_from_slice(&from.to_be_bytes());
    let hi = (shard as u16 + 1).to_be_bytes().to_vec();
    (lo, hi)
}

fn record_key(shard: usize, seq: u64) -> Vec<u8> {
    let mut k = (shard as u16).to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number in a record's key. `record_key` always writes 10 bytes; a shorter key can
/// only come from a damaged store, and reads as 0 (trimmed first) rather than panicking a reader.
fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    if let Some(seq) = key.get(2..10) {
        b.copy_from_slice(seq);
    }
    u64::from_be_bytes(b)
}

/// A stored record's value: its creation time in milliseconds, then its JSON. `None` for a value
/// too short to hold the time, which only a damaged store can hold.
fn split_record(value: &[u8]) -> Option<(u64, &[u8])> {
    let (ms, json) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*ms), json))
}

/// Sequence numbers as DynamoDB Streams shows them: decimal strings of 21 digits.
pub fn format_seq(seq: u64) -> String {
    format!("{seq:021}")
}

fn parse_seq(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.trim_start_matches('0').parse::<u64>().ok().or_else(|| s.bytes().all(|b| b == b'0').then_some(0))
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RecordBody<'a> {
    approximate_creation_date_time: u64,
    keys: WireItem<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_image: Option<WireItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_image: Option<WireItem<'a>>,
    sequence_number: String,
    size_bytes: usize,
    stream_view_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Identity {
    principal_id: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "eventName")]
    event_name: &'static str,
    #[serde(rename = "eventVersion")]
    event_version: &'static str,
    #[serde(rename = "eventSource")]
    event_source: &'static str,
    #[serde(rename = "awsRegion")]
    aws_region: &'a str,
    dynamodb: RecordBody<'a>,
    #[serde(rename = "userIdentity", skip_serializing_if = "Option::is_none")]
    user_identity: Option<Identity>,
}

/// Builds the stream record of one change (the storage key and value). Call under the
/// partition's writer: the sequence number is taken here.
pub(crate) fn record(
    stream: &Stream,
    schema: &KeySchema,
    region: &str,
    shard: usize,
    old: Option<&Item>,
    new: Option<&Item>,
    origin: Origin,
) -> (Vec<u8>, Vec<u8>) {
    let seq = stream.next_seq.fetch_add(1, Ordering::Relaxed);
    let view_type = stream.meta.read().view_type.clone();
    let source = new.or(old).expect("a change has an item before or after");
    let keys: Item =
        schema.names().into_iter().filter_map(|n| source.get(n).map(|v| (n.to_string(), v.clone()))).collect();
    let new_image = new.filter(|_| matches!(view_type.as_str(), "NEW_IMAGE" | "NEW_AND_OLD_IMAGES"));
    let old_image = old.filter(|_| matches!(view_type.as_str(), "OLD_IMAGE" | "NEW_AND_OLD_IMAGES"));
    let size_bytes =
        item_size_bytes(&keys) + new_image.map_or(0, item_size_bytes) + old_image.map_or(0, item_size_bytes);
    let now = now_millis();
    let id: [u8; 16] = rand::random();
    let record = Record {
        event_id: id.iter().map(|b| format!("{b:02x}")).collect(),
        event_name: match (old, new) {
            (None, _) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
        },
        event_version: "1.1",
        event_source: "aws:dynamodb",
        aws_region: region,
        dynamodb: RecordBody {
            approximate_creation_date_time: now / 1000,
            keys: WireItem(&keys),
            new_image: new_image.map(WireItem),
            old_image: old_image.map(WireItem),
            sequence_number: format_seq(seq),
            size_bytes,
            stream_view_type: &view_type,
        },
        user_identity: (origin == Origin::TimeToLive)
            .then_some(Identity { principal_id: "dynamodb.amazonaws.com", kind: "Service" }),
    };
    let mut value = now.to_be_bytes().to_vec();
    serde_json::to_writer(&mut value, &record).expect("records serialise");
    (record_key(shard, seq), value)
}

// ---------------------------------------------------------------- the Streams API

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSummary {
    stream_arn: String,
    table_name: String,
    stream_label: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    streams: Vec<StreamSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_stream_arn: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SequenceNumberRange {
    starting_sequence_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ending_sequence_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Shard {
    shard_id: String,
    sequence_number_range: SequenceNumberRange,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StreamDescription {
    stream_arn: String,
    stream_label: String,
    stream_status: &'static str,
    stream_view_type: String,
    creation_request_date_time: f64,
    table_name: String,
    key_schema: Vec<KeySchemaElement>,
    shards: Vec<Shard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_shard_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamOutput {
    stream_description: StreamDescription,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorOutput {
    shard_iterator: String,
}

/// A position in a shard, handed to clients as an opaque string.
struct Iterator {
    stream_arn: String,
    shard: usize,
    /// The next sequence number to read (inclusive).
    position: u64,
    issued_ms: u64,
}

impl Iterator {
    fn encode(&self) -> String {
        format!("{}|{}|{}|{}", self.stream_arn, self.shard, self.position, self.issued_ms)
    }

    fn decode(s: &str) -> Option<Iterator> {
        let mut parts = s.rsplitn(4, '|');
        let issued_ms = parts.next()?.parse().ok()?;
        let position = parts.next()?.parse().ok()?;
        let shard = parts.next()?.parse().ok()?;
        let stream_arn = parts.next()?.to_string();
        (shard < PARTITIONS_PER_TABLE).then_some(Iterator { stream_arn, shard, position, issued_ms })
    }
}

/// The ARN of the stream a shard iterator reads, as GetRecords will read it; `None` if the
/// text is not an iterator. Authorisation checks this stream, so it must be what GetRecords
/// decodes: both go through [`Iterator::decode`].
pub fn shard_iterator_stream_arn(shard_iterator: &str) -> Option<String> {
    Iterator::decode(shard_iterator).map(|it| it.stream_arn)
}

fn stream_not_found(arn: &str) -> ApiError {
    ApiError::not_found(format!("Requested resource not found: Stream: {arn} not found"))
}

fn trimmed_error() -> ApiError {
    ApiError::new(
        ErrorKind::TrimmedDataAccess,
        "The operation attempted to read past the oldest stream record in a shard.",
    )
}

impl Engine {
    /// Finds a stream by ARN: `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`.
    fn find_stream(&self, ctx: &RequestContext, arn: &str) -> Result<(TableRef, Arc<Stream>), ApiError> {
        let (table_arn, label) = arn.rsplit_once("/stream/").ok_or_else(|| stream_not_found(arn))?;
        let name = table_arn.rsplit_once(":table/").map(|(_, n)| n).ok_or_else(|| stream_not_found(arn))?;
        // The table now under that name, or a deleted one (the same name can have had several).
        let mut candidates: Vec<TableRef> =
            self.find_table(&ctx.region, name).filter(|t| t.meta.read().arn == table_arn).into_iter().collect();
        candidates.extend(
            self.retired
                .read()
                .iter()
                .filter(|((region, _), t)| *region == ctx.region && t.meta.read().arn == table_arn)
                .map(|(_, t)| t.clone()),
        );
        for table in candidates {
            let stream = table.streams.read().iter().find(|s| s.meta.read().label == label).cloned();
            if let Some(stream) = stream {
                return Ok((table, stream));
            }
        }
        Err(stream_not_found(arn))
    }

    pub fn list_streams(&self, ctx: &RequestContext, input: ListStreamsInput) -> Result<ListStreamsOutput, ApiError> {
        let mut c = Constraints::new();
        c.at_least("limit", input.limit, 1);
        c.at_most("limit", input.limit, LIST_LIMIT_MAX);
        if let Some(name) = &input.table_name {
            c.optional_table_name("tableName", &Some(name.clone()));
        }
        c.finish()?;
        let limit = input.limit.unwrap_or(LIST_LIMIT_MAX) as usize;
        let mut tables: Vec<TableRef> = self
            .tables
            .read()
            .iter()
            .filter(|((region, name), _)| {
                *region == ctx.region && input.table_name.as_ref().is_none_or(|wanted| wanted == name)
            })
            .map(|(_, t)| t.clone())
            .collect();
        // Deleted tables' streams stay listed while readable, as in DynamoDB.
        tables.extend(
            self.retired
                .read()
                .iter()
                .filter(|((region, _), t)| {
                    *region == ctx.region
                        && input.table_name.as_ref().is_none_or(|wanted| *wanted == t.meta.read().name)
                })
                .map(|(_, t)| t.clone()),
        );
        tables.sort_by_key(|t| {
            let m = t.meta.read();
            (m.name.clone(), m.creation_time.to_bits())
        });
        let mut all = Vec::new();
        for table in tables {
            let name = table.meta.read().name.clone();
            for stream in table.streams.read().iter().filter(|s| ctx.may_list(&s.arn)) {
                all.push(StreamSummary {
                    stream_arn: stream.arn.clone(),
                    table_name: name.clone(),
                    stream_label: stream.meta.read().label.clone(),
                });
            }
        }
        let start = match &input.exclusive_start_stream_arn {
            Some(arn) => all.iter().position(|s| &s.stream_arn == arn).map_or(0, |i| i + 1),
            None => 0,
        };
        let mut page: Vec<StreamSummary> = all.into_iter().skip(start).collect();
        let more = page.len() > limit;
        page.truncate(limit);
        Ok(ListStreamsOutput {
            last_evaluated_stream_arn: if more { page.last().map(|s| s.stream_arn.clone()) } else { None },
            streams: page,
        })
    }

    pub fn describe_stream(
        &self,
        ctx: &RequestContext,
        input: DescribeStreamInput,
    ) -> Result<DescribeStreamOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("streamArn", &input.stream_arn);
        c.at_least("limit", input.limit, 1);
        c.at_most("limit", input.limit, LIST_LIMIT_MAX);
        c.finish()?;
        let arn = input.stream_arn.unwrap_or_default();
        let (table, stream) = self.find_stream(ctx, &arn)?;
        let limit = input.limit.unwrap_or(LIST_LIMIT_MAX) as usize;
        // Shards are listed in ShardId order, and a page continues after the ShardId it is
        // given, whether or not the stream has it: the Kinesis adapter KCL applications use
        // continues from the greatest ShardId it has seen, not from LastEvaluatedShardId.
        let remaining: Vec<usize> = stream
            .listing
            .iter()
            .copied()
            .filter(|&i| input.exclusive_start_shard_id.as_ref().is_none_or(|after| stream.shard_ids[i] > *after))
            .collect();
        let more = remaining.len() > limit;
        let shards: Vec<Shard> = remaining
            .iter()
            .take(limit)
            .map(|&i| Shard {
                shard_id: stream.shard_ids[i].clone(),
                sequence_number_range: SequenceNumberRange {
                    starting_sequence_number: format_seq(stream.start),
                    ending_sequence_number: stream.ending(i).map(format_seq),
                },
            })
            .collect();
        let meta = stream.meta.read().clone();
        let table_meta = table.meta.read();
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_arn: stream.arn.clone(),
                stream_label: meta.label.clone(),
                stream_status: if meta.disabled_at.is_some() { "DISABLED" } else { "ENABLED" },
                stream_view_type: meta.view_type.clone(),
                creation_request_date_time: meta.created,
                table_name: table_meta.name.clone(),
                key_schema: table_meta.key_schema.clone(),
                last_evaluated_shard_id: if more { shards.last().map(|s| s.shard_id.clone()) } else { None },
                shards,
            },
        })
    }

    pub fn get_shard_iterator(
        &self,
        ctx: &RequestContext,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("streamArn", &input.stream_arn);
        c.required("shardId", &input.shard_id);
        c.required("shardIteratorType", &input.shard_iterator_type);
        c.one_of("shardIteratorType", &input.shard_iterator_type, ITERATOR_TYPES);
        c.finish()?;
        let arn = input.stream_arn.unwrap_or_default();
        let (_, stream) = self.find_stream(ctx, &arn)?;
        let shard_id = input.shard_id.unwrap_or_default();
        let shard = stream.shard_of(&shard_id).ok_or_else(|| {
            ApiError::not_found(format!("Requested resource not found: Shard does not exist: {shard_id}"))
        })?;
        let kind = input.shard_iterator_type.unwrap_or_default();
        if matches!(kind.as_str(), "TRIM_HORIZON" | "LATEST") && input.sequence_number.is_some() {
            return Err(ApiError::validation(format!("Must not specify a sequence number for iterator type {kind}")));
        }
        let trimmed = stream.trimmed[shard].load(Ordering::Acquire);
        let position = match kind.as_str() {
            "TRIM_HORIZON" => trimmed.max(stream.start),
            "LATEST" => match stream.ending(shard) {
                Some(end) => end + 1,
                None => stream.next_seq.load(Ordering::Acquire),
            },
            _ => {
                let text = input.sequence_number.ok_or_else(|| {
                    ApiError::validation(format!("Must specify a sequence number for iterator type {kind}"))
                })?;
                let seq = parse_seq(&text)
                    .filter(|s| *s >= stream.start && stream.ending(shard).is_none_or(|e| *s <= e))
                    .ok_or_else(|| {
                        ApiError::validation(format!(
                            "Invalid SequenceNumber for ShardIteratorType {kind}: sequence number {text} is not in shard {shard_id}"
                        ))
                    })?;
                if seq < trimmed {
                    return Err(trimmed_error());
                }
                if kind == "AFTER_SEQUENCE_NUMBER" {
                    seq + 1
                } else {
                    seq
                }
            }
        };
        let it = Iterator { stream_arn: stream.arn.clone(), shard, position, issued_ms: now_millis() };
        Ok(GetShardIteratorOutput { shard_iterator: it.encode() })
    }

    /// GetRecords; the response is assembled from the stored record JSON as is.
    pub async fn get_records(&self, ctx: &RequestContext, input: GetRecordsInput) -> Result<Vec<u8>, ApiError> {
        let mut c = Constraints::new();
        c.required("shardIterator", &input.shard_iterator);
        if let Some(it) = &input.shard_iterator {
            c.length("shardIterator", &format!("'{it}'"), it.len(), 1, 2048);
        }
        c.at_least("limit", input.limit, 1);
        c.at_most("limit", input.limit, GET_RECORDS_LIMIT_MAX);
        c.finish()?;
        let text = input.shard_iterator.unwrap_or_default();
        let it = Iterator::decode(&text).ok_or_else(|| ApiError::validation("Invalid ShardIterator"))?;
        let now = now_millis();
        if now.saturating_sub(it.issued_ms) > SHARD_ITERATOR_LIFETIME.as_millis() as u64 {
            return Err(ApiError::new(
                ErrorKind::ExpiredIterator,
                format!(
                    "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {} milliseconds.",
                    it.issued_ms,
                    now,
                    SHARD_ITERATOR_LIFETIME.as_millis()
                ),
            ));
        }
        let (table, stream) = self.find_stream(ctx, &it.stream_arn)?;
        if it.position < stream.trimmed[it.shard].load(Ordering::Acquire) {
            return Err(trimmed_error());
        }
        let limit = input.limit.unwrap_or(GET_RECORDS_LIMIT_MAX) as usize;
        let (lo, hi) = shard_range(it.shard, it.position);
        let mut out = b"{\"Records\":[".to_vec();
        let mut count = 0usize;
        let mut bytes = 0;
        let mut next = it.position;
        let mut exhausted = true;
        for entry in stream.tree.range(Bound::Included(&lo), Bound::Excluded(&hi), false) {
            let (k, v) = entry.map_err(storage_error)?;
            if count >= limit || (count > 0 && bytes + v.len() > GET_RECORDS_BYTES_MAX) {
                exhausted = false;
                break;
            }
            let Some((_, json)) = split_record(&v) else {
                tracing::error!(stream = %stream.arn, "skipping a damaged stream record");
                next = seq_of(&k) + 1;
                continue;
            };
            if count > 0 {
                out.push(b',');
            }
            out.extend_from_slice(json);
            bytes += json.len();
            count = count.saturating_add(1);
            next = seq_of(&k) + 1;
        }
        out.push(b']');
        // Whatever this read saw must be durable before it is handed out.
        table.partitions[it.shard].settle_read(self.storage.as_ref()).await.map_err(storage_error)?;
        let closed = stream.ending(it.shard).is_some();
        if !(closed && exhausted) {
            let next_it =
                Iterator { stream_arn: it.stream_arn.clone(), shard: it.shard, position: next, issued_ms: now };
            out.extend_from_slice(b",\"NextShardIterator\":");
            out.extend_from_slice(serde_json::to_string(&next_it.encode()).unwrap_or_default().as_bytes());
        }
        out.push(b'}');
        Ok(out)
    }

    /// Every table that may have stream records: live ones and deleted ones kept for streams.
    pub(crate) fn stream_tables(&self) -> Vec<TableRef> {
        let mut tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
        tables.extend(self.retired.read().values().cloned());
        tables
    }

    /// Deletes one table's stream records older than the retention period and drops its
    /// disabled streams whose records have all aged out.
    pub(crate) async fn trim_table_streams(&self, table: &TableRef, retention: Duration) -> Result<(), ApiError> {
        let cutoff_ms = now_millis().saturating_sub(retention.as_millis() as u64);
        let streams: Vec<Arc<Stream>> = table.streams.read().clone();
        let table_id = table.meta.read().id.clone();
        for stream in &streams {
            let label = stream.meta.read().label.clone();
            for shard in 0..PARTITIONS_PER_TABLE {
                let (lo, hi) = shard_range(shard, 0);
                let mut batch = WriteBatch::new();
                let mut last_deleted = None;
                for entry in stream.tree.range(Bound::Included(&lo), Bound::Excluded(&hi), false).take(10_000) {
                    let (k, v) = entry.map_err(storage_error)?;
                    // A damaged record (no time) is past any retention: trim it.
                    let created_ms = split_record(&v).map_or(0, |(ms, _)| ms);
                    if created_ms >= cutoff_ms {
                        break;
                    }
                    last_deleted = Some(seq_of(&k));
                    batch.delete(&stream.tree, k);
                }
                // Everything up to the last record deleted is gone; nothing after it is.
                let Some(last_deleted) = last_deleted else { continue };
                let watermark = last_deleted + 1;
                batch.put(
                    &self.catalog_tree,
                    stream_trim_key(&table_id, &label, shard),
                    watermark.to_be_bytes().to_vec(),
                );
                let ticket = self.storage.commit(batch).map_err(storage_error)?;
                stream.trimmed[shard].fetch_max(watermark, Ordering::AcqRel);
                self.storage.durability().wait(ticket).await.map_err(storage_error)?;
            }
        }
        let expired: Vec<Arc<Stream>> = streams
            .iter()
            .filter(|s| s.meta.read().disabled_at.is_some_and(|at| ((at * 1000.0) as u64) < cutoff_ms))
            .cloned()
            .collect();
        if !expired.is_empty() && table.dropped.load(Ordering::Acquire) {
            if expired.len() == streams.len() {
                self.forget_retired(table).await?;
            }
        } else if !expired.is_empty() {
            self.drop_streams(table, &expired).await?;
        }
        Ok(())
    }
}

impl Engine {
    /// Removes a deleted table kept for its streams, once they have all aged out.
    async fn forget_retired(&self, table: &TableRef) -> Result<(), ApiError> {
        let _ddl = self.ddl.lock().await;
        let meta = table.meta.read().clone();
        let mut batch = WriteBatch::new();
        batch.delete(&self.catalog_tree, crate::catalog::retired_key(&meta.region, &meta.id));
        for stream in &meta.streams {
            for shard in 0..PARTITIONS_PER_TABLE {
                batch.delete(&self.catalog_tree, stream_trim_key(&meta.id, &stream.label, shard));
            }
        }
        let ticket = self.storage.commit(batch).map_err(storage_error)?;
        self.storage.durability().wait(ticket).await.map_err(storage_error)?;
        self.retired.write().remove(&(meta.region.clone(), meta.id.clone()));
        for tree in meta.streams.iter().map(|s| &s.tree).chain(std::iter::once(&meta.items_tree)) {
            self.storage.drop_tree(tree).map_err(storage_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_round_trip() {
        assert_eq!(format_seq(1_700_000_000_000_000_123), "001700000000000000123");
        assert_eq!(parse_seq("001700000000000000123"), Some(1_700_000_000_000_000_123));
        assert_eq!(parse_seq("0"), Some(0));
        assert_eq!(parse_seq("12a"), None);
        assert_eq!(parse_seq(""), None);
    }

    #[test]
    fn iterators_round_trip() {
        let it = Iterator {
            stream_arn: "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2026-11-23T00:00:00.000".into(),
            shard: 7,
            position: 42,
            issued_ms: 9,
        };
        let back = Iterator::decode(&it.encode()).unwrap();
        assert_eq!((back.stream_arn, back.shard, back.position, back.issued_ms), (it.stream_arn, 7, 42, 9));
        assert!(Iterator::decode("garbage").is_none());
        assert!(Iterator::decode("a|99|1|1").is_none());
    }

    #[test]
    fn shard_keys_order_by_sequence() {
        assert!(record_key(3, 9) < record_key(3, 10));
        assert!(record_key(3, u64::MAX) < record_key(4, 0));
        let (lo, hi) = shard_range(3, 5);
        assert!(lo.as_slice() <= record_key(3, 5).as_slice() && record_key(3, u64::MAX).as_slice() < hi.as_slice());
        assert_eq!(seq_of(&record_key(2, 77)), 77);
    }

    #[test]
    fn damaged_records_read_without_panicking() {
        // Only a damaged store holds these; readers and the trimmer must not panic on them.
        assert_eq!(seq_of(&[0, 3, 1]), 0);
        assert_eq!(split_record(&[1, 2, 3]), None);
        let mut value = 42u64.to_be_bytes().to_vec();
        value.extend_from_slice(b"{}");
        assert_eq!(split_record(&value), Some((42, &b"{}"[..])));
    }
}
