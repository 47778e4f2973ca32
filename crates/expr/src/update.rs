//! Applying an update expression to an item.
//!
//! Every right-hand side reads the item as it was before the update, and every target path
//! refers to the item as it was: DynamoDB applies the actions "all at once". To make that true
//! with in-place edits, all values are computed first, then written in path order (so that list
//! elements set beyond the end are appended in index order, as the Developer Guide says), and
//! removals come last, each list losing all its removed elements in one pass once the removals
//! inside its elements are done (see `remove_all`).
//!
//! Everything here runs under a partition's writer on values as large as an item allows, so
//! nothing is worse than O(n log n): set members are looked up in sorted copies, lists are
//! shortened once.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use flywheel_types::limits::ITEM_SIZE_BYTES_MAX;
use flywheel_types::value::sorted_refs;
use flywheel_types::{AttributeValue, Item, Number};

use crate::ast::*;
use crate::error::{self, ExprError};
use crate::eval::{lookup, lookup_elements};
use crate::project::project_paths;

/// What an update touched, for building ReturnValues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// Every target path of the update, in the order written. ReturnValues UPDATED_OLD and
    /// UPDATED_NEW return exactly these paths (nested ones too) from the old and new item.
    pub paths: Vec<DocumentPath>,
    /// The top-level attributes the paths start at.
    pub attributes: BTreeSet<String>,
}

impl UpdateOutcome {
    /// ReturnValues UPDATED_OLD: the updated paths as they were.
    pub fn updated_old(&self, old_item: &Item) -> Item {
        project_paths(old_item, &self.paths)
    }

    /// ReturnValues UPDATED_NEW: the updated paths as they are now (removed ones are absent).
    pub fn updated_new(&self, new_item: &Item) -> Item {
        project_paths(new_item, &self.paths)
    }
}

enum Write<'u> {
    Put(&'u DocumentPath, AttributeValue),
    Remove(&'u DocumentPath),
}

/// Applies `update` to `item` (for a new item, the caller passes an item holding just the key).
/// On error `item` is unchanged. `key_attributes` are the table's key attribute names, which no
/// action may target.
pub fn apply_update(
    update: &UpdateExpression,
    item: &mut Item,
    key_attributes: &[&str],
) -> Result<UpdateOutcome, ExprError> {
    let targets = update.target_paths();
    for path in &targets {
        let name = path.top_level_name();
        if key_attributes.contains(&name) {
            return Err(error::update_key_attribute(name));
        }
    }
    let legacy = update.origin == UpdateOrigin::AttributeUpdates;
    let type_error = || if legacy { error::legacy_update_type_mismatch() } else { error::update_operand_type() };

    // Phase 1: compute every write against the unchanged item.
    //
    // Target paths are disjoint (overlaps are refused when parsing), so every value written ends
    // up whole in the new item: once they add up to more than an item may hold, the update fails
    // anyway. Stopping there keeps a 4 KB expression from copying one 400 KB attribute hundreds
    // of times (`SET a1 = big, a2 = big, …`) under the partition's writer.
    let mut room = ITEM_SIZE_BYTES_MAX;
    let mut writes: Vec<Write<'_>> = Vec::new();
    for clause in &update.clauses {
        match clause {
            UpdateClause::Set(actions) => {
                for action in actions {
                    let value = set_value(&action.value, item, room).map_err(|e| match e {
                        Failure::Type => type_error(),
                        Failure::Other(e) => e,
                    })?;
                    check_parent(item, &action.path)?;
                    room = take_room(room, &value)?;
                    writes.push(Write::Put(&action.path, value));
                }
            }
            UpdateClause::Remove(paths) => {
                for path in paths {
                    check_parent(item, path)?;
                    if lookup(Some(item), path).is_some() {
                        writes.push(Write::Remove(path));
                    }
                }
            }
            UpdateClause::Add(actions) => {
                for action in actions {
                    check_parent(item, &action.path)?;
                    let current = lookup(Some(item), &action.path);
                    let value = add(current, &action.value.value).map_err(|e| match e {
                        Failure::Type => type_error(),
                        Failure::Other(e) => e,
                    })?;
                    room = take_room(room, &value)?;
                    writes.push(Write::Put(&action.path, value));
                }
            }
            UpdateClause::Delete(actions) => {
                for action in actions {
                    check_parent(item, &action.path)?;
                    match lookup(Some(item), &action.path) {
                        None => {}
                        Some(current) => match set_difference(current, &action.value.value) {
                            None => return Err(type_error()),
                            Some(None) => writes.push(Write::Remove(&action.path)),
                            Some(Some(rest)) => {
                                room = take_room(room, &rest)?;
                                writes.push(Write::Put(&action.path, rest))
                            }
                        },
                    }
                }
            }
        }
    }

    // Phase 2: write. Puts in ascending path order, then removals.
    let mut puts = Vec::new();
    let mut removes = Vec::new();
    for write in writes {
        match write {
            Write::Put(path, value) => puts.push((path, value)),
            Write::Remove(path) => removes.push(path),
        }
    }
    puts.sort_by(|a, b| path_order(&a.0.elements, &b.0.elements));
    for (path, value) in puts {
        put(item, path, value);
    }
    remove_all(item, &removes);

    let attributes = targets.iter().map(|p| p.top_level_name().to_string()).collect();
    Ok(UpdateOutcome { paths: targets.into_iter().cloned().collect(), attributes })
}

fn path_order(a: &[PathElement], b: &[PathElement]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (PathElement::Key { name: p, .. }, PathElement::Key { name: q, .. }) => p.cmp(q),
            (PathElement::Index(p), PathElement::Index(q)) => p.cmp(q),
            (PathElement::Key { .. }, PathElement::Index(_)) => Ordering::Less,
            (PathElement::Index(_), PathElement::Key { .. }) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// A nested target needs its parent to exist and to be a map (for `.key`) or a list (for `[i]`).
fn check_parent(item: &Item, path: &DocumentPath) -> Result<(), ExprError> {
    let Some((last, parent)) = path.elements.split_last() else {
        return Ok(());
    };
    if parent.is_empty() {
        return Ok(());
    }
    // Looked up in place: copying the parent's steps would copy names of up to 64 KB each, for
    // every action.
    match (lookup_elements(Some(item), parent), last) {
        (Some(AttributeValue::M(_)), PathElement::Key { .. }) | (Some(AttributeValue::L(_)), PathElement::Index(_)) => {
            Ok(())
        }
        _ => Err(error::update_path_invalid()),
    }
}

enum Failure {
    /// An operand of the wrong type; worded differently for legacy updates.
    Type,
    Other(ExprError),
}

fn number_error(e: flywheel_types::NumberError) -> Failure {
    Failure::Other(ExprError::new(e.message()))
}

/// What is left of the item size once `value` is written, or the item-size error.
fn take_room(room: usize, value: &AttributeValue) -> Result<usize, ExprError> {
    room.checked_sub(value.size_bytes()).ok_or_else(error::update_item_too_large)
}

/// The value a SET action writes. `room` is what the item can still hold: a `list_append` result
/// larger than that is part of the value written, so the update fails there rather than
/// building ever larger lists from up to 300 nested calls.
fn set_value(value: &SetValue, item: &Item, room: usize) -> Result<AttributeValue, Failure> {
    match value {
        SetValue::Operand(o) => update_operand(o, item, room),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let a = update_operand(a, item, room)?;
            let b = update_operand(b, item, room)?;
            let (AttributeValue::N(x), AttributeValue::N(y)) = (&a, &b) else {
                return Err(Failure::Type);
            };
            let result = if matches!(value, SetValue::Plus(..)) { x.add(y) } else { x.sub(y) };
            result.map(AttributeValue::N).map_err(number_error)
        }
    }
}

fn update_operand(operand: &UpdateOperand, item: &Item, room: usize) -> Result<AttributeValue, Failure> {
    match operand {
        UpdateOperand::Path(p) => {
            lookup(Some(item), p).cloned().ok_or_else(|| Failure::Other(error::update_missing_attribute()))
        }
        UpdateOperand::Value(v) => Ok(v.value.clone()),
        UpdateOperand::IfNotExists(p, fallback) => match lookup(Some(item), p) {
            Some(v) => Ok(v.clone()),
            None => update_operand(fallback, item, room),
        },
        UpdateOperand::ListAppend(a, b) => {
            let a = update_operand(a, item, room)?;
            let b = update_operand(b, item, room)?;
            match (a, b) {
                (AttributeValue::L(mut x), AttributeValue::L(y)) => {
                    x.extend(y);
                    let list = AttributeValue::L(x);
                    if list.size_bytes() > room {
                        return Err(Failure::Other(error::update_item_too_large()));
                    }
                    Ok(list)
                }
                _ => Err(Failure::Type),
            }
        }
    }
}

/// ADD: numbers add, sets gain the new members; a missing attribute takes the value as is.
fn add(current: Option<&AttributeValue>, value: &AttributeValue) -> Result<AttributeValue, Failure> {
    use AttributeValue::*;
    let Some(current) = current else {
        return Ok(value.clone());
    };
    match (current, value) {
        (N(a), N(b)) => a.add(b).map(N).map_err(number_error),
        (Ss(a), Ss(b)) => Ok(Ss(union(a, b))),
        (Ns(a), Ns(b)) => Ok(Ns(union(a, b))),
        (Bs(a), Bs(b)) => Ok(Bs(union(a, b))),
        _ => Err(Failure::Type),
    }
}

/// The members of `a`, then those of `b` not in `a`, in their order. Membership is looked up in
/// a sorted copy of `a`: both sets may hold tens of thousands of members, and this runs under the
/// partition's writer, so it must stay O(n log n).
fn union<T: Clone + Ord>(a: &[T], b: &[T]) -> Vec<T> {
    let present = sorted_refs(a);
    let mut out = a.to_vec();
    out.extend(b.iter().filter(|x| present.binary_search(x).is_err()).cloned());
    out
}

/// DELETE: the set without the given members; `Some(None)` when nothing is left (the attribute
/// goes), `None` when the types do not match.
fn set_difference(current: &AttributeValue, value: &AttributeValue) -> Option<Option<AttributeValue>> {
    use AttributeValue::*;
    // O(n log n) like `union`, for the same reason.
    fn minus<T: Clone + Ord>(a: &[T], b: &[T]) -> Vec<T> {
        let removed = sorted_refs(b);
        a.iter().filter(|x| removed.binary_search(x).is_err()).cloned().collect()
    }
    let rest = match (current, value) {
        (Ss(a), Ss(b)) => Ss(minus(a, b)),
        (Ns(a), Ns(b)) => Ns(minus::<Number>(a, b)),
        (Bs(a), Bs(b)) => Bs(minus(a, b)),
        _ => return None,
    };
    let empty = match &rest {
        Ss(v) => v.is_empty(),
        Ns(v) => v.is_empty(),
        Bs(v) => v.is_empty(),
        _ => false,
    };
    Some(if empty { None } else { Some(rest) })
}

/// The value at `elements` (a path's steps), if every step exists and has the right type.
fn value_at_mut<'i>(item: &'i mut Item, elements: &[PathElement]) -> Option<&'i mut AttributeValue> {
    let (first, rest) = elements.split_first()?;
    let mut current = item.get_mut(first.key_name()?)?;
    for element in rest {
        current = match (current, element) {
            (AttributeValue::M(m), PathElement::Key { name, .. }) => m.get_mut(name)?,
            (AttributeValue::L(l), PathElement::Index(i)) => l.get_mut(*i as usize)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The container holding `path`'s last element, which phase 1 checked exists.
fn parent_mut<'i>(item: &'i mut Item, path: &DocumentPath) -> Option<&'i mut AttributeValue> {
    let (_, parent) = path.elements.split_last()?;
    if parent.is_empty() {
        return None;
    }
    value_at_mut(item, parent)
}

fn put(item: &mut Item, path: &DocumentPath, value: AttributeValue) {
    if path.elements.len() == 1 {
        item.insert(path.top_level_name().to_string(), value);
        return;
    }
    let last = path.elements.last().expect("non-empty path");
    match (parent_mut(item, path), last) {
        (Some(AttributeValue::M(m)), PathElement::Key { name, .. }) => {
            m.insert(name.clone(), value);
        }
        (Some(AttributeValue::L(l)), PathElement::Index(i)) => match l.get_mut(*i as usize) {
            Some(slot) => *slot = value,
            // Setting an element beyond the end appends it.
            None => l.push(value),
        },
        _ => debug_assert!(false, "parent checked before writing"),
    }
}

/// One step of the removals: a map key (or top-level attribute) at a path, or every removed
/// element of the list at a path.
enum Removal<'u> {
    Key(&'u [PathElement]),
    Elements(&'u [PathElement], Vec<u32>),
}

impl Removal<'_> {
    /// Where the step acts: the removed key's path, or the list's path.
    fn at(&self) -> &[PathElement] {
        match self {
            Removal::Key(at) | Removal::Elements(at, _) => at,
        }
    }
}

/// Removes `paths`, every index meaning the element's position before the update.
///
/// Removing list elements one `Vec::remove` at a time costs O(length) each, and a 4 KB
/// expression can name ~1,000 elements of a list of 100,000: so each list loses all its removed
/// elements in one pass instead. The steps run in descending path order, so a list is shortened
/// only after every removal inside its elements (whose paths sort after the list's own path), and
/// before any removal in a list that encloses it (whose paths sort before it).
fn remove_all(item: &mut Item, paths: &[&DocumentPath]) {
    let mut steps: Vec<Removal<'_>> = Vec::new();
    let mut elements: Vec<(&[PathElement], u32)> = Vec::new();
    for path in paths {
        match path.elements.split_last() {
            Some((PathElement::Index(i), list)) => elements.push((list, *i)),
            _ => steps.push(Removal::Key(&path.elements)),
        }
    }
    elements.sort_by(|a, b| path_order(a.0, b.0).then(a.1.cmp(&b.1)));
    for (list, index) in elements {
        match steps.last_mut() {
            Some(Removal::Elements(at, indexes)) if path_order(at, list) == Ordering::Equal => indexes.push(index),
            _ => steps.push(Removal::Elements(list, vec![index])),
        }
    }
    steps.sort_by(|a, b| path_order(b.at(), a.at()));
    for step in steps {
        match step {
            Removal::Key([only]) => {
                if let Some(name) = only.key_name() {
                    item.remove(name);
                }
            }
            Removal::Key(at) => {
                let (last, parent) = at.split_last().expect("a path has at least one element");
                if let (Some(AttributeValue::M(m)), PathElement::Key { name, .. }) = (value_at_mut(item, parent), last)
                {
                    m.remove(name);
                }
            }
            Removal::Elements(at, indexes) => {
                if let Some(AttributeValue::L(list)) = value_at_mut(item, at) {
                    // `indexes` is ascending; drop exactly those positions in one pass.
                    let mut next = indexes.iter().peekable();
                    let mut position = 0u32;
                    list.retain(|_| {
                        while next.next_if(|i| **i < position).is_some() {}
                        let removed = next.next_if_eq(&&position).is_some();
                        position += 1;
                        !removed
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::testutil::{item, show_item, v, with_fixture};
    use crate::{parse_update, Resolver};

    /// Each case: an UpdateExpression and the resulting item, or DynamoDB's message.
    fn check(start: &str, cases: &[(&str, &str)]) {
        for (src, want) in cases {
            let update = with_fixture(|r| parse_update(src, r)).unwrap();
            let mut it = item(start);
            let got = match apply_update(&update, &mut it, &["pk"]) {
                Ok(_) => show_item(&it),
                Err(e) => {
                    assert_eq!(show_item(&it), show_item(&item(start)), "{src}: failed update changed the item");
                    e.message
                }
            };
            assert_eq!(got, *want, "{src}");
        }
    }

    const START: &str =
        "{a: 1, l: [\"a\", \"b\", \"c\"], m: {k: 1}, ns: NS[1, 2], pk: \"k\", s: \"x\", ss: SS[\"a\", \"b\"]}";

    /// The start item with one attribute replaced (or added).
    fn with(attr: &str, value: &str) -> String {
        let mut it = item(START);
        it.insert(attr.to_string(), v(value));
        show_item(&it)
    }

    fn without(attr: &str) -> String {
        let mut it = item(START);
        it.remove(attr);
        show_item(&it)
    }

    #[test]
    fn set() {
        let bad_path = "The document path provided in the update expression is invalid for update";
        let bad_type = "An operand in the update expression has an incorrect data type";
        let missing = "The provided expression refers to an attribute that does not exist in the item";
        check(
            START,
            &[
                ("SET a = a + :n", &with("a", "2")),
                ("SET a = a - :big", &with("a", "-9")),
                ("SET n2 = :n + :m", &with("n2", "3")),
                ("SET a = :huge + :huge", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
                ("SET x = q", missing),
                ("SET x = q + :n", missing),
                ("SET x = s + :n", bad_type),
                ("SET x = :n - s", bad_type),
                ("SET x = s", &with("x", "\"x\"")),
                ("SET x = if_not_exists(q, :s)", &with("x", "\"abc\"")),
                ("SET x = if_not_exists(a, :s)", &with("x", "1")),
                ("SET a = if_not_exists(a, :n) + :n", &with("a", "2")),
                ("SET x = if_not_exists(q, r)", missing),
                ("SET l = list_append(l, :l2)", &with("l", "[\"a\", \"b\", \"c\", \"x\"]")),
                ("SET l = list_append(:l2, l)", &with("l", "[\"x\", \"a\", \"b\", \"c\"]")),
                ("SET l = list_append(if_not_exists(q, :el), :l2)", &with("l", "[\"x\"]")),
                ("SET l = list_append(s, :l2)", bad_type),
                ("SET l = list_append(q, :l2)", missing),
                ("SET l[1] = :s", &with("l", "[\"a\", \"abc\", \"c\"]")),
                ("SET l[10] = :s", &with("l", "[\"a\", \"b\", \"c\", \"abc\"]")),
                ("SET l[5] = :s, l[4] = :t", &with("l", "[\"a\", \"b\", \"c\", \"abd\", \"abc\"]")),
                ("SET m.k2 = :n", &with("m", "{k: 1, k2: 1}")),
                ("SET m.k = m", &with("m", "{k: {k: 1}}")),
                ("SET q.x = :n", bad_path),
                ("SET s.x = :n", bad_path),
                ("SET l.x = :n", bad_path),
                ("SET m[0] = :n", bad_path),
                ("SET m.q.x = :n", bad_path),
                ("SET #dot = :n", &with("x.y", "1")),
                ("SET pk = :s", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
                ("SET #pk.x = :s", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
            ],
        );
    }

    #[test]
    fn remove_add_delete() {
        let bad_path = "The document path provided in the update expression is invalid for update";
        let bad_type = "An operand in the update expression has an incorrect data type";
        check(
            START,
            &[
                ("REMOVE l[0], l[2]", &with("l", "[\"b\"]")),
                ("REMOVE l[5]", START),
                ("REMOVE q", START),
                ("REMOVE q.x", bad_path),
                ("REMOVE s[0]", bad_path),
                ("REMOVE m.zz", START),
                ("REMOVE m.k", &with("m", "{}")),
                ("REMOVE a, s", &show_item(&item("{l: [\"a\", \"b\", \"c\"], m: {k: 1}, ns: NS[1, 2], pk: \"k\", ss: SS[\"a\", \"b\"]}"))),
                // Every path refers to the item before the update.
                ("SET l[1] = :s REMOVE l[0]", &with("l", "[\"abc\", \"c\"]")),
                ("SET l[7] = :s REMOVE l[3]", &with("l", "[\"a\", \"b\", \"c\", \"abc\"]")),
                ("SET l[3] = :s, l[4] = :t REMOVE l[2]", &with("l", "[\"a\", \"b\", \"abc\", \"abd\"]")),
                ("REMOVE pk", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
                ("ADD a :m", &with("a", "3")),
                ("ADD a :neg", &with("a", "-2")),
                ("ADD q :n", &with("q", "1")),
                ("ADD q :ss", &with("q", "SS[\"a\", \"b\"]")),
                ("ADD ss :ss2", &with("ss", "SS[\"a\", \"b\", \"c\"]")),
                ("ADD ns :ns1", START),
                ("ADD s :n", bad_type),
                ("ADD ss :ns", bad_type),
                ("ADD a :ss", bad_type),
                ("ADD m.c :n", &with("m", "{c: 1, k: 1}")),
                ("ADD q.c :n", bad_path),
                ("ADD l[3] :n", &with("l", "[\"a\", \"b\", \"c\", 1]")),
                ("ADD a :huge, l[0] :n", "Attempting to store more than 38 significant digits in a Number"),
                ("ADD l[0] :n, a :huge", bad_type),
                ("DELETE ss :ss2", &with("ss", "SS[\"a\"]")),
                ("DELETE ss :ss", &without("ss")),
                ("DELETE ns :ns1", &with("ns", "NS[2]")),
                ("DELETE q :ss", START),
                ("DELETE q.x :ss", bad_path),
                ("DELETE ss :ns", bad_type),
                ("DELETE a :ns", bad_type),
                ("DELETE l[0] :ss", bad_type),
            ],
        );
        check(
            "{a: 9.9999999999999999999999999999999999999E+125}",
            &[(
                "ADD a :huge",
                "Number overflow. Attempting to store a number with magnitude larger than supported range",
            )],
        );
    }

    #[test]
    fn applies_all_actions_against_the_old_item_and_reports_updated_paths() {
        // The case from DynamoDB's own behaviour: RHS values read the old item, list elements
        // set beyond the end are appended in index order, UPDATED_NEW projects the paths as
        // written (so appended elements at other positions are not returned).
        let values: HashMap<String, AttributeValue> =
            [(":a".to_string(), v("2")), (":b".to_string(), v("SS[\"a\"]"))].into_iter().collect();
        let mut resolver = Resolver::new(None, Some(&values)).unwrap();
        let update = parse_update(
            "set b.c=((c[1])+(b.a)),b.a = a,c[1] = a, c[4] = b.a - b.b, c[2] = b.c add c[8] :b, c[6] :a",
            &mut resolver,
        )
        .unwrap();
        resolver.check_unused().unwrap();
        let mut it = item("{a: \"k\", b: {a: 1, b: 2, c: 3}, c: [1, 3]}");
        let old = it.clone();
        let outcome = apply_update(&update, &mut it, &["pk"]).unwrap();
        assert_eq!(show_item(&it), "{a: \"k\", b: {a: \"k\", b: 2, c: 4}, c: [1, \"k\", 3, -1, 2, SS[\"a\"]]}");
        assert_eq!(show_item(&outcome.updated_new(&it)), "{b: {a: \"k\", c: 4}, c: [\"k\", 3, 2]}");
        assert_eq!(show_item(&outcome.updated_old(&old)), "{b: {a: 1, c: 3}, c: [3]}");
        assert_eq!(outcome.attributes.iter().collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn removes_nested_and_list_elements_against_the_old_item() {
        // Removals inside list elements use the positions before any element is removed,
        // however they interleave with removals of the list's own elements.
        check(
            "{l: [{x: 0, y: 0}, {x: 1, y: 1}, {x: 2, y: 2}, [10, 11, 12], {x: 4}], pk: \"k\"}",
            &[
                ("REMOVE l[0], l[1].x, l[2], l[3][0], l[3][2]", "{l: [{y: 1}, [11], {x: 4}], pk: \"k\"}"),
                ("REMOVE l[4].x, l[3][1], l[1]", "{l: [{x: 0, y: 0}, {x: 2, y: 2}, [10, 12], {}], pk: \"k\"}"),
                ("REMOVE l[9], l[4], l[0].y", "{l: [{x: 0}, {x: 1, y: 1}, {x: 2, y: 2}, [10, 11, 12]], pk: \"k\"}"),
            ],
        );
    }

    /// Sets and lists near the 400 KB item size: ADD, DELETE and REMOVE answer correctly. (Each
    /// used to cost O(n·m), minutes for these sizes; the test bounds nothing by time.)
    #[test]
    fn large_sets_and_lists() {
        let members = |range: std::ops::Range<u32>| AttributeValue::Ss(range.map(|i| format!("m{i}")).collect());
        let values: HashMap<String, AttributeValue> =
            [(":add".to_string(), members(20_000..60_000)), (":del".to_string(), members(0..30_000))]
                .into_iter()
                .collect();
        let mut it = Item::from([
            ("pk".to_string(), v("\"k\"")),
            ("s".to_string(), members(0..40_000)),
            ("l".to_string(), AttributeValue::L((0..100_000).map(|i| AttributeValue::N(Number::from(i))).collect())),
        ]);
        let removed: Vec<String> = (0..350).map(|i| format!("l[{}]", i * 250)).collect();
        let mut resolver = Resolver::new(None, Some(&values)).unwrap();
        let add = parse_update(&format!("ADD s :add REMOVE {}", removed.join(", ")), &mut resolver).unwrap();
        let delete = parse_update("DELETE s :del", &mut resolver).unwrap();
        apply_update(&add, &mut it, &["pk"]).unwrap();
        assert_eq!(it["s"], members(0..60_000));
        let AttributeValue::L(list) = &it["l"] else { panic!("l is a list") };
        assert_eq!(list.len(), 100_000 - 350);
        assert_eq!(list[0], AttributeValue::N(Number::from(1)));
        assert_eq!(list[248], AttributeValue::N(Number::from(249)));
        assert_eq!(list[249], AttributeValue::N(Number::from(251)));
        apply_update(&delete, &mut it, &["pk"]).unwrap();
        assert_eq!(it["s"], members(30_000..60_000));
    }

    /// Values that cannot fit in one item stop the update as soon as they add up to more than
    /// 400 KB, before hundreds of copies are made; values that fit are written.
    #[test]
    fn copies_stop_at_the_item_size() {
        let too_large = "Item size to update has exceeded the maximum allowed size";
        let big = AttributeValue::S("x".repeat(150_000));
        let start = Item::from([("pk".to_string(), v("\"k\"")), ("b".to_string(), big.clone())]);
        let copies = |n: usize| (0..n).map(|i| format!("a{i} = b")).collect::<Vec<_>>().join(", ");
        let cases = [
            (format!("SET {}", copies(2)), None),
            (format!("SET {}", copies(3)), Some(too_large)),
            (format!("SET {}", copies(400)), Some(too_large)),
            ("SET l = list_append(:l, :l)".to_string(), None),
            (format!("SET l = {}:l{}", "list_append(:l, ".repeat(40), ")".repeat(40)), Some(too_large)),
        ];
        let values: HashMap<String, AttributeValue> =
            [(":l".to_string(), AttributeValue::L(vec![AttributeValue::S("y".repeat(20_000))]))].into_iter().collect();
        for (src, want) in cases {
            let mut resolver = Resolver::new(None, Some(&values)).unwrap();
            let update = parse_update(&src, &mut resolver).unwrap();
            let mut it = start.clone();
            match (apply_update(&update, &mut it, &["pk"]), want) {
                (Ok(_), None) => assert!(it.len() > start.len(), "{src}"),
                (Err(e), Some(message)) => {
                    assert_eq!(e.message, message, "{src}");
                    assert_eq!(it, start, "{src}: a failed update changed the item");
                }
                (got, _) => panic!("{src}: {got:?}"),
            }
        }
    }
}
