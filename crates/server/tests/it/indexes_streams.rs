//! Secondary indexes and DynamoDB Streams through aws-sdk-dynamodb and aws-sdk-dynamodbstreams:
//!
//! - a global secondary index added to a 100,000-item table while writers keep changing it ends
//!   up holding exactly the table's items (online backfill);
//! - a stream consumer that reads every shard from TRIM_HORIZON rebuilds the table exactly after
//!   a concurrent random workload of puts, updates, deletes, conditional writes and
//!   transactions.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction, Delete,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, Put, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use common::{Flywheel, Rng};

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn def(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
}

fn hash(name: &str) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(KeyType::Hash).build().unwrap()
}

fn range(name: &str) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(KeyType::Range).build().unwrap()
}

/// Every item of a table, by partition key (parallel Scan, 4 segments, all pages).
async fn scan_all(client: &Client, table: &str, index: Option<&str>) -> Vec<Item> {
    let mut out = Vec::new();
    for segment in 0..4 {
        let mut pages = client
            .scan()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .segment(segment)
            .total_segments(4)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            out.push(item.expect("scan page"));
        }
    }
    out
}

/// The GSI of the backfill test: keyed by `g` (S) and sorted by `n` (S); items without `g` are
/// absent from it (about a quarter of them).
fn g_value(rng: &mut Rng) -> Option<String> {
    match rng.below(4) {
        0 => None,
        v => Some(format!("g{}", v * 10 + rng.below(10))),
    }
}

fn backfill_item(id: u64, rng: &mut Rng, version: u64) -> Item {
    let mut item = HashMap::from([
        ("pk".to_string(), s(&format!("item{id:06}"))),
        ("n".to_string(), s(&format!("{:04}", rng.below(10_000)))),
        ("v".to_string(), AttributeValue::N(version.to_string())),
    ]);
    if let Some(g) = g_value(rng) {
        item.insert("g".to_string(), s(&g));
    }
    item
}

const BACKFILL_ITEMS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gsi_added_while_writers_run_matches_the_table() {
    let server = Flywheel::in_memory();
    let client = server.client();
    client
        .create_table()
        .table_name("backfill")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("pk"))
        .key_schema(hash("pk"))
        .send()
        .await
        .expect("create table");
    // Load 100,000 items with 8 concurrent BatchWriteItem writers.
    let mut loaders = Vec::new();
    for task in 0..8u64 {
        let client = client.clone();
        loaders.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (task + 1));
            let ids: Vec<u64> = (task..BACKFILL_ITEMS).step_by(8).collect();
            for chunk in ids.chunks(25) {
                let mut requests: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|id| {
                        let put =
                            PutRequest::builder().set_item(Some(backfill_item(*id, &mut rng, 0))).build().unwrap();
                        WriteRequest::builder().put_request(put).build()
                    })
                    .collect();
                while !requests.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items("backfill", requests.clone())
                        .send()
                        .await
                        .expect("batch write");
                    requests = out.unprocessed_items.and_then(|mut u| u.remove("backfill")).unwrap_or_default();
                }
            }
        }));
    }
    for l in loaders {
        l.await.unwrap();
    }

    // Writers change `g` (moving, adding and removing index entries), rewrite and delete items
    // for as long as the backfill runs, and a little after.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for task in 0..4u64 {
        let (client, stop, writes) = (client.clone(), stop.clone(), writes.clone());
        writers.push(tokio::spawn(async move {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (task + 1));
            let mut version = 1;
            while !stop.load(Ordering::Relaxed) {
                let id = rng.below(BACKFILL_ITEMS);
                let key = s(&format!("item{id:06}"));
                match rng.below(10) {
                    0 => {
                        client.delete_item().table_name("backfill").key("pk", key).send().await.expect("delete");
                    }
                    1..=4 => {
                        let item = backfill_item(id, &mut rng, version);
                        client.put_item().table_name("backfill").set_item(Some(item)).send().await.expect("put");
                    }
                    _ => {
                        let update = match g_value(&mut rng) {
                            Some(g) => client
                                .update_item()
                                .update_expression("SET g = :g, n = :n ADD v :one")
                                .expression_attribute_values(":g", s(&g)),
                            None => client.update_item().update_expression("REMOVE g SET n = :n ADD v :one"),
                        };
                        update
                            .table_name("backfill")
                            .key("pk", key)
                            .expression_attribute_values(":n", s(&format!("{:04}", rng.below(10_000))))
                            .expression_attribute_values(":one", AttributeValue::N("1".into()))
                            .send()
                            .await
                            .expect("update");
                    }
                }
                version += 1;
                writes.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // The writers are under way before the index is created (a count of writes, not a time).
    writes_reach(&writes, 20).await;

    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name("byG")
        .key_schema(hash("g"))
        .key_schema(range("n"))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap();
    let response = client
        .update_table()
        .table_name("backfill")
        .attribute_definitions(def("g"))
        .attribute_definitions(def("n"))
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
        .send()
        .await
        .expect("update table");
    let gsi = &response.table_description.unwrap().global_secondary_indexes.unwrap()[0];
    // The index exists at once, being built: CREATING and backfilling.
    assert_eq!(gsi.index_status, Some(IndexStatus::Creating));
    assert_eq!(gsi.backfilling, Some(true));
    let writes_at_start = writes.load(Ordering::Relaxed);

    // Until the backfill is done the index cannot be read, as in DynamoDB.
    let early = client
        .query()
        .table_name("backfill")
        .index_name("byG")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s("g10"))
        .send()
        .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let table = client.describe_table().table_name("backfill").send().await.unwrap().table.unwrap();
        let gsi = &table.global_secondary_indexes.unwrap()[0];
        if gsi.index_status == Some(IndexStatus::Active) {
            assert_eq!(gsi.backfilling, None);
            break;
        }
        assert!(Instant::now() < deadline, "backfill did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes_during = writes.load(Ordering::Relaxed) - writes_at_start;
    // And a few more once it is active.
    writes_reach(&writes, writes_at_start + writes_during + 20).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    if let Err(e) = early {
        let message = e.into_service_error().meta().message().unwrap_or_default().to_string();
        assert_eq!(message, "Cannot read from backfilling global secondary index: byG");
    }
    assert!(writes_during > 0, "writers ran while the index was built");

    // The index holds exactly the items that have `g`, each as it is in the table now.
    let table_items = scan_all(&client, "backfill", None).await;
    let mut expected: BTreeMap<String, Item> =
        table_items.into_iter().filter(|i| i.contains_key("g")).map(|i| (i["pk"].as_s().unwrap().clone(), i)).collect();
    let index_items = scan_all(&client, "backfill", Some("byG")).await;
    let mut actual: BTreeMap<String, Item> = BTreeMap::new();
    for item in index_items {
        let pk = item["pk"].as_s().unwrap().clone();
        assert!(actual.insert(pk.clone(), item).is_none(), "{pk} appears twice in the index");
    }
    assert_eq!(actual.len(), expected.len());
    for (pk, item) in &actual {
        assert_eq!(Some(item), expected.get(pk), "index entry of {pk} differs from the table");
    }
    expected.clear();
    let table = client.describe_table().table_name("backfill").send().await.unwrap().table.unwrap();
    let gsi = &table.global_secondary_indexes.unwrap()[0];
    assert_eq!(gsi.item_count, Some(actual.len() as i64));
    eprintln!(
        "backfill: {} items, {} writes while building, {} index entries",
        table.item_count.unwrap(),
        writes_during,
        actual.len()
    );
}

/// Waits until the writers have made `count` writes in all; fails after a generous deadline.
async fn writes_reach(writes: &AtomicU64, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while writes.load(Ordering::Relaxed) < count {
        assert!(Instant::now() < deadline, "the writers made {} writes, not {count}", writes.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The key of the stream test's items.
fn stream_key(pk: u64, sk: u64) -> (String, String) {
    (format!("p{pk}"), format!("s{sk}"))
}

fn key_item(k: &(String, String)) -> Item {
    HashMap::from([("pk".to_string(), s(&k.0)), ("sk".to_string(), s(&k.1))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stream_consumer_rebuilds_the_table_after_a_random_workload() {
    let server = Flywheel::in_memory();
    let client = server.client();
    let streams = server.streams_client();
    client
        .create_table()
        .table_name("streamed")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("pk"))
        .attribute_definitions(def("sk"))
        .key_schema(hash("pk"))
        .key_schema(range("sk"))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");

    // Six clients, 300 operations each, over 8 × 8 keys: puts, updates, conditional deletes
    // (some fail), and two-item transactions (some cancelled).
    let mut tasks = Vec::new();
    for task in 0..6u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xA076_1D64_78BD_642F ^ (task + 1));
            for i in 0..300u64 {
                let k = stream_key(rng.below(8), rng.below(8));
                let value = AttributeValue::N(format!("{}", task * 1000 + i));
                match rng.below(6) {
                    0 | 1 => {
                        let mut item = key_item(&k);
                        item.insert("val".into(), value);
                        item.insert("by".into(), s(&format!("t{task}")));
                        client.put_item().table_name("streamed").set_item(Some(item)).send().await.expect("put");
                    }
                    2 => {
                        client
                            .update_item()
                            .table_name("streamed")
                            .set_key(Some(key_item(&k)))
                            .update_expression("ADD hits :one SET val = :v")
                            .expression_attribute_values(":one", AttributeValue::N("1".into()))
                            .expression_attribute_values(":v", value)
                            .send()
                            .await
                            .expect("update");
                    }
                    3 => {
                        // Deletes only items never updated (no `hits`): a failed condition writes nothing.
                        let result = client
                            .delete_item()
                            .table_name("streamed")
                            .set_key(Some(key_item(&k)))
                            .condition_expression("attribute_not_exists(hits)")
                            .send()
                            .await;
                        if let Err(e) = result {
                            assert!(e.into_service_error().is_conditional_check_failed_exception());
                        }
                    }
                    _ => {
                        let other = stream_key(rng.below(8), rng.below(8));
                        if other == k {
                            continue;
                        }
                        let mut item = key_item(&k);
                        item.insert("val".into(), value);
                        let put = Put::builder()
                            .table_name("streamed")
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(locked)")
                            .build()
                            .unwrap();
                        let second = if rng.below(2) == 0 {
                            let delete = Delete::builder()
                                .table_name("streamed")
                                .set_key(Some(key_item(&other)))
                                .build()
                                .unwrap();
                            TransactWriteItem::builder().delete(delete).build()
                        } else {
                            let update = Update::builder()
                                .table_name("streamed")
                                .set_key(Some(key_item(&other)))
                                .update_expression("ADD tx :one")
                                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                                .build()
                                .unwrap();
                            TransactWriteItem::builder().update(update).build()
                        };
                        let result = client
                            .transact_write_items()
                            .transact_items(TransactWriteItem::builder().put(put).build())
                            .transact_items(second)
                            .send()
                            .await;
                        if let Err(e) = result {
                            let e = e.into_service_error();
                            assert!(e.is_transaction_canceled_exception(), "{e:?}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Close the stream so every shard ends, then consume it like a KCL worker.
    let arn =
        client.describe_table().table_name("streamed").send().await.unwrap().table.unwrap().latest_stream_arn.unwrap();
    client
        .update_table()
        .table_name("streamed")
        .stream_specification(StreamSpecification::builder().stream_enabled(false).build().unwrap())
        .send()
        .await
        .expect("disable stream");
    let description = streams.describe_stream().stream_arn(&arn).send().await.unwrap().stream_description.unwrap();
    let shards = description.shards.unwrap();
    assert_eq!(description.stream_status.unwrap().as_str(), "DISABLED");
    let mut rebuilt: BTreeMap<(String, String), Item> = BTreeMap::new();
    let mut records = 0;
    for shard in &shards {
        assert!(shard.sequence_number_range.as_ref().unwrap().ending_sequence_number.is_some(), "closed shard");
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.as_deref().unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        let mut last_seq: Option<u128> = None;
        while let Some(it) = iterator {
            let out = streams.get_records().shard_iterator(it).limit(50).send().await.expect("get records");
            for record in out.records.unwrap_or_default() {
                records += 1;
                let body = record.dynamodb.unwrap();
                let seq: u128 = body.sequence_number.as_deref().unwrap().parse().unwrap();
                assert!(last_seq.is_none_or(|l| seq > l), "sequence numbers increase within a shard");
                last_seq = Some(seq);
                let keys = body.keys.unwrap();
                let key = (keys["pk"].as_s().unwrap().clone(), keys["sk"].as_s().unwrap().clone());
                let name = record.event_name.unwrap();
                let old = body.old_image.map(convert);
                // Each record's old image is exactly what the consumer holds for that key.
                assert_eq!(old.as_ref(), rebuilt.get(&key), "old image of {key:?} ({name:?})");
                match body.new_image {
                    Some(new) => {
                        rebuilt.insert(key, convert(new));
                    }
                    None => {
                        assert_eq!(name.as_str(), "REMOVE");
                        rebuilt.remove(&key);
                    }
                }
            }
            iterator = out.next_shard_iterator;
        }
    }
    let table: BTreeMap<(String, String), Item> = scan_all(&client, "streamed", None)
        .await
        .into_iter()
        .map(|i| ((i["pk"].as_s().unwrap().clone(), i["sk"].as_s().unwrap().clone()), i))
        .collect();
    assert!(records > 500, "the workload produced records ({records})");
    assert_eq!(rebuilt, table, "the stream rebuilds the table exactly");
}

/// A streams-SDK attribute map as a DynamoDB-SDK item.
fn convert(image: HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>) -> Item {
    use aws_sdk_dynamodbstreams::types::AttributeValue as S;
    fn value(v: S) -> AttributeValue {
        match v {
            S::S(x) => AttributeValue::S(x),
            S::N(x) => AttributeValue::N(x),
            S::Bool(x) => AttributeValue::Bool(x),
            S::Null(x) => AttributeValue::Null(x),
            S::Ss(x) => AttributeValue::Ss(x),
            S::Ns(x) => AttributeValue::Ns(x),
            S::L(x) => AttributeValue::L(x.into_iter().map(value).collect()),
            S::M(x) => AttributeValue::M(x.into_iter().map(|(k, v)| (k, value(v))).collect()),
            other => panic!("unexpected attribute value {other:?}"),
        }
    }
    image.into_iter().map(|(k, v)| (k, value(v))).collect()
}
