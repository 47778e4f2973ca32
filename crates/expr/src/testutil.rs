//! Test support: a compact notation for attribute values so that tests read as tables.
//!
//! `"x"` string, `1.5` number, `b"01ff"` binary (hex), `true`/`false`, `null`, `[…]` list,
//! `{k: v, …}` map (keys bare or quoted), `SS["a"]`, `NS[1, 2]`, `BS[b"01"]` sets.

use std::collections::{BTreeMap, HashMap};

use flywheel_types::{AttributeValue, Item, Number};

use crate::resolver::Resolver;
use crate::{parse_condition, parse_projection, parse_update, ExpressionKind};

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn quoted(&mut self) -> String {
        assert!(self.eat(b'"'), "expected a string at {}", self.i);
        let start = self.i;
        while self.s[self.i] != b'"' {
            self.i += 1;
        }
        self.i += 1;
        String::from_utf8(self.s[start..self.i - 1].to_vec()).unwrap()
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || b"_.-+".contains(&self.s[self.i])) {
            self.i += 1;
        }
        String::from_utf8(self.s[start..self.i].to_vec()).unwrap()
    }

    fn list(&mut self) -> Vec<AttributeValue> {
        let mut out = Vec::new();
        assert!(self.eat(b'['));
        if self.eat(b']') {
            return out;
        }
        loop {
            out.push(self.value());
            if self.eat(b']') {
                return out;
            }
            assert!(self.eat(b','), "expected , at {}", self.i);
        }
    }

    fn value(&mut self) -> AttributeValue {
        self.ws();
        match self.s[self.i] {
            b'"' => AttributeValue::S(self.quoted()),
            b'[' => AttributeValue::L(self.list()),
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                if self.eat(b'}') {
                    return AttributeValue::M(m);
                }
                loop {
                    self.ws();
                    let key = if self.s[self.i] == b'"' { self.quoted() } else { self.word() };
                    assert!(self.eat(b':'), "expected : at {}", self.i);
                    m.insert(key, self.value());
                    if self.eat(b'}') {
                        return AttributeValue::M(m);
                    }
                    assert!(self.eat(b','), "expected , at {}", self.i);
                }
            }
            b'b' if self.s.get(self.i + 1) == Some(&b'"') => {
                self.i += 1;
                AttributeValue::B(hex(&self.quoted()))
            }
            _ => {
                let w = self.word();
                match w.as_str() {
                    "true" => AttributeValue::Bool(true),
                    "false" => AttributeValue::Bool(false),
                    "null" => AttributeValue::Null,
                    "SS" => AttributeValue::Ss(
                        self.list()
                            .into_iter()
                            .map(|v| match v {
                                AttributeValue::S(s) => s,
                                other => panic!("SS member {other:?}"),
                            })
                            .collect(),
                    ),
                    "NS" => AttributeValue::Ns(
                        self.list()
                            .into_iter()
                            .map(|v| match v {
                                AttributeValue::N(n) => n,
                                other => panic!("NS member {other:?}"),
                            })
                            .collect(),
                    ),
                    "BS" => AttributeValue::Bs(
                        self.list()
                            .into_iter()
                            .map(|v| match v {
                                AttributeValue::B(b) => b,
                                other => panic!("BS member {other:?}"),
                            })
                            .collect(),
                    ),
                    number => AttributeValue::N(Number::parse(number).unwrap_or_else(|_| panic!("value {number:?}"))),
                }
            }
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A value in the test notation.
pub(crate) fn v(src: &str) -> AttributeValue {
    let mut r = Reader { s: src.as_bytes(), i: 0 };
    let value = r.value();
    r.ws();
    assert_eq!(r.i, src.len(), "trailing input in {src:?}");
    value
}

/// An item in the test notation (a map).
pub(crate) fn item(src: &str) -> Item {
    match v(src) {
        AttributeValue::M(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

/// Renders a value back into the test notation (maps sorted, sets in stored order).
pub(crate) fn show(value: &AttributeValue) -> String {
    fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
        items.iter().map(f).collect::<Vec<_>>().join(", ")
    }
    let bin = |b: &Vec<u8>| format!("b\"{}\"", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
    match value {
        AttributeValue::S(s) => format!("\"{s}\""),
        AttributeValue::N(n) => n.to_string(),
        AttributeValue::B(b) => bin(b),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null => "null".to_string(),
        AttributeValue::L(l) => format!("[{}]", join(l, show)),
        AttributeValue::M(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}: {}", show(v))).collect::<Vec<_>>().join(", "))
        }
        AttributeValue::Ss(s) => format!("SS[{}]", join(s, |x| format!("\"{x}\""))),
        AttributeValue::Ns(s) => format!("NS[{}]", join(s, |x| x.to_string())),
        AttributeValue::Bs(s) => format!("BS[{}]", join(s, bin)),
    }
}

pub(crate) fn show_item(item: &Item) -> String {
    show(&AttributeValue::M(item.clone()))
}

/// The names every test resolver knows.
pub(crate) fn fixture_names() -> HashMap<String, String> {
    [
        ("#a", "a"),
        ("#b", "b"),
        ("#c", "c"),
        ("#s", "status"),
        ("#d", "[3]"),
        ("#one", "1"),
        ("#dot", "x.y"),
        ("#pk", "pk"),
        ("#sk", "sk"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The values every test resolver knows.
pub(crate) fn fixture_values() -> HashMap<String, AttributeValue> {
    [
        (":s", "\"abc\""),
        (":a", "\"a\""),
        (":t", "\"abd\""),
        (":ab", "\"ab\""),
        (":empty", "\"\""),
        (":n", "1"),
        (":m", "2"),
        (":big", "10"),
        (":neg", "-3"),
        (":huge", "9.9999999999999999999999999999999999999E+125"),
        (":bin", "b\"0102\""),
        (":bin1", "b\"01\""),
        (":bool", "true"),
        (":null", "null"),
        (":l", "[1, 2]"),
        (":l2", "[\"x\"]"),
        (":el", "[]"),
        (":map", "{k: 1}"),
        (":ss", "SS[\"a\", \"b\"]"),
        (":ss2", "SS[\"b\", \"c\"]"),
        (":ns", "NS[1, 2]"),
        (":ns1", "NS[1]"),
        (":bs", "BS[b\"01\"]"),
        (":S", "\"S\""),
        (":N", "\"N\""),
        (":L", "\"L\""),
        (":M", "\"M\""),
        (":SS", "\"SS\""),
        (":DOG", "\"DOG\""),
    ]
    .iter()
    .map(|(k, src)| (k.to_string(), v(src)))
    .collect()
}

/// Runs `f` with a resolver over the fixture names and values.
pub(crate) fn with_fixture<T>(f: impl FnOnce(&mut Resolver<'_>) -> T) -> T {
    let names = fixture_names();
    let values = fixture_values();
    let mut resolver = Resolver::new(Some(&names), Some(&values)).expect("fixture maps are valid");
    f(&mut resolver)
}

/// Parses `src` as `kind` against the fixture and returns its printed form or the error message.
pub(crate) fn parse_outcome(kind: ExpressionKind, src: &str) -> String {
    with_fixture(|r| {
        let printed = match kind {
            ExpressionKind::Update => parse_update(src, r).map(|u| u.to_string()),
            ExpressionKind::Projection => parse_projection(src, r).map(|p| p.to_string()),
            _ => parse_condition(src, r, kind).map(|c| c.to_string()),
        };
        printed.unwrap_or_else(|e| e.message)
    })
}

#[test]
fn notation_round_trips() {
    for src in [
        "{a: \"x\", b: 1.5, c: [1, \"y\", [true, null]], d: {e: b\"01ff\"}}",
        "{bs: BS[b\"00\"], l: [], m: {}, n: NS[1, -2], s: SS[\"a\", \"b\"]}",
    ] {
        assert_eq!(show_item(&item(src)), src);
    }
}
