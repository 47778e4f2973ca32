//! Order-preserving encodings of key values, and the partition-key hash.
//!
//! A stored item's key is `hash(pk) ‖ enc(pk) ‖ enc(sk)`: a 4-byte big-endian hash of the
//! encoded partition key, then the encoded key values. So a Query reads one contiguous range
//! (all items of one partition key, sorted by sort key in DynamoDB's order) and a Scan walks the
//! table in hash order, from which parallel-scan segments are cut.
//!
//! On disk: every byte layout here is persistent. Never change one; add a new tag instead.

use crate::number::Number;
use crate::value::AttributeValue;

/// A scalar key value: the only types a key attribute may have.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyValue {
    S(String),
    N(Number),
    B(Vec<u8>),
}

impl KeyValue {
    /// The key value of an attribute value, if it is of a key type.
    pub fn from_attribute(value: &AttributeValue) -> Option<KeyValue> {
        match value {
            AttributeValue::S(s) => Some(KeyValue::S(s.clone())),
            AttributeValue::N(n) => Some(KeyValue::N(n.clone())),
            AttributeValue::B(b) => Some(KeyValue::B(b.clone())),
            _ => None,
        }
    }

    /// Back to an attribute value.
    pub fn to_attribute(&self) -> AttributeValue {
        match self {
            KeyValue::S(s) => AttributeValue::S(s.clone()),
            KeyValue::N(n) => AttributeValue::N(n.clone()),
            KeyValue::B(b) => AttributeValue::B(b.clone()),
        }
    }

    /// Appends the self-delimiting, order-preserving encoding of this value.
    ///
    /// Strings and binaries: their bytes with `0x00` escaped as `0x00 0xFF`, closed by
    /// `0x00 0x01`, so byte order is DynamoDB's (UTF-8 bytewise for S, unsigned bytewise for B)
    /// and no encoding is a prefix of another. Numbers: see [`Number::encode_key`]. Values of
    /// different types never share a key space (a table's key types are fixed), so no type tag.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KeyValue::S(s) => encode_bytes(s.as_bytes(), out),
            KeyValue::B(b) => encode_bytes(b, out),
            KeyValue::N(n) => n.encode_key(out),
        }
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0);
    out.push(1);
}

/// Appends the smallest byte string greater than every encoding that starts with `prefix`'s
/// encoded bytes as written: used to bound `begins_with` ranges. Returns `None` if unbounded.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// Encodes a string or binary prefix *without* its terminator, for `begins_with` ranges.
pub fn encode_prefix(value: &KeyValue, out: &mut Vec<u8>) {
    match value {
        KeyValue::S(s) => encode_prefix_bytes(s.as_bytes(), out),
        KeyValue::B(b) => encode_prefix_bytes(b, out),
        KeyValue::N(n) => n.encode_key(out),
    }
}

fn encode_prefix_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

/// The 32-bit hash of a partition key that places it in the table's hash space.
///
/// On disk: FNV-1a over the encoded key followed by the 64-bit murmur finaliser, top 32 bits.
/// Stable across versions and platforms.
pub fn partition_hash(pk: &KeyValue) -> u32 {
    let mut encoded = Vec::with_capacity(32);
    pk.encode(&mut encoded);
    hash_bytes(&encoded)
}

/// The hash function behind [`partition_hash`], over already-encoded bytes.
pub fn hash_bytes(bytes: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 32) as u32
}

/// The storage key of an item: `hash(pk) ‖ enc(pk) ‖ enc(sk)`.
pub fn item_key(pk: &KeyValue, sk: Option<&KeyValue>) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    let mut pk_bytes = Vec::with_capacity(32);
    pk.encode(&mut pk_bytes);
    out.extend_from_slice(&hash_bytes(&pk_bytes).to_be_bytes());
    out.extend_from_slice(&pk_bytes);
    if let Some(sk) = sk {
        sk.encode(&mut out);
    }
    out
}

/// The storage-key prefix shared by every item of one partition key.
pub fn partition_prefix(pk: &KeyValue) -> Vec<u8> {
    item_key(pk, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> KeyValue {
        KeyValue::S(v.to_string())
    }

    fn enc(v: &KeyValue) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(&mut out);
        out
    }

    #[test]
    fn string_and_binary_order_is_bytewise() {
        let sorted = ["", "\0", "\0\0", "\0a", "a", "a\0", "aa", "ab", "b", "é", "\u{10348}"];
        for w in sorted.windows(2) {
            assert!(enc(&s(w[0])) < enc(&s(w[1])), "{:?} < {:?}", w[0], w[1]);
        }
        let bins: [&[u8]; 5] = [b"", b"\x00", b"\x00\xff", b"\x01", b"\xff\xff"];
        for w in bins.windows(2) {
            assert!(enc(&KeyValue::B(w[0].to_vec())) < enc(&KeyValue::B(w[1].to_vec())));
        }
    }

    #[test]
    fn composite_keys_keep_a_partition_contiguous() {
        // "a" with any sort key sorts entirely before or after "a\0…", never interleaved.
        let pk_a = s("a");
        let pk_a0 = s("a\0");
        let lo = item_key(&pk_a, Some(&s("")));
        let hi = item_key(&pk_a, Some(&s("\u{10ffff}\u{10ffff}")));
        let prefix = partition_prefix(&pk_a);
        assert!(lo.starts_with(&prefix) && hi.starts_with(&prefix));
        let other = item_key(&pk_a0, Some(&s("x")));
        assert!(!other.starts_with(&prefix));
    }

    #[test]
    fn hash_is_stable_and_spread() {
        // Persistent: these values must never change.
        assert_eq!(partition_hash(&s("user000001")), partition_hash(&s("user000001")));
        let mut buckets = [0u32; 16];
        for i in 0..16_000 {
            buckets[(partition_hash(&s(&format!("user{i:06}"))) >> 28) as usize] += 1;
        }
        assert!(buckets.iter().all(|&c| (800..1200).contains(&c)), "{buckets:?}");
        assert_eq!(
            partition_hash(&KeyValue::N(Number::parse("1.0").unwrap())),
            partition_hash(&KeyValue::N(Number::parse("1").unwrap()))
        );
    }

    #[test]
    fn prefix_ranges_bound_begins_with() {
        let mut p = Vec::new();
        encode_prefix(&s("ab"), &mut p);
        let succ = prefix_successor(&p).unwrap();
        for inside in ["ab", "abc", "ab\0", "ab\u{ffff}"] {
            let e = enc(&s(inside));
            assert!(e >= p && e < succ, "{inside:?}");
        }
        for outside in ["aa", "ac", "a", "b"] {
            let e = enc(&s(outside));
            assert!(e < p || e >= succ, "{outside:?}");
        }
    }
}
