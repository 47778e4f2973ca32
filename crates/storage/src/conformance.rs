//! One conformance suite, run against every backend: each test takes a fresh store.

use std::collections::BTreeMap;
use std::ops::Bound;

use rand::{Rng, SeedableRng};

use crate::disk::{DiskOptions, DiskStorage};
use crate::memory::MemoryStorage;
use crate::{Storage, WriteBatch};

fn for_each_backend(test: impl Fn(&dyn Storage)) {
    test(&MemoryStorage::new());
    let dir = tempfile::tempdir().unwrap();
    test(&DiskStorage::open(dir.path(), DiskOptions::default()).unwrap());
}

fn keys(s: &dyn Storage, tree: &str, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> Vec<Vec<u8>> {
    let t = s.open_tree(tree).unwrap();
    t.range(start, end, reverse).map(|e| e.unwrap().0).collect()
}

#[test]
fn put_get_delete() {
    for_each_backend(|s| {
        let t = s.open_tree("a").unwrap();
        assert_eq!(t.get(b"k").unwrap(), None);
        let mut b = WriteBatch::new();
        b.put(&t, b"k".to_vec(), b"v1".to_vec());
        s.commit(b).unwrap();
        assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
        let mut b = WriteBatch::new();
        b.delete(&t, b"k".to_vec());
        s.commit(b).unwrap();
        assert_eq!(t.get(b"k").unwrap(), None);
    });
}

#[test]
fn ranges_respect_bounds_and_direction() {
    for_each_backend(|s| {
        let t = s.open_tree("r").unwrap();
        let mut b = WriteBatch::new();
        // More entries than one memory scan chunk, to cross chunk boundaries.
        for i in 0u32..600 {
            b.put(&t, i.to_be_bytes().to_vec(), vec![1]);
        }
        s.commit(b).unwrap();
        let lo = 100u32.to_be_bytes();
        let hi = 400u32.to_be_bytes();
        let fwd = keys(s, "r", Bound::Included(&lo), Bound::Excluded(&hi), false);
        assert_eq!(fwd.len(), 300);
        assert_eq!(fwd[0], lo.to_vec());
        assert!(fwd.windows(2).all(|w| w[0] < w[1]));
        let rev = keys(s, "r", Bound::Excluded(&lo), Bound::Included(&hi), true);
        assert_eq!(rev.len(), 300);
        assert_eq!(rev[0], hi.to_vec());
        assert!(rev.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(keys(s, "r", Bound::Unbounded, Bound::Unbounded, false).len(), 600);
        // Inverted or empty bounds are an empty range, never a panic, in both directions.
        for reverse in [false, true] {
            assert!(keys(s, "r", Bound::Included(&hi), Bound::Included(&lo), reverse).is_empty());
            assert!(keys(s, "r", Bound::Excluded(&lo), Bound::Excluded(&lo), reverse).is_empty());
            assert!(keys(s, "r", Bound::Included(&lo), Bound::Excluded(&lo), reverse).is_empty());
            assert_eq!(keys(s, "r", Bound::Included(&lo), Bound::Included(&lo), reverse).len(), 1);
        }
    });
}

#[test]
fn batches_span_trees_and_drop_tree_clears() {
    for_each_backend(|s| {
        let a = s.open_tree("x").unwrap();
        let b_tree = s.open_tree("y").unwrap();
        let mut b = WriteBatch::new();
        b.put(&a, b"1".to_vec(), b"a".to_vec());
        b.put(&b_tree, b"1".to_vec(), b"b".to_vec());
        s.commit(b).unwrap();
        assert!(a.get(b"1").unwrap().is_some() && b_tree.get(b"1").unwrap().is_some());
        let mut names = s.tree_names().unwrap();
        names.sort();
        assert!(names.contains(&"x".to_string()) && names.contains(&"y".to_string()));
        s.drop_tree("x").unwrap();
        assert!(!s.tree_names().unwrap().contains(&"x".to_string()));
        let again = s.open_tree("x").unwrap();
        assert_eq!(again.get(b"1").unwrap(), None);
    });
}

#[test]
fn tickets_become_durable() {
    for_each_backend(|s| {
        let t = s.open_tree("d").unwrap();
        let mut last = 0;
        for i in 0u8..20 {
            let mut b = WriteBatch::new();
            b.put(&t, vec![i], vec![i]);
            let ticket = s.commit(b).unwrap();
            assert!(ticket > last, "tickets increase");
            last = ticket;
        }
        s.durability().wait_blocking(last).unwrap();
        assert!(s.durability().durable() >= last);
        let barrier = s.durability().barrier();
        s.durability().wait_blocking(barrier).unwrap();
    });
}

#[test]
fn matches_a_model_under_random_operations() {
    for_each_backend(|s| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t = s.open_tree("m").unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for _ in 0..300 {
            let mut b = WriteBatch::new();
            for _ in 0..rng.random_range(1..8) {
                let k = vec![rng.random_range(0..40u8)];
                if rng.random_bool(0.3) {
                    b.delete(&t, k.clone());
                    model.remove(&k);
                } else {
                    let v = vec![rng.random(); rng.random_range(0..5)];
                    b.put(&t, k.clone(), v.clone());
                    model.insert(k, v);
                }
            }
            s.commit(b).unwrap();
        }
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            t.range(Bound::Unbounded, Bound::Unbounded, false).map(|e| e.unwrap()).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
        assert_eq!(got, want);
    });
}

#[test]
fn disk_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = DiskStorage::open(dir.path(), DiskOptions::default()).unwrap();
        let t = s.open_tree("p").unwrap();
        let mut b = WriteBatch::new();
        b.put(&t, b"k".to_vec(), b"v".to_vec());
        let ticket = s.commit(b).unwrap();
        s.durability().wait_blocking(ticket).unwrap();
        s.close().unwrap();
    }
    let s = DiskStorage::open(dir.path(), DiskOptions::default()).unwrap();
    assert!(s.tree_names().unwrap().contains(&"p".to_string()));
    let t = s.open_tree("p").unwrap();
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn names_and_keys_past_the_limits_are_errors_not_panics() {
    // fjall asserts on keyspace names over 255 bytes and lsm-tree on keys over 65,535 bytes; a
    // panic there (perhaps under the journal lock) would take the whole store down. Every
    // backend refuses both with an error, applies nothing of a refused batch, and keeps working.
    for_each_backend(|s| {
        let longest = "n".repeat(crate::TREE_NAME_BYTES_MAX);
        assert!(s.open_tree(&longest).is_ok());
        let too_long = "n".repeat(crate::TREE_NAME_BYTES_MAX + 1);
        assert!(matches!(s.open_tree(&too_long), Err(crate::StorageError::InvalidTreeName(256))));
        assert!(matches!(s.open_tree(""), Err(crate::StorageError::InvalidTreeName(0))));
        let t = s.open_tree("k").unwrap();
        let mut b = WriteBatch::new();
        b.put(&t, b"first".to_vec(), b"v".to_vec());
        b.put(&t, vec![7; crate::KEY_BYTES_MAX + 1], b"v".to_vec());
        let refused = s.commit(b).unwrap_err();
        assert!(matches!(refused, crate::StorageError::KeyTooLong { len: 65_536, .. }), "{refused}");
        assert_eq!(t.get(b"first").unwrap(), None, "nothing of a refused batch is applied");
        let mut b = WriteBatch::new();
        b.put(&t, vec![7; crate::KEY_BYTES_MAX], b"v".to_vec());
        s.commit(b).unwrap();
        assert_eq!(t.get(&vec![7; crate::KEY_BYTES_MAX]).unwrap().as_deref(), Some(&b"v"[..]));
    });
}
