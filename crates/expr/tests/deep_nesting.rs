//! No 4 KB expression can overflow a small stack: the engine runs on tokio workers (2 MiB), and
//! user input must never crash the server. Each case is about as deep as 4 KB allows; everything
//! the engine does with a parsed tree (evaluate, apply, print, clone, drop) runs on a 1 MiB
//! thread, in a debug build where frames are largest.

use std::collections::HashMap;

use flywheel_expr::*;
use flywheel_types::{AttributeValue, Item};

fn outcome(src: &str, update: bool) -> String {
    let values = HashMap::from([
        (":s".to_string(), AttributeValue::S("x".into())),
        (":n".to_string(), AttributeValue::N(1.into())),
    ]);
    let mut resolver = Resolver::new(None, Some(&values)).unwrap();
    if update {
        match parse_update(src, &mut resolver) {
            Ok(u) => {
                let mut item = Item::from([("b".to_string(), AttributeValue::N(2.into()))]);
                let applied = apply_update(&u, &mut item, &["pk"]).map(|_| "applied").unwrap_or("failed");
                let copy = u.clone();
                format!("ok {} {applied} {}", u.to_string().len(), copy == u)
            }
            Err(e) => e.message,
        }
    } else {
        match parse_condition(src, &mut resolver, ExpressionKind::Condition) {
            Ok(c) => {
                let holds = evaluate(&c, None).unwrap();
                let copy = c.clone();
                format!("ok {} {holds} {}", c.to_string().len(), copy == c)
            }
            Err(e) => e.message,
        }
    }
}

#[test]
fn deepest_expressions_fit_in_a_small_stack() {
    let redundant = "Invalid ConditionExpression: The expression has redundant parentheses;";
    let cases: Vec<(String, bool, String)> = vec![
        (format!("{}a = :s{}", "(".repeat(2045), ")".repeat(2045)), false, redundant.into()),
        (format!("a = {}:s{}", "(".repeat(2045), ")".repeat(2045)), false, redundant.into()),
        (format!("{}a = :s", "NOT ".repeat(1022)), false, "ok 6 false true".into()),
        (format!("{}a = :s{}", "NOT(".repeat(817), ")".repeat(817)), false, "ok 10 true true".into()),
        (format!("{}a=:s{}", "NOT(a=:s AND ".repeat(292), ")".repeat(292)), false, "ok 4970 true true".into()),
        (format!("{}a=:s{}", "a=:s OR(a=:s AND(".repeat(120), "))".repeat(120)), false, "ok 2764 false true".into()),
        (format!("{}a = :s{}", "(a = :s AND ".repeat(299), ")".repeat(299)), false, "ok 3295 false true".into()),
        (vec!["a = :s"; 300].join(" OR "), false, "ok 2996 false true".into()),
        // As deep as parsing goes on the caller's own stack.
        (format!("{}a=:s{}", "NOT(a=:s AND ".repeat(64), ")".repeat(64)), false, "ok 1094 true true".into()),
        (format!("a = {}:s{}", "(".repeat(64), ")".repeat(64)), false, redundant.into()),
        (
            format!("{}a{} = :n", "size(".repeat(681), ")".repeat(681)),
            false,
            "Invalid ConditionExpression: The expression contains too many operators; operator count: 301".into(),
        ),
        ("(".repeat(4096), false, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"(\"".into()),
        (
            format!("SET a = {}b{}", "(".repeat(2040), ")".repeat(2040)),
            true,
            "Invalid UpdateExpression: The expression has redundant parentheses;".into(),
        ),
        (
            format!("SET a = {}b{}", "if_not_exists(a,".repeat(240), ")".repeat(240)),
            true,
            "ok 4329 applied true".into(),
        ),
        (format!("SET a = {}b{}", "list_append(b,".repeat(270), ")".repeat(270)), true, "ok 4329 failed true".into()),
    ];
    for (src, update, want) in cases {
        assert!(src.len() <= 4096, "case too long: {}", src.len());
        let got = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || outcome(&src, update))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(got, want);
    }
}
