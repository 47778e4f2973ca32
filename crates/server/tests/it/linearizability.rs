//! Linearizability of single-item operations, checked by stateright's `LinearizabilityTester`
//! (a Wing–Gong style search over the recorded concurrent history).
//!
//! Eight clients issue strongly consistent reads (GetItem with ConsistentRead), blind writes
//! (PutItem) and compare-and-set writes (PutItem with `ConditionExpression v = :expected`) on a
//! few keys through aws-sdk-dynamodb. Every invocation and response is recorded, in real-time
//! order, into one log; each key's history is then checked against a register with CAS (keys
//! are independent objects, and linearizability is compositional). The same check will gate
//! the replicated mode. A deliberately stale history is rejected, to show the checker bites.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use common::{Flywheel, Rng};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

/// A register holding an optional number, with compare-and-set.
#[derive(Clone, Debug, Default, PartialEq)]
struct Register(Option<u64>);

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Read,
    Write(u64),
    /// Set to `new` if the current value is `expected`.
    Cas {
        expected: u64,
        new: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Ret {
    Read(Option<u64>),
    Write,
    Cas(bool),
}

impl SequentialSpec for Register {
    type Op = Op;
    type Ret = Ret;

    fn invoke(&mut self, op: &Op) -> Ret {
        match op {
            Op::Read => Ret::Read(self.0),
            Op::Write(v) => {
                self.0 = Some(*v);
                Ret::Write
            }
            Op::Cas { expected, new } => {
                if self.0 == Some(*expected) {
                    self.0 = Some(*new);
                    Ret::Cas(true)
                } else {
                    Ret::Cas(false)
                }
            }
        }
    }
}

/// One event of the history: (client, key, invocation or response).
#[derive(Clone, Debug)]
enum Event {
    Invoke(usize, u64, Op),
    Return(usize, u64, Ret),
}

const CLIENTS: usize = 8;
const KEYS: u64 = 3;
const OPS_PER_CLIENT: u64 = 120;

async fn run_history(server: &Flywheel) -> Vec<Event> {
    let client = server.client();
    client
        .create_table()
        .table_name("registers")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("k").attribute_type(ScalarAttributeType::N).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("k").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .expect("create table");
    let log: Arc<Mutex<Vec<Event>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, log) = (client.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((c as u64 + 1) * 0x9E37_79B9));
            for i in 0..OPS_PER_CLIENT {
                let key = rng.below(KEYS);
                // Values are unique per write, so a read names exactly one write.
                let fresh = (c as u64 + 1) * 1_000_000 + i;
                let op = match rng.below(3) {
                    0 => Op::Read,
                    1 => Op::Write(fresh),
                    _ => Op::Cas { expected: last_seen(&log, key), new: fresh },
                };
                log.lock().unwrap().push(Event::Invoke(c, key, op.clone()));
                let k = AttributeValue::N(key.to_string());
                let ret = match op {
                    Op::Read => {
                        let out = client
                            .get_item()
                            .table_name("registers")
                            .key("k", k)
                            .consistent_read(true)
                            .send()
                            .await
                            .expect("get");
                        Ret::Read(out.item.and_then(|i| i.get("v").and_then(|v| v.as_n().ok()?.parse().ok())))
                    }
                    Op::Write(v) => {
                        client
                            .put_item()
                            .table_name("registers")
                            .item("k", k)
                            .item("v", AttributeValue::N(v.to_string()))
                            .send()
                            .await
                            .expect("put");
                        Ret::Write
                    }
                    Op::Cas { expected, new } => {
                        let result = client
                            .put_item()
                            .table_name("registers")
                            .item("k", k)
                            .item("v", AttributeValue::N(new.to_string()))
                            .condition_expression("v = :e")
                            .expression_attribute_values(":e", AttributeValue::N(expected.to_string()))
                            .send()
                            .await;
                        match result {
                            Ok(_) => Ret::Cas(true),
                            Err(e)
                                if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                            {
                                Ret::Cas(false)
                            }
                            Err(e) => panic!("conditional put failed unexpectedly: {e:?}"),
                        }
                    }
                };
                log.lock().unwrap().push(Event::Return(c, key, ret));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(log).unwrap().into_inner().unwrap()
}

/// The most recent value any client has seen or written for `key` (so CAS often succeeds).
fn last_seen(log: &Mutex<Vec<Event>>, key: u64) -> u64 {
    let log = log.lock().unwrap();
    let mut pending: HashMap<usize, Op> = HashMap::new();
    let mut last = 0;
    for e in log.iter() {
        match e {
            Event::Invoke(c, k, op) if *k == key => {
                pending.insert(*c, op.clone());
            }
            Event::Return(c, k, ret) if *k == key => match (pending.remove(c), ret) {
                (Some(Op::Write(v)), _) | (Some(Op::Cas { new: v, .. }), Ret::Cas(true)) => last = v,
                (_, Ret::Read(Some(v))) => last = *v,
                _ => {}
            },
            _ => {}
        }
    }
    last
}

/// Checks each key's history; returns the number of operations checked.
fn check(history: &[Event]) -> usize {
    let mut checked = 0;
    for key in 0..KEYS {
        let mut tester = LinearizabilityTester::new(Register::default());
        for e in history {
            match e {
                Event::Invoke(c, k, op) if *k == key => {
                    tester.on_invoke(*c, op.clone()).expect("well-formed history");
                    checked += 1;
                }
                Event::Return(c, k, ret) if *k == key => {
                    tester.on_return(*c, ret.clone()).expect("well-formed history");
                }
                _ => {}
            }
        }
        assert!(tester.is_consistent(), "key {key}: history is not linearizable");
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_item_operations_are_linearizable_in_memory() {
    let server = Flywheel::in_memory();
    let history = run_history(&server).await;
    let successful_cas = history.iter().filter(|e| matches!(e, Event::Return(_, _, Ret::Cas(true)))).count();
    assert!(successful_cas > 10, "the workload exercised successful CAS ({successful_cas})");
    assert_eq!(check(&history), CLIENTS * OPS_PER_CLIENT as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_item_operations_are_linearizable_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Flywheel::on_disk(dir.path());
    let history = run_history(&server).await;
    assert_eq!(check(&history), CLIENTS * OPS_PER_CLIENT as usize);
}

#[test]
fn the_checker_rejects_a_stale_read() {
    // Client 0 writes 1 and is acknowledged; afterwards client 1 reads nothing: not linearizable.
    let history = vec![
        Event::Invoke(0, 0, Op::Write(1)),
        Event::Return(0, 0, Ret::Write),
        Event::Invoke(1, 0, Op::Read),
        Event::Return(1, 0, Ret::Read(None)),
    ];
    let mut tester = LinearizabilityTester::new(Register::default());
    for e in &history {
        match e {
            Event::Invoke(c, _, op) => tester.on_invoke(*c, op.clone()).unwrap(),
            Event::Return(c, _, ret) => tester.on_return(*c, ret.clone()).unwrap(),
        };
    }
    assert!(!tester.is_consistent());
}
