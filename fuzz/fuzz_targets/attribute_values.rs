//! Attribute values through every format they live in: wire JSON → typed item → stored bytes.
//!
//! Input: arbitrary bytes, decoded the way PutItem decodes its body (and, to reach items faster,
//! also as the `Item` member of a body). Properties, for every item that decodes:
//! - the stored format round-trips: `decode_item(encode_item(item)) == item`, and encoding the
//!   decoded item gives the same bytes again;
//! - the wire format round-trips: the item serialised as DynamoDB JSON decodes to the same item,
//!   and serialising that gives the same JSON (the encoding is canonical);
//! - size, nesting and validation never panic.
//!
//! Also: stored bytes that are not an encoded item (corruption) decode to an error, never a
//! panic; whatever does decode round-trips.

#![no_main]

use flywheel_protocol::model::PutItemInput;
use flywheel_protocol::wire::WireItem;
use flywheel_protocol::{decode, decode_enveloped};
use flywheel_types::codec::{decode_item, encode_item};
use flywheel_types::{item_size_bytes, validate_value, Item};
use libfuzzer_sys::fuzz_target;

fn wire_json(item: &Item) -> Vec<u8> {
    let mut body = b"{\"Item\":".to_vec();
    serde_json::to_writer(&mut body, &WireItem(item)).expect("items serialise");
    body.push(b'}');
    body
}

fn check_stored(item: &Item) {
    let stored = encode_item(item);
    let back = decode_item(&stored).unwrap_or_else(|e| panic!("{e} for an item just encoded: {item:?}"));
    assert_eq!(&back, item, "stored form does not round-trip");
    assert_eq!(encode_item(&back), stored, "stored form is not canonical");
}

fn check(item: &Item) {
    let _ = item_size_bytes(item);
    for value in item.values() {
        let _ = validate_value(value);
        let _ = value.nesting_depth();
        let _ = value.size_bytes();
    }
    check_stored(item);

    let json = wire_json(item);
    let again: PutItemInput = decode(&json)
        .unwrap_or_else(|e| panic!("re-serialised item does not decode ({e:?}): {}", String::from_utf8_lossy(&json)));
    let again = again.item.expect("the body has an Item");
    assert_eq!(&again, item, "wire form does not round-trip: {}", String::from_utf8_lossy(&json));
    assert_eq!(wire_json(&again), json, "wire form is not canonical");
}

fuzz_target!(|data: &[u8]| {
    // Stored bytes: corruption is an error, not a panic.
    if let Ok(item) = decode_item(data) {
        check_stored(&item);
    }

    if let Ok(PutItemInput { item: Some(item), .. }) = decode_enveloped::<PutItemInput>(data) {
        check(&item);
    }
    let mut wrapped = Vec::with_capacity(data.len() + 10);
    wrapped.extend_from_slice(b"{\"Item\":");
    wrapped.extend_from_slice(data);
    wrapped.push(b'}');
    if let Ok(PutItemInput { item: Some(item), .. }) = decode::<PutItemInput>(&wrapped) {
        check(&item);
    }
});
