//! Every metric family `/metrics` exposes, with its type and help text, in one list.
//!
//! Recording sites name families through these constants (the storage crate, which cannot
//! depend on this one, uses the same strings), and [`describe_all`] gives each one its `# HELP`
//! line. A family recorded but missing here would render without help; the black-box test
//! (`tests/python/test_metrics.py`) scrapes a server and fails on any family without `# HELP` and
//! `# TYPE`, and the unit tests below hold the names to Prometheus conventions: counters end in
//! `_total`, durations in `_seconds`, sizes in `_bytes`.
//!
//! Request, error and latency series carry `region`, `operation` and `table`. Both `region` and
//! `table` are taken only from requests that addressed an existing table, so a client cannot grow
//! the label set by naming tables or regions that do not exist: see `RequestMetrics` in `lib.rs`.

/// How a family is exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family: its full name, type and `# HELP` text.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family { name, kind, help }
}

pub const BUILD_INFO: Family = family(
    "flywheel_build_info",
    Kind::Gauge,
    "Always 1; the labels name the running build (version, and the git commit it was built from).",
);
pub const REQUESTS: Family = family(
    "flywheel_requests_total",
    Kind::Counter,
    "API requests answered, by region, operation and table (empty table: none or not existing).",
);
pub const ERRORS: Family = family(
    "flywheel_errors_total",
    Kind::Counter,
    "API requests answered with an error, by region, operation, table and the error's __type.",
);
pub const REQUEST_DURATION: Family = family(
    "flywheel_request_duration_seconds",
    Kind::Histogram,
    "Time from receiving an API request to having its answer, by region, operation and table.",
);
pub const REQUESTS_IN_FLIGHT: Family =
    family("flywheel_requests_in_flight", Kind::Gauge, "API requests being served now.");
pub const STORAGE_DISK: Family = family(
    "flywheel_storage_disk_bytes",
    Kind::Gauge,
    "Bytes the data directory's files occupy on disk (allocated blocks; 0 in memory).",
);
pub const COMMITS_AWAITING_FSYNC: Family = family(
    "flywheel_commits_awaiting_fsync",
    Kind::Gauge,
    "Write batches committed but not yet made durable by the group-commit fsync.",
);
/// Recorded by flywheel-storage.
pub const FSYNC_DURATION: Family =
    family("flywheel_fsync_duration_seconds", Kind::Histogram, "Time one group-commit fsync of the journal took.");
/// Recorded by flywheel-storage.
pub const FSYNC_COMMITS: Family =
    family("flywheel_fsync_commits", Kind::Histogram, "Write batches made durable by one group-commit fsync.");
pub const TABLE_ITEMS: Family = family("flywheel_table_items", Kind::Gauge, "Items in a table, by region and table.");
pub const TABLE_SIZE: Family = family(
    "flywheel_table_size_bytes",
    Kind::Gauge,
    "A table's size as DynamoDB's TableSizeBytes counts it (item sizes, not disk use).",
);
pub const INDEX_ITEMS: Family =
    family("flywheel_index_items", Kind::Gauge, "Items in a secondary index, by region, table and index.");
pub const INDEX_SIZE: Family = family(
    "flywheel_index_size_bytes",
    Kind::Gauge,
    "A secondary index's size as DynamoDB's IndexSizeBytes counts it, by region, table and index.",
);
pub const INDEX_KEY_VIOLATIONS: Family = family(
    "flywheel_index_key_violations",
    Kind::Gauge,
    "Items left out of a global secondary index because their index key attributes are invalid.",
);
pub const PARTITION_WRITES: Family = family(
    "flywheel_partition_writes_total",
    Kind::Counter,
    "Item writes per partition since start-up, by region, table and partition.",
);
pub const PARTITION_READS: Family = family(
    "flywheel_partition_reads_total",
    Kind::Counter,
    "Item reads per partition since start-up, by region, table and partition.",
);
pub const REQUEST_PANICS: Family = family(
    "flywheel_request_panics_total",
    Kind::Counter,
    "Requests whose handling panicked; each was answered InternalServerError and logged.",
);
pub const MAINTENANCE_FAILURES: Family = family(
    "flywheel_maintenance_failures_total",
    Kind::Counter,
    "Failed runs of a background task (TTL, stream trimming, index backfill, ...), by task.",
);
pub const QUARANTINED_TABLES: Family = family(
    "flywheel_quarantined_tables",
    Kind::Gauge,
    "Tables set aside at start-up because their catalog entry could not be read.",
);

/// Every family, in the order of the list above.
pub const ALL: &[Family] = &[
    BUILD_INFO,
    REQUESTS,
    ERRORS,
    REQUEST_DURATION,
    REQUESTS_IN_FLIGHT,
    STORAGE_DISK,
    COMMITS_AWAITING_FSYNC,
    FSYNC_DURATION,
    FSYNC_COMMITS,
    TABLE_ITEMS,
    TABLE_SIZE,
    INDEX_ITEMS,
    INDEX_SIZE,
    INDEX_KEY_VIOLATIONS,
    PARTITION_WRITES,
    PARTITION_READS,
    REQUEST_PANICS,
    MAINTENANCE_FAILURES,
    QUARANTINED_TABLES,
];

/// The git commit the binary was built from (`build.rs`), or "unknown".
pub const BUILD_COMMIT: &str = env!("FLYWHEEL_GIT_COMMIT");

/// Gives every family its help text, and sets `flywheel_build_info`. Call once, after the
/// recorder is installed: descriptions go to the recorder present at the time.
pub fn describe_all() {
    for f in ALL {
        match f.kind {
            Kind::Counter => metrics::describe_counter!(f.name, f.help),
            Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
            Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
    metrics::gauge!(BUILD_INFO.name, "version" => env!("CARGO_PKG_VERSION"), "commit" => BUILD_COMMIT).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for f in ALL {
            assert!(seen.insert(f.name), "{} listed twice", f.name);
            assert!(f.name.starts_with("flywheel_"), "{}", f.name);
            assert!(!f.help.is_empty(), "{} has no help", f.name);
            // Only counters end in _total; a gauge or histogram named so reads as a counter.
            assert_eq!(f.kind == Kind::Counter, f.name.ends_with("_total"), "{}", f.name);
            // Help that mentions time or size is about a family whose name carries the unit.
            if f.name.contains("duration") {
                assert!(f.name.ends_with("_seconds"), "{}", f.name);
            }
            if f.name.contains("size") || f.name.contains("disk") {
                assert!(f.name.ends_with("_bytes"), "{}", f.name);
            }
        }
    }

    #[test]
    fn the_commit_is_named() {
        assert!(!BUILD_COMMIT.is_empty());
    }
}
