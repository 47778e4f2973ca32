//! The compact binary encoding of items as stored.
//!
//! On disk: a format-version byte, then the item as a map. A map is a varint count followed by
//! (varint name length, name, value) pairs; a value is a tag byte and its payload. The tags and
//! their order are persistent: never renumber, only add.

use std::collections::BTreeMap;

use crate::number::Number;
use crate::value::{AttributeValue, Item};

/// Current item format version.
const FORMAT_VERSION: u8 = 1;

// Value tags. Persistent.
const TAG_S: u8 = 1;
const TAG_N: u8 = 2;
const TAG_B: u8 = 3;
const TAG_FALSE: u8 = 4;
const TAG_TRUE: u8 = 5;
const TAG_NULL: u8 = 6;
const TAG_M: u8 = 7;
const TAG_L: u8 = 8;
const TAG_SS: u8 = 9;
const TAG_NS: u8 = 10;
const TAG_BS: u8 = 11;

/// A stored item that does not decode: storage corruption or a format from the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored item does not decode: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Encodes an item for storage.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + item.len() * 16);
    out.push(FORMAT_VERSION);
    encode_map(item, &mut out);
    out
}

/// Decodes an item written by [`encode_item`].
pub fn decode_item(bytes: &[u8]) -> Result<Item, DecodeError> {
    let mut r = Reader { bytes, pos: 0, depth: 0 };
    if r.byte()? != FORMAT_VERSION {
        return Err(DecodeError("unknown format version"));
    }
    let item = r.map()?;
    if r.pos != bytes.len() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok(item)
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn encode_map(map: &BTreeMap<String, AttributeValue>, out: &mut Vec<u8>) {
    put_varint(map.len() as u64, out);
    for (name, value) in map {
        put_bytes(name.as_bytes(), out);
        encode_value(value, out);
    }
}

fn encode_value(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) => {
            out.push(TAG_S);
            put_bytes(s.as_bytes(), out);
        }
        AttributeValue::N(n) => {
            out.push(TAG_N);
            put_bytes(n.to_string().as_bytes(), out);
        }
        AttributeValue::B(b) => {
            out.push(TAG_B);
            put_bytes(b, out);
        }
        AttributeValue::Bool(false) => out.push(TAG_FALSE),
        AttributeValue::Bool(true) => out.push(TAG_TRUE),
        AttributeValue::Null => out.push(TAG_NULL),
        AttributeValue::M(m) => {
            out.push(TAG_M);
            encode_map(m, out);
        }
        AttributeValue::L(l) => {
            out.push(TAG_L);
            put_varint(l.len() as u64, out);
            l.iter().for_each(|v| encode_value(v, out));
        }
        AttributeValue::Ss(v) => {
            out.push(TAG_SS);
            put_varint(v.len() as u64, out);
            v.iter().for_each(|s| put_bytes(s.as_bytes(), out));
        }
        AttributeValue::Ns(v) => {
            out.push(TAG_NS);
            put_varint(v.len() as u64, out);
            v.iter().for_each(|n| put_bytes(n.to_string().as_bytes(), out));
        }
        AttributeValue::Bs(v) => {
            out.push(TAG_BS);
            put_varint(v.len() as u64, out);
            v.iter().for_each(|b| put_bytes(b, out));
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Containers open around the value being read: stored items nest at most 32 levels, so a
    /// deeper one is corrupt, and stopping early keeps corrupt bytes from overflowing the stack.
    depth: usize,
}

/// Deepest container nesting the decoder follows (valid items stay under 32 levels).
const DECODE_DEPTH_MAX: usize = 64;

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(DecodeError("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<usize, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return usize::try_from(v).map_err(|_| DecodeError("length overflow"));
            }
        }
        Err(DecodeError("varint too long"))
    }

    fn slice(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let end = self.pos.checked_add(len).ok_or(DecodeError("length overflow"))?;
        let s = self.bytes.get(self.pos..end).ok_or(DecodeError("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let s = self.slice()?;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError("invalid UTF-8"))
    }

    fn number(&mut self) -> Result<Number, DecodeError> {
        let s = std::str::from_utf8(self.slice()?).map_err(|_| DecodeError("invalid number"))?;
        Number::parse(s).map_err(|_| DecodeError("invalid number"))
    }

    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        // Every element takes at least one byte: a larger count is corrupt, not an allocation.
        if n > self.bytes.len() - self.pos {
            return Err(DecodeError("count exceeds input"));
        }
        Ok(n)
    }

    fn enter(&mut self) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > DECODE_DEPTH_MAX {
            return Err(DecodeError("nesting too deep"));
        }
        Ok(())
    }

    fn map(&mut self) -> Result<BTreeMap<String, AttributeValue>, DecodeError> {
        self.enter()?;
        let n = self.count()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value()?;
            m.insert(k, v);
        }
        self.depth -= 1;
        Ok(m)
    }

    fn value(&mut self) -> Result<AttributeValue, DecodeError> {
        Ok(match self.byte()? {
            TAG_S => AttributeValue::S(self.string()?),
            TAG_N => AttributeValue::N(self.number()?),
            TAG_B => AttributeValue::B(self.slice()?.to_vec()),
            TAG_FALSE => AttributeValue::Bool(false),
            TAG_TRUE => AttributeValue::Bool(true),
            TAG_NULL => AttributeValue::Null,
            TAG_M => AttributeValue::M(self.map()?),
            TAG_L => {
                self.enter()?;
                let n = self.count()?;
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    l.push(self.value()?);
                }
                self.depth -= 1;
                AttributeValue::L(l)
            }
            TAG_SS => {
                let n = self.count()?;
                AttributeValue::Ss((0..n).map(|_| self.string()).collect::<Result<_, _>>()?)
            }
            TAG_NS => {
                let n = self.count()?;
                AttributeValue::Ns((0..n).map(|_| self.number()).collect::<Result<_, _>>()?)
            }
            TAG_BS => {
                let n = self.count()?;
                AttributeValue::Bs((0..n).map(|_| self.slice().map(<[u8]>::to_vec)).collect::<Result<_, _>>()?)
            }
            _ => return Err(DecodeError("unknown value tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_type() {
        let n = |s: &str| Number::parse(s).unwrap();
        let item = Item::from([
            ("s".to_string(), AttributeValue::S("héllo\0".into())),
            ("n".to_string(), AttributeValue::N(n("-12.5"))),
            ("b".to_string(), AttributeValue::B(vec![0, 255, 7])),
            ("t".to_string(), AttributeValue::Bool(true)),
            ("f".to_string(), AttributeValue::Bool(false)),
            ("z".to_string(), AttributeValue::Null),
            (
                "m".to_string(),
                AttributeValue::M(BTreeMap::from([("in".to_string(), AttributeValue::L(vec![AttributeValue::Null]))])),
            ),
            ("ss".to_string(), AttributeValue::Ss(vec!["b".into(), "a".into()])),
            ("ns".to_string(), AttributeValue::Ns(vec![n("1"), n("2e10")])),
            ("bs".to_string(), AttributeValue::Bs(vec![vec![1], vec![]])),
            ("".to_string(), AttributeValue::S(String::new())),
        ]);
        let bytes = encode_item(&item);
        assert_eq!(decode_item(&bytes).unwrap(), item);
    }

    #[test]
    fn rejects_corrupt_input_without_panicking() {
        let item = Item::from([("a".to_string(), AttributeValue::L(vec![AttributeValue::S("x".repeat(300))]))]);
        let bytes = encode_item(&item);
        for cut in 0..bytes.len() {
            assert!(decode_item(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
        }
        assert!(decode_item(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
        assert!(decode_item(&[2, 0]).is_err());
    }

    #[test]
    fn corrupt_deep_nesting_is_an_error_not_a_stack_overflow() {
        // Found by the attribute_values fuzz target: 20,000 nested single-element lists.
        let mut bytes = vec![FORMAT_VERSION, 1, 1, b'a'];
        for _ in 0..20_000 {
            bytes.extend_from_slice(&[TAG_L, 1]);
        }
        bytes.push(TAG_NULL);
        assert_eq!(decode_item(&bytes), Err(DecodeError("nesting too deep")));
        // The deepest valid item (31 nested containers below the item) still decodes.
        let mut value = AttributeValue::Null;
        for _ in 0..31 {
            value = AttributeValue::L(vec![value]);
        }
        let item: Item = [("a".to_string(), value)].into_iter().collect();
        assert_eq!(decode_item(&encode_item(&item)), Ok(item));
    }
}
