//! The whole request path below HTTP: decoding, validation, expressions, the write path, indexes,
//! streams and transactions, on an in-memory engine.
//!
//! Input: the first byte picks an operation from `Operation::ALL` (modulo its length), the rest
//! is the request body. Properties, for every input:
//! - `Engine::dispatch` returns (no panic, no hang: a request that takes longer than
//!   `DISPATCH_TIMEOUT` fails the run, and libFuzzer's `-timeout` catches a blocked thread);
//! - an answer is valid JSON, and so is every error's rendering;
//! - no error is an InternalServerError: client input is never the server's fault.
//!
//! The engine lives across inputs, so a request meets the tables and items that earlier ones
//! left, as a server's would. Fixture tables (`FIXTURES`) are created at start and re-created
//! whenever an input deletes one, so the fuzzer always finds tables with a GSI, an LSI, a
//! stream, TTL, number and binary keys. Because stream ARNs, shard ids and shard iterators
//! depend on the clock, a body may name them by placeholder: `@arn` (t_main's stream ARN),
//! `@tarn` (t_main's table ARN), `@shard` (a shard id of that stream) and `@it` (a fresh
//! TRIM_HORIZON iterator on it). The engine is rebuilt from scratch every `REBUILD_EVERY`
//! inputs, which bounds memory; a crash that needed earlier inputs' state may therefore not
//! reproduce from its artifact alone (rerun the corpus to find it again).

#![no_main]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use flywheel_engine::{Engine, EngineConfig, RequestContext};
use flywheel_protocol::{ErrorKind, Operation};
use flywheel_storage::memory::MemoryStorage;
use libfuzzer_sys::fuzz_target;

/// The region every request is made in.
const REGION: &str = "us-east-1";

/// Longer than any request on an in-memory store should ever take.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Inputs between rebuilds of the engine.
const REBUILD_EVERY: u64 = 20_000;

/// Tables every input may assume, as (operation, body) requests that create and fill them.
const FIXTURES: &[(&str, Operation, &str)] = &[
    (
        "t_main",
        Operation::CreateTable,
        r#"{"TableName":"t_main","BillingMode":"PAY_PER_REQUEST",
            "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"},
                                    {"AttributeName":"g","AttributeType":"S"},{"AttributeName":"l","AttributeType":"S"}],
            "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],
            "GlobalSecondaryIndexes":[{"IndexName":"gsi","KeySchema":[{"AttributeName":"g","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],
                                       "Projection":{"ProjectionType":"ALL"}}],
            "LocalSecondaryIndexes":[{"IndexName":"lsi","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"l","KeyType":"RANGE"}],
                                      "Projection":{"ProjectionType":"INCLUDE","NonKeyAttributes":["a"]}}],
            "StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}}"#,
    ),
    (
        "t_main",
        Operation::PutItem,
        r#"{"TableName":"t_main","Item":{"pk":{"S":"a"},"sk":{"N":"1"},"g":{"S":"x"},"l":{"S":"p"},"a":{"N":"5"},"m":{"M":{"k":{"L":[{"S":"v"},{"N":"2"}]}}},"ss":{"SS":["a","b"]}}}"#,
    ),
    (
        "t_main",
        Operation::PutItem,
        r#"{"TableName":"t_main","Item":{"pk":{"S":"a"},"sk":{"N":"2.5"},"g":{"S":"y"},"a":{"S":"s"},"ns":{"NS":["1","2"]}}}"#,
    ),
    (
        "t_main",
        Operation::PutItem,
        r#"{"TableName":"t_main","Item":{"pk":{"S":"b"},"sk":{"N":"-3"},"l":{"S":"q"},"b":{"B":"AAE="},"n":{"NULL":true},"t":{"BOOL":true}}}"#,
    ),
    (
        "t_hash",
        Operation::CreateTable,
        r#"{"TableName":"t_hash","BillingMode":"PAY_PER_REQUEST",
            "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],
            "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}"#,
    ),
    (
        "t_hash",
        Operation::UpdateTimeToLive,
        r#"{"TableName":"t_hash","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"ttl"}}"#,
    ),
    ("t_hash", Operation::PutItem, r#"{"TableName":"t_hash","Item":{"pk":{"S":"a"},"c":{"N":"0"},"ttl":{"N":"1"}}}"#),
    (
        "t_num",
        Operation::CreateTable,
        r#"{"TableName":"t_num","ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5},
            "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"N"},{"AttributeName":"sk","AttributeType":"B"}],
            "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]}"#,
    ),
    ("t_num", Operation::PutItem, r#"{"TableName":"t_num","Item":{"pk":{"N":"1"},"sk":{"B":"AA=="},"v":{"S":"x"}}}"#),
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    engine: Arc<Engine>,
    runs: u64,
    /// Values for the clock-dependent placeholders.
    stream_arn: String,
    table_arn: String,
    shard_id: String,
}

fn trace() -> bool {
    std::env::var_os("FLYWHEEL_FUZZ_TRACE").is_some()
}

/// Runs one request, panicking on a property violation. Returns the answer body.
fn run(runtime: &tokio::runtime::Runtime, engine: &Engine, op: Operation, body: &[u8]) -> Option<Vec<u8>> {
    // A context per request, as the server makes one: the engine records the table in it.
    let ctx = &RequestContext::new(REGION, "localhost:8000");
    let answer = runtime
        .block_on(async { tokio::time::timeout(DISPATCH_TIMEOUT, engine.dispatch(ctx, op, body)).await })
        .unwrap_or_else(|_| panic!("{} did not answer within {DISPATCH_TIMEOUT:?}", op.name()));
    match answer {
        Ok(out) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
                panic!("{} answered with invalid JSON ({e}): {}", op.name(), String::from_utf8_lossy(&out));
            }
            if trace() {
                eprintln!("{} -> {}", op.name(), String::from_utf8_lossy(&out));
            }
            Some(out)
        }
        Err(e) => {
            assert_ne!(e.kind, ErrorKind::InternalServerError, "{} failed internally: {e:?}", op.name());
            if let Err(j) = serde_json::from_slice::<serde_json::Value>(&e.to_json()) {
                panic!("{} error renders as invalid JSON ({j}): {e:?}", op.name());
            }
            if trace() {
                eprintln!("{} -> {:?}: {}", op.name(), e.kind, e.message);
            }
            None
        }
    }
}

fn json_field(body: &[u8], pointer: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("fixture answers are JSON");
    v.pointer(pointer).and_then(|s| s.as_str()).unwrap_or_else(|| panic!("fixture answer lacks {pointer}")).to_string()
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let storage = Arc::new(MemoryStorage::new());
        let engine = Arc::new(Engine::open(storage, EngineConfig::default()).expect("in-memory engine opens"));
        // Backfills of GSIs added by UpdateTable (and TTL sweeps, stream trims) run between
        // requests whenever a request yields, as they would on a server.
        {
            let engine = engine.clone();
            let _guard = runtime.enter();
            tokio::spawn(async move { engine.run_maintenance().await });
        }
        let mut h = Harness {
            runtime,
            engine,
            runs: 0,
            stream_arn: String::new(),
            table_arn: String::new(),
            shard_id: String::new(),
        };
        h.ensure_fixtures();
        assert_eq!(h.runs, 0, "the fixture requests fail on a fresh engine");
        h
    }

    /// Re-creates any fixture table an input deleted, and refreshes the placeholders.
    fn ensure_fixtures(&mut self) {
        let missing: Vec<&str> =
            FIXTURES.iter().map(|f| f.0).filter(|name| self.engine.find_table(REGION, name).is_none()).collect();
        if missing.is_empty() {
            return;
        }
        for (table, op, body) in FIXTURES {
            if missing.contains(table) && run(&self.runtime, &self.engine, *op, body.as_bytes()).is_none() {
                // Inputs filled the region's table quota: start over with a fresh engine.
                self.runs = REBUILD_EVERY;
                return;
            }
        }
        if missing.contains(&"t_main") {
            let described = run(&self.runtime, &self.engine, Operation::DescribeTable, br#"{"TableName":"t_main"}"#)
                .expect("fixture table describes");
            self.stream_arn = json_field(&described, "/Table/LatestStreamArn");
            self.table_arn = json_field(&described, "/Table/TableArn");
            let body = format!(r#"{{"StreamArn":"{}"}}"#, self.stream_arn);
            let stream = run(&self.runtime, &self.engine, Operation::DescribeStream, body.as_bytes())
                .expect("fixture stream describes");
            self.shard_id = json_field(&stream, "/StreamDescription/Shards/0/ShardId");
        }
    }

    /// A fresh iterator (they expire after 15 minutes, and a stream may have been re-created).
    fn iterator(&self) -> String {
        let body = format!(
            r#"{{"StreamArn":"{}","ShardId":"{}","ShardIteratorType":"TRIM_HORIZON"}}"#,
            self.stream_arn, self.shard_id
        );
        match run(&self.runtime, &self.engine, Operation::GetShardIterator, body.as_bytes()) {
            Some(out) => json_field(&out, "/ShardIterator"),
            // An input disabled t_main's stream: the placeholder stays an invalid iterator.
            None => "@it".to_string(),
        }
    }

    fn substitute(&self, body: &[u8]) -> Vec<u8> {
        if !body.contains(&b'@') {
            return body.to_vec();
        }
        let mut out = Vec::with_capacity(body.len() + 128);
        let mut rest = body;
        while let Some(at) = rest.iter().position(|&b| b == b'@') {
            out.extend_from_slice(&rest[..at]);
            rest = &rest[at..];
            let (token, value) = if rest.starts_with(b"@tarn") {
                ("@tarn", self.table_arn.clone())
            } else if rest.starts_with(b"@arn") {
                ("@arn", self.stream_arn.clone())
            } else if rest.starts_with(b"@shard") {
                ("@shard", self.shard_id.clone())
            } else if rest.starts_with(b"@it") {
                ("@it", self.iterator())
            } else {
                ("@", "@".to_string())
            };
            out.extend_from_slice(value.as_bytes());
            rest = &rest[token.len()..];
        }
        out.extend_from_slice(rest);
        out
    }
}

thread_local! {
    static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[usize::from(selector) % Operation::ALL.len()];
    HARNESS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|h| h.runs >= REBUILD_EVERY) {
            *slot = None; // drop the old engine (and its runtime) before building the next
            *slot = Some(Harness::new());
        }
        let h = slot.as_mut().expect("just built");
        h.runs += 1;
        let body = h.substitute(body);
        if trace() {
            eprintln!("{} {}", op.name(), String::from_utf8_lossy(&body));
        }
        run(&h.runtime, &h.engine, op, &body);
        h.ensure_fixtures();
    });
});
