//! Consumed capacity by DynamoDB's rules: a read capacity unit per 4 KB read (half for eventually
//! consistent reads), a write capacity unit per 1 KB written, each rounded up, minimum one unit.

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{Capacity, ConsumedCapacity};
use flywheel_types::limits::{READ_CAPACITY_UNIT_BYTES, WRITE_CAPACITY_UNIT_BYTES};

/// What the client asked to see (`ReturnConsumedCapacity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnCapacity {
    None,
    Total,
    Indexes,
}

impl ReturnCapacity {
    pub fn parse(c: &mut Constraints, value: &Option<String>) -> ReturnCapacity {
        c.one_of("returnConsumedCapacity", value, &["INDEXES", "TOTAL", "NONE"]);
        match value.as_deref() {
            Some("TOTAL") => ReturnCapacity::Total,
            Some("INDEXES") => ReturnCapacity::Indexes,
            _ => ReturnCapacity::None,
        }
    }
}

/// Read units for reading `bytes` (an absent item still costs the minimum).
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_CAPACITY_UNIT_BYTES).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Write units for writing an item of `bytes`.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(WRITE_CAPACITY_UNIT_BYTES).max(1) as f64
}

/// The `ConsumedCapacity` member for one table, or `None` if not asked for.
pub fn consumed(table: &str, units: f64, mode: ReturnCapacity) -> Option<ConsumedCapacity> {
    match mode {
        ReturnCapacity::None => None,
        ReturnCapacity::Total => Some(ConsumedCapacity {
            table_name: table.to_string(),
            capacity_units: units,
            read_capacity_units: None,
            write_capacity_units: None,
            table: None,
            local_secondary_indexes: None,
            global_secondary_indexes: None,
        }),
        ReturnCapacity::Indexes => Some(ConsumedCapacity {
            table_name: table.to_string(),
            capacity_units: units,
            read_capacity_units: None,
            write_capacity_units: None,
            table: Some(Capacity { capacity_units: units, read_capacity_units: None, write_capacity_units: None }),
            local_secondary_indexes: None,
            global_secondary_indexes: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_dynamodb_rules() {
        assert_eq!(read_units(0, false), 0.5);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(write_units(1), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
    }
}
