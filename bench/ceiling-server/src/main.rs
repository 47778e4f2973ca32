//! Throughput ceilings for the Flywheel load benchmark (see ../README.md).
//!
//! `ceiling-server fixed [ADDR]`: reads each request body and answers every POST
//! with a fixed body chosen by the `X-Amz-Target` header alone, parsing nothing.
//! The bodies have the shape and about the size of real answers (GetItem: one
//! ~1 KB item; Query: 10 items and `"Count":10`; UpdateItem: the new counter;
//! BatchWriteItem: empty `UnprocessedItems`) so that the benchmark's response
//! checks pass and the bytes on the wire are comparable. This is the most any
//! HTTP/1.1 server can do on this box with this load driver (system `ceiling`).
//!
//! `ceiling-server store [ADDR]`: parses the body with serde_json, dispatches on
//! `X-Amz-Target` and keeps items in an in-memory HashMap (BTreeMap per
//! partition for the sort key): a rough "in-memory store" ceiling (system
//! `ceiling-store`). Enough of ListTables / CreateTable / DescribeTable /
//! DeleteTable / PutItem / GetItem / Query (`pk = :v` only) / UpdateItem
//! (`ADD attr :v` only) / BatchWriteItem (puts) for bench/run.sh; no
//! validation, general expressions, auth or persistence.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Value sizes of the fixed answers; they match bench/preload.py's defaults.
const FIXED_VALSIZE: usize = 1000;
const FIXED_QVALSIZE: usize = 100;
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Sort-key value with DynamoDB's ordering: numbers numerically, strings bytewise.
#[derive(Clone, Debug, PartialEq)]
enum SortKey {
    None,
    N(f64),
    S(String),
}
impl Eq for SortKey {}
impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::N(a), SortKey::N(b)) => a.total_cmp(b),
            (SortKey::S(a), SortKey::S(b)) => a.as_bytes().cmp(b.as_bytes()),
            (SortKey::None, SortKey::None) => Ordering::Equal,
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}
fn rank(k: &SortKey) -> u8 {
    match k {
        SortKey::None => 0,
        SortKey::N(_) => 1,
        SortKey::S(_) => 2,
    }
}

struct Table {
    hash_key: String,
    range_key: Option<String>,
    /// partition key (type-tagged) -> sort key -> item serialized as JSON.
    parts: HashMap<String, BTreeMap<SortKey, String>>,
    count: u64,
}

#[derive(Default)]
struct Store {
    tables: RwLock<HashMap<String, Arc<RwLock<Table>>>>,
}

type Reply = (StatusCode, Bytes);

fn ok(v: Value) -> Reply {
    (StatusCode::OK, Bytes::from(v.to_string()))
}
fn err(kind: &str, msg: &str) -> Reply {
    let body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": msg});
    (StatusCode::BAD_REQUEST, Bytes::from(body.to_string()))
}

/// `{"S":"x"}` -> "S:x" (type-tagged so that S "1" and N "1" differ).
fn hash_repr(av: &Value) -> Option<String> {
    let (t, v) = av.as_object()?.iter().next()?;
    Some(format!("{t}:{}", v.as_str()?))
}
fn sort_repr(av: Option<&Value>) -> Option<SortKey> {
    let Some(av) = av else { return Some(SortKey::None) };
    let (t, v) = av.as_object()?.iter().next()?;
    let s = v.as_str()?;
    match t.as_str() {
        "N" => s.parse().ok().map(SortKey::N),
        _ => Some(SortKey::S(s.to_owned())),
    }
}

impl Store {
    fn table(&self, req: &Value) -> Result<Arc<RwLock<Table>>, Reply> {
        let name = req["TableName"].as_str().unwrap_or_default();
        self.tables
            .read()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| err("ResourceNotFoundException", "Requested resource not found"))
    }

    fn put(t: &mut Table, item: &Value) -> Result<(), Reply> {
        let bad = || err("ValidationException", "missing key attribute");
        let hk = hash_repr(&item[&t.hash_key]).ok_or_else(bad)?;
        let sk = match &t.range_key {
            Some(r) => sort_repr(item.get(r)).ok_or_else(bad)?,
            None => SortKey::None,
        };
        let ser = item.to_string();
        if t.parts.entry(hk).or_default().insert(sk, ser).is_none() {
            t.count += 1;
        }
        Ok(())
    }

    /// UpdateItem with `UpdateExpression: "ADD <attr> <:val>"` (attr may be a `#name`)
    /// on a number attribute; answers `UPDATED_NEW` / `ALL_NEW` when asked.
    fn update_add(t: &mut Table, req: &Value) -> Result<Reply, Reply> {
        let bad = |m: &str| err("ValidationException", m);
        let expr = req["UpdateExpression"].as_str().unwrap_or_default();
        let words: Vec<&str> = expr.split_whitespace().collect();
        let [verb, name, val] = words[..] else {
            return Err(bad("ceiling store supports only `ADD attr :v`"));
        };
        if !verb.eq_ignore_ascii_case("ADD") {
            return Err(bad("ceiling store supports only `ADD attr :v`"));
        }
        let attr = match name.strip_prefix('#') {
            Some(_) => req["ExpressionAttributeNames"][name].as_str().ok_or_else(|| bad("unknown #name"))?,
            None => name,
        };
        let delta: f64 = req["ExpressionAttributeValues"][val]["N"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("ADD needs a number value"))?;
        let key = &req["Key"];
        let hk = hash_repr(&key[&t.hash_key]).ok_or_else(|| bad("missing key attribute"))?;
        let sk = match &t.range_key {
            Some(r) => sort_repr(key.get(r)).ok_or_else(|| bad("missing key attribute"))?,
            None => SortKey::None,
        };
        let part = t.parts.entry(hk).or_default();
        let mut item: Value = match part.get(&sk) {
            Some(ser) => serde_json::from_str(ser).unwrap_or_else(|_| json!({})),
            None => key.clone(),
        };
        let old: f64 = item[attr]["N"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0.0);
        let new = old + delta;
        let new_av = json!({ "N": if new.fract() == 0.0 { format!("{}", new as i64) } else { new.to_string() } });
        item[attr] = new_av.clone();
        if part.insert(sk, item.to_string()).is_none() {
            t.count += 1;
        }
        let body = match req["ReturnValues"].as_str() {
            Some("UPDATED_NEW") => json!({ "Attributes": { attr: new_av } }),
            Some("ALL_NEW") => json!({ "Attributes": item }),
            _ => json!({}),
        };
        Ok(ok(body))
    }

    fn handle(&self, op: &str, body: &[u8]) -> Reply {
        let req: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return err("SerializationException", &e.to_string()),
        };
        match self.dispatch(op, &req) {
            Ok(r) | Err(r) => r,
        }
    }

    fn dispatch(&self, op: &str, req: &Value) -> Result<Reply, Reply> {
        match op {
            "ListTables" => {
                let mut names: Vec<String> = self.tables.read().unwrap().keys().cloned().collect();
                names.sort();
                Ok(ok(json!({ "TableNames": names })))
            }
            "CreateTable" => {
                let name = req["TableName"].as_str().unwrap_or_default().to_owned();
                let mut hash_key = None;
                let mut range_key = None;
                for k in req["KeySchema"].as_array().into_iter().flatten() {
                    let attr = k["AttributeName"].as_str().map(str::to_owned);
                    match k["KeyType"].as_str() {
                        Some("HASH") => hash_key = attr,
                        Some("RANGE") => range_key = attr,
                        _ => {}
                    }
                }
                let hash_key = hash_key.ok_or_else(|| err("ValidationException", "no HASH key"))?;
                let mut tables = self.tables.write().unwrap();
                if tables.contains_key(&name) {
                    return Err(err("ResourceInUseException", "Table already exists"));
                }
                let t = Table { hash_key, range_key, parts: HashMap::new(), count: 0 };
                tables.insert(name.clone(), Arc::new(RwLock::new(t)));
                Ok(ok(json!({"TableDescription": {"TableName": name, "TableStatus": "ACTIVE",
                    "KeySchema": req["KeySchema"], "AttributeDefinitions": req["AttributeDefinitions"]}})))
            }
            "DescribeTable" => {
                let t = self.table(req)?;
                let t = t.read().unwrap();
                Ok(ok(json!({"Table": {"TableName": req["TableName"], "TableStatus": "ACTIVE",
                    "ItemCount": t.count}})))
            }
            "DeleteTable" => {
                let name = req["TableName"].as_str().unwrap_or_default();
                match self.tables.write().unwrap().remove(name) {
                    Some(_) => Ok(ok(json!({"TableDescription": {"TableName": name, "TableStatus": "DELETING"}}))),
                    None => Err(err("ResourceNotFoundException", "Requested resource not found")),
                }
            }
            "PutItem" => {
                let t = self.table(req)?;
                Self::put(&mut t.write().unwrap(), &req["Item"])?;
                Ok((StatusCode::OK, Bytes::from_static(b"{}")))
            }
            "BatchWriteItem" => {
                let empty = serde_json::Map::new();
                for (name, writes) in req["RequestItems"].as_object().unwrap_or(&empty) {
                    let t = self.table(&json!({ "TableName": name }))?;
                    let mut t = t.write().unwrap();
                    for w in writes.as_array().into_iter().flatten() {
                        Self::put(&mut t, &w["PutRequest"]["Item"])?;
                    }
                }
                Ok(ok(json!({"UnprocessedItems": {}})))
            }
            "GetItem" => {
                let t = self.table(req)?;
                let t = t.read().unwrap();
                let key = &req["Key"];
                let bad = || err("ValidationException", "missing key attribute");
                let hk = hash_repr(&key[&t.hash_key]).ok_or_else(bad)?;
                let sk = match &t.range_key {
                    Some(r) => sort_repr(key.get(r)).ok_or_else(bad)?,
                    None => SortKey::None,
                };
                let body = match t.parts.get(&hk).and_then(|p| p.get(&sk)) {
                    Some(item) => {
                        let mut b = Vec::with_capacity(item.len() + 9);
                        b.extend_from_slice(b"{\"Item\":");
                        b.extend_from_slice(item.as_bytes());
                        b.push(b'}');
                        Bytes::from(b)
                    }
                    None => Bytes::from_static(b"{}"),
                };
                Ok((StatusCode::OK, body))
            }
            "UpdateItem" => {
                let t = self.table(req)?;
                let mut t = t.write().unwrap();
                Self::update_add(&mut t, req)
            }
            "Query" => {
                // Rough: only `<hash> = :v`; takes the first expression value as the partition key.
                let t = self.table(req)?;
                let t = t.read().unwrap();
                let hk = req["ExpressionAttributeValues"]
                    .as_object()
                    .and_then(|m| m.values().next())
                    .and_then(hash_repr)
                    .ok_or_else(|| err("ValidationException", "no key condition value"))?;
                let limit = req["Limit"].as_u64().unwrap_or(u64::MAX) as usize;
                let mut body = Vec::with_capacity(4096);
                body.extend_from_slice(b"{\"Items\":[");
                let mut n = 0usize;
                if let Some(p) = t.parts.get(&hk) {
                    for item in p.values().take(limit) {
                        if n > 0 {
                            body.push(b',');
                        }
                        body.extend_from_slice(item.as_bytes());
                        n += 1;
                    }
                }
                body.extend_from_slice(format!("],\"Count\":{n},\"ScannedCount\":{n}}}").as_bytes());
                Ok((StatusCode::OK, Bytes::from(body)))
            }
            _ => Err(err("UnknownOperationException", op)),
        }
    }
}

/// Fixed answers of `fixed` mode, built once; picked by operation name only.
struct Fixed {
    get: Bytes,
    query: Bytes,
    scan: Bytes,
    update: Bytes,
    batch: Bytes,
    list: Bytes,
    empty: Bytes,
}

impl Fixed {
    fn new() -> Self {
        let val = "v".repeat(FIXED_VALSIZE);
        let qval = "q".repeat(FIXED_QVALSIZE);
        let items: Vec<String> = (1..=10)
            .map(|i| format!(r#"{{"pk":{{"S":"part0042"}},"sk":{{"N":"{i}"}},"val":{{"S":"{qval}"}}}}"#))
            .collect();
        Fixed {
            get: Bytes::from(format!(r#"{{"Item":{{"pk":{{"S":"user000042"}},"val":{{"S":"{val}"}}}}}}"#)),
            query: Bytes::from(format!(r#"{{"Items":[{}],"Count":10,"ScannedCount":10}}"#, items.join(","))),
            scan: Bytes::from(format!(
                r#"{{"Items":[{}],"Count":100,"ScannedCount":100,"LastEvaluatedKey":{{"pk":{{"S":"part0042"}},"sk":{{"N":"10"}}}}}}"#,
                (0..10).map(|_| items.join(",")).collect::<Vec<_>>().join(",")
            )),
            update: Bytes::from_static(br#"{"Attributes":{"counter":{"N":"1"}}}"#),
            batch: Bytes::from_static(br#"{"UnprocessedItems":{}}"#),
            list: Bytes::from_static(br#"{"TableNames":["bench","bench2"]}"#),
            empty: Bytes::from_static(b"{}"),
        }
    }

    fn answer(&self, op: &str) -> Bytes {
        match op {
            "GetItem" => self.get.clone(),
            "Query" => self.query.clone(),
            "Scan" => self.scan.clone(),
            "UpdateItem" => self.update.clone(),
            "BatchWriteItem" => self.batch.clone(),
            "ListTables" => self.list.clone(),
            _ => self.empty.clone(),
        }
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    r
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "fixed".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8100".into());
    let store_mode = match mode.as_str() {
        "fixed" => false,
        "store" => true,
        _ => return Err("usage: ceiling-server <fixed|store> [ADDR]".into()),
    };
    let store = Arc::new(Store::default());
    let fixed = Arc::new(Fixed::new());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("ceiling-server {mode} listening on {addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let store = store.clone();
        let fixed = fixed.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let store = store.clone();
                let fixed = fixed.clone();
                async move {
                    let op = req
                        .headers()
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix(TARGET_PREFIX))
                        .unwrap_or("")
                        .to_owned();
                    // Both modes read the whole body; only `store` parses it.
                    let body = match req.into_body().collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(_) => Bytes::new(),
                    };
                    let (status, out) = if store_mode {
                        store.handle(&op, &body)
                    } else {
                        (StatusCode::OK, fixed.answer(&op))
                    };
                    Ok::<_, Infallible>(respond(status, out))
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
