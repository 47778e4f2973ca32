//! The order-preserving key encoding (`flywheel_types::key`), against an independent model.
//!
//! Input: a key type and up to `VALUES_MAX` values of it, each drawn fresh or derived from an
//! earlier one (equal, extended, one byte or digit changed), so that equal values, shared
//! prefixes and near neighbours are common. Numbers are drawn as sign, raw digits and exponent
//! and written in one of several textual forms; the model normalises them itself. Properties:
//! - number text parses exactly when the model says it is in DynamoDB's range, and prints and
//!   parses back to itself;
//! - order: `enc(a) < enc(b)` exactly when `a < b` in DynamoDB's order (strings and binaries
//!   bytewise, numbers by value), and `enc(a) == enc(b)` exactly when `a == b`;
//! - self-delimiting: no encoding is a proper prefix of another's;
//! - item keys: `item_key(pk, sk)` starts with `partition_hash(pk)` and then
//!   `partition_prefix(pk)`; without the hash, item keys order by pk, then sk;
//! - `begins_with` ranges: for strings and binaries, `v` starts with `p` exactly when
//!   `encode_prefix(p) <= enc(v) < prefix_successor(encode_prefix(p))`.

#![no_main]

use std::cmp::Ordering;

use flywheel_types::key::{encode_prefix, item_key, partition_hash, partition_prefix, prefix_successor};
use flywheel_types::{KeyValue, Number};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const VALUES_MAX: usize = 8;

/// A number as the model sees it: ±0.d₁d₂…dₙ × 10^exponent, no leading or trailing zero digit;
/// zero has no digits.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ModelNumber {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl ModelNumber {
    fn new(negative: bool, raw: &[u8], exponent: i64) -> ModelNumber {
        let lead = raw.iter().take_while(|&&d| d == 0).count();
        let mut digits = raw[lead..].to_vec();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return ModelNumber { negative: false, digits, exponent: 0 };
        }
        ModelNumber { negative, digits, exponent: exponent - lead as i64 }
    }

    /// DynamoDB's range: 38 significant digits, magnitude in [1E-130, 1E+126).
    fn in_range(&self) -> bool {
        self.digits.is_empty() || (self.digits.len() <= 38 && (-129..=126).contains(&self.exponent))
    }

    fn cmp(&self, other: &ModelNumber) -> Ordering {
        let sign = |n: &ModelNumber| match (n.digits.is_empty(), n.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let magnitude =
            |a: &ModelNumber, b: &ModelNumber| a.exponent.cmp(&b.exponent).then_with(|| a.digits.cmp(&b.digits));
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => match sign(self) {
                0 => Ordering::Equal,
                1 => magnitude(self, other),
                _ => magnitude(other, self),
            },
            unequal => unequal,
        }
    }
}

/// A key value and what the model knows of it.
#[derive(Clone, Debug)]
enum Model {
    S(String),
    B(Vec<u8>),
    N(ModelNumber),
}

impl Model {
    fn cmp(&self, other: &Model) -> Ordering {
        match (self, other) {
            (Model::S(a), Model::S(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Model::B(a), Model::B(b)) => a.cmp(b),
            (Model::N(a), Model::N(b)) => a.cmp(b),
            _ => unreachable!("values of one key type"),
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Model::S(s) => Some(s.as_bytes()),
            Model::B(b) => Some(b),
            Model::N(_) => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    S,
    N,
    B,
}

fn kind(u: &mut Unstructured) -> Result<Kind> {
    Ok(*u.choose(&[Kind::S, Kind::N, Kind::B])?)
}

/// Characters and bytes where encodings go wrong: the escaped `0x00`, the terminator's `0x01`,
/// `0xFF`, and multi-byte UTF-8.
fn interesting_char(u: &mut Unstructured) -> Result<char> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => '\0',
        1 => '\u{1}',
        2 => 'a',
        3 => 'b',
        4 => '\u{7f}',
        5 => 'é',
        6 => '\u{ffff}',
        7 => '\u{10348}',
        _ => u.arbitrary::<char>()?,
    })
}

fn interesting_byte(u: &mut Unstructured) -> Result<u8> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 | 1 => 0,
        2 => 1,
        3 => 0xFF,
        4 => 0xFE,
        5 => b'a',
        _ => u.arbitrary::<u8>()?,
    })
}

fn fresh_string(u: &mut Unstructured) -> Result<String> {
    let len = u.int_in_range(0..=6usize)?;
    (0..len).map(|_| interesting_char(u)).collect()
}

fn fresh_bytes(u: &mut Unstructured) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=8usize)?;
    (0..len).map(|_| interesting_byte(u)).collect()
}

/// A number as text, in one of the forms clients send, and its model (which may be out of
/// DynamoDB's range: the parser must then refuse the text).
fn number(u: &mut Unstructured, base: Option<&ModelNumber>) -> Result<(String, ModelNumber)> {
    let (negative, mut raw, mut exponent) = match base {
        Some(b) => (b.negative, b.digits.clone(), b.exponent),
        None => {
            let len = u.int_in_range(0..=42usize)?;
            let raw: Vec<u8> = (0..len).map(|_| u.int_in_range(0..=9u8)).collect::<Result<_>>()?;
            (u.arbitrary()?, raw, i64::from(u.int_in_range(-140..=140i16)?))
        }
    };
    if base.is_some() {
        // A neighbour: change one digit, append one, or shift the exponent.
        match u.int_in_range(0..=3u8)? {
            0 if !raw.is_empty() => {
                let at = u.choose_index(raw.len())?;
                raw[at] = u.int_in_range(0..=9u8)?;
            }
            1 => raw.push(u.int_in_range(0..=9u8)?),
            2 => exponent += i64::from(u.int_in_range(-2..=2i8)?),
            _ => {}
        }
    }
    // Leading and trailing zeros that the parser must normalise away.
    let (lead, trail) = (u.int_in_range(0..=2usize)?, u.int_in_range(0..=2usize)?);
    let mut padded = vec![0u8; lead];
    padded.extend_from_slice(&raw);
    padded.extend(std::iter::repeat_n(0, trail));
    let exponent_with_lead = exponent + lead as i64;
    let model = ModelNumber::new(negative, &padded, exponent_with_lead);

    let digits: String = padded.iter().map(|d| char::from(b'0' + d)).collect();
    let sign = if negative {
        "-"
    } else if u.arbitrary()? {
        "+"
    } else {
        ""
    };
    let e = if u.arbitrary()? { 'e' } else { 'E' };
    let n = padded.len() as i64;
    let form = u.int_in_range(0..=2u8)?;
    let body = if n == 0 {
        "0".to_string()
    } else if form == 2 && (-60..=60).contains(&exponent_with_lead) {
        // Plain decimal notation, for exponents that stay short.
        if exponent_with_lead <= 0 {
            format!("0.{}{digits}", "0".repeat((-exponent_with_lead) as usize))
        } else if exponent_with_lead >= n {
            format!("{digits}{}", "0".repeat((exponent_with_lead - n) as usize))
        } else {
            let (int, frac) = digits.split_at(exponent_with_lead as usize);
            format!("{int}.{frac}")
        }
    } else if form == 1 {
        // ddd × 10^(exponent - n)
        format!("{digits}{e}{}", exponent_with_lead - n)
    } else {
        // 0.ddd × 10^exponent
        format!("0.{digits}{e}{exponent_with_lead}")
    };
    Ok((format!("{sign}{body}"), model))
}

/// A small edit of an earlier value, so that neighbours in key order meet: append, replace or
/// drop one element (chosen by `interesting`), or keep it as it is.
fn nudge<T>(u: &mut Unstructured, items: &mut Vec<T>, interesting: fn(&mut Unstructured) -> Result<T>) -> Result<()> {
    match u.int_in_range(0..=3u8)? {
        0 => items.push(interesting(u)?),
        1 if !items.is_empty() => {
            let at = u.choose_index(items.len())?;
            items[at] = interesting(u)?;
        }
        2 => {
            items.pop();
        }
        _ => {}
    }
    Ok(())
}

fn value(u: &mut Unstructured, kind: Kind, earlier: &[(KeyValue, Model)]) -> Result<Option<(KeyValue, Model)>> {
    let base =
        if earlier.is_empty() || u.ratio(1, 3)? { None } else { Some(&earlier[u.choose_index(earlier.len())?].1) };
    Ok(Some(match (kind, base) {
        (Kind::N, base) => {
            let base = base.map(|m| match m {
                Model::N(n) => n,
                _ => unreachable!("values of one key type"),
            });
            let (text, model) = number(u, base)?;
            let parsed = Number::parse(&text);
            assert_eq!(parsed.is_ok(), model.in_range(), "{text:?} parses as {parsed:?}; model {model:?}");
            let Ok(n) = parsed else { return Ok(None) };
            let printed = n.to_string();
            assert_eq!(Number::parse(&printed).as_ref(), Ok(&n), "{text:?} prints as {printed:?}");
            (KeyValue::N(n), Model::N(model))
        }
        (Kind::S, None) => {
            let s = fresh_string(u)?;
            (KeyValue::S(s.clone()), Model::S(s))
        }
        (Kind::B, None) => {
            let b = fresh_bytes(u)?;
            (KeyValue::B(b.clone()), Model::B(b))
        }
        (Kind::S, Some(Model::S(base))) => {
            let mut chars: Vec<char> = base.chars().collect();
            nudge(u, &mut chars, interesting_char)?;
            let s: String = chars.into_iter().collect();
            (KeyValue::S(s.clone()), Model::S(s))
        }
        (Kind::B, Some(Model::B(base))) => {
            let mut b = base.clone();
            nudge(u, &mut b, interesting_byte)?;
            (KeyValue::B(b.clone()), Model::B(b))
        }
        _ => unreachable!("values of one key type"),
    }))
}

fn enc(v: &KeyValue) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

fn check_pair((a, ma): &(KeyValue, Model), (b, mb): &(KeyValue, Model)) {
    let (ea, eb) = (enc(a), enc(b));
    let expected = ma.cmp(mb);
    assert_eq!(ea.cmp(&eb), expected, "order of {a:?} and {b:?}: {ea:02x?} vs {eb:02x?}");
    assert_eq!(a == b, expected == Ordering::Equal, "equality of {a:?} and {b:?}");
    if let (KeyValue::N(x), KeyValue::N(y)) = (a, b) {
        assert_eq!(x.cmp(y), expected, "Number::cmp of {x:?} and {y:?}");
    }
    if ea != eb {
        assert!(
            !eb.starts_with(&ea) && !ea.starts_with(&eb),
            "{a:?} and {b:?} are not self-delimiting: {ea:02x?} vs {eb:02x?}"
        );
    } else {
        assert_eq!(partition_hash(a), partition_hash(b), "equal values hash apart: {a:?}, {b:?}");
    }

    // begins_with(b, a) as a key range.
    if let (Some(p), Some(v)) = (ma.bytes(), mb.bytes()) {
        let mut low = Vec::new();
        encode_prefix(a, &mut low);
        let inside = eb >= low && prefix_successor(&low).is_none_or(|high| eb < high);
        assert_eq!(inside, v.starts_with(p), "begins_with({b:?}, {a:?}) range [{low:02x?}, …) holds {eb:02x?}");
    }
}

fn check_item_keys(pks: &[(KeyValue, Model)], sks: &[(KeyValue, Model)]) {
    let keys: Vec<(usize, usize, Vec<u8>)> = (0..pks.len())
        .flat_map(|p| (0..sks.len()).map(move |s| (p, s)))
        .map(|(p, s)| (p, s, item_key(&pks[p].0, Some(&sks[s].0))))
        .collect();
    for (p, _, key) in &keys {
        let pk = &pks[*p].0;
        let prefix = partition_prefix(pk);
        assert_eq!(prefix, item_key(pk, None));
        assert_eq!(&prefix[..4], &partition_hash(pk).to_be_bytes(), "hash of {pk:?}");
        assert!(key.starts_with(&prefix), "item key of {pk:?} lacks its partition prefix");
    }
    for (p1, s1, k1) in &keys {
        for (p2, s2, k2) in &keys {
            let expected = pks[*p1].1.cmp(&pks[*p2].1).then_with(|| sks[*s1].1.cmp(&sks[*s2].1));
            assert_eq!(
                k1[4..].cmp(&k2[4..]),
                expected,
                "({:?}, {:?}) vs ({:?}, {:?})",
                pks[*p1].0,
                sks[*s1].0,
                pks[*p2].0,
                sks[*s2].0
            );
            if pks[*p1].1.cmp(&pks[*p2].1) != Ordering::Equal {
                assert!(
                    !k2.starts_with(&partition_prefix(&pks[*p1].0)),
                    "{:?} leaks into partition {:?}",
                    pks[*p2].0,
                    pks[*p1].0
                );
            }
        }
    }
}

fn values(u: &mut Unstructured, kind: Kind, max: usize) -> Result<Vec<(KeyValue, Model)>> {
    let count = u.int_in_range(1..=max)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if let Some(v) = value(u, kind, &out)? {
            out.push(v);
        }
    }
    Ok(out)
}

fn run(u: &mut Unstructured) -> Result<()> {
    let k = kind(u)?;
    let vs = values(u, k, VALUES_MAX)?;
    for a in &vs {
        for b in &vs {
            check_pair(a, b);
        }
    }
    // Composite keys: partition keys of the kind above, sort keys of any kind.
    let sk_kind = kind(u)?;
    let sks = values(u, sk_kind, 4)?;
    check_item_keys(&vs[..vs.len().min(4)], &sks);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
