//! The offline tools (`flywheel backup`, `restore`, `export`, `import`) run as the real binary
//! against data directories that a real server wrote, then a server over the result answers
//! through aws-sdk-dynamodb. Export files are in DynamoDB's S3 export format, so what these
//! tests import is what a DynamoDB export to S3 writes.

use crate::common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use common::Flywheel;

type Item = HashMap<String, AttributeValue>;

/// Runs `flywheel ARGS…` to completion.
fn flywheel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flywheel"))
        .args(args)
        .env_remove("FLYWHEEL_DATA_DIR")
        .output()
        .expect("run flywheel")
}

/// Runs a tool that must succeed; returns its standard error.
fn succeed(args: &[&str]) -> String {
    let out = flywheel(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "flywheel {args:?} failed: {stderr}");
    stderr
}

/// Runs a tool that must fail; returns its standard error.
fn refuse(args: &[&str]) -> String {
    let out = flywheel(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "flywheel {args:?} succeeded but should not have: {stderr}");
    stderr
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Stops a server the way an operator does, SIGTERM, and waits for its clean exit.
fn stop(mut fw: Flywheel) {
    let status = Command::new("kill").arg("-TERM").arg(fw.child.id().to_string()).status().expect("run kill");
    assert!(status.success());
    let exit = fw.child.wait().expect("wait for flywheel");
    assert!(exit.success(), "flywheel exited with {exit}");
}

async fn create_table(client: &Client, name: &str, genre_index: bool) {
    let attribute = |name: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(t).build().unwrap()
    };
    let key = |name: &str, t: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(t).build().unwrap();
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range));
    if genre_index {
        request = request.attribute_definitions(attribute("genre", ScalarAttributeType::S)).global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-genre")
                .key_schema(key("genre", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        );
    }
    request.send().await.expect("create table");
    // Wait until the table and its indexes are ACTIVE, as a client would.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let described = client.describe_table().table_name(name).send().await.unwrap();
        let table = described.table().unwrap();
        let indexes_active =
            table.global_secondary_indexes().iter().all(|i| i.index_status().map(|s| s.as_str()) == Some("ACTIVE"));
        if table.table_status() == Some(&TableStatus::Active) && indexes_active {
            return;
        }
        assert!(Instant::now() < deadline, "table {name} did not become active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An item with every attribute type, so a copy that drops or changes any of them shows.
fn rich_item(i: usize) -> Item {
    let s = |v: String| AttributeValue::S(v);
    let n = |v: String| AttributeValue::N(v);
    let mut item = HashMap::from([
        ("pk".to_string(), s(format!("artist-{}", i % 7))),
        ("sk".to_string(), n(i.to_string())),
        ("genre".to_string(), s(["rock", "jazz", "folk"][i % 3].to_string())),
        ("title".to_string(), s(format!("Song {i} — «ünïcødé» \"quoted\"\n"))),
        ("plays".to_string(), n(format!("12345678901234567890.12345678{}", i % 9 + 1))),
        ("ratio".to_string(), n("0.25".to_string())),
        ("cover".to_string(), AttributeValue::B(Blob::new(vec![0, 1, 2, 255, i as u8]))),
        ("tags".to_string(), AttributeValue::Ss(vec!["live".to_string(), format!("t{i}")])),
        ("scores".to_string(), AttributeValue::Ns(vec!["1".to_string(), "2.5".to_string()])),
        ("blobs".to_string(), AttributeValue::Bs(vec![Blob::new(vec![9]), Blob::new(vec![8, 7])])),
        ("live".to_string(), AttributeValue::Bool(i.is_multiple_of(2))),
        ("nothing".to_string(), AttributeValue::Null(true)),
        ("tracks".to_string(), AttributeValue::L(vec![n("1".to_string()), s("two".to_string())])),
        ("meta".to_string(), AttributeValue::M(HashMap::from([("year".to_string(), n("1999".to_string()))]))),
    ]);
    if i.is_multiple_of(5) {
        item.remove("meta");
    }
    item
}

async fn put_items(client: &Client, table: &str, items: &[Item]) {
    for item in items {
        client.put_item().table_name(table).set_item(Some(item.clone())).send().await.expect("put item");
    }
}

/// Sets compare as sets: DynamoDB does not promise their order.
fn normalise(value: &AttributeValue) -> AttributeValue {
    match value {
        AttributeValue::Ss(v) => AttributeValue::Ss(sorted(v.clone())),
        AttributeValue::Ns(v) => AttributeValue::Ns(sorted(v.clone())),
        AttributeValue::Bs(v) => {
            let mut bytes: Vec<Vec<u8>> = v.iter().map(|b| b.as_ref().to_vec()).collect();
            bytes.sort();
            AttributeValue::Bs(bytes.into_iter().map(Blob::new).collect())
        }
        AttributeValue::L(v) => AttributeValue::L(v.iter().map(normalise).collect()),
        AttributeValue::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
        other => other.clone(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every item of a table, keyed by `pk/sk`.
async fn scan_all(client: &Client, table: &str) -> HashMap<String, Item> {
    let mut items = HashMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let key = format!("{}/{}", item["pk"].as_s().unwrap(), item["sk"].as_n().unwrap());
            let item: Item = item.iter().map(|(k, v)| (k.clone(), normalise(v))).collect();
            assert!(items.insert(key, item).is_none(), "Scan returned an item twice");
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

fn expected(items: &[Item]) -> HashMap<String, Item> {
    items
        .iter()
        .map(|item| {
            let key = format!("{}/{}", item["pk"].as_s().unwrap(), item["sk"].as_n().unwrap());
            (key, item.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        })
        .collect()
}

/// Compares two tables' contents, naming the first difference (the whole tables are too
/// long to read in a failure message).
fn assert_same(got: &HashMap<String, Item>, want: &HashMap<String, Item>) {
    let mut keys: Vec<&String> = want.keys().chain(got.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        assert_eq!(got.get(key), want.get(key), "item {key}");
    }
}

async fn item_count(client: &Client, table: &str) -> i64 {
    let described = client.describe_table().table_name(table).send().await.unwrap();
    described.table().unwrap().item_count().unwrap()
}

/// A line of DynamoDB's S3 export format for a simple item.
fn export_line(i: usize) -> String {
    format!(r#"{{"Item":{{"pk":{{"S":"k{i}"}},"sk":{{"N":"{i}"}},"v":{{"S":"value {i}"}}}}}}"#)
}

#[tokio::test]
async fn backup_and_restore_serve_the_same_tables_and_items() {
    let root = tempfile::tempdir().unwrap();
    let (data, backup, restored) = (root.path().join("data"), root.path().join("backup"), root.path().join("restored"));
    let fw = Flywheel::on_disk(&data);
    let client = fw.client();
    create_table(&client, "music", true).await;
    create_table(&client, "empty", false).await;
    let items: Vec<Item> = (0..150).map(rich_item).collect();
    put_items(&client, "music", &items).await;
    let rock = items.iter().filter(|i| i["genre"].as_s().unwrap() == "rock").count();
    stop(fw);

    let report = succeed(&["backup", "--data-dir", utf8(&data), utf8(&backup)]);
    assert!(report.contains("verified"), "{report}");
    assert!(backup.join("flywheel-backup.json").exists());
    // A backup never overwrites: the destination must be new or empty.
    assert!(refuse(&["backup", "--data-dir", utf8(&data), utf8(&backup)]).contains("is not empty"));
    // Only a complete backup (one with its manifest) can be restored.
    let refused = refuse(&["restore", utf8(&data), "--data-dir", utf8(&root.path().join("elsewhere"))]);
    assert!(refused.contains("not a complete Flywheel backup"), "{refused}");

    succeed(&["restore", utf8(&backup), "--data-dir", utf8(&restored)]);
    let fw = Flywheel::on_disk(&restored);
    let client = fw.client();
    let tables = client.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["empty", "music"]);
    assert_same(&scan_all(&client, "music").await, &expected(&items));
    assert_eq!(item_count(&client, "music").await, 150);
    assert_eq!(item_count(&client, "empty").await, 0);
    // The index came along with the table.
    let by_genre = client
        .query()
        .table_name("music")
        .index_name("by-genre")
        .key_condition_expression("genre = :g")
        .expression_attribute_values(":g", AttributeValue::S("rock".to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(by_genre.count() as usize, rock);
    stop(fw);
}

#[tokio::test]
async fn export_in_both_formats_and_import_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let fw = Flywheel::on_disk(&data);
    let client = fw.client();
    create_table(&client, "music", false).await;
    create_table(&client, "copy", false).await;
    let items: Vec<Item> = (0..120).map(rich_item).collect();
    put_items(&client, "music", &items).await;
    stop(fw);

    let dynamodb_json = root.path().join("music.json");
    let json_lines = root.path().join("music.jsonl");
    succeed(&[
        "export",
        "music",
        "--data-dir",
        utf8(&data),
        "--format",
        "dynamodb-json",
        "--out",
        utf8(&dynamodb_json),
    ]);
    succeed(&["export", "music", "--data-dir", utf8(&data), "--format", "json-lines", "--out", utf8(&json_lines)]);
    let exported = std::fs::read_to_string(&dynamodb_json).unwrap();
    assert_eq!(exported.lines().count(), 120);
    assert!(exported.lines().all(|l| l.starts_with(r#"{"Item":{"#)), "S3 export format");
    // Without --out the export goes to standard output.
    let stdout = flywheel(&["export", "music", "--data-dir", utf8(&data), "--format", "dynamodb-json"]);
    assert!(stdout.status.success());
    assert_eq!(String::from_utf8(stdout.stdout).unwrap(), exported);

    // json-lines: plain JSON, numbers as numbers only where a double holds them exactly.
    let plain = std::fs::read_to_string(&json_lines).unwrap();
    assert_eq!(plain.lines().count(), 120);
    let five: serde_json::Value = plain
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["sk"] == 5)
        .expect("item 5 exported");
    assert_eq!(five["pk"], "artist-5");
    assert_eq!(five["ratio"], 0.25);
    assert_eq!(five["plays"], "12345678901234567890.123456786", "38-digit precision kept as a string");
    assert_eq!(five["cover"], "AAEC/wU=", "binary as base64");
    assert_eq!(five["tags"].as_array().unwrap().len(), 2);
    assert_eq!(five["scores"], serde_json::json!([1, 2.5]));
    assert_eq!(five["live"], false);
    assert_eq!(five["nothing"], serde_json::Value::Null);
    assert_eq!(five["tracks"], serde_json::json!([1, "two"]));
    assert!(five.get("meta").is_none());
    assert!(five["title"].as_str().unwrap().contains("«ünïcødé» \"quoted\"\n"));

    // The S3-format export imports into another table as the very same items.
    let progress = root.path().join("music.json.import-progress");
    succeed(&["import", utf8(&dynamodb_json), "--data-dir", utf8(&data), "--table", "copy"]);
    assert!(!progress.exists(), "a completed import removes its progress file");
    // A json-lines export is not the S3 format; import says so instead of guessing types.
    let refused = refuse(&["import", utf8(&json_lines), "--data-dir", utf8(&data), "--table", "copy"]);
    assert!(refused.contains("line 1") && refused.contains("S3 export format"), "{refused}");
    // The table must exist: import does not invent a key schema.
    let refused = refuse(&["import", utf8(&dynamodb_json), "--data-dir", utf8(&data), "--table", "nope"]);
    assert!(refused.contains("there is no table nope"), "{refused}");

    let fw = Flywheel::on_disk(&data);
    let client = fw.client();
    assert_same(&scan_all(&client, "copy").await, &scan_all(&client, "music").await);
    assert_same(&scan_all(&client, "copy").await, &expected(&items));
    assert_eq!(item_count(&client, "copy").await, 120);
    stop(fw);
}

#[tokio::test]
async fn import_reads_gzip() {
    // DynamoDB's export to S3 writes its data files gzipped (`data/*.json.gz`).
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let fw = Flywheel::on_disk(&data);
    create_table(&fw.client(), "imported", false).await;
    stop(fw);

    let file = root.path().join("part-0000.json.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&file).unwrap(), flate2::Compression::default());
    for i in 0..300 {
        writeln!(gz, "{}", export_line(i)).unwrap();
    }
    gz.finish().unwrap();
    succeed(&["import", utf8(&file), "--data-dir", utf8(&data), "--table", "imported"]);

    let fw = Flywheel::on_disk(&data);
    let client = fw.client();
    let items = scan_all(&client, "imported").await;
    assert_eq!(items.len(), 300);
    assert_eq!(items["k7/7"]["v"], AttributeValue::S("value 7".to_string()));
    assert_eq!(item_count(&client, "imported").await, 300);
    stop(fw);
}

#[tokio::test]
async fn a_bad_line_is_named_and_the_import_continues_once_it_is_fixed() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let fw = Flywheel::on_disk(&data);
    create_table(&fw.client(), "tbl", false).await;
    stop(fw);

    // 30 good lines, then one that is not JSON, then 5 more.
    let file = root.path().join("export.json");
    let lines = |bad: &str| {
        let mut text: String = (0..30).map(|i| export_line(i) + "\n").collect();
        text.push_str(bad);
        text.push('\n');
        text.extend((31..36).map(|i| export_line(i) + "\n"));
        text
    };
    std::fs::write(&file, lines(r#"{"Item":{"pk":{"S":"k30"},"sk":{"N":"30"}"#)).unwrap();
    let args = ["import", utf8(&file), "--data-dir", utf8(&data), "--table", "tbl"];
    let refused = refuse(&args);
    assert!(refused.contains("line 31: not valid JSON"), "{refused}");
    // The first full batch (25 items) was written and recorded.
    assert!(refused.contains("25 items from lines 1-25 are imported"), "{refused}");

    // An item the table refuses (no sort key) is named by its line too.
    std::fs::write(&file, lines(r#"{"Item":{"pk":{"S":"k30"}}}"#)).unwrap();
    let refused = refuse(&args);
    assert!(refused.contains("line 31: ValidationException"), "{refused}");

    // Fixed in place (the first 25 lines unchanged), the import continues after them.
    std::fs::write(&file, lines(&export_line(30))).unwrap();
    let report = succeed(&args);
    assert!(report.contains("resuming the import") && report.contains("at line 26"), "{report}");

    let fw = Flywheel::on_disk(&data);
    let client = fw.client();
    assert_eq!(scan_all(&client, "tbl").await.len(), 36);
    assert_eq!(item_count(&client, "tbl").await, 36);
    stop(fw);
}

#[tokio::test]
async fn a_killed_import_resumes_without_duplicating_or_skipping() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let fw = Flywheel::on_disk(&data);
    create_table(&fw.client(), "big", false).await;
    stop(fw);

    let file = root.path().join("big.json");
    let progress = root.path().join("big.json.import-progress");
    let args = ["import", utf8(&file), "--data-dir", utf8(&data), "--table", "big"];

    // Kill it (SIGKILL: no chance to tidy up) as soon as it has recorded some progress. Whether
    // the kill lands before the import ends depends on how fast the machine is, so an import
    // that finished first is not a failure: it is tried again with twice the items (each file
    // holds the last one's items and more, so the table ends up with exactly the last file's).
    let mut items = 20_000;
    let recorded = loop {
        let text: String = (0..items).map(|i| export_line(i) + "\n").collect();
        std::fs::write(&file, &text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_flywheel"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut finished = false;
        while !progress.exists() {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(Instant::now() < deadline, "no progress file appeared");
            std::thread::sleep(Duration::from_millis(2));
        }
        // A child that already exited is not signalled (kill answers Ok) and wait returns its status.
        let _ = child.kill();
        child.wait().unwrap();
        // The progress file can also go between the check and the kill, when the import ends.
        if finished || !progress.exists() {
            assert!(items < 20_000 << 6, "every import finished before it could be killed");
            items *= 2;
            continue;
        }
        let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(&progress).unwrap()).unwrap();
        break recorded;
    };
    let done = recorded["items"].as_u64().unwrap() as usize;
    assert!(done > 0 && done < items, "killed part way: {recorded}");

    let report = succeed(&args);
    assert!(report.contains("resuming the import"), "{report}");
    assert!(!progress.exists());

    let fw = Flywheel::on_disk(&data);
    let client = fw.client();
    let stored = scan_all(&client, "big").await;
    assert_eq!(stored.len(), items);
    for i in 0..items {
        assert_eq!(stored[&format!("k{i}/{i}")]["v"], AttributeValue::S(format!("value {i}")), "item {i}");
    }
    assert_eq!(item_count(&client, "big").await, items as i64);
    stop(fw);
}

#[tokio::test]
async fn the_data_dir_lock_refuses_a_second_opener() {
    // Two processes writing one data directory would corrupt it: while a server runs, neither
    // the tools nor a second server may open its directory.
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let fw = Flywheel::on_disk(&data);
    create_table(&fw.client(), "tbl", false).await;

    let refused = refuse(&["backup", "--data-dir", utf8(&data), utf8(&root.path().join("b1"))]);
    assert!(refused.contains("is in use by another process"), "{refused}");
    let refused = refuse(&["export", "tbl", "--data-dir", utf8(&data), "--format", "json-lines"]);
    assert!(refused.contains("is in use by another process"), "{refused}");
    let second = flywheel(&["--data-dir", utf8(&data), "--listen", "127.0.0.1:0", "--admin-listen", "off"]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("is in use by another process"));

    stop(fw);
    succeed(&["backup", "--data-dir", utf8(&data), utf8(&root.path().join("b2"))]);
}
