//! Local and global secondary indexes: their definitions, their entries, and their validation.
//!
//! An index is a storage tree of its own. Its entry for an item is keyed
//! `hash(ipk) ‖ enc(ipk) ‖ enc(isk) ‖ enc(pk) ‖ enc(sk)`: the index key laid out exactly as a
//! table's item key (so Query and parallel Scan work on it unchanged), followed by the base
//! table's key without its hash, which makes entries unique while keeping them sorted by index
//! key. The value is the projected item in the stored item format. An item that lacks an index
//! key attribute has no entry (a sparse index).
//!
//! Entries are written by the base partition's writer in the same atomic batch as the item, so
//! an index never disagrees with its table, not even after a crash. The index's item count and
//! size are kept per base partition and persisted in that same batch.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use flywheel_protocol::model::{KeySchemaElement, Projection as ProjectionModel};
use flywheel_protocol::ApiError;
use flywheel_storage::TreeHandle;
use flywheel_types::key::item_key;
use flywheel_types::limits::{PARTITION_KEY_BYTES_MAX, SORT_KEY_BYTES_MAX, STORED_KEY_BYTES_MAX};
use flywheel_types::{AttributeValue, Item, KeyValue, ValueType};
use serde::{Deserialize, Serialize};

use crate::catalog::{KeySchema, PARTITIONS_PER_TABLE};

/// The durable description of an index, inside its table's metadata. On disk as JSON; fields
/// may be added with `#[serde(default)]`, never renamed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexMeta {
    pub name: String,
    /// Global (own partition key) or local (the table's partition key, another sort key).
    pub global: bool,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: ProjectionModel,
    /// Storage tree holding the entries.
    pub tree: String,
    /// False while an index added by UpdateTable is being backfilled.
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub read_capacity_units: i64,
    #[serde(default)]
    pub write_capacity_units: i64,
}

fn yes() -> bool {
    true
}

/// Which attributes an index holds besides the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Projected {
    All,
    KeysOnly,
    Include(BTreeSet<String>),
}

/// A live index.
pub struct Index {
    pub name: String,
    pub global: bool,
    /// The index key (partition key, optional sort key) with its types.
    pub key: KeySchema,
    pub projected: Projected,
    pub tree: TreeHandle,
    /// Ready for reads (false while backfilling).
    pub active: AtomicBool,
    /// Entries and their bytes, per base partition (each written by that partition's writer).
    pub stats: Vec<(AtomicI64, AtomicI64)>,
    /// Items the last backfill left out because their index key is unusable (an index key
    /// violation: wrong type, empty, or over the key size limits), counted since start-up.
    pub violations: AtomicU64,
}

impl Index {
    pub fn new(meta: &IndexMeta, attribute_types: &dyn Fn(&str) -> ValueType, tree: TreeHandle) -> Index {
        let mut pk = String::new();
        let mut sk = None;
        for k in &meta.key_schema {
            let name = k.attribute_name.clone().unwrap_or_default();
            if k.key_type.as_deref() == Some("HASH") {
                pk = name;
            } else {
                let t = attribute_types(&name);
                sk = Some((name, t));
            }
        }
        let pk_type = attribute_types(&pk);
        let projected = match meta.projection.projection_type.as_deref() {
            Some("ALL") => Projected::All,
            Some("INCLUDE") => {
                Projected::Include(meta.projection.non_key_attributes.clone().unwrap_or_default().into_iter().collect())
            }
            _ => Projected::KeysOnly,
        };
        Index {
            name: meta.name.clone(),
            global: meta.global,
            key: KeySchema { pk, pk_type, sk },
            projected,
            tree,
            active: AtomicBool::new(meta.active),
            stats: (0..PARTITIONS_PER_TABLE).map(|_| (AtomicI64::new(0), AtomicI64::new(0))).collect(),
            violations: AtomicU64::new(0),
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub fn item_count(&self) -> u64 {
        self.stats.iter().map(|(c, _)| c.load(Ordering::Relaxed)).sum::<i64>().max(0) as u64
    }

    pub fn size_bytes(&self) -> u64 {
        self.stats.iter().map(|(_, s)| s.load(Ordering::Relaxed)).sum::<i64>().max(0) as u64
    }

    /// The index key values of an item, or `None` if it has no entry here: an index key
    /// attribute is absent, or (for items written before the index existed) unusable as an
    /// index key — of another type, empty, or over the key size limits (an *index key
    /// violation*: DynamoDB leaves such items out of the index). This is the only way to an
    /// entry key, so every entry key is bounded by `STORED_KEY_BYTES_MAX`.
    fn key_values(&self, item: &Item) -> Option<(KeyValue, Option<KeyValue>)> {
        let value = |name: &str, t: ValueType, size_max: usize| -> Option<KeyValue> {
            let v = item.get(name)?;
            if v.value_type() != t || key_value_bytes(v) > size_max {
                return None;
            }
            match v {
                AttributeValue::S(s) if s.is_empty() => None,
                AttributeValue::B(b) if b.is_empty() => None,
                _ => KeyValue::from_attribute(v),
            }
        };
        let pk = value(&self.key.pk, self.key.pk_type, PARTITION_KEY_BYTES_MAX)?;
        let sk = match &self.key.sk {
            Some((name, t)) => Some(value(name, *t, SORT_KEY_BYTES_MAX)?),
            None => None,
        };
        Some((pk, sk))
    }

    /// True if the item has this index's key attributes but cannot be indexed (wrong type,
    /// empty, too long): an index key violation, which a backfill skips and counts.
    pub fn is_violation(&self, item: &Item) -> bool {
        self.validate(item).is_err()
    }

    /// The storage key of an entry: the index key, then the base key without its hash.
    pub fn entry_key(pk: &KeyValue, sk: Option<&KeyValue>, base_storage_key: &[u8]) -> Vec<u8> {
        let mut key = item_key(pk, sk);
        key.extend_from_slice(&base_storage_key[4..]);
        key
    }

    /// The entry an item has in this index: its storage key and its projected item.
    pub fn entry(&self, base: &KeySchema, base_storage_key: &[u8], item: &Item) -> Option<(Vec<u8>, Item)> {
        let (pk, sk) = self.key_values(item)?;
        let key = Index::entry_key(&pk, sk.as_ref(), base_storage_key);
        debug_assert!(key.len() <= STORED_KEY_BYTES_MAX, "index entry key of {} bytes", key.len());
        Some((key, self.project(base, item)))
    }

    /// The attributes of `item` this index holds.
    pub fn project(&self, base: &KeySchema, item: &Item) -> Item {
        match &self.projected {
            Projected::All => item.clone(),
            other => item
                .iter()
                .filter(|(name, _)| {
                    self.is_key_attribute(base, name)
                        || matches!(other, Projected::Include(names) if names.contains(name.as_str()))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn is_key_attribute(&self, base: &KeySchema, name: &str) -> bool {
        base.names().contains(&name) || self.key.names().contains(&name)
    }

    /// Whether an attribute is stored in this index.
    pub fn holds(&self, base: &KeySchema, name: &str) -> bool {
        match &self.projected {
            Projected::All => true,
            Projected::KeysOnly => self.is_key_attribute(base, name),
            Projected::Include(names) => names.contains(name) || self.is_key_attribute(base, name),
        }
    }

    /// Rejects an item whose index key attributes are present but unusable, as DynamoDB does
    /// on every write.
    pub fn validate(&self, item: &Item) -> Result<(), ApiError> {
        let attributes =
            std::iter::once((&self.key.pk, self.key.pk_type)).chain(self.key.sk.iter().map(|(n, t)| (n, *t)));
        for (name, want) in attributes {
            let Some(v) = item.get(name) else { continue };
            if v.value_type() != want {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {name} Expected: {} Actual: {} IndexName: {}",
                    want.as_str(),
                    v.value_type().as_str(),
                    self.name
                )));
            }
            let empty = match v {
                AttributeValue::S(s) => s.is_empty().then_some("string"),
                AttributeValue::B(b) => b.is_empty().then_some("binary"),
                _ => None,
            };
            if let Some(kind) = empty {
                return Err(ApiError::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {}, IndexKey: {name}",
                    self.name
                )));
            }
            // DynamoDB names the attribute, its size and the index (the table's own key has
            // other messages, checked before this).
            let size = key_value_bytes(v);
            let size_max = if name == &self.key.pk { PARTITION_KEY_BYTES_MAX } else { SORT_KEY_BYTES_MAX };
            if size > size_max {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: Size limit exceeded for Index Key {name} Actual Size: {size} bytes Max Size: {size_max} bytes IndexName: {}",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// The key attributes of an entry (base key and index key): its LastEvaluatedKey.
    pub fn key_of(&self, base: &KeySchema, item: &Item) -> Item {
        let mut key = Item::new();
        for name in base.names().into_iter().chain(self.key.names()) {
            if let Some(v) = item.get(name) {
                key.insert(name.to_string(), v.clone());
            }
        }
        key
    }
}

/// The size of a key attribute's value as the key size limits count it: bytes of a string's
/// UTF-8 or of a binary; a number's stored size.
fn key_value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::N(n) => n.size_bytes(),
        _ => 0,
    }
}

// ---------------------------------------------------------------- CreateTable / UpdateTable validation

fn invalid(msg: impl AsRef<str>) -> ApiError {
    ApiError::validation(format!("One or more parameter values were invalid: {}", msg.as_ref()))
}

/// Checks one index definition's projection. `NonKeyAttributes` is allowed only with INCLUDE.
pub fn check_projection(projection: &ProjectionModel) -> Result<usize, ApiError> {
    match (projection.projection_type.as_deref(), &projection.non_key_attributes) {
        (Some("INCLUDE"), None) => Err(invalid("ProjectionType is INCLUDE, but NonKeyAttributes is not specified")),
        (Some("INCLUDE"), Some(attrs)) => {
            let distinct: BTreeSet<&String> = attrs.iter().collect();
            if distinct.len() != attrs.len() {
                return Err(invalid("Duplicate attributes are not allowed in NonKeyAttributes"));
            }
            Ok(attrs.len())
        }
        (Some(t), Some(_)) => Err(invalid(format!("ProjectionType is {t}, but NonKeyAttributes is specified"))),
        (None, _) => Err(invalid("Unknown ProjectionType: null")),
        _ => Ok(0),
    }
}

/// Checks a key schema's shape (one HASH first, optional RANGE second), a table's or an index's.
pub fn check_key_schema(key_schema: &[KeySchemaElement]) -> Result<(), ApiError> {
    if key_schema.first().and_then(|k| k.key_type.as_deref()) != Some("HASH") {
        return Err(ApiError::validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type"));
    }
    if key_schema.len() == 2 {
        if key_schema[1].key_type.as_deref() != Some("RANGE") {
            return Err(ApiError::validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"));
        }
        if key_schema[0].attribute_name == key_schema[1].attribute_name {
            return Err(ApiError::validation(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_storage::Storage;

    fn index(projection: &str, include: &[&str]) -> Index {
        let storage = flywheel_storage::memory::MemoryStorage::new();
        let tree = storage.open_tree("t").unwrap();
        let meta = IndexMeta {
            name: "byStatus".into(),
            global: true,
            key_schema: vec![
                KeySchemaElement { attribute_name: Some("status".into()), key_type: Some("HASH".into()) },
                KeySchemaElement { attribute_name: Some("at".into()), key_type: Some("RANGE".into()) },
            ],
            projection: ProjectionModel {
                projection_type: Some(projection.into()),
                non_key_attributes: (!include.is_empty()).then(|| include.iter().map(|s| s.to_string()).collect()),
            },
            tree: "t".into(),
            active: true,
            read_capacity_units: 0,
            write_capacity_units: 0,
        };
        Index::new(&meta, &|n| if n == "at" { ValueType::N } else { ValueType::S }, tree)
    }

    fn base() -> KeySchema {
        KeySchema { pk: "id".into(), pk_type: ValueType::S, sk: None }
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn n(s: &str) -> AttributeValue {
        AttributeValue::N(s.parse().unwrap())
    }

    #[test]
    fn sparse_and_projected_entries() {
        let idx = index("INCLUDE", &["name"]);
        let base_key = item_key(&KeyValue::S("a".into()), None);
        let full = item(&[
            ("id", AttributeValue::S("a".into())),
            ("status", AttributeValue::S("open".into())),
            ("at", n("5")),
            ("name", AttributeValue::S("x".into())),
            ("secret", AttributeValue::S("y".into())),
        ]);
        let (key, projected) = idx.entry(&base(), &base_key, &full).unwrap();
        assert!(key.ends_with(&base_key[4..]));
        assert_eq!(projected.keys().map(String::as_str).collect::<Vec<_>>(), vec!["at", "id", "name", "status"]);
        // No sort key attribute: no entry.
        let sparse = item(&[("id", AttributeValue::S("a".into())), ("status", AttributeValue::S("open".into()))]);
        assert!(idx.entry(&base(), &base_key, &sparse).is_none());
        assert!(idx.holds(&base(), "name") && !idx.holds(&base(), "secret") && idx.holds(&base(), "id"));
    }

    #[test]
    fn entries_sort_by_index_key_then_base_key() {
        let idx = index("KEYS_ONLY", &[]);
        let entry = |id: &str, at: &str| {
            let base_key = item_key(&KeyValue::S(id.into()), None);
            let it = item(&[
                ("id", AttributeValue::S(id.into())),
                ("status", AttributeValue::S("open".into())),
                ("at", n(at)),
            ]);
            idx.entry(&base(), &base_key, &it).unwrap().0
        };
        assert!(entry("z", "1") < entry("a", "2"));
        assert!(entry("a", "2") < entry("b", "2"));
        assert!(entry("b", "2") < entry("a", "10"));
    }

    #[test]
    fn rejects_mistyped_and_empty_index_keys() {
        let idx = index("ALL", &[]);
        let e = idx.validate(&item(&[("at", AttributeValue::S("x".into()))])).unwrap_err();
        assert_eq!(
            e.message,
            "One or more parameter values were invalid: Type mismatch for Index Key at Expected: N Actual: S IndexName: byStatus"
        );
        let e = idx.validate(&item(&[("status", AttributeValue::S(String::new()))])).unwrap_err();
        assert!(e.message.ends_with("cannot contain an empty string value. IndexName: byStatus, IndexKey: status"));
        assert!(idx.validate(&item(&[("other", AttributeValue::S(String::new()))])).is_ok());
    }

    #[test]
    fn oversized_index_keys_are_violations_with_no_entry() {
        // DynamoDB leaves an item whose index key is over 2048 (partition) or 1024 (sort) bytes
        // out of the index and refuses to write one; no entry key can then exceed the bound.
        let idx = index("ALL", &[]);
        let base_key = item_key(&KeyValue::S("a".into()), None);
        let with_status = |len: usize| {
            item(&[
                ("id", AttributeValue::S("a".into())),
                ("status", AttributeValue::S("s".repeat(len))),
                ("at", n("1")),
            ])
        };
        assert!(idx.entry(&base(), &base_key, &with_status(2048)).is_some());
        assert!(!idx.is_violation(&with_status(2048)));
        assert!(idx.entry(&base(), &base_key, &with_status(2049)).is_none());
        assert!(idx.is_violation(&with_status(66_000)));
        let e = idx.validate(&with_status(2049)).unwrap_err();
        assert_eq!(
            e.message,
            "One or more parameter values were invalid: Size limit exceeded for Index Key status Actual Size: 2049 bytes Max Size: 2048 bytes IndexName: byStatus"
        );
        // The worst case within the limits: every byte escaped, in all four key values.
        let sk_index = index("KEYS_ONLY", &[]);
        let zeros = |len: usize| AttributeValue::S("\0".repeat(len));
        let base_key = item_key(&KeyValue::S("\0".repeat(2048)), Some(&KeyValue::S("\0".repeat(1024))));
        let widest = item(&[("status", zeros(2048)), ("at", n("1"))]);
        let (key, _) = sk_index.entry(&base(), &base_key, &widest).unwrap();
        assert!(key.len() <= STORED_KEY_BYTES_MAX);
    }
}
