//! Attribute values on the wire: `{"S": "x"}`, `{"N": "1.5"}`, `{"B": "<base64>"}`, …
//!
//! Decoding checks the structure (exactly one data type per value, the JSON types of each) and
//! the values (number syntax and range, set rules, nesting). Structural problems are
//! SerializationException; value problems are ValidationException, carried out of serde behind
//! [`VALIDATION_MARKER`] and turned back into the right kind by [`crate::decode`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::Engine as _;
use flywheel_types::{check_attribute_name, validate_value, AttributeValue, Item, Number, NumberError};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

/// Prefix of a serde error message that is really a ValidationException.
pub const VALIDATION_MARKER: &str = "\u{1}validation:";

fn validation<E: de::Error>(msg: impl fmt::Display) -> E {
    E::custom(format_args!("{VALIDATION_MARKER}{msg}"))
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------- decoding

/// Decodes one attribute value.
pub struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = AttributeValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AttributeValue, D::Error> {
        d.deserialize_map(ValueVisitor)
    }
}

struct ValueVisitor;

/// Attribute values nested deeper than this are refused while decoding, with DynamoDB's nesting
/// message. Valid items nest at most 32 levels (checked exactly later, by `validate_value`); the
/// decoder stops early so that deep input meets the nesting rule rather than the JSON parser's
/// own recursion limit (128 JSON levels, about 60 attribute values).
const DECODE_NESTING_MAX: usize = 40;

const NESTING_MESSAGE: &str =
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";

thread_local! {
    /// Attribute values being decoded around the current one, on this thread.
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one level of attribute-value nesting for as long as it lives.
struct NestingGuard;

impl NestingGuard {
    fn enter<E: de::Error>() -> Result<NestingGuard, E> {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let guard = NestingGuard;
        if depth > DECODE_NESTING_MAX {
            return Err(validation(NESTING_MESSAGE));
        }
        Ok(guard)
    }
}

impl Drop for NestingGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn parse_number<E: de::Error>(s: &str) -> Result<Number, E> {
    Number::parse(s).map_err(|e| match e {
        NumberError::Invalid => validation(format_args!("The parameter cannot be converted to a numeric value: {s}")),
        other => validation(other.message()),
    })
}

fn decode_b64<E: de::Error>(s: &str) -> Result<Vec<u8>, E> {
    B64.decode(s.as_bytes()).map_err(|_| E::custom("Base64 encoded data is not valid"))
}

struct StringList;
impl<'de> Visitor<'de> for StringList {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(s) = seq.next_element::<String>()? {
            v.push(s);
        }
        Ok(v)
    }
}

struct ValueList;
impl<'de> Visitor<'de> for ValueList {
    type Value = Vec<AttributeValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of attribute values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<AttributeValue>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(x) = seq.next_element_seed(ValueSeed)? {
            v.push(x);
        }
        Ok(v)
    }
}

/// A map of attribute values keyed by attribute names (an item, a key, a map value), each name
/// within DynamoDB's 64 KB.
struct ValueMap;
impl<'de> Visitor<'de> for ValueMap {
    type Value = BTreeMap<String, AttributeValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of attribute values")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        visit_value_map(map, |name| check_attribute_name(name).map_err(validation))
    }
}

/// `ExpressionAttributeValues`: keyed by placeholders, whose rules the expression crate checks.
struct PlaceholderValueMap;
impl<'de> Visitor<'de> for PlaceholderValueMap {
    type Value = BTreeMap<String, AttributeValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of attribute values")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        visit_value_map(map, |_| Ok(()))
    }
}

fn visit_value_map<'de, A: MapAccess<'de>>(
    mut map: A,
    check_key: impl Fn(&str) -> Result<(), A::Error>,
) -> Result<BTreeMap<String, AttributeValue>, A::Error> {
    let mut m = BTreeMap::new();
    while let Some(k) = map.next_key::<String>()? {
        check_key(&k)?;
        let v = map.next_value_seed(ValueSeed)?;
        m.insert(k, v);
    }
    Ok(m)
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = AttributeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an attribute value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttributeValue, A::Error> {
        let _level = NestingGuard::enter::<A::Error>()?;
        let mut found: Option<AttributeValue> = None;
        let mut count = 0;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value = match key.as_ref() {
                "S" => AttributeValue::S(map.next_value::<String>()?),
                "N" => AttributeValue::N(parse_number(&map.next_value::<std::borrow::Cow<'de, str>>()?)?),
                "B" => AttributeValue::B(decode_b64(&map.next_value::<std::borrow::Cow<'de, str>>()?)?),
                "BOOL" => AttributeValue::Bool(map.next_value::<bool>()?),
                "NULL" => {
                    if !map.next_value::<bool>()? {
                        return Err(validation(
                            "One or more parameter values were invalid: Null attribute value types must have the value of true",
                        ));
                    }
                    AttributeValue::Null
                }
                "M" => AttributeValue::M(map.next_value_seed(Seeded(ValueMap))?),
                "L" => AttributeValue::L(map.next_value_seed(Seeded(ValueList))?),
                "SS" => AttributeValue::Ss(map.next_value_seed(Seeded(StringList))?),
                "NS" => {
                    let raw = map.next_value_seed(Seeded(StringList))?;
                    AttributeValue::Ns(raw.iter().map(|s| parse_number(s)).collect::<Result<_, _>>()?)
                }
                "BS" => {
                    let raw = map.next_value_seed(Seeded(StringList))?;
                    AttributeValue::Bs(raw.iter().map(|s| decode_b64(s)).collect::<Result<_, _>>()?)
                }
                _ => {
                    // DynamoDB ignores members it does not know.
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            count += 1;
            found = Some(value);
        }
        match (count, found) {
            (1, Some(v)) => {
                if matches!(v, AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)) {
                    validate_value(&v).map_err(validation)?;
                }
                Ok(v)
            }
            (0, _) => Err(validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")),
            _ => Err(validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            )),
        }
    }
}

/// Adapts a visitor into a seed for the container type it expects.
struct Seeded<V>(V);

impl<'de> DeserializeSeed<'de> for Seeded<StringList> {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self.0)
    }
}
impl<'de> DeserializeSeed<'de> for Seeded<ValueList> {
    type Value = Vec<AttributeValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self.0)
    }
}
impl<'de> DeserializeSeed<'de> for Seeded<ValueMap> {
    type Value = BTreeMap<String, AttributeValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self.0)
    }
}

/// What JSON shape an optional member holds when it is present.
#[derive(Clone, Copy)]
enum Shape {
    Map,
    List,
}

/// An optional member: `null` is `None`; otherwise `inner` reads the `shape` it expects.
/// `expecting` names what the member holds, for serde's type-mismatch messages.
struct Optional<V> {
    inner: V,
    shape: Shape,
    expecting: &'static str,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Optional<V> {
    type Value = Option<V::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.shape {
            Shape::Map => d.deserialize_map(self.inner).map(Some),
            Shape::List => d.deserialize_seq(self.inner).map(Some),
        }
    }
}

/// `deserialize_with` for an optional item (`Item`, `Key`, `ExclusiveStartKey`, …).
pub fn de_opt_item<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Item>, D::Error> {
    d.deserialize_option(Optional { inner: ValueMap, shape: Shape::Map, expecting: "a map of attribute values" })
}

/// `deserialize_with` for optional `ExpressionAttributeValues`.
pub fn de_opt_values<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HashMap<String, AttributeValue>>, D::Error> {
    let values = d.deserialize_option(Optional {
        inner: PlaceholderValueMap,
        shape: Shape::Map,
        expecting: "a map of attribute values",
    })?;
    Ok(values.map(|m| m.into_iter().collect()))
}

/// `deserialize_with` for an optional list of attribute values (`AttributeValueList`).
pub fn de_opt_value_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<AttributeValue>>, D::Error> {
    d.deserialize_option(Optional { inner: ValueList, shape: Shape::List, expecting: "a list of attribute values" })
}

/// `deserialize_with` for an optional single attribute value.
pub fn de_opt_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AttributeValue>, D::Error> {
    d.deserialize_option(Optional { inner: ValueVisitor, shape: Shape::Map, expecting: "an attribute value" })
}

/// `deserialize_with` for an optional list of items (`Keys` in BatchGetItem).
pub fn de_opt_item_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Item>>, D::Error> {
    struct Items;
    impl<'de> Visitor<'de> for Items {
        type Value = Vec<Item>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of items")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Item>, A::Error> {
            let mut v = Vec::new();
            while let Some(x) = seq.next_element_seed(Seeded(ValueMap))? {
                v.push(x);
            }
            Ok(v)
        }
    }
    d.deserialize_option(Optional { inner: Items, shape: Shape::List, expecting: "a list of items" })
}

// ---------------------------------------------------------------- encoding

/// Serializes an attribute value in wire form.
pub struct WireValue<'a>(pub &'a AttributeValue);

/// Serializes an item in wire form.
pub struct WireItem<'a>(pub &'a Item);

impl Serialize for WireValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self.0 {
            AttributeValue::S(v) => m.serialize_entry("S", v)?,
            AttributeValue::N(n) => m.serialize_entry("N", &n.to_string())?,
            AttributeValue::B(b) => m.serialize_entry("B", &B64.encode(b))?,
            AttributeValue::Bool(b) => m.serialize_entry("BOOL", b)?,
            AttributeValue::Null => m.serialize_entry("NULL", &true)?,
            AttributeValue::M(map) => m.serialize_entry("M", &WireItem(map))?,
            AttributeValue::L(l) => m.serialize_entry("L", &WireList(l))?,
            AttributeValue::Ss(v) => m.serialize_entry("SS", v)?,
            AttributeValue::Ns(v) => m.serialize_entry("NS", &v.iter().map(Number::to_string).collect::<Vec<_>>())?,
            AttributeValue::Bs(v) => m.serialize_entry("BS", &v.iter().map(|b| B64.encode(b)).collect::<Vec<_>>())?,
        }
        m.end()
    }
}

struct WireList<'a>(&'a [AttributeValue]);

impl Serialize for WireList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&WireValue(v))?;
        }
        seq.end()
    }
}

impl Serialize for WireItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &WireValue(v))?;
        }
        m.end()
    }
}

/// `serialize_with` for `Option<Item>` fields.
pub fn ser_opt_item<S: Serializer>(item: &Option<Item>, s: S) -> Result<S::Ok, S::Error> {
    match item {
        Some(i) => WireItem(i).serialize(s),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for `Vec<Item>` fields.
pub fn ser_items<S: Serializer>(items: &[Item], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(items.len()))?;
    for i in items {
        seq.serialize_element(&WireItem(i))?;
    }
    seq.end()
}

/// `serialize_with` for `Item` fields.
pub fn ser_item<S: Serializer>(item: &Item, s: S) -> Result<S::Ok, S::Error> {
    WireItem(item).serialize(s)
}
