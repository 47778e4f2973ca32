//! Parse throughput for a realistic mix of expressions, one resolver per expression as in a
//! request. Run with `cargo run --release -p flywheel-expr --example parse_throughput`.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use flywheel_expr::*;
use flywheel_types::{AttributeValue, Item, Number};

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(Number::from(v))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn main() {
    let names: HashMap<String, String> = [("#status", "status"), ("#name", "name"), ("#v", "version")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let values: HashMap<String, AttributeValue> = [
        (":active", s("active")),
        (":version", n(7)),
        (":name", s("Ada")),
        (":now", n(1_700_000_000)),
        (":one", n(1)),
        (":pk", s("user#1")),
        (":prefix", s("order#2024")),
        (":zero", n(0)),
        (":tag", s("red")),
        (":lo", n(10)),
        (":hi", n(100)),
        (":a", s("new")),
        (":b", s("paid")),
        (":c", s("shipped")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    enum Kind {
        Condition(ExpressionKind),
        Update,
        Projection,
    }
    let mix: Vec<(&str, Kind)> = vec![
        ("attribute_not_exists(pk)", Kind::Condition(ExpressionKind::Condition)),
        ("#status = :active AND #v < :version", Kind::Condition(ExpressionKind::Condition)),
        ("SET #name = :name, updatedAt = :now, #v = #v + :one REMOVE tmp", Kind::Update),
        ("pk = :pk AND begins_with(sk, :prefix)", Kind::Condition(ExpressionKind::KeyCondition)),
        (
            "size(tags) > :zero AND contains(tags, :tag) OR price BETWEEN :lo AND :hi",
            Kind::Condition(ExpressionKind::Filter),
        ),
        ("id, #name, address.city, tags[0]", Kind::Projection),
        ("ADD viewCount :one SET lastViewed = :now", Kind::Update),
        ("#status IN (:a, :b, :c) AND attribute_exists(seller.id)", Kind::Condition(ExpressionKind::Filter)),
    ];

    let item: Item = [
        ("pk".to_string(), s("user#1")),
        ("status".to_string(), s("active")),
        ("version".to_string(), n(3)),
        ("tags".to_string(), AttributeValue::Ss(vec!["red".into(), "blue".into()])),
        ("price".to_string(), n(42)),
        ("seller".to_string(), AttributeValue::M(BTreeMap::from([("id".to_string(), s("u1"))]))),
    ]
    .into_iter()
    .collect();

    let run = |evaluate_too: bool, budget: Duration| -> f64 {
        let start = Instant::now();
        let mut count = 0u64;
        while start.elapsed() < budget {
            for _ in 0..1000 {
                for (text, kind) in &mix {
                    let mut resolver = Resolver::new(Some(&names), Some(&values)).unwrap();
                    match kind {
                        Kind::Condition(k) => {
                            let c = parse_condition(text, &mut resolver, *k).unwrap();
                            if evaluate_too {
                                black_box(evaluate(&c, Some(&item)).unwrap());
                            }
                            black_box(c);
                        }
                        Kind::Update => {
                            let u = parse_update(text, &mut resolver).unwrap();
                            if evaluate_too {
                                let mut copy = item.clone();
                                black_box(apply_update(&u, &mut copy, &["pk"]).unwrap());
                            }
                            black_box(u);
                        }
                        Kind::Projection => {
                            let p = parse_projection(text, &mut resolver).unwrap();
                            if evaluate_too {
                                black_box(project_paths(&item, &p.paths));
                            }
                            black_box(p);
                        }
                    }
                    count += 1;
                }
            }
        }
        count as f64 / start.elapsed().as_secs_f64()
    };

    run(false, Duration::from_millis(300)); // warm up
    let parse = run(false, Duration::from_secs(3));
    let both = run(true, Duration::from_secs(3));
    println!("mix of {} expressions, one Resolver each (map validation included)", mix.len());
    println!("parse only:            {:>10.0} expressions/s ({:.2} µs each)", parse, 1e6 / parse);
    println!("parse + evaluate/apply: {:>10.0} expressions/s ({:.2} µs each)", both, 1e6 / both);
}
