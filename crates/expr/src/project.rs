//! Projecting document paths out of an item: ProjectionExpression, AttributesToGet, and the
//! UPDATED_OLD/UPDATED_NEW return values.
//!
//! DynamoDB keeps the document's shape: `a.b` yields `{a: {b: …}}`, and list elements come back as
//! a shorter list in index order (`l[3], l[1]` yields `{l: [l1, l3]}`). A path that selects
//! nothing contributes nothing — no empty maps or lists appear.

use std::collections::BTreeMap;

use flywheel_types::{AttributeValue, Item};

use crate::ast::{DocumentPath, PathElement};

/// The requested paths, merged into a tree.
#[derive(Default)]
struct Node {
    /// A path ends here: take the whole value.
    whole: bool,
    keys: BTreeMap<String, Node>,
    indexes: BTreeMap<u32, Node>,
}

/// The parts of `item` that `paths` select.
pub fn project_paths(item: &Item, paths: &[DocumentPath]) -> Item {
    let mut root = Node::default();
    for path in paths {
        let mut node = &mut root;
        for element in &path.elements {
            node = match element {
                PathElement::Key { name, .. } => node.keys.entry(name.clone()).or_default(),
                PathElement::Index(i) => node.indexes.entry(*i).or_default(),
            };
        }
        node.whole = true;
    }
    let mut out = Item::new();
    for (name, node) in &root.keys {
        if let Some(v) = item.get(name).and_then(|v| extract(v, node)) {
            out.insert(name.clone(), v);
        }
    }
    out
}

fn extract(value: &AttributeValue, node: &Node) -> Option<AttributeValue> {
    if node.whole {
        return Some(value.clone());
    }
    match value {
        AttributeValue::M(m) => {
            let picked: BTreeMap<String, AttributeValue> = node
                .keys
                .iter()
                .filter_map(|(k, child)| m.get(k).and_then(|v| extract(v, child)).map(|v| (k.clone(), v)))
                .collect();
            (!picked.is_empty()).then_some(AttributeValue::M(picked))
        }
        AttributeValue::L(l) => {
            let picked: Vec<AttributeValue> = node
                .indexes
                .iter()
                .filter_map(|(i, child)| l.get(*i as usize).and_then(|v| extract(v, child)))
                .collect();
            (!picked.is_empty()).then_some(AttributeValue::L(picked))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_projection;
    use crate::testutil::{item, show_item, with_fixture};

    /// Each case: a ProjectionExpression and what it selects from `from`.
    fn check(from: &Item, cases: &[(&str, &str)]) {
        for (src, want) in cases {
            let projection = with_fixture(|r| parse_projection(src, r)).unwrap();
            assert_eq!(show_item(&project_paths(from, &projection.paths)), *want, "{src}");
        }
    }

    #[test]
    fn keeps_the_document_shape() {
        let it = item("{a: {b: 1, c: [10, 20, 30]}, l: [1, {x: 2, y: 3}, 4], s: \"x\", e: {}}");
        check(
            &it,
            &[
                ("a.b", "{a: {b: 1}}"),
                ("l[2], l[0]", "{l: [1, 4]}"),
                ("l[1].y, s", "{l: [{y: 3}], s: \"x\"}"),
                ("a.zz", "{}"),
                ("l[9]", "{}"),
                ("a.c[1], a.b", "{a: {b: 1, c: [20]}}"),
                ("a.c[5], a.b", "{a: {b: 1}}"),
                ("s.x", "{}"),
                ("a[0]", "{}"),
                ("e", "{e: {}}"),
                ("zz, s", "{s: \"x\"}"),
                ("#a.b", "{a: {b: 1}}"),
            ],
        );
    }
}
