//! Every DynamoDB limit Flywheel enforces, in one place. Each says where DynamoDB documents it
//! (Developer Guide, "Service, account, and table quotas in Amazon DynamoDB", unless noted).

/// Largest item, in DynamoDB's item-size units (attribute names plus values): 400 KB.
pub const ITEM_SIZE_BYTES_MAX: usize = 400 * 1024;

/// Largest partition key value (UTF-8 or raw bytes): 2048 bytes.
pub const PARTITION_KEY_BYTES_MAX: usize = 2048;

/// Largest sort key value: 1024 bytes.
pub const SORT_KEY_BYTES_MAX: usize = 1024;

/// Longest credential-scope region Flywheel accepts as a table namespace. Not a DynamoDB limit
/// (AWS region names are about 15 characters, and botocore refuses names over 63): it keeps the
/// catalog keys that hold a region (`table\0REGION\0NAME`, `backup\0REGION\0ARN`) bounded.
pub const REGION_BYTES_MAX: usize = 64;

/// Longest order-preserving encoding of a key value of `value_bytes` bytes (`key.rs`): every
/// byte of a string or binary may be a `0x00` escaped to two bytes, plus a two-byte terminator.
/// Numbers (at most 38 digits) encode far shorter than any bound this gives.
pub const fn encoded_key_value_bytes_max(value_bytes: usize) -> usize {
    2 * value_bytes + 2
}

/// Longest key Flywheel writes to any storage tree: a secondary-index entry, `hash ‖ enc(index
/// partition key) ‖ enc(index sort key) ‖ enc(partition key) ‖ enc(sort key)`, with every key
/// value within the limits above (items' own keys, stream and recovery-log keys are shorter).
/// Not a DynamoDB limit: the bound that lets the engine promise storage never sees a longer key
/// (`Index::entry` leaves items whose index key is over the limits out of the index, and
/// `Staging::stage` checks every key it stages against this).
pub const STORED_KEY_BYTES_MAX: usize =
    4 + 2 * (encoded_key_value_bytes_max(PARTITION_KEY_BYTES_MAX) + encoded_key_value_bytes_max(SORT_KEY_BYTES_MAX));

/// Significant digits a Number may carry.
pub const NUMBER_PRECISION_DIGITS_MAX: usize = 38;

/// Largest exponent in `Number`'s `0.ddd × 10^e` form: magnitudes below 1E+126.
pub const NUMBER_EXPONENT_MAX: i32 = 126;

/// Smallest exponent in `Number`'s `0.ddd × 10^e` form: magnitudes from 1E-130.
pub const NUMBER_EXPONENT_MIN: i32 = -129;

/// Nesting levels of lists and maps inside an item ("up to 32 levels deep").
pub const NESTING_DEPTH_MAX: usize = 32;

/// Table names are 3 to 255 characters of `[a-zA-Z0-9_.-]`.
pub const TABLE_NAME_LENGTH_MIN: usize = 3;
/// See [`TABLE_NAME_LENGTH_MIN`].
pub const TABLE_NAME_LENGTH_MAX: usize = 255;
/// Index names are 3 to 255 characters of `[a-zA-Z0-9_.-]`.
pub const INDEX_NAME_LENGTH_MIN: usize = 3;
/// See [`INDEX_NAME_LENGTH_MIN`].
pub const INDEX_NAME_LENGTH_MAX: usize = 255;

/// Attribute names in key schemas and attribute definitions: 1 to 255 bytes.
pub const KEY_ATTRIBUTE_NAME_BYTES_MAX: usize = 255;

/// Attribute names elsewhere: 1 to 65535 bytes ("less than 64 KB", Developer Guide, "Naming
/// rules"). Applies to every name in an item (nested map keys too), in a key, in
/// ExpressionAttributeNames and in the legacy parameters.
pub const ATTRIBUTE_NAME_BYTES_MAX: usize = 65535;

/// Projected non-key attribute names of an index (`NonKeyAttributes`): 1 to 255 bytes (API
/// Reference, `Projection`; Developer Guide, "Naming rules").
pub const PROJECTED_ATTRIBUTE_NAME_BYTES_MAX: usize = 255;

/// Tables per account and region (DynamoDB's default quota, adjustable there and here).
pub const TABLES_PER_REGION_DEFAULT: usize = 2500;

/// Tags per resource.
pub const TAGS_PER_RESOURCE_MAX: usize = 50;
/// Tag keys: 1 to 128 Unicode characters.
pub const TAG_KEY_LENGTH_MAX: usize = 128;
/// Tag values: 0 to 256 Unicode characters.
pub const TAG_VALUE_LENGTH_MAX: usize = 256;

/// ListTables returns at most 100 names a page.
pub const LIST_TABLES_LIMIT_MAX: usize = 100;

/// Global secondary indexes per table.
pub const GLOBAL_SECONDARY_INDEXES_MAX: usize = 20;
/// Local secondary indexes per table.
pub const LOCAL_SECONDARY_INDEXES_MAX: usize = 5;

/// Items a BatchWriteItem may carry.
pub const BATCH_WRITE_ITEMS_MAX: usize = 25;
/// Keys a BatchGetItem may carry.
pub const BATCH_GET_KEYS_MAX: usize = 100;
/// Actions in one TransactWriteItems or TransactGetItems.
pub const TRANSACT_ITEMS_MAX: usize = 100;
/// Aggregate size of the items in one TransactWriteItems ("DynamoDB transactions": "cannot
/// exceed 4 MB"): the items its Puts write, and the keys of its other actions.
pub const TRANSACTION_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Query and Scan stop reading at 1 MB of items per page, before any filter applies.
pub const QUERY_PAGE_BYTES_MAX: usize = 1024 * 1024;

/// Largest request body DynamoDB accepts: 16 MB.
pub const REQUEST_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Read capacity unit: 4 KB read strongly consistent.
pub const READ_CAPACITY_UNIT_BYTES: usize = 4 * 1024;
/// Write capacity unit: 1 KB written.
pub const WRITE_CAPACITY_UNIT_BYTES: usize = 1024;

// Relationships between limits that the code relies on.
const _: () = assert!(SORT_KEY_BYTES_MAX < PARTITION_KEY_BYTES_MAX);
const _: () = assert!(PARTITION_KEY_BYTES_MAX + SORT_KEY_BYTES_MAX < ITEM_SIZE_BYTES_MAX);
const _: () = assert!(ITEM_SIZE_BYTES_MAX < QUERY_PAGE_BYTES_MAX);
const _: () = assert!(ITEM_SIZE_BYTES_MAX < TRANSACTION_BYTES_MAX && TRANSACTION_BYTES_MAX < REQUEST_BODY_BYTES_MAX);
const _: () = assert!(KEY_ATTRIBUTE_NAME_BYTES_MAX < ATTRIBUTE_NAME_BYTES_MAX);
// The biased exponent of the number key encoding must fit in one byte.
const _: () = assert!(NUMBER_EXPONENT_MAX - NUMBER_EXPONENT_MIN <= 255);
