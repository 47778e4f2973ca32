//! Crash torture: clients run a random workload (puts, conditional updates, deletes, batch
//! writes, transactions) against a durable server that is `kill -9`ed at a random moment, over
//! and over. After every restart the test checks that
//!
//! - every acknowledged write is there, and an unacknowledged one is either wholly there or
//!   wholly absent (a transaction is never half applied);
//! - the global secondary index holds exactly the table's items;
//! - the stream, read from TRIM_HORIZON across all the crashes so far, rebuilds the table exactly.
//!
//! Each client owns its keys, so the test's model knows every key's state; the one operation a
//! client had in flight at the crash is the only uncertainty. `FLYWHEEL_TORTURE_CYCLES` sets the
//! number of crash cycles (3 by default, as in CI; `FLYWHEEL_TORTURE_CYCLES=100` is the long
//! mode).

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, PutRequest, ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use common::{Flywheel, Rng};

type Item = HashMap<String, AttributeValue>;
/// A key's state: its item, or None.
type State = Option<Item>;

const TABLE: &str = "torture";
const KEYS_PER_CLIENT: u64 = 16;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn key_name(client: u64, k: u64) -> String {
    format!("c{client}-k{k:02}")
}

fn item(pk: &str, version: u64, tx: Option<&str>) -> Item {
    let mut item = HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("v".to_string(), AttributeValue::N(version.to_string())),
    ]);
    // Every third version leaves the index (a sparse GSI whose entries come and go).
    if !version.is_multiple_of(3) {
        item.insert("g".to_string(), AttributeValue::S(format!("g{}", version % 5)));
    }
    if let Some(tx) = tx {
        item.insert("tx".to_string(), AttributeValue::S(tx.to_string()));
    }
    item
}

fn version_of(state: &State) -> Option<u64> {
    state.as_ref().map(|i| i["v"].as_n().unwrap().parse().unwrap())
}

/// One key's change: (key, before, after).
type Change = (String, State, State);

/// What a client's in-flight operation would change: (key, before, after) per key, and whether
/// the keys change together (a transaction) or each on its own (a batch).
struct Pending {
    changes: Vec<(String, State, State)>,
    atomic: bool,
}

/// One client's keys and its (at most one) unacknowledged operation.
struct Model {
    keys: BTreeMap<String, State>,
    pending: Option<Pending>,
}

/// Runs until `crashed`; returns its acknowledged operations, also counted into `progress`.
async fn run_client(
    client: Client,
    id: u64,
    model: &mut Model,
    crashed: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
    seed: u64,
) -> u64 {
    let mut rng = Rng(seed);
    let mut acknowledged = 0;
    let mut next_version = 1 + model.keys.values().filter_map(version_of).max().unwrap_or(0);
    while !crashed.load(Ordering::Relaxed) {
        let k = key_name(id, rng.below(KEYS_PER_CLIENT));
        let before = model.keys[&k].clone();
        let version = next_version;
        next_version += 1;
        let (changes, result): (Vec<Change>, Result<bool, ()>) = match rng.below(5) {
            0 => {
                let after = Some(item(&k, version, None));
                model.pending =
                    Some(Pending { changes: vec![(k.clone(), before.clone(), after.clone())], atomic: true });
                let r = client.put_item().table_name(TABLE).set_item(after.clone()).send().await;
                (vec![(k, before, after)], r.map(|_| true).map_err(|_| ()))
            }
            1 => {
                // Conditional update on the version the model knows (so it should succeed), or
                // on a wrong one (so it must fail and change nothing).
                let right = rng.below(4) != 0;
                let expected = version_of(&before).unwrap_or(0) + u64::from(!right);
                let after = if right && before.is_some() {
                    let mut i = before.clone().unwrap();
                    let fresh = item(&k, version, None);
                    i.insert("v".into(), fresh["v"].clone());
                    match fresh.get("g") {
                        Some(g) => i.insert("g".into(), g.clone()),
                        None => i.remove("g"),
                    };
                    Some(i)
                } else {
                    before.clone()
                };
                model.pending =
                    Some(Pending { changes: vec![(k.clone(), before.clone(), after.clone())], atomic: true });
                let fresh = item(&k, version, None);
                let update = match fresh.get("g") {
                    Some(g) => client
                        .update_item()
                        .update_expression("SET v = :v, g = :g")
                        .expression_attribute_values(":g", g.clone()),
                    None => client.update_item().update_expression("SET v = :v REMOVE g"),
                };
                let r = update
                    .table_name(TABLE)
                    .key("pk", AttributeValue::S(k.clone()))
                    .condition_expression("v = :e")
                    .expression_attribute_values(":v", fresh["v"].clone())
                    .expression_attribute_values(":e", AttributeValue::N(expected.to_string()))
                    .send()
                    .await;
                let outcome = match r {
                    Ok(_) => Ok(true),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                        Ok(false)
                    }
                    Err(_) => Err(()),
                };
                if let Ok(applied) = outcome {
                    let should = right && before.is_some();
                    assert_eq!(applied, should, "conditional update on {k}: applied {applied}, expected {should}");
                }
                (vec![(k, before, after)], outcome)
            }
            2 => {
                model.pending = Some(Pending { changes: vec![(k.clone(), before.clone(), None)], atomic: true });
                let r = client.delete_item().table_name(TABLE).key("pk", AttributeValue::S(k.clone())).send().await;
                (vec![(k, before, None)], r.map(|_| true).map_err(|_| ()))
            }
            3 => {
                // A batch of three distinct keys: each lands or not on its own.
                let mut keys: Vec<String> = Vec::new();
                while keys.len() < 3 {
                    let candidate = key_name(id, rng.below(KEYS_PER_CLIENT));
                    if !keys.contains(&candidate) {
                        keys.push(candidate);
                    }
                }
                let changes: Vec<(String, State, State)> =
                    keys.iter().map(|k| (k.clone(), model.keys[k].clone(), Some(item(k, version, None)))).collect();
                model.pending = Some(Pending { changes: changes.clone(), atomic: false });
                let requests: Vec<WriteRequest> = changes
                    .iter()
                    .map(|(_, _, after)| {
                        WriteRequest::builder()
                            .put_request(PutRequest::builder().set_item(after.clone()).build().unwrap())
                            .build()
                    })
                    .collect();
                let r = client.batch_write_item().request_items(TABLE, requests).send().await;
                let ok = match r {
                    Ok(out) => {
                        assert!(out.unprocessed_items.is_none_or(|u| u.is_empty()), "no throttling here");
                        Ok(true)
                    }
                    Err(_) => Err(()),
                };
                (changes, ok)
            }
            _ => {
                // A transaction over three keys: all of them or none.
                let mut keys: Vec<String> = Vec::new();
                while keys.len() < 3 {
                    let candidate = key_name(id, rng.below(KEYS_PER_CLIENT));
                    if !keys.contains(&candidate) {
                        keys.push(candidate);
                    }
                }
                let tx = format!("tx{id}-{version}");
                let changes: Vec<(String, State, State)> = keys
                    .iter()
                    .map(|k| (k.clone(), model.keys[k].clone(), Some(item(k, version, Some(&tx)))))
                    .collect();
                model.pending = Some(Pending { changes: changes.clone(), atomic: true });
                let mut request = client.transact_write_items();
                for (_, _, after) in &changes {
                    let put = Put::builder().table_name(TABLE).set_item(after.clone()).build().unwrap();
                    request = request.transact_items(TransactWriteItem::builder().put(put).build());
                }
                let r = request.send().await;
                (changes, r.map(|_| true).map_err(|_| ()))
            }
        };
        match result {
            Ok(applied) => {
                for (k, before, after) in changes {
                    model.keys.insert(k, if applied { after } else { before });
                }
                model.pending = None;
                acknowledged += 1;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            // The server is gone: this operation stays pending.
            Err(()) => break,
        }
    }
    acknowledged
}

async fn scan_all(client: &Client, index: Option<&str>) -> Vec<Item> {
    let mut pages =
        client.scan().table_name(TABLE).set_index_name(index.map(str::to_string)).into_paginator().items().send();
    let mut out = Vec::new();
    while let Some(item) = pages.next().await {
        out.push(item.expect("scan"));
    }
    out
}

/// Checks the table against the models, resolves each pending operation, and returns the
/// table's items by key.
async fn verify(client: &Client, models: &mut [Model]) -> BTreeMap<String, Item> {
    let actual: BTreeMap<String, Item> =
        scan_all(client, None).await.into_iter().map(|i| (i["pk"].as_s().unwrap().clone(), i)).collect();
    for (id, model) in models.iter_mut().enumerate() {
        let pending = model.pending.take();
        let uncertain: Vec<String> = pending.iter().flat_map(|p| p.changes.iter().map(|c| c.0.clone())).collect();
        for (k, expected) in &model.keys {
            if uncertain.contains(k) {
                continue;
            }
            assert_eq!(actual.get(k), expected.as_ref(), "client {id}: acknowledged state of {k} lost");
        }
        if let Some(p) = pending {
            let outcomes: Vec<bool> = p
                .changes
                .iter()
                .map(|(k, before, after)| {
                    let now = actual.get(k);
                    if now == after.as_ref() {
                        true
                    } else {
                        assert_eq!(
                            now,
                            before.as_ref(),
                            "client {id}: {k} is neither before nor after its pending write"
                        );
                        false
                    }
                })
                .collect();
            if p.atomic && p.changes.len() > 1 {
                let unchanged: Vec<bool> = p.changes.iter().map(|(_, before, after)| before == after).collect();
                let decided: Vec<bool> =
                    outcomes.iter().zip(&unchanged).filter(|(_, same)| !**same).map(|(o, _)| *o).collect();
                assert!(
                    decided.iter().all(|o| *o) || decided.iter().all(|o| !*o),
                    "client {id}: a transaction was half applied: {outcomes:?}"
                );
            }
        }
        for k in model.keys.keys().cloned().collect::<Vec<_>>() {
            model.keys.insert(k.clone(), actual.get(&k).cloned());
        }
    }
    actual
}

async fn check_index(client: &Client, table: &BTreeMap<String, Item>) {
    let expected: BTreeMap<&String, &Item> = table.iter().filter(|(_, i)| i.contains_key("g")).collect();
    let entries = scan_all(client, Some("byG")).await;
    let mut seen: BTreeMap<String, Item> = BTreeMap::new();
    for e in entries {
        let pk = e["pk"].as_s().unwrap().clone();
        assert!(seen.insert(pk.clone(), e).is_none(), "{pk} twice in the index");
    }
    assert_eq!(seen.len(), expected.len(), "index and table disagree on which items have g");
    for (pk, item) in &seen {
        assert_eq!(Some(&item), expected.get(pk), "index entry of {pk}");
    }
}

async fn check_stream(server: &Flywheel, client: &Client, table: &BTreeMap<String, Item>) -> usize {
    let streams = server.streams_client();
    let arn = client.describe_table().table_name(TABLE).send().await.unwrap().table.unwrap().latest_stream_arn.unwrap();
    let shards =
        streams.describe_stream().stream_arn(&arn).send().await.unwrap().stream_description.unwrap().shards.unwrap();
    let mut rebuilt: BTreeMap<String, Item> = BTreeMap::new();
    let mut records = 0;
    for shard in shards {
        let mut it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(i) = it {
            let out = streams.get_records().shard_iterator(i).send().await.unwrap();
            let batch = out.records.unwrap_or_default();
            if batch.is_empty() {
                break; // an open shard: caught up
            }
            for r in batch {
                records += 1;
                let body = r.dynamodb.unwrap();
                let pk = body.keys.unwrap()["pk"].as_s().unwrap().clone();
                match body.new_image {
                    Some(new) => {
                        rebuilt.insert(pk, convert(new));
                    }
                    None => {
                        rebuilt.remove(&pk);
                    }
                }
            }
            it = out.next_shard_iterator;
        }
    }
    assert_eq!(&rebuilt, table, "the stream does not rebuild the table after the crashes");
    records
}

fn convert(image: HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>) -> Item {
    use aws_sdk_dynamodbstreams::types::AttributeValue as S;
    image
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                S::S(x) => AttributeValue::S(x),
                S::N(x) => AttributeValue::N(x),
                other => panic!("unexpected attribute value {other:?}"),
            };
            (k, v)
        })
        .collect()
}

fn client_without_retries(server: &Flywheel) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("AKIDEXAMPLE", "secret", None, None, "t"))
        .endpoint_url(server.endpoint())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .http_client(common::http_client())
        .build();
    Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_repeated_kill9() {
    let cycles = env_number("FLYWHEEL_TORTURE_CYCLES", 3);
    let clients = env_number("FLYWHEEL_TORTURE_CLIENTS", 4);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Flywheel::on_disk(dir.path());
    let client = server.client();
    let def = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("pk"))
        .attribute_definitions(def("g"))
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byG")
                .key_schema(KeySchemaElement::builder().attribute_name("g").key_type(KeyType::Hash).build().unwrap())
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
    let mut models: Vec<Model> = (0..clients)
        .map(|id| Model { keys: (0..KEYS_PER_CLIENT).map(|k| (key_name(id, k), None)).collect(), pending: None })
        .collect();
    let mut rng = Rng(0x5851_F42D_4C95_7F2D);
    let (mut acknowledged, mut uncertain) = (0u64, 0usize);
    for cycle in 0..cycles {
        let crashed = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for (id, model) in std::mem::take(&mut models).into_iter().enumerate() {
            let (client, crashed, progress) = (client_without_retries(&server), crashed.clone(), progress.clone());
            let seed = 0x9E37_79B9_7F4A_7C15 ^ ((cycle << 8) | (id as u64 + 1));
            tasks.push(tokio::spawn(async move {
                let mut model = model;
                let n = run_client(client, id as u64, &mut model, crashed, progress, seed).await;
                (model, n)
            }));
        }
        // Let the workload run for a random number of acknowledged operations (a count, so a
        // slow machine only takes longer), then pull the plug without warning.
        let target = 20 + rng.below(400);
        let deadline = Instant::now() + Duration::from_secs(300);
        while progress.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: only {} operations acknowledged",
                progress.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9();
        crashed.store(true, Ordering::Relaxed);
        for t in tasks {
            let (model, n) = t.await.unwrap();
            acknowledged += n;
            uncertain += usize::from(model.pending.is_some());
            models.push(model);
        }
        server = Flywheel::on_disk(dir.path());
        let client = server.client();
        let table = verify(&client, &mut models).await;
        check_index(&client, &table).await;
        let records = check_stream(&server, &client, &table).await;
        eprintln!(
            "cycle {}: {} items, {} stream records, {acknowledged} acknowledged operations so far, {uncertain} in flight at crashes",
            cycle + 1,
            table.len(),
            records
        );
    }
    assert!(acknowledged > 0, "the workload ran");
}
