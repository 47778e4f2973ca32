//! The server driven through aws-sdk-dynamodb, the official Rust SDK. Each test pins a DynamoDB
//! behaviour that Rust applications rely on.

use crate::common;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnConsumedCapacity, ReturnValue,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use common::Flywheel;

async fn create_table(client: &Client, name: &str, with_sort_key: bool) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap());
    if with_sort_key {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::N)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap());
    }
    req.send().await.expect("create table");
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[tokio::test]
async fn table_lifecycle_through_the_sdk() {
    let fw = Flywheel::in_memory();
    let client = fw.client();
    create_table(&client, "lifecycle", true).await;
    // The SDK's own waiter polls DescribeTable until ACTIVE.
    let described = client.describe_table().table_name("lifecycle").send().await.unwrap();
    let table = described.table().unwrap();
    assert_eq!(table.table_status().unwrap().as_str(), "ACTIVE");
    assert_eq!(table.table_arn().unwrap(), "arn:aws:dynamodb:us-east-1:000000000000:table/lifecycle");
    assert_eq!(table.key_schema().len(), 2);
    let names = client.list_tables().send().await.unwrap();
    assert_eq!(names.table_names(), ["lifecycle"]);
    let again = client.describe_table().table_name("nope").send().await.unwrap_err();
    assert_eq!(again.code(), Some("ResourceNotFoundException"));
    let dup = client
        .create_table()
        .table_name("lifecycle")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Some("ResourceInUseException"));
    assert_eq!(dup.message(), Some("Table already exists: lifecycle"));
    client.delete_table().table_name("lifecycle").send().await.unwrap();
    assert!(client.list_tables().send().await.unwrap().table_names().is_empty());
}

#[tokio::test]
async fn tables_are_namespaced_per_region() {
    // DynamoDB tables live in a region: the same name in two regions is two tables.
    let fw = Flywheel::in_memory();
    let east = fw.client();
    let west = common::client_for(&fw.endpoint(), "us-west-2");
    create_table(&east, "regional", false).await;
    assert!(west.list_tables().send().await.unwrap().table_names().is_empty());
    create_table(&west, "regional", false).await;
    let arn = west
        .describe_table()
        .table_name("regional")
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .table_arn()
        .unwrap()
        .to_string();
    assert!(arn.starts_with("arn:aws:dynamodb:us-west-2:"), "{arn}");
}

#[tokio::test]
async fn items_round_trip_with_normalised_numbers() {
    let fw = Flywheel::in_memory();
    let client = fw.client();
    create_table(&client, "items", true).await;
    let item = HashMap::from([
        ("pk".to_string(), s("a")),
        ("sk".to_string(), n("1.50")),
        ("bin".to_string(), AttributeValue::B(vec![0u8, 1, 2].into())),
        ("set".to_string(), AttributeValue::Ns(vec!["1e3".into(), "-0".into()])),
        (
            "nested".to_string(),
            AttributeValue::M(HashMap::from([("l".to_string(), AttributeValue::L(vec![AttributeValue::Null(true)]))])),
        ),
    ]);
    client.put_item().table_name("items").set_item(Some(item)).send().await.unwrap();
    let got = client
        .get_item()
        .table_name("items")
        .key("pk", s("a"))
        .key("sk", n("1.5"))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let item = got.item().unwrap();
    assert_eq!(item["sk"], n("1.5"));
    let mut set = item["set"].as_ns().unwrap().clone();
    set.sort();
    assert_eq!(set, vec!["0".to_string(), "1000".to_string()]);
    assert_eq!(item["bin"], AttributeValue::B(vec![0u8, 1, 2].into()));
    assert_eq!(got.consumed_capacity().unwrap().capacity_units(), Some(1.0));
    let old = client
        .delete_item()
        .table_name("items")
        .key("pk", s("a"))
        .key("sk", n("1.5"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(old.attributes().unwrap()["pk"], s("a"));
    let gone = client.get_item().table_name("items").key("pk", s("a")).key("sk", n("1.5")).send().await.unwrap();
    assert!(gone.item().is_none());
}

#[tokio::test]
async fn validation_errors_carry_dynamodbs_messages() {
    let fw = Flywheel::in_memory();
    let client = fw.client();
    create_table(&client, "val", false).await;
    let err = client.put_item().table_name("val").item("pk", n("1")).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")
    );
    let err = client.get_item().table_name("val").key("other", s("x")).send().await.unwrap_err();
    assert_eq!(err.message(), Some("The provided key element does not match the schema"));
    let err = client.put_item().table_name("missing").item("pk", s("x")).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn conditional_update_and_return_values() {
    let fw = Flywheel::in_memory();
    let client = fw.client();
    create_table(&client, "upd", false).await;
    let out = client
        .update_item()
        .table_name("upd")
        .key("pk", s("counter"))
        .update_expression("ADD #c :one SET #t = :t")
        .expression_attribute_names("#c", "count")
        .expression_attribute_names("#t", "tag")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":t", s("x"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes().unwrap()["count"], n("1"));
    // A failed condition writes nothing and says so with ConditionalCheckFailedException.
    let err = client
        .update_item()
        .table_name("upd")
        .key("pk", s("counter"))
        .update_expression("SET #c = :v")
        .condition_expression("#c = :expected")
        .expression_attribute_names("#c", "count")
        .expression_attribute_values(":v", n("100"))
        .expression_attribute_values(":expected", n("5"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    let item = client.get_item().table_name("upd").key("pk", s("counter")).send().await.unwrap();
    assert_eq!(item.item().unwrap()["count"], n("1"));
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    // DynamoDB never loses an acknowledged write; neither may a killed Flywheel.
    let dir = tempfile::tempdir().unwrap();
    let fw = Flywheel::on_disk(dir.path());
    let client = fw.client();
    create_table(&client, "durable", false).await;
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..60 {
                let key = format!("w{writer}-{i}");
                if client
                    .put_item()
                    .table_name("durable")
                    .item("pk", s(&key))
                    .item("v", n(&i.to_string()))
                    .send()
                    .await
                    .is_ok()
                {
                    acked.push(key);
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert_eq!(acked.len(), 480);
    fw.kill9();
    let fw = Flywheel::on_disk(dir.path());
    let client = fw.client();
    for key in &acked {
        let got = client.get_item().table_name("durable").key("pk", s(key)).consistent_read(true).send().await.unwrap();
        assert!(got.item().is_some(), "acknowledged write {key} lost");
    }
    let described = client.describe_table().table_name("durable").send().await.unwrap();
    assert_eq!(described.table().unwrap().item_count(), Some(480));
}
