//! Paging through aws-sdk-dynamodb's own paginators (`into_paginator().items().send()`): every
//! item of a 50,000-item table comes back exactly once from Query and from parallel Scan, Query in
//! sort-key order (both directions), and each Scan segment keeps a partition key's items together
//! and in sort-key order, as DynamoDB does.

use crate::common;

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::Flywheel;

const TABLE: &str = "paging";
const HOT: [&str; 4] = ["hot0", "hot1", "hot2", "hot3"];
const HOT_ITEMS: i64 = 11_000;
const COLD: i64 = 6_000;
const TOTAL: usize = HOT.len() * HOT_ITEMS as usize + COLD as usize;

type Id = (String, i64);

fn all_ids() -> Vec<Id> {
    let mut ids: Vec<Id> = HOT.iter().flat_map(|pk| (0..HOT_ITEMS).map(move |i| (pk.to_string(), i))).collect();
    ids.extend((0..COLD).map(|i| (format!("cold{i:04}"), 0)));
    ids
}

fn item(id: &Id) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(id.0.clone())),
        ("sk".to_string(), AttributeValue::N(id.1.to_string())),
        ("pad".to_string(), AttributeValue::S("p".repeat(250))),
    ])
}

fn id_of(item: &HashMap<String, AttributeValue>) -> Id {
    (item["pk"].as_s().unwrap().clone(), item["sk"].as_n().unwrap().parse().unwrap())
}

async fn create_and_load(client: &Client) {
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("sk").attribute_type(ScalarAttributeType::N).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap())
        .send()
        .await
        .expect("create table");
    // BatchWriteItem in 25s from 8 concurrent writers, resubmitting anything unprocessed.
    let ids = all_ids();
    let mut writers = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let mine: Vec<Id> = ids.iter().skip(w).step_by(8).cloned().collect();
        writers.push(tokio::spawn(async move {
            for chunk in mine.chunks(25) {
                let requests: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|id| {
                        WriteRequest::builder()
                            .put_request(PutRequest::builder().set_item(Some(item(id))).build().unwrap())
                            .build()
                    })
                    .collect();
                let mut pending = HashMap::from([(TABLE.to_string(), requests)]);
                while !pending.is_empty() {
                    let out =
                        client.batch_write_item().set_request_items(Some(pending)).send().await.expect("batch write");
                    pending = out.unprocessed_items.unwrap_or_default();
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
}

async fn query_all(client: &Client, pk: &str, forward: bool, page_size: Option<i32>) -> Vec<Id> {
    let mut paginator = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(pk.to_string()))
        .scan_index_forward(forward)
        .into_paginator();
    if let Some(n) = page_size {
        paginator = paginator.page_size(n);
    }
    let items: Vec<_> = paginator.items().send().try_collect().await.expect("query pages");
    items.iter().map(id_of).collect()
}

async fn scan_segment(client: &Client, segment: i32, total: i32, page_size: i32) -> Vec<Id> {
    let items: Vec<_> = client
        .scan()
        .table_name(TABLE)
        .segment(segment)
        .total_segments(total)
        .into_paginator()
        .page_size(page_size)
        .items()
        .send()
        .try_collect()
        .await
        .expect("scan pages");
    items.iter().map(id_of).collect()
}

/// Each partition key's items form one run, ascending by sort key.
fn assert_partitions_together_in_order(ids: &[Id]) {
    let mut runs: Vec<(String, i64)> = Vec::new();
    for (pk, sk) in ids {
        match runs.last_mut() {
            Some((last_pk, last_sk)) if last_pk == pk => {
                assert!(sk > last_sk, "{pk}: sort key {sk} after {last_sk}");
                *last_sk = *sk;
            }
            _ => runs.push((pk.clone(), *sk)),
        }
    }
    let distinct: HashSet<&String> = runs.iter().map(|(pk, _)| pk).collect();
    assert_eq!(distinct.len(), runs.len(), "a partition key's items were split into separate runs");
}

fn assert_exactly_once(ids: &[Id]) {
    let unique: BTreeSet<&Id> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{} items returned more than once", ids.len() - unique.len());
    let expected = all_ids();
    let expected: BTreeSet<&Id> = expected.iter().collect();
    assert_eq!(unique, expected, "the returned items are not the table's items");
    assert_eq!(ids.len(), TOTAL);
}

#[tokio::test]
async fn paginators_return_every_item_exactly_once() {
    let fw = Flywheel::in_memory();
    let client = fw.client();
    create_and_load(&client).await;

    // Query: each hot partition key in ascending sort-key order, paged by Limit and (with no page
    // size) in one go; backwards in descending order.
    let mut from_queries = Vec::new();
    for pk in HOT {
        let expected: Vec<Id> = (0..HOT_ITEMS).map(|i| (pk.to_string(), i)).collect();
        let paged = query_all(&client, pk, true, Some(97)).await;
        assert_eq!(paged, expected, "{pk} forward, 97 per page");
        assert_eq!(query_all(&client, pk, true, None).await, expected, "{pk} forward, unlimited pages");
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(query_all(&client, pk, false, Some(250)).await, reversed, "{pk} backward");
        from_queries.extend(paged);
    }
    for i in 0..COLD {
        let pk = format!("cold{i:04}");
        if i % 50 == 0 {
            from_queries.extend(query_all(&client, &pk, true, Some(1)).await);
        }
    }
    assert_eq!(from_queries.len(), HOT.len() * HOT_ITEMS as usize + (COLD as usize).div_ceil(50));

    // Parallel Scan with 4 and 7 segments: disjoint segments whose union is the table, each
    // keeping partition keys together and in sort-key order.
    for total in [4, 7] {
        let mut everything = Vec::new();
        let mut owner: HashMap<String, i32> = HashMap::new();
        for segment in 0..total {
            let ids = scan_segment(&client, segment, total, 113).await;
            assert_partitions_together_in_order(&ids);
            for (pk, _) in &ids {
                assert_eq!(*owner.entry(pk.clone()).or_insert(segment), segment, "{pk} in two segments");
            }
            everything.extend(ids);
        }
        assert_exactly_once(&everything);
    }

    // A plain Scan through the paginator, 1 MB pages (about 1.3 MB of items) and Limit pages.
    for page_size in [None, Some(333)] {
        let mut paginator = client.scan().table_name(TABLE).into_paginator();
        if let Some(n) = page_size {
            paginator = paginator.page_size(n);
        }
        let pages: Vec<_> = paginator.send().try_collect().await.expect("scan pages");
        assert!(pages.len() >= 2, "{} pages for {page_size:?}", pages.len());
        let ids: Vec<Id> = pages.iter().flat_map(|p| p.items().iter().map(id_of)).collect();
        assert_partitions_together_in_order(&ids);
        assert_exactly_once(&ids);
    }
}
