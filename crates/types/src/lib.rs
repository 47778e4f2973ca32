//! Flywheel's vocabulary: DynamoDB attribute values, exact decimal numbers, item sizes, the
//! order-preserving key encoding, the stored item format, and every limit.
//!
//! This crate does no I/O and knows nothing of JSON or HTTP: the protocol crate decodes the wire
//! into these types once, at the edge. Everything that reaches disk (key bytes, item bytes, the
//! partition hash) is defined here and marked persistent.

pub mod codec;
pub mod key;
pub mod limits;
pub mod number;
pub mod value;

pub use key::KeyValue;
pub use number::{Number, NumberError};
pub use value::{check_attribute_name, item_size_bytes, validate_value, AttributeValue, Item, ValueError, ValueType};
